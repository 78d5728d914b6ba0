"""Workshop-scale data for the ``gpu`` profile, drawn here from the course's world: no download.

The ``gpu`` profile reads public data sets on S3 (``raycourse.data.DATA_ROLES``). A machine without a route to S3
(a lent GPU machine, a classroom behind a firewall) can feed its models as a workshop would with this instead:
``python -m raycourse make-data --out DIR [--scale F]`` writes the same layout under ``DIR``, one folder per bucket
(``s3://anonymous@BUCKET/KEY`` becomes ``DIR/BUCKET/KEY``), at the data sets' real sizes times ``F``, and
``RAYCOURSE_GPU_DATA=DIR`` makes ``raycourse.data_path()`` read it in the ``gpu`` profile. The course's own files
(the tables, product photos, ratings) come from ``data/`` unless ``DIR`` holds a file of the same name: the
generator writes ``text/reviews.jsonl`` at workshop scale too.

What is drawn is the course's world (``raycourse.world``), at photo sizes: the imagenette classes are horizontal
stripes (``n02102040``, "dog"), vertical stripes (``n01440764``, "fish") and checkerboards (``n03888605``), as the
``tiny`` profile's three classes; the doggos breeds take the three patterns in turn. A real model learns nothing
true from them; what they are for is throughput: the files, their count, their sizes and their decoding cost are a
workshop's. Deterministic: one seed per file, fixed encoder settings, no timestamps.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

GPU_DATA_ENV = "RAYCOURSE_GPU_DATA"
SEED = 20261127
JPEG_QUALITY = 90

# imagenette2 (fast.ai's full-size imagenette), the classes the course reads: files per split and class.
IMAGENETTE_COUNTS = {
    "train": {"n02102040": 955, "n01440764": 963, "n03888605": 960},
    "val": {"n02102040": 395, "n01440764": 387, "n03888605": 390},
}
IMAGENETTE_PATTERN = {"n02102040": "horizontal", "n01440764": "vertical", "n03888605": "checks"}
# Ray's doggos example: one folder per breed. The bucket has not been listed from here: 36 breeds of 80 photos
# each is this generator's assumption of its size, not a count of the bucket.
DOGGOS_BREEDS = (
    "basset",
    "beagle",
    "bernese_mountain_dog",
    "border_collie",
    "borzoi",
    "boston_bull",
    "boxer",
    "bull_mastiff",
    "cairn",
    "chihuahua",
    "chow",
    "cocker_spaniel",
    "collie",
    "dingo",
    "doberman",
    "german_shepherd",
    "golden_retriever",
    "great_dane",
    "great_pyrenees",
    "husky",
    "irish_setter",
    "labrador_retriever",
    "malamute",
    "maltese_dog",
    "newfoundland",
    "old_english_sheepdog",
    "pekinese",
    "pomeranian",
    "pug",
    "rottweiler",
    "saint_bernard",
    "samoyed",
    "shih_tzu",
    "siberian_husky",
    "toy_poodle",
    "yorkshire_terrier",
)
DOGGOS_PER_BREED = 80
# Photo sizes (width, height) of the kind ImageNet's photos have: mostly 500 px on the long side.
PHOTO_SIZES = ((500, 375), (500, 333), (375, 500), (500, 500), (333, 500), (500, 400), (400, 300), (500, 281))
N_REVIEWS = 5000  # at scale 1: module 07's reviews, joined with the product photos


def scaled(n: int, scale: float) -> int:
    """``n`` files at ``scale``: at least one."""
    return max(1, round(n * scale))


def plan(scale: float = 1.0) -> list[tuple[str, str, int]]:
    """Every image to write: ``(relative path, pattern, seed key)``, in a fixed order."""
    jobs = []
    for s, (split, classes) in enumerate(IMAGENETTE_COUNTS.items()):
        for c, (wnid, n) in enumerate(classes.items()):
            for i in range(scaled(n, scale)):
                jobs.append(
                    (
                        f"air-example-data-2/imagenette2/{split}/{wnid}/{wnid}_{i:05d}.JPEG",
                        IMAGENETTE_PATTERN[wnid],
                        (1, s, c, i),
                    )
                )
    patterns = ("horizontal", "vertical", "checks")
    for b, breed in enumerate(DOGGOS_BREEDS):
        for i in range(scaled(DOGGOS_PER_BREED, scale)):
            jobs.append((f"doggos-dataset/train/{breed}/{breed}_{i:04d}.jpg", patterns[b % 3], (2, b, i)))
    return jobs


def draw(pattern: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """An image of the world at ``size`` (width, height): stripes or a checkerboard in two colours, tilted by up
    to 10 degrees, with the world's blob and sensor noise (``raycourse.world``), its period scaled to the size."""
    from .. import world

    w, h = size
    c1, c2 = world._two_colours(rng)
    period = max(h, w) * rng.uniform(10, 28) / 224  # 10-28 px after resizing to 224, as in the world
    phase_y, phase_x = rng.uniform(0, 1), rng.uniform(0, 1)
    tilt = np.deg2rad(rng.uniform(-10, 10))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    across = xx * np.cos(tilt) + yy * np.sin(tilt)
    down = yy * np.cos(tilt) - xx * np.sin(tilt)
    if pattern == "horizontal":
        mask = ((down / period + phase_y) % 1.0) < 0.5
    elif pattern == "vertical":
        mask = ((across / period + phase_x) % 1.0) < 0.5
    elif pattern == "checks":
        mask = (((across / period + phase_x) % 1.0) < 0.5) ^ (((down / period + phase_y) % 1.0) < 0.5)
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return world._blob_and_noise(np.where(mask[..., None], c1, c2), yy, xx, rng, 8.0)


