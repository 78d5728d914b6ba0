"""A lab asks the learner to transfer the lesson, never to retype a lesson cell.

For every exercise cell of a solved lab (a code cell with ``SOLUTION`` markers), the share of its code lines
(stripped, comments left out) that one code cell of the same module's lesson already holds stays under 60 %.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from raycourse.catalogue import modules

LIMIT = 0.60  # issue 41: "No lab exercise repeats 60 % or more of a lesson cell's lines"
MIN_LINES = 3  # a one- or two-line answer (a call with the lab's own arguments) is no copy


def _code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _lines(source: str) -> list[str]:
    stripped = (re.sub(r"\s*# SOLUTION\s*$", "", line).strip() for line in source.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def overlap(exercise: str, lesson_cell: str) -> float:
    """The share of ``exercise``'s lines that ``lesson_cell`` holds (each lesson line counts once per use)."""
    mine, theirs = Counter(_lines(exercise)), Counter(_lines(lesson_cell))
    total = sum(mine.values())
    return sum(min(n, theirs[line]) for line, n in mine.items()) / total if total else 0.0


def _exercises():
    for module in modules():
        if module.has_lab:
            for index, cell in enumerate(_code_cells(module.solution)):
                if "SOLUTION" in cell and len(_lines(cell)) >= MIN_LINES:
                    yield pytest.param(module, cell, id=f"{module.number}-cell{index}")


def test_overlap_counts_repeated_lines():
    lesson = "def f(batch):\n    batch['x'] = 1\n    return batch\n"
    assert overlap(lesson, lesson) == 1.0
    assert overlap("def g(batch):\n    batch['y'] = 2  # SOLUTION\n    return batch\n", lesson) == pytest.approx(1 / 3)


@pytest.mark.parametrize(("module", "cell"), list(_exercises()))
def test_exercise_is_no_copy_of_a_lesson_cell(module, cell):
    lesson = _code_cells(module.lesson)
    share, closest = max(((overlap(cell, c), c) for c in lesson), key=lambda t: t[0])
    assert share < LIMIT, (
        f"lab {module.number}'s exercise cell starting {_lines(cell)[0]!r} repeats {share:.0%} of the lesson cell "
        f"starting {_lines(closest)[0]!r}: ask for transfer (other data, another task), not the lesson again"
    )
