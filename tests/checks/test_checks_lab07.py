"""Lab 07 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1 gets datasets built as learners build them (a rename or right_on=, a map or not) and spoiled the ways
learners spoil them (a join on the rating's own id, a left join, a photo named by the rating's id, a lost column,
lost or doubled rows). Exercise 2's plan checks run on real plans of stand-in stages named as the lab's (a
materialize() in between, a GPU for a CPU stage, pools that do not fit); its verdicts on timing are tested on
stopwatch tables made here (a starved run, one giant batch, a pool that leaves a GPU idle, a fed run), so that no
test depends on how busy the machine is; one test runs a small real pipeline through the whole check. The solution
notebook runs the real stages through it. Exercise 3 and the stretch get loops, right and wrong, and run them.
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import ray
import ray.cloudpickle
import torch

import raycourse
from raycourse.checks import lab07

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module
PHOTOS = raycourse.data_path("product_photos")


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint


def test_the_reference_features_load_their_models_without_progress_bars(capfd):
    """Exercise 2's check loads the LLM and the ViT in the notebook's process: its cell shows a verdict, not
    transformers' "Loading weights" bars (seen on a GPU machine, where no test switches them off); a learner's
    own loads keep theirs."""
    from transformers.utils import logging as hf_logging

    hf_logging.enable_progress_bar()
    try:
        features, width = lab07._reference_features(lab07._rated()[0].head(2))
        assert len(features) == 2 and width > 0
        assert "Loading weights" not in capfd.readouterr().err
        assert hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.disable_progress_bar()


# ----------------------------------------------------------------------------- Exercise 1


# Exercise 1 requires (the lab's text, sentence by sentence), and the test whose wrong answer breaks only it:
#   R1 `ratings` is a Dataset: test_ex1_waits_for_the_placeholder_and_wants_a_dataset
#   R2 it runs (a learner's error in a UDF told in one line): test_ex1_tells_the_learners_own_error_in_a_udf
#   R3 columns id, text, stars, photo: test_ex1_rejects_the_likely_mistakes[no-photo], [no-stars]
#   R4 joined on the product's id, not the rating's: test_ex1_rejects_the_likely_mistakes[join-on-rating-id]
#   R5 ratings of listed products only (inner): test_ex1_rejects_the_likely_mistakes[left-join]
#   R6 each rating with its own text and stars: test_ex1_rejects_the_likely_mistakes[another-text]
#   R7 the photo of the rating's product: test_ex1_rejects_the_likely_mistakes[photo-by-rating-id], [photos-swapped]
#   R8 one row per rating: test_ex1_rejects_the_likely_mistakes[rows-lost], [rows-doubled]
#   R9 read and joined in Ray (not in pandas): test_ex1_rejects_rows_assembled_outside_ray (lazy, materialized)
#   R10 the photo from a batch function, no row map: test_ex1_rejects_a_row_by_row_map[lazy], [materialized]
# Right answers written otherwise: test_ex1_accepts_the_rows_however_they_were_built (rename or right_on=, a pandas or
# NumPy batch, the product's name dropped, another spelling of the path, materialized).


def _assembled():
    """The right rows, in another order than the file's (a join gives none), as a learner's pandas would build them."""
    rated, _, _ = lab07._rated()
    return rated.sample(frac=1, random_state=0).reset_index(drop=True)


def _joined(right_on=False):
    ratings = ray.data.read_json(raycourse.data_path("ratings"))
    table = ray.data.read_csv(raycourse.data_path("outfits"))
    if right_on:
        return ratings.join(table, join_type="inner", num_partitions=2, on=("product_id",), right_on=("id",))
    table = table.rename_columns({"id": "product_id", "outfit": "product"})
    return ratings.join(table, join_type="inner", num_partitions=2, on=("product_id",))


def add_photos(batch):  # the solution's way: a NumPy batch
    batch["photo"] = np.array([f"{PHOTOS}/{pid:02d}.png" for pid in batch["product_id"]])
    return batch


def add_photos_pandas(batch):  # another: a pandas batch, the path spelt otherwise, the product's name dropped
    batch["photo"] = f"{PHOTOS}/../products/" + batch["product_id"].map("{:02d}.png".format)
    return batch.drop(columns=[c for c in ("product", "outfit") if c in batch])


def _spoiled(spoil):
    """The right rows spoiled as `spoil` says, yet built in Ray as the text asks (a join, then batch functions), so
    that only the spoiled requirement breaks: the last batch function hands over the spoiled rows whole."""
    table = spoil(_assembled())
    return (
        _joined()
        .map_batches(add_photos)
        .repartition(1)
        .map_batches(lambda batch: table, batch_format="pandas", batch_size=None)  # one block: one call
    )


@pytest.mark.fast
def test_ex1_accepts_the_rows_however_they_were_built(ray_session):
    for ds in (
        _joined().map_batches(add_photos),
        _joined(right_on=True).map_batches(add_photos_pandas, batch_format="pandas"),
        _joined().map_batches(add_photos).materialize(),  # run once and kept: its stats still show the join
    ):
        verdict = lab07.exercise_1.result(ds)
        assert verdict.passed, verdict
        assert "90 ratings of listed products" in verdict.message and "6 ratings of retired" in verdict.message


def _ratings_with_products(how: str):
    """The ratings joined with the table in pandas, `how` a merge (or a join on the rating's own id)."""
    ratings = pd.read_json(raycourse.data_path("ratings"), lines=True)
    table = pd.read_csv(raycourse.data_path("outfits"))
    if how == "on_id":
        joined = ratings.merge(table, on="id")
    else:
        joined = ratings.merge(table.rename(columns={"id": "product_id"}), on="product_id", how=how)
    return joined.assign(photo=[f"{PHOTOS}/{pid:02d}.png" for pid in joined["product_id"]])


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda t: _ratings_with_products("on_id"), "the join matched the rating's id with the table's id"),
        (lambda t: _ratings_with_products("left"), "6 row(s) rate products the catalogue no longer lists"),
        (lambda t: t.assign(photo=[f"{PHOTOS}/{rid:02d}.png" for rid in t["id"]]), "its photo is"),
        (lambda t: t.assign(photo=t["photo"].iloc[::-1].to_numpy()), "its photo is"),
        (lambda t: t.drop(columns=["photo"]), "no column ['photo']"),
        (lambda t: t.drop(columns=["stars"]), "no column ['stars']"),
        (lambda t: t.assign(text=t["text"].iloc[::-1].to_numpy()), "another rating's text"),
        (lambda t: t.iloc[:-3], "3 lost"),
        (lambda t: pd.concat([t, t.iloc[:2]]), "2 duplicated"),
    ],
    ids=[
        "join-on-rating-id",
        "left-join",
        "photo-by-rating-id",
        "photos-swapped",
        "no-photo",
        "no-stars",
        "another-text",
        "rows-lost",
        "rows-doubled",
    ],
)
def test_ex1_rejects_the_likely_mistakes(ray_session, spoil, message):
    _wrong(lab07.exercise_1.result(_spoiled(spoil)), message)


