"""Checks for lab 02 (joins and prompts): joins the lesson did not make.

The lesson joined the animals and the outfits on their shared `id`, one row to one row, and
handled the outfits missing on the right after a left outer join. The lab asks for:

* Exercise 1: every review with the `id` of its product, a join whose key has other names on
  the two sides (`product` in the reviews, `outfit` in the outfits), many rows to one, and
  whose two tables both have an `id` column that must not collide;
* Exercise 2: a prompt for every animal *and* every outfit, from a full outer join, where
  values are missing on either side (three kinds of prompt);
* the stretch: the reviews of the outfits that no animal wears, with joins only.

The expected answers are computed from the course's tables (read with pandas), so the checks
stay right if the sample data changes. The checks never depend on row order: join output
comes back in no particular order.

Every answer is a Ray ``Dataset``, as the text asks. After its rows, each check reads from the
Dataset's plan the steps the text names: a join (exercise 1), a join that keeps both sides and a
batch function (exercise 2), joins and no filter (the stretch). A materialized answer keeps no plan:
then Ray's stats name its steps (:mod:`.stats`), and the rows alone tell which sides its join kept.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` runs the learner's Dataset and
returns its rows and the kinds of its steps (:func:`_observe`); ``_judge_N`` decides from those alone (in the
grader's process when a notebook is graded).
"""

from __future__ import annotations

import math
import re

from ._core import Wrong, exercise, progress_of, require
from .stats import made_by, step_kinds
from .toolkit import error_line, join_types, plan_kinds, require_dataset, review_table

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

JOINER = " wearing a "
PRODUCT_PHOTO = "A product photo of a "
# What a missing value turns into when it is pasted into a string by accident.
_MISSING_TEXT = re.compile(r"(?<![A-Za-z<])(None|nan|NaN|<NA>|NA|null|NULL)(?![A-Za-z>])")


# Expected answers ------------------------------------------------------------------------------


def _tables():
    import pandas as pd

    import raycourse

    return pd.read_csv(raycourse.data_path("animals")), pd.read_csv(raycourse.data_path("outfits"))


def expected_product_ids() -> dict[int, int]:
    """review id -> the `id` of the outfit whose text is the review's `product`."""
    _, outfits = _tables()
    by_text = {r.outfit: int(r.id) for r in outfits.itertuples()}
    return {int(r.id): by_text[r.product] for r in review_table().itertuples() if r.product in by_text}


def expected_no_outfit() -> dict[int, str]:
    """id -> animal text for every animal whose id has no row in the outfits table."""
    animals, outfits = _tables()
    have = set(outfits["id"].astype(int))
    return {int(r.id): r.animal for r in animals.itertuples() if int(r.id) not in have}


def expected_unworn() -> dict[int, str]:
    """id -> outfit for every outfit whose id has no animal."""
    animals, outfits = _tables()
    have = set(animals["id"].astype(int))
    return {int(r.id): r.outfit for r in outfits.itertuples() if int(r.id) not in have}


def expected_prompts() -> dict[int, str]:
    """id -> prompt for every animal and every outfit: "<animal> wearing a <outfit>" where both exist, the
    animal text unchanged where it has no outfit, "A product photo of a <outfit>" where no animal wears it."""
    animals, outfits = _tables()
    outfit = {int(r.id): r.outfit for r in outfits.itertuples()}
    animal = {int(r.id): r.animal for r in animals.itertuples()}
    prompts = {}
    for i in sorted(set(outfit) | set(animal)):
        if i in animal and i in outfit:
            prompts[i] = animal[i] + JOINER + outfit[i]
        elif i in animal:
            prompts[i] = animal[i]
        else:
            prompts[i] = PRODUCT_PHOTO + outfit[i]
    return prompts


def _outfit_of() -> dict[int, str]:
    return {int(r.id): r.outfit for r in _tables()[1].itertuples()}


# Turning an answer into rows -------------------------------------------------------------------


