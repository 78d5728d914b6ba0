"""Lab 07 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1's judgement (rows, features, busy share) is tested on tables made here, with the
stopwatch columns set to a known busy share; the solution notebook runs the real pipeline
through the whole check. Exercise 2 gets training functions, right and wrong, and runs them.
"""

import sys

import numpy as np
import pandas as pd
import pytest
import ray
import ray.cloudpickle
import torch

from raycourse.checks import lab07

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint


# ----------------------------------------------------------------------------- Exercise 1

def _run(share, actors=("a",), ids=range(1, 9), batch=4, copies=2):
    """An encoder's output: `copies` of each id, batches of `batch` rows, busy `share` of the time."""
    rows = [rid for rid in ids for _ in range(copies)]
    table = pd.DataFrame({"id": rows, "features": [np.full(3, rid, np.float32) for rid in rows]})
    batch_no = np.arange(len(table)) // batch
    table["actor"] = [actors[b % len(actors)] for b in batch_no]
    slot = batch_no // len(actors)  # each actor computes `share` of every 1-second slot
    table["started"] = slot * 1.0
    table["finished"] = slot * 1.0 + share
    return table


SOURCE = pd.DataFrame({"id": [rid for rid in range(1, 9) for _ in range(2)]})
REFERENCE = {rid: np.full(3, rid, np.float32) for rid in (1, 2)}


