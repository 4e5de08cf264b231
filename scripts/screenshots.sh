#!/usr/bin/env bash
# The operator guide's Web UI pictures (docs/images/web-ui-*.png), from a real Web UI in headless Chromium:
# see devtools/web-ui-screenshots.ts. Installs Debian's Chromium when it is missing (only this
# script needs it), then everything else the project needs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
if ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1; then
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
source scripts/node-env.sh
npm run --silent build
node dist/devtools/web-ui-screenshots.js
