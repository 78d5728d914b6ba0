"""Lab 10 checks: right answers written differently pass, each stated requirement has a wrong answer that breaks
only it, and the message names it in a line or two.

The checks ask a Prometheus: the tests that run pipelines get a Ray of this module's own, started as the lab starts
it (``raycourse.init(metrics=True)``: its dashboard and a Prometheus beside it), so that no other notebook's Counter
of the same name adds to theirs; they skip where no ``prometheus`` is found. Each pipeline runs once for the whole
module (a Counter adds up across runs). The mistakes that would need a run of their own (the pipeline run twice,
another name or tag) are the real observation changed as that run would change it, handed to the judge; the probes
of exercise 2 are pure Python.
"""

import math
import os
import random
import sys
import time

import pandas as pd
import pytest
import ray
import ray.cloudpickle

import raycourse
from raycourse.checks import lab10
from raycourse.checks.lab10 import _common, ex1, ex2
from raycourse.session import prometheus, runtime

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")
NEEDS_PROMETHEUS = pytest.mark.skipif(prometheus.binary() is None, reason=prometheus.MISSING)

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module

TRUTH = {1: 20, 2: 19, 3: 19, 4: 19, 5: 19}  # the sample's ratings per star (the judges read the file themselves)
SUM = "sum by (stars) (ray_ratings_by_stars_total)"
HISTOGRAM = "lab10_test_batch_seconds"


def _wrong(verdict, message, hint=""):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and hint in verdict.hint, verdict.hint
    assert len(verdict.message.splitlines()) <= 3


class CountStars:
    def __init__(self):
        from ray.util.metrics import Counter

        self.ratings = Counter("ratings_by_stars", tag_keys=("stars",))

    def __call__(self, batch):
        for stars, n in pd.Series(batch["stars"]).value_counts().items():
            self.ratings.inc(int(n), tags={"stars": str(stars)})
        return batch


WORKING_S = 0.3  # a batch's seconds in the tests' counting stage: the next batch goes to the other actor


class SlowCountStars(CountStars):
    def __call__(self, batch):
        time.sleep(WORKING_S)
        return super().__call__(batch)


class TimedLength:
    def __init__(self):
        from ray.util.metrics import Histogram

        self.seconds = Histogram(HISTOGRAM, boundaries=[0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5])

    def __call__(self, batch):
        start = time.perf_counter()
        batch["length"] = batch["text"].str.len()
        self.seconds.observe(time.perf_counter() - start)
        return batch


def _ratings():
    return ray.data.read_json(raycourse.data_path("ratings"))


@pytest.fixture(scope="module")
def metrics_ray():
    """A Ray of this module's own with a Prometheus beside it (the run's shared Ray is joined again after)."""
    if prometheus.binary() is None:
        pytest.skip(prometheus.MISSING)
    joined = ray.is_initialized()
    ray.shutdown()
    kept = {k: os.environ.pop(k) for k in ("RAY_ADDRESS", prometheus.HOST_ENV) if k in os.environ}
    before = dict(os.environ)
    patch = pytest.MonkeyPatch()
    patch.setattr(runtime, "find_running_ray", lambda: None)  # not a Ray of `ray start`: one of its own
    try:
        raycourse.init(quiet=True, metrics=True)
        url = raycourse.prometheus_url()
        if url is None:
            pytest.skip("the module's Ray started no Prometheus")
        yield url
    finally:
        ray.shutdown()
        if prometheus._own is not None:
            prometheus._own.stop()
            prometheus._own = None
        for key in set(os.environ) - set(before):  # what starting Prometheus set (its host, Ray's report interval)
            os.environ.pop(key)
        os.environ.update(kept)
        patch.undo()
        if joined:
            raycourse.init(quiet=True)


@pytest.fixture(scope="module")
def counted(metrics_ray):
    """The solution's pipeline, run once on both workers of its pool; the check's observer waits for its counts.

    The slips of one series per worker need two workers. A pool hands its batches to the actors that are ready, so on
    a busy machine the first actor up could count every rating before the second started (seen here). So the pool
    starts both actors before its first batch, each holds one batch at a time, and a batch takes long enough
    (WORKING_S) that the next goes to the other actor."""
    ds = _ratings()
    ds.context.wait_for_min_actors_s = 300  # this dataset's own context: nothing else waits
    pool = ray.data.ActorPoolStrategy(size=2, max_tasks_in_flight_per_actor=1)
    ds = ds.map_batches(SlowCountStars, batch_size=16, compute=pool).materialize()
    lab10.exercise_1.observe(ds, dict(TRUTH))
    return ds


