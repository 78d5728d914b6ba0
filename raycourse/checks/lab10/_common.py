"""Lab 10's checks: what the exercises share. The Prometheus beside the learner's Ray, asked over its HTTP API from
the kernel (the observers' side), polled until the numbers a run leaves there have arrived; the ratings' true
counts, read from the data file with pandas (the judges' side)."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request

from raycourse.session import prometheus
from raycourse.session.prometheus import query  # noqa: F401 (the exercises ask through here)

from ..stats import made_by
from ..toolkit import as_number, stages

# A run's last numbers reach the agent within a report and Prometheus within a scrape after that, later on a busy
# machine (2 s reports and scrapes: up to 6.5 s after a run, measured). Numbers unchanged through two of each have
# all arrived; the poll gives up after twice that.
STEADY_SECONDS = 2 * (prometheus.REPORT_SECONDS + prometheus.SCRAPE_SECONDS)
POLL_SECONDS = 2 * STEADY_SECONDS
# Labels Ray and Prometheus put on every series of a metric: what is left is the learner's own tags.
RAY_LABELS = {
    "__name__",
    "Component",
    "NodeAddress",
    "SessionName",
    "Version",
    "WorkerId",
    "JobId",
    "instance",
    "job",
    "otel_scope_name",
}


def prometheus_url() -> str | None:
    """Where the learner's Ray's Prometheus answers (``raycourse.prometheus_url()``), or None."""
    import raycourse

    return raycourse.prometheus_url()


def no_prometheus() -> tuple[str, str]:
    """The problem and hint of a check that cannot ask Prometheus."""
    return (
        "this check cannot run: no Prometheus answers beside your Ray (`raycourse.prometheus_url()` is None).",
        f"Start Ray with `raycourse.init(metrics=True)` in a fresh kernel. {prometheus.MISSING}",
    )


def metric_names(url: str) -> list[str]:
    """Every metric name Prometheus holds."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/label/__name__/values", timeout=10) as response:
        return list(json.load(response).get("data") or [])


def poll(read, done, seconds: float | None = None):
    """``read()`` again and again until ``done(value)``, or until a value read has not changed for
    :data:`STEADY_SECONDS`, or ``seconds`` (:data:`POLL_SECONDS`) have passed: the last value read. Both are longer
    where the server now scrapes less often than at first (a slow agent: ``prometheus.Prometheus.pace``)."""
    later = 2 * max(0.0, prometheus.scrape_seconds(prometheus_url()) - prometheus.SCRAPE_SECONDS)
    deadline = time.monotonic() + (POLL_SECONDS if seconds is None else seconds) + 2 * later
    value, since = read(), time.monotonic()
    while not done(value) and time.monotonic() < deadline:
        if value and time.monotonic() - since >= STEADY_SECONDS + later:
            break
        time.sleep(0.5)
        latest = read()
        if latest != value:
            value, since = latest, time.monotonic()
    return value


def number(value):
    """A learner's number as plain data: a float (NaN and infinities too), or its repr when not a real number."""
    found = as_number(value)
    return repr(value) if found is None else found


def as_float(value) -> float | None:
    """An observed number back: a float, or None for text that is no number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if value in ("nan", "inf", "-inf"):
        return float(value)
    return None


def close(a: float, b: float, rel: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def true_counts() -> dict[int, int]:
    """stars -> how many ratings have them, from the data file (pandas, no Ray): the judges' truth."""
    import pandas as pd

    import raycourse

    table = pd.read_json(raycourse.data_path("ratings"), lines=True)
    return {int(stars): int(n) for stars, n in table["stars"].value_counts().sort_index().items()}


def batch_stages(ds) -> list[str]:
    """The map_batches stages of ``ds`` as Ray Data names their operators (``MapBatches(CountStars)``): from Ray's
    stats for a materialized Dataset (its plan keeps no step), else from its plan."""
    made = made_by(ds)
    if made is not None:
        return sorted(n for n in made if n.startswith("MapBatches("))
    return [f"MapBatches({s.name})" for s in stages(ds) if s.kind == "MapBatches"]


def is_materialized(ds) -> bool:
    from ray.data.dataset import MaterializedDataset

    return isinstance(ds, MaterializedDataset)
