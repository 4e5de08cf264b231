#!/usr/bin/env bash
# Runs one of the compiled entry points on the newest supported Node the machine has (see node-env.sh):
# `npm run worker -- …` and `npm run cli -- …` go through here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/node-env.sh"
exec node "$@"
