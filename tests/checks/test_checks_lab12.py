"""Lab 12 checks: right answers written differently pass, each stated requirement has a wrong answer that breaks
only it, and the message names it in a line or two.

Exercise 1's observer asks the learner's function about 20,000 users eight times here, then 2,000 of them in a fresh
Python process with another PYTHONHASHSEED. Most tests here answer that last step in this process (`here`: a
function that is the same in every process answers the same); the solution, Python's hash() and a function that
cannot travel go to the other process for real. Exercise 2 and the stretch are plain Python, pandas, SciPy and
NumPy: no Ray.
"""

import hashlib
import math
import random
import sys
import threading

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle
from scipy import stats

import raycourse
from raycourse.checks import lab12
from raycourse.checks.lab12 import ex1, ex2

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the other process cannot import this module

SEED = 7
TRAFFIC = pd.read_json(raycourse.data_path("traffic"), lines=True)


def _wrong(verdict, message, hint=""):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and hint in verdict.hint, verdict.hint
    assert len(verdict.message.splitlines()) <= 3


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires:
#   R1 `in_candidate` a function (the outline filled in): test_ex1_placeholder_is_not_solved,
#      test_ex1_not_a_function_or_an_error
#   R2 (probe) sticky: the same answer on every call: test_ex1_each_slip_is_named[at random]
#   R3 (probe) sticky in every process, not Python's hash(): test_ex1_python_s_hash_is_named_in_another_process,
#      test_ex1_a_function_that_cannot_go_to_another_process
#   R4 (probe) the share of users within five standard errors of percent:
#      test_ex1_each_slip_is_named[ten buckets, first byte]
#   R5 (probe) nobody at 0 and everybody at 100: test_ex1_each_slip_is_named[at or below, champion's group, fraction]
#   R6 (probe) a ramp keeps users (the group at 10 % inside the group at 50 %):
#      test_ex1_each_slip_is_named[percent hashed]
#   R7 (probe) two experiments split users independently: test_ex1_each_slip_is_named[no salt, shifted]
#   R8 (probe) a truth value: test_ex1_not_a_function_or_an_error
# Right answers written otherwise: test_ex1_accepts_the_solution_in_another_process,
# test_ex1_accepts_other_sound_splits.


def in_candidate(user: str, experiment: str, percent: float) -> bool:
    """The solution: SHA-256 of the experiment and the user, 10,000 buckets."""
    digest = hashlib.sha256(f"{experiment}:{user}".encode()).hexdigest()
    return int(digest, 16) % 10_000 < 100 * percent


