"""Lab 01, exercise 2: the complaints kept and flagged, checked on probe rows made from the seed."""

from __future__ import annotations

import random

from .._core import Wrong, exercise, require
from ..toolkit import error_line, filter_kinds, plan_kinds, plan_source, replay, require_dataset, source_dataset
from ._common import COLUMNS, FLAG, MAX_STARS, RUN_HINT, _integer, _mentions, expected_complaints


def _truth(value):
    """``value`` as a bool when it is a truth value (bool, or the integers 0 and 1), else None."""
    import numbers

    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    return None


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
    try:  # run to its end once, never stopped early (toolkit.run_dataset says why)
        ran = complaints.materialize()
    except Exception as exc:  # the learner's steps fail
        raise Wrong(f"running `complaints` failed: {error_line(exc)}", _run_hint(exc)) from None
    columns = ran.columns()
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
    rows = ran.take_all()
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
