"""Lab 04, exercise 2: the pipeline's plan (the learner's ``Enhancer``, then the image stage) and its rows.

What each part judges, by the text's requirements (R1 ... R10, as tests/checks/test_checks_lab04.py lists them):

* R1 a lazy Dataset: toolkit.require_dataset, and :func:`_check_no_stages` (materialized, by Ray's stats:
  stats.made_by, or lazy with no stage at all).
* R2 the Enhancer stage runs the learner's own class: :func:`_check_enhancer`, :func:`_check_yours`.
* R3 (probe) given ``enhancer_model`` and ``catalogue_messages``: :func:`_check_enhancer`, from what the stage is
  given (a builder that makes ``catalogue_messages``'s conversations on the check's texts is it: _common.same_builder).
* R4 given the catalogue's column: :func:`_check_read`, from what that column holds when the Enhancer runs (the part
  of the plan in front of it, run for one row by :func:`_before`).
* R5 ImageGen draws after the Enhancer: :func:`_check_order` (no image in front of the Enhancer) and
  :func:`_check_image_stage`.
* R6 ``prompt`` holds the enhanced description when ImageGen runs: :func:`_check_rows`, and a run that fails with the
  learner's own error line (:func:`_take`).
* R7, R8 a fraction of a GPU per model, one actor of each on one GPU, pools of one: :func:`_check_gpu_shares`.
* R9 a whole-number batch_size: Ray itself refuses a GPU stage without one.
* R10 each row's season and its image: :func:`_check_rows`.
"""

from __future__ import annotations

import inspect

from .._core import Wrong, exercise, require
from ..stats import made_by
from ..toolkit import error_line, model_for, require_dataset, stages
from ._common import _cell, _descriptions, _originals, _plan, _Stage

IMAGE_COLUMN = "prompt"  # the column the lab's ImageGen reads
IMAGE_STAGE = "ImageGen"  # the lab's image stage
MAPPER_DOCS = "https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html"


def _image_columns(batch) -> list[str]:
    """Columns of a batch that hold images: arrays of at least 2 dimensions per row."""
    import numpy as np

    found = []
    for name, values in batch.items():
        try:
            first = np.asarray(values[0])
        except Exception:
            continue
        if first.dtype != object and first.ndim >= 2:
            found.append(str(name))
    return found


def _prompt_column(stage) -> str | None:
    """The ``prompt_column`` the Enhancer stage is given, by name or by position (bound to its ``__init__``)."""
    args, kwargs = tuple(getattr(stage.op, "fn_constructor_args", None) or ()), stage.constructor_kwargs
    try:
        bound = inspect.signature(stage.fn).bind_partial(*args, **kwargs)
        bound.apply_defaults()
        column = bound.arguments.get("prompt_column", kwargs.get("prompt_column"))
    except (TypeError, ValueError):  # a signature that does not take them: the check of Exercise 1 says so
        column = kwargs.get("prompt_column")
    return column if isinstance(column, str) else None


def _before(ds, stage) -> tuple[dict | None, dict | None]:
    """What reaches ``stage``, from one row: the image columns already present and the last stage that ran before
    it (``{"columns": [...], "drawn_by": name or None}``, or None when no image is there), and the column the stage
    reads (``{"column": its prompt_column, "values": its cells, or None when the rows have no such column}``, or
    None).

    Runs the part of the plan in front of ``stage`` for one row: in a correct pipeline
    that is only the prompts (cheap); in a wrong one, it finds images whatever the stage
    that drew them is called, a class or a function.
    """
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    inputs = getattr(stage.op, "input_dependencies", None) or []
    if len(inputs) != 1:
        return None, None
    try:
        before = ray.data.Dataset._from_parent(ds, LogicalPlan(inputs[0], ds.context))
        batch = before.take_batch(1)
    except Exception:  # an internal API, or a plan that cannot run in parts: the row checks remain
        return None, None
    column = _prompt_column(stage)
    read = None if column is None else {"column": column, "values": None}
    if column is not None and column in batch:
        read["values"] = [_cell(v) for v in batch[column]]
    columns = _image_columns(batch)
    if not columns:
        return None, read
    drawn_by = stages(before)
    return {"columns": columns, "drawn_by": drawn_by[-1].name if drawn_by else None}, read


