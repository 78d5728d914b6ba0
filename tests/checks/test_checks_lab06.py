"""Lab 06 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1 gets ImagePathEmbedder classes and calls them in this process on sample catalogue rows (paths, no
pixels). Exercise 2 gets stores written here (every image embedded once by the check's own CLIP, written one
folder per class by pyarrow or by Ray, then spoiled one way per test) and lazy pipelines that are never run: the
solution notebook runs the real one. Exercise 3 gets find_duplicates functions over a correct store, the stretch
k-nearest-neighbour votes over it.
"""

import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import pytest
import ray
import ray.cloudpickle
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

import raycourse
from raycourse.checks import lab06

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module

MODEL_ID = raycourse.model_id("clip")


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and str(verdict.hint) not in ("", "None")


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 (probe) a class, __init__(self, model_id, image_root), the names fixed: test_ex1_rejects_mistakes[NoImageRoot],
#      [NoArguments], test_ex1_rejects_a_function
#   R2 (probe) CLIPModel and CLIPProcessor loaded from model_id, once: [LoadsPerBatch], [ProcessorPerBatch],
#      [FixedModel]
#   R3 (probe) the filesystem opened from image_root, each path opened through it: [OpensByPath], [PlainOpen]
#   R4 (probe) all the batch's images in one pass: [PerImage]
#   R5 (probe) under torch.inference_mode(): [WithGradients]
#   R6 (probe) each embedding of length 1: [NotNormalised]
#   R7 (probe) CLIP's image embedding, in the batch's order: [Shuffled], [HiddenStates] (another width)
#   R8 (probe) the batch returned with a new `embedding` column, every column kept: [NoPath], [DropsClass],
#      [OnlyWhatIsStored]
#   R9 (probe) no pixels added: [KeepsPixels]
#   Not checked: "the model on the GPU when there is one" (no GPU here). Grayscale images: the text leaves the
#   conversion free (CLIP's processor converts them itself), so it states no requirement.


class Solution:
    """The solution's ImagePathEmbedder."""

    def __init__(self, model_id, image_root):
        self.model = CLIPModel.from_pretrained(model_id).eval()
        self.processor = CLIPProcessor.from_pretrained(model_id)
        self.filesystem, _ = pyarrow.fs.FileSystem.from_uri(image_root)

    def open(self, path):
        with self.filesystem.open_input_file(path) as file:
            return Image.open(file).convert("RGB")

    def __call__(self, batch):
        inputs = self.processor(images=[self.open(p) for p in batch["path"]], return_tensors="pt")
        with torch.inference_mode():
            features = self.model.get_image_features(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).numpy()
        return batch


class BytesAndNumpy:
    """Reads each file's bytes, hands the processor NumPy arrays, returns a new dict, normalises with NumPy."""

    def __init__(self, model_id, image_root):
        self.root = image_root
        self.model = CLIPModel.from_pretrained(model_id)
        self.model.eval()
        self.processor = CLIPProcessor.from_pretrained(model_id)

    def __call__(self, batch):
        filesystem, _ = pyarrow.fs.FileSystem.from_uri(self.root)  # per batch: cheap, and still the filesystem
        arrays = []
        for path in batch["path"]:
            data = filesystem.open_input_file(str(path)).read()
            arrays.append(np.array(Image.open(io.BytesIO(data)).convert("RGB")))
        with torch.no_grad():
            features = self.model.get_image_features(**self.processor(images=arrays, return_tensors="pt"))
        features = features.pooler_output.numpy()
        return {**batch, "embedding": features / np.linalg.norm(features, axis=1, keepdims=True)}


class PandasBatches(Solution):
    """Written for batch_format="pandas"."""

    def __call__(self, frame):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("this one wants pandas batches")
        inputs = self.processor(images=[self.open(p) for p in frame["path"]], return_tensors="pt")
        with torch.inference_mode():
            features = torch.nn.functional.normalize(self.model.get_image_features(**inputs).pooler_output, dim=-1)
        frame["embedding"] = list(features.numpy())
        return frame


class NoConvert(Solution):
    """Leaves grayscale images as they are (the processor converts them to RGB itself)."""

    def open(self, path):
        with self.filesystem.open_input_file(path) as file:
            image = Image.open(file)
            image.load()
            return image


class LoadsPerBatch(Solution):
    def __call__(self, batch):
        self.model = CLIPModel.from_pretrained(MODEL_ID).eval()
        return super().__call__(batch)


class ProcessorPerBatch(Solution):
    """Loads the model once but its processor in every call."""

    def __call__(self, batch):
        self.processor = CLIPProcessor.from_pretrained(self.model.name_or_path)
        return super().__call__(batch)


class PerImage(Solution):
    def __call__(self, batch):
        rows = []
        for path in batch["path"]:
            inputs = self.processor(images=[self.open(path)], return_tensors="pt")
            with torch.inference_mode():
                rows.append(
                    torch.nn.functional.normalize(self.model.get_image_features(**inputs).pooler_output, dim=-1)[0]
                )
        batch["embedding"] = torch.stack(rows).numpy()
        return batch


