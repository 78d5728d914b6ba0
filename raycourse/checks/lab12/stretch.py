"""Stretch · how much traffic a decision needs: ``requests_needed(p_champion, p_candidate, share, alpha, power)``.

The observer asks the learner's function about three rollouts drawn from the seed (:func:`stretch_probes`: a rate
that falls on a fifth of the traffic at the defaults, one that rises on a tenth at alpha 0.01 and power 0.9, an even
split at alpha 0.1 and power 0.7). The judge simulates 4,000 days of each size, seeded, with a one-sided
two-proportion z-test (:func:`simulated_power`): at the learner's n the test must find the difference at least
``power`` - :data:`SLACK` of the time, and at n / 2 less than ``power`` of the time, so that any sound method passes
(a formula, a simulation, Fisher's test or a z-test) and neither too few requests nor far too many do. A size that
fails is named when a known slip's formula gives it: the split taken as even, the candidate's requests only, no
power term, the default alpha and power.
"""

from __future__ import annotations

import random

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import whole

DAYS = 4_000  # simulated days per size
SLACK = 0.07  # the power at n may fall this far below the asked power (the methods' approximations, the simulation)
MOST = 10**8
HINT = (
    "For a one-sided test: n = (z(1 - alpha) + z(power))^2 * (p_cand (1 - p_cand) / share + p_champ (1 - p_champ) / "
    "(1 - share)) / (p_cand - p_champ)^2, rounded up; or simulate days and search for the smallest n."
)


def stretch_probes(seed) -> list[dict]:
    """The rollouts the check asks about: {"args": [p_champion, p_candidate, share], "kwargs": {...}}."""
    rng = random.Random(int(seed or 0) + 1204)
    falls = rng.choice((0.30, 0.35, 0.40))
    rises = rng.choice((0.60, 0.65, 0.70))
    even = rng.choice((0.45, 0.50))
    return [
        {"args": [falls, round(falls - rng.choice((0.10, 0.12, 0.15)), 2), rng.choice((0.2, 0.25))], "kwargs": {}},
        {
            "args": [rises, round(rises + rng.choice((0.08, 0.10)), 2), rng.choice((0.10, 0.15))],
            "kwargs": {"alpha": 0.01, "power": 0.9},
        },
        {"args": [even, round(even - 0.10, 2), 0.5], "kwargs": {"alpha": 0.1, "power": 0.7}},
    ]


def _settings(probe: dict) -> tuple[float, float, float, float, float]:
    p_champion, p_candidate, share = probe["args"]
    return p_champion, p_candidate, share, probe["kwargs"].get("alpha", 0.05), probe["kwargs"].get("power", 0.8)


def _call(probe: dict) -> str:
    args = ", ".join(repr(a) for a in probe["args"])
    kwargs = "".join(f", {k}={v!r}" for k, v in probe["kwargs"].items())
    return f"requests_needed({args}{kwargs})"


def simulated_power(n: int, p_champion, p_candidate, share, alpha, seed) -> float:
    """The share of simulated days on which a one-sided two-proportion z-test at ``alpha`` (each group's own
    variance: the test the normal approximation's formula is made for) finds the difference, with ``n`` requests of
    which round(n * share) go to the candidate."""
    import numpy as np
    from scipy import stats

    rng = np.random.default_rng(seed)
    n_candidate = min(max(round(n * share), 1), n - 1)
    n_champion = n - n_candidate
    candidate = rng.binomial(n_candidate, p_candidate, DAYS) / n_candidate
    champion = rng.binomial(n_champion, p_champion, DAYS) / n_champion
    spread = np.sqrt(candidate * (1 - candidate) / n_candidate + champion * (1 - champion) / n_champion)
    difference = (candidate - champion) * (1 if p_candidate > p_champion else -1)
    z = np.divide(difference, spread, out=np.where(difference > 0, np.inf, 0.0), where=spread > 0)
    return float(np.mean(z > stats.norm.ppf(1 - alpha)))


def formula(p_champion, p_candidate, share, alpha=0.05, power=0.8) -> float:
    """The normal approximation's total (unrounded), the judge's yardstick for naming a slip."""
    from scipy import stats

    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    spread = p_candidate * (1 - p_candidate) / share + p_champion * (1 - p_champion) / (1 - share)
    return z**2 * spread / (p_candidate - p_champion) ** 2


