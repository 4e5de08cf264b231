#!/usr/bin/env bash
# A stand-in for mariadb-backup in the fleet benchmark: it answers the same arguments, writes the
# checkpoint and info files the product reads, and streams STAND_IN_MB (default 4) of random bytes.
# It measures orchestration at scale, not the tool.
set -euo pipefail
lsn_dir="" from_lsn=0
for arg in "$@"; do
  case "$arg" in
    --extra-lsndir=*) lsn_dir="${arg#*=}" ;;
    --incremental-lsn=*) from_lsn="${arg#*=}" ;;
  esac
done
[ -n "$lsn_dir" ] || { echo "stand-in: --extra-lsndir is required" >&2; exit 2; }
mkdir -p "$lsn_dir"
to_lsn=$((from_lsn + 1000))
type=full-backuped
[ "$from_lsn" = 0 ] || type=incremental
printf 'backup_type = %s\nfrom_lsn = %s\nto_lsn = %s\nlast_lsn = %s\n' "$type" "$from_lsn" "$to_lsn" "$to_lsn" >"$lsn_dir/xtrabackup_checkpoints"
printf 'tool_name = stand-in-backup-tool\ntool_version = 1\nserver_version = stand-in\n' >"$lsn_dir/xtrabackup_info"
head -c "$((${STAND_IN_MB:-4} * 1024 * 1024))" /dev/urandom
