"""Checks for lab 03 (batch image generation): uint8 pixels from float output; one Parquet file; PNG files.

Exercise 1 looks at the learner's Dataset ``images``: the lab's ``FloatImageGen`` returns
the diffusers pipeline's NumPy output, float32 values from 0.0 to 1.0 (the lesson's
``ImageGen`` returned PIL images and converted them itself), and the learner turns it
into uint8 pixels from 0 to 255 in a stage of its own. The images must come from the
lab's ``FloatImageGen`` (read from the plan, or from the stats of a materialized
Dataset), so the lesson's ``ImageGen`` pasted in does not pass. Exercises 2 and 3 look
only at what is on disk, so any way of producing it passes: Ray Data's ``write_parquet``
/ ``write_images`` (the intended answers), pyarrow, pandas or PIL in a loop. Exercise 2
asks for one Parquet file (a Ray write makes a file per block: the learner decides the
blocks, or the rows per file). Each check
takes what the exercise names and the ``prompts`` Dataset the images were made from
(or a list of the prompts, or just the expected number of images)::

    check.exercise_1(images, prompts)
    check.exercise_2(out_dir / "images_parquet", prompts)
    check.exercise_3(out_dir / "png", prompts)

Exercise 1 also asks for a pool of GPU actors, one per GPU of the cluster: any pool of 1 to the
cluster's GPUs passes, and a larger one is wrong, because its extra actors wait for a GPU that never
frees up, with no error. The check reads the pool from the plan of ``images`` when it is still lazy;
after ``materialize()`` the plan is gone, and Ray's actor table shows the pool that made it (its actors,
and those that never started).

Every image must be a 512x512 RGB uint8 array that is not blank: the tiny stand-in paints
a shaded colour (its channels far apart) and SDXL-Turbo draws pictures, and neither stays
within a few grey levels, while
a uint8 cast of values from 0.0 to 1.0 leaves only 0s and 1s, and a cast before the
scaling only 0s and 255s.
Nothing written anywhere under the folder's parent (``out_dir``) means "not solved
yet"; files of the right kind in another folder are a wrong answer.
"""

from __future__ import annotations

import io
from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import class_stages, visible_files

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

IMAGE_SHAPE = (512, 512, 3)  # what SDXL-Turbo and its tiny stand-in draw: 512x512 RGB
MIN_PIXEL_RANGE = 8  # a drawn image spans more than this many grey levels; a blank one does not
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
RERUN_HINT = (
    "Ray's write methods add files to a folder that already has some: re-run the setup cell "
    "(it empties out_dir), then run your exercise cell once."
)


# helpers ----------------------------------------------------------------------------------------


def _expected(prompts) -> tuple[int, list[str] | None]:
    """(number of images, prompt texts or None) from the prompts Dataset, a list of prompts or a count."""
    require("prompts", prompts, "the prompts Dataset from the setup cell")
    if isinstance(prompts, bool):
        raise TypeError("expected the prompts Dataset or a number of prompts, got a bool")
    if isinstance(prompts, int):
        return prompts, None
    if isinstance(prompts, (list, tuple)):
        return len(prompts), [str(p) for p in prompts]
    rows = prompts.take_all()  # a Ray Dataset: a few rows, cheap
    return len(rows), [str(r["prompt"]) for r in rows] if rows and "prompt" in rows[0] else None


def _folder(path) -> Path:
    require("the folder", path, "the folder the exercise names")
    return Path(path).expanduser()


def _where(folder: Path, out_dir: Path) -> str:
    """A folder named the way the notebook names it: out_dir / "x", never an absolute path."""
    if folder == out_dir:
        return "out_dir itself"
    try:
        rel = folder.relative_to(out_dir)
    except ValueError:
        return folder.name + "/"
    return "out_dir / " + " / ".join(f'"{part}"' for part in rel.parts)


def _stray(target: Path, suffixes: set[str]) -> list[Path]:
    """Files with one of ``suffixes`` under the target's parent (out_dir) but outside the target."""
    parent = target.parent
    if not parent.is_dir():
        return []
    return [
        p for p in visible_files(parent) if p.suffix.lower() in suffixes and target != p and target not in p.parents
    ]


