"""Lab 03, exercise 1: the lazy pipeline's plan (FloatImageGen in its pool of GPUs, then a CPU batch function)
and the images it materialized."""

from __future__ import annotations

import math

from .._core import Wrong, exercise, require
from ..stats import operator_names
from ..toolkit import require_dataset, stages
from ._common import (
    IMAGE_SHAPE,
    _Stage,
    _image_problem,
    _judge_expected,
    _observe_expected,
    _pickled,
    _plan,
    _value_facts,
)

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
    """raycourse.session.room.budget_words, from the observed numbers: "the cluster's 2 GPU(s)", or
    "your budget of ..."."""
    from raycourse.session.room import BUDGET_ENV

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
    names = operator_names(images) if materialized else None
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
    from raycourse.session import room

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