def _bucket(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100


def lesson_buckets(user, experiment, percent):
    return _bucket(experiment + user) < percent


def md5_fraction(user, experiment, percent):
    digest = hashlib.md5(f"{experiment}|{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < percent / 100


def seeded_random(user, experiment, percent):
    return random.Random(f"{experiment}/{user}").random() * 100 < percent


def blake2b_keyed(user, experiment, percent):
    digest = hashlib.blake2b(user.encode(), key=experiment.encode(), digest_size=8).digest()
    return bool(np.uint64(int.from_bytes(digest, "big")) % np.uint64(100) < percent)


def numpy_truth(user, experiment, percent):
    return np.bool_(_bucket(f"{experiment}-{user}") < percent)


def by_python_hash(user, experiment, percent):
    return hash(f"{experiment}:{user}") % 100 < percent


LOCK = threading.Lock()


def behind_a_lock(user, experiment, percent):
    with LOCK:  # a lock cannot be pickled: the function cannot go to another process
        return in_candidate(user, experiment, percent)


@pytest.fixture
def here(monkeypatch):
    """The other process's answers computed in this one (the functions below are the same in every process)."""

    def in_this_process(fn, users, experiment, percent, hash_seed):
        return ["bits", ex1.pack(bool(fn(user, experiment, percent)) for user in users)]

    monkeypatch.setattr(ex1, "in_another_process", in_this_process)


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    def in_candidate(user: str, experiment: str, percent: float) -> bool:
        """outline"""
        ...

    assert lab12.exercise_1.result(...).status == "not solved"
    assert lab12.exercise_1.result(in_candidate).status == "not solved"


@pytest.mark.fast
def test_ex1_accepts_the_solution_in_another_process():
    for seed in (SEED, 12345):
        verdict = lab12.exercise_1.result(in_candidate, seed=seed)
        assert verdict.passed, verdict
        assert "split independently" in verdict.message


@pytest.mark.parametrize("fn", [lesson_buckets, md5_fraction, seeded_random, blake2b_keyed, numpy_truth])
def test_ex1_accepts_other_sound_splits(fn, here):
    for seed in (0, 1):
        verdict = lab12.exercise_1.result(fn, seed=seed)
        assert verdict.passed, (fn.__name__, seed, verdict)


@pytest.mark.fast
def test_ex1_python_s_hash_is_named_in_another_process():
    verdict = lab12.exercise_1.result(by_python_hash, seed=SEED)
    _wrong(verdict, "in a fresh Python process (another PYTHONHASHSEED)", "hash() of a text is salted per process")


def test_ex1_a_function_that_cannot_go_to_another_process():
    _wrong(lab12.exercise_1.result(behind_a_lock, seed=SEED), "another Python process: it could not be sent")


def _first_byte(user, experiment, percent):
    return int(hashlib.sha256(f"{experiment}:{user}".encode()).hexdigest()[:2], 16) % 100 < percent


EX1_SLIPS = {  # slip -> (a learner's function, message, hint)
    "at random": (lambda u, e, p: random.random() * 100 < p, "asked twice", "Draw nothing at random"),
    "ten buckets": (
        lambda u, e, p: int(hashlib.sha256(f"{e}:{u}".encode()).hexdigest(), 16) % 10 < p / 10,
        "at 1 %, the candidate's group",
        "Too few buckets",
    ),
    "first byte": (_first_byte, "of the check's 20,000 users; chance allows", "favours the small buckets"),
    "at or below": (lambda u, e, p: _bucket(f"{e}:{u}") <= p, "at percent 0,", "Compare with `<`"),
    "champion's group": (lambda u, e, p: _bucket(f"{e}:{u}") >= p, "answers for the champion's group", "below"),
    "fraction": (lambda u, e, p: _bucket(f"{e}:{u}") < p / 100, "at percent 100,", "Compare like with like"),
    "percent hashed": (lambda u, e, p: _bucket(f"{e}:{p}:{u}") < p, "are not in its group at", "not the percent"),
    "no salt": (lambda u, e, p: _bucket(u) < p, "(the same users)", "Hash the experiment's name with the user"),
    "shifted": (
        lambda u, e, p: (_bucket(u) + _bucket(e)) % 100 < p,
        "split independently, they would share about",
        "Hash the experiment's name with the user",
    ),
}


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(EX1_SLIPS))
def test_ex1_each_slip_is_named(slip, here):
    fn, message, hint = EX1_SLIPS[slip]
    for seed in (0, 1, 2):
        _wrong(lab12.exercise_1.result(fn, seed=seed), message, hint)


def test_ex1_not_a_function_or_an_error(here):
    def breaks(user, experiment, percent):
        return int(user) % 100 < percent

    _wrong(lab12.exercise_1.result(breaks), "failed: ValueError", "Fix the error")
    _wrong(lab12.exercise_1.result(lambda u, e, p: int(_bucket(u + e) < p)), "returned 0 (an int)", "truth value")
    _wrong(lab12.exercise_1.result(lambda u, e, p: "v2"), "returned 'v2' (a str)", "truth value")
    _wrong(lab12.exercise_1.result(42), "not a function", "def")


def test_ex1_the_probes_come_from_the_seed():
    assert ex1.probe_users(1) != ex1.probe_users(2) and len(set(ex1.probe_users(1))) == ex1.N_USERS
    plans = [ex1.probe_plan(seed) for seed in range(50)]
    assert len({(p["first"], p["second"]) for p in plans}) > 10
    assert all(p["first"] != p["second"] for p in plans)
    assert {p for plan in plans for _, p in plan["asks"]} == {0, 1, 10, 50, 100, *ex1.MIDDLE}
    assert all([p for _, p in plan["asks"][:6]] == sorted(p for _, p in plan["asks"][:6]) for plan in plans)


def test_ex1_forged_or_broken_observations_do_not_pass(here):
    seen = lab12.exercise_1.observe(in_candidate, seed=SEED)
    assert lab12.exercise_1.decide(seen, SEED).passed
    forgeries = {
        "nothing": {},
        "fewer asks": {**seen, "asks": seen["asks"][:3]},
        "short bits": {**seen, "asks": [bits[:-1] for bits in seen["asks"]]},
        "no again": {k: v for k, v in seen.items() if k != "again"},
        "all ones": {**seen, "asks": ["f" * len(seen["asks"][0])] * len(seen["asks"])},
    }
    for what, forged in forgeries.items():
        assert lab12.exercise_1.decide(forged, SEED).status == "wrong", what
    broken = {**seen, "elsewhere": ["error", "ModuleNotFoundError: No module named 'mine'"]}
    _wrong(lab12.exercise_1.decide(broken, SEED), "No module named 'mine'", "its arguments")


def test_ex1_bits_pack_and_unpack():
    bits = [random.Random(3).random() < 0.5 for _ in range(ex1.N_USERS)]
    assert ex1.unpack(ex1.pack(bits), ex1.N_USERS) == bits
    assert ex1.unpack(ex1.pack([False] * 10), 10) == [False] * 10
    with pytest.raises(ValueError):
        ex1.unpack("ff", 10)


def test_ex1_tolerances_are_five_standard_errors():
    assert math.isclose(ex1.tolerance(50), 100 * 5 * math.sqrt(0.25 / 20_000))
    assert 0.3 < ex1.tolerance(1) < 0.4 and 1.7 < ex1.tolerance(50) < 1.8


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires:
#   R1 `decide` a function (the outline filled in), `decision` set: test_ex2_placeholder_is_not_solved
#   R2 (probe) complaints are the reviews of 1 or 2 stars:
#      test_ex2_each_slip_is_named[every review, three stars], test_ex2_slips_written_with_pandas_are_named
#   R3 (probe) `missed` each version's share of its complaints answered positive:
#      test_ex2_each_slip_is_named[accuracy, over requests, counts, caught]
#   R4 (probe) `p_value` one-sided Fisher's exact test that v2 misses fewer:
#      test_ex2_each_slip_is_named[two-sided, wrong way], test_ex2_slips_written_with_pandas_are_named
#   R5 (probe) `promote` p_value < alpha, the alpha given: test_ex2_each_slip_is_named[at or below, fixed alpha]
#   R6 (probe) a dict of a mapping, a number and a truth value: test_ex2_answers_of_the_wrong_kind
#   R7 `decision` the rule on the day's log: test_ex2_the_learner_s_log_and_decision
# Right answers written otherwise: test_ex2_accepts_the_solution, test_ex2_accepts_other_right_answers.
# The probes name one slip on every seed: test_ex2_probes_tell_every_slip_apart.


def decide(log, alpha):
    """The solution (pandas, SciPy)."""
    complaints = log[log.stars <= 2]
    counts = {v: [int(c.positive.sum()), int((~c.positive).sum())] for v, c in complaints.groupby("version")}
    p_value = float(stats.fisher_exact([counts["v1"], counts["v2"]], alternative="greater").pvalue)
    missed = {version: m / (m + c) for version, (m, c) in counts.items()}
    return {"missed": missed, "p_value": p_value, "promote": p_value < alpha}


def decide_in_python(log, alpha):
    """Loops over the rows; the table with v2's row first and the alternative "less"."""
    missed, caught = {"v1": 0, "v2": 0}, {"v1": 0, "v2": 0}
    for version, positive, stars in zip(log["version"], log["positive"], log["stars"]):
        if stars in (1, 2):
            (missed if positive else caught)[version] += 1
    table = [[missed["v2"], caught["v2"]], [missed["v1"], caught["v1"]]]
    p = stats.fisher_exact(table, alternative="less").pvalue
    return {"missed": {v: missed[v] / (missed[v] + caught[v]) for v in missed}, "p_value": p, "promote": p < alpha}


def decide_by_hypergeometric(log, alpha):
    """A crosstab, the p-value as the hypergeometric tail; a Series of shares and NumPy's truth value."""
    complaints = log[log.stars.isin([1, 2])]
    table = pd.crosstab(complaints.version, complaints.positive).reindex(columns=[True, False], fill_value=0)
    total, v1, missed_all = int(table.to_numpy().sum()), int(table.loc["v1"].sum()), int(table[True].sum())
    p_value = stats.hypergeom(total, missed_all, v1).sf(int(table.loc["v1", True]) - 1)
    return {"missed": table[True] / table.sum(axis=1), "p_value": p_value, "promote": np.bool_(p_value < alpha)}


def _lab_log(version_of=in_candidate, seed=0):
    rng = np.random.default_rng(seed)
    log = TRAFFIC.assign(version=["v2" if version_of(u, "winter-line", 20) else "v1" for u in TRAFFIC.user])
    return log.assign(positive=rng.random(len(log)) < np.where(TRAFFIC.stars >= 4, 0.8, 0.35))


LOG = _lab_log()


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved():
    def decide(log, alpha):
        """outline"""
        ...

    assert lab12.exercise_2.result(..., LOG, ...).status == "not solved"
    assert lab12.exercise_2.result(decide, LOG, None).status == "not solved"
    assert lab12.exercise_2.result(decide_in_python, LOG, ...).status == "not solved"


@pytest.mark.fast
def test_ex2_accepts_the_solution():
    verdict = lab12.exercise_2.result(decide, LOG, decide(LOG, 0.05), seed=SEED)
    assert verdict.passed, verdict
    assert "on the day's log" in verdict.message
    seen = lab12.exercise_2.observe(decide, LOG, decide(LOG, 0.05), seed=SEED)
    assert lab12.exercise_2.decide(seen, SEED + 1).status == "wrong"  # another seed's probes: forged


@pytest.mark.parametrize("fn", [decide_in_python, decide_by_hypergeometric])
def test_ex2_accepts_other_right_answers(fn):
    for seed in (0, 1, 2):
        verdict = lab12.exercise_2.result(fn, LOG, fn(LOG, 0.05), seed=seed)
        assert verdict.passed, (fn.__name__, seed, verdict)


EX2_SLIPS = {  # the test's names -> the check's
    "every review": "counts every review as a complaint",
    "three stars": "takes 3-star reviews as complaints too",
    "two-sided": "uses a two-sided test",
    "wrong way": "tests whether v2 misses more, not fewer",
    "accuracy": "measures the lesson's accuracy, not missed complaints",
    "over requests": "takes each version's misses over all its requests",
    "counts": "gives counts of missed complaints, not shares",
    "caught": "gives the share of complaints caught, not missed",
    "at or below": "promotes at p_value <= alpha",
    "fixed alpha": "promotes at p_value < 0.05 whatever alpha",
}


def _as_learner(fn):
    return lambda log, alpha: fn(list(log.version), list(log.positive), list(log.stars), alpha)


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(EX2_SLIPS))
def test_ex2_each_slip_is_named(slip):
    fn, hint = lab12.SLIPS[EX2_SLIPS[slip]]
    learner = _as_learner(fn)
    for seed in range(0, 300, 37):
        _wrong(lab12.exercise_2.result(learner, LOG, decide(LOG, 0.05), seed=seed), EX2_SLIPS[slip], hint)