def _not_there(target: Path, suffixes: set[str], kind: str, what: str):
    """Raise Wrong when files of this kind went to another folder, NotSolved when nothing was written."""
    stray = _stray(target, suffixes)
    if stray:
        folders = sorted({_where(p.parent, target.parent) for p in stray})
        raise Wrong(
            f"found {len(stray)} {kind} file(s) in {', '.join(folders)}, but none in {_where(target, target.parent)}.",
            f'Write into exactly the folder the exercise names: out_dir / "{target.name}".',
        )
    raise NotSolved(f'nothing written to out_dir / "{target.name}" yet; {what}.')


def _describe(files: list[Path]) -> str:
    """What a folder holds, by kind: "3 .csv files" (file names from Ray are long and random)."""
    from collections import Counter

    kinds = Counter(p.suffix.lower() or "extension-less" for p in files)
    return ", ".join(f"{n} {kind} file{'s' if n > 1 else ''}" for kind, n in kinds.most_common())


def _pickled(column_type) -> bool:
    """True for Ray's column of pickled Python objects (what a list of PIL images becomes)."""
    name = type(column_type).__name__ + str(getattr(column_type, "extension_name", ""))
    return "PythonObject" in name or "pickled" in name


def _as_array(value):
    """One stored image as a NumPy array: a tensor cell, nested lists or encoded image bytes."""
    import numpy as np
    from PIL import Image

    if isinstance(value, dict) and "bytes" in value:  # {"bytes": ..., "path": ...} as some libraries store it
        value = value["bytes"]
    if isinstance(value, (bytes, bytearray, memoryview)):
        with Image.open(io.BytesIO(bytes(value))) as image:
            return np.asarray(image)
    if isinstance(value, (np.ndarray, list, tuple)) or hasattr(value, "__array__"):
        return np.asarray(value)
    raise ValueError(f"a value of type {type(value).__name__}")


def _column_arrays(column) -> list:
    """The images of one Parquet column as NumPy arrays (raises ValueError when they are not images)."""
    import pyarrow as pa

    if isinstance(column.type, pa.FixedShapeTensorType):  # pyarrow's own tensor type: one array for all rows
        return list(column.combine_chunks().to_numpy_ndarray())
    return [_as_array(v) for v in column.to_pylist()]


def _shape_problem(array) -> str | None:
    """What is wrong with one decoded image, or None when it is a 512x512 RGB uint8 array."""
    if array.dtype == object or array.ndim == 0:
        return "is not an array of pixels"
    if tuple(array.shape) != IMAGE_SHAPE:
        if array.ndim == 3 and array.shape[0] == 3 and tuple(array.shape[1:]) == IMAGE_SHAPE[:2]:
            return f"has the shape {tuple(array.shape)}: colour channels first instead of last"
        return f"has the shape {tuple(array.shape)}, not {IMAGE_SHAPE}"
    if str(array.dtype) != "uint8":
        return f"has pixels of type {array.dtype}, not uint8"
    return None


def _blank_problem(array) -> str | None:
    """What is wrong with a well-shaped image that holds (almost) no picture, or None."""
    import numpy as np

    low, high = int(array.min()), int(array.max())
    if high - low < MIN_PIXEL_RANGE:
        return f"is blank: all its pixels lie between {low} and {high}, where a drawn image uses the range 0 to 255"
    levels = np.unique(array)
    if len(levels) <= 2:
        return (
            f"holds only the pixel values {', '.join(str(int(v)) for v in levels)}, where a drawn image uses "
            "every level from 0 to 255"
        )
    return None


BLANK_HINT = (
    "Pixels run from 0 to 255: scale FloatImageGen's values (0.0 to 1.0) up to that range first, then "
    "cast to uint8; a cast first keeps only 0 and 1."
)


def _image_problem(array) -> tuple[str, str] | None:
    """(problem, hint) for one decoded image, or None when it is a real 512x512 RGB uint8 image."""
    problem = _shape_problem(array)
    if problem:
        return problem, (
            "Turn FloatImageGen's float32 values (0.0 to 1.0) into uint8 pixels (0 to 255) and keep "
            f"the shape: {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} pixels, 3 colour channels last."
        )
    problem = _blank_problem(array)
    return (problem, BLANK_HINT) if problem else None


