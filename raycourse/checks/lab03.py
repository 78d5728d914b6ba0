"""Checks for lab 03 (batch image generation): uint8 pixels from float output; one Parquet file; PNG files.

Exercise 1 reads the plan of the learner's lazy pipeline ``pixels`` (toolkit.stages) and the rows of ``images``,
``pixels.materialize()``. The lab's ``FloatImageGen`` returns the diffusers pipeline's NumPy output, float32 values
from 0.0 to 1.0, and the learner turns it into uint8 pixels from 0 to 255 in a batch function of its own. The plan
must show ``FloatImageGen`` (the lesson's ``ImageGen`` pasted in does not pass) with ``num_gpus=1`` in a pool of one
actor per GPU of the cluster, within the learner's budget (fewer leaves GPUs idle; more never start, with no
error), then a function stage (``map_batches``) with no GPU; ``images`` must be a MaterializedDataset that Ray's
stats say ``FloatImageGen`` made. Exercises 2 and 3 look only at what is on disk, so any way of producing it passes:
Ray Data's ``write_parquet`` / ``write_images`` (the intended answers), pyarrow, pandas or PIL in a loop. Exercise 2
asks for one Parquet file (a Ray write makes a file per block: the learner decides the blocks, or the rows per
file). Each check takes what the exercise names and the ``prompts`` Dataset the images were made from (or a list of
the prompts, or just the expected number of images)::

    check.exercise_1(pixels, images, prompts)
    check.exercise_2(out_dir / "images_parquet", prompts)
    check.exercise_3(out_dir / "png", prompts)
    check.stretch(thumbs, images)  # a lazy Dataset whose last step is a CPU batch function

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
from .toolkit import require_dataset, stages, visible_files

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
    up = target.parent.parent / target.name  # out_dir's parent: a path built from the output root, not out_dir
    if up.is_dir() and any(p.suffix.lower() in suffixes for p in visible_files(up)):
        raise Wrong(
            f"found {kind} files in {up}, one folder above out_dir, but none in {_where(target, target.parent)}.",
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


def _operator_names(ds) -> set[str]:
    """The operators (``MapBatches(FloatImageGen)``, ...) that the stats of a materialized Dataset say made it;
    None when Ray's stats cannot be read (an internal API: the rows are still checked)."""
    try:
        names, stack = set(), [ds._raw_stats()]
    except Exception:
        return None
    while stack:
        current = stack.pop()
        names.update((getattr(current, "metadata", None) or {}).keys())
        stack.extend(getattr(current, "parents", None) or [])
    return names


SIZE_HINT = (
    "Size the pool to the cluster, within your GPU budget: GPUS = min(int(ray.cluster_resources().get("
    '"GPU", 0)), raycourse.gpu_budget()), then compute=ray.data.ActorPoolStrategy(size=GPUS), one actor '
    "per GPU."
)
LAZY_HINT = (
    "Build `pixels` without running it (FloatImageGen, then your batch function), then `images = pixels.materialize()`."
)


def _check_generator(plan):
    """The lab's FloatImageGen is a stage of ``pixels``, in a pool of actors with one whole GPU each."""
    if not plan:
        raise Wrong("`pixels` shows no stages: it was run already (materialize, take).", LAZY_HINT)
    generator = next((s for s in plan if s.name == GENERATOR and s.is_class), None)
    if generator is None:
        raise Wrong(
            f"`pixels` has no {GENERATOR} stage (its stages: {', '.join(s.name for s in plan)}).",
            f"Generate the images with the lab's {GENERATOR}, as it is, and convert its output in a step after it.",
        )
    if generator.num_gpus != 1:
        raise Wrong(
            f"{GENERATOR} asks for num_gpus={generator.num_gpus:g}; the lab asks for actors that hold one GPU each"
            + (": with none, the model runs on the CPU." if not generator.num_gpus else "."),
            f"Pass `num_gpus=1` to the map_batches call of {GENERATOR}.",
        )
    return generator


def _check_pool_size(generator) -> None:
    """One actor per GPU of the cluster (within the learner's budget): not fewer, and not more than can start."""
    from raycourse import room

    gpus = room.learner_gpus()
    if gpus <= 0 or generator.pool_size is None:
        return
    low, high = generator.pool_size
    if high > gpus:
        never = (
            "the extra ones would never start"
            if gpus >= float(_cluster_gpus())
            else "the extra ones would take GPUs the room's other learners need, and theirs would wait"
        )
        size = high if high != float("inf") else "an unbounded number of"
        raise Wrong(
            f"the pool of {GENERATOR} has {size} GPU actors, more than {room.budget_words(gpus)} can hold: "
            f"{never}, waiting for a GPU that never frees up (Ray raises no error).",
            SIZE_HINT,
        )
    if high < gpus:
        raise Wrong(
            f"the pool of {GENERATOR} has at most {high} actor(s), and {room.budget_words(gpus)} has {gpus}: the "
            "lab asks for one actor per GPU of the cluster, so that every GPU draws.",
            SIZE_HINT,
        )


