#!/usr/bin/env bash
# Compiles TypeScript to dist/ and bundles the workflows once for fast worker starts.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.json
node dist/worker/bundle.js
