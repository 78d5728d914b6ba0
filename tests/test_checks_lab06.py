"""Lab 06 checks: pass any correct answer, reject placeholders and the likely mistakes.

Exercise 1 gets EmbeddingGenerator classes and calls them in this process on sample images.
Exercise 2 gets parquet folders written here (every image embedded once by the check's own
CLIP, then spoiled one way per test) and lazy pipelines that are never run: the solution
notebook runs the real one. Exercise 3 gets search functions over a correct folder.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.cloudpickle
import torch
from PIL import Image
from transformers import CLIPModel, CLIPProcessor

import raycourse
from raycourse.checks import lab06

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module

MODEL_ID = raycourse.model_id("clip")


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and str(verdict.hint) not in ("", "None")


# ----------------------------------------------------------------------------- Exercise 1

class Solution:
    """The solution's EmbeddingGenerator."""

    def __init__(self, model_id):
        self.model = CLIPModel.from_pretrained(model_id).eval()
        self.processor = CLIPProcessor.from_pretrained(model_id)

    def __call__(self, batch):
        images = [Image.fromarray(image) for image in batch["image"]]
        inputs = self.processor(images=images, return_tensors="pt")
        with torch.inference_mode():
            features = self.model.get_image_features(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).numpy()
        return batch


class NumpyImages(Solution):
    """Hands the processor NumPy arrays, returns a new dict, normalises with NumPy."""

    def __call__(self, batch):
        inputs = self.processor(images=[np.asarray(i) for i in batch["image"]], return_tensors="pt")
        with torch.no_grad():
            features = self.model.get_image_features(**inputs).pooler_output.numpy()
        return {"path": batch["path"], "class": batch["class"],
                "embedding": features / np.linalg.norm(features, axis=1, keepdims=True)}


class PandasBatches(Solution):
    """Written for batch_format="pandas"."""

    def __call__(self, frame):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("this one wants pandas batches")
        inputs = self.processor(images=[Image.fromarray(i) for i in frame["image"]], return_tensors="pt")
        with torch.inference_mode():
            features = torch.nn.functional.normalize(self.model.get_image_features(**inputs).pooler_output, dim=-1)
        frame["embedding"] = list(features.numpy())
        return frame


class LoadsPerBatch:
    def __init__(self, model_id):
        self.model_id = model_id
        self.processor = CLIPProcessor.from_pretrained(model_id)
        CLIPModel.from_pretrained(model_id)

    def __call__(self, batch):
        return Solution(self.model_id)(batch)


class PerImage(Solution):
    def __call__(self, batch):
        rows = []
        for image in batch["image"]:
            inputs = self.processor(images=[Image.fromarray(image)], return_tensors="pt")
            with torch.inference_mode():
                rows.append(torch.nn.functional.normalize(self.model.get_image_features(**inputs).pooler_output, dim=-1)[0])
        batch["embedding"] = torch.stack(rows).numpy()
        return batch


class NotNormalised(Solution):
    def __call__(self, batch):
        inputs = self.processor(images=[Image.fromarray(i) for i in batch["image"]], return_tensors="pt")
        with torch.inference_mode():
            batch["embedding"] = self.model.get_image_features(**inputs).pooler_output.numpy()
        return batch


class FixedModel(Solution):
    def __init__(self, model_id):
        super().__init__(MODEL_ID)


class Shuffled(Solution):
    def __call__(self, batch):
        batch = super().__call__(batch)
        batch["embedding"] = batch["embedding"][::-1].copy()
        return batch


class NoPath(Solution):
    def __call__(self, batch):
        return {"embedding": super().__call__(batch)["embedding"]}


class HiddenStates(Solution):
    """The vision tower's pooled output before the projection: the wrong vectors (and width)."""

    def __call__(self, batch):
        inputs = self.processor(images=[Image.fromarray(i) for i in batch["image"]], return_tensors="pt")
        with torch.inference_mode():
            features = self.model.vision_model(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).numpy()
        return batch


class ProcessorPerBatch(Solution):
    """Loads the model once but its processor in every call."""

    def __call__(self, batch):
        self.processor = CLIPProcessor.from_pretrained(self.model.name_or_path)
        return super().__call__(batch)


