#!/bin/bash
# Lessons 07 and 04 with Ray on a lent GPU machine, in the gpu profile with the full-size random weights, each run
# cell by cell in one Python process (tools/run_cells.py: the machine has no Jupyter). Writes under $OUT.
#
# The machine has torch and transformers but no Ray, and a call carries at most 64 MiB: Ray 2.60's wheel with what
# it needs there (polars, pydantic, tensorboardX, jsonschema 4.23 and theirs: 137 MB) travels as one tar split in
# three parts, one per call, while the machine stays warm (CONTRIBUTING.md, "On a real GPU"):
#   call 1: carry .gpuray1 (part 1) and .whl (transformers, diffusers, tokenizers, regex), copy the part to
#           /tmp/parts, install .whl into /tmp/site and start `standins --full-size --roles llm,vit,image_gen` into
#           /tmp/rc/fullsize/hub under setsid (it goes on after the call);
#   call 2: carry .gpuray2, copy part 2 to /tmp/parts;
#   call 3: carry .gpuray3 (part 3), run this script. BUDGET_S bounds it (lesson 04 runs only if time is left).
set -u
T0=$(date +%s)
cat /tmp/parts/p1 /tmp/parts/p2 ${PART3:-.gpuray3/p3} > /tmp/bundle.tar && mkdir -p /tmp/rw && tar -xf /tmp/bundle.tar -C /tmp/rw || { echo "bundle broken"; ls -la /tmp/parts; exit 1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/rw/*.whl 2>&1 | grep -v -i "warning" | tail -3
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 RAYCOURSE_CACHE=/tmp/rc RAYCOURSE_PROFILE=gpu HF_HUB_OFFLINE=1 \
  TRANSFORMERS_OFFLINE=1 MPLBACKEND=agg HF_HUB_CACHE=/tmp/rc/fullsize/hub TRANSFORMERS_VERBOSITY=error
python3 -c "import ray, polars, pydantic, transformers, torch; print('ray', ray.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
for i in $(seq 1 120); do grep -q "Built in" /tmp/build.log 2>/dev/null && break; sleep 1; done; tail -5 /tmp/build.log
nvidia-smi --query-gpu=timestamp,name,utilization.gpu,memory.used --format=csv,noheader -l 1 > $OUT/smi.csv 2>&1 &
echo "== lesson 07 at $(( $(date +%s) - T0 )) s"
timeout ${L07_S:-210} python3 tools/run_cells.py notebooks/07_multimodal_pipeline.ipynb $OUT/lesson07.json > $OUT/lesson07.log 2>&1; echo "rc $?"
grep -E "^\[|cells ok|^      " $OUT/lesson07.log | head -50
LEFT=$(( ${BUDGET_S:-330} - ($(date +%s) - T0) ))
echo "== lesson 04 with ${LEFT} s left"
if [ $LEFT -gt 90 ]; then
  timeout $(( LEFT - 10 )) python3 tools/run_cells.py notebooks/04_llm_prompt_enhancement.ipynb $OUT/lesson04.json > $OUT/lesson04.log 2>&1; echo "rc $?"
  grep -E "^\[|cells ok|^      " $OUT/lesson04.log | head -40
fi
echo "== done at $(( $(date +%s) - T0 )) s"
