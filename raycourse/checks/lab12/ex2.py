"""Exercise 2 · a decision on missed complaints: ``decide(log, alpha)`` and the lab's ``decision``.

The observer calls ``decide`` on logs it builds from the seed (:func:`decide_probes`: v2 missing fewer complaints,
v2 missing more, two versions alike, asked at ``alpha`` 0.05 and, for the alike ones, at exactly the p-value
``decide`` gave them, and a mild difference at a wide ``alpha``), each a DataFrame with the lab's columns; then it
reads the three columns of the learner's ``log`` and ``decision``. Every answer comes back as plain data.

The judge holds each answer to :func:`reference` (the stated rule, on plain lists) within :data:`TOLERANCE`, and
``promote`` to the answer's own p-value; where an answer differs, it names the near miss it matches (:data:`SLIPS`:
every review counted, 3 stars taken as a complaint, a two-sided test, the test the wrong way round, the lesson's
accuracy, shares of all requests, counts, caught complaints, ``<=``, a fixed 0.05), else what is off. Then it
computes the decision on the learner's log itself, after checking that the log is the day's traffic.
"""

from __future__ import annotations

import functools
import random

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import close, number, shown, truth

VERSIONS = ("v1", "v2")
OWN = "own"  # a probe's alpha: the p-value decide gave for the same log at 0.05
RULE = (
    "A complaint is a review of 1 or 2 stars; v2's and v1's missed and caught complaints make the 2 x 2 table, and "
    "the test asks, one-sided, whether v2 misses fewer."
)


def _counts(version, positive, stars, complaint=lambda s: s <= 2, missed=lambda p, s: p) -> dict:
    """{version: [missed, caught]} over the rows that ``complaint`` keeps."""
    counts = {v: [0, 0] for v in VERSIONS}
    for v, p, s in zip(version, positive, stars):
        if complaint(s):
            counts[v][0 if missed(p, s) else 1] += 1
    return counts


def _pvalue(counts: dict, alternative: str = "greater") -> float:
    from scipy import stats

    # rows v1, v2; columns missed, caught: "greater", v1's odds of a miss above v2's, is "v2 misses fewer"
    return float(stats.fisher_exact([counts["v1"], counts["v2"]], alternative=alternative).pvalue)


def _rule(
    version,
    positive,
    stars,
    alpha,
    *,
    complaint=lambda s: s <= 2,
    missed=lambda p, s: p,
    per="complaints",
    report="share",
    alternative="greater",
    promote=lambda p, a: p < a,
) -> dict:
    """The rule, or a near miss of it: each keyword changes one step."""
    counts = _counts(version, positive, stars, complaint, missed)
    if per == "requests":  # each version's misses over all its requests
        requests = {v: sum(1 for x in version if x == v) for v in VERSIONS}
        counts = {v: [counts[v][0], requests[v] - counts[v][0]] for v in VERSIONS}
    shares = {
        "share": {v: m / (m + c) for v, (m, c) in counts.items()},
        "count": {v: float(m) for v, (m, c) in counts.items()},
        "caught": {v: c / (m + c) for v, (m, c) in counts.items()},
    }[report]
    p_value = _pvalue(counts, alternative)
    return {"missed": shares, "p_value": p_value, "promote": promote(p_value, alpha)}


def reference(version, positive, stars, alpha) -> dict:
    """The stated rule on plain lists: {"missed": {version: share}, "p_value": float, "promote": bool}."""
    return _rule(version, positive, stars, alpha)


_RIGHT = lambda p, s: p == (s >= 4)  # noqa: E731 (an answer the stars call right)

