#!/usr/bin/env bash
# Builds tether's container image from a clean checkout (git archive HEAD:
# committed files only, no host build folders) with podman, runs it and
# checks what deploy/ promises; then runs the Kubernetes sidecar manifests
# with `podman kube play`. Needs root, podman, runc, mmdebstrap
# (scripts/setup.sh --deploy). Too slow for CI (a cold build compiles tether,
# ~8 min on 2 cores); a rebuild with unchanged sources reuses podman's cache.
# Usage: scripts/container-test.sh [--no-kube]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
kube=1
[[ ${1:-} == --no-kube ]] && kube=0

image=localhost/tether:test
backend_image=localhost/tether-demo-backend:test
py=/usr/bin/python3    # Debian's, with python3-websockets
work=$(mktemp -d /tmp/tether-container-test.XXXXXX)
pod=tether-ct-$$
started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  podman pod rm -f -t 0 "$pod" >/dev/null 2>&1 || true
  [[ -f $work/kube.yaml ]] && podman kube down "$work/kube.yaml" >/dev/null 2>&1 || true
  [[ -n ${client_pid:-} ]] && kill "$client_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Root here lacks CAP_SYS_RESOURCE: cap podman's default ulimits (see the file).
sed "s/HARD_NOFILE/$(ulimit -Hn)/g" deploy/podman/containers.conf > "$work/containers.conf"
export CONTAINERS_CONF=$work/containers.conf

step "base images"
scripts/setup.sh --deploy
scripts/deploy-base-images.sh

step "build from git archive HEAD ($(git rev-parse --short HEAD))"
mkdir "$work/ctx"
git archive HEAD | tar -x -C "$work/ctx"
build_start=$SECONDS
nice -n 5 podman build --pull=never --network=host -q -f deploy/Dockerfile \
  --target demo-backend -t "$backend_image" "$work/ctx" >/dev/null
nice -n 5 podman build --pull=never --network=host -q -f deploy/Dockerfile \
  -t "$image" "$work/ctx" >/dev/null
echo "built in $((SECONDS - build_start))s"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image size: $((size / 1000000)) MB ($size bytes)"
(( size < 150000000 )) || fail "image larger than 150 MB"

step "metadata: non-root user, stop signal, ports, config path"
meta=$(podman image inspect --format '{{.Config.User}} {{.Config.StopSignal}} {{range $p, $v := .Config.ExposedPorts}}{{$p}} {{end}}{{.Config.Env}}' "$image")
echo "$meta"
[[ $meta == "10001:10001 SIGTERM 8443/tcp 9901/tcp "*TETHER_CONFIG=/etc/tether/tether.yaml* ]] || fail "image metadata: $meta"

step "every library tether links is in the runtime image"
podman run --rm --entrypoint /usr/bin/ldd "$image" /usr/local/bin/tether | tee "$work/ldd"
! grep -q 'not found' "$work/ldd" || fail "missing libraries"
grep -q libre2 "$work/ldd" && grep -q libssl "$work/ldd" || fail "ldd output lacks libre2/libssl"

# The dev certificates, readable by the image's user (uid 10001), under the
# names a Kubernetes TLS Secret gives them.
bash certs/make-certs.sh >/dev/null
mkdir -p "$work/tls"
cp certs/dev/server-chain.crt "$work/tls/tls.crt"
cp certs/dev/server.key "$work/tls/tls.key"
chmod 0755 "$work/tls"; chmod 0644 "$work/tls"/*

step "tether --check: the image's /etc/tether/tether.yaml and the bundled config/tether.yaml"
out=$(podman run --rm -v "$work/tls:/etc/tether/tls:ro,Z" "$image" --check)
[[ $out == ok ]] || fail "--check of /etc/tether/tether.yaml: $out"
mkdir -p "$work/bundle/certs"
cp -r config "$work/bundle/"; cp -r certs/dev "$work/bundle/certs/"; chmod -R a+rX "$work/bundle"
out=$(podman run --rm -v "$work/bundle:/w:ro,Z" -w /w "$image" --check -c config/tether.yaml)
[[ $out == ok ]] || fail "--check of config/tether.yaml: $out"
echo "both: ok"
out=$(podman run --rm "$image" --check 2>&1) && fail "--check passed without certificates"
echo "without certificates: exit 1 as it should ($(head -c 120 <<<"$out"))"

step "a pod: demo backend on localhost:8080, tether on :8443"
podman pod create --name "$pod" >/dev/null
podman run -d --pod "$pod" --name "$pod-backend" "$backend_image" >/dev/null
podman run -d --pod "$pod" --name "$pod-tether" -v "$work/tls:/etc/tether/tls:ro,Z" "$image" >/dev/null
ip=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(podman pod inspect --format '{{.InfraContainerID}}' "$pod")")
[[ -n $ip ]] || fail "no pod IP"
for _ in $(seq 50); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://$ip:9901/readyz") == 200 ]] && break
  sleep 0.2
done
curl -sf "http://$ip:9901/readyz" >/dev/null || fail "/readyz not 200"
curl -sf "http://$ip:9901/healthz" >/dev/null || fail "/healthz not 200"

uid=$(podman exec "$pod-tether" awk '/^Uid:/ {print $2}' /proc/1/status)
echo "tether runs as uid $uid"
[[ $uid == 10001 ]] || fail "tether runs as uid $uid"

"$py" tests/deploy/wss_client.py "wss://$ip:8443/" certs/dev/ca.crt roundtrip || fail "wss round trip"

step "podman stop: SIGTERM, a held session gets 1001, exit 0 within drain_timeout"
drain=$(awk '/drain_timeout:/ {print $2}' deploy/tether.yaml); drain=${drain%s}
"$py" tests/deploy/wss_client.py "wss://$ip:8443/" certs/dev/ca.crt hold > "$work/hold" &
client_pid=$!
for _ in $(seq 50); do grep -q ready "$work/hold" && break; sleep 0.2; done
grep -q ready "$work/hold" || fail "held session did not open"
stop_start=$SECONDS
podman stop -t $((drain + 10)) "$pod-tether" >/dev/null
stop_took=$((SECONDS - stop_start))
wait "$client_pid"; client_pid=
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$pod-tether")
echo "stop took ${stop_took}s (drain_timeout ${drain}s), exit code $exit_code, client saw: $(tail -1 "$work/hold")"
[[ $exit_code == 0 ]] || fail "exit code $exit_code after SIGTERM"
(( stop_took <= drain + 2 )) || fail "stop took ${stop_took}s"
grep -q '^close 1001 ' "$work/hold" || fail "the held session did not get 1001"
podman logs "$pod-tether" 2>&1 | tail -3
podman pod rm -f -t 0 "$pod" >/dev/null

if (( kube )); then
  step "sidecar manifests under podman kube play"
  bash tests/deploy/kube-play-test.sh "$image" "$backend_image" "$work"
fi
step "all container checks passed"
