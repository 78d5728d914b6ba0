"""Labs are generated from solutions, and every notebook is stored clean."""

import nbformat
import pytest

from pathlib import Path

from raycourse.authoring import labs, notebooks
from raycourse.checks import NotSolved, Wrong, exercise

ROOT = Path(__file__).resolve().parents[2]

SOLUTIONS = sorted((notebooks.ROOT / "solutions").glob("*.ipynb"))
ALL_NOTEBOOKS = notebooks.course_notebooks()


def test_every_module_has_a_lesson_a_solution_and_a_lab():
    lessons = {p.stem for p in (notebooks.ROOT / "notebooks").glob("*.ipynb")}
    assert "00_environment_check" in lessons
    for solution in SOLUTIONS:
        assert solution.stem.removesuffix("_lab") in lessons, solution.name
        assert labs.lab_path(solution).exists(), f"missing lab for {solution.name}: run `make labs`"


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_lab_is_in_step_with_its_solution(solution):
    lab = labs.lab_path(solution)
    assert lab.read_text(encoding="utf-8") == labs.expected_lab_text(solution), (
        f"{lab.name} is out of step with solutions/{solution.name}: run `make labs`"
    )


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_stored_clean(path):
    assert notebooks.problems(path) == []


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_solution_has_checks_and_no_answers_leak_into_the_lab(solution):
    nb = notebooks.read(solution)
    checks = [c for c in nb.cells if "check" in notebooks.tags(c)]
    assert checks, "a lab needs check cells"
    lab_text = "\n".join(c.source for c in labs.make_lab(nb).cells)
    assert "BEGIN SOLUTION" not in lab_text and "# SOLUTION" not in lab_text
    assert "# TODO" in lab_text


def test_solution_regions_become_placeholders():
    source = "\n".join(
        [
            "import ray",
            "    # BEGIN SOLUTION: build `ds` and `n`",
            "    ds = ray.data.range(3)",
            "    n, m = ds.count(), 1",
            "    # END SOLUTION",
            "x = compute(1)  # SOLUTION",
            "print(x)",
        ]
    )
    assert labs.lab_source(source).splitlines() == [
        "import ray",
        "    # TODO: build `ds` and `n`",
        "    ds = ...",
        "    n = ...",
        "    m = ...",
        "x = ...  # TODO: your code",
        "print(x)",
    ]


def test_an_outline_region_keeps_classes_and_functions_with_their_signatures_and_docstrings():
    source = "\n".join(
        [
            "# BEGIN SOLUTION OUTLINE: write class Stage and helper(batch, k=5)",
            "class Stage:",
            '    """Loads once, runs per batch."""',
            "",
            "    def __init__(self, model_id,",
            "                 column):",
            "        self.model = load(model_id)",
            "",
            "    def __call__(self, batch):",
            "        return self.model(batch)",
            "",
            "",
            "def helper(batch: dict, k: int = 5) -> dict:",
            '    """Keep k rows."""',
            "    return batch",
            "",
            "",
            "stage_ds = ds.map_batches(Stage)",
            "# END SOLUTION",
        ]
    )
    assert labs.lab_source(source).splitlines() == [
        "# TODO: write class Stage and helper(batch, k=5)",
        "class Stage:",
        '    """Loads once, runs per batch."""',
        "",
        "    def __init__(self, model_id,",
        "                 column):",
        "        ...  # TODO: your code",
        "",
        "    def __call__(self, batch):",
        "        ...  # TODO: your code",
        "",
        "",
        "def helper(batch: dict, k: int = 5) -> dict:",
        '    """Keep k rows."""',
        "    ...  # TODO: your code",
        "",
        "",
        "stage_ds = ...",
    ]


