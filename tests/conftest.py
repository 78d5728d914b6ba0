"""Shared fixtures: an isolated, offline course environment and one Ray per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The environment (tiny profile, offline, quiet) is set in the root conftest.py.

# The tests live in a folder per concern (docs/testing.md). pytest puts a test file's own folder on the path as it
# imports it, and this one's (tests/: actor_sizes, lock_resolution); a test that takes another file's helpers by its
# module name (test_two_nodes' cluster, test_browser's browser, test_environment's Pythons) finds it in any folder, in
# any selection, as when all were in tests/. Module names stay unique across the folders (pytest refuses two alike).
for _folder in sorted(Path(__file__).resolve().parent.iterdir()):
    if _folder.is_dir() and any(_folder.glob("test_*.py")) and str(_folder) not in sys.path:
        sys.path.append(str(_folder))


@pytest.fixture
def course_env(monkeypatch):
    """Clear every RAYCOURSE_* override so a test starts from the documented defaults."""
    for key in list(os.environ):
        if key.startswith("RAYCOURSE_MODEL_") or key in ("RAYCOURSE_DATA", "RAYCOURSE_OUTPUTS", "RAYCOURSE_GPU_DATA"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    return monkeypatch


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for all tests that need it (starting Ray costs ~10 s here)."""
    import ray

    import raycourse

    session = raycourse.init(quiet=True)
    yield session
    ray.shutdown()


@pytest.fixture(scope="session")
def kernels_ray():
    """The run's one Ray for notebook kernels (RAY_ADDRESS, set by the root conftest.py), or None.

    Asking for it is what makes the root conftest.py start that Ray; None under
    ``RAYCOURSE_SHARED_RAY=0``, where whoever runs the kernels starts a Ray of its own.
    """
    return os.environ.get("RAY_ADDRESS")


@pytest.fixture(scope="session")
def rehearsal_cache(tmp_path_factory):
    """The gpu profile's Hugging Face cache: the pinned files of each real repo, played by the tiny stand-ins
    (``raycourse.models.rehearsal``); built once per run for the tests that check it and the run that uses it."""
    from raycourse.models import rehearsal

    cache = tmp_path_factory.mktemp("rehearsal-hf-cache")
    rehearsal.build_cache(cache)
    return cache


def pytest_collection_finish(session):
    """Start resolving the lock for every supported Python and platform now, if the run holds that test: it
    waits on the package index (tests/lock_resolution.py) while the rest of the run uses the CPU."""
    test = "test_the_lock_resolves_to_wheels_for_every_supported_python_on_linux_and_macos"
    if any(item.name == test and not item.get_closest_marker("skip") for item in session.items):
        import lock_resolution
        from test_environment import _supported_pythons

        session.config.lock_resolutions = lock_resolution.start(_supported_pythons())


def pytest_sessionfinish(session):
    """The lock resolutions end with the process and their folder goes: side by side, every process collects the
    lock's test and starts them, and one runs the test (its results are read by then)."""
    runs = getattr(session.config, "lock_resolutions", None)
    if runs:
        import lock_resolution

        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()
        lock_resolution.remove(runs)


@pytest.fixture(autouse=True)
def no_failed_runs_actors_left(request):
    """After each checks test: no Ray Data actor of its runs is left holding the test Ray's GPUs.

    Ray Data 2.60 can leave the actors of a run that failed alive: the executor that owns them stays referenced after
    the error (measured here: a run whose image stage raised kept its two ``num_gpus=0.6`` actors for minutes, in
    about half of the tries; ``gc.collect()`` did not free them). The checks' tests make runs fail on purpose, one
    after the other, in one Ray: two such leftovers hold both logical GPUs, and the next test's GPU stage waited
    for them without a word (once 191 s in CI, once for good). So, when a test ends with GPUs still held, the map
    workers this process's runs left alive are killed: nothing runs between two tests, and a finished run's actors
    are on their way out anyway. No waiting: the next test's actors start once Ray has the GPUs back.
    """
    yield
    if not request.node.module.__name__.split(".")[-1].startswith("test_checks_"):
        return
    import ray

    if not ray.is_initialized() or ray.available_resources().get("GPU", 0) >= ray.cluster_resources().get("GPU", 0):
        return
    from ray._private import state  # the GCS's actor table: no dashboard in the test Ray

    worker = ray._private.worker.global_worker
    job = ray.get_runtime_context().get_job_id()
    for actor_id, actor in state.actors().items():
        if actor["State"] == "ALIVE" and actor["JobID"] == job and "MapWorker" in actor["ActorClassName"]:
            worker.core_worker.kill_actor(ray.ActorID.from_hex(actor_id), True)
