"""Checks for lab 04 (LLM prompt enhancement): a parameterised ``Enhancer`` and the pipeline that uses it.

Exercise 1 calls the learner's class itself, the way Ray would, with arguments the
lab never uses, so that a class that only *looks* parameterised fails:

* ``Enhancer(model_id=<the course LLM>, prompt_column="description")`` is called on
  a batch with the columns ``id`` and ``description`` only (no ``prompt``). A class
  that reads or writes a hard-coded ``"prompt"`` column fails here, by name.
* ``Enhancer(model_id=<a path that does not exist>, prompt_column="description")``
  must then fail. A missing path is the one model id that no correct class can
  load, so an error proves the class loads what it is given, whatever it calls its
  attributes or however it loads the model. A class that ignores ``model_id`` (and
  loads a fixed model) runs without error and is rejected. The first probe ran the
  same batch successfully, so the error cannot come from the column or the batch.

Exercise 2 looks at the learner's dataset: its plan (a class stage that gets
constructor arguments, the enhancer before the image generator, where the plan says
so) and a few rows (``take_batch``): an enhanced prompt, not one of the joined
prompts, and an image array per row.
"""

from __future__ import annotations

import gc
import inspect
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ._core import Wrong, exercise, require

PROBE_COLUMN = "description"
PROBE_PROMPTS = (
    "A cinematic photo of a raccoon wearing a yellow raincoat",
    "A watercolor painting of a red fox wearing a traditional Italian priest robe",
)
PROBE_IDS = (1, 2)
MAPPER_DOCS = "https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html"


def _probe_batch() -> dict:
    """A batch as Ray hands it to a class: NumPy arrays, strings as an object array."""
    import numpy as np

    return {"id": np.array(PROBE_IDS, dtype=np.int64), PROBE_COLUMN: np.array(PROBE_PROMPTS, dtype=object)}


