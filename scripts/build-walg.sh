#!/usr/bin/env bash
# Builds WAL-G for MySQL/MariaDB, the benchmark's peer, into .tools/bin (benchmarks only; idempotent).
# `go install github.com/wal-g/wal-g/main/mysql@<version>` cannot work here: the Go module proxy
# answers 403 for wal-g's version list and for every v1-v3 release. It does serve v0.2.19, whose
# go.mod this Go accepts, so a throw-away module requires that version and builds its main package.
# sum.golang.org has no record of v0.2.19 (404), so the checksum database is off for this one build;
# the module still comes from the proxy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=v0.2.19
bin="$root/.tools/bin/wal-g-mysql"
stamp="$root/.tools/bin/.wal-g-mysql-$version"
if [ -x "$bin" ] && [ -f "$stamp" ]; then
  echo "[bench] wal-g $version present"
  exit 0
fi
work="$root/.tools/build/wal-g"
mkdir -p "$work" "$root/.tools/bin"
cat >"$work/go.mod" <<MOD
module walgbench

go 1.21

require github.com/wal-g/wal-g $version
MOD
cat >"$work/tools.go" <<'SRC'
//go:build tools

package tools

import _ "github.com/wal-g/wal-g/main/mysql"
SRC
echo "[bench] building wal-g $version for MySQL (a few minutes, once)"
(cd "$work" && GOSUMDB=off GOFLAGS=-mod=mod go build -o "$bin" github.com/wal-g/wal-g/main/mysql)
touch "$stamp"
