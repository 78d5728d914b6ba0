"""Exercise 2 · size another job: the workers a day's rows need, the cost of a million rows, and the counting stage's
rows per busy second, measured.

The observer calls the learner's ``workers_needed`` and ``cost_per_million`` on inputs made from the seed
(:func:`worker_probes`, :func:`cost_probes`): a day that needs a whole number of workers exactly, fractions that
must round up (one small, one large), the default utilisation and another, no rows at all; then it asks Prometheus
for every run of the map_batches stage of `counted` (exercise 1's Dataset; Ray Data's ``ray_data_output_rows`` and
``ray_data_block_generation_time`` per dataset and operator, their largest values of the last hour: the gauges
leave an instant query once a run is over). The judge holds the answers to the rule and names the near miss they
match (:data:`WORKER_SLIPS`, :data:`COST_SLIPS`), then ``measured`` to the rows per busy second of one of the
stage's runs (or of all of them together), within :data:`TOLERANCE`.
"""

from __future__ import annotations

import math
import numbers
import random
from fractions import Fraction

from .._core import Wrong, exercise, require
from ..toolkit import error_line, require_dataset
from ._common import as_float, batch_stages, close, no_prometheus, number, poll, prometheus_url, query

TOLERANCE = 0.2  # measured vs the check's own rows per busy second (read a moment apart, from the same gauges)
WINDOW = "1h"


def _quotient(rows, rps, hours, utilisation) -> Fraction:
    return Fraction(rows) / (Fraction(rps) * hours * 3600 * Fraction(str(utilisation)))


def _workers(rows, rps, hours, utilisation=0.7) -> int:
    return math.ceil(_quotient(rows, rps, hours, utilisation))


# near miss -> (its answer, the hint); each differs from the rule and from every other on every seed's probes
WORKER_SLIPS = {
    "rounding down": (
        lambda r, s, h, u: math.floor(_quotient(r, s, h, u)),
        "A part of a worker is still a worker: round up (math.ceil).",
    ),
    "rounding to the nearest": (
        lambda r, s, h, u: round(_quotient(r, s, h, u)),
        "A part of a worker is still a worker: round up (math.ceil), even below a half.",
    ),
    "one worker added to the rounded-down number": (
        lambda r, s, h, u: math.floor(_quotient(r, s, h, u)) + 1,
        "When the rows divide exactly, no extra worker is needed: round up with math.ceil.",
    ),
    "the utilisation multiplied": (
        lambda r, s, h, u: math.ceil(_quotient(r, s, h, u) * Fraction(str(u)) ** 2),
        "A worker busy only part of the time does less: divide by the utilisation.",
    ),
    "no utilisation": (
        lambda r, s, h, u: math.ceil(_quotient(r, s, h, u) * Fraction(str(u))),
        "Workers are busy only `utilisation` of the time: divide by it too.",
    ),
    "hours taken as seconds": (
        lambda r, s, h, u: math.ceil(_quotient(r, s, h, u) * 3600),
        "rows_per_second counts per second: turn the hours into seconds (hours * 3600).",
    ),
    "hours taken as minutes": (
        lambda r, s, h, u: math.ceil(_quotient(r, s, h, u) * 60),
        "An hour has 3,600 seconds: hours * 3600.",
    ),
    "at least one worker": (
        lambda r, s, h, u: max(1, _workers(r, s, h, u)),
        "No rows need no workers: let the division say 0.",
    ),
}
COST_SLIPS = {
    "the cost of one row": (lambda r, p: p / (r * 3600), "Multiply the cost of a row by a million."),
    "the cost of a thousand rows": (lambda r, p: p / (r * 3600) * 1e3, "A million is 1e6 rows."),
    "the hour not turned into seconds": (lambda r, p: p / r * 1e6, "A GPU hour makes rows_per_second * 3600 rows."),
    "an hour of 60 seconds": (lambda r, p: p / (r * 60) * 1e6, "An hour has 3,600 seconds."),
    "rows per dollar": (lambda r, p: r * 3600 / p, "Divide the price by the rows an hour makes, not the other way."),
}


def _cost(rps, price) -> float:
    return price / (rps * 3600) * 1e6


def _worker_case(rng, utilisation, low: float, high: float) -> tuple:
    """(rows, rows_per_second, hours, utilisation): a day that needs n workers and a fraction in [low, high)."""
    rps, hours, n = rng.randint(20, 400), rng.choice((2, 4, 6, 8, 12)), rng.randint(3, 12)
    u = 0.7 if utilisation is None else utilisation
    rows = n * rps * hours * 3600 * Fraction(str(u)) if low == high else None
    if rows is None:
        rows = round((n + rng.uniform(low, high)) * rps * hours * 3600 * u)
    return (int(rows), rps, hours, utilisation)


