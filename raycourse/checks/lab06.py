"""Checks for lab 06 (CLIP embeddings): the embedding stage, what it stored, and a search over it.

Exercise 1 calls the learner's ``EmbeddingGenerator`` in this process on a few sample
images, the way Ray would (a dict of NumPy arrays), while it counts the model loads
(``from_pretrained``) and CLIP's image forward passes: one load, in ``__init__``, and one
pass per batch, not one per image. The embeddings must be CLIP's own for those images (the
check computes them itself and compares directions), as wide as the model's
``projection_dim`` and of length 1. A model id that does not exist must fail, so the class
loads the model it is given.

Exercise 2 reads what is on disk: parquet files with a ``path`` and an ``embedding``
column and no ``image``, one row for every image file of the folder (none missing, none
twice), every embedding of length 1 and CLIP's embedding of the image at its path (checked
on a sample). Then it reads the plan of ``embeddings``: a stage of a callable class given
the model id as a constructor argument, with GPUs and an actor pool of any size from one actor to
what the cluster's GPUs hold (one per GPU at ``num_gpus=1``); a larger pool is wrong, since its extra
actors would wait for a GPU forever without an error.

Exercise 3 calls the learner's ``search`` with queries the lab never uses and several
``k`` and compares the hits with a top-k search the check runs itself over the stored
embeddings: the same images, best first (ties in either order), and, where the learner
returns scores, the cosine similarities. A DataFrame with a ``path`` column, a list of
paths or a list of ``(path, score)`` pairs all pass.

The stretch (optional) reads ``nearest``, a Dataset (or a DataFrame, or a list of rows from
``take_all``) with ``path``, ``neighbor`` and ``score``, and compares it with the check's own
similarity matrix of the stored embeddings: one row for every stored image, each once; its
neighbour another stored image (never itself) with the highest cosine similarity (either one of
a tie); the score that cosine.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from ._core import NotSolved, Wrong, call_as_ray, class_stages, counting, exercise, progress_of, require, written

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"}  # what read_images reads
PROBE_IMAGES = 6  # sample images in the probe batch of Exercise 1
SAMPLE_ROWS = 6  # stored rows whose embedding Exercise 2 recomputes
SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same image
QUERIES = ("a bright red bicycle leaning on a wall", "two cats asleep on a sofa", "a zebra crossing at night")
KS = (3, 7)


def _model_id() -> str:
    from ..models import model_id

    return model_id("clip")


_CLIP: dict = {}  # model id -> (model, processor): the check's own CLIP, loaded once per process


def _clip():
    """The check's own CLIP (model and processor) for the active profile."""
    from transformers import CLIPModel, CLIPProcessor

    model_id = _model_id()
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    return _CLIP[model_id]


def _width() -> int:
    return int(_clip()[0].config.projection_dim)


def _image_embeddings(images) -> "np.ndarray":  # noqa: F821
    import numpy as np
    import torch
    from PIL import Image

    model, processor = _clip()
    pil = [image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image)) for image in images]
    with torch.inference_mode():
        features = model.get_image_features(**processor(images=pil, return_tensors="pt")).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def _text_embedding(text: str) -> "np.ndarray":  # noqa: F821
    import torch

    model, processor = _clip()
    with torch.inference_mode():
        features = model.get_text_features(**processor(text=[text], return_tensors="pt", padding=True)).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()[0]


