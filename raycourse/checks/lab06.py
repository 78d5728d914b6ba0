"""Checks for lab 06 (CLIP embeddings): an embedder that opens its own images, a store with one folder per class,
and a near-duplicate search over it.

Exercise 1 calls the learner's ``ImagePathEmbedder(model_id, image_root)`` in this process on a batch of the
catalogue's kind (``path``, ``class``, ``file_size``: no pixels), the way Ray would, while it counts the model and
processor loads (``from_pretrained``), CLIP's image forward passes and the gradients they record, and watches which
files are opened by name: one load of each, in ``__init__``; one pass per batch under ``torch.inference_mode()``;
the images opened through the filesystem of ``image_root`` (pyarrow), never by their path with ``Image.open`` or
``open``, which would not reach the ``gpu`` profile's bucket. The embeddings must be CLIP's own for the images at
those paths (the check computes them itself and compares directions), as wide as the model's ``projection_dim``,
of length 1, in the batch's order, with every column of the batch kept and no pixels returned. A model id that
does not exist must fail, so the class loads the model it is given.

Exercise 2 reads what is on disk under ``embeddings_dir``: one folder per class, named the way
``write_parquet(..., partition_cols=["class"])`` names them (``class=<name>``), each holding the parquet files of
its images only, with ``path`` and ``embedding`` and nothing else (the class is in the folder's name); every image
of the catalogue once; every embedding of length 1 and CLIP's embedding of the image at its path (on a sample).
Files written elsewhere are pointed at. Then it reads the plan of ``embeddings``: a stage of a callable class given
the model id and the image root as constructor arguments, with one whole GPU per actor (``num_gpus=1``, as the
lab says) and an actor pool of any size from one actor to the cluster's GPUs.

Exercise 3 calls the learner's ``find_duplicates(queries, threshold)`` with query embeddings the lab never uses
(stored embeddings nudged, one stored embedding as it is, random directions) and two thresholds, and compares the
result with its own search over the stored embeddings: one row per query, its name in ``query``, the stored image
with the highest cosine similarity in ``match`` (either one of a tie), that cosine in ``score``, ``duplicate``
true exactly where the score reaches the threshold, the rows best first.

The stretch (optional) reads ``knn``, a Dataset whose last ``map_batches`` stage is a function (a table made in
the notebook is not what the lab asks for), with ``path`` and ``predicted`` for every stored image, and compares it
with the check's own leave-one-out vote: the class with the highest summed cosine similarity among the ``K`` most
similar *other* stored images. Then it calls that function on one stored row carrying another stored image's
embedding (a copy under another name): an image left out by its score instead of by its path votes otherwise,
wherever the store has a row on which the two rules disagree.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes in the learner's kernel and
returns plain data, ``_judge_N`` decides from it alone (in the grader's process when a notebook is graded), with
the seed the caller chose:

- Exercise 1 observes the counts (loads in ``__init__`` and in all, CLIP passes, passes with gradients), the probe
  files opened by name, both batches returned (columns, paths, embeddings) and whether a missing model id fails; the
  probe batch's order comes from the seed. The judge computes CLIP's embeddings of the probe images itself.
- Exercise 2 observes the parquet files' places under ``embeddings_dir``, the stored columns, every row's path, class
  and embedding length, the embeddings of a few rows chosen from the seed, and the class stage's settings. The judge
  lists the course's images and computes CLIP's embeddings of the sampled ones itself.
- Exercise 3 observes the stored paths, the stored embeddings the queries are made from (picked from the seed),
  every query's cosine with every stored embedding and ``find_duplicates``'s tables. The judge rebuilds the queries,
  checks the cosines of the picked rows against them, and runs the search on the cosines.
- The stretch observes the store's neighbourhoods (each image's ``K + 1`` nearest others and their cosines), the
  plan's stages, ``knn``'s rows and the vote on a copy chosen from the seed. The judge counts the votes itself.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import os
from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import (
    plain_value,
    as_columns,
    call_as_ray,
    check_embeddings,
    construct,
    counting,
    error_line,
    model_for,
    partition_of,
    require_dataset,
    require_inference,
    require_loaded_once,
    require_model_in_init,
    stages,
)
from ._core import written  # noqa: F401 (the lab calls check.written)

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}  # the files the lab's catalogue lists
PROBE_FILES = (0, 1, 7)  # per class folder: a JPEG, a PNG and a grayscale JPEG, of different sizes
SAMPLE_ROWS = 6  # stored rows whose embedding Exercise 2 recomputes
SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same image
STORED = ("path", "embedding")  # the columns the files of Exercise 2 hold (the class is in the folder names)
K = 4  # the stretch's neighbours (the lab gives the same K)


_CLIP: dict = {}  # model id -> (model, processor): the check's own CLIP, loaded once per process


def _clip():
    """The check's own CLIP (model and processor) for the active profile."""
    from transformers import CLIPModel, CLIPProcessor

    model_id = model_for("clip")
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    return _CLIP[model_id]