class NotNormalised(Solution):
    def __call__(self, batch):
        inputs = self.processor(images=[self.open(p) for p in batch["path"]], return_tensors="pt")
        with torch.inference_mode():
            batch["embedding"] = self.model.get_image_features(**inputs).pooler_output.numpy()
        return batch


class FixedModel(Solution):
    def __init__(self, model_id, image_root):
        super().__init__(MODEL_ID, image_root)


class Shuffled(Solution):
    def __call__(self, batch):
        batch = super().__call__(batch)
        batch["embedding"] = batch["embedding"][::-1].copy()
        return batch


class NoPath(Solution):
    def __call__(self, batch):
        return {"embedding": super().__call__(batch)["embedding"]}


class DropsClass(Solution):
    def __call__(self, batch):
        out = super().__call__(batch)
        return {"path": out["path"], "embedding": out["embedding"]}


class OnlyWhatIsStored(Solution):
    """Drops file_size itself (Exercise 2's job): the stage returns fewer columns than it got."""

    def __call__(self, batch):
        out = super().__call__(batch)
        return {"path": out["path"], "class": out["class"], "embedding": out["embedding"]}


class KeepsPixels(Solution):
    def __call__(self, batch):
        images = [np.asarray(self.open(p)) for p in batch["path"]]
        batch = super().__call__(batch)
        batch["image"] = np.array(images + [None], dtype=object)[:-1]
        return batch


class HiddenStates(Solution):
    """The vision tower's pooled output before the projection: the wrong vectors (and width)."""

    def __call__(self, batch):
        inputs = self.processor(images=[self.open(p) for p in batch["path"]], return_tensors="pt")
        with torch.inference_mode():
            features = self.model.vision_model(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).numpy()
        return batch


class WithGradients(Solution):
    """No torch.inference_mode(): every forward pass records an autograd graph."""

    def __call__(self, batch):
        inputs = self.processor(images=[self.open(p) for p in batch["path"]], return_tensors="pt")
        features = self.model.get_image_features(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).detach().numpy()
        return batch


class OpensByPath(Solution):
    """Image.open(path): this machine's disk only, never the gpu profile's bucket."""

    def open(self, path):
        return Image.open(path).convert("RGB")


class PlainOpen(Solution):
    """open(path, "rb"): this machine's disk only."""

    def open(self, path):
        with open(path, "rb") as file:
            return Image.open(file).convert("RGB")


class NoImageRoot(Solution):
    def __init__(self, model_id):
        super().__init__(model_id, "/")


class NoArguments:
    def __init__(self):
        self.loaded = False  # a body, but no model_id argument

    def __call__(self, batch):
        return batch


@pytest.mark.fast
@pytest.mark.parametrize("cls", [Solution, BytesAndNumpy, PandasBatches, NoConvert])
def test_ex1_accepts_correct_classes(cls):
    verdict = lab06.exercise_1.result(cls)
    assert verdict.passed, verdict


@pytest.mark.fast
def test_ex1_waits_for_the_placeholder_and_the_outline():
    assert lab06.exercise_1.result(...).status == "not solved"

    class Outline:
        def __init__(self, model_id, image_root): ...

        def __call__(self, batch): ...

    assert lab06.exercise_1.result(Outline).status == "not solved"


@pytest.mark.parametrize(
    "cls, message",
    [
        (LoadsPerBatch, "loaded a model 2 times"),
        (ProcessorPerBatch, "loaded a processor 2 times"),
        (PerImage, "one image at a time"),
        (NotNormalised, "not of length 1"),
        (FixedModel, "loaded a model anyway"),
        (Shuffled, "point elsewhere than the model's own"),
        (NoPath, "lost its `path` column"),
        (DropsClass, "lost its `class`, `file_size` column"),
        (OnlyWhatIsStored, "lost its `file_size` column"),
        (KeepsPixels, "carries the decoded images"),
        (HiddenStates, "have shape"),
        (WithGradients, "gradients recorded"),
        (OpensByPath, "by its path"),
        (PlainOpen, "by its path"),
        (NoImageRoot, "failed"),
        (NoArguments, "failed"),
    ],
)
def test_ex1_rejects_mistakes(cls, message):
    _wrong(lab06.exercise_1.result(cls), message)


@pytest.mark.fast
def test_ex1_rejects_a_function():
    _wrong(lab06.exercise_1.result(lambda batch: batch), "not a class")


