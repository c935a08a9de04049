#!/usr/bin/env bash
# CTest k8s_manifests: check_manifests.sh OUT_DIR [RECLOTHES_CONTROLLER]
# Renders deploy/k8s/base and deploy/k8s/overlays/example with `kubectl kustomize` into OUT_DIR,
# validates every object against the vendored Kubernetes schemas and the deployment's rules
# (check_manifests.py, with its self-test: known breakages must be caught), and, given the
# controller binary, runs `check-config` on each configuration as replica 0 would see it and as
# the migration Job reads it.
# No network. FAILS naming what is missing: kubectl (Debian: kubernetes-client), python3-yaml,
# python3-jsonschema (scripts/install-deps).
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: check_manifests.sh OUT_DIR [RECLOTHES_CONTROLLER]"
  [ "${1:-}" = "--help" ] && exit 0 || exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"
controller="${2:-}"
fail() {
  echo "k8s_manifests: $*" >&2
  exit 1
}
command -v kubectl >/dev/null 2>&1 ||
  fail "kubectl is not installed (Debian package kubernetes-client; scripts/install-deps)"
# Debian's python3 has python3-yaml and python3-jsonschema; another python3 first on PATH may not.
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3
"$python" -c "import yaml" 2>/dev/null || fail "python3-yaml is not installed (scripts/install-deps)"
"$python" -c "import jsonschema" 2>/dev/null ||
  fail "python3-jsonschema is not installed (scripts/install-deps)"
mkdir -p "$out"
rendered=()
for k in base overlays/example; do
  file="$out/$(echo "$k" | tr / -).yaml"
  # kustomize 5 warns on stderr that `bases` is deprecated; kustomize 2.0 (Debian 12) needs it.
  kubectl kustomize "$here/$k" >"$file" 2>"$file.err" ||
    { cat "$file.err" >&2; fail "kubectl kustomize $k failed"; }
  echo "kubectl kustomize deploy/k8s/$k: $(grep -c '^kind:' "$file") objects -> $file"
  rendered+=("$file")
done
"$python" "$here/check_manifests.py" --self-test --schemas "$here/schemas/kubernetes-subset.json" \
  "${rendered[@]}"
if [ -n "$controller" ]; then
  for conf in "$here/base/controller.json" "$here/overlays/example/controller.json"; do
    as_replica="$out/$(basename "$(dirname "$conf")")-controller-0.json"
    sed 's/@ORDINAL@/0/g' "$conf" >"$as_replica"
    "$controller" check-config --config "$as_replica" || fail "$conf: check-config refused it"
    # The migration Job reads the template itself.
    "$controller" check-config --config "$conf" || fail "$conf: check-config refused the template"
  done
fi
echo "k8s_manifests: passed"