def _filesystem(root: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(str(root))


def _open_image(filesystem, path: str):
    from PIL import Image

    with filesystem.open_input_file(path) as file:
        return Image.open(file).convert("RGB")


def _image_paths(root: str) -> list[str]:
    """Every image file under ``root`` (local or on object storage), as ``read_images`` names them."""
    import pyarrow.fs

    filesystem, base = _filesystem(root)
    infos = filesystem.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    return sorted(i.path for i in infos if i.type == pyarrow.fs.FileType.File and Path(i.path).suffix.lower() in IMAGE_SUFFIXES)


def _same_path(a: str, b: str) -> bool:
    return str(a).rstrip("/").endswith(str(b).lstrip("/")) or str(b).rstrip("/").endswith(str(a).lstrip("/"))


# Exercise 1 -------------------------------------------------------------------------------------

def _probe_batch() -> dict:
    """A few of the course's sample images, as Ray hands them to a stage: a dict of NumPy arrays."""
    import numpy as np

    from ..data import data_root

    paths = []
    for folder in sorted(p for p in (data_root() / "images" / "train").iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(f) for f in files[: PROBE_IMAGES // 2]]
    filesystem, _ = _filesystem(paths[0])
    images = [np.array(_open_image(filesystem, p)) for p in paths]  # writable, (H, W, 3), as Ray hands them
    column = np.empty(len(images), dtype=object)
    column[:] = images
    if len({i.shape for i in images}) == 1:
        column = np.stack(images)
    return {"image": column, "path": np.array(paths), "class": np.array([Path(p).parent.name for p in paths])}


def _columns(out) -> list:
    return list(out.columns) if hasattr(out, "columns") else list(out.keys()) if hasattr(out, "keys") else []


def _embedding_rows(out, n: int) -> tuple["np.ndarray", list]:  # noqa: F821
    """The learner's output batch as (embeddings (n, width), paths)."""
    import numpy as np
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        out = {c: out[c].to_numpy() for c in out.columns}
    if not hasattr(out, "keys"):
        raise Wrong(f"`EmbeddingGenerator` returned a {type(out).__name__}, not a batch.",
                    "Return the batch (a dict of columns) with an `embedding` column added.")
    if "embedding" not in out:
        raise Wrong(f"the batch `EmbeddingGenerator` returned has no `embedding` column (its columns: {sorted(out)}).",
                    "Put each image's embedding in a column called `embedding`: batch[\"embedding\"] = ...")
    if "path" not in out:
        raise Wrong("the batch `EmbeddingGenerator` returned lost its `path` column.",
                    "Add the embedding to the batch and return the whole batch: the path says which image it is.")
    vectors = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in list(out["embedding"])])
    if len(vectors) != n:
        raise Wrong(f"`embedding` has {len(vectors)} rows for a batch of {n} images.",
                    "Embed the whole batch: one embedding per image.")
    return vectors, [str(p) for p in out["path"]]


def _check_vectors(vectors, reference, what: str) -> None:
    import numpy as np

    width = reference.shape[1]
    if vectors.shape[1] != width:
        raise Wrong(f"{what} have {vectors.shape[1]} numbers each; this CLIP's embeddings have {width} "
                    "(its config's projection_dim).",
                    "Use what model.get_image_features(**inputs).pooler_output returns, and do not reshape or "
                    "hard-code a width.")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1, atol=1e-3):
        raise Wrong(f"{what} are not of length 1 (lengths from {norms.min():.3g} to {norms.max():.3g}).",
                    "Normalise each embedding: torch.nn.functional.normalize(features, dim=-1), so that a dot "
                    "product is the cosine similarity.")
    cosines = np.sum(vectors * reference, axis=1)
    if cosines.min() < SAME_DIRECTION:
        raise Wrong(f"{what} are not CLIP's image embeddings of their images (for one image the cosine with "
                    f"CLIP's own is {cosines.min():.2f}).",
                    "Run the images through processor(images=..., return_tensors=\"pt\") and "
                    "model.get_image_features(**inputs).pooler_output, and keep the rows in the batch's order.")