def _missing(value) -> bool:
    """None, NaN or pandas' <NA>: what an outer join leaves where a partner row is missing."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _frame(name: str, value, what: str):
    """The answer, a Ray Dataset, run and turned into a pandas DataFrame; its own error in one line if it fails."""
    require(name, value, what)
    require_dataset(name, value, "Assign the Dataset itself (not its count, its rows or a pandas table).")
    try:
        return value.to_pandas()
    except Exception as exc:  # the learner's pipeline fails when it runs
        error = error_line(exc)
        if "suffixes" in error:
            raise Wrong(
                f"running `{name}` failed: {error}",
                "Both tables have a column of that name, and a joined row cannot hold two: give one "
                "of them another name before the join (or a suffix in the join).",
            ) from None
        raise Wrong(
            f"running `{name}` failed: {error}",
            f"Run `{name}.take_batch(5)` in a cell of its own to see the whole error. After an "
            "outer join, some rows miss the other side's columns (None): does your code handle "
            "them?",
        ) from None


def _observe(name: str, value, what: str) -> dict:
    """What a check sees of a Dataset answer: its columns and rows (a missing value as None), the types of its
    joins and the kinds of its steps, and for a materialized answer the operators its stats say made it."""
    df = _frame(name, value, what)
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return {
        "columns": [str(c) for c in df.columns],
        "rows": rows,
        "joins": join_types(value),
        "kinds": plan_kinds(value),
        "made_by": made_by(value),
    }


MATERIALIZED = "materialized"  # a join that Ray's stats name, of a type that only the rows can tell


def _kinds(seen: dict) -> list[str]:
    """The kinds of the answer's steps: from its plan, or (materialized) from its stats."""
    return step_kinds(seen["made_by"]) if seen.get("made_by") else seen["kinds"]


def _table(seen: dict):
    """The observed rows as a pandas DataFrame."""
    import pandas as pd

    return pd.DataFrame(seen["rows"], columns=seen["columns"], dtype=object)


def _require_columns(name: str, df, columns: tuple[str, ...], hint: str) -> None:
    lacking = [c for c in columns if c not in df.columns]
    if lacking:
        listed = ", ".join(f"`{c}`" for c in lacking)
        raise Wrong(f"`{name}` has no {listed} column (its columns: {list(df.columns)}).", hint)


def _ids(name: str, df, hint: str) -> list[int]:
    values = list(df["id"])
    if any(_missing(v) for v in values):
        raise Wrong(f"`{name}` has {sum(_missing(v) for v in values)} row(s) with a missing `id`.", hint)
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise Wrong(
            f"the `id` column of `{name}` does not hold whole numbers.", "Keep the `id` column as the join produced it."
        ) from None


def _no_duplicates(name: str, ids: list[int], hint: str) -> None:
    seen, dup = set(), set()
    for i in ids:
        (dup if i in seen else seen).add(i)
    if dup:
        raise Wrong(f"`{name}` has {len(ids) - len(seen)} duplicate row(s) (ids {sorted(dup)[:3]}).", hint)


def _preview(ids) -> str:
    ids = sorted(ids)
    return str(ids) if len(ids) <= 6 else f"[{', '.join(map(str, ids[:5]))}, ...]"


# Exercise 1 -------------------------------------------------------------------------------------

KEY_HINT = (
    "The review names its product in `product`, the outfits table in `outfit`: `join` takes the key "
    "columns of each side (`on=` and `right_on=`)."
)


def _judge_1(seen, seed=None) -> str:
    df = _table(seen)
    if len(df) == 0:
        raise Wrong("`reviewed` is empty: no review found its product.", KEY_HINT)
    _check_id_columns(df)
    ids = _check_every_review(df)
    _check_product_ids(dict(zip(ids, df["product_id"])))
    _check_review_columns("reviewed", df, "Keep each review's own columns: join `reviews` with the outfits.")
    _check_joined("reviewed", seen, "Match the reviews with the outfits with `join`, on the product's text.")
    expected = expected_product_ids()
    per_product = len(expected) / len(set(expected.values()))
    return (
        f"{len(ids)} reviews, each with the id of its product: {len(set(expected.values()))} products, "
        f"{per_product:.1f} reviews each on average."
    )


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(reviewed):
    """`reviewed`: every review (its own `id` and columns) with `product_id`, the `id` of its product in the
    outfits, made by a join."""
    return _observe("reviewed", reviewed, "a Dataset of every review with the `id` of its product as `product_id`")


def _check_id_columns(df) -> None:
    """The review's `id` kept as `id`, the outfit's as `product_id`."""
    outfit_ids = set(_outfit_of())
    if "product_id" not in df.columns:
        like = [c for c in df.columns if c != "id" and _outfit_like(df[c], outfit_ids)]
        if like:
            raise Wrong(
                f"`reviewed` has no `product_id` column; the outfits' `id` came out as `{like[0]}`.",
                "Name it `product_id`: rename the outfits' `id` before the join, or the suffixed column after it.",
            )
        if "id" in df.columns and _outfit_like(df["id"], outfit_ids):
            raise Wrong(
                "`reviewed` has no `product_id` column, and its `id` column holds the outfits' ids (several "
                "rows share one), not the reviews' ids.",
                "Keep the review's `id` as `id`; only the outfits' `id` gets another name, `product_id`.",
            )
        raise Wrong(
            f"`reviewed` has no `product_id` column (its columns: {list(df.columns)}).",
            "Bring the outfits' `id` into the join under the name `product_id`.",
        )
    if "id" not in df.columns:
        raise Wrong(
            f"`reviewed` has no `id` column (its columns: {list(df.columns)}): the review's own id is gone.",
            "Keep the review's `id` as `id`; only the outfits' `id` gets another name.",
        )