def _cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0


def _check_conversion(plan, generator) -> None:
    """A batch function after FloatImageGen converts its output: a CPU stage, with no GPU."""
    after = plan[plan.index(generator) + 1 :]
    if not after:
        raise Wrong(
            f"`pixels` has no stage after {GENERATOR}: the conversion belongs in a batch function of its own.",
            PIXELS_HINT,
        )
    convert = after[0]
    if convert.is_class or convert.kind != "MapBatches":
        what = "a class (an actor pool)" if convert.is_class else f"a {convert.kind} stage"
        raise Wrong(
            f"the stage after {GENERATOR}, {convert.name}, is {what}; the lab asks for a batch function.",
            "Write a function `def to_pixels(batch): ...` and add it with `.map_batches(to_pixels)`.",
        )
    gpu_stages = [s for s in after if s.num_gpus]
    if gpu_stages:
        raise Wrong(
            f"{gpu_stages[0].name} asks for num_gpus={gpu_stages[0].num_gpus:g}: the conversion is a CPU stage that "
            "needs no GPU, and a GPU it holds is one the model cannot use.",
            f"Leave `num_gpus` out of the map_batches call of {gpu_stages[0].name}.",
        )


def _check_materialized(images, generator) -> None:
    """``images`` is ``pixels`` materialized: a MaterializedDataset that FloatImageGen made."""
    from ray.data.dataset import MaterializedDataset

    if not isinstance(images, MaterializedDataset):
        raise Wrong(
            "`images` is a lazy Dataset: Exercises 2 and 3 would draw every image again.",
            "End with `images = pixels.materialize()`: it runs the generation once and keeps the result.",
        )
    names = _operator_names(images)
    if names is not None and not any(f"({generator.name})" in name for name in names):
        raise Wrong(
            f"`images` was not made by `pixels` (the operators that made it: {', '.join(sorted(names)) or 'none'}).",
            "Set `images = pixels.materialize()`.",
        )


def _rows(ds, n_expected, expected_prompts) -> list[dict]:
    schema = ds.schema()
    if schema is None or ds.count() == 0:
        raise Wrong("`images` is empty.", "Start from the lab's `prompts` and keep all its rows.")
    for name, hint in (
        ("image", f"Keep the column name `image` that {GENERATOR} writes."),
        ("prompt", "Keep the `prompt` column beside the images."),
    ):
        if name not in schema.names:
            raise Wrong(f"`images` has no `{name}` column (its columns: {list(schema.names)}).", hint)
    rows = ds.take_all()
    if len(rows) != n_expected:
        raise Wrong(
            f"`images` has {len(rows)} rows, but there are {n_expected} prompts.",
            "Make one image per prompt: map the whole `prompts` Dataset, without limit or filter.",
        )
    if expected_prompts is not None and sorted(str(r["prompt"]) for r in rows) != sorted(expected_prompts):
        raise Wrong(
            "the `prompt` column does not hold the prompts of `prompts`.",
            "Convert the images only; leave the other columns as they are.",
        )
    return rows


def _check_pixels(rows, column_type) -> None:
    values = [r["image"] for r in rows]
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


@exercise("Exercise 1")
def exercise_1(pixels, images, prompts):
    """``pixels``: FloatImageGen (one GPU per actor, one actor per GPU) then a CPU batch function that makes uint8
    pixels; ``images``: ``pixels.materialize()``, the prompts with a tensor column of 512x512x3 uint8 images."""
    require("pixels", pixels, "the lazy pipeline: FloatImageGen, then your batch function")
    require("images", images, "`pixels.materialize()`")
    n_expected, expected_prompts = _expected(prompts)
    plan = stages(require_dataset("pixels", pixels, LAZY_HINT))
    generator = _check_generator(plan)
    _check_pool_size(generator)
    _check_conversion(plan, generator)
    _check_materialized(require_dataset("images", images, LAZY_HINT), generator)
    rows = _rows(images, n_expected, expected_prompts)
    _check_pixels(rows, images.schema().types[list(images.schema().names).index("image")])
    return (
        f"{GENERATOR} on one GPU per actor, {generator.pool_size[1] if generator.pool_size else 1} actor(s), then "
        f"a CPU batch function; {len(rows)} rows; `image` is a tensor column of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} "
        "RGB uint8 pixels per row."
    )


# Exercise 2 -------------------------------------------------------------------------------------

ONE_FILE_HINT = (
    "A Ray write makes at least one file per block of the Dataset: make it one block before you "
    "write, or ask the writer for at least as many rows per file as there are images."
)


def _parquet_files(target: Path) -> list[Path]:
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
    return files


