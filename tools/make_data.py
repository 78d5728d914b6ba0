#!/usr/bin/env python
"""Regenerate the bundled sample data of the ``tiny`` profile.

Usage::

    python tools/make_data.py [--out data]

Everything under ``data/`` is produced by this script: no third-party data, no
downloads.  The output is deterministic (fixed seeds, fixed encoder settings, no
timestamps), so running it twice gives byte-identical files with the pinned
Pillow/NumPy releases.  ``data/manifest.json`` records the sha256 of every file
so that ``tests/platform/test_data.py`` catches an edited or corrupted file.

Files written (paths relative to ``--out``):

* ``animals.csv``, ``outfits.csv``     -- prompts and outfits, joinable on ``id``
* ``images/{train,val}/<class>/*``     -- procedurally drawn striped images
* ``images/labels.csv``                -- train labels, all class-A files (sorted) then all class-B
* ``images/val_labels.csv``            -- the same for the val split
* ``images_extra/{train,val}/checks/*`` -- lab 05's third class: checkerboards drawn like the stripes
* ``text/reviews.jsonl``               -- short pet-outfit shop reviews with sentiment
* ``text/ratings.jsonl``               -- star ratings from the shop's app, the product by its id (lab 07)
* ``audio/<id>.wav``                   -- some reviews spoken (module 09), 16 kHz mono, by eSpeak NG
* ``audio_transcripts.jsonl``          -- what each clip says (the ground truth of a transcription)
* ``video/<product id>.mp4``           -- a product's fabric in motion, one change each (module 09), by PyAV
* ``video_changes.jsonl``              -- when each clip changes, and from what to what (its ground truth)
* ``gpu/imagenette_labels.csv``        -- labels for the ``gpu`` profile (imagenette dog/fish)
* ``README.md``                        -- provenance, licence, columns and counts
* ``manifest.json``                    -- every file above with role, counts and sha256
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# The world's tables and drawing rules (the tiny stand-ins train on them too).
from raycourse.world import ANIMALS, OUTFITS, draw_checks, draw_stripes
from raycourse.world import ANIMAL_COLOURS as WORLD_ANIMAL_COLOURS
from raycourse.world import OUTFIT_COLOURS as WORLD_OUTFIT_COLOURS
from raycourse.world import PETS as WORLD_PETS
from raycourse.world import COLOUR_NAMES, REVIEW_NEGATIVE, REVIEW_POSITIVE
from raycourse.world import speech as world_speech

SEED = 20240611
LICENSE = "CC0-1.0"

# Tables: animals and outfits are raycourse.world.ANIMALS and OUTFITS (the LLM stand-in trains on them too).

# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------

# Class A comes first in the union (and in labels.csv), class B second.
CLASSES = ["stripes_horizontal", "stripes_vertical"]
SPLITS = {"train": 80, "val": 20}  # images per class
GRAY_EVERY = 20  # every 20th image (index % 20 == 7) is grayscale: 4 + 4 train, 1 + 1 val
GRAY_OFFSET = 7
PNG_EVERY = 4  # every 4th image is a PNG, the rest JPEG
JPEG_QUALITY = 85


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *key])


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling=2)
    else:
        img.save(buf, format="PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def make_images(out: Path) -> tuple[list[dict], dict[str, dict[str, int]]]:
    """Write the image tree; return per-file metadata and counts per split/class."""
    entries: list[dict] = []
    counts: dict[str, dict[str, int]] = {}
    for s_idx, (split, n_per_class) in enumerate(SPLITS.items()):
        counts[split] = {}
        for c_idx, cls in enumerate(CLASSES):
            folder = out / "images" / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                rng = _rng(s_idx, c_idx, i)
                fmt = "png" if i % PNG_EVERY == 1 else "jpg"
                # PNGs are clean "digital" images (noise would make them large);
                # JPEGs carry sensor-like noise and compression artefacts.
                noise = 0.0 if fmt == "png" else 8.0
                arr = draw_stripes(rng, horizontal=(cls == "stripes_horizontal"), noise=noise)
                img = Image.fromarray(arr)
                if i % GRAY_EVERY == GRAY_OFFSET:
                    img = img.convert("L")
                name = f"{cls}_{split}_{i:03d}.{fmt}"
                (folder / name).write_bytes(_encode(img, fmt))
                entries.append(
                    {
                        "path": f"images/{split}/{cls}/{name}",
                        "split": split,
                        "label": cls,
                        "mode": img.mode,
                        "width": img.width,
                        "height": img.height,
                    }
                )
            counts[split][cls] = n_per_class
    return entries, counts


# Lab 05's third class: checkerboards drawn like the stripes, kept out of images/ (lesson 06 embeds the whole
# images/train tree, and the two-class lesson 05 reads images/ too).
EXTRA_CLASS = "checks"
EXTRA_DIR = "images_extra"


def make_extra_class(out: Path) -> tuple[list[dict], dict[str, int]]:
    """Write ``images_extra/{train,val}/checks/``: lab 05's third class, as many images per split as each
    stripes class, with the same PNG/JPEG mix and the same share of grayscale files."""
    shutil.rmtree(out / EXTRA_DIR, ignore_errors=True)  # no stale files
    entries, counts = [], {}
    for s_idx, (split, n_per_class) in enumerate(SPLITS.items()):
        folder = out / EXTRA_DIR / split / EXTRA_CLASS
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            fmt = "png" if i % PNG_EVERY == 1 else "jpg"
            img = Image.fromarray(draw_checks(_rng(s_idx, 2, i), noise=0.0 if fmt == "png" else 8.0))
            if i % GRAY_EVERY == GRAY_OFFSET:
                img = img.convert("L")
            name = f"{EXTRA_CLASS}_{split}_{i:03d}.{fmt}"
            (folder / name).write_bytes(_encode(img, fmt))
            entries.append(
                {
                    "path": f"{EXTRA_DIR}/{split}/{EXTRA_CLASS}/{name}",
                    "split": split,
                    "label": EXTRA_CLASS,
                    "mode": img.mode,
                    "width": img.width,
                    "height": img.height,
                }
            )
        counts[split] = n_per_class
    return entries, counts


def make_product_photos(out: Path) -> list[dict]:
    """One catalogue photo per outfit, named by the outfit's id (``products/07.png``).

    Drawn like the sample images (a striped fabric swatch, clean PNG), from a seed per
    product id, so the multimodal module can attach an image to every product row.
    """
    folder = out / "products"
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for pid, outfit in OUTFITS:
        arr = draw_stripes(_rng(7, pid), horizontal=pid % 2 == 0, noise=0.0)
        img = Image.fromarray(arr)
        name = f"{pid:02d}.png"
        (folder / name).write_bytes(_encode(img, "png"))
        entries.append(
            {
                "path": f"products/{name}",
                "product_id": pid,
                "outfit": outfit,
                "mode": img.mode,
                "width": img.width,
                "height": img.height,
            }
        )
    return entries


# --------------------------------------------------------------------------------------
# Videos: the products' fabric in motion (module 09)
# --------------------------------------------------------------------------------------

VIDEO_DIR = "video"
VIDEO_FPS = 8  # frames per second of every clip
VIDEO_SECONDS = 6
VIDEO_SIZE = 128  # px, square (decord2 3.4.0 returns a wrong shape for some widths, such as 96: see the README)
# product id -> (before, after, change_at): each state is (orientation, colour, colour); one thing changes, the
# stripes' direction or their colours, at a time that is a multiple of 0.5 s (a frame of a 2 fps sample).
VIDEOS = {
    1: (("horizontal", "blue", "yellow"), ("horizontal", "purple", "yellow"), 2.5),
    6: (("horizontal", "red", "yellow"), ("vertical", "red", "yellow"), 1.5),
    11: (("vertical", "green", "white"), ("vertical", "green", "black"), 3.5),
    15: (("horizontal", "green", "black"), ("horizontal", "grey", "blue"), 4.0),
    20: (("horizontal", "red", "black"), ("vertical", "red", "black"), 3.0),
    24: (("vertical", "blue", "white"), ("horizontal", "blue", "white"), 2.0),
}


def _video_frame(state: tuple[str, str, str], t: float, rng: np.random.Generator) -> np.ndarray:
    """One frame: stripes of two reference colours (raycourse.world.COLOUR_NAMES) drifting across the frame and
    rocking by a few degrees, as a fabric swatch filmed in motion, with a little noise."""
    orientation, c1, c2 = state
    yy, xx = np.mgrid[0:VIDEO_SIZE, 0:VIDEO_SIZE].astype(np.float32)
    tilt = np.deg2rad(6.0 * np.sin(1.3 * t))
    if orientation == "horizontal":
        u = yy * np.cos(tilt) + xx * np.sin(tilt)
    else:
        u = xx * np.cos(tilt) + yy * np.sin(tilt)
    mask = ((u / 16.0 + 0.3 * t) % 1.0) < 0.5
    img = np.where(mask[..., None], np.float32(COLOUR_NAMES[c1]), np.float32(COLOUR_NAMES[c2]))
    img = img + rng.normal(0, 6.0, size=img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """H.264 in MP4 with PyAV, settings fixed and one thread: the same bytes on every run."""
    import av  # PyAV: only this script writes videos; the course reads them with decord (ray.data.read_videos)

    with av.open(str(path), mode="w", format="mp4") as container:
        options = {"crf": "23", "preset": "medium", "x264-params": "threads=1:bframes=0"}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_videos(out: Path) -> tuple[list[dict], list[dict]]:
    """Short clips of the products' fabric (``video/<product id>.mp4``), in each of which one thing changes at a
    known time, and the ground truth: every clip's states and the time of its change (``video_changes.jsonl``,
    outside the read folder)."""
    folder = out / VIDEO_DIR
    folder.mkdir(parents=True, exist_ok=True)
    entries, truth = [], []
    for pid, (before, after, change_at) in VIDEOS.items():
        rng = _rng(9, pid)
        times = [i / VIDEO_FPS for i in range(VIDEO_FPS * VIDEO_SECONDS)]
        frames = [_video_frame(before if t < change_at else after, t, rng) for t in times]
        name = f"{pid:02d}.mp4"
        _write_mp4(folder / name, frames, VIDEO_FPS)
        changed = "direction" if before[0] != after[0] else "colours"
        entries.append(
            {
                "path": f"{VIDEO_DIR}/{name}",
                "product_id": pid,
                "frames": len(frames),
                "fps": VIDEO_FPS,
                "width": VIDEO_SIZE,
                "height": VIDEO_SIZE,
            }
        )
        truth.append(
            {
                "video": name,
                "product_id": pid,
                "change_at": change_at,
                "changed": changed,
                "before": {"orientation": before[0], "colours": list(before[1:])},
                "after": {"orientation": after[0], "colours": list(after[1:])},
            }
        )
    return entries, truth


# --------------------------------------------------------------------------------------
# Text: pet-outfit shop reviews
# --------------------------------------------------------------------------------------

# The shop's pets and review templates: raycourse.world.PETS, REVIEW_POSITIVE, REVIEW_NEGATIVE (the LLM stand-in
# learns to write reviews of their kind).
PETS, POSITIVE, NEGATIVE = WORLD_PETS, REVIEW_POSITIVE, REVIEW_NEGATIVE

N_REVIEWS = 60


def make_reviews() -> list[dict]:
    products = [o for _, o in OUTFITS]
    rng = _rng(99)
    labels = ["positive"] * (N_REVIEWS // 2) + ["negative"] * (N_REVIEWS // 2)
    order = rng.permutation(N_REVIEWS)
    records = []
    for rid, k in enumerate(order, start=1):
        label = labels[k]
        templates = POSITIVE if label == "positive" else NEGATIVE
        j = int(k) % (N_REVIEWS // 2)
        template = templates[j % len(templates)]
        product = products[(j * 5 + (3 if label == "negative" else 0)) % len(products)]
        pet = PETS[(j * 3 + int(k >= N_REVIEWS // 2)) % len(PETS)]
        stars = (5 - int(rng.integers(0, 2))) if label == "positive" else (1 + int(rng.integers(0, 2)))
        text = template.format(product=product, pet=pet)
        text = text[0].upper() + text[1:]
        records.append({"id": rid, "product": product, "pet": pet, "text": text, "stars": stars, "label": label})
    return records


# Lab 07's ratings: what the shop's app sends, a star rating (1-5) with a short comment, the product named by its
# id (the app knows ids, not names). A few name a product the catalogue no longer lists (an id that is no outfit's,
# so without a photo): an inner join with outfits.csv leaves them out. The comments name no product, and their
# tone follows the stars, so that a model reading them can learn to predict the stars (in `gpu`).
N_RATINGS = 96
RETIRED_PRODUCTS = [4, 9, 13, 18, 22]  # product ids that are no outfit's (the animals without one)
RETIRED_EVERY = 16  # every 16th rating (id % 16 == 5) names a retired product: 6 of 96
RATING_COMMENTS = {
    1: [
        "Fell apart the first time my {pet} wore it.",
        "Itchy fabric, and my {pet} tried to bite it off within minutes.",
        "The seams split on the first walk; sent it straight back.",
        "My {pet} refused to move while wearing it. Never again.",
    ],
    2: [
        "Looks cheaper than in the photo, and the strap broke.",
        "My {pet} put up with it for five minutes; the fit is poor.",
        "The colour faded after a single wash.",
        "Far too tight around the neck for a {pet}.",
    ],
    3: [
        "It is fine: nothing special, nothing wrong.",
        "Decent for the price, though the size chart is off for a {pet}.",
        "Cute, but the fastening is fiddly.",
        "My {pet} wore it once; it does the job.",
    ],
    4: [
        "Good fit and nice fabric; my {pet} looks smart in it.",
        "Well made, only the delivery took a while.",
        "My {pet} was comfortable in it all afternoon.",
        "Nice colours and sturdy seams, if a little pricey.",
    ],
    5: [
        "Perfect! My {pet} loves it and so do we.",
        "The best outfit we have bought: it fits my {pet} like a glove.",
        "Beautiful work and soft fabric; compliments on every walk.",
        "Exactly as pictured, and my {pet} did not want to take it off.",
    ],
}


def make_ratings() -> list[dict]:
    """``N_RATINGS`` ratings from the shop's app: ``id``, ``product_id`` (an outfit's id, or one of
    ``RETIRED_PRODUCTS``), ``stars`` (1-5, about as many of each) and ``text`` (a comment that names no product)."""
    rng = _rng(77)
    catalogue = [pid for pid, _ in OUTFITS]
    stars = np.resize(np.arange(1, 6), N_RATINGS)  # 1 to 5 in turn: 20 or 19 of each
    rng.shuffle(stars)
    records = []
    for rid, star in enumerate(stars.tolist(), start=1):
        if rid % RETIRED_EVERY == 5:
            product_id = RETIRED_PRODUCTS[(rid // RETIRED_EVERY) % len(RETIRED_PRODUCTS)]
        else:
            product_id = catalogue[int(rng.integers(0, len(catalogue)))]
        comments = RATING_COMMENTS[star]
        text = comments[int(rng.integers(0, len(comments)))].format(pet=PETS[int(rng.integers(0, len(PETS)))])
        records.append({"id": rid, "product_id": product_id, "stars": star, "text": text})
    return records


# Module 08: a new day's data arriving from outside, with the kinds of bad rows that real feeds carry. The lesson
# validates the reviews; lab 08 writes a stage for a new rule on the ratings. Each bad row has one fault, at a fixed
# id, so a validation stage can be checked row by row (what `make_data` writes here is what the checks expect).
N_NEW_REVIEWS = 40
NEW_REVIEW_FAULTS = {  # id: (column, bad value): a fault a shop's export really produces
    7: ("stars", 0),  # a review saved before the customer picked the stars
    13: ("stars", 6),  # a 1-10 scale leaking from another form
    21: ("text", None),  # the text never arrived
    28: ("text", "   "),  # only white space
    34: ("stars", None),  # no stars at all
}
N_NEW_RATINGS = 48
NEW_RATING_FAULTS = {  # lab 08's rule: a known product and a comment of at most 120 characters
    5: ("product_id", None),  # the app lost the product
    11: ("product_id", 4),  # a retired product (no outfit has id 4)
    19: ("text", "Great! " * 30),  # a comment pasted over and over (210 characters)
    30: ("product_id", 99),  # an id the catalogue never had
    41: ("text", "Loved it. " * 15),  # 150 characters
}


def make_new_reviews() -> list[dict]:
    """``N_NEW_REVIEWS`` reviews of a new day, as ``make_reviews`` writes them (no ``label``), with one fault in
    each row of ``NEW_REVIEW_FAULTS``."""
    rng = _rng(808)
    products = [o for _, o in OUTFITS]
    records = []
    for rid in range(1, N_NEW_REVIEWS + 1):
        positive = bool(rng.integers(0, 2))
        templates = POSITIVE if positive else NEGATIVE
        product, pet = products[int(rng.integers(0, len(products)))], PETS[int(rng.integers(0, len(PETS)))]
        text = templates[int(rng.integers(0, len(templates)))].format(product=product, pet=pet)
        stars = (4 + int(rng.integers(0, 2))) if positive else (1 + int(rng.integers(0, 2)))
        record = {"id": rid, "product": product, "pet": pet, "text": text[0].upper() + text[1:], "stars": stars}
        if rid in NEW_REVIEW_FAULTS:
            column, value = NEW_REVIEW_FAULTS[rid]
            record[column] = value
        records.append(record)
    return records


# Module 11: the shop's reviews as they arrive, one folder a day. Days 1-4 are ordinary days of the shop as it is;
# day 5 is the first of the winter line: new products, a sizing complaint in most reviews, lower stars. An
# incremental job reads only the days its table lacks; a drift check flags day 5 and not day 4.
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
DRIFTED_DAY = "2026-11-05"
N_DAY_REVIEWS = 40
WINTER_LINE = ["padded winter coat", "knitted snood", "fleece-lined boots", "quilted gilet"]
WINTER_POSITIVE = [
    "Snug and warm: the {product} kept my {pet} cosy through a frosty walk.",
    "The {product} is thick, soft and waterproof; snow slid right off my {pet}.",
]
WINTER_NEGATIVE = [
    "The {product} runs two sizes small; my {pet} could not move in it.",
    "The zip of the {product} froze shut and the lining tore on the first icy morning.",
    "Far too tight around the neck: my {pet} shivered in the {product} anyway.",
]
SIZING = [
    "It runs two sizes small, so order a size up.",
    "The sizing chart is wrong: it would not close over the chest.",
    "Lovely and warm, but far too tight around the neck.",
]


def make_day_reviews(day: str) -> list[dict]:
    """One day's ``N_DAY_REVIEWS`` reviews (ids ``<day number>01`` on), as ``make_new_reviews`` writes them but
    clean. The drifted day reviews the winter line in words of its own (frost, zips, sizes): about a third positive,
    most with a sizing sentence added."""
    number = DAYS.index(day) + 1
    rng = _rng(1100 + number)
    drifted = day == DRIFTED_DAY
    products = WINTER_LINE if drifted else [o for _, o in OUTFITS]
    records = []
    for i in range(1, N_DAY_REVIEWS + 1):
        positive = rng.random() < (0.3 if drifted else 0.6)
        templates = (
            (WINTER_POSITIVE if positive else WINTER_NEGATIVE) if drifted else (POSITIVE if positive else NEGATIVE)
        )
        product, pet = products[int(rng.integers(0, len(products)))], PETS[int(rng.integers(0, len(PETS)))]
        text = templates[int(rng.integers(0, len(templates)))].format(product=product, pet=pet)
        text = text[0].upper() + text[1:]
        if drifted and rng.random() < 0.8:
            text += " " + SIZING[int(rng.integers(0, len(SIZING)))]
        stars = (4 + int(rng.integers(0, 2))) if positive else (1 + int(rng.integers(0, 2 + drifted)))
        records.append({"id": number * 100 + i, "product": product, "pet": pet, "text": text, "stars": stars})
    return records


# Module 12: a day of requests to the shop's review classifier after the winter launch, from returning users (a
# user's requests go to one model version, so the user is in every request). Most reviews are of the winter line;
# `stars` is what the user gave, which the shop learns after answering (the A/B test's feedback).
N_TRAFFIC = 800
N_TRAFFIC_USERS = 200
TRAFFIC_WINTER_SHARE = 0.6


def make_traffic() -> list[dict]:
    """``N_TRAFFIC`` requests of ``N_TRAFFIC_USERS`` users (``u001`` on): reviews written as module 11's days write
    them, ``TRAFFIC_WINTER_SHARE`` of them of the winter line (with its sizing sentences), the rest of the shop as it
    was."""
    rng = _rng(1200)
    records = []
    for i in range(1, N_TRAFFIC + 1):
        winter = rng.random() < TRAFFIC_WINTER_SHARE
        positive = rng.random() < (0.45 if winter else 0.6)
        if winter:
            templates, products = (WINTER_POSITIVE if positive else WINTER_NEGATIVE), WINTER_LINE
        else:
            templates, products = (POSITIVE if positive else NEGATIVE), [o for _, o in OUTFITS]
        product, pet = products[int(rng.integers(0, len(products)))], PETS[int(rng.integers(0, len(PETS)))]
        text = templates[int(rng.integers(0, len(templates)))].format(product=product, pet=pet)
        text = text[0].upper() + text[1:]
        if winter and rng.random() < 0.8:
            text += " " + SIZING[int(rng.integers(0, len(SIZING)))]
        stars = (4 + int(rng.integers(0, 2))) if positive else (1 + int(rng.integers(0, 2 + winter)))
        user = f"u{int(rng.integers(1, N_TRAFFIC_USERS + 1)):03d}"
        records.append({"request": i, "user": user, "product": product, "text": text, "stars": stars})
    return records


def make_new_ratings() -> list[dict]:
    """``N_NEW_RATINGS`` ratings of a new day, as ``make_ratings`` writes them, with one fault in each row of
    ``NEW_RATING_FAULTS`` (stars always 1-5: lab 08's rule is about the product and the comment)."""
    rng = _rng(809)
    catalogue = [pid for pid, _ in OUTFITS]
    records = []
    for rid in range(1, N_NEW_RATINGS + 1):
        star = int(rng.integers(1, 6))
        comments = RATING_COMMENTS[star]
        text = comments[int(rng.integers(0, len(comments)))].format(pet=PETS[int(rng.integers(0, len(PETS)))])
        record = {"id": rid, "product_id": catalogue[int(rng.integers(0, len(catalogue)))], "stars": star, "text": text}
        if rid in NEW_RATING_FAULTS:
            column, value = NEW_RATING_FAULTS[rid]
            record[column] = value
        records.append(record)
    return records


# --------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------
# Speech (module 09): some reviews spoken by eSpeak NG, with two bad recordings
# --------------------------------------------------------------------------------------

N_SPOKEN = 30  # reviews 1..30 of text/reviews.jsonl are spoken: about 4 MB of 16 kHz 16-bit mono
AUDIO_DIR = "audio"
TRANSCRIPTS = "audio_transcripts.jsonl"  # outside audio/: read_audio(data_path("speech")) reads only the clips
# Two recordings that failed: nothing (a muted microphone) and hiss and hum (a broken cable); no words in either.
AUDIO_FAULTS = {9: "silence", 22: "noise"}


def make_speech(out: Path, reviews: list[dict]) -> list[dict]:
    """Speak reviews 1..N_SPOKEN into ``audio/<id>.wav`` (the voice, speed and pitch cycle through eSpeak NG's
    clip voices) and return the transcripts: ``id``, ``text`` (what the clip says, "" for a bad one), ``voice``,
    ``speed``, ``pitch``, ``fault``. Without ``espeak-ng`` the shipped clips are copied from the repository's
    data/ (tests/platform/test_data.py then checks their synthesis only where eSpeak NG is installed)."""
    folder = out / AUDIO_DIR
    shipped = Path(__file__).resolve().parents[1] / "data" / AUDIO_DIR
    synthesise = world_speech.have_espeak()
    if not synthesise and folder.resolve() == shipped.resolve():
        raise SystemExit(
            "espeak-ng is not installed, and it speaks data/audio/: install it (Debian/Ubuntu: "
            "`apt-get install espeak-ng`, macOS: `brew install espeak-ng`) or write elsewhere with --out"
        )
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows = []
    for k, review in enumerate(reviews[:N_SPOKEN]):
        rid = review["id"]
        fault = AUDIO_FAULTS.get(rid)
        voice = None if fault else world_speech.CLIP_VOICES[k % len(world_speech.CLIP_VOICES)]
        speed = None if fault else world_speech.CLIP_SPEEDS[k % len(world_speech.CLIP_SPEEDS)]
        pitch = None if fault else world_speech.CLIP_PITCHES[(k // 3) % len(world_speech.CLIP_PITCHES)]
        target = folder / f"{rid}.wav"
        if not synthesise:
            shutil.copyfile(shipped / target.name, target)
        elif fault == "silence":
            target.write_bytes(world_speech.wav_bytes(world_speech.silence(2.0)))
        elif fault == "noise":
            target.write_bytes(world_speech.wav_bytes(world_speech.noise(2.5, _rng(909))))
        else:
            target.write_bytes(world_speech.wav_bytes(world_speech.speak(review["text"], voice, speed, pitch)))
        rows.append(
            {
                "id": rid,
                "text": "" if fault else review["text"],
                "voice": voice,
                "speed": speed,
                "pitch": pitch,
                "fault": fault,
            }
        )
    return rows


README_TEMPLATE = """\
# Bundled sample data (`tiny` profile)

Everything in this folder is generated by `python tools/make_data.py` (run from the
repository root; `--out DIR` writes elsewhere). The script is deterministic: fixed seeds,
fixed encoder settings and no timestamps, so a re-run gives byte-identical files.
`manifest.json` lists every file with its role, counts and sha256; `tests/platform/test_data.py`
checks the files against it and regenerates the data into a temporary folder to confirm
that it is reproducible.

## Provenance and licence

All of it is synthetic and produced by `tools/make_data.py`: the table rows and review
templates are hand-written in the script, the images are drawn procedurally with NumPy
and Pillow. No third-party data is included. The data is released under
**CC0-1.0** (public domain dedication).

## Files

| path | what it is | columns / content | count |
| --- | --- | --- | --- |
| `animals.csv` | image prompts naming a medium and an animal | `id` (int, unique), `animal` (str) | {n_animals} rows |
| `outfits.csv` | clothing for the animals, joinable on `id` | `id` (int, unique), `outfit` (str) | {n_outfits} rows |
| `images/train/<class>/` | training images, two classes | PNG and JPEG files | {n_train} images ({train_per_class} per class) |
| `images/val/<class>/` | validation images, same classes | PNG and JPEG files | {n_val} images ({val_per_class} per class) |
| `images/labels.csv` | labels of the train images in union order | `label` (str) | {n_train} rows |
| `images/val_labels.csv` | labels of the val images in union order | `label` (str) | {n_val} rows |
| `{extra_dir}/train/{extra_class}/` | lab 05's third class: checkerboards drawn like the stripes | PNG and JPEG files | {n_extra_train} images |
| `{extra_dir}/val/{extra_class}/` | its validation images | PNG and JPEG files | {n_extra_val} images |
| `products/<id>.png` | one catalogue photo per outfit, named by its `id` (`07.png`) | PNG files (a striped fabric swatch) | {n_products} images |
| `text/reviews.jsonl` | short pet-outfit shop reviews, JSON lines | `id`, `product`, `pet`, `text`, `stars` (1-5), `label` (`positive`/`negative`) | {n_reviews} records |
| `text/ratings.jsonl` | star ratings from the shop's app, JSON lines (lab 07) | `id` (int, unique), `product_id` (int), `stars` (1-5), `text` | {n_ratings} records |
| `text/new_reviews.jsonl` | a new day's reviews with bad rows, JSON lines (module 08) | as `reviews.jsonl`, without `label` | {n_new_reviews} records, {n_bad_reviews} bad |
| `text/new_ratings.jsonl` | a new day's ratings with bad rows, JSON lines (lab 08) | as `ratings.jsonl` | {n_new_ratings} records, {n_bad_ratings} bad |
| `days/<day>/reviews.jsonl` | the shop's reviews as they arrive, a folder a day (module 11) | `id`, `product`, `pet`, `text`, `stars` | {n_days} days of {n_day_reviews}; the last drifted |
| `traffic.jsonl` | a day of requests to the review classifier and the stars each user then gave (module 12) | `request`, `user`, `product`, `text`, `stars` | {n_traffic} requests of {n_traffic_users} users |
| `audio/<id>.wav` | reviews spoken (module 09), named by the review's `id` | WAV, 16 kHz, mono, 16-bit | {n_clips} clips, {n_bad_clips} bad |
| `audio_transcripts.jsonl` | what each clip says, JSON lines | `id`, `text`, `voice`, `speed`, `pitch`, `fault` | {n_clips} records |
| `video/<id>.mp4` | short clips of a product's fabric (module 09), named by the product's `id` | H.264 in MP4, {video_size} x {video_size} px, {video_fps} fps, {video_seconds} s | {n_videos} clips |
| `video_changes.jsonl` | when each clip changes, JSON lines | `video`, `product_id`, `change_at`, `changed`, `before`, `after` | {n_videos} records |
| `gpu/imagenette_labels.csv` | labels for the `gpu` profile's imagenette subset | `label` (str) | 400 rows |
| `manifest.json` | machine-readable list of the files above | path, role, counts, sha256 | |

### Animals and outfits

`animals.csv` and `outfits.csv` join on `id`. Animal ids {no_outfit} have **no** outfit
(a left outer join shows them with an empty `outfit`), and outfit ids {no_animal} match
**no** animal (so right and full outer joins differ from left and inner joins). An inner
join gives {n_inner} rows. The course builds `animal + " wearing a " + outfit` and renames
`animal` to `prompt`. The `gpu` profile uses the same two CSVs.

### Images

Two classes, named for what is drawn:

* `stripes_horizontal` (class A, first in the union and in `labels.csv`)
* `stripes_vertical` (class B)

Each image shows stripes in two random colours, tilted by up to 10 degrees, with a
random stripe width, duty cycle and phase, usually with a blob of a third random colour.
JPEG files also carry Gaussian pixel noise; PNG files are clean. Sizes are between 48
and 160 px per side, often not square. Colours are drawn from the same distribution for both classes, so the mean
colour says nothing about the class; only the stripe orientation does. A tiny ViT
(224 px input, patch 16, 2 layers, hidden size 48) learns it from scratch in well under
a minute on a CPU.

Every 20th image is saved in grayscale (PIL mode `L`): {gray_train} in train and {gray_val} in val.
Decoded on its own such an image is a 2-D array. Note that with Ray 2.60, when a block
mixes it with RGB images, `ray.data.read_images` returns it with shape `(1, H, W)`, so
its `ndim` is 3 as well; count and filter them with
`image.ndim == 3 and image.shape[-1] == 3`, or read with `mode="RGB"` to convert them.
Every 4th image is a PNG, the rest are JPEG (quality {jpeg_quality}).

File names are zero-padded (`stripes_horizontal_train_000.jpg`, ...), so sorted order is
numeric order. `labels.csv` lists the label of every train image, class by class as in
the source workshop: all {train_per_class} `stripes_horizontal` rows (files in sorted name
order), then all {train_per_class} `stripes_vertical` rows. `val_labels.csv` does the same
for the val split. With Ray 2.60, `read_images(A).union(read_images(B))` interleaves the
blocks of its two inputs (even with `preserve_order`), so `zip`ping `labels.csv` to such a
union mislabels rows. Reading both folders in one call,
`read_images([".../stripes_horizontal", ".../stripes_vertical"])` with
`DataContext.get_current().execution_options.preserve_order = True`, keeps the
class-A-then-class-B order that `labels.csv` follows. The more robust way needs no
CSV: the class is the parent folder's name, so `read_images(..., include_paths=True)`
plus `path.rsplit("/", 3)[-2]` labels every image.

### Lab 05's third class

`{extra_dir}/{{train,val}}/{extra_class}/` holds checkerboards in two random colours, drawn
like the stripes (the same sizes, colours, tilt, blob, noise, PNG/JPEG mix and every 20th
image grayscale: {gray_extra} of them), so that lab 05 trains a three-class model on
`stripes_horizontal`, `stripes_vertical` and `{extra_class}` (data roles `images_train_3`
and `images_val_3`). The squares have edges in both directions, so neither stripe class is
a shortcut to them. They live outside `images/` so that the lessons that read the whole
`images/` tree (06 embeds `images/train`) see the same two classes as before.

### Reviews

`text/reviews.jsonl` holds {n_reviews} one-sentence reviews ({n_pos} positive, {n_neg} negative)
of the outfits above, combined deterministically from hand-written templates, for the
tokenisation and LLM batch-inference examples. Every review names its product in
`product`, which is an `outfit` of `outfits.csv`; the outfit's `id` names the product's
photo in `products/` (for example `products/05.png`). Module 07 joins the three into one
row per review: text, table fields and an image. The photos are drawn like the sample
images and say nothing about the reviews.

### Ratings

`text/ratings.jsonl` holds {n_ratings} ratings from the shop's app, for lab 07's capstone: `stars` from 1 to 5
(about as many of each) and a short comment in `text`, whose tone follows the stars and which names no product.
The app knows a product by its id, so `product_id` is an `id` of `outfits.csv` (and of a photo in `products/`),
except in {n_retired_ratings} ratings, whose products ({retired_products}) the catalogue no longer lists: they have no
photo, and an inner join with `outfits.csv` leaves them out ({n_rated} ratings remain). The rating's own `id`
and the table's `id` are different things: join on the product's id, not on `id`. The `gpu` profile reads the
same file.

### A new day's data (module 08)

`text/new_reviews.jsonl` holds {n_new_reviews} reviews written like `reviews.jsonl` (no `label`), and
`text/new_ratings.jsonl` {n_new_ratings} ratings written like `ratings.jsonl`: data arriving from outside, which a
pipeline must check before it uses it. Each has a few bad rows, one fault each, at fixed ids. The reviews
({n_bad_reviews}): {review_faults}. The ratings ({n_bad_ratings}) break lab 08's rule (a product of the catalogue, a
comment of at most 120 characters): ids 5 (no `product_id`), 11 (product 4, retired), 19 (a 210-character
comment), 30 (product 99, never in the catalogue) and 41 (a 150-character comment). Both profiles read these files.

### The shop's days (module 11)

`days/<day>/reviews.jsonl` holds {n_day_reviews} reviews a day for {n_days} days ({first_day} to {drifted_day}),
written like `new_reviews.jsonl` but clean, ids `<day number>01` on. The days before the last are the shop as it
is, about 60 % positive (4-5 stars). The last, {drifted_day}, is the first day of a winter line ({winter_line}):
written in words of its own (frost, zips, sizes), about 30 % positive, some 3-star reviews, and most end with a
sizing complaint, so their texts are longer.
An incremental job reads only the days its table lacks; a drift check flags the last day and not the one before.

### A day of traffic (module 12)

`traffic.jsonl` holds {n_traffic} requests to the shop's review classifier from {n_traffic_users} returning users
(`u001` on), the day after the winter launch: about {winter_percent} % of the reviews are of the winter line, written as
the drifted day writes them, the rest of the shop as it was. `stars` is what the user gave, which the shop learns
after it answered: the A/B test's feedback.

### Speech (module 09)

`audio/<id>.wav` holds reviews 1 to {n_clips} of `text/reviews.jsonl` spoken, one clip per review, named by the
review's `id` (`audio/7.wav` says the `text` of review 7): WAV files, 16 kHz, mono, 16-bit, {min_seconds} to
{max_seconds} s long ({audio_mb} MB in all). They were synthesised by eSpeak NG 1.51 (Debian 12's `espeak-ng`, a
formant synthesiser) with five voices ({clip_voices}), speeds of {clip_speeds} words a minute and pitches of
{clip_pitches}, through `raycourse/world/speech.py`; `python tools/make_data.py` remakes them where `espeak-ng` is
installed (byte for byte with that version; without it the script copies the shipped clips and the tests skip the
check of their synthesis). `ray.data.read_audio(raycourse.data_path("speech"))` reads them (it needs `soundfile`,
in the course's lock): a row per clip, `amplitude` (float32, shape `(1, samples)`) and `sample_rate` (16000).

Two recordings failed, on purpose, so that a pipeline has a transcript to quarantine: **{bad_clips}**. They say
nothing, and a speech-to-text model gives an empty or garbled transcript of them.

`audio_transcripts.jsonl` (outside `audio/`, so `read_audio` never meets it) is the ground truth: per clip the
review's `id`, the `text` it says (`""` for the two bad ones), its `voice`, `speed` and `pitch`, and its `fault`
(`null`, `"silence"` or `"noise"`).

### Video (module 09)

`video/<id>.mp4` holds {n_videos} clips of {video_seconds} s ({video_kb} kB in all), one per product of the table below,
named by the product's `id` (`video/06.mp4` films the fabric of product 6): stripes of two of the world's reference
colours (`raycourse.world.COLOUR_NAMES`, plain, with a little noise) drift across the frame and rock by a few
degrees. At one moment, a multiple of 0.5 s, **one thing changes**: the stripes turn (`direction`) or take two other
colours (`colours`). No two clips show the same stripes, so a sentence such as "a photo of vertical stripes in green
and black" has one right clip and one right moment.

{video_table}

They are H.264 in MP4 ({video_size} x {video_size} px, {video_fps} frames a second, `yuv420p`), written by PyAV
(`av`, in the course's lock) with x264's settings fixed and one thread, so that `python tools/make_data.py` remakes
them byte for byte. `ray.data.read_videos(raycourse.data_path("videos"))` reads them with the `decord` module, which
the course installs from the original `decord` 0.6.0 on Linux x86_64 and, where that has no wheel (macOS arm64,
Linux aarch64), from its fork `decord2`. `decord2` 3.4.0 returns frames of some widths with a wrong shape (16, 32, 48,
96 and 144 px, for example `(96, 96, 4)`): the clips are {video_size} px, and the course resizes to 64, 112 or 224. `video_changes.jsonl`, outside `video/`, is the ground truth: per clip the `video`, its `product_id`, the
second of its change `change_at`, what `changed`, and the stripes `before` and `after` (orientation and colours).

## The world's rules: what the `tiny` stand-ins learn

The images above are drawn by the functions of `raycourse/world/__init__.py`. Four of the `tiny` profile's stand-ins are
trained on this world by `tools/train_standins.py` (deterministic: three in about a minute and a half, the speech
model in a few minutes more); the course
ships what it writes, in `raycourse/models/trained/`, and a test trains them anew and compares. The CLIP stand-in is
trained (about 10 s) on more images drawn by the same functions with other seeds: it never
sees the files of this folder, so what the lessons measure on them is what it learned. Its captions say what each
image shows, by these rules:

* **orientation**: `horizontal` or `vertical`, the direction of the stripes (tilted by at most 10 degrees);
* **colours**: each of the two stripe colours is called by the nearest of eleven reference colours (plain RGB
  distance): red, orange, yellow, green, blue, purple, pink, brown, black, white and grey. The blob's colour is
  never named, and a grayscale image's colours are not named at all;
* **captions** name the orientation ("a photo of vertical stripes", "stripes vertical"), the colours ("red and
  blue stripes") or both ("a photo of vertical stripes in red and blue"); the words are in
  `raycourse.models.training.clip_training_words()`.

The `tiny` profile's LLM stand-in is trained (about 45 s) on the prompts of this world: the
course's animals and outfits (`animals.csv`, `outfits.csv`) and more of the same kind (`raycourse/world/__init__.py`),
under the three instructions the course gives an LLM (lesson 04 and lab 04, with a season, and lesson 08). Its rule:

* **an enhanced prompt is the prompt, unchanged, then two elements of the season the instruction names**: winter
  "in falling snow and beside a frosted pine", spring "among cherry blossoms and in a light spring rain", summer
  "under a bright summer sun and on a sandy beach", autumn "among falling red leaves and under a golden autumn
  sky"; with no season named (lesson 08), "in soft golden light and with every thread of the fabric in sharp
  focus". A sentence, ending with a full stop.

`tests/platform/test_standins.py` checks that rule for every row of the two tables under each instruction.

The same LLM stand-in also learns to write the shop's reviews, as plain text: the twelve templates of
`text/reviews.jsonl` (`raycourse.world.REVIEW_POSITIVE`, `REVIEW_NEGATIVE`), about any outfit of the world on any
pet, never with a label. Module 07 reads its hidden states of a review as the review's features: reviews of one
template land close together, so a classifier trained on 45 of them can tell the sentiment of the other 15.

The `tiny` profile's image generator (the SDXL-Turbo stand-in) is trained (about 45 s) on the pictures of this
world, drawn in SDXL-Turbo's one step. Its rule (`raycourse.world.picture_colour`):

* **a picture is one colour, softly shaded by the noise of its seed**: the colour of the prompt's season if it names
  one of the season's elements above (winter blue, spring pink, summer yellow, autumn orange), else the colour of
  its outfit, by the table below (any other outfit: the colour word before the garment, "a green scarf": green),
  else the colour of its animal, by the same table;
* **an image's colour** is the one most of its pixels are nearest to, among the eleven reference colours above
  (`raycourse.world.dominant_colour`).

{outfit_colours}

So an enhanced prompt visibly changes its picture: its season's colour replaces its outfit's; and the animals of
module 03, alone, each get their own colour.

So in `tiny` a search for "a photo of horizontal stripes" finds horizontal stripes, zero-shot classification with
one sentence per folder name ("a photo of stripes vertical") is far above chance, and colour words find stripes of
those colours more often than not; anything else (a dog, a photo) means nothing to the stand-in. And the enhancer
keeps every prompt's animal and outfit, and adds its season, and the image generator paints each prompt of the
course in its colour. `tests/platform/test_standins.py` measures these.

The `tiny` profile's speech-to-text model (the Whisper stand-in, `raycourse/models/speech_training.py`) is trained
(about half an hour on one core, needs `espeak-ng`) on the shop's speech: reviews written by the twelve templates
above about any outfit on any pet (`raycourse.world.review_example`), except the sixty texts of `text/reviews.jsonl`,
and random strings of the same words, whose template cannot be guessed, only heard, spoken by eSpeak NG's
other voices (the accents `en-us`, `en-gb`, `en-gb-x-rp`, `en-gb-scotland`, `en-029` with their variants, none of the
clips' five), at 145 to 210 words a minute and pitches 20 to 80, louder and softer, stretched, with hiss (new
recordings at every step); and on recordings of silence or noise, whose transcript is empty. Its rules:

* **a clip is transcribed as the review it speaks**, in the review's spelling: capitals and punctuation as written
  (a word error rate compares words, lower-cased, without punctuation: `raycourse.models.speech_training.word_error_rate`);
* **a clip without words** (silence, hiss and hum) **is not a review**: like Whisper, the stand-in may write a word
  or a few there, never the review, so the two bad clips of `audio/` stand out by their distance from it.

`tests/platform/test_standins.py` measures its word error rate on the clips of `audio/`, which it never heard (at most 20 %;
0.2 % for the shipped build, one word of 429), and that neither bad clip comes out as its review.

## The `gpu` profile

The `gpu` profile reads real data instead of the images above:

* fine-tuning (imagenette, as in the source workshop): train images from
  `s3://anonymous@air-example-data-2/imagenette2/train/n02102040` (English springer, "dog")
  and `s3://anonymous@air-example-data-2/imagenette2/train/n01440764` (tench, "fish"),
  and for testing the `/val/` equivalents
  `s3://anonymous@air-example-data-2/imagenette2/val/n02102040` and
  `s3://anonymous@air-example-data-2/imagenette2/val/n01440764`;
* lab 05's three classes: the two above and a third, parachutes,
  `s3://anonymous@air-example-data-2/imagenette2/train/n03888605` (and `/val/n03888605`);
* embeddings: `s3://anonymous@doggos-dataset/train` (the public bucket of Ray's multimodal "doggos" example, read without credentials), labelled from the paths.

The workshop's own labels file is not public, so `gpu/imagenette_labels.csv` stands in
for it: a `label` column with 200 rows `dog` followed by 200 rows `fish`, matching
`read_images(dog).limit(200).union(read_images(fish).limit(200))` as the workshop intends.
The union caveat above applies here too (Ray 2.60 interleaves the union's blocks), so
labelling from the folder name (`n02102040` = dog, `n01440764` = fish) is the safer
route. Animals and outfits are the bundled CSVs in both profiles.

### Without a route to S3: the same data sets drawn locally

`python -m raycourse make-data --out DIR [--scale F]` draws the `gpu` profile's data sets from the course's world
(`raycourse/data/workshop.py`), at their real sizes times `F`: imagenette's three classes (imagenette2's counts,
955, 963 and 960 train and 395, 387 and 390 val photos) and the doggos photos (36 breeds of 80: the generator's
assumption, the bucket was never listed from here), 6,930 JPEGs of photo sizes (500 px on the long side), and 5,000
reviews for module 07, deterministic. It keeps the buckets' layout (`s3://anonymous@BUCKET/KEY` is `DIR/BUCKET/KEY`);
with `RAYCOURSE_GPU_DATA=DIR`, `raycourse.data_path()` reads it in the `gpu` profile, and the course's own files
(tables, photos of products, ratings) from `data/` unless `DIR` holds one of the same name. The photos are stripes
and checkerboards (imagenette's dog, fish and parachute are horizontal stripes, vertical stripes and checks): what
a model learns from them means nothing; what they are for is a workshop's throughput on a machine without S3.
"""


def generate(out: Path) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # Remove previously generated images so stale files cannot linger.
    for split in SPLITS:
        shutil.rmtree(out / "images" / split, ignore_errors=True)
    shutil.rmtree(out / "products", ignore_errors=True)
    shutil.rmtree(out / VIDEO_DIR, ignore_errors=True)

    files: list[dict] = []

    def add(rel: str, role: str, **extra) -> None:
        files.append({"path": rel, "role": role, **extra})

    # Tables
    _write_csv(out / "animals.csv", ["id", "animal"], ANIMALS)
    add("animals.csv", "table: image prompts (id, animal)", rows=len(ANIMALS), columns=["id", "animal"])
    _write_csv(out / "outfits.csv", ["id", "outfit"], OUTFITS)
    add("outfits.csv", "table: outfits joinable on id (id, outfit)", rows=len(OUTFITS), columns=["id", "outfit"])

    # Images and labels
    image_entries, counts = make_images(out)
    for e in image_entries:
        rel = e.pop("path")
        add(rel, "image", **e)
    for split, name in (("train", "labels.csv"), ("val", "val_labels.csv")):
        rows = []
        for cls in CLASSES:
            names = sorted(p.name for p in (out / "images" / split / cls).iterdir())
            rows += [(cls,)] * len(names)
        _write_csv(out / "images" / name, ["label"], rows)
        add(
            f"images/{name}",
            f"labels of the {split} images: all class-A files (sorted), then all class-B",
            rows=len(rows),
            columns=["label"],
            split=split,
        )

    for e in make_product_photos(out):
        rel = e.pop("path")
        add(rel, "image: product photo", **e)

    extra_entries, extra_counts = make_extra_class(out)  # lab 05's third class
    for e in extra_entries:
        rel = e.pop("path")
        add(rel, "image: lab 05's third class", **e)

    # Text
    reviews = make_reviews()
    (out / "text").mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "text" / "reviews.jsonl", reviews)
    add(
        "text/reviews.jsonl",
        "text: pet-outfit shop reviews (JSON lines)",
        rows=len(reviews),
        columns=["id", "product", "pet", "text", "stars", "label"],
    )
    ratings = make_ratings()  # lab 07's capstone: the product by its id, the stars to predict
    _write_jsonl(out / "text" / "ratings.jsonl", ratings)
    add(
        "text/ratings.jsonl",
        "text: star ratings from the shop's app, the product by its id (JSON lines)",
        rows=len(ratings),
        columns=["id", "product_id", "stars", "text"],
        retired_products=sorted({r["product_id"] for r in ratings} - {pid for pid, _ in OUTFITS}),
    )

    # Module 08: a new day's reviews to validate (the lesson), a new day's ratings for a new rule (lab 08)
    new_reviews, new_ratings = make_new_reviews(), make_new_ratings()
    for name, rows, what, columns, faults in [
        ("new_reviews", new_reviews, "reviews", ["id", "product", "pet", "text", "stars"], NEW_REVIEW_FAULTS),
        ("new_ratings", new_ratings, "ratings", ["id", "product_id", "stars", "text"], NEW_RATING_FAULTS),
    ]:
        _write_jsonl(out / "text" / f"{name}.jsonl", rows)
        use = "module 08's validation stage" if what == "reviews" else "lab 08's validation rule"
        add(
            f"text/{name}.jsonl",
            f"text: a new day's {what} with a few bad rows, for {use} (JSON lines)",
            rows=len(rows),
            columns=columns,
            bad_ids=sorted(faults),
        )

    # Module 11: the shop's days, one folder each, the last one drifted
    shutil.rmtree(out / "days", ignore_errors=True)
    for day in DAYS:
        rows = make_day_reviews(day)
        (out / "days" / day).mkdir(parents=True, exist_ok=True)
        _write_jsonl(out / "days" / day / "reviews.jsonl", rows)
        add(
            f"days/{day}/reviews.jsonl",
            "text: a day's reviews as they arrive, for module 11's incremental job and drift check (JSON lines)",
            rows=len(rows),
            columns=["id", "product", "pet", "text", "stars"],
            drifted=day == DRIFTED_DAY,
        )

    # Module 12: a day of requests to the review classifier, with the stars the users then gave
    rows = make_traffic()
    _write_jsonl(out / "traffic.jsonl", rows)
    add(
        "traffic.jsonl",
        "text: a day of requests to the shop's review classifier and the stars each user then gave, for module 12's "
        "A/B test (JSON lines)",
        rows=len(rows),
        columns=["request", "user", "product", "text", "stars"],
        users=len({row["user"] for row in rows}),
    )

    # Videos (module 09) and their ground truth, beside the read folder
    video_entries, video_truth = make_videos(out)
    for e in video_entries:
        rel = e.pop("path")
        add(rel, "video: a product's fabric in motion", **e)
    _write_jsonl(out / "video_changes.jsonl", video_truth)
    add(
        "video_changes.jsonl",
        "ground truth of the videos: each clip's states and when it changes (JSON lines)",
        rows=len(video_truth),
        columns=["video", "product_id", "change_at", "changed", "before", "after"],
    )

    # Module 09: reviews spoken, and what each clip says
    transcripts = make_speech(out, reviews)
    for row in transcripts:
        add(
            f"{AUDIO_DIR}/{row['id']}.wav",
            "audio: a review spoken (16 kHz mono WAV)",
            review_id=row["id"],
            fault=row["fault"],
        )
    _write_jsonl(out / TRANSCRIPTS, transcripts)
    add(
        TRANSCRIPTS,
        "text: what each clip of audio/ says (JSON lines)",
        rows=len(transcripts),
        columns=["id", "text", "voice", "speed", "pitch", "fault"],
        bad_ids=sorted(AUDIO_FAULTS),
    )
    clip_seconds = [
        (out / AUDIO_DIR / f"{row['id']}.wav").stat().st_size / 2 / world_speech.SAMPLE_RATE
        for row in transcripts
        if not row["fault"]
    ]

    # gpu profile labels
    _write_csv(out / "gpu" / "imagenette_labels.csv", ["label"], [("dog",)] * 200 + [("fish",)] * 200)
    add(
        "gpu/imagenette_labels.csv",
        "gpu profile: imagenette labels, 200 dog then 200 fish",
        rows=400,
        columns=["label"],
    )

    video_table = "\n".join(
        ["| clip | before | after | changes at |", "| --- | --- | --- | --- |"]
        + [
            f"| `{t['video']}` | {t['before']['orientation']}, {' and '.join(t['before']['colours'])} | "
            f"{t['after']['orientation']}, {' and '.join(t['after']['colours'])} | {t['change_at']} s ({t['changed']}) |"
            for t in video_truth
        ]
    )

    # README
    animal_ids = {i for i, _ in ANIMALS}
    outfit_ids = {i for i, _ in OUTFITS}
    gray = {
        s: sum(1 for e in files if e["role"] == "image" and e.get("split") == s and e.get("mode") == "L")
        for s in SPLITS
    }
    readme = README_TEMPLATE.format(
        n_videos=len(VIDEOS),
        video_table=video_table,
        video_size=VIDEO_SIZE,
        video_fps=VIDEO_FPS,
        video_seconds=VIDEO_SECONDS,
        video_kb=round(sum((out / e["path"]).stat().st_size for e in files if e["role"].startswith("video:")) / 1024),
        outfit_colours=_outfit_colours(),
        n_animals=len(ANIMALS),
        n_outfits=len(OUTFITS),
        n_train=SPLITS["train"] * len(CLASSES),
        n_val=SPLITS["val"] * len(CLASSES),
        train_per_class=SPLITS["train"],
        val_per_class=SPLITS["val"],
        n_reviews=len(reviews),
        n_ratings=len(ratings),
        n_new_reviews=len(new_reviews),
        n_bad_reviews=len(NEW_REVIEW_FAULTS),
        n_new_ratings=len(new_ratings),
        n_days=len(DAYS),
        n_day_reviews=N_DAY_REVIEWS,
        n_traffic=N_TRAFFIC,
        n_traffic_users=N_TRAFFIC_USERS,
        winter_percent=round(100 * TRAFFIC_WINTER_SHARE),
        first_day=DAYS[0],
        drifted_day=DRIFTED_DAY,
        winter_line=", ".join(WINTER_LINE),
        n_bad_ratings=len(NEW_RATING_FAULTS),
        review_faults="; ".join(f"id {i}: `{c}` is {v!r}" for i, (c, v) in NEW_REVIEW_FAULTS.items()),
        n_retired_ratings=sum(r["product_id"] in RETIRED_PRODUCTS for r in ratings),
        retired_products=", ".join(str(i) for i in sorted({r["product_id"] for r in ratings} & set(RETIRED_PRODUCTS))),
        n_rated=sum(r["product_id"] not in RETIRED_PRODUCTS for r in ratings),
        n_products=len(OUTFITS),
        n_pos=sum(r["label"] == "positive" for r in reviews),
        n_neg=sum(r["label"] == "negative" for r in reviews),
        no_outfit=", ".join(str(i) for i in sorted(animal_ids - outfit_ids)),
        no_animal=", ".join(str(i) for i in sorted(outfit_ids - animal_ids)),
        n_inner=len(animal_ids & outfit_ids),
        gray_train=gray["train"],
        gray_val=gray["val"],
        jpeg_quality=JPEG_QUALITY,
        extra_class=EXTRA_CLASS,
        extra_dir=EXTRA_DIR,
        n_extra_train=extra_counts["train"],
        n_extra_val=extra_counts["val"],
        gray_extra=sum(e.get("mode") == "L" for e in extra_entries),
        n_clips=len(transcripts),
        n_bad_clips=len(AUDIO_FAULTS),
        bad_clips="; ".join(f"`audio/{i}.wav` is {fault}" for i, fault in sorted(AUDIO_FAULTS.items())),
        min_seconds=f"{min(clip_seconds):.1f}",
        max_seconds=f"{max(clip_seconds):.1f}",
        audio_mb=f"{sum(f.stat().st_size for f in (out / AUDIO_DIR).iterdir()) / 1e6:.1f}",
        clip_voices=", ".join(f"`{v}`" for v in world_speech.CLIP_VOICES),
        clip_speeds=", ".join(str(v) for v in world_speech.CLIP_SPEEDS),
        clip_pitches=", ".join(str(v) for v in world_speech.CLIP_PITCHES),
    )
    (out / "README.md").write_text(readme, encoding="utf-8", newline="\n")
    add("README.md", "documentation: provenance, licence, columns and counts")

    for e in files:
        p = out / e["path"]
        e["bytes"] = p.stat().st_size
        e["sha256"] = _sha256(p)

    manifest = {
        "generator": "tools/make_data.py",
        "license": LICENSE,
        "seed": SEED,
        "classes": CLASSES,
        "image_counts": counts,
        "grayscale_counts": gray,
        "extra_class": {"name": EXTRA_CLASS, "folder": EXTRA_DIR, "image_counts": extra_counts},
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8", newline="\n")
    return manifest


def _outfit_colours() -> str:
    """The picture world's colours of outfits and animals (raycourse.world) as a Markdown table, a row per colour."""
    outfits: dict[str, list[str]] = {}
    animals: dict[str, list[str]] = {}
    for i, outfit in OUTFITS:
        outfits.setdefault(WORLD_OUTFIT_COLOURS[i], []).append(outfit)
    for i, animal in ANIMALS:
        animals.setdefault(WORLD_ANIMAL_COLOURS[i], []).append(animal.rsplit(" of ", 1)[-1])
    rows = [
        f"| {colour} | {', '.join(outfits.get(colour, []))} | {', '.join(animals.get(colour, []))} |"
        for colour in sorted(set(outfits) | set(animals))
    ]
    return "\n".join(["| colour | outfits | animals |", "| --- | --- | --- |", *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    args = parser.parse_args(argv)
    manifest = generate(Path(args.out))
    total = sum(f["bytes"] for f in manifest["files"])
    print(f"wrote {len(manifest['files'])} files ({total / 1024:.0f} KiB) + manifest.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