def test_a_check_calls_an_outline_not_solved_until_every_body_is_written():
    from raycourse.checks._core import require

    namespace = {}
    exec(
        labs.lab_source(
            "# BEGIN SOLUTION OUTLINE\nclass Stage:\n    def __init__(self):\n        self.x = 1\n\n"
            "    def __call__(self, batch):\n        return batch\n\n\ndef f(x):\n    return x\n"
            "# END SOLUTION"
        ),
        namespace,
    )
    with pytest.raises(NotSolved, match=r"`Stage.__init__` still has only `...`.*`__init__` and `__call__`"):
        require("Stage", namespace["Stage"], "your class")
    with pytest.raises(NotSolved, match=r"`f` still has only `...`"):
        require("f", namespace["f"], "your function")

    class Half:
        def __init__(self):
            self.x = 1

        def __call__(self, batch): ...

    with pytest.raises(NotSolved, match=r"`Half.__call__`"):
        require("Half", Half, "your class")

    class Done:
        """Written."""

        def __call__(self, batch):
            return batch

    require("Done", Done, "your class")  # passes: nothing left to write


def test_region_without_assignments_becomes_an_ellipsis():
    source = "# BEGIN SOLUTION\ndef f():\n    pass\nds.write_parquet('x')\n# END SOLUTION"
    assert labs.lab_source(source) == "# TODO: your code\n..."


@pytest.mark.parametrize(
    "bad, message",
    [
        ("# BEGIN SOLUTION\nx = 1", "without END"),
        ("x = 1\n# END SOLUTION", "without BEGIN"),
        ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside another"),
        ("print(1)  # SOLUTION", "only works on an assignment"),
    ],
)
def test_marker_mistakes_are_reported(bad, message):
    with pytest.raises(labs.MarkerError, match=message):
        labs.lab_source(bad)


def test_make_lab_drops_solution_only_cells_and_outputs():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("this is the solution", metadata={"tags": ["solution-only"]}),
            nbformat.v4.new_code_cell(
                "y = 2  # SOLUTION",
                metadata={"tags": ["nbval-check-output"]},
                outputs=[nbformat.v4.new_output("stream", text="2\n")],
                execution_count=3,
            ),
        ]
    )
    lab = labs.make_lab(nb)
    assert [c.source for c in lab.cells] == ["y = ...  # TODO: your code"]
    assert lab.cells[0].outputs == [] and lab.cells[0].execution_count is None
    assert "nbval-check-output" not in notebooks.tags(lab.cells[0])


def test_generate_never_overwrites_a_lab_with_uncommitted_changes(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()
    solution = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1  # SOLUTION")])
    notebooks.write(solution, tmp_path / "solutions" / "09_x_lab.ipynb")
    assert labs.generate(tmp_path) == [tmp_path / "labs" / "09_x_lab.ipynb"]
    assert labs.generate(tmp_path) == []  # up to date
    lab = tmp_path / "labs" / "09_x_lab.ipynb"
    lab.write_text(lab.read_text().replace("x = ...", "x = 42"))  # a learner's answer
    monkeypatch.setattr(labs, "locally_modified", lambda path: True)
    from raycourse.errors import CourseError

    with pytest.raises(CourseError, match="uncommitted changes"):
        labs.generate(tmp_path)
    assert "x = 42" in lab.read_text()
    assert labs.generate(tmp_path, force=True) == [lab]


def test_clean_strips_outputs_but_keeps_compared_ones():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "1",
                outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "1"}, execution_count=1)],
                execution_count=1,
            ),
            nbformat.v4.new_code_cell(
                "2",
                metadata={"tags": ["nbval-check-output"], "collapsed": True},
                outputs=[nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=2)],
                execution_count=2,
            ),
        ]
    )
    nb.metadata = {"widgets": {"state": {}}, "kernelspec": {"name": "python3"}}  # as JupyterLab saves it
    clean = notebooks.clean(nb)
    assert clean.cells[0].outputs == [] and clean.cells[0].execution_count is None
    assert clean.cells[1].outputs[0]["data"]["text/plain"] == "2"
    assert clean.cells[1].outputs[0]["execution_count"] is None
    assert clean.cells[1].execution_count is None  # the test run gives compared cells a count (conftest.py)
    assert clean.cells[1].metadata == {"tags": ["nbval-check-output"]}
    assert set(clean.metadata) == {"kernelspec"}