@pytest.mark.fast
def test_ex1_rejects_rows_assembled_outside_ray(ray_session):
    _wrong(lab07.exercise_1.result(ray.data.from_pandas(_assembled())), "no join in Ray made them")
    _wrong(lab07.exercise_1.result(ray.data.from_pandas(_assembled()).materialize()), "no join in Ray made them")


def _add_photo(row):  # the lesson's way
    row["photo"] = f"{PHOTOS}/{row['product_id']:02d}.png"
    return row


@pytest.mark.parametrize("kept", [False, True], ids=["lazy", "materialized"])
def test_ex1_rejects_a_row_by_row_map(ray_session, kept):
    ds = _joined().map(_add_photo)
    verdict = lab07.exercise_1.result(ds.materialize() if kept else ds)
    _wrong(verdict, "runs _add_photo with a row-by-row map")
    assert "map_batches" in verdict.hint


def test_ex1_tells_the_learners_own_error_in_a_udf(ray_session):
    def add_photos_typo(batch):
        batch["photo"] = [f"{PHOTOS}/{pid:02d}.png" for pid in batch["product"]]  # a column the ratings lack
        return batch

    verdict = lab07.exercise_1.result(_joined(right_on=True).map_batches(add_photos_typo))
    _wrong(verdict, "running `ratings` failed: KeyError: ")
    assert len(verdict.message) < 300 and "check could not use" not in verdict.message


@pytest.mark.fast
def test_ex1_waits_for_the_placeholder_and_wants_a_dataset():
    assert lab07.exercise_1.result(...).status == "not solved"
    _wrong(lab07.exercise_1.result(_assembled()), "not a Ray Dataset")


# ----------------------------------------------------------------------------- Exercise 2: the measures

# Exercise 2 requires (the lab's text, sentence by sentence):
#   R1 (probe) fed(source) returns the lazy Dataset: test_ex2_wants_the_lazy_dataset,
#      test_ex2_waits_for_the_placeholder_and_the_starved_run (not a function)
#   R2 (probe) the same classes, functions and constructor arguments, the work unchanged:
#      test_ex2_given_stages_run_as_they_are (a given class edited in place),
#      test_ex2_rejects_features_the_given_models_do_not_give
#   R3 (probe) the three stages over source, streaming:
#      test_ex2_plan_rejects_skipped_streaming_and_resources_that_do_not_fit[does not run Tokenize and load_photos],
#      [does not start from `source`], [runs before a CPU stage], [no RatingEncoder stage],
#      test_ex2_rejects_materialized_cpu_stages_before_running_anything
#   R4 CPU stages ask for CPUs, no GPU: test_ex2_plan_rejects_...[load_photos stage asks for num_gpus=1]
#   R5 the encoder one GPU per actor: test_ex2_plan_rejects_...[num_gpus=0.5 per actor]
#   R6 its pool at most one actor per GPU, reaching every GPU: test_ex2_plan_rejects_...[may grow to 3 actors],
#      [may grow to no limit], [an idle GPU counts], test_ex2_plan_holds_the_encoder_pool_to_the_learners_gpu_budget
#   R7 the actor pools' CPUs fit the cluster: test_ex2_plan_rejects_...[CPUs at once]
#   R8 (probe) twice the starved run's rows/s: test_the_targets_tell_a_fed_run_from_a_starved_...[pace],
#      test_ex2_rejects_the_starved_run_one_giant_batch_and_an_idle_gpu[best of 2 runs], [an idle GPU counts],
#      test_on_real_gpus_rows_per_second_alone_sets_the_target
#   R9 (probe) the GPUs busier than in the starved run (stand-ins): test_the_targets_tell_...[pace] (4.7 x the
#      pace, 5 % busy), test_the_busy_target_on_stand_ins_is_the_starved_runs_own_share
#   R10 (probe) 3 encoder batches per GPU: test_the_targets_tell_...[batches],
#       test_ex2_rejects_the_starved_run_one_giant_batch_and_an_idle_gpu[the encoder ran 1 batch(es)]
#   R11 (probe) every row of the day once: test_ex2_rejects_a_run_that_lost_rows
#   The check calls fed on a day of its own (busiest_day: every listed rating 3 times, a block each, the actors
#   started first: test_ex2_runs_the_learners_pipeline_itself_from_its_own_source) and times that run; the
#   resources (R4-R7) it reads from the plan fed returns, the same on any source.
# Right answers written otherwise: test_ex2_plan_accepts_fed_pipelines_of_any_shape.


def _stopwatch(batches, actors=("a", "b"), rows_per_batch=4, busy=1.0, gap=0.0, start=100.0):
    """An encoder's output: `batches` batches dealt to `actors` in turn, each computing `busy` s after `gap` s idle."""
    rows = []
    clock = {actor: start for actor in actors}
    for b in range(batches):
        actor = actors[b % len(actors)]
        began = clock[actor] + gap
        clock[actor] = began + busy
        rows += [
            {"id": b * rows_per_batch + i, "actor": actor, "started": began, "finished": began + busy}
            for i in range(rows_per_batch)
        ]
    return pd.DataFrame(rows)


