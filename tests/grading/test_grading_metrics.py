"""A lab whose notebooks read Ray's metrics (its module's facts say ``metrics = true``: module 10) is graded the way
an instructor grades one, without ``RAY_ADDRESS``: the Ray the grader starts for the notebook (in its sandbox, where
there is one) has its dashboard and a Prometheus, so that the checks find the counts the notebook's stages made."""

from __future__ import annotations

from pathlib import Path

import pytest

from raycourse import catalogue, grading
from raycourse.grading.run import _reads_metrics
from raycourse.session import prometheus

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_modules_whose_facts_say_so_get_a_prometheus():
    reading = [m.number for m in catalogue.modules(ROOT) if m.facts.metrics]
    asking = [m.number for m in catalogue.modules(ROOT) if "raycourse.init(metrics=True)" in m.lesson.read_text()]
    assert reading == asking and "10" in reading  # a lesson that reads Prometheus is in a module that says so
    assert _reads_metrics("10") and not _reads_metrics("09") and not _reads_metrics(None)


@pytest.mark.slow("grades solved lab 10 with a Ray and a Prometheus of its own, as an instructor does (about 1 min)")
@pytest.mark.skipif(prometheus.binary() is None, reason=prometheus.MISSING)
def test_a_lab_that_reads_metrics_is_graded_with_a_prometheus_beside_its_own_ray(monkeypatch):
    for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV", prometheus.HOST_ENV):  # not the run's Ray: one of its own
        monkeypatch.delenv(name, raising=False)
    solution = catalogue.module("10", ROOT).solution
    with grading.Grader(timeout=300) as grader:
        grade = grader.grade(solution)
    assert [v.status for v in grade.verdicts] == ["passed"] * 3, grade.report()
    assert not grade.errors, [str(e) for e in grade.errors]
