"""Lab 05 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1 gets Datasets built from the course's three-class sample images (most through pandas, so each mistake
is exact and cheap; some through read_images, as a learner would) and lists of classes. Exercise 2 gets stand-ins of
a Ray Train ``Result`` (the check reads only its metrics and checkpoint folder, so the folders are saved here as a
worker would save them, right and wrong) and ``train_func`` variants whose code it reads but never runs. Exercise 3
gets ImageClassifier classes that load a tiny three-class ViT checkpoint saved here, lazy pipelines that are never
run, ``scored`` tables and review folders written here.
"""

import json
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import ray
import ray.cloudpickle
import ray.train
import torch
from PIL import Image

import raycourse
from raycourse.checks import lab05

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module

CLASSES = ["checks", "stripes_horizontal", "stripes_vertical"]


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and str(verdict.hint) not in ("", "None")


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 read_labelled reads any number of class folders, every one: test_ex1_rejects_the_lessons_two_folders
#   R2 at most 200 images of each: test_ex1_rejects_more_than_the_limit_per_class
#   R3 `image` (H, W, 3), grayscale converted, not kept and not dropped: test_ex1_rejects_grayscale_kept,
#      test_ex1_rejects_grayscale_dropped
#   R4 `path` where each image came from: test_ex1_rejects_other_image_mistakes[no `path` column]
#   R5 `label` the readable class of its folder, from its path: test_ex1_rejects_labels_paired_by_row_order,
#      test_ex1_rejects_other_image_mistakes[not class names]
#   R6 every image once: test_ex1_rejects_other_image_mistakes[more than once], [missing]
#   R7 (probe) class_names(ds): the names found in the `label` column of the Dataset it is given (not typed, not the
#      folder list): test_ex1_rejects_class_names_not_found_in_the_dataset_it_is_given
#   R8 CLASSES a list, each class once, sorted: test_ex1_rejects_class_lists_that_are_not_the_datas_sorted
# Right answers written otherwise: test_ex1_accepts_grayscale_converted_by_hand, test_ex1_accepts_a_union_of_reads_...,
# test_ex1_accepts_class_names_collected_through_pandas; materialize() is the learner's choice (both pass:
# test_ex1_accepts_one_read_of_every_folder is lazy).


@pytest.fixture(scope="module")
def folders():
    return raycourse.data_path("images_train_3")


def _label(path):
    return lab05.class_name(Path(path).parent.name)


@pytest.fixture(scope="module")
def rows(folders):
    """Every training image as read_images returns it without mode="RGB" (grayscale stays 2-D), path, label."""
    records = []
    for folder in folders:
        for name in lab05._image_files(folder):
            path = str(Path(folder) / name)
            with Image.open(path) as image:
                records.append(
                    {"raw": np.array(image), "rgb": np.array(image.convert("RGB")), "path": path, "label": _label(path)}
                )
    frame = pd.DataFrame(records)
    frame = frame.sample(frac=1, random_state=0, ignore_index=True)  # rows of every class mixed, as union gives
    assert (frame["raw"].map(np.ndim) == 2).any(), "the sample data has grayscale images"
    assert sorted(frame["label"].unique()) == CLASSES
    return frame


def _dataset(frame, image="rgb", **columns):
    data = {"image": list(frame[image]), "path": list(frame["path"]), "label": list(frame["label"])}
    data.update(columns)
    return ray.data.from_pandas(pd.DataFrame(data))


def _label_from_path(batch):
    batch["label"] = np.array([_label(p) for p in batch["path"]])
    return batch


def by_unique(ds):
    return sorted(ds.unique("label"))


def _ex1(train_images, classes, folders, class_names=by_unique):
    return lab05.exercise_1.result(train_images, classes, folders, class_names)


@pytest.mark.fast
def test_ex1_placeholders_are_not_solved(ray_session, rows, folders):
    assert _ex1(..., ..., folders).status == "not solved"
    assert _ex1(_dataset(rows), ..., folders).status == "not solved"
    assert _ex1(_dataset(rows), CLASSES, folders, ...).status == "not solved"


def through_pandas_names(ds):  # another right answer: the labels collected, then made distinct in the driver
    return sorted(set(ds.select_columns(["label"]).to_pandas()["label"]))


@pytest.mark.parametrize(
    "class_names, message",
    [
        (lambda ds: list(CLASSES), "typed by hand"),  # the right list for this data, typed
        (lambda ds: [Path(f).name for f in raycourse.data_path("images_train_3")], "typed by hand"),  # the folders
        (lambda ds: list(dict.fromkeys(r["label"] for r in ds.take_all())), "typed by hand"),  # first-seen order
        (lambda ds: sorted(ds.unique("class")), "failed on a Dataset of the check's own"),  # the lesson's column
    ],
)
def test_ex1_rejects_class_names_not_found_in_the_dataset_it_is_given(ray_session, rows, folders, class_names, message):
    _wrong(_ex1(_dataset(rows), CLASSES, folders, class_names), message)


def test_ex1_accepts_class_names_collected_through_pandas(ray_session, rows, folders):
    assert _ex1(_dataset(rows), CLASSES, folders, through_pandas_names).passed


@pytest.mark.fast
def test_ex1_accepts_labels_from_paths_in_colour_and_the_sorted_classes(ray_session, rows, folders):
    verdict = _ex1(_dataset(rows), list(CLASSES), folders)
    assert verdict.passed, verdict
    assert "240 images" in verdict.message and "80 checks" in verdict.message
    assert _ex1(_dataset(rows), tuple(CLASSES), folders).passed


def test_ex1_accepts_a_union_of_reads_and_classes_from_unique(ray_session, folders):
    reads = [ray.data.read_images(f, include_paths=True, mode="RGB").limit(200) for f in folders]
    train_images = reads[0].union(*reads[1:]).map_batches(_label_from_path).materialize()
    verdict = _ex1(train_images, sorted(train_images.unique("label")), folders)
    assert verdict.passed, verdict


def test_ex1_accepts_one_read_of_every_folder(ray_session, folders, limits):
    # one read_images call over the list (no limit needed: every folder holds fewer than 200), labels in pandas
    def label(frame):
        return frame.assign(label=[_label(p) for p in frame["path"]])

    train_images = ray.data.read_images(folders, include_paths=True, mode="RGB").map_batches(
        label, batch_format="pandas"
    )
    classes = sorted(set(train_images.select_columns(["label"]).to_pandas()["label"]))
    assert _ex1(train_images, classes, folders, through_pandas_names).passed and limits == []  # run whole
    assert _ex1(train_images, classes, folders).passed  # by_unique: Ray's unique() takes 1 row of its result


def test_ex1_accepts_grayscale_converted_by_hand(ray_session, rows, folders):
    by_hand = rows["raw"].map(lambda a: np.stack([a] * 3, axis=-1) if a.ndim == 2 else a)
    assert _ex1(_dataset(rows.assign(by_hand=by_hand), image="by_hand"), CLASSES, folders).passed


def test_ex1_rejects_labels_paired_by_row_order(ray_session, rows, folders):
    # a label file's order (all of the first class, then the next, ...) against interleaved rows
    in_file_order = sorted(rows["label"])
    _wrong(_ex1(_dataset(rows, label=in_file_order), CLASSES, folders), "not the class of their folder")


def test_ex1_rejects_grayscale_kept(ray_session, rows, folders):
    _wrong(_ex1(_dataset(rows, image="raw"), CLASSES, folders), "not (H, W, 3)")
    channels_first = rows["raw"].map(lambda a: a[None] if a.ndim == 2 else a)  # (1, H, W), as in mixed blocks
    verdict = _ex1(_dataset(rows.assign(cf=channels_first), image="cf"), CLASSES, folders)
    _wrong(verdict, "(1, H, W)")


