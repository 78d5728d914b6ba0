"""Fixtures of the checks' tests."""

from __future__ import annotations

import itertools
import os
import zlib

import pytest

SEED_SALT = os.environ.get("CHECK_SEED_SALT", "")


@pytest.fixture(autouse=True)
def seeds_of_this_test(request, monkeypatch):
    """The checks' probe seeds, fixed by the test's id: a test runs the same inputs every time, so a failure
    repeats (a check that misjudged some seeds once failed one CI run and passed others). ``CHECK_SEED_SALT=k`` gives
    every test other seeds: sweeping a few salts is how to find a check that misjudges some inputs
    (docs/checks.md)."""
    from raycourse.checks import _core

    counter = itertools.count()
    nodeid = request.node.nodeid

    def seed() -> int:
        return zlib.crc32(f"{SEED_SALT}:{nodeid}:{next(counter)}".encode())

    monkeypatch.setattr(_core, "fresh_seed", seed)


@pytest.fixture
def limits(monkeypatch):
    """Every ``limit`` put on a Dataset while the test runs. ``columns()``, ``schema()`` and ``take()`` of a lazy
    Dataset add one and stop its run there, cancelling its tasks still in flight, and Ray 2.60 can answer that by
    killing the process (tests/platform/test_runtime.py). A check runs a learner's Dataset to its end
    instead, wherever a whole run is cheap (not lab 04's, which would draw every image again)."""
    import ray.data

    seen: list[int] = []
    limit = ray.data.Dataset.limit

    def recorded(self, count):
        seen.append(count)
        return limit(self, count)

    monkeypatch.setattr(ray.data.Dataset, "limit", recorded)
    return seen
