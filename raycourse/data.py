"""Data roles: where a notebook reads each data set from, for the active profile.

``tiny`` reads the small sample data shipped in ``data/`` (see ``data/README.md``);
``gpu`` reads the seeds' public data sets where there are any; its offline rehearsal,
which runs the stand-ins, reads ``data/`` like ``tiny``. The animals and outfits tables
are the course's own and are read from ``data/`` in both profiles.
``RAYCOURSE_DATA`` points the course at another copy of ``data/`` (for example one
on shared storage such as ``/mnt/cluster_storage`` on a multi-node cluster).
``RAYCOURSE_GPU_DATA`` points the ``gpu`` profile at a local copy of its data sets instead of S3, such as the
workshop-scale data that ``python -m raycourse make-data`` draws (:mod:`raycourse.workshop_data`).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import config
from .errors import CourseError

DATA_ENV = "RAYCOURSE_DATA"
GPU_DATA_ENV = "RAYCOURSE_GPU_DATA"  # a local copy of the gpu profile's data sets (s3://anonymous@B/K -> DIR/B/K)
_IMAGENETTE = "s3://anonymous@air-example-data-2/imagenette2"

# role -> (tiny: path(s) relative to the data root, gpu: public location(s) or None = same as tiny)
DATA_ROLES: dict[str, tuple[object, object]] = {
    "animals": ("animals.csv", None),
    "outfits": ("outfits.csv", None),
    "images_train": (
        ["images/train/stripes_horizontal", "images/train/stripes_vertical"],
        [f"{_IMAGENETTE}/train/n02102040", f"{_IMAGENETTE}/train/n01440764"],
    ),
    "images_val": (
        ["images/val/stripes_horizontal", "images/val/stripes_vertical"],
        [f"{_IMAGENETTE}/val/n02102040", f"{_IMAGENETTE}/val/n01440764"],
    ),
    # lab 05's three classes: the two above and a third (checkerboards in tiny, parachutes in gpu)
    "images_train_3": (
        ["images/train/stripes_horizontal", "images/train/stripes_vertical", "images_extra/train/checks"],
        [f"{_IMAGENETTE}/train/n02102040", f"{_IMAGENETTE}/train/n01440764", f"{_IMAGENETTE}/train/n03888605"],
    ),
    "images_val_3": (
        ["images/val/stripes_horizontal", "images/val/stripes_vertical", "images_extra/val/checks"],
        [f"{_IMAGENETTE}/val/n02102040", f"{_IMAGENETTE}/val/n01440764", f"{_IMAGENETTE}/val/n03888605"],
    ),
    "labels": ("images/labels.csv", "gpu/imagenette_labels.csv"),
    "embedding_images": ("images/train", "s3://anonymous@doggos-dataset/train"),
    "text": ("text/reviews.jsonl", None),
    "ratings": ("text/ratings.jsonl", None),  # lab 07: star ratings from the shop's app
    "product_photos": ("products", None),
    "new_reviews": ("text/new_reviews.jsonl", None),  # module 08: a new day's reviews, with bad rows to validate
    "new_ratings": ("text/new_ratings.jsonl", None),  # lab 08: a new day's ratings, a new rule
}


def data_root() -> Path:
    """The folder with the course's sample data (``RAYCOURSE_DATA`` or the repository's ``data/``)."""
    env = os.environ.get(DATA_ENV, "").strip()
    root = Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data"
    if not root.is_dir():
        raise CourseError(
            f"The course data folder {root} does not exist.",
            f"Point {DATA_ENV} at a copy of the repository's data/ folder, or unset it; "
            "`python tools/make_data.py` regenerates data/ in a clone.",
        )
    return root


def _local(rel: str) -> str:
    path = data_root() / rel
    if not path.exists():
        raise CourseError(
            f"Missing course data file: {path}.",
            "Restore it with `git checkout -- data/` or regenerate everything with "
            "`python tools/make_data.py`.",
        )
    return str(path)


def data_path(role: str):
    """Path (or list of paths, one per class folder) for a data role under the active profile."""
    try:
        tiny, gpu = DATA_ROLES[role]
    except KeyError:
        raise CourseError(f"Unknown data role {role!r}.", f"Use one of: {', '.join(DATA_ROLES)}.") from None
    spec = tiny if gpu is None or config.uses_standins() else gpu  # stand-ins: tiny or the gpu rehearsal
    local = gpu_data_root() if os.environ.get(GPU_DATA_ENV, "").strip() and not config.uses_standins() else None
    resolve = (lambda s: _in_gpu_data(local, s, role)) if local else (lambda s: s if "://" in s else _local(s))
    return [resolve(s) for s in spec] if isinstance(spec, list) else resolve(spec)


def gpu_data_root() -> Path | None:
    """The local copy of the gpu profile's data sets (``RAYCOURSE_GPU_DATA``), or None: read S3."""
    env = os.environ.get(GPU_DATA_ENV, "").strip()
    if not env:
        return None
    root = Path(env).expanduser()
    if not root.is_dir():
        raise CourseError(
            f"{GPU_DATA_ENV} names {root}, which is not a folder.",
            f"Draw the gpu profile's data there with `python -m raycourse make-data --out {root}`, "
            f"or unset {GPU_DATA_ENV} to read the data sets from S3.",
        )
    return root


