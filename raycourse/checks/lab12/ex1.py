"""Exercise 1 · a split for a gradual rollout: ``in_candidate(user, experiment, percent)``.

The observer asks the learner's function about 20,000 made-up user ids (drawn from the seed, :func:`probe_users`):
for one experiment at percents 0, 1, 10, one drawn from the seed, 50 and 100, and for a second experiment at 10 and
50 (:func:`probe_plan`); then the 10 % group again, the users in reverse order, and the 50 % group of the first
2,000 users in a fresh Python process with another ``PYTHONHASHSEED`` (the function sent there with cloudpickle).
Each set of answers comes back as the hex digits of its bits.

The judge reads everything from those bits, in the order that names the likely slip: an answer that changes when
asked again (drawn at random), one that changes in another process (Python's salted ``hash()``), nobody at 0 % and
everybody at 100 %, each group's share within five standard errors of its percent (coarse buckets, an uneven or
mis-scaled bucket), each group inside the next larger one (the percent hashed with the user), and two experiments'
groups overlapping as independent splits would (no experiment in the hash).
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import shown

N_USERS = 20_000
ELSEWHERE = 2_000  # the users asked again in another process
SIGMAS = 5  # a share may be this many standard errors from its percent
EXPERIMENTS = ("winter-line", "new-search", "free-delivery", "gift-wrap", "size-guide", "dark-mode")
MIDDLE = (5, 20, 25, 30, 40)  # one of these percents, drawn from the seed, besides 1, 10 and 50
SHARE_HINT = (
    "Spread the users evenly over 100 buckets (or finer) with the whole digest, "
    "int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100, and compare the bucket with percent."
)
SALT_HINT = (
    'Hash the experiment\'s name with the user, hashlib.sha256(f"{experiment}:{user}".encode()): each experiment '
    "then splits the users its own way."
)


def probe_users(seed) -> list[str]:
    """The check's made-up user ids: 20,000 of them, different for each seed."""
    rng = random.Random(int(seed or 0) + 1201)
    return [f"u{n:07d}" for n in rng.sample(range(10**7), N_USERS)]


def probe_plan(seed) -> dict:
    """The experiments and percents the check asks about: {"first": name, "second": name, "asks": [[experiment,
    percent], ...]}, the first experiment's percents in increasing order, then the second's (10 and 50)."""
    rng = random.Random(int(seed or 0) + 1202)
    first, second = rng.sample(EXPERIMENTS, 2)
    percents = sorted([0, 1, 10, rng.choice(MIDDLE), 50, 100])
    return {"first": first, "second": second, "asks": [[first, p] for p in percents] + [[second, 10], [second, 50]]}


def pack(bits) -> str:
    """A list of truth values as hex digits (four to a digit, the first value the highest bit)."""
    text = "".join("1" if bit else "0" for bit in bits)
    return format(int(text, 2), f"0{math.ceil(len(text) / 4)}x") if text else ""


def unpack(digits: str, n: int) -> list[bool]:
    """The ``n`` truth values that :func:`pack` wrote as ``digits``."""
    if not isinstance(digits, str) or len(digits) != math.ceil(n / 4):
        raise ValueError(f"not the hex digits of {n} answers")
    text = format(int(digits, 16), f"0{n}b")
    if len(text) != n:
        raise ValueError(f"not the hex digits of {n} answers")
    return [c == "1" for c in text]


def _is_bool(answer) -> bool:
    return isinstance(answer, bool) or (
        type(answer).__module__ == "numpy" and type(answer).__name__ in ("bool", "bool_")
    )


def _ask(in_candidate, users, experiment, percent) -> tuple[list[bool], dict | None]:
    """The answers for each user, or what went wrong on the first call that failed or gave no truth value."""
    answers = []
    for user in users:
        call = [user, experiment, percent]
        try:
            answer = in_candidate(user, experiment, percent)
        except Exception as exc:  # noqa: BLE001 (the learner's error, named by the judge)
            return answers, {"kind": "error", "text": error_line(exc), "call": call}
        if not _is_bool(answer):
            return answers, {"kind": "type", "text": shown(answer, 60), "call": call}
        answers.append(bool(answer))
    return answers, None


_ELSEWHERE = """
import pickle, sys
fn, users, experiment, percent = pickle.loads(sys.stdin.buffer.read())
sys.stdout.write("".join("1" if fn(user, experiment, percent) else "0" for user in users))
"""


def _hash_seed(seed) -> str:
    """A PYTHONHASHSEED for the other process, never this process's own."""
    chosen = str(int(seed or 0) % 4_000_000 + 1)
    return chosen if chosen != os.environ.get("PYTHONHASHSEED") else str(int(chosen) + 1)


