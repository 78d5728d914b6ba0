"""Lab 06, exercise 1: the learner's ``ImagePathEmbedder`` called as Ray would on a probe batch of the catalogue's
kind (its loads, passes and opened files counted), its embeddings against the check's own."""

from __future__ import annotations

import builtins
import contextlib
import inspect
import os
from pathlib import Path

from .._core import Wrong, exercise, require
from ..toolkit import (
    call_as_ray,
    check_embeddings,
    construct,
    counting,
    model_for,
    require_inference,
    require_loaded_once,
    require_model_in_init,
)
from ._common import (
    DIRECTION_HINT,
    IMAGE_SUFFIXES,
    SAME_DIRECTION,
    WIDTH_HINT,
    _filesystem,
    _image_embeddings,
    _open_image,
    _vectors,
)

PROBE_FILES = (0, 1, 7)  # per class folder: a JPEG, a PNG and a grayscale JPEG, of different sizes


def _probe_root() -> str:
    from ...data import data_root

    return str(data_root() / "images" / "train")


def _catalogue_batch(seed=None) -> dict:
    """A catalogue batch as Ray hands it to a stage: a dict of NumPy arrays with paths, classes and sizes, its rows
    in an order made from ``seed`` (observer and judge make the same batch from it)."""
    import random

    import numpy as np

    paths = []
    for folder in sorted(p for p in Path(_probe_root()).iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(files[i]) for i in PROBE_FILES]
    random.Random(int(seed or 0)).shuffle(paths)
    return {
        "path": np.array(paths),
        "class": np.array([Path(p).parent.name for p in paths]),
        "file_size": np.array([Path(p).stat().st_size for p in paths], dtype=np.int64),
    }


def _tail(path) -> str:
    """``class/file.png``: a probe image's path without the data folder, which the kernel and the grader may see
    at other places."""
    path = Path(str(path))
    return f"{path.parent.name}/{path.name}"


@contextlib.contextmanager
def _opened_by_name(paths):
    """Note every probe image that is opened by its path (``Image.open(path)``, ``open(path)``), not through a
    filesystem object: that reads this machine's disk and cannot reach the ``gpu`` profile's bucket."""
    from PIL import Image

    wanted = {str(p) for p in paths}
    seen: list[str] = []
    original_image_open, original_open = Image.open, builtins.open

    def named(fp) -> bool:
        return isinstance(fp, (str, os.PathLike)) and os.fspath(fp) in wanted

    def image_open(fp, *args, **kwargs):
        if named(fp):
            seen.append(os.fspath(fp))
        return original_image_open(fp, *args, **kwargs)

    def plain_open(file, *args, **kwargs):
        if named(file):
            seen.append(os.fspath(file))
        return original_open(file, *args, **kwargs)

    Image.open, builtins.open = image_open, plain_open
    try:
        yield seen
    finally:
        Image.open, builtins.open = original_image_open, original_open


def _columns(out) -> list:
    return list(out.columns) if hasattr(out, "columns") else list(out.keys()) if hasattr(out, "keys") else []


def _batch_facts(out) -> dict:
    """What a batch the learner's stage returned holds, as plain data: its type, its columns, its paths and its
    embeddings (one list of numbers per row)."""
    import pandas as pd

    facts = {"type": type(out).__name__, "columns": [str(c) for c in _columns(out)]}
    if isinstance(out, pd.DataFrame):
        out = {c: out[c].to_numpy() for c in out.columns}
    facts["batch"] = hasattr(out, "keys")
    if facts["batch"]:
        if "embedding" in out:
            facts["embedding"] = _vectors(out["embedding"]).tolist()
        if "path" in out:
            facts["path"] = [str(p) for p in out["path"]]
    return facts


def _embedding_rows(facts: dict, n: int) -> tuple["np.ndarray", list]:  # noqa: F821
    """The learner's output batch (:func:`_batch_facts`) as (embeddings (n, width), paths)."""
    import numpy as np

    if facts["batch"] is not True:
        raise Wrong(
            f"`ImagePathEmbedder` returned a {facts['type']}, not a batch.",
            "Return the batch (a dict of columns) with an `embedding` column added.",
        )
    if "embedding" not in facts:
        raise Wrong(
            f"the batch `ImagePathEmbedder` returned has no `embedding` column (its columns: "
            f"{sorted(facts['columns'])}).",
            'Put each image\'s embedding in a column called `embedding`: batch["embedding"] = ...',
        )
    if "path" not in facts:
        raise Wrong(
            "the batch `ImagePathEmbedder` returned lost its `path` column.",
            "Add the embedding to the batch and return the whole batch: the path says which image it is.",
        )
    vectors = np.asarray(facts["embedding"], dtype=np.float64)
    if vectors.ndim != 2 or len(vectors) != n:
        raise Wrong(
            f"`embedding` has {len(vectors)} rows for a batch of {n} paths.",
            "Embed the whole batch: one embedding per path.",
        )
    return vectors, [str(p) for p in facts["path"]]


INIT_HINT = "Load CLIPModel.from_pretrained(model_id) (and the CLIPProcessor) in __init__: once per actor."
OPEN_HINT = (
    "Open each file through the filesystem of image_root, as the lesson's load_image does: "
    "pyarrow.fs.FileSystem.from_uri(image_root) in __init__, then filesystem.open_input_file(path)."
)


def _counted(counts) -> dict:
    return {k: int(counts[k]) for k in ("load", "processor", "forward", "with_grad")}