def test_ex1_leaves_open_and_image_open_as_they_were():
    import builtins

    before = (builtins.open, Image.open)
    lab06.exercise_1.result(OpensByPath)
    assert (builtins.open, Image.open) == before


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires:
#   R1 embeddings: the ImagePathEmbedder stage over the catalogue (a class stage):
#      test_ex2_rejects_a_pipeline_without_a_class_stage, test_ex2_rejects_something_else_than_a_dataset,
#      test_ex2_says_to_leave_a_materialized_embeddings_lazy (the stage read from the plan)
#   R2 MODEL_ID and image_root through fn_constructor_kwargs: test_ex2_rejects_a_stage_without_its_settings[not
#      given the model id], [not given image_root]
#   R3 one GPU per actor (a whole one): test_ex2_rejects_a_stage_without_its_settings[asks for no GPU],
#      [asks for num_gpus=0.5]
#   R4 a pool of one actor up to the cluster's GPUs within the budget:
#      test_ex2_rejects_a_pool_larger_than_the_cluster, test_ex2_holds_the_pool_to_the_learners_gpu_budget
#   R5 only path, class and embedding kept, no file_size: test_ex2_rejects_a_column_no_later_step_reads,
#      test_ex2_rejects_what_is_wrong_in_the_files[image], [no path]
#   R6 written to embeddings_dir as parquet, one class=<name> folder per class:
#      test_ex2_rejects_a_store_not_laid_out_one_folder_per_class, test_ex2_rejects_what_ray_writes_without_...,
#      test_ex2_waits_for_the_placeholder_and_points_at_the_folder_when_the_files_went_elsewhere
#   R7 every catalogue image once, CLIP's unit-length embedding: test_ex2_rejects_what_is_wrong_in_the_files[twice],
#      [limit], [not normalised], [rows shuffled], [elsewhere], [classes mixed up]


@pytest.fixture(scope="module")
def image_root():
    return raycourse.data_path("embedding_images")


@pytest.fixture(scope="module")
def correct(image_root):
    """Every image of the folder with its class and its unit-length CLIP embedding (the check's own)."""
    paths = lab06._image_paths(image_root)
    images = [Image.open(p).convert("RGB") for p in paths]
    return pd.DataFrame(
        {
            "path": paths,
            "class": [Path(p).parent.name for p in paths],
            "embedding": list(lab06._image_embeddings(images).astype(np.float32)),
        }
    )


def _table(chunk, *, keep=("path", "embedding")):
    columns = {c: chunk[c].tolist() for c in chunk.columns if c in keep and c not in ("embedding", "image")}
    if "embedding" in keep and "embedding" in chunk.columns:
        columns["embedding"] = [list(map(float, v)) for v in chunk["embedding"]]
    if "image" in chunk.columns:
        columns["image"] = [b"pixels"] * len(chunk)
    return pa.table(columns)


def _write(frame, folder, *, by="class", name="{column}={value}", keep=("path", "embedding"), files=2):
    """The store as write_parquet(..., partition_cols=[by]) lays it out (or flat with by=None), written by pyarrow."""
    folder.mkdir(parents=True, exist_ok=True)
    keep = tuple(keep) + (("image",) if "image" in frame.columns else ())
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    for value, group in groups:
        where = folder if by is None else folder / name.format(column=by, value=value)
        where.mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(np.array_split(np.arange(len(group)), files)):
            pq.write_table(_table(group.iloc[part], keep=keep), where / f"part-{i}.parquet")
    return folder


def _stage(ray_session, cls=Solution, image_root=None, **overrides):
    root = image_root or raycourse.data_path("embedding_images")
    options = dict(
        fn_constructor_kwargs={"model_id": MODEL_ID, "image_root": root},
        batch_size=32,
        num_gpus=1,
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    options.update(overrides)
    return ray.data.from_items([{"path": "x", "class": "c"}]).map_batches(cls, **options)


@pytest.mark.fast
def test_ex2_accepts_the_stored_embeddings(ray_session, correct, image_root, tmp_path):
    verdict = lab06.exercise_2.result(_stage(ray_session), _write(correct, tmp_path / "e"), image_root)
    assert verdict.passed, verdict


def test_ex2_accepts_what_ray_writes_with_partition_cols(ray_session, correct, image_root, tmp_path):
    folder = tmp_path / "e"
    ray.data.from_pandas(correct).repartition(3).write_parquet(str(folder), partition_cols=["class"])
    verdict = lab06.exercise_2.result(_stage(ray_session), folder, image_root)
    assert verdict.passed, verdict


def test_ex2_accepts_the_class_kept_in_the_files_too(ray_session, correct, image_root, tmp_path):
    """One folder per class written by hand (a loop over the classes), each file with its class column."""
    folder = _write(correct, tmp_path / "e", keep=("path", "class", "embedding"))
    assert lab06.exercise_2.result(_stage(ray_session), folder, image_root).passed


def test_ex2_accepts_constructor_args_by_position_and_a_free_batch_size(ray_session, correct, image_root, tmp_path):
    stage = _stage(ray_session, fn_constructor_kwargs=None, fn_constructor_args=(MODEL_ID, image_root), batch_size=8)
    assert lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root).passed


@pytest.mark.fast
def test_ex2_waits_for_the_placeholder_and_points_at_the_folder_when_the_files_went_elsewhere(
    ray_session, correct, image_root, tmp_path
):
    assert lab06.exercise_2.result(..., tmp_path / "e", image_root).status == "not solved"
    _wrong(lab06.exercise_2.result(_stage(ray_session), tmp_path / "e", image_root), "holds no parquet files.")
    elsewhere = _write(correct, tmp_path / "embedings")  # a typo in the folder's name
    verdict = lab06.exercise_2.result(_stage(ray_session), tmp_path / "e", image_root)
    _wrong(verdict, f"there are some in {elsewhere}.")  # the store's root, not one of its class folders
    assert "write_parquet(str(embeddings_dir)" in verdict.hint


