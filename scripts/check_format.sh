#!/usr/bin/env bash
# Fails when a tracked C++ file is not as clang-format (.clang-format, the
# clang-format 14 of Debian 12) writes it, and lists those files; fix them
# with clang-format -i.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=()
while IFS= read -r -d '' file; do
  clang-format --dry-run --Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done < <(git ls-files -z -- '*.cpp' '*.h')
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "check_format: ${#unformatted[@]} file(s) differ from $(clang-format --version):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "check_format: every C++ file is clang-format clean"
