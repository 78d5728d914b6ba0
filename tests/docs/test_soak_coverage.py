"""What `make soak` runs and what the guides say it takes (the soak itself is not run here: see
tests/platform/test_soak.py for its killed-run check)."""

from __future__ import annotations

import re
from pathlib import Path

from raycourse.authoring import soak

ROOT = Path(__file__).resolve().parents[2]
# The soak's duration is a measured figure: stated once among the docs (docs/measured.md, which the other guides link
# to) and in the Makefile's comment; any other doc that states one states the same.
GUIDES = ("docs/measured.md", "Makefile")
DOCS = ("README.md", "CONTRIBUTING.md", *(p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "docs").glob("*.md"))))


def test_the_soak_runs_every_module_s_lesson_and_solved_lab():
    paths = [p.relative_to(ROOT).as_posix() for p in soak.course_paths()]
    lessons = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    labs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "solutions").glob("[0-9][0-9]_*_lab.ipynb"))
    assert paths == lessons + labs
    modules = {Path(p).name[:2] for p in lessons}
    assert {f"{m:02d}" for m in range(9)} <= modules  # 00-08 at least, and whatever module comes next
    assert {Path(p).name[:2] for p in labs} == modules - {"00"}  # every module but 00 has a solved lab
    assert soak.ABANDONED in paths


def test_every_guide_gives_the_soak_the_same_duration():
    said = {}
    for name in dict.fromkeys(GUIDES + DOCS):
        text = (ROOT / name).read_text(encoding="utf-8")
        if name == "Makefile":  # the comment above the target
            text = "soak " + text.split("\nsoak:")[0].rsplit("\n\n", 1)[-1].replace("#", "")
        said[name] = re.findall(r"soak[^.]{0,80}?about (\d+) min", re.sub(r"\s+", " ", text))
    assert all(said[name] for name in GUIDES), said  # each of GUIDES says it
    assert len({minutes for found in said.values() for minutes in found}) == 1, said
