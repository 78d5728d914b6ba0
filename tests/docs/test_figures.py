"""The lessons' figures (notebooks/figures/): current, referenced, and each reference resolves.

The diagrams are drawn by tools/figures.py (``make figures``), byte for byte the same on every run; the
dashboard screenshots come from a real run (tools/capture_dashboard.py) and are held to existing and being used.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "notebooks" / "figures"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_SVG_BYTES = 40_000
MAX_PNG_BYTES = 150_000


def _load():
    spec = importlib.util.spec_from_file_location("course_figures", ROOT / "tools" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


figures = _load()


@pytest.fixture(scope="module")
def refs():
    return figures.references(LESSONS)


def test_every_stored_diagram_is_what_make_figures_draws():
    assert figures.stale(FIGURES) == []


def test_a_changed_drawing_or_a_missing_file_is_reported(tmp_path, monkeypatch):
    copy = tmp_path / "figures"
    shutil.copytree(FIGURES, copy)
    (copy / "02_hash_join.svg").unlink()
    (copy / "99_orphan.svg").write_text("<svg/>")
    draw = figures.FIGURES_BY_NAME["01_blocks"]

    def changed():
        d = draw()
        d.text(5, 5, "an edit")
        return d

    monkeypatch.setitem(figures.FIGURES_BY_NAME, "01_blocks", changed)
    found = figures.stale(copy)
    assert any(p.startswith("01_blocks.svg: stale") for p in found), found
    assert any(p.startswith("02_hash_join.svg: missing") for p in found), found
    assert any(p.startswith("99_orphan.svg: no function") for p in found), found


def test_every_lesson_01_to_08_shows_a_diagram(refs):
    shown = {path.name[:2] for path, _, target in refs if target.endswith(".svg")}
    assert {f"{n:02d}" for n in range(1, 9)} <= shown, sorted(shown)


def test_every_image_reference_resolves_and_has_alt_text(refs):
    assert refs, "no lesson references a figure"
    for path, alt, target in refs:
        assert not target.startswith(("http:", "https:", "/")), f"{path.name}: {target} is not a relative path"
        assert (path.parent / target).is_file(), f"{path.name}: {target} does not exist"
        assert len(alt.split()) >= 4, f"{path.name}: {target} needs alt text that says what it shows: {alt!r}"


def test_every_stored_figure_is_shown_by_a_lesson(refs):
    shown = {(path.parent / target).resolve() for path, _, target in refs}
    unused = [p.name for p in sorted(FIGURES.iterdir()) if p.resolve() not in shown]
    assert not unused, f"in notebooks/figures/ but in no lesson's markdown: {unused}"


def test_the_lessons_that_send_the_learner_to_the_dashboard_show_it(refs):
    shown = {path.name[:2] for path, _, target in refs if Path(target).name.startswith(figures.SCREENSHOT_PREFIX)}
    assert {"00", "03", "04", "05", "06", "08"} <= shown, sorted(shown)


def test_figures_are_small():
    for path in sorted(FIGURES.iterdir()):
        limit = MAX_SVG_BYTES if path.suffix == ".svg" else MAX_PNG_BYTES
        assert path.suffix in (".svg", ".png"), f"{path.name}: only SVG diagrams and PNG screenshots belong here"
        assert path.stat().st_size <= limit, f"{path.name}: {path.stat().st_size} bytes, more than {limit}"
    screenshots = [p for p in FIGURES.glob("*.png")]
    assert all(p.name.startswith(figures.SCREENSHOT_PREFIX) for p in screenshots), screenshots
