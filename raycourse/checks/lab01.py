"""Checks for lab 01 (ingest and transform), on data the lesson never read: the shop's reviews.

The lesson read a CSV of image prompts, renamed a column, filtered on text and counted words.
The lab asks for the same pipeline on a JSON Lines file with other operations: read and keep
four columns; keep the reviews of 1 or 2 stars (a comparison of numbers) and add a column from
two columns of the same row (does the text name the row's own pet?); write parquet partitioned
by a column; and, as a stretch, a mean per group.

The expected answers are computed from ``text/reviews.jsonl`` with pandas, so the checks stay
right if the sample data changes. That file cannot test every rule (it has no 3-star review,
and every pet in it is written in lower case), so Exercise 2 also runs the learner's own steps
on a few probe reviews made from a seed the caller chooses (see :func:`probes`), and reads from
the Dataset's plan the steps the text names (an expression filter, a batch function; the
stretch's groupby).

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes the learner's
objects and returns plain data; ``_judge_N`` decides from that data alone (in the grader's process
when a notebook is graded).
"""

from __future__ import annotations

import random
from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import (
    as_number,
    error_line,
    filter_kinds,
    plan_kinds,
    plan_source,
    replay,
    require_dataset,
    review_table,
    run_dataset,
    source_dataset,
    visible_files,
    written_elsewhere,
)

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

RUN_HINT = "Run `{name}.take_batch(3)` in a cell of its own to see the whole error."


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
    columns = reviews.columns()
    _check_kept_columns(columns)
    rows = run_dataset("reviews", reviews, RUN_HINT.format(name="reviews"))
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


# Exercise 2: probes -----------------------------------------------------------------------------

# Probe reviews for Exercise 2: the rules are "1 or 2 stars" and "the text names the row's own pet, in
# any capitalisation", and the reviews file has no 3-star review and writes every pet in lower case.
# A probe keeps the label a person would give it, so a filter on `label` instead of `stars` shows. Their pets,
# ids, stars, capitalisation and order come from a seed: a notebook cannot know them before its check runs.
PROBE_PETS = (  # the reviews file's pets: a rule that looks for any of them shows on a review naming another
    "tabby cat",
    "hamster",
    "rabbit",
    "husky",
    "parrot",
    "beagle",
    "ferret",
    "corgi",
    "guinea pig",
    "dachshund",
)


def probes(seed) -> dict[int, tuple[str, str, int, str]]:
    """id -> (pet, text, stars, label) of six probe reviews made from ``seed``: two that name their pet (in
    capitals, or capitalised) with 1 or 2 stars, one that names no animal, one that names another animal, one
    "negative" review of 3 stars and one of 5."""
    rng = random.Random(int(seed or 0))
    pets = rng.sample(PROBE_PETS, 7)
    write = [str.upper, str.title]
    rng.shuffle(write)
    cases = [
        (pets[0], f"My {write[0](pets[0])} ripped the sleeves off within a minute.", rng.choice((1, 2)), "negative"),
        (pets[1], f"The {write[1](pets[1])} would not keep it on.", rng.choice((1, 2)), "negative"),
        (pets[2], "Arrived torn and smelled of glue.", rng.choice((1, 2)), "negative"),
        (pets[3], f"Bought it for my {pets[6]}, but it would fit no animal.", rng.choice((1, 2)), "negative"),
        (pets[4], "Fine, but the colour is duller than in the picture.", 3, "negative"),
        (pets[5], f"My {pets[5]} loves it.", 5, "positive"),
    ]
    rng.shuffle(cases)
    return dict(zip(sorted(rng.sample(range(100_000, 1_000_000), len(cases))), cases))


FILTER_HINT = "Keep a review when its `stars` is 1 or 2, whatever its text or label says."
FLAG_HINT = (
    f"`{FLAG}` is True when the text contains the row's own `pet` (HUSKY, Husky and husky alike), "
    "False otherwise: compare each text with the pet of the same row."
)
NUMBER_HINT = "`stars` holds numbers: compare it with a number, not with text."


def _probe_rows(template: dict, probed: dict):
    """``probed`` (:func:`probes`) as a Dataset with the columns (and the `id` and `stars` types) of ``template``."""
    import pandas as pd
    import ray.data

    rows = [
        {
            **template,
            "id": i,
            "pet": pet,
            "text": text,
            "stars": stars,
            **({"label": lab} if "label" in template else {}),
        }
        for i, (pet, text, stars, lab) in probed.items()
    ]
    probe = pd.DataFrame(rows).astype({c: pd.Series([template[c]]).dtype for c in ("id", "stars")})
    return ray.data.from_pandas(probe)


