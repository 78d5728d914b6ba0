"""Checks for lab 01 (ingest and transform), on data the lesson never read: the shop's reviews.

The lesson read a CSV of image prompts, renamed a column, filtered on text and counted words.
The lab asks for the same pipeline on a JSON Lines file with other operations: read and keep
four columns; keep the reviews of 1 or 2 stars (a comparison of numbers) and add a column from
two columns of the same row (does the text name the row's own pet?); write parquet partitioned
by a column; and, as a stretch, a mean per group.

The expected answers are computed from ``text/reviews.jsonl`` with pandas, so the checks stay
right if the sample data changes. That file cannot test every rule (it has no 3-star review,
and every pet in it is written in lower case), so Exercise 2 also runs the learner's own steps
on a few probe reviews of its own (see :func:`_probe`).
"""

from __future__ import annotations

from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import as_number, require_dataset, review_table, visible_files

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

COLUMNS = ("id", "pet", "text", "stars")  # what Exercise 1 keeps
MAX_STARS = 2  # a complaint: 1 or 2 stars
FLAG = "mentions_pet"


def _mentions(pet: str, text: str) -> bool:
    return str(pet).lower() in str(text).lower()


def expected_complaints() -> dict[int, dict]:
    """id -> the row (pet, text, stars, mentions_pet) of every review with 1 or 2 stars."""
    table = review_table()
    keep = table[table["stars"] <= MAX_STARS]
    return {
        int(r.id): {"pet": r.pet, "text": r.text, "stars": int(r.stars), FLAG: _mentions(r.pet, r.text)}
        for r in keep.itertuples()
    }


def _integer(value):
    """``value`` as an int when it is a whole number (int or float, not text or bool), else None."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return int(value) if float(value).is_integer() else None


def _truth(value):
    """``value`` as a bool when it is a truth value (bool, or the integers 0 and 1), else None."""
    import numbers

    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    return None


# Exercise 1 ---------------------------------------------------------------------------------


@exercise("Exercise 1")
def exercise_1(reviews):
    """`reviews`: the reviews file read into a Dataset, with only the columns id, pet, text and stars."""
    require("reviews", reviews, "a Dataset of the reviews with the columns id, pet, text and stars")
    require_dataset("reviews", reviews, "Read the file with a Ray Data reader: it returns a Dataset.")
    columns = reviews.columns()
    if columns is None:  # an empty Dataset has no schema
        raise Wrong("`reviews` is empty.", "Read the whole file: every line of it is one review.")
    table = review_table()
    lacking = [c for c in COLUMNS if c not in columns]
    if lacking:
        if len(columns) == 1:
            raise Wrong(
                f"`reviews` has a single column {columns[0]!r}: the file was not read as JSON.",
                "Each line of the file is a JSON object: Ray Data has a reader for that format.",
            )
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
    rows = reviews.take_all()
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
    return f"{len(rows)} reviews with the columns {', '.join(COLUMNS)}."


# Exercise 2: probes -----------------------------------------------------------------------------

# Probe reviews for Exercise 2: the rules are "1 or 2 stars" and "the text names the row's own pet, in
# any capitalisation", and the reviews file has no 3-star review and writes every pet in lower case.
# A probe keeps the label a person would give it, so a filter on `label` instead of `stars` shows.
PROBES = {
    901: ("husky", "My HUSKY ripped the sleeves off within a minute.", 2, "negative"),
    902: ("guinea pig", "The Guinea Pig would not keep it on.", 1, "negative"),
    903: ("beagle", "Arrived torn and smelled of glue.", 2, "negative"),
    904: ("ferret", "Bought it for my rabbit, but it would fit no animal.", 1, "negative"),
    905: ("corgi", "Fine, but the colour is duller than in the picture.", 3, "negative"),
    906: ("parrot", "My parrot loves it.", 5, "positive"),
}


def _plan_source(ds):
    """The single source operator of ``ds``'s plan, or None (a join, a union, an unreadable plan)."""
    try:
        dag = ds._logical_plan.dag
        sources = [op for op in dag.post_order_iter() if not op.input_dependencies]
    except Exception:  # Ray internals: without them the probe is skipped, never failed
        return None
    return sources[0] if len(sources) == 1 and sources[0] is not dag else None


