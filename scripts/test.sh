#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, lints, and runs the
# unit and integration tests against real MariaDB, a real Temporal dev server and real MinIO.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bash scripts/install-deps.sh
npm run --silent build

export CHAINBACKUP_TEST_ROOT="$(mktemp -d /tmp/chainbackup-test-XXXXXX)"
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
  exit "$status"
}
trap cleanup EXIT

npm run --silent lint
node --experimental-vm-modules node_modules/jest/bin/jest.js "$@"
