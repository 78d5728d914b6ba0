"""Lab 11 checks: right answers written differently pass, each stated requirement has a wrong answer that breaks
only it, and the message names it in a line or two.

Exercise 1's probe runs the learner's function on an inbox and an Iceberg table of the check's own: the solution
runs there once with Ray; the other answers are written with pandas and PyIceberg (no Ray: a second a probe), and
every slip is also simulated as the observation its probe would give, on each of the 30 ways the seed can choose
the probe's days. Exercise 2's probes are pure Python apart from one run of the solution; the stretch reads a
learner's table made once for the module.
"""

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import ray
import ray.cloudpickle
from pyiceberg.catalog import load_catalog

import raycourse
from raycourse.checks import lab11
from raycourse.checks.lab11 import _common, ex2

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module

SHOP = Path(raycourse.data_path("days"))
DAYS = sorted(p.name for p in SHOP.iterdir())
TABLE = "shop.daily_stars"
SCHEMA = pa.schema([("day", pa.string()), ("stars", pa.int64()), ("reviews", pa.int64())])
COLUMNS = [["day", "string"], ["stars", "long"], ["reviews", "long"]]
SEED = 7
LEARNER = {}  # the module's learner: its inbox (a function that reads the notebook's inbox reads this one)


def _wrong(verdict, message, hint=""):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and hint in verdict.hint, verdict.hint
    assert len(verdict.message.splitlines()) <= 3


def _days_of(catalog_kwargs, table):
    current = load_catalog(**catalog_kwargs).load_table(table)
    if current.current_snapshot() is None:
        return []
    return sorted(p["day"] for p in current.inspect.partitions().column("partition").to_pylist())


def add_daily_stars(inbox, catalog_kwargs, table):
    """The solution's job (Ray Data: read_json, groupby, one write_iceberg)."""
    import numpy as np
    from ray.data.aggregate import Count

    new = sorted({folder.name for folder in Path(inbox).iterdir()} - set(_days_of(catalog_kwargs, table)))
    if not new:
        return []

    def day_from_folder(batch):
        batch["day"] = np.array([Path(path).parent.name for path in batch["path"]])
        return batch

    files = [str(Path(inbox) / day / "reviews.jsonl") for day in new]
    (
        ray.data.read_json(files, include_paths=True)
        .map_batches(day_from_folder)
        .groupby(["day", "stars"])
        .aggregate(Count(alias_name="reviews"))
        .write_iceberg(table, catalog_kwargs=catalog_kwargs)
    )
    return new


def _rows_of(inbox, days):
    """The summary rows of `days`, counted with pandas from the inbox's files."""
    rows = []
    for day in days:
        counts = pd.read_json(Path(inbox) / day / "reviews.jsonl", lines=True)["stars"].value_counts()
        rows += [{"day": day, "stars": int(s), "reviews": int(n)} for s, n in sorted(counts.items())]
    return rows


def _append(catalog_kwargs, table, rows):
    load_catalog(**catalog_kwargs).load_table(table).append(pa.Table.from_pylist(rows, schema=SCHEMA))


def _new_days(inbox, catalog_kwargs, table):
    return sorted({p.name for p in Path(inbox).iterdir()} - set(_days_of(catalog_kwargs, table)))


def by_pyiceberg(inbox, catalog_kwargs, table):
    """Right, without Ray: pandas counts, one PyIceberg append (a snapshot) per call with new days."""
    new = _new_days(inbox, catalog_kwargs, table)
    if new:
        _append(catalog_kwargs, table, _rows_of(inbox, new))
    return tuple(new)  # a tuple of the days: any sequence of them will do


def one_write_per_day(inbox, catalog_kwargs, table):
    new = _new_days(inbox, catalog_kwargs, table)
    for day in new:
        _append(catalog_kwargs, table, _rows_of(inbox, [day]))
    return new


def reads_every_day(inbox, catalog_kwargs, table):
    """Reads the whole inbox each time, then keeps the new days' rows."""
    every = _rows_of(inbox, sorted(p.name for p in Path(inbox).iterdir()))
    new = _new_days(inbox, catalog_kwargs, table)
    if new:
        _append(catalog_kwargs, table, [row for row in every if row["day"] in new])
    return new


