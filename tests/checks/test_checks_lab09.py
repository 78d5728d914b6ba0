"""Lab 09 checks: right answers written differently pass, each stated requirement has a wrong answer that breaks
only it, and the message names it in a line or two.

What each test breaks, per exercise (the requirements are listed in raycourse/checks/lab09.py):

| exercise | requirement | wrong answer (test) |
| --- | --- | --- |
| 1 | a Ray Dataset | a pandas table (`test_ex1_a_pandas_table`) |
| 1 | read_videos at fps=4 | fps=2 (`test_ex1_wrong_reader_options[fps]`) |
| 1 | resized to 64 x 64 | resize=(112, 112) (`test_ex1_wrong_reader_options[resize]`) |
| 1 | with timestamps | no include_timestamps (`test_ex1_wrong_reader_options[timestamps]`) |
| 1 | a batch function, not a row map | `map` (`test_ex1_a_row_map`) |
| 1 | a function, not a class | a class in a pool (`test_ex1_a_class`) |
| 1 | no GPU | num_gpus=1 (`test_ex1_a_gpu`) |
| 1 | no pixels handed on | the frame kept (`test_ex1_pixels_kept`) |
| 1 | the average colour of each frame | the average over the batch (`test_ex1_averaged_over_the_batch`) |
| 2 | made with groupby | a Dataset from the driver's pandas (`test_ex2_not_grouped`) |
| 2 | one row per video, named by its file | whole paths (`test_ex2_whole_paths`) |
| 2 | the frame after the jump | the frame before (`test_ex2_the_frame_before`) |
| 2 | time order, distance, largest, at least 30 | a probe of the check's own frames (`test_ex2_a_probe_finds_...`) |
| 2 | missing below 30 | no threshold (`test_ex2_no_threshold`) |
| stretch | decoded once | not materialized (`test_stretch_not_materialized`) |
| stretch | decoded_twice False | True (`test_stretch_wrong_answer`) |
"""

import itertools
import sys

import numpy as np
import pandas as pd
import pytest
import ray
import ray.cloudpickle

import raycourse
from raycourse.checks import lab09

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint and len(verdict.message.splitlines()) <= 3


def average_colour(batch):
    return {"path": batch["path"], "second": batch["frame_timestamp"][:, 0], "colour": batch["frame"].mean(axis=(1, 2))}


def average_colour_other(batch):
    """Written differently: the frames flattened to pixels, a float32 mean, the start taken with take()."""
    pixels = batch["frame"].reshape(len(batch["frame"]), -1, 3).astype(np.float32)
    return {
        "path": batch["path"],
        "second": np.take(batch["frame_timestamp"], 0, axis=1),
        "colour": pixels.mean(axis=1),
    }


def average_colour_pandas(batch: pd.DataFrame) -> pd.DataFrame:
    """Pandas batches: the frames a column of separate arrays, a loop over them (the text asks for one array)."""
    return pd.DataFrame(
        {
            "path": batch["path"],
            "second": [t[0] for t in batch["frame_timestamp"]],
            "colour": [np.asarray(f, dtype=float).reshape(-1, 3).mean(axis=0) for f in batch["frame"]],
        }
    )


def _frames(**changes):
    options = {"fps": 4, "resize": (64, 64), "include_paths": True, "include_timestamps": True, **changes}
    return ray.data.read_videos(raycourse.data_path("videos"), **options)


def colour_change(group):
    order = np.argsort(group["second"])
    seconds, rgb = group["second"][order], np.stack(group["colour"])[order]
    moves = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
    change_at = seconds[moves.argmax() + 1] if moves.max() >= 30 else np.nan
    return {"video": [group["path"][0].rsplit("/", 1)[-1]], "change_at": [change_at]}


def colour_change_pandas(group: pd.DataFrame) -> pd.DataFrame:
    """Written differently: pandas, None for no change, the threshold as 'at least'."""
    group = group.sort_values("second")
    rgb = np.stack(group["colour"].to_numpy())
    moves = np.sqrt((np.diff(rgb, axis=0) ** 2).sum(axis=1))
    at = None if moves.max() < 30 else float(group["second"].iloc[int(moves.argmax()) + 1])
    return pd.DataFrame({"video": [group["path"].iloc[0].split("/")[-1]], "change_at": [at]})


