"""Shared fixtures: an isolated, offline course environment and one Ray per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAYCOURSE_TEST", "1")
os.environ.setdefault("RAYCOURSE_PROFILE", "tiny")
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "MPLBACKEND": "agg",
}.items():
    os.environ.setdefault(_key, _value)


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