def reads_the_notebook_inbox(inbox, catalog_kwargs, table):
    return by_pyiceberg(LEARNER["inbox"], catalog_kwargs, table)


def writes_the_notebook_table(inbox, catalog_kwargs, table):
    return by_pyiceberg(inbox, catalog_kwargs, TABLE)


def returns_nothing(inbox, catalog_kwargs, table):
    by_pyiceberg(inbox, catalog_kwargs, table)


def breaks(inbox, catalog_kwargs, table):
    raise ValueError("no day in this inbox")


def _learner(folder: Path):
    """A learner's inbox and table after the lab's runs (days 1-3, again, 4, 5), made with `by_pyiceberg`."""
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    kwargs = _common.make_table(folder, TABLE)
    for step in (DAYS[:3], [], *[[d] for d in DAYS[3:]]):
        for day in step:
            shutil.copytree(SHOP / day, inbox / day)
        by_pyiceberg(inbox, kwargs, TABLE)
    return inbox, kwargs


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    inbox, kwargs = _learner(tmp_path_factory.mktemp("learner"))
    LEARNER["inbox"] = inbox
    return inbox, kwargs


@pytest.fixture(scope="module")
def seen_1(learner, ray_session):
    """The solution's observation (Ray runs the probe's three calls, two writes), made once."""
    inbox, kwargs = learner
    return lab11.exercise_1.observe(add_daily_stars, inbox, kwargs, TABLE, seed=SEED)


def _check_1(fn, learner, seed=SEED):
    inbox, kwargs = learner
    return lab11.exercise_1.result(fn, inbox, kwargs, TABLE, seed=seed)


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires:
#   R1 `add_daily_stars` a function (an outline filled in): test_ex1_placeholder_is_not_solved
#   R2 (probe) it adds only the days its table lacks, so a second run adds nothing and no snapshot:
#      test_ex1_each_slip_is_named_on_every_seed[again, empty snapshot]
#   R3 (probe) days already in the table are not read again: test_ex1_an_answer_that_reads_old_days_again
#   R4 (probe) one write per call, one snapshot: test_ex1_each_slip_is_named_on_every_seed[per day, per row],
#      test_ex1_one_write_per_day
#   R5 (probe) appends, never overwrites: test_ex1_each_slip_is_named_on_every_seed[overwrite]
#   R6 (probe) a row per (day, stars) with the day's reviews of those stars:
#      test_ex1_each_slip_is_named_on_every_seed[pooled, summed, ones]
#   R7 (probe) `day` the folder's name: test_ex1_each_slip_is_named_on_every_seed[paths]
#   R8 (probe) the columns day, stars, reviews (int64): test_ex1_other_columns
#   R9 (probe) uses its arguments, not the notebook's inbox, catalog or table:
#      test_ex1_answers_that_use_the_notebook_s_names, test_ex1_each_slip_is_named_on_every_seed[global inbox,
#      elsewhere, own table changed]
#   R10 (probe) returns the days it added, [] when none: test_ex1_returns_nothing,
#      test_ex1_each_slip_is_named_on_every_seed[returns none]
#   R11 (probe) an error inside it is shown: test_ex1_an_error_is_shown
#   R12 the learner's table holds exactly the days of the learner's inbox: test_ex1_the_learner_s_own_table
# Right answers written otherwise: test_ex1_accepts_the_solution, test_ex1_accepts_an_answer_without_ray.


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved(learner):
    def add_daily_stars(inbox, catalog_kwargs, table):
        """outline"""
        ...

    inbox, kwargs = learner
    assert lab11.exercise_1.result(..., inbox, kwargs, TABLE).status == "not solved"
    assert lab11.exercise_1.result(add_daily_stars, inbox, kwargs, TABLE).status == "not solved"


@pytest.mark.fast
def test_ex1_accepts_the_solution(seen_1):
    verdict = lab11.exercise_1.decide(seen_1, SEED)
    assert verdict.passed, verdict
    assert [len(step["snapshots"]) for step in seen_1["probe"]] == [1, 1, 2]  # Ray's write: one commit per call


@pytest.mark.fast
def test_ex1_accepts_an_answer_without_ray(learner):
    for seed in (0, 1, 12345):
        verdict = _check_1(by_pyiceberg, learner, seed)
        assert verdict.passed, verdict


