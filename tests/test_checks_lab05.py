"""Lab 05 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1 gets Datasets built from the course's sample images (most through pandas,
so each mistake is exact and cheap; one through read_images, as the solution does).
Exercise 2 gets stand-ins of a Ray Train ``Result``: the check reads only its metrics
and checkpoint folder. Exercise 3 gets ImageClassifier classes that load a tiny ViT
checkpoint saved here, and lazy pipelines that are never run.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import ray
import ray.cloudpickle
from PIL import Image

import raycourse
from raycourse.checks import lab05

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and str(verdict.hint) not in ("", "None")


# ----------------------------------------------------------------------------- Exercise 1

@pytest.fixture(scope="module")
def folders():
    return raycourse.data_path("images_train")


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
                records.append({"raw": np.array(image), "rgb": np.array(image.convert("RGB")),
                                "path": path, "label": _label(path)})
    frame = pd.DataFrame(records)
    frame = frame.sample(frac=1, random_state=0, ignore_index=True)  # rows of both classes mixed, as union gives
    assert (frame["raw"].map(np.ndim) == 2).any(), "the sample data has grayscale images"
    return frame


def _dataset(frame, image="rgb", **columns):
    data = {"image": list(frame[image]), "path": list(frame["path"]), "label": list(frame["label"])}
    data.update(columns)
    return ray.data.from_pandas(pd.DataFrame(data))


def test_ex1_placeholder_is_not_solved(folders):
    assert lab05.exercise_1.result(..., folders).status == "not solved"


def test_ex1_accepts_labels_from_paths_in_colour(ray_session, rows, folders):
    verdict = lab05.exercise_1.result(_dataset(rows), folders)
    assert verdict.passed, verdict
    assert "160 images" in verdict.message


def test_ex1_accepts_the_read_images_pipeline(ray_session, folders):
    def label_from_path(batch):
        batch["label"] = np.array([_label(p) for p in batch["path"]])
        return batch

    reads = [ray.data.read_images(f, include_paths=True, mode="RGB").limit(200) for f in folders]
    assert lab05.exercise_1.result(reads[0].union(reads[1]).map_batches(label_from_path), folders).passed


def test_ex1_accepts_grayscale_converted_by_hand(ray_session, rows, folders):
    by_hand = rows["raw"].map(lambda a: np.stack([a] * 3, axis=-1) if a.ndim == 2 else a)
    assert lab05.exercise_1.result(_dataset(rows.assign(by_hand=by_hand), image="by_hand"), folders).passed


def test_ex1_rejects_labels_paired_by_row_order(ray_session, rows, folders):
    # the label file's order (all of the first class, then all of the second) against interleaved rows
    in_file_order = sorted(rows["label"])
    _wrong(lab05.exercise_1.result(_dataset(rows, label=in_file_order), folders), "not the class of their folder")


def test_ex1_rejects_grayscale_kept(ray_session, rows, folders):
    _wrong(lab05.exercise_1.result(_dataset(rows, image="raw"), folders), "not (H, W, 3)")
    channels_first = rows["raw"].map(lambda a: a[None] if a.ndim == 2 else a)  # (1, H, W), as in mixed blocks
    verdict = lab05.exercise_1.result(_dataset(rows.assign(cf=channels_first), image="cf"), folders)
    _wrong(verdict, "(1, H, W)")


def test_ex1_rejects_grayscale_dropped(ray_session, rows, folders):
    colour = rows[rows["raw"].map(np.ndim) == 3]
    _wrong(lab05.exercise_1.result(_dataset(colour), folders), "missing")


def test_ex1_rejects_other_mistakes(ray_session, rows, folders):
    _wrong(lab05.exercise_1.result(_dataset(rows).drop_columns(["path"]), folders), "no `path` column")
    numbers = [folders.index(str(Path(p).parent)) for p in rows["path"]]
    _wrong(lab05.exercise_1.result(_dataset(rows, label=numbers), folders), "not class names")
    _wrong(lab05.exercise_1.result(_dataset(pd.concat([rows, rows.head(3)])), folders), "more than once")
    _wrong(lab05.exercise_1.result(_dataset(rows.head(100)), folders), "missing")


# ----------------------------------------------------------------------------- Exercise 2

SETTINGS = {"max_steps": 20, "every": 10}


def _result(tmp_path, steps=(10, 20), accuracy=True, model=True, error=None):
    folder = tmp_path / "checkpoint_0" / "checkpoint"
    folder.mkdir(parents=True)
    if model:
        (folder / "config.json").write_text("{}")
        (folder / "model.safetensors").write_bytes(b"")
    frame = pd.DataFrame({"step": list(steps), "loss": [0.5] * len(steps)})
    if accuracy:
        frame["eval_accuracy"] = np.linspace(0.6, 1.0, len(steps))
    return SimpleNamespace(error=error, metrics_dataframe=frame,
                           checkpoint=SimpleNamespace(path=str(folder.parent)) if len(steps) else None)


def test_ex2_no_result_is_not_solved():
    assert lab05.exercise_2.result(None, SETTINGS).status == "not solved"


def test_ex2_accepts_a_report_every_n_steps(tmp_path):
    verdict = lab05.exercise_2.result(_result(tmp_path), SETTINGS)
    assert verdict.passed, verdict
    assert "steps 10, 20" in verdict.message
    assert lab05.exercise_2.result(_result(tmp_path / "b", steps=(5, 10, 15, 20)), {**SETTINGS, "every": 5}).passed


def test_ex2_rejects_mistakes(tmp_path):
    _wrong(lab05.exercise_2.result(_result(tmp_path / "a", steps=()), SETTINGS), "no report")
    _wrong(lab05.exercise_2.result(_result(tmp_path / "b", accuracy=False), SETTINGS), "no validation accuracy")
    _wrong(lab05.exercise_2.result(_result(tmp_path / "c", steps=(20,)), SETTINGS), "not every 10 steps")
    _wrong(lab05.exercise_2.result(_result(tmp_path / "d", steps=(5, 10, 15, 20)), SETTINGS), "not every 10")
    _wrong(lab05.exercise_2.result(_result(tmp_path / "e", model=False), SETTINGS), "holds no model")
    failed = _result(tmp_path / "f", error=RuntimeError("TypeError: unexpected keyword 'evaluation_strategy'"))
    _wrong(lab05.exercise_2.result(failed, SETTINGS), "evaluation_strategy")


# ----------------------------------------------------------------------------- Exercise 3

CLASSES = ["stripes_horizontal", "stripes_vertical"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny ViT with a two-class head, saved as the training's checkpoint folder is."""
    from transformers import ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("checkpoint") / "checkpoint"
    model_id = raycourse.model_id("vit")
    ViTForImageClassification.from_pretrained(model_id, num_labels=2, id2label=dict(enumerate(CLASSES)),
                                              label2id={c: i for i, c in enumerate(CLASSES)}).save_pretrained(folder)
    ViTImageProcessor.from_pretrained(model_id).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["id2label"]
    return folder


