#!/usr/bin/env bash
# A Debian root of another release beside the host's, so that the suite runs against that release's
# own MariaDB, mariadb-backup, mariadbd and mariadb-binlog: MariaDB 11.8 from Debian 13 (trixie) on a
# Debian 12 host, MariaDB 10.11 from Debian 12 (bookworm) on a Debian 13 host.
#
#   bash scripts/debian-root.sh other-suite            prints the suite the host is not (trixie or bookworm)
#   bash scripts/debian-root.sh build <suite>          builds the root once (debootstrap), cached
#   bash scripts/debian-root.sh run <suite> -- CMD…    runs CMD inside it, the checkout at the same path
#
# The root is built with debootstrap from the host's Debian mirror into
# ${CHAINBACKUP_CACHE:-~/.cache/chainbackup}/roots/<suite>-<packages hash>, in a folder of its own that
# is renamed into place only when whole, and reused after that (about 2.5 minutes cold). A run happens in
# new mount and PID namespaces: its mounts vanish with it, and every process it started is killed when
# CMD ends, whatever CMD did.
set -euo pipefail

root_checkout="$(cd "$(dirname "$0")/.." && pwd)"
cache="${CHAINBACKUP_CACHE:-$HOME/.cache/chainbackup}/roots"
# What the suite needs inside: the server, its backup tool and client, and the tools the tests call.
packages=(mariadb-server mariadb-client mariadb-backup zstd procps jq awscli ca-certificates prometheus)

log() { printf '[debian-root] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

host_suite() { . /etc/os-release && echo "${VERSION_CODENAME:-unknown}"; }

other_suite() {
  case "$(host_suite)" in
    bookworm) echo trixie ;;
    trixie) echo bookworm ;;
    *) echo "the host is $(host_suite); the suite supports Debian 12 (bookworm) and 13 (trixie) hosts" >&2; return 1 ;;
  esac
}

# The mirror the host's own apt uses (deb822 or one-line sources).
host_mirror() {
  local uri
  uri="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1)"
  [ -n "$uri" ] || uri="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# Mounts made for a root stay private to its run. Inside a chroot or some containers "/" is no mount
# point and cannot be made private; the mounts are then made under the run's own new namespace as they are.
propagation() { if mountpoint -q /; then echo private; else echo unchanged; fi; }

root_dir() {
  local suite="$1" hash
  hash="$(printf '%s\n' "$suite" "${packages[@]}" | sha256sum | cut -c1-12)"
  echo "$cache/$suite-$hash"
}

build() {
  local suite="$1" dir
  dir="$(root_dir "$suite")"
  if [ -x "$dir/usr/sbin/mariadbd" ]; then
    log "$suite root present ($dir)"
    return
  fi
  command -v debootstrap >/dev/null || { log "installing debootstrap"; as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  local started=$SECONDS partial="$dir.partial"
  log "building the $suite root from $(host_mirror) into $dir (about 2.5 minutes)"
  as_root rm -rf "$partial"
  mkdir -p "$(dirname "$dir")"
  # A minimal base first, then the packages with the root's own apt, which resolves what debootstrap's
  # --include cannot (virtual packages, the order of pre-installation scripts).
  as_root debootstrap --variant=minbase "$suite" "$partial" "$(host_mirror)" >"$partial.log" 2>&1 || {
    tail -n 20 "$partial.log" >&2
    log "debootstrap of $suite failed; its log is $partial.log"
    exit 1
  }
  # Package scripts inside must never start a service: the tests run their own servers.
  printf '#!/bin/sh\nexit 101\n' | as_root tee "$partial/usr/sbin/policy-rc.d" >/dev/null
  as_root chmod 755 "$partial/usr/sbin/policy-rc.d"
  as_root unshare --mount --propagation "$(propagation)" bash -euo pipefail -c '
    mount -t proc proc "$1/proc"
    mount --rbind /dev "$1/dev"
    chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive bash -euo pipefail -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $2 && apt-get clean"
  ' bash "$partial" "${packages[*]}" >>"$partial.log" 2>&1 || {
    tail -n 20 "$partial.log" >&2
    log "installing ${packages[*]} into the $suite root failed; its log is $partial.log"
    exit 1
  }
  rm -f "$partial.log"
  as_root mv "$partial" "$dir"
  log "$suite root built in $((SECONDS - started)) s"
}

run() {
  local suite="$1"
  shift
  [ "${1:-}" = "--" ] && shift
  local dir
  dir="$(root_dir "$suite")"
  [ -x "$dir/usr/sbin/mariadbd" ] || build "$suite"
  # Inside new mount and PID namespaces: mounts private to the run, every process gone when it ends.
  as_root unshare --mount --propagation "$(propagation)" --pid --fork --kill-child bash -euo pipefail -c '
    dir="$1"; checkout="$2"; shift 2
    mount -t proc proc "$dir/proc"
    mount --rbind /dev "$dir/dev"
    mount -t sysfs sysfs "$dir/sys"
    mount -t tmpfs tmpfs "$dir/tmp"
    # The host name resolves inside as outside (mariadb-install-db asks for it).
    touch "$dir/etc/hosts"
    mount --bind /etc/hosts "$dir/etc/hosts"
    mkdir -p "$dir$checkout"
    mount --bind "$checkout" "$dir$checkout"
    cd "$dir$checkout"
    exec chroot "$dir" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 CI="${CI:-}" CHAINBACKUP_IN_ROOT=1 CHAINBACKUP_SUMMARY_FILE="${CHAINBACKUP_SUMMARY_FILE:-}" CHAINBACKUP_TEST_WORKER_LOG="${CHAINBACKUP_TEST_WORKER_LOG:-}" bash -c "cd \"\$0\" && exec \"\$@\"" "$checkout" "$@"
  ' bash "$dir" "$root_checkout" "$@"
}

case "${1:-}" in
  other-suite) other_suite ;;
  build) build "${2:?suite}" ;;
  run) run "${2:?suite}" "${@:3}" ;;
  *) echo "usage: $0 other-suite | build <suite> | run <suite> -- CMD…" >&2; exit 2 ;;
esac