def test_ex1_rejects_more_than_the_limit_per_class(ray_session, rows, folders, monkeypatch):
    monkeypatch.setattr(lab05.ex1, "PER_CLASS", 50)  # the sample folders hold 80 each: a read without limit(50)
    _wrong(_ex1(_dataset(rows), CLASSES, folders), "more than the lesson's 50 per class")


@pytest.mark.fast
def test_ex1_rejects_grayscale_dropped(ray_session, rows, folders):
    colour = rows[rows["raw"].map(np.ndim) == 3]
    _wrong(_ex1(_dataset(colour), CLASSES, folders), "missing")


def test_ex1_rejects_the_lessons_two_folders(ray_session, rows, folders):
    # the lesson's read_class(folders[0]).union(read_class(folders[1])): the third folder is left out
    two = rows[rows["label"] != "checks"]
    _wrong(
        _ex1(_dataset(two), ["stripes_horizontal", "stripes_vertical"], folders),
        "no image of the folder checks",
    )


def test_ex1_rejects_other_image_mistakes(ray_session, rows, folders):
    _wrong(_ex1(_dataset(rows).drop_columns(["path"]), CLASSES, folders), "no `path` column")
    numbers = [folders.index(str(Path(p).parent)) for p in rows["path"]]
    _wrong(_ex1(_dataset(rows, label=numbers), CLASSES, folders), "not class names")
    _wrong(_ex1(_dataset(pd.concat([rows, rows.head(3)])), CLASSES, folders), "more than once")
    _wrong(_ex1(_dataset(rows.head(200)), CLASSES, folders), "missing")


@pytest.mark.parametrize(
    "classes, message",
    [
        (["stripes_horizontal", "checks", "stripes_vertical"], "not in sorted order"),  # unique()'s order, kept
        (["stripes_horizontal", "stripes_vertical"], "lacks ['checks']"),  # the lesson's two, typed by hand
        (CLASSES + ["dog"], "has ['dog']"),
        (CLASSES + ["checks"], "more than once"),
        ("checks stripes_horizontal stripes_vertical", "not a list"),
        (np.array(CLASSES), "not a list"),  # Featurizer's CLASSES.index would fail
        ([0, 1, 2], "not class names"),
    ],
)
def test_ex1_rejects_class_lists_that_are_not_the_datas_sorted(ray_session, rows, folders, classes, message):
    _wrong(_ex1(_dataset(rows), classes, folders), message)


# Exercise 1 in two halves: the judge decides from what the observer saw, with the seed of the class_names probe.


def test_ex1_the_observation_of_a_right_answer_passes_the_judge(ray_session, rows, folders):
    seen = lab05.exercise_1.observe(_dataset(rows), CLASSES, folders, by_unique, seed=11)
    assert seen["class_names"]["names"] == sorted(set(lab05.probe_labels(11)))
    assert lab05.exercise_1.decide(seen, 11).passed
    json.dumps(seen)  # plain data


