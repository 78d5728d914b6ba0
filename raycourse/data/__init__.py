"""Data roles: where a notebook reads each data set from, for the active profile.

``tiny`` reads the small sample data shipped in ``data/`` (see ``data/README.md``);
``gpu`` reads the seeds' public data sets where there are any; its offline rehearsal,
which runs the stand-ins, reads ``data/`` like ``tiny``. The animals and outfits tables
are the course's own and are read from ``data/`` in both profiles.
``RAYCOURSE_DATA`` points the course at another copy of ``data/`` (for example one
on shared storage such as ``/mnt/cluster_storage`` on a multi-node cluster).

``data_path`` reads the local files it returns before a notebook's Ray reader does (:func:`check_files`, cached per
file): a corrupt image or a broken JSON line stops there with one message that names the file and the line and says
how to restore it, instead of a Ray task error from inside the read. ``python -m raycourse check-data`` checks the
whole data folder.
``RAYCOURSE_GPU_DATA`` points the ``gpu`` profile at a local copy of its data sets instead of S3, such as the
workshop-scale data that ``python -m raycourse make-data`` draws (:mod:`raycourse.data.workshop`).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import CourseError

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
    "days": ("days", None),  # module 11: the shop's reviews as they arrive, a folder a day, the last drifted
    "traffic": ("traffic.jsonl", None),  # module 12: requests to the review classifier, and the users' stars
    "speech": ("audio", None),  # module 09: reviews spoken, <review id>.wav (ground truth: audio_transcripts.jsonl)
    "speech_transcripts": ("audio_transcripts.jsonl", None),  # module 09: what each clip says, and its fault
    "videos": ("video", None),  # module 09: short clips of the products' fabric, one change each
    "video_changes": ("video_changes.jsonl", None),  # module 09: when each clip changes, and from what to what
}


_REPO_DATA = (Path(__file__).resolve().parents[2] / "data").resolve()  # a link in a copy of the package


def data_root() -> Path:
    """The folder with the course's sample data (``RAYCOURSE_DATA`` or the repository's ``data/``)."""
    env = os.environ.get(DATA_ENV, "").strip()
    root = Path(env).expanduser() if env else _REPO_DATA
    if not root.is_dir():
        if env:
            fix = (
                f"Point {DATA_ENV} at a copy of the repository's data/ folder, or unset it to use the "
                "repository's own; `python tools/make_data.py` regenerates data/ in a clone."
            )
        else:
            fix = (
                "Restore it with `git checkout -- data/` in the course's folder, or regenerate it with "
                "`python tools/make_data.py`."
            )
        raise CourseError(f"The course data folder {root} does not exist.", fix)
    return root


def _local(rel: str) -> str:
    path = data_root() / rel
    if not path.exists():
        raise CourseError(
            f"Missing course data file: {path}.",
            "Restore it with `git checkout -- data/` or regenerate everything with `python tools/make_data.py`.",
        )
    return str(path)


def data_path(role: str, *, check: bool = True):
    """Path (or list of paths, one per class folder) for a data role under the active profile.

    Local files are read first (``check``, the default): one that Ray's reader would fail on raises a
    :class:`CourseError` naming it (see :func:`check_files`). ``check=False`` returns the path without reading.
    """
    try:
        tiny, gpu = DATA_ROLES[role]
    except KeyError:
        raise CourseError(f"Unknown data role {role!r}.", f"Use one of: {', '.join(DATA_ROLES)}.") from None
    spec = tiny if gpu is None or config.uses_standins() else gpu  # stand-ins: tiny or the gpu rehearsal
    local = gpu_data_root() if os.environ.get(GPU_DATA_ENV, "").strip() and not config.uses_standins() else None
    resolve = (lambda s: _in_gpu_data(local, s, role)) if local else (lambda s: s if "://" in s else _local(s))
    paths = [resolve(s) for s in (spec if isinstance(spec, list) else [spec])]
    if check and local is None:  # the course's own data (a workshop-scale copy is thousands of photos)
        raise_problems(check_files([p for p in paths if "://" not in p]), role=role)
    return paths if isinstance(spec, list) else paths[0]


# --------------------------------------------------------------------------------------
# Reading the data files before Ray does
# --------------------------------------------------------------------------------------

# What Ray 2.60's readers take from a folder by default (ImageDatasource._FILE_EXTENSIONS, JSON_FILE_EXTENSIONS
# without the compressed ones; tests/platform/test_data_check.py holds them to Ray's lists).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")
JSON_SUFFIXES = (".json", ".jsonl")
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet",)  # read_parquet's (Ray 2.60's PARQUET_FILE_EXTENSIONS)
AUDIO_SUFFIXES = tuple(
    f".{e}"
    for e in (
        "mp3",
        "wav",
        "aac",
        "flac",
        "ogg",
        "m4a",
        "wma",
        "alac",
        "aiff",
        "pcm",
        "amr",
        "opus",
        "ra",
        "rm",
        "au",
        "mid",
        "midi",
        "caf",
    )
)  # read_audio's (Ray 2.60)
VIDEO_SUFFIXES = (".mp4",)  # the course's videos (module 09); read_videos takes many more
# What a folder of the course's data holds, by its path under the data root, where that is not images
FOLDER_HOLDS = {
    "audio": ("audio", AUDIO_SUFFIXES, "read_audio"),
    "video": ("videos", VIDEO_SUFFIXES, "read_videos"),
    "days": ("JSON lines files", JSON_SUFFIXES, "read_json"),
}
_READABLE = IMAGE_SUFFIXES + JSON_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES + AUDIO_SUFFIXES + VIDEO_SUFFIXES
_SHOWN = 8  # problems listed in one message


@dataclass(frozen=True)
class DataProblem:
    """A data file that a Ray reader would fail on: where (the file, the line where there is one) and what."""

    path: Path
    what: str
    line: int | None = None
    kind: str = ""  # "image", "audio", "video", "json", "csv", "parquet", "folder", "missing"

    def describe(self) -> str:
        where = _shown_path(self.path)
        return f"{where}, line {self.line}: {self.what}" if self.line else f"{where}: {self.what}"


_checked: dict[tuple, tuple[DataProblem, ...]] = {}  # (path, size, mtime) -> problems: each file read once


def check_files(paths) -> list[DataProblem]:
    """Read each file (and every file of each folder, recursively) as the course's Ray readers would, and
    return what fails: an image that does not decode, a JSON-lines line that does not parse or whose field has
    another type than in the lines before (its number), a CSV line with the wrong number of fields, a table without
    rows, a Parquet file that does not read, an empty file, a folder without images. An empty list: all good."""
    problems: list[DataProblem] = []
    for path in map(Path, paths):
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            readable = [p for p in files if p.suffix.lower() in _READABLE]
            noun, suffixes, reader = FOLDER_HOLDS.get(path.name, ("images", IMAGE_SUFFIXES, "read_images"))
            if not any(p.suffix.lower() in suffixes for p in readable):
                problems.append(
                    DataProblem(path, f"a folder with no {noun} in it ({reader} would find none)", kind="folder")
                )
            problems += [q for p in readable for q in _check_file(p)]
        elif path.is_file():
            problems += _check_file(path)
        else:
            problems.append(DataProblem(path, "missing", kind="missing"))
    return problems


def _check_file(path: Path) -> tuple[DataProblem, ...]:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _checked:
        suffix = path.suffix.lower()
        kind = "image" if suffix in IMAGE_SUFFIXES else "json" if suffix in JSON_SUFFIXES else "csv"
        kind = "audio" if suffix in AUDIO_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else kind
        kind = "parquet" if suffix in PARQUET_SUFFIXES else kind
        if stat.st_size == 0:
            found = [DataProblem(path, "an empty file (0 bytes)", kind=kind)]
        elif kind == "image":
            found = _check_image(path)
        elif kind == "audio":
            found = _check_audio(path)
        elif kind == "video":
            found = _check_video(path)
        elif kind == "json":
            found = _check_json_lines(path)
        elif kind == "parquet":
            found = _check_parquet(path)
        else:
            found = _check_csv(path)
        _checked[key] = tuple(found)
    return _checked[key]


def _check_image(path: Path) -> list[DataProblem]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # decodes every pixel, as read_images does: a cut-off file fails here
    except Exception as error:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ValueError, ...
        return [DataProblem(path, f"does not decode as an image ({type(error).__name__}: {error})", kind="image")]
    return []


def _check_audio(path: Path) -> list[DataProblem]:
    try:
        import soundfile
    except ImportError:  # read_audio itself says to install it; nothing to check the file with
        return []
    try:
        soundfile.read(str(path), dtype="float32")  # what read_audio does with each file
    except Exception as error:  # soundfile raises LibsndfileError (a RuntimeError), TypeError, ...
        return [DataProblem(path, f"does not decode as audio ({type(error).__name__}: {error})", kind="audio")]
    return []


def _check_video(path: Path) -> list[DataProblem]:
    # PyAV, not decord (what ray.data.read_videos decodes with): decord2 3.4.0 (the `decord` module on macOS arm64 and
    # Linux aarch64) loads every CUDA library of the nvidia-* packages when it is imported, NVBLAS among them, which
    # takes over torch's CPU matrix products and crashes the process (a kernel that checked its data and then ran a
    # model died; Linux x86_64 gets decord 0.6.0, which does not). Both decode with FFmpeg.
    try:
        import av
    except ImportError:  # read_videos itself says what to install
        return []
    try:
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))  # every frame: a cut-off file fails here
        if frames == 0:
            raise ValueError("no video frames")
    except Exception as error:  # av raises InvalidDataError, ValueError, ...
        return [DataProblem(path, f"does not decode as a video ({type(error).__name__}: {error})", kind="video")]
    return []


def _text_lines(path: Path, kind: str) -> tuple[list[str], list[DataProblem]]:
    """The file's lines (an undecodable one as empty), and a problem for each line that is not UTF-8 text."""
    lines, found = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            lines.append("")
            found.append(DataProblem(path, f"not UTF-8 text (byte {error.start} of the line)", number, kind))
    return lines, found


