"""The README and the guides stay true and short: links resolve, the schedule uses the notebooks' own times, each
page stays within its word count and each CHANGELOG entry within three lines."""

import re
import shutil
from pathlib import Path

import pytest

from raycourse import catalogue

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
WORKSHOP = ROOT / "docs" / "workshop.md"  # the schedules
MEASURED = ROOT / "docs" / "measured.md"  # what ran where, and how long
LEARNER = ROOT / "docs" / "learner.md"  # a learner's own grading
GRADING = ROOT / "docs" / "grading.md"  # grading a class


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if "://" in target or target.startswith(("#", "mailto:")):
            continue
        assert (doc.parent / target.split("#")[0]).exists(), f"{doc.name}: broken link {target}"


def _estimated_minutes(path: Path) -> int:
    return int(re.search(r"Estimated time:\*\* (\d+) minutes", path.read_text()).group(1))


def test_the_schedule_gives_each_module_the_time_its_notebooks_state():
    guide = WORKSHOP.read_text()
    for module in catalogue.labs(ROOT):
        number, lesson, lab = module.number, module.lesson, module.lab
        row = re.search(rf"\| {number} [^|]*: lesson (\d+) min, lab (\d+) min", guide)
        assert row, f"module {number} is missing from the schedule"
        assert (int(row.group(1)), int(row.group(2))) == (_estimated_minutes(lesson), _estimated_minutes(lab))


def test_the_guide_has_a_measured_time_for_every_lesson_and_solved_lab():
    """From `make soak`, or (a module newer than the last soak) said to be not measured yet."""
    guide = MEASURED.read_text()
    for module in catalogue.modules(ROOT):
        assert re.search(rf"\| {module.number} [^|\n]*\| ([\d.]+ s / [\d.]+ s|not measured yet) \|", guide), module.name


def test_the_tables_of_modules_are_generated_from_the_modules_facts():
    """README's modules, the schedules, the GPU table, what ran where and the run times: each row from the module's
    facts file (modules/NN_slug.toml), so that a new module's rows need no hand edit."""
    from raycourse.authoring import tables

    stale = [str(p.relative_to(ROOT)) for p in tables.stale(ROOT)]
    assert not stale, f"{stale} differ from the modules' facts: run python -m raycourse.authoring.tables"
    assert "| 03 | [Batch image generation](notebooks/03_image_generation.ipynb) |" in (ROOT / "README.md").read_text()


def test_every_exercise_lists_the_requirements_its_check_judges():
    """Each lab's check tests list, per exercise, what the text requires and what breaks it (docs/checks.md's table)."""
    from raycourse.authoring import requirements

    found = [p for module in catalogue.labs(ROOT) for p in requirements.problems(module)]
    assert not found, "\n".join(found)


def test_a_missing_or_misnumbered_requirement_list_is_found(tmp_path):
    from raycourse.authoring import requirements

    tests_file = tmp_path / "test_checks_lab99.py"
    tests_file.write_text(
        "# Exercise 1 requires:\n#   R1 a Dataset: test_a\n#   R3 (probe) at least 30,\n#      30 included: [29]\n"
        "def test_a():\n    pass\n"
    )
    found = requirements.listed(tests_file)
    assert [(r.number, r.probe, r.text) for r in found["1"]] == [
        (1, False, "a Dataset: test_a"),
        (3, True, "at least 30, 30 included: [29]"),
    ]
    assert "stretch" not in found


def test_readmes_pictures_are_the_lessons_stored_outputs_and_a_stale_one_is_found(tmp_path):
    """README's gallery (raycourse/authoring/gallery.py): each picture is the stored image of its lesson's cell, as a
    file README shows; a picture changed or left over after a lesson is recorded again is stale."""
    from raycourse.authoring import gallery

    pictures = gallery.files(ROOT)
    readme = (ROOT / "README.md").read_text()
    assert len(pictures) == len(gallery.PICTURES) >= 6
    for path, data in pictures.items():
        assert path.read_bytes() == data and f"]({path.relative_to(ROOT).as_posix()})" in readme, path
    for folder in ("modules", "notebooks"):  # a copy of the course whose pictures went stale
        (tmp_path / folder).symlink_to(ROOT / folder)
    shutil.copytree(ROOT / gallery.FOLDER, tmp_path / gallery.FOLDER)
    changed = tmp_path / gallery.FOLDER / next(iter(pictures)).name
    changed.write_bytes(changed.read_bytes() + b"\0")
    (tmp_path / gallery.FOLDER / "old.png").write_bytes(b"")
    assert sorted(p.name for p in gallery.stale(tmp_path)) == sorted([changed.name, "old.png"])
    gallery.write(tmp_path)
    assert gallery.stale(tmp_path) == []


