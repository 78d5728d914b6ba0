"""Every lesson follows the course template, every link between notebooks resolves, and a new
module scaffolded with ``python -m raycourse.authoring new-module`` starts out complete and passing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    written = scaffold.new_module("42", "Serving embeddings", root)
    solution = root / "solutions" / "42_serving_embeddings_lab.ipynb"
    (root / "labs" / solution.name).write_text(labs.expected_lab_text(solution), encoding="utf-8")
    return root, written


def test_the_scaffold_writes_a_lesson_a_quiz_a_solution_checks_and_their_tests(scaffolded):
    root, written = scaffolded
    assert [str(p.relative_to(root)) for p in written] == [
        "notebooks/42_serving_embeddings.ipynb", "raycourse/checks/quiz42.py",
        "solutions/42_serving_embeddings_lab.ipynb", "raycourse/checks/lab42.py", "tests/test_checks_lab42.py"]


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


def test_a_scaffolded_module_runs_and_its_tests_pass(scaffolded, ray_session):
    """Its check tests pass, the solution's checks pass, the lab's say "not solved yet", the lesson runs."""
    root, _ = scaffolded
    env = dict(os.environ, PYTHONPATH=str(root))  # `raycourse` is the scaffolded copy, in kernels too
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_checks_lab42.py",
         "notebooks/42_serving_embeddings.ipynb", "solutions/42_serving_embeddings_lab.ipynb",
         "labs/42_serving_embeddings_lab.ipynb"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout.splitlines()[-1]