@pytest.fixture(scope="module")
def colours(ray_session):
    return _frames().map_batches(average_colour, batch_size=64).materialize()


# ----------------------------------------------------------------------------- Exercise 1
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 `colours` a Ray Dataset: test_ex1_a_pandas_table
#   R2 one row per frame: test_ex1_a_forged_observation_does_not_pass (one frame twice, no rows)
#   R3 `path` the video's file, `second` when the frame starts: test_ex1_wrong_seconds_or_paths
#   R4 `colour` the frame's average red, green and blue, three numbers: test_ex1_averaged_over_the_batch,
#      test_ex1_a_forged_observation_does_not_pass (every colour grey, colours off by one, text for numbers)
#   R5 the clips read with read_videos: test_ex1_a_forged_observation_does_not_pass (no reader)
#   R6 4 frames a second: test_ex1_wrong_reader_options[fps]
#   R7 each frame resized to 64 x 64 at decode time: test_ex1_wrong_reader_options[resize]
#   R8 with the paths: test_ex1_read_without_the_paths
#   R9 with the timestamps: test_ex1_wrong_reader_options[timestamps]
#   R10 `colour` computed in a map_batches stage on whole columns, not a row map: test_ex1_a_row_map,
#       test_ex1_a_forged_observation_does_not_pass (no stage)
#   R11 a function, not a class: test_ex1_a_class
#   R12 asks for no GPU: test_ex1_a_gpu, test_ex1_a_forged_observation_does_not_pass (a stage on a GPU)
#   R13 only the three columns handed on, no pixels: test_ex1_pixels_kept
#   R14 (probe) the batch's frames as one NumPy array, not a loop over them: test_ex1_a_loop_over_the_frames...
#   R15 the frames decoded by CPU read tasks: test_ex1_read_tasks_on_a_gpu
# Right answers written otherwise: test_ex1_accepts_the_solution_and_another_whole_array_function.


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    assert lab09.exercise_1.result(...).status == "not solved"


@pytest.mark.fast
def test_ex1_accepts_the_solution_and_another_whole_array_function(ray_session):
    assert lab09.exercise_1.result(_frames().map_batches(average_colour, batch_size=64)).passed
    assert lab09.exercise_1.result(_frames().map_batches(average_colour_other)).passed


def test_ex1_a_loop_over_the_frames_or_pandas_batches(ray_session):
    """The text: the batch's frames as one NumPy array. A loop over them, or pandas batches (a column of separate
    arrays), gives the same rows: only the probe's array, which counts the frames taken out of it, tells."""

    def looped(batch):
        colours = np.stack([frame.reshape(-1, 3).mean(axis=0) for frame in batch["frame"]])
        return {"path": batch["path"], "second": batch["frame_timestamp"][:, 0], "colour": colours}

    def indexed(batch):
        colours = [batch["frame"][i].mean(axis=(0, 1)) for i in range(len(batch["frame"]))]
        return {"path": batch["path"], "second": batch["frame_timestamp"][:, 0], "colour": np.stack(colours)}

    for fn in (looped, indexed):
        assert lab09._check_colour_rows(*_columns_and_rows(_frames().map_batches(fn, batch_size=64))) is None
        verdict = lab09.exercise_1.result(_frames().map_batches(fn, batch_size=64))
        _wrong(verdict, "one at a time")
        assert "whole array" in verdict.hint
    _wrong(lab09.exercise_1.result(_frames().map_batches(average_colour_pandas, batch_format="pandas")), "pandas")


def _columns_and_rows(ds):
    table = ds.to_pandas()
    return [str(c) for c in table.columns], lab09._colour_rows(table)


def test_ex1_read_tasks_on_a_gpu(ray_session):
    ds = _frames(ray_remote_args={"num_gpus": 1}).map_batches(average_colour, batch_size=64)
    _wrong(lab09.exercise_1.result(ds), "read tasks ask for num_gpus=1")


