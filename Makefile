# raycourse: `make lab` to learn, `make test` to check everything. See README.md.
# Pythons that every locked package has a wheel for, on Linux x86_64 and macOS arm64 (14+):
# tests/platform/test_environment.py resolves the lock for each. 3.10 is out (diffusers 0.42 needs 3.11),
# and so is 3.11 before 3.11.5 (soupsieve). The venv gets the first of python3.11 ... python3.14,
# python3 that is one of them (3.11 first: the lock is made and CI runs on it); PYTHON=... overrides.
PYTHONS := 3.11 3.12 3.13 3.14
SUPPORTED := import sys; v = sys.version_info; sys.exit(not ((3, 11, 5) <= v[:3] and v[:2] <= (3, 14)))
PYTHON ?= $(or $(firstword $(foreach p,$(PYTHONS:%=python%) python3,$(shell $(p) -c '$(SUPPORTED)' 2>/dev/null && command -v $(p)))),python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.raycourse-installed
DEV_STAMP := $(VENV)/.raycourse-dev-installed
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PORT   ?= 8888
DASHBOARD_PORT ?= 8265
# The profile the tests run in: RAYCOURSE_PROFILE from the environment, else tiny
# (`make test-gpu` is the gpu profile).
TEST_PROFILE := $(or $(RAYCOURSE_PROFILE),tiny)
# Quiet, offline test runs (see raycourse/session/runtime.py for what each does). Offline in
# both profiles: the gpu profile loads its pinned models from the cache (make prefetch).
TEST_ENV := RAYCOURSE_TEST=1 RAYCOURSE_PROFILE=$(TEST_PROFILE) RAY_DATA_DISABLE_PROGRESS_BARS=1 \
            RAY_DATA_LOG_LEVEL=ERROR RAY_LOG_TO_DRIVER=0 HF_HUB_DISABLE_PROGRESS_BARS=1 \
            TRANSFORMERS_VERBOSITY=error HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
            HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 MPLBACKEND=agg

.PHONY: lab test test-fast test-standins grade test-gpu setup standins prefetch pins labs record bench soak lock clean-outputs figures screenshots help site site-setup test-room

help:
	@echo "make lab       set up (first time: ~1 min), start one Ray (dashboard on :8265) and JupyterLab"
	@echo "make test      set up, add the authors' tools (requirements-dev.txt), then run the whole test suite offline (tiny profile); NOTEBOOKS=05: one module's notebooks; TEST_WORKERS=0: in line, one process"
	@echo "make test-fast the unit tests and a right and a wrong answer per lab exercise (no notebook runs), for authors"
	@echo "make test-room two learners at once on one shared two-node Ray (lessons 04 and 05 within a GPU budget; about 10 min)"
	@echo "make test-standins  train the shipped stand-ins anew and compare them with the shipped ones (about 2.5 min; the speech one, with espeak-ng, some minutes more)"
	@echo "make grade     grade every lab in labs/: a verdict per exercise and a total (runs your code)"
	@echo "make labs      regenerate labs/ from solutions/"
	@echo "make figures   redraw the lessons' diagrams (notebooks/figures/*.svg) from tools/figures.py"
	@echo "make screenshots  capture the dashboard screenshots (notebooks/figures/dashboard_*.png) from a real run"
	@echo "make record    run every lesson and solved lab and store it with its outputs (NOTEBOOKS=03: one module's)"
	@echo "make bench     time every notebook and its slowest cells (median of BENCH_RUNS runs, default 3; NOTEBOOKS=03: one module's)"
	@echo "make soak      a workshop day on one Ray: every notebook twice, a killed kernel between (SOAK_ARGS=...)"
	@echo "make test-gpu  the whole suite in the gpu profile, on a GPU machine, after make prefetch"
	@echo "make prefetch  download the gpu profile's pinned models (needs internet)"
	@echo "make pins      show the pinned models, their sizes and licences"
	@echo "make verify-gpu  every module's model stages at full size: load time, peak memory, rows/s (VERIFY_ARGS=...)"
	@echo "make site     the course website in _site/ (lessons, labs, solved labs, guides), offline, from the stored outputs"

$(BIN)/python:
	@$(PYTHON) -c '$(SUPPORTED)' 2>/dev/null || { echo "raycourse needs Python 3.11.5+, 3.12, 3.13 or 3.14, and $(PYTHON) is $$($(PYTHON) --version 2>/dev/null || echo "not found"). Install one (python.org, your package manager, or 'uv python install 3.12'), then run make again, or set PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# uv installs the lock, from the places this machine's pip is set up to use (tools/install_env.py says why: 40 s
# here, pip 2 min). Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on the course's CI
# machine), no .pyc would ever be written, and every process, each Ray worker included, would compile torch and
# transformers from source at every import (the whole suite took 1.5-2x as long).
$(STAMP): requirements.txt constraints.txt pyproject.toml tools/install_env.py | $(BIN)/python
	$(BIN)/python tools/install_env.py -r requirements.txt -c constraints.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

setup: $(STAMP) standins

# The authors' tools (requirements-dev.txt: pytest, ruff, selenium, actionlint, uv), from the same lock: the targets
# that test or capture add them; make setup and make lab install only what the course runs.
$(DEV_STAMP): requirements-dev.txt constraints.txt tools/install_env.py $(STAMP)
	$(BIN)/python tools/install_env.py -r requirements-dev.txt -c constraints.txt
	@touch $(DEV_STAMP)

standins: $(STAMP)
	@RAYCOURSE_PROFILE=tiny HF_HUB_OFFLINE=1 $(BIN)/python -m raycourse standins

# One Ray for the whole session (dashboard on DASHBOARD_PORT), then JupyterLab with
# RAY_ADDRESS pointing at it; both stop together when JupyterLab exits.
lab: setup
	DASHBOARD_PORT=$(DASHBOARD_PORT) $(BIN)/python -m raycourse lab --ServerApp.root_dir=$(CURDIR) --port=$(PORT) $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# The tests run in two pytest processes side by side (pytest-xdist), each with a Ray of its own; a file's tests stay
# in one process, but for the grading of each lab (the scheduler of raycourse/testing/run_machinery.py). From a fresh clone 22.1-26.4 min
# against 26.4-26.6 in line (2026-11-26, different hours: see CONTRIBUTING.md); TEST_WORKERS=0 runs them in line, in one process (less memory).
TEST_WORKERS ?= 2
# A test process that dies is not replaced: its test fails, the other process goes on (a replacement re-ran the
# dead one's file, a crashing test 9 times, and once the run then waited for good).
XDIST := -n $(TEST_WORKERS) --dist loadgroup --max-worker-restart=0

# NOTEBOOKS=05 (or "03 05"): only those modules' lessons and the grading of their labs (solved and unsolved).
test: setup $(DEV_STAMP)
	@RAYCOURSE_PROFILE=$(TEST_PROFILE) $(BIN)/python -m raycourse check-profile
	$(TEST_ENV) $(if $(NOTEBOOKS),RAYCOURSE_NOTEBOOKS="$(NOTEBOOKS)") $(BIN)/python -m pytest $(XDIST) $(or $(PYTEST_ARGS),$(if $(NOTEBOOKS),notebooks tests/grading/test_grading.py))

# For authors: the unit tests and, of the checks' tests, a placeholder, a right and a wrong answer per exercise
# (the tests marked fast: conftest.py); no notebook run.
test-fast: setup $(DEV_STAMP)
	$(TEST_ENV) RAYCOURSE_FAST=1 $(BIN)/python -m pytest $(XDIST) tests $(PYTEST_ARGS)

# The trained stand-ins (raycourse/models/trained/) trained anew and compared with the shipped ones, byte for byte on a CPU
# like the one that trained them, else by what they do (about 2.5 min); make test trains only CLIP and holds the
# others to the sources they were trained from.
test-standins: setup $(DEV_STAMP)
	$(TEST_ENV) RAYCOURSE_RETRAIN=1 $(BIN)/python -m pytest tests/platform/test_standins.py -k "shipped_trained or world_colour" $(PYTEST_ARGS)

# Two learners at once on one shared two-node Ray (lessons 04 and 05, a GPU budget of 1 each): about 10 min here.
test-room: setup $(DEV_STAMP)
	$(TEST_ENV) RAYCOURSE_TWO_LEARNERS=1 $(BIN)/python -m pytest tests/notebooks/test_two_learners.py $(PYTEST_ARGS)

# Grade your labs: a copy of each runs from the top in a fresh kernel (offline, at most 600 s each);
# one line per exercise and a total per lab. GRADE_ARGS=--timeout=900 gives each more time.
grade: setup
	$(BIN)/python -m raycourse grade labs/*_lab.ipynb $(GRADE_ARGS)

# In line: two processes would load the real models onto the same GPU at once.
test-gpu:
	@$(MAKE) --no-print-directory test RAYCOURSE_PROFILE=gpu TEST_WORKERS=0

labs: $(STAMP)
	$(BIN)/python -m raycourse.authoring labs

# The lessons' diagrams, notebooks/figures/*.svg, drawn anew from tools/figures.py (tests/docs/test_figures.py fails
# where a stored one is not what it draws).
figures: $(STAMP)
	$(BIN)/python tools/figures.py

# The dashboard screenshots, notebooks/figures/dashboard_*.png, from a real run in headless Chromium (2-4 min;
# needs chromium and chromedriver: bash tools/install_browser.sh). A Ray of its own, never the course's.
screenshots: $(STAMP) $(DEV_STAMP)
	$(BIN)/python tools/capture_dashboard.py

# Every lesson and solved lab run from the top (tiny profile) and stored with its outputs (NOTEBOOKS=03: module 03's
# lesson and solved lab only), then the labs regenerated (without outputs).
record: setup
	$(TEST_ENV) $(BIN)/python -m raycourse.authoring record $(if $(NOTEBOOKS),--modules $(NOTEBOOKS))
	$(BIN)/python -m raycourse.authoring labs

bench: setup
	$(TEST_ENV) $(BIN)/python -m raycourse.authoring bench $(if $(BENCH_RUNS),--runs $(BENCH_RUNS)) $(if $(NOTEBOOKS),--modules $(NOTEBOOKS))

# Not part of make test (about 23 min here, 2026-11-27): every lesson and solved lab twice in one Ray, a kernel
# killed mid-pipeline between the passes; fails if pass 2 is slower or the killed run holds CPUs/GPUs.
# Writes outputs/soak.json.
soak: setup
	$(TEST_ENV) $(BIN)/python -m raycourse.authoring soak $(SOAK_ARGS)

prefetch: $(STAMP)
	RAYCOURSE_PROFILE=gpu $(BIN)/python -m raycourse prefetch

pins: $(STAMP)
	@$(BIN)/python -m raycourse pins

# Every module's model stages at full size, in process (no Ray), one process per stage: load time, peak memory
# (CUDA: also whether it fits 24 GB and 16 GB cards), rows/s, busy share. Full-size random-weight models are
# built on first use (python -m raycourse standins --full-size); VERIFY_ARGS=--real uses the prefetched weights.
# On a CPU only CLIP, ViT and Qwen2.5 run. Writes outputs/verify-gpu.json.
.PHONY: verify-gpu
verify-gpu: $(STAMP)
	$(BIN)/python -m raycourse verify-gpu $(VERIFY_ARGS)

lock: $(STAMP) $(DEV_STAMP)
	@{ echo "# Lock of every package in the course environment and the authors' tools (pip freeze of a fresh"; \
	   echo "# 'make setup' install with requirements-dev.txt added, as make test adds it)."; \
	   echo "# Regenerate with 'make lock' after changing requirements.txt or requirements-dev.txt."; \
	   $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^raycourse\|^pip=='; \
	   echo "# requirements.txt's pins for other platforms (pip freeze sees only this one's)"; \
	   $(BIN)/python tools/install_env.py --other-platforms requirements.txt; } > constraints.txt

# The course website (tools/build_site.py: Sphinx + MyST-NB): its tools live in a venv of their own, pinned in
# website/requirements.txt, so they never enter the course's lock. Nothing is executed: the notebooks' stored outputs.
SITE_VENV ?= .venv-site
SITE_OUT  ?= _site
SITE_STAMP := $(SITE_VENV)/.site-installed

$(SITE_STAMP): website/requirements.txt tools/install_env.py
	@$(PYTHON) -c '$(SUPPORTED)' 2>/dev/null || { echo "make site needs Python 3.11.5+, 3.12, 3.13 or 3.14; set PYTHON=/path/to/python3.12"; exit 1; }
	@test -x $(SITE_VENV)/bin/python || $(PYTHON) -m venv $(SITE_VENV)
	$(SITE_VENV)/bin/python tools/install_env.py -r website/requirements.txt
	@touch $(SITE_STAMP)

site-setup: $(SITE_STAMP)

site: $(SITE_STAMP)
	$(SITE_VENV)/bin/python tools/build_site.py --out $(SITE_OUT) $(SITE_ARGS)

clean-outputs:
	find notebooks labs solutions -maxdepth 2 -type d -name outputs -exec rm -rf {} +
