"""Grading (``python -m raycourse grade``): every lab solved and unsolved, a half-solved and a broken lab, and the
grader's edges.

These tests are also the test run of ``solutions/`` and ``labs/`` (nbval runs ``notebooks/`` only):
the solved copy is the solution notebook and the unsolved copy is the lab, each graded from the top
in a fresh kernel, and they assert what nbval and the root conftest.py asserted for them before:
every cell runs, no cell has an error output, no cell writes to stderr unless tagged ``stderr-ok``,
every check cell prints its verdict (✅ in a solution, ⏳ in a lab), plus each verdict, the total line
and the last cell's progress.

The half-solved and broken copies are built from the two notebooks: an exercise "solved" takes its
cells from the solution, the others stay as in the lab, and a broken copy has a learner's typo on
the first line of one exercise's cell (a NameError: the cell stops before it assigns the exercise's
variable). They prove the grader's logic (a verdict per exercise, the error named, the rest still
graded, the total), which does not depend on the lab, so one lab gets them: lab 01, whose broken
first exercise is one that the next two build on. The half-solved copy is graded once, as a learner's
hand-in of the class report below (bob); lab 04's half-solved and broken copies were dropped (issue
24): model actors are graded in lab 04's solved and unsolved runs, and the grader treats them like any
other cell. Every lab's own mistakes are the checks' unit tests (tests/checks/test_checks_labNN.py); every lab
is still graded solved and unsolved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from raycourse import grading
from raycourse.authoring import labs, notebooks
from raycourse.checks import _core
from raycourse.grading.run import _reads_metrics
from raycourse.session import prometheus

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*_lab.ipynb"))
P, N, W, E, C = "passed", "not solved", "wrong", "error", "not checked"
SERVE_ACTORS = ("ServeController", "ProxyActor", "ServeReplica")  # Ray Serve's actors, by class name


@dataclass
class Plan:
    """Which exercises the broken copy of one lab solves and breaks, and the verdicts it gets."""

    broken: int  # the exercise whose cell gets the typo ...
    typo: str  # ... this line, first in that cell
    broken_solved: set  # every exercise solved in the broken copy (the broken one included)
    broken_expected: list
    error: str  # the NameError the typo raises


HALF = {1}  # the exercises solved in the half-solved copy of lab 01 (the class report's bob)
PLANS = {
    # The typo is in the first exercise's cell, and the second and third exercises build on what it assigns
    # (`reviews`): their cells fail too, and each is still graded on its own.
    "01": Plan(1, "print(prompt.count())", {1, 2, 3}, [E, E, N, N], "name 'prompt' is not defined"),
}


def _number(path: Path) -> str:
    return path.name[:2]


def _plan(solution: Path) -> Plan:
    return PLANS[_number(solution)]


# The labs whose broken copies are graded (PLANS says how to break each).
PLANNED = [s for s in SOLUTIONS if _number(s) in PLANS]


def _module(path: Path) -> str:
    return f"raycourse.checks.lab{_number(path)}"


def _exercise_of_cells(nb) -> list[int | None]:
    """For every cell, the exercise it belongs to: the number of the next check cell (None after the last)."""
    owners, number, pending = [], 0, []
    for cell in nb.cells:
        pending.append(len(owners))
        owners.append(None)
        if "check" in notebooks.tags(cell):
            number += 1
            for i in pending:
                owners[i] = number
            pending = []
    return owners


def build_copy(solution: Path, solved: set, typo: tuple[int, str] | None = None):
    """The lab with the cells of the ``solved`` exercises taken from the solution; ``typo``: (exercise, line)."""
    sol = notebooks.read(solution)
    kept = [c for c in sol.cells if labs.SOLUTION_ONLY not in notebooks.tags(c)]
    lab = labs.make_lab(sol)
    assert len(kept) == len(lab.cells)
    owners = _exercise_of_cells(lab)
    broken_done = False
    for i, (solved_cell, lab_cell) in enumerate(zip(kept, lab.cells)):
        if owners[i] in solved:
            lab_cell.source = solved_cell.source
        if (
            typo
            and owners[i] == typo[0]
            and not broken_done
            and lab_cell.cell_type == "code"
            and solved_cell.source != labs.lab_source(solved_cell.source)
        ):
            lab_cell.source = typo[1] + "\n" + lab_cell.source
            broken_done = True
    assert typo is None or broken_done, "no exercise cell to break"
    return lab


@pytest.fixture(scope="module")
def grader(kernels_ray):
    with grading.Grader() as grader:
        yield grader


def _grade(grader, nb, tmp_path: Path, name: str) -> grading.Grade:
    path = tmp_path / name
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    grade = grader.grade(path)
    assert path.read_bytes() == before, "grading wrote to the notebook"
    assert not (tmp_path / "outputs").exists(), "grading wrote outputs beside the notebook"
    if os.environ.get("RAY_ADDRESS"):  # nothing of Ray Serve outlives the graded notebook (lab 08 stops it)
        from actor_sizes import from_gcs

        left = [
            a["class_name"]
            for a in from_gcs(os.environ["RAY_ADDRESS"])[0]
            if a["state"] == "ALIVE" and a["class_name"].startswith(SERVE_ACTORS)
        ]
        assert not left, f"left running after grading {name}: {left}"
    return grade


def _text(cell) -> str:
    parts = []
    for out in cell.outputs:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def _assert_runs_clean(grade: grading.Grade) -> None:
    """What nbval and the root conftest.py asserted: every cell ran, no error output, nothing on stderr."""
    assert grade.graded, grade.reason
    assert not grade.timed_out
    assert grade.errors == [], [str(e) for e in grade.errors]
    cells = grade.notebook.cells
    stderr = [(i, text) for i, text in grade.stderr if "stderr-ok" not in notebooks.tags(cells[i])]
    assert not stderr, f"cells wrote to stderr (a learner would see this): {stderr}"
    not_run = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.strip() and not c.execution_count]
    assert not not_run, f"cells that did not run: {not_run}"


def _assert_statuses(grade: grading.Grade, expected: list, solution: Path) -> None:
    titles = [ex.title for ex in _core.exercises(_module(solution))]
    assert [v.exercise for v in grade.verdicts] == titles
    assert [v.status for v in grade.verdicts] == expected, grade.report()
    # The total counts the exercises everyone does; an optional stretch exercise passed is named after it.
    counted = [s for title, s in zip(titles, expected) if not _core.is_stretch(title)]
    stretch = any(_core.is_stretch(title) and s == P for title, s in zip(titles, expected))
    noun = "exercise" if len(counted) == 1 else "exercises"  # a lab of one exercise (new-module writes one)
    total = f"{counted.count(P)} of {len(counted)} {noun} passed" + (", and the stretch exercise" if stretch else "")
    label = f"Lab {_number(solution)}"
    assert grade.total_line() == f"{label}: {total}"
    assert grade.report().splitlines()[-1] == grade.total_line()
    progress = _text(grade.notebook.cells[-1])
    assert grade.notebook.cells[-1].source == "check.progress()"
    assert progress.startswith(f"{label} so far: {total}\n"), progress


def _check_cells(grade: grading.Grade) -> list:
    return [c for c in grade.notebook.cells if "check" in notebooks.tags(c)]


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.per_lab
@pytest.mark.parametrize("solution", SOLUTIONS, ids=_number)
def test_a_solved_lab_passes_every_exercise(grader, solution, tmp_path, monkeypatch):
    """The solution notebook, graded: every check passes (this is the test run of solutions/).

    A lab that reads Ray's metrics (module 10) is graded as an instructor grades it, without ``RAY_ADDRESS``: in its
    sandbox, with a Ray and a Prometheus of its own, where its checks must find the counts its stages made. Its
    unsolved copy is graded beside the run's Ray instead, where the grader starts that Ray outside a sandbox."""
    if _reads_metrics(_number(solution)):
        for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV", prometheus.HOST_ENV):  # not the run's Ray: one of its own
            monkeypatch.delenv(name, raising=False)
        with grading.Grader() as own:
            grade = _grade(own, notebooks.read(solution), tmp_path, solution.name)
    else:
        grade = _grade(grader, notebooks.read(solution), tmp_path, solution.name)
    _assert_runs_clean(grade)
    _assert_statuses(grade, [P] * len(grade.verdicts), solution)
    for cell, verdict in zip(_check_cells(grade), grade.verdicts):
        assert _text(cell).startswith("✅ ") and str(verdict) in _text(cell), _text(cell)
    assert all(not v.error for v in grade.verdicts)
    assert "Every exercise of this lab passed" in _text(grade.notebook.cells[-1])


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
@pytest.mark.per_lab
@pytest.mark.parametrize("solution", SOLUTIONS, ids=_number)
def test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors(grader, solution, tmp_path):
    """The lab as generated, graded: every check says not solved yet (this is the test run of labs/)."""
    lab = ROOT / "labs" / solution.name
    grade = _grade(grader, notebooks.read(lab), tmp_path, lab.name)
    _assert_runs_clean(grade)
    _assert_statuses(grade, [N] * len(grade.verdicts), solution)
    for cell in _check_cells(grade):
        assert _text(cell).startswith("⏳ ") and "not solved yet" in _text(cell), _text(cell)


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
@pytest.mark.per_lab
@pytest.mark.parametrize("solution", PLANNED, ids=_number)
def test_a_broken_lab_reports_the_error_and_grades_the_rest(grader, solution, tmp_path):
    plan = _plan(solution)
    copy_ = build_copy(solution, plan.broken_solved, (plan.broken, plan.typo))
    grade = _grade(grader, copy_, tmp_path, "broken.ipynb")
    assert grade.graded and not grade.timed_out
    _assert_statuses(grade, plan.broken_expected, solution)
    # The first error of the notebook is the typo, on the line that has it.
    first = grade.errors[0]
    assert (first.ename, first.evalue, first.line) == ("NameError", plan.error, plan.typo)
    broken = grade.verdicts[plan.broken - 1]
    assert broken.status == E
    assert broken.message.startswith("its check cell raised NameError: name ")
    assert broken.error == str(first) == f"`{plan.typo}` raised NameError: {plan.error}"
    assert str(broken).startswith(f"💥 {broken.exercise} could not be checked: its check cell raised NameError")
    assert f"\n   Error: `{plan.typo}` raised NameError" in str(broken)
    assert "\n   Hint: Run the notebook from the top" in str(broken)
    # Every exercise after the broken one is still graded, each with its own verdict (never "not checked"); one
    # whose check cell raised, or whose own cells did, names that error.
    later = grade.verdicts[plan.broken :]
    assert later and all(v.status != C for v in later)
    for verdict in later:
        if verdict.status == E:
            assert verdict.message.startswith("its check cell raised NameError"), str(verdict)
        assert not verdict.error or "raised NameError" in verdict.error, str(verdict)