@exercise("Exercise 1")
def exercise_1(EmbeddingGenerator):
    """``EmbeddingGenerator(model_id)``: CLIP loaded once, one forward pass per batch, unit-length embeddings."""
    require("EmbeddingGenerator", EmbeddingGenerator, "your EmbeddingGenerator class")
    if not inspect.isclass(EmbeddingGenerator):
        raise Wrong(f"`EmbeddingGenerator` is a {type(EmbeddingGenerator).__name__}, not a class.",
                    "Write `class EmbeddingGenerator:` with __init__(self, model_id) and __call__(self, batch).")
    batch = _probe_batch()
    n = len(batch["path"])
    reference = _image_embeddings(list(batch["image"]))
    from transformers import CLIPModel

    with counting(CLIPModel, "get_image_features") as counts:
        try:
            generator = EmbeddingGenerator(model_id=_model_id())
        except TypeError as exc:
            if "argument" in str(exc):
                raise Wrong(f"`EmbeddingGenerator(model_id=...)` failed: {exc}",
                            "fn_constructor_kwargs={\"model_id\": ...} passes model_id to __init__: give __init__ "
                            "a parameter with that name.") from None
            raise
        loads_in_init, processors_in_init = counts["load"], counts["processor"]
        if loads_in_init == 0:
            raise Wrong("`EmbeddingGenerator.__init__` loads no model.",
                        "Load CLIPModel.from_pretrained(model_id) (and the CLIPProcessor) in __init__: once per actor.")
        out = call_as_ray(generator, batch)
        second = call_as_ray(generator, batch)
    if counts["load"] > loads_in_init or counts["processor"] > processors_in_init:
        what = "a model" if counts["load"] > loads_in_init else "a processor"
        extra = max(counts["load"] - loads_in_init, counts["processor"] - processors_in_init)
        raise Wrong(f"`EmbeddingGenerator` loaded {what} {extra} times while embedding 2 batches: loaded per batch.",
                    "Load the model and the processor once, in __init__, and keep them on self; __call__ only "
                    "uses them.")
    if counts["with_grad"]:
        raise Wrong("CLIP ran with gradients recorded: every forward pass built an autograd graph that inference "
                    "never uses (memory and time on a GPU).",
                    "Run the model under `with torch.inference_mode():`, as the lab asks.")
    if counts["forward"] >= 2 * n:
        raise Wrong(f"CLIP ran {counts['forward'] // 2} times for a batch of {n} images: one image at a time.",
                    "Embed the whole batch at once: processor(images=[...every image...], return_tensors=\"pt\"), "
                    "then one get_image_features call.")
    vectors, paths = _embedding_rows(out, n)
    lost = [c for c in batch if c != "image" and c not in _columns(out)]  # the images may go: Ex2 stores none
    if lost:
        raise Wrong(f"the batch `EmbeddingGenerator` returned lost its {', '.join(f'`{c}`' for c in lost)} "
                    "column(s); the next exercise stores them beside each embedding.",
                    "Add the `embedding` column to the batch you were given and return that batch, every column kept.")
    if paths != [str(p) for p in batch["path"]]:
        raise Wrong("the returned rows are not in the batch's order (or their paths changed).",
                    "Add the embeddings as a column of the batch you were given; keep its rows as they are.")
    _check_vectors(vectors, reference, "the embeddings")
    _embedding_rows(second, n)
    try:
        EmbeddingGenerator(model_id=str(Path(_model_id()) / "no-such-model"))
    except Exception:
        pass
    else:
        raise Wrong("`EmbeddingGenerator(model_id=<a model that does not exist>)` loaded a model anyway: it does "
                    "not load the model it is given.",
                    "Load CLIPModel.from_pretrained(model_id) with the model_id argument, not a fixed name.")
    return (f"{n} sample images, one load in __init__ and one CLIP pass per batch; {vectors.shape[1]} numbers per "
            "embedding, each of length 1.")


# Exercise 2 -------------------------------------------------------------------------------------

def _stored(embeddings_dir) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor type, so the embedding column reads back)

    folder = Path(embeddings_dir)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if not files:
        raise NotSolved(f"there are no parquet files in {folder} yet; write the embeddings there.")
    return pd.concat([pq.read_table(str(f)).to_pandas() for f in files], ignore_index=True)


def _parquet_elsewhere(embeddings_dir) -> str | None:
    """A folder near ``embeddings_dir`` (under its parent) that holds parquet files, if any: where they went."""
    parent = Path(embeddings_dir).parent
    if not parent.is_dir():
        return None
    found = sorted({f.parent for f in parent.rglob("*.parquet")})
    return str(found[0]) if found else None


def _stage(embeddings):
    stages = class_stages(embeddings)
    if not stages:
        raise Wrong("`embeddings` has no stage that runs a callable class.",
                    "Pass the class itself to map_batches (map_batches(EmbeddingGenerator, ...)): Ray builds one "
                    "per actor, so CLIP is loaded once per actor.")
    ours = [op for op in stages if op.fn.__name__ == "EmbeddingGenerator"]
    return (ours or stages)[-1]


