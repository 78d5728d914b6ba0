"""Lab 06, exercise 2: the store on disk under ``embeddings_dir`` (a folder per class, every image once, CLIP's
embeddings on a sample) and the plan of ``embeddings`` (the class stage, a whole GPU per actor)."""

from __future__ import annotations

from pathlib import Path

from .._core import Wrong, exercise, require
from ..stats import require_lazy
from ..toolkit import check_embeddings, model_for, partition_of, require_dataset, stages
from ._common import (
    DIRECTION_HINT,
    IMAGE_SUFFIXES,
    SAME_DIRECTION,
    WIDTH_HINT,
    _filesystem,
    _image_embeddings,
    _open_image,
    _parquet_files,
    _stored,
    _vectors,
)

SAMPLE_ROWS = 6  # stored rows whose embedding Exercise 2 recomputes
STORED = ("path", "embedding")  # the columns the files of Exercise 2 hold (the class is in the folder names)


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
    from ...data import data_path

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

    from raycourse.session import room as rooms

    require("embeddings", embeddings, "the Dataset of embeddings (the ImagePathEmbedder stage over the catalogue)")
    require_dataset("embeddings", embeddings, "Build it with catalogue.map_batches(ImagePathEmbedder, ...).")
    require_lazy(
        "embeddings",
        embeddings,
        "your stage's settings (its model id, GPUs and pool)",
        "build it, then write it; write_parquet runs it once.",
    )
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
