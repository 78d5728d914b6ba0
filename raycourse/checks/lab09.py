"""Lab 09 checks (Audio and video): every frame's average colour, and the moment each video's colour changes.

What each exercise's text states, and where it is checked:

- Exercise 1 (`colours`): a Ray Dataset; `read_videos` at 4 frames a second, resized to 64 x 64, with paths and
  timestamps (the reader's options), its read tasks on CPUs; a `map_batches` stage (not a row `map`) running a
  function (not a class) that asks for no GPU and averages the batch's frames as one NumPy array (a probe: the
  function called on frames held in an array that counts the rows a loop takes out); the columns `path`, `second`,
  `colour`, no pixels; every frame's average colour and start.
- Exercise 2 (`changes`): a Ray Dataset made with `groupby("path")` (a keyed repartition, then `map_groups`), left
  lazy; one row per video, named by its file; `change_at` the first frame of the new colours where the largest move
  is at least 30, missing where it is below. The course's clips cannot tell time order (Ray hands their frames in
  order), the distance from its square, the largest move from the first or 30 from 31: a probe does
  (:func:`_probe_frames`, :data:`SLIPS`), calling the learner's group function on made-up videos, shuffled.
- Stretch (`changes_once`, `decoded_twice`): the same rows from a materialized `colours` (no reader left in the
  plan), and `decoded_twice` False.

Every check is in two halves (``raycourse.checks.Exercise``): the observer runs the learner's Dataset in the
kernel and returns plain data, the judge decides from it alone (in the grader's process when a notebook is graded).
Exercise 1 observes the reader's options, the plan's stages and every row (path, second, colour); ``_judge_1``
compares the colours with the clips decoded in its own process, without Ray (:func:`_reference_colours`). Exercise
2 and the stretch observe the rows of the learner's Dataset (:func:`_change_rows`), exercise 2 also the probe's
answers (:func:`_run_probe`); ``_judge_2`` holds those to the seed's probe, and both judges compare the rows with the
clips' truth.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from ._core import Wrong, exercise, progress_of, require
from .stats import GROUPING, kinds, require_lazy
from .toolkit import Stage, error_line, plan_ops, read_options, require_dataset, stages

progress = progress_of(__name__)  # the lab's last cell: check.progress()

FPS, SIZE, THRESHOLD = 4, (64, 64), 30
COLUMNS = ["path", "second", "colour"]


def _truth() -> dict[str, float | None]:
    """video -> the second its colours change (None where only the stripes' direction changes)."""
    import raycourse

    rows = [json.loads(line) for line in Path(raycourse.data_path("video_changes")).read_text().splitlines() if line]
    return {r["video"]: (r["change_at"] if r["changed"] == "colours" else None) for r in rows}


def _rows(ds, name: str):
    try:
        return ds.to_pandas()
    except Exception as exc:  # the learner's own error, in one line
        raise Wrong(f"running `{name}` failed: {error_line(exc)}", "Fix the error above in your function.") from None


# --- Exercise 1 -------------------------------------------------------------------------------------------------

READER_OPTIONS = ("fps", "resize", "include_timestamps")


def _reader_of(ds) -> dict | None:
    """The options of `ds`'s reader that the text names, and the GPUs its read tasks ask for, as plain data; None when
    no reader of videos starts it."""
    options = read_options(ds)
    if not options or "fps" not in options:
        return None
    read = next((op for op in plan_ops(ds) if getattr(op, "datasource", None) is not None), None)
    return {**{k: options.get(k) for k in READER_OPTIONS}, "num_gpus": Stage(read).num_gpus if read else 0.0}


def _stages_of(ds) -> list[dict]:
    """`ds`'s user-function stages as plain data: kind (MapBatches, MapRows...), name, whether a class, num_gpus."""
    return [{"kind": s.kind, "name": s.name, "is_class": s.is_class, "num_gpus": s.num_gpus} for s in stages(ds)]


def _check_reader(reader: dict | None) -> None:
    if reader is None:
        raise Wrong("`colours` does not start from `ray.data.read_videos`.", "Read the clips with read_videos.")
    if reader["fps"] != FPS:
        raise Wrong(f"the reader keeps fps={reader['fps']}.", "Read 4 frames a second: read_videos(..., fps=4).")
    resize = reader["resize"]
    if not isinstance(resize, (list, tuple)) or tuple(resize) != SIZE:
        shown = tuple(resize) if isinstance(resize, (list, tuple)) else resize
        raise Wrong(f"the reader resizes to {shown}.", "Resize at decode: resize=(64, 64).")
    if reader["include_timestamps"] is not True:
        raise Wrong("the frames come without timestamps.", "Pass include_timestamps=True to read_videos.")
    if reader.get("num_gpus"):
        raise Wrong(
            f"the read tasks ask for num_gpus={reader['num_gpus']:g}.",
            "Decoding runs on CPUs: read_videos asks for no GPU unless told to; tell it nothing of GPUs.",
        )


def _check_colour_stage(found: list[dict]) -> None:
    mapped = [s for s in found if s["kind"] in ("MapBatches", "MapRows")]
    if not mapped:
        raise Wrong("`colours` has no stage that computes the colours.", "Add a map_batches stage with a function.")
    stage = mapped[-1]
    if stage["kind"] != "MapBatches":
        raise Wrong(
            "the colours are computed a row at a time (`map`).",
            "Use map_batches: the batch's frames are one NumPy array, averaged in one call.",
        )
    if stage["is_class"] is not False:
        raise Wrong(
            f"the colour stage is a class ({stage['name']}), run in an actor pool.",
            "It loads nothing: write a function.",
        )
    if stage["num_gpus"] != 0:
        gpus = float(stage["num_gpus"])
        raise Wrong(f"the colour stage asks for num_gpus={gpus:g}.", "An average needs no GPU: ask for none.")


class _Watched(np.ndarray):
    """The probe's frames: a NumPy array that counts how often code takes one frame out of it (a loop over rows)."""

    taken = 0

    def __iter__(self):
        _Watched.taken += 1
        return super().__iter__()

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            _Watched.taken += 1
        return super().__getitem__(key)


def _whole_array_probe(ds) -> dict:
    """The colour function called on a batch of frames held in one NumPy array that counts rows taken out of it: the
    text asks for the batch's frames as one array, averaged in one call, not a loop over them."""
    mapped = [s for s in stages(ds) if s.kind == "MapBatches" and not s.is_class]
    if not mapped:
        return {}
    stage = mapped[-1]
    if stage.batch_format == "pandas":
        return {"batch_format": "pandas"}
    rng = np.random.default_rng(0)
    n = 6
    frames = rng.integers(0, 256, size=(n, *SIZE, 3), dtype=np.uint8).view(_Watched)
    batch = {
        "frame": frames,
        "frame_index": np.arange(n),
        "frame_timestamp": np.stack([np.arange(n) / FPS, np.arange(n) / FPS + 1 / (2 * FPS)], axis=1),
        "path": np.array(["/probe/01.mp4"] * n, dtype=object),
    }
    _Watched.taken = 0
    try:
        stage.fn(batch, *(getattr(stage.op, "fn_args", None) or ()), **(getattr(stage.op, "fn_kwargs", None) or {}))
    except Exception as exc:
        return {"error": error_line(exc)}
    return {"frames_taken": _Watched.taken, "frames": n}


def _check_whole_array(probe: dict, name: str) -> None:
    if probe.get("batch_format") == "pandas":
        raise Wrong(
            "the colour function asks for pandas batches: the frames then come as a column of separate arrays.",
            "Leave the batch format as it is: the batch's frames are one NumPy array (n, 64, 64, 3), averaged at once.",
        )
    if probe.get("error"):
        raise Wrong(
            f"the colour function failed on a batch of the check's: {probe['error']}.", "It gets NumPy columns."
        )
    if probe.get("frames_taken"):
        raise Wrong(
            f"the colour function takes the batch's frames one at a time (a loop over them, {name}).",
            "Average the whole array in one call: batch['frame'].mean(axis=(1, 2)).",
        )


def _decoded(path: Path):
    """(start second, RGB frame) of every frame of the clip that `read_videos(fps=4, resize=(64, 64))` keeps.

    Decoded here, in the grader's process, without Ray: by PyAV through FFmpeg's bilinear scale to 64 x 64 and RGB,
    what decord (read_videos' decoder) runs (the same pixels, measured on the course's clips), and its frame choice:
    every round(average fps / 4)-th frame, in presentation order. PyAV rather than decord: decord2 (the `decord`
    module on macOS arm64 and Linux aarch64) loads the nvidia-* libraries when imported (see raycourse.data).
    Without PyAV, decord itself.
    """
    try:
        import av
        import av.filter
    except ImportError:
        from decord import VideoReader

        reader = VideoReader(str(path), height=SIZE[0], width=SIZE[1])
        stride = max(1, round(reader.get_avg_fps() / FPS))
        for index in range(0, len(reader), stride):
            yield float(reader.get_frame_timestamp(index)[0]), reader[index].asnumpy()
        return
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stride = max(1, round(float(stream.average_rate) / FPS)) if stream.average_rate else 1
        graph = av.filter.Graph()
        steps = [
            graph.add_buffer(template=stream),
            graph.add("scale", f"{SIZE[1]}:{SIZE[0]}:flags=bilinear"),
            graph.add("format", "rgb24"),
            graph.add("buffersink"),
        ]
        for a, b in zip(steps, steps[1:]):
            a.link_to(b)
        graph.configure()
        for index, frame in enumerate(container.decode(video=0)):
            if index % stride == 0:
                graph.push(frame)
                yield float(frame.pts * stream.time_base), graph.pull().to_ndarray()


@functools.cache  # the shipped clips: decoded once per process
def _reference_colours() -> dict[tuple[str, float], np.ndarray]:
    """(clip's file name, the frame's start second rounded to ms) -> the frame's mean red, green and blue."""
    import raycourse

    root = Path(raycourse.data_path("videos", check=False))
    return {
        (path.name, round(second, 3)): np.asarray(frame, dtype=np.float64).mean(axis=(0, 1))
        for path in sorted(root.glob("*.mp4"))
        for second, frame in _decoded(path)
    }


def _colour_rows(table) -> list[dict]:
    """Each row's path (text), second (the first number) and colour (its numbers; None where they are not)."""
    rows = []
    for path, second, colour in zip(table["path"], table["second"], table["colour"]):
        try:
            values = np.ravel(np.asarray(colour, dtype=np.float64)).tolist()
        except (TypeError, ValueError):
            values = None
        rows.append({"path": str(path), "second": float(np.ravel(second)[0]), "colour": values})
    return rows


def _check_colour_rows(columns: list, rows: list[dict]) -> None:
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise Wrong(f"`colours` has no column {missing[0]!r} (it has {list(columns)}).", "Return path, second, colour.")
    extra = [c for c in columns if c not in COLUMNS]
    if extra:
        raise Wrong(f"`colours` hands on {extra} too.", "Return only path, second and colour: no pixels.")
    reference = _reference_colours()
    if len(rows) != len(reference):
        raise Wrong(
            f"`colours` has {len(rows)} rows; the clips have {len(reference)} frames at 4 a second.",
            "One row per frame.",
        )
    seen = set()
    for row in rows:
        key = (Path(str(row["path"])).name, round(float(row["second"]), 3))
        if key not in reference:
            raise Wrong(f"no frame of {key[0]} starts at second {key[1]}.", "`second` is the frame_timestamp's start.")
        if key in seen:
            raise Wrong(f"`colours` has the frame of {key[0]} at {key[1]} s twice.", "One row per frame.")
        seen.add(key)
        values = np.asarray(row["colour"] if row["colour"] is not None else [], dtype=np.float64)
        if values.shape != (3,) or not np.allclose(values, reference[key], atol=0.5):
            raise Wrong(
                f"the colour of {key[0]} at {key[1]} s is {_shown(row['colour'])}, not its mean red, green "
                f"and blue {np.round(reference[key], 1).tolist()}.",
                "Average each frame over its height and width only: frames.mean(axis=(1, 2)).",
            )


def _shown(colour) -> str:
    if colour is None:
        return "not numbers"
    return str(np.round(np.asarray(colour, dtype=np.float64), 1).tolist())


def _judge_1(seen, seed=None) -> str:
    _check_reader(seen["reader"])
    _check_colour_stage(seen["stages"])
    _check_whole_array(seen.get("whole_array") or {"error": "the check got no answer from it"}, "colours")
    _check_colour_rows(seen["columns"], seen["rows"])
    return f"{len(seen['rows'])} frames, each with its average colour, computed by a batch function on CPUs."


@exercise("Exercise 1 · every frame's average colour", judge=_judge_1)
def exercise_1(colours) -> dict:
    require("colours", colours, "a Dataset: read_videos, then a map_batches function")
    require_dataset("colours", colours)
    reader, found = _reader_of(colours), _stages_of(colours)
    _check_reader(reader)  # before the run: a stage that asks for a GPU would wait for one
    _check_colour_stage(found)
    whole_array = _whole_array_probe(colours)
    table = _rows(colours, "colours")
    columns = [str(c) for c in table.columns]
    rows = _colour_rows(table) if all(c in columns for c in COLUMNS) else []
    return {"reader": reader, "stages": found, "whole_array": whole_array, "columns": columns, "rows": rows}


# --- Exercise 2 -------------------------------------------------------------------------------------------------


def _check_grouped(ds) -> None:
    """A step that brings each video's frames together: in the plan, or (a materialized `changes`) in Ray's stats."""
    if not any(kind in GROUPING for kind in kinds(ds)):
        raise Wrong(
            "`changes` is not made with groupby: no step brings each video's frames together.",
            'Use colours.groupby("path").map_groups(your_function).',
        )


def _missing(value) -> bool:
    """None, NaN or pandas' NA: a change_at left missing, however it is written."""
    import pandas as pd

    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # an array: not a missing value
        return False


def _check_changes(table, truth: dict, name: str) -> None:
    for column in ("video", "change_at"):
        if column not in table.columns:
            raise Wrong(
                f"`{name}` has no column {column!r} (it has {list(table.columns)}).", "Return video and change_at."
            )
    videos = [Path(str(v)).name for v in table["video"]]
    if sorted(videos) != sorted(truth):
        raise Wrong(f"`{name}` has the rows {sorted(videos)}, not one per video.", "Return one row per group: [name].")
    if any(str(v) != Path(str(v)).name for v in table["video"]):
        raise Wrong(f"`{name}` names the videos by their whole path.", "`video` is the file's name: 01.mp4.")
    for video, found in zip(videos, table["change_at"]):
        found = None if _missing(found) else float(np.ravel(found)[0])
        expected = truth[video]
        if expected is None and found is not None:
            raise Wrong(
                f"{video} changes colour at {found} s, you say; its stripes only turn there.",
                f"Leave change_at missing where the largest move is below {THRESHOLD}.",
            )
        if expected is not None and found is None:
            raise Wrong(f"{video}'s colours change, but change_at is missing.", "Sort by second, then find the jump.")
        if expected is not None and abs(found - expected) > 1e-6:
            hint = (
                "That is the frame before the jump: take the second of the frame after it."
                if abs(found - (expected - 1 / FPS)) < 1e-6
                else "Put the frames in time order (np.argsort on second) before taking differences."
            )
            raise Wrong(f"{video}'s colours change at {found} s, you say; not so.", hint)


def _change_rows(ds, name: str) -> dict:
    """The rows of a `changes` answer as plain data: its columns, and each row's video and change_at (None where
    missing; the first number of an array)."""
    table = _rows(ds, name)
    found = {
        column: [
            None if _missing(v) else (float(np.ravel(v)[0]) if column == "change_at" else str(v)) for v in table[column]
        ]
        for column in ("video", "change_at")
        if column in table.columns
    }
    return {"columns": [str(c) for c in table.columns], **found}


def _table_of(seen: dict):
    import pandas as pd

    return pd.DataFrame({c: seen[c] for c in ("video", "change_at") if c in seen}, columns=seen["columns"])


def _judge_2(seen, seed=None) -> str:
    truth = _truth()
    _check_probe(seen.get("probe") or {"error": "the check got no answer from it"}, seed)
    _check_changes(_table_of(seen), truth, "changes")
    moments = ", ".join(f"{v} at {s} s" for v, s in sorted(truth.items()) if s is not None)
    return f"one row per video; the colours change in {moments}, and nowhere else."


# The probe: made-up videos, each built so that one near miss of the rule gives another answer than the rule. Moves go
# along one channel by whole numbers, so that a distance of exactly 30 is 30.0 in any float type; small moves (1-4)
# before and after, as many as the seed says, put the answer at another second for every seed.
PROBE_MOVES: dict[str, tuple[int, ...]] = {
    "exactly 30": (5, 30, 4),  # at least 30: a change at the frame after the 30 (`> 30` says none)
    "just below": (5, 29, 4),  # below 30: none
    "largest later": (31, 3, 45, 2),  # two moves over 30: the largest (45) counts, not the first
    "squared": (6, 5, 4),  # distances 6, 5, 4, none a change (their squares 36, 25, 16 would say one)
    "still": (2, 1, 3),  # hardly a move: none, by any measure (a rule with no threshold says one)
}


def _probe_frames(seed) -> dict[str, tuple[list[float], list[list[float]]]]:
    """Each probe video's frames in a shuffled order (seconds, colours), from the seed: starting colours, small moves
    around the case's own, the channel and sign of each move, and an order in which taking differences unsorted gives
    another answer."""
    rng = np.random.default_rng(seed)
    frames = {}
    for index, (case, moves) in enumerate(PROBE_MOVES.items()):
        small = lambda: [int(m) for m in rng.integers(1, 5, size=rng.integers(0, 3))]  # noqa: E731
        colour = rng.integers(90, 166, size=3).astype(float)
        colours = [colour.copy()]
        for move in [*small(), *moves, *small()]:
            colour[rng.integers(3)] += move * rng.choice([-1, 1])
            colours.append(colour.copy())
        seconds = [i / FPS for i in range(len(colours))]
        for _ in range(100):  # an order in which the slips that read the order give answers of their own
            order = rng.permutation(len(colours))
            if _telling([seconds[i] for i in order], [colours[i] for i in order]):
                break
        frames[f"probe{index}-{case.replace(' ', '_')}.mp4"] = (
            [seconds[i] for i in order],
            [colours[i].tolist() for i in order],
        )
    return frames


def _telling(seconds, colours) -> bool:
    """Whether frames in this order tell the two slips that read it (the order they came, pandas labels) from the
    rule and, where the video has a change, from each other and every other slip."""
    rule, came = _rule(seconds, colours, sort=True), _rule(seconds, colours)
    if rule is None or came == rule:
        return came != rule
    fixed = {
        _rule(seconds, colours, sort=True, **opts) for name, (opts, _) in SLIPS.items() if name not in (CAME, LABEL)
    }
    return came not in fixed and _rule(seconds, colours, sort=True, labels=True) not in fixed | {rule, came}


def _rule(
    seconds,
    colours,
    *,
    at_least=True,
    squared=False,
    first=False,
    after=1,
    sort=False,
    threshold=THRESHOLD,
    labels=False,
):
    """change_at of one video by the text's rule, or by one of its near misses (the keywords). ``labels``: the
    frames sorted, but the second read by label from the frames as they came, as ``seconds[i]`` reads a pandas
    Series reordered by ``np.argsort``."""
    came = seconds
    if sort:
        order = np.argsort(seconds)
        seconds, colours = [seconds[i] for i in order], [colours[i] for i in order]
    moves = np.linalg.norm(np.diff(np.asarray(colours, dtype=float), axis=0), axis=1)
    moves = moves**2 if squared else moves
    big = moves >= threshold if at_least else moves > threshold
    if not big.any():
        return None
    at = int(np.argmax(big)) if first else int(np.argmax(moves))
    return float((came if labels else seconds)[at + after])


CAME, LABEL = "the frames in the order they came", "a row's position read as a pandas label"


#: The near misses a probe tells apart: what the learner's function answers as if it took, and what to say.
SLIPS: dict[str, tuple[dict, str]] = {
    CAME: (dict(), "Put each video's frames in time order (np.argsort on second) before taking differences."),
    LABEL: (
        dict(labels=True),
        'map_groups hands each group as a pandas DataFrame, where group["second"][i] reads the label i, not the '
        'i-th row: ask for batch_format="numpy", or index by position (.iloc, .to_numpy()).',
    ),
    "more than 30 for at least 30": (
        dict(at_least=False),
        "A move of exactly 30 is a change: at least 30 (>= 30).",
    ),
    "squared distances": (dict(squared=True), "Compare the distance itself with 30 (np.linalg.norm), not its square."),
    "the first move over 30": (dict(first=True), "Take the largest move, not the first one over 30."),
    "the frame before the move": (
        dict(after=0),
        "That is the frame before the jump: take the second of the frame after it.",
    ),
    "no threshold": (dict(threshold=-1), f"Leave change_at missing where the largest move is below {THRESHOLD}."),
}


def _probe_expected(seed) -> dict[str, float | None]:
    return {video: _rule(s, c, sort=True) for video, (s, c) in _probe_frames(seed).items()}


def _group_stage(ds):
    """The stage that runs the learner's group function: the first one after the grouping step."""
    ops = plan_ops(ds)
    grouped = [i for i, op in enumerate(ops) if type(op).__name__ in GROUPING]
    return next((op for op in ops[grouped[-1] + 1 :] if getattr(op, "fn", None) is not None), None) if grouped else None


def _run_probe(ds, seed) -> dict:
    """The learner's group function, called as Ray calls it, on the probe videos: {video: change_at}, or the error."""
    import inspect

    import pandas as pd
    from ray.data.block import BlockAccessor

    op = _group_stage(ds)
    if op is None:
        return {"error": "no group function found after the grouping step"}
    frames = _probe_frames(seed)
    paths = [f"/probe/{video}" for video, (seconds, _) in frames.items() for _ in seconds]
    block = BlockAccessor.batch_to_block(
        {
            "path": np.array(paths),
            "second": np.array([s for seconds, _ in frames.values() for s in seconds]),
            "colour": np.array([c for _, colours in frames.values() for c in colours]),
        }
    )
    fn = op.fn
    try:
        if inspect.isclass(fn):
            fn = fn(
                *(getattr(op, "fn_constructor_args", None) or ()), **(getattr(op, "fn_constructor_kwargs", None) or {})
            )
        outputs = list(fn(block, *(getattr(op, "fn_args", None) or ()), **(getattr(op, "fn_kwargs", None) or {})))
        table = pd.concat([BlockAccessor.for_block(BlockAccessor.batch_to_block(o)).to_pandas() for o in outputs])
    except Exception as exc:
        return {"error": error_line(exc)}
    if not {"video", "change_at"} <= set(table.columns):
        return {"error": f"it returned the columns {list(table.columns)}"}
    return {
        Path(str(v)).name: None if _missing(c) else float(np.ravel(c)[0])
        for v, c in zip(table["video"], table["change_at"])
    }


def _check_probe(found: dict, seed) -> None:
    """The learner's group function on the probe videos gives the rule's answers; else the near miss it matches."""
    if "error" in found:
        raise Wrong(
            f"Your group function failed on the check's own frames: {found['error']}.",
            "It gets one video's frames (path, second, colour) at a time, in any order; return video and change_at.",
        )
    expected = _probe_expected(seed)
    if found == expected:
        return
    frames = _probe_frames(seed)
    for slip, (options, hint) in SLIPS.items():
        sort = slip != CAME
        if found == {video: _rule(s, c, sort=sort, **options) for video, (s, c) in frames.items()}:
            raise Wrong(f"On frames of the check's own, your group function answers as if it took {slip}.", hint)
    video = next(v for v in expected if found.get(v, "missing") != expected[v])
    moves = ", ".join(map(str, PROBE_MOVES[video.split("-", 1)[1].removesuffix(".mp4").replace("_", " ")]))
    raise Wrong(
        f"On the check's video {video} (moves of {moves} among small ones), your group function says "
        f"{found.get(video, 'nothing')}; the rule gives {expected[video]}.",
        "Sort by second, take the frame after the largest move (at least 30). map_groups hands each group as a pandas "
        'DataFrame unless you ask for batch_format="numpy": there, index by position (.iloc, .to_numpy()).',
    )


@exercise("Exercise 2 · the moment each video's colour changes", judge=_judge_2)
def exercise_2(changes, *, seed=None) -> dict:
    require("changes", changes, 'a Dataset: colours.groupby("path").map_groups(...)')
    require_dataset("changes", changes)
    _check_grouped(changes)
    require_lazy("changes", changes, "your group function, which it calls on frames of its own,", "the check runs it.")
    return {**_change_rows(changes, "changes"), "probe": _run_probe(changes, seed)}


# --- Stretch ----------------------------------------------------------------------------------------------------


def _judge_stretch(seen, seed=None) -> str:
    _check_changes(_table_of(seen), _truth(), "changes_once")
    if seen["decoded_twice"] is not False:
        raise Wrong(
            f"`decoded_twice` is {seen['decoded_twice']!r}.",
            "A materialized Dataset keeps its blocks: running the grouping again reads them, it decodes nothing.",
        )
    return "the frames were decoded once; grouping them again reads the kept blocks."


@exercise("Stretch · the same moments, decoded once", judge=_judge_stretch)
def stretch(changes_once, decoded_twice) -> dict:
    require("changes_once", changes_once, "a Dataset grouped from a materialized colours")
    require("decoded_twice", decoded_twice, "True or False")
    require_dataset("changes_once", changes_once)
    if read_options(changes_once):
        raise Wrong(
            "`changes_once` still starts from read_videos: every run decodes the clips again.",
            "Group a materialized colours: colours.materialize().groupby(...).",
        )
    _check_grouped(changes_once)
    # decoded_twice: True and False pass as they are, anything else as its text (never False)
    return {
        **_change_rows(changes_once, "changes_once"),
        "decoded_twice": decoded_twice if isinstance(decoded_twice, bool) else repr(decoded_twice),
    }