def _probe(complaints, probed: dict) -> dict | None:
    """Run the steps that built ``complaints`` on the probe reviews ``probed``: ``{"filter": ..., "flag": ...,
    "rows": [...]}`` (which rules the probe tests, and the rows the steps gave), or None where it tests nothing.

    The steps after the plan's source (the JSON read, or a materialized ``reviews``) run again on a small table
    of the same columns whose rows are the probes. Only those steps are tested: if the source holds only
    complaints already, the filter is not probed; if it already has the flag, the flag is not. Anything the probe
    cannot run is skipped.
    """
    source = plan_source(complaints)
    try:
        source_rows = source_dataset(complaints, source).take_all() if source is not None else []
    except Exception:
        return None
    if not source_rows or not all(c in source_rows[0] for c in COLUMNS):
        return None
    probes_filter = any(_integer(r["stars"]) is None or _integer(r["stars"]) > MAX_STARS for r in source_rows)
    probes_flag = FLAG not in source_rows[0]
    if not (probes_filter or probes_flag):
        return None
    try:
        rows = replay(complaints, source, _probe_rows(source_rows[0], probed)).take_all()
    except Exception:
        return None
    if rows and not all(c in rows[0] for c in ("id", "text", FLAG)):
        return None
    kept = [{c: r[c] for c in ("id", "text", FLAG)} for r in rows]
    return {"filter": probes_filter, "flag": probes_flag, "rows": kept}


def _probe_verdict(seen: dict | None, probed: dict) -> tuple[str, str] | None:
    """What the probe found wrong, as (problem, hint), or None."""
    if not seen:
        return None
    got = {int(r["id"]): r for r in seen["rows"]}
    return (_probe_filter(got, probed) if seen["filter"] else None) or _probe_flag(got, bool(seen["flag"]), probed)


def _probe_filter(got: dict, probed: dict) -> tuple[str, str] | None:
    wanted = {i for i, p in probed.items() if p[2] <= MAX_STARS}
    dropped, kept = sorted(wanted - set(got)), sorted(set(got) - wanted)
    if dropped:
        _, text, stars, _ = probed[dropped[0]]
        return f"your steps drop a review of {stars} star(s): {text!r}.", FILTER_HINT
    if kept:
        _, text, stars, _ = probed[kept[0]]
        return f"your steps keep a review of {stars} stars: {text!r}.", FILTER_HINT
    return None


def _probe_flag(got: dict, probes_flag: bool, probed: dict) -> tuple[str, str] | None:
    for i, row in sorted(got.items()):
        if i not in probed:
            continue
        pet, text, _, _ = probed[i]
        if str(row["text"]) != text:
            return f"your steps turn the text {text!r} into {row['text']!r}.", "Add a column; leave the text as it is."
        if probes_flag and _truth(row[FLAG]) != _mentions(pet, text):
            return (f"your steps give `{FLAG}` = {row[FLAG]!r} for a review of a {pet}: {text!r}.", FLAG_HINT)
    return None


# Exercise 2 ---------------------------------------------------------------------------------


def _judge_2(seen, seed) -> str:
    expected = expected_complaints()
    rows = seen["rows"]
    if not rows:
        raise Wrong(f"`complaints` is empty: it misses all {len(expected)} reviews of 1 or 2 stars.", NUMBER_HINT)
    _check_kept_reviews(rows, expected)
    _check_flag(rows, expected)
    _check_steps(seen["kinds"], seen["filters"])
    found = _probe_verdict(seen["probe"], probes(seed))
    if found:
        problem, hint = found
        raise Wrong(
            f"right for the reviews file, but the check also ran your steps on reviews of its own, and {problem}", hint
        )
    named = sum(v[FLAG] for v in expected.values())
    return f"{len(rows)} complaints; {named} of them name the pet."


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(complaints, *, seed=None):
    """`complaints`: the reviews of 1 or 2 stars, kept by an expression filter, with a column `mentions_pet`
    that a batch function adds; lazy, so that the check can run its steps on probe reviews too."""
    require("complaints", complaints, "a Dataset of the 1- and 2-star reviews with a `mentions_pet` column")
    require_dataset("complaints", complaints)
    rows = _complaint_rows(complaints, len(expected_complaints()))
    return {
        "rows": [{c: r[c] for c in ("id", "text", FLAG)} for r in rows],
        "kinds": plan_kinds(complaints),
        "filters": filter_kinds(complaints),
        "probe": _probe(complaints, probes(seed)),
    }


