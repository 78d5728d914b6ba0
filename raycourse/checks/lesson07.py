"""Checkpoints of lesson 07 (the multimodal pipeline): short self-checks in the labs' style.

Each one looks at what the learner's notebook holds at that point and says whether it is what the
next section needs, with a hint where it is not.
"""

from __future__ import annotations

import json

import numpy as np

from ._core import Wrong, exercise, progress_of

progress = progress_of(__name__)  # the last cell of the lesson: check.progress()


def _reviews() -> dict[int, dict]:
    from .. import data_path

    with open(data_path("text"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    return {r["id"]: r for r in records}


@exercise("Checkpoint 1 · one row per review")
def one_row_per_review(rows) -> str:
    table = rows.to_pandas()
    reviews = _reviews()
    missing = {"id", "text", "product_id", "photo"} - set(table.columns)
    if missing:
        raise Wrong(
            f"the rows have no column {sorted(missing)}.",
            "Join the reviews with the renamed product table, then add the photo path with map.",
        )
    ids = table["id"].tolist()
    if sorted(ids) != sorted(reviews):
        lost = len(set(reviews) - set(ids))
        raise Wrong(
            f"{len(ids)} rows for {len(reviews)} reviews ({lost} reviews lost, {len(ids) - len(set(ids))} duplicated).",
            "An inner join on the product name keeps each review once; check the key columns.",
        )
    import os

    for row in table.itertuples():
        if row.text != reviews[row.id]["text"]:
            raise Wrong(f"review {row.id} carries another review's text.", "Do not overwrite the review's own id.")
        if not os.path.exists(row.photo) or not row.photo.endswith(f"{row.product_id:02d}.png"):
            raise Wrong(
                f"review {row.id}: photo {row.photo!r} is not product {row.product_id}'s photo.",
                "Build the path from the product id: products/05.png for product 5.",
            )
    return f"{len(ids)} reviews, each with its product id and the path of its photo."


@exercise("Checkpoint 2 · fixed shapes for the models")
def fixed_shapes(batch, max_tokens: int, size: int) -> str:
    ids, mask, pixels = (np.asarray(batch[k]) for k in ("input_ids", "attention_mask", "pixels"))
    n = len(ids)
    if ids.shape != (n, max_tokens) or mask.shape != ids.shape:
        raise Wrong(
            f"token ids have shape {ids.shape}, mask {mask.shape}; expected ({n}, {max_tokens}).",
            "Pad every review to the same length: padding='max_length', truncation=True, max_length=...",
        )
    if not ((mask == 0) | (mask == 1)).all() or (mask.sum(axis=1) == 0).any():
        raise Wrong("the attention mask is not 1 for tokens and 0 for padding.", "Keep the tokenizer's mask.")
    if pixels.shape != (n, 3, size, size) or pixels.dtype != np.uint8:
        raise Wrong(
            f"pixels have shape {pixels.shape} and dtype {pixels.dtype}; expected ({n}, 3, {size}, {size}) uint8.",
            "Resize and centre-crop to the model's size, channels first, and keep uint8.",
        )
    return f"a batch of {n}: token ids ({n}, {max_tokens}) with a 0/1 mask, pixels ({n}, 3, {size}, {size}) uint8."


@exercise("Checkpoint 3 · every review encoded")
def encoded_every_review(encoded, rows) -> str:
    table = encoded.to_pandas()
    expected = sorted(rows.to_pandas()["id"])
    if sorted(table["id"]) != expected:
        raise Wrong(f"{len(table)} encoded rows for {len(expected)} reviews.", "Run the three stages on `rows`.")
    features = np.stack(table["features"])
    if not np.isfinite(features).all() or np.allclose(features.std(axis=0), 0):
        raise Wrong(
            "the features are not finite numbers that differ between reviews.",
            "Return the models' outputs, not a constant.",
        )
    if len(set(table["actor"])) < 1 or (table["finished"] < table["started"]).any():
        raise Wrong("the stopwatch columns are missing or run backwards.", "Keep the encoder's stopwatch.")
    return f"{len(table)} reviews, {features.shape[1]} features each, from {table['actor'].nunique()} actor(s)."