@pytest.mark.fast
def test_ex1_a_pandas_table(colours):
    _wrong(lab09.exercise_1.result(colours.to_pandas()), "not a Ray Dataset")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fps": 2}, "fps=2"),
        ({"resize": (112, 112)}, "resizes to (112, 112)"),
        ({"include_timestamps": False}, "without timestamps"),
    ],
    ids=["fps", "resize", "timestamps"],
)
def test_ex1_wrong_reader_options(ray_session, change, message):
    _wrong(lab09.exercise_1.result(_frames(**change).map_batches(average_colour)), message)


def test_ex1_a_row_map(ray_session):
    def row_colour(row):
        return {"path": row["path"], "second": row["frame_timestamp"][0], "colour": row["frame"].mean(axis=(0, 1))}

    _wrong(lab09.exercise_1.result(_frames().map(row_colour)), "a row at a time")


class AverageColour:
    def __call__(self, batch):
        return average_colour(batch)


def test_ex1_a_class(ray_session):
    ds = _frames().map_batches(AverageColour, compute=ray.data.ActorPoolStrategy(size=1))
    _wrong(lab09.exercise_1.result(ds), "is a class")


def test_ex1_a_gpu(ray_session):
    _wrong(lab09.exercise_1.result(_frames().map_batches(average_colour, batch_size=64, num_gpus=1)), "num_gpus=1")


def test_ex1_pixels_kept(ray_session):
    def with_pixels(batch):
        return {**average_colour(batch), "frame": batch["frame"]}

    _wrong(lab09.exercise_1.result(_frames().map_batches(with_pixels)), "hands on ['frame']")


def test_ex1_averaged_over_the_batch(ray_session):
    def batch_mean(batch):
        colour = np.broadcast_to(batch["frame"].mean(axis=(0, 1, 2)), (len(batch["path"]), 3))
        return {"path": batch["path"], "second": batch["frame_timestamp"][:, 0], "colour": colour.copy()}

    _wrong(lab09.exercise_1.result(_frames().map_batches(batch_mean, batch_size=64)), "not its mean red")


def test_ex1_the_learner_s_error_in_one_line(ray_session):
    def broken(batch):
        return {"path": batch["path"], "second": batch["timestamp"][:, 0], "colour": batch["frame"].mean(axis=(1, 2))}

    verdict = lab09.exercise_1.result(_frames().map_batches(broken))
    _wrong(verdict, "KeyError")


def test_ex1_the_solution_s_observation_passes_its_judge(ray_session):
    seen = lab09.exercise_1.observe(_frames().map_batches(average_colour, batch_size=64))
    assert lab09.exercise_1.decide(seen, 7).passed


def test_ex1_a_forged_observation_does_not_pass(ray_session):
    seen = lab09.exercise_1.observe(_frames().map_batches(average_colour, batch_size=64))
    first = seen["rows"][0]
    forgeries = {
        "nothing": {},
        "no rows": {**seen, "rows": []},
        "no reader": {**seen, "reader": None},
        "no stage": {**seen, "stages": []},
        "a stage on a GPU": {**seen, "stages": [{**s, "num_gpus": 1} for s in seen["stages"]]},
        "every colour grey": {**seen, "rows": [{**r, "colour": [128.0, 128.0, 128.0]} for r in seen["rows"]]},
        "colours off by one": {**seen, "rows": [{**r, "colour": [c + 1 for c in r["colour"]]} for r in seen["rows"]]},
        "one frame twice": {**seen, "rows": [first, *seen["rows"][2:], first]},
        "text for numbers": {**seen, "rows": [{**r, "colour": str(r["colour"])} for r in seen["rows"]]},
        "no probe": {k: v for k, v in seen.items() if k != "whole_array"},
        "a loop": {**seen, "whole_array": {"frames_taken": 6, "frames": 6}},
        "a reader on a GPU": {**seen, "reader": {**seen["reader"], "num_gpus": 1.0}},
    }
    for what, forged in forgeries.items():
        verdict = lab09.exercise_1.decide(forged, 7)
        assert verdict.status == "wrong", (what, verdict)


