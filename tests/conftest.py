"""Shared fixtures: an isolated, offline course environment and one Ray per session."""

from __future__ import annotations

import os

import pytest

# The environment (tiny profile, offline, quiet) is set in the root conftest.py.


@pytest.fixture
def course_env(monkeypatch):
    """Clear every RAYCOURSE_* override so a test starts from the documented defaults."""
    for key in list(os.environ):
        if key.startswith("RAYCOURSE_MODEL_") or key in ("RAYCOURSE_DATA", "RAYCOURSE_OUTPUTS"):
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
    (``raycourse.rehearsal``); built once per run for the tests that check it and the run that uses it."""
    from raycourse import rehearsal

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
