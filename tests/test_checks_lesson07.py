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
