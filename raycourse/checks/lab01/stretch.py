"""Lab 01, stretch: the mean stars per pet.

What the text asks, and what judges it:
- grouped by Ray Data, not in pandas: a grouping step (``groupby(...)`` then an aggregation, or ``map_groups``,
  which Ray plans as a shuffle or a sort and a batch function) in the plan, or, for a materialized ``per_pet``, in
  Ray's stats of what made it (:mod:`..stats`);
- one row per pet of all the reviews, ``pet`` and one column of the mean stars: the rows, against the reviews
  file read by the check itself.
"""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..stats import GROUPING, kinds
from ..toolkit import as_number, require_dataset, review_table, run_dataset
from ._common import MAX_STARS, RUN_HINT


def _same(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(abs(got[k] - want[k]) < 1e-6 for k in want)


NOT_GROUPED = Wrong(
    "`per_pet` was not grouped by Ray Data: no step of it groups rows by a key (a groupby and an aggregation).",
    "Group the `reviews` Dataset with its own `groupby`, then aggregate: the rows stay in Ray, not in pandas.",
)


def _grouped(kinds: list) -> bool:
    return any(kind in GROUPING for kind in kinds)


def _judge_stretch(seen, seed=None) -> str:
    if not _grouped(seen["kinds"]):
        raise Wrong(NOT_GROUPED.problem, NOT_GROUPED.hint)
    got = _means(seen["rows"])
    table = review_table()
    stars = table.groupby("pet")["stars"]
    want = {k: float(v) for k, v in stars.mean().items()}
    if not _same(got, want):
        _explain_means(got, want, table)
    top = max(want, key=lambda k: (want[k], k))
    return f"{len(want)} pets; the happiest owners have a {top} ({want[top]:.2f} stars on average)."


@exercise("Stretch · the happiest pets", judge=_judge_stretch)
def stretch(per_pet):
    """`per_pet`: a Dataset grouped by Ray Data, one row per pet of all reviews, with the mean number of stars."""
    require("per_pet", per_pet, "a Dataset with one row per `pet` and the mean of its reviews' stars")
    require_dataset(
        "per_pet", per_pet, "Group `reviews` by a column, then aggregate each group: the result is a Dataset."
    )
    steps = kinds(per_pet)  # materialized: what Ray's stats say made it
    if not _grouped(steps):
        raise Wrong(NOT_GROUPED.problem, NOT_GROUPED.hint)
    return {"kinds": steps, "rows": run_dataset("per_pet", per_pet, RUN_HINT.format(name="per_pet"))}


def _means(rows: list[dict]) -> dict:
    """pet -> the number of its row: one row per pet, `pet` and one column of numbers."""
    if not rows:
        raise Wrong("`per_pet` is empty.", "Start from `reviews`, the Dataset of exercise 1.")
    if "pet" not in rows[0]:
        raise Wrong(
            f"`per_pet` has no `pet` column (it has {list(rows[0])}).",
            "Group by the `pet` column, so that each group is one kind of pet.",
        )
    values = [c for c in rows[0] if c != "pet"]
    if len(values) != 1:
        raise Wrong(
            f"`per_pet` should have `pet` and one column of mean stars, not {list(rows[0])}.",
            "After grouping, aggregate one column, `stars`, and keep no other.",
        )
    got = {}
    for row in rows:
        if row["pet"] in got:
            raise Wrong(f"`per_pet` has the pet {row['pet']!r} in more than one row.", "Group by `pet`: one row each.")
        got[row["pet"]] = as_number(row[values[0]])
        if got[row["pet"]] is None:
            raise Wrong(
                f"`per_pet` holds {row[values[0]]!r} for {row['pet']!r}, not a number.",
                "Aggregate the `stars` column, a number per review.",
            )
    return got


def _explain_means(got: dict, want: dict, table) -> None:
    stars = table.groupby("pet")["stars"]
    complaints = table[table["stars"] <= MAX_STARS].groupby("pet")["stars"].mean()
    if _same(got, {k: float(v) for k, v in stars.count().items()}):
        raise Wrong(
            "`per_pet` counts each pet's reviews instead of averaging their stars.",
            "Aggregate with the mean of `stars`, not a count.",
        )
    if _same(got, {k: float(v) for k, v in stars.sum().items()}):
        raise Wrong(
            "`per_pet` adds each pet's stars up instead of averaging them.",
            "Aggregate with the mean of `stars`, not a sum.",
        )
    if _same(got, {k: float(v) for k, v in complaints.items()}):
        raise Wrong(
            "`per_pet` averages only the complaints, not every review.",
            "Group `reviews` (exercise 1), not `complaints`.",
        )
    bad = sorted(set(got) ^ set(want) or {k for k in got if abs(got[k] - want[k]) >= 1e-6})[0]
    raise Wrong(
        f"`per_pet` gives {got.get(bad)!r} for the pet {bad!r}; its reviews average {want.get(bad)!r} stars.",
        "Group every review by `pet` and take the mean of `stars` in each group.",
    )
