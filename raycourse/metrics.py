"""Metrics that work offline and in Ray Train workers.

``evaluate.load("accuracy")`` fetches a script from the Hub. The course ships the
scripts it uses inside the package and loads them by absolute path.
"""

from __future__ import annotations

from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "metric_scripts"


def available_metrics() -> list[str]:
    return sorted(p.name for p in SCRIPTS.iterdir() if (p / f"{p.name}.py").exists())


def load_metric(name: str):
    """``evaluate.load`` for a metric shipped with the course (``"accuracy"``)."""
    import evaluate

    if name not in available_metrics():
        from .errors import CourseError

        raise CourseError(
            f"The course ships no metric called {name!r}.",
            f"Use one of {available_metrics()}, or evaluate.load() with internet access.",
        )
    return evaluate.load(str(SCRIPTS / name))