def test_ex1_one_write_per_day(learner):
    _wrong(_check_1(one_write_per_day, learner), "2 snapshots, one per day", "write_iceberg once")


def test_ex1_an_answer_that_reads_old_days_again(learner):
    _wrong(_check_1(reads_every_day, learner), "read", "the days the table holds")
    assert "again" in _check_1(reads_every_day, learner).message


@pytest.mark.fast
def test_ex1_answers_that_use_the_notebook_s_names(learner):
    _wrong(_check_1(reads_the_notebook_inbox, learner), "days of your notebook's inbox", "its arguments")
    _wrong(_check_1(writes_the_notebook_table, learner), "another table than the one it was given", "arguments")


def test_ex1_returns_nothing(learner):
    _wrong(_check_1(returns_nothing, learner), "returned None", "[] when no day is new")


def test_ex1_an_error_is_shown(learner):
    _wrong(_check_1(breaks, learner), "failed: ValueError: no day in this inbox", "setup cell")
    _wrong(_check_1(42, learner), "not a function")
    inbox, kwargs = learner
    _wrong(lab11.exercise_1.result(by_pyiceberg, inbox, kwargs, 42), "the check takes")  # not a table's name


def _probe_seen(seen, step, **change):
    probe = [dict(s) for s in seen["probe"]]
    probe[step].update(change)
    return {**seen, "probe": probe}


def test_ex1_other_columns(seen_1):
    """What write_iceberg does with another Dataset: it adds the columns (schema evolution) or changes a type."""
    count = COLUMNS + [["count()", "long"]]
    rows = [{**row, "count()": row["reviews"], "reviews": None} for row in seen_1["probe"][0]["rows"]]
    _wrong(lab11.exercise_1.decide(_probe_seen(seen_1, 0, columns=count, rows=rows), SEED), "`count()`", "alias_name")
    double = [["day", "string"], ["stars", "double"], ["reviews", "long"]]
    _wrong(lab11.exercise_1.decide(_probe_seen(seen_1, 0, columns=double), SEED), "`stars` holds double", "int64")


def _learner_seen(seen, **change):
    return {**seen, "own": {**seen["own"], **change}}


def test_ex1_the_learner_s_own_table(seen_1):
    rows = seen_1["own"]["rows"]
    decide = lambda seen: lab11.exercise_1.decide(seen, SEED)  # noqa: E731
    _wrong(decide(_learner_seen(seen_1, inbox=[])), "your inbox is empty")
    _wrong(decide(_learner_seen(seen_1, rows=[r for r in rows if r["day"] != DAYS[4]])), f"lacks {DAYS[4]}", "again")
    _wrong(decide(_learner_seen(seen_1, inbox=DAYS[:4])), f"holds '{DAYS[4]}', which your inbox does not")
    _wrong(decide(_learner_seen(seen_1, rows=rows + rows[:2])), "counts are not your inbox's", "setup cell")
    _wrong(decide(_learner_seen(seen_1, error="NoSuchTableError: shop.daily_stars")), "cannot read your table")
    _wrong(decide({**seen_1, "own_after": [1, 2, 3, 4]}), "your notebook's table changed", "its arguments")


def test_ex1_forged_observations_do_not_pass(seen_1):
    forgeries = {
        "nothing": {},
        "no probe": {**seen_1, "probe": []},
        "two steps": {**seen_1, "probe": seen_1["probe"][:2]},
        "a row off": _probe_seen(
            seen_1, 2, rows=[{**r, "reviews": r["reviews"] + 1} for r in seen_1["probe"][2]["rows"]]
        ),
        "no snapshots": _probe_seen(seen_1, 0, snapshots=[]),
    }
    for what, forged in forgeries.items():
        assert lab11.exercise_1.decide(forged, SEED).status == "wrong", what
    assert lab11.exercise_1.decide(seen_1, SEED + 1).status == "wrong"  # another seed's days


# The slips, simulated: (held days, new days) -> (the writes, each a list of rows; what it returned; overwrite?)
def _truth(days, reviews=lambda stars, n: n):
    return [{"day": d, "stars": s, "reviews": reviews(s, n)} for (d, s), n in sorted(_common.true_rows(days).items())]


def _pooled(held, new):
    truth = _common.true_rows(new)
    stars = sorted({s for _, s in truth})
    return [
        {"day": d, "stars": s, "reviews": sum(n for (_, t), n in truth.items() if t == s)} for d in new for s in stars
    ]