FILTER_HINT = "Keep a review when its `stars` is 1 or 2, whatever its text or label says."
FLAG_HINT = (
    f"`{FLAG}` is True when the text contains the row's own `pet` (HUSKY, Husky and husky alike), "
    "False otherwise: compare each text with the pet of the same row."
)


def _probe(complaints) -> tuple[str, str] | None:
    """Run the steps that built ``complaints`` on probe reviews; return (problem, hint), or None if right.

    The plan of a Ray Dataset keeps the learner's steps (select, filter, map_batches, ...) after
    its source (the JSON read, or a materialized Dataset). The probe swaps that source for a small
    table of the same columns whose rows are :data:`PROBES`, runs the same steps and compares. Only
    the steps after the source are tested: if the source holds only complaints already (a
    materialized result), the filter is not probed; if it already has the flag, the flag is not.
    Anything the probe cannot run is skipped.
    """
    import pandas as pd
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    source = _plan_source(complaints)
    if source is None:
        return None
    try:
        source_ds = ray.data.Dataset._from_parent(complaints, LogicalPlan(source, complaints.context))
        source_rows = source_ds.take_all()
    except Exception:
        return None
    if not source_rows or not all(c in source_rows[0] for c in COLUMNS):
        return None
    probes_filter = any(_integer(r["stars"]) is None or _integer(r["stars"]) > MAX_STARS for r in source_rows)
    probes_flag = FLAG not in source_rows[0]
    if not (probes_filter or probes_flag):
        return None
    template = source_rows[0]
    probe = pd.DataFrame(
        [
            {
                **template,
                "id": i,
                "pet": pet,
                "text": text,
                "stars": stars,
                **({"label": label} if "label" in template else {}),
            }
            for i, (pet, text, stars, label) in PROBES.items()
        ]
    )
    probe = probe.astype({c: pd.Series([template[c]]).dtype for c in ("id", "stars")})
    try:
        probe_ds = ray.data.from_pandas(probe)
        replay = complaints._logical_plan.dag._apply_transform(
            lambda op: probe_ds._logical_plan.dag if op is source else op
        )
        rows = ray.data.Dataset._from_parent(probe_ds, LogicalPlan(replay, complaints.context)).take_all()
    except Exception:
        return None
    if rows and not all(c in rows[0] for c in ("id", "text", FLAG)):
        return None
    got = {int(r["id"]): r for r in rows}
    if probes_filter:
        wanted = {i for i, p in PROBES.items() if p[2] <= MAX_STARS}
        dropped = sorted(wanted - set(got))
        if dropped:
            pet, text, stars, _ = PROBES[dropped[0]]
            return f"your steps drop a review of {stars} star(s): {text!r}.", FILTER_HINT
        kept = sorted(set(got) - wanted)
        if kept:
            pet, text, stars, _ = PROBES[kept[0]]
            return f"your steps keep a review of {stars} stars: {text!r}.", FILTER_HINT
    for i, row in sorted(got.items()):
        if i not in PROBES:
            continue
        pet, text, _, _ = PROBES[i]
        if str(row["text"]) != text:
            return f"your steps turn the text {text!r} into {row['text']!r}.", "Add a column; leave the text as it is."
        if probes_flag and _truth(row[FLAG]) != _mentions(pet, text):
            return (f"your steps give `{FLAG}` = {row[FLAG]!r} for a review of a {pet}: {text!r}.", FLAG_HINT)
    return None


# Exercise 2 ---------------------------------------------------------------------------------