def _check_yours(enhancers: list[_Stage], Enhancer: dict) -> _Stage:
    """The stage given constructor arguments runs the class the learner handed the check (their Enhancer)."""
    if Enhancer["is_class"] is not True:
        raise Wrong(
            "the check got no `Enhancer` class.",
            "Run the check cell as given: check.exercise_2(catalogue_images, catalogue_messages, enhancer_model, "
            "Enhancer).",
        )
    mine = [s for s in enhancers if s.yours]
    if not mine:
        ran = ", ".join(f"`{s.qualname}`" for s in enhancers)
        older = (
            " (an older definition, from before you ran its cell again)" if ran == f"`{Enhancer['qualname']}`" else ""
        )
        raise Wrong(
            f"the stage given constructor arguments runs {ran}{older}, not your `{Enhancer['qualname']}`.",
            "Pass your own Enhancer of Exercise 1 to map_batches, then build catalogue_images again: "
            ".map_batches(Enhancer, fn_constructor_kwargs={...}, ...).",
        )
    return mine[0]


def _check_enhancer(plan: list[_Stage], seen: dict) -> _Stage:
    """The class stage that gets constructor arguments: the learner's Enhancer, given the model and the messages
    handed to the check (``seen``: the observation)."""
    enhancers = [s for s in plan if s.is_class and s.has_args]
    if not enhancers:
        names = ", ".join(s.name for s in plan if s.is_class) or "none"
        raise Wrong(
            f"no class stage gets constructor arguments (class stages: {names}), so no Enhancer can know the "
            "model, the column or the conversation.",
            f"`map_batches` passes `fn_constructor_kwargs={{...}}` to the class's `__init__`: see {MAPPER_DOCS}",
        )
    stage = _check_yours(enhancers, seen["enhancer"])
    if seen["messages"] is not False and not any(given for _, given in stage.builders):
        named = ", ".join(f"`{name}`" for name, _ in stage.builders) or "none"
        animals = (
            " (the animals' conversation keeps an animal wearing its clothing)" if "chat_messages" in named else ""
        )
        raise Wrong(
            f"{stage.name} gets the conversation builder(s) {named}, not `catalogue_messages`{animals}.",
            "Pass `catalogue_messages` as the `messages` argument, with the model and the column.",
        )
    model = str(seen["model"])
    if model not in stage.texts:
        raise Wrong(
            f"{stage.name} is not given `enhancer_model` ({model!r}) among its constructor arguments.",
            "Pass `enhancer_model` as the `model_id` argument: the pipeline chooses the model, not the class.",
        )
    return stage


def _check_order(early: dict | None, enhancer: _Stage) -> None:
    """``early``: :func:`_images_before` of the Enhancer's stage."""
    if early:
        columns, drawn_by = [str(c) for c in early["columns"]], early["drawn_by"]
        who = f"{drawn_by} draws" if drawn_by is not None else "the rows already hold"
        raise Wrong(
            f"{who} the images (column {columns[0]!r}) before {enhancer.name} runs, so they are drawn from "
            "the original descriptions, not the enhanced ones.",
            "The order of the `map_batches` calls is the order of the stages: enhance first, then draw.",
        )


def _check_read(read: dict | None, enhancer: _Stage) -> None:
    """``read``: the column the Enhancer is given, and what it holds when the Enhancer runs (:func:`_before`): a
    catalogue description."""
    if not read or read["values"] is None:
        return  # no such column: the run fails, and says so
    column = str(read["column"])
    known = _descriptions()
    others = [v for v in read["values"] if not (isinstance(v, str) and v in known)]
    if others:
        shown = others[0] if isinstance(others[0], str) else f"a {others[0]['type']}"
        raise Wrong(
            f"{enhancer.name} is given prompt_column={column!r}, and that column holds {str(shown)[:80]!r} when it "
            "runs: not a description of the catalogue, so that is not what gets enhanced.",
            "Give the Enhancer the column that holds the catalogue's descriptions when it runs (`description`, "
            "or the name you renamed it to).",
        )


def _check_image_stage(plan: list[_Stage], enhancer: _Stage) -> _Stage:
    after = plan[plan.index(enhancer) + 1 :]
    drawer = next((s for s in after if s.is_class and s.name == IMAGE_STAGE), None)
    if drawer is None:
        raise Wrong(
            f"no `{IMAGE_STAGE}` stage runs after {enhancer.name} (stages after it: "
            f"{', '.join(s.name for s in after) or 'none'}).",
            f"Chain `.map_batches({IMAGE_STAGE}, ...)`, the lab's class as it is, after the Enhancer.",
        )
    return drawer