class Batched:  # as in the solution notebook
    def __init__(self, checkpoint_path):
        from transformers import ViTForImageClassification, ViTImageProcessor

        self.processor = ViTImageProcessor.from_pretrained(checkpoint_path)
        self.model = ViTForImageClassification.from_pretrained(checkpoint_path).eval()

    def __call__(self, batch):
        import torch

        inputs = self.processor(list(batch["image"]), return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        names = self.model.config.id2label
        return {"path": batch["path"], "label": batch["label"],
                "predicted": np.array([names[i] for i in logits.argmax(-1).tolist()])}


class WithPipeline:  # another right answer: transformers' pipeline, the whole batch at once, pandas batches
    def __init__(self, checkpoint_path):
        from transformers import pipeline

        self.pipe = pipeline("image-classification", model=checkpoint_path, device="cpu")

    def __call__(self, frame):
        images = [Image.fromarray(np.asarray(image)) for image in frame["image"]]
        results = self.pipe(images, batch_size=len(images), top_k=1)
        return frame.drop(columns=["image"]).assign(predicted=[r[0]["label"] for r in results])


class PerBatchLoad(Batched):
    def __init__(self, checkpoint_path):
        super().__init__(checkpoint_path)
        self.checkpoint_path = checkpoint_path

    def __call__(self, batch):
        self.__init__(self.checkpoint_path)  # the model loaded again for every batch
        return super().__call__(batch)


class PerImage(Batched):
    def __call__(self, batch):  # the seed's loop: one image, one forward pass
        import torch

        names, predicted = self.model.config.id2label, []
        for image in batch["image"]:
            with torch.inference_mode():
                logits = self.model(**self.processor(image, return_tensors="pt")).logits
            predicted.append(names[int(logits.argmax(-1))])
        return {"path": batch["path"], "label": batch["label"], "predicted": np.array(predicted)}


class ProcessorPerBatch(Batched):
    def __call__(self, batch):
        from transformers import ViTImageProcessor

        self.processor = ViTImageProcessor.from_pretrained(self.model.name_or_path)  # again for every batch
        return super().__call__(batch)


class WithGradients(Batched):
    def __call__(self, batch):  # no torch.inference_mode(): the forward pass records an autograd graph
        logits = self.model(**self.processor(list(batch["image"]), return_tensors="pt")).logits
        names = self.model.config.id2label
        return {"path": batch["path"], "label": batch["label"],
                "predicted": np.array([names[i] for i in logits.argmax(-1).tolist()])}


class Indices(Batched):
    def __call__(self, batch):
        out = super().__call__(batch)
        out["predicted"] = np.array([CLASSES.index(p) for p in out["predicted"]])
        return out


def _pipeline(cls, checkpoint, **options):
    stage = dict(fn_constructor_kwargs={"checkpoint_path": str(checkpoint)}, batch_size=16, num_gpus=1,
                 compute=ray.data.ActorPoolStrategy(size=2))
    stage.update(options)
    return ray.data.from_items([{"path": "x"}]).map_batches(cls, **{k: v for k, v in stage.items() if v is not None})


def test_ex3_placeholders_are_not_solved(checkpoint):
    assert lab05.exercise_3.result(..., ..., None).status == "not solved"
    assert lab05.exercise_3.result(..., ..., checkpoint).status == "not solved"


@pytest.mark.parametrize("cls", [Batched, WithPipeline])
def test_ex3_accepts_batched_classifiers(ray_session, checkpoint, cls):
    verdict = lab05.exercise_3.result(cls, _pipeline(cls, checkpoint), checkpoint)
    assert verdict.passed, verdict


@pytest.mark.parametrize("cls, message", [
    (PerBatchLoad, "loaded a model 2 times"),
    (ProcessorPerBatch, "loaded an image processor 2 times"),
    (WithGradients, "gradients recorded"),
    (PerImage, "one image at a time"),
    (Indices, "not a class name"),
])
def test_ex3_rejects_class_mistakes(ray_session, checkpoint, cls, message):
    _wrong(lab05.exercise_3.result(cls, _pipeline(cls, checkpoint), checkpoint), message)


def _read(folders):
    return ray.data.read_images([str(f) for f in folders], include_paths=True, mode="RGB")


def test_ex3_reads_the_validation_images_with_the_labs_batch_size(ray_session, checkpoint):
    train, val = raycourse.data_path("images_train"), raycourse.data_path("images_val")
    on_val = _read(val).map_batches(Batched, fn_constructor_kwargs={"checkpoint_path": str(checkpoint)},
                                    batch_size=16, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=1))
    assert lab05.exercise_3.result(Batched, on_val, checkpoint, val).passed
    on_train = _read(train).map_batches(Batched, fn_constructor_kwargs={"checkpoint_path": str(checkpoint)},
                                        batch_size=16, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=1))
    _wrong(lab05.exercise_3.result(Batched, on_train, checkpoint, val), "from outside `val_folders`")
    _wrong(lab05.exercise_3.result(Batched, _pipeline(Batched, checkpoint, batch_size=64), checkpoint),
           "batches of 64 images; the lab asks for 16")


