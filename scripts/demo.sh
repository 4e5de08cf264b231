#!/usr/bin/env bash
# The main job end to end on embedded defaults; see README. Pass --keep-running or --stop.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${1:-}" != "--stop" ]; then
  bash scripts/install-deps.sh
fi
source scripts/node-env.sh
if [ "${1:-}" != "--stop" ]; then
  npm run --silent build
fi
node dist/devtools/demo.js "$@"
