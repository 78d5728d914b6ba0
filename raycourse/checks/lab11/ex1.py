"""Exercise 1 · a table of stars per day, added to as days arrive.

The observer reads the learner's own table and inbox, then probes ``add_daily_stars`` in a folder of the check's
own: an inbox, a SQLite catalog and an empty summary table (the setup cell's columns and partition, under another
name). It copies days in three steps drawn from the seed (:func:`probe_steps`: two days, nothing new, one more day)
and calls the function after each, reading the table (snapshots, columns, rows) and what it returned; once the table
holds a day, the check takes that day's file away, so a function that reads it again fails. The judge holds every
step to the files' counts (read with pandas in its own process) and names the likely slip: days added again, a
snapshot per day or none, an overwrite, the notebook's inbox or table used instead of the arguments, other columns,
stars summed or pooled over days; then the learner's table to the days of the learner's inbox.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import COLUMNS, START_AGAIN, days_folder, make_table, read_table, shop_days, shown, true_rows

PROBE_TABLE = "probe.stars_per_day"  # not the lab's name: a function that ignores its `table` is seen
CALLS = (
    "the first run ({new} arrived, the table empty)",
    "the second run (nothing new)",
    "the third run ({new} arrived)",
)
ARGS_HINT = (
    "Inside the function use its arguments only: the folders of `inbox`, days_of(catalog_kwargs, table) and "
    "write_iceberg(table, catalog_kwargs=catalog_kwargs), not the notebook's inbox, CATALOG or TABLE."
)
ONE_WRITE = "Read every new day into one Dataset and call write_iceberg once: one commit, one snapshot per run."
ONLY_NEW = "Leave out the days the table holds: the inbox's day folders minus days_of(catalog_kwargs, table)."
COUNT_HINT = 'Count each group\'s rows: groupby(["day", "stars"]).aggregate(Count(alias_name="reviews")).'
DAY_HINT = "Take `day` from each file's folder: read_json(files, include_paths=True), then Path(path).parent.name."


def probe_steps(seed) -> list[list[str]]:
    """The days the check copies into its inbox before each of its three calls: two days, none, one more."""
    days = random.Random(int(seed or 0)).sample(shop_days(), 3)
    return [sorted(days[:2]), [], [days[2]]]


def _returned(value) -> list:
    """What the function returned, as plain data: ["days", [...]], ["none"] or ["other", its repr]."""
    if value is None:
        return ["none"]
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(day, str) for day in value):
        return ["days", sorted(value)]
    return ["other", repr(value)[:80]]


def _probe(add_daily_stars, seed) -> list[dict]:
    """Each of the three calls on the check's own inbox and table: what it returned or raised, and the table after."""
    from raycourse.outputs import output_root

    root = output_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".lab11-check-", dir=root))  # where every Ray worker can reach it
    try:
        inbox = folder / "inbox"
        inbox.mkdir()
        kwargs = make_table(folder, PROBE_TABLE)
        seen: list[dict] = []
        for days in probe_steps(seed):
            for day in days:
                shutil.copytree(days_folder() / day, inbox / day)
            step: dict = {"error": None, "returned": None}
            try:
                step["returned"] = _returned(add_daily_stars(inbox, dict(kwargs), PROBE_TABLE))
            except Exception as exc:  # noqa: BLE001 (the learner's error, named by the judge)
                step["error"] = error_line(exc, 300)
            try:
                step.update(read_table(kwargs, PROBE_TABLE))
            except Exception as exc:  # noqa: BLE001 (a table the function broke: the judge says so)
                step.update(snapshots=[], columns=[], rows=[], unreadable=error_line(exc))
            seen.append(step)
            if step["error"] or step.get("unreadable"):
                break
            for day in {str(row.get("day")) for row in step["rows"]} & {p.name for p in inbox.iterdir()}:
                (inbox / day / "reviews.jsonl").unlink(missing_ok=True)  # in the table now: not to be read again
        return seen
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _own(inbox, catalog_kwargs, table) -> dict:
    """The learner's inbox (its day folders) and table."""
    folder = Path(inbox)
    days = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else None
    try:
        return {"inbox": days, **read_table(catalog_kwargs, table)}
    except Exception as exc:  # noqa: BLE001 (a table that is not there: the judge says so)
        return {"inbox": days, "error": error_line(exc)}


def _snapshot_ids(catalog_kwargs, table) -> list | None:
    try:
        return [s[0] for s in read_table(catalog_kwargs, table)["snapshots"]]
    except Exception:  # noqa: BLE001
        return None


def _call(k: int, steps) -> str:
    return CALLS[k].format(new=shown(steps[k]))


