"""One learner's notebook cannot reach the next learner's grade in ``grade-class``.

A class of two graded as an instructor grades one (a sandbox and a Ray of its own per notebook, the outputs on shared
storage, ``RAYCOURSE_OUTPUTS``): mallory's unsolved lab 01 tries to change the course's package and plants a folder
where the next notebook's outputs would go (on the grader of before, that folder stopped trudy's setup cell, and
her solved lab lost exercise 3); trudy's solved lab 01 must pass as if alone, and mallory's grade says what her kernel
tried. About 35 s a notebook here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from raycourse import grading, sandbox
from raycourse.authoring import notebooks

ROOT = Path(__file__).resolve().parents[2]
LAB01 = "01_ingest_and_transform_lab.ipynb"
P, N = "passed", "not solved"

TAMPER = """
import os, pathlib, raycourse
try:  # the course's own package, which every later kernel imports
    with open(pathlib.Path(raycourse.__file__), "a") as f:
        f.write("\\nraise SystemExit('sabotaged')\\n")
    print("package: written")
except OSError as exc:
    print("package:", type(exc).__name__)
shared = pathlib.Path(os.environ["RAYCOURSE_OUTPUTS"])
for root in {shared, shared.parent}:  # where the next notebook's outputs would go: a folder the course did not make
    target = root / pathlib.Path.cwd().name / "01_ingest_and_transform_lab"
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "mine.txt").write_text("not yours")
        (target / ".raycourse-output").unlink(missing_ok=True)  # not the course's folder any more: never cleared
        print("planted", target.relative_to(shared.parent))
    except OSError as exc:
        print("plant:", type(exc).__name__)
"""


def _text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.slow("grade-class runs a class of notebooks, each in its own kernel (about two minutes here)")
@pytest.mark.skipif(bool(sandbox.unavailable()), reason="the sandbox keeps the course's files read-only (Linux)")
def test_a_notebook_that_tampers_changes_its_own_grade_only(tmp_path, monkeypatch):
    for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("RAYCOURSE_OUTPUTS", str(shared))
    folder = tmp_path / "class"
    folder.mkdir()
    mallory = notebooks.read(ROOT / "labs" / LAB01)
    mallory.cells.insert(-1, nbformat.v4.new_code_cell(textwrap.dedent(TAMPER).strip()))
    nbformat.write(mallory, str(folder / "mallory.ipynb"))
    nbformat.write(notebooks.read(ROOT / "solutions" / LAB01), str(folder / "trudy.ipynb"))
    report = grading.grade_class(folder, timeout=300, echo=lambda *a, **k: None)
    assert [(l.name, list(l.grades)) for l in report.learners] == [
        ("mallory", ["raycourse.checks.lab01"]),
        ("trudy", ["raycourse.checks.lab01"]),
    ], [(l.name, l.notes) for l in report.learners]
    grades = {learner.name: learner.grades["raycourse.checks.lab01"] for learner in report.learners}
    bad, good = grades["mallory"], grades["trudy"]
    # trudy: graded as if alone
    assert [v.status for v in good.verdicts] == [P, P, P, P], good.report()
    assert good.errors == [] and not good.notes, ([str(e) for e in good.errors], good.notes)
    # mallory: her own grade, and a note of what her kernel tried
    assert [v.status for v in bad.verdicts] == [N, N, N, N], bad.report()
    said = _text(bad.notebook)
    assert "package: OSError" in said or "package: PermissionError" in said, said[-2000:]
    assert any(n.startswith("its kernel tried to change the course's or Python's files") for n in bad.notes), bad.notes
    assert not list(shared.iterdir()), list(shared.rglob("*"))  # the grader's folders there: gone with it
