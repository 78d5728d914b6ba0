"""What made a materialized Dataset, from Ray's stats: its plan keeps none of its steps (one ``InputData``), but
its stats keep the operators that ran, by name (``ReadCSV``, ``JoinShuffleReduce(...)``, ``MapBatches(prompt)``).

A check that reads the plan for a step the text names (a join, a batch function) reads these names instead when
the learner materialized the answer, as lesson 01 teaches and no exercise forbids. What the names cannot say (a
join's type, a filter's predicate) the rows judge.
"""

from __future__ import annotations

from typing import Any

from ._core import Wrong

# The plan's kind of step (toolkit.plan_kinds) for a stats name, by the name's first word ("Map(fn)": a row `map`),
# or by how it starts: Ray 2.60 names a join's operators JoinShuffleMapLeft/Right and JoinShuffleReduce, a groupby's
# HashShuffleMap and HashShuffleReduce (measured on its stats).
KIND_OF_NAME = {"MapBatches": "MapBatches", "Map": "MapRows", "Filter": "Filter", "FlatMap": "FlatMap", "Sort": "Sort"}
KIND_OF_PREFIX = (
    ("Join", "Join"),
    ("HashAggregate", "Aggregate"),
    ("Aggregate", "Aggregate"),
    ("HashShuffle", "Repartition"),
    ("Shuffle", "Repartition"),
    ("Repartition", "Repartition"),
)


def operator_names(ds) -> set[str] | None:
    """The operators (``MapBatches(FloatImageGen)``, ...) that the stats of a materialized Dataset say made it, a
    fused chain (``ReadCSV->Filter(f)``) split into its steps; None when Ray's stats cannot be read (an internal
    API: the rows are still checked)."""
    try:
        names, stack = set(), [ds._raw_stats()]
    except Exception:
        return None
    while stack:
        current = stack.pop()
        for key in (getattr(current, "metadata", None) or {}).keys():
            names.update(key.split("->"))
        stack.extend(getattr(current, "parents", None) or [])
    return names


def made_by(ds) -> list[str] | None:
    """For a materialized ``ds`` whose plan is only its blocks: the operators that made it, sorted; else None."""
    from ray.data.dataset import MaterializedDataset

    from .toolkit import plan_kinds

    if not isinstance(ds, MaterializedDataset) or plan_kinds(ds) != ["InputData"]:
        return None
    names = operator_names(ds)
    return None if names is None else sorted(names)


def step_kinds(names: list[str]) -> list[str]:
    """The plan's kinds of step (``Join``, ``MapBatches``, ``MapRows``...) that stats names stand for."""
    kinds = []
    for name in names:
        word = name.split("(")[0]
        kind = KIND_OF_NAME.get(word) or next((k for prefix, k in KIND_OF_PREFIX if word.startswith(prefix)), None)
        if kind:
            kinds.append(kind)
    return kinds


# The steps that bring the rows of a key together: an aggregation (groupby(...).mean, .aggregate), or map_groups's
# shuffle (Repartition with keys) or sort, each before its batch function.
GROUPING = ("Aggregate", "Repartition", "Sort")


def kinds(ds) -> list[str]:
    """The kinds of ``ds``'s steps: from its plan, or, materialized (its plan keeps none), from Ray's stats."""
    from .toolkit import plan_kinds

    made = made_by(ds)
    return step_kinds(made) if made is not None else plan_kinds(ds)


def require_lazy(name: str, value: Any, reads: str, hint: str):
    """``value`` itself, unless it is materialized (its plan keeps none of its steps, :func:`made_by`): where
    the text asks to leave ``name`` lazy because the check reads ``reads`` from its plan, :class:`Wrong` says so."""
    if made_by(value) is not None:
        raise Wrong(
            f"`{name}` is materialized: its plan keeps none of its steps, and the check reads {reads} from them.",
            f"Leave `{name}` lazy (no materialize()): {hint}",
        )
    return value