# The grader's edges, on small notebooks that use no Ray (kernels_ray: so that the grader starts none) ----------

SETUP = "from raycourse.checks import lab01 as check\nprompts = ..."


def _notebook(*sources: str):
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(s) for s in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_a_time_limit_stops_the_kernel_and_the_rest_is_not_checked(kernels_ray, tmp_path):
    nb = _notebook(SETUP, "check.exercise_1(prompts)", "import time\ntime.sleep(600)", "check.exercise_2(photos)")
    with grading.Grader(timeout=8) as grader:
        grade = _grade(grader, nb, tmp_path, "slow.ipynb")
    assert grade.timed_out and grade.seconds < 30
    assert [v.status for v in grade.verdicts] == [N, C, C, C]
    assert grade.verdicts[1].message == "the time limit (8 s) was reached before its check ran."
    assert "Note: time limit of 8 s reached: the kernel was stopped." in grade.report()
    assert grade.total_line() == "Lab 01: 0 of 3 exercises passed"


@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_a_dead_kernel_missing_check_cells_and_a_renamed_import(kernels_ray, tmp_path):
    """The lab is found from its import (any alias), not the file name; a check cell that is missing is named."""
    nb = _notebook(
        "import raycourse.checks.lab01 as grader_check\nprompts = ...",
        "grader_check.exercise_1(prompts)",
        "import os\nos._exit(1)",
        "grader_check.exercise_2(photos)",
    )
    with grading.Grader(timeout=60) as grader:
        died = _grade(grader, nb, tmp_path, "anything.ipynb")
        nb.cells[2].source = "x = 1"
        missing = _grade(grader, nb, tmp_path, "missing.ipynb")
    assert [v.status for v in died.verdicts] == [N, C, C, C]
    assert died.verdicts[1].message.startswith("the kernel died before its check ran")
    assert [v.status for v in missing.verdicts] == [N, E, C, C]  # photos was never defined
    assert missing.verdicts[1].message == "its check cell raised NameError: name 'photos' is not defined"
    assert missing.verdicts[2].message == "the notebook has no check cell for it (`grader_check.exercise_3(...)`)."


