#!/bin/bash
# Course notebooks with Ray on a lent GPU machine, in the gpu profile with the full-size random weights, each run
# cell by cell in one Python process (tools/run_cells.py: the machine has no Jupyter), and the lever table
# (tools/gpu_levers.py). Writes under $OUT.
#
# The machine has torch and transformers but no Ray, and a call carries at most 64 MiB. Every package of the lock
# that the machine lacks (or has at another version), the torch family apart, travels as wheels in parts made by
# tools/gpu_bundle.py (--have: the machine's `python3 -m pip list --format=freeze`, from a first call), one part a
# call while the machine stays warm (docs/testing.md, "On a real GPU"):
#   call 0 (seconds): `python3 -m pip list --format=freeze > $OUT/pip.txt`, the --have of tools/gpu_bundle.py;
#   calls 1 .. N-1: carry .gpubundle/pK, command `mkdir -p /tmp/parts && cp .gpubundle/pK/* /tmp/parts/`;
#   call N: carry .gpubundle/pN, command `mkdir -p /tmp/parts && cp .gpubundle/pN/* /tmp/parts/ &&
#           LEVERS=1 bash tools/gpu_ray_check.sh`, with a timeout_s above BUDGET_S.
# This script joins and checks the parts (tools/gpu_join_parts.sh) and installs them into /tmp/site, builds the
# full-size models (all roles) into /tmp/rc/fullsize/hub unless built, and draws the gpu profile's data sets at
# workshop scale (python -m raycourse make-data, SCALE, default 1: 6,930 photos) into /tmp/gpudata, which the
# notebooks and the harness read (RAYCOURSE_GPU_DATA). GPU_DATA=0: no drawing (then LOCAL_DATA=1 as below).
# NOTEBOOKS: the notebooks to run, in order, each optionally with its own limit in seconds (path:seconds, else
# CAP_S); default lessons 07 and 04; NOTEBOOKS=none runs none. BUDGET_S bounds the whole script: a notebook runs
# only with more than MIN_S seconds left, and never past the budget. Per notebook: $OUT/<name>.json
# (tools/run_cells.py's report); every notebook's output goes to $OUT/cells.log and nvidia-smi's samples (1 s) to
# $OUT/smi.csv (a call returns at most 8 files: tee this script's output into another).
# LEVERS=1: then tools/gpu_levers.py (LEVER_ARGS, e.g. "--stages 07,05 --levers batch_size"), in the time left,
# into $OUT/levers.json, and its table (tools/lever_table.py) into $OUT/levers.md.
# The lever table alone, in one 10-minute call: NOTEBOOKS=none LEVERS=1 BUDGET_S=560 (timeout_s 590); the stages
# run in the order 07, 07-iter, 03, 05, 06 and the budget skips what no longer fits (LEVER_ARGS="--stages 07,05"
# to choose).
# LOCAL_DATA=1: every data role reads the repository's data/ (as the tiny profile does) while the models stay the
# full-size ones.
set -u
T0=$(date +%s)
NOTEBOOKS=${NOTEBOOKS:-notebooks/07_multimodal_pipeline.ipynb:210 notebooks/04_llm_prompt_enhancement.ipynb}
BUDGET_S=${BUDGET_S:-330} CAP_S=${CAP_S:-300} MIN_S=${MIN_S:-90}
[ -d /tmp/site/ray ] || bash tools/gpu_join_parts.sh || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAYCOURSE_CACHE=/tmp/rc RAYCOURSE_PROFILE=gpu HF_HUB_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 MPLBACKEND=agg HF_HUB_CACHE=/tmp/rc/fullsize/hub TRANSFORMERS_VERBOSITY=error \
  RAY_USAGE_STATS_ENABLED=0
if [ ! -f /tmp/build.pid ] && ! grep -q "Built in" /tmp/build.log 2>/dev/null; then
  setsid bash -c 'echo $$ >/tmp/build.pid; exec python3 -m raycourse standins --full-size --cache /tmp/rc/fullsize/hub' \
    > /tmp/build.log 2>&1 < /dev/null &
fi
if [ "${GPU_DATA:-1}" = 1 ]; then
  [ -f /tmp/gpudata/manifest.json ] || python3 -m raycourse make-data --out /tmp/gpudata --scale "${SCALE:-1}"
  export RAYCOURSE_GPU_DATA=/tmp/gpudata
fi
[ "${LOCAL_DATA:-0}" = 1 ] && export RUN_CELLS_PRELUDE='import raycourse.data as _d; _d.DATA_ROLES.update({k: (t, None) for k, (t, g) in _d.DATA_ROLES.items()})'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import ray, polars, pydantic, transformers, torch; print('ray', ray.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
for i in $(seq 1 120); do
  grep -q "Built in" /tmp/build.log 2>/dev/null && break
  [ -f /tmp/build.pid ] && ! kill -0 "$(cat /tmp/build.pid)" 2>/dev/null && { echo "the build is not running"; break; }
  sleep 1
done; tail -5 /tmp/build.log
nvidia-smi --query-gpu=timestamp,name,utilization.gpu,memory.used --format=csv,noheader -l 1 > $OUT/smi.csv 2>&1 &
[ "$NOTEBOOKS" = none ] && NOTEBOOKS=
for entry in $NOTEBOOKS; do
  nb=${entry%:*}; cap=${entry##*:}; [ "$cap" = "$entry" ] && cap=$CAP_S
  name=$(basename "$nb" .ipynb)
  LEFT=$(( BUDGET_S - ($(date +%s) - T0) ))
  if [ $LEFT -le $MIN_S ]; then echo "== $name skipped: ${LEFT} s left"; continue; fi
  [ $cap -gt $(( LEFT - 10 )) ] && cap=$(( LEFT - 10 ))
  echo "== $name at $(( $(date +%s) - T0 )) s ($(date +%T)), limit ${cap} s"
  echo "== $name $(date +%T)" >> $OUT/cells.log
  timeout $cap python3 tools/run_cells.py "$nb" "$OUT/$name.json" > /tmp/cells.log 2>&1; rc=$?
  cat /tmp/cells.log >> $OUT/cells.log; echo "rc $rc ($(date +%T))"
  grep -E "^\[|cells ok|^      " /tmp/cells.log | head -50
  # a notebook stopped at its limit can leave its Ray behind, and the next notebook would join that one
  [ $rc -ne 0 ] && python3 -c "import sys; from ray.scripts.scripts import main; sys.argv = ['ray', 'stop', '--force']; main()" 2>&1 | tail -1
done
echo "== done at $(( $(date +%s) - T0 )) s"
if [ "${LEVERS:-0}" = 1 ]; then
  LEFT=$(( BUDGET_S - ($(date +%s) - T0) ))
  echo "== levers at $(( $(date +%s) - T0 )) s, ${LEFT} s left"
  timeout $(( LEFT > 30 ? LEFT - 10 : 20 )) python3 tools/gpu_levers.py --out "$OUT/levers.json" \
    --budget-s $(( LEFT > 120 ? LEFT - 110 : 10 )) ${LEVER_ARGS:-} 2>&1 | grep -E "^==|^   |^Wrote|rror"
  [ -f "$OUT/levers.json" ] && python3 tools/lever_table.py "$OUT/levers.json" | tee "$OUT/levers.md"
  echo "== levers done at $(( $(date +%s) - T0 )) s"
fi
