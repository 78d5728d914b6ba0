#!/bin/bash
# One GPU slot (docs/testing.md, "On a real GPU"): on a lent machine with no internet and no Ray, install the
# course's packages from the carried archives, build the full-size random-weight models, draw the gpu profile's
# data at workshop scale, measure module 07's GPU stage lever by lever (tools/gpu_levers.py, NVML beside the
# stopwatch), then run `make test` in the gpu profile (nbval on the lessons, the grader on the labs) for MODULES.
# Everything it shows goes under $OUT; tools/gpu_results.py turns that into results/gpu/NN.json here.
#
# Here, first: `python tools/gpu_bundle.py --site --any-version --have FILE --part-mib 48` (FILE: the machine's
# `pip list --format=freeze`, or one made from .library's list of its packages) writes .gpubundle/sK/site-K.tar.xz,
# each under 48 MiB so that it travels in one call with the working tree, and prints the calls: each but the last
# carries one archive with UNPACK_ONLY=1 (seconds), while the machine stays warm (30 s between calls); the last
# carries the last archive and runs the slot, with timeout_s a little above BUDGET_S.
#
# MODULES: the modules whose notebooks `make test` runs, all in one pytest run with XDIST_N processes side by side
# (default 4: each with a Ray of its own, all on the one GPU; their wall times are then times beside each other, and
# the results say so; none: no tests). LEVERS: the ladder of tools/gpu_levers.py (empty: no lever runs); LEVER_SET:
# its --set arguments (the ladder's starting point). ROLES: the full-size roles to build (default all, which
# `make test`'s check-profile needs). BUDGET_S: the whole script.
set -u
T0=$(date +%s)
BUDGET_S=${BUDGET_S:-540} MODULES=${MODULES:-07} XDIST_N=${XDIST_N:-4}
# the ladder: the recipe measured so far (results/gpu/runs/), then what the next slot tries beyond it
LEVERS=${LEVERS-cpu_workers=12,actors_per_gpu=2,batch_size=128,in_flight=4,actors_per_gpu=3,pin_memory=true}
LEVER_S=${LEVER_S:-180} WINDOW_S=${WINDOW_S:-12}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
say() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/slot.log"; }
left() { echo $(( BUDGET_S - ($(date +%s) - T0) )); }

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/machine.txt"
nproc >> "$OUT/machine.txt"; date -u +%FT%TZ >> "$OUT/machine.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 \
  > "$OUT/smi.csv" 2>&1 &

# The archives of tools/gpu_bundle.py --site, one call's carry each, unpacked once each while the machine stays warm.
# Packages, models and data under /opt/rcgpu, not /tmp: readable from a graded notebook's sandbox, whatever its /tmp.
mkdir -p /opt/rcgpu/site
for archive in .gpubundle/site.tar.xz .gpubundle/s*/site-*.tar.xz; do
  [ -f "$archive" ] || continue
  mark=/opt/rcgpu/site/.unpacked-$(basename "$archive")
  [ -f "$mark" ] && continue
  if command -v xz >/dev/null; then xz -dc -T0 "$archive" | tar -x -C /opt/rcgpu/site
  else python3 -c "import lzma, sys, tarfile; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall('/opt/rcgpu/site')" "$archive"
  fi || { say "$archive does not unpack"; exit 1; }
  touch "$mark"; say "unpacked $archive"
done
for wheel in .gpubundle/*.whl; do  # single wheels that joined after the archives were made
  [ -f "$wheel" ] && python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall('/opt/rcgpu/site')" "$wheel"
done
[ "${UNPACK_ONLY:-0}" = 1 ] && { ls /opt/rcgpu/site/.unpacked-* | tee -a "$OUT/slot.log"; exit 0; }
export PYTHONPATH=/opt/rcgpu/site:$PWD PYTHONUNBUFFERED=1 RAYCOURSE_CACHE=/opt/rcgpu/rc HF_HUB_CACHE=/opt/rcgpu/rc/fullsize/hub \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 MPLBACKEND=agg RAYCOURSE_GPU_DATA=/opt/rcgpu/data
python3 -c "import ray, transformers, torch, nbval; print('ray', ray.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda)" \
  2>&1 | tee -a "$OUT/machine.txt"
say "unpacked"

# The make targets expect the venv's python at .venv/bin/python: here it is the machine's.
mkdir -p .venv/bin && printf '#!/bin/sh\nexec python3 "$@"\n' > .venv/bin/python && chmod +x .venv/bin/python
touch .venv/.raycourse-installed
python3 -m raycourse standins --full-size ${ROLES:+--roles "$ROLES"} --cache /opt/rcgpu/rc/fullsize/hub > /tmp/build.log 2>&1 &
BUILD=$!
python3 -m raycourse make-data --out /opt/rcgpu/data --scale "${SCALE:-1}" > /tmp/data.log 2>&1 & DATA=$!
wait $BUILD $DATA
tail -n 3 /tmp/build.log /tmp/data.log | tee -a "$OUT/slot.log"
say "models built and data drawn"

if [ -n "$LEVERS" ]; then
  say "levers (${LEVER_S} s at most)"
  RAY_DATA_DISABLE_PROGRESS_BARS=1 RAYCOURSE_TEST=1 timeout -s INT "$LEVER_S" python3 tools/gpu_levers.py --stages 07 --ladder "$LEVERS" --repeat 6 \
    --window-s "$WINDOW_S" --budget-s $(( LEVER_S - 45 )) ${LEVER_SET:-} --out "$OUT/levers.json" 2>&1 \
    | grep -E "^==|^   |^Wrote|rror" | tee -a "$OUT/slot.log"
  python3 -c "import sys; from ray.scripts.scripts import main; sys.argv = ['ray', 'stop', '--force']; main()" \
    >/dev/null 2>&1
  [ -f "$OUT/levers.json" ] && python3 tools/lever_table.py "$OUT/levers.json" | tee "$OUT/levers.md"
fi

[ "$MODULES" = none ] && { say "no tests asked for"; exit 0; }
T=$(( $(left) - 15 ))
say "make test, gpu profile, NOTEBOOKS=\"$MODULES\", ${T} s at most"
ARGS="notebooks tests/grading/test_grading.py -v -p no:cacheprovider --junitxml=$OUT/tests.xml --durations=0"
if command -v make >/dev/null; then
  timeout -s INT -k 10 "$T" make -o setup -o .venv/.raycourse-dev-installed test RAYCOURSE_PROFILE=gpu TEST_WORKERS="$XDIST_N" NOTEBOOKS="$MODULES" \
    PYTEST_ARGS="$ARGS" > "$OUT/tests.log" 2>&1
else  # the Makefile's test recipe, as make would run it
  say "no make here: its recipe run as it is"
  RAYCOURSE_PROFILE=gpu python3 -m raycourse check-profile > "$OUT/tests.log" 2>&1 && \
  env RAYCOURSE_TEST=1 RAYCOURSE_PROFILE=gpu RAY_DATA_DISABLE_PROGRESS_BARS=1 RAY_DATA_LOG_LEVEL=ERROR \
    RAY_LOG_TO_DRIVER=0 HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 MPLBACKEND=agg RAYCOURSE_NOTEBOOKS="$MODULES" \
    timeout -s INT -k 10 "$T" python3 -m pytest -n "$XDIST_N" --dist loadgroup --max-worker-restart=0 $ARGS \
    >> "$OUT/tests.log" 2>&1
fi
say "make test: exit $?"
tail -25 "$OUT/tests.log"