def test_check_verdicts():
    @exercise("Exercise 9")
    def check(value):
        if value is Ellipsis:
            raise NotSolved("`x` is still `...`.")
        if value < 0:
            raise Wrong("x is negative.", "Think about signs.")
        if value == 0:
            raise ZeroDivisionError("boom")
        return "x is fine."

    assert str(check.result(...)) == "⏳ Exercise 9 not solved yet: `x` is still `...`."
    assert str(check.result(-1)) == "❌ Exercise 9 not right yet: x is negative.\n   Hint: Think about signs."
    crashed = check.result(0)
    assert crashed.status == "wrong" and "ZeroDivisionError: boom" in crashed.message
    assert check.result(1).passed and str(check.result(1)) == "✅ Exercise 9 passed: x is fine."


def test_the_test_run_compares_recorded_outputs_of_notebooks_stored_without_counts(tmp_path):
    """Stored notebooks have no execution counts; the root conftest.py makes nbval compare them anyway."""
    import os
    import subprocess
    import sys

    for name, recorded in (("right.ipynb", "2\n"), ("wrong.ipynb", "3\n")):
        cell = nbformat.v4.new_code_cell(
            "print(1 + 1)",
            metadata={"tags": ["nbval-check-output"]},
            outputs=[nbformat.v4.new_output("stream", name="stdout", text=recorded)],
        )
        notebooks.write(notebooks.clean(nbformat.v4.new_notebook(cells=[cell])), tmp_path / name)
        assert notebooks.problems(tmp_path / name) == []
    # A recorded lesson's other outputs (a timing, a picture) are not compared: nbval runs the cell, and passes
    # it whatever it prints now (the hash ties them to their source instead: test_a_cell_edited_after_...).
    recorded = nbformat.v4.new_code_cell(
        "print(1 + 1)",
        outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="took 3.2 s\n"),
            nbformat.v4.new_output("display_data", {"image/png": _png(8, 8), "text/plain": "<Figure>"}),
        ],
    )
    lesson = tmp_path / "notebooks" / "recorded.ipynb"
    lesson.parent.mkdir()
    notebooks.write(notebooks.store(nbformat.v4.new_notebook(cells=[recorded]), lesson), lesson)
    assert notebooks.problems(lesson) == [] and notebooks.images(notebooks.read(lesson).cells[0])
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "--nbval-lax", "-q", "-rf", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAYCOURSE_SHARED_RAY": "0"},
    )
    assert "1 failed, 2 passed" in run.stdout, run.stdout[-3000:]
    assert "FAILED wrong.ipynb" in run.stdout


# --- Recorded outputs: lessons and solved labs are stored with a recorded run's outputs, each tied to its source ---


def _png(width: int, height: int) -> str:
    import base64
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)  # a "photo": noise
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _run_notebook():
    """A notebook as `execute` returns it: every cell run, with counts, a figure, a widget view, printed text."""
    out = nbformat.v4.new_output
    return nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# A lesson"),
            nbformat.v4.new_code_cell(
                "show(picture)",
                execution_count=1,
                outputs=[out("display_data", {"image/png": _png(1600, 400), "text/plain": "<Figure>"})],
            ),
            nbformat.v4.new_code_cell(
                "ds",
                execution_count=2,
                outputs=[
                    out(
                        "execute_result",
                        {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "Dataset()"},
                        execution_count=2,
                    )
                ],
            ),
            nbformat.v4.new_code_cell(
                "print('hi')", execution_count=3, outputs=[out("stream", text=f"hi from {notebooks.ROOT / 'data'}\n")]
            ),
            nbformat.v4.new_code_cell("x = 1", execution_count=4),
        ]
    )


