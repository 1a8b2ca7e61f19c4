#!/usr/bin/env bash
# Builds the torch-free libraries and their unit tests with AddressSanitizer,
# LeakSanitizer and UBSan into build-asan/, and runs them: a memory error, a
# leak or undefined behaviour fails the test that hit it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The build runs the tests too, to list their cases.
export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON -DTESSERA_WITH_TORCH=OFF \
  -DTESSERA_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan --parallel "$(nproc)"
cd build-asan
ctest --parallel "$(nproc)" --output-on-failure --timeout 600
