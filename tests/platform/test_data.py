"""Checks of the bundled sample data under ``data/`` (the ``tiny`` profile).

Fast and Ray-free: the files match ``data/manifest.json``, the generator
``tools/make_data.py`` reproduces them byte for byte, and their content has the
shape the course relies on.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from raycourse.world import speech as world_speech

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
GENERATOR = ROOT / "tools" / "make_data.py"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_data", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    _load_generator().generate(out)
    return out


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _image_files(split: str, cls: str) -> list[Path]:
    return sorted(p for p in (DATA / "images" / split / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


# --------------------------------------------------------------------------------------
# Integrity and reproducibility
# --------------------------------------------------------------------------------------


def test_manifest_files_exist_and_hashes_match(manifest):
    assert manifest["license"] == "CC0-1.0"
    assert manifest["files"], "manifest lists no files"
    for entry in manifest["files"]:
        path = DATA / entry["path"]
        assert path.is_file(), f"missing {entry['path']}"
        data = path.read_bytes()
        assert len(data) == entry["bytes"], f"size of {entry['path']} changed"
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['path']} differs from the manifest"


def test_no_stray_images(manifest):
    listed = {e["path"] for e in manifest["files"] if e["role"] == "image"}
    on_disk = {
        p.relative_to(DATA).as_posix() for p in (DATA / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    }
    assert on_disk == listed


def test_generator_is_deterministic(regenerated):
    produced = sorted(p.relative_to(regenerated).as_posix() for p in regenerated.rglob("*") if p.is_file())
    assert "manifest.json" in produced
    for rel in produced:
        assert (DATA / rel).is_file(), f"generator writes {rel}, which is not in data/"
        assert (regenerated / rel).read_bytes() == (DATA / rel).read_bytes(), f"{rel} is not reproduced byte for byte"


def test_total_size_is_small(manifest):
    audio = [e for e in manifest["files"] if e["path"].startswith("audio/")]
    videos = [e for e in manifest["files"] if e["path"].startswith("video/")]
    assert sum(e["bytes"] for e in manifest["files"] if e not in audio + videos) < 2 * 1024 * 1024
    assert sum(e["bytes"] for e in videos) < 512 * 1024  # module 09's clips: H.264, 128 px, 6 s each
    assert sum(e["bytes"] for e in audio) < 5 * 1024 * 1024  # module 09's spoken reviews: 16 kHz 16-bit mono


@pytest.mark.skipif(
    not world_speech.have_espeak(),
    reason="espeak-ng is not installed: the clips were copied, "
    "not synthesised (apt-get install espeak-ng to check their synthesis)",
)
def test_the_clips_are_synthesised_again_byte_for_byte(regenerated):
    """The fixture synthesised data/audio/ anew with eSpeak NG (without it, make_data copies the shipped clips)."""
    for clip in sorted((DATA / "audio").iterdir()):
        assert (regenerated / "audio" / clip.name).read_bytes() == clip.read_bytes(), f"audio/{clip.name} differs"


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def test_animals_csv():
    columns, rows = _read_csv(DATA / "animals.csv")
    assert columns == ["id", "animal"]
    ids = [int(r["id"]) for r in rows]
    assert len(ids) == len(set(ids)) >= 20
    assert ids == sorted(ids)
    for r in rows:
        assert r["animal"].startswith(("A ", "An ")) and " of " in r["animal"], r["animal"]


def test_outfits_csv():
    columns, rows = _read_csv(DATA / "outfits.csv")
    assert columns == ["id", "outfit"]
    ids = [int(r["id"]) for r in rows]
    assert len(ids) == len(set(ids)) >= 15
    assert ids == sorted(ids)
    assert all(r["outfit"].strip() for r in rows)


def test_join_has_unmatched_rows_on_both_sides():
    animal_ids = {int(r["id"]) for r in _read_csv(DATA / "animals.csv")[1]}
    outfit_ids = {int(r["id"]) for r in _read_csv(DATA / "outfits.csv")[1]}
    assert len(animal_ids - outfit_ids) >= 3, "left outer join should find animals without an outfit"
    assert len(outfit_ids - animal_ids) >= 2, "some outfits should match no animal"
    assert len(animal_ids & outfit_ids) >= 15


def test_gpu_labels():
    columns, rows = _read_csv(DATA / "gpu" / "imagenette_labels.csv")
    assert columns == ["label"]
    assert [r["label"] for r in rows] == ["dog"] * 200 + ["fish"] * 200


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(manifest) -> dict[str, dict[str, list[Path]]]:
    return {split: {cls: _image_files(split, cls) for cls in manifest["classes"]} for split in ("train", "val")}


def test_both_splits_have_both_classes(manifest, images):
    assert len(manifest["classes"]) == 2
    for split, per_class in images.items():
        for cls, files in per_class.items():
            assert len(files) == manifest["image_counts"][split][cls] > 0, (split, cls)


def test_images_open_with_varied_sizes_and_some_grayscale(images):
    for split, per_class in images.items():
        sizes, modes, aspect = set(), [], set()
        for files in per_class.values():
            for path in files:
                with Image.open(path) as im:
                    im.load()
                    sizes.add(im.size)
                    modes.append(im.mode)
                    aspect.add(im.width == im.height)
                    arr = np.asarray(im)
                    assert arr.ndim == (2 if im.mode == "L" else 3)
        assert set(modes) == {"RGB", "L"}, split
        n_gray = modes.count("L")
        assert 0 < n_gray <= 0.1 * len(modes), (split, n_gray)
        assert len(sizes) >= 5, split
        assert aspect == {True, False}, f"{split}: want square and non-square images"


def test_file_names_sort_numerically(images):
    for per_class in images.values():
        for files in per_class.values():
            numbers = [int(p.stem.rsplit("_", 1)[1]) for p in files]
            assert numbers == sorted(numbers) == list(range(len(files)))


@pytest.mark.parametrize("split,name", [("train", "labels.csv"), ("val", "val_labels.csv")])
def test_labels_follow_union_order(manifest, images, split, name):
    columns, rows = _read_csv(DATA / "images" / name)
    assert columns == ["label"]
    expected = [cls for cls in manifest["classes"] for _ in images[split][cls]]
    assert [r["label"] for r in rows] == expected


def test_lab05_third_class_is_drawn_like_the_stripes_outside_images(manifest):
    extra = manifest["extra_class"]
    root = DATA / extra["folder"]
    listed = {e["path"] for e in manifest["files"] if e["role"] == "image: lab 05's third class"}
    on_disk = {p.relative_to(DATA).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    assert on_disk == listed and not (DATA / "images" / "train" / extra["name"]).exists()
    for split in ("train", "val"):
        files = sorted((root / split / extra["name"]).iterdir())
        per_class = manifest["image_counts"][split][manifest["classes"][0]]
        assert len(files) == extra["image_counts"][split] == per_class, split  # as many as each stripes class
        modes, sizes = [], set()
        for path in files:
            with Image.open(path) as im:
                modes.append(im.mode)
                sizes.add(im.size)
        assert set(modes) == {"RGB", "L"} and modes.count("L") <= 0.1 * len(modes), split
        assert {p.suffix for p in files} == {".png", ".jpg"} and len(sizes) >= 5, split


# --------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------


def test_reviews_jsonl():
    lines = (DATA / "text" / "reviews.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) >= 50
    fields = {"id", "product", "pet", "text", "stars", "label"}
    for r in records:
        assert set(r) == fields, r
        assert isinstance(r["text"], str) and r["text"].strip()
        assert r["label"] in {"positive", "negative"}
        assert 1 <= r["stars"] <= 5
        assert (r["stars"] >= 4) == (r["label"] == "positive")
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert len({r["text"] for r in records}) == len(records), "duplicate review texts"
    assert {r["label"] for r in records} == {"positive", "negative"}


def test_speech_clips_are_reviews_spoken_at_16_khz_mono_with_two_bad_ones():
    import soundfile

    gen = _load_generator()
    reviews = {r["id"]: r for r in map(json.loads, (DATA / "text" / "reviews.jsonl").read_text().splitlines())}
    rows = [json.loads(line) for line in (DATA / "audio_transcripts.jsonl").read_text(encoding="utf-8").splitlines()]
    clips = sorted((DATA / "audio").iterdir(), key=lambda p: int(p.stem))
    assert [int(p.stem) for p in clips] == [r["id"] for r in rows] == list(range(1, gen.N_SPOKEN + 1))
    assert all(p.suffix == ".wav" for p in clips)
    for row, clip in zip(rows, clips):
        samples, rate = soundfile.read(clip, dtype="int16")
        assert rate == 16_000 and samples.ndim == 1, clip.name
        seconds = len(samples) / rate
        if row["fault"] == "silence":
            assert row["text"] == "" and not samples.any()
        elif row["fault"] == "noise":
            assert row["text"] == "" and samples.std() > 1000
        else:
            assert row["fault"] is None and row["text"] == reviews[row["id"]]["text"]
            assert 1.5 < seconds < 8.0 and np.abs(samples).max() > 3000, clip.name
    assert {r["id"]: r["fault"] for r in rows if r["fault"]} == gen.AUDIO_FAULTS == {9: "silence", 22: "noise"}
    # the clips' voices are never the stand-in's training voices (raycourse.models.speech_training)
    assert {r["voice"] for r in rows if r["voice"]} == set(world_speech.CLIP_VOICES)
    assert not set(world_speech.CLIP_VOICES) & set(world_speech.TRAINING_VOICES)


def test_ratings_jsonl_names_products_by_id_and_a_few_retired_ones():
    """Lab 07's ratings: every star level, comments that name no product, product ids of the catalogue (and
    photos) but for a few retired ones that an inner join leaves out, and rating ids that differ from them."""
    gen = _load_generator()
    records = [json.loads(line) for line in (DATA / "text" / "ratings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == list(range(1, gen.N_RATINGS + 1))
    catalogue = {pid for pid, _ in gen.OUTFITS}
    for r in records:
        assert set(r) == {"id", "product_id", "stars", "text"}, r
        assert isinstance(r["stars"], int) and 1 <= r["stars"] <= 5, r
        assert isinstance(r["product_id"], int) and r["text"].strip(), r
        assert not any(outfit in r["text"] for _, outfit in gen.OUTFITS), r  # the app names the product by id only
        if r["product_id"] in catalogue:
            assert (DATA / "products" / f"{r['product_id']:02d}.png").is_file()
    counts = np.bincount([r["stars"] for r in records], minlength=6)[1:]
    assert counts.min() >= len(records) // 5 - 1, counts  # about as many of each star
    retired = [r for r in records if r["product_id"] not in catalogue]
    assert 3 <= len(retired) <= 10 and {r["product_id"] for r in retired} <= set(gen.RETIRED_PRODUCTS)
    # joining on the rating's own id instead of the product's would pair most ratings with another product
    assert sum(r["id"] == r["product_id"] for r in records) <= 2


_DECODE = """
import sys, numpy as np
from decord import VideoReader
with open(sys.argv[1], "rb") as file:
    reader = VideoReader(file)
    np.savez(sys.argv[2], frames=reader.get_batch(list(range(len(reader)))).asnumpy(), fps=reader.get_avg_fps())