# near miss -> (its answer on a log's columns and an alpha, the hint); each differs from the rule and from every
# other on every seed's probes (decide_probes draws again until so)
SLIPS = {
    "counts every review as a complaint": (
        functools.partial(_rule, complaint=lambda s: True),
        "Keep only the complaints, the reviews of 1 or 2 stars, before you count misses.",
    ),
    "takes 3-star reviews as complaints too": (
        functools.partial(_rule, complaint=lambda s: s <= 3),
        "A complaint has 1 or 2 stars: stars <= 2.",
    ),
    "uses a two-sided test": (
        functools.partial(_rule, alternative="two-sided"),
        'The rule asks one question, whether v2 misses fewer: a one-sided test (alternative="greater" with v1\'s '
        "row first and misses first).",
    ),
    "tests whether v2 misses more, not fewer": (
        functools.partial(_rule, alternative="less"),
        'With the rows [v1, v2] and the columns [missed, caught], "v2 misses fewer" is alternative="greater".',
    ),
    "measures the lesson's accuracy, not missed complaints": (
        functools.partial(_rule, complaint=lambda s: True, missed=_RIGHT, alternative="less"),
        "Count a complaint answered positive as missed; the share is of the version's complaints, not its right "
        "answers.",
    ),
    "takes each version's misses over all its requests": (
        functools.partial(_rule, per="requests"),
        "Divide by the version's complaints, and test missed against caught complaints.",
    ),
    "gives counts of missed complaints, not shares": (
        functools.partial(_rule, report="count"),
        "missed[version] is a share: the version's missed complaints over its complaints.",
    ),
    "gives the share of complaints caught, not missed": (
        functools.partial(_rule, report="caught"),
        "A missed complaint is one answered positive=True.",
    ),
    "promotes at p_value <= alpha": (
        functools.partial(_rule, promote=lambda p, a: p <= a),
        "Promote only when p_value < alpha, strictly.",
    ),
    "promotes at p_value < 0.05 whatever alpha": (
        functools.partial(_rule, promote=lambda p, a: p < 0.05),
        "Compare p_value with the alpha decide is given.",
    ),
}
PROMOTE_SLIPS = {  # the slips whose own rule for promote the judge applies to the answer's own p-value
    "promotes at p_value <= alpha": lambda p, a: p <= a,
    "promotes at p_value < 0.05 whatever alpha": lambda p, a: p < 0.05,
}


def _log(rng: random.Random, miss: dict, rows: int) -> dict:
    """A log of ``rows`` requests as columns: each version's complaints missed at its rate ``miss``, 3-star reviews
    answered positive half the time (v2 less often), 4 and 5 stars mostly."""
    log = {"request": [], "user": [], "version": [], "stars": [], "positive": []}
    share_v2 = rng.choice((0.3, 0.4, 0.5))
    for request in range(1, rows + 1):
        version = "v2" if rng.random() < share_v2 else "v1"
        stars = rng.choices((1, 2, 3, 4, 5), weights=(3, 2, 2, 2, 3))[0]
        if stars <= 2:
            rate = miss[version]
        elif stars == 3:
            rate = 0.6 if version == "v1" else 0.35
        else:
            rate = 0.85 if version == "v1" else 0.75
        log["request"].append(request)
        log["user"].append(f"u{rng.randrange(1000):03d}")
        log["version"].append(version)
        log["stars"].append(stars)
        log["positive"].append(rng.random() < rate)
    return log


def _answers(cases: list[dict], fn) -> list[dict]:
    """``fn``'s answers on the probes, with the "own" alpha its own p-value on the same log."""
    out, own = [], None
    for case in cases:
        alpha = own if case["alpha"] == OWN else case["alpha"]
        answer = fn(case["log"]["version"], case["log"]["positive"], case["log"]["stars"], alpha)
        if case["alpha"] == 0.05 and case.get("twin"):
            own = answer["p_value"]
        out.append(answer)
    return out


def _same(a: dict, b: dict) -> bool:
    return (
        all(close(a["missed"][v], b["missed"][v]) for v in VERSIONS)
        and close(a["p_value"], b["p_value"])
        and a["promote"] == b["promote"]
    )


def _distinct(cases: list[dict]) -> bool:
    answers = [_answers(cases, reference)] + [_answers(cases, fn) for fn, _ in SLIPS.values()]
    return all(not all(_same(x, y) for x, y in zip(a, b)) for i, a in enumerate(answers) for b in answers[i + 1 :])


def _usable(log: dict) -> bool:
    complaints = {v: sum(1 for x, s in zip(log["version"], log["stars"]) if x == v and s <= 2) for v in VERSIONS}
    return min(complaints.values()) >= 8