def _answers(fn, cases) -> tuple:
    return tuple(fn(r, s, h, 0.7 if u is None else u) for r, s, h, u in cases)


def _clear(cases) -> bool:
    """Every slip's division lands well away from a whole number, or on one exactly (float-exact inputs)."""
    for r, s, h, u in cases:
        q = _quotient(r, s, h, 0.7 if u is None else u)
        for scale in (1, 3600, 60, Fraction(str(0.7 if u is None else u)), Fraction(str(0.7 if u is None else u)) ** 2):
            frac = (q * scale) % 1
            if frac and not 0.02 <= frac <= 0.98:
                return False
    return True


def worker_probes(seed) -> list[tuple]:
    """``workers_needed``'s probe inputs: (rows, rows_per_second, hours, utilisation or None for the default).

    An exact day at a utilisation of 0.5 or 0.75 (floats then divide exactly), a small fraction at the default
    0.7, a large one at another utilisation, and no rows; drawn again until every slip answers differently."""
    rng = random.Random(int(seed or 0))
    while True:
        cases = [
            _worker_case(rng, rng.choice((0.5, 0.75)), 0, 0),
            _worker_case(rng, None, 0.1, 0.4),
            _worker_case(rng, rng.choice((0.6, 0.8, 0.9)), 0.6, 0.9),
            (0, rng.randint(20, 400), rng.choice((2, 4, 8)), None),
        ]
        answers = [_answers(_workers, cases)] + [_answers(fn, cases) for fn, _ in WORKER_SLIPS.values()]
        if len(set(answers)) == len(answers) and _clear(cases[:3]):
            return cases


def cost_probes(seed) -> list[tuple]:
    """``cost_per_million``'s probe inputs: (rows_per_second_per_gpu, price_per_gpu_hour), two of them."""
    rng = random.Random(int(seed or 0) + 1)
    while True:
        cases = [(rng.randint(50, 2000), rng.choice((0.9, 1.2, 2.5, 3.0, 4.8))) for _ in range(2)]
        answers = [[_cost(*c) for c in cases]] + [[fn(*c) for c in cases] for fn, _ in COST_SLIPS.values()]
        if all(
            not all(close(x, y, 1e-3) for x, y in zip(a, b)) for i, a in enumerate(answers) for b in answers[i + 1 :]
        ):
            return cases


def _call(fn, args) -> list:
    """[kind, value] of the learner's answer ("int", "float" or "other" with its repr), or ["error", line]."""
    try:
        value = fn(*args)
    except Exception as exc:
        return ["error", error_line(exc)]
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return ["int", int(value)]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return ["float", number(value)]
    return ["other", repr(value)[:80]]


def _shown(case: tuple, names: tuple) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, case) if v is not None)


WORKER_ARGS = ("rows", "rows_per_second", "hours", "utilisation")


def _check_workers(found: list, seed) -> None:
    cases = worker_probes(seed)
    for case, (kind, value) in zip(cases, found):
        if kind == "error":
            raise Wrong(f"`workers_needed({_shown(case, WORKER_ARGS)})` failed: {value}.", "Fix the error above.")
        if kind != "int":
            raise Wrong(
                f"`workers_needed({_shown(case, WORKER_ARGS)})` returns {value!r}, not an int.",
                "A number of workers is whole: math.ceil returns an int.",
            )
    values = tuple(v for _, v in found)
    if values == _answers(_workers, cases):
        return
    for slip, (fn, hint) in WORKER_SLIPS.items():
        if values == _answers(fn, cases):
            raise Wrong(f"On the check's own days, `workers_needed` answers as if by {slip}.", hint)
    case, value, right = next((c, v, w) for c, v, w in zip(cases, values, _answers(_workers, cases)) if v != w)
    raise Wrong(
        f"`workers_needed({_shown(case, WORKER_ARGS)})` returns {value}; the day needs {right}.",
        "rows / (rows_per_second * hours * 3600 * utilisation), rounded up.",
    )


