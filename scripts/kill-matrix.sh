#!/usr/bin/env bash
# The whole kill matrix (test/integration/kill-matrix.test.ts): every kind of work, its worker
# SIGKILLed, then frozen (SIGSTOP), at every place it passes, against this machine's MariaDB. About
# 3 hours (45 minutes of kills); the suite runs a rotating part of it. Writes the table to
# docs/kill-matrix.md (commit it with the change it proves). With kinds' names (`npm run
# kill-matrix -- "restore to a GTID" "restore in place"`), only those run;
# CHAINBACKUP_KILL_MATRIX_FAULTS=kill (or freeze) runs one fault, CHAINBACKUP_KILL_MATRIX_PLACES=
# <place>,<place> only those places; CHAINBACKUP_KILL_MATRIX_RELEASE=other runs against the other
# Debian release's MariaDB (11.8 on a Debian 12 host), in a root of that release as the suite does;
# CHAINBACKUP_KILL_MATRIX_CONFIGURATION=sealed in the sealed configuration (the filesystem store, the
# server's data encrypted at rest, encryption at rest and payload encryption on) instead of plain.
# Only the rows of what ran (kind, fault, place, server release and configuration) are replaced;
# each row names the server and the commit it ran on.
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
faults="${CHAINBACKUP_KILL_MATRIX_FAULTS:-kill,freeze}"
configuration="${CHAINBACKUP_KILL_MATRIX_CONFIGURATION:-plain}"
matrix=(env CHAINBACKUP_KILL_MATRIX=all CHAINBACKUP_KILL_MATRIX_FAULTS="$faults" CHAINBACKUP_KILL_MATRIX_PLACES="${CHAINBACKUP_KILL_MATRIX_PLACES:-}" CHAINBACKUP_KILL_MATRIX_CONFIGURATION="$configuration" CHAINBACKUP_KILL_MATRIX_REPORT="$rows")
case "${CHAINBACKUP_KILL_MATRIX_RELEASE:-host}" in
  host)
    in_release=()
    "${matrix[@]}" bash scripts/test.sh dist/test/integration/kill-matrix.test.js "${filter[@]}" || status=$?
    ;;
  other)
    # The root sees the checkout only: the report is written inside it.
    rm -f "$rows"
    rows="$root/.tools/run/kill-matrix-rows-$$"
    mkdir -p "$root/.tools/run" && : >"$rows"
    trap 'rm -f "$rows"' EXIT
    matrix=(env CHAINBACKUP_KILL_MATRIX=all CHAINBACKUP_KILL_MATRIX_FAULTS="$faults" CHAINBACKUP_KILL_MATRIX_PLACES="${CHAINBACKUP_KILL_MATRIX_PLACES:-}" CHAINBACKUP_KILL_MATRIX_CONFIGURATION="$configuration" CHAINBACKUP_KILL_MATRIX_REPORT="$rows")
    bash scripts/install-deps.sh
    (source scripts/node-env.sh && npm run --silent build)
    in_release=(bash scripts/debian-root.sh run "$(bash scripts/debian-root.sh other-suite)" --)
    "${in_release[@]}" "${matrix[@]}" bash scripts/test-in-root.sh dist/test/integration/kill-matrix.test.js "${filter[@]}" || status=$?
    ;;
  *) echo "CHAINBACKUP_KILL_MATRIX_RELEASE must be host or other, not ${CHAINBACKUP_KILL_MATRIX_RELEASE}" >&2; exit 2 ;;
esac
minutes=$(( ($(date +%s) - started + 59) / 60 ))
source scripts/node-env.sh
commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+changes')"
server="$("${in_release[@]}" mariadbd --version | grep -o '[0-9.]*-MariaDB[^ ]*')"
release="MariaDB ${server%%-*}$([ "$configuration" = plain ] || echo ", $configuration")"
system="$("${in_release[@]}" bash -c '. /etc/os-release && echo "$PRETTY_NAME"')"
# The rows of what did not run this time (another kind, fault or server release) stay as they were.
kept="$(mktemp)"
trap 'rm -f "$rows" "$kept"' EXIT
if [ -f "$table" ]; then
  grep '^| ' "$table" | tail -n +3 | PATTERN="$pattern" FAULTS="$faults" RELEASE="$release" PLACES="${CHAINBACKUP_KILL_MATRIX_PLACES:-}" awk -F' [|] ' '
    BEGIN { n = split(ENVIRON["FAULTS"], list, ","); for (i = 1; i <= n; i++) ran[list[i]] = 1 }
    {
      kind = substr($1, 3)
      place_ran = ENVIRON["PLACES"] == "" || index("," ENVIRON["PLACES"] ",", "," $3 ",") > 0
      replaced = (ENVIRON["PATTERN"] == "" || kind ~ ("^(" ENVIRON["PATTERN"] ")$")) && ($2 in ran) && place_ran && $6 == ENVIRON["RELEASE"]
      if (!replaced) print
    }' >"$kept" || true
fi
sed -i "s/\$/ $release | $commit |/" "$rows"
{
  echo "# The kill matrix: its last run"
  echo
  echo "Written by \`npm run kill-matrix\` (scripts/kill-matrix.sh). Last run on $(date -u +%Y-%m-%d): ${pattern:-every kind}${CHAINBACKUP_KILL_MATRIX_PLACES:+ at the places $CHAINBACKUP_KILL_MATRIX_PLACES}, at"
  echo "commit $commit, faults $faults, configuration $configuration, against $server on $system, in ${minutes} minutes; Jest's verdict: $([ "$status" -eq 0 ] && echo passed || echo "FAILED (exit $status)")."
  echo
  echo "What each row proves is in test/integration/kill-matrix.test.ts: the worker SIGKILLed (kill)"
  echo "or frozen by SIGSTOP (freeze: its host cut off) at that place (the end of a step,"
  echo "\`after-<activity>\`, or a named place inside one), a new worker, then: the work completed with"
  echo "the right data (or, where the documentation says a kill fails it, failed saying so), no process or"
  echo "scratch folder of the dead worker left, no open upload or start marker without its backup, the"
  echo "cluster's server up and its lock free. A frozen worker is then thawed, its stale attempt runs"
  echo "on until its heartbeat finds the step gone, and it is stopped: the stores must be exactly as"
  echo "the work left them, and the data checks hold after it. The suite kills at one place per kind"
  echo "and freezes at one place of one kind (rotating by day and server release, one release pass"
  echo "plain, the other sealed), and runs one fixed freeze; this is every place. A server column"
  echo "ending in \", sealed\" is the sealed configuration: the filesystem store, the server's data"
  echo "encrypted at rest, encryption at rest and payload encryption on; without it, S3 and nothing"
  echo "encrypted. Rows not in the last run are from an earlier one: their server and commit columns"
  echo "say which."
  echo
  echo "| work | fault | at | outcome | seconds | server | commit |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  cat "$kept" "$rows"
} >"$table.new"
mv "$table.new" "$table"
echo "[kill-matrix] $(grep -c '' "$rows") cases, $(grep -c 'FAILED' "$rows" || true) failed; the table is in $table"
exit "$status"