@functools.lru_cache(maxsize=8)
def _probes(seed: int) -> tuple:
    rng = random.Random(seed + 1203)
    while True:
        low, high = rng.choice((0.1, 0.15)), rng.choice((0.4, 0.45, 0.5))
        alike = rng.choice((0.25, 0.3))
        logs = [
            _log(rng, {"v1": high, "v2": low}, rng.randint(160, 240)),  # v2 misses fewer
            _log(rng, {"v1": low, "v2": high}, rng.randint(160, 240)),  # v2 misses more
            _log(rng, {"v1": alike, "v2": alike}, rng.randint(120, 200)),  # alike
            _log(rng, {"v1": alike + 0.1, "v2": alike}, rng.randint(120, 200)),  # a mild difference
        ]
        if not all(_usable(log) for log in logs):
            continue
        cases = [
            {"log": logs[0], "alpha": 0.05},
            {"log": logs[1], "alpha": 0.05},
            {"log": logs[2], "alpha": 0.05, "twin": True},
            {"log": logs[2], "alpha": OWN},
            {"log": logs[3], "alpha": rng.choice((0.2, 0.3, 0.5))},
        ]
        mild = _answers(cases, reference)[4]
        if 0.05 <= mild["p_value"] < cases[4]["alpha"] and _distinct(cases):
            return tuple(cases)


def decide_probes(seed) -> list[dict]:
    """The logs (as columns) and alphas ``decide`` is asked about: drawn again until every slip answers unlike the
    rule and unlike every other slip. An alpha of "own" is the p-value decide gave for the log before it."""
    return list(_probes(int(seed or 0)))


def _frame(log: dict):
    import pandas as pd

    columns = ["request", "user", "stars", "version", "positive"]
    return pd.DataFrame({c: log[c] for c in columns}).astype({"stars": "int64", "positive": "bool"})


def _mapping(value) -> list:
    """decide's `missed` as plain data: ["map", {version: number}] or ["other", its repr]."""
    if hasattr(value, "items") and callable(value.items):
        try:
            return ["map", {str(k): number(v) for k, v in value.items()}]
        except Exception:  # noqa: BLE001 (not a mapping after all)
            pass
    return ["other", shown(value)]


def encode_answer(value) -> list:
    """What decide returned as plain data: ["dict", {"missed", "p_value", "promote"}] or ["other", its repr]."""
    if not isinstance(value, dict):
        return ["other", shown(value)]
    out = {}
    for key, encoder in (("missed", _mapping), ("p_value", number), ("promote", truth)):
        out[key] = encoder(value[key]) if key in value else ["missing"]
    return ["dict", out]


def _probe(decide, seed) -> list:
    answers, own = [], 0.05
    for case in decide_probes(seed):
        alpha = own if case["alpha"] == OWN else case["alpha"]
        try:
            answer = encode_answer(decide(_frame(case["log"]), alpha))
        except Exception as exc:  # noqa: BLE001 (the learner's error, named by the judge)
            answers.append({"alpha": alpha, "answer": ["error", error_line(exc)]})
            break
        answers.append({"alpha": alpha, "answer": answer})
        if case.get("twin") and answer[0] == "dict" and answer[1]["p_value"][0] == "number":
            own = answer[1]["p_value"][1]
    return answers


# The judge ------------------------------------------------------------------------------------------------------


def _shown(log: dict) -> str:
    complaints = {v: [0, 0] for v in VERSIONS}
    for v, p, s in zip(log["version"], log["positive"], log["stars"]):
        if s <= 2:
            complaints[v][0 if p else 1] += 1
    said = ", ".join(f"{v} missed {m} of {m + c}" for v, (m, c) in complaints.items())
    return f"a log of {len(log['version'])} requests ({said} complaints)"


def plain_answer(answer: list, where: str) -> dict:
    """An encoded answer as {"missed": {v1, v2}, "p_value", "promote"}, or Wrong naming what it is instead."""
    kind, value = answer
    if kind == "error":
        raise Wrong(f"`decide` failed on {where}: {value}", "Fix the error above; run your cell, then this check.")
    if kind != "dict":
        raise Wrong(
            f"`decide` returns {value} on {where}, not a dict.",
            'Return {"missed": ..., "p_value": ..., "promote": ...}.',
        )
    missing = [key for key, got in value.items() if got[0] == "missing"]
    if missing:
        raise Wrong(
            f"what `decide` returns has no {missing[0]!r}.", 'Return {"missed": ..., "p_value": ..., "promote": ...}.'
        )
    missed, p_value, promote = value["missed"], value["p_value"], value["promote"]
    if missed[0] != "map" or sorted(missed[1]) != list(VERSIONS):
        said = sorted(missed[1]) if missed[0] == "map" else missed[1]
        raise Wrong(f"`missed` is {said} on {where}, not a share for each of v1 and v2.", "{version: share}.")
    bad = [v for v in VERSIONS if missed[1][v][0] != "number" or isinstance(missed[1][v][1], str)]
    if bad:
        raise Wrong(f"`missed[{bad[0]!r}]` is {missed[1][bad[0]][1]} on {where}, not a number.", "A share, 0 to 1.")
    if p_value[0] != "number" or isinstance(p_value[1], str):
        raise Wrong(f"`p_value` is {p_value[1]} on {where}, not a number.", "fisher_exact(...).pvalue, a float.")
    if promote[0] != "bool":
        raise Wrong(f"`promote` is {promote[1]} on {where}, not True or False.", "p_value < alpha.")
    return {"missed": {v: missed[1][v][1] for v in VERSIONS}, "p_value": p_value[1], "promote": promote[1]}


