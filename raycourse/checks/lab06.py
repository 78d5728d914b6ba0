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
the model id and the image root as constructor arguments, with GPUs and an actor pool of any size from one actor
to what the cluster's GPUs hold (one per GPU at ``num_gpus=1``).

Exercise 3 calls the learner's ``find_duplicates(queries, threshold)`` with query embeddings the lab never uses
(stored embeddings nudged, one stored embedding as it is, random directions) and two thresholds, and compares the
result with its own search over the stored embeddings: one row per query, its name in ``query``, the stored image
with the highest cosine similarity in ``match`` (either one of a tie), that cosine in ``score``, ``duplicate``
true exactly where the score reaches the threshold, the rows best first.

The stretch (optional) reads ``knn`` (a Dataset, a DataFrame or the rows of ``take_all``) with ``path`` and
``predicted`` for every stored image and compares it with the check's own leave-one-out vote: the class with the
highest summed cosine similarity among the ``K`` most similar *other* stored images.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import math
import os
from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import call_as_ray, class_stages, counting, model_for, partition_of
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


def _catalogue_batch() -> dict:
    """A catalogue batch as Ray hands it to a stage: a dict of NumPy arrays with paths, classes and sizes."""
    import numpy as np

    paths = []
    for folder in sorted(p for p in Path(_probe_root()).iterdir() if p.is_dir()):
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(files[i]) for i in PROBE_FILES]
    return {
        "path": np.array(paths),
        "class": np.array([Path(p).parent.name for p in paths]),
        "file_size": np.array([Path(p).stat().st_size for p in paths], dtype=np.int64),
    }


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