def test_rows_per_second_and_busy_share_count_every_gpu_held():
    fed = _stopwatch(8)  # two actors, computing without a gap: 4 s of run, 32 rows
    assert lab07.rows_per_second(fed) == pytest.approx(8.0)
    assert lab07.busy_share(fed, 2) == pytest.approx(1.0)
    alone = _stopwatch(8, actors=("a",))  # one actor on a cluster of two: 8 s, the other GPU idle throughout
    assert lab07.busy_share(alone, 2) == pytest.approx(0.5)
    assert lab07.busy_share(alone, 1) == pytest.approx(1.0)  # what the pool's own actors alone would say
    waiting = _stopwatch(8, gap=3.0)  # 3 s idle before every 1 s batch: the run from 103 s to 116 s
    assert lab07.busy_share(waiting, 2) == pytest.approx(8 / (2 * 13))
    assert lab07.measure(waiting, 2)["batches"] == 8 and lab07.measure(waiting, 2)["actors"] == 2


STARVED = _stopwatch(40, rows_per_batch=2, busy=0.05, gap=0.45)  # batches of 2, the GPUs waiting 90 % of the time


@pytest.mark.parametrize(
    "run, verdict",
    [
        (STARVED, "pace"),  # the starved pipeline itself: 1 x its own pace
        (_stopwatch(1, actors=("a",), rows_per_batch=80, busy=2.0), "batches"),  # one giant batch: fast and "busy"
        (_stopwatch(2, rows_per_batch=40, busy=1.0), "batches"),  # one batch per GPU
        # one actor did every batch (a fast encoder, or Ray's choice): measured over both GPUs; a pool that cannot
        # reach every GPU is refused from its plan, before it runs
        (_stopwatch(10, actors=("a",), rows_per_batch=8, busy=0.3, gap=0.01), None),
        (_stopwatch(10, actors=("a",), rows_per_batch=4, busy=0.3, gap=0.01), "pace"),  # and 1.6 x the pace
        (_stopwatch(10, rows_per_batch=8, busy=0.3, gap=1.2), "pace"),  # both GPUs, still waiting: 1.3 x the pace
        (_stopwatch(20, rows_per_batch=8, busy=0.01, gap=0.2), "pace"),  # 4.7 x the pace, but waiting more: 5 % busy
        (_stopwatch(10, rows_per_batch=8, busy=0.3, gap=0.02), None),  # fed: both GPUs computing
        (_stopwatch(20, rows_per_batch=4, busy=0.2, gap=0.02), None),  # fed in smaller batches
        (_stopwatch(12, rows_per_batch=30, busy=0.05, gap=0.15), None),  # a fast machine: 9 x the pace at 25 % busy
    ],
)
def test_the_targets_tell_a_fed_run_from_a_starved_a_giant_batch_and_an_idle_gpu(run, verdict):
    starved = lab07.measure(STARVED, 2)
    assert starved["busy"] == pytest.approx(0.1, abs=0.01)
    assert lab07.verdict_of(lab07.measure(run, 2), starved, 2) == verdict


def test_on_real_gpus_rows_per_second_alone_sets_the_target(monkeypatch):
    monkeypatch.setattr(lab07.ex2, "busy_target", lambda starved: None)
    starved = lab07.measure(STARVED, 2)
    waiting = lab07.measure(_stopwatch(20, rows_per_batch=8, busy=0.01, gap=0.2), 2)  # fast, mostly waiting
    assert lab07.verdict_of(waiting, starved, 2) is None
    one_actor = lab07.measure(_stopwatch(10, actors=("a",), rows_per_batch=4, busy=0.3, gap=0.01), 2)
    assert lab07.verdict_of(one_actor, starved, 2) == "pace"  # 1.6 x the starved pace


def test_the_busy_target_on_stand_ins_is_the_starved_runs_own_share():
    starved = lab07.measure(STARVED, 2)
    assert lab07.busy_target(starved) == starved["busy"]


def test_busiest_day_is_every_listed_rating_in_blocks_of_one_and_waits_for_the_actors(ray_session):
    day = lab07.busiest_day(copies=2)
    rated, _, _ = lab07._rated()
    assert day.count() == 2 * len(rated) == day.num_blocks()
    assert day.context.wait_for_min_actors_s == lab07.WAIT_FOR_ACTORS_S
    assert ray.data.DataContext.get_current().wait_for_min_actors_s != lab07.WAIT_FOR_ACTORS_S  # the day's only
    assert set(day.schema().names) >= {"id", "text", "stars", "photo"}


def test_keep_starved_wants_the_encoders_table():
    with pytest.raises(ValueError):
        lab07.keep_starved(pd.DataFrame({"id": [1]}))


# ----------------------------------------------------------------------------- Exercise 2: the plan


class Tokenize:  # the lab's stage names; cheap stand-ins, run only in the end-to-end test
    def __init__(self, model_id, max_length):
        self.max_length = max_length

    def __call__(self, batch):
        batch["input_ids"] = np.ones((len(batch["id"]), self.max_length), dtype=np.int64)
        return batch


def load_photos(batch):
    batch["pixels"] = np.zeros((len(batch["id"]), 3, 4, 4), dtype=np.uint8)
    return batch


class RatingEncoder:
    def __init__(self, text_model, image_model):
        self.actor = ray.get_runtime_context().get_actor_id()

    def __call__(self, batch):
        started = time.time()
        time.sleep(0.05 + 0.005 * len(batch["id"]))  # a GPU's time: the CPU is free meanwhile
        n = len(batch["id"])
        return {
            "id": batch["id"],
            "stars": batch["stars"],
            "features": np.ones((n, 3), np.float32),
            "actor": [self.actor] * n,
            "started": np.full(n, started),
            "finished": np.full(n, time.time()),
        }


TOKENIZE, ENCODE = {"model_id": "m", "max_length": 8}, {"text_model": "t", "image_model": "i"}
A, T = ray.data.ActorPoolStrategy, ray.data.TaskPoolStrategy


def pipeline(source, tokenize=None, photos=None, encode=None):
    """The lab's three stages over `source`, fed, each with its arguments replaced by those given."""
    tokenize = {"batch_size": 16, "num_cpus": 1, "compute": A(size=1), **(tokenize or {})}
    photos = {"batch_size": 16, "num_cpus": 1, "compute": T(size=2), **(photos or {})}
    encode = {"batch_size": 16, "num_gpus": 1, "compute": A(size=2), **(encode or {})}
    return (
        source.map_batches(Tokenize, fn_constructor_kwargs=TOKENIZE, **tokenize)
        .map_batches(load_photos, **photos)
        .map_batches(RatingEncoder, fn_constructor_kwargs=ENCODE, **encode)
    )


