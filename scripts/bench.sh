#!/usr/bin/env bash
# Benchmarks (not part of the test suite): `npm run bench` (about 2 GB) or `npm run bench -- --quick`;
# `npm run bench -- --render-only` rewrites the Markdown and the summary in docs/benchmarks/README.md from the stored results.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
source scripts/node-env.sh
npm run --silent build
if [[ " $* " != *" --render-only "* ]]; then
  bash scripts/build-walg.sh || echo "[bench] wal-g could not be built: the peer is left out of this run"
fi
node dist/devtools/bench/main.js "$@"
