"""Stretch · the table's history: the rows of the learner's table as of each of its snapshots.

The observer reads the learner's table with PyIceberg: each snapshot's id, its rows then (a scan as of it), the rows
it added and the reviews it held then; and ``rows_by_snapshot`` as [key's kind, key, value]. The judge wants a key
per snapshot (the ids, whole numbers) and each snapshot's rows then, and names the slips: the rows each snapshot
added, the table's rows now for every snapshot (no ``snapshot_id``), the reviews instead of the rows.
"""

from __future__ import annotations

import numbers

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import load_table

HINT = (
    "For each snapshot of load_catalog(**CATALOG).load_table(TABLE).snapshots(): ray.data.read_iceberg("
    "table_identifier=TABLE, catalog_kwargs=CATALOG, snapshot_id=snapshot.snapshot_id).count()."
)


def _history(catalog_kwargs, table) -> list:
    """Each snapshot of the table: [id, rows then, rows it added, reviews then]."""
    current = load_table(catalog_kwargs, table)
    found = []
    for snapshot in current.snapshots():
        rows = current.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
        added = snapshot.summary["added-records"] if snapshot.summary is not None else None
        reviews = sum(n or 0 for n in rows.column("reviews").to_pylist()) if "reviews" in rows.column_names else None
        found.append([snapshot.snapshot_id, rows.num_rows, None if added is None else int(added), reviews])
    return found


def _items(value) -> dict:
    if not isinstance(value, dict):
        return {"type": type(value).__name__}
    items = []
    for key, rows in value.items():
        whole = isinstance(key, numbers.Integral) and not isinstance(key, bool)
        if hasattr(rows, "item") and type(rows).__module__ == "numpy":
            rows = rows.item()
        count = rows if isinstance(rows, numbers.Integral) and not isinstance(rows, bool) else repr(rows)[:40]
        items.append(["int" if whole else type(key).__name__, int(key) if whole else str(key)[:40], count])
    return {"items": items}


def _judge_stretch(seen, seed=None) -> str:
    if seen.get("error"):
        raise Wrong(f"the check cannot read your table: {seen['error']}", "Run the setup cell and exercise 1's runs.")
    history = seen["history"]
    if len(history) < 2:
        raise Wrong(
            f"your table has {len(history)} snapshot{'s' * (len(history) != 1)}: no history to read yet.",
            "Run exercise 1's runs: each run that adds a day makes a snapshot.",
        )
    if "type" in seen["mine"]:
        raise Wrong(f"`rows_by_snapshot` is a {seen['mine']['type']}, not a dict.", HINT)
    items = seen["mine"]["items"]
    ids = {snap_id for snap_id, *_ in history}
    text = [key for kind, key, _ in items if kind != "int"]
    if text:
        said = "the snapshot ids as text" if set(text) <= {str(i) for i in ids} else f"the key {text[0]!r}"
        raise Wrong(f"`rows_by_snapshot` has {said}, not the ids (whole numbers).", "Key it by snapshot.snapshot_id.")
    mine = {key: rows for _, key, rows in items}
    missing, extra = [i for i in ids if i not in mine], [k for k in mine if k not in ids]
    if missing or extra:
        said = f"lacks snapshot {missing[0]}" if missing else f"has {extra[0]}, which is no snapshot of your table"
        raise Wrong(f"`rows_by_snapshot` {said} (your table has {len(ids)} snapshots).", HINT)
    if any(not isinstance(rows, int) for rows in mine.values()):
        raise Wrong("`rows_by_snapshot` holds values that are not whole numbers of rows.", HINT)
    then = {i: rows for i, rows, _, _ in history}
    if mine == then:
        shown = ", ".join(str(then[i]) for i, *_ in history)
        return f"the rows of your table as of each of its {len(history)} snapshots: {shown}."
    if mine == {i: added for i, _, added, _ in history}:
        raise Wrong("`rows_by_snapshot` holds the rows each snapshot added, not the table's rows then.", HINT)
    if len(set(mine.values())) == 1 and set(mine.values()) == {history[-1][1]}:
        raise Wrong("`rows_by_snapshot` holds the table's rows now for every snapshot.", f"Read as of each: {HINT}")
    if mine == {i: reviews for i, _, _, reviews in history}:
        raise Wrong("`rows_by_snapshot` counts the reviews the table held, not its rows.", "count() the rows.")
    snap = next(i for i, *_ in history if mine[i] != then[i])
    raise Wrong(f"`rows_by_snapshot[{snap}]` is {mine[snap]}; your table had {then[snap]} rows then.", HINT)


@exercise("Stretch · the table's history", judge=_judge_stretch)
def stretch(rows_by_snapshot, catalog_kwargs, table) -> dict:
    require("rows_by_snapshot", rows_by_snapshot, "a dict {snapshot id: rows as of that snapshot}")
    try:
        history = _history(catalog_kwargs, table)
    except Exception as exc:  # noqa: BLE001 (no table: the judge says so)
        return {"error": error_line(exc)}
    return {"history": history, "mine": _items(rows_by_snapshot)}