def _check_gpu_shares(models: list[_Stage], gpus) -> None:
    """Each model stage holds a fraction of a GPU, one actor of each fitting one GPU together, in a pool of one.
    ``gpus``: the learner's GPUs (the cluster's within the budget), as observed."""
    if int(gpus) <= 0:
        return
    for stage in models:
        if not 0 < stage.num_gpus < 1:
            raise Wrong(
                f"{stage.name} asks for num_gpus={stage.num_gpus:g}: the lab asks for a fraction of a GPU for "
                "each model" + (" (with none, it runs on the CPU)." if not stage.num_gpus else "."),
                "Give each model stage a share of one GPU with `num_gpus=`, as the lesson does.",
            )
        if stage.pool_size != (1, 1):
            raise Wrong(
                f"the pool of {stage.name} has {stage.pool_size} (min, max) actors; the lab asks for one actor "
                "per stage (five products need no more, and one of each fits any cluster from one GPU up).",
                "Use `compute=ray.data.ActorPoolStrategy(size=1)` for each model stage, not the lesson's GPUS.",
            )
    if sum(s.num_gpus for s in models) > 1 + 1e-9:
        asked = " + ".join(f"{s.name} {s.num_gpus:g}" for s in models)
        raise Wrong(
            f"one actor of each stage asks for {asked} = {sum(s.num_gpus for s in models):g} GPUs: the models "
            "cannot share a GPU, and on a one-GPU machine a stage would wait for its GPU forever, with no error.",
            "Give each stage a fraction of a GPU, so that one actor of each fits on one GPU together.",
        )


def _take(ds, rows: int) -> dict:
    no_rows = Wrong("`catalogue_images` yields no rows.", "Start from the lab's `catalogue` and keep its rows.")
    try:
        batch = ds.take_batch(rows)
    except Exception as exc:  # the learner's pipeline fails when it runs (Ray: "The dataset is empty." when empty)
        if isinstance(exc, ValueError) and "empty" in str(exc):
            raise no_rows from None
        raise Wrong(f"running `catalogue_images` failed: {error_line(exc)}", RUN_HINT) from None
    if not batch or not len(next(iter(batch.values()))):
        raise no_rows
    return batch


def _observe_rows(batch) -> dict:
    """A few rows as plain data: their columns, the texts ImageGen drew from, and each image's type, shape and
    pixel type."""
    import numpy as np

    seen = {"columns": sorted(str(c) for c in batch)}
    if IMAGE_COLUMN in batch:
        seen["prompts"] = [_cell(p) for p in batch[IMAGE_COLUMN]]
    if "image" in batch:
        images = []
        for image in batch["image"]:
            arr = np.asarray(image)
            images.append({"type": type(image).__name__, "shape": [int(n) for n in arr.shape], "dtype": str(arr.dtype)})
        seen["images"] = images
    return seen


def _check_rows(batch: dict) -> int:
    columns = list(batch["columns"])
    for column, hint in (
        ("image", f"Chain the {IMAGE_STAGE} stage after the Enhancer in the same pipeline."),
        (IMAGE_COLUMN, f"{IMAGE_STAGE} draws what the `prompt` column holds: the enhanced description must be there."),
        ("season", "Use the Enhancer of Exercise 1, which keeps each row's season beside its enhanced text."),
    ):
        if column not in columns:
            raise Wrong(f"the rows have no {column!r} column (they have {columns}).", hint)
    prompts = list(batch["prompts"])
    n = len(prompts)
    if not n:
        raise Wrong("`catalogue_images` yields no rows.", "Start from the lab's `catalogue` and keep its rows.")
    if not all(isinstance(p, str) for p in prompts):
        first = next(p for p in prompts if not isinstance(p, str))
        raise Wrong(
            f"the {IMAGE_COLUMN!r} column should hold text; found a {first['type']}.",
            "The Enhancer should store one string per row.",
        )
    unchanged = [p for p in prompts if p in _originals()]
    if unchanged:
        raise Wrong(
            f"{len(unchanged)} of {n} rows have an unenhanced text in {IMAGE_COLUMN!r}, e.g. {unchanged[0]!r}: "
            f"that is what {IMAGE_STAGE} drew.",
            f"{IMAGE_STAGE} reads `prompt`: the Enhancer's output must be there when it runs, whichever column "
            "the Enhancer works on.",
        )
    images = batch["images"]
    if len(images) != n:
        raise ValueError(f"{len(images)} images observed for {n} rows")
    for i, image in enumerate(images):
        shape = tuple(int(d) for d in image["shape"])
        if image["dtype"] != "uint8" or len(shape) != 3 or shape[-1] != 3:
            raise Wrong(
                f"row {i}: the image is {image['type']} of shape {shape} and dtype "
                f"{image['dtype']}, not a (height, width, 3) uint8 array.",
                f"Keep the lab's {IMAGE_STAGE} stage as it is: it stores each image as a NumPy uint8 array.",
            )
    return n


