"""README's "What you will build": pictures the lessons draw, taken from their stored outputs.

Each :class:`Picture` names a lesson, a text found in exactly one of its code cells, and a caption. The picture is
that cell's stored image output, copied into ``docs/figures/home/`` (so that README shows it on GitHub and on the
site), and README's gallery table (between ``<!-- facts: gallery -->`` markers) shows it with its caption and a
link to the lesson. ``python -m raycourse.authoring.tables`` writes both with the other tables; tests/docs/test_docs.py
fails while a picture differs from its lesson's stored output (a lesson recorded again).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import catalogue
from ..errors import CourseError

FOLDER = Path("docs") / "figures" / "home"  # in the course's root
MIMES = {"image/png": ".png", "image/jpeg": ".jpg"}


@dataclass(frozen=True)
class Picture:
    module: str  # the lesson's module number
    cell: str  # a text in exactly one code cell of the lesson: the cell whose stored image this is
    caption: str  # what the picture shows (the gallery's column heading)
    alt: str  # what a reader who cannot see it is told

    @property
    def stem(self) -> str:
        return f"{self.module}_" + re.sub(r"[^a-z0-9-]", "", self.caption.split()[0].lower())


PICTURES = (
    Picture(
        "03",
        "spread.take_batch(8)",
        "Images drawn in batch",
        "Eight generated images, titled with prompt and GPU",
    ),
    Picture(
        "04",
        'runs = {"no cap": fast_over_slow()',
        "Backpressure, seen",
        "A fast and a slow stage, without and with a cap",
    ),
    Picture(
        "05",
        'result.metrics_dataframe[["step"',
        "Fine-tuning a ViT",
        "Loss falling and accuracy rising over a fit",
    ),
    Picture(
        "06",
        "hits = search(",
        "Search by text",
        "Six images closest to a text, with scores",
    ),
    Picture(
        "07",
        "sweep = pd.DataFrame(",
        "Measuring a GPU stage",
        "Rows per second and GPU busy share by batch size",
    ),
    Picture(
        "08",
        "fig, ax = plt.subplots(figsize=(7, 3))",
        "Serving a model",
        "Answers per second: three loads and a batch job",
    ),
)
PER_ROW = 3


def _image(lesson: Path, picture: Picture) -> tuple[bytes, str]:
    """The picture's bytes and file suffix, from its lesson's stored outputs."""
    cells = [
        c
        for c in json.loads(lesson.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "code" and picture.cell in "".join(c["source"])
    ]
    if len(cells) != 1:
        raise CourseError(
            f"{lesson.name}: {len(cells)} code cells contain {picture.cell!r} (the gallery's picture needs one).",
            "Change the Picture's `cell` in raycourse/authoring/gallery.py to a text of that one cell.",
        )
    for output in cells[0].get("outputs", []):
        for mime, suffix in MIMES.items():
            if mime in output.get("data", {}):
                return base64.b64decode(output["data"][mime]), suffix
    raise CourseError(
        f"{lesson.name}: the cell with {picture.cell!r} has no stored image.",
        f"Record the lesson with its outputs: make record NOTEBOOKS={picture.module}.",
    )


def _shown(root: Path) -> list[tuple[Picture, Path, Path, bytes]]:
    """Each picture whose lesson ``root`` has (a copy of the course with fewer modules shows fewer): the picture,
    its lesson, its file in the course and the bytes its lesson stores."""
    lessons = {m.number: m.lesson for m in catalogue.modules(root) if m.lesson.is_file()}
    shown = []
    for picture in (p for p in PICTURES if p.module in lessons):
        data, suffix = _image(lessons[picture.module], picture)
        shown.append((picture, lessons[picture.module], root / FOLDER / f"{picture.stem}{suffix}", data))
    return shown


def files(root: Path = catalogue.ROOT) -> dict[Path, bytes]:
    """Every picture's file in the course (``root``) and the bytes its lesson stores."""
    return {path: data for _, _, path, data in _shown(root)}


def markdown(root: Path = catalogue.ROOT) -> str:
    """README's gallery: rows of pictures, each column headed by its caption, linked to its lesson."""
    shown, rows = _shown(root), []
    for start in range(0, len(shown), PER_ROW):
        row = shown[start : start + PER_ROW]
        rows.append("| " + " | ".join(f"[{p.caption}](notebooks/{lesson.name})" for p, lesson, _, _ in row) + " |")
        rows.append("| " + " | ".join("---" for _ in row) + " |")
        rows.append(
            "| " + " | ".join(f"![{p.alt}]({path.relative_to(root).as_posix()})" for p, _, path, _ in row) + " |"
        )
        rows.append("")
    return "\n".join(rows).rstrip()


def _differences(root: Path) -> tuple[dict[Path, bytes], list[Path]]:
    """The pictures' files as their lessons store them, and the paths that differ: a file missing or changed, or a
    file of the folder that no picture is."""
    wanted = files(root)
    folder = root / FOLDER
    extra = [path for path in sorted(folder.iterdir()) if path not in wanted] if folder.is_dir() else []
    return wanted, [path for path, data in wanted.items() if not path.is_file() or path.read_bytes() != data] + extra


def stale(root: Path = catalogue.ROOT) -> list[Path]:
    """The pictures whose file differs from (or lacks) what their lesson stores, and files no picture is."""
    return _differences(root)[1]


def write(root: Path = catalogue.ROOT) -> list[Path]:
    """Write the pictures that are stale, and remove files of the folder that no picture is; return what changed."""
    wanted, changed = _differences(root)
    for path in changed:
        if path in wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wanted[path])
        else:
            path.unlink()
    return changed