def _check_error(line: str, call: str, held: list[str]) -> None:
    again = [day for day in held if day in line]
    if again and ("FileNotFound" in line or "No such file" in line or "does not exist" in line.lower()):
        raise Wrong(
            f"in {call}, your function read {again[0]} again, a day the table already held (the check takes a day's "
            f"file away once its table holds it): {line}",
            ONLY_NEW,
        )
    if "NoSuchTable" in line and PROBE_TABLE not in line:
        raise Wrong(f"in {call}, your function opened another table than the one it was given: {line}", ARGS_HINT)
    raise Wrong(
        f"in {call}, your function failed: {line}",
        "The check calls add_daily_stars(inbox, catalog_kwargs, table) with a folder and a table of its own: run "
        "yours in your notebook and fix its error. " + START_AGAIN,
    )


def check_columns(columns: list, where: str) -> None:
    """The table's columns are still day (text), stars and reviews (int64)."""
    names = [name for name, _ in columns]
    extra = [name for name in names if name not in dict(COLUMNS)]
    if extra:
        raise Wrong(
            f"{where}, the table has the column{'s' if len(extra) > 1 else ''} "
            f"{', '.join(f'`{n}`' for n in extra)} beside day, stars and reviews: write_iceberg adds what your "
            "Dataset has.",
            'Write exactly day, stars and reviews: name the count (Count(alias_name="reviews")), drop the rest. '
            + START_AGAIN,
        )
    for name, kind in columns:
        if kind != dict(COLUMNS)[name]:
            raise Wrong(
                f"{where}, the table's `{name}` holds {kind}, not {dict(COLUMNS)[name]}.",
                "day is text, stars and reviews whole numbers (int64). " + START_AGAIN,
            )


def _check_days(rows: list, inbox_days: list, elsewhere: list, call: str) -> None:
    found = {row.get("day") for row in rows}
    for name in ("day", "stars", "reviews"):
        if any(row.get(name) is None for row in rows):
            raise Wrong(f"after {call}, some rows of the table have no `{name}`.", COUNT_HINT + " " + DAY_HINT)
    extra = sorted(str(day) for day in found - set(inbox_days))
    if extra and set(extra) <= set(elsewhere):
        raise Wrong(
            f"after {call}, the check's table holds {shown(extra)}: days of your notebook's inbox, not of the "
            "folder the check gave your function.",
            ARGS_HINT,
        )
    if extra:
        raise Wrong(f"after {call}, the table's days include {extra[0]!r}; the inbox's are {inbox_days}.", DAY_HINT)


def _duplicates(rows: list) -> list[tuple]:
    keys = [(row["day"], row["stars"]) for row in rows]
    return sorted({key for key in keys if keys.count(key) > 1})


def _check_snapshots(added: int, new: list, rows: list, call: str) -> None:
    if not new and added:
        if _duplicates(rows):
            raise Wrong(f"{call} added days the table held again: it holds their rows twice.", ONLY_NEW)
        raise Wrong(f"{call} added a snapshot.", "When no day is new, return [] before you write anything.")
    if new and not added:
        raise Wrong(f"after {call}, the table it was given has no new snapshot: nothing was written to it.", ARGS_HINT)
    if added > 1:
        per = "per day" if added == len(new) else "per write"
        raise Wrong(f"{call} made {added} snapshots, one {per}, not one.", ONE_WRITE)


def _check_counts(rows: list, inbox_days: list, new: list, call: str) -> None:
    truth = true_rows(inbox_days)
    held = sorted(set(inbox_days) - set(new))
    lost = sorted(set(held) - {row["day"] for row in rows})
    if lost:
        raise Wrong(
            f"after {call}, the table lost {shown(lost)}: the write replaced what it held.",
            "Append (write_iceberg's default mode), never overwrite. " + START_AGAIN,
        )
    twice = _duplicates(rows)
    if twice:
        day, stars = twice[0]
        if day in held:
            raise Wrong(f"{call} added {day} again: the table holds its rows twice.", ONLY_NEW)
        raise Wrong(f"after {call}, the table holds more than one row for {day} and {stars} stars.", COUNT_HINT)
    mine = {(row["day"], row["stars"]): row["reviews"] for row in rows if row["reviews"] != 0}
    if mine == truth:
        return
    fresh = [key for key in truth if key[0] in new]
    pooled = {key: sum(n for (d, s), n in truth.items() if d in new and s == key[1]) for key in fresh}
    if len(new) > 1 and all(mine.get(key) == pooled[key] for key in fresh):
        raise Wrong(f"after {call}, each day's counts are those of {shown(new)} together.", COUNT_HINT)
    if all(mine.get(key) == key[1] * truth[key] for key in fresh):
        raise Wrong(
            f"after {call}, the table adds up the stars of each group: it does not count the reviews.", COUNT_HINT
        )
    if all(mine.get(key) == 1 for key in fresh):
        raise Wrong(f"after {call}, every (day, stars) row says 1 review.", COUNT_HINT)
    key = next(k for k in sorted(set(truth) | set(mine), key=str) if mine.get(k) != truth.get(k))
    said = "has no row" if key not in mine else f"says {mine[key]} reviews"
    raise Wrong(
        f"after {call}, the table {said} for {key[0]} and {key[1]} stars; the day's file has {truth.get(key, 0)}.",
        COUNT_HINT,
    )


