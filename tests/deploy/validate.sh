#!/usr/bin/env bash
# The cheap deployment checks CI runs (ctest -R deploy.manifests): helm lint
# and helm template, kubectl kustomize of both kustomizations, every rendered
# object against the Kubernetes API schemas, then the contract test
# (contract_test.py) on what was rendered. No cluster, no containers.
# Usage: tests/deploy/validate.sh TETHER_BINARY
set -euo pipefail
tether=$(realpath "$1")
cd "$(dirname "$0")/../.."
# shellcheck source=tests/deploy/tools.sh
source tests/deploy/tools.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== $(kubectl version --client | head -1), helm $(helm version --short)"
helm lint --strict deploy/helm/tether
helm template tether deploy/helm/tether > "$out/helm.yaml"
helm template tether deploy/helm/tether --set autoscaling.enabled=false \
  --set podDisruptionBudget.enabled=false > "$out/helm-fixed.yaml"
# The chart must refuse a grace period that SIGKILLs the drain.
if helm template tether deploy/helm/tether --set terminationGracePeriodSeconds=30 >/dev/null 2>"$out/err"; then
  echo "FAIL: the chart rendered a grace period shorter than preStop + drain_timeout"; exit 1
fi
grep -q 'must exceed' "$out/err"
echo "helm: refuses terminationGracePeriodSeconds=30 with drain_timeout 25s + preStop 5s"
kubectl kustomize deploy/kubernetes/sidecar > "$out/sidecar.yaml"
kubectl kustomize deploy/kubernetes/standalone > "$out/standalone.yaml"

echo "== schemas (kubernetes-models)"
node tests/deploy/validate-schemas.mjs "$out"/*.yaml

echo "== contract"
/usr/bin/python3 tests/deploy/contract_test.py --tether "$tether" --source "$PWD" \
  --rendered "$out" --certs "$PWD/certs/dev"