def test_ex3_rejects_a_class_that_ignores_the_checkpoint_it_is_given(ray_session, checkpoint):
    class Fixed(Batched):
        def __init__(self, checkpoint_path):
            super().__init__(str(checkpoint))

    _wrong(lab05.exercise_3.result(Fixed, _pipeline(Fixed, checkpoint), checkpoint), "does not load the checkpoint")


@pytest.mark.parametrize("options, message", [
    ({"num_gpus": None}, "num_gpus=None"),
    ({"num_gpus": 0.5}, "num_gpus=0.5"),
    ({"fn_constructor_kwargs": {"checkpoint_path": "elsewhere"}}, "not given the checkpoint"),
])
def test_ex3_rejects_stage_mistakes(ray_session, checkpoint, options, message):
    _wrong(lab05.exercise_3.result(Batched, _pipeline(Batched, checkpoint, **options), checkpoint), message)


def _cluster_gpus():
    gpus = int(ray.cluster_resources().get("GPU", 0))
    assert gpus >= 1, "the test Ray declares GPUs"
    return gpus


@pytest.mark.parametrize("pool", ["one", "cluster", "autoscaling"])
def test_ex3_accepts_any_pool_from_one_actor_to_the_clusters_gpus(ray_session, checkpoint, pool):
    gpus = _cluster_gpus()
    compute = {"one": ray.data.ActorPoolStrategy(size=1), "cluster": ray.data.ActorPoolStrategy(size=gpus),
               "autoscaling": ray.data.ActorPoolStrategy(min_size=1, max_size=gpus)}[pool]
    verdict = lab05.exercise_3.result(Batched, _pipeline(Batched, checkpoint, compute=compute), checkpoint)
    assert verdict.passed, verdict
    assert f"the cluster has {gpus})" in verdict.message