@pytest.mark.parametrize(
    "wrong",
    [
        lambda b: {**average_colour(b), "second": b["frame_timestamp"][:, 1]},  # when the frame ends
        lambda b: {**average_colour(b), "path": np.array([f"/elsewhere/{i}.mp4" for i in range(len(b["path"]))])},
    ],
    ids=["end of the frame", "another path"],
)
def test_ex1_wrong_seconds_or_paths(wrong):
    verdict = lab09.exercise_1.result(_frames().map_batches(wrong, batch_size=64))
    assert verdict.status == "wrong", verdict


def test_ex1_read_without_the_paths():
    def no_path(batch):
        return {"second": batch["frame_timestamp"][:, 0], "colour": batch["frame"].mean(axis=(1, 2))}

    verdict = lab09.exercise_1.result(_frames(include_paths=False).map_batches(no_path, batch_size=64))
    assert verdict.status == "wrong" and "path" in verdict.message + verdict.hint, verdict


# ----------------------------------------------------------------------------- Exercise 2
# Exercise 2 requires (the lab's text, sentence by sentence):
#   R1 `changes` a Ray Dataset: test_ex2_a_pandas_table
#   R2 one row per video: test_ex2_observation_passes_and_forgeries_do_not (no rows)
#   R3 `video` the file's name (01.mp4), not its path: test_ex2_whole_paths
#   R4 each video's frames brought together with groupby("path"), a group turned into one row by map_groups:
#      test_ex2_not_grouped, test_ex2_a_materialized_answer_is_judged_by_what_its_stats_say_made_it
#   R5 (probe) the frames in time order: test_ex2_a_probe_finds_what_the_courses_clips_cannot[unsorted]
#   R6 (probe) the move the distance between consecutive `colour` vectors:
#      test_ex2_a_probe_finds_what_the_courses_clips_cannot[squared]
#   R7 (probe) the largest move: test_ex2_a_probe_finds_what_the_courses_clips_cannot[first move],
#      test_ex2_numpy_indexing_of_a_pandas_group_is_refused_with_its_hint,
#      test_ex2_on_every_seed_each_near_miss_answers_otherwise_than_the_rule_and_every_other_near_miss
#   R8 (probe) at least 30 is a change, 30 itself included: [more than 30]
#   R9 `change_at` the second of the frame after it: test_ex2_the_frame_before,
#      test_ex2_observation_passes_and_forgeries_do_not (never a change)
#   R10 below 30, `change_at` missing (None or NaN): test_ex2_no_threshold,
#      test_ex2_observation_passes_and_forgeries_do_not (a change everywhere)
#   R11 `changes` left lazy (the check calls its group function): test_ex2_a_materialized_answer_is_judged_by...
# Right answers written otherwise: test_ex2_accepts_the_solution_and_a_pandas_group_function.


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved():
    assert lab09.exercise_2.result(...).status == "not solved"


@pytest.mark.fast
def test_ex2_accepts_the_solution_and_a_pandas_group_function(colours):
    assert lab09.exercise_2.result(colours.groupby("path").map_groups(colour_change, batch_format="numpy")).passed
    grouped = colours.groupby("path").map_groups(colour_change_pandas, batch_format="pandas")
    assert lab09.exercise_2.result(grouped).passed


def test_ex2_a_pandas_table(colours):
    table = colours.to_pandas()
    verdict = lab09.exercise_2.result(pd.concat([colour_change_pandas(g) for _, g in table.groupby("path")]))
    assert verdict.status == "wrong" and "Dataset" in verdict.message, verdict


@pytest.mark.fast
def test_ex2_not_grouped(colours):
    table = colours.to_pandas()
    rows = [colour_change_pandas(group) for _, group in table.groupby("path")]
    _wrong(lab09.exercise_2.result(ray.data.from_pandas(pd.concat(rows))), "not made with groupby")


def test_ex2_a_materialized_answer_is_judged_by_what_its_stats_say_made_it(colours):
    """Materialized `changes`: its plan keeps no step, Ray's stats name the grouping (checks/stats.py); the text asks
    to leave it lazy, since the check calls the group function on frames of its own."""
    _wrong(
        lab09.exercise_2.result(colours.groupby("path").map_groups(colour_change, batch_format="numpy").materialize()),
        "is materialized",
    )
    table = colours.to_pandas()
    rows = [colour_change_pandas(group) for _, group in table.groupby("path")]
    _wrong(lab09.exercise_2.result(ray.data.from_pandas(pd.concat(rows)).materialize()), "not made with groupby")