def _spoil(correct, how):
    frame = correct.copy()
    if how == "image":
        frame["image"] = 0
    elif how == "no path":
        frame = frame.drop(columns=["path"])
    elif how == "twice":
        frame = pd.concat([frame, frame.iloc[:5]], ignore_index=True)
    elif how == "limit":
        frame = frame.iloc[:100]
    elif how == "not normalised":
        frame["embedding"] = [v * 3 for v in frame["embedding"]]
    elif how == "rows shuffled":
        frame["embedding"] = list(np.roll(np.stack(frame["embedding"]), 1, axis=0))
    elif how == "elsewhere":
        frame["path"] = ["/somewhere/else/" + Path(p).parent.name + "/" + Path(p).name for p in frame["path"]]
    elif how == "classes mixed up":
        frame["class"] = np.roll(frame["class"].to_numpy(), 7)
    return frame


@pytest.mark.parametrize(
    "how, message",
    [
        ("image", "hold the images"),
        ("no path", "no path column"),
        ("twice", "more than once"),
        ("limit", "100 embeddings are stored for the 160 images"),
        ("not normalised", "not of length 1"),
        ("rows shuffled", "point elsewhere than the model's own"),
        ("elsewhere", "not images of"),
        ("classes mixed up", "in the folder of another class"),
    ],
)
def test_ex2_rejects_what_is_wrong_in_the_files(ray_session, correct, image_root, tmp_path, how, message):
    folder = _write(_spoil(correct, how), tmp_path / "e")
    _wrong(lab06.exercise_2.result(_stage(ray_session), folder, image_root), message)


def test_ex2_rejects_a_column_no_later_step_reads(ray_session, correct, image_root, tmp_path):
    frame = correct.assign(file_size=1234)
    folder = _write(frame, tmp_path / "e", keep=("path", "embedding", "file_size"))
    _wrong(lab06.exercise_2.result(_stage(ray_session), folder, image_root), "also hold `file_size`")


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"by": None, "keep": ("path", "class", "embedding")}, "lie directly in"),
        ({"name": "{value}"}, "not in folders named `class=<name>`"),
        ({"by": "shard"}, "not by `class` alone"),
    ],
)
def test_ex2_rejects_a_store_not_laid_out_one_folder_per_class(
    ray_session, correct, image_root, tmp_path, layout, message
):
    frame = correct.assign(shard=np.arange(len(correct)) % 2)
    _wrong(lab06.exercise_2.result(_stage(ray_session), _write(frame, tmp_path / "e", **layout), image_root), message)


def test_ex2_rejects_what_ray_writes_without_partition_cols(ray_session, correct, image_root, tmp_path):
    folder = tmp_path / "e"
    ray.data.from_pandas(correct).write_parquet(str(folder))
    verdict = lab06.exercise_2.result(_stage(ray_session), folder, image_root)
    _wrong(verdict, "not in one folder per class")
    assert "partition_cols" in verdict.hint


def _embed_function(batch):
    return batch


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"fn_constructor_kwargs": {"model_id": "openai/some-other-clip", "image_root": "x"}},
            "not given the model id",
        ),
        ({"fn_constructor_kwargs": {"model_id": MODEL_ID, "image_root": "/somewhere/else"}}, "not given image_root"),
        ({"num_gpus": 0}, "asks for no GPU"),
        ({"num_gpus": 0.5}, "asks for num_gpus=0.5"),  # the text: one GPU per actor
    ],
)
def test_ex2_rejects_a_stage_without_its_settings(ray_session, correct, image_root, tmp_path, overrides, message):
    stage = _stage(ray_session, **overrides)
    _wrong(lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root), message)


@pytest.mark.parametrize("size", ["one actor", "one per GPU"])
def test_ex2_accepts_a_pool_of_one_actor_up_to_the_clusters_gpus(ray_session, correct, image_root, tmp_path, size):
    actors = 1 if size == "one actor" else int(ray.cluster_resources()["GPU"])
    stage = _stage(ray_session, compute=ray.data.ActorPoolStrategy(size=actors))
    assert lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root).passed


def test_ex2_rejects_a_pool_larger_than_the_cluster(ray_session, correct, image_root, tmp_path):
    gpus = int(ray.cluster_resources()["GPU"])
    stage = _stage(ray_session, compute=ray.data.ActorPoolStrategy(size=gpus + 1))
    verdict = lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root)
    _wrong(verdict, f"a pool of {gpus + 1} actors with 1 GPU each, more than the cluster's {gpus} GPU(s) can hold")
    assert "ray.cluster_resources()" in verdict.hint


def test_ex2_holds_the_pool_to_the_learners_gpu_budget(ray_session, correct, image_root, tmp_path, monkeypatch):
    gpus = int(ray.cluster_resources()["GPU"])
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    stage = _stage(ray_session, compute=ray.data.ActorPoolStrategy(size=gpus))
    verdict = lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root)
    budget = f"your budget of {gpus - 1} GPU(s) (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's {gpus}"
    _wrong(verdict, f"a pool of {gpus} actors with 1 GPU each, more than {budget} can hold")
    assert "raycourse.gpu_budget()" in verdict.hint