def _complaint_rows(complaints, wanted: int) -> list[dict]:
    empty = Wrong(f"`complaints` is empty: it misses all {wanted} reviews of 1 or 2 stars.", NUMBER_HINT)
    try:
        columns = complaints.columns()
    except Exception as exc:  # the learner's steps fail when the schema is worked out
        raise Wrong(f"running `complaints` failed: {error_line(exc)}", _run_hint(exc)) from None
    if columns is None:  # an empty Dataset has no schema
        raise empty
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
    try:
        rows = complaints.take_all()
    except Exception as exc:
        raise Wrong(f"running `complaints` failed: {error_line(exc)}", _run_hint(exc)) from None
    if not rows:
        raise empty
    return rows


def _run_hint(exc: BaseException) -> str:
    if "kernel matching input types" in error_line(exc):  # a number compared with text: col("stars") <= "2"
        return NUMBER_HINT
    return RUN_HINT.format(name="complaints")


def _check_kept_reviews(rows: list[dict], expected: dict) -> None:
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


def _check_flag(rows: list[dict], expected: dict) -> None:
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


def _check_steps(kinds: list, filters: list) -> None:
    """The steps the text names, read from the plan (``kinds``, ``filters``: :func:`plan_kinds`,
    :func:`filter_kinds`): an expression filter, and a function on whole batches."""
    if kinds == ["InputData"]:
        raise Wrong(
            "`complaints` is materialized: its steps (the filter, the batch function) are gone from it, and the "
            "check cannot see or try them.",
            "Leave `complaints` lazy: build it from `reviews` with `filter` and `map_batches`, no `materialize()`.",
        )
    if "function" in filters or "expression" not in filters:
        what = "a Python function" if "function" in filters else "no `filter` step: the rows are chosen elsewhere"
        raise Wrong(
            f"`complaints` keeps its reviews with {what}, not with an expression.",
            'Filter with an expression on the column: `filter(expr=col("stars") ...)`, from ray.data.expressions.',
        )
    if "MapBatches" not in kinds:
        row_map = "MapRows" in kinds or "FlatMap" in kinds
        raise Wrong(
            f"`{FLAG}` is added {'row by row (`map`)' if row_map else 'without a batch function'}.",
            "Compute it in a function that receives a whole batch (a dict of NumPy arrays), passed to `map_batches`.",
        )


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


def _judge_3(seen, seed=None) -> str:
    files = seen["files"]
    if not files:
        raise NotSolved(f'no parquet files in `out_dir / "{FOLDER}"` yet; write the `complaints` Dataset there.')
    keys = sorted({str(f["key"]) for f in files})
    if keys != [PARTITION]:
        raise Wrong(
            f"the folders are named after {', '.join(f'`{k}`' for k in keys)}, not `{PARTITION}`.",
            f"Partition by the column `{PARTITION}`.",
        )
    per_folder, found = _check_folders(files)
    _check_all_complaints(found)
    listing = ", ".join(f"{folder}/ ({n} rows)" for folder, n in sorted(per_folder.items()))
    return f"{len(found)} complaints in {len(per_folder)} folders: {listing}."


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(out_dir):
    """`complaints` written as parquet into `out_dir / "complaints"`, one subfolder per number of stars."""
    import pyarrow.parquet as pq

    require("out_dir", out_dir, "the output folder from the setup cell")
    target = Path(out_dir) / FOLDER
    files = _parquet_files(Path(out_dir), target)
    found = []
    for path, (key, value) in sorted(_check_layout(files, target).items(), key=lambda item: str(item[0])):
        try:
            table = pq.read_table(path).to_pandas()
        except Exception as exc:
            raise Wrong(f"{path.relative_to(target)} cannot be read ({exc.__class__.__name__}).", RERUN) from None
        found.append(
            {
                "key": key,
                "value": value,
                "columns": [str(c) for c in table.columns],
                "ids": [int(i) for i in table["id"]] if "id" in table.columns else [],
            }
        )
    return {"files": found}


def _parquet_files(out_dir: Path, target: Path) -> list[Path]:
    """The parquet files in ``target``; :class:`Wrong` (or not solved) where they are not, saying where they went."""
    if target.is_file():
        raise Wrong(
            f'`out_dir / "{FOLDER}"` is a single file, not a folder of parquet files.',
            "Give the Dataset's parquet writer the folder: it writes one or more files into it.",
        )
    if not target.is_dir():
        _not_written(out_dir)
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
    return files