# Exercise 1 -------------------------------------------------------------------------------------

PIXELS_HINT = (
    'Add a step after FloatImageGen that replaces batch["image"] with one NumPy uint8 array for the '
    "whole batch, of the shape (rows, 512, 512, 3)."
)
GENERATOR = "FloatImageGen"


def _what_objects(values) -> str:
    """A name for the Python objects in a pickled column: "PIL images", "Python objects (ndarray)", ..."""
    from PIL import Image

    first = next((v for v in values if v is not None), None)
    if isinstance(first, Image.Image):
        return "PIL images"
    return f"Python objects ({type(first).__name__})"


def _cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0


def _learner_gpus() -> float:
    """The GPUs the lab's pool may use: the cluster's, within the learner's budget (raycourse.gpu_budget())."""
    from raycourse import room

    return float(room.learner_gpus())


def _planned_pools(ds) -> list[tuple[str, int, float]]:
    """(stage, actors, GPUs per actor) of every fixed actor pool in the plan of a lazy Dataset."""
    from ray.data import ActorPoolStrategy

    pools = []
    for op in class_stages(ds):
        if isinstance(op.compute, ActorPoolStrategy):
            gpus = float((op.ray_remote_args or {}).get("num_gpus") or 0)
            pools.append((op.fn.__name__, int(op.compute.min_size or 1), gpus))
    return pools


def _operator_names(stats) -> set[str]:
    """The operators (``MapBatches(FloatImageGen)``, ...) that a Dataset's stats say made it."""
    names, stack = set(), [stats]
    while stack:
        current = stack.pop()
        names.update((getattr(current, "metadata", None) or {}).keys())
        stack.extend(getattr(current, "parents", None) or [])
    return names


def _ran_pools(ds) -> list[tuple[str, int, int]]:
    """(stage, actors, actors that never started) of the last run of each actor pool that made ``ds``.

    A materialized Dataset keeps no plan; Ray's actor table still lists the pool's actors
    (``MapWorker(<operator>)``, one entry per actor, those that never got their resources with no start time).
    The actors that ended with the last one are its last run; an earlier pool that Ray shut down only then
    counts with it, so ``actors`` may be more than the pool's size, while the actors that never started are
    the ones that waited for a GPU. Internal APIs: on any change, no pools are reported and the row checks
    still run.
    """
    try:
        import ray
        from ray._private import state

        operators = _operator_names(ds._raw_stats())
        job = ray.get_runtime_context().get_job_id()
        workers = [a for a in state.actors().values() if a.get("JobID") == job]
    except Exception:
        return []
    pools = []
    for operator in sorted(o for o in operators if "(" in o):
        actors = [a for a in workers if a.get("ActorClassName") == f"MapWorker({operator})"]
        if not actors:
            continue
        last_end = max(a.get("EndTime") or 0 for a in actors)  # a pool's actors end together, when it shuts down
        run = [a for a in actors if abs((a.get("EndTime") or 0) - last_end) < 2000]  # milliseconds
        pools.append((operator, len(run), sum(1 for a in run if not a.get("StartTime"))))
    return pools


def _check_planned_pools(images) -> bool:
    """Wrong when a pool in the plan of ``images`` has more GPU actors than the cluster can hold; True when
    the plan shows its pools (a lazy Dataset), False when it cannot (a materialized one)."""
    gpus = _learner_gpus()
    planned = _planned_pools(images)
    for stage, actors, per_actor in planned:
        if gpus > 0 and per_actor > 0 and actors > _room(per_actor, gpus):
            _too_many(stage, actors, gpus)
    return bool(planned)


def _check_ran_pools(ran) -> None:
    """Wrong when a pool that made the materialized ``ran`` had more actors than GPUs and some never started."""
    gpus = _cluster_gpus()
    for stage, actors, never_started in _ran_pools(ran) if gpus > 0 else []:
        if actors > gpus and never_started:
            raise Wrong(
                f"{never_started} actor(s) of the pool of {stage} never started: each waited for a GPU that "
                f"never freed up, and Ray raises no error (the cluster has {gpus:g} GPU(s)).",
                SIZE_HINT,
            )