def test_ex2_rejects_a_pipeline_without_a_class_stage(ray_session, correct, image_root, tmp_path):
    stage = ray.data.from_items([{"x": 1}]).map_batches(_embed_function)
    _wrong(
        lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root),
        "no stage that runs a callable class",
    )


def test_ex2_says_to_leave_a_materialized_embeddings_lazy(ray_session, correct, image_root, tmp_path):
    kept = ray.data.from_items([{"x": 1}]).map_batches(_embed_function).materialize()  # its stage is gone
    verdict = lab06.exercise_2.result(kept, _write(correct, tmp_path / "e"), image_root)
    _wrong(verdict, "`embeddings` is materialized: its plan keeps none of its steps")
    assert "Leave `embeddings` lazy" in verdict.hint


@pytest.mark.fast
def test_ex2_rejects_something_else_than_a_dataset(correct, image_root, tmp_path):
    _wrong(lab06.exercise_2.result(correct, _write(correct, tmp_path / "e"), image_root), "not a Ray Dataset")


# ----------------------------------------------------------------------------- Exercise 3
# Exercise 3 requires:
#   R1 (probe) find_duplicates(queries, threshold) returns a DataFrame, one row per query:
#      test_ex3_rejects_mistakes[a_dict], [only_duplicates]
#   R2 (probe) `query` the query's name: [row_numbers]
#   R3 (probe) `match` the stored path most similar: [least_similar], [basenames]
#   R4 (probe) `score` their cosine: [distance], [renamed_score]
#   R5 (probe) `duplicate` True where the score reaches the threshold it is given: [fixed_threshold], [inverted],
#      [words]
#   R6 (probe) sorted by score, best first: [unsorted], [worst_first]
#   The check calls find_duplicates on queries of its own (test_ex3_probes_flag_some_queries_and_not_others), at two
#   thresholds of its own: every requirement is judged on that probe.


@pytest.fixture(scope="module")
def stored(correct, tmp_path_factory):
    return _write(correct, tmp_path_factory.mktemp("stored") / "embeddings")


@pytest.fixture(scope="module")
def index(stored):
    """The store as the lab reads it back: `table` (with the class) and `vectors`."""
    table = lab06._stored(stored)
    return table, np.stack(table["embedding"]).astype(np.float64)


def _finders(index):
    """Every search the tests try on exercise 3, by name: right ones written in several ways, then wrong ones."""
    table, vectors = index
    paths = table["path"].to_numpy()

    def solution(queries, threshold):
        scores = np.stack(queries["embedding"]) @ vectors.T
        found = pd.DataFrame(
            {"query": queries["query"].to_numpy(), "match": paths[scores.argmax(axis=1)], "score": scores.max(axis=1)}
        )
        found["duplicate"] = found["score"] >= threshold
        return found.sort_values("score", ascending=False, ignore_index=True)

    def loop(queries, threshold):
        rows = []
        for name, query in zip(queries["query"], queries["embedding"]):
            scores = vectors @ np.asarray(query)
            best = int(np.argmax(scores))
            rows.append(
                {
                    "query": name,
                    "match": paths[best],
                    "class": table["class"].iloc[best],
                    "score": float(scores[best]),
                    "duplicate": bool(scores[best] >= threshold),
                }
            )
        return pd.DataFrame(rows).sort_values("score", ascending=False)  # index not reset, an extra column

    def torch_max(queries, threshold):
        scores = torch.from_numpy(np.stack(queries["embedding"]).astype(np.float64)) @ torch.from_numpy(vectors).T
        values, rows = scores.max(dim=1)
        found = pd.DataFrame({"query": list(queries["query"]), "match": paths[rows.numpy()], "score": values.numpy()})
        return found.assign(duplicate=lambda f: f["score"].ge(threshold)).nlargest(len(found), "score")

    def rows_list(queries, threshold):
        return solution(queries, threshold).to_dict("records")

    right = (solution, loop, torch_max, rows_list)
    return {f.__name__: f for f in right + _wrong_finders(solution, paths, vectors)}


