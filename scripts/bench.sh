#!/usr/bin/env bash
# Benchmarks (not part of the test suite): `npm run bench` (about 2 GB) or `npm run bench -- --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run --silent build
bash scripts/build-walg.sh || echo "[bench] wal-g could not be built: the peer is left out of this run"
node dist/client/bench/main.js "$@"