def test_ex1_a_forged_observation_does_not_pass(ray_session, rows, folders):
    seen = lab05.exercise_1.observe(_dataset(rows), CLASSES, folders, by_unique, seed=11)
    other = next(s for s in range(12, 100) if sorted(set(lab05.probe_labels(s))) != sorted(set(lab05.probe_labels(11))))
    _wrong(lab05.exercise_1.decide(seen, other), "`class_names` gives")  # another seed's probe answer
    empty = {**seen, "images": {"seen": {"paths": [], "labels": [], "layouts": [], "not_text": None}}}
    _wrong(lab05.exercise_1.decide(empty, 11), "is empty")
    images = seen["images"]["seen"]
    shuffled = {**images, "labels": sorted(images["labels"])}  # the right shape, the labels of other rows
    _wrong(lab05.exercise_1.decide({**seen, "images": {"seen": shuffled}}, 11), "not the class of their folder")
    half = {k: (v[: len(v) // 2] if isinstance(v, list) else v) for k, v in images.items()}
    _wrong(lab05.exercise_1.decide({**seen, "images": {"seen": half}}, 11), "missing")
    for broken in ({}, {**seen, "images": {}}, {**seen, "classes": {"type": "list"}}):
        assert lab05.exercise_1.decide(broken, 11).status == "wrong"


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires:
#   R1 (probe) one_epoch reads shard.iter_torch_batches(batch_size=...) once: test_ex2_rejects_passes_in_the_...
#      [evaluate_typed_batch_size] (the same rule, in evaluate)
#   R2 (probe) one_epoch in training mode: [one_epoch_in_eval_mode]
#   R3 (probe) one optimizer step per batch, on the cross-entropy: [one_epoch_one_step]
#   R4 (probe) one_epoch returns the epoch's mean loss: [one_epoch_last_loss]
#   R5 (probe) evaluate returns the share of the shard's rows right: [evaluate_mean_of_batches]
#   R6 (probe) evaluate in eval mode: [evaluate_in_train_mode]
#   R7 (probe) evaluate without gradients: [evaluate_with_gradients]
#   R8 (probe) the model from config["model_id"] with one named output per config["classes"]:
#      test_ex2_rejects_loops_that_do_not_train_one_model_on_the_right_rows[lessons_classes]
#   R9 prepare_model (and no unguarded `.module`): [without_prepare_model], [saves_model_module]
#   R10 (probe) AdamW at config["learning_rate"]: [typed_learning_rate], [plain_sgd]
#   R11 (probe) config["epochs"] epochs, config["batch_size"]: [typed_epochs], [typed_batch_size]
#   R12 (probe) train on "train", evaluate on "valid": [evaluated_on_training_rows]
#   R13 (probe) every worker reports every epoch (epoch, loss, eval_accuracy): [only_rank_0_reports],
#       test_ex2_rejects_report_mistakes[no `epoch`], [1 reports for 3 epochs], test_ex2_rejects_a_report_per_batch
#   R14 (probe) only rank 0 saves, the others report checkpoint=None: [every_rank_saves]
#   R15 the unwrapped model and its image processor saved, from_pretrained loads them:
#       test_ex2_rejects_checkpoints_from_pretrained_cannot_use, test_ex2_rejects_a_model_exercise_3_cannot_use
#   R16 (on result) the loss falls, the last accuracy well above a guess: test_ex2_rejects_report_mistakes
#   The check calls one_epoch and evaluate on a tiny model, and runs train_func in this process as rank 1 of 2 with a
#   config of its own (Ray Train's calls stand-ins); a failing piece is told with its own error line.

SAVED_PATH = "<the checkpoint's path>"  # stands for checkpoint.path in a parametrize
SETTINGS = {"epochs": 3, "batch_size": 16, "learning_rate": 3e-3}


def _vit(num_labels=3, named=True):
    from transformers import ViTForImageClassification

    names = CLASSES[:num_labels] if num_labels <= 3 else [f"c{i}" for i in range(num_labels)]
    options = dict(id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}) if named else {}
    return ViTForImageClassification.from_pretrained(raycourse.model_id("vit"), num_labels=num_labels, **options)


def _save(folder, model=None, processor=True):
    from transformers import ViTImageProcessor

    folder.mkdir(parents=True, exist_ok=True)
    (model or _vit()).save_pretrained(folder)
    if processor:
        ViTImageProcessor.from_pretrained(raycourse.model_id("vit")).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint folder as rank 0 saves it: the unwrapped three-class ViT and its image processor."""
    return _save(tmp_path_factory.mktemp("ckpt") / "checkpoint_000002")


def _result(folder, epochs=3, loss=(1.1, 0.8, 0.45), accuracy=(0.6, 0.8, 0.95), drop=(), checkpoint=True):
    frame = pd.DataFrame(
        {"epoch": list(range(1, epochs + 1)), "loss": list(loss)[:epochs], "eval_accuracy": list(accuracy)[:epochs]}
    )
    frame = frame.drop(columns=list(drop))
    return SimpleNamespace(
        error=None, metrics_dataframe=frame, checkpoint=SimpleNamespace(path=str(folder)) if checkpoint else None
    )


# train_func variants: the check reads their code (with the helpers they call) and runs them here as the second of
# two workers, with a config of its own and a tiny model; `result` is a stand-in.


def _model(config):
    from transformers import ViTForImageClassification

    classes = config["classes"]
    return ViTForImageClassification.from_pretrained(
        config["model_id"],
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={name: i for i, name in enumerate(classes)},
    )


def one_epoch(model, optimizer, shard, batch_size):
    model.train()
    losses = []
    for batch in shard.iter_torch_batches(batch_size=batch_size):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def evaluate(model, shard, batch_size):
    model.eval()
    with torch.no_grad():
        hits = [
            (model(pixel_values=b["pixel_values"]).logits.argmax(-1) == b["labels"]).float()
            for b in shard.iter_torch_batches(batch_size=batch_size)
        ]
    return torch.cat(hits).mean().item()


def _report(vit, metrics, rank, config):  # every worker reports; rank 0 with the checkpoint
    from transformers import ViTImageProcessor

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if rank == 0:
            vit.save_pretrained(folder)
            ViTImageProcessor.from_pretrained(config["model_id"]).save_pretrained(folder)
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


def with_helpers(config):  # as the solution: the helpers hold the loops, get_dataset_shard("valid") here
    from ray.train import get_dataset_shard
    from ray.train.torch import prepare_model

    vit = _model(config)
    model = prepare_model(vit)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"])
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, optimizer, get_dataset_shard("train"), config["batch_size"]),
            "eval_accuracy": evaluate(model, get_dataset_shard("valid"), config["batch_size"]),
        }
        _report(vit, metrics, ray.train.get_context().get_world_rank(), config)


def all_in_one(config):  # one function, DDP unwrapped with getattr, the counts added up over the workers
    import ray.train.torch
    from ray.train import get_context, report

    model = ray.train.torch.prepare_model(_model(config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"], weight_decay=0.01)
    train, valid = ray.train.get_dataset_shard("train"), ray.train.get_dataset_shard("valid")
    for epoch in range(config["epochs"]):
        for batch in train.iter_torch_batches(batch_size=config["batch_size"]):
            loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        counts = torch.zeros(2)
        for batch in valid.iter_torch_batches(batch_size=config["batch_size"]):
            counts += torch.tensor([(model(**batch).logits.argmax(-1) == batch["labels"]).sum(), len(batch["labels"])])
        torch.distributed.all_reduce(counts)
        metrics = {"epoch": epoch, "loss": loss.item(), "eval_accuracy": (counts[0] / counts[1]).item()}
        if get_context().get_world_rank() == 0:
            _report(getattr(model, "module", model), metrics, 0, config)
        else:
            report(metrics)


def _loop(
    config,
    model=None,
    *,
    epochs=None,
    batch_size=None,
    lr=None,
    shards=("train", "valid"),
    rank=None,
    optimizer=torch.optim.AdamW,
    prepare=True,
    report_every_rank=True,
):
    """with_helpers, with one thing changed: each wrong train_func below breaks one requirement only."""
    vit = model or _model(config)
    model = ray.train.torch.prepare_model(vit) if prepare else vit
    optim = optimizer(model.parameters(), lr=config["learning_rate"] if lr is None else lr)
    size = config["batch_size"] if batch_size is None else batch_size
    for epoch in range(1, (config["epochs"] if epochs is None else epochs) + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, optim, ray.train.get_dataset_shard(shards[0]), size),
            "eval_accuracy": evaluate(model, ray.train.get_dataset_shard(shards[1]), size),
        }
        world_rank = ray.train.get_context().get_world_rank() if rank is None else rank
        if report_every_rank or world_rank == 0:
            _report(vit, metrics, world_rank, config)


def without_prepare_model(config):
    vit = _model(config)
    optimizer = torch.optim.AdamW(vit.parameters(), lr=config["learning_rate"])
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(vit, optimizer, ray.train.get_dataset_shard("train"), config["batch_size"]),
            "eval_accuracy": evaluate(vit, ray.train.get_dataset_shard("valid"), config["batch_size"]),
        }
        _report(vit, metrics, ray.train.get_context().get_world_rank(), config)


def saves_model_module(config):  # works with two workers; with one, prepare_model wraps nothing and this fails
    model = ray.train.torch.prepare_model(_model(config))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"])
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, optimizer, ray.train.get_dataset_shard("train"), config["batch_size"]),
            "eval_accuracy": evaluate(model, ray.train.get_dataset_shard("valid"), config["batch_size"]),
        }
        _report(model.module, metrics, ray.train.get_context().get_world_rank(), config)


def evaluated_on_training_rows(config):
    _loop(config, shards=("train", "train"))


def every_rank_saves(config):
    _loop(config, rank=0)  # rank 0's branch on every worker


def only_rank_0_reports(config):
    _loop(config, report_every_rank=False)


def typed_learning_rate(config):
    _loop(config, lr=3e-3)


def typed_batch_size(config):
    _loop(config, batch_size=16)


def typed_epochs(config):
    _loop(config, epochs=3)


def plain_sgd(config):
    _loop(config, optimizer=torch.optim.SGD)


def lessons_classes(config):  # the model of the notebook's CLASSES, not of config["classes"]
    _loop(config, model=_model({**config, "classes": CLASSES}))


def _share_right(model, shard, batch_size):
    right = seen = 0
    for batch in shard.iter_torch_batches(batch_size=batch_size):
        right += (model(pixel_values=batch["pixel_values"]).logits.argmax(-1) == batch["labels"]).sum().item()
        seen += len(batch["labels"])
    return right / seen


def evaluate_in_train_mode(model, shard, batch_size):  # without gradients, but no model.eval()
    with torch.no_grad():
        return _share_right(model, shard, batch_size)


def evaluate_with_gradients(model, shard, batch_size):  # eval mode, but every pass records an autograd graph
    model.eval()
    return _share_right(model, shard, batch_size)


def evaluate_in_inference_mode(model, shard, batch_size):  # another right answer: inference_mode, rows counted
    model.eval()
    with torch.inference_mode():
        return _share_right(model, shard, batch_size)


def evaluate_mean_of_batches(model, shard, batch_size):  # the mean of per-batch shares: batches of 3, 3 and 1
    model.eval()
    with torch.no_grad():
        shares = [
            (model(pixel_values=b["pixel_values"]).logits.argmax(-1) == b["labels"]).float().mean().item()
            for b in shard.iter_torch_batches(batch_size=batch_size)
        ]
    return float(np.mean(shares))


def evaluate_typed_batch_size(model, shard, batch_size):
    return evaluate(model, shard, 16)


def one_epoch_in_eval_mode(model, optimizer, shard, batch_size):  # evaluate's model.eval() carried into training
    model.eval()
    losses = []
    for batch in shard.iter_torch_batches(batch_size=batch_size):
        loss = torch.nn.functional.cross_entropy(model(pixel_values=batch["pixel_values"]).logits, batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def one_epoch_one_step(model, optimizer, shard, batch_size):  # the gradients of every batch, one step per epoch
    model.train()
    optimizer.zero_grad()
    losses = []
    for batch in shard.iter_torch_batches(batch_size=batch_size):
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        loss.backward()
        losses.append(loss.item())
    optimizer.step()
    return float(np.mean(losses))


def one_epoch_last_loss(model, optimizer, shard, batch_size):
    model.train()
    for batch in shard.iter_torch_batches(batch_size=batch_size):
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def one_epoch_with_labels(model, optimizer, shard, batch_size):  # another right answer: the model's own loss
    model.train()
    total = rows = 0
    for batch in shard.iter_torch_batches(batch_size=batch_size, device="cpu"):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, rows = total + loss.item(), rows + 1
    return total / rows


def _ex2(train_func, result, one_epoch=one_epoch, evaluate=evaluate):
    return lab05.exercise_2.result(train_func, result, SETTINGS, CLASSES, one_epoch, evaluate)


@pytest.mark.fast
def test_ex2_placeholders_are_not_solved(saved):
    def outline(config):
        """One worker's training."""
        ...

    assert _ex2(with_helpers, None).status == "not solved"
    assert _ex2(outline, _result(saved)).status == "not solved"
    assert _ex2(..., None).status == "not solved"


@pytest.mark.fast
@pytest.mark.parametrize("train_func", [with_helpers, all_in_one])
def test_ex2_accepts_a_loop_through_prepare_model_with_a_report_per_epoch(saved, train_func):
    verdict = _ex2(train_func, _result(saved))
    assert verdict.passed, verdict
    assert "3 reports; loss 1.100 → 0.450" in verdict.message and "3 named outputs" in verdict.message


def test_ex2_accepts_numbers_as_tensors_and_epochs_from_zero(saved):
    result = _result(saved)
    result.metrics_dataframe["epoch"] = [0, 1, 2]
    result.metrics_dataframe["eval_accuracy"] = [torch.tensor(a) for a in (0.5, 0.7, 0.9)]
    assert _ex2(with_helpers, result).passed


@pytest.mark.parametrize(
    "train_func, message",
    [
        (without_prepare_model, "never calls prepare_model"),
        (evaluated_on_training_rows, "read the shards ['train']"),
        (saves_model_module, "uses `model.module`"),
        (every_rank_saves, "the second worker (rank 1) saved the model"),
        (only_rank_0_reports, "the second worker reported 0 times"),
        (typed_learning_rate, "given learning_rate=0.0123"),
        (plain_sgd, "[('SGD', 0.0123)]"),
        (typed_batch_size, "given batch_size=3, `train_func` read its shards in batches of [16]"),
        (typed_epochs, "given epochs=2, the second worker reported 3 times"),
        (lessons_classes, "with the outputs ['checks', 'stripes_horizontal', 'stripes_vertical']"),
    ],
)
def test_ex2_rejects_loops_that_do_not_train_one_model_on_the_right_rows(saved, train_func, message):
    _wrong(_ex2(train_func, _result(saved)), message)


@pytest.mark.parametrize(
    "pieces, message",
    [
        ({"evaluate": evaluate_in_train_mode}, "`evaluate` ran the model in training mode"),
        ({"evaluate": evaluate_with_gradients}, "`evaluate` ran the model with gradients recorded"),
        ({"evaluate": evaluate_mean_of_batches}, "where 4 of 7 rows are classified right"),
        ({"evaluate": evaluate_typed_batch_size}, "`evaluate` read the shard with batch_size [16]"),
        ({"one_epoch": one_epoch_in_eval_mode}, "`one_epoch` ran the model in eval mode"),
        ({"one_epoch": one_epoch_one_step}, "made 1 optimizer steps and 3 forward passes for the 3 batches"),
        ({"one_epoch": one_epoch_last_loss}, "the mean of its batches' cross-entropy losses is"),
    ],
)
def test_ex2_rejects_passes_in_the_wrong_mode_or_that_return_other_numbers(saved, pieces, message):
    _wrong(_ex2(with_helpers, _result(saved), **pieces), message)


def test_ex2_accepts_one_epoch_with_the_models_own_loss_and_evaluate_in_inference_mode(saved):
    assert _ex2(
        with_helpers, _result(saved), one_epoch=one_epoch_with_labels, evaluate=evaluate_in_inference_mode
    ).passed


def test_ex2_names_the_learners_own_error_in_a_piece(saved):
    def broken(model, shard, batch_size):
        model.eval()
        return sum(b["label"] for b in shard.iter_torch_batches(batch_size=batch_size))  # "label", not "labels"

    verdict = _ex2(with_helpers, _result(saved), evaluate=broken)
    _wrong(verdict, "`evaluate` failed when the check called it on a tiny model")
    assert "KeyError: 'label'" in verdict.message and len(verdict.message.splitlines()) == 1


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(epochs=0), "no report"),
        (dict(drop=["eval_accuracy"]), "no `eval_accuracy`"),
        (dict(drop=["epoch"]), "no `epoch`"),
        (dict(epochs=1), "1 reports for 3 epochs"),
        (dict(loss=(0.9, 1.0, 1.1)), "did not fall"),
        (dict(loss=(1.0, float("nan"), 0.5)), "not all numbers"),
        (dict(accuracy=(60.0, 80.0, 95.0)), "not shares"),
        (dict(accuracy=(0.3, 0.35, 0.4)), "0.40, below 0.6"),
        (dict(checkpoint=False), "no checkpoint"),
    ],
)
def test_ex2_rejects_report_mistakes(saved, change, message):
    _wrong(_ex2(with_helpers, _result(saved, **change)), message)