def _wrong_finders(solution, paths, vectors) -> tuple:
    """Searches that slip, each in one way, most by changing what ``solution`` found."""

    def renamed_score(queries, threshold):
        return solution(queries, threshold).rename(columns={"score": "similarity"})

    def least_similar(queries, threshold):
        scores = np.stack(queries["embedding"]) @ vectors.T
        found = pd.DataFrame(
            {"query": queries["query"], "match": paths[scores.argmin(axis=1)], "score": scores.min(axis=1)}
        )
        return found.assign(duplicate=found["score"] >= threshold).sort_values("score", ascending=False)

    def unsorted(queries, threshold):
        return solution(queries, threshold).sort_values("query", ignore_index=True)

    def worst_first(queries, threshold):
        return solution(queries, threshold).iloc[::-1]

    def fixed_threshold(queries, threshold):
        return solution(queries, 0.9)

    def inverted(queries, threshold):
        found = solution(queries, threshold)
        return found.assign(duplicate=found["score"] < threshold)

    def only_duplicates(queries, threshold):
        found = solution(queries, threshold)
        return found[found["duplicate"]]

    def row_numbers(queries, threshold):
        return solution(queries.assign(query=range(len(queries))), threshold)

    def basenames(queries, threshold):
        found = solution(queries, threshold)
        return found.assign(match=[Path(p).name for p in found["match"]])

    def distance(queries, threshold):
        found = solution(queries, threshold)
        return found.assign(score=1 - found["score"])

    def words(queries, threshold):
        found = solution(queries, threshold)
        return found.assign(duplicate=np.where(found["duplicate"], "yes", "no"))

    def a_dict(queries, threshold):
        return {row["query"]: row["match"] for _, row in solution(queries, threshold).iterrows()}

    return (
        renamed_score,
        least_similar,
        unsorted,
        worst_first,
        fixed_threshold,
        inverted,
        only_duplicates,
        row_numbers,
        basenames,
        distance,
        words,
        a_dict,
    )


@pytest.mark.fast
@pytest.mark.parametrize("name", ["solution", "loop", "torch_max", "rows_list"])
def test_ex3_accepts_any_correct_search(index, stored, name):
    verdict = lab06.exercise_3.result(_finders(index)[name], stored)
    assert verdict.passed, verdict


@pytest.mark.fast
@pytest.mark.parametrize(
    "name, message",
    [
        ("renamed_score", "no `score` column"),
        ("least_similar", "*least* similar"),
        ("unsorted", "not sorted by score"),
        ("worst_first", "worst first"),
        ("fixed_threshold", "as a duplicate"),
        ("inverted", "*below* the threshold"),
        ("only_duplicates", "rows for 6 queries"),
        ("row_numbers", "not the names of the queries"),
        ("basenames", "not a stored path"),
        ("distance", "the cosine similarity of the query and its match"),
        ("words", "should be True or False"),
        ("a_dict", "not a DataFrame"),
    ],
)
def test_ex3_rejects_mistakes(index, stored, name, message):
    _wrong(lab06.exercise_3.result(_finders(index)[name], stored), message)


def test_ex3_probes_flag_some_queries_and_not_others(index):
    table, vectors = index
    names, queries = lab06._probe_queries(vectors)
    best = (queries @ vectors.T).max(axis=1)
    for threshold in lab06._thresholds(best):
        flagged = best >= threshold
        assert flagged.any() and not flagged.all(), (threshold, best)
        assert np.abs(best - threshold).min() > 1e-4, "no best score sits on the threshold"
    assert names != sorted(names, key=lambda n: -best[names.index(n)])  # not already best first


@pytest.mark.fast
def test_ex3_waits_for_the_placeholder_and_the_embeddings(index, tmp_path):
    assert lab06.exercise_3.result(..., tmp_path).status == "not solved"
    assert lab06.exercise_3.result(_finders(index)["solution"], tmp_path / "nothing").status == "not solved"


# Stretch: a k-nearest-neighbour classifier -------------------------------------------------------------
# The stretch requires:
#   R1 knn: the store read back and a map_batches *function* (a Dataset):
#      test_stretch_rejects_a_table_made_in_the_notebook, test_stretch_says_to_leave_a_materialized_knn_lazy
#   R2 (probe) the K most similar *other* images, itself left out (by its path):
#      test_stretch_rejects_other_votes[{"itself": True}], [{"by_score": True}]
#   R3 each neighbour's cosine added to its class's tally, the largest sum wins: [{"weighted": False}], [{"k": 1}],
#      [{"copy_class": True}]
#   R4 path and predicted for every stored image: test_stretch_rejects_missing_rows_and_columns


def _votes(index, *, itself=False, weighted=True, k=lab06.K):
    """Each stored image's class by its k nearest (other) images: weighted, or a plain count (ties: first seen)."""
    table, vectors = index
    classes = table["class"].to_numpy()
    scores = vectors @ vectors.T
    if not itself:
        np.fill_diagonal(scores, -np.inf)
    nearest = np.argsort(-scores, axis=1)[:, :k]
    predicted = []
    for i, row in enumerate(nearest):
        if weighted:
            tally = pd.Series(scores[i, row]).groupby(classes[row]).sum()
            predicted.append(tally.idxmax())
        else:
            predicted.append(Counter(classes[row]).most_common(1)[0][0])
    return pd.DataFrame({"path": table["path"].to_numpy(), "class": classes, "predicted": predicted})


