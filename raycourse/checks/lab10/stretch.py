"""Stretch · the seconds per batch of a stage of the learner's own, as a Histogram, and their 95th percentile.

The observer asks Prometheus for the histogram the learner names (``sum by (le) (ray_<name>_bucket)``) and for
``histogram_quantile(0.95, ...)`` of it, polling until that agrees with ``p95`` or stops changing; with none, the
histograms it does hold. The judge wants a histogram with an observation per batch (more than one), boundaries that
reach past 95 % of them, and ``p95`` equal to Prometheus's own answer; a p95 that is another quantile of the same
buckets (:func:`quantile`, Prometheus's interpolation) is named.
"""

from __future__ import annotations

import math

from .._core import Wrong, exercise, require
from ._common import as_float, close, metric_names, no_prometheus, number, poll, prometheus_url, query

QUANTILE = 0.95
OTHER_QUANTILES = (0.5, 0.9, 0.99)
HINT = "Give a Histogram boundaries in seconds and observe() each batch's seconds inside the stage."


def _buckets_and_p95(url: str, name: str) -> dict:
    summed = f"sum by (le) (ray_{name}_bucket)"
    buckets = sorted(([float(labels["le"]), value] for labels, value in query(url, summed) if "le" in labels))
    p95 = query(url, f"histogram_quantile({QUANTILE}, {summed})") if buckets else []
    return {"buckets": buckets, "p95": number(p95[0][1]) if p95 else None}


def quantile(q: float, buckets: list) -> float:
    """Prometheus's ``histogram_quantile`` of cumulative ``[[le, count], ...]`` (linear within a bucket)."""
    buckets = sorted((as_float(le), float(n)) for le, n in buckets)
    total = buckets[-1][1]
    if total <= 0 or len(buckets) < 2:
        return math.nan
    rank = q * total
    index = next(i for i, (_, n) in enumerate(buckets) if n >= rank)
    if index == len(buckets) - 1:  # in the +Inf bucket: the largest finite boundary
        return buckets[-2][0]
    start, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
    end, count = buckets[index]
    return start + (end - start) * (rank - below) / (count - below) if count > below else end


def _judge_stretch(seen, seed=None) -> str:
    if not seen.get("prometheus"):
        raise Wrong(*no_prometheus())
    name = seen["name"]
    if name.startswith("ray_") or name.endswith(("_bucket", "_count", "_sum")):
        raise Wrong(
            f"`{name}` is Prometheus's name.", "Pass the name you gave the Histogram: Ray adds ray_ and _bucket."
        )
    buckets = seen["buckets"]
    if not buckets:
        others = ", ".join(f"`{n}`" for n in seen.get("similar") or []) or "none of your own"
        raise Wrong(f"Prometheus has no histogram `ray_{name}_bucket` (it has {others}).", HINT + " Then run it once.")
    total = max(n for _, n in buckets)
    if total < 2:
        raise Wrong(
            f"`ray_{name}` holds {total:g} observation: one for the whole run.",
            "Observe inside the stage, once per batch: each batch's seconds, so that there is a p95 to take.",
        )
    finite = [n for le, n in sorted([as_float(le), n] for le, n in buckets) if math.isfinite(le)]
    if finite and total - finite[-1] > (1 - QUANTILE) * total:
        raise Wrong(
            f"{total - finite[-1]:g} of {total:g} batches took longer than the largest boundary: no p95 to tell.",
            "Choose boundaries (in seconds) that reach past your slowest batches.",
        )
    p95, want = as_float(seen["p95"]), as_float(seen["quantile"])
    if p95 is None or not math.isfinite(p95):
        raise Wrong(f"`p95` is {seen['p95']}, not a number of seconds.", "Read it from Prometheus: a float.")
    if want is not None and close(p95, want, 1e-3):
        return f"the 95th percentile of {total:g} batches' seconds is {p95:.3g} s, as Prometheus says."
    for q in OTHER_QUANTILES:
        if close(p95, quantile(q, buckets), 1e-3):
            raise Wrong(f"`p95` is the {q:g} quantile of `ray_{name}`.", f"histogram_quantile({QUANTILE}, ...).")
    raise Wrong(
        f"`p95` is {p95:.4g} s; Prometheus's 95th percentile of `ray_{name}` is {want:.4g} s.",
        f"histogram_quantile({QUANTILE}, sum by (le) (ray_{name}_bucket)): the buckets of every worker added up.",
    )


@exercise("Stretch · the 95th percentile of seconds per batch", judge=_judge_stretch)
def stretch(p95, histogram_name) -> dict:
    require("p95", p95, "the 95th percentile from Prometheus")
    require("histogram_name", histogram_name, "the name you gave your Histogram")
    name = histogram_name if isinstance(histogram_name, str) else getattr(histogram_name, "_name", None)
    if not isinstance(name, str):
        raise Wrong(f"`histogram_name` is {histogram_name!r}.", "The name you gave your Histogram, as text.")
    url = prometheus_url()
    if url is None:
        return {"prometheus": None}
    learner = as_float(number(p95))
    found = poll(
        lambda: _buckets_and_p95(url, name),
        lambda v: v["buckets"] and learner is not None and close(learner, as_float(v["p95"]) or math.nan, 1e-3),
    )
    similar = [] if found["buckets"] else [n[:-7] for n in metric_names(url) if n.endswith("_bucket")]
    return {
        "prometheus": True,
        "name": name,
        "p95": number(p95),
        "buckets": found["buckets"],
        "quantile": found["p95"],
        "similar": [n for n in similar if not n.startswith(("ray_data_", "ray_serve_", "ray_internal_"))][:4],
    }