def in_another_process(in_candidate, users, experiment, percent, hash_seed: str) -> list:
    """The function's answers in a fresh Python with PYTHONHASHSEED=hash_seed: ["bits", hex digits] or ["error",
    why]. The function travels by value (cloudpickle), with what it uses."""
    import ray.cloudpickle

    try:
        payload = ray.cloudpickle.dumps((in_candidate, list(users), experiment, percent))
    except Exception as exc:  # noqa: BLE001 (a function that cannot travel: the judge says so)
        return ["error", f"it could not be sent there: {error_line(exc)}"]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    try:
        run = subprocess.run(
            [sys.executable, "-c", _ELSEWHERE], input=payload, capture_output=True, env=env, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ["error", error_line(exc)]
    bits = run.stdout.decode(errors="replace")
    if run.returncode != 0 or len(bits) != len(users) or set(bits) - {"0", "1"}:
        lines = run.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {run.returncode}"]
        return ["error", lines[-1][:200]]
    return ["bits", pack(c == "1" for c in bits)]


def _observe(in_candidate, seed) -> dict:
    users, plan = probe_users(seed), probe_plan(seed)
    seen = {"asks": [], "problem": None}
    for experiment, percent in plan["asks"]:
        answers, problem = _ask(in_candidate, users, experiment, float(percent))
        if problem:
            return {**seen, "problem": problem}
        seen["asks"].append(pack(answers))
    again, problem = _ask(in_candidate, users[::-1], plan["first"], 10.0)
    if problem:
        return {**seen, "problem": problem}
    seen["again"] = pack(again[::-1])
    where = _hash_seed(seed)
    seen["elsewhere"] = in_another_process(in_candidate, users[:ELSEWHERE], plan["first"], 50.0, where)
    return seen


# The judge ------------------------------------------------------------------------------------------------------


def _problem(problem: dict) -> None:
    user, experiment, percent = problem["call"]
    call = f"in_candidate({user!r}, {experiment!r}, {percent!r})"
    if problem["kind"] == "error":
        raise Wrong(f"`{call}` failed: {problem['text']}", "Fix the error above; run your cell, then this check.")
    raise Wrong(
        f"`{call}` returned {problem['text']}, not True or False.",
        "Return a truth value: whether the user is in the candidate's group (`bucket < percent` is one).",
    )


def _sticky(answers: dict, again: list[bool], elsewhere: list, first: str) -> None:
    changed = sum(a != b for a, b in zip(answers[(first, 10)], again))
    if changed:
        raise Wrong(
            f"asked twice about the same {N_USERS:,} users (experiment {first!r}, 10 %), in_candidate answered "
            f"otherwise for {changed:,} of them: a user would switch versions between requests.",
            "Draw nothing at random: derive the answer from the user and the experiment alone, with a hash.",
        )
    kind, value = elsewhere
    if kind == "error":
        raise Wrong(
            f"the check could not run in_candidate in another Python process: {value}",
            "Keep in_candidate to its arguments and to modules it imports (hashlib), so that any process can run it.",
        )
    there = unpack(value, ELSEWHERE)
    moved = sum(a != b for a, b in zip(answers[(first, 50)], there))
    if moved:
        raise Wrong(
            f"in a fresh Python process (another PYTHONHASHSEED), in_candidate puts {moved:,} of {ELSEWHERE:,} "
            f"users in the other group (experiment {first!r}, 50 %): two replicas would disagree.",
            "Python's hash() of a text is salted per process; hash with hashlib.sha256 instead, as the lesson's "
            "bucket does.",
        )


def _ends(answers: dict, first: str) -> None:
    nobody, everybody = sum(answers[(first, 0)]), sum(answers[(first, 100)])
    if nobody == N_USERS and everybody == 0:
        raise Wrong(
            "at percent 0 every user is in the candidate's group, and at 100 none: in_candidate answers for the "
            "champion's group.",
            "Return True for the candidate's users: those whose bucket is below percent.",
        )
    if nobody:
        raise Wrong(
            f"at percent 0, {nobody:,} of {N_USERS:,} users are in the candidate's group; nobody should be.",
            "Compare with `<`: buckets 0 to percent - 1 are the candidate's, so percent 0 takes no bucket.",
        )
    if everybody != N_USERS:
        raise Wrong(
            f"at percent 100, {N_USERS - everybody:,} of {N_USERS:,} users are left out of the candidate's group.",
            "Compare like with like: a bucket 0-99 with percent (0-100), or a fraction 0-1 with percent / 100."
            if everybody < N_USERS / 2
            else "With buckets 0 to 99 and `bucket < percent`, percent 100 takes every bucket.",
        )


def tolerance(percent: float) -> float:
    """How far (in points) a group's share may be from ``percent`` on the check's users: five standard errors."""
    p = percent / 100
    return 100 * SIGMAS * math.sqrt(p * (1 - p) / N_USERS)


def _share_hint(shares: dict) -> str:
    """The likely reason the shares are off, from the shares at each percent of the first experiment."""
    if abs(shares[1] - 10) <= tolerance(10) or (shares[1] == 0 and abs(shares[10] - 10) <= tolerance(10)):
        return "Too few buckets: with 10 (`% 10`), 1 % cannot be had. Use 100 buckets (`% 100`) or more. " + SHARE_HINT
    return SHARE_HINT + " A byte or two of the digest, taken mod 100, favours the small buckets."


def _shares(answers: dict, plan: dict) -> dict:
    shares = {}
    for experiment, percent in plan["asks"]:
        share = 100 * sum(answers[(experiment, percent)]) / N_USERS
        if experiment == plan["first"]:
            shares[percent] = share
    for experiment, percent in plan["asks"]:
        share = 100 * sum(answers[(experiment, percent)]) / N_USERS
        if 0 < percent < 100 and abs(share - percent) > tolerance(percent):
            raise Wrong(
                f"at {percent} %, the candidate's group of {experiment!r} holds {share:.2f} % of the check's "
                f"{N_USERS:,} users; chance allows {percent} ± {tolerance(percent):.2f}.",
                _share_hint(shares),
            )
    return shares


def _ramp(answers: dict, plan: dict) -> None:
    for experiment in (plan["first"], plan["second"]):
        percents = [p for e, p in plan["asks"] if e == experiment]
        for small, large in zip(percents, percents[1:]):
            left = sum(a and not b for a, b in zip(answers[(experiment, small)], answers[(experiment, large)]))
            if left:
                raise Wrong(
                    f"{left:,} users in {experiment!r}'s group at {small} % are not in its group at {large} %: a "
                    "ramp would move them back to the champion.",
                    "Hash the user and the experiment, not the percent, and compare that bucket with percent: a "
                    "larger percent then only adds users.",
                )


def _independent(answers: dict, plan: dict) -> str:
    first, second = plan["first"], plan["second"]
    said = []
    for percent in (50, 10):
        a, b = answers[(first, percent)], answers[(second, percent)]
        both = sum(x and y for x, y in zip(a, b)) / N_USERS
        expected = (sum(a) / N_USERS) * (sum(b) / N_USERS)
        allowed = SIGMAS * math.sqrt(expected * (1 - expected) / N_USERS)
        if abs(both - expected) > allowed:
            same = " (the same users)" if a == b else ""
            raise Wrong(
                f"the {percent} % groups of {first!r} and {second!r} share {100 * both:.2f} % of the check's users"
                f"{same}; split independently, they would share about {100 * expected:.2f} %.",
                SALT_HINT,
            )
        said.append(f"{100 * both:.1f} % at {percent} %")
    return " and ".join(said)


def _judge_1(seen, seed=None) -> str:
    plan = probe_plan(seed)
    if seen.get("problem"):
        _problem(seen["problem"])
    asks = seen["asks"]
    if len(asks) != len(plan["asks"]):
        raise Wrong(f"the check saw {len(asks)} sets of answers, not {len(plan['asks'])}.", "Run this check again.")
    answers = {(e, p): unpack(bits, N_USERS) for (e, p), bits in zip(plan["asks"], asks)}
    _sticky(answers, unpack(seen["again"], N_USERS), seen["elsewhere"], plan["first"])
    _ends(answers, plan["first"])
    shares = _shares(answers, plan)
    _ramp(answers, plan)
    overlap = _independent(answers, plan)
    shown = ", ".join(f"{shares[p]:.1f} % at {p} %" for p in sorted(shares) if 0 < p < 100)
    return (
        f"sticky (the same in another process), shares {shown}, each group inside the next, and "
        f"{plan['first']!r} and {plan['second']!r} split independently (they share {overlap})."
    )


@exercise("Exercise 1 · a split for a gradual rollout", judge=_judge_1)
def exercise_1(in_candidate, *, seed=None) -> dict:
    require("in_candidate", in_candidate, "whether a user is in the candidate's group")
    if not callable(in_candidate):
        raise Wrong(f"`in_candidate` is {in_candidate!r:.60}, not a function.", "Define it with def.")
    return _observe(in_candidate, seed)