def _knn(stored, index, *, itself=False, weighted=True, k=lab06.K, by_score=False, copy_class=False):
    """``knn`` as the lab builds it: the store read back, a batch function that votes (itself left out by path, or
    by its score), over the stored ``vectors`` it carries in its closure."""
    table, vectors = index
    paths, classes = table["path"].to_numpy(), table["class"].to_numpy()

    def vote(batch):
        scores = np.stack(batch["embedding"]) @ vectors.T
        if by_score:
            scores[scores > 0.9999] = -np.inf  # the best score taken for the image itself
        elif not itself:
            scores[np.equal.outer(batch["path"], paths)] = -np.inf
        nearest = np.argsort(-scores, axis=1)[:, :k]
        predicted = []
        for row, chosen in zip(scores, nearest):
            if weighted:
                predicted.append(pd.Series(row[chosen]).groupby(classes[chosen]).sum().idxmax())
            else:
                predicted.append(Counter(classes[chosen]).most_common(1)[0][0])
        if copy_class:
            predicted = list(batch["class"])
        return {"path": batch["path"], "class": batch["class"], "predicted": np.array(predicted)}

    return ray.data.read_parquet(str(stored)).map_batches(vote)


@pytest.mark.fast
def test_stretch_waits_for_the_placeholder_and_the_embeddings(tmp_path):
    assert lab06.stretch.result(..., tmp_path).status == "not solved"
    assert lab06.stretch.result(pd.DataFrame(), tmp_path / "none").status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_a_ray_map_batches_vote(index, stored, ray_session):
    assert lab06.stretch.result(_knn(stored, index), stored).passed
    table, vectors = index
    paths, classes = table["path"].to_numpy(), table["class"].to_numpy()

    def neighbour_vote(batch):  # another right answer: a loop, only path and predicted returned
        scores = np.stack(batch["embedding"]) @ vectors.T
        scores[np.equal.outer(batch["path"], paths)] = -np.inf
        nearest = np.argsort(-scores, axis=1)[:, : lab06.K]
        votes = []
        for row, chosen in zip(scores, nearest):
            tally = {}
            for j in chosen:
                tally[classes[j]] = tally.get(classes[j], 0) + row[j]
            votes.append(max(tally, key=tally.get))
        return {"path": batch["path"], "predicted": np.array(votes)}

    knn = ray.data.read_parquet(str(stored)).map_batches(neighbour_vote)
    verdict = lab06.stretch.result(knn, stored)
    assert verdict.passed, verdict


@pytest.mark.fast
def test_stretch_rejects_a_table_made_in_the_notebook(index, stored, ray_session):
    rows = _knn(stored, index).to_pandas()  # the right votes, but not the Dataset the text asks for
    _wrong(lab06.stretch.result(rows, stored), "is a DataFrame, not a Ray Dataset")
    _wrong(lab06.stretch.result(rows.to_dict("records"), stored), "is a list, not a Ray Dataset")
    _wrong(lab06.stretch.result(ray.data.from_pandas(rows), stored), "no map_batches stage with a function")


def test_stretch_says_to_leave_a_materialized_knn_lazy(index, stored, ray_session):
    verdict = lab06.stretch.result(_knn(stored, index).materialize(), stored)  # the right rows, the function gone
    _wrong(verdict, "`knn` is materialized")
    assert "Leave `knn` lazy" in verdict.hint


@pytest.fixture(scope="module")
def mixed(correct, tmp_path_factory):
    """A store whose neighbourhoods mix the classes, as a real CLIP's do on harder photos (dog breeds in `gpu`). The
    `tiny` stand-in, trained on the world's stripes, puts each direction in a cluster of its own, where every vote
    agrees; these tests need the cases where a weighted vote, a plain count, a self-vote and the true class differ.
    So the sample images' embeddings lose the one direction along which the two classes' means differ (then unit
    length again): what a model blind to the stripes' direction would store, its neighbours chosen by colour."""
    embeddings = np.stack(correct["embedding"]).astype(np.float64)
    classes = correct["class"].to_numpy()
    apart = embeddings[classes == classes[0]].mean(0) - embeddings[classes != classes[0]].mean(0)
    apart /= np.linalg.norm(apart)
    noisy = embeddings - np.outer(embeddings @ apart, apart)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    frame = correct.assign(embedding=list(noisy.astype(np.float32)))
    stored = _write(frame, tmp_path_factory.mktemp("mixed") / "embeddings")
    table = lab06._stored(stored)
    return stored, (table, np.stack(table["embedding"]).astype(np.float64))


def test_stretch_data_tells_a_weighted_vote_from_a_count(mixed):
    """With K = 4 and two classes, ties 2 against 2 happen where classes mix; a count settles some otherwise."""
    _, index = mixed
    assert (_votes(index)["predicted"] != _votes(index, weighted=False)["predicted"]).any()
    assert (_votes(index)["predicted"] != _votes(index)["class"]).any()  # the true class is not the vote


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"itself": True}, "they themselves vote for"),
        ({"weighted": False}, "plain count of votes"),
        ({"k": 1}, "is predicted"),
        ({"by_score": True}, "it leaves out the best score, not the image itself"),
        ({"copy_class": True}, "own class"),
    ],
)
def test_stretch_rejects_other_votes(mixed, answer, message, ray_session):
    stored, index = mixed
    _wrong(lab06.stretch.result(_knn(stored, index, **answer), stored), message)


def test_stretch_accepts_the_weighted_vote_where_the_classes_mix(mixed, ray_session):
    stored, index = mixed
    assert lab06.stretch.result(_knn(stored, index), stored).passed


