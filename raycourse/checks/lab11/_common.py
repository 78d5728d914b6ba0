"""Lab 11's checks: what the exercises share. The shop's days, read from the data files with pandas (the judges'
truth); the summary table's columns; an Iceberg table read with PyIceberg in the kernel (the observers' side)."""

from __future__ import annotations

import functools
from pathlib import Path

# The summary table's columns, as Iceberg names their types (pyarrow's string and int64).
COLUMNS = (("day", "string"), ("stars", "long"), ("reviews", "long"))
START_AGAIN = "To start again, run the setup cell: it empties the inbox and makes the table anew."


def days_folder() -> Path:
    import raycourse

    return Path(raycourse.data_path("days"))


def shop_days() -> list[str]:
    """The days the shop sends (``2026-11-01`` ...): the data folder's day folders."""
    return sorted(folder.name for folder in days_folder().iterdir() if folder.is_dir())


@functools.lru_cache(maxsize=None)
def _products_and_stars(day: str) -> tuple[tuple[str, int], ...]:
    import pandas as pd

    reviews = pd.read_json(days_folder() / day / "reviews.jsonl", lines=True)
    return tuple((str(p), int(s)) for p, s in zip(reviews["product"], reviews["stars"]))


def true_rows(days) -> dict[tuple[str, int], int]:
    """(day, stars) -> how many of the day's reviews have those stars, from the data files: the judges' truth."""
    out: dict[tuple[str, int], int] = {}
    for day in days:
        for _, stars in _products_and_stars(day):
            out[(day, stars)] = out.get((day, stars), 0) + 1
    return out


def products_of(days) -> list[str]:
    """Each review's product, over ``days``, from the data files."""
    return [product for day in days for product, _ in _products_and_stars(day)]


def plain(value):
    """A value of a table's row as plain data: None, an int, a float, else its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return plain(value.item())
    return str(value)


def summary_schema():
    import pyarrow as pa

    return pa.schema([("day", pa.string()), ("stars", pa.int64()), ("reviews", pa.int64())])


def make_table(folder: Path, identifier: str) -> dict:
    """A SQLite catalog in ``folder`` holding an empty summary table ``identifier``, partitioned by day (as the lab's
    setup cell makes its own): the catalog_kwargs that reach it."""
    from pyiceberg.catalog import load_catalog

    kwargs = {
        "name": "check",
        "type": "sql",
        "uri": f"sqlite:///{folder}/catalog.db",
        "warehouse": f"file://{folder}/warehouse",
    }
    catalog = load_catalog(**kwargs)
    catalog.create_namespace_if_not_exists(identifier.split(".")[0])
    with catalog.create_table(identifier, schema=summary_schema()).update_spec() as spec:
        spec.add_identity("day")
    return kwargs


def load_table(catalog_kwargs: dict, identifier: str):
    from pyiceberg.catalog import load_catalog

    return load_catalog(**catalog_kwargs).load_table(identifier)


def _count(summary, key: str) -> int | None:
    value = summary[key] if summary is not None else None
    return int(value) if value is not None else None


def read_table(catalog_kwargs: dict, identifier: str) -> dict:
    """What a table holds, as plain data: its snapshots ([id, added rows, rows then]), its columns ([name, Iceberg
    type]) and its rows (each a dict), sorted."""
    table = load_table(catalog_kwargs, identifier)
    snapshots = [
        [s.snapshot_id, _count(s.summary, "added-records"), _count(s.summary, "total-records")]
        for s in table.snapshots()
    ]
    columns = [[field.name, str(field.field_type)] for field in table.schema().fields]
    found = table.scan().to_arrow().to_pylist() if table.current_snapshot() is not None else []
    rows = [{k: plain(v) for k, v in row.items()} for row in found]
    return {
        "snapshots": snapshots,
        "columns": columns,
        "rows": sorted(rows, key=lambda r: (str(r.get("day")), str(r.get("stars")), str(r.get("reviews")))),
    }


def shown(days) -> str:
    """ "2026-11-01 and 2026-11-03", "no day"."""
    days = sorted(days)
    if not days:
        return "no day"
    return days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
