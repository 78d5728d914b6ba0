"""Lab 03, stretch: the thumbnails, a CPU batch function after the images."""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import require_dataset, stages
from ._common import _Stage, _plan, _value_facts

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