def test_stretch_rejects_missing_rows_and_columns(mixed, ray_session):
    stored, index = mixed
    _wrong(lab06.stretch.result(_knn(stored, index).limit(3), stored), "stored images")
    _wrong(lab06.stretch.result(_knn(stored, index).drop_columns(["predicted"]), stored), "no `predicted` column")


# Two halves: the observation of a right answer passes the judge; a forged one does not -----------------------


def test_ex1_the_solutions_observation_passes_the_judge_and_another_seeds_does_not():
    seen = lab06.exercise_1.observe(Solution, seed=11)
    assert lab06.exercise_1.decide(seen, 11).passed, lab06.exercise_1.decide(seen, 11)
    other = next(
        s
        for s in range(12, 40)
        if lab06._catalogue_batch(s)["path"].tolist() != lab06._catalogue_batch(11)["path"].tolist()
    )
    assert lab06.exercise_1.decide(seen, other).status == "wrong"  # the rows of another batch order


def test_ex1_forged_observations_do_not_pass():
    seen = lab06.exercise_1.observe(Solution, seed=5)
    empty = {**seen, "outputs": [{**o, "embedding": [], "path": []} for o in seen["outputs"]]}
    no_model_check = {k: v for k, v in seen.items() if k != "loads_missing_model"}
    no_counts = {**seen, "counts": {}, "in_init": [1, 1]}
    zeros = [[0.0] * len(v) for v in seen["outputs"][0]["embedding"]]
    wrong_values = {**seen, "outputs": [{**o, "embedding": zeros} for o in seen["outputs"]]}
    for forged in (empty, no_model_check, no_counts, wrong_values, {}, {"ok": True}):
        verdict = lab06.exercise_1.decide(forged, 5)
        assert not verdict.passed, forged


def test_ex2_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(
    ray_session, correct, image_root, tmp_path
):
    folder = _write(correct, tmp_path / "e")
    seen = lab06.exercise_2.observe(_stage(ray_session), folder, image_root, seed=21)
    assert lab06.exercise_2.decide(seen, 21).passed, lab06.exercise_2.decide(seen, 21)
    assert lab06.exercise_2.decide(seen, 22).status == "wrong"  # the sample another seed asks for
    rows = lab06._sample_rows(len(seen["path"]), 21)
    wrong_values = {**seen, "sample": [[i, [0.0] * len(v)] for i, v in seen["sample"]]}
    others = {
        **seen,
        "sample": [[i, seen["sample"][(k + 1) % len(rows)][1]] for k, (i, _) in enumerate(seen["sample"])],
    }
    for forged in (
        {**seen, "path": [], "class": [], "norms": [], "sample": []},
        {k: v for k, v in seen.items() if k != "norms"},
        {**seen, "norms": []},
        {k: v for k, v in seen.items() if k != "stage"},
        wrong_values,
        others,
        {},
    ):
        assert not lab06.exercise_2.decide(forged, 21).passed, forged


def test_ex3_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(index, stored):
    solution = _finders(index)["solution"]
    seen = lab06.exercise_3.observe(solution, stored, seed=31)
    assert lab06.exercise_3.decide(seen, 31).passed, lab06.exercise_3.decide(seen, 31)
    assert lab06.exercise_3.decide(seen, 32).status == "wrong"  # the queries of another seed
    first = seen["answers"][0]
    for forged in (
        {**seen, "answers": [{"type": "DataFrame", "columns": list(lab06.FIND_COLUMNS), "rows": []}] * 2},
        {**seen, "answers": []},
        {**seen, "scores": [[1.0] * len(seen["paths"])] * len(seen["names"])},
        {**seen, "answers": [{**a, "rows": [{**r, "score": 0.5} for r in a["rows"]]} for a in seen["answers"]]},
        {**seen, "answers": [first, first]} if len(seen["answers"]) > 1 else {**seen, "answers": [{}]},
        {},
    ):
        assert not lab06.exercise_3.decide(forged, 31).passed, forged


def test_stretch_the_solutions_observation_passes_the_judge_and_forged_ones_do_not(mixed, ray_session):
    stored, index = mixed
    seen = lab06.stretch.observe(_knn(stored, index), stored, seed=41)
    assert seen["probe"] is not None  # this store tells leaving out by path from leaving out by score
    assert lab06.stretch.decide(seen, 41).passed, lab06.stretch.decide(seen, 41)
    rows = lab06._copy_rows(
        lab06._tallies(seen, seen["classes"])["itself"], lab06._tallies(seen, seen["classes"])["weighted"]
    )
    other = next((s for s in range(42, 80) if lab06._copy_row(rows, s) != seen["probe"]["y"]), None)
    if other is not None:
        assert not lab06.stretch.decide(seen, other).passed  # the copy another seed asks for
    for forged in (
        {**seen, "knn_path": [], "knn_predicted": []},
        {**seen, "knn_predicted": list(seen["classes"])},  # the true classes copied
        {**seen, "probe": None},
        {**seen, "near": [], "near_scores": []},
        {**seen, "stages": []},
        {},
    ):
        assert not lab06.stretch.decide(forged, 41).passed, forged