def _check_json_lines(path: Path) -> list[DataProblem]:
    if path.suffix.lower() == ".json":  # a .json file may also be one JSON document, which Ray reads as a whole
        try:
            json.loads(path.read_bytes())
            return []
        except ValueError:
            pass  # read it as JSON lines, to name the line
    lines, found = _text_lines(path, "json")
    first: dict[str, tuple[str, int]] = {}  # field -> (its JSON type, the line that first gave it)
    rows = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            found.append(
                DataProblem(
                    path, f"not valid JSON ({error.msg}: column {error.colno}): {_excerpt(line)}", number, "json"
                )
            )
            continue
        if not isinstance(row, dict):
            found.append(
                DataProblem(
                    path,
                    f"a JSON {type(row).__name__}, not an object (one row of named fields): {_excerpt(line)}",
                    number,
                    "json",
                )
            )
            continue
        rows += 1
        for field, kind, value in _json_fields(row):
            seen = first.setdefault(field, (kind, number))
            if seen[0] != kind:
                found.append(
                    DataProblem(
                        path,
                        f"the field '{field}' is {_a(kind)} ({_shortened(json.dumps(value))}) where line {seen[1]} "
                        f"has {_a(seen[0])}: read_json needs one type per field",
                        number,
                        "json",
                    )
                )
                break  # one problem a line
    if not found and rows == 0:
        found.append(DataProblem(path, "no rows, only blank lines (read_json would give no rows)", kind="json"))
    if not found:  # what Ray's reader does (pyarrow), for what the line by line check above does not know
        found += _check_with_pyarrow(path)
    return sorted(found, key=lambda p: p.line or 0)