def _matches(found: list[dict], expected: list[dict], promote=lambda p, a: p < a, alphas=()) -> bool:
    """Whether ``found`` is ``expected`` throughout, ``promote`` judged on the found p-values and the alphas."""
    for answer, want, alpha in zip(found, expected, alphas):
        want = {**want, "promote": promote(answer["p_value"], alpha)}
        if not _same(answer, want):
            return False
    return True


def _name_slip(found: list[dict], cases: list[dict], alphas: list) -> None:
    """Wrong naming the near miss that ``found`` matches: as a whole, else in its first part that is off."""
    answers = {
        slip: [fn(c["log"]["version"], c["log"]["positive"], c["log"]["stars"], a) for c, a in zip(cases, alphas)]
        for slip, (fn, _) in SLIPS.items()
    }
    for slip, expected in answers.items():
        if _matches(found, expected, PROMOTE_SLIPS.get(slip, lambda p, a: p < a), alphas):
            raise Wrong(f"on the check's own logs, `decide` {slip}.", SLIPS[slip][1])
    right = [reference(c["log"]["version"], c["log"]["positive"], c["log"]["stars"], a) for c, a in zip(cases, alphas)]
    parts = {
        "missed": lambda a, b: all(close(a["missed"][v], b["missed"][v]) for v in VERSIONS),
        "p_value": lambda a, b: close(a["p_value"], b["p_value"]),
    }
    for part, same in parts.items():
        if all(same(a, b) for a, b in zip(found, right)):
            continue
        for slip, expected in answers.items():
            if all(same(a, b) for a, b in zip(found, expected)):
                raise Wrong(f"on the check's own logs, `{part}` is what `decide` gives when it {slip}.", SLIPS[slip][1])
        return


def _first_difference(found: list[dict], right: list[dict], cases: list[dict], alphas: list) -> None:
    for answer, want, case, alpha in zip(found, right, cases, alphas):
        where = _shown(case["log"])
        for v in VERSIONS:
            if not close(answer["missed"][v], want["missed"][v]):
                raise Wrong(
                    f"`missed[{v!r}]` is {answer['missed'][v]:.4g} on {where}; the share of {v}'s complaints "
                    f"answered positive is {want['missed'][v]:.4g}.",
                    RULE,
                )
        if not close(answer["p_value"], want["p_value"]):
            raise Wrong(
                f"`p_value` is {answer['p_value']:.4g} on {where}; the one-sided Fisher's exact test gives "
                f"{want['p_value']:.4g}.",
                RULE,
            )
        if answer["promote"] != (answer["p_value"] < alpha):
            raise Wrong(
                f"`promote` is {answer['promote']} at p_value {answer['p_value']:.4g} and alpha {alpha:.4g}.",
                "promote = p_value < alpha.",
            )


def check_probes(probed: list, seed) -> str:
    cases = decide_probes(seed)
    found, alphas = [], []
    for case, seen in zip(cases, probed):
        found.append(plain_answer(seen["answer"], _shown(case["log"])))
        alphas.append(seen["alpha"])
    if len(found) != len(cases):
        raise Wrong(f"the check saw {len(found)} answers of `decide`, not {len(cases)}.", "Run this check again.")
    own = next(answer["p_value"] for answer, case in zip(found, cases) if case.get("twin"))
    if alphas != [c["alpha"] if c["alpha"] != OWN else own for c in cases]:
        raise Wrong("the check's own logs were asked at other alphas than its own.", "Run this check again.")
    right = [reference(c["log"]["version"], c["log"]["positive"], c["log"]["stars"], a) for c, a in zip(cases, alphas)]
    if _matches(found, right, alphas=alphas):
        return f"`decide` holds on the check's {len(cases)} logs"
    _name_slip(found, cases, alphas)
    _first_difference(found, right, cases, alphas)
    raise Wrong("`decide`'s answers differ from the rule's on the check's logs.", RULE)