def two_sided(log, alpha):
    complaints = log[log.stars <= 2].groupby("version").positive.agg(["sum", "size"])
    table = [[complaints["sum"][v], complaints["size"][v] - complaints["sum"][v]] for v in ("v1", "v2")]
    p_value = stats.fisher_exact(table).pvalue
    return {"missed": dict(complaints["sum"] / complaints["size"]), "p_value": p_value, "promote": p_value < alpha}


def three_stars(log, alpha):
    return decide(log.assign(stars=log.stars.where(log.stars != 3, 2)), alpha)


def lesson_accuracy(log, alpha):
    right = log.positive == (log.stars >= 4)
    table = [[right[log.version == v].sum(), (~right)[log.version == v].sum()] for v in ("v2", "v1")]
    p_value = stats.fisher_exact(table, alternative="greater").pvalue
    return {"missed": {v: right[log.version == v].mean() for v in ("v1", "v2")}, "p_value": p_value,
            "promote": p_value < alpha}  # fmt: skip


def missed_shares_only_of_three_stars(log, alpha):
    """Three stars counted in `missed` only: no slip of the check's matches as a whole, the share is named."""
    return {**decide(log, alpha), "missed": three_stars(log, alpha)["missed"]}


def test_ex2_slips_written_with_pandas_are_named():
    for fn, slip in ((two_sided, "two-sided"), (three_stars, "three stars"), (lesson_accuracy, "accuracy")):
        _wrong(lab12.exercise_2.result(fn, LOG, decide(LOG, 0.05), seed=SEED), EX2_SLIPS[slip])
    verdict = lab12.exercise_2.result(missed_shares_only_of_three_stars, LOG, decide(LOG, 0.05), seed=SEED)
    _wrong(verdict, "`missed` is what `decide` gives when it takes 3-star reviews as complaints too", "stars <= 2")
    one_sided_the_other_way = lambda log, alpha: {  # noqa: E731
        **decide(log, alpha),
        "p_value": lab12.SLIPS["tests whether v2 misses more, not fewer"][0](
            list(log.version), list(log.positive), list(log.stars), alpha
        )["p_value"],
    }
    verdict = lab12.exercise_2.result(one_sided_the_other_way, LOG, decide(LOG, 0.05), seed=SEED)
    _wrong(verdict, "tests whether v2 misses more", "alternative")
    rounded = lambda log, alpha: {**decide(log, alpha), "p_value": round(decide(log, alpha)["p_value"], 3)}  # noqa: E731
    _wrong(lab12.exercise_2.result(rounded, LOG, decide(LOG, 0.05), seed=SEED), "`p_value` is", "one-sided")