def _check_every_review(df) -> list[int]:
    """The ids of ``df``: every review once, and nothing else."""
    review_ids, outfit_ids = set(expected_product_ids()), set(_outfit_of())
    ids = _ids("reviewed", df, "Every row here should be a review: call `join` on `reviews`.")
    if not set(ids) <= review_ids | outfit_ids:
        raise Wrong(
            f"`reviewed` holds id(s) {_preview(set(ids) - review_ids)}, which are not reviews.",
            "Call `join` on `reviews` (the left side), so that each row is one review.",
        )
    if set(ids) <= outfit_ids and len(set(ids)) < len(ids):
        raise Wrong(
            "the `id` column holds the outfits' ids (several rows share one), not the reviews' ids.",
            "Keep the review's `id` as `id`; only the outfits' `id` gets another name, `product_id`.",
        )
    _no_duplicates("reviewed", ids, "Each review should appear once: join once, on the product.")
    lacking = review_ids - set(ids)
    if len(ids) == len(outfit_ids) and lacking:
        raise Wrong(
            f"`reviewed` has {len(ids)} rows, one per outfit; every one of the {len(review_ids)} reviews needs its "
            "row.",
            "Each outfit has several reviews: call `join` on `reviews`, so that every review keeps its row.",
        )
    if lacking:
        raise Wrong(f"`reviewed` misses {len(lacking)} review(s) (ids {_preview(lacking)}).", KEY_HINT)
    return ids


def _check_product_ids(got: dict) -> None:
    expected = expected_product_ids()
    bad = sorted(i for i in expected if _missing(got[i]) or _whole(got[i]) != expected[i])
    if bad:
        i = bad[0]
        raise Wrong(
            f"review {i} has the `product_id` {got[i]!r}, but its product is the outfit {expected[i]}.",
            "Match the review's `product` with the outfit's `outfit` text, and take that outfit's `id`.",
        )


def _check_review_columns(name: str, df, hint: str) -> None:
    """Every column of the reviews file kept, under its own name."""
    lacking = [c for c in review_table().columns if c not in df.columns]
    if lacking:
        raise Wrong(f"`{name}` lacks the reviews' own column(s) {lacking} (its columns: {list(df.columns)}).", hint)


def _check_joined(name: str, seen: dict, hint: str) -> list[str]:
    """The join types of the answer's plan (``seen``: :func:`_observe`); :class:`Wrong` when it has none (rows
    matched elsewhere, or materialized)."""
    types = list(seen["joins"])
    if not types and "Join" in _kinds(seen):
        return [MATERIALIZED]
    if not types:
        gone = " (nor do the stats of the materialized Dataset name one)" if seen.get("made_by") is not None else ""
        raise Wrong(f"`{name}` was not made by a join: its plan has no `join`{gone}.", hint)
    return types


def _outfit_like(column, outfit_ids: set[int]) -> bool:
    """True for a column of outfits' ids: whole numbers, all outfit ids, several rows sharing one."""
    values = [_whole(v) for v in column]
    return bool(values) and all(v in outfit_ids for v in values) and len(set(values)) < len(values)