def _paths(days):
    return [{**row, "day": f"/inbox/{row['day']}/reviews.jsonl"} for row in _truth(days)]


SLIPS = {  # slip -> (behaviour, message, hint)
    "again": (lambda h, n: ([_truth(h + n)], ["days", h + n], False), "added days the table held again", "Leave out"),
    "empty snapshot": (lambda h, n: ([_truth(n)], ["days", n], False), "(nothing new) added a snapshot", "return []"),
    "per day": (lambda h, n: ([_truth([d]) for d in n], ["days", n], False), "one per day", "write_iceberg once"),
    "per row": (lambda h, n: ([[r] for r in _truth(n)], ["days", n], False), "one per write", "write_iceberg once"),
    "overwrite": (lambda h, n: ([_truth(n)] if n else [], ["days", n], True), "the table lost", "never overwrite"),
    "pooled": (lambda h, n: ([_pooled(h, n)] if n else [], ["days", n], False), "together", 'groupby(["day"'),
    "summed": (lambda h, n: ([_truth(n, lambda s, k: s * k)] if n else [], ["days", n], False), "stars", "Count("),
    "ones": (lambda h, n: ([_truth(n, lambda s, k: 1)] if n else [], ["days", n], False), "says 1 review", "Count("),
    "paths": (lambda h, n: ([_paths(n)] if n else [], ["days", n], False), "days include '/inbox/", "parent.name"),
    "global inbox": (lambda h, n: ([_truth(DAYS)] if not h else [], ["days", DAYS], False), "notebook's inbox", "its"),
    "elsewhere": (lambda h, n: ([], ["days", n], False), "has no new snapshot", "its arguments"),
    "returns none": (lambda h, n: ([_truth(n)] if n else [], ["none"], False), "returned None", "[] when no day"),
    "right": (lambda h, n: ([_truth(n)] if n else [], ["days", n], False), "", ""),
}


def _simulated(seed, behave):
    """The observation of a learner who behaves so, as the observer would record it."""
    rows, snapshots, held, probe = [], [], [], []
    for new in lab11.probe_steps(seed):
        writes, returned, replace = behave(held, new)
        for write in writes:
            rows = list(write) if replace else rows + list(write)
            snapshots.append([len(snapshots) + 1, len(write), len(rows)])
        probe.append(
            {"error": None, "returned": returned, "columns": COLUMNS, "rows": list(rows), "snapshots": list(snapshots)}
        )
        held = sorted(set(held) | set(new))
    own = {"inbox": DAYS, "snapshots": [[1, 21, 21]], "columns": COLUMNS, "rows": _truth(DAYS)}
    return {"own": own, "own_after": [1], "probe": probe}


def _every_probe():
    """A seed for each of the 30 ways the probe's days can be chosen."""
    found, seed = {}, 0
    while len(found) < 30:
        found.setdefault(json.dumps(lab11.probe_steps(seed)), seed)
        seed += 1
    return list(found.values())


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(SLIPS))
def test_ex1_each_slip_is_named_on_every_seed(slip):
    behave, message, hint = SLIPS[slip]
    for seed in _every_probe():
        verdict = lab11.exercise_1.decide(_simulated(seed, behave), seed)
        if slip == "right":
            assert verdict.passed, (seed, verdict)
        else:
            _wrong(verdict, message, hint)


def test_ex1_own_table_changed_is_named_first():
    seen = _simulated(3, SLIPS["elsewhere"][0])
    _wrong(lab11.exercise_1.decide({**seen, "own_after": [1, 2]}, 3), "your notebook's table changed")


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires:
#   R1 `new_product_share` a function (an outline filled in): test_ex2_placeholder_is_not_solved
#   R2 (probe) the share of the day's reviews, not of its distinct products:
#      test_ex2_each_slip_is_named[distinct products, distinct over reviews]
#   R3 (probe) the day against the reference, not reversed: test_ex2_each_slip_is_named[reversed]
#   R4 (probe) a share in [0, 1], not a count: test_ex2_each_slip_is_named[a count]
#   R5 (probe) products the reference never names (the reference's alone):
#      test_ex2_each_slip_is_named[known share, whole table, by the reference]
#   R6 (probe) a number: test_ex2_not_a_number_or_an_error
#   R7 `THRESHOLD` flags the last day and not the fourth, on the data: test_ex2_thresholds
#   R8 `flagged` the days above THRESHOLD: test_ex2_thresholds
# Right answers written otherwise: test_ex2_accepts_the_solution, test_ex2_accepts_other_thresholds.
# The probes name one slip on every seed: test_ex2_probes_tell_every_slip_apart.