@pytest.mark.fast
def test_ex2_rejects_a_report_per_batch(saved):
    per_batch = _result(saved)
    per_batch.metrics_dataframe = pd.DataFrame(
        {"epoch": np.repeat([1, 2, 3], 6), "loss": np.linspace(1, 0.4, 18), "eval_accuracy": np.linspace(0.5, 0.9, 18)}
    )
    _wrong(_ex2(with_helpers, per_batch), "18 reports (one per batch?)")


def test_ex2_rejects_checkpoints_from_pretrained_cannot_use(tmp_path):
    from safetensors.torch import save_file

    vit = _vit()
    state = tmp_path / "state_dict"  # torch.save of the state_dict: no config.json
    state.mkdir()
    torch.save(vit.state_dict(), state / "model.pt")
    _wrong(_ex2(with_helpers, _result(state)), "no Hugging Face model")

    nested = _save(tmp_path / "nested" / "checkpoint").parent  # save_pretrained into a sub-folder
    _wrong(_ex2(with_helpers, _result(nested)), "in the sub-folder checkpoint")

    wrapped = _save(tmp_path / "wrapped")  # the DDP wrapper's state_dict() under the model's file name
    save_file({f"module.{k}": v.contiguous() for k, v in vit.state_dict().items()}, wrapped / "model.safetensors")
    _wrong(_ex2(with_helpers, _result(wrapped)), "named `module.…`")

    head_only = _save(tmp_path / "head_only")  # only some weights saved
    save_file(
        {k: v.contiguous() for k, v in vit.state_dict().items() if k.startswith("classifier")},
        head_only / "model.safetensors",
    )
    _wrong(_ex2(with_helpers, _result(head_only)), "lacks")