def _image_embeddings(images) -> "np.ndarray":  # noqa: F821
    import numpy as np
    import torch
    from PIL import Image

    model, processor = _clip()
    pil = [image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image)) for image in images]
    with torch.inference_mode():
        features = model.get_image_features(
            **processor(images=[p.convert("RGB") for p in pil], return_tensors="pt")
        ).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def _filesystem(root: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(str(root))


def _open_image(filesystem, path: str):
    from PIL import Image

    with filesystem.open_input_file(path) as file:
        return Image.open(file).convert("RGB")


def _image_paths(root: str) -> list[str]:
    """Every image file under ``root`` (local or on object storage), as the lab's catalogue lists them."""
    import pyarrow.fs

    filesystem, base = _filesystem(root)
    infos = filesystem.get_file_info(pyarrow.fs.FileSelector(base, recursive=True))
    return sorted(
        i.path for i in infos if i.type == pyarrow.fs.FileType.File and Path(i.path).suffix.lower() in IMAGE_SUFFIXES
    )


def _same_path(a: str, b: str) -> bool:
    return str(a).rstrip("/").endswith(str(b).lstrip("/")) or str(b).rstrip("/").endswith(str(a).lstrip("/"))


def _vectors(column) -> "np.ndarray":  # noqa: F821
    import numpy as np

    return np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in list(column)])


# Exercise 1 -------------------------------------------------------------------------------------


def _probe_root() -> str:
    from ..data import data_root

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


WIDTH_HINT = (
    "Use what model.get_image_features(**inputs).pooler_output returns (the config's projection_dim), one row per "
    "image, and do not reshape or hard-code a width."
)
DIRECTION_HINT = (
    'Open the image at each row\'s path, run all of them through processor(images=..., return_tensors="pt") and '
    "model.get_image_features(**inputs).pooler_output, and keep the rows in the batch's order."
)
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


