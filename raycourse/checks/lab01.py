"""Checks for lab 01 (ingest and transform): rename, filter + map_batches, write parquet.

The expected answers are computed from the course's animals table, so the checks
stay right if the sample data changes.
"""

from __future__ import annotations

from pathlib import Path

from ._core import NotSolved, Wrong, exercise, require

PHOTO_WORD = "photo"


def _animals():
    import pandas as pd

    import raycourse

    return pd.read_csv(raycourse.data_path("animals"))


def expected_photos():
    """id -> (prompt, n_words) for the animals whose prompt names a photo."""
    table = _animals()
    keep = table[table["animal"].str.contains(PHOTO_WORD, case=False)]
    return {int(r.id): (r.animal, len(r.animal.split())) for r in keep.itertuples()}


def _require_dataset(name, value):
    import ray.data

    if not isinstance(value, ray.data.Dataset):
        raise Wrong(f"`{name}` is a {type(value).__name__}, not a Ray Dataset.",
                    "Keep working on the Dataset itself: Dataset methods return new Datasets.")


def _rows(ds) -> list[dict]:
    return ds.take_all()


@exercise("Exercise 1")
def exercise_1(prompts):
    """`prompts`: the animals Dataset with the column `animal` renamed to `prompt`."""
    require("prompts", prompts, "a Dataset built from `animals`")
    _require_dataset("prompts", prompts)
    columns = prompts.columns()
    if columns is None:  # an empty Dataset has no schema
        raise Wrong("`prompts` is empty.", "Renaming keeps every row: start from the full animals Dataset.")
    if "animal" in columns:
        raise Wrong("`prompts` still has a column called `animal`.",
                    "A Dataset method renames columns from a {old: new} mapping.")
    if "prompt" not in columns:
        raise Wrong(f"`prompts` has no `prompt` column (its columns: {columns}).",
                    "Rename `animal` to exactly `prompt`.")
    if sorted(columns) != ["id", "prompt"]:
        raise Wrong(f"`prompts` should have exactly the columns `id` and `prompt`, not {columns}.",
                    "Only rename; do not add or drop columns.")
    expected = {int(r.id): r.animal for r in _animals().itertuples()}
    rows = _rows(prompts)
    if len(rows) != len(expected):
        raise Wrong(f"`prompts` has {len(rows)} rows; the animals table has {len(expected)}.",
                    "Renaming keeps every row: start from the full animals Dataset.")
    got = {int(r["id"]): r["prompt"] for r in rows}
    if got != expected:
        bad = sorted(i for i in expected if got.get(i) != expected[i])[:3]
        raise Wrong(f"the prompt text differs from the animals table for ids {bad}.",
                    "The prompt is the `animal` text unchanged.")
    return f"{len(rows)} prompts with columns id and prompt."


@exercise("Exercise 2")
def exercise_2(photos):
    """`photos`: only the prompts that mention a photo, with a word count column `n_words`."""
    require("photos", photos, "a Dataset of the photo prompts with an `n_words` column")
    _require_dataset("photos", photos)
    columns = photos.columns()
    if columns is None:  # an empty Dataset has no schema
        raise Wrong(f"`photos` is empty: it misses all {len(expected_photos())} photo prompts.",
                    "Is your test case-sensitive, or does it look for the whole word only?")
    missing = [c for c in ("id", "prompt") if c not in columns]
    if missing:
        raise Wrong(f"`photos` lacks the column(s) {missing} (it has {columns}).",
                    "Start from `prompts`, the Dataset of exercise 1.")
    if "n_words" not in columns:
        raise Wrong(f"`photos` has no `n_words` column (it has {columns}).",
                    "Add it in a function that receives a whole batch (a dict of NumPy arrays).")
    expected = expected_photos()
    rows = _rows(photos)
    ids = {int(r["id"]) for r in rows}
    if len(rows) != len(ids):
        raise Wrong("`photos` has duplicate rows.", "Filter and transform each row once.")
    extra, lacking = ids - set(expected), set(expected) - ids
    if extra:
        raise Wrong(f"`photos` keeps {len(extra)} prompt(s) that are not photos (ids {sorted(extra)[:3]}...).",
                    f"Keep a row only when its prompt contains '{PHOTO_WORD}' (any capitalisation).")
    if lacking:
        raise Wrong(f"`photos` misses {len(lacking)} photo prompt(s) (ids {sorted(lacking)[:3]}).",
                    "Is your test case-sensitive, or does it look for the whole word only?")
    wrong_counts = [int(r["id"]) for r in rows if int(r["n_words"]) != expected[int(r["id"])][1]]
    if wrong_counts:
        r = next(r for r in rows if int(r["id"]) == wrong_counts[0])
        raise Wrong(f"`n_words` is {r['n_words']} for {r['prompt']!r}; it has {expected[wrong_counts[0]][1]} words.",
                    "Count the words that splitting on whitespace gives.")
    return f"{len(rows)} photo prompts with their word counts."


@exercise("Exercise 3")
def exercise_3(out_dir):
    """`photos` written as parquet into the folder `out_dir / "photos"`."""
    require("out_dir", out_dir, "the output folder from the setup cell")
    import pyarrow.parquet as pq

    target = Path(out_dir) / "photos"
    files = sorted(target.glob("*.parquet")) if target.is_dir() else []
    if not files:
        elsewhere = sorted(p for p in Path(out_dir).rglob("*.parquet") if target not in p.parents)
        if elsewhere:
            raise Wrong(f"found parquet files in {elsewhere[0].parent.name}/, not in photos/.",
                        "Write to the folder `out_dir / \"photos\"` (pass it as a string).")
        raise NotSolved("no parquet files in `out_dir / \"photos\"` yet; write the `photos` Dataset there.")
    table = pq.read_table(target).to_pandas()
    expected = expected_photos()
    for column in ("id", "prompt", "n_words"):
        if column not in table.columns:
            raise Wrong(f"the parquet files have no `{column}` column (they have {list(table.columns)}).",
                        "Write the Dataset of exercise 2, with all its columns.")
    if len(table) != len(expected) or set(table["id"].astype(int)) != set(expected):
        raise Wrong(f"the parquet files hold {len(table)} rows; `photos` should have {len(expected)}.",
                    "Write the filtered `photos` Dataset, not `prompts` or `animals`; re-run the setup "
                    "cell to clear old files.")
    return f"{len(table)} rows in {len(files)} parquet file(s) under photos/."