"""


def _decoded_by_decord(video: Path, tmp_path: Path):
    """(frames, fps) as read_videos decodes them, in a process of its own: where the course installs decord2
    (macOS arm64, Linux aarch64), importing 3.4.0 loads every nvidia-* library present (NVBLAS takes over torch's CPU
    matrix products) and its FFmpeg's libx264 globally (PyAV's encoder then writes other bytes), so this test
    process never imports it."""
    out = tmp_path / f"{video.stem}.npz"
    subprocess.run([sys.executable, "-c", _DECODE, str(video), str(out)], check=True, timeout=120)
    with np.load(out) as loaded:
        return loaded["frames"], float(loaded["fps"])


_DECORD_THEN_TORCH = """
import decord, torch
product = torch.randn(256, 256) @ torch.randn(256, 256)
print(decord.__version__, tuple(product.shape))
"""


def test_a_process_that_imported_decord_still_multiplies_matrices_with_torch():
    """A Ray worker that ran read_videos (it imports decord) and then a model: decord2 3.4.0 on Linux x86_64 made
    NVBLAS take over torch's CPU matrix product there, and the process died. Linux x86_64 gets decord 0.6.0."""
    import platform
    from importlib import metadata

    said = subprocess.run([sys.executable, "-c", _DECORD_THEN_TORCH], capture_output=True, text=True, timeout=300)
    assert said.returncode == 0, f"exit status {said.returncode}: {said.stderr[-2000:]}"
    version, shape = said.stdout.split(maxsplit=1)
    assert shape.strip() == "(256, 256)"
    if sys.platform == "linux" and platform.machine() == "x86_64":
        assert version == "0.6.0" and metadata.version("decord") == "0.6.0"
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.version("decord2")  # both install the module `decord`