def _near_miss(*, sort=True, at_least=True, squared=False, first=False):
    """The rule with one slip, as a learner might write it."""

    def change(group):
        order = np.argsort(group["second"]) if sort else np.arange(len(group["second"]))
        seconds, rgb = group["second"][order], np.stack(group["colour"])[order]
        moves = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
        moves = moves**2 if squared else moves
        big = moves >= 30 if at_least else moves > 30
        at = int(np.argmax(big)) if first else int(moves.argmax())
        change_at = seconds[at + 1] if big.any() else np.nan
        return {"video": [group["path"][0].rsplit("/", 1)[-1]], "change_at": [change_at]}

    return change


@pytest.mark.parametrize(
    "slip, hint",
    [
        (dict(sort=False), "time order"),
        (dict(at_least=False), "at least 30 (>= 30)"),
        (dict(squared=True), "not its square"),
        (dict(first=True), "the largest move"),
    ],
    ids=["unsorted", "more than 30", "squared", "first move"],
)
def test_ex2_a_probe_finds_what_the_courses_clips_cannot(colours, slip, hint):
    """Ray hands each clip's frames in time order, and no clip's largest move is near 30 or second to another: only
    the check's own frames, shuffled, with moves of 29, 30 and two over 30, tell these from the rule."""
    wrong = colours.groupby("path").map_groups(_near_miss(**slip), batch_format="numpy")
    assert lab09._check_changes(wrong.to_pandas(), lab09._truth(), "changes") is None  # the clips cannot tell
    verdict = lab09.exercise_2.result(wrong)
    _wrong(verdict, "On frames of the check's own, your group function answers as if")
    assert hint in verdict.hint


def test_ex2_a_group_function_that_fails_on_the_probe_says_so(colours):
    def only_known_videos(group):
        name = group["path"][0].rsplit("/", 1)[-1]
        assert not name.startswith("probe"), "an unknown video"
        return colour_change(group)

    _wrong(
        lab09.exercise_2.result(colours.groupby("path").map_groups(only_known_videos, batch_format="numpy")),
        "failed on the check's own",
    )


def test_ex2_numpy_indexing_of_a_pandas_group_is_refused_with_its_hint(colours):
    """map_groups hands pandas DataFrames by default: `seconds[i]` then reads a label, not a position, which only the
    probe's shuffled frames show (Ray hands the clips' frames in time order)."""
    changes = colours.groupby("path").map_groups(colour_change)
    for seed in (0, 1, 394):
        verdict = lab09.exercise_2.result(changes, seed=seed)
        _wrong(verdict, "your group function answers as if it took a row's position read as a pandas label")
        assert 'batch_format="numpy"' in verdict.hint


def test_ex2_the_probe_is_the_seeds_and_its_near_misses_differ_from_the_rule():
    for seed in (0, 1, 7, 12345):
        frames, expected = lab09._probe_frames(seed), lab09._probe_expected(seed)
        assert frames == lab09._probe_frames(seed) and any(v is None for v in expected.values())
        assert expected != lab09._probe_expected(seed + 1) or expected != lab09._probe_expected(seed + 2)


def test_ex2_on_every_seed_each_near_miss_answers_otherwise_than_the_rule_and_every_other_near_miss():
    """The grader draws a seed at random: the near miss a check names must not depend on it (a pandas group read by
    label once matched "the first move over 30" on one seed in a hundred)."""
    for seed in range(300):
        frames = lab09._probe_frames(seed)
        answers = {"the rule": lab09._probe_expected(seed)}
        for slip, (options, _) in lab09.SLIPS.items():
            answers[slip] = {v: lab09._rule(s, c, sort=slip != lab09.CAME, **options) for v, (s, c) in frames.items()}
        same = [(a, b) for a, b in itertools.combinations(answers, 2) if answers[a] == answers[b]]
        assert not same, (seed, same)