def _whole(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


# Exercise 2 -------------------------------------------------------------------------------------


def _judge_2(seen, seed=None) -> str:
    df = _table(seen)
    if len(df) == 0:
        raise Wrong("`prompts` is empty.", "Start from a join that keeps every animal and every outfit.")
    _require_columns("prompts", df, ("prompt",), "Add the column in a function that you pass to `map_batches`.")
    _require_columns(
        "prompts", df, ("id",), "Keep the `id` column from the join: the check matches each prompt to its row by id."
    )
    ids = _check_every_id(df)
    got = _check_prompt_text(dict(zip(ids, df["prompt"])))
    _check_three_kinds(got)
    _check_prompt_steps(seen)
    expected, no_outfit, unworn = expected_prompts(), expected_no_outfit(), expected_unworn()
    both = len(expected) - len(no_outfit) - len(unworn)
    return (
        f"{len(ids)} prompts: {both} animals in their outfit, {len(no_outfit)} animals without one, "
        f"{len(unworn)} product photos."
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(prompts):
    """`prompts`: one row per animal and per outfit with a `prompt` column (three kinds of prompt), from a join that
    keeps both sides' rows and a batch function."""
    return _observe("prompts", prompts, "a Dataset with a `prompt` for every animal and every outfit")


def _check_every_id(df) -> list[int]:
    """One row per id of either table, and no other."""
    ids = _ids("prompts", df, "Keep the key `id`: the full outer join fills it in for both sides' rows.")
    expected, no_outfit, unworn = expected_prompts(), expected_no_outfit(), expected_unworn()
    _no_duplicates("prompts", ids, "Each id should appear once: join once, and do not union a dataset with itself.")
    lacking = set(expected) - set(ids)
    both_sides = "Which join keeps the rows of both sides, with or without a partner?"
    if lacking and lacking == set(unworn):
        raise Wrong(f"`prompts` misses the outfits that no animal wears (ids {_preview(lacking)}).", both_sides)
    if lacking and lacking == set(no_outfit):
        raise Wrong(f"`prompts` misses the animals without an outfit (ids {_preview(lacking)}).", both_sides)
    if lacking:
        raise Wrong(
            f"`prompts` has {len(ids)} rows; it misses {len(lacking)} of the {len(expected)} ids "
            f"(ids {_preview(lacking)}).",
            "Every animal and every outfit needs a prompt: which join keeps them all?",
        )
    strangers = set(ids) - set(expected)
    if strangers:
        raise Wrong(
            f"`prompts` holds id(s) {_preview(strangers)}, which are neither animals nor outfits.",
            "Join `animals` with `outfits` on `id`.",
        )
    return ids


def _check_prompt_text(got: dict) -> dict[int, str]:
    """Every prompt a non-empty string with no missing value pasted into it."""
    expected = expected_prompts()
    empty = sorted(i for i, p in got.items() if _missing(p))
    if empty:
        raise Wrong(
            f"{len(empty)} row(s) have no prompt (a missing value), e.g. id {empty[0]}.",
            "After a full outer join, the animal or the outfit is missing (None, or <NA> in pandas) on "
            "some rows, and so is anything you add it to. Decide what each kind of row gets.",
        )
    not_text = sorted(i for i, p in got.items() if not isinstance(p, str))
    if not_text:
        raise Wrong(
            f"the prompt of id {not_text[0]} is {_a(type(got[not_text[0]]).__name__)}, not a string.",
            "Build the prompt from the text columns `animal` and `outfit`.",
        )
    blank = sorted(i for i, p in got.items() if not p.strip())
    if blank:
        raise Wrong(
            f"{len(blank)} prompt(s) are empty strings, e.g. id {blank[0]}.",
            "Every row needs a prompt: its animal, its outfit, or both.",
        )
    leaked = sorted(i for i, p in got.items() if _MISSING_TEXT.search(p) and not _MISSING_TEXT.search(expected[i]))
    if leaked:
        word = _MISSING_TEXT.search(got[leaked[0]]).group(1)
        raise Wrong(
            f"the prompt of id {leaked[0]} contains {word!r}: {got[leaked[0]]!r}.",
            "A missing value was turned into text. Treat each kind of row on its own.",
        )
    return got


def _check_three_kinds(got: dict[int, str]) -> None:
    """The prompt of each kind of row: animal and outfit, animal alone, outfit alone."""
    expected, outfit, unworn = expected_prompts(), _outfit_of(), expected_unworn()
    for i in sorted(set(outfit) - set(unworn)):
        if outfit[i] not in got[i].strip():
            raise Wrong(
                f"the prompt of id {i} does not mention its outfit {outfit[i]!r}: {got[i]!r}.",
                "Where an animal has an outfit, the prompt is the animal text, ' wearing a ', then the outfit.",
            )
        if got[i].strip() != expected[i]:
            raise Wrong(
                f"the prompt of id {i} is {got[i]!r}; expected {expected[i]!r}.",
                "Check the exact text between the animal and the outfit, and the spaces.",
            )
    for i in sorted(expected_no_outfit()):
        if got[i].strip() != expected[i]:
            raise Wrong(
                f"the prompt of id {i}, an animal without an outfit, is {got[i]!r}; it should be its "
                f"animal text unchanged, {expected[i]!r}.",
                "Rows without an outfit keep the animal text as it is: no ' wearing a ' and no stand-in outfit.",
            )
    for i in sorted(unworn):
        if got[i].strip() != expected[i]:
            raise Wrong(
                f"the prompt of id {i}, an outfit that no animal wears, is {got[i]!r}; expected {expected[i]!r}.",
                f"Rows without an animal get {PRODUCT_PHOTO!r} followed by the outfit.",
            )


def _check_prompt_steps(seen: dict) -> None:
    """The steps the text names: a join that keeps both sides' rows, and `prompt` added by a batch function."""
    types = _check_joined("prompts", seen, "Start from a join of `animals` and `outfits` that keeps both sides.")
    if "full_outer" not in types and types != [MATERIALIZED]:  # materialized: the rows tell which sides it kept
        raise Wrong(
            f"`prompts` is built from {' and '.join(types)} join(s), not from one join that keeps the rows of both "
            "sides.",
            "Start from a single join that keeps every animal and every outfit, with or without a partner.",
        )
    kinds = _kinds(seen)
    if "MapBatches" not in kinds:
        how = "row by row (`map`)" if "MapRows" in kinds else "without a batch function (no `map_batches` step)"
        raise Wrong(
            f"`prompt` is added {how}, not by a function on whole columns.",
            "Add `prompt` in a function that works on whole columns (a batch), passed to `map_batches`.",
        )


# Stretch ---------------------------------------------------------------------------------------------


def expected_unworn_reviews() -> set[int]:
    """The ids of the reviews whose product is an outfit that no animal wears."""
    unworn = set(expected_unworn().values())
    return {int(r.id) for r in review_table().itertuples() if r.product in unworn}


ROW_STEPS = {"Filter": "a filter", "MapBatches": "a batch function", "MapRows": "a row `map`", "FlatMap": "a flat_map"}


def _judge_stretch(seen, seed=None) -> str:
    df = _table(seen)
    if len(df) == 0:
        raise Wrong(
            "`unworn_reviews` is empty.",
            "First the outfits that no animal wears (an anti join), then their reviews: the key has "
            "other names on the two sides.",
        )
    _require_columns(
        "unworn_reviews", df, ("id", "product", "text"), "Keep the reviews' own columns: `id`, `product`, `text`, ..."
    )
    ids = _ids("unworn_reviews", df, "Every row here should be a review: call the last `join` on `reviews`.")
    _no_duplicates("unworn_reviews", ids, "Each review should appear once.")
    expected = _check_unworn_ids(set(ids))
    _check_only_review_columns(df)
    _check_joins_only(seen)
    table = review_table()
    products = sorted(set(table[table["id"].isin(expected)]["product"]))
    return f"{len(expected)} reviews of the outfits nobody wears: {', '.join(products)}."


@exercise("Stretch · reviews of outfits nobody wears", judge=_judge_stretch)
def stretch(unworn_reviews):
    """`unworn_reviews`: the reviews (their own columns) of the outfits whose id matches no animal, by joins only."""
    return _observe("unworn_reviews", unworn_reviews, "a Dataset of the reviews of the outfits that no animal wears")


def _check_unworn_ids(ids: set[int]) -> set[int]:
    expected = expected_unworn_reviews()
    if ids == set(expected_product_ids()) - expected:
        raise Wrong(
            f"`unworn_reviews` holds the {len(ids)} reviews of the outfits that animals DO wear.",
            "An anti join keeps the rows without a partner, a semi join those with one: which one "
            "keeps the reviews whose product is among the unworn outfits?",
        )
    if ids != expected:
        extra, lacking = ids - expected, expected - ids
        problem = (
            f"`unworn_reviews` has the review(s) {_preview(extra)}, of outfits that an animal wears"
            if extra
            else f"`unworn_reviews` misses the review(s) {_preview(lacking)}, of outfits that no animal wears"
        )
        raise Wrong(f"{problem}.", "Keep exactly the reviews whose `product` is an outfit without an animal.")
    return expected


def _check_only_review_columns(df) -> None:
    """The reviews' own columns, and nothing else."""
    table = review_table()
    foreign = [c for c in df.columns if c not in table.columns]
    if foreign:
        raise Wrong(
            f"`unworn_reviews` has the column(s) {foreign}, which are not the reviews' own.",
            "A semi join keeps the left side's rows that have a partner and adds no column from the right side.",
        )
    _check_review_columns("unworn_reviews", df, "Keep every column of the reviews: a semi join drops none.")


def _check_joins_only(seen: dict) -> None:
    """Joins, and no step that chooses or changes rows some other way (the text: "joins only, no filter")."""
    _check_joined("unworn_reviews", seen, "Use joins: an anti join, then a semi join.")
    others = [ROW_STEPS[k] for k in _kinds(seen) if k in ROW_STEPS]
    if others:
        raise Wrong(
            f"`unworn_reviews` is right, but it is made with {others[0]} besides joins.",
            "The stretch asks for joins only: an anti join and a semi join choose the rows without a filter.",
        )