# JSON types as pyarrow's JSON reader (Ray's read_json) tells them apart: an integer and a float are both numbers
# (a column of both reads as floats), null goes with any type.
def _json_kind(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _json_fields(row: dict, prefix: str = ""):
    """(field path, JSON type, value) of each field of a row, nested objects' and lists' items too (``a/b``,
    ``a[]``): what pyarrow holds to one type per column. Written here, not left to pyarrow, because pyarrow's
    message counts rows within a block it read (``changed from number to string in row 0``), not the file's
    lines."""
    items = row.items() if isinstance(row, dict) else ((None, item) for item in row)
    for key, value in items:
        field = f"{prefix}/{key}" if key is not None else f"{prefix}[]"
        field = field.lstrip("/")
        kind = _json_kind(value)
        if kind is None:
            continue
        yield field, kind, value
        if kind in ("object", "array"):
            yield from _json_fields(value, field)


def _shortened(text: str, width: int = 30) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _check_with_pyarrow(path: Path) -> list[DataProblem]:
    import pyarrow as pa
    import pyarrow.json

    # the whole file in one block: Ray's reader doubles the block until a long row fits, pyarrow's default would not
    whole = pyarrow.json.ReadOptions(block_size=min(max(path.stat().st_size + 1, 1 << 20), 2**31 - 1))
    try:
        pyarrow.json.read_json(str(path), read_options=whole)
    except pa.ArrowInvalid as error:
        return [DataProblem(path, f"does not read as JSON lines ({error})", kind="json")]
    return []


def _check_csv(path: Path) -> list[DataProblem]:
    lines, found = _text_lines(path, "csv")
    reader = csv.reader(lines)
    rows = 0
    try:
        header = next(reader, [])
        for row in reader:
            if row:
                rows += 1
            if row and len(row) != len(header):
                found.append(
                    DataProblem(path, f"{len(row)} fields where the header has {len(header)}", reader.line_num, "csv")
                )
    except csv.Error as error:
        found.append(DataProblem(path, f"not valid CSV ({error})", reader.line_num, "csv"))
    if not found and rows == 0:
        what = f"only a header line ({', '.join(header)}), no rows" if header else "no header line and no rows"
        found.append(DataProblem(path, f"{what}: read_csv would give 0 rows", 1, "csv"))
    return sorted(found, key=lambda p: p.line or 0)


def _check_parquet(path: Path) -> list[DataProblem]:
    import pyarrow.parquet

    try:
        pyarrow.parquet.read_table(path)  # every column of every row group, as read_parquet reads them
    except Exception as error:  # pyarrow raises ArrowInvalid, ArrowIOError (OSError), ...
        return [DataProblem(path, f"does not read as Parquet ({type(error).__name__}: {error})", kind="parquet")]
    return []


def _excerpt(line: str, width: int = 60) -> str:
    line = line.strip()
    return repr(line if len(line) <= width else line[: width - 3] + "...")


def _shown_path(path: Path) -> str:
    """``data/text/reviews.jsonl`` for a file of the repository's data/, else the full path."""
    try:
        rel = Path(path).resolve().relative_to(_REPO_DATA).as_posix()
    except ValueError:
        return str(path)
    return f"data/{rel}"


def raise_problems(problems: list[DataProblem], role: str | None = None, root: Path | None = None) -> None:
    """One :class:`CourseError` for all the problems found (none: nothing happens)."""
    if not problems:
        return
    root = root or data_root()
    listed = "\n".join(f"    {p.describe()}" for p in problems[:_SHOWN])
    more = f"\n    ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
    what = f"The data of '{role}'" if role else "The course's data"
    problem = f"{what} cannot be read as the course ships it:\n{listed}{more}"
    raise CourseError(problem, restore_advice(problems, root))


def restore_advice(problems: list[DataProblem], root: Path) -> str:
    """What to do: restore the files, and how to read the good rows meanwhile with Ray's own options."""
    shown = sorted({_shown_path(p.path) for p in problems})
    if Path(root).resolve() != _REPO_DATA:
        fix = (
            f"Copy {'these files' if len(shown) > 1 else 'this file'} again from the course repository's data/ "
            f"folder into {root} (there, `git checkout -- data/` restores them; `python tools/make_data.py` "
            "regenerates all of data/)."
        )
    else:
        fix = (
            f"Restore the shipped {'files' if len(shown) > 1 else 'file'}: `git checkout -- "
            f"{' '.join(shown[:_SHOWN]) if len(shown) <= _SHOWN else 'data/'}` in the course's folder, or "
            "regenerate all of data/ with `python tools/make_data.py`. `python -m raycourse check-data` checks "
            "the whole folder again."
        )
    kinds = {p.kind for p in problems}
    if "image" in kinds:
        fix += (
            " To read the other images meanwhile: give `ray.data.read_images` a list of the files that decode, "
            "or set `ray.data.DataContext.get_current().max_errored_blocks` to the number of broken files "
            "before `ray.data.read_images(folder, override_num_blocks=<number of files>)`: a block per file, so "
            "that each failed block holds a broken file only."
        )
    if "json" in kinds:
        fix += (
            " To keep a file's good rows meanwhile: `ray.data.read_json` fails on the whole file, so read it "
            "as text, a row per line (`ray.data.read_text(path)`), and parse each line with `json.loads` in a "
            "`flat_map` that returns no row (or a quarantined one, as in module 08) for a line that fails."
        )
    if kinds & {"image", "json"}:
        fix += " `raycourse.data_path(role, check=False)` gives the path without this check."
    return fix


def check_data(root: Path | None = None) -> int:
    """Read every data file under the data folder (and find the ones its manifest lists that are missing).
    Returns how many files were read; raises one :class:`CourseError` listing every problem."""
    root = Path(root) if root else data_root()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _READABLE and p.name != "manifest.json"
    )
    problems = []
    folders = {rel for tiny, _ in DATA_ROLES.values() for rel in (tiny if isinstance(tiny, list) else [tiny])}
    for rel in sorted(folders):  # the image (video) folders the lessons read must hold images (videos)
        noun, suffixes, _ = FOLDER_HOLDS.get(rel, ("images", IMAGE_SUFFIXES, ""))
        if (root / rel).is_dir() and not any(p.suffix.lower() in suffixes for p in (root / rel).rglob("*")):
            problems.append(DataProblem(root / rel, f"a folder with no {noun} in it", kind="folder"))
    manifest = root / "manifest.json"
    if manifest.is_file():
        try:
            listed = [entry["path"] for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]]
        except (ValueError, KeyError, TypeError) as error:
            problems.append(DataProblem(manifest, f"not the course's manifest ({error})", kind="json"))
            listed = []
        problems += [DataProblem(root / rel, "missing", kind="missing") for rel in listed if not (root / rel).exists()]
    problems += [q for p in files for q in _check_file(p)]
    raise_problems(problems, root=root)
    return len(files)


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
