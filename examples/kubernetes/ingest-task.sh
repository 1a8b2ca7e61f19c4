#!/bin/bash
# One pod of ingest-job.yaml: Kubernetes sets JOB_COMPLETION_INDEX, and the
# Job's completions come as SHARD_COUNT. As plain bash:
#   JOB_COMPLETION_INDEX=0 SHARD_COUNT=16 SLIDES=... SHARDS=... bash ingest-task.sh
set -euo pipefail
: "${TESSERA:=tessera}" "${SLIDES:?the cohort slides}" "${SHARDS:?where the shard stores go}"
: "${SHARD_COUNT:?the Job completions}" "${INGEST_FLAGS:=--mpp 0.5 --tile 256 --progress lines}"

status=0
# shellcheck disable=SC2086
"$TESSERA" ingest --store "$SHARDS/ingest-$JOB_COMPLETION_INDEX" --slides "$SLIDES" \
  --shard "auto/$SHARD_COUNT" $INGEST_FLAGS || status=$?
[ "$status" -eq 3 ] && exit 0  # failed slides are recorded in the shard store
exit "$status"