def test_ex2_whole_paths(colours):
    def whole_path(group):
        row = colour_change(group)
        return {**row, "video": group["path"][:1]}

    _wrong(lab09.exercise_2.result(colours.groupby("path").map_groups(whole_path, batch_format="numpy")), "whole path")


def test_ex2_the_frame_before(colours):
    def frame_before(group):
        order = np.argsort(group["second"])
        seconds, rgb = group["second"][order], np.stack(group["colour"])[order]
        moves = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
        change_at = seconds[moves.argmax()] if moves.max() >= 30 else np.nan
        return {"video": [group["path"][0].rsplit("/", 1)[-1]], "change_at": [change_at]}

    verdict = lab09.exercise_2.result(colours.groupby("path").map_groups(frame_before, batch_format="numpy"))
    _wrong(verdict, "the frame before the move")
    assert "frame after" in verdict.hint


def test_ex2_no_threshold(colours):
    def always(group):
        order = np.argsort(group["second"])
        seconds, rgb = group["second"][order], np.stack(group["colour"])[order]
        moves = np.linalg.norm(np.diff(rgb, axis=0), axis=1)
        return {"video": [group["path"][0].rsplit("/", 1)[-1]], "change_at": [seconds[moves.argmax() + 1]]}

    verdict = lab09.exercise_2.result(colours.groupby("path").map_groups(always, batch_format="numpy"))
    _wrong(verdict, "no threshold")
    assert "missing where the largest move is below 30" in verdict.hint


def test_ex2_observation_passes_and_forgeries_do_not(colours):
    seen = lab09.exercise_2.observe(colours.groupby("path").map_groups(colour_change, batch_format="numpy"), seed=7)
    assert lab09.exercise_2.decide(seen, 7).passed
    forgeries = {
        "nothing": {},
        "no rows": {**seen, "video": [], "change_at": []},
        "never a change": {**seen, "change_at": [None] * len(seen["video"])},
        "a change everywhere": {**seen, "change_at": [1.0] * len(seen["video"])},
        "no probe": {k: v for k, v in seen.items() if k != "probe"},
        "another seed's probe": {
            **seen,
            "probe": next(e for s in range(8, 99) if (e := lab09._probe_expected(s)) != lab09._probe_expected(7)),
        },
    }
    for what, forged in forgeries.items():
        assert lab09.exercise_2.decide(forged, 7).status == "wrong", what


# ----------------------------------------------------------------------------- Stretch
# The stretch requires (the lab's text, sentence by sentence):
#   R1 `changes_once` the same rows as `changes`: test_stretch_observation_passes_and_forgeries_do_not (no rows)
#   R2 from a `colours` materialized first, so that grouping it decodes nothing: test_stretch_not_materialized
#   R3 `decoded_twice` True or False, the right one (False): test_stretch_wrong_answer,
#      test_stretch_observation_passes_and_forgeries_do_not ("False" as text)
# Right answers written otherwise: test_stretch_accepts_a_materialized_colours.


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab09.stretch.result(..., ...).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_a_materialized_colours(colours):
    assert lab09.stretch.result(colours.groupby("path").map_groups(colour_change, batch_format="numpy"), False).passed


@pytest.mark.fast
def test_stretch_not_materialized(ray_session):
    lazy = _frames().map_batches(average_colour, batch_size=64)
    _wrong(
        lab09.stretch.result(lazy.groupby("path").map_groups(colour_change, batch_format="numpy"), False),
        "still starts from read_videos",
    )


def test_stretch_wrong_answer(colours):
    _wrong(
        lab09.stretch.result(colours.groupby("path").map_groups(colour_change, batch_format="numpy"), True),
        "`decoded_twice` is True",
    )


def test_stretch_observation_passes_and_forgeries_do_not(colours):
    seen = lab09.stretch.observe(colours.groupby("path").map_groups(colour_change, batch_format="numpy"), False)
    assert lab09.stretch.decide(seen, 7).passed
    for forged in ({}, {**seen, "decoded_twice": "False"}, {**seen, "video": [], "change_at": []}):
        assert lab09.stretch.decide(forged, 7).status == "wrong", forged
