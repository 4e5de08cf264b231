#!/usr/bin/env bash
# The whole kill matrix (test/integration/kill-matrix.test.ts): every kind of work, its worker
# SIGKILLed at every place it passes, against this machine's MariaDB. About 45 minutes; the suite
# runs a rotating part of it. Writes the table to docs/kill-matrix.md (commit it with the change it
# proves). With kinds' names (`npm run kill-matrix -- "restore to a GTID" "restore in place"`), only
# those run and only their rows are replaced; each row names the commit it ran on.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
kinds=("$@")
pattern="$(IFS="|"; echo "${kinds[*]}")"
table=docs/kill-matrix.md
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT
started=$(date +%s)
status=0
filter=()
if [ -n "$pattern" ]; then filter=(-t "^($pattern) "); fi
CHAINBACKUP_KILL_MATRIX=all CHAINBACKUP_KILL_MATRIX_REPORT="$rows" bash scripts/test.sh dist/test/integration/kill-matrix.test.js "${filter[@]}" || status=$?
minutes=$(( ($(date +%s) - started + 59) / 60 ))
source scripts/node-env.sh
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')"
server="$(mariadbd --version | grep -o '[0-9.]*-MariaDB[^ ]*')"
system="$(. /etc/os-release && echo "$PRETTY_NAME")"
# The rows of the kinds not run this time stay as they were.
kept="$(mktemp)"
trap 'rm -f "$rows" "$kept"' EXIT
if [ -n "$pattern" ] && [ -f "$table" ]; then
  grep '^| ' "$table" | tail -n +3 | grep -Ev "^\| ($pattern) \|" >"$kept" || true
fi
sed -i "s/\$/ $commit |/" "$rows"
{
  echo "# The kill matrix: its last run"
  echo
  echo "Written by \`npm run kill-matrix\` (scripts/kill-matrix.sh). Last run on $(date -u +%Y-%m-%d): ${pattern:-every kind}, at"
  echo "commit $commit, against $server on $system, in ${minutes} minutes; Jest's verdict: $([ "$status" -eq 0 ] && echo passed || echo "FAILED (exit $status)")."
  echo
  echo "What each row proves is in test/integration/kill-matrix.test.ts: the worker SIGKILLed at that"
  echo "place (the end of a step, \`after-<activity>\`, or a named place inside one), a new worker, then:"
  echo "the work completed with the right data (or, where the README says a kill fails it, failed"
  echo "saying so), no process or scratch folder of the dead worker left, no open upload or start"
  echo "marker without its backup, the cluster's server up and its lock free. The suite runs one place"
  echo "per kind (rotating by day and server release); this is every place. Rows of kinds not in the"
  echo "last run are from an earlier one: their commit column says which."
  echo
  echo "| work | killed at | outcome | seconds | commit |"
  echo "| --- | --- | --- | --- | --- |"
  cat "$kept" "$rows"
} >"$table.new"
mv "$table.new" "$table"
echo "[kill-matrix] $(grep -c '' "$rows") cases, $(grep -c 'FAILED' "$rows" || true) failed; the table is in $table"
exit "$status"
