"""reset-lab: a fresh lab, the learner's copy kept in my-work/, nothing overwritten."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raycourse import labreset
from raycourse.authoring import labs
from raycourse.errors import CourseError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path):
    for folder in ("labs", "solutions"):
        (tmp_path / folder).mkdir()
        for name in ("01_ingest_and_transform_lab.ipynb", "03_image_generation_lab.ipynb"):
            shutil.copy(ROOT / folder / name, tmp_path / folder / name)
    return tmp_path


def test_reset_keeps_every_learner_copy_and_writes_the_fresh_lab(course):
    lab = course / "labs" / "03_image_generation_lab.ipynb"
    fresh = labs.expected_lab_text(course / "solutions" / lab.name)
    assert labreset.reset_lab("03", course) == (lab, None)  # already fresh: nothing moves
    assert not (course / "my-work").exists()
    for attempt in (1, 2):
        lab.write_text(fresh.replace("...", f"answer_{attempt}", 1))  # the learner's answers
        mine = lab.read_text()
        assert labreset.reset_lab("3", course) == (lab, course / "my-work" / f"03_image_generation_lab.{attempt}.ipynb")
        assert (course / "my-work" / f"03_image_generation_lab.{attempt}.ipynb").read_text() == mine
        assert lab.read_text() == fresh
    lab.unlink()  # deleted by mistake: it comes back
    assert labreset.reset_lab("03_image_generation_lab.ipynb", course) == (lab, None)
    assert lab.read_text() == fresh


def test_an_unknown_lab_is_a_clear_error(course):
    with pytest.raises(CourseError, match="(?s)There is no lab '09'.*01_ingest_and_transform_lab.ipynb"):
        labreset.reset_lab("09", course)


def test_the_command_says_where_the_work_went():
    run = subprocess.run(
        [sys.executable, "-m", "raycourse", "reset-lab", "01"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert "labs/01_ingest_and_transform_lab.ipynb is already as the course ships it" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "raycourse", "reset-lab", "99"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and "There is no lab '99'" in bad.stderr and "What to do" in bad.stderr