def _not_written(out_dir: Path) -> None:
    """No `complaints` folder: where the parquet files went instead, if anywhere."""
    elsewhere = written_elsewhere(out_dir, FOLDER, _is_parquet)
    if elsewhere is None:
        raise NotSolved(f'no parquet files in `out_dir / "{FOLDER}"` yet; write the `complaints` Dataset there.')
    where = "out_dir itself" if elsewhere == out_dir else str(elsewhere)
    if out_dir in elsewhere.parents:
        where = f"{elsewhere.relative_to(out_dir)}/"
    raise Wrong(
        f"found parquet files in {where}, not in {FOLDER}/ of out_dir ({out_dir}).",
        f'Write to the folder `out_dir / "{FOLDER}"` (pass it as a string).',
    )


def _check_layout(files: list[Path], target: Path) -> dict[Path, tuple[str, str]]:
    """Each file's hive folder ``(column, value)``: one folder deep, named after `stars`."""
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
    return partitions


def _check_folders(files: list[dict]) -> tuple[dict[str, int], dict[int, str]]:
    """Rows per folder, and the folder of each review: every review once, in the folder of its stars."""
    expected = expected_complaints()
    seen: dict[int, str] = {}
    per_folder: dict[str, int] = {}
    for file in files:
        value, columns = str(file["value"]), file["columns"]
        lacking = [c for c in ("id", "text", FLAG) if c not in columns]
        if lacking:
            raise Wrong(
                f"the parquet files have no `{lacking[0]}` column (they have {list(columns)}).",
                "Write the Dataset of exercise 2, with all its columns.",
            )
        folder = f"{PARTITION}={value}"
        per_folder[folder] = per_folder.get(folder, 0) + len(file["ids"])
        for row_id in (int(i) for i in file["ids"]):
            if row_id in seen:
                raise Wrong(f"review {row_id} is written twice.", RERUN)
            seen[row_id] = value
            want = expected.get(row_id)
            if want is not None and value != str(want["stars"]):
                raise Wrong(
                    f"review {row_id} has {want['stars']} star(s) but sits in {folder}/.",
                    f"Let the writer build the folders from the `{PARTITION}` column.",
                )
    return per_folder, seen


def _check_all_complaints(seen: dict[int, str]) -> None:
    expected = expected_complaints()
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


# Stretch -----------------------------------------------------------------------------------------


def _same(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(abs(got[k] - want[k]) < 1e-6 for k in want)


NOT_GROUPED = Wrong(
    "`per_pet` was not grouped by Ray Data: its plan has no groupby and aggregation.",
    "Group the `reviews` Dataset with its own `groupby`, then aggregate: the rows stay in Ray, not in pandas.",
)


def _judge_stretch(seen, seed=None) -> str:
    if "Aggregate" not in seen["kinds"]:
        raise Wrong(NOT_GROUPED.problem, NOT_GROUPED.hint)
    got = _means(seen["rows"])
    table = review_table()
    stars = table.groupby("pet")["stars"]
    want = {k: float(v) for k, v in stars.mean().items()}
    if not _same(got, want):
        _explain_means(got, want, table)
    top = max(want, key=lambda k: (want[k], k))
    return f"{len(want)} pets; the happiest owners have a {top} ({want[top]:.2f} stars on average)."


@exercise("Stretch · the happiest pets", judge=_judge_stretch)
def stretch(per_pet):
    """`per_pet`: a Dataset grouped by Ray Data, one row per pet of all reviews, with the mean number of stars."""
    require("per_pet", per_pet, "a Dataset with one row per `pet` and the mean of its reviews' stars")
    require_dataset(
        "per_pet", per_pet, "Group `reviews` by a column, then aggregate each group: the result is a Dataset."
    )
    kinds = plan_kinds(per_pet)
    if "Aggregate" not in kinds:
        raise Wrong(NOT_GROUPED.problem, NOT_GROUPED.hint)
    return {"kinds": kinds, "rows": run_dataset("per_pet", per_pet, RUN_HINT.format(name="per_pet"))}


def _means(rows: list[dict]) -> dict:
    """pet -> the number of its row: one row per pet, `pet` and one column of numbers."""
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
        got[row["pet"]] = as_number(row[values[0]])
        if got[row["pet"]] is None:
            raise Wrong(
                f"`per_pet` holds {row[values[0]]!r} for {row['pet']!r}, not a number.",
                "Aggregate the `stars` column, a number per review.",
            )
    return got


def _explain_means(got: dict, want: dict, table) -> None:
    stars = table.groupby("pet")["stars"]
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
