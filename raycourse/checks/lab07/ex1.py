"""Lab 07, exercise 1: ``ratings`` against the check's own assembly of the same files (one row per listed
product's rating, its text, stars and photo), and its plan (a join in Ray, the photo from a batch function), or,
materialized, what Ray's stats say made it (:mod:`..stats`): the text asks for a join in Ray and a batch function,
not for a lazy Dataset."""

from __future__ import annotations

import os
from collections import Counter

from .._core import Wrong, exercise, require
from ..stats import made_by
from ..toolkit import plain_value, plan_ops, require_dataset, rows_of, stages
from ._common import _photo_folder, _rated


def _catalogue() -> set[int]:
    import pandas as pd

    from ... import data_path

    return set(pd.read_csv(data_path("outfits"))["id"])


def _tail(path: str) -> str:
    """``products/05.png``: a photo's file without the data folder, which the kernel and the grader may see at other
    places."""
    path = os.path.realpath(str(path))
    return f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"


def _same_file(photo_file, want: str) -> bool:
    """Whether the file a photo names (``photo_file``: its real path, None where it names none) is ``want``."""
    return isinstance(photo_file, str) and os.path.isfile(want) and _tail(photo_file) == _tail(want)


def _check_columns(columns) -> None:
    missing = sorted({"id", "text", "stars", "photo"} - set(columns))
    if missing:
        raise Wrong(
            f"the rows have no column {missing}.",
            "Keep the rating's id, text and stars through the join, and add the path of the product's photo "
            "in a column named photo (a batch function, map_batches).",
        )


def _check_join_key(counts: Counter, want) -> None:
    if set(counts) <= _catalogue() and len(counts) < len(want):  # what a join on the rating's own id keeps
        raise Wrong(
            f"{len(counts)} rows, exactly the ratings whose own id is also a product's id: the join matched "
            "the rating's id with the table's id.",
            "Join on the product's id: the rating's product_id with the table's id (rename the table's id "
            "first, or give right_on=).",
        )


def _check_listed_only(counts: Counter, every, retired) -> None:
    from_retired = sorted(i for i in counts if i in retired)
    if from_retired:
        products = sorted({int(every.loc[i, "product_id"]) for i in from_retired})
        raise Wrong(
            f"{len(from_retired)} row(s) rate products the catalogue no longer lists (ratings "
            f"{', '.join(map(str, from_retired[:6]))}: products {', '.join(map(str, products))}), which have "
            "no photo.",
            "Keep only the ratings whose product is in the table: the join type decides that.",
        )


def _check_rows_are_their_own(rows: list[dict], want) -> None:
    for row in rows:
        if row["id"] not in want.index:
            continue
        expected = want.loc[row["id"]]
        if row["text"] != expected["text"] or row["stars"] != expected["stars"]:
            raise Wrong(
                f"rating {row['id']} carries another rating's text or stars.",
                "Keep the rating's own columns: rename the table's id before the join, not the rating's.",
            )
        if not _same_file(row["photo_file"], expected["photo"]):
            own = _same_file(row["photo_file"], f"{_photo_folder()}/{row['id']:02d}.png")
            why = " (the photo named by the rating's own id)" if own else ""
            raise Wrong(
                f"rating {row['id']} rates product {int(expected['product_id'])}, but its photo is "
                f"{row['photo']!r}{why}.",
                "Join on the product's id (the rating's product_id with the table's id, not the rating's own "
                "id), then build the path from product_id: products/05.png for product 5.",
            )


def _check_one_row_each(rows: list, counts: Counter, want) -> None:
    lost, doubled = len(set(want.index) - set(counts)), sum(n - 1 for n in counts.values())
    if lost or doubled:
        raise Wrong(
            f"{len(rows)} rows for the {len(want)} ratings of listed products ({lost} lost, {doubled} duplicated).",
            "One row per rating: an inner join of the ratings with the table on the product's id.",
        )


def _check_built_in_ray(joins: int, by_row: list) -> None:
    """The join runs in Ray (a Join in the plan), and no stage works row by row (the photo: a batch function)."""
    if not joins:
        raise Wrong(
            "`ratings` has the right rows, but no join in Ray made them: they were assembled elsewhere (pandas?) "
            "and handed to Ray whole.",
            "Read with ray.data.read_json and ray.data.read_csv and join with Dataset.join: on a cluster, the "
            "rows never pass through the notebook.",
        )
    if by_row:
        raise Wrong(
            f"`ratings` runs {', '.join(map(str, by_row))} with a row-by-row map: one Python call per rating.",
            "Add the photo column with a batch function, ratings.map_batches(fn): fn gets a batch of rows as "
            "columns and returns it with a photo column.",
        )


def _judge_1(seen, seed=None) -> str:
    _check_columns(seen["columns"])
    rows = seen["rows"]
    rated, every, retired = _rated()
    want, counts = rated.set_index("id"), Counter(row["id"] for row in rows)
    _check_join_key(counts, want)
    _check_listed_only(counts, every, retired)
    _check_rows_are_their_own(rows, want)
    _check_one_row_each(rows, counts, want)
    _check_built_in_ray(int(seen["joins"]), list(seen["by_row"]))
    return (
        f"{len(rows)} ratings of listed products, each with its text, stars and its product's photo "
        f"({len(retired)} ratings of retired products left out), joined in Ray, the photos added batch by batch."
    )


@exercise("Exercise 1 · assemble the ratings", judge=_judge_1)
def exercise_1(ratings) -> dict:
    """Observes the rows of ``ratings`` (its columns; each row's id, text, stars, photo, and the file the photo names,
    where there is one) and its plan (the joins, the row-by-row stages)."""
    require("ratings", ratings, "a Dataset of the ratings joined with the product table, with each product's photo")
    require_dataset("ratings", ratings, "Read the ratings with ray.data.read_json(...), join them with the table.")
    table = rows_of(ratings, "ratings", "Run your cell again and read its error: it comes from your own function.")
    kept = [c for c in ("id", "text", "stars", "photo") if c in table.columns]
    rows = [{c: plain_value(v) for c, v in zip(kept, values)} for values in table[kept].itertuples(index=False)]
    for row in rows:
        photo = row.get("photo")
        row["photo_file"] = os.path.realpath(photo) if isinstance(photo, str) and os.path.isfile(photo) else None
    return {"columns": [str(c) for c in table.columns], "rows": rows, **_steps(ratings)}


def _steps(ratings) -> dict:
    """The joins and the row-by-row stages of ``ratings``: from its plan, or, materialized (its plan keeps no step),
    from the operators Ray's stats say made it (a join's JoinShuffleReduce, a row map's Map(fn))."""
    made = made_by(ratings)
    if made is not None:
        return {
            "joins": sum(name.startswith("JoinShuffleReduce") for name in made),
            "by_row": [  # Map(add_photo): the function's name, as the plan gives it
                name.partition("(")[2].rstrip(")") or name for name in made if name.split("(")[0] in ("Map", "FlatMap")
            ],
        }
    return {
        "joins": sum(type(op).__name__ == "Join" for op in plan_ops(ratings)),
        "by_row": [s.name for s in stages(ratings) if s.kind in ("MapRows", "FlatMap")],
    }
