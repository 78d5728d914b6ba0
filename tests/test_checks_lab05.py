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


def test_ex1_placeholders_are_not_solved(ray_session, rows, folders):
    assert lab05.exercise_1.result(..., ..., folders).status == "not solved"
    assert lab05.exercise_1.result(_dataset(rows), ..., folders).status == "not solved"


def test_ex1_accepts_labels_from_paths_in_colour_and_the_sorted_classes(ray_session, rows, folders):
    verdict = lab05.exercise_1.result(_dataset(rows), list(CLASSES), folders)
    assert verdict.passed, verdict
    assert "240 images" in verdict.message and "80 checks" in verdict.message
    assert lab05.exercise_1.result(_dataset(rows), tuple(CLASSES), folders).passed


def test_ex1_accepts_a_union_of_reads_and_classes_from_unique(ray_session, folders):
    reads = [ray.data.read_images(f, include_paths=True, mode="RGB").limit(200) for f in folders]
    train_images = reads[0].union(*reads[1:]).map_batches(_label_from_path).materialize()
    verdict = lab05.exercise_1.result(train_images, sorted(train_images.unique("label")), folders)
    assert verdict.passed, verdict


def test_ex1_accepts_one_read_of_every_folder(ray_session, folders):
    # one read_images call over the list (no limit needed: every folder holds fewer than 200), labels in pandas
    def label(frame):
        return frame.assign(label=[_label(p) for p in frame["path"]])

    train_images = ray.data.read_images(folders, include_paths=True, mode="RGB").map_batches(
        label, batch_format="pandas"
    )
    classes = sorted(set(train_images.select_columns(["label"]).to_pandas()["label"]))
    assert lab05.exercise_1.result(train_images, classes, folders).passed


def test_ex1_accepts_grayscale_converted_by_hand(ray_session, rows, folders):
    by_hand = rows["raw"].map(lambda a: np.stack([a] * 3, axis=-1) if a.ndim == 2 else a)
    assert lab05.exercise_1.result(_dataset(rows.assign(by_hand=by_hand), image="by_hand"), CLASSES, folders).passed


def test_ex1_rejects_labels_paired_by_row_order(ray_session, rows, folders):
    # a label file's order (all of the first class, then the next, ...) against interleaved rows
    in_file_order = sorted(rows["label"])
    _wrong(
        lab05.exercise_1.result(_dataset(rows, label=in_file_order), CLASSES, folders), "not the class of their folder"
    )


def test_ex1_rejects_grayscale_kept(ray_session, rows, folders):
    _wrong(lab05.exercise_1.result(_dataset(rows, image="raw"), CLASSES, folders), "not (H, W, 3)")
    channels_first = rows["raw"].map(lambda a: a[None] if a.ndim == 2 else a)  # (1, H, W), as in mixed blocks
    verdict = lab05.exercise_1.result(_dataset(rows.assign(cf=channels_first), image="cf"), CLASSES, folders)
    _wrong(verdict, "(1, H, W)")


def test_ex1_rejects_grayscale_dropped(ray_session, rows, folders):
    colour = rows[rows["raw"].map(np.ndim) == 3]
    _wrong(lab05.exercise_1.result(_dataset(colour), CLASSES, folders), "missing")


def test_ex1_rejects_the_lessons_two_folders(ray_session, rows, folders):
    # the lesson's read_class(folders[0]).union(read_class(folders[1])): the third folder is left out
    two = rows[rows["label"] != "checks"]
    _wrong(
        lab05.exercise_1.result(_dataset(two), ["stripes_horizontal", "stripes_vertical"], folders),
        "no image of the folder checks",
    )