@pytest.mark.parametrize("share, actors", [(0.9, ("a",)), (0.8, ("a", "b")), (0.5, ("a",))])
def test_busy_share_is_computing_time_over_time_on_duty(share, actors):
    # every actor computes `share` of each slot; the last slot ends `share` into it
    table = _run(share, actors)
    slots = (len(table) // 4 + len(actors) - 1) // len(actors)
    expected = share * slots / (slots - 1 + share)
    assert lab07.busy_share(table) == pytest.approx(expected)


def test_ex1_judge_accepts_every_row_with_the_models_features():
    assert lab07.judge_run(_run(0.9), SOURCE, REFERENCE) == pytest.approx(lab07.busy_share(_run(0.9)))


@pytest.mark.parametrize("spoil, message", [
    (lambda t: t.iloc[:-2], "2 missing"),
    (lambda t: t.drop_duplicates("id"), "8 missing"),
    (lambda t: pd.concat([t, t.iloc[:3]]), "3 extra"),
    (lambda t: t.drop(columns=["started"]), "no ['started'] column"),
    (lambda t: t.assign(features=[f * 0.5 for f in t["features"]]), "other features"),
    (lambda t: t.assign(features=[f[:2] for f in t["features"]]), "other features"),
])
def test_ex1_judge_rejects_a_run_that_skipped_or_changed_work(spoil, message):
    with pytest.raises(lab07.Wrong) as caught:  # exercise_1 reports what the judge raises
        lab07.judge_run(spoil(_run(0.9)), SOURCE, REFERENCE)
    assert message in caught.value.problem
    assert caught.value.hint


def test_ex1_waits_for_the_placeholder():
    assert lab07.exercise_1.result(..., None).status == "not solved"


def test_ex1_rejects_what_is_not_a_pipeline(ray_session):
    _wrong(lab07.exercise_1.result(pd.DataFrame(), None), "not a Dataset")


def test_ex1_rejects_a_pipeline_without_the_given_encoder(ray_session):
    class OtherEncoder:
        def __call__(self, batch):
            return batch

    ds = ray.data.from_items([{"id": 1}]).map_batches(OtherEncoder, batch_size=1, compute=ray.data.ActorPoolStrategy(size=1))
    _wrong(lab07.exercise_1.result(ds, None), "no ReviewEncoder stage")


class ReviewEncoder:  # the name the check looks for; never run here
    def __call__(self, batch):
        return batch


def _encoder_pipeline(**stage):
    stage = {"batch_size": 1, "num_gpus": 1, "compute": ray.data.ActorPoolStrategy(size=1), **stage}
    return ray.data.from_items([{"id": 1}]).map_batches(ReviewEncoder, **{k: v for k, v in stage.items() if v is not None})


def _judged_as(monkeypatch, ds, share, starved):
    """Run exercise 1 on `ds` with the encoder's runs measured at `share`, after a starved run at `starved`."""
    day = ray.data.from_pandas(SOURCE)
    monkeypatch.setattr(lab07, "_starved", [] if starved is None else [starved])
    monkeypatch.setattr(lab07, "_reference_features", lambda rows: (REFERENCE, None))
    monkeypatch.setattr(type(ds), "to_pandas", lambda self, *a, **k: SOURCE if self is day else _run(share))
    return lab07.exercise_1.result(ds, day)


def test_busy_target_is_relative_to_the_starved_run():
    assert lab07.busy_target(0.1) == pytest.approx(0.2)  # a GPU whose CPU stages set the pace
    assert lab07.busy_target(0.3) == pytest.approx(0.6)
    assert lab07.busy_target(0.5) == pytest.approx(lab07.BUSY_CAP)  # twice would be 100 %
    assert lab07.starved_share(0.42) == 0.42 and lab07._starved == [0.42]


def test_ex1_rejects_a_pool_that_still_waits(ray_session, monkeypatch):
    verdict = _judged_as(monkeypatch, _encoder_pipeline(), share=0.4, starved=0.35)
    _wrong(verdict, "computed 47% of its time")  # 4 slots busy 0.4 s: 1.6 s of 3.4 s
    assert "best of 2 runs" in verdict.message and "the target is 70% (the starved pipeline: 35%)" in verdict.message


def test_ex1_target_follows_the_starved_run(ray_session, monkeypatch):
    # the same pool, busy 47 %, passes where the starved run was 20 % (a GPU's CPU stages set the pace) ...
    verdict = _judged_as(monkeypatch, _encoder_pipeline(), share=0.4, starved=0.2)
    assert verdict.passed, verdict
    assert "target 40%, from the starved 20%" in verdict.message
    # ... and waits for the starved run's measure when the session has none
    assert _judged_as(monkeypatch, _encoder_pipeline(), share=0.9, starved=None).status == "not solved"


@pytest.mark.parametrize("pool", ["one", "cluster"])
def test_ex1_accepts_an_encoder_pool_from_one_actor_to_the_clusters_gpus(ray_session, monkeypatch, pool):
    gpus = int(ray.cluster_resources()["GPU"])
    size = {"one": 1, "cluster": gpus}[pool]
    ds = _encoder_pipeline(compute=ray.data.ActorPoolStrategy(size=size))
    assert _judged_as(monkeypatch, ds, share=0.9, starved=0.3).passed


def test_ex1_rejects_an_encoder_pool_bigger_than_the_clusters_gpus(ray_session, monkeypatch):
    gpus = int(ray.cluster_resources()["GPU"])
    verdict = _judged_as(monkeypatch, _encoder_pipeline(compute=ray.data.ActorPoolStrategy(size=gpus + 1)),
                         share=0.9, starved=0.3)
    _wrong(verdict, f"up to {gpus + 1} actors with num_gpus=1 each; the cluster has {gpus} GPUs")
    assert "GPUS" in verdict.hint
    _wrong(_judged_as(monkeypatch, _encoder_pipeline(num_gpus=None), share=0.9, starved=0.3), "asks for no GPU")


def _sample_rows():
    import raycourse

    texts = ["A fine coat, warm and well made.", "It tore at once and my dog hated it.", "Too small for a beagle."]
    return pd.DataFrame({"id": [1, 2, 3], "text": texts,
                         "photo": [f"{raycourse.data_path('product_photos')}/{i:02d}.png" for i in (1, 2, 3)]})


@pytest.fixture(scope="module")
def reference():
    return lab07._reference_features(_sample_rows())


def _features_in(dtype, rows):
    """The rows' features with both models loaded in `dtype`, as another machine's kernels would round them."""
    from unittest import mock

    from transformers import AutoModel

    load = AutoModel.from_pretrained
    with mock.patch.object(AutoModel, "from_pretrained", lambda *a, **k: load(*a, **{**k, "dtype": dtype})):
        return lab07._reference_features(rows)[0]


def test_ex1_features_in_another_precision_pass_and_wrong_ones_do_not(reference):
    want, text_width = reference
    source = pd.DataFrame({"id": [1, 2, 3]})

    def table(features):
        run = _run(0.9, ids=(1, 2, 3), copies=1)
        return run.assign(features=[features[rid] for rid in run["id"]])

    as_fp32 = _features_in(torch.float32, _sample_rows())  # the LLM in float32: further from bf16 than a GPU's bf16
    as_bf16 = {rid: torch.tensor(f).bfloat16().float().numpy() for rid, f in want.items()}  # bf16 all through
    for features in (as_fp32, as_bf16):
        distances = [lab07.feature_distance(features[rid], want[rid], text_width) for rid in want]
        assert max(distances) < lab07.FEATURE_TOLERANCE / 2, distances  # room to spare
        lab07.judge_run(table(features), source, want, text_width)
    shifted = {rid: want[rid % 3 + 1] for rid in want}  # another review's features
    swapped_images = {rid: np.concatenate([want[rid][:text_width], want[rid % 3 + 1][text_width:]]) for rid in want}
    for features in (shifted, swapped_images):
        with pytest.raises(lab07.Wrong) as caught:
            lab07.judge_run(table(features), source, want, text_width)
        assert "other features" in caught.value.problem


def test_ex1_reference_features_are_the_lessons(ray_session):
    from transformers import AutoConfig

    import raycourse

    rows = pd.DataFrame({"id": [1, 2], "text": ["A fine coat.", "It tore at once and my dog hated it."],
                         "photo": [f"{raycourse.data_path('product_photos')}/{i:02d}.png" for i in (1, 2)]})
    features, text_width = lab07._reference_features(rows)
    assert set(features) == {1, 2}
    assert features[1].shape == features[2].shape and features[1].ndim == 1 and features[1].dtype == np.float32
    assert text_width == AutoConfig.from_pretrained(raycourse.model_id("llm")).hidden_size
    assert not np.allclose(features[1], features[2])


# ----------------------------------------------------------------------------- Exercise 2

DTYPES = {"features": torch.float32, "target": torch.int64}


def solution(model, optimizer, dataset):
    losses = []
    for batch in dataset.iter_torch_batches(batch_size=16, dtypes=DTYPES, prefetch_batches=2,
                                            local_shuffle_buffer_size=32):
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def with_collate_fn(model, optimizer, dataset):
    from ray.data.collate_fn import NumpyBatchCollateFn

    class Pair(NumpyBatchCollateFn):
        def __call__(self, batch):
            return torch.tensor(batch["features"], dtype=torch.float32), torch.tensor(batch["target"])

    total, count = 0.0, 0
    for features, target in dataset.iter_torch_batches(batch_size=7, collate_fn=Pair()):
        model.zero_grad(set_to_none=True)
        loss = torch.nn.CrossEntropyLoss()(model(features), target)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item(), count + 1
    return total / count


def without_shuffle_one_batch(model, optimizer, dataset):
    for batch in dataset.iter_torch_batches(batch_size=1000):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"].float()), batch["target"].long())
        loss.backward()
        optimizer.step()
    return loss.item()


@pytest.mark.parametrize("fn", [solution, with_collate_fn, without_shuffle_one_batch])
def test_ex2_accepts_different_correct_loops(ray_session, fn):
    verdict = lab07.exercise_2.result(fn)
    assert verdict.passed, verdict


def loop_with(batch_size=8, drop_last=False, zero_grad=True, flip_targets=False):
    """The solution's loop with one of a learner's slips."""

    def train_epoch(model, optimizer, dataset):
        losses = []
        for batch in dataset.iter_torch_batches(batch_size=batch_size, dtypes=DTYPES, drop_last=drop_last):
            if zero_grad:
                optimizer.zero_grad()
            target = 1 - batch["target"] if flip_targets else batch["target"]
            loss = torch.nn.functional.cross_entropy(model(batch["features"]), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses))

    return train_epoch


