#!/bin/bash
# One rank of a training run, as srun starts it: torchrun's variables from
# SLURM's. As plain bash, set SLURM's by hand, one process per rank:
#   SLURM_PROCID=0 SLURM_NTASKS=2 SLURM_LOCALID=0 bash train-task.sh --config ... &
#   SLURM_PROCID=1 SLURM_NTASKS=2 SLURM_LOCALID=1 bash train-task.sh --config ...
set -euo pipefail
: "${TESSERA:=tessera}" "${STORE:?the cohort store}"
export RANK=$SLURM_PROCID WORLD_SIZE=$SLURM_NTASKS LOCAL_RANK=${SLURM_LOCALID:-0}
export MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} MASTER_PORT=${MASTER_PORT:-29500}
exec "$TESSERA" train --store "$STORE" "$@"