def _source():
    return ray.data.from_items([{"id": i, "stars": 3, "text": "fine", "photo": "x.png"} for i in range(8)])


def _plan_verdict(make):
    source = _source()
    try:
        lab07._check_plan(make(source), source)
    except lab07.Wrong as wrong:
        return wrong
    return None


def test_ex2_plan_accepts_fed_pipelines_of_any_shape(ray_session):
    gpus = int(ray.cluster_resources()["GPU"])
    for make in [
        pipeline,
        lambda s: pipeline(s, encode={"compute": A(min_size=1, max_size=gpus)}),
        lambda s: pipeline(s, photos={"compute": None}, tokenize={"compute": A(min_size=1, max_size=2)}),
        lambda s: pipeline(s.repartition(4)),  # a repartition of the source first: still the source's plan
        lambda s: (
            s.map_batches(load_photos, batch_size=32)  # the CPU stages in the other order
            .map_batches(Tokenize, fn_constructor_kwargs=TOKENIZE, batch_size=32, compute=A(size=1))
            .map_batches(RatingEncoder, fn_constructor_kwargs=ENCODE, batch_size=32, num_gpus=1, compute=A(size=gpus))
        ),
    ]:
        assert _plan_verdict(make) is None


def _materialized(source):
    prepared = source.map_batches(Tokenize, fn_constructor_kwargs=TOKENIZE, batch_size=16, compute=A(size=1))
    prepared = prepared.map_batches(load_photos, batch_size=16).materialize()  # the CPU stages run here, alone
    return prepared.map_batches(
        RatingEncoder, fn_constructor_kwargs=ENCODE, batch_size=16, num_gpus=1, compute=A(size=2)
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (_materialized, "does not run Tokenize and load_photos"),
        (lambda s: pipeline(ray.data.from_pandas(s.to_pandas())), "does not start from `source`"),
        (lambda s: pipeline(s, photos={"num_gpus": 1}), "load_photos stage asks for num_gpus=1"),
        (lambda s: pipeline(s, encode={"num_gpus": 0.5, "compute": A(size=4)}), "num_gpus=0.5 per actor"),
        (lambda s: pipeline(s, encode={"compute": A(size=3)}), "may grow to 3 actors"),
        (lambda s: pipeline(s, encode={"compute": A(min_size=1)}), "may grow to no limit"),
        (lambda s: pipeline(s, encode={"compute": A(size=1)}), "an idle GPU counts"),  # tiny's Ray has 2 GPUs
        (lambda s: pipeline(s, encode={"compute": A(min_size=1, max_size=1)}), "an idle GPU counts"),
        (lambda s: pipeline(s, tokenize={"compute": A(size=int(ray.cluster_resources()["CPU"]))}), "CPUs at once"),
        (
            lambda s: (
                s.map_batches(Tokenize, fn_constructor_kwargs=TOKENIZE, batch_size=8, compute=A(size=1))
                .map_batches(RatingEncoder, fn_constructor_kwargs=ENCODE, batch_size=8, num_gpus=1, compute=A(size=2))
                .map_batches(load_photos, batch_size=8)
            ),
            "runs before a CPU stage",
        ),
        (
            lambda s: s.map_batches(Tokenize, fn_constructor_kwargs=TOKENIZE, batch_size=8, compute=A(size=1)),
            "no RatingEncoder stage",
        ),
    ],
)
def test_ex2_plan_rejects_skipped_streaming_and_resources_that_do_not_fit(ray_session, make, message):
    wrong = _plan_verdict(make)
    assert wrong is not None and message in wrong.problem, wrong
    assert wrong.hint


def test_ex2_plan_holds_the_encoder_pool_to_the_learners_gpu_budget(ray_session, monkeypatch):
    gpus = int(ray.cluster_resources()["GPU"])
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    assert _plan_verdict(lambda s: pipeline(s, encode={"compute": A(size=gpus - 1)})) is None  # every GPU it may use
    wrong = _plan_verdict(lambda s: pipeline(s, encode={"compute": A(size=gpus)}))
    assert wrong is not None and f"may grow to {gpus} actors" in wrong.problem, wrong
    assert f"your budget of {gpus - 1} GPU(s) (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's {gpus}" in wrong.problem
    assert "raycourse.gpu_budget()" in wrong.hint