def new_product_share(day_reviews, reference_reviews):
    """The solution (Ray Data: unique, then a groupby count)."""
    known = set(reference_reviews.unique("product"))
    per_product = day_reviews.groupby("product").count().to_pandas()
    new = per_product.loc[~per_product["product"].isin(known), "count()"].sum()
    return float(new / per_product["count()"].sum())


@pytest.fixture(scope="module")
def seen_2(ray_session):
    return lab11.exercise_2.observe(new_product_share, 0.2, ["2026-11-05"], seed=SEED)


def _shares(fn, seed, threshold=0.2, flagged=("2026-11-05",)):
    """Exercise 2's observation of a function of products (lists), without Ray."""
    answers = [["number", float(fn(c["day"], c["reference"]))] for c in lab11.share_probes(seed)]
    return {"shares": answers, "threshold": ex2.encoded_number(threshold), "flagged": ex2._flagged(list(flagged))}


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved():
    def new_product_share(day_reviews, reference_reviews):
        """outline"""
        ...

    assert lab11.exercise_2.result(..., ..., ...).status == "not solved"
    assert lab11.exercise_2.result(new_product_share, 0.2, ["2026-11-05"]).status == "not solved"
    assert lab11.exercise_2.result(lab11.share, ..., ...).status == "not solved"


@pytest.mark.fast
def test_ex2_accepts_the_solution(seen_2):
    verdict = lab11.exercise_2.decide(seen_2, SEED)
    assert verdict.passed, verdict
    assert lab11.exercise_2.decide(seen_2, SEED + 1).status == "wrong"  # another seed's probes: forged


@pytest.mark.fast
@pytest.mark.parametrize("threshold", [0, 0.05, 0.5, 0.99])
def test_ex2_accepts_other_thresholds(threshold):
    assert lab11.exercise_2.decide(_shares(lab11.share, SEED, threshold), SEED).passed


EX2_SLIPS = {  # the test's names -> the check's
    "distinct products": "the share of the day's distinct products that are new",
    "distinct over reviews": "the distinct new products divided by the day's reviews",
    "reversed": "with its arguments reversed",
    "a count": "a count of reviews, not a share",
    "known share": "the share of the day's reviews that name a known product",
    "whole table": "as if the day's own products were known",
    "by the reference": "divided by the reference's reviews",
}


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(EX2_SLIPS))
def test_ex2_each_slip_is_named(slip):
    name = next(n for n in lab11.SLIPS if n.startswith(EX2_SLIPS[slip]))
    fn, hint = lab11.SLIPS[name]
    for seed in range(0, 3000, 29):
        _wrong(lab11.exercise_2.decide(_shares(fn, seed), seed), f"answers {EX2_SLIPS[slip]}", hint)


def test_ex2_probes_tell_every_slip_apart():
    """On 2,000 seeds every slip answers unlike the rule and every other slip (share_probes draws until so)."""
    for seed in range(2000):
        cases = lab11.share_probes(seed)
        answers = [tuple(round(lab11.share(c["day"], c["reference"]), 9) for c in cases)]
        answers += [tuple(round(fn(c["day"], c["reference"]), 9) for c in cases) for fn, _ in lab11.SLIPS.values()]
        assert len(set(answers)) == len(answers), seed
        assert [lab11.share(c["day"], c["reference"]) for c in cases][0] == 0  # a day with no new product
        assert any(
            len(set(c["day"]) - set(c["reference"])) < sum(p not in c["reference"] for p in c["day"]) for c in cases
        )


