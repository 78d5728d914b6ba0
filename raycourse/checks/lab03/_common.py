"""Lab 03's checks: what several exercises share (the image rules, an image's facts, the prompts' animals,
the plan's stages as data)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from .._core import NotSolved, Wrong, require
from ..toolkit import error_line, pool_size_of, visible_files

IMAGE_SHAPE = (512, 512, 3)  # what SDXL-Turbo and its tiny stand-in draw: 512x512 RGB
MIN_PIXEL_RANGE = 8  # a drawn image spans more than this many grey levels; a blank one does not
RERUN_HINT = (
    "Ray's write methods add files to a folder that already has some: re-run the setup cell "
    "(it empties out_dir), then run your exercise cell once."
)


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


# The probes: a learner's batch function called as Ray calls it, on a batch the check builds from a seed.

PROBE_ROWS = 3  # the rows of a probe batch


def _probe_columns(rows: list[dict], n: int = PROBE_ROWS) -> dict:
    """The columns of ``rows`` but `image` (the prompts, their ids) for a probe batch of ``n`` rows: the first rows,
    repeated when there are fewer, so that a function that reads them finds them as in the real batch."""
    import numpy as np

    names = [k for k in rows[0] if k != "image"] if rows else []
    return {k: np.array([rows[i % len(rows)][k] for i in range(n)]) for k in names}


def _copy_batch(batch):
    """A batch with writable copies of its NumPy columns (Ray's ``zero_copy_batch=False``)."""
    import numpy as np

    if isinstance(batch, dict):
        return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in batch.items()}
    return batch


def _call_batch_fn(stage, batch: dict) -> dict:
    """The function of ``stage`` (a ``toolkit.Stage`` of ``map_batches``) called as Ray calls it, on ``batch`` (NumPy
    columns): the batch handed over in the stage's ``batch_format`` (NumPy by default, or a DataFrame or an Arrow
    table), with the stage's ``fn_args`` and ``fn_kwargs``; what it returns (a dict, a DataFrame, a table, or a
    generator of them) as NumPy columns again, the way Ray stores a batch and reads it back."""
    import types
    import warnings

    import numpy as np
    from ray.data.block import BlockAccessor

    op = stage.op
    fmt = getattr(op, "batch_format", None)
    fmt = "numpy" if fmt in (None, "default", "native") else fmt
    data = BlockAccessor.for_block(BlockAccessor.batch_to_block(batch)).to_batch_format(fmt)
    if not getattr(op, "zero_copy_batch", True):
        data = _copy_batch(data)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # a wrong cast warns; the verdict says it
        warnings.simplefilter("ignore")
        out = stage.fn(data, *(getattr(op, "fn_args", None) or ()), **(getattr(op, "fn_kwargs", None) or {}))
        parts = list(out) if isinstance(out, types.GeneratorType) else [out]
    columns = [BlockAccessor.for_block(BlockAccessor.batch_to_block(p)).to_batch_format("numpy") for p in parts]
    if not columns:
        return {}
    if len(columns) == 1:
        return dict(columns[0])
    return {k: np.concatenate([c[k] for c in columns]) for k in columns[0]}


def _probe_output(stage, rows: list[dict], images, column: str) -> tuple[dict, object]:
    """``stage`` called as Ray calls it (:func:`_call_batch_fn`) on a probe batch: the prompts' columns ``rows`` and
    the check's ``images``. Returns what the judge sees so far (the stage's name, and its error or the columns it
    returned) and the column ``column`` as an array (None when it failed or returned no such column)."""
    import numpy as np

    seen = {"stage": stage.name}
    try:
        out = _call_batch_fn(stage, {**_probe_columns(rows), "image": images})
    except Exception as exc:  # the learner's function failed on the probe: the judge names its error
        return {**seen, "error": error_line(exc)}, None
    seen["columns"] = sorted(str(k) for k in out)
    return seen, (np.asarray(out[column]) if column in out else None)