# Exercise 2 -------------------------------------------------------------------------------------


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def _stored(embeddings_dir) -> "pd.DataFrame":  # noqa: F821
    """Every stored row, whatever the layout: the columns of its file, plus the folder's partition if it has one."""
    import pandas as pd
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor type, so the embedding column reads back)

    root = Path(embeddings_dir)
    files = _parquet_files(root)
    if not files:
        raise NotSolved(f"there are no parquet files in {root} yet; write the embeddings there.")
    frames = []
    for file in files:
        frame = pq.read_table(str(file), partitioning=None).to_pandas()
        partition = partition_of(file, root)
        if partition and partition[0] not in frame.columns:
            frame[partition[0]] = partition[1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _parquet_elsewhere(embeddings_dir) -> str | None:
    """A folder near ``embeddings_dir`` (under its parent) that holds parquet files, if any: where they went."""
    parent = Path(embeddings_dir).parent
    if not parent.is_dir():
        return None
    found = sorted({f.parent for f in parent.rglob("*.parquet")})
    if not found:
        return None
    folder = found[0]
    while "=" in folder.name and folder.parent != parent:  # the store's root, not one of its class folders
        folder = folder.parent
    return str(folder)


def _stage_facts(embeddings) -> dict | None:
    """The class stage of ``embeddings`` (the ImagePathEmbedder one, else the last), as plain data; None where the
    plan runs no class."""
    classes = [s for s in stages(embeddings) if s.is_class]
    if not classes:
        return None
    stage = ([s for s in classes if s.name == "ImagePathEmbedder"] or classes)[-1]
    given = list(getattr(stage.op, "fn_constructor_args", None) or []) + list(stage.constructor_kwargs.values())
    return {
        "name": stage.name,
        "args": [str(a) for a in given],
        "num_gpus": stage.num_gpus,
        "pool": stage.is_pool,
        "compute": str(stage.compute),
        "actors": stage.pool_size[0] if stage.is_pool else None,
    }


def _course_image_root() -> str:
    """The images the lab's catalogue lists (``image_root`` in the notebook), as the grader finds them."""
    from ..data import data_path

    return str(data_path("embedding_images", check=False))


SIZE_IT = 'GPUS = min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget())'


def _check_stage(stage: dict | None, image_root: str, gpus: dict) -> None:
    """The model id and image_root as constructor arguments, one whole GPU per actor, a pool the cluster holds
    (``gpus``: the learner's GPUs in the kernel's cluster, and their words)."""
    if stage is None:
        raise Wrong(
            "`embeddings` has no stage that runs a callable class.",
            "Pass the class itself to map_batches (map_batches(ImagePathEmbedder, ...)): Ray builds one "
            "per actor, so CLIP is loaded once per actor.",
        )
    args, num_gpus = [str(a) for a in stage["args"]], float(stage["num_gpus"])
    if model_for("clip") not in args:
        raise Wrong(
            "the embedding stage is not given the model id.",
            'fn_constructor_kwargs={"model_id": MODEL_ID, ...}: Ray passes it to __init__ in every actor.',
        )
    if str(image_root) not in args:
        raise Wrong(
            "the embedding stage is not given image_root: each actor needs it to open the filesystem the "
            "paths belong to.",
            "Pass image_root in fn_constructor_kwargs too, beside the model id.",
        )
    if num_gpus <= 0:
        raise Wrong("the embedding stage asks for no GPU.", "Give the stage num_gpus=1: one CLIP per GPU.")
    if num_gpus != 1:
        raise Wrong(
            f"the embedding stage asks for num_gpus={num_gpus:g}, where the lab gives each actor one GPU of its own.",
            "Give the stage num_gpus=1, and the pool one actor per GPU.",
        )
    if stage["pool"] is not True:
        raise Wrong(
            f"the embedding stage runs with {stage['compute']}, not an actor pool.",
            f"compute=ray.data.ActorPoolStrategy(size=GPUS), with {SIZE_IT}.",
        )
    cluster, actors = int(gpus["learner"]), int(stage["actors"])  # the cluster's GPUs, within the budget
    if cluster > 0 and actors > cluster:
        raise Wrong(
            f"the embedding stage asks for a pool of {actors} actors with 1 GPU each, more than "
            f"{gpus['words']} can hold: the extra actors would wait for a GPU forever, with no error.",
            f"One actor per GPU at most: {SIZE_IT}, then compute=ray.data.ActorPoolStrategy(size=GPUS).",
        )


def _check_layout(root: Path, files: list[str]) -> None:
    """One hive folder per class (``class=<name>``) directly under ``root``, every file in one (``files``: their
    paths under ``root``)."""
    flat = [f for f in files if len(Path(f).parts) == 1]
    if flat:
        raise Wrong(
            f"{len(flat)} parquet files lie directly in {root}, not in one folder per class.",
            "Let the writer make the folders: write_parquet(str(embeddings_dir), partition_cols=[...]) "
            "with the class column.",
        )
    partitions = {f: partition_of(root / f, root) for f in files}
    odd = [f for f, p in partitions.items() if p is None]
    if odd:
        folder = Path(odd[0]).parent
        raise Wrong(
            f"the files are in folders such as {folder}/, not in folders named `class=<name>`: "
            "ray.data.read_parquet gives the class back as a column only from folders named that way.",
            'Let write_parquet name the folders: partition_cols=["class"].',
        )
    columns = sorted({p[0] for p in partitions.values()})
    if columns != ["class"]:
        raise Wrong(
            f"the folders split the rows by {', '.join(f'`{c}`' for c in columns)}, not by `class` alone.",
            'Partition by the class column only: partition_cols=["class"].',
        )


def _check_written(root: Path, files: list, elsewhere: str | None) -> None:
    if not files:
        raise Wrong(
            f"`embeddings` is built, but {root} holds no parquet files"
            + (f"; there are some in {elsewhere}" if elsewhere else "")
            + ".",
            "Write the embeddings into that folder: write_parquet(str(embeddings_dir), ...).",
        )


def _check_stored_columns(columns: list) -> None:
    """``path`` and ``embedding`` in the files, no pixels, nothing else (the class is in the folder names)."""
    if "image" in columns:
        raise Wrong(
            "the stored files hold the images (an `image` column).",
            "Store no pixels: the path says where each image is.",
        )
    missing = {"path", "embedding"} - set(columns)
    if missing:
        raise Wrong(
            f"the stored files have no {', '.join(sorted(missing))} column (its columns: {sorted(columns)}).",
            "Keep the path of every image and its embedding in what you write.",
        )
    extra = sorted(set(columns) - set(STORED) - {"class"})
    if extra:
        raise Wrong(
            f"the stored files also hold {', '.join(f'`{c}`' for c in extra)}, which no later step reads.",
            "Keep only what later steps need before you write: the path and the embedding (the class goes "
            "into the folder names).",
        )


def _sample_rows(n: int, seed) -> list[int]:
    """The stored rows (of ``n``) whose embedding Exercise 2 recomputes, chosen from ``seed``."""
    import numpy as np

    rng = np.random.default_rng(int(seed or 0))
    return sorted(int(i) for i in rng.choice(n, size=min(SAMPLE_ROWS, n), replace=False))


def _check_stored_rows(seen: dict, seed, image_root: str) -> list[str]:
    """Every catalogue image once, in its class's folder, with CLIP's unit-length embedding (on a sample)."""
    import numpy as np

    files_listed = _image_paths(image_root)
    paths, classes = [str(p) for p in seen["path"]], [str(c) for c in seen["class"]]
    if len(set(paths)) != len(paths):
        raise Wrong(
            f"{len(paths) - len(set(paths))} images are stored more than once.",
            "Write each image once: run the pipeline once, into an empty folder (out_dir is emptied by "
            "the setup cell).",
        )
    listed = [next((f for f in files_listed if _same_path(p, f)), None) for p in paths]
    unknown = [p for p, f in zip(paths, listed) if f is None]
    if unknown:
        raise Wrong(
            f"{len(unknown)} stored paths are not images of {image_root}, for example {unknown[0]}.",
            "Embed the rows of `catalogue`: its paths are the images of image_root.",
        )
    if len(paths) != len(files_listed):
        raise Wrong(
            f"{len(paths)} embeddings are stored for the {len(files_listed)} images of the catalogue.",
            "Embed every row of the catalogue: no limit, no filter.",
        )
    if len(classes) != len(paths):
        raise Wrong(f"{len(classes)} classes for {len(paths)} stored paths.", "Partition by the class column.")
    misplaced = [(p, c) for p, c in zip(paths, classes) if Path(p).parent.name != c]
    if misplaced:
        path, folder = misplaced[0]
        raise Wrong(
            f"{len(misplaced)} images are in the folder of another class, for example {Path(path).name} "
            f"in class={folder}.",
            "Partition by the catalogue's own class column, unchanged.",
        )
    rows = _sample_rows(len(paths), seed)
    sample = {int(i): v for i, v in seen["sample"]}
    if sorted(sample) != rows:
        raise Wrong("the check did not see the stored embeddings it asked for.", "Run the check cell again.")
    filesystem, _ = _filesystem(image_root)
    reference = _image_embeddings([_open_image(filesystem, listed[i]) for i in rows])
    check_embeddings(
        np.asarray([sample[i] for i in rows], dtype=np.float64),
        reference,
        "the stored embeddings",
        same_direction=SAME_DIRECTION,
        width_hint=WIDTH_HINT,
        direction_hint=DIRECTION_HINT,
    )
    norms = np.asarray(seen["norms"], dtype=np.float64)
    if norms.shape != (len(paths),) or not np.allclose(norms, 1, atol=1e-3):
        raise Wrong("some stored embeddings are not of length 1.", "Normalise every embedding in ImagePathEmbedder.")
    return paths


def _judge_2(seen, seed) -> str:
    import numpy as np

    root, files = Path(seen["root"]), [str(f) for f in seen["files"]]
    _check_written(root, files, seen.get("elsewhere"))
    _check_layout(root, files)
    _check_stored_columns([str(c) for c in seen["columns"]])
    image_root = _course_image_root()
    paths = _check_stored_rows(seen, seed, image_root)
    _check_stage(seen["stage"], image_root, seen["gpus"])
    classes = sorted(set(seen["class"]))
    width = np.asarray(seen["sample"][0][1]).shape[0]
    return (
        f"{len(paths)} images in {len(classes)} class folders ({len(files)} parquet files), {width} "
        "numbers per embedding, only path and embedding in the files."
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(embeddings, embeddings_dir, image_root, *, seed=None):
    """What is on disk in ``embeddings_dir``: one ``class=<name>`` folder per class holding the ``path`` and the
    unit-length CLIP embedding of each of its images, every catalogue image once, nothing else; then the stage.

    Observes the parquet files under ``embeddings_dir`` (their places; where others went when there are none), the
    stored columns, every row's path, class and embedding length, the embeddings of a few rows chosen from
    ``seed``, the class stage's settings, and the GPUs the kernel's cluster gives the learner."""
    import numpy as np

    from raycourse import room as rooms

    require("embeddings", embeddings, "the Dataset of embeddings (the ImagePathEmbedder stage over the catalogue)")
    require_dataset("embeddings", embeddings, "Build it with catalogue.map_batches(ImagePathEmbedder, ...).")
    root = Path(embeddings_dir)
    files = _parquet_files(root)
    learner = int(rooms.learner_gpus())
    seen = {
        "root": str(root),
        "files": [f.relative_to(root).as_posix() for f in files],
        "stage": _stage_facts(embeddings),
        "gpus": {"learner": learner, "words": rooms.budget_words(learner)},
    }
    if not files:
        return {**seen, "elsewhere": _parquet_elsewhere(root)}
    table = _stored(root)
    seen["columns"] = [str(c) for c in table.columns]
    for column in ("path", "class"):
        if column in table.columns:
            seen[column] = [str(v) for v in table[column]]
    if "embedding" in table.columns:
        vectors = _vectors(table["embedding"])
        seen["norms"] = np.linalg.norm(vectors, axis=1).tolist()
        seen["sample"] = [[i, vectors[i].tolist()] for i in _sample_rows(len(vectors), seed)]
    return seen


# Exercise 3 -------------------------------------------------------------------------------------


def _store(embeddings_dir, what: str) -> tuple[list[str], "np.ndarray", "pd.DataFrame"]:  # noqa: F821
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        raise NotSolved(f"there are no stored embeddings {what} yet: solve Exercise 2 first.") from None
    return [str(p) for p in table["path"]], _vectors(table["embedding"]), table


QUERY_NAMES = ("edited photo 1", "edited photo 2", "edited photo 3", "exact copy", "unrelated 1", "unrelated 2")


def _probe_plan(n: int, width: int, seed) -> tuple:
    """What the queries are made of, from ``seed``: the 4 stored rows picked (3 to nudge, 1 to copy), the nudges,
    2 random directions, and the order of the 6 queries (never the exact copy first: so never best first)."""
    import numpy as np

    rng = np.random.default_rng(6 if seed is None else int(seed))
    picks = rng.choice(n, size=4, replace=False)
    nudges = rng.normal(scale=0.005, size=(3, width))
    random = rng.normal(size=(2, width))
    order = rng.permutation(len(QUERY_NAMES))
    if QUERY_NAMES[order[0]] == "exact copy":
        order = np.roll(order, 1)
    return [int(i) for i in picks], nudges, random, order


def _queries_of(picked, nudges, random, order) -> tuple[list[str], "np.ndarray"]:  # noqa: F821
    import numpy as np

    picked = np.asarray(picked, dtype=np.float64)
    queries = np.concatenate([picked[:3] + nudges, picked[3:], random])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return [QUERY_NAMES[i] for i in order], queries[order]


def _probe_queries(vectors, seed=None) -> tuple[list[str], "np.ndarray"]:  # noqa: F821
    """Queries the lab never uses, made from ``seed``: stored embeddings nudged, one as it is, and random
    directions; not in order."""
    picks, nudges, random, order = _probe_plan(len(vectors), vectors.shape[1], seed)
    return _queries_of(vectors[picks], nudges, random, order)


def _thresholds(best) -> list[float]:
    """Two thresholds between the queries' best scores, each with a margin: one in the widest gap (the edited
    copies above, the random directions below) and one between the highest score and the next (only the exact
    copy above), so that a fixed or inverted threshold gives other flags for one of them."""
    import numpy as np

    values = np.unique(np.round(best, 6))
    cuts = (values[1:] + values[:-1]) / 2
    if len(cuts) == 0:
        return [float(values[0]) - 0.01]
    widest, top = int(np.argmax(np.diff(values))), len(cuts) - 1
    return [float(cuts[widest])] + ([float(cuts[top])] if top != widest else [])


FIND_COLUMNS = ("query", "match", "score", "duplicate")


def _found_facts(out) -> dict:
    """What ``find_duplicates`` returned, as plain data: its type and columns, and the four columns' rows."""
    import pandas as pd

    if isinstance(out, list) and all(isinstance(r, dict) for r in out):
        out = pd.DataFrame(out)
    if not isinstance(out, pd.DataFrame):
        return {"type": type(out).__name__}
    facts = {"type": "DataFrame", "columns": [str(c) for c in out.columns]}
    if all(c in out.columns for c in FIND_COLUMNS):
        rows = []
        for query, match, score, flag in zip(out["query"], out["match"], out["score"], out["duplicate"]):
            try:
                score = float(score)
            except (TypeError, ValueError):
                score = plain_value(score)
            rows.append(
                {
                    "query": plain_value(query),
                    "match": plain_value(match),
                    "score": score,
                    "duplicate": plain_value(flag),
                }
            )
        facts["rows"] = rows
    return facts


def _found(facts: dict, n: int) -> list[dict]:
    if facts["type"] != "DataFrame":
        raise Wrong(
            f"`find_duplicates` returned a {facts['type']}, not a DataFrame.",
            "Return a pandas DataFrame with the columns query, match, score and duplicate, one row per query.",
        )
    missing = [c for c in FIND_COLUMNS if c not in facts["columns"]]
    if missing:
        raise Wrong(
            f"the DataFrame `find_duplicates` returned has no {', '.join(f'`{c}`' for c in missing)} column "
            f"(its columns: {list(facts['columns'])}).",
            "Name the columns as the lab asks (query, match, score, duplicate): the cell after the check "
            "reads them by name.",
        )
    rows = facts["rows"]
    if len(rows) != n:
        raise Wrong(
            f"`find_duplicates` returned {len(rows)} rows for {n} queries.",
            "One row per query, flagged or not: its best stored match only.",
        )
    return rows


def _check_search(rows: list[dict], names: list, scores, index: dict, threshold: float) -> None:
    """One answer of ``find_duplicates`` (:func:`_found`) against the check's own search: the queries' names, the
    best match, its cosine, the flag at ``threshold``, the rows best first."""
    import numpy as np

    best = scores.max(axis=1)
    got = [r["query"] for r in rows]
    if sorted(map(str, got)) != sorted(names):
        raise Wrong(
            f"the `query` column holds {got[:3]}..., not the names of the queries ({names[:3]}...).",
            'Copy each query\'s name from queries["query"] into its row.',
        )
    row_of = {name: names.index(name) for name in names}
    mine = []
    for row in rows:
        name, match, flag = row["query"], row["match"], row["duplicate"]
        q = row_of[str(name)]
        if str(match) not in index:
            raise Wrong(
                f"the match of {name!r} is {match!r}, which is not a stored path.",
                "Return the `path` of the best stored image as it is stored in the table.",
            )
        cosine = scores[q, index[str(match)]]
        if cosine < best[q] - 1e-5:
            if abs(cosine - scores[q].min()) < 1e-5:
                raise Wrong(
                    f"the match of {name!r} is the stored image *least* similar to it.",
                    "The most similar image has the highest cosine similarity: take the argmax.",
                )
            raise Wrong(
                f"the match of {name!r} is not the stored image most similar to it (its cosine "
                f"similarity is {cosine:.4f}; the best is {best[q]:.4f}).",
                "Score the query against every stored embedding with a dot product (vectors @ query) "
                "and keep the highest.",
            )
        if abs(float(row["score"]) - cosine) > 1e-3:
            raise Wrong(
                f"the score of {name!r} is {float(row['score']):.4f}; the cosine similarity of the query and "
                f"its match is {cosine:.4f}.",
                "Both the stored and the query embeddings have length 1: their dot product is the score.",
            )
        if not isinstance(flag, (bool, int)):  # text, a float, None: not a truth value
            raise Wrong(
                f"`duplicate` holds {flag!r}; it should be True or False.",
                "Compare the score with the threshold: score >= threshold gives True or False.",
            )
        flagged = bool(flag)
        if flagged != bool(cosine >= threshold):
            inverted = all(bool(r["duplicate"]) == bool(best[row_of[str(r["query"])]] < threshold) for r in rows)
            if inverted:
                raise Wrong(
                    f"with threshold={threshold:.4f}, `duplicate` is True exactly for the queries whose "
                    "best score is *below* the threshold.",
                    "A near-duplicate is a query whose best score reaches the threshold.",
                )
            raise Wrong(
                f"with threshold={threshold:.4f}, {name!r} (best score {cosine:.4f}) is "
                f"{'flagged' if flagged else 'not flagged'} as a duplicate.",
                "Flag a query when its best score reaches the threshold the function is given (not a fixed number).",
            )
        mine.append(cosine)
    mine = np.array(mine)
    if np.any(np.diff(mine) > 1e-6):
        if np.all(np.diff(mine) >= -1e-6):
            raise Wrong(
                "the rows are in order of rising score: worst first.",
                'Sort by score from the highest down: sort_values("score", ascending=False).',
            )
        raise Wrong(
            "the rows are not sorted by score, best first.",
            'Sort by score from the highest down: sort_values("score", ascending=False).',
        )


def _judge_3(seen, seed) -> str:
    import numpy as np

    paths = [str(p) for p in seen["paths"]]
    scores = np.asarray(seen["scores"], dtype=np.float64)  # (queries, stored): the stored embeddings' cosines
    picked = {int(i): v for i, v in seen["picked"]}
    width = len(next(iter(picked.values())))
    picks, nudges, random, order = _probe_plan(len(paths), width, seed)
    names, queries = _queries_of([picked[i] for i in picks], nudges, random, order)
    if (
        list(map(str, seen["names"])) != names
        or scores.shape != (len(names), len(paths))
        or not np.allclose(scores[:, picks], queries @ np.asarray([picked[i] for i in picks]).T, atol=1e-6)
    ):
        raise Wrong("the check's queries were not the ones it asked for.", "Run the check cell again.")
    index = {p: i for i, p in enumerate(paths)}
    thresholds = _thresholds(scores.max(axis=1))
    answers = seen["answers"]
    if len(answers) != len(thresholds) or not np.allclose(seen["thresholds"], thresholds, rtol=0, atol=1e-12):
        raise Wrong("the check's thresholds were not the ones it asked for.", "Run the check cell again.")
    for facts, threshold in zip(answers, thresholds):
        _check_search(_found(facts, len(names)), names, scores, index, threshold)
    return (
        f"{len(names)} new queries, {len(thresholds)} thresholds: the same best matches, scores and flags "
        f"as a search the check ran itself over the {len(paths)} stored embeddings, best first."
    )


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(find_duplicates, embeddings_dir, *, seed=None):
    """``find_duplicates(queries, threshold)``: each query's most similar stored image, its cosine, whether it
    reaches the threshold; one row per query, best first.

    Observes the stored paths, the embeddings of the stored rows the queries are made from (picked from ``seed``),
    every query's cosine with every stored embedding, and what ``find_duplicates`` returns at each threshold."""
    require("find_duplicates", find_duplicates, "your find_duplicates(queries, threshold) function")
    if not callable(find_duplicates):
        raise Wrong(
            f"`find_duplicates` is a {type(find_duplicates).__name__}, not a function.",
            "def find_duplicates(queries, threshold): ...",
        )
    import numpy as np
    import pandas as pd

    paths, vectors, _ = _store(embeddings_dir, "to search")
    names, queries = _probe_queries(vectors, seed)
    scores = queries @ vectors.T  # (queries, stored)
    thresholds = _thresholds(scores.max(axis=1))
    frame = pd.DataFrame({"query": names, "embedding": list(queries.astype(np.float32))})
    picks = _probe_plan(len(vectors), vectors.shape[1], seed)[0]
    return {
        "paths": paths,
        "picked": [[i, vectors[i].tolist()] for i in picks],
        "names": names,
        "scores": scores.tolist(),
        "thresholds": thresholds,
        "answers": [_found_facts(find_duplicates(frame.copy(), threshold)) for threshold in thresholds],
    }


# Stretch -----------------------------------------------------------------------------------------------


KNN_HINT = (
    "Build it with ray.data.read_parquet(str(embeddings_dir)).map_batches(your_vote), a function of a batch of "
    "stored rows."
)


def _vote_functions(knn) -> list:
    """``knn``'s batch stages that run a function (the vote is the last)."""
    return [s.fn for s in stages(knn) if s.kind == "MapBatches" and not s.is_class]


def _check_vote_stage(kinds: list) -> None:
    if not any(kind == "MapBatches" and is_class is False for kind, is_class in kinds):
        raise Wrong("`knn` has no map_batches stage with a function: where does the vote run?", KNN_HINT)


def _check_knn_rows(seen: dict, paths: list) -> None:
    columns = [str(c) for c in seen["columns"]]
    lacking = [c for c in ("path", "predicted") if c not in columns]
    if lacking:
        raise Wrong(
            f"`knn` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: {columns}).",
            "One row per stored image: its `path` and the `predicted` class.",
        )
    got = [str(p) for p in seen["knn_path"]]
    if sorted(got) != sorted(paths) or len(seen["knn_predicted"]) != len(got):
        raise Wrong(
            f"`knn` has {len(got)} rows for {len(set(got))} paths; there are {len(paths)} stored images.",
            "One row for every stored image, each once.",
        )


def _votes(similarity, classes, k: int, weighted: bool) -> list[dict]:
    """For each row of ``similarity`` (itself already left out or not): each class's vote among its k nearest."""
    import numpy as np

    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    tallies = []
    for i, row in enumerate(nearest):
        tally: dict = {}
        for j in row:
            tally[classes[j]] = tally.get(classes[j], 0.0) + (similarity[i, j] if weighted else 1.0)
        tallies.append(tally)
    return tallies


def _winners(tally: dict, tolerance: float) -> set:
    top = max(tally.values())
    return {c for c, v in tally.items() if v >= top - tolerance}


def _neighbourhoods(vectors) -> dict:
    """Each stored image's ``K + 1`` most similar *other* stored images (``near``, most similar first, ties in the
    store's order) and their cosines (``near_scores``), and its cosine with itself (``itself``): all the votes
    the stretch compares with are made of these."""
    import numpy as np

    similarity = vectors @ vectors.T
    itself = similarity.diagonal().copy()
    np.fill_diagonal(similarity, -np.inf)
    near = np.argsort(-similarity, axis=1, kind="stable")[:, : K + 1]
    return {
        "itself": itself.tolist(),
        "near": near.tolist(),
        "near_scores": np.take_along_axis(similarity, near, axis=1).tolist(),
    }


def _tallies(seen: dict, classes: list) -> dict:
    """The votes of every stored image from its neighbourhood (:func:`_neighbourhoods`): ``weighted`` and
    ``counted`` among its K nearest others, ``itself`` weighted among its K nearest with itself counted in, and
    ``gap``, how far its K-th nearest other is above the next (0: a tie at the edge, where either may vote)."""
    n = len(classes)
    near = [[int(j) for j in row] for row in seen["near"]]
    scores = [[float(s) for s in row] for row in seen["near_scores"]]
    itself = [float(s) for s in seen["itself"]]
    if len(near) != n or len(scores) != n or len(itself) != n or any(len(r) != K + 1 for r in near + scores):
        raise ValueError("the neighbourhoods do not match the store")
    out: dict = {"weighted": [], "counted": [], "itself": [], "gap": []}
    for i in range(n):
        pairs = list(zip(near[i], scores[i]))
        with_self = sorted(pairs + [(i, itself[i])], key=lambda p: (-p[1], p[0]))[:K]
        for key, chosen, weighted in (
            ("weighted", pairs[:K], True),
            ("counted", pairs[:K], False),
            ("itself", with_self, True),
        ):
            tally: dict = {}
            for j, s in chosen:
                tally[classes[j]] = tally.get(classes[j], 0.0) + (s if weighted else 1.0)
            out[key].append(tally)
        out["gap"].append(scores[i][K - 1] - scores[i][K])
    return out


def _check_votes(predicted: dict, paths: list, classes: list, tallies: dict) -> None:
    """Each stored image's ``predicted`` (by row) against the check's own weighted vote of its K nearest others;
    the likely mistakes (itself among its neighbours, a plain count, its own class copied) told apart."""
    weighted, counted, itself = tallies["weighted"], tallies["counted"], tallies["itself"]
    wrong = [i for i, c in predicted.items() if c not in _winners(weighted[i], 1e-6) and tallies["gap"][i] > 1e-6]
    if wrong:
        if all(c in _winners(itself[i], 1e-6) for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images get the class that they themselves vote for: each image is among its "
                "own neighbours.",
                "An image is most similar to itself (score 1): leave it out of its own candidates.",
            )
        if all(c in _winners(counted[i], 0.5) for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images take the class of a plain count of votes; with K = {K}, ties such as "
                "2 against 2 are common, and a count settles them by chance.",
                "Add up each neighbour's cosine similarity per class and take the class with the largest sum.",
            )
        if all(c == classes[i] for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images are 'predicted' as their own class: the true label was copied, not voted.",
                "Predict from the neighbours' classes only.",
            )
        i = wrong[0]
        votes = ", ".join(f"{c}: {v:.3f}" for c, v in sorted(weighted[i].items()))
        raise Wrong(
            f"{Path(paths[i]).name} is predicted {predicted[i]!r}; its {K} nearest other images vote {votes}.",
            f"Take the {K} most similar other stored images, add up their cosine similarities per class and "
            "keep the class with the largest sum.",
        )


def _copy_rows(with_itself: list, without: list) -> list[int]:
    """The stored rows where a copy of the image left out by its score instead of by its path votes otherwise: one
    class wins with the copy counted in, and it is not among the winners without it."""
    rows = []
    for y, (a, b) in enumerate(zip(with_itself, without)):
        right, left_out = _winners(a, 1e-6), _winners(b, 1e-6)
        if len(right) == 1 and not right & left_out:
            rows.append(y)
    return rows


def _copy_row(rows: list[int], seed) -> int | None:
    import random

    return rows[random.Random(int(seed or 0)).randrange(len(rows))] if rows else None


def _itself_probe(vote, paths: list, vectors, classes: list, seed) -> dict | None:
    """The vote function called on one stored row carrying another stored image's embedding (a copy under another
    name, score 1), the image ``y`` chosen from ``seed`` among those where the two ways of leaving an image out
    vote differently; None where the store has no such image."""
    import numpy as np

    similarity = vectors @ vectors.T
    with_itself = _votes(similarity, classes, K, weighted=True)
    np.fill_diagonal(similarity, -np.inf)
    y = _copy_row(_copy_rows(with_itself, _votes(similarity, classes, K, weighted=True)), seed)
    if y is None:
        return None
    x = int(np.argmin(vectors @ vectors[y]))  # the row's own path: the stored image least like the copy
    batch = {
        "path": np.array([paths[x]]),
        "class": np.array([classes[x]]),
        "embedding": vectors[y : y + 1].astype(np.float32),
    }
    try:
        columns = as_columns(vote({k: v.copy() for k, v in batch.items()})) or {}
    except Exception as exc:  # said by the judge, after what the rows show
        return {"x": x, "y": y, "failed": error_line(exc)}
    return {"x": x, "y": y, "predicted": str(list(columns.get("predicted", [None]))[0])}


def _check_itself_by_path(probe: dict | None, paths: list, tallies: dict, seed) -> None:
    """Itself left out by its path, not by its score (``probe``: :func:`_itself_probe`)."""
    y = _copy_row(_copy_rows(tallies["itself"], tallies["weighted"]), seed)
    if y is None:
        if probe is not None:
            raise ValueError("a copy probed where the store has none to probe")
        return  # on this store, leaving out the best match by its score votes the same: nothing to tell apart
    if int(probe["y"]) != y:
        raise ValueError("the copy probed is not the one asked for")
    if "failed" in probe:
        raise Wrong(f"your vote function failed on a batch of one stored row: {probe['failed']}", KNN_HINT)
    x, got = int(probe["x"]), str(probe["predicted"])
    right, left_out = _winners(tallies["itself"][y], 1e-6), _winners(tallies["weighted"][y], 1e-6)
    if got in left_out and got not in right:
        raise Wrong(
            f"given the row of {Path(paths[x]).name} with the embedding of {Path(paths[y]).name} (a copy stored "
            "under another path, score 1), your vote left that copy out: it leaves out the best score, not the "
            "image itself.",
            'Leave each image out by its path (np.equal.outer(batch["path"], all_paths)), not by its score.',
        )


def _judge_stretch(seen, seed) -> str:
    paths, classes = [str(p) for p in seen["paths"]], [str(c) for c in seen["classes"]]
    if len(classes) != len(paths):
        raise ValueError("a class for every stored path")
    _check_vote_stage(seen["stages"])
    _check_knn_rows(seen, paths)
    tallies = _tallies(seen, classes)
    index = {p: i for i, p in enumerate(paths)}
    predicted = {index[str(p)]: str(c) for p, c in zip(seen["knn_path"], seen["knn_predicted"])}
    _check_votes(predicted, paths, classes, tallies)
    _check_itself_by_path(seen["probe"], paths, tallies, seed)
    accuracy = sum(predicted[i] == classes[i] for i in range(len(paths))) / len(paths)
    kinds = len(set(classes))
    return (
        f"{len(paths)} images, each labelled by the weighted vote of its {K} nearest others: leave-one-out "
        f"accuracy {accuracy:.1%} over {kinds} classes (chance about {1 / kinds:.0%})."
    )


@exercise("Stretch · a k-nearest-neighbour classifier", judge=_judge_stretch)
def stretch(knn, embeddings_dir, *, seed=None):
    """``knn``: a Dataset whose batch function gives every stored image the class its K most similar *other*
    stored images vote for (left out by path), each vote weighted by its cosine similarity.

    Observes the store (paths, classes, and each image's nearest other images with their cosines: see
    :func:`_neighbourhoods`), ``knn``'s stages and rows, and its vote function called on a copy of a stored image
    chosen from ``seed`` (:func:`_itself_probe`)."""
    require("knn", knn, "a Dataset with `path` and `predicted` for every stored image")
    paths, vectors, table = _store(embeddings_dir, "to classify")
    if "class" not in table.columns:
        raise NotSolved("the stored embeddings have no class folders yet: solve Exercise 2 first.")
    require_dataset("knn", knn, KNN_HINT)
    classes = [str(c) for c in table["class"]]
    seen = {
        "paths": paths,
        "classes": classes,
        **_neighbourhoods(vectors),
        "stages": [[s.kind, s.is_class] for s in stages(knn)],
    }
    functions = _vote_functions(knn)
    if not functions:
        return seen
    got = knn.to_pandas()
    seen["columns"] = [str(c) for c in got.columns]
    for column in ("path", "predicted"):
        if column in got.columns:
            seen[f"knn_{column}"] = [str(v) for v in got[column]]
    seen["probe"] = _itself_probe(functions[-1], paths, vectors, classes, seed)
    return seen
