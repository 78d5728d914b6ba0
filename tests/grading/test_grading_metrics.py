"""A lab whose notebooks read Ray's metrics (its module's facts say ``metrics = true``: module 10) gets a Ray with its
dashboard and a Prometheus from the grader, so that the checks find the counts the notebook's stages made. The solved
lab is graded that way, in its sandbox, by ``tests/grading/test_grading.py``."""

from __future__ import annotations

from pathlib import Path

from raycourse import catalogue
from raycourse.grading.run import _reads_metrics

ROOT = Path(__file__).resolve().parents[2]


def test_only_the_modules_whose_facts_say_so_get_a_prometheus():
    reading = [m.number for m in catalogue.modules(ROOT) if m.facts.metrics]
    asking = [m.number for m in catalogue.modules(ROOT) if "raycourse.init(metrics=True)" in m.lesson.read_text()]
    assert reading == asking and "10" in reading  # a lesson that reads Prometheus is in a module that says so
    assert _reads_metrics("10") and not _reads_metrics("09") and not _reads_metrics(None)
