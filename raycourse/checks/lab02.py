"""Checks for lab 02 (joins and prompts): animals without an outfit, a prompt for every animal.

The expected answers are computed from the course's animals and outfits tables (read
with pandas), so the checks stay right if the sample data changes. The checks never
depend on row order: join output comes back in no particular order.

Both checks accept a Ray ``Dataset`` (the intended answer), and also a pandas
``DataFrame``, a list of row dicts (``ds.take_all()``) or a batch dict of columns.
"""

from __future__ import annotations

import math
import re

from ._core import Wrong, exercise, progress_of, require

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

JOINER = " wearing a "
# What a missing value turns into when it is pasted into a string by accident.
_MISSING_TEXT = re.compile(r"(?<![A-Za-z<])(None|nan|NaN|<NA>|NA|null|NULL)(?![A-Za-z>])")


# Expected answers ------------------------------------------------------------------------------

def _tables():
    import pandas as pd

    import raycourse

    return pd.read_csv(raycourse.data_path("animals")), pd.read_csv(raycourse.data_path("outfits"))


def expected_no_outfit() -> dict[int, str]:
    """id -> animal text for every animal whose id has no row in the outfits table."""
    animals, outfits = _tables()
    have = set(outfits["id"].astype(int))
    return {int(r.id): r.animal for r in animals.itertuples() if int(r.id) not in have}


def expected_prompts() -> dict[int, str]:
    """id -> prompt for every animal: "<animal> wearing a <outfit>", or the animal text unchanged."""
    animals, outfits = _tables()
    outfit = {int(r.id): r.outfit for r in outfits.itertuples()}
    return {int(r.id): (r.animal + JOINER + outfit[int(r.id)]) if int(r.id) in outfit else r.animal
            for r in animals.itertuples()}


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


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _error_line(exc: Exception) -> str:
    """The learner's own error (``TypeError: ...``) out of the Ray exception that wraps it."""
    lines = [_ERROR_LINE.match(line.strip()) for line in _ANSI.sub("", str(exc)).splitlines()]
    own = [m for m in lines if m and not m.group(1).startswith("ray.")]
    if own:
        return f"{own[-1].group(1)}: {own[-1].group(2)[:200]}"
    return f"{type(exc).__name__}: {_ANSI.sub('', str(exc)).strip().splitlines()[-1][:200] if str(exc).strip() else ''}"


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _frame(name: str, value, what: str):
    """The answer as a pandas DataFrame, whatever container holds it."""
    import pandas as pd
    import ray.data

    require(name, value, what)
    if isinstance(value, ray.data.Dataset):
        try:
            return value.to_pandas()
        except Exception as exc:  # the learner's pipeline fails when it runs
            raise Wrong(f"running `{name}` failed: {_error_line(exc)}",
                        f"Run `{name}.take_batch(5)` in a cell of its own to see the whole error. After a "
                        "left outer join, some rows have no outfit (None): does your code handle them?") from None
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if isinstance(value, list) and all(isinstance(row, dict) for row in value):
        return pd.DataFrame(value)
    if isinstance(value, dict):  # a batch: {column: array}
        try:
            return pd.DataFrame({k: list(v) for k, v in value.items()})
        except (TypeError, ValueError):
            pass
    raise Wrong(f"`{name}` is {_a(type(value).__name__)}; the check expects a Ray Dataset.",
                "Assign the Dataset itself (not its count or a list of ids); a DataFrame or the rows "
                "from `take_all()` work too.")


def _require_columns(name: str, df, columns: tuple[str, ...], hint: str) -> None:
    lacking = [c for c in columns if c not in df.columns]
    if lacking:
        listed = ", ".join(f"`{c}`" for c in lacking)
        raise Wrong(f"`{name}` has no {listed} column (its columns: {list(df.columns)}).", hint)


def _ids(name: str, df) -> list[int]:
    values = list(df["id"])
    if any(_missing(v) for v in values):
        raise Wrong(f"`{name}` has {sum(_missing(v) for v in values)} row(s) with a missing `id`.",
                    "Which dataset did you call `join` on? Every row here should be an animal.")
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise Wrong(f"the `id` column of `{name}` does not hold whole numbers.",
                    "Keep the `id` column as the join produced it.") from None


def _no_duplicates(name: str, ids: list[int]) -> None:
    seen, dup = set(), set()
    for i in ids:
        (dup if i in seen else seen).add(i)
    if dup:
        raise Wrong(f"`{name}` has {len(ids) - len(seen)} duplicate row(s) (ids {sorted(dup)[:3]}).",
                    "Each animal should appear once: join once, and do not union a dataset with itself.")


