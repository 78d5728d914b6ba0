"""Keep each lesson's quiz cells in step with its quiz module (``raycourse/checks/quizNN.py``).

The questions are data in the quiz module, which checks the answers; the lesson shows them in a
markdown cell tagged ``quiz-text``, followed by the answer cell tagged ``quiz``, both just before
"## Key concepts and APIs". ``python -m raycourse.authoring quizzes`` writes (or rewrites) the
two cells from the module; tests/checks/test_quizzes.py fails when a lesson and its module differ.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell

from .. import catalogue
from . import notebooks

TEXT_TAG, ANSWER_TAG = "quiz-text", "quiz"
KEY_CONCEPTS = "## Key concepts and APIs"


def quiz_modules(root: Path = notebooks.ROOT) -> dict[str, str]:
    """Module number -> quiz module name, for every module with a ``raycourse/checks/quizNN.py``."""
    return {m.number: m.quiz for m in catalogue.modules(root) if m.quiz}


def lesson_of(number: str, root: Path = notebooks.ROOT) -> Path:
    return catalogue.module(number, root).lesson


def quiz_of(number: str):
    return importlib.import_module(f"raycourse.checks.quiz{number}").QUIZ


def expected_cells(number: str):
    return cells_for(quiz_of(number))


def cells_for(quiz):
    """The quiz text cell and answer cell a lesson shows for ``quiz``."""
    return (
        new_markdown_cell(quiz.markdown(), metadata={"tags": [TEXT_TAG]}),
        new_code_cell(quiz.answer_cell(), metadata={"tags": [ANSWER_TAG]}),
    )


def place(nb, number: str) -> bool:
    """Put the quiz cells of ``number`` into lesson ``nb``; True when something changed."""
    text, answer = expected_cells(number)
    old = [i for i, c in enumerate(nb.cells) if {TEXT_TAG, ANSWER_TAG} & set(notebooks.tags(c))]
    if len(old) == 2 and nb.cells[old[0]].source == text.source and nb.cells[old[1]].source == answer.source:
        return False
    for i in reversed(old):
        del nb.cells[i]
    at = next(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith(KEY_CONCEPTS)),
        None,
    )
    if at is None:
        raise ValueError(f"lesson {number} has no '{KEY_CONCEPTS}' cell to put its quiz before")
    nb.cells[at:at] = [text, answer]
    return True


def write_all(root: Path = notebooks.ROOT) -> list[Path]:
    written = []
    for number in quiz_modules(root):
        path = lesson_of(number, root)
        nb = notebooks.read(path)
        if place(nb, number):
            notebooks.write(notebooks.clean(nb), path)
            written.append(path)
    return written
