"""Lab 03, exercise 1: the lazy pipeline's plan (FloatImageGen in its pool of GPUs, then a CPU batch function),
the images it materialized, and a probe of the batch function: called as Ray calls it on a batch of float images
that the check builds from the seed, it must turn every value x into the pixel 255·x (rounded or truncated)."""

from __future__ import annotations

import math

from .._core import Wrong, exercise, require
from ..stats import operator_names
from ..toolkit import plan_kinds, require_dataset, stages
from ._common import (
    IMAGE_SHAPE,
    PROBE_ROWS,
    _probe_output,
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


def _materialized_partway(source: dict | None) -> bool:
    """Whether ``pixels`` starts from a Dataset that FloatImageGen made and that was materialized: ``source`` is the
    kind of its plan's first operator and, for ``InputData``, the operators that Ray's stats say made it."""
    made_by = (source or {}).get("made_by") or []
    return (source or {}).get("kind") == "InputData" and any(f"({GENERATOR})" in str(name) for name in made_by)


def _check_generator(plan: list[_Stage], source: dict | None = None) -> _Stage:
    """The lab's FloatImageGen is a stage of ``pixels``, in a pool of actors with one whole GPU each. ``source``:
    where the plan starts (:func:`_materialized_partway`)."""
    if not plan:
        raise Wrong("`pixels` shows no stages: it was run already (materialize, take).", LAZY_HINT)
    generator = next((s for s in plan if s.name == GENERATOR and s.is_class), None)
    if generator is None and _materialized_partway(source):
        raise Wrong(
            f"`pixels` was materialized partway, so its plan keeps only the later steps "
            f"({', '.join(s.name for s in plan)}): {GENERATOR} is not among them.",
            f"Build `pixels` as one lazy chain from `prompts` ({GENERATOR}, then your batch function), without "
            "materialize() in it; materialize only to make `images`.",
        )
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
    """One actor per GPU within the learner's budget (``raycourse.gpu_budget()``, every GPU of the cluster unless
    the instructor shares it out): not fewer, and not more than can start.
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
            "lab asks for one actor per GPU within your budget, so that every GPU draws.",
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


# The probe of the conversion: a batch like FloatImageGen's, of float images the check builds from the seed.
RAMP = 1021  # image 0 of the probe: the levels k / 1020 in turn, 0.0, 0.5 and 1.0 among them
MIDDLE_ENDS = (3, 4)  # where image 1's 0.2 and 0.8 are among the probe's positions (after image 0's 0, 0.5, 1)
TOLERANCE = 1.01  # a pixel may be 255·x rounded or truncated: off by at most 1 (and float32's rounding)
CONVERT_HINT = (
    "Multiply every value by 255, whatever the image holds (0.0 becomes 0, 1.0 becomes 255), round, then cast to uint8."
)


def _float_probe(seed) -> tuple:
    """(the probe batch's images, the positions observed) from ``seed``: ``PROBE_ROWS`` float32 images of
    ``IMAGE_SHAPE``, image 0 a ramp from 0.0 to 1.0 (0.0, 0.5 and 1.0 exactly), image 1 values from 0.2 to 0.8
    only (both ends among them), image 2 all 1.0; the positions, (image, flat index) pairs, take in 0.0, 0.5 and
    1.0 of image 0, 0.2 and 0.8 of image 1 and about 60 more drawn from the seed."""
    import numpy as np

    rng = np.random.default_rng(int(seed or 0))
    n = math.prod(IMAGE_SHAPE)
    shift = int(rng.integers(RAMP))
    ramp = ((np.arange(n) + shift) % RAMP) / (RAMP - 1)
    middle = 0.2 + 0.6 * rng.random(n)
    ends = rng.choice(n, 2, replace=False)
    middle[ends] = (0.2, 0.8)
    images = np.stack([ramp, middle, np.ones(n)]).astype(np.float32).reshape(PROBE_ROWS, *IMAGE_SHAPE)
    positions = [(0, (k - shift) % RAMP) for k in (0, (RAMP - 1) // 2, RAMP - 1)] + [(1, int(i)) for i in ends]
    for row, count in ((0, 21), (1, 20), (2, 18)):
        positions += [(row, int(i)) for i in rng.choice(n, count, replace=False)]
    return images, positions


def _observe_conversion(stage, rows: list[dict], seed) -> dict:
    """The conversion (``stage``, a toolkit.Stage) called as Ray calls it on the probe batch (the prompts' columns
    ``rows`` and the images of :func:`_float_probe`): the `image` column it returns, its type and shape, and its
    values at the probe's positions."""
    import numpy as np

    images, positions = _float_probe(seed)
    seen, pixels = _probe_output(stage, rows, images, "image")
    if pixels is None:
        return seen
    seen.update(dtype=str(pixels.dtype), shape=list(pixels.shape))
    if pixels.shape == (PROBE_ROWS, *IMAGE_SHAPE) and np.issubdtype(pixels.dtype, np.number):
        flat = pixels.reshape(PROBE_ROWS, -1)
        seen["values"] = [flat[row, i].item() for row, i in positions]
    return seen


def _conversion_slip(x, got) -> str:
    """What the conversion did wrong, from the probe's values ``x`` and what it made of them, ``got``."""
    import numpy as np

    expected = 255 * x
    low, high = MIDDLE_ENDS  # image 1's 0.2 and 0.8
    if got[low] <= 1 and got[high] >= 254:
        return "stretches each image (0.2..0.8 become 0..255): multiply by 255"
    if any(v == 1.0 and g == 0 for v, g in zip(x, got)):
        return "turns 1.0 into 0 (x256 overflows)"
    i = int(np.argmax(np.abs(got - expected)))
    value = round(float(x[i]), 4)  # 1.0, 0.5, 0.2353
    return f"turns {value} into {got[i]:g}, where the pixel is 255 x {value} = {expected[i]:.1f}"


def _check_conversion_probe(probe: dict, seed) -> None:
    """The conversion, on the probe batch, keeps the shape and turns every value x into a uint8 pixel 255·x."""
    import numpy as np

    name = probe["stage"]
    if probe.get("error"):
        raise Wrong(
            f"`{name}` failed on a batch like {GENERATOR}'s ({PROBE_ROWS} images, float32 from 0.0 to 1.0): "
            f"{probe['error']}",
            "Try your function on `pixels.take_batch(2)`'s kind of batch: only `image` changes.",
        )
    if "image" not in probe["columns"]:
        raise Wrong(f"`{name}` returns no `image` column on a batch like {GENERATOR}'s.", PIXELS_HINT)
    dtype, shape = str(probe["dtype"]), tuple(int(n) for n in probe["shape"])
    if dtype != "uint8":
        what = f"returns {dtype}: the cast to uint8 is missing" if "float" in dtype else f"returns {dtype}, not uint8"
        raise Wrong(f"`{name}` {what}.", CONVERT_HINT)
    if shape != (PROBE_ROWS, *IMAGE_SHAPE):
        raise Wrong(
            f"`{name}` turns a batch of the shape {(PROBE_ROWS, *IMAGE_SHAPE)} into one of {shape}.",
            "Keep the shape: (rows, 512, 512, 3).",
        )
    images, positions = _float_probe(seed)
    x = np.array([images[row].reshape(-1)[i] for row, i in positions], dtype=np.float64)
    got = np.array([float(v) for v in probe["values"]])
    if len(got) != len(x):
        raise ValueError(f"{len(got)} values observed at {len(x)} positions")
    if np.any(np.abs(got - 255 * x) > TOLERANCE):
        raise Wrong(f"`{name}` {_conversion_slip(x, got)}.", CONVERT_HINT)


def _judge_1(seen, seed=None) -> str:
    n_expected, expected_prompts = _judge_expected(seen["expected"])
    plan = _plan(seen["plan"])
    generator = _check_generator(plan, seen["source"])
    _check_pool_size(generator, seen["gpus"])
    _check_conversion(plan, generator)
    images = seen["images"]
    _check_materialized(images, generator)
    n = _check_rows(images, n_expected, expected_prompts)
    _check_pixels(images, n)
    if seen["conversion"] is None:
        raise ValueError("no probe of the conversion observed")
    _check_conversion_probe(seen["conversion"], seed)
    return (
        f"{GENERATOR} on one GPU per actor, {generator.pool_size[1] if generator.pool_size else 1} actor(s), then "
        f"a CPU batch function; {n} rows; `image` is a tensor column of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} "
        "RGB uint8 pixels per row."
    )


def _conversion_stage(plan: list):
    """The stage right after the lab's FloatImageGen in ``plan`` (toolkit.Stage's), when it is a batch function:
    the conversion the probe calls; else None (the judge says what is wrong with the plan)."""
    at = next((i for i, s in enumerate(plan) if s.name == GENERATOR and s.is_class), None)
    if at is None or at + 1 == len(plan):
        return None
    stage = plan[at + 1]
    return stage if stage.kind == "MapBatches" and not stage.is_class else None


def _prompt_rows(prompts) -> list[dict]:
    """The first rows of ``prompts`` (what FloatImageGen adds its `image` column to), for the probe batch."""
    import ray.data

    if isinstance(prompts, ray.data.Dataset):
        return prompts.take(PROBE_ROWS)
    texts = [str(p) for p in prompts] if isinstance(prompts, (list, tuple)) else ["a fox"] * PROBE_ROWS
    return [{"id": i, "prompt": t} for i, t in enumerate(texts[:PROBE_ROWS])]


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(pixels, images, prompts, *, seed=None):
    """``pixels``: FloatImageGen (one GPU per actor, one actor per GPU within the budget) then a CPU batch function
    that makes uint8 pixels; ``images``: ``pixels.materialize()``, the prompts with a tensor column of 512x512x3
    uint8 images. The batch function is also called on a probe batch of float images built from ``seed``."""
    from raycourse.session import room

    require("pixels", pixels, "the lazy pipeline: FloatImageGen, then your batch function")
    require("images", images, "`pixels.materialize()`")
    expected = _observe_expected(prompts)
    kinds = plan_kinds(require_dataset("pixels", pixels, LAZY_HINT))
    source = {"kind": kinds[0] if kinds else None, "made_by": None}
    if source["kind"] == "InputData":  # a materialized Dataset: what made it, by Ray's stats
        names = operator_names(pixels)
        source["made_by"] = None if names is None else sorted(names)
    plan = stages(pixels)
    require_dataset("images", images, LAZY_HINT)
    convert = _conversion_stage(plan)
    return {
        "expected": expected,
        "plan": [_Stage.observe(s) for s in plan],
        "source": source,
        "gpus": {"learner": room.learner_gpus(), "cluster": _cluster_gpus()},
        "images": _observe_images(images),
        "conversion": None if convert is None else _observe_conversion(convert, _prompt_rows(prompts), seed),
    }