class WithGradients(Solution):
    """No torch.inference_mode(): every forward pass records an autograd graph."""

    def __call__(self, batch):
        inputs = self.processor(images=[Image.fromarray(i) for i in batch["image"]], return_tensors="pt")
        features = self.model.get_image_features(**inputs).pooler_output
        batch["embedding"] = torch.nn.functional.normalize(features, dim=-1).detach().numpy()
        return batch


class DropsClass(Solution):
    def __call__(self, batch):
        out = super().__call__(batch)
        return {"path": out["path"], "embedding": out["embedding"]}


class NoModelId:
    def __init__(self):
        self.loaded = False  # a body, but no model_id argument

    def __call__(self, batch):
        return batch


@pytest.mark.parametrize("cls", [Solution, NumpyImages, PandasBatches])
def test_ex1_accepts_correct_classes(cls):
    verdict = lab06.exercise_1.result(cls)
    assert verdict.passed, verdict


def test_ex1_waits_for_the_placeholder():
    assert lab06.exercise_1.result(...).status == "not solved"


@pytest.mark.parametrize("cls, message", [
    (LoadsPerBatch, "loaded a model"),
    (PerImage, "one image at a time"),
    (NotNormalised, "not of length 1"),
    (FixedModel, "loaded a model anyway"),
    (Shuffled, "not CLIP's image embeddings"),
    (NoPath, "lost its `path` column"),
    (HiddenStates, "numbers each"),
    (NoModelId, "model_id=...)` failed"),
    (ProcessorPerBatch, "loaded a processor 2 times"),
    (WithGradients, "gradients recorded"),
    (DropsClass, "lost its `class` column"),
])
def test_ex1_rejects_mistakes(cls, message):
    _wrong(lab06.exercise_1.result(cls), message)


def test_ex1_rejects_a_function():
    _wrong(lab06.exercise_1.result(lambda batch: batch), "not a class")


# ----------------------------------------------------------------------------- Exercise 2

@pytest.fixture(scope="module")
def image_root():
    return raycourse.data_path("embedding_images")


@pytest.fixture(scope="module")
def correct(image_root):
    """Every image of the folder with its class and its unit-length CLIP embedding (the check's own)."""
    paths = lab06._image_paths(image_root)
    images = [Image.open(p).convert("RGB") for p in paths]
    return pd.DataFrame({"path": paths, "class": [Path(p).parent.name for p in paths],
                         "embedding": list(lab06._image_embeddings(images).astype(np.float32))})


def _write(frame, folder, files=3):
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(frame)), files)):
        chunk = frame.iloc[part]
        columns = {c: chunk[c].tolist() for c in chunk.columns if c not in ("embedding", "image")}
        columns["embedding"] = [list(map(float, v)) for v in chunk["embedding"]]
        if "image" in chunk.columns:
            columns["image"] = [b"pixels"] * len(chunk)
        pq.write_table(pa.table(columns), folder / f"part-{i}.parquet")
    return folder


def _stage(ray_session, cls=Solution, **overrides):
    options = dict(fn_constructor_kwargs={"model_id": MODEL_ID}, batch_size=32, num_gpus=1,
                   compute=ray.data.ActorPoolStrategy(size=1))
    options.update(overrides)
    return ray.data.from_items([{"x": 1}]).map_batches(cls, **options).drop_columns(["x"])


def test_ex2_accepts_the_stored_embeddings(ray_session, correct, image_root, tmp_path):
    verdict = lab06.exercise_2.result(_stage(ray_session), _write(correct, tmp_path / "e"), image_root)
    assert verdict.passed, verdict


def test_ex2_accepts_constructor_args_by_position(ray_session, correct, image_root, tmp_path):
    stage = _stage(ray_session, fn_constructor_kwargs=None, fn_constructor_args=(MODEL_ID,))
    assert lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root).passed


def test_ex2_waits_for_the_placeholder_and_points_at_the_folder_when_the_files_went_elsewhere(
        ray_session, correct, image_root, tmp_path):
    assert lab06.exercise_2.result(..., tmp_path / "e", image_root).status == "not solved"
    _wrong(lab06.exercise_2.result(_stage(ray_session), tmp_path / "e", image_root), "holds no parquet files.")
    elsewhere = _write(correct, tmp_path / "embedings")  # a typo in the folder's name
    verdict = lab06.exercise_2.result(_stage(ray_session), tmp_path / "e", image_root)
    _wrong(verdict, f"there are some in {elsewhere}")
    assert "write_parquet(str(embeddings_dir))" in verdict.hint


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
        frame["path"] = ["/somewhere/else/" + Path(p).name for p in frame["path"]]
    return frame