def never_steps(model, optimizer, dataset):
    for batch in dataset.iter_torch_batches(batch_size=8, dtypes=DTYPES):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"]).backward()
    return 0.5


def through_pandas(model, optimizer, dataset):
    table = dataset.to_pandas()
    features = torch.tensor(np.stack(table["features"]), dtype=torch.float32)
    optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(features), torch.tensor(table["target"].to_numpy()))
    loss.backward()
    optimizer.step()
    return loss.item()


def returns_nothing(model, optimizer, dataset):
    solution(model, optimizer, dataset)


def returns_the_sum(model, optimizer, dataset):
    total = 0.0
    for batch in dataset.iter_torch_batches(batch_size=4, dtypes=DTYPES):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def returns_a_numpy_float32(model, optimizer, dataset):
    losses = []
    for batch in dataset.iter_torch_batches(batch_size=10, dtypes=DTYPES):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.mean(np.array(losses, dtype=np.float32))


def mean_over_rows(model, optimizer, dataset):
    total, rows = 0.0, 0
    for batch in dataset.iter_torch_batches(batch_size=10, dtypes=DTYPES):  # 96 rows: the last batch holds 6
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()
        optimizer.step()
        total, rows = total + loss.item() * len(batch["target"]), rows + len(batch["target"])
    return torch.tensor(total / rows)


@pytest.mark.parametrize("fn", [returns_a_numpy_float32, mean_over_rows])
def test_ex2_accepts_the_mean_as_any_kind_of_number_and_over_rows(ray_session, fn):
    verdict = lab07.exercise_2.result(fn)
    assert verdict.passed, verdict


def returns_the_last_loss(model, optimizer, dataset):
    for batch in dataset.iter_torch_batches(batch_size=8, dtypes=DTYPES):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()
        optimizer.step()
    return loss.item()