@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_a_graded_copy_writes_its_outputs_aside_never_into_the_learners(kernels_ray, tmp_path, monkeypatch):
    """Outputs of a graded copy go to a temporary folder, on shared storage where RAYCOURSE_OUTPUTS points."""
    shared = tmp_path / "shared"
    learners = shared / "labs" / "01_ingest_and_transform_lab"  # what the learner's own run wrote
    learners.mkdir(parents=True)
    (learners / ".raycourse-output").write_text("")
    (learners / "mine.txt").write_text("keep me")
    (tmp_path / "labs").mkdir()
    nb = _notebook(
        SETUP,
        "import raycourse\nout_dir = raycourse.output_dir('01_ingest_and_transform_lab')\n"
        "(out_dir / 'x.txt').write_text('graded')\nprint(out_dir)",
        "print((out_dir / 'x.txt').read_text())",
    )
    for outputs in (None, str(shared)):
        if outputs:
            monkeypatch.setenv("RAYCOURSE_OUTPUTS", outputs)
        with grading.Grader(timeout=60) as grader:
            grade = _grade(grader, nb, tmp_path / "labs", "mine.ipynb")
            assert grade.errors == [], [str(e) for e in grade.errors]
            written = Path(_text(grade.notebook.cells[1]).strip())
            assert _text(grade.notebook.cells[2]).strip() == "graded"  # written there while the notebook ran
            if outputs:  # on shared storage: a folder of the grader's there, one per notebook, gone after it
                assert written.parents[3] == shared and written.parents[2].name.startswith(".raycourse-grade-")
                assert written.parents[1].name.startswith("rcg-")
            else:  # beside the copy, in a temporary folder removed with it
                assert written.parents[2].name.startswith("rcg-")
            assert not written.exists()  # removed as soon as the notebook was graded: the next one never sees it
    assert sorted(p.name for p in learners.iterdir()) == [".raycourse-output", "mine.txt"]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "the file is empty (0 bytes)"),
        (b"  \n", "the file is empty (only whitespace)"),
        (b'{"cells": [', "not a notebook: invalid JSON (line 1, column 12: Expecting value)"),
        (b"\x89PNG\r\n\x1a\n\x00", "not a notebook: the file is not text (not UTF-8)"),
        (b'{"a": 1}', "not a notebook: the JSON has no list of cells"),
        (
            b'{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a valid notebook",
        ),
        (
            json.dumps(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])).encode(),
            "not a lab notebook: it never imports a lab's checks",
        ),
        (
            json.dumps(
                nbformat.v4.new_notebook(
                    cells=[nbformat.v4.new_code_cell("from raycourse.checks import lab99 as check")]
                )
            ).encode(),
            "it imports raycourse.checks.lab99",
        ),
    ],
    ids=[
        "empty",
        "blank",
        "truncated-json",
        "binary",
        "json-without-cells",
        "invalid-cell",
        "no-lab-import",
        "unknown-lab",
    ],
)
def test_a_file_that_is_not_a_lab_notebook_is_not_graded_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    grade = grading.grade(path)
    assert not grade.graded and grade.reason.startswith(reason), grade.reason
    assert grade.report() == f"not graded: {grade.reason}"


