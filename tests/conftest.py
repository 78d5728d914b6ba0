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
