#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds tessera and runs every test through
# ctest. Tests that need ../shared/data skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
ctest --parallel "$(nproc)" --output-on-failure --timeout 600