@exercise("Exercise 2")
def exercise_2(complaints):
    """`complaints`: the reviews of 1 or 2 stars, with a column `mentions_pet`."""
    require("complaints", complaints, "a Dataset of the 1- and 2-star reviews with a `mentions_pet` column")
    require_dataset("complaints", complaints)
    expected = expected_complaints()
    columns = complaints.columns()
    if columns is None:  # an empty Dataset has no schema
        raise Wrong(
            f"`complaints` is empty: it misses all {len(expected)} reviews of 1 or 2 stars.",
            "`stars` holds numbers: compare it with a number, not with text.",
        )
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise Wrong(
            f"`complaints` lacks the column(s) {missing} (it has {columns}).",
            "Start from `reviews`, the Dataset of exercise 1, and keep its columns.",
        )
    if FLAG not in columns:
        raise Wrong(
            f"`complaints` has no `{FLAG}` column (it has {columns}).",
            "Add it in a function that receives a whole batch (a dict of NumPy arrays).",
        )
    rows = complaints.take_all()
    if not rows:
        raise Wrong(
            f"`complaints` is empty: it misses all {len(expected)} reviews of 1 or 2 stars.",
            "`stars` holds numbers: compare it with a number, not with text.",
        )
    ids = {int(r["id"]) for r in rows}
    if len(rows) != len(ids):
        raise Wrong("`complaints` has duplicate rows.", "Filter and transform each review once.")
    extra, lacking = ids - set(expected), set(expected) - ids
    if extra:
        raise Wrong(
            f"`complaints` keeps {len(extra)} review(s) of more than {MAX_STARS} stars (ids {sorted(extra)[:3]}...).",
            FILTER_HINT,
        )
    if lacking:
        raise Wrong(
            f"`complaints` misses {len(lacking)} review(s) of 1 or 2 stars (ids {sorted(lacking)[:3]}).",
            "Check your comparison: which numbers of stars does it let through?",
        )
    changed = [r for r in rows if r["text"] != expected[int(r["id"])]["text"]]
    if changed:
        r = changed[0]
        raise Wrong(
            f"the text of review {int(r['id'])} is {r['text']!r}, but `reviews` has "
            f"{expected[int(r['id'])]['text']!r}.",
            f"Your batch function should only add `{FLAG}`: return the other columns as they came in.",
        )
    not_truths = [r for r in rows if _truth(r[FLAG]) is None]
    if not_truths:
        r = not_truths[0]
        raise Wrong(
            f"`{FLAG}` holds {type(r[FLAG]).__name__} values such as {r[FLAG]!r}, not True or False.",
            "Store truth values (what `in` or `==` gives), not text.",
        )
    wrong = sorted(int(r["id"]) for r in rows if _truth(r[FLAG]) != expected[int(r["id"])][FLAG])
    if wrong:
        want = expected[wrong[0]]
        raise Wrong(f"`{FLAG}` is {not want[FLAG]} for review {wrong[0]} ({want['pet']}): {want['text']!r}.", FLAG_HINT)
    probed = _probe(complaints)
    if probed:
        problem, hint = probed
        raise Wrong(
            f"right for the reviews file, but the check also ran your steps on reviews of its own, and {problem}", hint
        )
    named = sum(v[FLAG] for v in expected.values())
    return f"{len(rows)} complaints; {named} of them name the pet."


# Exercise 3 ---------------------------------------------------------------------------------

PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of every parquet file
PARTITION = "stars"
FOLDER = "complaints"
RERUN = "Re-run the setup cell (it empties out_dir), then run your exercise cell once."


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def _kinds(files: list[Path]) -> str:
    from collections import Counter

    kinds = Counter(p.suffix.lower() or "extension-less" for p in files)
    return ", ".join(f"{n} {kind} file{'s' if n > 1 else ''}" for kind, n in kinds.most_common())


def _layout_of(path: Path, target: Path) -> tuple[str, str] | None | str:
    """("stars", "1") for target/stars=1/file; None for a file directly in target; the folder path otherwise."""
    folders = path.relative_to(target).parts[:-1]
    if not folders:
        return None
    if len(folders) == 1 and "=" in folders[0]:
        key, _, value = folders[0].partition("=")
        return key, value
    return "/".join(folders)


