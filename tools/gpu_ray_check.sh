#!/bin/bash
# Course notebooks with Ray on a lent GPU machine, in the gpu profile with the full-size random weights, each run
# cell by cell in one Python process (tools/run_cells.py: the machine has no Jupyter). Writes under $OUT.
#
# The machine has torch and transformers but no Ray, and a call carries at most 64 MiB: Ray 2.60's wheel with what
# it needs there (polars, pydantic, tensorboardX, jsonschema 4.23 and theirs: 137 MB) travels as one tar split in
# three parts, one per call, while the machine stays warm (CONTRIBUTING.md, "On a real GPU"):
#   call 1: carry .gpuray1 (part 1) and .whl (transformers, diffusers, tokenizers, regex; for lesson 05 also
#           evaluate, datasets, dill, multiprocess), copy the part to
#           /tmp/parts, install .whl into /tmp/site and start `standins --full-size --roles llm,vit,image_gen` into
#           /tmp/rc/fullsize/hub under setsid (it goes on after the call), its log in /tmp/build.log and, where
#           started as `setsid bash -c 'echo $$ >/tmp/build.pid; exec python3 -m raycourse standins ...'`, its pid
#           in /tmp/build.pid (the wait below then stops early if the build died);
#   call 2: carry .gpuray2, copy part 2 to /tmp/parts;
#   call 3: carry .gpuray3 (part 3), run this script with a timeout_s above BUDGET_S.
# NOTEBOOKS: the notebooks to run, in order, each optionally with its own limit in seconds (path:seconds, else
# CAP_S); default lessons 07 and 04. BUDGET_S bounds the whole script: a notebook runs only with more than MIN_S
# seconds left, and never past the budget. Per notebook: $OUT/<name>.json (tools/run_cells.py's report); every
# notebook's output goes to $OUT/cells.log and nvidia-smi's samples (1 s) to $OUT/smi.csv (a call returns at most
# 8 files: tee this script's output into a seventh).
# LOCAL_DATA=1: every data role reads the repository's data/ (as the tiny profile does) while the models stay the
# full-size ones; modules 05 and 06 read their gpu data from S3, which the lent machine cannot reach.
set -u
T0=$(date +%s)
NOTEBOOKS=${NOTEBOOKS:-notebooks/07_multimodal_pipeline.ipynb:210 notebooks/04_llm_prompt_enhancement.ipynb}
BUDGET_S=${BUDGET_S:-330} CAP_S=${CAP_S:-300} MIN_S=${MIN_S:-90}
cat /tmp/parts/p1 /tmp/parts/p2 ${PART3:-.gpuray3/p3} > /tmp/bundle.tar && mkdir -p /tmp/rw && tar -xf /tmp/bundle.tar -C /tmp/rw || { echo "bundle broken"; ls -la /tmp/parts; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/rw/*.whl 2>&1 | grep -v -i "warning" | tail -3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAYCOURSE_CACHE=/tmp/rc RAYCOURSE_PROFILE=gpu HF_HUB_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 MPLBACKEND=agg HF_HUB_CACHE=/tmp/rc/fullsize/hub TRANSFORMERS_VERBOSITY=error \
  RAY_USAGE_STATS_ENABLED=0
[ "${LOCAL_DATA:-0}" = 1 ] && export RUN_CELLS_PRELUDE='import raycourse.data as _d; _d.DATA_ROLES.update({k: (t, None) for k, (t, g) in _d.DATA_ROLES.items()})'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import ray, polars, pydantic, transformers, torch; print('ray', ray.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
for i in $(seq 1 120); do
  grep -q "Built in" /tmp/build.log 2>/dev/null && break
  [ -f /tmp/build.pid ] && ! kill -0 "$(cat /tmp/build.pid)" 2>/dev/null && { echo "the build is not running"; break; }
  sleep 1
done; tail -5 /tmp/build.log
nvidia-smi --query-gpu=timestamp,name,utilization.gpu,memory.used --format=csv,noheader -l 1 > $OUT/smi.csv 2>&1 &
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