def test_a_recorded_lesson_keeps_every_output_tied_to_its_source_and_a_lab_none(tmp_path):
    import io

    from PIL import Image

    lesson = tmp_path / "notebooks" / "09_x.ipynb"
    lesson.parent.mkdir()
    notebooks.write(notebooks.store(_run_notebook(), lesson), lesson)
    assert notebooks.problems(lesson) == []
    stored = notebooks.read(lesson)
    figure, dataset, printed, silent = stored.cells[1:]
    for cell in (figure, dataset, printed):
        assert cell.execution_count is None and cell.metadata["recorded"] == {
            "source_sha256": notebooks.source_hash(cell.source)
        }
    assert printed.outputs[0]["text"] == "hi from <course>/data\n"  # not the recording checkout's path
    assert dataset.outputs[0]["data"] == {"text/plain": "Dataset()"}  # no widget view without its state
    assert silent.outputs == [] and "recorded" not in silent.metadata
    ((mime, data),) = notebooks.images(figure)
    assert mime == "image/jpeg" and len(data) < notebooks.MAX_IMAGE_BYTES  # noise: a photo's JPEG beats a PNG
    assert Image.open(io.BytesIO(data)).size == (notebooks.IMAGE_WIDTH, notebooks.IMAGE_WIDTH // 4)

    lab = tmp_path / "labs" / "09_x_lab.ipynb"  # a lab is stored without outputs, whatever its run printed
    lab.parent.mkdir()
    notebooks.write(notebooks.store(_run_notebook(), lab), lab)
    assert notebooks.problems(lab) == []
    assert all(not c.get("outputs") and "recorded" not in c.metadata for c in notebooks.read(lab).cells)
    stored.cells.append(nbformat.v4.new_code_cell("y = 2  # SOLUTION"))
    made = labs.make_lab(stored)  # nor is a lab made from a recorded solved lab
    assert all(not c.get("outputs") and "recorded" not in c.metadata for c in made.cells)


def test_a_run_in_which_ray_reported_trouble_is_not_stored(tmp_path):
    lesson = tmp_path / "notebooks" / "09_x.ipynb"
    lesson.parent.mkdir()
    run = _run_notebook()
    run.cells[3].outputs[0]["text"] += "(raylet) A worker died or was killed while executing a task\n"
    with pytest.raises(notebooks.RecordError, match="cell 3: Ray printed '\\(raylet\\) A worker died"):
        notebooks.store(run, lesson)


def test_a_cell_edited_after_its_recording_is_reported_stale(tmp_path):
    lesson = tmp_path / "notebooks" / "09_x.ipynb"
    lesson.parent.mkdir()
    notebooks.write(notebooks.store(_run_notebook(), lesson), lesson)
    nb = notebooks.read(lesson)
    nb.cells[1].source = "show(another_picture)"  # the stored picture no longer comes from this cell
    notebooks.write(nb, lesson)
    (problem,) = notebooks.problems(lesson)
    assert problem.startswith("cell 1: its stored outputs came from another version of its source (stale)")
    assert problem.endswith("run `make record NOTEBOOKS=09`")
    # outputs put there by hand (or by a run saved from JupyterLab) carry no hash: not stored by `make record`
    nb.cells[1].source, nb.cells[1].metadata = "show(picture)", {}
    notebooks.write(nb, lesson)
    assert notebooks.problems(lesson)[0].startswith("cell 1: stored output that `make record` did not store")


# Lessons whose stored run shows the learner a picture (an image a model drew, or a plot), with their solved labs.
SHOWS_PICTURES = ("03", "04", "05", "06", "07", "08")


@pytest.mark.parametrize(
    "path",
    [p for p in ALL_NOTEBOOKS if p.parent.name in notebooks.SHOWN_DIRS and p.name[:2] in SHOWS_PICTURES],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_lessons_and_solved_labs_are_stored_with_the_pictures_of_a_recorded_run(path):
    nb = notebooks.read(path)
    pictures = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and notebooks.images(cell)]
    assert pictures, f"{path.name} stores no picture from a recorded run: run `make record NOTEBOOKS={path.name[:2]}`"
    # problems() (test_notebook_is_stored_clean) holds each to the source beside it; here, the weight of the whole
    assert path.stat().st_size < notebooks.MAX_NOTEBOOK_BYTES, f"{path.name}: {path.stat().st_size // 1000} kB"


def test_the_course_runs_its_kernels_with_their_messages_encrypted(tmp_path, capfd):
    """Recording, `make bench` and the grader start kernels over loopback TCP: each with CurveZMQ keys (as make lab's,
    tests/platform/test_cluster.py), so ipykernel has nothing to warn of and no other user can read a kernel's
    output."""
    import asyncio

    from raycourse import grading

    path = tmp_path / "one.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    ran = notebooks.execute(path, timeout=120)
    assert ran.cells[0].outputs[0]["text"] == "42\n"
    assert "without encryption" not in capfd.readouterr().err  # the kernel's stderr is this process's

    async def grader_kernel():
        km = grading._kernel_manager()
        await km.start_kernel(cwd=str(tmp_path))
        try:
            return km.transport, km.get_connection_info()
        finally:
            await km.shutdown_kernel(now=True)

    transport, info = asyncio.run(grader_kernel())
    assert transport == "tcp" and info.get("curve_publickey") and info.get("curve_secretkey")


def test_a_progress_bar_recorded_at_its_first_frame_is_not_stored_but_a_widgets_other_text_is():
    """A tqdm widget's text/plain is the bar as first drawn ("0%|"), not what a reader saw it reach."""
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2, "version_minor": 0}}
    bar = nbformat.v4.new_output(
        "display_data", data={**view, "text/plain": "Loading pipeline components...:   0%|          | 0/7"}
    )
    assert notebooks._stored_output(bar) is None
    done = nbformat.v4.new_output("display_data", data={**view, "text/plain": "100%|##########| 7/7"})
    assert notebooks._stored_output(done).data == {"text/plain": "100%|##########| 7/7"}
    printed = nbformat.v4.new_output("display_data", data={"text/plain": "0%| of the rows"})  # no widget: kept
    assert notebooks._stored_output(printed) is not None