def _release() -> None:
    """Free the models the check loaded in the notebook's own process (and their GPU memory)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
    except ImportError:  # pragma: no cover - torch is a course dependency
        pass


def _construct(cls, model_id: str):
    try:
        return cls(model_id=model_id, prompt_column=PROBE_COLUMN)
    except TypeError as exc:
        if "argument" in str(exc):  # unexpected/missing keyword argument
            raise Wrong(
                f"`Enhancer(model_id=..., prompt_column=...)` failed: {exc}",
                "`fn_constructor_kwargs` passes its keys as keyword arguments to `__init__`; the lab's "
                "pipeline uses the keys `model_id` and `prompt_column`, so `__init__` needs parameters "
                "with those names.",
            ) from None
        raise


def _call(instance, batch):
    try:
        return instance(batch)
    except KeyError as exc:
        key = exc.args[0] if exc.args else exc
        if key == "prompt":
            raise Wrong(
                f"your Enhancer read the column 'prompt', but it was built with "
                f"prompt_column={PROBE_COLUMN!r} and the batch had no 'prompt' column.",
                "Remember the column name the constructor receives (on `self`) and read the prompts from "
                "that column in `__call__`, instead of a fixed name.",
            ) from None
        raise Wrong(
            f"your Enhancer looked for the column {key!r}, which is not in the batch "
            f"(it had {sorted(batch)}).",
            "Read the prompts from the column named by `prompt_column`.",
        ) from None


def _new_text(column) -> bool:
    """A column of one string per probe row, other than the probe prompts."""
    try:
        values = list(column)
    except TypeError:
        return False
    return (len(values) == len(PROBE_PROMPTS) and all(isinstance(v, str) for v in values)
            and any(v.strip() not in PROBE_PROMPTS for v in values))


@exercise("Exercise 1")
def exercise_1(Enhancer) -> str:
    """``Enhancer`` takes ``model_id`` and ``prompt_column`` and honours both (see the module docstring)."""
    require("Enhancer", Enhancer, "your parameterised Enhancer class")
    if not inspect.isclass(Enhancer):
        raise Wrong(
            f"`Enhancer` is a {type(Enhancer).__name__}, not a class.",
            "Write a class with `__init__(self, model_id, prompt_column)` that loads the model once, and "
            "`__call__(self, batch)` that enhances one batch; Ray then keeps one model per actor.",
        )
    if not any("__call__" in vars(k) for k in Enhancer.__mro__ if k is not object):
        raise Wrong("`Enhancer` has no `__call__` method.", "Ray calls `instance(batch)` for every batch.")
    import raycourse

    try:
        out = _call(_construct(Enhancer, raycourse.model_id("llm")), _probe_batch())
    finally:
        _release()
    if not isinstance(out, Mapping):
        raise Wrong(
            f"`Enhancer(...)(batch)` returned a {type(out).__name__}, not a batch (a dict of columns).",
            "Put the enhanced prompts into the batch and `return batch`.",
        )
    if PROBE_COLUMN not in out:
        raise Wrong(
            f"with prompt_column={PROBE_COLUMN!r} the returned batch has no {PROBE_COLUMN!r} column "
            f"(its columns: {sorted(map(str, out))}).",
            "Write the enhanced text back into the column named by `prompt_column`, so the stages after "
            "the Enhancer find it where the prompt was.",
        )
    column = out[PROBE_COLUMN]
    values = [column] if isinstance(column, str) else list(column)
    if len(values) != len(PROBE_PROMPTS):
        raise Wrong(
            f"for a batch of {len(PROBE_PROMPTS)} rows the {PROBE_COLUMN!r} column came back with "
            f"{len(values)} value(s).",
            "Return exactly one enhanced prompt per row of the batch.",
        )
    not_text = [v for v in values if not isinstance(v, str)]
    if not_text:
        raise Wrong(
            f"the {PROBE_COLUMN!r} column should hold one string per row; one value is a "
            f"{type(not_text[0]).__name__}: {str(not_text[0])[:120]}",
            "The text-generation pipeline returns, per chat, a list of results whose 'generated_text' is "
            "the whole conversation; the reply is the content of its last message.",
        )
    if all(v.strip() == p for v, p in zip(values, PROBE_PROMPTS)):
        elsewhere = [str(c) for c in out if c not in (PROBE_COLUMN, "id") and _new_text(out[c])]
        raise Wrong(
            f"the {PROBE_COLUMN!r} column came back unchanged: the prompts were not replaced by the "
            "model's output" + (f" (new text went to {elsewhere[0]!r} instead)." if elsewhere else "."),
            "Write the LLM's replies into the column named by `prompt_column` (keep the originals in "
            "another column if you want to compare).",
        )

    missing = Path(tempfile.gettempdir()) / "raycourse-lab04-probe" / "no-such-model"
    try:  # the same call as above, which worked: only the model id differs
        Enhancer(model_id=str(missing), prompt_column=PROBE_COLUMN)(_probe_batch())
    except Exception:  # what a class that really loads `model_id` does with a missing model
        pass
    else:
        raise Wrong(
            f"`Enhancer(model_id={str(missing)!r}, ...)` still worked, although no model exists there: "
            "the class ignores `model_id`.",
            "Load the text-generation pipeline from the `model_id` the constructor receives, not from a "
            "fixed name or `raycourse.model_id(...)` inside the class.",
        )
    finally:
        _release()
    return (f"Enhancer read {PROBE_COLUMN!r}, wrote {len(values)} enhanced prompts into it and refused a "
            "model path that does not exist: both constructor arguments are honoured.")


def _plan_ops(ds) -> list:
    """The logical operators of ``ds`` from source to sink ([] if the plan cannot be read)."""
    try:
        ops, order, stack = {}, [], [ds._logical_plan.dag]
        while stack:
            op = stack.pop()
            if id(op) in ops:
                continue
            ops[id(op)] = op
            order.append(op)
            stack.extend(getattr(op, "input_dependencies", []) or [])
        return list(reversed(order))
    except Exception:  # an internal API; the row checks below still run without it
        return []


def _class_stages(ds) -> list:
    return [op for op in _plan_ops(ds) if inspect.isclass(getattr(op, "fn", None))]


def _joined_prompts() -> set[str]:
    """Every prompt the lab's join builds (and the bare animal texts): what an unenhanced row holds."""
    import pandas as pd

    import raycourse

    animals = pd.read_csv(raycourse.data_path("animals"))
    outfits = pd.read_csv(raycourse.data_path("outfits"))
    joined = animals.merge(outfits, on="id")
    return set(joined["animal"] + " wearing a " + joined["outfit"]) | set(animals["animal"])