def test_ex3_rejects_a_pool_bigger_than_the_clusters_gpus(ray_session, checkpoint):
    gpus = _cluster_gpus()
    pipeline = _pipeline(Batched, checkpoint, compute=ray.data.ActorPoolStrategy(size=gpus + 1))
    verdict = lab05.exercise_3.result(Batched, pipeline, checkpoint)
    _wrong(verdict, f"the cluster has {gpus} GPUs, so 1 of them would wait for a GPU forever")
    assert "ray.cluster_resources()" in str(verdict.hint)
    growing = _pipeline(Batched, checkpoint, compute=ray.data.ActorPoolStrategy(min_size=1, max_size=gpus + 2))
    _wrong(lab05.exercise_3.result(Batched, growing, checkpoint), f"up to {gpus + 2} actors")


def test_ex3_rejects_a_pipeline_without_the_class(ray_session, checkpoint):
    tasks = ray.data.from_items([{"path": "x"}]).map_batches(lambda batch: batch)
    _wrong(lab05.exercise_3.result(Batched, tasks, checkpoint), "no stage that runs")


# Stretch: accuracy per class --------------------------------------------------------------------------

# Six dogs (four predicted right) and four fish (one right): 67% and 25%.
_PREDICTED = pd.DataFrame({"label": ["dog"] * 6 + ["fish"] * 4,
                           "predicted": ["dog"] * 4 + ["fish"] * 2 + ["fish"] + ["dog"] * 3})


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
    assert verdict.passed and "dog: 67% of 6, fish: 25% of 4" in verdict.message, verdict


def by_prediction_named_label(predictions):  # grouped by the predicted class, the column renamed
    return (predictions.map_batches(_mark).groupby("predicted").mean("correct")
            .rename_columns({"predicted": "label"}))


def all_right(predictions):  # the tiny model's run: every validation image right, so both groupings agree
    return ray.data.from_pandas(pd.DataFrame({"label": ["dog", "fish"], "mean(correct)": [1.0, 1.0]}))


@pytest.mark.parametrize("fn, message", [
    (lambda p: p.map_batches(_mark).groupby("label").sum("correct"), "not their share"),
    (lambda p: p.map_batches(_mark).groupby("predicted").mean("correct"), "grouped by `predicted`?"),
    (by_prediction_named_label, "the share per *predicted* class?"),
    (all_right, "predicted right"),
    (lambda p: 0.5, "not a Ray Dataset"),
])
def test_stretch_rejects_sums_grouping_by_prediction_and_answers_that_ignore_the_data(scored, fn, message):
    _wrong(lab05.stretch.result(fn, scored), message)


def test_stretch_tells_the_groupings_apart_on_its_probe_even_when_every_prediction_is_right(ray_session):
    every_one_right = ray.data.from_pandas(pd.DataFrame({"label": ["dog", "fish"] * 3,
                                                         "predicted": ["dog", "fish"] * 3}))
    grouped = lambda p: p.map_batches(_mark).groupby("predicted").mean("correct").rename_columns({"predicted": "label"})
    assert lab05.stretch.result(grouped, every_one_right).status == "wrong"
    assert lab05.stretch.result(by_label, every_one_right).passed
