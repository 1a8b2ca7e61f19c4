#!/usr/bin/env bash
# Installs every Debian package tessera needs to build, test and run. Idempotent:
# when everything is present it changes nothing. Works as root, or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  clang libclang-rt-dev  # the fuzz build (scripts/fuzz.sh): libFuzzer and the sanitizer runtimes
  libopenslide-dev openslide-tools
  libvips-dev libvips-tools
  libtbb-dev
  librocksdb-dev libzstd-dev
  libcli11-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev
  libspdlog-dev libfmt-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libtiff-dev
  libdcmtk-dev libopenjp2-7-dev  # DICOM whole-slide series: DCMTK parses, OpenJPEG decodes JPEG 2000 frames
  libre2-dev zlib1g-dev libglib2.0-dev libyaml-cpp-dev
  libtorch-dev libgloo-dev libopenblas0-pthread
  libxxhash-dev
  python3-openslide python3-pil  # bench/ingest's comparison with the Python tiling loop
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root or install sudo; missing: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup: done"
