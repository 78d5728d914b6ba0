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

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes and returns plain data, and
``_judge_N`` decides from it alone (in the grader's process when a notebook is graded). What is observed: the plans'
stages as data (name, kind, class or function, GPUs, pool size; :class:`_Stage`), the cluster's GPUs and the
learner's, the operators that made ``images``, the folders' listings, the tables' columns and row counts (per file),
the prompts, and of every image (a row's cell, a Parquet cell, a PNG file, a thumbnail) its facts: shape, pixel type,
lowest and highest value, number of levels, mean colour (:func:`_pixel_facts`), not its pixels. The prompts the check
is given (from the notebook's ``prompts``) must be the course's animals, read by the judge from the course's data. No
exercise calls a function of the learner's on inputs of its own, so none takes a seed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from ._core import NotSolved, Wrong, exercise, progress_of, require
from .toolkit import pool_size_of, require_dataset, stages, visible_files

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


def _describe(files: list) -> str:
    """What a folder holds, by kind: "3 .csv files" (file names from Ray are long and random)."""
    from collections import Counter

    kinds = Counter(Path(p).suffix.lower() or "extension-less" for p in files)
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


def _pixel_facts(array) -> dict:
    """What the judge reads of one decoded image: its shape and type, and for numbers its lowest and highest
    values, how many distinct levels it holds (the first three of them) and its mean per colour channel."""
    import numpy as np

    facts = {"shape": [int(n) for n in array.shape], "dtype": str(array.dtype)}
    if array.size and (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        levels = np.unique(array)
        facts.update(min=array.min().item(), max=array.max().item(), n_levels=len(levels), levels=levels[:3].tolist())
        if array.size % 3 == 0:
            facts["mean"] = [float(v) for v in array.reshape(-1, 3).mean(0)]
    return facts


def _value_facts(value) -> dict:
    """:func:`_pixel_facts` of one stored image, or ``{"type": ...}`` where it is not an array of pixels."""
    try:
        return _pixel_facts(_as_array(value))
    except ValueError:
        return {"type": type(value).__name__}


def _shape_problem(facts: dict) -> str | None:
    """What is wrong with one decoded image (:func:`_pixel_facts`), or None when it is a 512x512 RGB uint8 array."""
    shape, dtype = tuple(int(n) for n in facts["shape"]), str(facts["dtype"])
    if dtype == "object" or not shape:
        return "is not an array of pixels"
    if shape != IMAGE_SHAPE:
        if len(shape) == 3 and shape[0] == 3 and shape[1:] == IMAGE_SHAPE[:2]:
            return f"has the shape {shape}: colour channels first instead of last"
        return f"has the shape {shape}, not {IMAGE_SHAPE}"
    if dtype != "uint8":
        return f"has pixels of type {dtype}, not uint8"
    return None


def _blank_problem(facts: dict) -> str | None:
    """What is wrong with a well-shaped image that holds (almost) no picture, or None."""
    low, high = int(facts["min"]), int(facts["max"])
    if high - low < MIN_PIXEL_RANGE:
        return f"is blank: all its pixels lie between {low} and {high}, where a drawn image uses the range 0 to 255"
    if int(facts["n_levels"]) <= 2:
        return (
            f"holds only the pixel values {', '.join(str(int(v)) for v in facts['levels'])}, where a drawn image uses "
            "every level from 0 to 255"
        )
    return None


BLANK_HINT = (
    "Pixels run from 0 to 255: scale FloatImageGen's values (0.0 to 1.0) up to that range first, then "
    "cast to uint8; a cast first keeps only 0 and 1."
)


def _image_problem(facts: dict) -> tuple[str, str] | None:
    """(problem, hint) for one decoded image (:func:`_pixel_facts`), or None when it is a real 512x512 RGB uint8
    image."""
    problem = _shape_problem(facts)
    if problem:
        return problem, (
            "Turn FloatImageGen's float32 values (0.0 to 1.0) into uint8 pixels (0 to 255) and keep "
            f"the shape: {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} pixels, 3 colour channels last."
        )
    problem = _blank_problem(facts)
    return (problem, BLANK_HINT) if problem else None


def _observe_expected(prompts) -> dict:
    """What the check was told to expect (the ``prompts`` argument): the number of images, and the prompt texts
    where it has them."""
    count, texts = _expected(prompts)
    return {"count": int(count), "prompts": texts}


def _judge_expected(seen: dict) -> tuple[int, list[str] | None]:
    """(number of images, prompt texts or None) from the observation; prompt texts must be the course's animals."""
    count, texts = seen["count"], seen["prompts"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"a number of prompts {count!r}")
    if count == 0:
        raise Wrong(
            "the check was given no prompts, so it expects no images.",
            "Run the check cell as given, with the `prompts` Dataset of the setup cell.",
        )
    if texts is None:
        return count, None
    texts = [str(t) for t in texts]
    if len(texts) != count:
        raise ValueError(f"{count} prompts, but {len(texts)} prompt texts")
    unknown = sorted(set(texts) - _animals())
    if unknown:
        raise Wrong(
            f"the prompts given to the check are not the course's (for example {unknown[0]!r}).",
            "Run the check cell as given, with the `prompts` Dataset of the setup cell.",
        )
    return count, texts


def _animals() -> set[str]:
    """The animals' texts of the course's data: the prompts the lab's setup cell reads."""
    import pandas as pd

    import raycourse

    return {str(a) for a in pd.read_csv(raycourse.data_path("animals"))["animal"]}


def _files_of(target: Path) -> list[str]:
    """The visible files under ``target``, as paths relative to it."""
    return [p.relative_to(target).as_posix() for p in visible_files(target)]


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


@dataclass(frozen=True)
class _Stage:
    """One stage of a plan as the check observed it (toolkit.Stage's fields, as plain data)."""

    name: str
    kind: str
    is_class: bool
    num_gpus: float
    pool_size: tuple[int, int | float] | None

    @staticmethod
    def observe(stage) -> dict:
        return {
            "name": str(stage.name),
            "kind": stage.kind,
            "is_class": stage.is_class,
            "num_gpus": stage.num_gpus,
            "pool_size": list(stage.pool_size) if stage.pool_size else None,
        }

    @classmethod
    def of(cls, seen: dict) -> _Stage:
        size = pool_size_of(seen["pool_size"])
        is_class = seen["is_class"]
        if not isinstance(is_class, bool):
            raise ValueError(f"is_class {is_class!r}")
        return cls(str(seen["name"]), str(seen["kind"]), is_class, float(seen["num_gpus"]), size)


def _plan(seen: list) -> list[_Stage]:
    return [_Stage.of(s) for s in seen]


SIZE_HINT = (
    "Size the pool to the cluster, within your GPU budget: GPUS = min(int(ray.cluster_resources().get("
    '"GPU", 0)), raycourse.gpu_budget()), then compute=ray.data.ActorPoolStrategy(size=GPUS), one actor '
    "per GPU."
)
LAZY_HINT = (
    "Build `pixels` without running it (FloatImageGen, then your batch function), then `images = pixels.materialize()`."
)


def _check_generator(plan: list[_Stage]) -> _Stage:
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


def _budget_words(gpus: int, cluster: int) -> str:
    """raycourse.room.budget_words, from the observed numbers: "the cluster's 2 GPU(s)", or "your budget of ..."."""
    from raycourse.room import BUDGET_ENV

    if gpus < cluster:
        return f"your budget of {gpus} GPU(s) ({BUDGET_ENV}) of the cluster's {cluster}"
    return f"the cluster's {cluster} GPU(s)"


def _check_pool_size(generator: _Stage, gpus: dict) -> None:
    """One actor per GPU of the cluster (within the learner's budget): not fewer, and not more than can start.
    ``gpus``: the learner's GPUs (the cluster's within the budget) and the cluster's, as observed."""
    learner, cluster = int(gpus["learner"]), float(gpus["cluster"])
    if learner <= 0 or generator.pool_size is None:
        return
    words = _budget_words(learner, int(cluster))
    low, high = generator.pool_size
    if high > learner:
        never = (
            "the extra ones would never start"
            if learner >= cluster
            else "the extra ones would take GPUs the room's other learners need, and theirs would wait"
        )
        size = high if high != math.inf else "an unbounded number of"
        raise Wrong(
            f"the pool of {GENERATOR} has {size} GPU actors, more than {words} can hold: "
            f"{never}, waiting for a GPU that never frees up (Ray raises no error).",
            SIZE_HINT,
        )
    if high < learner:
        raise Wrong(
            f"the pool of {GENERATOR} has at most {high} actor(s), and {words} has {learner}: the "
            "lab asks for one actor per GPU of the cluster, so that every GPU draws.",
            SIZE_HINT,
        )


def _cluster_gpus() -> float:
    import ray

    return float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0


def _check_conversion(plan: list[_Stage], generator: _Stage) -> None:
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


def _check_materialized(seen: dict, generator: _Stage) -> None:
    """``images`` is ``pixels`` materialized: a MaterializedDataset that FloatImageGen made."""
    if seen["materialized"] is not True:
        raise Wrong(
            "`images` is a lazy Dataset: Exercises 2 and 3 would draw every image again.",
            "End with `images = pixels.materialize()`: it runs the generation once and keeps the result.",
        )
    names = seen["operators"]
    if names is not None and not any(f"({generator.name})" in str(name) for name in names):
        raise Wrong(
            f"`images` was not made by `pixels` (the operators that made it: {', '.join(sorted(names)) or 'none'}).",
            "Set `images = pixels.materialize()`.",
        )


def _observe_images(images) -> dict:
    """What exercise 1 reads of ``images``: whether it is materialized and what made it; when it is, its columns,
    rows, prompts, the type of its `image` column and the facts of each image (:func:`_pixel_facts`)."""
    from ray.data.dataset import MaterializedDataset

    materialized = isinstance(images, MaterializedDataset)
    names = _operator_names(images) if materialized else None
    seen = {"materialized": materialized, "operators": None if names is None else sorted(names)}
    if not materialized:  # running it would draw every image again: the judge refuses it as it is
        return seen
    schema = images.schema()
    seen["columns"] = None if schema is None else [str(n) for n in schema.names]
    seen["count"] = images.count()
    if schema is None or seen["count"] == 0 or "image" not in schema.names or "prompt" not in schema.names:
        return seen
    rows = images.take_all()
    values = [r["image"] for r in rows]
    pickled = _pickled(schema.types[list(schema.names).index("image")])
    seen.update(
        prompts=[str(r["prompt"]) for r in rows],
        pickled=pickled,
        objects=_what_objects(values) if pickled else None,
        images=None if pickled else [_value_facts(v) for v in values],
    )
    return seen


def _check_rows(seen: dict, n_expected: int, expected_prompts) -> int:
    if seen["columns"] is None or seen["count"] == 0:
        raise Wrong("`images` is empty.", "Start from the lab's `prompts` and keep all its rows.")
    for name, hint in (
        ("image", f"Keep the column name `image` that {GENERATOR} writes."),
        ("prompt", "Keep the `prompt` column beside the images."),
    ):
        if name not in seen["columns"]:
            raise Wrong(f"`images` has no `{name}` column (its columns: {list(seen['columns'])}).", hint)
    prompts = [str(p) for p in seen["prompts"]]
    if len(prompts) != n_expected:
        raise Wrong(
            f"`images` has {len(prompts)} rows, but there are {n_expected} prompts.",
            "Make one image per prompt: map the whole `prompts` Dataset, without limit or filter.",
        )
    if expected_prompts is not None and sorted(prompts) != sorted(expected_prompts):
        raise Wrong(
            "the `prompt` column does not hold the prompts of `prompts`.",
            "Convert the images only; leave the other columns as they are.",
        )
    return len(prompts)


def _check_pixels(seen: dict, n: int) -> None:
    if seen["pickled"] is not False:
        raise Wrong(
            f"the `image` column holds {seen['objects']}, which Ray can only keep as pickled "
            "Python objects, not as a tensor column of pixels.",
            PIXELS_HINT,
        )
    images = seen["images"]
    if len(images) != n:
        raise ValueError(f"{len(images)} images observed for {n} rows")
    for i, facts in enumerate(images):
        if "shape" not in facts:
            raise Wrong(f"the `image` of row {i} is a {facts['type']}, not an array of pixels.", PIXELS_HINT)
        found = _image_problem(facts)
        if found:
            raise Wrong(f"the image in row {i} {found[0]}.", found[1])


def _judge_1(seen, seed=None) -> str:
    n_expected, expected_prompts = _judge_expected(seen["expected"])
    plan = _plan(seen["plan"])
    generator = _check_generator(plan)
    _check_pool_size(generator, seen["gpus"])
    _check_conversion(plan, generator)
    images = seen["images"]
    _check_materialized(images, generator)
    n = _check_rows(images, n_expected, expected_prompts)
    _check_pixels(images, n)
    return (
        f"{GENERATOR} on one GPU per actor, {generator.pool_size[1] if generator.pool_size else 1} actor(s), then "
        f"a CPU batch function; {n} rows; `image` is a tensor column of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} "
        "RGB uint8 pixels per row."
    )


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(pixels, images, prompts):
    """``pixels``: FloatImageGen (one GPU per actor, one actor per GPU) then a CPU batch function that makes uint8
    pixels; ``images``: ``pixels.materialize()``, the prompts with a tensor column of 512x512x3 uint8 images."""
    from raycourse import room

    require("pixels", pixels, "the lazy pipeline: FloatImageGen, then your batch function")
    require("images", images, "`pixels.materialize()`")
    expected = _observe_expected(prompts)
    plan = stages(require_dataset("pixels", pixels, LAZY_HINT))
    require_dataset("images", images, LAZY_HINT)
    return {
        "expected": expected,
        "plan": [_Stage.observe(s) for s in plan],
        "gpus": {"learner": room.learner_gpus(), "cluster": _cluster_gpus()},
        "images": _observe_images(images),
    }


# Exercise 2 -------------------------------------------------------------------------------------

ONE_FILE_HINT = (
    "A Ray write makes at least one file per block of the Dataset: make it one block before you "
    "write, or ask the writer for at least as many rows per file as there are images."
)


def _parquet_names(files: list[str]) -> list[str]:
    return [f for f in files if Path(f).suffix.lower() == ".parquet"]


def _check_parquet_files(files: list[str], folder: str) -> list[str]:
    parquet = _parquet_names(files)
    if not parquet:
        found = f" (it holds {_describe(files)})" if files else " (it is empty)"
        raise Wrong(
            f'out_dir / "{folder}" holds no .parquet files{found}.',
            "Look for the Dataset write method that writes the Parquet format.",
        )
    return parquet


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


def _check_table_rows(table: dict, n_expected: int, expected_prompts) -> int:
    columns, num_rows = list(table["columns"]), int(table["num_rows"])
    if "prompt" not in columns:
        raise Wrong(
            f"the parquet files have no `prompt` column (their columns: {columns}).",
            "Write the Dataset that holds both the prompts and the images, with its column names.",
        )
    if num_rows != n_expected:
        if num_rows > n_expected:
            raise Wrong(f"the parquet files hold {num_rows} rows, but there are {n_expected} prompts.", RERUN_HINT)
        raise Wrong(
            f"the parquet files hold {num_rows} rows, but there are {n_expected} prompts.",
            "Write one row per prompt: the whole generated Dataset, not a sample of it.",
        )
    got_prompts = [str(p) for p in table["prompts"]]
    if len(got_prompts) != num_rows:
        raise ValueError(f"{len(got_prompts)} prompts observed in {num_rows} rows")
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
    return num_rows


def _observe_columns(table) -> list[dict]:
    """Each column that may hold the images (``image`` first, then any other but ``prompt``): whether it holds
    pickled Python objects, else whether its cells read back as arrays (else the type of its first value), and the
    facts of each (:func:`_pixel_facts`)."""
    columns = table.column_names
    candidates = (["image"] if "image" in columns else []) + [c for c in columns if c not in ("image", "prompt")]
    seen = []
    for name in candidates:
        column = table.column(name)
        if _pickled(column.type):
            seen.append({"name": name, "pickled": True})
            continue
        try:
            arrays = _column_arrays(column)
        except Exception:
            values = column.to_pylist()
            seen.append({"name": name, "pickled": False, "type": type(values[0]).__name__ if values else "no"})
            continue
        seen.append({"name": name, "pickled": False, "images": [_pixel_facts(a) for a in arrays]})
    return seen


def _image_column(table: dict, num_rows: int) -> str:
    """The column that holds the 512x512 RGB images (``image`` first, then any other), or Wrong."""
    columns = list(table["columns"])
    names = (["image"] if "image" in columns else []) + [c for c in columns if c not in ("image", "prompt")]
    if [column["name"] for column in table["candidates"]] != names:
        raise ValueError(f"the columns {names} observed as {[c['name'] for c in table['candidates']]}")
    tried = []
    for column in table["candidates"]:
        name = str(column["name"])
        if column["pickled"] is not False:
            if name == "image":
                raise Wrong(
                    "the `image` column holds pickled Python objects (PIL images?), not pixel arrays.",
                    "Write the Dataset of Exercise 1, whose `image` column holds NumPy uint8 arrays "
                    "(height x width x 3).",
                )
            continue
        if "images" not in column:
            tried.append(str(column["type"]))
            if name == "image":
                break
            continue
        images = column["images"]
        if len(images) != num_rows:
            raise ValueError(f"{len(images)} cells observed in the column {name!r} of {num_rows} rows")
        problems = [(i, p) for i, p in enumerate(_image_problem(f) for f in images) if p]
        if not problems:
            return name
        if name == "image" or len(images[0]["shape"]) >= 2:
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


def _check_one_file(sizes: list[int], num_rows: int) -> None:
    if len(sizes) > 1:
        raise Wrong(
            f"the {num_rows} images are spread over {len(sizes)} parquet files (of "
            f"{', '.join(map(str, sorted(sizes)))} rows); the exercise asks for one file.",
            ONE_FILE_HINT,
        )


def _judge_2(seen, seed=None) -> str:
    n_expected, expected_prompts = _judge_expected(seen["expected"])
    folder = str(seen["folder"])
    parquet = _check_parquet_files([str(f) for f in seen["files"]], folder)
    table = seen["table"]
    sizes = [int(n) for n in table["file_rows"]]
    if len(sizes) != len(parquet) or sum(sizes) != int(table["num_rows"]):
        raise ValueError(f"{len(parquet)} parquet files, {len(sizes)} files' row counts, {table['num_rows']} rows")
    num_rows = _check_table_rows(table, n_expected, expected_prompts)
    name = _image_column(table, num_rows)
    _check_one_file(sizes, num_rows)
    return (
        f"{num_rows} rows with `prompt` and `{name}` ({IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB) "
        f'in one parquet file under out_dir / "{folder}".'
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(folder, prompts):
    """Prompts and images written as one Parquet file into ``folder`` (``out_dir / "images_parquet"``)."""
    import pyarrow.parquet as pq

    target = _folder(folder)
    if not target.exists():
        _not_there(target, {".parquet"}, "parquet", "write the images of Exercise 1 there as Parquet")
    expected = _observe_expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "A Ray Data write method takes the folder to write its files into.",
        )
    files = _files_of(target)
    seen = {"expected": expected, "folder": target.name, "files": files}
    parquet = [target / f for f in _parquet_names(files)]
    if not parquet:  # the judge says what the folder holds instead
        return seen
    table = _read_table(parquet, target)
    seen["table"] = {
        "columns": list(table.column_names),
        "num_rows": table.num_rows,
        "prompts": [str(p) for p in table.column("prompt").to_pylist()] if "prompt" in table.column_names else None,
        "file_rows": [pq.ParquetFile(p).metadata.num_rows for p in parquet],
        "candidates": _observe_columns(table),
    }
    return seen


# Exercise 3 -------------------------------------------------------------------------------------


def _check_png_files(files: list[str], folder: str, n_expected: int) -> list[str]:
    """The PNG files of the folder's listing: nothing else beside them, one per prompt."""
    if not files:
        raise Wrong(
            f'out_dir / "{folder}" exists but is empty.',
            "Write the images into it; a Dataset write method runs the whole pipeline.",
        )
    other_images = [p for p in files if Path(p).suffix.lower() in IMAGE_SUFFIXES - {".png"}]
    if other_images:
        kinds = sorted({Path(p).suffix.lower() for p in other_images})
        raise Wrong(
            f'found {len(other_images)} {"/".join(kinds)} file(s) in out_dir / "{folder}"; the exercise asks for PNG.',
            "The image write method has an argument that chooses the file format.",
        )
    pngs = [p for p in files if Path(p).suffix.lower() == ".png"]
    if not pngs:
        raise Wrong(
            f'out_dir / "{folder}" holds no .png files (it holds {_describe(files)}).',
            "Write the images themselves, one image file per row, not a table of them.",
        )
    stray = [p for p in files if p not in pngs]
    if stray:
        raise Wrong(
            f'out_dir / "{folder}" holds {_describe(stray)} beside the PNG files; the exercise '
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


def _png_facts(path: Path) -> dict:
    """What the judge reads of one .png file: whether it opens as an image, its format, size and mode, and the
    facts of its pixels (:func:`_pixel_facts`)."""
    from PIL import Image

    import numpy as np

    try:
        with Image.open(path) as image:
            image.load()
            fmt, size, mode = image.format, image.size, image.mode
            pixels = np.asarray(image)
    except Exception:
        return {"opens": False}
    return {"opens": True, "format": fmt, "size": list(size), "mode": mode, "pixels": _pixel_facts(pixels)}


def _check_png_contents(pngs: list[str], facts: dict) -> None:
    unreadable, not_png, wrong_size, blank = [], [], [], []
    for name in pngs:
        png = facts[name]
        if png["opens"] is not True:
            unreadable.append(name)
            continue
        size, mode = tuple(int(n) for n in png["size"]), str(png["mode"])
        if png["format"] != "PNG":
            not_png.append(png["format"])
        elif size != IMAGE_SHAPE[1::-1] or mode != "RGB":
            wrong_size.append(f"{size[0]}x{size[1]} {mode}")
        else:
            problem = _image_problem(png["pixels"])
            if problem:
                blank.append((name, problem[0]))
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
        name, problem = blank[0]
        raise Wrong(
            f"{len(blank)} of the {len(pngs)} PNG files hold no picture: {Path(name).name} {problem}.",
            "Write the images of Exercise 1, whose pixels are the ones the model drew. " + BLANK_HINT,
        )


def _judge_3(seen, seed=None) -> str:
    n_expected, _ = _judge_expected(seen["expected"])
    folder = str(seen["folder"])
    pngs = _check_png_files([str(f) for f in seen["files"]], folder, n_expected)
    _check_png_contents(pngs, seen["pngs"])
    return f'{len(pngs)} PNG files of {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB in out_dir / "{folder}".'


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(folder, prompts):
    """One PNG file per prompt in ``folder`` (``out_dir / "png"``), each a 512x512 RGB image."""
    target = _folder(folder)
    if not target.exists():
        _not_there(target, IMAGE_SUFFIXES, "image", "write one PNG file per image there")
    expected = _observe_expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "Write the image files into the folder the exercise names.",
        )
    files = _files_of(target)
    pngs = [f for f in files if Path(f).suffix.lower() == ".png"]
    return {
        "expected": expected,
        "folder": target.name,
        "files": files,
        "pngs": {f: _png_facts(target / f) for f in pngs},
    }


# Stretch ---------------------------------------------------------------------------------------------

THUMB_SHAPE = (128, 128, 3)
MAX_MEAN_SHIFT = 12  # grey levels: any honest downscale keeps an image's mean colour (a crop of noise does too)


THUMB_HINT = "Build `thumbs` with `images.map_batches(add_thumb)`, a batch function, and leave it lazy."


def _check_thumb_stage(plan: list[_Stage]) -> None:
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


def _check_thumb_rows(seen: dict) -> dict[str, list]:
    """One row of ``thumbs`` per image, with ``thumb`` and ``prompt``; returns the images' mean colours by prompt."""
    originals = {str(o["prompt"]): o["mean"] for o in seen["originals"]}
    rows = seen["rows"]
    if not originals:
        raise Wrong("`images` is empty.", "Pass the `images` of Exercise 1, one row per prompt.")
    if len(rows) != len(originals):
        raise Wrong(
            f"`thumbs` has {len(rows)} rows; `images` has {len(originals)}.",
            "Shrink every image once: one row in, one row out.",
        )
    columns = seen["columns"]
    if rows and "thumb" not in columns:
        raise Wrong(
            f"`thumbs` has no `thumb` column (its columns: {list(columns)}).",
            "Add the small image as a new column `thumb`, beside `prompt`.",
        )
    if rows and "prompt" not in columns:
        raise Wrong("`thumbs` has no `prompt` column.", "Keep the prompt beside its thumbnail.")
    return originals


def _check_thumb(row: dict, originals: dict) -> None:
    """One thumbnail: 128x128 RGB uint8, a smaller copy of its row's image."""
    thumb, prompt = row["thumb"], str(row["prompt"])
    if "shape" not in thumb:
        raise Wrong(
            f"a `thumb` is a {thumb['type']}, not an array of pixels.",
            "Return the thumbnails as one uint8 NumPy array per batch, like the images.",
        )
    shape = tuple(int(n) for n in thumb["shape"])
    if thumb["dtype"] == "object" or shape != THUMB_SHAPE:
        raise Wrong(
            f"a `thumb` has the shape {shape}, not {THUMB_SHAPE}.",
            "Resize each image to 128x128 pixels (PIL's `Image.resize`, or a NumPy stride), "
            "keeping its 3 colour channels last.",
        )
    if thumb["dtype"] != "uint8":
        raise Wrong(
            f"a `thumb` has pixels of type {thumb['dtype']}, not uint8.",
            "Keep pixels in 0..255 as uint8, as the images are.",
        )
    image = originals.get(prompt)
    if image is None:
        raise Wrong(
            f"`thumbs` has the prompt {prompt!r}, which `images` does not.",
            "Start from `images` and leave `prompt` as it is.",
        )
    shift = max(abs(float(t) - float(i)) for t, i in zip(thumb["mean"], image, strict=True))
    if shift > MAX_MEAN_SHIFT:
        raise Wrong(
            f"the thumbnail of {prompt!r} has another mean colour than its image (off by "
            f"{shift:.0f} grey levels): it is not a smaller copy of it.",
            "Shrink the image of the same row; do not scale, invert or blank its pixels.",
        )


def _judge_stretch(seen, seed=None) -> str:
    _check_thumb_stage(_plan(seen["plan"]))
    originals = _check_thumb_rows(seen)
    rows = seen["rows"]
    for row in rows:
        _check_thumb(row, originals)
    return f"{len(rows)} thumbnails of {THUMB_SHAPE[0]}x{THUMB_SHAPE[1]} pixels, each a smaller copy of its image."


@exercise("Stretch · thumbnails in a CPU stage", judge=_judge_stretch)
def stretch(thumbs, images):
    """``thumbs``: ``images`` with a ``thumb`` column, each image shrunk to 128x128 RGB uint8."""
    require("thumbs", thumbs, "the Dataset of `images` with a `thumb` column")
    require("images", images, "the Dataset of exercise 1")
    plan = [_Stage.observe(s) for s in stages(require_dataset("thumbs", thumbs, THUMB_HINT))]
    _check_thumb_stage(_plan(plan))  # a step the lab does not ask for is not run (a GPU one could wait forever)
    rows = thumbs.take_all()
    return {
        "plan": plan,
        "columns": [str(c) for c in rows[0]] if rows else [],
        "rows": [
            {
                "prompt": str(r["prompt"]) if "prompt" in r else None,
                "thumb": _value_facts(r["thumb"]) if "thumb" in r else None,
            }
            for r in rows
        ],
        "originals": [
            {"prompt": str(r["prompt"]), "mean": _value_facts(r["image"]).get("mean")} for r in images.take_all()
        ],
    }