def test_ex2_not_a_number_or_an_error(ray_session):
    def text(day, reference):
        return "a quarter"

    def broken(day, reference):
        return day.count() / 0

    _wrong(lab11.exercise_2.result(text, 0.2, ["2026-11-05"]), "not a number", "float")
    _wrong(lab11.exercise_2.result(broken, 0.2, ["2026-11-05"]), "failed on a day of", "Fix the error")
    _wrong(lab11.exercise_2.result(42, 0.2, ["2026-11-05"]), "not a function")
    rounded = _shares(lambda d, r: round(lab11.share(d, r), 1), SEED)
    if not ex2._same([a for _, a in rounded["shares"]], [a for _, a in _shares(lab11.share, SEED)["shares"]]):
        _wrong(lab11.exercise_2.decide(rounded, SEED), "the share is", "divide by the day's reviews")


@pytest.mark.fast
def test_ex2_thresholds():
    decide = lambda threshold, flagged=("2026-11-05",): lab11.exercise_2.decide(  # noqa: E731
        _shares(lab11.share, SEED, threshold, flagged), SEED
    )
    _wrong(decide(1.0), "the last day is not flagged: its share is 1", "below")
    _wrong(decide(-0.1), "2026-11-04 is flagged too: its share is 0")
    _wrong(decide("low"), "`THRESHOLD` is 'low'")
    _wrong(decide(0.2, ()), "`flagged` is []", "DAYS[3:]")
    _wrong(decide(0.2, ("2026-11-04", "2026-11-05")), "your THRESHOLD flags")
    other = {**_shares(lab11.share, SEED), "flagged": ["other", "'2026-11-05'"]}  # a text, not a list
    _wrong(lab11.exercise_2.decide(other, SEED), "`flagged` is")


# ----------------------------------------------------------------------------- Stretch
# The stretch requires:
#   R1 `rows_by_snapshot` a dict keyed by every snapshot's id (whole numbers): test_stretch_keys
#   R2 each snapshot's rows as of it, not what it added, nor the rows now: test_stretch_values
#   R3 a table with a history (two snapshots or more): test_stretch_no_history


def _history(kwargs):
    table = load_catalog(**kwargs).load_table(TABLE)
    return {s.snapshot_id: table.scan(snapshot_id=s.snapshot_id).to_arrow().num_rows for s in table.snapshots()}


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved(learner):
    assert lab11.stretch.result(..., learner[1], TABLE).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_the_rows_then(learner):
    history = _history(learner[1])
    assert list(history.values()) == [12, 16, 21]
    verdict = lab11.stretch.result(history, learner[1], TABLE)
    assert verdict.passed, verdict
    import numpy as np

    assert lab11.stretch.result({k: np.int64(v) for k, v in history.items()}, learner[1], TABLE).passed


@pytest.mark.fast
def test_stretch_values(learner):
    history = _history(learner[1])
    check = lambda values: lab11.stretch.result(dict(zip(history, values)), learner[1], TABLE)  # noqa: E731
    _wrong(check([12, 4, 5]), "the rows each snapshot added")
    _wrong(check([21, 21, 21]), "the table's rows now for every snapshot")
    _wrong(check([120, 160, 200]), "counts the reviews")
    _wrong(check([12, 16, 20]), "is 20; your table had 21 rows then")
    _wrong(check([12.0, 16.0, 21.0]), "not whole numbers")


def test_stretch_keys(learner):
    history = _history(learner[1])
    check = lambda value: lab11.stretch.result(value, learner[1], TABLE)  # noqa: E731
    _wrong(check({str(k): v for k, v in history.items()}), "the snapshot ids as text", "snapshot_id")
    _wrong(check(dict(list(history.items())[1:])), "lacks snapshot", "read_iceberg")
    _wrong(check({**history, 1: 0}), "has 1, which is no snapshot")
    _wrong(check(list(history.values())), "is a list, not a dict")


def test_stretch_no_history(tmp_path, learner):
    kwargs = _common.make_table(tmp_path, TABLE)
    _wrong(lab11.stretch.result({}, kwargs, TABLE), "0 snapshots", "exercise 1")
    _append(kwargs, TABLE, _rows_of(SHOP, DAYS[:1]))
    _wrong(lab11.stretch.result(_history(kwargs), kwargs, TABLE), "1 snapshot:")
    _wrong(lab11.stretch.result({}, kwargs, "shop.no_such_table"), "cannot read your table")
    forged = lab11.stretch.observe(_history(learner[1]), learner[1], TABLE)
    assert lab11.stretch.decide({**forged, "history": forged["history"][:1]}).status == "wrong"
    assert lab11.stretch.decide({}).status == "wrong"