def _check_no_stages(made: list | None) -> None:
    """A plan without a stage: materialized (``made``: the operators Ray's stats say made it), or never given one."""
    if made is not None:
        names = ", ".join(str(n) for n in made[:6])
        raise Wrong(
            f"`catalogue_images` was run already (materialized, made by {names or 'nothing Ray recorded'}): its plan "
            "keeps none of its stages, and the check reads them.",
            DATASET_HINT,
        )
    raise Wrong(
        "`catalogue_images` has no `map_batches` stage: neither your Enhancer nor ImageGen runs in it.",
        "Chain `.map_batches(Enhancer, ...)` and then `.map_batches(ImageGen, ...)` on the catalogue.",
    )


def _check_plan(seen: dict, plan: list[_Stage]) -> tuple[_Stage, _Stage]:
    """The checks of the plan, in the order the text asks: the Enhancer, the order of the stages (its
    ``before``: what runs in front of it), ImageGen after it, the GPU shares. Returns (Enhancer, ImageGen)."""
    if not plan:
        _check_no_stages(seen["made_by"])
    enhancer = _check_enhancer(plan, seen)
    _check_read(seen["read"], enhancer)
    _check_order(seen["before"], enhancer)
    drawer = _check_image_stage(plan, enhancer)
    _check_gpu_shares([enhancer, drawer], seen["gpus"])
    return enhancer, drawer


def _judge_2(seen, seed=None) -> str:
    enhancer, drawer = _check_plan(seen, _plan(seen["plan"]))
    n = _check_rows(seen["rows"])
    return (
        f"{enhancer.name} ({enhancer.num_gpus:g} GPU) then {drawer.name} ({drawer.num_gpus:g} GPU), one actor "
        f"each; {n} rows, each with an enhanced {IMAGE_COLUMN!r}, its season and an RGB image."
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(catalogue_images, messages=None, model=None, Enhancer=None, rows: int = 3) -> dict:
    """``catalogue_images``: the catalogue enhanced by the learner's ``Enhancer`` (``model``, ``messages``), then
    drawn by ImageGen, each model on a share of a GPU in a pool of one actor; checked through its plan and a few
    rows."""
    from raycourse.session import room

    require("catalogue_images", catalogue_images, "the Dataset of your Enhancer + ImageGen pipeline")
    require_dataset("catalogue_images", catalogue_images, DATASET_HINT)
    real = stages(catalogue_images)
    seen = {
        "plan": [_Stage.observe(i, s, messages, Enhancer) for i, s in enumerate(real)],
        "enhancer": {
            "is_class": inspect.isclass(Enhancer),
            "qualname": str(getattr(Enhancer, "__qualname__", type(Enhancer).__name__)),
        },
        "messages": messages is not None,
        "model": str(model or model_for("llm")),
        "gpus": room.learner_gpus(),
        "made_by": None if real else made_by(catalogue_images),
        "before": None,
        "read": None,
    }
    plan = _plan(seen["plan"])
    # the plan's checks run here too, before anything runs: a pipeline the lab does not ask for may wait forever
    if plan:
        seen["before"], seen["read"] = _before(catalogue_images, real[_check_enhancer(plan, seen).index])
    _check_plan(seen, plan)
    seen["rows"] = _observe_rows(_take(catalogue_images, rows))
    return seen


DATASET_HINT = (
    "Chain `.map_batches(...)` calls on the catalogue and assign the resulting Dataset, lazy: "
    "without take, take_batch or materialize, so that the check can read its stages."
)
RUN_HINT = (
    "Run `catalogue_images.take_batch(2)` in a cell of its own to see the whole error. Which column holds "
    "the catalogue's text when the Enhancer runs, and which one does ImageGen read?"
)
