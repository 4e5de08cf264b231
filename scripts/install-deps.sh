#!/usr/bin/env bash
# Installs everything the project needs, idempotently: Debian packages (MariaDB 10.11,
# mariadb-backup, sysbench, zstd, procps, jq, and awscli unless an aws CLI is there), the `temporal` CLI and MinIO built from their Go modules into
# .tools/bin, Node.js 24 LTS into .tools/node when the machine's own Node is older (all ignored by
# git, reused when present), and the npm dependencies exactly as package-lock.json pins them.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools_bin="${CHAINBACKUP_TOOLS_BIN:-$root/.tools/bin}"
temporal_version="v1.5.1"
# DESIGN.md names commit 9e49d5e7a648 (tag RELEASE.2025-10-15T17-29-55Z); the Go module proxy
# answers 403 "not available" for it and lists this pseudo-version as the only one it serves.
minio_version="v0.0.0-20260212201848-7aac2a2c5b7c"
# The oldest Go that builds both (temporal CLI v1.5.1's go.mod says "go 1.25.0"), and the toolchain
# asked for by name when the machine's Go is older (Debian 13 ships 1.24.4): the Go module proxy serves
# toolchains as modules (golang.org/toolchain), so this works whatever GOTOOLCHAIN the machine sets.
go_needed="1.25.0"
go_toolchain="go1.26.8"
# Node.js 24 LTS: the official binary, as the npm registry serves it in node-linux-<arch>.
node_version="24.22.3"
declare -A node_integrity=(
  [x64]="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
  [arm64]="sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=="
)

log() { printf '[install] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  # prometheus: only its promtool, which checks the metrics endpoint's text and the shipped alert rules in the suite.
  local wanted=(mariadb-server mariadb-client mariadb-backup sysbench zstd procps jq prometheus)
  # docs/restore-by-hand.md fetches from S3 with the aws CLI (its test follows it); any install of it will do.
  command -v aws >/dev/null 2>&1 || wanted+=(awscli)
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  # Keep the package scripts from starting the system MariaDB service: the product and its
  # tests run their own sandbox servers and must never touch (or leave behind) the system one.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    created_policy=1
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "$created_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
}

# go install into tools_bin, unless the binary is there and records the wanted module version.
go_install() {
  local binary="$1" module="$2" version="$3"
  if [ -x "$tools_bin/$binary" ] && go version -m "$tools_bin/$binary" 2>/dev/null | grep -q "$version"; then
    log "$binary present"
    return
  fi
  log "building $binary from $module@$version with $(go_toolchain_choice) (cold builds take minutes)"
  mkdir -p "$tools_bin"
  GOTOOLCHAIN="$(go_toolchain_choice)" GOBIN="$tools_bin" GOFLAGS=-buildvcs=false go install "$module@$version"
}

# "local" when the machine's Go is new enough, else the pinned toolchain by name: never GOTOOLCHAIN's
# automatic choice, which a machine may have turned off (GOTOOLCHAIN=local) and then the build fails.
go_toolchain_choice() {
  local own
  own="$(GOTOOLCHAIN=local go env GOVERSION)"
  own="${own#go}"
  if [ "$(printf '%s\n%s\n' "$go_needed" "$own" | sort -V | head -n1)" = "$go_needed" ]; then echo local; else echo "$go_toolchain"; fi
}

# Node 24 under .tools/node: what the scripts run on when the machine's own Node is older, and what
# the suite's run inside the other Debian release's root runs on (the machine's own is not there).
install_node() {
  local dest="$root/.tools/node-$node_version"
  if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$node_version" ]; then
    ln -sfn "node-$node_version" "$root/.tools/node"
    log "Node $node_version present"
    return
  fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "no Node $node_version package for $(uname -m)" >&2; exit 1 ;;
  esac
  log "installing Node $node_version from the npm registry (node-linux-$arch)"
  local scratch
  scratch="$(mktemp -d)"
  # npm pack checks the tarball against the registry's integrity; this checks the registry's against ours.
  (cd "$scratch" && npm pack "node-linux-$arch@$node_version" --json --silent --loglevel=error > pack.json)
  grep -q "\"integrity\": \"${node_integrity[$arch]}\"" "$scratch/pack.json" || { echo "node-linux-$arch@$node_version does not have the pinned integrity" >&2; exit 1; }
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  tar xzf "$scratch/node-linux-$arch-$node_version.tgz" -C "$dest.partial" --strip-components=1 package/bin/node package/LICENSE
  rm -rf "$dest" "$scratch"
  mv "$dest.partial" "$dest"
  ln -sfn "node-$node_version" "$root/.tools/node"
}

main() {
  local started=$SECONDS
  install_debian_packages
  command -v go >/dev/null || { echo "Go $go_needed or newer is required to build the temporal CLI and MinIO (any Go works: an older one fetches $go_toolchain from the Go module proxy); on Debian: apt-get install golang-go" >&2; exit 1; }
  go_install temporal github.com/temporalio/cli/cmd/temporal "$temporal_version"
  go_install minio github.com/minio/minio "$minio_version"
  install_node
  if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    log "installing npm dependencies (npm ci: exactly the locked versions; the lockfile is never rewritten)"
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
  else
    log "npm dependencies present"
  fi
  log "done in $((SECONDS - started)) s"
}

main "$@"
