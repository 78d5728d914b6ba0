"""The README and the instructor's guide stay true: links resolve, the schedule uses the notebooks' own times."""

import re
from pathlib import Path

import pytest

from raycourse import catalogue

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDE = ROOT / "docs" / "instructor.md"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        assert (doc.parent / target.split("#")[0]).exists(), f"{doc.name}: broken link {target}"


def _estimated_minutes(path: Path) -> int:
    return int(re.search(r"Estimated time:\*\* (\d+) minutes", path.read_text()).group(1))


def test_the_schedule_gives_each_module_the_time_its_notebooks_state():
    guide = GUIDE.read_text()
    for module in catalogue.labs(ROOT):
        number, lesson, lab = module.number, module.lesson, module.lab
        row = re.search(rf"\| {number} [^|]*: lesson (\d+) min, lab (\d+) min", guide)
        assert row, f"module {number} is missing from the schedule"
        assert (int(row.group(1)), int(row.group(2))) == (_estimated_minutes(lesson), _estimated_minutes(lab))


def test_the_guide_has_a_measured_time_for_every_lesson_and_solved_lab():
    guide = GUIDE.read_text()
    for module in catalogue.modules(ROOT):
        assert re.search(rf"\| {module.number} [^|\n]*\| [\d.]+ s / [\d.]+ s \|", guide), module.name


def test_the_docs_show_both_grading_commands_with_the_graders_time_limit():
    from raycourse import grading

    readme, guide = (ROOT / "README.md").read_text(), GUIDE.read_text()
    assert "python -m raycourse grade labs/" in readme and "make grade" in readme
    assert "python -m raycourse grade-class " in guide
    assert "Grading runs your notebook's code" in readme and "Grading runs the learners' code" in guide
    for doc in (readme, guide):
        assert f"at most {grading.DEFAULT_TIMEOUT} s" in doc


GUIDES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", GUIDE]


def test_the_changelog_exists_and_the_guides_cite_no_issue_numbers():
    """History (earlier figures, issue numbers) lives in CHANGELOG.md; the guides say what is true today."""
    assert (ROOT / "CHANGELOG.md").is_file()
    for doc in GUIDES:
        found = re.findall(r"\bissues? \d+", doc.read_text(), flags=re.IGNORECASE)
        assert not found, f"{doc.name} cites {found}: move that history to CHANGELOG.md"


def test_readme_says_what_ran_where_for_every_module():
    """One row per module (or group of modules), five cells each: a date with a machine, or a stated 'never'/reason."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### What has been run where", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if re.match(r"\| \d\d", line)]
    covered = {n for row in rows for n in re.findall(r"\b(\d\d)\b", row.split("|")[1])}
    modules = {m.number for m in catalogue.modules(ROOT)}
    assert covered == modules, (
        f"modules without a row: {sorted(modules - covered)}; rows for none: {sorted(covered - modules)}"
    )
    machine = re.compile(r"H100|H200|cores|no model|no GPU stage|never")
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")][1:]
        assert len(cells) == 5, row
        for cell in cells:
            assert re.search(r"\d{4}-\d\d-\d\d", cell) or re.search(r"never|no model|no GPU stage", cell), (row, cell)
            assert machine.search(cell), f"{row}: {cell!r} names no machine"