def test_ex2_probes_tell_every_slip_apart():
    """On 300 seeds every slip answers unlike the rule and every other slip (decide_probes draws until so), and the
    probes hold what they are for: v2 better, v2 worse, a p-value between 0.05 and the wide alpha."""
    for seed in range(300):
        cases = lab12.decide_probes(seed)
        assert ex2._distinct(cases), seed
        right = ex2._answers(cases, lab12.reference)
        assert right[0]["missed"]["v2"] < right[0]["missed"]["v1"] and right[1]["p_value"] > 0.5, seed
        assert 0.05 <= right[4]["p_value"] < cases[4]["alpha"] and right[3]["promote"] is False, seed


def test_ex2_answers_of_the_wrong_kind():
    def check(fn):
        return lab12.exercise_2.result(fn, LOG, decide(LOG, 0.05), seed=SEED)

    def breaks(log, alpha):
        return log.no_such_column

    _wrong(check(breaks), "failed on a log of", "Fix the error")
    _wrong(check(lambda log, alpha: tuple(decide(log, alpha).values())), "not a dict")
    _wrong(check(lambda log, alpha: {k: v for k, v in decide(log, alpha).items() if k != "promote"}), "no 'promote'")
    _wrong(check(lambda log, alpha: {**decide(log, alpha), "missed": {"v1": 0.5}}), "not a share for each")
    _wrong(check(lambda log, alpha: {**decide(log, alpha), "missed": 0.5}), "not a share for each")
    _wrong(check(lambda log, alpha: {**decide(log, alpha), "p_value": "small"}), "`p_value` is 'small'")
    _wrong(check(lambda log, alpha: {**decide(log, alpha), "promote": "yes"}), "`promote` is 'yes'")
    _wrong(check(42), "not a function")


