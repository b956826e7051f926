#!/usr/bin/env python3
"""Every deployment artefact agrees with tether and its SPEC.

Checks, across deploy/Dockerfile, deploy/systemd/tether.service, the rendered
sidecar and standalone kustomizations, the rendered Helm chart, the configs
they carry and config/tether.yaml:
  - each config passes `tether --check` (certificate paths pointed at the dev
    certificates, everything else as written);
  - the public and admin ports of each config are the ports the container
    declares, the probes use, the Service targets and the image exposes;
  - liveness probes GET /healthz, readiness probes GET /readyz, both on the
    admin port, and SPEC documents both;
  - the config path tether is started with is where the config is mounted, and
    its certificate paths are where the TLS Secret is mounted;
  - SIGTERM stops it everywhere (STOPSIGNAL, KillSignal), SIGHUP reloads
    (ExecReload), as SPEC says;
  - every grace period (terminationGracePeriodSeconds minus preStop,
    TimeoutStopSec) exceeds the drain_timeout of the config it stops;
  - the pods run as the image's non-root user.
Usage: contract_test.py --tether BIN --source DIR --rendered DIR --certs DIR [--spec SPEC.md]
(--rendered holds sidecar.yaml, standalone.yaml and helm.yaml.)
"""
import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def seconds(duration):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(duration))
    if not m:
        raise ValueError(f"not a duration: {duration!r}")
    n, unit = int(m[1]), m[2]
    return {"ms": n / 1000, "s": n, "m": n * 60, "h": n * 3600}[unit]


def port_of(bind):
    return int(str(bind).rsplit(":", 1)[1])


def tether_check(tether, name, config, certs):
    """--check with the TLS files pointed at the dev certificates."""
    text = yaml.safe_dump(config)
    text = text.replace("/etc/tether/tls/tls.crt", f"{certs}/server-chain.crt")
    text = text.replace("/etc/tether/tls/tls.key", f"{certs}/server.key")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([tether, "--check", "-c", f.name], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and r.stdout.strip() == "ok",
          f"{name}: tether --check passes{'' if r.returncode == 0 else ': ' + (r.stdout + r.stderr).strip()}")


def public_port(config):
    return port_of(config["listeners"][0]["bind"])


def check_pod(name, deployment, configmaps, tether, certs, image_uid, drain_default):
    spec = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    c = containers.get("tether")
    check(c is not None, f"{name}: has a tether container")
    if c is None:
        return
    args = c.get("args", [])
    config_path = args[args.index("-c") + 1] if "-c" in args else "/etc/tether/tether.yaml"
    # Which volume holds the config, and under which key.
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    config = None
    for path, m in mounts.items():
        if config_path.startswith(path.rstrip("/") + "/") or config_path == path:
            key = m.get("subPath") or config_path[len(path.rstrip("/")) + 1:]
            cm = volumes[m["name"]].get("configMap", {}).get("name")
            if cm in configmaps:
                config = yaml.safe_load(configmaps[cm]["data"][key])
    check(config is not None, f"{name}: -c {config_path} is a key of a mounted ConfigMap")
    if config is None:
        return
    tether_check(tether, f"{name} config", config, certs)

    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    public, admin = public_port(config), port_of(config["admin"]["bind"])
    check(ports.get("wss") == public, f"{name}: containerPort wss {ports.get('wss')} == listener port {public}")
    check(ports.get("admin") == admin, f"{name}: containerPort admin {ports.get('admin')} == admin port {admin}")
    check(config["admin"]["bind"].startswith("0.0.0.0:"), f"{name}: admin binds 0.0.0.0 so the kubelet can probe it")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in (admin, "admin"),
              f"{name}: {probe} GET {path} on the admin port ({get})")

    tls = config["listeners"][0].get("tls", {})
    tls_mount = next((p for p, m in mounts.items() if "secret" in volumes[m["name"]]), None)
    check(tls_mount is not None and tls.get("cert") == f"{tls_mount}/tls.crt" and tls.get("key") == f"{tls_mount}/tls.key",
          f"{name}: certificate paths {tls.get('cert')}, {tls.get('key')} are the TLS Secret's keys under {tls_mount}")

    drain = seconds(config.get("shutdown", {}).get("drain_timeout", drain_default))
    grace = spec.get("terminationGracePeriodSeconds", 30)
    pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    check(grace > pre_stop + drain,
          f"{name}: terminationGracePeriodSeconds {grace} > preStop {pre_stop} + drain_timeout {drain:g}")

    ctx = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
    check(ctx.get("runAsNonRoot") is True and ctx.get("runAsUser") == image_uid,
          f"{name}: runs as non-root uid {ctx.get('runAsUser')} (the image's {image_uid})")
    check(ctx.get("readOnlyRootFilesystem") is True and ctx.get("allowPrivilegeEscalation") is False
          and ctx.get("capabilities", {}).get("drop") == ["ALL"],
          f"{name}: read-only root, no privilege escalation, capabilities dropped")
    return public


def check_services(name, objs, public):
    for svc in (o for o in objs if o["kind"] == "Service"):
        for p in svc["spec"]["ports"]:
            check(p.get("targetPort") in ("wss", public),
                  f"{name}: Service {svc['metadata']['name']} port {p['port']} targets the wss port")
            check(p.get("targetPort") != "admin" and p.get("targetPort") != 9901,
                  f"{name}: Service does not expose the admin port")