def _given_cells(edit=lambda source: source):
    """The lab's given stages, compiled from its cells as a learner's notebook does (with `edit` applied)."""
    import json

    from raycourse.catalogue import modules

    module = next(m for m in modules() if m.number == "07")
    namespace = {}
    for cell in json.loads(module.solution.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(("class Tokenize", "class RatingEncoder")):
            exec(compile(edit(source), "<cell>", "exec"), namespace)
    return {name: namespace[name] for name in ("Tokenize", "load_photos", "RatingEncoder")}


def test_ex2_given_stages_run_as_they_are():
    """R: "the same classes, functions and constructor arguments (the work must not change)": the given cells run
    again pass; a RatingEncoder edited in place (its stopwatch started after the work) is told, before any run."""
    given = _given_cells()
    assert set(lab07._given_stages()) == set(given)

    class Found:
        def __init__(self, fn):
            self.fn = fn

    lab07._check_given({name: Found(fn) for name, fn in given.items()})
    edited = _given_cells(lambda s: s.replace("        started = time.time()\n", "        pass\n"))
    with pytest.raises(lab07.Wrong, match="a RatingEncoder that is not the lab's given one") as wrong:
        lab07._check_given({name: Found(fn) for name, fn in edited.items()})
    assert "as it is" in wrong.value.hint


# ----------------------------------------------------------------------------- Exercise 2: the whole check


@pytest.fixture
def small_day(monkeypatch):
    """Exercise 2 on 10 ratings, 4 copies each (40 rows), with the stand-in stages above: no models, no reference
    features."""
    monkeypatch.setattr(lab07.ex2, "COPIES", 4)  # the tables of _day_run, whatever the lab's own day
    rated = pd.DataFrame(
        {"id": range(1, 11), "product_id": 1, "product": "p", "stars": 3, "text": "fine", "photo": "x.png"}
    )
    monkeypatch.setattr(lab07.ex2, "_rated", lambda: (rated, rated.set_index("id"), []))
    monkeypatch.setattr(lab07.ex2, "_reference_features", lambda rows: ({}, None))
    monkeypatch.setattr(lab07.ex2, "_starved", [])
    stand_ins = {"Tokenize": Tokenize, "load_photos": load_photos, "RatingEncoder": RatingEncoder}
    monkeypatch.setattr(lab07.ex2_plan, "_given_stages", lambda: stand_ins)  # the stand-ins play the given stages
    return rated


def _checked(monkeypatch, fed, run=None, starved=STARVED):
    """Exercise 2's verdict on `fed`, after a starved run `starved`; `run`: the stopwatch table every run gives."""
    lab07.keep_starved(starved)
    if run is not None:
        monkeypatch.setattr(ray.data.Dataset, "to_pandas", lambda self, *a, **k: run)
    return lab07.exercise_2.result(fed)


def _day_run(**stopwatch):
    """A stopwatch table for the small day's 40 rows (ids 1-10, 4 copies each)."""
    table = _stopwatch(**stopwatch)
    table["id"] = [rid for rid in range(1, 11) for _ in range(4)][: len(table)]
    return table.assign(features=[np.ones(3, np.float32)] * len(table), stars=3)


@pytest.mark.fast
def test_ex2_waits_for_the_placeholder_and_the_starved_run(ray_session, small_day):
    assert lab07.exercise_2.result(...).status == "not solved"
    assert lab07.exercise_2.result(pipeline).status == "not solved"  # no starved run kept yet
    _wrong(lab07.exercise_2.result(42), "not a function")


@pytest.mark.fast
def test_ex2_passes_a_fed_run_and_says_what_it_measured(ray_session, small_day, monkeypatch):
    verdict = _checked(monkeypatch, pipeline, run=_day_run(batches=10, rows_per_batch=4, busy=0.3, gap=0.02))
    assert verdict.passed, verdict
    assert "rows/s with the GPUs busy" in verdict.message and "1 run(s)" in verdict.message


@pytest.mark.fast
@pytest.mark.parametrize(
    "run, message",
    [
        (_day_run(batches=20, rows_per_batch=2, busy=0.05, gap=0.45), "best of 2 runs"),  # the starved pipeline again
        (_day_run(batches=1, actors=("a",), rows_per_batch=40, busy=2.0), "the encoder ran 1 batch(es)"),
        (_day_run(batches=10, actors=("a",), rows_per_batch=4, busy=0.3, gap=0.01), "an idle GPU counts"),
    ],
)
def test_ex2_rejects_the_starved_run_one_giant_batch_and_an_idle_gpu(ray_session, small_day, monkeypatch, run, message):
    _wrong(_checked(monkeypatch, pipeline, run=run), message)


def test_ex2_rejects_features_the_given_models_do_not_give():
    """R: "the work must not change": a rating whose features are another's (or cut at another length) is told."""
    table = _day_run(batches=10, rows_per_batch=4, busy=0.3, gap=0.02)
    ids = [rid for rid in range(1, 11) for _ in range(4)]
    lab07.judge_run(table, ids, {1: np.ones(3, np.float32)})  # the features the models give
    with pytest.raises(lab07.Wrong, match=r"rating 1 came out with other features .*\(50% away") as wrong:
        lab07.judge_run(table, ids, {1: np.full(3, 2.0, np.float32)})
    assert "as given" in wrong.value.hint


def test_ex2_wants_the_lazy_dataset(ray_session, small_day, monkeypatch):
    _wrong(_checked(monkeypatch, lambda source: source.take(3)), "returned a list, not a Dataset")


def test_ex2_rejects_a_run_that_lost_rows(ray_session, small_day, monkeypatch):
    run = _day_run(batches=10, rows_per_batch=4, busy=0.3, gap=0.02).iloc[:-4]
    _wrong(_checked(monkeypatch, pipeline, run=run), "4 missing")


def test_ex2_rejects_materialized_cpu_stages_before_running_anything(ray_session, small_day, monkeypatch):
    runs = []
    monkeypatch.setattr(lab07.ex2, "judge_run", lambda *a: runs.append(a))
    _wrong(_checked(monkeypatch, _materialized), "does not run Tokenize and load_photos")
    assert not runs


def test_ex2_runs_the_learners_pipeline_itself_from_its_own_source(ray_session, small_day, monkeypatch):
    slow = _day_run(batches=40, rows_per_batch=1, busy=0.05, gap=10.0)  # 40 rows in 2 minutes
    sources = []

    def fed(source):
        sources.append(source)
        return pipeline(source, encode={"batch_size": 4})  # 10 batches of the 40 rows

    verdict = _checked(monkeypatch, fed, starved=slow)
    assert verdict.passed, verdict
    assert len(sources) == 1 and sources[0].context.wait_for_min_actors_s == lab07.WAIT_FOR_ACTORS_S


# ----------------------------------------------------------------------------- Exercise 3

# Exercise 3 requires (the lab's text, sentence by sentence):
#   R1 (probe) one pass over every row, batches from iter_torch_batches:
#      test_ex3_rejects_the_likely_mistakes[trained on 90 rows], [did not read the dataset with iter_torch_batches]
#   R2 (probe) a mean squared error loss: [broadcast to (batch, batch)], [in a classification loss], [another loss]
#   R3 (probe) one optimizer step per batch, gradients reset: [ran 12 batches and took 1 optimizer step(s)],
#      [reset only 0 times]
#   R4 (probe) the mean of the batches' losses returned: [the last batch's loss], [the sum of the batches' losses],
#      [not the mean loss]
#   R5 (probe) the model learns (checked after 4 epochs):
#      test_ex3_the_solutions_observation_passes_the_judge_and_forged_ones_do_not (a model that learned nothing)
#   The check trains a model of its own on a regression of its own (rows from the seed) with the learner's function.
# Right answers written otherwise: test_ex3_accepts_different_correct_loops.

DTYPES = {"features": torch.float32, "target": torch.float32}


def solution(model, optimizer, dataset):
    losses = []
    for batch in dataset.iter_torch_batches(
        batch_size=16, dtypes=DTYPES, prefetch_batches=2, local_shuffle_buffer_size=32
    ):
        loss = torch.nn.functional.mse_loss(model(batch["features"]).squeeze(1), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def target_unsqueezed_collate(model, optimizer, dataset):
    from ray.data.collate_fn import NumpyBatchCollateFn

    class Pair(NumpyBatchCollateFn):
        def __call__(self, batch):
            return (
                torch.tensor(batch["features"], dtype=torch.float32),
                torch.tensor(batch["target"], dtype=torch.float32).unsqueeze(1),
            )

    total, count = 0.0, 0
    for features, target in dataset.iter_torch_batches(batch_size=7, collate_fn=Pair()):
        model.zero_grad(set_to_none=True)
        loss = torch.nn.MSELoss()(model(features), target)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item(), count + 1
    return total / count


def one_batch_int_target_view(model, optimizer, dataset):
    for batch in dataset.iter_torch_batches(batch_size=1000):  # the target left int64: mse_loss promotes it
        optimizer.zero_grad()
        loss = ((model(batch["features"]).view(-1) - batch["target"]) ** 2).mean()
        loss.backward()
        optimizer.step()
    return loss


def mean_over_rows(model, optimizer, dataset):
    total, rows = 0.0, 0
    for batch in dataset.iter_torch_batches(batch_size=10, dtypes=DTYPES):  # 96 rows: the last batch holds 6
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch["features"])[:, 0], batch["target"])
        loss.backward()
        optimizer.step()
        total, rows = total + loss.item() * len(batch["target"]), rows + len(batch["target"])
    return np.float32(total / rows)


