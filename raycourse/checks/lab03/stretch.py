"""Lab 03, stretch: the thumbnails, a CPU batch function after the images, and a probe of that function: called
as Ray calls it on test images of 4x4 squares of colour drawn from the seed, each thumbnail must show every square
where it is, in its colour (any honest downscale does; a crop, a reshape or another row's thumbnail does not)."""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import require_dataset, stages
from ._common import IMAGE_SHAPE, PROBE_ROWS, _plan, _probe_output, _Stage, _value_facts

THUMB_SHAPE = (128, 128, 3)
MAX_MEAN_SHIFT = 12  # grey levels: any honest downscale keeps an image's mean colour (a crop of noise does too)
THUMB_HINT = "Build `thumbs` with `images.map_batches(add_thumb)`, a batch function, and leave it lazy."
GRID = 4  # the probe's images: GRID x GRID squares of 128 pixels, each a square of 32 pixels in a thumbnail
CENTRE = slice(8, 24)  # the middle of a thumbnail's square: what a resampling filter leaves as it is
MAX_SQUARE_SHIFT = 4  # grey levels a square's middle may be off (rounding; no filter reaches it from the edges)
SHRINK_HINT = (
    "Shrink the whole image, each row its own: every pixel of the thumbnail stands for 4x4 pixels of its image "
    "(PIL's `Image.resize`, or every 4th pixel of each image)."
)


def _thumb_stages(ds) -> list:
    """The stages of ``thumbs`` (toolkit.Stage's) up to the thumbnails' own: a ``drop_columns`` after it, a
    stage of Ray's own (a map_batches of Ray's function), is left out."""
    found = stages(ds)
    while len(found) > 1 and _rays_drop_columns(found[-1]):
        found.pop()
    return found


def _rays_drop_columns(stage) -> bool:
    """Whether ``stage`` is a ``drop_columns`` (in Ray 2.60 a map_batches of a function of Ray's own)."""
    return getattr(stage.fn, "__module__", "").startswith("ray.") and stage.name == "drop_columns"


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


def _probe_colours(seed):
    """The colours of the probe's squares, ``(PROBE_ROWS, GRID, GRID, 3)`` uint8, from ``seed``: in each image
    every square has a red of its own (16 levels apart), in an order of its own per image; green and blue at
    random."""
    import numpy as np

    rng = np.random.default_rng(int(seed or 0))
    orders: list[tuple] = []
    while len(orders) < PROBE_ROWS:
        order = tuple(int(i) for i in rng.permutation(GRID * GRID))
        if order not in orders:
            orders.append(order)
    colours = rng.integers(0, 256, (PROBE_ROWS, GRID, GRID, 3))
    colours[..., 0] = np.array(orders).reshape(PROBE_ROWS, GRID, GRID) * 16 + 8
    return colours.astype(np.uint8)