def test_the_docs_show_both_grading_commands_with_the_graders_time_limit():
    from raycourse import grading

    learner, guide = LEARNER.read_text(), GRADING.read_text()
    assert "python -m raycourse grade labs/" in learner and "make grade" in learner
    assert "python -m raycourse grade-class " in guide
    assert "Grading runs your notebook's code" in learner and "Grading runs the learners' code" in guide
    for doc in (learner, guide):
        assert f"at most {grading.DEFAULT_TIMEOUT} s" in doc
    readme = (ROOT / "README.md").read_text()  # the README sends each reader there
    assert "(docs/learner.md)" in readme and "(docs/grading.md)" in readme


GUIDES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_changelog_exists_and_the_guides_cite_no_issue_numbers():
    """History (earlier figures, issue numbers) lives in CHANGELOG.md; the guides say what is true today."""
    assert (ROOT / "CHANGELOG.md").is_file()
    for doc in GUIDES:
        found = re.findall(r"\bissues? \d+", doc.read_text(), flags=re.IGNORECASE)
        assert not found, f"{doc.name} cites {found}: move that history to CHANGELOG.md"


def test_the_status_page_says_what_ran_where_for_every_module():
    """One row per module (or group of modules), five cells each: a date with a machine, or a stated 'never'/reason.
    The table lives in docs/measured.md alone; README links to it."""
    assert "(docs/measured.md)" in (ROOT / "README.md").read_text()
    section = MEASURED.read_text().split("## What has been run where", 1)[1].split("\n#", 1)[0]
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


# Short pages, by reader: README is the way in, each guide one topic, the CHANGELOG what changed for a user.
README_WORDS, PAGE_WORDS, ENTRY_LINES, WIDTH = 1000, 2500, 3, 120


def _words(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").split())  # as `wc -w` counts


def test_the_readme_is_short():
    words = _words(ROOT / "README.md")
    assert words <= README_WORDS, f"README.md has {words} words (at most {README_WORDS}): move the rest into docs/"


@pytest.mark.parametrize(
    "page", [ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_every_guide_page_is_short(page):
    """Every page of docs/ (the generated status page too) and CONTRIBUTING.md: at most 2,500 words."""
    words = _words(page)
    assert words <= PAGE_WORDS, f"{page.name} has {words} words (at most {PAGE_WORDS}): split it by topic"


def _changelog_entries() -> list[list[str]]:
    """Each entry: a top-level `- ` item under a `## ` heading, with its continuation and nested lines."""
    entries: list[list[str]] = []
    for line in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            entries.append([line])
        elif line.startswith(" ") and line.strip() and entries:
            entries[-1].append(line)
        elif not line.strip() or line.startswith("#"):
            continue
        elif entries:  # text after the entries of a date, not indented: it belongs to none
            entries.append([line])
    return entries


def test_every_changelog_entry_is_at_most_three_lines():
    """What changed for a user, in at most three lines of the file's width; investigations go in commit messages."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    wide = [line[:60] for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"lines over {WIDTH} characters: {wide}"
    entries = _changelog_entries()
    assert len(entries) > 10
    long = [entry[0][:80] for entry in entries if len(entry) > ENTRY_LINES]
    assert not long, f"entries over {ENTRY_LINES} lines: {long}"


def test_the_website_places_every_page_of_docs_by_reader():
    """tools/build_site.py's navigation names every page of docs/ in its reader order (a page it does not name would
    still be listed, after the others)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
    build_site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_site)
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    assert set(build_site.GUIDE_ORDER) == pages, (
        pages - set(build_site.GUIDE_ORDER),
        set(build_site.GUIDE_ORDER) - pages,
    )
