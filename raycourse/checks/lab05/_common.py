"""Lab 05's checks: what several exercises share (the class folders and their readable names, a folder's image
files, a part of an observation that carries a verdict, quiet model loading)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from .._core import NotSolved, Wrong, _release_abandoned_runs
from ..toolkit import as_number

PER_CLASS = 200  # the lesson's limit(200) per class
READABLE = {"n02102040": "dog", "n01440764": "fish", "n03888605": "parachute"}  # as in the lab: imagenette's ids
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"}  # what read_images reads


def class_name(folder: str) -> str:
    """The class of a folder (or of a file's parent folder name): readable names for imagenette's ids."""
    return READABLE.get(folder, folder)


def _part(fn, *args, **kwargs) -> dict:
    """What one part of an observer saw: ``{"seen": ...}``, or the verdict the part reached in the kernel (``{"not
    solved": message}``, ``{"wrong": [problem, hint]}``), which the judge raises in the check's own order. Such a
    verdict never passes, so it may come from the kernel; only the judge passes, on what was seen."""
    try:
        return {"seen": fn(*args, **kwargs)}
    except NotSolved as exc:
        return {"not solved": str(exc)}
    except Wrong as exc:
        if exc.__context__ is not None:  # the part caught an error of the learner's run: free its actors now
            _release_abandoned_runs()
        return {"wrong": [exc.problem, exc.hint]}


def _open(part: dict):
    """What :func:`_part` saw; raises the verdict the part reached instead."""
    if "not solved" in part:
        raise NotSolved(str(part["not solved"]))
    if "wrong" in part:
        problem, hint = part["wrong"]
        raise Wrong(str(problem), str(hint))
    return part["seen"]


def _name(path: str) -> str:
    """A file or folder's own name, for local paths and URIs alike."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def _parent_name(path: str) -> str:
    return _name(str(path).rsplit("/", 1)[0])


def _image_files(folder: str) -> list[str]:
    """The names of the image files in one class folder (local or on object storage)."""
    if "://" not in str(folder):
        return sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    from pyarrow.fs import FileSelector, FileSystem

    fs, root = FileSystem.from_uri(str(folder))
    infos = fs.get_file_info(FileSelector(root, recursive=False))
    return sorted(_name(i.path) for i in infos if Path(i.path).suffix.lower() in IMAGE_SUFFIXES)


def _course_folders(role: str) -> list[str]:
    """The class folders of a data role (``images_train_3``, ``images_val_3``): what the judges compare with."""
    import raycourse

    return [str(f) for f in raycourse.data_path(role)]


REPORT_HINT = (
    'At the end of every epoch, every worker calls ray.train.report({"epoch": ..., "loss": ..., '
    '"eval_accuracy": ...}, checkpoint=...), rank 0 with the checkpoint and the others with None.'
)


@contextlib.contextmanager
def _quiet_transformers():
    """No load report on the notebook's output while the check loads a checkpoint."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _value(v):
    """A reported value as the judge reads it: a number (a tensor's or array's too), else its repr."""
    number = as_number(v)
    return repr(v)[:100] if number is None else number