def test_ex1_rejects_other_image_mistakes(ray_session, rows, folders):
    _wrong(lab05.exercise_1.result(_dataset(rows).drop_columns(["path"]), CLASSES, folders), "no `path` column")
    numbers = [folders.index(str(Path(p).parent)) for p in rows["path"]]
    _wrong(lab05.exercise_1.result(_dataset(rows, label=numbers), CLASSES, folders), "not class names")
    _wrong(lab05.exercise_1.result(_dataset(pd.concat([rows, rows.head(3)])), CLASSES, folders), "more than once")
    _wrong(lab05.exercise_1.result(_dataset(rows.head(200)), CLASSES, folders), "missing")


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
    _wrong(lab05.exercise_1.result(_dataset(rows), classes, folders), message)


# ----------------------------------------------------------------------------- Exercise 2

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


# train_func variants: the check reads their code (with the helpers they call), it never runs them.


def one_epoch(model, optimizer, shard, batch_size):
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


def _report(vit, metrics, rank, config):
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

    vit = _vit()
    model = prepare_model(vit)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"])
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, optimizer, get_dataset_shard("train"), 16),
            "eval_accuracy": evaluate(model, get_dataset_shard("valid"), 16),
        }
        _report(vit, metrics, ray.train.get_context().get_world_rank(), config)


def all_in_one(config):  # one function, DDP unwrapped with getattr, the counts added up over the workers
    import ray.train.torch

    model = ray.train.torch.prepare_model(_vit())
    optimizer = torch.optim.SGD(model.parameters(), lr=config["learning_rate"])
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
        _report(
            getattr(model, "module", model),
            {"epoch": epoch, "loss": loss.item(), "eval_accuracy": (counts[0] / counts[1]).item()},
            0,
            config,
        )


def ddp_by_hand(config):
    from torch.nn.parallel import DistributedDataParallel

    vit = _vit()
    model = DistributedDataParallel(vit)
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, None, ray.train.get_dataset_shard("train"), 16),
            "eval_accuracy": evaluate(model, ray.train.get_dataset_shard("valid"), 16),
        }
        _report(vit, metrics, ray.train.get_context().get_world_rank(), config)


def without_prepare_model(config):
    vit = _vit()
    optimizer = torch.optim.AdamW(vit.parameters(), lr=config["learning_rate"])
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(vit, optimizer, ray.train.get_dataset_shard("train"), 16),
            "eval_accuracy": evaluate(vit, ray.train.get_dataset_shard("valid"), 16),
        }
        _report(vit, metrics, ray.train.get_context().get_world_rank(), config)


def evaluated_on_training_rows(config):
    model = ray.train.torch.prepare_model(_vit())
    shard = ray.train.get_dataset_shard("train")
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, None, shard, 16),
            "eval_accuracy": evaluate(model, shard, 16),
        }
        _report(model, metrics, ray.train.get_context().get_world_rank(), config)


def saves_model_module(config):  # works with two workers; with one, prepare_model wraps nothing and this fails
    model = ray.train.torch.prepare_model(_vit())
    for epoch in range(1, config["epochs"] + 1):
        metrics = {
            "epoch": epoch,
            "loss": one_epoch(model, None, ray.train.get_dataset_shard("train"), 16),
            "eval_accuracy": evaluate(model, ray.train.get_dataset_shard("valid"), 16),
        }
        _report(model.module, metrics, ray.train.get_context().get_world_rank(), config)


def test_ex2_placeholders_are_not_solved(saved):
    def outline(config):
        """One worker's training."""
        ...

    assert lab05.exercise_2.result(with_helpers, None, SETTINGS, CLASSES).status == "not solved"
    assert lab05.exercise_2.result(outline, _result(saved), SETTINGS, CLASSES).status == "not solved"
    assert lab05.exercise_2.result(..., None, SETTINGS, CLASSES).status == "not solved"


@pytest.mark.parametrize("train_func", [with_helpers, all_in_one, ddp_by_hand])
def test_ex2_accepts_a_loop_through_prepare_model_with_a_report_per_epoch(saved, train_func):
    verdict = lab05.exercise_2.result(train_func, _result(saved), SETTINGS, CLASSES)
    assert verdict.passed, verdict
    assert "3 reports; loss 1.100 → 0.450" in verdict.message and "3 named outputs" in verdict.message