def _in_gpu_data(root: Path, spec: str, role: str) -> str:
    """Where a data set of the gpu profile lies in the local copy: ``s3://anonymous@BUCKET/KEY`` is
    ``root/BUCKET/KEY``; a course file is ``root/<file>`` where the copy has one, else the course's own."""
    if "://" not in spec:
        return str(root / spec) if (root / spec).exists() else _local(spec)
    path = root / spec.split("://", 1)[1].split("@", 1)[-1]
    if not path.exists():
        raise CourseError(
            f"The data of role {role!r} ({spec}) is not in {root} ({GPU_DATA_ENV}): {path} does not exist.",
            f"Draw it with `python -m raycourse make-data --out {root}`, or unset {GPU_DATA_ENV} to read S3.",
        )
    return str(path)


def check_gpu_data(open_fs=None, timeout: float = 60.0) -> dict[str, str]:
    """Reach and read one file of each of the gpu profile's data sets on S3 (or of the local copy that
    ``RAYCOURSE_GPU_DATA`` names); return ``{location: what was read}``, or raise CourseError naming the data set
    that could not be read and what to do. ``open_fs(uri) -> (filesystem, path)`` is pyarrow's
    ``FileSystem.from_uri`` (what Ray's readers use) unless given."""
    import threading

    if open_fs is None:
        from pyarrow.fs import FileSystem

        open_fs = FileSystem.from_uri
    local = gpu_data_root()
    locations = []
    for role, (_, gpu) in DATA_ROLES.items():
        for spec in gpu if isinstance(gpu, list) else [gpu]:
            if spec and "://" in spec and spec not in locations:
                locations.append(spec)
    done = {}
    for uri in locations:
        target = _in_gpu_data(local, uri, "gpu data") if local else uri
        result: dict = {}

        def read_one(target=target, result=result):
            try:
                from pyarrow.fs import FileSelector, FileType

                fs, path = open_fs(target) if "://" in target else _local_fs(target)
                files = [f for f in fs.get_file_info(FileSelector(path, recursive=True)) if f.type == FileType.File]
                if not files:
                    raise FileNotFoundError(f"no file under {target}")
                first = min(files, key=lambda f: f.path)
                with fs.open_input_stream(first.path) as stream:
                    result["ok"] = f"{len(files)} files, read {len(stream.read(65536))} bytes of {first.base_name}"
            except Exception as exc:  # noqa: BLE001 - every failure is the learner's "no route" here
                result["error"] = f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=read_one, daemon=True)
        worker.start()
        worker.join(timeout)
        if "ok" not in result:
            why = result.get("error") or f"no answer in {timeout:g} s"
            raise CourseError(
                f"Could not read the gpu profile's data at {target} ({why}).",
                "This machine has no route to that public S3 bucket (a firewall, a proxy, no internet), so the "
                "gpu profile's lessons 05 and 06 cannot read their data here. Open a route to "
                "s3.amazonaws.com (anonymous, no credentials needed), or draw the data sets locally with "
                "`python -m raycourse make-data --out DIR` and set RAYCOURSE_GPU_DATA=DIR on every node.",
            )
        done[target] = result["ok"]
    return done


def _local_fs(path: str):
    from pyarrow.fs import LocalFileSystem

    return LocalFileSystem(), str(Path(path).resolve())
