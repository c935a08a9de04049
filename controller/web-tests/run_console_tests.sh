#!/bin/sh
# CTest entry of the console's browser tests: run_console_tests.sh HARNESS WORK_DIR
# WORK_DIR is the build tree's copy of controller/web-tests (scripts, lib/, package.json and
# package-lock.json). The test FAILS, naming what is missing, when node, npm or chromium are not
# installed: it never skips. playwright-core and axe-core are installed once into WORK_DIR with
# `npm ci` from the lockfile (no browser download: the scripts drive Debian's /usr/bin/chromium).
set -eu
case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
harness="$1"
dir="$2"
fail() {
  echo "console_browser_tests: $*" >&2
  exit 1
}
command -v node >/dev/null 2>&1 ||
  fail "node is not installed (Debian packages nodejs and npm; scripts/install-deps)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$chromium" ] || fail "$chromium is not installed (Debian package chromium; scripts/install-deps)"
if [ ! -f "$dir/node_modules/playwright-core/package.json" ] ||
   [ ! -f "$dir/node_modules/axe-core/axe.min.js" ] ||
   [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 ||
    fail "npm is not installed; it is needed once to install playwright-core and axe-core (package-lock.json)"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci failed: playwright-core and axe-core could not be installed from the npm registry"
fi
CHROMIUM="$chromium" exec "$harness"