def _observe_probe(stage, rows: list[dict], seed) -> dict:
    """The thumbnails' function (``stage``) called as Ray calls it on ``PROBE_ROWS`` images of 512x512 made of
    squares of the colours of :func:`_probe_colours` (beside the other columns of ``images``' rows): the `thumb`
    column it returns, its type and shape, and the mean colour of the middle of each square of each thumbnail."""
    import numpy as np

    side = IMAGE_SHAPE[0] // GRID
    images = np.repeat(np.repeat(_probe_colours(seed), side, axis=1), side, axis=2)
    seen, thumbs = _probe_output(stage, rows, images, "thumb")
    if thumbs is None:
        return seen
    if thumbs.dtype == object and len(thumbs) and all(isinstance(t, np.ndarray) for t in thumbs):
        try:
            thumbs = np.stack(list(thumbs))
        except ValueError:  # thumbnails of different shapes: the judge names the shape
            pass
    seen.update(dtype=str(thumbs.dtype), shape=list(thumbs.shape))
    if thumbs.shape == (PROBE_ROWS, *THUMB_SHAPE) and np.issubdtype(thumbs.dtype, np.number):
        squares = thumbs.reshape(PROBE_ROWS, GRID, THUMB_SHAPE[0] // GRID, GRID, THUMB_SHAPE[1] // GRID, 3)
        seen["squares"] = squares[:, :, CENTRE, :, CENTRE, :].mean(axis=(2, 4)).round(2).tolist()
    return seen


def _shrink_slip(squares, colours) -> str:
    """What the thumbnails' function did instead of shrinking each image: from the mean colours of its
    thumbnails' squares, ``(PROBE_ROWS, GRID, GRID, 3)``, and the colours of the images' squares."""
    import numpy as np

    def like(got, want) -> bool:
        return bool(np.all(np.abs(got - want) <= MAX_SQUARE_SHIFT))

    if all(like(squares[r], colours[r, 0, 0]) for r in range(PROBE_ROWS)):
        return "each thumbnail shows only the top-left corner of its image (a crop)"
    if like(squares[0], colours[0]) and all(like(squares[r], colours[0]) for r in range(1, PROBE_ROWS)):
        return "every row gets the thumbnail of the batch's first image"
    r, i, j = (int(n) for n in np.argwhere(np.abs(squares - colours).max(axis=-1) > MAX_SQUARE_SHIFT)[0])
    return (
        f"in the thumbnail of test image {r + 1}, the square in row {i + 1}, column {j + 1} has the colour "
        f"{tuple(int(round(v)) for v in squares[r, i, j])}, and the image's square there "
        f"{tuple(int(v) for v in colours[r, i, j])}"
    )


def _check_probe(probe: dict, seed) -> None:
    """The thumbnails' function, on the probe's images, returns each image shrunk as a whole: 128x128 uint8, every
    square where it is, in its colour."""
    import numpy as np

    name = probe["stage"]
    what = f"{PROBE_ROWS} test images of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB uint8 pixels, squares of colour"
    if probe.get("error"):
        raise Wrong(f"`{name}` failed on {what}: {probe['error']}", "Try it on `images.take_batch(3)`.")
    if "thumb" not in probe["columns"]:
        raise Wrong(f"`{name}` returns no `thumb` column on {what}.", "Add the small image as a new column `thumb`.")
    shape, dtype = tuple(int(n) for n in probe["shape"]), str(probe["dtype"])
    if shape != (PROBE_ROWS, *THUMB_SHAPE) or dtype != "uint8":
        raise Wrong(
            f"on {what}, `{name}` returns thumbnails of the shape {shape[1:]} and type {dtype}, not "
            f"{THUMB_SHAPE} uint8.",
            SHRINK_HINT,
        )
    squares = np.array(probe["squares"], dtype=float).reshape(PROBE_ROWS, GRID, GRID, 3)
    colours = _probe_colours(seed).astype(float)
    if np.any(np.abs(squares - colours) > MAX_SQUARE_SHIFT):
        raise Wrong(
            f"`{name}` does not shrink the whole image: on {what}, {_shrink_slip(squares, colours)}.",
            SHRINK_HINT,
        )


def _judge_stretch(seen, seed=None) -> str:
    _check_thumb_stage(_plan(seen["plan"]))
    originals = _check_thumb_rows(seen)
    rows = seen["rows"]
    for row in rows:
        _check_thumb(row, originals)
    _check_probe(seen["probe"], seed)
    return f"{len(rows)} thumbnails of {THUMB_SHAPE[0]}x{THUMB_SHAPE[1]} pixels, each a smaller copy of its image."


@exercise("Stretch · thumbnails in a CPU stage", judge=_judge_stretch)
def stretch(thumbs, images, *, seed=None):
    """``thumbs``: ``images`` with a ``thumb`` column, each image shrunk to 128x128 RGB uint8; the thumbnails'
    function is also called on a probe batch of test images built from ``seed``."""
    require("thumbs", thumbs, "the Dataset of `images` with a `thumb` column")
    require("images", images, "the Dataset of exercise 1")
    found = _thumb_stages(require_dataset("thumbs", thumbs, THUMB_HINT))
    plan = [_Stage.observe(s) for s in found]
    _check_thumb_stage(_plan(plan))  # a step the lab does not ask for is not run (a GPU one could wait forever)
    rows = thumbs.take_all()
    originals = require_dataset("images", images, "Pass the `images` of Exercise 1.").take_all()
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
        "originals": [{"prompt": str(r["prompt"]), "mean": _value_facts(r["image"]).get("mean")} for r in originals],
        "probe": _observe_probe(found[-1], originals, seed),
    }
