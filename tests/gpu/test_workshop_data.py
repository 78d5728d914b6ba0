"""The gpu profile's data sets drawn locally at workshop scale (raycourse.data.workshop, `make-data`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from raycourse import data
from raycourse.data import workshop as workshop_data
from raycourse.__main__ import main
from raycourse.errors import CourseError
from raycourse.world import OUTFITS

SCALE = 0.005  # 5 or 6 photos per imagenette class and split, one per doggos breed: 64 photos


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("workshop")
    return out, workshop_data.generate(out, SCALE, jobs=1)


def test_the_same_scale_gives_the_same_bytes_whatever_the_processes(drawn, tmp_path):
    out, manifest = drawn
    again = workshop_data.generate(tmp_path, SCALE, jobs=2)
    assert again == manifest
    for rel in manifest["files"]:
        assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes(), rel
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_the_counts_are_the_real_ones_times_the_scale(drawn):
    out, manifest = drawn
    assert manifest["images"] == len(workshop_data.plan(SCALE))
    for split, classes in workshop_data.IMAGENETTE_COUNTS.items():
        for wnid, n in classes.items():
            folder = out / "air-example-data-2" / "imagenette2" / split / wnid
            assert len(list(folder.iterdir())) == round(n * SCALE) == manifest["counts"][str(folder.relative_to(out))]
    breeds = sorted(p.name for p in (out / "doggos-dataset" / "train").iterdir())
    assert breeds == sorted(workshop_data.DOGGOS_BREEDS)
    # at scale 1: every photo of the two data sets
    assert (
        len(workshop_data.plan(1.0))
        == sum(sum(c.values()) for c in workshop_data.IMAGENETTE_COUNTS.values())
        + len(workshop_data.DOGGOS_BREEDS) * workshop_data.DOGGOS_PER_BREED
        == 6930
    )


def test_the_photos_are_rgb_jpegs_of_photo_size_with_the_pattern_of_their_class(drawn):
    out, manifest = drawn
    root = out / "air-example-data-2" / "imagenette2" / "train"
    for wnid, pattern in workshop_data.IMAGENETTE_PATTERN.items():
        for path in sorted((root / wnid).iterdir()):
            with Image.open(path) as img:
                assert img.format == "JPEG" and img.mode == "RGB"
                assert img.size in workshop_data.PHOTO_SIZES
                gray = np.asarray(img.convert("L"), dtype=np.float32)
            # stripes change along one axis only: horizontal ones down the rows, vertical ones along them
            along_rows, down_cols = np.abs(np.diff(gray, axis=1)).mean(), np.abs(np.diff(gray, axis=0)).mean()
            if pattern == "horizontal":
                assert down_cols > along_rows, path
            elif pattern == "vertical":
                assert along_rows > down_cols, path


def test_the_reviews_have_the_columns_module_07_reads(drawn):
    out, manifest = drawn
    rows = [json.loads(line) for line in (out / "text" / "reviews.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["counts"]["text/reviews.jsonl"] == round(workshop_data.N_REVIEWS * SCALE)
    shipped = json.loads((data.data_root() / "text" / "reviews.jsonl").read_text().splitlines()[0])
    assert all(set(r) == set(shipped) for r in rows)
    assert {r["product"] for r in rows} <= {o for _, o in OUTFITS}  # each joins a product photo, as in module 07
    assert {r["label"] for r in rows} == {"positive", "negative"}


def test_data_path_reads_the_local_copy_in_the_gpu_profile_only(drawn, course_env):
    out, _ = drawn
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    assert data.data_path("images_train")[0].startswith("s3://")  # without the variable: S3, as before
    course_env.setenv("RAYCOURSE_GPU_DATA", str(out))
    assert data.data_path("images_train") == [
        str(out / "air-example-data-2/imagenette2/train/n02102040"),
        str(out / "air-example-data-2/imagenette2/train/n01440764"),
    ]
    assert data.data_path("images_val_3")[2] == str(out / "air-example-data-2/imagenette2/val/n03888605")
    assert data.data_path("embedding_images") == str(out / "doggos-dataset/train")
    assert data.data_path("text") == str(out / "text/reviews.jsonl")  # the copy has its own reviews
    assert data.data_path("ratings") == str(data.data_root() / "text/ratings.jsonl")  # the course's, as before
    assert data.data_path("labels") == str(data.data_root() / "gpu/imagenette_labels.csv")
    course_env.setenv("RAYCOURSE_PROFILE", "tiny")  # tiny reads data/ whatever the variable says
    assert data.data_path("images_train")[0] == str(data.data_root() / "images/train/stripes_horizontal")
    assert data.data_path("text") == str(data.data_root() / "text/reviews.jsonl")


def test_a_missing_copy_says_how_to_draw_it(course_env, tmp_path):
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setenv("RAYCOURSE_GPU_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(CourseError, match="not a folder") as err:
        data.data_path("images_train")
    assert "make-data --out" in err.value.fix
    course_env.setenv("RAYCOURSE_GPU_DATA", str(tmp_path))
    with pytest.raises(CourseError, match="embedding_images") as err:
        data.data_path("embedding_images")
    assert "make-data --out" in err.value.fix


def test_ray_reads_the_photos_as_the_lessons_do(drawn, course_env, ray_session):
    import ray

    out, _ = drawn
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setenv("RAYCOURSE_GPU_DATA", str(out))
    images = ray.data.read_images(data.data_path("embedding_images"), include_paths=True, mode="RGB")
    rows = images.take_all()
    assert len(rows) == len(workshop_data.DOGGOS_BREEDS)
    assert {r["path"].rsplit("/", 2)[-2] for r in rows} == set(workshop_data.DOGGOS_BREEDS)
    assert all(r["image"].ndim == 3 and r["image"].shape[-1] == 3 for r in rows)
    reviews = ray.data.read_json(data.data_path("text"))
    assert reviews.count() == round(workshop_data.N_REVIEWS * SCALE)


def test_the_command_line_draws_and_refuses_a_bad_scale(tmp_path, capsys):
    assert main(["make-data", "--out", str(tmp_path), "--scale", "0.001", "--jobs", "1"]) == 0
    assert "RAYCOURSE_GPU_DATA=" in capsys.readouterr().out
    assert (tmp_path / "doggos-dataset" / "train" / "pug").is_dir()
    assert main(["make-data", "--out", str(tmp_path), "--scale", "0"]) == 1
    assert "fraction above 0" in capsys.readouterr().err