def test_an_error_that_is_the_point_is_stored_as_one_line_without_rays_log_record_of_it():
    """Lesson 01's failing UDF: Ray's 40 lines of frames become the UDF's own error, after the wrapper's type."""
    evalue = (
        "ray::Project->MapBatches(count_words_typo)() (pid=1, ip=127.0.0.1)\n"
        '  File "/tmp/ipykernel_1/1.py", line 2, in count_words_typo\n'
        "KeyError: 'promt'\n\nThe above exception was the direct cause of the following exception:\n\n"
        "ray.exceptions.UserCodeException: UDF failed to process a data block."
    )
    error = nbformat.v4.new_output(
        "error", ename="RayTaskError(UserCodeException)", evalue=evalue, traceback=["..."] * 40
    )
    assert notebooks._stored_output(error).traceback == ["RayTaskError(UserCodeException): KeyError: 'promt'"]
    plain = nbformat.v4.new_output("error", ename="ValueError", evalue="no such column\nmore", traceback=["..."])
    assert notebooks._stored_output(plain).traceback == ["ValueError: no such column"]
    record = "2026-11-28 22:09:21,195\tERROR streaming_executor_state.py:745 -- An exception was raised from a task\n"
    assert notebooks._stored_output(nbformat.v4.new_output("stream", name="stderr", text=record)) is None
    said = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: concurrency is deprecated\n")
    assert notebooks._stored_output(said) is not None


# make bench: where each cell's time goes ----------------------------------------------------------------------------


def _timed_notebook():
    """Three code cells that ran 0-2 s, 2-12 s and 12-20 s after 06:00:00 (nbclient's timestamps) and a markdown one."""
    nb = nbformat.v4.new_notebook()
    spans = [(0, 2, "import ray"), (2, 12, "# load\nimages = ds.map_batches(Gen, compute=pool)"), (12, 20, "fit()")]
    for began, ended, source in spans:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["execution"] = {
            "iopub.execute_input": f"2026-11-29T06:00:{began:02d}.000000Z",
            "shell.execute_reply": f"2026-11-29T06:00:{ended:02d}.000000Z",
        }
        nb.cells.append(cell)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("words"))
    return nb