def _preview(ids) -> str:
    ids = sorted(ids)
    return str(ids) if len(ids) <= 6 else f"[{', '.join(map(str, ids[:5]))}, ...]"


# Exercise 1 -------------------------------------------------------------------------------------

@exercise("Exercise 1")
def exercise_1(no_outfit):
    """`no_outfit`: the animals (id, animal) that have no outfit, found with a left outer join."""
    df = _frame("no_outfit", no_outfit, "a Dataset of the animals that have no outfit")
    if len(df) == 0:
        raise Wrong("`no_outfit` is empty.",
                    "Look at `take_all()` of your joined dataset: how does a missing outfit look there?")
    _require_columns("no_outfit", df, ("id", "animal"),
                     "Keep the animals' columns `id` and `animal` from the join.")
    ids = _ids("no_outfit", df)
    _no_duplicates("no_outfit", ids)
    expected = expected_no_outfit()
    animals, _ = _tables()
    all_ids = set(animals["id"].astype(int))
    got = set(ids)
    if got == all_ids - set(expected) and got:
        raise Wrong(f"`no_outfit` holds the {len(got)} animals that DO have an outfit.",
                    "You kept the rows where the join found a partner; the question is about the others.")
    if got == all_ids:
        raise Wrong(f"`no_outfit` holds all {len(got)} animals.",
                    "A left outer join keeps every animal; after it, keep only the rows whose outfit is missing.")
    strangers = got - all_ids
    if strangers:
        raise Wrong(f"`no_outfit` holds id(s) {_preview(strangers)}, which are not animals "
                    "(outfits without an animal).",
                    "Call `join` on `animals` (the left side) with `outfits` as the other dataset.")
    extra, lacking = got - set(expected), set(expected) - got
    if extra:
        raise Wrong(f"`no_outfit` holds {len(extra)} animal(s) that do have an outfit (ids {_preview(extra)}).",
                    "Keep only the rows where the join found no outfit.")
    if lacking:
        raise Wrong(f"`no_outfit` misses {len(lacking)} animal(s) without an outfit (ids {_preview(lacking)}).",
                    "Keep every row where the joined outfit is missing.")
    text = dict(zip(ids, df["animal"]))
    bad = sorted(i for i in expected if text[i] != expected[i])
    if bad:
        raise Wrong(f"the `animal` text of id {bad[0]} is {text[bad[0]]!r}, not {expected[bad[0]]!r}.",
                    "Keep the animal text as the animals table has it.")
    return f"{len(ids)} animals have no outfit: ids {sorted(ids)}."


# Exercise 2 -------------------------------------------------------------------------------------

