"""Per-notebook output folders that are safe to clear on every run.

``output_dir("03_image_generation")`` gives an empty folder for one notebook's
results. It lives under ``outputs/`` beside the notebook (``RAYCOURSE_OUTPUTS``
moves it, for example onto shared storage), so lessons, labs and solutions never
share a folder. A folder is cleared only if the course made it (it holds a marker
file); a folder of the same name with anything else in it is left alone and the
notebook stops with a message instead.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .errors import CourseError

OUTPUTS_ENV = "RAYCOURSE_OUTPUTS"
MARKER = ".raycourse-output"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def output_root() -> Path:
    env = os.environ.get(OUTPUTS_ENV, "").strip()
    if env:  # shared storage: keep lessons, labs and solutions apart
        return Path(env).expanduser() / Path.cwd().name
    return Path.cwd() / "outputs"


def output_dir(name: str, *, clear: bool = True) -> Path:
    """An output folder for one notebook, emptied when ``clear`` (the default)."""
    if not _NAME.match(name):
        raise ValueError(f"output folder name {name!r}: use letters, digits, '_', '-' and '.' only")
    path = output_root() / name
    marker = path / MARKER
    if path.exists():
        if not path.is_dir() or (not marker.exists() and any(path.iterdir())):
            raise CourseError(
                f"{path} exists and was not made by the course, so it will not be cleared.",
                "Move or rename it (it may hold your own work), then run the cell again.",
            )
        if clear:
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    marker.write_text("Made by raycourse.output_dir(); cleared each time its notebook runs.\n")
    return path
