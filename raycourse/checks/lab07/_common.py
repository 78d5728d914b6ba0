"""Lab 07's checks: what several exercises share (the check's own assembly of the ratings, a seed's random
numbers, a learner's number and its problem as exercise 3 and the stretch tell it)."""

from __future__ import annotations

import contextlib
import math
from collections import Counter

import numpy as np

from ..toolkit import as_number


def _photo_folder() -> str:
    from ... import data_path

    return data_path("product_photos")


def _rated():
    """The check's own assembly of the ratings (pandas, no Ray): the ratings of products in the catalogue, with the
    product's name and the path of its photo; and the ids of the ratings of retired products."""
    import pandas as pd

    from ... import data_path

    ratings = pd.read_json(data_path("ratings"), lines=True)
    products = pd.read_csv(data_path("outfits")).rename(columns={"id": "product_id", "outfit": "product"})
    rated = ratings.merge(products, on="product_id", how="inner").sort_values("id").reset_index(drop=True)
    rated["photo"] = [f"{_photo_folder()}/{pid:02d}.png" for pid in rated["product_id"]]
    retired = sorted(set(ratings["id"]) - set(rated["id"]))
    return rated, ratings.set_index("id"), retired


def _problem(n=96, features=6, seed=0):
    """A regression whose targets are integers from 1 to 5, as the stars are: a rounded linear function."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, features)) * 0.5).astype(np.float32)
    y = np.clip(np.rint(3 + x @ np.linspace(1.5, -1, features)), 1, 5).astype(np.int64)  # mostly 3 and 4
    x[:, 0] += np.arange(n) * 1e-3  # row i is recognisable by its first feature
    return x, y


@contextlib.contextmanager
def _counting_iterators():
    import ray.data

    calls = Counter()
    original = ray.data.Dataset.iter_torch_batches

    def counted(self, *args, **kwargs):
        calls["iter_torch_batches"] += 1
        calls["shuffled"] += bool(kwargs.get("local_shuffle_buffer_size"))
        return original(self, *args, **kwargs)

    ray.data.Dataset.iter_torch_batches = counted
    try:
        yield calls
    finally:
        ray.data.Dataset.iter_torch_batches = original


def _loss_number(value):
    """A loss returned as a Python, NumPy or 0-d PyTorch number, as a float; None for anything else."""
    if getattr(value, "ndim", 0) != 0:
        return None
    number = as_number(value)
    return number if number is not None and np.isfinite(number) else None


def _returned(value) -> dict:
    """What a loop returned, as plain data: the number (None where it is not a finite number) and its repr."""
    return {"number": _loss_number(value), "repr": repr(value)[:200]}


def _number_of(returned: dict):
    number = returned["number"]
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        return None
    return float(number)


def _seed_of(seed) -> int:
    return 0 if seed is None else int(seed) % 2**32
