#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/*_fuzz.cpp) with clang, AddressSanitizer
# and the fuzzer's coverage into build-fuzz/, then runs each for
# FUZZ_SECONDS (default 15) starting from its seeds in fuzz/corpus/TARGET/.
# A crash, a sanitizer report or a broken invariant fails the script; the
# input that did it is left in build-fuzz/findings/. New inputs the fuzzer
# finds go to build-fuzz/corpus/, never into the committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds=${FUZZ_SECONDS:-15}
targets=()
for source in fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done

CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_FUZZ=ON \
  -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --parallel "$(nproc)" --target "${targets[@]}"

mkdir -p build-fuzz/findings
for target in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$target"
  log="build-fuzz/findings/$target.log"
  if ! "build-fuzz/fuzz/$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="build-fuzz/findings/$target-" "build-fuzz/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz: $target failed; the input and its log are in build-fuzz/findings/" >&2
    exit 1
  fi
  echo "fuzz: $target: $(grep -m1 '^Done ' "$log")"
done
echo "fuzz: ${#targets[@]} targets ran without a finding"
