"""Every lesson follows the course template, every link between notebooks resolves, and a new
module scaffolded with ``python -m raycourse.authoring new-module`` starts out complete and passing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raycourse import catalogue
from raycourse.authoring import labs, notebooks, scaffold, template
from raycourse.errors import CourseError

ROOT = notebooks.ROOT
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_every_section_of_the_template(lesson):
    assert template.missing_sections(notebooks.read(lesson)) == []


@pytest.mark.parametrize("path", notebooks.course_notebooks(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_relative_link_in_a_notebook_resolves(path):
    assert template.broken_links(path) == []


def test_the_checker_names_what_a_lesson_lacks():
    nb = notebooks.read(LESSONS[1])
    nb.cells = [c for c in nb.cells if "Try it" not in c.source]
    for cell in nb.cells:
        cell.source = cell.source.replace("**What's next:**", "Next:")
    assert template.missing_sections(nb) == ["try-its (2 or 3, found 0)", "what's next"]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    """A copy of the course's package and test setup, with module 42 scaffolded into it."""
    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "raycourse", root / "raycourse", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests").mkdir()
    for name in ("conftest.py", "actor_sizes.py", "lock_resolution.py"):  # the tests' setup and its helpers
        shutil.copy(ROOT / "tests" / name, root / "tests" / name)
    shutil.copy(ROOT / "conftest.py", root / "conftest.py")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "data").symlink_to(ROOT / "data")
    for folder in ("notebooks", "labs", "solutions"):
        (root / folder).mkdir()
    shutil.copy(LESSONS[-1], root / "notebooks" / LESSONS[-1].name)  # the lesson before it, for its link
    (root / "modules").mkdir()
    shutil.copy(ROOT / "modules" / f"{LESSONS[-1].stem}.toml", root / "modules")  # and its facts
    written = scaffold.new_module("42", "Serving embeddings", root)
    solution = root / "solutions" / "42_serving_embeddings_lab.ipynb"
    (root / "labs" / solution.name).write_text(labs.expected_lab_text(solution), encoding="utf-8")
    return root, written


def test_the_scaffold_writes_a_lesson_a_quiz_a_solution_checks_and_their_tests(scaffolded):
    root, written = scaffolded
    assert [str(p.relative_to(root)) for p in written] == [
        "notebooks/42_serving_embeddings.ipynb",
        "raycourse/checks/quiz42.py",
        "solutions/42_serving_embeddings_lab.ipynb",
        "raycourse/checks/lab42.py",
        "tests/checks/test_checks_lab42.py",
        "modules/42_serving_embeddings.toml",
    ]
    facts = catalogue.module("42", root).facts
    assert (facts.title, facts.lesson_minutes, facts.lab_minutes, facts.roles) == ("Serving embeddings", 30, 20, ())


def test_a_scaffolded_lesson_has_every_section_and_its_links_resolve(scaffolded):
    root, _ = scaffolded
    lesson = root / "notebooks" / "42_serving_embeddings.ipynb"
    assert template.missing_sections(notebooks.read(lesson)) == []
    assert template.broken_links(lesson) == []
    assert f"]({LESSONS[-1].name})" in lesson.read_text()  # the previous lesson is its prerequisite
    assert notebooks.problems(lesson) == []


def test_the_scaffold_never_overwrites_a_module(scaffolded):
    root, _ = scaffolded
    with pytest.raises(CourseError, match="module 42 exists already"):
        scaffold.new_module("42", "Another title", root)
    with pytest.raises(CourseError, match="two-digit"):
        scaffold.new_module("8", "Too short", root)


def _scratch_clone(dest: Path) -> Path:
    """A copy of the course's checkout as git has it (committed, changed and new files, nothing ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.slow("a scaffolded module's notebooks run and its tests pass, in a clone")
def test_a_scaffolded_module_runs_and_its_tests_pass(tmp_path, kernels_ray):
    """`new-module NN` (the next free number) in a scratch clone of the course, then `make labs`:
    `make test NOTEBOOKS=NN` passes (the lesson under nbval, the solved lab graded as solved, the lab as not solved
    yet), and so do the new check tests, the catalogue's checks of every module's files and registrations, the
    quizzes, the guides' (tests/docs: the tables of modules, generated from the new facts file) and the rules of the
    tests' marks; no file outside the new module's own and those tables was written."""
    from raycourse.catalogue import modules

    nn = f"{max(int(m.number) for m in modules()) + 1:02d}"
    clone = _scratch_clone(tmp_path / "course")
    before = _files(clone)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS", "PYTEST_"))
    }
    env["PYTHONPATH"] = str(clone)  # `raycourse` is the clone's, in kernels too

    def run(*args: str, **extra: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], cwd=clone, env={**env, **extra}, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{' '.join(args)}:\n" + done.stdout[-4000:] + done.stderr[-2000:]
        return done.stdout

    run("-m", "raycourse.authoring", "new-module", nn, "Vector search")
    run("-m", "raycourse.authoring", "labs")  # make labs
    after = _files(clone)
    changed = sorted(rel for rel in after if before.get(rel) != after[rel]) + sorted(set(before) - set(after))
    assert changed == [
        "README.md",  # the tables of modules, generated from the new facts file
        "docs/checks.md",  # the count of what each lab's checks judge, from the new check tests
        "docs/gpu.md",
        "docs/measured.md",
        "docs/workshop.md",
        f"labs/{nn}_vector_search_lab.ipynb",
        f"modules/{nn}_vector_search.toml",
        f"notebooks/{nn}_vector_search.ipynb",
        f"raycourse/checks/lab{nn}.py",
        f"raycourse/checks/quiz{nn}.py",
        f"solutions/{nn}_vector_search_lab.ipynb",
        f"tests/checks/test_checks_lab{nn}.py",
    ], changed
    # make test NOTEBOOKS=NN (in one process here: the run's Ray is this run's, RAY_ADDRESS)
    out = run(
        "-m",
        "pytest",
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        "notebooks",
        "tests/grading/test_grading.py",
        RAYCOURSE_NOTEBOOKS=nn,
    )
    passed = {line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("PASSED ")}
    graded = (
        "test_a_solved_lab_passes_every_exercise",
        "test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors",
    )
    expected = {
        f"notebooks/{nn}_vector_search.ipynb::Cell 0",
        *(f"tests/grading/test_grading.py::{t}[{nn}]" for t in graded),
    }
    assert expected <= passed, out[-3000:]
    assert all(nn in nodeid for nodeid in passed), passed  # one module's notebooks only
    for git in (["init", "-q"], ["add", "-A"]):  # a checkout, as tests/docs/test_style.py lints what git tracks
        subprocess.run(["git", *git], cwd=clone, check=True, capture_output=True)
    marks = (  # the new check tests' marks: registered, with reasons, and two kept by test-fast per exercise
        "test_every_mark_is_registered_sits_on_a_test_and_slow_and_tiny_only_say_why",
        "test_every_lab_check_file_marks_what_test_fast_keeps_and_each_exercise_keeps_two",
    )
    out = run(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"tests/checks/test_checks_lab{nn}.py",
        "tests/notebooks/test_catalogue.py",
        "tests/checks/test_quizzes.py",
        "tests/docs",  # the guides' tables of modules (generated from the facts) hold the new module, unedited
        *(f"tests/platform/test_gpu_selection.py::{t}" for t in marks),
    )
    assert " failed" not in out.splitlines()[-1] and "passed" in out.splitlines()[-1], out[-3000:]