def test_each_video_shows_its_stated_stripes_before_and_after_its_one_change(tmp_path):
    """Decoded as read_videos decodes them (decord): every clip's frames show, by their two most common reference
    colours, the stated colours before its change and after, and the stripes run the stated way."""
    from raycourse.world import COLOUR_NAMES, _nearest_colours

    names = list(COLOUR_NAMES)
    truth = [json.loads(line) for line in (DATA / "video_changes.jsonl").read_text().splitlines()]
    assert sorted(t["video"] for t in truth) == sorted(p.name for p in (DATA / "video").iterdir())
    states = {(t[s]["orientation"], *t[s]["colours"]) for t in truth for s in ("before", "after")}
    assert len(states) == 2 * len(truth), "every state of every clip is shown by that clip only"
    for t in truth:
        frames, fps = _decoded_by_decord(DATA / "video" / t["video"], tmp_path)
        assert len(frames) == 48 and fps == 8
        for index in range(0, 48, 4):
            second = index / 8
            state = t["before"] if second < t["change_at"] else t["after"]
            frame = frames[index]
            assert frame.shape == (128, 128, 3)
            counts = np.bincount(_nearest_colours(frame), minlength=len(names))
            assert {names[i] for i in np.argsort(counts)[-2:]} == set(state["colours"]), (t["video"], second)
            # stripes across (horizontal) vary down the columns: rows are nearly one colour
            along_rows = np.abs(np.diff(frame.astype(int), axis=1)).mean()
            along_columns = np.abs(np.diff(frame.astype(int), axis=0)).mean()
            assert (along_columns > along_rows) == (state["orientation"] == "horizontal"), (t["video"], second)