@pytest.mark.fast
def test_ex2_the_learner_s_log_and_decision():
    def check(log, decision):
        return lab12.exercise_2.result(decide, log, decision, seed=SEED)

    assert check(LOG, decide(LOG, 0.05)).passed
    _wrong(check(LOG, {**decide(LOG, 0.05), "promote": True}), "`decision` says", "decide(log, 0.05)")
    _wrong(check(LOG, {**decide(LOG, 0.05), "p_value": 0.01}), "`decision` says", "decide(log, 0.05)")
    _wrong(check(LOG, decide(_lab_log(seed=1), 0.05)), "`decision['missed']['v1']`", "after the cell")
    all_v1 = _lab_log(version_of=lambda u, e, p: None)
    _wrong(check(all_v1, decide(LOG, 0.05)), "no request on v2", "Solve exercise 1 first")
    _wrong(check(LOG.iloc[:400], decide(LOG.iloc[:400], 0.05)), "not the day's traffic", "builds `log`")
    _wrong(check(LOG.drop(columns="positive"), decide(LOG, 0.05)), "cannot read your `log`")
    _wrong(check(LOG.assign(version="v3"), decide(LOG, 0.05)), "the version 'v3'")
    _wrong(check(LOG, None), "not a dict")


# ----------------------------------------------------------------------------- Stretch
# The stretch requires:
#   R1 `requests_needed` a function (the outline filled in): test_stretch_placeholder_is_not_solved,
#      test_stretch_not_a_whole_number_or_an_error
#   R2 (probe) a whole number of requests: test_stretch_not_a_whole_number_or_an_error
#   R3 (probe) enough for the power, with the share, alpha and power given:
#      test_stretch_each_slip_is_named[even split, candidate only, no power, defaults]
#   R4 (probe) not far too many (half as many fall below the power): test_stretch_each_slip_is_named[ten times]
# Right answers written otherwise: test_stretch_accepts_other_sound_methods.


