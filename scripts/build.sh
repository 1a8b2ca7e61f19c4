#!/usr/bin/env bash
# Configures (Release, ccache) and builds tessera into build/. Extra arguments
# are build targets; none builds everything. $TESSERA_CMAKE_ARGS adds CMake
# arguments, split at spaces (CI: -DTESSERA_WERROR=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
read -r -a cmake_args <<<"${TESSERA_CMAKE_ARGS:-}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build --parallel "$(nproc)" "${targets[@]}"
