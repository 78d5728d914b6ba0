"""Checks for lab 01 (ingest and transform): rename, filter + map_batches, write parquet.

The expected answers are computed from the course's animals table, so the checks
stay right if the sample data changes. That table cannot test every rule (all its
"photo"s are lower case), so Exercise 2 also runs the learner's own steps on a few
probe prompts of its own (see :func:`_probe`).
"""

from __future__ import annotations

from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

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


# Probe prompts for Exercise 2: the rule is "contains photo, in any capitalisation", and the
# animals table only ever writes it in lower case. (No probe is ambiguous: none holds
# "photo" inside a longer word, none has repeated spaces.)
PROBE_PROMPTS = {
    901: "A PHOTO OF A WOLF IN THE SNOW",
    902: "Photo of a sleeping hedgehog",
    903: "A blurry Photo of a heron",
    904: "A cinematic photo of a mole",
    905: "An ink drawing of a heron",
    906: "A PAINTING OF A MOOSE",
}


def _keeps(text: str) -> bool:
    return PHOTO_WORD in text.lower()


def _plan_source(ds):
    """The single source operator of ``ds``'s plan, or None (a join, a union, an unreadable plan)."""
    try:
        dag = ds._logical_plan.dag
        sources = [op for op in dag.post_order_iter() if not op.input_dependencies]
    except Exception:  # Ray internals: without them the probe is skipped, never failed
        return None
    return sources[0] if len(sources) == 1 and sources[0] is not dag else None


FILTER_HINT = (f"Keep a row whenever its prompt contains '{PHOTO_WORD}', in any capitalisation (PHOTO, Photo, "
               "photo), and leave the prompt text as it is.")
COUNT_HINT = "Count the words that splitting on whitespace gives, for whatever prompt the batch holds."


def _probe(photos) -> tuple[str, str] | None:
    """Run the steps that built ``photos`` on probe prompts; return (problem, hint), or None if right.

    The plan of a Ray Dataset keeps the learner's steps (rename, filter, map_batches, ...)
    after its source (the CSV read, or a materialized Dataset). The probe swaps that source
    for a small table of the same columns whose prompts are :data:`PROBE_PROMPTS`, runs the
    same steps and compares. Only the steps after the source are tested: if the source
    already holds only photo prompts (a materialized result), the filter is not probed; if
    it already has `n_words`, the count is not. Anything the probe cannot run is skipped.
    """
    import pandas as pd
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    source = _plan_source(photos)
    if source is None:
        return None
    try:
        source_ds = ray.data.Dataset._from_parent(photos, LogicalPlan(source, photos.context))
        source_rows = source_ds.take_all()
    except Exception:
        return None
    if not source_rows:
        return None
    text_column = next((c for c in ("animal", "prompt") if c in source_rows[0]), None)
    if text_column is None or "id" not in source_rows[0]:
        return None
    probes_filter = any(not _keeps(str(r[text_column])) for r in source_rows)
    probes_count = "n_words" not in source_rows[0]
    if not (probes_filter or probes_count):
        return None
    template = source_rows[0]
    probe = pd.DataFrame([{**template, "id": i, text_column: text} for i, text in PROBE_PROMPTS.items()])
    probe = probe.astype({"id": pd.Series([template["id"]]).dtype})
    try:
        probe_ds = ray.data.from_pandas(probe)
        replay = photos._logical_plan.dag._apply_transform(
            lambda op: probe_ds._logical_plan.dag if op is source else op)
        rows = ray.data.Dataset._from_parent(probe_ds, LogicalPlan(replay, photos.context)).take_all()
    except Exception:
        return None
    if rows and not all(c in rows[0] for c in ("id", "prompt")):
        return None
    got = {int(r["id"]): r for r in rows}
    wanted = {i for i, text in PROBE_PROMPTS.items() if _keeps(text)}
    if probes_filter:
        dropped = sorted(wanted - set(got))
        if dropped:
            return (f"your steps drop the prompt {PROBE_PROMPTS[dropped[0]]!r}, which contains the word "
                    f"'{PHOTO_WORD}'.", FILTER_HINT)
        kept = sorted(set(got) - wanted)
        if kept:
            return f"your steps keep the prompt {PROBE_PROMPTS[kept[0]]!r}, which is not a photo.", FILTER_HINT
    for i, row in sorted(got.items()):
        if i in PROBE_PROMPTS and str(row["prompt"]) != PROBE_PROMPTS[i]:
            return f"your steps turn the prompt {PROBE_PROMPTS[i]!r} into {row['prompt']!r}.", FILTER_HINT
        if probes_count and i in PROBE_PROMPTS and "n_words" in row:
            n = len(PROBE_PROMPTS[i].split())
            if _integer(row["n_words"]) != n:
                return (f"your steps give `n_words` = {row['n_words']!r} for {PROBE_PROMPTS[i]!r}, which has "
                        f"{n} words.", COUNT_HINT)
    return None