SIZE_IT = "GPUS = int(ray.cluster_resources().get(\"GPU\", 0))"


def _check_stage(op) -> None:
    from ray.data import ActorPoolStrategy

    args = list(op.fn_constructor_args or []) + list((op.fn_constructor_kwargs or {}).values())
    if _model_id() not in [str(a) for a in args]:
        raise Wrong("the EmbeddingGenerator stage is not given the model id.",
                    "fn_constructor_kwargs={\"model_id\": MODEL_ID}: Ray passes it to __init__ in every actor.")
    gpus = (op.ray_remote_args or {}).get("num_gpus") or 0
    if gpus <= 0:
        raise Wrong("the embedding stage asks for no GPU.", "Give the stage num_gpus=1: one CLIP per GPU.")
    if not isinstance(op.compute, ActorPoolStrategy):
        raise Wrong(f"the embedding stage runs with {op.compute}, not an actor pool.",
                    f"compute=ray.data.ActorPoolStrategy(size=GPUS), with {SIZE_IT}.")
    import ray

    cluster = float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0
    room = int(cluster) * int(1 / gpus + 1e-9) if gpus <= 1 else int(cluster // math.ceil(gpus))
    actors = int(op.compute.min_size or 1)
    if cluster > 0 and actors > room:
        raise Wrong(f"the embedding stage asks for a pool of {actors} actors with {gpus:g} GPU each, more than the "
                    f"cluster's {cluster:g} GPU(s) can hold: the extra actors would wait for a GPU forever, with no "
                    "error.",
                    f"One actor per GPU: {SIZE_IT}, then compute=ray.data.ActorPoolStrategy(size=GPUS).")


@exercise("Exercise 2")
def exercise_2(embeddings, embeddings_dir, image_root):
    """What is on disk in ``embeddings_dir``: every image's path and unit-length CLIP embedding, no pixels."""
    import numpy as np

    require("embeddings", embeddings, "the Dataset of embeddings (without the image column)")
    import ray.data

    if not isinstance(embeddings, ray.data.Dataset):
        raise Wrong(f"`embeddings` is a {type(embeddings).__name__}, not a Ray Dataset.",
                    "Build it with labelled.map_batches(EmbeddingGenerator, ...).drop_columns([\"image\"]).")
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        elsewhere = _parquet_elsewhere(embeddings_dir)
        raise Wrong(f"`embeddings` is built, but {embeddings_dir} holds no parquet files"
                    + (f"; there are some in {elsewhere}" if elsewhere else "") + ".",
                    "Write the embeddings into that folder: embeddings.write_parquet(str(embeddings_dir)).") from None
    if "image" in table.columns:
        raise Wrong("the stored table still holds the images (an `image` column).",
                    "Drop the pixels before writing: .drop_columns([\"image\"]). The path says where each image is.")
    missing = {"path", "embedding"} - set(table.columns)
    if missing:
        raise Wrong(f"the stored table has no {', '.join(sorted(missing))} column (its columns: {list(table.columns)}).",
                    "Keep the path of every image and its embedding in the table you write.")
    files = _image_paths(image_root)
    paths = [str(p) for p in table["path"]]
    if len(set(paths)) != len(paths):
        raise Wrong(f"{len(paths) - len(set(paths))} images are stored more than once.",
                    "Write each image once: run the pipeline once, into an empty folder (out_dir is emptied by "
                    "the setup cell).")
    unknown = [p for p in paths if not any(_same_path(p, f) for f in files)]
    if unknown:
        raise Wrong(f"{len(unknown)} stored paths are not images of {image_root}, for example {unknown[0]}.",
                    "Embed the images of `labelled`, read from image_root with include_paths=True.")
    if len(paths) != len(files):
        raise Wrong(f"{len(paths)} embeddings are stored for the {len(files)} images of the folder.",
                    "Embed every image: no limit, no filter.")
    vectors = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in table["embedding"]])
    rows = np.random.default_rng(0).choice(len(paths), size=min(SAMPLE_ROWS, len(paths)), replace=False)
    filesystem, _ = _filesystem(image_root)
    reference = _image_embeddings([_open_image(filesystem, paths[i]) for i in rows])
    _check_vectors(vectors[rows], reference, "the stored embeddings")
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1, atol=1e-3):
        raise Wrong("some stored embeddings are not of length 1.", "Normalise every embedding in EmbeddingGenerator.")
    op = _stage(embeddings)
    _check_stage(op)
    return (f"{len(paths)} images, {vectors.shape[1]} numbers each, stored without their pixels in "
            f"{len(list(Path(embeddings_dir).glob('*.parquet')))} parquet files.")