PARTITION_HINT = (
    "The parquet writer can split a Dataset by a column's values: one subfolder per value, named column=value."
)


@exercise("Exercise 3")
def exercise_3(out_dir):
    """`complaints` written as parquet into `out_dir / "complaints"`, one subfolder per number of stars."""
    require("out_dir", out_dir, "the output folder from the setup cell")
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    target = out_dir / FOLDER
    if target.is_file():
        raise Wrong(
            f'`out_dir / "{FOLDER}"` is a single file, not a folder of parquet files.',
            "Give the Dataset's parquet writer the folder: it writes one or more files into it.",
        )
    if not target.is_dir():
        elsewhere = [p for p in visible_files(out_dir) if _is_parquet(p)] if out_dir.is_dir() else []
        if elsewhere:
            folder = elsewhere[0].parent
            where = "out_dir itself" if folder == out_dir else f"{folder.relative_to(out_dir)}/"
            raise Wrong(
                f"found parquet files in {where}, not in {FOLDER}/.",
                f'Write to the folder `out_dir / "{FOLDER}"` (pass it as a string).',
            )
        raise NotSolved(f'no parquet files in `out_dir / "{FOLDER}"` yet; write the `complaints` Dataset there.')
    present = visible_files(target)
    if not present:
        raise Wrong(
            f'`out_dir / "{FOLDER}"` exists but is empty.',
            "Write the `complaints` Dataset into it with the Dataset's parquet writer.",
        )
    files = [p for p in present if _is_parquet(p)]
    if not files:
        raise Wrong(
            f'`out_dir / "{FOLDER}"` holds no parquet files (it holds {_kinds(present)}).',
            "Look for the Dataset write method for the parquet format.",
        )
    others = [p for p in present if p not in files]
    if others:
        raise Wrong(f'`out_dir / "{FOLDER}"` holds {_kinds(others)} beside the parquet files.', RERUN)
    partitions = {p: _layout_of(p, target) for p in files}
    flat = [p for p, part in partitions.items() if part is None]
    if flat:
        raise Wrong(
            f"{len(flat)} parquet file(s) lie directly in {FOLDER}/, not in one folder per number of stars.",
            PARTITION_HINT,
        )
    odd = sorted({part for part in partitions.values() if isinstance(part, str)})
    if odd:
        raise Wrong(
            f"found parquet files in {FOLDER}/{odd[0]}/: the files should sit one folder deep, in "
            f"folders named {PARTITION}=<number of stars>.",
            f"Partition by `{PARTITION}` alone. " + PARTITION_HINT,
        )
    keys = sorted({part[0] for part in partitions.values()})
    if keys != [PARTITION]:
        raise Wrong(
            f"the folders are named after {', '.join(f'`{k}`' for k in keys)}, not `{PARTITION}`.",
            f"Partition by the column `{PARTITION}`.",
        )
    expected = expected_complaints()
    seen: dict[int, str] = {}
    per_folder: dict[str, int] = {}
    for path, (_, value) in sorted(partitions.items(), key=lambda item: str(item[0])):
        try:
            table = pq.read_table(path).to_pandas()
        except Exception as exc:
            raise Wrong(f"{path.relative_to(target)} cannot be read ({exc.__class__.__name__}).", RERUN) from None
        for column in ("id", "text", FLAG):
            if column not in table.columns:
                raise Wrong(
                    f"the parquet files have no `{column}` column (they have {list(table.columns)}).",
                    "Write the Dataset of exercise 2, with all its columns.",
                )
        folder = f"{PARTITION}={value}"
        per_folder[folder] = per_folder.get(folder, 0) + len(table)
        for row_id in table["id"].astype(int):
            if row_id in seen:
                raise Wrong(f"review {row_id} is written twice.", RERUN)
            seen[row_id] = value
            want = expected.get(row_id)
            if want is not None and value != str(want["stars"]):
                raise Wrong(
                    f"review {row_id} has {want['stars']} star(s) but sits in {folder}/.",
                    f"Let the writer build the folders from the `{PARTITION}` column.",
                )
    extra, lacking = set(seen) - set(expected), set(expected) - set(seen)
    if extra:
        raise Wrong(
            f"the files hold {len(extra)} review(s) that are not complaints (ids {sorted(extra)[:3]}...).",
            f"Write `complaints` (exercise 2), not `reviews`. {RERUN}",
        )
    if lacking:
        raise Wrong(
            f"the files miss {len(lacking)} complaint(s) (ids {sorted(lacking)[:3]}).",
            f"Write the whole `complaints` Dataset. {RERUN}",
        )
    listing = ", ".join(f"{folder}/ ({n} rows)" for folder, n in sorted(per_folder.items()))
    return f"{len(seen)} complaints in {len(per_folder)} folders: {listing}."