def test_ex2_accepts_numbers_as_tensors_and_epochs_from_zero(saved):
    result = _result(saved)
    result.metrics_dataframe["epoch"] = [0, 1, 2]
    result.metrics_dataframe["eval_accuracy"] = [torch.tensor(a) for a in (0.5, 0.7, 0.9)]
    assert lab05.exercise_2.result(with_helpers, result, SETTINGS, CLASSES).passed


@pytest.mark.parametrize(
    "train_func, message",
    [
        (without_prepare_model, "never calls prepare_model"),
        (evaluated_on_training_rows, 'never reads the "valid" shard'),
        (saves_model_module, "uses `model.module`"),
    ],
)
def test_ex2_rejects_loops_that_do_not_train_one_model_on_the_right_rows(saved, train_func, message):
    _wrong(lab05.exercise_2.result(train_func, _result(saved), SETTINGS, CLASSES), message)


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
    _wrong(lab05.exercise_2.result(with_helpers, _result(saved, **change), SETTINGS, CLASSES), message)


def test_ex2_rejects_a_report_per_batch(saved):
    per_batch = _result(saved)
    per_batch.metrics_dataframe = pd.DataFrame(
        {"epoch": np.repeat([1, 2, 3], 6), "loss": np.linspace(1, 0.4, 18), "eval_accuracy": np.linspace(0.5, 0.9, 18)}
    )
    _wrong(lab05.exercise_2.result(with_helpers, per_batch, SETTINGS, CLASSES), "18 reports (one per batch?)")


def test_ex2_rejects_checkpoints_from_pretrained_cannot_use(tmp_path):
    from safetensors.torch import save_file

    vit = _vit()
    state = tmp_path / "state_dict"  # torch.save of the state_dict: no config.json
    state.mkdir()
    torch.save(vit.state_dict(), state / "model.pt")
    _wrong(lab05.exercise_2.result(with_helpers, _result(state), SETTINGS, CLASSES), "no Hugging Face model")

    nested = _save(tmp_path / "nested" / "checkpoint").parent  # save_pretrained into a sub-folder
    _wrong(lab05.exercise_2.result(with_helpers, _result(nested), SETTINGS, CLASSES), "in the sub-folder checkpoint")

    wrapped = _save(tmp_path / "wrapped")  # the DDP wrapper's state_dict() under the model's file name
    save_file({f"module.{k}": v.contiguous() for k, v in vit.state_dict().items()}, wrapped / "model.safetensors")
    _wrong(lab05.exercise_2.result(with_helpers, _result(wrapped), SETTINGS, CLASSES), "named `module.…`")

    head_only = _save(tmp_path / "head_only")  # only some weights saved
    save_file(
        {k: v.contiguous() for k, v in vit.state_dict().items() if k.startswith("classifier")},
        head_only / "model.safetensors",
    )
    _wrong(lab05.exercise_2.result(with_helpers, _result(head_only), SETTINGS, CLASSES), "lacks")


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
    _wrong(lab05.exercise_2.result(with_helpers, _result(folder), SETTINGS, CLASSES), message)


def test_ex2_names_the_error_of_a_failed_training(saved):
    failed = _result(saved)
    failed.error = RuntimeError("IndexError: Target 2 is out of bounds.")
    _wrong(lab05.exercise_2.result(with_helpers, failed, SETTINGS, CLASSES), "Target 2 is out of bounds")


# ----------------------------------------------------------------------------- Exercise 3


@pytest.fixture(scope="module")
def checkpoint(saved):
    assert json.loads((saved / "config.json").read_text())["id2label"] == {str(i): c for i, c in enumerate(CLASSES)}
    return saved