def requests_needed(p_champion, p_candidate, share, alpha=0.05, power=0.8):
    """The solution: the normal approximation, each group's own variance."""
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    spread = p_candidate * (1 - p_candidate) / share + p_champion * (1 - p_champion) / (1 - share)
    return math.ceil(z**2 * spread / (p_candidate - p_champion) ** 2)


def pooled_formula(p_champion, p_candidate, share, alpha=0.05, power=0.8):
    """The textbook's version: the pooled rate under the null hypothesis, each group's own under the alternative."""
    pooled = share * p_candidate + (1 - share) * p_champion
    null = stats.norm.ppf(1 - alpha) * math.sqrt(pooled * (1 - pooled) * (1 / share + 1 / (1 - share)))
    alternative = stats.norm.ppf(power) * math.sqrt(
        p_candidate * (1 - p_candidate) / share + p_champion * (1 - p_champion) / (1 - share)
    )
    return np.int64(math.ceil(((null + alternative) / (p_candidate - p_champion)) ** 2))


def arcsine(p_champion, p_candidate, share, alpha=0.05, power=0.8):
    """Cohen's h: the arcsine transform makes both variances 1 / n."""
    h = 2 * math.asin(math.sqrt(p_candidate)) - 2 * math.asin(math.sqrt(p_champion))
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return math.ceil((z / h) ** 2 * (1 / share + 1 / (1 - share)))