def _embedding_rows(out, n: int) -> tuple["np.ndarray", list]:  # noqa: F821
    """The learner's output batch as (embeddings (n, width), paths)."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        out = {c: out[c].to_numpy() for c in out.columns}
    if not hasattr(out, "keys"):
        raise Wrong(
            f"`ImagePathEmbedder` returned a {type(out).__name__}, not a batch.",
            "Return the batch (a dict of columns) with an `embedding` column added.",
        )
    if "embedding" not in out:
        raise Wrong(
            f"the batch `ImagePathEmbedder` returned has no `embedding` column (its columns: {sorted(out)}).",
            'Put each image\'s embedding in a column called `embedding`: batch["embedding"] = ...',
        )
    if "path" not in out:
        raise Wrong(
            "the batch `ImagePathEmbedder` returned lost its `path` column.",
            "Add the embedding to the batch and return the whole batch: the path says which image it is.",
        )
    vectors = _vectors(out["embedding"])
    if len(vectors) != n:
        raise Wrong(
            f"`embedding` has {len(vectors)} rows for a batch of {n} paths.",
            "Embed the whole batch: one embedding per path.",
        )
    return vectors, [str(p) for p in out["path"]]


def _check_vectors(vectors, reference, what: str) -> None:
    import numpy as np

    width = reference.shape[1]
    if vectors.shape[1] != width:
        raise Wrong(
            f"{what} have {vectors.shape[1]} numbers each; this CLIP's embeddings have {width} "
            "(its config's projection_dim).",
            "Use what model.get_image_features(**inputs).pooler_output returns, and do not reshape or "
            "hard-code a width.",
        )
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1, atol=1e-3):
        raise Wrong(
            f"{what} are not of length 1 (lengths from {norms.min():.3g} to {norms.max():.3g}).",
            "Normalise each embedding: torch.nn.functional.normalize(features, dim=-1), so that a dot "
            "product is the cosine similarity.",
        )
    cosines = np.sum(vectors * reference, axis=1)
    if cosines.min() < SAME_DIRECTION:
        raise Wrong(
            f"{what} are not CLIP's image embeddings of the images at their paths (for one image the "
            f"cosine with CLIP's own is {cosines.min():.2f}).",
            "Open the image at each row's path, run all of them through processor(images=..., "
            'return_tensors="pt") and model.get_image_features(**inputs).pooler_output, and keep the rows '
            "in the batch's order.",
        )


def _construct(cls, **kwargs):
    try:
        return cls(**kwargs)
    except TypeError as exc:
        if "argument" in str(exc):
            raise Wrong(
                f"`ImagePathEmbedder(model_id=..., image_root=...)` failed: {exc}",
                'fn_constructor_kwargs={"model_id": ..., "image_root": ...} passes both to __init__ '
                "by name: give __init__ parameters with those names.",
            ) from None
        raise


@exercise("Exercise 1")
def exercise_1(ImagePathEmbedder):
    """``ImagePathEmbedder(model_id, image_root)``: CLIP loaded once, each batch's images opened through the
    filesystem of ``image_root``, one forward pass per batch, unit-length embeddings, every column kept."""
    require("ImagePathEmbedder", ImagePathEmbedder, "your ImagePathEmbedder class")
    if not inspect.isclass(ImagePathEmbedder):
        raise Wrong(
            f"`ImagePathEmbedder` is a {type(ImagePathEmbedder).__name__}, not a class.",
            "Write `class ImagePathEmbedder:` with __init__(self, model_id, image_root) and __call__(self, batch).",
        )
    batch = _catalogue_batch()
    n = len(batch["path"])
    root = _probe_root()
    filesystem, _ = _filesystem(root)
    reference = _image_embeddings([_open_image(filesystem, p) for p in batch["path"]])
    from transformers import CLIPModel

    with counting(CLIPModel, "get_image_features") as counts:
        embedder = _construct(ImagePathEmbedder, model_id=model_for("clip"), image_root=root)
        loads_in_init, processors_in_init = counts["load"], counts["processor"]
        if loads_in_init == 0:
            raise Wrong(
                "`ImagePathEmbedder.__init__` loads no model.",
                "Load CLIPModel.from_pretrained(model_id) (and the CLIPProcessor) in __init__: once per actor.",
            )
        with _opened_by_name(batch["path"]) as by_name:
            out = call_as_ray(embedder, batch)
            second = call_as_ray(embedder, batch)
    if counts["load"] > loads_in_init or counts["processor"] > processors_in_init:
        what = "a model" if counts["load"] > loads_in_init else "a processor"
        extra = max(counts["load"] - loads_in_init, counts["processor"] - processors_in_init)
        raise Wrong(
            f"`ImagePathEmbedder` loaded {what} {extra} times while embedding 2 batches: loaded per batch.",
            "Load the model and the processor once, in __init__, and keep them on self; __call__ only uses them.",
        )
    if by_name:
        raise Wrong(
            f"`ImagePathEmbedder` opened {Path(by_name[0]).name} by its path (Image.open(path) or "
            "open(path)): that reads this machine's disk, and in the gpu profile the paths are keys in an "
            "S3 bucket, which no local open reaches.",
            "Open each file through the filesystem of image_root, as the lesson's load_image does: "
            "pyarrow.fs.FileSystem.from_uri(image_root) in __init__, then filesystem.open_input_file(path).",
        )
    if counts["with_grad"]:
        raise Wrong(
            "CLIP ran with gradients recorded: every forward pass built an autograd graph that inference "
            "never uses (memory and time on a GPU).",
            "Run the model under `with torch.inference_mode():`, as the lab asks.",
        )
    if counts["forward"] >= 2 * n:
        raise Wrong(
            f"CLIP ran {counts['forward'] // 2} times for a batch of {n} paths: one image at a time.",
            "Open every image of the batch first, then embed them all at once: processor(images=[...], "
            'return_tensors="pt") and one get_image_features call.',
        )
    vectors, paths = _embedding_rows(out, n)
    if "image" in _columns(out):
        raise Wrong(
            "the batch `ImagePathEmbedder` returned carries the decoded images (an `image` column): "
            "the pixels would travel on to every later stage, for nothing.",
            "Decode inside __call__, embed, and let the pixels go: return the batch's own columns and the `embedding`.",
        )
    lost = [c for c in batch if c not in _columns(out)]
    if lost:
        raise Wrong(
            f"the batch `ImagePathEmbedder` returned lost its {', '.join(f'`{c}`' for c in lost)} "
            "column(s); a stage adds what it computes and leaves the rest for later steps to choose.",
            "Add the `embedding` column to the batch you were given and return that batch, every column kept.",
        )
    if paths != [str(p) for p in batch["path"]]:
        raise Wrong(
            "the returned rows are not in the batch's order (or their paths changed).",
            "Add the embeddings as a column of the batch you were given; keep its rows as they are.",
        )
    _check_vectors(vectors, reference, "the embeddings")
    _embedding_rows(second, n)
    try:
        ImagePathEmbedder(model_id=str(Path(model_for("clip")) / "no-such-model"), image_root=root)
    except Exception:
        pass
    else:
        raise Wrong(
            "`ImagePathEmbedder(model_id=<a model that does not exist>)` loaded a model anyway: it does "
            "not load the model it is given.",
            "Load CLIPModel.from_pretrained(model_id) with the model_id argument, not a fixed name.",
        )
    return (
        f"{n} paths (grayscale and colour, PNG and JPEG), opened through the filesystem; one load in __init__ "
        f"and one CLIP pass per batch; {vectors.shape[1]} numbers per embedding, each of length 1."
    )


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


def _stage(embeddings):
    stages = class_stages(embeddings)
    if not stages:
        raise Wrong(
            "`embeddings` has no stage that runs a callable class.",
            "Pass the class itself to map_batches (map_batches(ImagePathEmbedder, ...)): Ray builds one "
            "per actor, so CLIP is loaded once per actor.",
        )
    ours = [op for op in stages if op.fn.__name__ == "ImagePathEmbedder"]
    return (ours or stages)[-1]


SIZE_IT = 'GPUS = min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget())'


def _check_stage(op, image_root) -> None:
    from ray.data import ActorPoolStrategy

    args = [str(a) for a in list(op.fn_constructor_args or []) + list((op.fn_constructor_kwargs or {}).values())]
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
    gpus = (op.ray_remote_args or {}).get("num_gpus") or 0
    if gpus <= 0:
        raise Wrong("the embedding stage asks for no GPU.", "Give the stage num_gpus=1: one CLIP per GPU.")
    if not isinstance(op.compute, ActorPoolStrategy):
        raise Wrong(
            f"the embedding stage runs with {op.compute}, not an actor pool.",
            f"compute=ray.data.ActorPoolStrategy(size=GPUS), with {SIZE_IT}.",
        )
    from raycourse import room as rooms

    cluster = float(rooms.learner_gpus())  # the cluster's GPUs, within the learner's budget
    room = int(cluster) * int(1 / gpus + 1e-9) if gpus <= 1 else int(cluster // math.ceil(gpus))
    actors = int(op.compute.min_size or 1)
    if cluster > 0 and actors > room:
        raise Wrong(
            f"the embedding stage asks for a pool of {actors} actors with {gpus:g} GPU each, more than "
            f"{rooms.budget_words(int(cluster))} can hold: the extra actors would wait for a GPU forever, "
            "with no error.",
            f"One actor per GPU at most: {SIZE_IT}, then compute=ray.data.ActorPoolStrategy(size=GPUS).",
        )


def _check_layout(root: Path, files: list[Path]) -> None:
    """One hive folder per class (``class=<name>``) directly under ``root``, every file in one."""
    flat = [f for f in files if f.parent == root]
    if flat:
        raise Wrong(
            f"{len(flat)} parquet files lie directly in {root}, not in one folder per class.",
            "Let the writer make the folders: write_parquet(str(embeddings_dir), partition_cols=[...]) "
            "with the class column.",
        )
    partitions = {f: partition_of(f, root) for f in files}
    odd = [f for f, p in partitions.items() if p is None]
    if odd:
        folder = odd[0].relative_to(root).parent
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


@exercise("Exercise 2")
def exercise_2(embeddings, embeddings_dir, image_root):
    """What is on disk in ``embeddings_dir``: one ``class=<name>`` folder per class holding the ``path`` and the
    unit-length CLIP embedding of each of its images, every catalogue image once, nothing else."""
    require("embeddings", embeddings, "the Dataset of embeddings (the ImagePathEmbedder stage over the catalogue)")
    import numpy as np
    import ray.data

    if not isinstance(embeddings, ray.data.Dataset):
        raise Wrong(
            f"`embeddings` is a {type(embeddings).__name__}, not a Ray Dataset.",
            "Build it with catalogue.map_batches(ImagePathEmbedder, ...).",
        )
    root = Path(embeddings_dir)
    files = _parquet_files(root)
    if not files:
        elsewhere = _parquet_elsewhere(root)
        raise Wrong(
            f"`embeddings` is built, but {root} holds no parquet files"
            + (f"; there are some in {elsewhere}" if elsewhere else "")
            + ".",
            "Write the embeddings into that folder: write_parquet(str(embeddings_dir), ...).",
        )
    _check_layout(root, files)
    table = _stored(root)
    if "image" in table.columns:
        raise Wrong(
            "the stored files hold the images (an `image` column).",
            "Store no pixels: the path says where each image is.",
        )
    missing = {"path", "embedding"} - set(table.columns)
    if missing:
        raise Wrong(
            f"the stored files have no {', '.join(sorted(missing))} column (its columns: {sorted(table.columns)}).",
            "Keep the path of every image and its embedding in what you write.",
        )
    extra = sorted(set(table.columns) - set(STORED) - {"class"})
    if extra:
        raise Wrong(
            f"the stored files also hold {', '.join(f'`{c}`' for c in extra)}, which no later step reads.",
            "Keep only what later steps need before you write: the path and the embedding (the class goes "
            "into the folder names).",
        )
    files_listed = _image_paths(image_root)
    paths = [str(p) for p in table["path"]]
    if len(set(paths)) != len(paths):
        raise Wrong(
            f"{len(paths) - len(set(paths))} images are stored more than once.",
            "Write each image once: run the pipeline once, into an empty folder (out_dir is emptied by "
            "the setup cell).",
        )
    unknown = [p for p in paths if not any(_same_path(p, f) for f in files_listed)]
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
    misplaced = [(p, c) for p, c in zip(paths, table["class"]) if Path(p).parent.name != str(c)]
    if misplaced:
        path, folder = misplaced[0]
        raise Wrong(
            f"{len(misplaced)} images are in the folder of another class, for example {Path(path).name} "
            f"in class={folder}.",
            "Partition by the catalogue's own class column, unchanged.",
        )
    vectors = _vectors(table["embedding"])
    rows = np.random.default_rng(0).choice(len(paths), size=min(SAMPLE_ROWS, len(paths)), replace=False)
    filesystem, _ = _filesystem(image_root)
    reference = _image_embeddings([_open_image(filesystem, paths[i]) for i in rows])
    _check_vectors(vectors[rows], reference, "the stored embeddings")
    if not np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3):
        raise Wrong("some stored embeddings are not of length 1.", "Normalise every embedding in ImagePathEmbedder.")
    _check_stage(_stage(embeddings), image_root)
    classes = sorted(table["class"].unique())
    return (
        f"{len(paths)} images in {len(classes)} class folders ({len(files)} parquet files), {vectors.shape[1]} "
        "numbers per embedding, only path and embedding in the files."
    )


# Exercise 3 -------------------------------------------------------------------------------------


def _store(embeddings_dir, what: str) -> tuple[list[str], "np.ndarray", "pd.DataFrame"]:  # noqa: F821
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        raise NotSolved(f"there are no stored embeddings {what} yet: solve Exercise 2 first.") from None
    return [str(p) for p in table["path"]], _vectors(table["embedding"]), table


def _probe_queries(vectors) -> tuple[list[str], "np.ndarray"]:  # noqa: F821
    """Queries the lab never uses: stored embeddings nudged, one as it is, and random directions; not in order."""
    import numpy as np

    rng = np.random.default_rng(6)
    picks = rng.choice(len(vectors), size=4, replace=False)
    nudged = vectors[picks[:3]] + rng.normal(scale=0.005, size=(3, vectors.shape[1]))
    random = rng.normal(size=(2, vectors.shape[1]))
    queries = np.concatenate([nudged, vectors[picks[3:]], random])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    names = ["edited photo 1", "edited photo 2", "edited photo 3", "exact copy", "unrelated 1", "unrelated 2"]
    order = rng.permutation(len(names))
    return [names[i] for i in order], queries[order]


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


def _found(out, n: int) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    if isinstance(out, list) and all(isinstance(r, dict) for r in out):
        out = pd.DataFrame(out)
    if not isinstance(out, pd.DataFrame):
        raise Wrong(
            f"`find_duplicates` returned a {type(out).__name__}, not a DataFrame.",
            "Return a pandas DataFrame with the columns query, match, score and duplicate, one row per query.",
        )
    missing = [c for c in FIND_COLUMNS if c not in out.columns]
    if missing:
        raise Wrong(
            f"the DataFrame `find_duplicates` returned has no {', '.join(f'`{c}`' for c in missing)} column "
            f"(its columns: {list(out.columns)}).",
            "Name the columns as the lab asks (query, match, score, duplicate): the cell after the check "
            "reads them by name.",
        )
    if len(out) != n:
        raise Wrong(
            f"`find_duplicates` returned {len(out)} rows for {n} queries.",
            "One row per query, flagged or not: its best stored match only.",
        )
    return out.reset_index(drop=True)


@exercise("Exercise 3")
def exercise_3(find_duplicates, embeddings_dir):
    """``find_duplicates(queries, threshold)``: each query's most similar stored image, its cosine, whether it
    reaches the threshold; one row per query, best first."""
    import numpy as np
    import pandas as pd

    require("find_duplicates", find_duplicates, "your find_duplicates(queries, threshold) function")
    if not callable(find_duplicates):
        raise Wrong(
            f"`find_duplicates` is a {type(find_duplicates).__name__}, not a function.",
            "def find_duplicates(queries, threshold): ...",
        )
    paths, vectors, _ = _store(embeddings_dir, "to search")
    names, queries = _probe_queries(vectors)
    scores = queries @ vectors.T  # (queries, stored)
    best = scores.max(axis=1)
    index = {p: i for i, p in enumerate(paths)}
    for threshold in _thresholds(best):
        frame = pd.DataFrame({"query": names, "embedding": list(queries.astype(np.float32))})
        got = _found(find_duplicates(frame.copy(), threshold), len(names))
        if sorted(map(str, got["query"])) != sorted(names):
            raise Wrong(
                f"the `query` column holds {list(got['query'])[:3]}..., not the names of the queries ({names[:3]}...).",
                'Copy each query\'s name from queries["query"] into its row.',
            )
        row_of = {name: names.index(name) for name in names}
        mine = []
        for name, match, score, flag in zip(got["query"], got["match"], got["score"], got["duplicate"]):
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
            if abs(float(score) - cosine) > 1e-3:
                raise Wrong(
                    f"the score of {name!r} is {float(score):.4f}; the cosine similarity of the query and "
                    f"its match is {cosine:.4f}.",
                    "Both the stored and the query embeddings have length 1: their dot product is the score.",
                )
            if isinstance(flag, str) or not isinstance(flag, (bool, np.bool_, int, np.integer)):
                raise Wrong(
                    f"`duplicate` holds {flag!r}; it should be True or False.",
                    "Compare the score with the threshold: score >= threshold gives True or False.",
                )
            flagged = bool(flag)
            if flagged != bool(cosine >= threshold):
                inverted = all(
                    bool(f) == bool(scores[row_of[str(n)]].max() < threshold)
                    for n, f in zip(got["query"], got["duplicate"])
                )
                if inverted:
                    raise Wrong(
                        f"with threshold={threshold:.4f}, `duplicate` is True exactly for the queries whose "
                        "best score is *below* the threshold.",
                        "A near-duplicate is a query whose best score reaches the threshold.",
                    )
                raise Wrong(
                    f"with threshold={threshold:.4f}, {name!r} (best score {cosine:.4f}) is "
                    f"{'flagged' if flagged else 'not flagged'} as a duplicate.",
                    "Flag a query when its best score reaches the threshold the function is given (not a "
                    "fixed number).",
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
    return (
        f"{len(names)} new queries, {len(_thresholds(best))} thresholds: the same best matches, scores and flags "
        f"as a search the check ran itself over the {len(paths)} stored embeddings, best first."
    )


# Stretch -----------------------------------------------------------------------------------------------


def _as_frame(knn) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd
    import ray.data

    if isinstance(knn, ray.data.Dataset):
        return knn.to_pandas()
    if isinstance(knn, pd.DataFrame):
        return knn
    if isinstance(knn, list) and knn and all(isinstance(r, dict) for r in knn):
        return pd.DataFrame(knn)  # the rows of `knn.take_all()`
    raise Wrong(
        f"`knn` is a {type(knn).__name__}, not a Ray Dataset.",
        "Build it with `map_batches` over the stored embeddings (`ray.data.read_parquet`).",
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


@exercise("Stretch · a k-nearest-neighbour classifier")
def stretch(knn, embeddings_dir):
    """``knn``: for every stored image, the class its K most similar *other* stored images vote for, each vote
    weighted by its cosine similarity."""
    import numpy as np

    require("knn", knn, "a Dataset with `path` and `predicted` for every stored image")
    paths, vectors, table = _store(embeddings_dir, "to classify")
    if "class" not in table.columns:
        raise NotSolved("the stored embeddings have no class folders yet: solve Exercise 2 first.")
    got = _as_frame(knn)
    lacking = [c for c in ("path", "predicted") if c not in got.columns]
    if lacking:
        raise Wrong(
            f"`knn` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: {list(got.columns)}).",
            "One row per stored image: its `path` and the `predicted` class.",
        )
    if sorted(map(str, got["path"])) != sorted(paths):
        raise Wrong(
            f"`knn` has {len(got)} rows for {got['path'].nunique()} paths; there are {len(paths)} stored images.",
            "One row for every stored image, each once.",
        )
    classes = np.array([str(c) for c in table["class"]])
    similarity = vectors @ vectors.T
    itself = _votes(similarity, classes, K, weighted=True)  # a plausible mistake: each image votes for itself
    np.fill_diagonal(similarity, -np.inf)
    weighted, counted = _votes(similarity, classes, K, True), _votes(similarity, classes, K, False)
    ordered = np.sort(similarity, axis=1)[:, ::-1]
    index = {p: i for i, p in enumerate(paths)}
    predicted = {index[str(p)]: str(c) for p, c in zip(got["path"], got["predicted"])}
    wrong = [
        i
        for i, c in predicted.items()
        if c not in _winners(weighted[i], 1e-6) and ordered[i, K - 1] - ordered[i, K] > 1e-6
    ]
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
    accuracy = np.mean([predicted[i] == classes[i] for i in range(len(paths))])
    return (
        f"{len(paths)} images, each labelled by the weighted vote of its {K} nearest others: leave-one-out "
        f"accuracy {accuracy:.1%} over {len(set(classes))} classes (chance about {1 / len(set(classes)):.0%})."
    )