@pytest.fixture(scope="module")
def seen_1(counted):
    return lab10.exercise_1.observe(counted, dict(TRUTH))


@pytest.fixture(scope="module")
def timed(metrics_ray):
    """The stretch's stage, run once; the check's observer waits for its buckets."""
    _ratings().map_batches(
        TimedLength, batch_size=8, batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=2)
    ).materialize()
    return lab10.stretch.observe(0.0, HISTOGRAM)


def _settled(url, promql):
    """The query's answer once there (the fixtures' runs waited for their numbers already)."""
    return _common.poll(lambda: _common.query(url, promql), bool)


@pytest.fixture
def settled(monkeypatch):
    """For answers checked after their numbers arrived: the observers wait a moment, not the learner's seconds."""
    monkeypatch.setattr(_common, "STEADY_SECONDS", 0.5)
    monkeypatch.setattr(_common, "POLL_SECONDS", 2)


def workers_needed(rows, rows_per_second, hours, utilisation=0.7):
    return math.ceil(rows / (rows_per_second * hours * 3600 * utilisation))


def workers_needed_other(rows, rows_per_second, hours, utilisation=0.7):
    """Written differently: per worker-day, then a negative floor division."""
    per_worker = rows_per_second * utilisation * hours * 60 * 60
    return int(-(-rows // per_worker))


def cost_per_million(rows_per_second_per_gpu, price_per_gpu_hour):
    return price_per_gpu_hour / (rows_per_second_per_gpu * 3600) * 1e6


def cost_per_million_other(rows_per_second_per_gpu, price_per_gpu_hour):
    rows_per_dollar = rows_per_second_per_gpu * 3600 / price_per_gpu_hour
    return 1_000_000 / rows_per_dollar


def _measured(url, ds):
    """The counting stage's rows per busy second, read as the lab says: once its rows in Prometheus reach
    ``ds.count()``. Ray Data's executor hands its gauges over every 5 s: right after the run the rate can still be
    missing (NaN: 0 rows over 0 s), or a value from the middle of the run, which the check then tells apart from the
    final one it reads."""
    rows = 'sum(max_over_time(ray_data_output_rows{operator=~".*CountStars.*"}[10m]))'
    busy = 'sum(max_over_time(ray_data_block_generation_time{operator=~".*CountStars.*"}[10m]))'
    total = ds.count()
    _common.poll(lambda: _common.query(url, rows), lambda v: bool(v) and v[0][1] >= total)
    found = _common.poll(
        lambda: _common.query(url, f"{rows} / {busy}"), lambda v: bool(v) and math.isfinite(v[0][1]) and v[0][1] > 0
    )
    return found[0][1]


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 `counted` a Ray Dataset with a map_batches stage: test_ex1_not_a_dataset_or_no_stage
#   R2 a Counter named ratings_by_stars (Prometheus's ray_ratings_by_stars_total):
#      test_ex1_judge_names_each_slip[another name]
#   R3 tagged `stars`, the star as text: test_ex1_judge_names_each_slip[another tag, stars as a float, old series]
#   R4 counted inside the stage, not in the notebook: test_ex1_judge_names_each_slip[counted in the driver]
#   R5 each batch's ratings per star, the file's counts: test_ex1_judge_names_each_slip[one per batch]
#   R6 the pipeline run (a Dataset is lazy): test_ex1_judge_names_each_slip[never ran, lazy]
#   R7 run once (a Counter adds up across runs): test_ex1_judge_names_each_slip[ran twice, ran three times]
#   R8 `by_stars` a dict {int: int}: test_ex1_by_stars_of_another_shape
#   R9 `by_stars` read from Prometheus, summed over the workers, after the counts arrived:
#      test_ex1_by_stars_not_what_prometheus_holds
#   R10 no Prometheus: told how to get one: test_ex1_without_prometheus
# Right answers written otherwise: test_ex1_accepts_the_solution_and_a_function_stage_s_counts.


@pytest.mark.fast
def test_the_observers_wait_longer_where_prometheus_now_scrapes_less_often(monkeypatch):
    """A long session's Prometheus scrapes a slow agent less often (prometheus.Prometheus.pace): a value unchanged
    for the steady window may still be on its way, so the window grows by twice the extra seconds. On a clock of the
    test's own, reads 0.5 s apart: one wait at the first interval; 1 s more of scraping, four waits more."""

    class Clock:
        now = 0.0

        def monotonic(self):
            return self.now

        def sleep(self, seconds):
            self.now += seconds

    monkeypatch.setattr(_common, "time", Clock())
    monkeypatch.setattr(_common, "STEADY_SECONDS", 0.5)
    monkeypatch.setattr(_common, "prometheus_url", lambda: "http://127.0.0.1:9")
    for scrape, waits in ((prometheus.SCRAPE_SECONDS, 1), (prometheus.SCRAPE_SECONDS + 1, 5)):
        monkeypatch.setattr(prometheus, "scrape_seconds", lambda url, scrape=scrape: scrape)
        reads = []
        assert _common.poll(lambda: reads.append(1) or 7, lambda value: False) == 7
        assert len(reads) == 1 + waits, (scrape, len(reads))


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved(ray_session):
    assert lab10.exercise_1.result(..., ...).status == "not solved"
    assert lab10.exercise_1.result(_ratings(), ...).status == "not solved"


@NEEDS_PROMETHEUS
@pytest.mark.fast
def test_ex1_accepts_the_solution_and_a_function_stage_s_counts(counted, metrics_ray):
    found = {int(labels["stars"]): int(value) for labels, value in _settled(metrics_ray, SUM)}
    assert found == TRUTH
    verdict = lab10.exercise_1.result(counted, found)
    assert verdict.passed, verdict
    floats = {k: float(v) for k, v in found.items()}  # Prometheus's floats kept
    assert lab10.exercise_1.result(counted, floats).passed


@NEEDS_PROMETHEUS
def test_ex1_not_a_dataset_or_no_stage(counted, settled):
    _wrong(lab10.exercise_1.result(counted.to_pandas(), dict(TRUTH)), "not a Ray Dataset")
    _wrong(lab10.exercise_1.result(_ratings().materialize(), dict(TRUTH)), "no map_batches stage")


@NEEDS_PROMETHEUS
def test_ex1_by_stars_of_another_shape(counted, settled):
    _wrong(lab10.exercise_1.result(counted, {str(k): v for k, v in TRUTH.items()}), "key '1'", "labels['stars']")
    _wrong(lab10.exercise_1.result(counted, list(TRUTH.items())), "is a list, not a dict")
    _wrong(lab10.exercise_1.result(counted, {k: "many" for k in TRUTH}), "not numbers")


@NEEDS_PROMETHEUS
def test_ex1_by_stars_not_what_prometheus_holds(counted, seen_1, metrics_ray, settled):
    one_worker = {}
    for labels, value in _common.query(metrics_ray, "ray_ratings_by_stars_total"):
        one_worker[int(labels["stars"])] = int(value)  # the last worker's series wins: no sum
    assert len({labels["WorkerId"] for labels, _ in _common.query(metrics_ray, "ray_ratings_by_stars_total")}) > 1
    _wrong(lab10.exercise_1.result(counted, one_worker), "one series per star", "sum by (stars)")
    early = {1: 12, 2: 9, 3: 11}
    _wrong(lab10.exercise_1.result(counted, early), "counts 32 ratings", "wait")
    more = {**TRUTH, 5: 40}
    _wrong(lab10.exercise_1.result(counted, more), "`by_stars[5]` is 40", "query_now(")


def _tagged(seen, rename):
    return {**seen, "series": [{**s, "tags": rename(s["tags"])} for s in seen["series"]]}


@NEEDS_PROMETHEUS
@pytest.mark.parametrize(
    "slip, message, hint",
    [
        ("another name", "but has `ray_rating_per_star_total`", 'Counter "ratings_by_stars"'),
        ("never ran", "your counting stage has not run", "lazy"),
        ("lazy", "`counted` is lazy", ".materialize()"),
        ("another tag", "tagged with `star`, not `stars`", 'tag_keys=("stars",)'),
        ("stars as a float", "stars='1.5'", "str(int(s))"),
        ("old series", "have no `stars` tag", "restart the kernel"),
        ("counted in the driver", "notebook's own process", "map_batches"),
        ("ran twice", "every rating 2 times", "restart the kernel"),
        ("ran three times", "every rating 3 times", "restart the kernel"),
        ("one per batch", "Prometheus counts", "value_counts"),
    ],
)
def test_ex1_judge_names_each_slip(seen_1, slip, message, hint):
    """The real observation, changed as the slip's own run would change it (a run of each would count on)."""
    times = lambda k: {**seen_1, "series": [{**s, "value": s["value"] * k} for s in seen_1["series"]]}  # noqa: E731
    forged = {
        "another name": {**seen_1, "series": [], "similar": ["ray_rating_per_star_total"]},
        "never ran": {**seen_1, "series": [], "similar": []},
        "lazy": {**seen_1, "series": [], "similar": [], "materialized": False},
        "another tag": _tagged(seen_1, lambda t: {"star": t["stars"]}),
        "stars as a float": _tagged(seen_1, lambda t: {"stars": str(int(t["stars"]) + 0.5)}),
        "old series": {**seen_1, "series": seen_1["series"] + [{"tags": {"star": "1"}, "component": "", "value": 3}]},
        "counted in the driver": {**seen_1, "series": [{**s, "component": "driver"} for s in seen_1["series"]]},
        "ran twice": times(2),
        "ran three times": times(3),
        "one per batch": {**seen_1, "series": [{**s, "value": 1.0} for s in seen_1["series"]]},
    }[slip]
    _wrong(lab10.exercise_1.decide(forged), message, hint)


@NEEDS_PROMETHEUS
def test_ex1_the_solution_s_observation_passes_and_forgeries_do_not(seen_1):
    assert lab10.exercise_1.decide(seen_1).passed
    forgeries = {
        "nothing": {},
        "no prometheus": {**seen_1, "prometheus": None},
        "no stage": {**seen_1, "stages": []},
        "no series": {**seen_1, "series": []},
        "a star missing": {**seen_1, "series": [s for s in seen_1["series"] if s["tags"]["stars"] != "3"]},
        "by_stars as text": {**seen_1, "by_stars": str(seen_1["by_stars"])},
        "by_stars off by one": {**seen_1, "by_stars": {"items": [["int", k, v + 1] for k, v in TRUTH.items()]}},
    }
    for what, forged in forgeries.items():
        assert lab10.exercise_1.decide(forged).status == "wrong", what


@pytest.mark.fast
def test_ex1_without_prometheus(ray_session, monkeypatch):
    monkeypatch.setattr(_common, "prometheus_url", lambda: None)
    monkeypatch.setattr(ex1, "prometheus_url", lambda: None)
    verdict = lab10.exercise_1.result(_ratings(), dict(TRUTH))
    _wrong(verdict, "cannot run: no Prometheus", "raycourse.init(metrics=True)")
    assert "prometheus" in verdict.hint.lower() and "install" in verdict.hint


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires:
#   R1 (probe) `workers_needed` rounds up, never down or to the nearest: test_ex2_each_slip_is_named_workers[...]
#   R2 (probe) no extra worker when the rows divide exactly: test_ex2_each_slip_is_named_workers[int plus one]
#   R3 (probe) divides by the utilisation, 0.7 by default: test_ex2_each_slip_is_named_workers[utilisation ...]
#   R4 (probe) hours turned into seconds: test_ex2_each_slip_is_named_workers[hours as seconds, minutes]
#   R5 (probe) no rows need no workers: test_ex2_each_slip_is_named_workers[at least one]
#   R6 (probe) a whole number (an int): test_ex2_workers_a_float_or_an_error
#   R7 (probe) `cost_per_million` the dollars of a million rows: test_ex2_each_slip_is_named_cost[...]
#   R8 `measured` the counting stage's rows per busy second, from Prometheus: test_ex2_measured_wrong
#   R9 `measured` positive: test_ex2_measured_wrong
# Right answers written otherwise: test_ex2_accepts_the_solution_and_other_arithmetic.
# The probes name one slip on every seed: test_ex2_probes_tell_every_slip_apart_on_every_seed.


WORKER_SLIPS = {
    "rounding down": lambda r, s, h, u=0.7: int(r / (s * h * 3600 * u)),
    "rounding to the nearest": lambda r, s, h, u=0.7: round(r / (s * h * 3600 * u)),
    "one worker added": lambda r, s, h, u=0.7: int(r / (s * h * 3600 * u)) + 1,
    "the utilisation multiplied": lambda r, s, h, u=0.7: math.ceil(r * u / (s * h * 3600)),
    "no utilisation": lambda r, s, h, u=0.7: math.ceil(r / (s * h * 3600)),
    "hours taken as seconds": lambda r, s, h, u=0.7: math.ceil(r / (s * h * u)),
    "hours taken as minutes": lambda r, s, h, u=0.7: math.ceil(r / (s * h * 60 * u)),
    "at least one worker": lambda r, s, h, u=0.7: max(1, math.ceil(r / (s * h * 3600 * u))),
}
COST_SLIPS = {
    "the cost of one row": lambda r, p: p / (r * 3600),
    "the cost of a thousand rows": lambda r, p: p / (r * 3600) * 1000,
    "the hour not turned into seconds": lambda r, p: p / r * 1e6,
    "an hour of 60 seconds": lambda r, p: p / (r * 60) * 1e6,
    "rows per dollar": lambda r, p: r * 3600 / p,
}


def _probe_only(workers=workers_needed, costs=cost_per_million, seed=7):
    """Exercise 2's judge on the probes' answers alone (the measured part passes)."""
    seen = {
        "workers": [
            ex2._call(workers, (r, s, h) if u is None else (r, s, h, u)) for r, s, h, u in ex2.worker_probes(seed)
        ],
        "costs": [ex2._call(costs, c) for c in ex2.cost_probes(seed)],
        "measured": 100.0,
        "stages": ["MapBatches(CountStars)"],
        "prometheus": True,
        "runs": [{"dataset": "d", "operator": "MapBatches(CountStars)", "rows": 96.0, "seconds": 0.96}],
    }
    return lab10.exercise_2.decide(seen, seed)


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved(ray_session):
    assert lab10.exercise_2.result(..., ..., ..., ...).status == "not solved"

    def workers_stub(rows, rows_per_second, hours, utilisation=0.7):
        """outline"""
        ...

    assert lab10.exercise_2.result(workers_stub, cost_per_million, 1.0, _ratings()).status == "not solved"


@pytest.mark.fast
@pytest.mark.parametrize("seed", [0, 1, 7, 12345, 2**31 + 5])
def test_ex2_accepts_the_solution_and_other_arithmetic(seed):
    assert _probe_only(seed=seed).passed
    assert _probe_only(workers_needed_other, cost_per_million_other, seed=seed).passed


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(WORKER_SLIPS))
def test_ex2_each_slip_is_named_workers(slip):
    for seed in range(0, 2000, 37):
        verdict = _probe_only(workers=WORKER_SLIPS[slip], seed=seed)
        _wrong(verdict, "`workers_needed` answers as if by " + (slip if slip != "one worker added" else "one worker"))


@pytest.mark.fast
@pytest.mark.parametrize("slip", list(COST_SLIPS))
def test_ex2_each_slip_is_named_cost(slip):
    for seed in range(0, 2000, 37):
        _wrong(_probe_only(costs=COST_SLIPS[slip], seed=seed), f"`cost_per_million` answers {slip}")


def test_ex2_probes_tell_every_slip_apart_on_every_seed():
    """On 3,000 seeds: the probes are clear of float doubt, every slip answers unlike the rule and every other."""
    for seed in [random.Random(1).randrange(2**32) for _ in range(3000)]:
        cases = ex2.worker_probes(seed)
        answers = [tuple(fn(*c) if c[3] is not None else fn(*c[:3]) for c in cases) for fn in WORKER_SLIPS.values()]
        right = tuple(workers_needed(*c) if c[3] is not None else workers_needed(*c[:3]) for c in cases)
        assert len(set(answers + [right])) == len(answers) + 1, seed
        assert right == tuple(ex2._answers(ex2._workers, cases)), seed
        costs = ex2.cost_probes(seed)
        for fn in COST_SLIPS.values():
            assert not all(_common.close(fn(*c), cost_per_million(*c), 1e-3) for c in costs), seed


@pytest.mark.fast
def test_ex2_workers_a_float_or_an_error():
    _wrong(_probe_only(workers=lambda r, s, h, u=0.7: float(workers_needed(r, s, h, u))), "not an int", "math.ceil")
    _wrong(_probe_only(workers=lambda r, s, h, u=0.7: r / 0), "failed: ZeroDivisionError")
    _wrong(_probe_only(costs=lambda r, p: "cheap"), "not a number")
    _wrong(_probe_only(workers=lambda r, s, h, u=0.7: 2 * workers_needed(r, s, h, u)), "the day needs")


@NEEDS_PROMETHEUS
@pytest.mark.fast
def test_ex2_accepts_the_measured_rate(counted, metrics_ray):
    measured = _measured(metrics_ray, counted)
    verdict = lab10.exercise_2.result(workers_needed, cost_per_million, measured, counted)
    assert verdict.passed, verdict
    assert lab10.exercise_2.result(workers_needed, cost_per_million, measured * 1.1, counted).passed


@NEEDS_PROMETHEUS
def test_ex2_measured_wrong(counted, metrics_ray, settled):
    measured = _measured(metrics_ray, counted)
    check = lambda m, ds=counted: lab10.exercise_2.result(workers_needed, cost_per_million, m, ds)  # noqa: E731
    _wrong(check(1 / measured), "seconds per row", "Divide the rows")
    _wrong(check(measured / 3), "Prometheus says", "max_over_time")
    _wrong(check(-measured), "are positive")
    _wrong(check(float("nan")), "are positive", "counted.count()")  # read before Ray Data's numbers arrived
    _wrong(check("fast"), "not a number")
    _wrong(check(measured, _ratings().materialize()), "holds no rows")


@pytest.mark.fast
def test_ex2_without_prometheus(ray_session, monkeypatch):
    monkeypatch.setattr(ex2, "prometheus_url", lambda: None)
    _wrong(lab10.exercise_2.result(workers_needed, cost_per_million, 100.0, _ratings()), "no Prometheus")


# ----------------------------------------------------------------------------- Stretch
# The stretch requires:
#   R1 a Histogram, named by `histogram_name`, in Prometheus: test_stretch_wrong_histogram
#   R2 one observation per batch, in a stage: test_stretch_forged[one observation]
#   R3 boundaries that reach past 95 % of the batches: test_stretch_forged[boundaries too small]
#   R4 `p95` Prometheus's histogram_quantile(0.95) over every worker's buckets: test_stretch_another_quantile


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab10.stretch.result(..., ...).status == "not solved"


@NEEDS_PROMETHEUS
@pytest.mark.fast
def test_stretch_accepts_the_p95(timed, metrics_ray, settled):
    p95 = _settled(metrics_ray, f"histogram_quantile(0.95, sum by (le) (ray_{HISTOGRAM}_bucket))")[0][1]
    verdict = lab10.stretch.result(p95, HISTOGRAM)
    assert verdict.passed, verdict
    assert _common.close(lab10.quantile(0.95, timed["buckets"]), p95, 1e-9)  # the judge's quantile is Prometheus's


@NEEDS_PROMETHEUS
def test_stretch_another_quantile(timed, settled):
    p50 = lab10.quantile(0.5, timed["buckets"])
    if _common.close(p50, lab10.quantile(0.95, timed["buckets"]), 1e-3):
        pytest.skip("every batch in one bucket: the median is the p95")
    _wrong(lab10.stretch.result(p50, HISTOGRAM), "the 0.5 quantile")
    _wrong(lab10.stretch.result(123.0, HISTOGRAM), "Prometheus's 95th percentile", "histogram_quantile(0.95")


@NEEDS_PROMETHEUS
def test_stretch_wrong_histogram(timed, settled):
    _wrong(lab10.stretch.result(0.01, "no_such_seconds"), "no histogram `ray_no_such_seconds_bucket`")
    _wrong(lab10.stretch.result(0.01, f"ray_{HISTOGRAM}_bucket"), "Prometheus's name", "ray_")
    _wrong(lab10.stretch.result(0.01, 42), "`histogram_name` is 42")


@NEEDS_PROMETHEUS
@pytest.mark.parametrize("forgery", ["one observation", "boundaries too small", "nothing", "no p95"])
def test_stretch_forged(timed, forgery):
    finite = lambda le: le != "inf"  # noqa: E731 (the observation's +Inf is text)
    forged = {
        "one observation": {**timed, "buckets": [[le, min(n, 1)] for le, n in timed["buckets"]]},
        "boundaries too small": {**timed, "buckets": [[le, 0 if finite(le) else n] for le, n in timed["buckets"]]},
        "nothing": {},
        "no p95": {**timed, "p95": "nan"},
    }[forgery]
    assert lab10.stretch.decide(forged).status == "wrong"
    assert lab10.stretch.decide({**timed, "p95": timed["quantile"]}).passed


@pytest.mark.fast
def test_stretch_without_prometheus(monkeypatch):
    monkeypatch.setattr(sys.modules["raycourse.checks.lab10.stretch"], "prometheus_url", lambda: None)
    _wrong(lab10.stretch.result(0.01, HISTOGRAM), "no Prometheus")