def _write_image(out: str, job: tuple[str, str, tuple]) -> tuple[str, int, str]:
    from PIL import Image

    rel, pattern, key = job
    rng = np.random.default_rng([SEED, *key])
    size = PHOTO_SIZES[int(rng.integers(len(PHOTO_SIZES)))]
    buf = io.BytesIO()
    Image.fromarray(draw(pattern, rng, size)).save(
        buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling=2
    )
    data = buf.getvalue()
    path = Path(out) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel, len(data), hashlib.sha256(data).hexdigest()


def reviews(n: int) -> list[dict]:
    """``n`` reviews of the catalogue's outfits in ``data/text/reviews.jsonl``'s columns, from the world's templates
    (half positive, half negative, in a seeded order)."""
    from ..world import OUTFITS, PETS, REVIEW_NEGATIVE, REVIEW_POSITIVE

    rng = np.random.default_rng([SEED, 3])
    records = []
    for rid in range(1, n + 1):
        label = "positive" if rng.random() < 0.5 else "negative"
        templates = REVIEW_POSITIVE if label == "positive" else REVIEW_NEGATIVE
        product = OUTFITS[int(rng.integers(len(OUTFITS)))][1]
        pet = PETS[int(rng.integers(len(PETS)))]
        text = templates[int(rng.integers(len(templates)))].format(product=product, pet=pet)
        stars = 5 - int(rng.integers(0, 2)) if label == "positive" else 1 + int(rng.integers(0, 2))
        records.append(
            {
                "id": rid,
                "product": product,
                "pet": pet,
                "text": text[0].upper() + text[1:],
                "stars": stars,
                "label": label,
            }
        )
    return records


def generate(out: Path, scale: float = 1.0, jobs: int | None = None, log=None) -> dict:
    """Write the ``gpu`` profile's data sets at ``scale`` times their real sizes under ``out``; return the
    manifest (also written to ``out/manifest.json``): the scale, the counts, every file's size and sha256."""
    if not scale > 0:
        raise ValueError(f"scale must be above 0, not {scale}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = plan(scale)
    jobs = max(1, jobs or os.cpu_count() or 1)
    if log:
        log(f"Drawing {len(work)} images into {out} with {jobs} process(es) ...")
    if jobs == 1:
        files = [_write_image(str(out), job) for job in work]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            files = list(pool.map(_write_image, [str(out)] * len(work), work, chunksize=32))
    text = out / "text" / "reviews.jsonl"
    text.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in reviews(scaled(N_REVIEWS, scale)))
    text.write_text(lines, encoding="utf-8")
    files.append(("text/reviews.jsonl", text.stat().st_size, hashlib.sha256(text.read_bytes()).hexdigest()))
    counts: dict[str, int] = {}
    for rel, _, _ in files:
        folder = rel.rsplit("/", 1)[0]
        counts[folder] = counts.get(folder, 0) + (0 if rel.endswith(".jsonl") else 1)
    counts["text/reviews.jsonl"] = scaled(N_REVIEWS, scale)
    manifest = {
        "seed": SEED,
        "scale": scale,
        "counts": counts,
        "images": len(work),
        "bytes": sum(size for _, size, _ in files),
        "files": {rel: {"bytes": size, "sha256": digest} for rel, size, digest in sorted(files)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