def mse_on_softmax(model, optimizer, dataset):
    losses = []
    for batch in dataset.iter_torch_batches(batch_size=8, dtypes=DTYPES):
        optimizer.zero_grad()
        probabilities = torch.softmax(model(batch["features"]), dim=1)
        wanted = torch.nn.functional.one_hot(batch["target"], num_classes=2).float()
        loss = torch.nn.functional.mse_loss(probabilities, wanted)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def one_step_per_epoch(model, optimizer, dataset):
    losses = []
    optimizer.zero_grad()
    for batch in dataset.iter_torch_batches(batch_size=8, dtypes=DTYPES):
        loss = torch.nn.functional.cross_entropy(model(batch["features"]), batch["target"])
        loss.backward()  # gradients add up over the epoch ...
        losses.append(loss.item())
    optimizer.step()  # ... and the model learns once
    return float(np.mean(losses))


@pytest.mark.parametrize("fn, message", [
    (returns_the_last_loss, "the last batch's loss"),
    (mse_on_softmax, "not the mean cross-entropy"),
    (one_step_per_epoch, "ran 12 batches and took 1 optimizer step(s)"),
    (loop_with(batch_size=10, drop_last=True), "trained on 90 rows"),
    (loop_with(zero_grad=False), "reset only 0 times"),
    (never_steps, "never took a step"),
    (through_pandas, "did not read the dataset with iter_torch_batches"),
    (returns_nothing, "not the mean loss"),
    (returns_the_sum, "the sum of the batches' losses"),
    (loop_with(flip_targets=True), "loss went from"),
])
def test_ex2_rejects_the_likely_mistakes(ray_session, fn, message):
    _wrong(lab07.exercise_2.result(fn), message)


def test_ex2_waits_for_the_placeholder():
    assert lab07.exercise_2.result(...).status == "not solved"
    _wrong(lab07.exercise_2.result(42), "not a function")


# Stretch: an evaluation loop ---------------------------------------------------------------------------


def evaluate_right(model, dataset):  # the solution's way
    model.eval()
    right = rows = 0
    with torch.no_grad():
        batches = dataset.iter_torch_batches(batch_size=16, dtypes={"features": torch.float32, "target": torch.int64})
        for batch in batches:
            right += (model(batch["features"]).argmax(dim=1) == batch["target"]).sum().item()
            rows += len(batch["target"])
    return right / rows


def evaluate_inference_mode(model, dataset):  # another way: one batch per block, inference mode, NumPy at the end
    model.eval()
    predicted, targets = [], []
    with torch.inference_mode():
        for batch in dataset.iter_torch_batches(batch_size=None):
            predicted.append(model(batch["features"].float()).argmax(1).numpy())
            targets.append(batch["target"].numpy())
    return float((np.concatenate(predicted) == np.concatenate(targets)).mean())


def evaluate_training_mode(model, dataset):
    with torch.no_grad():
        right = sum((model(b["features"]).argmax(1) == b["target"]).sum().item()
                    for b in dataset.iter_torch_batches(batch_size=16))
    return right / dataset.count()


def evaluate_with_gradients(model, dataset):
    model.eval()
    right = sum((model(b["features"]).argmax(1) == b["target"]).sum().item()
                for b in dataset.iter_torch_batches(batch_size=16))
    return right / dataset.count()


def evaluate_drop_last(model, dataset):
    model.eval()
    with torch.no_grad():
        scores = [(model(b["features"]).argmax(1) == b["target"]).float().mean().item()
                  for b in dataset.iter_torch_batches(batch_size=16, drop_last=True)]
    return sum(scores) / len(scores)


def evaluate_mean_of_batches(model, dataset):
    model.eval()
    with torch.no_grad():
        scores = [(model(b["features"]).argmax(1) == b["target"]).float().mean().item()
                  for b in dataset.iter_torch_batches(batch_size=16)]
    return sum(scores) / len(scores)


def test_stretch_placeholder_and_outline_are_not_solved():
    def outline(model, dataset):
        ...

    assert lab07.stretch.result(...).status == "not solved"
    assert lab07.stretch.result(outline).status == "not solved"


@pytest.mark.parametrize("evaluate", [evaluate_right, evaluate_inference_mode])
def test_stretch_accepts_correct_loops(ray_session, evaluate):
    verdict = lab07.stretch.result(evaluate)
    assert verdict.passed, verdict


@pytest.mark.parametrize("evaluate, message", [
    (evaluate_training_mode, "training mode"),
    (evaluate_with_gradients, "recorded gradients"),
    (evaluate_drop_last, "rows; the dataset has 101"),
    (evaluate_mean_of_batches, "of the rows right"),
])
def test_stretch_rejects_mistakes(ray_session, evaluate, message):
    verdict = lab07.stretch.result(evaluate)
    assert verdict.status == "wrong" and message in verdict.message, verdict