def test_the_grading_environment_is_the_tests_quiet_offline_one_with_the_learners_profile():
    from raycourse.session import runtime

    assert grading.GRADE_ENV == {k: v for k, v in runtime.TEST_ENV.items() if k != "RAYCOURSE_PROFILE"}
    env = grading.Grader(env={"RAYCOURSE_PROFILE": "gpu", "HF_HUB_OFFLINE": "0", "RAY_ADDRESS": "x:1"}).env
    assert env["RAYCOURSE_PROFILE"] == "gpu" and env["HF_HUB_OFFLINE"] == "1" and env["RAYCOURSE_TEST"] == "1"


# A class ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def class_report(kernels_ray, tmp_path_factory):
    """A class folder as an instructor collects it, graded through the command line."""
    folder = tmp_path_factory.mktemp("class")
    lab01 = ROOT / "solutions" / "01_ingest_and_transform_lab.ipynb"
    nbformat.write(notebooks.read(lab01), str(folder / "alice.ipynb"))  # one notebook per learner ...
    (folder / "bob").mkdir()  # ... or a folder per learner, the labs renamed
    nbformat.write(build_copy(lab01, HALF), str(folder / "bob" / "my lab one.ipynb"))  # half-solved
    nbformat.write(notebooks.read(ROOT / "labs" / "02_joins_and_prompts_lab.ipynb"), str(folder / "bob" / "lab2.ipynb"))
    nbformat.write(_notebook("print('notes')"), str(folder / "bob" / "scratch.ipynb"))
    (folder / "carol.ipynb").write_bytes(b"")
    (folder / "dave.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"', encoding="utf-8")
    (folder / "erin").mkdir()
    out = tmp_path_factory.mktemp("report")
    run = subprocess.run(
        [sys.executable, "-m", "raycourse", "grade-class", str(folder), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env=dict(os.environ),
    )
    return run, out


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_a_class_report_has_every_verdict_total_and_share(class_report):
    import pandas as pd

    run, out = class_report
    assert run.returncode == 0, run.stderr[-3000:]
    table = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str)
    columns = [
        "Lab 01 · Ex 1",
        "Lab 01 · Ex 2",
        "Lab 01 · Ex 3",
        "Lab 01 · Stretch",
        "Lab 02 · Ex 1",
        "Lab 02 · Ex 2",
        "Lab 02 · Stretch",
    ]
    assert list(table.columns) == ["learner", *columns, "passed", "of", "notes"]
    rows = {r["learner"]: r for r in table.to_dict("records")}
    assert list(rows) == ["alice", "bob", "carol", "dave", "erin", "passed by (share of learners)"]
    verdicts = {name: [rows[name][c] for c in columns] for name in rows}
    assert verdicts["alice"] == [P, P, P, P, "missing", "missing", "missing"]
    assert verdicts["bob"] == [P, N, N, N, N, N, N]
    for name in ("carol", "dave", "erin"):
        assert verdicts[name] == ["missing"] * 7
    # `of`: the five exercises everyone does; the stretch has its column, outside the total
    assert [(rows[n]["passed"], rows[n]["of"]) for n in ("alice", "bob", "carol", "dave", "erin")] == [
        ("3", "5"),
        ("1", "5"),
        ("0", "5"),
        ("0", "5"),
        ("0", "5"),
    ]
    assert verdicts["passed by (share of learners)"] == ["40%", "20%", "20%", "20%", "0%", "0%", "0%"]
    assert rows["alice"]["notes"] == ""
    assert (
        rows["bob"]["notes"] == "bob/scratch.ipynb: not a lab notebook: it never imports a lab's checks "
        "(`from raycourse.checks import labNN as check`)"
    )
    assert rows["carol"]["notes"] == "carol.ipynb: the file is empty (0 bytes)"
    assert rows["dave"]["notes"].startswith("dave.ipynb: not a notebook: invalid JSON (line 1")
    assert rows["erin"]["notes"] == "no notebooks handed in"


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_a_class_report_is_printed_and_written_as_a_readable_table(class_report):
    run, out = class_report
    markdown = (out / "grades.md").read_text(encoding="utf-8")
    table = "| alice | ✅ | ✅ | ✅ | ✅ | — | — | — | 3 | 5 |  |"
    assert table in run.stdout and table in markdown
    assert "| bob | ✅ | ⏳ | ⏳ | ⏳ | ⏳ | ⏳ | ⏳ | 1 | 5 |" in markdown
    assert "| passed by (share of learners) | 40% | 20% | 20% | 20% | 0% | 0% | 0% |  |  |  |" in markdown
    assert grading.LEGEND in run.stdout and grading.LEGEND in markdown
    assert "bob: grading bob/my lab one.ipynb (Lab 01) ... Lab 01: 1 of 3 exercises passed" in run.stdout
    assert "dave: dave.ipynb: not graded: not a notebook: invalid JSON" in run.stdout
    assert f"Wrote {out / 'grades.csv'} and {out / 'grades.md'}" in run.stdout
    # Every verdict, with its message, in the report's details.
    assert "⏳ Exercise 2 not solved yet: `complaints` is still `...`" in markdown
    assert "Lab 02: 0 of 2 exercises passed" in markdown


@pytest.mark.slow("the grader runs lab notebooks in kernels")
@pytest.mark.tiny_only("the grader's logic, which does not depend on the profile")
def test_grade_prints_each_verdict_and_a_total_and_fails_for_a_file_it_cannot_grade(kernels_ray, tmp_path):
    bad = tmp_path / "notes.ipynb"
    bad.write_text("{}", encoding="utf-8")
    lab = ROOT / "labs" / "02_joins_and_prompts_lab.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "raycourse", "grade", str(lab), str(bad)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stdout.splitlines() == [
        f"Grading {lab} (a copy, from the top, at most 600 s) ...",
        "⏳ Exercise 1 not solved yet: `reviewed` is still `...`; replace it with a Dataset of every review with the "
        "`id` of its product as `product_id`.",
        "⏳ Exercise 2 not solved yet: `prompts` is still `...`; replace it with a Dataset with a `prompt` for every "
        "animal and every outfit.",
        "⏳ Stretch · reviews of outfits nobody wears not solved yet: `unworn_reviews` is still `...`; replace it with "
        "a Dataset of the reviews of the outfits that no animal wears.",
        "Lab 02: 0 of 2 exercises passed",
        "",
        f"Grading {bad} (a copy, from the top, at most 600 s) ...",
        "not graded: not a notebook: the JSON has no list of cells",
        "",
        "Total:",
        f"  Lab 02: 0 of 2 exercises passed  ({lab})",
        f"  not graded  ({bad})",
    ]
    # With RAY_ADDRESS (the run's Ray), no sandbox: the grader says so, and nothing else
    assert run.stderr.startswith("Warning: no sandbox for the graded notebooks (they join the Ray in RAY_ADDRESS")
    assert len(run.stderr.splitlines()) == 1, run.stderr