@pytest.mark.parametrize("how, message", [
    ("image", "still holds the images"),
    ("no path", "no path column"),
    ("twice", "more than once"),
    ("limit", "100 embeddings are stored for the 160 images"),
    ("not normalised", "not of length 1"),
    ("rows shuffled", "not CLIP's image embeddings"),
    ("elsewhere", "not images of"),
])
def test_ex2_rejects_what_is_wrong_on_disk(ray_session, correct, image_root, tmp_path, how, message):
    folder = _write(_spoil(correct, how), tmp_path / "e")
    _wrong(lab06.exercise_2.result(_stage(ray_session), folder, image_root), message)


def _embed_function(batch):
    return batch


@pytest.mark.parametrize("overrides, message", [
    ({"fn_constructor_kwargs": {"model_id": "openai/some-other-clip"}}, "not given the model id"),
    ({"num_gpus": None}, "asks for no GPU"),
])
def test_ex2_rejects_a_stage_without_its_settings(ray_session, correct, image_root, tmp_path, overrides, message):
    options = {k: v for k, v in overrides.items() if v is not None}
    stage = _stage(ray_session, **options) if "num_gpus" not in overrides else ray.data.from_items([{"x": 1}]).map_batches(
        Solution, fn_constructor_kwargs={"model_id": MODEL_ID}, batch_size=32, compute=ray.data.ActorPoolStrategy(size=2))
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
    half = _stage(ray_session, num_gpus=0.5, compute=ray.data.ActorPoolStrategy(size=2 * gpus))  # two per GPU fit
    assert lab06.exercise_2.result(half, _write(correct, tmp_path / "h"), image_root).passed


def test_ex2_rejects_a_pipeline_without_a_class_stage(ray_session, correct, image_root, tmp_path):
    stage = ray.data.from_items([{"x": 1}]).map_batches(_embed_function)
    _wrong(lab06.exercise_2.result(stage, _write(correct, tmp_path / "e"), image_root), "no stage that runs a callable class")


def test_ex2_rejects_something_else_than_a_dataset(correct, image_root, tmp_path):
    _wrong(lab06.exercise_2.result(correct, _write(correct, tmp_path / "e"), image_root), "not a Ray Dataset")


# ----------------------------------------------------------------------------- Exercise 3

@pytest.fixture(scope="module")
def stored(correct, tmp_path_factory):
    return _write(correct, tmp_path_factory.mktemp("stored") / "embeddings")


@pytest.fixture(scope="module")
def index(stored):
    table = pd.concat([pq.read_table(f).to_pandas() for f in sorted(stored.glob("*.parquet"))], ignore_index=True)
    return table, np.stack(table["embedding"]).astype(np.float64)


def _searches(index):
    table, vectors = index
    paths = table["path"].to_numpy()

    def scores_of(query):
        return vectors @ lab06._text_embedding(query)

    def solution(query, k=5):
        scores = scores_of(query)
        best = np.argsort(-scores)[:k]
        return pd.DataFrame({"path": paths[best], "score": scores[best]})

    def path_list(query, k=5):
        return list(solution(query, k)["path"])

    def pairs(query, k=5):
        hits = solution(query, k)
        return list(zip(hits["path"], hits["score"]))

    def torch_topk(query, k=5):
        values, rows = torch.topk(torch.from_numpy(scores_of(query)), k)
        return pd.DataFrame({"path": paths[rows.numpy()], "score": values.numpy()})

    def worst_first(query, k=5):
        return solution(query, k).iloc[::-1]

    def least_similar(query, k=5):
        scores = scores_of(query)
        worst = np.argsort(scores)[:k]
        return pd.DataFrame({"path": paths[worst], "score": scores[worst]})

    def ignores_k(query, k=5):
        return solution(query, 5)

    def fixed_query(query, k=5):
        return solution("a photo of stripes", k)

    def unnormalised_scores(query, k=5):
        hits = solution(query, k)
        hits["score"] = hits["score"] * 7.5
        return hits

    def basenames(query, k=5):
        return [Path(p).name for p in path_list(query, k)]

    def renamed_score(query, k=5):
        return solution(query, k).rename(columns={"score": "similarity"})

    return {f.__name__: f for f in (solution, path_list, pairs, torch_topk, worst_first, least_similar, ignores_k,
                                    fixed_query, unnormalised_scores, basenames, renamed_score)}