def _room(per_actor: float, gpus: float) -> int:
    """How many actors that each ask for ``per_actor`` GPUs the cluster's GPUs can hold at once."""
    import math

    if per_actor <= 1:
        return int(gpus) * int(1 / per_actor + 1e-9)  # a share never spans two GPUs
    return int(gpus // math.ceil(per_actor))


def _too_many(stage: str, actors: int, gpus: float):
    from raycourse import room

    never = (
        "the extra ones would never start"
        if gpus >= _cluster_gpus()
        else "the extra ones would take GPUs the room's other learners need, and theirs would wait"
    )
    raise Wrong(
        f"the pool of {stage} has {actors} GPU actors, more than {room.budget_words(int(gpus))} can hold: "
        f"{never}, waiting for a GPU that never frees up (Ray raises no error).",
        SIZE_HINT,
    )


def _drawn_by(lazy, ran) -> set[str] | None:
    """The callable classes whose stages made ``ran`` (``lazy`` materialized): from the plan of ``lazy`` while it
    was lazy, and from the operator names in the stats of ``ran``; None when neither can be read."""
    import re

    names = {op.fn.__name__ for op in class_stages(lazy)}
    try:
        for operator in _operator_names(ran._raw_stats()):
            names.update(re.findall(r"MapBatches\((\w+)\)", operator))
    except Exception:  # Ray internals: without them the images are judged by their rows alone
        return names or None
    return names


SIZE_HINT = (
    "Size the pool to the cluster, within your GPU budget: GPUS = min(int(ray.cluster_resources().get("
    '"GPU", 0)), raycourse.gpu_budget()), then compute=ray.data.ActorPoolStrategy(size=GPUS), one actor '
    "per GPU."
)


@exercise("Exercise 1")
def exercise_1(images, prompts):
    """``images``: the prompts with an ``image`` column of 512x512x3 uint8 arrays (a tensor column)."""
    require("images", images, "the Dataset of the prompts and their images as pixel arrays")
    n_expected, expected_prompts = _expected(prompts)
    import ray.data

    if not isinstance(images, ray.data.Dataset):
        raise Wrong(
            f"`images` is a {type(images).__name__}, not a Ray Dataset.",
            "Build `images` with `map_batches` calls on `prompts`; `materialize()` keeps it a Dataset.",
        )
    planned = _check_planned_pools(images)  # before the run: a pool too large never gets all its GPUs
    ds = images.materialize()  # runs the pipeline once if it is still lazy
    if not planned:
        _check_ran_pools(ds)
    drawn_by = _drawn_by(images, ds)
    if drawn_by is not None and GENERATOR not in drawn_by:
        stages = ", ".join(sorted(drawn_by)) or "none"
        raise Wrong(
            f"`images` was not drawn by the lab's {GENERATOR} (the class stages that made it: {stages}).",
            f"Generate the images with the lab's {GENERATOR}, as it is, and convert its output in a step after it.",
        )
    schema = ds.schema()
    if schema is None or ds.count() == 0:
        raise Wrong("`images` is empty.", "Start from the lab's `prompts` and keep all its rows.")
    columns = list(schema.names)
    for name, hint in (
        ("image", f"Keep the column name `image` that {GENERATOR} writes."),
        ("prompt", "Keep the `prompt` column beside the images."),
    ):
        if name not in columns:
            raise Wrong(f"`images` has no `{name}` column (its columns: {columns}).", hint)
    rows = ds.take_all()
    if len(rows) != n_expected:
        raise Wrong(
            f"`images` has {len(rows)} rows, but there are {n_expected} prompts.",
            "Make one image per prompt: map the whole `prompts` Dataset, without limit or filter.",
        )
    got_prompts = [str(r["prompt"]) for r in rows]
    if expected_prompts is not None and sorted(got_prompts) != sorted(expected_prompts):
        raise Wrong(
            "the `prompt` column does not hold the prompts of `prompts`.",
            "Convert the images only; leave the other columns as they are.",
        )
    values = [r["image"] for r in rows]
    column_type = schema.types[columns.index("image")]
    if _pickled(column_type):
        raise Wrong(
            f"the `image` column holds {_what_objects(values)}, which Ray can only keep as pickled "
            "Python objects, not as a tensor column of pixels.",
            PIXELS_HINT,
        )
    for i, value in enumerate(values):
        try:
            array = _as_array(value)
        except ValueError:
            raise Wrong(
                f"the `image` of row {i} is a {type(value).__name__}, not an array of pixels.", PIXELS_HINT
            ) from None
        found = _image_problem(array)
        if found:
            raise Wrong(f"the image in row {i} {found[0]}.", found[1])
    return (
        f"{len(rows)} rows; `image` is a tensor column of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB uint8 pixels per row."
    )


# Exercise 2 -------------------------------------------------------------------------------------

ONE_FILE_HINT = (
    "A Ray write makes at least one file per block of the Dataset: make it one block before you "
    "write, or ask the writer for at least as many rows per file as there are images."
)


@exercise("Exercise 2")
def exercise_2(folder, prompts):
    """Prompts and images written as one Parquet file into ``folder`` (``out_dir / "images_parquet"``)."""
    target = _folder(folder)
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor column type, so image cells read back as arrays)

    if not target.exists():
        _not_there(target, {".parquet"}, "parquet", "write the images of Exercise 1 there as Parquet")
    n_expected, expected_prompts = _expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "A Ray Data write method takes the folder to write its files into.",
        )
    files = [p for p in visible_files(target) if p.suffix.lower() == ".parquet"]
    if not files:
        others = visible_files(target)
        found = f" (it holds {_describe(others)})" if others else " (it is empty)"
        raise Wrong(
            f'out_dir / "{target.name}" holds no .parquet files{found}.',
            "Look for the Dataset write method that writes the Parquet format.",
        )
    try:
        table = pq.ParquetDataset([str(p) for p in files]).read()
    except Exception as exc:  # e.g. files of two different runs with different columns
        raise Wrong(
            f'the parquet files in out_dir / "{target.name}" cannot be read as one table '
            f"({exc.__class__.__name__}: {str(exc)[:120]}).",
            RERUN_HINT,
        ) from None
    columns = table.column_names
    if "prompt" not in columns:
        raise Wrong(
            f"the parquet files have no `prompt` column (their columns: {columns}).",
            "Write the Dataset that holds both the prompts and the images, with its column names.",
        )
    if table.num_rows != n_expected:
        if table.num_rows > n_expected:
            raise Wrong(
                f"the parquet files hold {table.num_rows} rows, but there are {n_expected} prompts.", RERUN_HINT
            )
        raise Wrong(
            f"the parquet files hold {table.num_rows} rows, but there are {n_expected} prompts.",
            "Write one row per prompt: the whole generated Dataset, not a sample of it.",
        )
    got_prompts = [str(p) for p in table.column("prompt").to_pylist()]
    if expected_prompts is not None and sorted(got_prompts) != sorted(expected_prompts):
        odd = (
            next(p for p in got_prompts if p not in expected_prompts)
            if set(got_prompts) - set(expected_prompts)
            else None
        )
        detail = f" (for example {odd!r})" if odd else ""
        raise Wrong(
            f"the `prompt` column does not hold the prompts of `prompts`{detail}.",
            "Generate the images from `prompts` and keep its `prompt` column unchanged.",
        )

    candidates = (["image"] if "image" in columns else []) + [c for c in columns if c not in ("image", "prompt")]
    tried = []
    for name in candidates:
        column = table.column(name)
        if _pickled(column.type):
            if name == "image":
                raise Wrong(
                    "the `image` column holds pickled Python objects (PIL images?), not pixel arrays.",
                    "Write the Dataset of Exercise 1, whose `image` column holds NumPy uint8 arrays "
                    "(height x width x 3).",
                )
            continue
        try:
            arrays = _column_arrays(column)
        except Exception:
            values = column.to_pylist()
            tried.append(type(values[0]).__name__ if values else "no")
            if name == "image":
                break
            continue
        problems = [(i, p) for i, p in enumerate(_image_problem(a) for a in arrays) if p]
        if not problems:
            if len(files) > 1:
                sizes = sorted(pq.ParquetFile(p).metadata.num_rows for p in files)
                raise Wrong(
                    f"the {table.num_rows} images are spread over {len(files)} parquet files (of "
                    f"{', '.join(map(str, sizes))} rows); the exercise asks for one file.",
                    ONE_FILE_HINT,
                )
            return (
                f"{table.num_rows} rows with `prompt` and `{name}` ({IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB) "
                f'in one parquet file under out_dir / "{target.name}".'
            )
        if name == "image" or arrays[0].ndim >= 2:
            i, (problem, hint) = problems[0]
            raise Wrong(f"the image in row {i} of column `{name}` {problem}.", hint)
    if "image" not in columns:
        raise Wrong(
            f"the parquet files have no image column (their columns: {columns}).",
            "Write the Dataset after the image generation step, the one with the images in it.",
        )
    raise Wrong(
        f"the `image` column holds {tried[0]} values, which cannot be read back as images.",
        "Put the images in the batch as NumPy uint8 arrays (height x width x 3).",
    )


