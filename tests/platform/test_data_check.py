"""Bad data gets one message naming the file (and the line) and what to do, before Ray's reader fails on it.

Every test breaks a temporary copy of ``data/`` (``RAYCOURSE_DATA``), never the repository's own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import raycourse
from raycourse import data
from raycourse.errors import CourseError

ROOT = Path(__file__).resolve().parents[2]
REVIEWS = "text/reviews.jsonl"
IMAGE = "images/train/stripes_vertical/stripes_vertical_train_001.png"


@pytest.fixture
def data_copy(course_env, tmp_path):
    """A copy of data/ that the course reads instead (RAYCOURSE_DATA)."""
    copy = tmp_path / "data"
    shutil.copytree(data.data_root(), copy)
    course_env.setenv(data.DATA_ENV, str(copy))
    return copy


def _break_line(path: Path, number: int) -> str:
    """Cut the end off line ``number`` (1-based) of a JSON-lines file, as an interrupted copy would."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = lines[number - 1][:-5]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines[number - 1]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])  # a download cut short: the header is there, the pixels are not


def _cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raycourse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_the_shipped_data_reads_without_a_problem(course_env):
    assert data.check_data() >= 300  # every image, table and JSON-lines file of data/
    for role in data.DATA_ROLES:
        raycourse.data_path(role)


def test_the_readers_file_types_are_ray_s():
    """What the check reads in a folder is what Ray 2.60's readers take from it."""
    from ray.data._internal.datasource.image_datasource import ImageDatasource
    from ray.data._internal.datasource.json_datasource import JSON_FILE_EXTENSIONS

    assert data.IMAGE_SUFFIXES == tuple(f".{e}" for e in ImageDatasource._FILE_EXTENSIONS)
    assert set(data.JSON_SUFFIXES) == {f".{e}" for e in JSON_FILE_EXTENSIONS if "." not in e}
    from ray.data._internal.datasource.audio_datasource import AudioDatasource

    assert data.AUDIO_SUFFIXES == tuple(f".{e}" for e in AudioDatasource._FILE_EXTENSIONS)
    from ray.data._internal.datasource.parquet_datasource import PARQUET_FILE_EXTENSIONS

    assert data.PARQUET_SUFFIXES == tuple(f".{e}" for e in PARQUET_FILE_EXTENSIONS)


def test_a_cut_off_audio_clip_is_named(data_copy):
    (data_copy / "audio" / "5.wav").write_bytes((data_copy / "audio" / "5.wav").read_bytes()[:30])  # half a header
    with pytest.raises(CourseError) as err:
        raycourse.data_path("speech")
    assert "5.wav" in str(err.value) and "does not decode as audio" in str(err.value)


def test_a_cut_off_video_and_an_empty_video_folder_are_named(data_copy):
    clip = data_copy / "video" / "06.mp4"
    clip.write_bytes(clip.read_bytes()[:2000])  # the first frames only, no index
    with pytest.raises(CourseError) as err:
        raycourse.data_path("videos")
    assert "06.mp4" in str(err.value) and "does not decode as a video" in str(err.value)
    for video in (data_copy / "video").iterdir():
        video.unlink()
    with pytest.raises(CourseError) as err:
        raycourse.data_path("videos")
    assert "a folder with no videos in it (read_videos would find none)" in str(err.value)


def test_a_bad_json_line_is_named_by_file_and_line(data_copy):
    _break_line(data_copy / REVIEWS, 17)
    with pytest.raises(CourseError) as err:
        raycourse.data_path("text")
    message = str(err.value)
    assert f"{data_copy / REVIEWS}, line 17: not valid JSON" in message
    assert "line 2" not in message and message.count(", line ") == 1  # the real line, and only the broken one
    assert "read_text" in err.value.fix and "git checkout" in err.value.fix  # how to keep the good rows; restore
    raycourse.data_path("ratings")  # the other files are fine
    assert Path(raycourse.data_path("text", check=False)) == data_copy / REVIEWS


def test_json_lines_that_are_not_rows_or_not_text(data_copy):
    path = data_copy / REVIEWS
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_bytes(("\n".join(lines[:4] + ["[1, 2]"] + lines[4:9]) + "\n").encode() + b'{"text": "caf\xe9"}\n')
    problems = data.check_files([path])
    assert [(p.line, p.what.split(" (")[0].split(",")[0]) for p in problems] == [
        (5, "a JSON list"),
        (11, "not UTF-8 text"),
    ]


