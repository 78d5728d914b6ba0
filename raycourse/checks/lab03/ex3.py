"""Lab 03, exercise 3: a PNG file per image, read from disk."""

from __future__ import annotations

from pathlib import Path

from .._core import Wrong, exercise
from ._common import (
    BLANK_HINT,
    IMAGE_SHAPE,
    RERUN_HINT,
    _describe,
    _files_of,
    _folder,
    _image_problem,
    _judge_expected,
    _not_there,
    _observe_expected,
    _pixel_facts,
    _where,
)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def _check_png_files(files: list[str], folder: str, n_expected: int) -> list[str]:
    """The PNG files of the folder's listing: nothing else beside them, one per prompt."""
    if not files:
        raise Wrong(
            f'out_dir / "{folder}" exists but is empty.',
            "Write the images into it; a Dataset write method runs the whole pipeline.",
        )
    other_images = [p for p in files if Path(p).suffix.lower() in IMAGE_SUFFIXES - {".png"}]
    if other_images:
        kinds = sorted({Path(p).suffix.lower() for p in other_images})
        raise Wrong(
            f'found {len(other_images)} {"/".join(kinds)} file(s) in out_dir / "{folder}"; the exercise asks for PNG.',
            "The image write method has an argument that chooses the file format.",
        )
    pngs = [p for p in files if Path(p).suffix.lower() == ".png"]
    if not pngs:
        raise Wrong(
            f'out_dir / "{folder}" holds no .png files (it holds {_describe(files)}).',
            "Write the images themselves, one image file per row, not a table of them.",
        )
    stray = [p for p in files if p not in pngs]
    if stray:
        raise Wrong(
            f'out_dir / "{folder}" holds {_describe(stray)} beside the PNG files; the exercise '
            "asks for the images and nothing else.",
            "Write only the images into this folder (other files belong elsewhere in out_dir); "
            "re-run the setup cell to empty out_dir, then run your exercise cell once.",
        )
    if len(pngs) != n_expected:
        if len(pngs) > n_expected:
            raise Wrong(f"found {len(pngs)} PNG files, but there are {n_expected} prompts.", RERUN_HINT)
        raise Wrong(
            f"found {len(pngs)} PNG files, but there are {n_expected} prompts.",
            "Write one file per generated image: all rows, not a sample.",
        )
    return pngs


def _png_facts(path: Path) -> dict:
    """What the judge reads of one .png file: whether it opens as an image, its format, size and mode, and the
    facts of its pixels (:func:`_pixel_facts`)."""
    from PIL import Image

    import numpy as np

    try:
        with Image.open(path) as image:
            image.load()
            fmt, size, mode = image.format, image.size, image.mode
            pixels = np.asarray(image)
    except Exception:
        return {"opens": False}
    return {"opens": True, "format": fmt, "size": list(size), "mode": mode, "pixels": _pixel_facts(pixels)}


def _check_png_contents(pngs: list[str], facts: dict) -> None:
    unreadable, not_png, wrong_size, blank = [], [], [], []
    for name in pngs:
        png = facts[name]
        if png["opens"] is not True:
            unreadable.append(name)
            continue
        size, mode = tuple(int(n) for n in png["size"]), str(png["mode"])
        if png["format"] != "PNG":
            not_png.append(png["format"])
        elif size != IMAGE_SHAPE[1::-1] or mode != "RGB":
            wrong_size.append(f"{size[0]}x{size[1]} {mode}")
        else:
            problem = _image_problem(png["pixels"])
            if problem:
                blank.append((name, problem[0]))
    if unreadable:
        raise Wrong(
            f"{len(unreadable)} of the {len(pngs)} .png files do not open as images.",
            "Write the files with an image writer, from NumPy uint8 arrays.",
        )
    if not_png:
        raise Wrong(
            f"{len(not_png)} of the {len(pngs)} files are named .png but hold {not_png[0]} images.",
            "Choose the format when you write, instead of renaming files.",
        )
    if wrong_size:
        raise Wrong(
            f"{len(wrong_size)} of the {len(pngs)} PNG files are {wrong_size[0]} images, not "
            f"{IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB.",
            "Write the generated images as they are: uint8 arrays of height x width x 3.",
        )
    if blank:
        name, problem = blank[0]
        raise Wrong(
            f"{len(blank)} of the {len(pngs)} PNG files hold no picture: {Path(name).name} {problem}.",
            "Write the images of Exercise 1, whose pixels are the ones the model drew. " + BLANK_HINT,
        )


def _judge_3(seen, seed=None) -> str:
    n_expected, _ = _judge_expected(seen["expected"])
    folder = str(seen["folder"])
    pngs = _check_png_files([str(f) for f in seen["files"]], folder, n_expected)
    _check_png_contents(pngs, seen["pngs"])
    return f'{len(pngs)} PNG files of {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} RGB in out_dir / "{folder}".'


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(folder, prompts):
    """One PNG file per prompt in ``folder`` (``out_dir / "png"``), each a 512x512 RGB image."""
    target = _folder(folder)
    if not target.exists():
        _not_there(target, IMAGE_SUFFIXES, "image", "write one PNG file per image there")
    expected = _observe_expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "Write the image files into the folder the exercise names.",
        )
    files = _files_of(target)
    pngs = [f for f in files if Path(f).suffix.lower() == ".png"]
    return {
        "expected": expected,
        "folder": target.name,
        "files": files,
        "pngs": {f: _png_facts(target / f) for f in pngs},
    }
