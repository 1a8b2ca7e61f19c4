#!/bin/bash
# Ingest, encode and merge a cohort on a SLURM cluster:
#   SLIDES=/data/tcga-brca SHARDS=/scratch/brca-shards STORE=/data/brca-store \
#   VAE_CONFIG=vq-f4.yaml VAE_WEIGHTS=vq-f4.safetensors TASKS=32 bash submit.sh
# Every variable reaches the jobs (sbatch exports the environment).
set -euo pipefail
cd "$(dirname "$0")"
: "${TASKS:=16}"
export SLIDES SHARDS STORE VAE_CONFIG VAE_WEIGHTS
ingest=$(sbatch --parsable --array=0-$((TASKS - 1)) ingest.sbatch)
encode=$(sbatch --parsable --array=0-$((TASKS - 1)) --dependency=aftercorr:"$ingest" encode.sbatch)
merge=$(sbatch --parsable --dependency=afterok:"$ingest":"$encode" merge.sbatch)
echo "ingest $ingest, encode $encode, merge $merge"
