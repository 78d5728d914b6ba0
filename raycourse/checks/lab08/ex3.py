"""Lab 08, exercise 3: the good rows and the quarantine, the learner's ``RULES`` on ratings of the check's own, and
the learner's ``validate`` on small tables of the check's own, both made from the seed. By the text's requirements
(R1-R8 of its check tests):

- R1 ``good_ratings`` a Dataset of the ratings' rows, R6 the bad rows quarantined with their reason: the sample's 48
  ratings against the rule, and the quarantine folder's newest write (Ray's write_json adds files beside an earlier
  run's; those are named, not judged);
- R2-R5 (probe) ``RULES``, expressions true where a row breaks the rule (a product of the catalogue, a comment of at
  most 120 characters, every missing value named): :mod:`.ex3_rules`, on the edges the sample cannot show;
- R7 (probe) the given ``validate`` run as it is: it quarantines, raises for too many bad rows and for a row neither
  good nor quarantined (:func:`validate_probes`);
- R8 at most 20 % bad rows: not judged; the share the learner passed is not seen, and any from 5/48 up gives the
  same rows."""

from __future__ import annotations

import random
from pathlib import Path

from .._core import Wrong, exercise, require
from ..toolkit import error_line, require_dataset, rows_of
from ._common import _elsewhere
from .ex3_rules import MAX_COMMENT, check_rules, observe_rules


def _rule_breakers(frame, catalogue: set) -> dict:
    """Each rating id that breaks lab 08's rule, with why."""
    import pandas as pd

    broken = {}
    for row in frame.itertuples():
        reasons = []
        if pd.isna(row.product_id):
            reasons.append("no product")
        elif int(row.product_id) not in catalogue:
            reasons.append(f"product {int(row.product_id)} is not in the catalogue")
        if not isinstance(row.text, str):
            reasons.append("no comment")
        elif len(row.text) > MAX_COMMENT:
            reasons.append(f"a comment of {len(row.text)} characters")
        if reasons:
            broken[int(row.id)] = "; ".join(reasons)
    return broken