@pytest.mark.parametrize("name", ["solution", "path_list", "pairs", "torch_topk"])
def test_ex3_accepts_any_correct_search(index, stored, name):
    verdict = lab06.exercise_3.result(_searches(index)[name], stored)
    assert verdict.passed, verdict


@pytest.mark.parametrize("name, message", [
    ("worst_first", "reverse order"),
    ("least_similar", "least similar"),
    ("ignores_k", "returned 5 hits"),
    ("fixed_query", "does not return the"),
    ("unnormalised_scores", "not the cosine similarities"),
    ("basenames", "not a stored path"),
    ("renamed_score", "without a `score` column"),
])
def test_ex3_rejects_mistakes(index, stored, name, message):
    _wrong(lab06.exercise_3.result(_searches(index)[name], stored), message)


def test_ex3_waits_for_the_placeholder_and_the_embeddings(index, tmp_path):
    assert lab06.exercise_3.result(..., tmp_path).status == "not solved"
    assert lab06.exercise_3.result(_searches(index)["solution"], tmp_path / "nothing").status == "not solved"


# Stretch: every image's nearest neighbour ------------------------------------------------------------


def _neighbours(index, *, keep_self=False, worst=False):
    """The right answer as a DataFrame (or a mistake: each image its own neighbour, the least similar one)."""
    table, vectors = index
    paths = table["path"].to_numpy()
    scores = vectors @ vectors.T
    if not keep_self:
        np.fill_diagonal(scores, np.inf if worst else -np.inf)
    best = scores.argmin(axis=1) if worst else scores.argmax(axis=1)
    return pd.DataFrame({"path": paths, "neighbor": paths[best], "score": scores[np.arange(len(paths)), best]})


def test_stretch_waits_for_the_placeholder_and_the_embeddings(tmp_path):
    assert lab06.stretch.result(..., tmp_path).status == "not solved"
    assert lab06.stretch.result(pd.DataFrame(), tmp_path / "none").status == "not solved"


def test_stretch_accepts_a_dataframe_and_a_ray_map_batches(index, stored, ray_session):
    assert lab06.stretch.result(_neighbours(index), stored).passed
    table, vectors = index
    paths = table["path"].to_numpy()

    def nearest_other(batch):
        scores = np.stack(batch["embedding"]) @ vectors.T
        scores[np.equal.outer(batch["path"], paths)] = -np.inf
        return {"path": batch["path"], "neighbor": paths[scores.argmax(axis=1)], "score": scores.max(axis=1)}

    assert lab06.stretch.result(ray.data.read_parquet(str(stored)).map_batches(nearest_other), stored).passed


def test_stretch_accepts_a_list_of_rows_from_another_method(index, stored):
    """The second-best of each row's sort (the best is the image itself), as the rows `take_all` gives."""
    table, vectors = index
    paths = table["path"].to_numpy()
    scores = vectors @ vectors.T
    second = np.argsort(-scores, axis=1)[:, 1]
    rows = [{"path": p, "neighbor": paths[j], "score": float(scores[i, j])}
            for i, (p, j) in enumerate(zip(paths, second))]
    verdict = lab06.stretch.result(rows, stored)
    assert verdict.passed, verdict


def test_stretch_rejects_scores_that_are_not_the_cosine_and_other_types(index, stored):
    answer = _neighbours(index)
    answer["score"] = 1 - answer["score"]  # a distance, not the similarity
    verdict = lab06.stretch.result(answer, stored)
    assert verdict.status == "wrong" and "their cosine similarity is" in verdict.message, verdict
    verdict = lab06.stretch.result(list(_neighbours(index)["neighbor"]), stored)
    assert verdict.status == "wrong" and "not a Ray Dataset" in verdict.message, verdict


def test_stretch_rejects_itself_the_least_similar_and_missing_rows(index, stored):
    verdict = lab06.stretch.result(_neighbours(index, keep_self=True), stored)
    assert verdict.status == "wrong" and "its own nearest neighbour" in verdict.message
    verdict = lab06.stretch.result(_neighbours(index, worst=True), stored)
    assert verdict.status == "wrong" and "is not the image most similar" in verdict.message
    verdict = lab06.stretch.result(_neighbours(index).head(3), stored)
    assert verdict.status == "wrong" and "stored images" in verdict.message
