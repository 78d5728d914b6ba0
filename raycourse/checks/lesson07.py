"""Checkpoints of lesson 07 (the multimodal pipeline): short self-checks in the labs' style.

Each one looks at what the learner's notebook holds at that point and says whether it is what the
next section needs, with a hint where it is not.

Each checkpoint is in two halves (``raycourse.checks.Exercise``): the observer reads the learner's objects in the
kernel and returns plain data (the rows, the batch's shapes and mask values, the encoded rows); the judge decides
from that data alone (in the grader's process when a notebook is graded), with the reviews file as its truth.
"""

from __future__ import annotations

import json

import numpy as np

from ._core import Wrong, exercise, progress_of

progress = progress_of(__name__)  # the last cell of the lesson: check.progress()

ROW_COLUMNS = ("id", "text", "product_id", "photo")


def _reviews() -> dict[int, dict]:
    from .. import data_path

    with open(data_path("text"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["id"]: r for r in records}


# Checkpoint 1 ---------------------------------------------------------------------------------------------------


def _judge_rows(seen, seed=None) -> str:
    reviews = _reviews()
    missing = set(ROW_COLUMNS) - set(seen["columns"])
    if missing:
        raise Wrong(
            f"the rows have no column {sorted(missing)}.",
            "Join the reviews with the renamed product table, then add the photo path with map.",
        )
    rows = seen["rows"]
    ids = [row["id"] for row in rows]
    if sorted(ids) != sorted(reviews):
        lost = len(set(reviews) - set(ids))
        raise Wrong(
            f"{len(ids)} rows for {len(reviews)} reviews ({lost} reviews lost, {len(ids) - len(set(ids))} duplicated).",
            "An inner join on the product name keeps each review once; check the key columns.",
        )
    for row in rows:
        if row["text"] != reviews[row["id"]]["text"]:
            raise Wrong(f"review {row['id']} carries another review's text.", "Do not overwrite the review's own id.")
        photo = row["photo"]
        if row["photo_exists"] is not True or not photo.endswith(f"{row['product_id']:02d}.png"):
            raise Wrong(
                f"review {row['id']}: photo {photo!r} is not product {row['product_id']}'s photo.",
                "Build the path from the product id: products/05.png for product 5.",
            )
    return f"{len(ids)} reviews, each with its product id and the path of its photo."


@exercise("Checkpoint 1 · one row per review", judge=_judge_rows)
def one_row_per_review(rows) -> dict:
    """Observes `rows`: its columns and, where it has the four the lesson adds, each row's id, text, product id and
    photo path, and whether that path names a file."""
    import os

    table = rows.to_pandas()
    columns = [str(c) for c in table.columns]
    found = []
    if set(ROW_COLUMNS) <= set(columns):
        for row in table.itertuples():
            photo = row.photo if isinstance(row.photo, str) else str(row.photo)
            found.append(
                {
                    "id": row.id,
                    "text": row.text,
                    "product_id": row.product_id,
                    "photo": photo,
                    "photo_exists": os.path.exists(photo),
                }
            )
    return {"columns": columns, "rows": found}


# Checkpoint 2 ---------------------------------------------------------------------------------------------------

MASK_VALUES = 20  # the distinct values of the attention mask the observer sends at most (a right one has 2)


def _judge_shapes(seen, seed=None) -> str:
    ids, mask, pixels = (tuple(seen[k]["shape"]) for k in ("input_ids", "attention_mask", "pixels"))
    max_tokens, size = seen["max_tokens"], seen["size"]
    n = ids[0] if ids else 0
    if ids != (n, max_tokens) or mask != ids:
        raise Wrong(
            f"token ids have shape {ids}, mask {mask}; expected ({n}, {max_tokens}).",
            "Pad every review to the same length: padding='max_length', truncation=True, max_length=...",
        )
    values, row_sums = seen["attention_mask"]["values"], seen["attention_mask"]["row_sums"]
    if len(row_sums) != n or not all(_zero_or_one(v) for v in values) or any(float(s) == 0 for s in row_sums):
        raise Wrong("the attention mask is not 1 for tokens and 0 for padding.", "Keep the tokenizer's mask.")
    dtype = seen["pixels"]["dtype"]
    if pixels != (n, 3, size, size) or dtype != "uint8":
        raise Wrong(
            f"pixels have shape {pixels} and dtype {dtype}; expected ({n}, 3, {size}, {size}) uint8.",
            "Resize and centre-crop to the model's size, channels first, and keep uint8.",
        )
    return f"a batch of {n}: token ids ({n}, {max_tokens}) with a 0/1 mask, pixels ({n}, 3, {size}, {size}) uint8."


def _zero_or_one(value) -> bool:
    return isinstance(value, (bool, int, float)) and value in (0, 1)


@exercise("Checkpoint 2 · fixed shapes for the models", judge=_judge_shapes)
def fixed_shapes(batch, max_tokens: int, size: int) -> dict:
    """Observes the batch's arrays: each one's shape and dtype; the mask's distinct values and each row's sum."""
    arrays = {k: np.asarray(batch[k]) for k in ("input_ids", "attention_mask", "pixels")}
    seen = {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in arrays.items()}
    mask = arrays["attention_mask"]
    seen["attention_mask"]["values"] = np.unique(mask)[:MASK_VALUES].tolist()
    seen["attention_mask"]["row_sums"] = [np.sum(row).tolist() for row in mask] if mask.ndim else []
    return {**seen, "max_tokens": max_tokens, "size": size}


# Checkpoint 3 ---------------------------------------------------------------------------------------------------


def _judge_encoded(seen, seed=None) -> str:
    ids, expected = seen["ids"], seen["review_ids"]
    if not expected or sorted(ids) != sorted(expected):
        raise Wrong(f"{len(ids)} encoded rows for {len(expected)} reviews.", "Run the three stages on `rows`.")
    features = np.asarray([[float(x) for x in row] for row in seen["features"]], dtype=np.float64)
    if (
        features.ndim != 2
        or len(features) != len(ids)
        or not np.isfinite(features).all()
        or np.allclose(features.std(axis=0), 0)
    ):
        raise Wrong(
            "the features are not finite numbers that differ between reviews.",
            "Return the models' outputs, not a constant.",
        )
    actors, started, finished = seen["actor"], seen["started"], seen["finished"]
    if not (len(actors) == len(started) == len(finished) == len(ids)) or any(
        float(f) < float(s) for s, f in zip(started, finished)
    ):
        raise Wrong("the stopwatch columns are missing or run backwards.", "Keep the encoder's stopwatch.")
    return f"{len(ids)} reviews, {features.shape[1]} features each, from {len(set(actors))} actor(s)."


@exercise("Checkpoint 3 · every review encoded", judge=_judge_encoded)
def encoded_every_review(encoded, rows) -> dict:
    """Observes the encoded rows (id, features, actor, started, finished) and the ids of `rows`."""
    table = encoded.to_pandas()
    return {
        "review_ids": list(rows.to_pandas()["id"]),
        "ids": list(table["id"]),
        "features": [np.ravel(np.asarray(f, dtype=np.float64)).tolist() for f in table["features"]],
        "actor": [str(a) for a in table["actor"]],
        "started": [float(s) for s in table["started"]],
        "finished": [float(f) for f in table["finished"]],
    }