def _read_table(files: list[Path], target: Path):
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor column type, so image cells read back as arrays)

    try:
        table = pq.ParquetDataset([str(p) for p in files]).read()
    except Exception as exc:  # e.g. files of two different runs with different columns
        raise Wrong(
            f'the parquet files in out_dir / "{target.name}" cannot be read as one table '
            f"({exc.__class__.__name__}: {str(exc)[:120]}).",
            RERUN_HINT,
        ) from None
    return table


def _check_table_rows(table, n_expected: int, expected_prompts) -> None:
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


def _image_column(table) -> str:
    """The column that holds the 512x512 RGB images (``image`` first, then any other), or Wrong."""
    columns = table.column_names
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
            return name
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


def _check_one_file(files: list[Path], table) -> None:
    import pyarrow.parquet as pq

    if len(files) > 1:
        sizes = sorted(pq.ParquetFile(p).metadata.num_rows for p in files)
        raise Wrong(
            f"the {table.num_rows} images are spread over {len(files)} parquet files (of "
            f"{', '.join(map(str, sizes))} rows); the exercise asks for one file.",
            ONE_FILE_HINT,
        )


@exercise("Exercise 2")
def exercise_2(folder, prompts):
    """Prompts and images written as one Parquet file into ``folder`` (``out_dir / "images_parquet"``)."""
    target = _folder(folder)
    if not target.exists():
        _not_there(target, {".parquet"}, "parquet", "write the images of Exercise 1 there as Parquet")
    n_expected, expected_prompts = _expected(prompts)
    files = _parquet_files(target)
    table = _read_table(files, target)
    _check_table_rows(table, n_expected, expected_prompts)
    name = _image_column(table)
    _check_one_file(files, table)
    return (
        f"{table.num_rows} rows with `prompt` and `{name}` ({IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB) "
        f'in one parquet file under out_dir / "{target.name}".'
    )


# Exercise 3 -------------------------------------------------------------------------------------


def _png_files(target: Path, n_expected: int) -> list[Path]:
    """The PNG files in ``target``: nothing else beside them, one per prompt."""
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
    return pngs


def _check_png_contents(pngs: list[Path]) -> None:
    from PIL import Image

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


@exercise("Exercise 3")
def exercise_3(folder, prompts):
    """One PNG file per prompt in ``folder`` (``out_dir / "png"``), each a 512x512 RGB image."""
    target = _folder(folder)
    if not target.exists():
        _not_there(target, IMAGE_SUFFIXES, "image", "write one PNG file per image there")
    n_expected, _ = _expected(prompts)
    pngs = _png_files(target, n_expected)
    _check_png_contents(pngs)
    return f'{len(pngs)} PNG files of {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB in out_dir / "{target.name}".'


# Stretch ---------------------------------------------------------------------------------------------

THUMB_SHAPE = (128, 128, 3)
MAX_MEAN_SHIFT = 12  # grey levels: any honest downscale keeps an image's mean colour (a crop of noise does too)


THUMB_HINT = "Build `thumbs` with `images.map_batches(add_thumb)`, a batch function, and leave it lazy."


def _check_thumb_stage(plan) -> None:
    """``thumbs`` (lazy) ends with the thumbnails' own step: a batch function, run as CPU tasks with no GPU."""
    if not plan:
        raise Wrong("`thumbs` shows no stages: it was run already (materialize, take).", THUMB_HINT)
    stage = plan[-1]
    if stage.is_class or stage.kind != "MapBatches" or stage.num_gpus:
        what = (
            "a class (an actor pool)"
            if stage.is_class
            else f"a {stage.kind} stage"
            if stage.kind != "MapBatches"
            else f"a stage that asks for num_gpus={stage.num_gpus:g}"
        )
        raise Wrong(
            f"the thumbnails' step, {stage.name}, is {what}; the lab asks for a batch function that Ray runs as CPU "
            "tasks, with no GPU.",
            THUMB_HINT,
        )


def _thumb_rows(thumbs, images) -> tuple[list[dict], dict]:
    """The rows of ``thumbs`` (one per image, with ``thumb`` and ``prompt``) and the images by prompt."""
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
    return rows, originals


def _check_thumb(row, originals) -> None:
    """One thumbnail: 128x128 RGB uint8, a smaller copy of its row's image."""
    import numpy as np

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


@exercise("Stretch · thumbnails in a CPU stage")
def stretch(thumbs, images):
    """``thumbs``: ``images`` with a ``thumb`` column, each image shrunk to 128x128 RGB uint8."""
    require("thumbs", thumbs, "the Dataset of `images` with a `thumb` column")
    require("images", images, "the Dataset of exercise 1")
    _check_thumb_stage(stages(require_dataset("thumbs", thumbs, THUMB_HINT)))
    rows, originals = _thumb_rows(thumbs, images)
    for row in rows:
        _check_thumb(row, originals)
    return f"{len(rows)} thumbnails of {THUMB_SHAPE[0]}x{THUMB_SHAPE[1]} pixels, each a smaller copy of its image."