@pytest.mark.parametrize(
    "model, processor, message",
    [
        (lambda: _vit(num_labels=2), True, "2 outputs for 3 classes"),  # the lesson's num_labels=2
        (lambda: _vit(named=False), True, "not after CLASSES"),  # no id2label: LABEL_0, LABEL_1, ...
        (lambda: _vit(), False, "no image processor"),
    ],
)
def test_ex2_rejects_a_model_exercise_3_cannot_use(tmp_path, model, processor, message):
    folder = _save(tmp_path / "checkpoint", model=model(), processor=processor)
    _wrong(_ex2(with_helpers, _result(folder)), message)


def test_ex2_names_the_error_of_a_failed_training(saved):
    failed = _result(saved)
    failed.error = RuntimeError("IndexError: Target 2 is out of bounds.")
    _wrong(_ex2(with_helpers, failed), "Target 2 is out of bounds")


# Exercise 2 in two halves: the judge decides from the reports, the checkpoint as loaded, and the pieces' probes.


def test_ex2_the_observation_of_a_right_answer_passes_the_judge(saved):
    seen = lab05.exercise_2.observe(with_helpers, _result(saved), SETTINGS, CLASSES, one_epoch, evaluate, seed=7)
    json.dumps(seen)
    verdict = lab05.exercise_2.decide(seen, 7)
    assert verdict.passed and "3 reports; loss 1.100 → 0.450" in verdict.message, verdict


def test_ex2_a_forged_observation_does_not_pass(saved):
    seen = lab05.exercise_2.observe(with_helpers, _result(saved), SETTINGS, CLASSES, one_epoch, evaluate, seed=7)
    decide = lab05.exercise_2.decide
    _wrong(decide({**seen, "reports": {"count": 0, "columns": []}}, 7), "no report")
    _wrong(decide({**seen, "checkpoint": None}, 7), "no checkpoint")
    _wrong(decide({**seen, "checkpoint": {**seen["checkpoint"], "labels": []}}, 7), "no outputs")
    pieces = seen["one_epoch"]["seen"]
    no_passes = {**pieces, "training": [], "losses": [], "steps": 0}  # a number returned, no batch run
    _wrong(decide({**seen, "one_epoch": {"seen": no_passes}}, 7), "made 0 optimizer steps")
    lazy = {**seen["evaluate"]["seen"], "training": [], "grad": [], "returned": 4 / 7}  # the share, typed
    _wrong(decide({**seen, "evaluate": {"seen": lazy}}, 7), "without running the model")
    worker = {**seen["second_worker"]["seen"], "model_from": "elsewhere"}
    _wrong(decide({**seen, "second_worker": {"seen": worker}}, 7), "trained a model from elsewhere")
    for broken in ({}, {**seen, "evaluate": {}}, {**seen, "second_worker": {"seen": {}}}):
        assert decide(broken, 7).status == "wrong"


# ----------------------------------------------------------------------------- Exercise 3
# Exercise 3 requires:
#   R1 (probe) __init__(self, checkpoint) gets the Checkpoint and reaches its files with as_directory() (a
#      Checkpoint on another filesystem works): test_ex3_rejects_class_mistakes[ByPath]
#   R2 (probe) the image processor and the model loaded once: [PerBatchLoad], [ProcessorPerBatch]
#   R3 (probe) the checkpoint it is given: test_ex3_rejects_a_class_that_ignores_the_checkpoint_it_is_given
#   R4 (probe) the whole batch in one forward pass: [PerImage]
#   R5 (probe) under torch.inference_mode(): [WithGradients]
#   R6 (probe) columns path, label, predicted (a class name), confidence (the softmax probability of the predicted
#      class): [Indices], [LogitConfidence], [Percent], [Sigmoid], [FirstClass], [NoConfidence], [NoPath]
#   R7 predictions read the validation folders: test_ex3_leaves_the_batch_size_... (on the training folders)
#   R8 predictions through ImageClassifier, the Checkpoint as constructor argument, one GPU per actor (read from the
#      lazy plan): test_ex3_rejects_stage_mistakes, test_ex3_rejects_a_pipeline_without_the_class,
#      test_ex3_says_to_leave_a_materialized_predictions_lazy
#   R9 a pool of 1 to GPUS actors: test_ex3_rejects_a_pool_bigger_than_the_clusters_gpus,
#      test_ex3_holds_the_pool_to_the_learners_gpu_budget (right: test_ex3_accepts_any_pool_...)
#   R10 scored: the predictions run once (materialized), every validation image:
#       test_ex3_rejects_scored_that_is_not_every_validation_image_run_once
#   R11 the rows below REVIEW_BELOW as CSV in out_dir / "review", none lost, none twice (mode="overwrite"):
#       test_ex3_rejects_review_files_that_lose_or_misroute_images
#   Not checked here: "on the GPU when there is one" (this machine has none; the lab's gpu run shows it).


@pytest.fixture(scope="module")
def checkpoint(saved):
    """The Checkpoint of the last report, as result.checkpoint gives it."""
    assert json.loads((saved / "config.json").read_text())["id2label"] == {str(i): c for i, c in enumerate(CLASSES)}
    return ray.train.Checkpoint.from_directory(str(saved))


class Batched:  # as in the solution notebook, the forward pass in a method of its own
    def __init__(self, checkpoint):
        from transformers import ViTForImageClassification, ViTImageProcessor

        with checkpoint.as_directory() as folder:
            self.processor = ViTImageProcessor.from_pretrained(folder)
            self.model = ViTForImageClassification.from_pretrained(folder).eval()

    def logits(self, batch):
        with torch.inference_mode():
            return self.model(**self.processor(list(batch["image"]), return_tensors="pt")).logits

    def __call__(self, batch):
        probabilities = self.logits(batch).softmax(-1)
        confidence, index = probabilities.max(-1)
        names = self.model.config.id2label
        return {
            "path": batch["path"],
            "label": batch["label"],
            "predicted": np.array([names[i] for i in index.tolist()]),
            "confidence": confidence.numpy(),
        }


class WithPipeline:  # another right answer: transformers' pipeline (its score is the softmax), pandas batches
    def __init__(self, checkpoint):
        from transformers import pipeline

        folder = checkpoint.to_directory()  # a copy of its own, kept (a download when the checkpoint is remote)
        self.pipe = pipeline("image-classification", model=folder, device="cpu")

    def __call__(self, frame):
        images = [Image.fromarray(np.asarray(image)) for image in frame["image"]]
        best = [r[0] for r in self.pipe(images, batch_size=len(images), top_k=1)]
        return frame.drop(columns=["image"]).assign(
            predicted=[r["label"] for r in best], confidence=[r["score"] for r in best]
        )


class InNumpy(Batched):  # softmax written out in NumPy, float64, the class from the argmax of the logits
    def __call__(self, batch):
        logits = self.logits(batch).numpy().astype(np.float64)
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities = exp / exp.sum(-1, keepdims=True)
        names = self.model.config.id2label
        return {
            "path": batch["path"],
            "label": batch["label"],
            "image_size": np.array([i.size for i in batch["image"]]),
            "predicted": np.array([names[int(i)] for i in logits.argmax(-1)]),
            "confidence": probabilities.max(-1),
        }


class PerBatchLoad(Batched):
    def __init__(self, checkpoint):
        super().__init__(checkpoint)
        self.checkpoint = checkpoint

    def __call__(self, batch):
        self.__init__(self.checkpoint)  # the model loaded again for every batch
        return super().__call__(batch)


