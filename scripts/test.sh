#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, lints, and runs the
# unit and integration tests against real MariaDB, a real Temporal dev server and real MinIO, on
# Node 24 LTS; then, when the machine's own Node is an older supported line (20), the unit tests and
# an end-to-end backup and restore on that one too; then every server test again against the other
# Debian release's MariaDB (11.8 from Debian 13 on a Debian 12 host, 10.11 on a Debian 13 host), in a
# root of that release (scripts/debian-root.sh). The suite must leave the work tree as it found it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tree_before="$(git status --porcelain 2>/dev/null || true)"

bash scripts/install-deps.sh
source scripts/node-env.sh
npm run --silent build

export CHAINBACKUP_TEST_ROOT="$(mktemp -d /tmp/chainbackup-test-XXXXXX)"
# Every Jest run adds its counts here (test/support/summary-reporter.cjs); the total closes the output.
mkdir -p "$root/.tools/run"
export CHAINBACKUP_SUMMARY_FILE="$root/.tools/run/summary-$$"
: >"$CHAINBACKUP_SUMMARY_FILE"
# Whatever happens to Jest, stop every server the tests recorded and remove their files.
cleanup() {
  local status=$?
  set +e
  if [ -d "$CHAINBACKUP_TEST_ROOT" ]; then
    find "$CHAINBACKUP_TEST_ROOT" -name '*.pid' -print0 | while IFS= read -r -d '' pidfile; do
      kill "$(cat "$pidfile")" 2>/dev/null
    done
    sleep 1
    rm -rf "$CHAINBACKUP_TEST_ROOT"
  fi
  rm -f "$CHAINBACKUP_SUMMARY_FILE"
  exit "$status"
}
trap cleanup EXIT

npm run --silent lint
echo "[test] the suite on Node $(node --version)"
node --experimental-vm-modules node_modules/jest/bin/jest.js "$@"

# Only for the whole suite (no arguments): a run of chosen files is for development.
if [ "$#" -eq 0 ] && [ "$("$machine_node" --version)" != "$(node --version)" ]; then
  echo "[test] the unit tests and an end-to-end backup and restore on the machine's own Node $("$machine_node" --version)"
  # The default reporter only: CI reads the whole suite's closing "jest:" line above.
  # (the paths before --reporters, which would take them as more reporters). The harness's own S3
  # client would print the AWS SDK's Node 20 warning into the log; the worker turns it off itself.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true "$machine_node" --experimental-vm-modules node_modules/jest/bin/jest.js dist/test/unit dist/test/integration/full-backup-restore.test.js --reporters=default --reporters="$root/test/support/summary-reporter.cjs"
fi

# Only for the whole suite: the server tests again, against the other Debian release's MariaDB.
if [ "$#" -eq 0 ] && [ "${CHAINBACKUP_OTHER_RELEASE:-yes}" != "no" ]; then
  other="$(bash scripts/debian-root.sh other-suite)"
  echo "[test] the server tests against the MariaDB of Debian $other, in a root of that release"
  bash scripts/debian-root.sh run "$other" -- bash scripts/test-in-root.sh
fi

tree_after="$(git status --porcelain 2>/dev/null || true)"
if [ "$tree_after" != "$tree_before" ]; then
  echo "[test] the suite changed the work tree (git status --porcelain before and after):" >&2
  diff <(printf '%s\n' "$tree_before") <(printf '%s\n' "$tree_after") >&2 || true
  exit 1
fi
echo "[test] the work tree is as the suite found it${tree_before:+ (it had uncommitted changes before)}"
# The plain closing line CI reads: every Jest run of the suite together.
awk '{ passed += $1; failed += $2; skipped += $3 } END { printf "suite: %d passed, %d failed, %d skipped\n", passed, failed, skipped }' "$CHAINBACKUP_SUMMARY_FILE"