@exercise("Exercise 2")
def exercise_2(prompts):
    """`prompts`: one row per animal with a `prompt` column (outfit added where there is one)."""
    df = _frame("prompts", prompts, "a Dataset with a `prompt` for every animal")
    if len(df) == 0:
        raise Wrong("`prompts` is empty.", "Every animal needs a prompt: start from a join that keeps them all.")
    _require_columns("prompts", df, ("prompt",),
                     "Add the column in a function that you pass to `map_batches`.")
    _require_columns("prompts", df, ("id",),
                     "Keep the `id` column from the join: the check matches each prompt to its animal by id.")
    ids = _ids("prompts", df)
    expected = expected_prompts()
    no_outfit = expected_no_outfit()
    with_outfit = set(expected) - set(no_outfit)
    if set(ids) == with_outfit and len(ids) == len(with_outfit):
        raise Wrong(f"`prompts` has {len(ids)} rows, only the animals with an outfit; "
                    f"every one of the {len(expected)} animals needs a prompt.",
                    "An inner join drops the animals without a partner. Which join keeps every animal?")
    strangers = set(ids) - set(expected)
    if strangers:
        raise Wrong(f"`prompts` holds id(s) {_preview(strangers)}, which are not animals "
                    "(outfits without an animal).",
                    "Keep every animal, and only animals: join `animals` (left) with `outfits`.")
    _no_duplicates("prompts", ids)
    lacking = set(expected) - set(ids)
    if lacking:
        raise Wrong(f"`prompts` has {len(ids)} rows; it misses {len(lacking)} animal(s) (ids {_preview(lacking)}).",
                    f"Every one of the {len(expected)} animals needs a prompt: which join keeps them all?")

    got = dict(zip(ids, df["prompt"]))
    empty = sorted(i for i, p in got.items() if _missing(p))
    if empty:
        raise Wrong(f"{len(empty)} row(s) have no prompt (a missing value), e.g. id {empty[0]}.",
                    "Where the join found no outfit, the outfit is missing (None, or <NA> in pandas), and "
                    "so is anything you add it to. Decide what those rows get.")
    not_text = sorted(i for i, p in got.items() if not isinstance(p, str))
    if not_text:
        raise Wrong(f"the prompt of id {not_text[0]} is {_a(type(got[not_text[0]]).__name__)}, not a string.",
                    "Build the prompt from the text columns `animal` and `outfit`.")
    blank = sorted(i for i, p in got.items() if not p.strip())
    if blank:
        raise Wrong(f"{len(blank)} prompt(s) are empty strings, e.g. id {blank[0]}.",
                    "Every animal needs a prompt; at the least, its animal text.")
    outfit = _outfit_of()
    leaked = sorted(i for i, p in got.items()
                    if _MISSING_TEXT.search(p) and not _MISSING_TEXT.search(expected[i]))
    if leaked:
        word = _MISSING_TEXT.search(got[leaked[0]]).group(1)
        raise Wrong(f"the prompt of id {leaked[0]} contains {word!r}: {got[leaked[0]]!r}.",
                    "A missing outfit was turned into text. Treat the rows without an outfit on their own.")
    for i in sorted(with_outfit):
        p = got[i].strip()
        if outfit[i] not in p:
            raise Wrong(f"the prompt of id {i} does not mention its outfit {outfit[i]!r}: {got[i]!r}.",
                        "Where an animal has an outfit, the prompt is the animal text, ' wearing a ', "
                        "then the outfit.")
        if p != expected[i]:
            raise Wrong(f"the prompt of id {i} is {got[i]!r}; expected {expected[i]!r}.",
                        "Check the exact text between the animal and the outfit, and the spaces.")
    for i in sorted(no_outfit):
        if got[i].strip() != expected[i]:
            raise Wrong(f"the prompt of id {i}, an animal without an outfit, is {got[i]!r}; it should be its "
                        f"animal text unchanged, {expected[i]!r}.",
                        "Rows without an outfit keep the animal text as it is: no ' wearing a ' and no "
                        "stand-in outfit.")
    return (f"{len(ids)} prompts: {len(with_outfit)} with an outfit, "
            f"{len(no_outfit)} animals without one kept as they are.")


# Stretch ---------------------------------------------------------------------------------------------

def expected_unworn() -> dict[int, str]:
    """id -> outfit for every outfit whose id has no animal."""
    animals, outfits = _tables()
    have = set(animals["id"].astype(int))
    return {int(r.id): r.outfit for r in outfits.itertuples() if int(r.id) not in have}


@exercise("Stretch · outfits nobody wears")
def stretch(unworn):
    """`unworn`: the outfits whose id matches no animal, with the columns `id` and `outfit`."""
    df = _frame("unworn", unworn, "a Dataset of the outfits that no animal wears")
    _require_columns("unworn", df, ("id",), "Keep the key `id` of each outfit.")
    ids = _ids("unworn", df)
    _no_duplicates("unworn", ids)
    expected = expected_unworn()
    if set(ids) == set(expected_no_outfit()):
        raise Wrong("`unworn` holds the animals without an outfit (exercise 1), not the outfits without an animal.",
                    "Which table is on the left decides whose rows an anti join keeps.")
    if set(ids) != set(expected):
        extra, lacking = set(ids) - set(expected), set(expected) - set(ids)
        problem = (f"`unworn` has the outfit(s) {_preview(extra)}, which an animal wears" if extra
                   else f"`unworn` misses the outfit(s) {_preview(lacking)}, which no animal wears")
        raise Wrong(f"{problem}.", "Keep exactly the outfits whose `id` has no row in `animals`.")
    _require_columns("unworn", df, ("outfit",), "Keep the outfit's text, the `outfit` column.")
    texts = {int(i): t for i, t in zip(df["id"], df["outfit"])}
    if texts != expected:
        raise Wrong("the `outfit` text of `unworn` differs from the outfits table.",
                    "Keep the outfits' own rows: an anti join adds no columns from the other side.")
    return f"{len(expected)} outfits nobody wears: {', '.join(sorted(expected.values()))}."