class PerImage(Batched):
    def logits(self, batch):  # the seed's loop: one image, one forward pass
        with torch.inference_mode():
            return torch.cat(
                [self.model(**self.processor(image, return_tensors="pt")).logits for image in batch["image"]]
            )


class ProcessorPerBatch(Batched):
    def __call__(self, batch):
        from transformers import ViTImageProcessor

        self.processor = ViTImageProcessor.from_pretrained(raycourse.model_id("vit"))  # again for every batch
        return super().__call__(batch)


class WithGradients(Batched):
    def logits(self, batch):  # no torch.inference_mode(): the forward pass records an autograd graph
        return self.model(**self.processor(list(batch["image"]), return_tensors="pt")).logits.detach()


class Indices(Batched):
    def __call__(self, batch):
        out = super().__call__(batch)
        out["predicted"] = np.array([CLASSES.index(p) for p in out["predicted"]])
        return out


def _confidence_from(make):
    class Variant(Batched):
        def __call__(self, batch):
            out = super().__call__(batch)
            out["confidence"] = make(self.logits(batch))
            return out

    return Variant


LogitConfidence = _confidence_from(lambda logits: logits.max(-1).values.numpy() * 100)  # the largest logit (scaled)
Percent = _confidence_from(lambda logits: logits.softmax(-1).max(-1).values.numpy() * 100)
Sigmoid = _confidence_from(lambda logits: logits.max(-1).values.sigmoid().numpy())
FirstClass = _confidence_from(lambda logits: logits.softmax(-1)[:, 0].numpy())


class NoConfidence(Batched):
    def __call__(self, batch):
        out = super().__call__(batch)
        del out["confidence"]
        return out


class ByPath(Batched):  # the lesson's checkpoint_path: the Checkpoint's path read as a local folder
    def __init__(self, checkpoint):
        from transformers import ViTForImageClassification, ViTImageProcessor

        self.processor = ViTImageProcessor.from_pretrained(checkpoint.path)
        self.model = ViTForImageClassification.from_pretrained(checkpoint.path).eval()


class NoPath(Batched):
    def __call__(self, batch):
        out = super().__call__(batch)
        del out["path"]
        return out


@pytest.fixture(scope="module")
def val_folders():
    return raycourse.data_path("images_val_3")


def _read(folders):
    return ray.data.read_images([str(f) for f in folders], include_paths=True, mode="RGB")


def _pipeline(cls, checkpoint, folders, **options):
    stage = dict(
        fn_constructor_kwargs={"checkpoint": checkpoint},
        batch_size=16,
        num_gpus=1,
        compute=ray.data.ActorPoolStrategy(size=2),
    )
    stage.update(options)
    return _read(folders).map_batches(cls, **{k: v for k, v in stage.items() if v is not None})


@pytest.fixture(scope="module")
def scored_table(val_folders):
    """What the pipeline gives for every validation image: its label, a prediction and a confidence, made up."""
    paths = [str(Path(f) / name) for f in val_folders for name in lab05._image_files(f)]
    rng = np.random.default_rng(5)
    labels = [_label(p) for p in paths]
    return pd.DataFrame(
        {
            "path": paths,
            "label": labels,
            "predicted": rng.permutation(labels),
            "confidence": rng.uniform(0.34, 1.0, len(paths)).round(6),
        }
    )


def _write_review(folder, table, below=0.7, writer="csv"):
    folder.mkdir(parents=True, exist_ok=True)
    rows = table[table["confidence"] < below]
    if writer == "csv":
        rows.to_csv(folder / "part_0.csv", index=False)
    else:
        rows.to_parquet(folder / "part_0.parquet")
    return folder


@pytest.fixture
def answer(ray_session, checkpoint, val_folders, scored_table, tmp_path):
    """A right answer to every part of Exercise 3; each test changes one part."""

    def build(cls=Batched, predictions=None, scored=None, review=None, below=0.7):
        predictions = _pipeline(cls, checkpoint, val_folders) if predictions is None else predictions
        scored = ray.data.from_pandas(scored_table) if scored is None else scored
        review = _write_review(tmp_path / "review", scored_table, below) if review is None else review
        return lab05.exercise_3.result(cls, predictions, scored, checkpoint, val_folders, review, below)

    return build


@pytest.mark.fast
def test_ex3_placeholders_are_not_solved(ray_session, checkpoint, val_folders, tmp_path):
    assert lab05.exercise_3.result(..., ..., ..., None, val_folders, tmp_path / "review", 0.7).status == "not solved"
    assert (
        lab05.exercise_3.result(..., ..., ..., checkpoint, val_folders, tmp_path / "review", 0.7).status == "not solved"
    )


def test_ex3_not_solved_until_scored_is_built(answer):
    assert answer(scored=...).status == "not solved"


@pytest.mark.fast
@pytest.mark.parametrize("cls", [Batched, WithPipeline, InNumpy])
def test_ex3_accepts_batched_classifiers_with_the_softmax_confidence(answer, cls, scored_table):
    verdict = answer(cls=cls)
    assert verdict.passed, verdict
    unsure = int((scored_table["confidence"] < 0.7).sum())
    assert f"{unsure} of the 60 validation images are below 0.7" in verdict.message


@pytest.mark.parametrize(
    "cls, message",
    [
        (PerBatchLoad, "loaded a model 2 times"),
        (ProcessorPerBatch, "loaded an image processor 2 times"),
        (WithGradients, "gradients recorded"),
        (PerImage, "one image at a time"),
        (Indices, "not a class name"),
        (LogitConfidence, "not a probability"),
        (Percent, "not a probability"),
        (Sigmoid, "where the softmax probability of the predicted class is"),
        (FirstClass, "where the softmax probability of the predicted class is"),
        (NoConfidence, "no `confidence` column"),
        (NoPath, "no `path` column"),
        (ByPath, "failed on a Checkpoint whose files are not on this machine's disk"),
    ],
)
def test_ex3_rejects_class_mistakes(answer, cls, message):
    _wrong(answer(cls=cls), message)


def test_ex3_rejects_a_class_that_ignores_the_checkpoint_it_is_given(answer, checkpoint):
    fixed = checkpoint

    class Fixed(Batched):
        def __init__(self, checkpoint):
            super().__init__(fixed)  # the one checkpoint of the notebook, whatever the stage is given

    _wrong(answer(cls=Fixed), "does not load the checkpoint")


def test_ex3_leaves_the_batch_size_to_the_learner_and_reads_only_validation_images(answer, checkpoint, val_folders):
    assert answer(predictions=_pipeline(Batched, checkpoint, val_folders, batch_size=64)).passed
    on_train = _pipeline(Batched, checkpoint, raycourse.data_path("images_train_3"))
    _wrong(answer(predictions=on_train), "from outside `val_folders`")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_gpus": None}, "num_gpus=None"),
        ({"num_gpus": 0.5}, "num_gpus=0.5"),
        (
            {"fn_constructor_kwargs": {"checkpoint": ray.train.Checkpoint("/elsewhere")}},
            "not the Checkpoint of the last report",
        ),
        ({"fn_constructor_kwargs": {"checkpoint": str(SAVED_PATH)}}, "given the checkpoint's path"),
    ],
)
def test_ex3_rejects_stage_mistakes(answer, checkpoint, val_folders, options, message):
    options = {
        k: ({"checkpoint": checkpoint.path} if v == {"checkpoint": str(SAVED_PATH)} else v) for k, v in options.items()
    }
    _wrong(answer(predictions=_pipeline(Batched, checkpoint, val_folders, **options)), message)


