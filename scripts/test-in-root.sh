#!/usr/bin/env bash
# The tests that touch a server, inside the root of the other Debian release (scripts/debian-root.sh
# runs this there): that release's MariaDB, mariadb-backup, mariadbd and mariadb-binlog, on the build
# the host made, with Node 24 from .tools/node. Arguments go to Jest (default: every integration and
# activity test).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
[ -x "$root/.tools/node/bin/node" ] || { echo "no Node in $root/.tools/node: run scripts/install-deps.sh on the host first" >&2; exit 1; }
export PATH="$root/.tools/node/bin:$PATH"
# The test root on the root's disk, not its /tmp: that is a tmpfs of half the machine's memory, which
# MinIO's objects and every sandbox's datadir outgrow over a whole pass. A run killed before its
# teardown left its folder behind: the root is this project's own, so it goes first.
rm -rf /var/tmp/chainbackup-test-*
export CHAINBACKUP_TEST_ROOT="$(mktemp -d /var/tmp/chainbackup-test-XXXXXX)"
. /etc/os-release
echo "[test] the server tests against $(mariadbd --version | grep -o '[0-9.]*-MariaDB[^ ]*') on ${PRETTY_NAME}, Node $(node --version)"
# The quick start (the documented install, a build and npm packages) runs once, in the host's pass.
if [ "$#" -eq 0 ]; then set -- dist/test/integration dist/test/activities --testPathIgnorePatterns=quick-start; fi
node --experimental-vm-modules node_modules/jest/bin/jest.js "$@"
