#!/usr/bin/env bash
# Runs tessera's main job end to end on the bundled example (no external data):
# make a synthetic slide, its report and per-tile attributes, ingest them with
# prompts, show the store. Everything goes under demo-out/. Slide files or
# folders given as arguments are ingested as well.
#
# Prompts need OpenAI CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz),
# which tessera does not ship: it is taken from $TESSERA_CLIP_VOCAB, else from
# ../shared/data/clip beside the checkout. Without it the demo ingests tiles
# only and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh tessera make_example_slide

out=demo-out
rm -rf "$out"
mkdir -p "$out"
./build/make_example_slide "$out/example" >/dev/null
echo "demo: example slide, report and tile attributes in $out/example"

vocab="${TESSERA_CLIP_VOCAB:-../shared/data/clip/bpe_simple_vocab_16e6.txt.gz}"
prompt_flags=()
if [ -f "$vocab" ]; then
  prompt_flags=(--reports "$out/example/reports.csv" --tile-attributes "$out/example/tile_attributes.csv"
                --clip-vocab "$vocab")
else
  echo "demo: no CLIP vocabulary at $vocab; ingesting tiles without prompts (set TESSERA_CLIP_VOCAB)"
fi

./build/tessera ingest --store "$out/store" --slides "$out/example/slides" "$@" --qc-dir "$out/qc" "${prompt_flags[@]}"
./build/tessera info --store "$out/store"
./build/tessera info --store "$out/store" --json >"$out/info.json"
if [ ${#prompt_flags[@]} -gt 0 ]; then
  ./build/tessera report --reports "$out/example/reports.csv" --clip-vocab "$vocab" | tee "$out/report.txt"
fi
echo "demo: store in $out/store, QC pictures in $out/qc, info in $out/info.json"
