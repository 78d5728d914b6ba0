"""Output folders are cleared only when the course made them."""

import pytest

import raycourse
from raycourse.errors import CourseError
from raycourse.outputs import MARKER


def test_output_dir_is_created_and_cleared_on_each_run(course_env, tmp_path):
    course_env.chdir(tmp_path)
    out = raycourse.output_dir("01_ingest_lab")
    assert out == tmp_path / "outputs" / "01_ingest_lab" and (out / MARKER).exists()
    (out / "result.parquet").write_text("old")
    again = raycourse.output_dir("01_ingest_lab")
    assert again == out and not (out / "result.parquet").exists()


def test_output_dir_can_keep_its_contents(course_env, tmp_path):
    course_env.chdir(tmp_path)
    out = raycourse.output_dir("keep")
    (out / "x").write_text("1")
    assert (raycourse.output_dir("keep", clear=False) / "x").read_text() == "1"


def test_a_folder_the_course_did_not_make_is_never_cleared(course_env, tmp_path):
    course_env.chdir(tmp_path)
    mine = tmp_path / "outputs" / "notes"
    mine.mkdir(parents=True)
    (mine / "my_work.txt").write_text("precious")
    with pytest.raises(CourseError, match="was not made by the course") as err:
        raycourse.output_dir("notes")
    assert "Move or rename" in err.value.fix
    assert (mine / "my_work.txt").read_text() == "precious"


def test_shared_storage_root_keeps_notebook_folders_apart(course_env, tmp_path):
    (tmp_path / "labs").mkdir()
    course_env.chdir(tmp_path / "labs")
    course_env.setenv("RAYCOURSE_OUTPUTS", str(tmp_path / "shared"))
    assert raycourse.output_dir("m") == tmp_path / "shared" / "labs" / "m"


@pytest.mark.parametrize("bad", ["", "../up", "a/b", ".hidden"])
def test_output_dir_rejects_paths(course_env, tmp_path, bad):
    course_env.chdir(tmp_path)
    with pytest.raises(ValueError):
        raycourse.output_dir(bad)
