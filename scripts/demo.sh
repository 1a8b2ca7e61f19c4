#!/usr/bin/env bash
# Runs tessera's main job end to end on the bundled example (no external data):
# make a synthetic slide and report, ingest them, show the store. Everything
# goes under demo-out/. Slide files or folders given as arguments are ingested
# as well.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh tessera make_example_slide

out=demo-out
rm -rf "$out"
mkdir -p "$out"
./build/make_example_slide "$out/example" >/dev/null
echo "demo: example slide and report in $out/example"

./build/tessera ingest --store "$out/store" --slides "$out/example/slides" "$@" --qc-dir "$out/qc"
./build/tessera info --store "$out/store"
./build/tessera info --store "$out/store" --json >"$out/info.json"
echo "demo: store in $out/store, QC pictures in $out/qc, info in $out/info.json"
