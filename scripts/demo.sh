#!/usr/bin/env bash
# The main job end to end on embedded defaults; see README. Pass --keep-running or --stop.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--stop" ]; then
  bash scripts/install-deps.sh
  npm run --silent build
fi
node dist/devtools/demo.js "$@"