# Exercise 3 -------------------------------------------------------------------------------------

def _hits(out, k: int) -> tuple[list[str], list | None]:
    """The learner's search result as (paths best first, scores or None)."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        if "path" not in out.columns:
            raise Wrong(f"`search` returned a DataFrame without a `path` column (its columns: {list(out.columns)}).",
                        "Return the hits with a `path` column (and a `score` column), best first.")
        if "score" not in out.columns:
            raise Wrong(f"`search` returned a DataFrame without a `score` column (its columns: {list(out.columns)}).",
                        "Name the column of cosine similarities `score`, as the lab asks: the cell after the check "
                        "reads hits[\"score\"].")
        return [str(p) for p in out["path"]], [float(s) for s in out["score"]]
    if isinstance(out, (list, tuple)) or hasattr(out, "__array__"):
        items = list(out)
        if all(isinstance(i, str) for i in items):
            return items, None
        if all(isinstance(i, (tuple, list)) and len(i) == 2 for i in items):
            return [str(i[0]) for i in items], [float(i[1]) for i in items]
        if all(isinstance(i, dict) and "path" in i for i in items):
            return [str(i["path"]) for i in items], [float(i["score"]) for i in items] if all("score" in i for i in items) else None
    raise Wrong(f"`search` returned a {type(out).__name__}.",
                "Return a DataFrame with `path` and `score` columns, best first (or a list of paths).")


@exercise("Exercise 3")
def exercise_3(search, embeddings_dir):
    """``search(query, k)``: the k stored images closest to the query, best first, by cosine similarity."""
    import numpy as np

    require("search", search, "your search(query, k) function")
    if not callable(search):
        raise Wrong(f"`search` is a {type(search).__name__}, not a function.", "def search(query, k=5): ...")
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        raise NotSolved("there are no stored embeddings to search yet: solve Exercise 2 first.") from None
    paths = [str(p) for p in table["path"]]
    vectors = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in table["embedding"]])
    score_of = {}
    answers = {}
    for query in QUERIES:
        scores = vectors @ _text_embedding(query)
        score_of[query] = dict(zip(paths, scores))
        order = np.argsort(-scores)
        for k in KS:
            got, got_scores = _hits(search(query, k=k), k)
            answers[(query, k)] = got
            if len(got) != k:
                raise Wrong(f"search({query!r}, k={k}) returned {len(got)} hits.", "Return exactly k hits: the k best.")
            unknown = [p for p in got if p not in score_of[query]]
            if unknown:
                raise Wrong(f"search returned {unknown[0]!r}, which is not a stored path.",
                            "Return the `path` of each hit as stored in the embeddings table.")
            best = scores[order[:k]]
            mine = np.array([score_of[query][p] for p in got])
            if np.allclose(mine, best[::-1], atol=1e-5) and not np.allclose(mine, best, atol=1e-5):
                raise Wrong(f"search({query!r}, k={k}) returns the best hits in reverse order: worst first.",
                            "Sort by score from the highest down: np.argsort(-scores)[:k].")
            if not np.allclose(mine, best, atol=1e-5):
                worst = scores[order[-k:]][::-1]
                if np.allclose(np.sort(mine), np.sort(worst), atol=1e-5):
                    raise Wrong(f"search({query!r}, k={k}) returns the {k} least similar images.",
                                "The most similar images have the highest cosine similarity: take the top of "
                                "np.argsort(-scores).")
                raise Wrong(f"search({query!r}, k={k}) does not return the {k} stored images closest to the query, "
                            "best first.",
                            "Embed the query with embed_texts([query])[0], score every stored embedding with a dot "
                            "product (vectors @ query) and keep the k highest, best first.")
            if got_scores is not None and not np.allclose(got_scores, mine, atol=1e-3):
                raise Wrong(f"the scores search returns are not the cosine similarities (for example {got_scores[0]:.4f} "
                            f"where the cosine is {mine[0]:.4f}).",
                            "Normalise the query embedding too; then the dot product is the cosine similarity.")
    first, second = (answers[(q, KS[-1])] for q in QUERIES[:2])
    return (f"{len(QUERIES)} new queries, k = {' and '.join(map(str, KS))}: the same hits as a reference search "
            f"over the {len(paths)} stored embeddings" + ("." if first != second else " (these queries share hits)."))


# Stretch -----------------------------------------------------------------------------------------------

@exercise("Stretch · every image's nearest neighbour")
def stretch(nearest, embeddings_dir):
    """``nearest``: for every stored image, the most similar *other* stored image and their cosine similarity."""
    import numpy as np
    import pandas as pd
    import ray.data

    require("nearest", nearest, "a Dataset with `path`, `neighbor` and `score` for every stored image")
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        raise NotSolved("there are no stored embeddings yet: solve Exercise 2 first.") from None
    if isinstance(nearest, ray.data.Dataset):
        got = nearest.to_pandas()
    elif isinstance(nearest, pd.DataFrame):
        got = nearest
    elif isinstance(nearest, list) and nearest and all(isinstance(r, dict) for r in nearest):
        got = pd.DataFrame(nearest)  # the rows of `nearest.take_all()`
    else:
        raise Wrong(f"`nearest` is a {type(nearest).__name__}, not a Ray Dataset.",
                    "Build it with `map_batches` over the stored embeddings (`ray.data.read_parquet`).")
    lacking = [c for c in ("path", "neighbor", "score") if c not in got.columns]
    if lacking:
        raise Wrong(f"`nearest` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: "
                    f"{list(got.columns)}).", "One row per stored image: its `path`, its `neighbor`, their `score`.")
    paths = [str(p) for p in table["path"]]
    vectors = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in table["embedding"]])
    similarity = vectors @ vectors.T
    if sorted(map(str, got["path"])) != sorted(paths):
        raise Wrong(f"`nearest` has {len(got)} rows for {got['path'].nunique()} paths; there are {len(paths)} "
                    "stored images.", "One row for every stored image, each once.")
    index = {p: i for i, p in enumerate(paths)}
    if all(str(p) == str(n) for p, n in zip(got["path"], got["neighbor"])):
        raise Wrong("every image is its own nearest neighbour.",
                    "An image is always most similar to itself (score 1): leave it out of its own candidates.")
    np.fill_diagonal(similarity, -np.inf)
    for path, neighbor, score in zip(got["path"], got["neighbor"], got["score"]):
        i, j = index[str(path)], index.get(str(neighbor))
        if j is None or j == i:
            raise Wrong(f"the neighbour of {path!r} is {neighbor!r}, not another stored image.",
                        "Pick the neighbour among the other stored images.")
        best = similarity[i].max()
        if similarity[i, j] < best - 1e-5:
            raise Wrong(f"{neighbor!r} is not the image most similar to {path!r} (its cosine similarity is "
                        f"{similarity[i, j]:.4f}; the best is {best:.4f}).",
                        "Score the image against all stored embeddings with a dot product and take the highest, "
                        "itself left out.")
        if abs(float(score) - similarity[i, j]) > 1e-3:
            raise Wrong(f"the score of {path!r} and its neighbour is {float(score):.4f}; their cosine similarity is "
                        f"{similarity[i, j]:.4f}.", "The embeddings have length 1: their dot product is the score.")
    mutual = sum(str(got.set_index("path").loc[str(n), "neighbor"]) == str(p)
                 for p, n in zip(got["path"], got["neighbor"]))
    return f"{len(paths)} images, each with its nearest other image; {mutual} of them are each other's nearest."