# near miss -> (its n on a probe's settings, the hint)
SLIPS = {
    "as if the split were even": (
        lambda p0, p1, s, a, w: formula(p0, p1, 0.5, a, w),
        "Each group's variance counts with its own size: p (1 - p) / share for the candidate, and / (1 - share) "
        "for the champion.",
    ),
    "the candidate's requests, not the total": (
        lambda p0, p1, s, a, w: formula(p0, p1, s, a, w) * s,
        "That is the candidate's part: the total is the candidate's requests / share.",
    ),
    "without the power's term": (
        lambda p0, p1, s, a, w: formula(p0, p1, s, a, 0.5),
        "n grows with (z(1 - alpha) + z(power))^2: without z(power), the test finds the difference half the time.",
    ),
    "the default alpha and power, not the ones given": (
        lambda p0, p1, s, a, w: formula(p0, p1, s),
        "Use the alpha and power that requests_needed is given.",
    ),
}


def _slip(n: int, settings) -> tuple[str, str] | None:
    """The slip whose formula gives about ``n`` here (and the rule's does not), with its hint."""
    if abs(n / formula(*settings) - 1) <= 0.08:
        return None
    for slip, (size, hint) in SLIPS.items():
        if abs(n / size(*settings) - 1) <= 0.08:
            return slip, hint
    return None


def _check_probe(index: int, probe: dict, answer: list, seed) -> str:
    kind, n = answer
    call = _call(probe)
    if kind == "error":
        raise Wrong(f"`{call}` failed: {n}", "Fix the error above; run your cell, then this check.")
    if kind != "int":
        raise Wrong(f"`{call}` returned {n}, not a whole number of requests.", "Round up to an int: math.ceil(...).")
    if not 2 <= n <= MOST:
        raise Wrong(f"`{call}` returned {n:,}: not a number of requests a test could use.", HINT)
    settings = _settings(probe)
    p_champion, p_candidate, share, alpha, power = settings
    base = [int(seed or 0), index]
    at_n = simulated_power(n, p_champion, p_candidate, share, alpha, base + [1])
    if at_n < power - SLACK:
        named = _slip(n, settings)
        said = f", {named[0]}" if named else ""
        raise Wrong(
            f"`{call}` returned {n:,}{said}: with that many requests the test finds the difference on {at_n:.0%} "
            f"of the check's simulated days, not {power:.0%}.",
            named[1] if named else HINT,
        )
    at_half = simulated_power(n // 2, p_champion, p_candidate, share, alpha, base + [2])
    if at_half >= power:
        raise Wrong(
            f"`{call}` returned {n:,}, but half as many requests already find the difference on {at_half:.0%} of the "
            f"check's simulated days: far more traffic than the decision needs.",
            HINT,
        )
    return f"{n:,} (power {at_n:.2f}; {at_half:.2f} at half)"


def _judge_stretch(seen, seed=None) -> str:
    probes = stretch_probes(seed)
    answers = seen["answers"]
    for probe, answer in zip(probes, answers):
        if answer[0] == "error":
            _check_probe(0, probe, answer, seed)
    if len(answers) != len(probes):
        raise Wrong(f"the check saw {len(answers)} answers, not {len(probes)}.", "Run this check again.")
    sizes = [_check_probe(i, probe, answer, seed) for i, (probe, answer) in enumerate(zip(probes, answers))]
    return "enough requests and not far too many on the check's rollouts: " + ", ".join(sizes) + "."


@exercise("Stretch · how much traffic a decision needs", judge=_judge_stretch)
def stretch(requests_needed, *, seed=None) -> dict:
    require("requests_needed", requests_needed, "the total requests a one-sided test needs")
    if not callable(requests_needed):
        raise Wrong(f"`requests_needed` is {requests_needed!r:.60}, not a function.", "Define it with def.")
    answers = []
    for probe in stretch_probes(seed):
        try:
            answers.append(whole(requests_needed(*probe["args"], **probe["kwargs"])))
        except Exception as exc:  # noqa: BLE001 (the learner's error, named by the judge)
            answers.append(["error", error_line(exc)])
            break
    return {"answers": answers}
