"""Exercise 1 · the ratings per star, counted in a stage and read back from Prometheus.

The observer reads the map_batches stages of ``counted`` and asks the learner's Prometheus for every series of
``ray_ratings_by_stars_total`` (each worker's, with its tags), polling until they add up to the file's counts or
stop changing; with none, the metric names that look like it; and it reads ``by_stars``. The judge adds the series
up by ``stars`` (``sum by (stars) (...)``) and compares them with the counts it reads from the data file itself,
then ``by_stars`` with what Prometheus holds. Its hints name the likely slips: another name or no run (a Dataset is
lazy), another tag, a Counter that ran k times (it adds up across runs), counts made in the notebook, one worker's
series kept instead of their sum, a read made before the counts arrived.
"""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import require_dataset
from ._common import (
    RAY_LABELS,
    as_float,
    batch_stages,
    is_materialized,
    metric_names,
    no_prometheus,
    poll,
    prometheus_url,
    query,
    true_counts,
)

NAME = "ratings_by_stars"
METRIC = f"ray_{NAME}_total"
SUM = f"sum by (stars) ({METRIC})"
RUN_HINT = (
    "A Dataset is lazy: map_batches only plans the stage. Run the pipeline once (`.materialize()`), wait a few "
    f'seconds for the counts to reach Prometheus, and check again. The Counter: Counter("{NAME}", '
    'tag_keys=("stars",)), incremented inside the stage.'
)
AGAIN_HINT = "A Counter adds up for as long as your Ray runs: restart the kernel and run the fixed pipeline once."
READ_HINT = f"Fill it from Prometheus: query_now('{SUM}'), each result's labels['stars'] (as an int) and its value."


def _series(url: str) -> list[dict]:
    """Every series of the metric: the learner's tags, the Ray component that reported it, its value."""
    found = [
        {
            "tags": {k: v for k, v in sorted(labels.items()) if k not in RAY_LABELS},
            "component": labels.get("Component", ""),
            "value": value,
        }
        for labels, value in query(url, METRIC)
    ]
    return sorted(found, key=lambda s: (sorted(s["tags"].items()), s["component"], s["value"]))


def _similar(url: str) -> list[str]:
    """Metric names of the learner's own (not Ray's) that look like the one asked for."""
    return [
        n
        for n in metric_names(url)
        if ("star" in n or "rating" in n) and not n.startswith(("ray_data_", "ray_serve_", "ray_internal_"))
    ]


def _summed(series: list[dict]) -> dict[str, float]:
    """``sum by (stars)``: the stars tag's text ("" where a series has none) -> the sum of its series."""
    out: dict[str, float] = {}
    for s in series:
        key = s["tags"].get("stars", "")
        out[key] = out.get(key, 0.0) + float(s["value"])
    return out


def _by_stars_of(by_stars):
    """``by_stars`` as plain data: its type's name when it is not a dict, else [key's kind, key, value] per item."""
    import numbers

    if not isinstance(by_stars, dict):
        return {"type": type(by_stars).__name__}
    items = []
    for key, value in by_stars.items():
        whole = isinstance(key, numbers.Integral) and not isinstance(key, bool)
        kind = "int" if whole else "text" if isinstance(key, str) else type(key).__name__
        count = as_float(value.item() if hasattr(value, "item") else value)
        items.append([kind, int(key) if whole else str(key), repr(value) if count is None else count])
    return {"items": items}