# Exercise 3 -------------------------------------------------------------------------------------


@exercise("Exercise 3")
def exercise_3(folder, prompts):
    """One PNG file per prompt in ``folder`` (``out_dir / "png"``), each a 512x512 RGB image."""
    target = _folder(folder)
    from PIL import Image

    if not target.exists():
        _not_there(target, IMAGE_SUFFIXES, "image", "write one PNG file per image there")
    n_expected, _ = _expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "Write the image files into the folder the exercise names.",
        )
    files = visible_files(target)
    if not files:
        raise Wrong(
            f'out_dir / "{target.name}" exists but is empty.',
            "Write the images into it; a Dataset write method runs the whole pipeline.",
        )
    other_images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES - {".png"}]
    if other_images:
        kinds = sorted({p.suffix.lower() for p in other_images})
        raise Wrong(
            f'found {len(other_images)} {"/".join(kinds)} file(s) in out_dir / "{target.name}"; '
            "the exercise asks for PNG.",
            "The image write method has an argument that chooses the file format.",
        )
    pngs = [p for p in files if p.suffix.lower() == ".png"]
    if not pngs:
        raise Wrong(
            f'out_dir / "{target.name}" holds no .png files (it holds {_describe(files)}).',
            "Write the images themselves, one image file per row, not a table of them.",
        )
    stray = [p for p in files if p not in pngs]
    if stray:
        raise Wrong(
            f'out_dir / "{target.name}" holds {_describe(stray)} beside the PNG files; the exercise '
            "asks for the images and nothing else.",
            "Write only the images into this folder (other files belong elsewhere in out_dir); "
            "re-run the setup cell to empty out_dir, then run your exercise cell once.",
        )
    if len(pngs) != n_expected:
        if len(pngs) > n_expected:
            raise Wrong(f"found {len(pngs)} PNG files, but there are {n_expected} prompts.", RERUN_HINT)
        raise Wrong(
            f"found {len(pngs)} PNG files, but there are {n_expected} prompts.",
            "Write one file per generated image: all rows, not a sample.",
        )
    import numpy as np

    unreadable, not_png, wrong_size, blank = [], [], [], []
    for path in pngs:
        try:
            with Image.open(path) as image:
                image.load()
                fmt, size, mode = image.format, image.size, image.mode
                pixels = np.asarray(image)
        except Exception:
            unreadable.append(path)
            continue
        if fmt != "PNG":
            not_png.append(fmt)
        elif size != IMAGE_SHAPE[1::-1] or mode != "RGB":
            wrong_size.append(f"{size[0]}x{size[1]} {mode}")
        else:
            problem = _blank_problem(pixels)
            if problem:
                blank.append((path, problem))
    if unreadable:
        raise Wrong(
            f"{len(unreadable)} of the {len(pngs)} .png files do not open as images.",
            "Write the files with an image writer, from NumPy uint8 arrays.",
        )
    if not_png:
        raise Wrong(
            f"{len(not_png)} of the {len(pngs)} files are named .png but hold {not_png[0]} images.",
            "Choose the format when you write, instead of renaming files.",
        )
    if wrong_size:
        raise Wrong(
            f"{len(wrong_size)} of the {len(pngs)} PNG files are {wrong_size[0]} images, not "
            f"{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB.",
            "Write the generated images as they are: uint8 arrays of height x width x 3.",
        )
    if blank:
        path, problem = blank[0]
        raise Wrong(
            f"{len(blank)} of the {len(pngs)} PNG files hold no picture: {path.name} {problem}.",
            "Write the images of Exercise 1, whose pixels are the ones the model drew. " + BLANK_HINT,
        )
    return f'{len(pngs)} PNG files of {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB in out_dir / "{target.name}".'