def _retype(path: Path, number: int, field: str, value) -> None:
    """Give the field of line ``number`` (1-based) another JSON type, as a hand edit or another tool's export would."""
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[number - 1])
    row[field] = value
    lines[number - 1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_json_field_of_another_type_is_named_by_file_and_line(data_copy):
    """A `stars` written as a string: Ray's read_json (pyarrow) fails on the whole file with a long traceback."""
    path = data_copy / "text" / "ratings.jsonl"
    _retype(path, 10, "stars", "4")
    with pytest.raises(CourseError) as err:
        raycourse.data_path("ratings")
    assert err.value.problem.splitlines()[1:] == [
        f"    {path}, line 10: the field 'stars' is a string (\"4\") where line 1 has a number: read_json needs one "
        "type per field"
    ]
    assert "read_text" in err.value.fix
    with pytest.raises(CourseError, match="line 10: the field 'stars'"):
        data.check_data()
    _retype(path, 10, "stars", None)  # a missing value reads (as null), and an integer or a float is a number
    _retype(path, 11, "stars", 4.5)
    raycourse.data_path("ratings")


def test_nested_fields_and_blank_files_are_named(data_copy):
    path = data_copy / "video_changes.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[2])
    row["before"]["colours"] = [1]
    path.write_text("\n".join(lines[:2] + [json.dumps(row)] + lines[3:]) + "\n", encoding="utf-8")
    assert [(p.line, p.what.split(" (")[0]) for p in data.check_files([path])] == [
        (3, "the field 'before/colours[]' is a number")
    ]
    path.write_text("\n\n", encoding="utf-8")
    assert [p.what for p in data.check_files([path])] == ["no rows, only blank lines (read_json would give no rows)"]
    path.write_text('{"id": 1}\n{"id": 2, "id": 3}\n', encoding="utf-8")  # what only Ray's reader (pyarrow) minds
    assert [p.what for p in data.check_files([path])] == [
        "does not read as JSON lines (JSON parse error: Column(/id) was specified twice in row 1)"
    ]


def test_a_table_with_only_its_header_is_named(data_copy):
    """read_csv gives 0 rows from it, without a word."""
    (data_copy / "outfits.csv").write_text("id,outfit\n", encoding="utf-8")
    with pytest.raises(CourseError) as err:
        raycourse.data_path("outfits")
    assert (
        f"{data_copy / 'outfits.csv'}, line 1: only a header line (id, outfit), no rows: read_csv would give 0 rows"
        in (err.value.problem)
    )
    (data_copy / "outfits.csv").write_text("id,outfit\n1,a scarf\n", encoding="utf-8")
    raycourse.data_path("outfits")  # one row is a table


def test_check_data_reads_parquet_files(data_copy):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = data.check_data()
    pq.write_table(pa.table({"id": [1, 2], "stars": [4, 5]}), data_copy / "text" / "scores.parquet")
    assert data.check_data() == files + 1
    broken = data_copy / "text" / "broken.parquet"
    broken.write_bytes((data_copy / "text" / "scores.parquet").read_bytes()[:-40])  # a copy cut short
    with pytest.raises(CourseError) as err:
        data.check_data()
    assert err.value.problem.splitlines()[1:] == [
        f"    {broken}: does not read as Parquet (ArrowInvalid: Could not open Parquet input source '{broken}': "
        "Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.)"
    ]


def test_a_corrupt_image_is_named(data_copy):
    _truncate(data_copy / IMAGE)
    with pytest.raises(CourseError) as err:
        raycourse.data_path("images_train")
    assert f"{data_copy / IMAGE}: does not decode as an image" in str(err.value)
    assert "max_errored_blocks" in err.value.fix and "override_num_blocks" in err.value.fix
    raycourse.data_path("images_val")  # another folder: fine


def test_check_data_lists_every_problem_in_one_message(data_copy):
    _truncate(data_copy / IMAGE)
    _break_line(data_copy / "text" / "ratings.jsonl", 40)
    (data_copy / "outfits.csv").write_text("id,outfit\n1,a scarf\n2,a hat,extra\n", encoding="utf-8")
    (data_copy / "products" / "05.png").unlink()  # listed in the manifest
    with pytest.raises(CourseError) as err:
        data.check_data()
    lines = err.value.problem.splitlines()[1:]
    assert lines == [
        f"    {data_copy}/products/05.png: missing",
        f"    {data_copy}/{IMAGE}: does not decode as an image (OSError: image file is truncated)",
        f"    {data_copy}/outfits.csv, line 3: 3 fields where the header has 2",
        lines[3],
    ]
    assert lines[3].startswith(f"    {data_copy}/text/ratings.jsonl, line 40: not valid JSON")


def test_a_folder_without_images_is_named(data_copy):
    folder = data_copy / "images" / "val" / "stripes_horizontal"
    for image in folder.iterdir():
        image.unlink()
    with pytest.raises(CourseError) as err:
        raycourse.data_path("images_val")
    assert f"{folder}: a folder with no images in it" in err.value.problem
    with pytest.raises(CourseError) as err:  # the whole folder's check: the folder, then its 20 missing files
        data.check_data()
    assert f"{folder}: a folder with no images in it" in err.value.problem
    assert "... and 13 more" in err.value.problem


def test_the_repository_s_own_data_is_shown_as_data_with_git_checkout(course_env, tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.data_root(), copy)
    monkeypatch.setattr(data, "_REPO_DATA", copy.resolve())  # as if the copy were the repository's data/
    _break_line(copy / REVIEWS, 3)
    with pytest.raises(CourseError) as err:
        data.check_data()
    assert "    data/text/reviews.jsonl, line 3: not valid JSON" in err.value.problem
    assert "`git checkout -- data/text/reviews.jsonl`" in err.value.fix and "make_data.py" in err.value.fix


def test_a_missing_data_folder_says_what_to_do(course_env, tmp_path, monkeypatch):
    course_env.setenv(data.DATA_ENV, str(tmp_path / "absent"))
    with pytest.raises(CourseError, match="absent does not exist") as err:
        raycourse.data_path("text")
    assert data.DATA_ENV in err.value.fix
    course_env.delenv(data.DATA_ENV)
    monkeypatch.setattr(data, "_REPO_DATA", tmp_path / "data")  # the repository's data/ deleted
    with pytest.raises(CourseError, match="does not exist") as err:
        raycourse.data_path("images_train")
    assert "git checkout -- data/" in err.value.fix and data.DATA_ENV not in err.value.fix


def test_a_missing_class_folder_is_named(data_copy):
    shutil.rmtree(data_copy / "images" / "val" / "stripes_vertical")
    with pytest.raises(CourseError, match="Missing course data file: .*stripes_vertical") as err:
        raycourse.data_path("images_val")
    assert "make_data.py" in err.value.fix


def test_the_command_gives_one_message_not_a_traceback(data_copy):
    ok = _cli("check-data", env={data.DATA_ENV: str(ROOT / "data")})
    assert ok.returncode == 0 and "none that Ray's readers would fail on" in ok.stdout, ok.stderr
    _break_line(data_copy / REVIEWS, 17)
    bad = _cli("check-data", env={data.DATA_ENV: str(data_copy)})
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ") and f"{data_copy / REVIEWS}, line 17" in bad.stderr
    missing = _cli("check-data", env={data.DATA_ENV: str(data_copy / "absent")})
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and "does not exist" in missing.stderr


@pytest.mark.parametrize("command", [["check-data"], ["info"], ["lab", "--no-browser"]])
def test_a_wrong_profile_name_gives_one_message(command):
    result = _cli(*command, env={"RAYCOURSE_PROFILE": "gpux"})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "Unknown profile 'gpux' in RAYCOURSE_PROFILE" in result.stderr and "What to do: Set" in result.stderr
    assert "Starting Ray" not in result.stdout  # nothing started before the profile was known to be wrong


def test_the_message_s_ways_to_keep_reading_work_in_ray(data_copy, ray_session):
    """What the fix says about keeping the good rows is true of Ray 2.60."""
    import ray

    folder = data_copy / "images" / "val" / "stripes_vertical"
    files = sorted(str(p) for p in folder.iterdir())
    broken = str(folder / "stripes_vertical_val_001.png")
    _truncate(Path(broken))
    with pytest.raises(Exception, match="truncated"):
        ray.data.read_images(str(folder)).materialize()
    good = [f for f in files if f != broken]
    assert ray.data.read_images(good).materialize().count() == len(good)
    context = ray.data.DataContext.get_current()
    saved = context.max_errored_blocks
    context.max_errored_blocks = 1
    try:
        kept = ray.data.read_images(str(folder), override_num_blocks=len(files)).materialize().count()
    finally:
        context.max_errored_blocks = saved
    assert kept == len(good)

    path = data_copy / REVIEWS
    _break_line(path, 17)
    with pytest.raises(Exception, match="JSONDecodeError|Unterminated"):
        ray.data.read_json(str(path)).materialize()

    def parse(row):
        try:
            return [json.loads(row["text"])]
        except json.JSONDecodeError:
            return []

    rows = ray.data.read_text(str(path)).flat_map(parse).take_all()
    assert sorted(r["id"] for r in rows) == [i for i in range(1, 61) if i != 17]

    # A field of two types: pyarrow refuses the file, and Ray's fallback (json.load of the whole file) fails on its
    # second line, saying nothing of the field: the check names both.
    ratings = data_copy / "text" / "ratings.jsonl"
    _retype(ratings, 10, "stars", "4")
    with pytest.raises(Exception, match="Extra data: line 2 column 1"):
        ray.data.read_json(str(ratings)).materialize()
    assert len(ray.data.read_text(str(ratings)).flat_map(parse).take_all()) == 96  # the way round it