def _stars(label: str) -> int | None:
    try:
        number = float(label)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _check_series(series: list[dict], similar: list[str], truth: dict[int, int], lazy: bool) -> dict[int, float]:
    """Prometheus's counts per star, held to the file's; the slip they show, if not."""
    if not series:
        if lazy:
            raise Wrong(f"Prometheus has no `{METRIC}`, and `counted` is lazy: has it run?", RUN_HINT)
        if similar:
            raise Wrong(
                f"Prometheus has no `{METRIC}`, but has {', '.join(f'`{n}`' for n in similar[:4])}.",
                f'Name the Counter "{NAME}": Ray puts `ray_` before the name and `_total` after it.',
            )
        raise Wrong(f"Prometheus has no `{METRIC}`: your counting stage has not run.", RUN_HINT)
    if all(s["component"] == "driver" for s in series):
        raise Wrong(
            "the counts were made in the notebook's own process, not in a stage of the pipeline.",
            "Increment the Counter inside the function or class you give map_batches: each worker counts its batches.",
        )
    tags = sorted({k for s in series for k in s["tags"]} - {"stars"})
    if not any("stars" in s["tags"] for s in series):
        shown = ", ".join(f"`{t}`" for t in tags) or "no tag"
        raise Wrong(
            f"the counts are tagged with {shown}, not `stars`.",
            'Give the Counter tag_keys=("stars",) and inc(n, tags={"stars": str(stars)}).',
        )
    if any("stars" not in s["tags"] for s in series):
        raise Wrong(f"some series of `{METRIC}` have no `stars` tag (they have {tags}): a run of before.", AGAIN_HINT)
    counts: dict[int, float] = {}
    for label, value in _summed(series).items():
        stars = _stars(label)
        if stars is None:
            raise Wrong(f"a series is tagged stars={label!r}.", "Tag each count with its star as text: str(int(s)).")
        counts[stars] = counts.get(stars, 0.0) + value
    if counts == {s: float(n) for s, n in truth.items()}:
        return counts
    ratios = {counts.get(s, 0.0) / n for s, n in truth.items()}
    if set(counts) == set(truth) and len(ratios) == 1 and (k := ratios.pop()).is_integer() and k >= 2:
        raise Wrong(f"Prometheus counts every rating {int(k)} times: the pipeline ran {int(k)} times.", AGAIN_HINT)
    star = next(s for s in sorted(set(truth) | set(counts)) if counts.get(s, 0.0) != truth.get(s, 0))
    raise Wrong(
        f"Prometheus counts {counts.get(star, 0.0):g} ratings of {star} stars; the file has {truth.get(star, 0)}.",
        "In each batch, inc() the Counter by how many of its ratings have each star (value_counts), tagged with that "
        "star. " + AGAIN_HINT,
    )


def _check_by_stars(seen: dict, counts: dict[int, float], series: list[dict]) -> None:
    if "type" in seen:
        raise Wrong(f"`by_stars` is a {seen['type']}, not a dict.", READ_HINT)
    items = seen["items"]
    text = [key for kind, key, _ in items if kind != "int"]
    if text:
        raise Wrong(f"`by_stars` has the key {text[0]!r}, not a whole number of stars.", READ_HINT)
    mine = {key: value for _, key, value in items}
    if any(not isinstance(v, (int, float)) for v in mine.values()):
        raise Wrong("`by_stars` holds values that are not numbers.", READ_HINT)
    if mine == counts:
        return
    per_worker = {s: {float(x["value"]) for x in series if _stars(x["tags"].get("stars", "")) == s} for s in counts}
    if set(mine) == set(counts) and all(mine[s] in per_worker[s] for s in counts):
        raise Wrong(
            "`by_stars` holds one series per star, and Prometheus has a series per worker.",
            f"Add the workers' series up in the query: {SUM}.",
        )
    if set(mine) <= set(counts) and all(mine[s] <= counts[s] for s in mine):
        raise Wrong(
            f"`by_stars` counts {sum(mine.values()):g} ratings; Prometheus now holds {sum(counts.values()):g}.",
            "Metrics reach Prometheus a few seconds after a run: wait until the counts stop changing, then read them.",
        )
    star = next(s for s in sorted(set(mine) | set(counts)) if mine.get(s) != counts.get(s))
    shown = mine.get(star, "missing")
    raise Wrong(f"`by_stars[{star}]` is {shown}; Prometheus holds {counts.get(star, 0):g}.", READ_HINT)


def _judge_1(seen, seed=None) -> str:
    if not seen.get("prometheus"):
        raise Wrong(*no_prometheus())
    if not seen["stages"]:
        raise Wrong("`counted` has no map_batches stage.", "Count in a map_batches stage: a function or a class.")
    truth = true_counts()
    counts = _check_series(seen["series"], seen.get("similar") or [], truth, not seen["materialized"])
    _check_by_stars(seen["by_stars"], counts, seen["series"])
    shown = ", ".join(f"{s}: {int(n)}" for s, n in sorted(counts.items()))
    return f"Prometheus counts the {sum(truth.values())} ratings per star ({shown}), and so does `by_stars`."


@exercise("Exercise 1 · the ratings per star, from Prometheus", judge=_judge_1)
def exercise_1(counted, by_stars) -> dict:
    require("counted", counted, "the Dataset whose map_batches stage counts the ratings")
    require("by_stars", by_stars, "a dict {stars: count} read from Prometheus")
    require_dataset("counted", counted)
    url = prometheus_url()
    if url is None:
        return {"prometheus": None}
    truth = {str(s): float(n) for s, n in true_counts().items()}  # only to stop waiting early
    series = poll(lambda: _series(url), lambda found: _summed(found) == truth)
    return {
        "prometheus": True,
        "stages": batch_stages(counted),
        "materialized": is_materialized(counted),
        "series": series,
        "similar": [] if series else _similar(url),
        "by_stars": _by_stars_of(by_stars),
    }
