"""Lab 01, exercise 1: the reviews read, every one of them, with the columns kept."""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import require_dataset, review_table, run_dataset
from ._common import COLUMNS, RUN_HINT, _integer


def _judge_1(seen, seed=None) -> str:
    _check_kept_columns(seen["columns"])
    rows = seen["rows"]
    _check_every_review(rows)
    return f"{len(rows)} reviews with the columns {', '.join(COLUMNS)}."


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(reviews):
    """`reviews`: the reviews file read into a Dataset, with only the columns id, pet, text and stars."""
    require("reviews", reviews, "a Dataset of the reviews with the columns id, pet, text and stars")
    require_dataset("reviews", reviews, "Read the file with a Ray Data reader: it returns a Dataset.")
    columns, rows = run_dataset("reviews", reviews, RUN_HINT.format(name="reviews"), columns=True)
    _check_kept_columns(columns)
    return {"columns": list(columns), "rows": [{c: r.get(c) for c in COLUMNS} for r in rows]}


def _check_kept_columns(columns) -> None:
    if columns is None:  # an empty Dataset has no schema
        raise Wrong("`reviews` is empty.", "Read the whole file: every line of it is one review.")
    lacking = [c for c in COLUMNS if c not in columns]
    if lacking and len(columns) == 1:
        raise Wrong(
            f"`reviews` has a single column {columns[0]!r}: the file was not read as JSON.",
            "Each line of the file is a JSON object: Ray Data has a reader for that format.",
        )
    if lacking:
        raise Wrong(
            f"`reviews` lacks the column(s) {lacking} (its columns: {columns}).",
            "Keep the file's own column names; choose which columns stay, do not rename them.",
        )
    extra = [c for c in columns if c not in COLUMNS]
    if extra:
        raise Wrong(
            f"`reviews` still has the column(s) {extra}.",
            f"Keep exactly {', '.join(COLUMNS)}: a Dataset method selects (or drops) columns by name.",
        )


def _check_every_review(rows: list[dict]) -> None:
    table = review_table()
    if not rows:
        raise Wrong("`reviews` is empty.", "Read the whole file: every line of it is one review.")
    if len(rows) != len(table):
        raise Wrong(
            f"`reviews` has {len(rows)} rows; the file has {len(table)} reviews.",
            "Keep every review: choosing columns keeps every row.",
        )
    expected = {int(r.id): (r.pet, r.text, int(r.stars)) for r in table.itertuples()}
    got = {int(r["id"]): (r["pet"], r["text"], _integer(r["stars"])) for r in rows}
    if got != expected:
        bad = sorted(i for i in expected if got.get(i) != expected[i])[:3]
        raise Wrong(
            f"the values of the reviews with ids {bad} differ from the file.",
            "Read the file as it is: choose columns, change no value.",
        )