def main():
    ap = argparse.ArgumentParser()
    for a in ("--tether", "--source", "--rendered", "--certs"):
        ap.add_argument(a, required=True)
    ap.add_argument("--spec")
    a = ap.parse_args()
    src, rendered = Path(a.source), Path(a.rendered)

    # SPEC lives beside the repository (README: ../shared/SPEC.md); a clone
    # without it checks everything else.
    spec_file = Path(a.spec) if a.spec else src.parent / "shared" / "SPEC.md"
    spec_text = spec_file.read_text() if spec_file.exists() else ""
    if not spec_text:
        print(f"note: {spec_file} not found, SPEC checks skipped")
    drain_default = "30s"
    m = re.search(r"drain_timeout:\s*(\d+\w+)", spec_text)
    if m:
        drain_default = m[1]
    if spec_text:
        check("GET /healthz" in spec_text and "GET /readyz" in spec_text, "SPEC documents /healthz and /readyz")
        check(re.search(r"SIGTERM[^.]*drain", spec_text, re.S) is not None and "SIGHUP reloads" in spec_text,
              "SPEC: SIGTERM drains, SIGHUP reloads")

    # The image.
    dockerfile = (src / "deploy/Dockerfile").read_text()
    runtime = dockerfile.split("\nFROM ")[-1]
    user = re.search(r"^USER (\d+)", runtime, re.M)
    image_uid = int(user[1]) if user else None
    check(image_uid is not None and image_uid != 0, f"Dockerfile: runtime USER is a non-root uid ({image_uid})")
    check(re.search(r"^STOPSIGNAL SIGTERM$", runtime, re.M) is not None, "Dockerfile: STOPSIGNAL SIGTERM")
    exposed = {int(p) for line in re.findall(r"^EXPOSE (.*)$", runtime, re.M) for p in line.split()}
    check(re.search(r"^COPY deploy/tether.yaml /etc/tether/tether.yaml$", runtime, re.M) is not None
          and "TETHER_CONFIG=/etc/tether/tether.yaml" in runtime, "Dockerfile: config at /etc/tether/tether.yaml")
    image_config = yaml.safe_load((src / "deploy/tether.yaml").read_text())
    tether_check(a.tether, "deploy/tether.yaml (the image's)", image_config, a.certs)
    check(exposed == {public_port(image_config), port_of(image_config["admin"]["bind"])},
          f"Dockerfile: EXPOSE {sorted(exposed)} == the image config's listener and admin ports")

    # The bundled config, as shipped (its paths are relative to the source tree).
    r = subprocess.run([a.tether, "--check", "-c", "config/tether.yaml"], cwd=src,
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"config/tether.yaml: tether --check passes {r.stdout.strip()} {r.stderr.strip()}")
    bundled = yaml.safe_load((src / "config/tether.yaml").read_text())

    # systemd.
    unit = (src / "deploy/systemd/tether.service").read_text()
    kv = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            kv.setdefault(k.strip(), v.strip())
    check(kv.get("KillSignal") == "SIGTERM", "unit: KillSignal=SIGTERM")
    check("-HUP" in kv.get("ExecReload", "") or "SIGHUP" in kv.get("ExecReload", ""), "unit: ExecReload sends SIGHUP")
    check(kv.get("ExecStart", "").endswith("-c /etc/tether/tether.yaml"), "unit: starts with -c /etc/tether/tether.yaml")
    check(kv.get("User") not in (None, "root"), f"unit: runs as {kv.get('User')}, not root")
    stop = seconds(kv.get("TimeoutStopSec", "90") + ("" if not kv.get("TimeoutStopSec", "").isdigit() else "s"))
    for cname, cfg in (("config/tether.yaml", bundled), ("deploy/tether.yaml", image_config)):
        d = seconds(cfg.get("shutdown", {}).get("drain_timeout", drain_default))
        check(stop > d, f"unit: TimeoutStopSec {stop:g} > {cname} drain_timeout {d:g}")
    nofile = int(kv.get("LimitNOFILE", "0"))
    sessions = sum(l.get("max_connections", 10000) for l in bundled["listeners"])
    check(nofile >= 2 * sessions + 1024,
          f"unit: LimitNOFILE {nofile} >= 2 per session for {sessions} sessions (config/tether.yaml's max_connections) + 1024")

    # Kubernetes: the two kustomizations and the chart.
    for name in ("sidecar", "standalone", "helm"):
        objs = [o for o in yaml.safe_load_all((rendered / f"{name}.yaml").read_text()) if o]
        configmaps = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
        deployments = [o for o in objs if o["kind"] == "Deployment"]
        check(len(deployments) == 1, f"{name}: one Deployment")
        public = check_pod(name, deployments[0], configmaps, a.tether, a.certs, image_uid, drain_default)
        check_services(name, objs, public)
        kinds = {o["kind"] for o in objs}
        if name != "sidecar":
            check({"HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"} <= kinds,
                  f"{name}: has an HPA, a PDB and a Service")
            check(len(deployments[0]["spec"]["template"]["spec"].get("topologySpreadConstraints", [])) > 0,
                  f"{name}: spreads replicas (topologySpreadConstraints)")

    print(f"\n{len(failures)} failed" if failures else "\ncontract: all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