# The record of verdicts in a kernel, and the progress cell ---------------------------------------------


def test_check_cells_record_their_verdicts_and_progress_lists_every_exercise(capsys, monkeypatch):
    from raycourse.checks import lab02

    monkeypatch.setattr(_core, "_RESULTS", {})
    lab02.progress()
    assert capsys.readouterr().out.splitlines() == [
        "Lab 02 so far: 0 of 2 exercises passed",
        "  ⬜ Exercise 1 not checked: its check cell has not run in this session.",
        "  ⬜ Exercise 2 not checked: its check cell has not run in this session.",
        "  ⬜ Stretch · reviews of outfits nobody wears not checked: its check cell has not run in this session.",
        "Only the checks run in this kernel count (a restart forgets them). To grade the saved notebook from the "
        "top, in a terminal: python -m raycourse grade labs/02_joins_and_prompts_lab.ipynb",
    ]
    lab02.exercise_2(...)
    lab02.exercise_1.result(...)  # .result() only returns the verdict: not a check cell, not recorded
    assert capsys.readouterr().out.startswith("⏳ Exercise 2 not solved yet: `prompts` is still `...`")
    assert list(_core.recorded("raycourse.checks.lab02")) == ["Exercise 2"]
    wrong = _core.Verdict("Exercise 1", "wrong", "the join drops animals.", "Keep every animal.")
    _core.record("raycourse.checks.lab02", wrong)
    lab02.progress()
    assert capsys.readouterr().out.splitlines()[:4] == [
        "Lab 02 so far: 0 of 2 exercises passed",
        "  ❌ Exercise 1 not right yet: the join drops animals.",
        "     Hint: Keep every animal.",
        "  ⏳ Exercise 2 not solved yet: `prompts` is still `...`; replace it with a Dataset with a `prompt` for "
        "every animal and every outfit.",
    ]
    for title in ("Exercise 1", "Exercise 2"):
        _core.record("raycourse.checks.lab02", _core.Verdict(title, "passed", "fine."))
    lab02.progress()
    assert capsys.readouterr().out.splitlines() == [
        "Lab 02 so far: 2 of 2 exercises passed",
        "  ✅ Exercise 1 passed: fine.",
        "  ✅ Exercise 2 passed: fine.",
        "  ⬜ Stretch · reviews of outfits nobody wears not checked: its check cell has not run in this session.",
        "Every exercise of this lab passed: well done. Done early? Try the stretch exercise.",
    ]
    assert json.loads(_core.results_json("raycourse.checks.lab02"))["Exercise 1"]["status"] == "passed"


