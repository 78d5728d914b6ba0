"""The course's prose stays short: a lesson is read in 30-45 minutes, one idea a cell, then its code.

- Every lesson (``notebooks/NN_*.ipynb``, listed by the course catalogue) has at most ``MAX_LESSON_WORDS``
  words of markdown (the capstone, module ``CAPSTONE``, ``MAX_CAPSTONE_WORDS``), counted outside
  ``<details>…</details>`` blocks. A word is a whitespace-separated token.
  What a ``<details>`` block holds (a table of defaults, measured figures, an edge case explained at length) is
  reference material, folded away: a reader opens it on purpose, and reading the lesson does not mean reading it,
  so it is not counted.
- No markdown cell of a lesson has more than ``MAX_CELL_WORDS`` words, its quiz, its tables' rows and its
  ``<details>`` blocks aside: one idea a cell, then its code.
- No markdown cell of a lesson, a solved lab or a lab has more than ``MAX_CELL_LINES`` lines, inside a
  ``<details>`` block or not: a longer cell does more than one thing, and a reader scrolls past it.
- Every ``<details>`` block is closed and has a ``<summary>`` (without one, JupyterLab and GitHub show
  "Details", which tells the reader nothing; an unclosed block folds away the rest of the cell).

Each failure names the notebook, the cell (its index in the notebook's cells), what was counted and the limit.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from raycourse import catalogue

ROOT = catalogue.ROOT
MAX_LESSON_WORDS = 2000
MAX_CAPSTONE_WORDS = 2400
CAPSTONE = "07"  # the multimodal capstone joins every earlier module's stage
MAX_CELL_LINES = 20
MAX_CELL_WORDS = 150

DETAILS = re.compile(r"<details\b[^>]*>.*?</details\s*>", re.S | re.I)
CLOSE = re.compile(r"</details\s*>", re.I)
SUMMARY = re.compile(r"\s*<summary\b[^>]*>.*?</summary\s*>", re.S | re.I)

LESSONS = [m.lesson for m in catalogue.modules()]
NOTEBOOKS = LESSONS + [p for m in catalogue.labs() for p in (m.solution, m.lab)]


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    """(index among all the notebook's cells, source) of each markdown cell."""
    nb = nbformat.read(path, as_version=4)
    return [(i, cell.source) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]


def words_outside_details(text: str) -> int:
    return len(DETAILS.sub(" ", text).split())


def lesson_words(path: Path) -> dict[int, int]:
    """Words outside <details> blocks, per markdown cell (by cell index)."""
    return {i: words_outside_details(source) for i, source in markdown_cells(path)}


def long_cells(path: Path, root: Path = ROOT, limit: int = MAX_CELL_LINES) -> list[str]:
    """A message for each markdown cell of ``path`` over ``limit`` lines, naming the notebook from ``root``."""
    return [
        f"{path.relative_to(root)}: markdown cell {i} has {len(source.splitlines())} lines (at most {limit}): "
        "split it or cut it"
        for i, source in markdown_cells(path)
        if len(source.splitlines()) > limit
    ]


def details_problems(text: str) -> list[str]:
    """What is wrong with the <details> blocks of one markdown cell's ``text`` ([] when nothing)."""
    problems, depth, at = [], 0, 0
    for tag in re.finditer(r"<details\b[^>]*>|</details\s*>", text, re.I):
        if CLOSE.fullmatch(tag.group()):
            if depth == 0:
                problems.append("a </details> closes no <details>")
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if not SUMMARY.match(text, tag.end()):
            problems.append(f"the <details> at character {tag.start()} does not start with a <summary>…</summary>")
        at = tag.start()
    if depth:
        problems.append(f"{depth} <details> not closed (the last at character {at}): add </details>")
    return problems


def test_the_catalogue_lists_the_notebooks():
    """The tests below would pass on no notebook at all."""
    assert len(LESSONS) >= 9 and all(path.is_file() for path in LESSONS), LESSONS
    assert all(path.is_file() for path in NOTEBOOKS), [p for p in NOTEBOOKS if not p.is_file()]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_a_lesson_has_at_most_2000_words_of_markdown_outside_details_the_capstone_2400(lesson):
    limit = MAX_CAPSTONE_WORDS if lesson.name.startswith(CAPSTONE + "_") else MAX_LESSON_WORDS
    words = lesson_words(lesson)
    total = sum(words.values())
    largest = ", ".join(f"cell {i}: {n}" for i, n in sorted(words.items(), key=lambda kv: -kv[1])[:5])
    assert total <= limit, (
        f"{lesson.relative_to(ROOT)} has {total} words of markdown outside <details> (at most {limit}); "
        f"its largest cells: {largest}. Cut, or fold reference material into <details><summary>…</summary>."
    )


def cell_words(text: str) -> int:
    """The words a reader meets in one markdown cell: outside <details> blocks and tables' rows."""
    text = DETAILS.sub(" ", text)
    return len(" ".join(line for line in text.splitlines() if not line.lstrip().startswith("|")).split())


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_no_markdown_cell_of_a_lesson_has_more_than_150_words(lesson):
    long = [
        f"cell {i}: {n} words"
        for i, text in markdown_cells(lesson)
        if not text.lstrip().startswith("## Quiz") and (n := cell_words(text)) > MAX_CELL_WORDS
    ]
    assert not long, f"{lesson.relative_to(ROOT)}: {long} (at most {MAX_CELL_WORDS}): one idea a cell, then its code"


def test_the_word_count_of_a_cell_leaves_out_tables_and_details():
    table = "| a | b |\n| --- | --- |\n" + "| word word |\n" * 200
    folded = "<details><summary>More</summary>\n\n" + "word " * 400 + "\n</details>"
    assert cell_words("Two words\n\n" + table + folded) == 2 and cell_words("word " * 151) == 151


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_markdown_cell_has_more_than_20_lines(notebook):
    found = long_cells(notebook)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_details_block_is_closed_and_has_a_summary(notebook):
    found = [
        f"{notebook.relative_to(ROOT)}: markdown cell {i}: {problem}"
        for i, source in markdown_cells(notebook)
        for problem in details_problems(source)
    ]
    assert not found, "\n".join(found)


# The checks above, on notebooks made to break them: each must fail, and say where.


def _notebook(tmp_path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells += [nbformat.v4.new_markdown_cell(s) for s in sources]
    path = tmp_path / "notebooks" / "99_made_up.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_words_inside_details_are_not_counted_and_words_outside_are(tmp_path):
    folded = "<details><summary>Measured</summary>\n\n" + "word " * 3000 + "\n\n</details>"
    path = _notebook(tmp_path, "one two three", "four five\n\n" + folded + "\n\nsix")
    assert lesson_words(path) == {1: 3, 2: 3}
    assert sum(lesson_words(_notebook(tmp_path, "word " * 2001)).values()) > MAX_LESSON_WORDS


def test_a_long_cell_is_reported_with_its_notebook_index_and_count(tmp_path):
    path = _notebook(tmp_path, "line\n" * 20, "line\n" * 21)
    assert long_cells(path, root=tmp_path) == [
        "notebooks/99_made_up.ipynb: markdown cell 2 has 21 lines (at most 20): split it or cut it"
    ]


def test_an_unclosed_or_unsummarised_details_block_is_reported():
    good = "Text.\n\n<details><summary>More</summary>\n\nMore text.\n\n</details>"
    assert details_problems(good) == []
    assert details_problems("<details>\n<summary>Indented after a newline</summary>\n\nx\n</details>") == []
    assert details_problems("<details><summary>More</summary>\n\nno end") == [
        "1 <details> not closed (the last at character 0): add </details>"
    ]
    assert details_problems("<details>\n\nno summary\n\n</details>") == [
        "the <details> at character 0 does not start with a <summary>…</summary>"
    ]
    assert details_problems("text </details>") == ["a </details> closes no <details>"]
    # an unclosed block is not a way around the word count: only closed blocks are left out
    assert words_outside_details("<details><summary>s</summary> a b c") == 4