def _plain_id(value):
    """An id as the judge reads it: a whole number as an int, anything else (a missing one) as its text."""
    try:
        return int(value) if float(value).is_integer() else str(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _write_of(path: Path) -> str:
    """Which write made a file: Ray names a write's files ``{dataset}_{write}_{task:06}.json``, so its name less the
    task's number (the folder included); a file named otherwise is a write of its own."""
    stem = path.name.split(".", 1)[0]
    head, _, task = stem.rpartition("_")
    return str(path.parent / (head if head and task.isdigit() else stem))


def _newest_write(files: list[Path]) -> tuple[list[Path], int]:
    """The files of the newest write among ``files`` (Ray's write_json adds files beside an earlier run's), and how
    many files earlier writes left."""
    writes: dict[str, list[Path]] = {}
    for path in files:
        writes.setdefault(_write_of(path), []).append(path)
    newest = max(writes.values(), key=lambda group: max(p.stat().st_mtime_ns for p in group))
    return newest, len(files) - len(newest)


def _quarantined(folder: Path) -> dict:
    """What the newest write of the quarantine folder holds: how many JSON files, their rows' id and reason (text,
    else None), and how many files earlier writes left there; where none: where files like them went."""
    import pandas as pd

    files = sorted(p for p in Path(folder).rglob("*.json*") if p.is_file()) if Path(folder).is_dir() else []
    if not files:
        return {"folder": str(folder), "files": 0, "elsewhere": _elsewhere(folder, "*.json*")}
    files, earlier = _newest_write(files)
    table = pd.concat([pd.read_json(p, lines=True) for p in files], ignore_index=True)
    reasons = table["reason"] if "reason" in table.columns else [None] * len(table)
    return {
        "folder": str(folder),
        "files": len(files),
        "earlier_files": earlier,
        "columns": [str(c) for c in table.columns],
        "rows": [
            {"id": _plain_id(i), "reason": r if isinstance(r, str) else None}
            for i, r in zip(table["id"] if "id" in table.columns else [None] * len(table), reasons)
        ],
    }


def _check_good_rows(kept: set, breakers: dict, ids: set) -> None:
    """No rating that breaks the rule among the good ones, and no good one lost."""
    let_through = sorted(kept & set(breakers))
    if let_through:
        raise Wrong(
            f"{len(let_through)} rating(s) that break the rule are among the good ones: "
            + "; ".join(f"id {i} ({breakers[i]})" for i in let_through[:3])
            + ".",
            "Every rule is an expression true where a row breaks it: is_null() for a missing value, "
            "not_in(CATALOGUE) for an unknown product, str.len() > 120 for a long comment.",
        )
    lost = sorted(ids - set(breakers) - kept)
    if lost:
        raise Wrong(
            f"{len(lost)} good rating(s) are missing from `good_ratings` (ids {lost[:5]}).",
            "A rule catches more than it should: check its comparison (at most 120 characters is fine).",
        )


def _check_quarantine(quarantine: dict, breakers: dict) -> None:
    """Every rating that breaks the rule is in the quarantine with a reason, and no other."""
    if quarantine["files"] == 0:
        raise Wrong(
            f"nothing was written to {quarantine['folder']}.{quarantine['elsewhere']}",
            'Pass out_dir / "quarantine" to validate(...): it writes the bad rows there with their reason.',
        )
    if "reason" not in quarantine["columns"]:
        raise Wrong(
            "the quarantined rows have no `reason` column.", "Keep the reason: with_column('reason', lit(...))."
        )
    reasons: dict = {}
    for row in quarantine["rows"]:
        reason = row["reason"]
        reasons.setdefault(row["id"], []).extend([reason] if isinstance(reason, str) and reason.strip() else [])
    quarantined = {int(i) for i in reasons}  # an id that is not a whole number: the judge cannot read it
    missing = sorted(set(breakers) - quarantined)
    if missing:
        raise Wrong(
            f"rating(s) {missing} break the rule and are not in the quarantine: they were dropped silently.",
            "Give every way a row can break the rule its own rule, missing values included.",
        )
    unexplained = sorted(int(i) for i, r in reasons.items() if not r)
    if unexplained:
        raise Wrong(f"quarantined rating(s) {unexplained} have no reason.", "Name each rule: RULES = {'reason': expr}.")
    wrongly = sorted(quarantined - set(breakers))
    if wrongly:
        raise Wrong(f"good rating(s) {wrongly[:5]} are in the quarantine.", "Check each rule's comparison.")


GIVEN_HINT = (
    "Run `validate` as the lab gives it: copy its cell from the lab again, unchanged, run it, then your RULES cell."
)


def validate_probes(seed) -> dict:
    """The tables the check hands `validate`, made from ``seed`` (columns ``id``, ``x``; two rules: x > 10, x < 0):
    ten rows with their ids, two of which break a rule (``bad``: one over 10, one negative), and the same ids with
    every x good but one missing (``with_null``: neither true nor false for a rule)."""
    rng = random.Random(int(seed or 0))
    ids = sorted(rng.sample(range(100, 1000), 10))
    xs = [rng.randint(0, 10) for _ in ids]
    over, negative = rng.sample(range(len(ids)), 2)
    xs[over], xs[negative] = rng.randint(11, 99), -rng.randint(1, 99)
    with_null = [rng.randint(0, 10) for _ in ids]
    with_null[rng.randrange(len(ids))] = None
    return {"ids": ids, "xs": xs, "bad": sorted((ids[over], ids[negative])), "with_null": with_null}


PROBE_RUNS = (  # (the table: "xs" or "with_null", max_bad_share, what it is, in words)
    ("xs", 0.2, "2 bad rows of 10 at max_bad_share=0.2"),
    ("xs", 0.1, "2 bad rows of 10 at max_bad_share=0.1"),
    ("with_null", 0.5, "a row no rule names (x missing: neither good nor quarantined)"),
)


def _probe(validate, ids: list, xs: list, max_bad_share: float) -> dict:
    """``validate`` run on a table of the check's own: what it raised (its exception's classes and line), or the ids
    it returned as good (None: not a Dataset) and the ids it quarantined."""
    import tempfile

    import pandas as pd
    import ray
    from ray.data.expressions import col

    table = ray.data.from_items([{"id": i, "x": x} for i, x in zip(ids, xs)])
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        try:
            answer = validate(
                table,
                {"x over 10": col("x") > 10, "x negative": col("x") < 0},
                Path(folder),
                max_bad_share=max_bad_share,
            )
        except Exception as error:  # noqa: BLE001 (the given validate raises ValueError; the judge tells the rest)
            return {"raised": [c.__name__ for c in type(error).__mro__], "line": error_line(error)}
        files = sorted(Path(folder).rglob("*.json*"))
        written = pd.concat([pd.read_json(p, lines=True) for p in files]) if files else pd.DataFrame()
        quarantined = sorted(map(int, written.get("id", [])))
    good = answer[0] if isinstance(answer, tuple) and answer else answer
    is_dataset = isinstance(good, ray.data.Dataset)
    kept = sorted(map(int, rows_of(good, "validate(...)", GIVEN_HINT)["id"])) if is_dataset else None
    return {"raised": None, "kept": kept, "quarantined": quarantined}


def _observe_validate(validate, seed) -> list[dict] | None:
    if not callable(validate):
        return None
    probes = validate_probes(seed)
    return [_probe(validate, probes["ids"], probes[table], share) for table, share, _ in PROBE_RUNS]


def _check_given_validate(runs, seed) -> None:
    """The given validate, run as it is: it quarantines up to max_bad_share, raises above it, and raises for a row
    that no rule catches and no rule lets through (a missing value: x > 10 is neither true nor false)."""
    if runs is None:
        raise Wrong(
            "the check got no `validate` function.",
            'Run the check cell as given: check.exercise_3(good_ratings, out_dir / "quarantine", validate, RULES).',
        )
    if len(runs) != len(PROBE_RUNS):
        raise Wrong(f"the check saw {len(runs)} runs of `validate`, not {len(PROBE_RUNS)}.", GIVEN_HINT)
    probes = validate_probes(seed)
    first = runs[0]
    if first["raised"] is not None:
        raise Wrong(
            f"your `validate` raised for {PROBE_RUNS[0][2]}, where the given one returns them "
            f"quarantined: {first['line']}",
            GIVEN_HINT,
        )
    good = [i for i in probes["ids"] if i not in probes["bad"]]
    if first["kept"] != good or first["quarantined"] != probes["bad"]:
        raise Wrong(
            f"your `validate` kept {first['kept']} and quarantined {first['quarantined']} of a table whose rows "
            f"{probes['bad']} break the rule: the given one returns the other 8 and writes those 2 to "
            "quarantine_dir (rows dropped, not quarantined?).",
            GIVEN_HINT,
        )
    for run, (_, _, what) in zip(runs[1:], PROBE_RUNS[1:]):
        if run["raised"] is None or "ValueError" not in run["raised"]:
            got = f"raised {run['line']}" if run["raised"] is not None else "let it through"
            raise Wrong(f"your `validate` {got} for {what}, where the given one raises ValueError.", GIVEN_HINT)


def _catalogue() -> set:
    """The catalogue's product ids (outfits.csv's ``id``)."""
    import pandas as pd

    from ...data import data_path

    return {int(i) for i in pd.read_csv(data_path("outfits"))["id"]}


def _judge_3(seen, seed=None) -> str:
    import pandas as pd

    from ...data import data_path

    ratings = pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})
    catalogue = _catalogue()
    breakers = _rule_breakers(ratings, catalogue)
    if "id" not in seen["good_columns"]:
        raise Wrong(
            "`good_ratings` has no `id` column.", "Keep the ratings' own columns: validate returns ds.filter(...)."
        )
    kept = {int(i) for i in seen["good_ids"]}
    _check_good_rows(kept, breakers, set(ratings["id"]))
    _check_quarantine(seen["quarantine"], breakers)
    check_rules(seen["rules"], seed, catalogue)
    _check_given_validate(seen["validate"], seed)
    earlier = seen["quarantine"].get("earlier_files") or 0
    return (
        f"{len(kept)} good ratings go on; the {len(breakers)} that break the rule are quarantined, each with its "
        "reason, by the given `validate`; your RULES sort the check's own ratings right"
        + (
            f" (the quarantine folder also holds {earlier} file(s) of an earlier run of validate, not judged: "
            "empty it to keep only this run's)."
            if earlier
            else "."
        )
    )


@exercise("Exercise 3 · a validation rule for the ratings", judge=_judge_3)
def exercise_3(good_ratings, quarantine_dir, validate=None, rules=None, *, seed=None) -> dict:
    """Observes `good_ratings`' columns and ids, what the quarantine folder's newest write holds, what the learner's
    `rules` make of the seed's ratings (:func:`~.ex3_rules.rule_probes`) and what `validate` does with the seed's
    tables (:func:`validate_probes`)."""
    require("good_ratings", good_ratings, "the rows that break no rule, from validate(...)")
    require("validate", validate, "the lab's validate function, as it is given")
    require("RULES", rules, "a dict from each reason to an expression true where a row breaks it")
    require_dataset("good_ratings", good_ratings, "Keep what validate(...) returns: good_ratings, bad_ratings = ...")
    good = rows_of(good_ratings, "good_ratings", "Run validate's cell again and read its error.")
    columns = [str(c) for c in good.columns]
    return {
        "good_columns": columns,
        "good_ids": [int(i) for i in good["id"]] if "id" in columns else [],
        "quarantine": _quarantined(quarantine_dir),
        "rules": observe_rules(rules, seed, _catalogue()),
        "validate": _observe_validate(validate, seed),
    }
