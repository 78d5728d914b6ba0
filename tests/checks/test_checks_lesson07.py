"""Lesson 07's checkpoints: they pass the notebook's state and catch the likely slips.

The checkpoints read datasets through ``to_pandas()``, so these tests hand them small
stand-ins with that one method (no Ray needed); the notebook run passes them real datasets.
"""

import json

import numpy as np
import pandas as pd
import pytest

import raycourse
from raycourse.checks import lesson07

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")


class Frame:
    """Anything with to_pandas(), as a Dataset has."""

    def __init__(self, table):
        self.table = table

    def to_pandas(self):
        return self.table.copy()


def _rows():
    reviews = [json.loads(line) for line in open(raycourse.data_path("text"), encoding="utf-8")]
    products = pd.read_csv(raycourse.data_path("outfits")).rename(columns={"id": "product_id", "outfit": "product"})
    table = pd.DataFrame(reviews).merge(products, on="product")
    table["photo"] = [f"{raycourse.data_path('product_photos')}/{pid:02d}.png" for pid in table["product_id"]]
    return table.sample(frac=1, random_state=0)  # a join gives no order


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint


def test_checkpoint_1_passes_the_joined_rows_in_any_order():
    verdict = lesson07.one_row_per_review.result(Frame(_rows()))
    assert verdict.passed, verdict
    assert "60 reviews" in verdict.message


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda t: t.iloc[:-3], "3 reviews lost"),
        (lambda t: pd.concat([t, t.iloc[:2]]), "2 duplicated"),
        (lambda t: t.drop(columns=["photo"]), "no column"),
        (lambda t: t.assign(photo=t["photo"].str.replace(".png", ".jpg")), "is not product"),
        (lambda t: t.assign(photo=t["photo"].iloc[::-1].to_numpy()), "is not product"),
        (lambda t: t.assign(text=t["text"].iloc[::-1].to_numpy()), "another review's text"),
    ],
)
def test_checkpoint_1_catches_lost_rows_and_wrong_photos(spoil, message):
    _wrong(lesson07.one_row_per_review.result(Frame(spoil(_rows()))), message)


def _batch(n=4, tokens=64, size=224):
    mask = np.zeros((n, tokens), dtype=np.int64)
    mask[:, :10] = 1
    return {
        "input_ids": np.ones((n, tokens), dtype=np.int64),
        "attention_mask": mask,
        "pixels": np.zeros((n, 3, size, size), dtype=np.uint8),
    }


def test_checkpoint_2_passes_fixed_shapes():
    assert lesson07.fixed_shapes.result(_batch(), 64, 224).passed


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda b: {**b, "input_ids": b["input_ids"][:, :50]}, "token ids have shape"),
        (lambda b: {**b, "attention_mask": b["attention_mask"] * 0}, "attention mask"),
        (lambda b: {**b, "pixels": b["pixels"].astype(np.float32)}, "dtype float32"),
        (lambda b: {**b, "pixels": b["pixels"].transpose(0, 2, 3, 1)}, "pixels have shape"),
    ],
)
def test_checkpoint_2_catches_ragged_text_and_wrong_pixels(spoil, message):
    _wrong(lesson07.fixed_shapes.result(spoil(_batch()), 64, 224), message)


def _encoded(rows):
    n = len(rows)
    rng = np.random.default_rng(0)
    started = np.repeat(np.arange(0, n, 16) * 0.1, 16)[:n]
    return pd.DataFrame(
        {
            "id": rows["id"].to_numpy(),
            "label": rows["label"].to_numpy(),
            "features": list(rng.normal(size=(n, 96)).astype(np.float32)),
            "actor": ["a", "b"] * (n // 2),
            "started": started,
            "finished": started + 0.05,
        }
    )


def test_checkpoint_3_passes_every_review_encoded():
    rows = _rows()
    verdict = lesson07.encoded_every_review.result(Frame(_encoded(rows)), Frame(rows))
    assert verdict.passed, verdict
    assert "96 features" in verdict.message


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda t: t.iloc[:30], "30 encoded rows"),
        (lambda t: t.assign(features=[np.zeros(96, np.float32)] * len(t)), "not finite numbers that differ"),
        (lambda t: t.assign(finished=t["started"] - 1), "stopwatch"),
    ],
)
def test_checkpoint_3_catches_missing_rows_constant_features_and_a_broken_stopwatch(spoil, message):
    rows = _rows()
    _wrong(lesson07.encoded_every_review.result(Frame(spoil(_encoded(rows))), Frame(rows)), message)


# Each checkpoint in two halves: what the observer sends of a right answer passes its judge; what a forger would
# send instead does not.


def test_checkpoint_1_observation_passes_and_forgeries_do_not():
    seen = lesson07.one_row_per_review.observe(Frame(_rows()))
    assert lesson07.one_row_per_review.decide(seen, 7).passed
    rows = seen["rows"]
    forgeries = {
        "nothing": {},
        "no rows": {**seen, "rows": []},
        "no photos on disk": {**seen, "rows": [{**r, "photo_exists": False} for r in rows]},
        "the texts swapped": {**seen, "rows": [{**r, "text": o["text"]} for r, o in zip(rows, rows[::-1])]},
        "one review twice": {**seen, "rows": [rows[0], *rows[1:-1], rows[0]]},
    }
    for what, forged in forgeries.items():
        assert lesson07.one_row_per_review.decide(forged, 7).status == "wrong", what


def test_checkpoint_2_observation_passes_and_forgeries_do_not():
    seen = lesson07.fixed_shapes.observe(_batch(), 64, 224)
    assert lesson07.fixed_shapes.decide(seen, 7).passed
    mask = seen["attention_mask"]
    forgeries = {
        "nothing": {},
        "no mask rows": {**seen, "attention_mask": {**mask, "row_sums": []}},
        "a mask of twos": {**seen, "attention_mask": {**mask, "values": [0, 2]}},
        "float pixels": {**seen, "pixels": {**seen["pixels"], "dtype": "float32"}},
        "another size": {**seen, "size": 112},
    }
    for what, forged in forgeries.items():
        assert lesson07.fixed_shapes.decide(forged, 7).status == "wrong", what


def test_checkpoint_3_observation_passes_and_forgeries_do_not():
    rows = _rows()
    seen = lesson07.encoded_every_review.observe(Frame(_encoded(rows)), Frame(rows))
    assert lesson07.encoded_every_review.decide(seen, 7).passed
    forgeries = {
        "nothing": {},
        "no rows at all": {**seen, "ids": [], "review_ids": [], "features": []},
        "constant features": {**seen, "features": [[1.0] * 96 for _ in seen["ids"]]},
        "no features": {**seen, "features": []},
        "text for numbers": {**seen, "features": [["nan"] * 96 for _ in seen["ids"]]},
        "a stopwatch backwards": {**seen, "finished": [s - 1 for s in seen["started"]]},
        "no stopwatch": {**seen, "actor": [], "started": [], "finished": []},
    }
    for what, forged in forgeries.items():
        assert lesson07.encoded_every_review.decide(forged, 7).status == "wrong", what