# Stretch -----------------------------------------------------------------------------------------


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


def _same(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(abs(got[k] - want[k]) < 1e-6 for k in want)


@exercise("Stretch · the happiest pets")
def stretch(per_pet):
    """`per_pet`: one row per pet of all reviews, with the mean number of stars its owners gave."""
    require("per_pet", per_pet, "a Dataset with one row per `pet` and the mean of its reviews' stars")
    rows = _table_rows(per_pet)
    if rows is None:
        raise Wrong(
            f"`per_pet` is a {type(per_pet).__name__}, not a Dataset or a table.",
            "Group `reviews` by a column, then aggregate each group: the result is a Dataset.",
        )
    if not rows:
        raise Wrong("`per_pet` is empty.", "Start from `reviews`, the Dataset of exercise 1.")
    if "pet" not in rows[0]:
        raise Wrong(
            f"`per_pet` has no `pet` column (it has {list(rows[0])}).",
            "Group by the `pet` column, so that each group is one kind of pet.",
        )
    values = [c for c in rows[0] if c != "pet"]
    if len(values) != 1:
        raise Wrong(
            f"`per_pet` should have `pet` and one column of mean stars, not {list(rows[0])}.",
            "After grouping, aggregate one column, `stars`, and keep no other.",
        )
    got = {}
    for row in rows:
        if row["pet"] in got:
            raise Wrong(f"`per_pet` has the pet {row['pet']!r} in more than one row.", "Group by `pet`: one row each.")
        value = as_number(row[values[0]])
        if value is None:
            raise Wrong(
                f"`per_pet` holds {row[values[0]]!r} for {row['pet']!r}, not a number.",
                "Aggregate the `stars` column, a number per review.",
            )
        got[row["pet"]] = value
    table = review_table()
    stars = table.groupby("pet")["stars"]
    want = {k: float(v) for k, v in stars.mean().items()}
    if _same(got, want):
        top = max(want, key=lambda k: (want[k], k))
        return f"{len(want)} pets; the happiest owners have a {top} ({want[top]:.2f} stars on average)."
    complaints = table[table["stars"] <= MAX_STARS].groupby("pet")["stars"].mean()
    if _same(got, {k: float(v) for k, v in stars.count().items()}):
        raise Wrong(
            "`per_pet` counts each pet's reviews instead of averaging their stars.",
            "Aggregate with the mean of `stars`, not a count.",
        )
    if _same(got, {k: float(v) for k, v in stars.sum().items()}):
        raise Wrong(
            "`per_pet` adds each pet's stars up instead of averaging them.",
            "Aggregate with the mean of `stars`, not a sum.",
        )
    if _same(got, {k: float(v) for k, v in complaints.items()}):
        raise Wrong(
            "`per_pet` averages only the complaints, not every review.",
            "Group `reviews` (exercise 1), not `complaints`.",
        )
    bad = sorted(set(got) ^ set(want) or {k for k in got if abs(got[k] - want[k]) >= 1e-6})[0]
    raise Wrong(
        f"`per_pet` gives {got.get(bad)!r} for the pet {bad!r}; its reviews average {want.get(bad)!r} stars.",
        "Group every review by `pet` and take the mean of `stars` in each group.",
    )
