#!/usr/bin/env bash
# Runs deploy/kubernetes/sidecar with `podman kube play`: the demo backend as
# the unchanged application, tether beside it in one pod. Checks a wss:// round
# trip through the pod, then that stopping the pod drains tether (a held
# session gets 1001, tether logs "drained, exiting", exits 0) and that
# `podman kube down` removes it.
# Called by scripts/container-test.sh with the images it built.
# Usage: tests/deploy/kube-play-test.sh TETHER_IMAGE BACKEND_IMAGE WORKDIR
set -euo pipefail
cd "$(dirname "$0")/../.."
image=$1 backend_image=$2 work=$3
py=/usr/bin/python3
# shellcheck source=tests/deploy/tools.sh
source tests/deploy/tools.sh
fail() { echo "FAIL: $*" >&2; exit 1; }

# An overlay: this host's images, one replica, and the dev certificate from a
# hostPath instead of the Secret, because podman 4.3.1 writes a Secret's data
# into the volume still base64-encoded. The rest is deploy/ unchanged.
overlay=$work/overlay
mkdir -p "$overlay" "$work/tls"
cp certs/dev/server-chain.crt "$work/tls/tls.crt"
cp certs/dev/server.key "$work/tls/tls.key"
chmod 0755 "$work/tls"; chmod 0644 "$work/tls"/*
cat > "$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$(realpath --relative-to="$overlay" deploy/kubernetes/sidecar)]
images:
  - {name: registry.example.com/my-websocket-app, newName: ${backend_image%:*}, newTag: ${backend_image##*:}}
  - {name: registry.example.com/tether, newName: ${image%:*}, newTag: ${image##*:}}
patches:
  - target: {kind: Deployment, name: app}
    patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        template:
          spec:
            volumes:
              - {name: tls, secret: null, hostPath: {path: $work/tls, type: Directory}}
replicas:
  - {name: app, count: 1}
YAML
kubectl kustomize "$overlay" > "$work/kube.yaml"

echo "== podman kube play"
# kube play keeps ConfigMap volumes and Secrets after kube down; start clean.
podman kube down "$work/kube.yaml" >/dev/null 2>&1 || true
podman volume ls -q | { grep '^app-tether' || true; } | xargs -r podman volume rm >/dev/null
# (No systemd here: podman complains that it cannot time the healthchecks.)
podman kube play "$work/kube.yaml" 2>&1 | { grep -v 'systemd connection' || true; }
pod=app-pod-0
ctr=$pod-tether
ip=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(podman pod inspect --format '{{.InfraContainerID}}' "$pod")")
[[ -n $ip ]] || fail "no pod IP"
podman logs -f "$ctr" > "$work/kube-tether.log" 2>&1 &
logs_pid=$!
for _ in $(seq 50); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$ip:9901/readyz") == 200 ]] && break
  sleep 0.2
done
curl -sf "http://$ip:9901/readyz" >/dev/null || fail "/readyz not 200 in the pod"
user=$(podman exec "$ctr" awk '/^Uid:/ {print $2}' /proc/1/status)
ro=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$ctr")
echo "tether in the pod: uid $user, read-only root $ro"
[[ $user == 10001 && $ro == true ]] || fail "securityContext not applied"
"$py" tests/deploy/wss_client.py "wss://$ip:8443/" certs/dev/ca.crt roundtrip || fail "wss round trip through the pod"

echo "== podman pod stop, then podman kube down, with a session open"
# podman 4.3.1's kube down SIGKILLs every container at once (exit 137; fixed in
# podman 5.1, containers/podman#22397), and kube play ignores
# terminationGracePeriodSeconds (stop timeout 10s). So the pod is stopped
# first, with the manifest's grace period, as podman's own workaround says.
grace=$(awk '/terminationGracePeriodSeconds:/ {print $2}' "$work/kube.yaml")
"$py" tests/deploy/wss_client.py "wss://$ip:8443/" certs/dev/ca.crt hold > "$work/kube-hold" &
client_pid=$!
for _ in $(seq 50); do grep -q ready "$work/kube-hold" && break; sleep 0.2; done
grep -q ready "$work/kube-hold" || fail "held session did not open"
start=$SECONDS
podman pod stop -t "$grace" "$pod" >/dev/null 2>"$work/stop.err" || { cat "$work/stop.err"; fail "podman pod stop"; }
took=$((SECONDS - start))
wait "$client_pid"
kill "$logs_pid" 2>/dev/null || true
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
echo "pod stop took ${took}s (grace ${grace}s), tether exit code $exit_code, client saw: $(tail -1 "$work/kube-hold")"
grep drain "$work/kube-tether.log" | cut -c1-160
grep -q '^close 1001 ' "$work/kube-hold" || fail "the held session did not get 1001"
grep -q 'drained, exiting' "$work/kube-tether.log" || fail "tether did not finish its drain"
[[ $exit_code == 0 ]] || fail "tether exit code $exit_code"
(( took < grace )) || fail "pod stop took ${took}s"
podman kube down "$work/kube.yaml" 2>&1 | { grep -v -e 'systemd connection' -e '^Pods' -e '^[0-9a-f]\{64\}$' || true; }
! podman pod exists "$pod" || fail "kube down left the pod"
podman volume ls -q | { grep '^app-tether' || true; } | xargs -r podman volume rm >/dev/null
podman secret rm app-tls >/dev/null 2>&1 || true
echo "sidecar pod: ok"