def _cluster_gpus():
    gpus = int(ray.cluster_resources().get("GPU", 0))
    assert gpus >= 1, "the test Ray declares GPUs"
    return gpus


@pytest.mark.parametrize("pool", ["one", "cluster", "autoscaling"])
def test_ex3_accepts_any_pool_from_one_actor_to_the_clusters_gpus(answer, checkpoint, val_folders, pool):
    gpus = _cluster_gpus()
    compute = {
        "one": ray.data.ActorPoolStrategy(size=1),
        "cluster": ray.data.ActorPoolStrategy(size=gpus),
        "autoscaling": ray.data.ActorPoolStrategy(min_size=1, max_size=gpus),
    }[pool]
    verdict = answer(predictions=_pipeline(Batched, checkpoint, val_folders, compute=compute))
    assert verdict.passed, verdict
    assert f"(GPUS is {gpus})" in verdict.message


def test_ex3_rejects_a_pool_bigger_than_the_clusters_gpus(answer, checkpoint, val_folders):
    gpus = _cluster_gpus()
    verdict = answer(
        predictions=_pipeline(Batched, checkpoint, val_folders, compute=ray.data.ActorPoolStrategy(size=gpus + 1))
    )
    _wrong(verdict, f"it may use the cluster's {gpus} GPU(s), so 1 of them would wait for a GPU forever")
    assert "ray.cluster_resources()" in str(verdict.hint)
    growing = _pipeline(
        Batched, checkpoint, val_folders, compute=ray.data.ActorPoolStrategy(min_size=1, max_size=gpus + 2)
    )
    _wrong(answer(predictions=growing), f"up to {gpus + 2} actors")


def test_ex3_holds_the_pool_to_the_learners_gpu_budget(answer, checkpoint, val_folders, monkeypatch):
    gpus = _cluster_gpus()
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    verdict = answer(
        predictions=_pipeline(Batched, checkpoint, val_folders, compute=ray.data.ActorPoolStrategy(size=gpus))
    )
    budget = f"your budget of {gpus - 1} GPU(s) (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's {gpus}"
    _wrong(verdict, f"it may use {budget}, so 1 of them would wait")
    assert "raycourse.gpu_budget()" in str(verdict.hint)


def test_ex3_finds_the_gpu_profiles_files_in_its_folders():
    # Ray lists the files of s3://anonymous@bucket/... as bucket/...: the gpu profile's images are in its folders
    folder = "s3://anonymous@air-example-data-2/imagenette2/val/n03888605"
    assert lab05._under("air-example-data-2/imagenette2/val/n03888605/n03888605_1.JPEG", folder)
    assert lab05._under(f"{folder}/n03888605_1.JPEG", folder)
    assert not lab05._under("air-example-data-2/imagenette2/train/n03888605/n03888605_1.JPEG", folder)


@pytest.mark.fast
def test_ex3_rejects_a_pipeline_without_the_class(answer, val_folders):
    _wrong(answer(predictions=_read(val_folders).map_batches(lambda batch: batch)), "no stage that runs")


def test_ex3_says_to_leave_a_materialized_predictions_lazy(answer, val_folders):
    kept = _read(val_folders).limit(2).map_batches(lambda batch: batch).materialize()  # run: its stage is gone
    verdict = answer(predictions=kept)
    _wrong(verdict, "`predictions` is materialized")
    assert "Leave `predictions` lazy" in verdict.hint


def test_ex3_rejects_scored_that_is_not_every_validation_image_run_once(answer, scored_table, val_folders):
    _wrong(answer(scored=scored_table), "not a Ray Dataset")
    lazy = ray.data.from_pandas(scored_table).map_batches(lambda batch: batch)  # a plan: the model would run again
    _wrong(answer(scored=lazy), "still a plan")
    _wrong(answer(scored=ray.data.from_pandas(scored_table.head(40))), "40 rows")
    _wrong(answer(scored=ray.data.from_pandas(scored_table.drop(columns=["confidence"]))), "no ['confidence'] column")
    elsewhere = scored_table.assign(path=scored_table["path"].str.replace("/val/", "/train/"))
    _wrong(answer(scored=ray.data.from_pandas(elsewhere)), "from outside `val_folders`")


def test_ex3_accepts_review_files_written_by_ray(answer, scored_table, tmp_path):
    review = tmp_path / "by_ray"
    ray.data.from_pandas(scored_table).filter(expr=ray.data.expressions.col("confidence") < 0.7).write_csv(
        str(review), mode="overwrite"
    )
    assert answer(review=review).passed


def test_ex3_passes_when_no_image_is_below_the_threshold_and_nothing_is_written(answer, tmp_path):
    verdict = answer(review=tmp_path / "never_written", below=0.2)
    assert verdict.passed and "0 of the 60 validation images are below 0.2" in verdict.message, verdict


def test_ex3_rejects_review_files_that_lose_or_misroute_images(answer, scored_table, tmp_path):
    table = scored_table
    assert answer(review=tmp_path / "missing").status == "not solved"
    _write_review(tmp_path / "elsewhere", table)
    _wrong(answer(review=tmp_path / "missing"), 'nothing in out_dir / "missing"')
    _wrong(
        answer(review=_write_review(tmp_path / "reversed", table[table["confidence"] >= 0.7], below=2)),
        "the wrong way round",
    )
    _wrong(answer(review=_write_review(tmp_path / "everything", table, below=2)), "have a confidence of 0.7 or more")
    _wrong(answer(review=_write_review(tmp_path / "too_few", table, below=0.5)), "are not in the review files")
    twice = _write_review(tmp_path / "twice", table)
    table[table["confidence"] < 0.7].to_csv(twice / "part_1.csv", index=False)  # write_csv's default: append
    _wrong(answer(review=twice), "more than once")
    _wrong(answer(review=_write_review(tmp_path / "parquet", table, writer="parquet")), "not a CSV file")
    _wrong(
        answer(review=_write_review(tmp_path / "paths_only", table[["path"]].assign(confidence=table["confidence"]))),
        "no ['predicted'] column",
    )


# Exercise 3 in two halves: the judge decides from the probe run, the plan, scored's rows and the review files.


@pytest.fixture
def observed(ray_session, checkpoint, val_folders, scored_table, tmp_path):
    review = _write_review(tmp_path / "review", scored_table)
    predictions = _pipeline(Batched, checkpoint, val_folders)
    scored = ray.data.from_pandas(scored_table)
    return lab05.exercise_3.observe(Batched, predictions, scored, checkpoint, val_folders, review, 0.7, seed=5)


def test_ex3_the_observation_of_a_right_answer_passes_the_judge(observed, scored_table):
    json.dumps(observed)
    assert observed["classifier"]["seen"]["paths"] == lab05.probe_paths(5)
    verdict = lab05.exercise_3.decide(observed, 5)
    assert verdict.passed, verdict
    unsure = int((scored_table["confidence"] < 0.7).sum())
    assert f"{unsure} of the 60 validation images are below 0.7" in verdict.message