def squeeze_all_with_a_last_batch_of_one(model, optimizer, dataset):
    losses = []
    for batch in dataset.iter_torch_batches(batch_size=19, dtypes=DTYPES):  # 96 = 5 x 19 + 1
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(batch["features"]).squeeze(), batch["target"])  # () vs (1,)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@pytest.mark.fast
@pytest.mark.parametrize(
    "fn",
    [
        solution,
        target_unsqueezed_collate,
        one_batch_int_target_view,
        mean_over_rows,
        squeeze_all_with_a_last_batch_of_one,
    ],
)
def test_ex3_accepts_different_correct_loops(ray_session, fn):
    verdict = lab07.exercise_3.result(fn)
    assert verdict.passed, verdict


def loop_with(loss_of=None, batch_size=8, drop_last=False, zero_grad=True, returns="mean"):
    """A regression loop with one of a learner's slips."""
    loss_of = loss_of or (lambda predicted, target: torch.nn.functional.mse_loss(predicted.squeeze(1), target))

    def train_epoch(model, optimizer, dataset):
        losses = []
        for batch in dataset.iter_torch_batches(batch_size=batch_size, dtypes=DTYPES, drop_last=drop_last):
            if zero_grad:
                optimizer.zero_grad()
            loss = loss_of(model(batch["features"]), batch["target"])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return {
            "mean": float(np.mean(losses)) if losses else 0.0,
            "last": losses[-1],
            "sum": sum(losses),
            "nothing": None,
        }[returns]

    return train_epoch


def classification(model, optimizer, dataset):
    for batch in dataset.iter_torch_batches(batch_size=8):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()
        optimizer.step()
    return loss.item()


def one_step_per_epoch(model, optimizer, dataset):
    losses = []
    optimizer.zero_grad()
    for batch in dataset.iter_torch_batches(batch_size=8, dtypes=DTYPES):
        loss = torch.nn.functional.mse_loss(model(batch["features"]).squeeze(1), batch["target"])
        loss.backward()  # gradients add up over the epoch ...
        losses.append(loss.item())
    optimizer.step()  # ... and the model learns once
    return float(np.mean(losses))


def through_pandas(model, optimizer, dataset):
    table = dataset.to_pandas()
    features = torch.tensor(np.stack(table["features"]), dtype=torch.float32)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(features).squeeze(1), torch.tensor(table["target"].to_numpy()).float())
    loss.backward()
    optimizer.step()
    return loss.item()


