"""The course's lesson template: the sections every lesson has, and the links between notebooks.

A lesson (``notebooks/NN_name.ipynb``) has, in this order:

1. a title ``# NN · Title``, a promise ("After this module you will be able to" and a list),
   the prerequisites and the estimated time (``**Prerequisites:**``, ``**Estimated time:** N minutes``), in its
   first three markdown cells;
2. its sections, with two or three ``> **Try it.**`` prompts where the learner predicts or changes
   something;
3. a checked quiz (cells tagged ``quiz-text`` and ``quiz``, see ``raycourse.checks.quiz``);
4. ``## Key concepts and APIs`` and ``**What's next:**``.

``missing_sections`` says what a lesson lacks; ``broken_links`` lists its relative links that point
nowhere. tests/notebooks/test_template.py holds every lesson to both, and ``python -m raycourse.authoring
new-module`` (``scaffold.py``) writes a new module that already has every section.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import notebooks

TRY_IT = "> **Try it.**"
SECTIONS = {
    "title": re.compile(r"\A# \d\d · \S"),
    "promise": re.compile(r"\*\*After this (module|notebook) you will be able to\*\*"),
    "prerequisites": re.compile(r"\*\*Prerequisites:\*\*"),
    "time": re.compile(r"\*\*Estimated time:\*\* \d+ minutes"),
    "key concepts": re.compile(r"^## Key concepts and APIs", re.M),
    "what's next": re.compile(r"\*\*What's next:\*\*"),
}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def missing_sections(nb) -> list[str]:
    """The template's sections that lesson ``nb`` lacks, in the template's order ([] when complete)."""
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    missing = []
    if not markdown or not SECTIONS["title"].search(markdown[0]):
        missing.append("title")
    head = "\n".join(markdown[:3])
    for name in ("promise", "prerequisites", "time"):
        if not SECTIONS[name].search(head):
            missing.append(name)
    tries = sum(s.lstrip().startswith(TRY_IT) for s in markdown)
    if not 2 <= tries <= 3:
        missing.append(f"try-its (2 or 3, found {tries})")
    tags = [set(notebooks.tags(c)) for c in nb.cells]
    if not any("quiz-text" in t for t in tags) or not any("quiz" in t for t in tags):
        missing.append("quiz")
    for name in ("key concepts", "what's next"):
        if not any(SECTIONS[name].search(s) for s in markdown):
            missing.append(name)
    return missing


def broken_links(path: Path) -> list[str]:
    """Relative links in the markdown of notebook ``path`` whose target does not exist."""
    nb = notebooks.read(path)
    broken = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for target in LINK.findall(cell.source):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(target)
    return broken