def _task(kind, created, started, ended, name="MapWorker.submit"):
    from datetime import datetime, timezone
    from types import SimpleNamespace

    base = datetime(2026, 11, 29, 6, tzinfo=timezone.utc).timestamp() * 1000
    return SimpleNamespace(
        type=kind,
        creation_time_ms=base + created * 1000,
        start_time_ms=None if started is None else base + started * 1000,
        end_time_ms=None if ended is None else base + ended * 1000,
        func_or_class_name=name,
        name=name,
    )


def test_bench_gives_each_ray_task_to_the_cell_that_submitted_it():
    from raycourse.authoring import bench

    cells = bench.cell_times(_timed_notebook())
    assert [(c.index, c.code, c.wall_s) for c in cells] == [
        (0, "import ray", 2.0),
        (2, "images = ds.map_batches(Gen, compute=pool)", 10.0),  # the comment line is not its code
        (3, "fit()", 8.0),
    ]
    tasks = [
        _task("ACTOR_CREATION_TASK", 3, 8, 10, "MapWorker.__init__"),  # 5 s to start, 2 s in __init__
        _task("ACTOR_CREATION_TASK", 3, 9, 10.5, "MapWorker.__init__"),  # 6 s, 1.5 s
        _task("ACTOR_TASK", 10, 10, 11.5),
        _task("NORMAL_TASK", 11, 11, 11.5, "ReadRange"),
        _task("ACTOR_TASK", 13, 13, 19, "RayTrainWorker.run_train_fn"),
        _task("NORMAL_TASK", 12.5, None, None),  # never ran: counted, no seconds
        _task("NORMAL_TASK", 30, 30, 31),  # after every cell: no cell's
        _task("DRIVER_TASK", 0.5, 0.5, 20),  # the kernel itself: not Ray's work for a cell
        _task("ACTOR_TASK", 10, 10, 12, "_StatsActor.update_execution_metrics"),  # Ray Data's helpers: no cell's
        _task("ACTOR_CREATION_TASK", 3, 4, 5, "ActorLocationTracker.__init__"),
    ]
    first, load, fit = bench.attribute(cells, tasks)
    assert (first.actors, first.tasks) == (0, 0)
    assert first.summary() == "cell 0 (2.0 s) `import ray`: no Ray work (the driver's own)"
    assert (load.actors, load.actor_start_s, load.actor_init_s, load.tasks, load.task_s) == (2, 11.0, 3.5, 2, 2.0)
    assert (fit.tasks, fit.train_s, fit.task_s) == (2, 6.0, 0.0)
    assert load.summary() == (
        "cell 2 (10.0 s) `images = ds.map_batches(Gen, compute=pool)`: 2 actors: 11.0 s to start, 3.5 s in __init__; "
        "2 tasks: 2.0 s of work"
    )
    assert "start" not in load.row() and load.row()["actor_init_s"] == 3.5


def test_bench_results_merge_by_notebook_and_become_the_guides_table(tmp_path):
    from raycourse.authoring import bench, tables

    results = tmp_path / "results" / "bench.json"
    assert tables.where_the_time_goes(tmp_path) == "No `make bench` has written `results/bench.json` yet."
    cells = bench.attribute(bench.cell_times(_timed_notebook()), [_task("ACTOR_CREATION_TASK", 3, 8, 10)])
    slowest = sorted(cells, key=lambda c: -c.wall_s)[:2]
    bench._write(results, {"notebooks/01_a.ipynb": dict(median_s=20.0, times_s=[20.0], slowest=slowest)}, runs=1)
    bench._write(results, {"notebooks/02_b.ipynb": dict(median_s=5.5, times_s=[5.5], slowest=[])}, runs=1)
    table = tables.where_the_time_goes(tmp_path)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0] for row in rows] == ["| `notebooks/01_a.ipynb`", "| `notebooks/02_b.ipynb`"]
    assert "20.0 s (1 run, " in rows[0]
    assert "cell 2, 10.0 s (`images = ds.map_batches(Gen, compute=pool)`): 1 actor: 5.0 s to start" in rows[0]
    assert "<br>cell 3, 8.0 s (`fit()`): the driver's own work" in rows[0]