@pytest.mark.fast
@pytest.mark.parametrize(
    "fn, message",
    [
        (loop_with(lambda p, t: torch.nn.functional.mse_loss(p, t)), "broadcast to (batch, batch)"),
        (classification, "in a classification loss"),
        (loop_with(lambda p, t: torch.nn.functional.l1_loss(p.squeeze(1), t)), "another loss"),
        (loop_with(lambda p, t: torch.nn.functional.mse_loss(p.squeeze(1), t, reduction="sum")), "another loss"),
        (loop_with(returns="last"), "the last batch's loss"),
        (loop_with(returns="sum"), "the sum of the batches' losses"),
        (loop_with(returns="nothing"), "not the mean loss"),
        (one_step_per_epoch, "ran 12 batches and took 1 optimizer step(s)"),
        (loop_with(batch_size=10, drop_last=True), "trained on 90 rows"),
        (loop_with(zero_grad=False), "reset only 0 times"),
        (through_pandas, "did not read the dataset with iter_torch_batches"),
    ],
)
def test_ex3_rejects_the_likely_mistakes(ray_session, fn, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the check keeps a broadcasting loop's warning out of the cell
        _wrong(lab07.exercise_3.result(fn), message)


@pytest.mark.fast
def test_ex3_waits_for_the_placeholder_and_the_outline():
    def outline(model, optimizer, dataset):
        """One pass over `dataset` with iter_torch_batches: a regression step per batch; returns the mean loss."""
        ...

    assert lab07.exercise_3.result(...).status == "not solved"
    assert lab07.exercise_3.result(outline).status == "not solved"
    _wrong(lab07.exercise_3.result(42), "not a function")


# ----------------------------------------------------------------------------- Stretch


def evaluate_right(model, dataset):  # the solution's way
    model.eval()
    error = rows = 0.0
    with torch.no_grad():
        for batch in dataset.iter_torch_batches(batch_size=16, dtypes=DTYPES):
            error += (model(batch["features"]).squeeze(1) - batch["target"]).abs().sum().item()
            rows += len(batch["target"])
    return error / rows


def evaluate_inference_mode(model, dataset):  # another way: one batch per block, inference mode, NumPy at the end
    model.eval()
    predicted, targets = [], []
    with torch.inference_mode():
        for batch in dataset.iter_torch_batches(batch_size=None):
            predicted.append(model(batch["features"].float())[:, 0].numpy())
            targets.append(batch["target"].numpy())
    return np.abs(np.concatenate(predicted) - np.concatenate(targets)).mean()


def evaluate_training_mode(model, dataset):
    with torch.no_grad():
        errors = [
            (model(b["features"]).squeeze(1) - b["target"]).abs().sum().item()
            for b in dataset.iter_torch_batches(batch_size=16)
        ]
    return sum(errors) / dataset.count()


def evaluate_with_gradients(model, dataset):
    model.eval()
    errors = [
        (model(b["features"]).squeeze(1) - b["target"]).abs().sum().item()
        for b in dataset.iter_torch_batches(batch_size=16)
    ]
    return sum(errors) / dataset.count()


def evaluate_mean_of_batches(model, dataset):
    model.eval()
    with torch.no_grad():
        errors = [
            (model(b["features"]).squeeze(1) - b["target"]).abs().mean().item()
            for b in dataset.iter_torch_batches(batch_size=16)
        ]
    return sum(errors) / len(errors)


def evaluate_squared(model, dataset):
    model.eval()
    with torch.no_grad():
        errors = [
            ((model(b["features"]).squeeze(1) - b["target"]) ** 2).sum().item()
            for b in dataset.iter_torch_batches(batch_size=16)
        ]
    return sum(errors) / dataset.count()


def evaluate_broadcast(model, dataset):
    model.eval()
    with torch.no_grad():
        errors = [
            (model(b["features"]) - b["target"]).abs().mean().item() * len(b["target"])
            for b in dataset.iter_torch_batches(batch_size=16)
        ]
    return sum(errors) / dataset.count()


def evaluate_root_mean_squared(model, dataset):
    return evaluate_squared(model, dataset) ** 0.5


def evaluate_drop_last(model, dataset):
    model.eval()
    with torch.no_grad():
        errors = [
            (model(b["features"]).squeeze(1) - b["target"]).abs().sum().item()
            for b in dataset.iter_torch_batches(batch_size=16, drop_last=True)
        ]
    return sum(errors) / 96


def evaluate_shuffled(model, dataset):
    model.eval()
    error = rows = 0.0
    with torch.no_grad():
        for batch in dataset.iter_torch_batches(batch_size=16, local_shuffle_buffer_size=32):
            error += (model(batch["features"]).squeeze(1) - batch["target"]).abs().sum().item()
            rows += len(batch["target"])
    return error / rows


def evaluate_raising(model, dataset):
    for batch in dataset.iter_torch_batches(batch_size=16):
        batch["label"]  # a column the dataset does not have
    return 0.0


# The stretch requires (the lab's text, sentence by sentence):
#   R1 (probe) read with iter_torch_batches: not broken by a test yet
#   R2 (probe) every row once, the last, smaller batch too: test_stretch_rejects_mistakes[evaluate_drop_last]
#   R3 (probe) the model in eval mode: [evaluate_training_mode]
#   R4 (probe) no gradients: [evaluate_with_gradients]
#   R5 (probe) no shuffle: [evaluate_shuffled]
#   R6 (probe) the mean absolute error over all rows, errors and rows added up: [evaluate_mean_of_batches],
#      [evaluate_squared], [evaluate_root_mean_squared], [evaluate_broadcast]; the mistakes told apart whatever the
#      seed: test_stretch_tells_the_batch_dependent_mistakes_apart_on_every_seed
#   The check runs evaluate on a model of its own with dropout, left in training mode, and rows of its own. It also
#   holds the weights untouched and tells the learner's own error in one line ([evaluate_raising]).
# Right answers written otherwise: test_stretch_accepts_correct_loops[evaluate_inference_mode].


@pytest.mark.fast
def test_stretch_placeholder_and_outline_are_not_solved():
    def outline(model, dataset): ...

    assert lab07.stretch.result(...).status == "not solved"
    assert lab07.stretch.result(outline).status == "not solved"


@pytest.mark.fast
@pytest.mark.parametrize("evaluate", [evaluate_right, evaluate_inference_mode])
def test_stretch_accepts_correct_loops(ray_session, evaluate):
    verdict = lab07.stretch.result(evaluate)
    assert verdict.passed, verdict


@pytest.mark.fast
@pytest.mark.parametrize(
    "evaluate, message",
    [
        (evaluate_training_mode, "training mode"),
        (evaluate_with_gradients, "recorded gradients"),
        (evaluate_drop_last, "rows; the dataset has 101"),
        (evaluate_mean_of_batches, "the mean of the batches' errors"),
        (evaluate_squared, "the mean squared error, not the mean absolute error"),
        (evaluate_root_mean_squared, "another number"),
        (evaluate_broadcast, "broadcast"),
        (evaluate_shuffled, "shuffles the rows"),
        (evaluate_raising, "evaluate raised KeyError: 'label'"),
    ],
)
def test_stretch_rejects_mistakes(ray_session, evaluate, message):
    verdict = lab07.stretch.result(evaluate)
    assert verdict.status == "wrong" and message in verdict.message, verdict


@pytest.mark.parametrize("seed", [0, 1, 2, 21])
def test_stretch_tells_the_batch_dependent_mistakes_apart_on_every_seed(ray_session, seed):
    # Both numbers depend on the seed's rows and on which rows share a batch; the check computes them from the
    # batches it saw and names the nearest mistake. A fixed tolerance once read a mean of per-batch errors as a
    # broadcast; on seed 21 the broadcast comes within 1e-4 of the mean squared error.
    for evaluate, message in (
        (evaluate_mean_of_batches, "the mean of the batches' errors"),
        (evaluate_broadcast, "broadcast"),
    ):
        verdict = lab07.stretch.result(evaluate, seed=seed)
        assert verdict.status == "wrong" and message in verdict.message, (seed, verdict)


# Two halves: the observation of a right answer passes the judge; a forged one does not -----------------------


def test_ex1_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(ray_session):
    seen = lab07.exercise_1.observe(_joined().map_batches(add_photos))
    assert lab07.exercise_1.decide(seen).passed, lab07.exercise_1.decide(seen)
    rows = seen["rows"]
    for forged in (
        {**seen, "rows": []},
        {**seen, "joins": 0},
        {**seen, "by_row": ["add_photo"]},
        {**seen, "rows": [{**r, "photo_file": None} for r in rows]},  # photos that name no file
        {**seen, "rows": [{**r, "text": "great"} for r in rows]},
        {**seen, "rows": rows[:-1]},
        {k: v for k, v in seen.items() if k != "joins"},
        {},
    ):
        assert not lab07.exercise_1.decide(forged).passed, forged


def test_ex3_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(ray_session):
    seen = lab07.exercise_3.observe(solution, seed=7)
    assert lab07.exercise_3.decide(seen, 7).passed, lab07.exercise_3.decide(seen, 7)
    assert lab07.exercise_3.decide(seen, 8).status == "wrong"  # the rows of another seed's regression
    epochs = seen["epochs"]
    for forged in (
        {**seen, "epochs": [{**e, "batches": []} for e in epochs]},
        {**seen, "epochs": epochs[:1]},
        {**seen, "weight": [0.0] * len(seen["weight"]), "bias": [0.0]},  # a model that learned nothing
        {**seen, "epochs": [{**e, "returned": {"number": 0.0, "repr": "0.0"}} for e in epochs]},
        {**seen, "counts": {}},
        {},
    ):
        assert not lab07.exercise_3.decide(forged, 7).passed, forged


def test_stretch_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(ray_session):
    seen = lab07.stretch.observe(evaluate_right, seed=9)
    assert lab07.stretch.decide(seen, 9).passed, lab07.stretch.decide(seen, 9)
    assert lab07.stretch.decide(seen, 10).status == "wrong"  # the rows of another seed
    for forged in (
        {**seen, "rows": []},
        {**seen, "modes": [True]},
        {**seen, "state": {}},
        {**seen, "returned": {"number": 1.0, "repr": "1.0"}},
        {k: v for k, v in seen.items() if k != "grads"},
        {},
    ):
        assert not lab07.stretch.decide(forged, 9).passed, forged
    for sizes in ([16, "16"], [0, 101], [100], None):  # batches the judge cannot read: it names no mistake
        verdict = lab07.stretch.decide({**seen, "batch_sizes": sizes, "returned": {"number": 1.0, "repr": "1.0"}}, 9)
        assert verdict.status == "wrong" and "1.0: another number" in verdict.message, verdict


def test_ex2_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(ray_session, small_day, monkeypatch):
    """A fed run's observation passes the judge, which reads nothing of the kernel (its cluster, its runs); the
    features it compares are those of the ratings chosen from the seed, so another seed's observation fails."""
    monkeypatch.setattr(
        lab07.ex2, "_reference_features", lambda rows: ({int(r): np.full(3, float(r)) for r in rows["id"]}, None)
    )
    run = _day_run(batches=10, rows_per_batch=4, busy=0.3, gap=0.02)
    run["features"] = [np.full(3, float(r), np.float32) for r in run["id"]]  # each rating's own features
    lab07.keep_starved(STARVED)
    monkeypatch.setattr(ray.data.Dataset, "to_pandas", lambda self, *a, **k: run)
    seen, other = lab07.exercise_2.observe(pipeline, seed=7), lab07.exercise_2.observe(pipeline, seed=8)
    assert len(seen["attempts"]) == 1 and seen["attempts"][0]["run"]["rows"] == 40

    def unreachable(*args, **kwargs):
        raise AssertionError("the judge read the kernel")

    for name in ("cluster_gpus", "cluster_cpus"):
        monkeypatch.setattr(lab07.ex2_plan, name, unreachable)
    monkeypatch.setattr(ray.data.Dataset, "to_pandas", unreachable)
    assert lab07.exercise_2.decide(seen, 7).passed, lab07.exercise_2.decide(seen, 7)
    assert set(lab07._reference_rows(small_day, 7)["id"]) != set(lab07._reference_rows(small_day, 8)["id"])
    assert lab07.exercise_2.decide(other, 7).status == "wrong"  # the features of another seed's ratings only

    attempt = seen["attempts"][0]
    plan, observed = attempt["plan"], attempt["run"]
    encoder = plan["lab"]["RatingEncoder"]
    empty = {**observed, "rows": 0, **{c: [] for c in ("id", "features", "actor", "started", "finished")}}
    giant = {**observed, "started": [100.0] * 40, "finished": [102.0] * 40, "actor": ["a"] * 40}
    for forged in (
        {**seen, "attempts": []},
        {**seen, "attempts": seen["attempts"] * 3},  # the best of many runs
        {**seen, "attempts": [{"plan": plan}]},  # a plan and no run
        {**seen, "attempts": [{**attempt, "run": empty}]},
        {**seen, "attempts": [{**attempt, "run": {**observed, "features": [None] * 40}}]},
        {**seen, "attempts": [{**attempt, "run": {**observed, "features": [[1.0, 1.0, 1.0]] * 40}}]},
        {**seen, "attempts": [{**attempt, "run": giant}]},
        {**seen, "attempts": [{**attempt, "run": {**observed, "id": observed["id"][:-4] + [99] * 4}}]},
        {**seen, "attempts": [{**attempt, "plan": {**plan, "from_source": False}}]},
        {**seen, "attempts": [{**attempt, "plan": {**plan, "code": {}}}]},
        {
            **seen,
            "attempts": [
                {**attempt, "plan": {**plan, "lab": {**plan["lab"], "RatingEncoder": {**encoder, "pool_size": [1, 1]}}}}
            ],
        },
        {**seen, "cluster": {**seen["cluster"], "gpus": 0}},
        {**seen, "starved": {**seen["starved"], "actor": []}},
        {k: v for k, v in seen.items() if k != "starved"},
        {},
    ):
        assert not lab07.exercise_2.decide(forged, 7).passed, forged


def test_ex2_a_plan_that_cannot_run_is_observed_not_run_and_judged_from_the_plan(ray_session, small_day, monkeypatch):
    lab07.keep_starved(STARVED)
    monkeypatch.setattr(ray.data.Dataset, "to_pandas", lambda self, *a, **k: pytest.fail("a wrong plan ran"))
    seen = lab07.exercise_2.observe(lambda s: pipeline(s, encode={"compute": A(size=3)}), seed=1)
    assert [set(attempt) for attempt in seen["attempts"]] == [{"plan"}]
    _wrong(lab07.exercise_2.decide(seen, 1), "may grow to 3 actors")