def _check_costs(found: list, seed) -> None:
    cases = cost_probes(seed)
    for (rps, price), (kind, value) in zip(cases, found):
        call = f"`cost_per_million({rps}, {price})`"
        if kind == "error":
            raise Wrong(f"{call} failed: {value}.", "Fix the error above.")
        if kind not in ("int", "float") or as_float(value) is None:
            raise Wrong(f"{call} returns {value!r}, not a number.", "Return the dollars, a float.")
    values = [as_float(v) for _, v in found]
    right = [_cost(*c) for c in cases]
    if all(close(v, r, 1e-6) for v, r in zip(values, right)):
        return
    for slip, (fn, hint) in COST_SLIPS.items():
        if all(close(v, fn(*c), 1e-6) for v, c in zip(values, cases)):
            raise Wrong(f"On the check's own prices, `cost_per_million` answers {slip}.", hint)
    (rps, price), value, want = next((c, v, r) for c, v, r in zip(cases, values, right) if not close(v, r, 1e-6))
    raise Wrong(
        f"`cost_per_million({rps}, {price})` returns {value:g}; a million rows cost {want:.4g} dollars.",
        "price_per_gpu_hour / (rows_per_second_per_gpu * 3600) * 1e6.",
    )


def _runs(url: str, names: list[str]) -> list[dict]:
    """Each run of the last hour of an operator that holds one of the stages ``names`` (``MapBatches(CountStars)``,
    perhaps fused with the read before it): its dataset, operator, rows and busy seconds."""
    found: dict[tuple, dict] = {}
    for metric, field in (("ray_data_output_rows", "rows"), ("ray_data_block_generation_time", "seconds")):
        for labels, value in query(url, f"max by (dataset, operator) (max_over_time({metric}[{WINDOW}]))"):
            if any(name in labels.get("operator", "") for name in names):
                key = (labels.get("dataset", ""), labels["operator"])
                found.setdefault(key, {"dataset": key[0], "operator": key[1]})[field] = value
    return sorted((r for r in found.values() if "rows" in r and "seconds" in r), key=lambda r: r["dataset"])


def _check_measured(seen: dict) -> str:
    if not seen.get("prometheus"):
        raise Wrong(*no_prometheus())
    measured, stage = as_float(seen["measured"]), " or ".join(f"`{n}`" for n in seen["stages"]) or "none"
    if measured is None:
        raise Wrong(f"`measured` is {seen['measured']}, not a number.", "Read it from Prometheus: a float.")
    if not (math.isfinite(measured) and measured > 0):
        raise Wrong(
            f"`measured` is {measured:g}: rows per second are positive.",
            "Ray Data reports every 5 s: read the rate once the rows in Prometheus reach counted.count().",
        )
    runs = [r for r in seen["runs"] if r["seconds"] > 0 and r["rows"] > 0]
    if not runs:
        raise Wrong(
            f"Prometheus holds no rows of `counted`'s stage ({stage}) in the last hour.",
            "Pass the Dataset of exercise 1, whose stage counts the ratings (run it again if it is older).",
        )
    rates = [r["rows"] / r["seconds"] for r in runs]
    rates.append(sum(r["rows"] for r in runs) / sum(r["seconds"] for r in runs))
    if any(close(measured, rate, TOLERANCE) for rate in rates):
        return f"{measured:.0f} rows per busy second, as Prometheus says of `{runs[-1]['operator']}`"
    if any(close(1 / measured, rate, TOLERANCE) for rate in rates):
        raise Wrong(f"`measured` is {measured:.3g}: seconds per row.", "Divide the rows by the busy seconds.")
    last = runs[-1]
    raise Wrong(
        f"`measured` is {measured:.4g}; Prometheus says `{last['operator']}` made {last['rows']:g} rows in "
        f"{last['seconds']:.3g} busy seconds.",
        f"ray_data_output_rows / ray_data_block_generation_time for the operator {stage}: each in "
        f"max_over_time(...[{WINDOW}]), since Ray Data's gauges leave an instant query once the run is over.",
    )


def _judge_2(seen, seed=None) -> str:
    _check_workers(seen["workers"], seed)
    _check_costs(seen["costs"], seed)
    rate = _check_measured(seen)
    return f"both sizing rules hold on the check's own jobs; {rate}."


@exercise("Exercise 2 · size another job", judge=_judge_2)
def exercise_2(workers_needed, cost_per_million, measured, counted, *, seed=None) -> dict:
    require("workers_needed", workers_needed, "the function that sizes a day's job")
    require("cost_per_million", cost_per_million, "the function that prices a million rows")
    require("measured", measured, "the counting stage's rows per busy second, from Prometheus")
    require("counted", counted, "the Dataset of exercise 1")
    require_dataset("counted", counted)
    workers = [_call(workers_needed, (r, s, h) if u is None else (r, s, h, u)) for r, s, h, u in worker_probes(seed)]
    costs = [_call(cost_per_million, case) for case in cost_probes(seed)]
    url, names = prometheus_url(), batch_stages(counted)
    return {
        "workers": workers,
        "costs": costs,
        "measured": number(measured),
        "stages": names,
        "prometheus": url is not None,
        "runs": poll(lambda: _runs(url, names), bool) if url and names else [],
    }