def _integer(value):
    """``value`` as an int when it is a whole number (int or float, not text or bool), else None."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return int(value) if float(value).is_integer() else None


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
    changed = [r for r in rows if r["prompt"] != expected[int(r["id"])][0]]
    if changed:
        r = changed[0]
        raise Wrong(f"the prompt of id {int(r['id'])} is {r['prompt']!r}, but `prompts` has "
                    f"{expected[int(r['id'])][0]!r}.",
                    "Your batch function should only add `n_words`: return the prompts as they came in.")
    not_numbers = [r for r in rows if _integer(r["n_words"]) is None]
    if not_numbers:
        r = not_numbers[0]
        raise Wrong(f"`n_words` holds {type(r['n_words']).__name__} values such as {r['n_words']!r}, not "
                    "whole numbers.",
                    "A word count is a number: store integers (what `len` gives), not text.")
    wrong_counts = [int(r["id"]) for r in rows if _integer(r["n_words"]) != expected[int(r["id"])][1]]
    if wrong_counts:
        r = next(r for r in rows if int(r["id"]) == wrong_counts[0])
        raise Wrong(f"`n_words` is {r['n_words']} for {r['prompt']!r}; it has {expected[wrong_counts[0]][1]} words.",
                    "Count the words that splitting on whitespace gives.")
    probed = _probe(photos)
    if probed:
        problem, hint = probed
        raise Wrong(f"right for the animals table, but the check also ran your steps on prompts of its own, "
                    f"and {problem}", hint)
    return f"{len(rows)} photo prompts with their word counts."


PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of every parquet file


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def _visible_files(folder: Path) -> list[Path]:
    """Files under ``folder``, without hidden ones (such as a notebook's checkpoints)."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _kinds(files: list[Path]) -> str:
    from collections import Counter

    kinds = Counter(p.suffix.lower() or "extension-less" for p in files)
    return ", ".join(f"{n} {kind} file{'s' if n > 1 else ''}" for kind, n in kinds.most_common())


@exercise("Exercise 3")
def exercise_3(out_dir):
    """`photos` written as parquet into the folder `out_dir / "photos"`."""
    require("out_dir", out_dir, "the output folder from the setup cell")
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    target = out_dir / "photos"
    if target.is_file():
        raise Wrong("`out_dir / \"photos\"` is a single file, not a folder of parquet files.",
                    "Give the Dataset's parquet writer the folder: it writes one or more files into it.")
    if not target.is_dir():
        elsewhere = [p for p in _visible_files(out_dir) if _is_parquet(p)] if out_dir.is_dir() else []
        if elsewhere:
            folder = elsewhere[0].parent
            where = "out_dir itself" if folder == out_dir else f"{folder.relative_to(out_dir)}/"
            raise Wrong(f"found parquet files in {where}, not in photos/.",
                        "Write to the folder `out_dir / \"photos\"` (pass it as a string).")
        raise NotSolved("no parquet files in `out_dir / \"photos\"` yet; write the `photos` Dataset there.")
    present = _visible_files(target)
    if not present:
        raise Wrong("`out_dir / \"photos\"` exists but is empty.",
                    "Write the `photos` Dataset into it with the Dataset's parquet writer.")
    files = [p for p in present if _is_parquet(p)]
    if not files:
        raise Wrong(f"`out_dir / \"photos\"` holds no parquet files (it holds {_kinds(present)}).",
                    "Look for the Dataset write method for the parquet format.")
    others = [p for p in present if p not in files]
    if others:
        raise Wrong(f"`out_dir / \"photos\"` holds {_kinds(others)} beside the parquet files.",
                    "Write only the parquet files there: re-run the setup cell (it empties out_dir), "
                    "then run your exercise cell once.")
    try:
        table = pq.ParquetDataset([str(p) for p in files]).read().to_pandas()
    except Exception as exc:  # e.g. files of two runs with different columns
        raise Wrong(f"the parquet files in photos/ cannot be read as one table ({exc.__class__.__name__}: "
                    f"{str(exc)[:120]}).",
                    "Re-run the setup cell (it empties out_dir), then run your exercise cell once.") from None
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


def _table_rows(value) -> list[dict] | None:
    """Rows of a Dataset, a pandas DataFrame or a list of row dicts; None for anything else."""
    import pandas as pd
    import ray.data

    if isinstance(value, ray.data.Dataset):
        return value.take_all()
    if isinstance(value, pd.DataFrame):
        return value.to_dict("records")
    if isinstance(value, list) and all(isinstance(r, dict) for r in value):
        return value
    return None


@exercise("Stretch · photo prompts per word count")
def stretch(per_length):
    """`per_length`: one row per word count of the photo prompts, with the number of prompts of that length."""
    from collections import Counter

    require("per_length", per_length, "a Dataset with one row per `n_words` and its number of photo prompts")
    rows = _table_rows(per_length)
    if rows is None:
        raise Wrong(f"`per_length` is a {type(per_length).__name__}, not a Dataset or a table.",
                    "Group `photos` by a column, then count each group: the result is a Dataset.")
    expected = Counter(n for _, n in expected_photos().values())
    if not rows:
        raise Wrong("`per_length` is empty.", "Start from `photos`, the Dataset of exercise 2.")
    if "n_words" not in rows[0]:
        raise Wrong(f"`per_length` has no `n_words` column (it has {list(rows[0])}).",
                    "Group by the word-count column, so that each group is one prompt length.")
    counts = [c for c in rows[0] if c != "n_words"]
    if len(counts) != 1:
        raise Wrong(f"`per_length` should have `n_words` and one count column, not {list(rows[0])}.",
                    "After grouping, count the rows of each group (and keep no other column).")
    got = {}
    for row in rows:
        length = _integer(row["n_words"])
        if length in got:
            raise Wrong(f"`per_length` has {length} words in more than one row.",
                        "Group by `n_words`: one row per word count.")
        got[length] = _integer(row[counts[0]])
    if got != dict(expected):
        all_prompts = Counter(len(a.split()) for a in _animals()["animal"])
        if got == dict(all_prompts):
            raise Wrong("`per_length` counts every prompt, not only the photo prompts.",
                        "Group `photos` (exercise 2), not `prompts`.")
        wrong = sorted(set(got) ^ set(expected) or {n for n in got if got[n] != expected[n]})[0]
        raise Wrong(f"`per_length` says {got.get(wrong, 0)} photo prompt(s) have {wrong} words; "
                    f"`photos` has {expected.get(wrong, 0)}.",
                    "Count the rows of each `n_words` group of `photos`.")
    top = max(expected, key=lambda n: (expected[n], -n))
    return (f"{len(expected)} prompt lengths; the most common is {top} words "
            f"({expected[top]} of {sum(expected.values())} photo prompts).")