# Stretch ---------------------------------------------------------------------------------------------

THUMB_SHAPE = (128, 128, 3)
MAX_MEAN_SHIFT = 12  # grey levels: any honest downscale keeps an image's mean colour (a crop of noise does too)


@exercise("Stretch · thumbnails in a CPU stage")
def stretch(thumbs, images):
    """``thumbs``: ``images`` with a ``thumb`` column, each image shrunk to 128x128 RGB uint8."""
    import numpy as np
    import ray.data

    require("thumbs", thumbs, "the Dataset of `images` with a `thumb` column")
    require("images", images, "the Dataset of exercise 1")
    if not isinstance(thumbs, ray.data.Dataset):
        raise Wrong(
            f"`thumbs` is a {type(thumbs).__name__}, not a Ray Dataset.",
            "Build `thumbs` with `map_batches` on `images`.",
        )
    rows = thumbs.take_all()
    originals = {str(r["prompt"]): _as_array(r["image"]) for r in images.take_all()}
    if len(rows) != len(originals):
        raise Wrong(
            f"`thumbs` has {len(rows)} rows; `images` has {len(originals)}.",
            "Shrink every image once: one row in, one row out.",
        )
    if rows and "thumb" not in rows[0]:
        raise Wrong(
            f"`thumbs` has no `thumb` column (its columns: {list(rows[0])}).",
            "Add the small image as a new column `thumb`, beside `prompt`.",
        )
    if rows and "prompt" not in rows[0]:
        raise Wrong("`thumbs` has no `prompt` column.", "Keep the prompt beside its thumbnail.")
    for row in rows:
        try:
            thumb = _as_array(row["thumb"])
        except ValueError:
            raise Wrong(
                f"a `thumb` is a {type(row['thumb']).__name__}, not an array of pixels.",
                "Return the thumbnails as one uint8 NumPy array per batch, like the images.",
            ) from None
        if thumb.dtype == object or tuple(thumb.shape) != THUMB_SHAPE:
            raise Wrong(
                f"a `thumb` has the shape {tuple(thumb.shape)}, not {THUMB_SHAPE}.",
                "Resize each image to 128x128 pixels (PIL's `Image.resize`, or a NumPy stride), "
                "keeping its 3 colour channels last.",
            )
        if str(thumb.dtype) != "uint8":
            raise Wrong(
                f"a `thumb` has pixels of type {thumb.dtype}, not uint8.",
                "Keep pixels in 0..255 as uint8, as the images are.",
            )
        image = originals.get(str(row["prompt"]))
        if image is None:
            raise Wrong(
                f"`thumbs` has the prompt {row['prompt']!r}, which `images` does not.",
                "Start from `images` and leave `prompt` as it is.",
            )
        shift = float(np.abs(thumb.reshape(-1, 3).mean(0) - image.reshape(-1, 3).mean(0)).max())
        if shift > MAX_MEAN_SHIFT:
            raise Wrong(
                f"the thumbnail of {row['prompt']!r} has another mean colour than its image (off by "
                f"{shift:.0f} grey levels): it is not a smaller copy of it.",
                "Shrink the image of the same row; do not scale, invert or blank its pixels.",
            )
    return f"{len(rows)} thumbnails of {THUMB_SHAPE[0]}x{THUMB_SHAPE[1]} pixels, each a smaller copy of its image."