def test_the_exercises_of_a_lab_come_from_its_checks_module_in_order():
    assert [e.title for e in _core.exercises("raycourse.checks.lab05")] == [
        "Exercise 1",
        "Exercise 2",
        "Exercise 3",
        "Stretch · accuracy per class",
    ]
    assert _core.lab_label("raycourse.checks.lab05") == "Lab 05"
    assert _core.lab_label("raycourse.checks.lesson07") == "Lesson 07"
    for solution in SOLUTIONS:
        checks = [c for c in notebooks.read(solution).cells if "check" in notebooks.tags(c)]
        titles = [ex.title for ex in _core.exercises(_module(solution))]
        assert len(checks) == len(titles), solution.name
        last = notebooks.read(solution).cells[-1]
        assert last.source == "check.progress()" and "check" not in notebooks.tags(last), solution.name


def test_grading_verdicts_read_like_the_check_cells():
    assert str(
        _core.Verdict(
            "Exercise 2",
            "error",
            "its check cell raised NameError: name 'photos' is not defined",
            "Run the notebook from the top.",
            "`x = y` raised NameError: name 'y' is not defined",
        )
    ) == (
        "💥 Exercise 2 could not be checked: its check cell raised NameError: name 'photos' is not defined\n"
        "   Error: `x = y` raised NameError: name 'y' is not defined\n"
        "   Hint: Run the notebook from the top."
    )
    assert (
        str(_core.Verdict("Exercise 3", "not checked", "the time limit (600 s) was reached before its check ran."))
        == "⬜ Exercise 3 not checked: the time limit (600 s) was reached before its check ran."
    )


