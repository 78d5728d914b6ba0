"""Fixtures of the checks' tests."""

from __future__ import annotations

import pytest


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
