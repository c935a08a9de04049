#!/bin/sh
# CTest entry of the browser test: run_browser_test.sh RECLOTHES_SIM WORK_DIR
# WORK_DIR holds package.json, package-lock.json and box_page_test.mjs (copied by CMake). The
# test FAILS, naming what is missing, when node, npm or chromium are not installed: it never
# skips silently. playwright-core is installed once into WORK_DIR with `npm ci` from the lockfile
# (its own browser download is never used: the test drives Debian's /usr/bin/chromium).
set -eu
sim="$1"
dir="$2"
fail() {
  echo "simulator_browser_test: $*" >&2
  exit 1
}
command -v node >/dev/null 2>&1 ||
  fail "node is not installed (Debian packages nodejs and npm; scripts/install-deps)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || fail "$chromium is not installed (Debian package chromium; scripts/install-deps)"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
  command -v npm >/dev/null 2>&1 ||
    fail "npm is not installed; it is needed once to install playwright-core (package-lock.json)"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci failed: playwright-core could not be installed from the npm registry"
fi
exec node "$dir/box_page_test.mjs" --sim "$sim" --chromium "$chromium" --out "$dir"