def test_a_stretch_exercise_is_graded_and_shown_but_not_counted_in_the_total(capsys, monkeypatch):
    """A lab's optional stretch exercise (title "Stretch"): its own verdict and column, outside the total."""
    import types

    module = types.ModuleType("raycourse.checks.lab98")
    for title, name in (("Exercise 1", "exercise_1"), (_core.STRETCH, "stretch")):

        def check(value, title=title):
            if value is ...:
                raise _core.NotSolved(f"{title}: still `...`.")
            return "fine."

        check.__module__ = module.__name__
        setattr(module, name, _core.exercise(title)(check))
    module.progress = _core.progress_of(module.__name__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(_core, "_RESULTS", {})

    module.exercise_1(1)
    module.stretch(...)
    module.progress()
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "Lab 98 so far: 1 of 1 exercise passed",
        "  ✅ Exercise 1 passed: fine.",
        "  ⏳ Stretch not solved yet: Stretch: still `...`.",
        "Every exercise of this lab passed: well done. Done early? Try the stretch exercise.",
    ]
    module.stretch(2)
    module.progress()
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "Lab 98 so far: 1 of 1 exercise passed, and the stretch exercise",
        "  ✅ Exercise 1 passed: fine.",
        "  ✅ Stretch passed: fine.",
        "Every exercise of this lab passed: well done.",
    ]
    # Not solved and not even tried: the total is the same, and the progress cell says only what is missing.
    _core._RESULTS.clear()
    module.exercise_1(...)
    module.progress()
    shown = capsys.readouterr().out.splitlines()
    assert shown[-3] == "Lab 98 so far: 0 of 1 exercise passed"
    assert shown[-1] == "  ⬜ Stretch not checked: its check cell has not run in this session."

    # The class report: a column of its own, its share of learners, but not in `passed` / `of`.
    verdicts = [_core.Verdict("Exercise 1", "passed", "fine."), _core.Verdict(_core.STRETCH, "passed", "fine.")]
    learners = [
        grading.Learner("ann", {module.__name__: grading.Grade(Path("a.ipynb"), module.__name__, verdicts)}),
        grading.Learner("ben", {module.__name__: grading.Grade(Path("b.ipynb"), module.__name__, verdicts[:1])}),
    ]
    report = grading.ClassReport(
        Path("class"), learners, [(module.__name__, "Exercise 1"), (module.__name__, "Stretch")]
    )
    table = report.table()
    assert list(table.columns) == ["learner", "Lab 98 · Ex 1", "Lab 98 · Stretch", "passed", "of", "notes"]
    assert table[["passed", "of"]].values.tolist()[:2] == [[1, 1], [1, 1]]
    assert table.iloc[2]["Lab 98 · Stretch"] == "50%"