def test_ex3_a_forged_observation_does_not_pass(observed):
    decide, seen = lab05.exercise_3.decide, observed
    other = next(s for s in range(6, 100) if lab05.probe_paths(s) != lab05.probe_paths(5))
    _wrong(decide(seen, other), "other probe images")  # an observation of another seed's probe
    classifier = seen["classifier"]["seen"]
    run = classifier["run"]["seen"]
    idle = {**run, "counts": {**run["counts"], "forward": 0}}  # answers that no forward pass gave
    _wrong(decide({**seen, "classifier": {"seen": {**classifier, "run": {"seen": idle}}}}, 5), "never ran")
    # The right shape, each row's probabilities moved one class on: another class is the largest for every image (a
    # reversed row keeps its middle class, all a briefly trained checkpoint may predict on another kind of CPU).
    shifted = [row[1:] + row[:1] for row in classifier["reference"]]
    assert all(max(r) > min(r) for r in shifted), "the checkpoint is sure of nothing: the forgery would not differ"
    assert decide({**seen, "classifier": {"seen": {**classifier, "reference": shifted}}}, 5).status == "wrong"
    rows = {c: [] for c in seen["scored"]["seen"]["rows"]}
    _wrong(decide({**seen, "scored": {"seen": {**seen["scored"]["seen"], "rows": rows}}}, 5), "0 rows")
    _wrong(decide({**seen, "review": {**seen["review"], "paths": []}}, 5), "are not in the review files")
    _wrong(decide({**seen, "predictions": {"seen": {**seen["predictions"]["seen"], "stage": None}}}, 5), "no stage")
    assert decide({**seen, "predictions": None}, 5).status == "not solved"
    for broken in ({}, {**seen, "review": {}}, {**seen, "classifier": {"seen": {}}}, {**seen, "scored": {}}):
        assert decide(broken, 5).status == "wrong"


# Stretch: accuracy per class --------------------------------------------------------------------------
# The stretch requires:
#   R1 (probe) one row per true `label` with the share of its images predicted right:
#      test_stretch_rejects_sums_grouping_by_prediction_and_answers_that_ignore_the_data[not their share],
#      [grouped by `predicted`?], [the share per *predicted* class?], [all_right],
#      test_stretch_tells_the_groupings_apart_on_its_probe_even_when_every_prediction_is_right
#   R2 a Dataset, grouped and aggregated in Ray Data (not a table counted in the driver): [not a Ray Dataset],
#      [through_pandas], [made from a table in the driver (FromPandas)] (lazy and materialized),
#      [Ray Data did not group]
# Right answers written otherwise: test_stretch_accepts_a_groupby_mean_and_extra_columns[kept], [by_map_groups].

# Six dogs (four predicted right), four fish (one right), four parachutes (all right): 67 %, 25 %, 100 %.
_PREDICTED = pd.DataFrame(
    {
        "label": ["dog"] * 6 + ["fish"] * 4 + ["parachute"] * 4,
        "predicted": ["dog"] * 4 + ["fish"] * 2 + ["fish"] + ["dog"] * 3 + ["parachute"] * 4,
    }
)


def _mark(batch):
    batch["correct"] = (batch["predicted"] == batch["label"]).astype(np.int64)
    return batch


@pytest.fixture(scope="module")
def scored(ray_session):
    return ray.data.from_pandas(_PREDICTED).materialize()


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved(scored):
    assert lab05.stretch.result(..., scored).status == "not solved"

    def outline(predictions):
        """One row per true `label`."""
        ...

    assert lab05.stretch.result(outline, scored).status == "not solved"


def by_label(predictions):
    return predictions.map_batches(_mark).groupby("label").mean("correct")


def through_pandas(predictions):
    table = predictions.to_pandas()
    return (table["label"] == table["predicted"]).groupby(table["label"]).mean().rename("accuracy").reset_index()


def with_a_count(predictions):
    from ray.data.aggregate import Count, Mean

    return predictions.map_batches(_mark).groupby("label").aggregate(Count(), Mean("correct"))


def kept(predictions):  # another right answer: the grouped rows run once and kept
    return by_label(predictions).materialize()


def _accuracy_of_group(group):
    return {"label": group["label"][:1], "accuracy": [float(np.mean(group["predicted"] == group["label"]))]}


def by_map_groups(predictions):  # another way to group in Ray Data: a function per group
    return predictions.groupby("label").map_groups(_accuracy_of_group)


@pytest.mark.fast
@pytest.mark.parametrize("fn", [by_label, with_a_count, kept, by_map_groups])
def test_stretch_accepts_a_groupby_mean_and_extra_columns(scored, fn):
    verdict = lab05.stretch.result(fn, scored)
    assert verdict.passed and "dog: 67% of 6, fish: 25% of 4, parachute: 100% of 4" in verdict.message, verdict


def by_prediction_named_label(predictions):  # grouped by the predicted class, the column renamed
    return predictions.map_batches(_mark).groupby("predicted").mean("correct").rename_columns({"predicted": "label"})


def all_right(predictions):  # the tiny model's run: every validation image right, so both groupings agree
    def one(batch):
        return {"label": batch["label"], "mean(correct)": np.ones(len(batch["label"]))}

    return predictions.groupby("label").count().map_batches(one)


@pytest.mark.fast
@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda p: p.map_batches(_mark).groupby("label").sum("correct"), "not their share"),
        (lambda p: p.map_batches(_mark).groupby("predicted").mean("correct"), "grouped by `predicted`?"),
        (by_prediction_named_label, "the share per *predicted* class?"),
        (all_right, "predicted right"),
        (lambda p: 0.5, "not a Ray Dataset"),
        (through_pandas, "is a DataFrame, not a Ray Dataset"),  # the text asks for a Dataset, grouped in Ray Data
        (lambda p: ray.data.from_pandas(through_pandas(p)), "made from a table in the driver (FromPandas)"),
        (  # materialized, the plan keeps no step: Ray's stats still say what made it
            lambda p: ray.data.from_pandas(through_pandas(p)).materialize(),
            "made from a table in the driver (FromPandas)",
        ),
        (lambda p: p.map_batches(_mark).select_columns(["label", "correct"]), "Ray Data did not group"),
    ],
)
def test_stretch_rejects_sums_grouping_by_prediction_and_answers_that_ignore_the_data(scored, fn, message):
    _wrong(lab05.stretch.result(fn, scored), message)


def test_stretch_tells_the_groupings_apart_on_its_probe_even_when_every_prediction_is_right(ray_session):
    every_one_right = ray.data.from_pandas(pd.DataFrame({"label": CLASSES * 3, "predicted": CLASSES * 3}))
    assert lab05.stretch.result(by_prediction_named_label, every_one_right).status == "wrong"
    assert lab05.stretch.result(by_label, every_one_right).passed


def test_stretch_the_observation_of_a_right_answer_passes_the_judge(scored):
    seen = lab05.stretch.observe(by_label, scored, seed=3)
    json.dumps(seen)
    verdict = lab05.stretch.decide(seen, 3)
    assert verdict.passed and "dog: 67% of 6" in verdict.message, verdict


def test_stretch_a_forged_observation_does_not_pass(scored):
    seen = lab05.stretch.observe(by_label, scored, seed=3)
    names = set(lab05.probe_predictions(3)["label"])
    other = next(s for s in range(4, 100) if set(lab05.probe_predictions(s)["label"]) != names)
    assert lab05.stretch.decide(seen, other).status == "wrong"  # the probe answer of another seed's class names
    probe = seen["probe"]["seen"]
    ones = [{**r, "mean(correct)": 1.0} for r in probe["rows"]]  # the right shape, every share 1
    _wrong(lab05.stretch.decide({**seen, "probe": {"seen": {**probe, "rows": ones}}}, 3), "predicted right")
    empty = {**probe, "rows": []}
    _wrong(lab05.stretch.decide({**seen, "probe": {"seen": empty}}, 3), "no `label` column")
    for broken in ({}, {"probe": seen["probe"]}, {**seen, "yours": {}}, {**seen, "probe": {"seen": {"dataset": True}}}):
        assert lab05.stretch.decide(broken, 3).status == "wrong"
