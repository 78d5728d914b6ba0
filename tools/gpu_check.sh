#!/usr/bin/env bash
# The course's checks on a real GPU, in one run (docs/testing.md, "On a real GPU"): what the card and driver are,
# lab 07's feature tolerance on the GPU (tiny stand-ins, then the full-size builds), check-profile, and
# `make verify-gpu` at full size. Writes everything under $OUT (default outputs/gpu-check).
#
# It needs a python3 with torch and CUDA, and the course's other packages (transformers, diffusers, ...), no Ray:
# every stage runs in process. Nothing is downloaded: the models are the tiny stand-ins and the full-size
# random-weight builds of `python -m raycourse standins --full-size`.
set -u
OUT=${OUT:-outputs/gpu-check}
PY=${PYTHON:-python3}
export RAYCOURSE_CACHE=${RAYCOURSE_CACHE:-/tmp/raycourse-gpu-check} PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
FULL=$RAYCOURSE_CACHE/fullsize/hub
mkdir -p "$OUT"
log() { echo "== $(date +%T) $*"; }

log "the card"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"
$PY -c "import torch, transformers, diffusers; print('torch', torch.__version__, 'transformers', \
transformers.__version__, 'diffusers', diffusers.__version__, 'cuda', torch.cuda.is_available())"

log "lab 07's feature tolerance, tiny stand-ins"
RAYCOURSE_PROFILE=tiny $PY tools/feature_precision.py 2>"$OUT/precision-tiny.err" | tee -a "$OUT/precision.jsonl"

log "full-size builds"
$PY -m raycourse standins --full-size --roles "${ROLES:-image_gen,llm,vit,clip}" --cache "$FULL" 2>&1 \
  | tee "$OUT/build.log"

log "lab 07's feature tolerance, full size"
RAYCOURSE_PROFILE=gpu HF_HUB_CACHE=$FULL $PY tools/feature_precision.py 2>"$OUT/precision-full.err" \
  | tee -a "$OUT/precision.jsonl"

log "check-profile (gpu, the full-size cache)"
RAYCOURSE_PROFILE=gpu HF_HUB_CACHE=$FULL $PY -m raycourse check-profile 2>&1 | tee "$OUT/check-profile.txt"

log "verify-gpu"
$PY -m raycourse verify-gpu --roles "${ROLES:-image_gen,llm,vit,clip}" --cache "$FULL" --json "$OUT/verify-gpu.json" ${VERIFY_ARGS:-} 2>&1 | tee "$OUT/verify.log"
log "done"