def by_simulation(p_champion, p_candidate, share, alpha=0.05, power=0.8):
    """The smallest n (to 2 %) whose simulated days reject often enough: doubling, then halving the interval."""
    rng = np.random.default_rng(0)

    def found(n):
        k = max(1, round(n * share))
        a, b = rng.binomial(k, p_candidate, 2000) / k, rng.binomial(n - k, p_champion, 2000) / (n - k)
        pooled = (a * k + b * (n - k)) / n
        with np.errstate(divide="ignore", invalid="ignore"):  # a day with no event at all: z is nan, no rejection
            z = (a - b) * np.sign(p_candidate - p_champion) / np.sqrt(pooled * (1 - pooled) * (1 / k + 1 / (n - k)))
        return np.mean(z > stats.norm.ppf(1 - alpha)) >= power

    high = 16
    while not found(high):
        high *= 2
    low = high // 2
    while high - low > max(2, high // 50):
        middle = (low + high) // 2
        low, high = (low, middle) if found(middle) else (middle, high)
    return high


def two_sided_formula(p_champion, p_candidate, share, alpha=0.05, power=0.8):
    """A two-sided test's size: more than needed, not far more; it passes."""
    return requests_needed(p_champion, p_candidate, share, alpha / 2, power)


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    def requests_needed(p_champion, p_candidate, share, alpha=0.05, power=0.8):
        """outline"""
        ...

    assert lab12.stretch.result(...).status == "not solved"
    assert lab12.stretch.result(requests_needed).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_the_solution():
    for seed in range(20):
        verdict = lab12.stretch.result(requests_needed, seed=seed)
        assert verdict.passed, (seed, verdict)


@pytest.mark.parametrize("fn", [pooled_formula, arcsine, by_simulation, two_sided_formula])
def test_stretch_accepts_other_sound_methods(fn):
    for seed in range(5):
        verdict = lab12.stretch.result(fn, seed=seed)
        assert verdict.passed, (fn.__name__, seed, verdict)


STRETCH_SLIPS = {  # slip -> (a learner's function, message, hint)
    "even split": (
        lambda a, b, s, alpha=0.05, power=0.8: requests_needed(a, b, 0.5, alpha, power),
        "as if the split were even",
        "its own size",
    ),
    "candidate only": (
        lambda a, b, s, alpha=0.05, power=0.8: round(requests_needed(a, b, s, alpha, power) * s),
        "the candidate's requests, not the total",
        "/ share",
    ),
    "no power": (
        lambda a, b, s, alpha=0.05, power=0.8: requests_needed(a, b, s, alpha, 0.5),
        "without the power's term",
        "z(power)",
    ),
    "defaults": (
        lambda a, b, s, alpha=0.05, power=0.8: requests_needed(a, b, s),
        "the default alpha and power, not the ones given",
        "that requests_needed is given",
    ),
    "ten times": (
        lambda a, b, s, alpha=0.05, power=0.8: 10 * requests_needed(a, b, s, alpha, power),
        "half as many requests already find the difference",
        "rounded up",
    ),
}


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(STRETCH_SLIPS))
def test_stretch_each_slip_is_named(slip):
    fn, message, hint = STRETCH_SLIPS[slip]
    for seed in range(20):
        _wrong(lab12.stretch.result(fn, seed=seed), message, hint)


def test_stretch_not_a_whole_number_or_an_error():
    _wrong(lab12.stretch.result(lambda *a, **k: float(requests_needed(*a, **k))), "not a whole number", "math.ceil")
    _wrong(lab12.stretch.result(lambda *a, **k: True), "not a whole number")
    _wrong(lab12.stretch.result(lambda *a, **k: 0), "not a number of requests a test could use")
    _wrong(lab12.stretch.result(lambda a, b, s: requests_needed(a, b, s)), "failed: TypeError", "Fix the error")
    _wrong(lab12.stretch.result("many"), "not a function")
    assert lab12.stretch.decide({"answers": []}, SEED).status == "wrong"  # forged: nothing asked


def test_stretch_the_judge_s_simulation():
    """The simulated power follows the normal approximation, the same for the same seed."""
    n = requests_needed(0.3, 0.2, 0.2)
    power = lab12.simulated_power(n, 0.3, 0.2, 0.2, 0.05, [1, 2])
    assert 0.75 <= power <= 0.85 and power == lab12.simulated_power(n, 0.3, 0.2, 0.2, 0.05, [1, 2])
    assert lab12.simulated_power(n // 2, 0.3, 0.2, 0.2, 0.05, [1, 2]) < 0.65
    assert math.isclose(lab12.formula(0.3, 0.2, 0.2), n, rel_tol=0.01)
