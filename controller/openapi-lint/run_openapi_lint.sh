#!/usr/bin/env bash
# CTest entry of the OpenAPI lint: run_openapi_lint.sh OPENAPI_JSON WORK_DIR
# WORK_DIR holds package.json, package-lock.json and redocly.yaml (copied by CMake). The pinned
# Redocly CLI is installed once into WORK_DIR with `npm ci` from the lockfile. The test FAILS,
# naming what is missing, when node or npm are not installed: it never skips. Lint errors fail
# it; warnings are printed.
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ $# -ne 2 ]; then
  echo "usage: run_openapi_lint.sh OPENAPI_JSON WORK_DIR (WORK_DIR: package.json, package-lock.json, redocly.yaml)"
  [ "${1:-}" = "--help" ] && exit 0 || exit 2
fi
doc="$1"
dir="$2"
fail() {
  echo "openapi_lint: $*" >&2
  exit 1
}
command -v node >/dev/null 2>&1 ||
  fail "node is not installed (Debian packages nodejs and npm; scripts/install-deps)"
cli="$dir/node_modules/@redocly/cli/bin/cli.js"
if [ ! -f "$cli" ]; then
  command -v npm >/dev/null 2>&1 ||
    fail "npm is not installed; it is needed once to install @redocly/cli (package-lock.json)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci failed: @redocly/cli could not be installed from the npm registry"
fi
# No telemetry, no update check: the test talks to nothing.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
exec node "$cli" lint --config "$dir/redocly.yaml" --format=stylish "$doc"