def _check_returned(returned: list, new: list, call: str) -> None:
    if returned[0] == "days" and returned[1] == sorted(new):
        return
    said = {"none": "None", "days": str(returned[-1])}.get(returned[0], str(returned[-1]))
    raise Wrong(
        f"in {call}, your function returned {said}; it added {shown(new)}.",
        "Return the list of the days it added: [] when no day is new.",
    )


def check_probe(probe: list, seed, elsewhere: list) -> None:
    """The three calls on the check's own inbox, each held to the files' counts; the first slip named."""
    steps = probe_steps(seed)
    held: list[str] = []
    before = 0
    for k, (step, new) in enumerate(zip(probe, steps)):
        call, inbox_days = _call(k, steps), sorted(set(held) | set(new))
        if step["error"]:
            _check_error(step["error"], call, held)
        if step.get("unreadable"):
            raise Wrong(f"after {call}, the check cannot read its table: {step['unreadable']}", ARGS_HINT)
        check_columns(step["columns"], f"after {call}")
        _check_days(step["rows"], inbox_days, elsewhere, call)
        _check_snapshots(len(step["snapshots"]) - before, new, step["rows"], call)
        _check_counts(step["rows"], inbox_days, new, call)
        _check_returned(step["returned"], new, call)
        held, before = inbox_days, len(step["snapshots"])
    if len(probe) != len(steps):
        raise Wrong(f"the check saw {len(probe)} runs of your function, not {len(steps)}.", ARGS_HINT)


def check_own(own: dict) -> str:
    """The learner's table holds exactly the days of the learner's inbox, with the files' counts."""
    if own.get("error"):
        raise Wrong(f"the check cannot read your table: {own['error']}", "Run the setup cell, then your runs.")
    days = own["inbox"]
    if days is None:
        raise Wrong("`inbox` is not a folder.", "Pass the setup cell's `inbox`.")
    if not days:
        raise Wrong("your inbox is empty.", "Run the cell after your function: the days arrive, and your job runs.")
    strange = sorted(set(days) - set(shop_days()))
    if strange:
        raise Wrong(f"your inbox holds {strange[0]!r}, which is not a day of the shop.", START_AGAIN)
    check_columns(own["columns"], "in your notebook")
    rows, truth = own["rows"], true_rows(days)
    found = {row.get("day") for row in rows}
    missing, extra = sorted(set(days) - found), sorted(str(d) for d in found - set(days))
    if missing:
        raise Wrong(f"your table lacks {shown(missing)}, which your inbox holds.", "Run add_daily_stars again.")
    if extra:
        raise Wrong(f"your table holds {extra[0]!r}, which your inbox does not.", START_AGAIN)
    mine = {(row["day"], row["stars"]): row["reviews"] for row in rows if row["reviews"] != 0}
    if _duplicates(rows) or mine != truth:
        raise Wrong(
            "your table's counts are not your inbox's (a day added twice, or by an earlier version of your function?).",
            START_AGAIN + " Then run your runs once.",
        )
    return f"your table holds the {len(days)} days of your inbox"


def _judge_1(seen, seed=None) -> str:
    own = seen["own"]
    if seen["own_after"] != [s[0] for s in own.get("snapshots", [])] and not own.get("error"):
        raise Wrong(
            "while the check ran your function on its own inbox and table, your notebook's table changed.", ARGS_HINT
        )
    check_probe(seen["probe"], seed, own.get("inbox") or [])
    mine = check_own(own)
    first, _, last = probe_steps(seed)
    return (
        f"on the check's own inbox, three runs added {shown(first)}, nothing, then {shown(last)}: one snapshot per "
        f"run, the files' counts; {mine}."
    )


@exercise("Exercise 1 · a table of stars per day, added to as days arrive", judge=_judge_1)
def exercise_1(add_daily_stars, inbox, catalog_kwargs, table, *, seed=None) -> dict:
    require("add_daily_stars", add_daily_stars, "the function that adds the new days to the table")
    if not callable(add_daily_stars):
        raise Wrong(f"`add_daily_stars` is {add_daily_stars!r}, not a function.", "Define it with def.")
    if not isinstance(inbox, (str, Path)) or not isinstance(catalog_kwargs, dict) or not isinstance(table, str):
        raise Wrong(
            "the check takes your function, the inbox folder, the catalog's settings and the table's name.",
            "Run the check cell as given: check.exercise_1(add_daily_stars, inbox, CATALOG, TABLE).",
        )
    own = _own(inbox, catalog_kwargs, table)
    probe = _probe(add_daily_stars, seed)
    return {"own": own, "own_after": _snapshot_ids(catalog_kwargs, table), "probe": probe}