class Batched:  # as in the solution notebook
    def __init__(self, checkpoint_path):
        from transformers import ViTForImageClassification, ViTImageProcessor

        self.processor = ViTImageProcessor.from_pretrained(checkpoint_path)
        self.model = ViTForImageClassification.from_pretrained(checkpoint_path).eval()

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
    def __init__(self, checkpoint_path):
        from transformers import pipeline

        self.pipe = pipeline("image-classification", model=checkpoint_path, device="cpu")

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
    def __init__(self, checkpoint_path):
        super().__init__(checkpoint_path)
        self.checkpoint_path = checkpoint_path

    def __call__(self, batch):
        self.__init__(self.checkpoint_path)  # the model loaded again for every batch
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

        self.processor = ViTImageProcessor.from_pretrained(self.model.name_or_path)  # again for every batch
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
        fn_constructor_kwargs={"checkpoint_path": str(checkpoint)},
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


def test_ex3_placeholders_are_not_solved(ray_session, checkpoint, val_folders, tmp_path):
    assert lab05.exercise_3.result(..., ..., ..., None, val_folders, tmp_path / "review", 0.7).status == "not solved"
    assert (
        lab05.exercise_3.result(..., ..., ..., checkpoint, val_folders, tmp_path / "review", 0.7).status == "not solved"
    )


def test_ex3_not_solved_until_scored_is_built(answer):
    assert answer(scored=...).status == "not solved"


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
    ],
)
def test_ex3_rejects_class_mistakes(answer, cls, message):
    _wrong(answer(cls=cls), message)


def test_ex3_rejects_a_class_that_ignores_the_checkpoint_it_is_given(answer, checkpoint):
    class Fixed(Batched):
        def __init__(self, checkpoint_path):
            super().__init__(str(checkpoint))

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
        ({"fn_constructor_kwargs": {"checkpoint_path": "elsewhere"}}, "not given the checkpoint"),
    ],
)
def test_ex3_rejects_stage_mistakes(answer, checkpoint, val_folders, options, message):
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


def test_ex3_rejects_a_pipeline_without_the_class(answer, val_folders):
    _wrong(answer(predictions=_read(val_folders).map_batches(lambda batch: batch)), "no stage that runs")


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


# Stretch: accuracy per class --------------------------------------------------------------------------

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


@pytest.mark.parametrize("fn", [by_label, through_pandas, with_a_count])
def test_stretch_accepts_a_groupby_mean_a_pandas_table_and_extra_columns(scored, fn):
    verdict = lab05.stretch.result(fn, scored)
    assert verdict.passed and "dog: 67% of 6, fish: 25% of 4, parachute: 100% of 4" in verdict.message, verdict


def by_prediction_named_label(predictions):  # grouped by the predicted class, the column renamed
    return predictions.map_batches(_mark).groupby("predicted").mean("correct").rename_columns({"predicted": "label"})


def all_right(predictions):  # the tiny model's run: every validation image right, so both groupings agree
    return ray.data.from_pandas(pd.DataFrame({"label": ["dog", "fish", "parachute"], "mean(correct)": [1.0] * 3}))


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda p: p.map_batches(_mark).groupby("label").sum("correct"), "not their share"),
        (lambda p: p.map_batches(_mark).groupby("predicted").mean("correct"), "grouped by `predicted`?"),
        (by_prediction_named_label, "the share per *predicted* class?"),
        (all_right, "predicted right"),
        (lambda p: 0.5, "not a Ray Dataset"),
    ],
)
def test_stretch_rejects_sums_grouping_by_prediction_and_answers_that_ignore_the_data(scored, fn, message):
    _wrong(lab05.stretch.result(fn, scored), message)


def test_stretch_tells_the_groupings_apart_on_its_probe_even_when_every_prediction_is_right(ray_session):
    every_one_right = ray.data.from_pandas(pd.DataFrame({"label": CLASSES * 3, "predicted": CLASSES * 3}))
    assert lab05.stretch.result(by_prediction_named_label, every_one_right).status == "wrong"
    assert lab05.stretch.result(by_label, every_one_right).passed