@functools.lru_cache(maxsize=1)
def traffic_stars() -> tuple[int, ...]:
    """The stars of the day's requests, in order, from the data file."""
    import json

    import raycourse

    with open(raycourse.data_path("traffic"), encoding="utf-8") as lines:
        return tuple(int(json.loads(line)["stars"]) for line in lines if line.strip())


def check_lab(lab: dict) -> str:
    if "error" in lab:
        raise Wrong(f"the check cannot read your `log`: {lab['error']}", "Run the cell that builds `log` again.")
    version, positive, stars = lab["version"], lab["positive"], lab["stars"]
    if [int(s) for s in stars] != list(traffic_stars()):
        raise Wrong(
            f"your `log` is not the day's traffic ({len(stars)} rows; the traffic has {len(traffic_stars())}).",
            "Run the cell after exercise 1 again: it builds `log` from `traffic`.",
        )
    others = sorted({str(v) for v in version} - set(VERSIONS))
    if others:
        raise Wrong(f"your `log` has the version {others[0]!r}.", 'Each request\'s version is "v1" or "v2".')
    if "v2" not in version:
        raise Wrong(
            "your `log` has no request on v2, so there is nothing to decide.",
            "Solve exercise 1 first, then run the cell that builds `log` and the decision again.",
        )
    if any(not isinstance(p, bool) for p in positive):
        raise Wrong("your `log`'s `positive` column holds values that are not True or False.", "Run its cell again.")
    complaints = _counts(version, positive, stars)
    if not all(sum(complaints[v]) for v in VERSIONS):
        v = next(v for v in VERSIONS if not sum(complaints[v]))
        raise Wrong(f"your `log` has no complaint answered by {v}: nothing to compare.", "Run its cell again.")
    decision = plain_answer(lab["decision"], "your `log`")
    want = reference(version, positive, stars, 0.05)
    for v in VERSIONS:
        if not close(decision["missed"][v], want["missed"][v]):
            raise Wrong(
                f"`decision['missed'][{v!r}]` is {decision['missed'][v]:.4g}; on your log it is "
                f"{want['missed'][v]:.4g}.",
                "decision = decide(log, 0.05), run after the cell that builds `log`.",
            )
    if not close(decision["p_value"], want["p_value"]) or decision["promote"] != (decision["p_value"] < 0.05):
        raise Wrong(
            f"`decision` says p_value {decision['p_value']:.4g}, promote {decision['promote']}; on your log the "
            f"rule gives {want['p_value']:.4g}, {want['promote']}.",
            "decision = decide(log, 0.05), run after the cell that builds `log`.",
        )
    shown = ", ".join(f"{v} misses {want['missed'][v]:.0%}" for v in VERSIONS)
    verdict = "promote v2" if want["promote"] else "keep v1"
    return f"on the day's log, {shown} of complaints, p = {want['p_value']:.2g}: {verdict}"


def _judge_2(seen, seed=None) -> str:
    probes = check_probes(seen["probes"], seed)
    lab = check_lab(seen["lab"])
    return f"{probes}; {lab}."


def _lab(log, decision) -> dict:
    try:
        version = [str(v) for v in log["version"]]
        positive = [truth(p)[1] if truth(p)[0] == "bool" else repr(p) for p in log["positive"]]
        stars = [int(s) for s in log["stars"]]
    except Exception as exc:  # noqa: BLE001 (not the lab's log: the judge says so)
        return {"error": error_line(exc)}
    return {"version": version, "positive": positive, "stars": stars, "decision": encode_answer(decision)}


@exercise("Exercise 2 · a decision on missed complaints", judge=_judge_2)
def exercise_2(decide, log, decision, *, seed=None) -> dict:
    require("decide", decide, "the decision by the stated rule")
    require("decision", decision, "decide(log, 0.05)")
    if not callable(decide):
        raise Wrong(f"`decide` is {decide!r:.60}, not a function.", "Define it with def.")
    return {"probes": _probe(decide, seed), "lab": _lab(log, decision)}