@exercise("Exercise 2")
def exercise_2(seasonal_images, prompt_column: str = "prompt", rows: int = 3) -> str:
    """``seasonal_images`` yields rows with an enhanced prompt and an HxWx3 uint8 image."""
    require("seasonal_images", seasonal_images, "the Dataset of your Enhancer + ImageGen pipeline")
    import numpy as np
    import ray.data

    if not isinstance(seasonal_images, ray.data.Dataset):
        raise Wrong(
            f"`seasonal_images` is a {type(seasonal_images).__name__}, not a Ray Dataset.",
            "Chain `.map_batches(...)` calls on the prompts dataset and assign the resulting Dataset "
            "(without calling take/take_batch on it).",
        )
    stages = _class_stages(seasonal_images)
    if stages:
        with_args = [op for op in stages if op.fn_constructor_kwargs or op.fn_constructor_args]
        if not with_args:
            names = ", ".join(op.fn.__name__ for op in stages)
            raise Wrong(
                f"none of the class stages ({names}) gets constructor arguments, so the Enhancer cannot "
                "know the model or the prompt column.",
                f"`map_batches` passes `fn_constructor_kwargs={{...}}` to the class's `__init__`: see {MAPPER_DOCS}",
            )
        enhancer = with_args[0]
        image_stages = [op for op in stages if "image" in op.fn.__name__.lower()]
        if image_stages and stages.index(image_stages[0]) < stages.index(enhancer):
            raise Wrong(
                f"{image_stages[0].fn.__name__} runs before {enhancer.fn.__name__}, so the images are "
                "drawn from the original prompts, not the enhanced ones.",
                "The order of the `map_batches` calls is the order of the stages.",
            )
    no_rows = Wrong("`seasonal_images` yields no rows.", "Start from the lab's `prompts` dataset and keep its rows.")
    try:
        batch = seasonal_images.take_batch(rows)
    except ValueError as exc:  # Ray: "The dataset is empty."
        if "empty" in str(exc):
            raise no_rows from None
        raise
    n = len(next(iter(batch.values()))) if batch else 0
    if n == 0:
        raise no_rows
    if "image" not in batch:
        raise Wrong(
            f"the rows have no 'image' column (they have {sorted(batch)}).",
            "Chain the ImageGen stage after the Enhancer in the same pipeline.",
        )
    if prompt_column not in batch:
        raise Wrong(
            f"the rows have no {prompt_column!r} column (they have {sorted(batch)}).",
            "The Enhancer writes the enhanced prompt back into the prompt column.",
        )
    prompts = [p for p in batch[prompt_column]]
    if not all(isinstance(p, str) for p in prompts):
        raise Wrong(
            f"the {prompt_column!r} column should hold text; found a {type(prompts[0]).__name__}.",
            "The Enhancer should store one string per row.",
        )
    originals = _joined_prompts()
    unchanged = [p for p in prompts if p in originals]
    if unchanged:
        raise Wrong(
            f"{len(unchanged)} of {n} rows still hold the joined prompt, e.g. {unchanged[0]!r}: the "
            "Enhancer did not run on them.",
            "Put the Enhancer stage (with its constructor arguments) between the prompts and ImageGen.",
        )
    for i, image in enumerate(batch["image"]):
        arr = np.asarray(image)
        if arr.dtype == object or arr.ndim != 3 or arr.shape[-1] != 3 or min(arr.shape[:2]) < 8:
            raise Wrong(
                f"row {i}: the image should be an array of shape (height, width, 3); got "
                f"{type(image).__name__} with shape {getattr(arr, 'shape', None)}.",
                "Keep the lab's ImageGen stage as it is: it stores each image as a NumPy array.",
            )
        if arr.dtype != np.uint8:
            raise Wrong(f"row {i}: the image array has dtype {arr.dtype}, expected uint8.",
                        "Keep the lab's ImageGen stage as it is.")
    h, w = np.asarray(batch["image"][0]).shape[:2]
    return f"{n} rows, each with an enhanced {prompt_column!r} and a {h}x{w} RGB image."