def _embed_probe(ImagePathEmbedder, batch: dict, root: str) -> dict:
    """The class built as Ray builds it and called on the probe batch twice: its loads (in ``__init__`` and in
    all), passes and opens by name counted, and both batches it returned (:func:`_batch_facts`)."""
    from transformers import CLIPModel

    with counting(CLIPModel, "get_image_features") as counts:
        embedder = construct(
            ImagePathEmbedder,
            label="ImagePathEmbedder(model_id=..., image_root=...)",
            hint='fn_constructor_kwargs={"model_id": ..., "image_root": ...} passes both to __init__ by name: '
            "give __init__ parameters with those names.",
            model_id=model_for("clip"),
            image_root=root,
        )
        in_init = [counts["load"], counts["processor"]]
        if not in_init[0]:  # no model in __init__: the judge says so before anything the calls would show
            return {"in_init": in_init, "counts": _counted(counts), "by_name": [], "outputs": []}
        with _opened_by_name(batch["path"]) as by_name:
            outputs = [call_as_ray(embedder, batch) for _ in range(2)]
    return {
        "in_init": in_init,
        "counts": _counted(counts),
        "by_name": [Path(p).name for p in by_name],
        "outputs": [_batch_facts(out) for out in outputs],
    }


def _check_columns_kept(facts: dict, batch: dict, paths: list) -> None:
    """Every column of the batch kept, in its order, and no pixels added."""
    columns = facts["columns"]
    if "image" in columns:
        raise Wrong(
            "the batch `ImagePathEmbedder` returned carries the decoded images (an `image` column): "
            "the pixels would travel on to every later stage, for nothing.",
            "Decode inside __call__, embed, and let the pixels go: return the batch's own columns and the `embedding`.",
        )
    lost = [c for c in batch if c not in columns]
    if lost:
        raise Wrong(
            f"the batch `ImagePathEmbedder` returned lost its {', '.join(f'`{c}`' for c in lost)} "
            "column(s); a stage adds what it computes and leaves the rest for later steps to choose.",
            "Add the `embedding` column to the batch you were given and return that batch, every column kept.",
        )
    if [_tail(p) for p in paths] != [_tail(p) for p in batch["path"]]:
        raise Wrong(
            "the returned rows are not in the batch's order (or their paths changed).",
            "Add the embeddings as a column of the batch you were given; keep its rows as they are.",
        )


def _loads_missing_model(ImagePathEmbedder, root: str) -> bool:
    """Whether the class builds with a model id that does not exist (it should fail: it loads the model given)."""
    try:
        ImagePathEmbedder(model_id=str(Path(model_for("clip")) / "no-such-model"), image_root=root)
    except Exception:
        return False
    return True


def _judge_1(seen, seed) -> str:
    from collections import Counter

    batch = _catalogue_batch(seed)
    n = len(batch["path"])
    counts = Counter({k: int(seen["counts"][k]) for k in ("load", "processor", "forward", "with_grad")})
    in_init = tuple(int(v) for v in seen["in_init"])
    require_model_in_init(Counter(load=in_init[0]), label="ImagePathEmbedder", hint=INIT_HINT)
    require_loaded_once(counts, in_init, label="ImagePathEmbedder", batches=2, processor="a processor")
    if seen["by_name"]:
        raise Wrong(
            f"`ImagePathEmbedder` opened {seen['by_name'][0]} by its path (Image.open(path) or open(path)): that "
            "reads this machine's disk, and in the gpu profile the paths are keys in an S3 bucket, which no local "
            "open reaches.",
            OPEN_HINT,
        )
    require_inference(counts, model="CLIP")
    if counts["forward"] >= 2 * n:
        raise Wrong(
            f"CLIP ran {counts['forward'] // 2} times for a batch of {n} paths: one image at a time.",
            "Open every image of the batch first, then embed them all at once: processor(images=[...], "
            'return_tensors="pt") and one get_image_features call.',
        )
    first, second = seen["outputs"]
    vectors, paths = _embedding_rows(first, n)
    _check_columns_kept(first, batch, paths)
    filesystem, _ = _filesystem(_probe_root())
    reference = _image_embeddings([_open_image(filesystem, p) for p in batch["path"]])
    check_embeddings(
        vectors,
        reference,
        "the embeddings",
        same_direction=SAME_DIRECTION,
        width_hint=WIDTH_HINT,
        direction_hint=DIRECTION_HINT,
    )
    _embedding_rows(second, n)
    if seen["loads_missing_model"] is not False:
        raise Wrong(
            "`ImagePathEmbedder(model_id=<a model that does not exist>)` loaded a model anyway: it does "
            "not load the model it is given.",
            "Load CLIPModel.from_pretrained(model_id) with the model_id argument, not a fixed name.",
        )
    return (
        f"{n} paths (grayscale and colour, PNG and JPEG), opened through the filesystem; one load in __init__ "
        f"and one CLIP pass per batch; {vectors.shape[1]} numbers per embedding, each of length 1."
    )


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(ImagePathEmbedder, *, seed=None):
    """``ImagePathEmbedder(model_id, image_root)``: CLIP loaded once, each batch's images opened through the
    filesystem of ``image_root``, one forward pass per batch, unit-length embeddings, every column kept.

    Observes the class called as Ray calls it on a probe batch (its rows in an order made from ``seed``), twice:
    the loads, CLIP passes and opens by name counted, both batches returned; and whether it builds with a model id
    that does not exist."""
    require("ImagePathEmbedder", ImagePathEmbedder, "your ImagePathEmbedder class")
    if not inspect.isclass(ImagePathEmbedder):
        raise Wrong(
            f"`ImagePathEmbedder` is a {type(ImagePathEmbedder).__name__}, not a class.",
            "Write `class ImagePathEmbedder:` with __init__(self, model_id, image_root) and __call__(self, batch).",
        )
    root = _probe_root()
    seen = _embed_probe(ImagePathEmbedder, _catalogue_batch(seed), root)
    seen["loads_missing_model"] = _loads_missing_model(ImagePathEmbedder, root)
    return seen
