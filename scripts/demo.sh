#!/usr/bin/env bash
# Runs tessera's jobs end to end on the bundled example (no external data),
# everything under demo-out/:
#   1. a synthetic H&E slide, its report and per-tile tumour/TIL probabilities,
#      and the same slide as a DICOM series; check both (probe) before any
#      ingest, and ingest the DICOM series into a store of its own;
#   2. ingest with prompts, encoding the kept tiles with a tiny VQ VAE in the
#      same pass; embed the prompts with a CLIP text tower (encode-text);
#   3. fine-tune the VAE on the stored tiles (train-vae), and re-encode: the
#      new VAE is a new model id, so every tile is encoded again beside the
#      old latents;
#   4. train a tiny LDM on the new latents for a few minutes (train);
#   5. generate a small synthetic set (generate) and export real plus
#      synthetic tiles as WebDataset shards (export);
#   6. measure the synthetic set against the stored tiles (evaluate) with a
#      small extractor made here; a real evaluation uses Inception (README).
# The models are tiny and start from random weights (tessera ships no
# weights): the pictures show the pipeline working, not a trained model.
# Slide files or folders given as arguments are ingested as well.
#
# Prompts are tokenised with $TESSERA_CLIP_VOCAB when it names CLIP's BPE
# vocabulary (bpe_simple_vocab_16e6.txt.gz, which tessera does not ship);
# otherwise with a demo vocabulary that `tessera learn-vocab` learns from the
# example's report, so the whole conditioned path runs on a fresh machine. The
# demo vocabulary is not CLIP's: real CLIP or PathLDM weights need CLIP's own.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh tessera make_example_slide make_example_extractor

out=demo-out
ldm=schemas/ldm/tiny-ldm.yaml
vq=schemas/ldm/tiny-vq.yaml
rm -rf "$out"
mkdir -p "$out/models"
tessera=./build/tessera
model_id() { grep -o '"model_id": "[0-9a-f]*"' | head -1 | cut -d'"' -f4; }

./build/make_example_slide "$out/example" >/dev/null
echo "demo: example slide, report and tile attributes in $out/example"

# 1. What an ingest would find, before one runs: formats, levels, µm/px, tiles.
$tessera probe "$out/example/slides" "$out/example/dicom" --mpp 2 --tile 32 --progress quiet --json >"$out/probe.json"
$tessera ingest --store "$out/dicom-store" --slides "$out/example/dicom" --mpp 2 --tile 32 --qc-dir "$out/qc" \
  --progress quiet

vocab="${TESSERA_CLIP_VOCAB:-}"
if [ -n "$vocab" ]; then
  echo "demo: prompts use the vocabulary in TESSERA_CLIP_VOCAB ($vocab)"
else
  vocab="$out/demo-vocab.txt.gz"
  $tessera learn-vocab --reports "$out/example/reports.csv" --out "$vocab"
  echo "demo: prompts use a demo vocabulary learned from the example's report ($vocab), not CLIP's;" \
    "real CLIP or PathLDM weights need CLIP's own (README, CLIP's vocabulary)"
fi
prompt_flags=(--reports "$out/example/reports.csv" --tile-attributes "$out/example/tile_attributes.csv"
              --clip-vocab "$vocab")

# Random weights in upstream's layout: the tiny VQ-f2 first stage, and the
# tiny LDM whose text tower is CLIP ViT-B/32's (512 wide, as the UNet expects).
$tessera model init --config "$vq" --seed 1 --out "$out/models/tiny-vq.safetensors"
$tessera model init --config "$ldm" --seed 1 --out "$out/models/tiny-ldm.safetensors"

# 2. Tiles of 32 px at 2 µm/px give the tiny LDM its 16 x 16 latents.
$tessera ingest --store "$out/store" --slides "$out/example/slides" "$@" --mpp 2 --tile 32 --qc-dir "$out/qc" \
  "${prompt_flags[@]}" --vae-config "$vq" --vae-weights "$out/models/tiny-vq.safetensors"
$tessera encode-text --store "$out/store" --text-config "$ldm" --text-weights "$out/models/tiny-ldm.safetensors" \
  --json >"$out/encode-text.json"
text_model=$(model_id <"$out/encode-text.json")
$tessera report --reports "$out/example/reports.csv" --clip-vocab "$vocab" >"$out/report.txt"

# 3. Fine-tune the VAE, then encode the store for it: only the new model's latents are missing.
$tessera train-vae --store "$out/store" --config "$vq" --init-weights "$out/models/tiny-vq.safetensors" \
  --out "$out/vae-run" --steps 300 --batch 8 --lr 1e-4 --checkpoint-every 100
$tessera encode --store "$out/store" --vae-config "$vq" --vae-weights "$out/vae-run/vae.safetensors" \
  --json >"$out/encode.json"
vae_model=$(model_id <"$out/encode.json")

# 4. The LDM, on the fine-tuned VAE's latents and the prompts' embeddings.
$tessera train --store "$out/store" --config "$ldm" --vae-model "$vae_model" --text-model "$text_model" \
  --out "$out/ldm-run" --steps 800

# 5. Synthetic tiles from the store's prompts, then real + synthetic as WebDataset.
$tessera generate --run "$out/ldm-run" --from-store "$out/store" --balance tumor --n 48 --steps 20 --batch 8 \
  --out "$out/synthetic"
$tessera export --store "$out/store" --out "$out/dataset" --format webdataset --synthetic "$out/synthetic" \
  --label tumor >/dev/null

# 6. FID, KID, precision/recall and density/coverage, overall and per bin. The
# example is one case, so there are no held-out cases: compare with every tile.
./build/make_example_extractor "$out/models/example-extractor.pt"
$tessera evaluate --extractor "$out/models/example-extractor.pt" --synthetic "$out/synthetic" \
  --real-store "$out/store" --split all --out "$out/evaluation" >/dev/null

$tessera info --store "$out/store"
$tessera info --store "$out/store" --json >"$out/info.json"
echo "demo: cohort check in $out/probe.json; the DICOM copy ingested into $out/dicom-store"
echo "demo: store in $out/store (QC pictures in $out/qc, summary in $out/info.json)"
echo "demo: VAE fine-tune in $out/vae-run, LDM run in $out/ldm-run (loss.png, samples/)"
echo "demo: synthetic tiles in $out/synthetic (contact_sheet.png), dataset in $out/dataset (dataset.json)"
echo "demo: evaluation in $out/evaluation (evaluation.json, metrics.png)"
