"""Notebook hygiene: the stored form of every course notebook.

No notebook is stored with execution counts (a learner sees `[ ]` on every cell). Lessons (notebooks/) and solved
labs (solutions/) are stored with the outputs of a recorded run of the tiny profile (``make record``: the pictures,
tables and printed results a reader sees without running anything); labs (labs/) with none. Every cell's recorded
outputs carry, in the cell's metadata, the hash of the source that made them: a cell edited since is reported stale
(``problems``) until it is recorded again. The outputs of cells tagged ``nbval-check-output`` are also compared by
nbval with what the cell prints on every test run. Outputs come from a real run, never from hand editing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIRS = ("notebooks", "solutions", "labs")
COMPARED = "nbval-check-output"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # Jupyter's own: figures drawn into the cell
KEEP_METADATA = ("kernelspec", "language_info")
RECORDED = "recorded"  # cell metadata: {"source_sha256": the hash of the source its stored outputs came from}
CLAIMS = "claims"  # cell metadata: lines its output must hold (the root conftest.py checks them)
KEEP_CELL_METADATA = ("tags", RECORDED, CLAIMS)
SHOWN_DIRS = ("notebooks", "solutions")  # stored with the outputs of a recorded run; labs/ never
# A recorded picture is stored at most this wide: 800 px, as JPEG where that is under half the size of a PNG
# (the images a model drew), else as PNG (plots, text); problems() reports a larger one.
IMAGE_WIDTH = 800
JPEG_QUALITY = 80
MAX_IMAGE_BYTES = 200_000
MAX_NOTEBOOK_BYTES = 500_000  # a stored lesson or solved lab, pictures included (tests/notebooks/test_authoring.py)
# Outputs that mean nothing without the kernel that made them: an ipywidget's view (its state is not stored),
# dropped at recording; what they show in text (text/plain) stays.
DROPPED_MIME = ("application/vnd.jupyter.widget-view+json",)
# Where a cell's error is the point: stored as one line (error_line), without Ray's log record of it on stderr.
RAY_LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+ERROR \S+\.py:\d+ -- ")
ROOT_ERROR = re.compile(r"^\s*\w+(?:Error|Exception): ")  # "KeyError: 'promt'" in a wrapped error's message
FIRST_FRAME = re.compile(r"(?:[^\n|]*\D)?0%\|")  # a tqdm bar's text when it was first drawn
COURSE = "<course>"  # the checkout's path in a stored output
# A line of Ray's own in a cell's output (a worker that died, memory that ran out): the run met trouble of the machine
# that recorded it, not what the lesson shows; it is not stored (record it again).
RAY_TROUBLE = "(raylet)"


class RecordError(Exception):
    """A run that must not be stored."""


def course_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb"))


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def source_hash(source: str) -> str:
    """The hash that ties a cell's recorded outputs to the source that made them."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def recorded_hash(cell) -> str | None:
    return (cell.get("metadata", {}).get(RECORDED) or {}).get("source_sha256")


def images(cell) -> list[tuple[str, bytes]]:
    """The pictures a cell's stored outputs hold: (MIME type, bytes)."""
    found = []
    for out in cell.get("outputs", []):
        for mime in ("image/png", "image/jpeg"):
            if mime in out.get("data", {}):
                found.append((mime, base64.b64decode(out["data"][mime])))
    return found


def clean(nb, *, outputs: bool = True):
    """Return ``nb`` in its stored form (modified in place).

    ``outputs``: keep the outputs of cells that ``record`` stored (they carry the hash of their source) and of cells
    tagged for nbval to compare; ``False`` (a lab): no outputs at all."""
    nb.metadata = {k: nb.metadata[k] for k in KEEP_METADATA if k in nb.metadata}
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata = {k: cell.metadata[k] for k in KEEP_CELL_METADATA if cell.metadata.get(k)}
        cell.pop("id", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        # No execution count on any cell or output: a learner who opens the notebook sees `[ ]`
        # on every cell, not `[7]` on the few whose recorded output the tests compare. nbval
        # compares only cells with a count; the root conftest.py gives those cells one.
        cell.execution_count = None
        if outputs and (COMPARED in tags(cell) or recorded_hash(cell)) and cell.outputs:
            for out in cell.outputs:
                if "execution_count" in out:
                    out.execution_count = None
                if out.output_type in ("execute_result", "display_data"):
                    out.metadata = {}  # required by nbformat; what it held varies between runs
        else:
            cell.outputs = []
        if not cell.outputs:
            cell.metadata.pop(RECORDED, None)
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def _smaller_picture(png: bytes) -> tuple[str, bytes]:
    """A figure's PNG at most IMAGE_WIDTH wide: JPEG (on white) where that is under half the PNG's size, else PNG."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.load()
    resized = image.width > IMAGE_WIDTH
    if resized:
        image = image.resize((IMAGE_WIDTH, round(image.height * IMAGE_WIDTH / image.width)), Image.Resampling.LANCZOS)
    as_png = io.BytesIO()
    image.save(as_png, "PNG", optimize=True)
    opaque = Image.new("RGBA", image.size, "white")
    opaque.alpha_composite(image.convert("RGBA"))
    as_jpeg = io.BytesIO()
    opaque.convert("RGB").save(as_jpeg, "JPEG", quality=JPEG_QUALITY, optimize=True)
    if as_jpeg.tell() * 2 < as_png.tell():
        return "image/jpeg", as_jpeg.getvalue()
    return "image/png", as_png.getvalue() if resized or as_png.tell() < len(png) else png


def error_line(ename: str, evalue: str) -> str:
    """An error as one line: its type and the error at its root where it wraps one (a Ray task error's worker
    traceback ends in the UDF's own ``KeyError: 'promt'``), else its message's first line."""
    root = [line for line in evalue.splitlines() if ROOT_ERROR.match(line)]
    first = evalue.strip().splitlines()[0] if evalue.strip() else ""
    return f"{ename}: {root[-1].strip() if root else first}"


def _stored_output(out):
    """A recorded output as stored: the recording checkout's path said as `<course>` (the summary's data folder, a
    reader's differs), no widget views, pictures made smaller; None when nothing is left of it."""
    if out.output_type == "stream":
        if out.name == "stderr" and RAY_LOG_RECORD.match(out.text):
            return None  # Ray's log record of the error below (its time, its session's path): the error says it
        out.text = out.text.replace(str(ROOT), COURSE)
    if out.output_type == "error":  # where an error is the point, its one line, not the library's frames
        out.traceback = [error_line(out.ename, out.evalue)]
        return out
    if out.output_type not in ("execute_result", "display_data"):
        return out
    for mime, text in out.data.items():
        if mime in ("text/plain", "text/html", "text/markdown") and isinstance(text, str):
            out.data[mime] = text.replace(str(ROOT), COURSE if mime != "text/html" else "&lt;course&gt;")
    widget = any(out.data.pop(mime, None) is not None for mime in DROPPED_MIME)
    if widget and FIRST_FRAME.match(out.data.get("text/plain", "")):
        return None  # a progress bar's text as it was drawn first ("0%|"), not what the reader saw it reach
    if not out.data:
        return None
    if "image/png" in out.data:
        mime, data = _smaller_picture(base64.b64decode(out.data["image/png"]))
        del out.data["image/png"]
        out.data[mime] = base64.b64encode(data).decode("ascii")
    return out


def store(nb, path: Path):
    """The stored form of ``nb`` just run (``execute``) from ``path``: a lesson or a solved lab keeps every output,
    each cell's with the hash of its source; a lab, only those of cells nbval compares (labs have none)."""
    shown = Path(path).parent.name in SHOWN_DIRS
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            line = next((x for x in out.get("text", "").splitlines() if RAY_TROUBLE in x), None)
            if shown and line:
                raise RecordError(
                    f"{Path(path).name}, cell {i}: Ray printed {line.strip()[:200]!r}; not stored, record it again"
                )
        cell.metadata.pop(RECORDED, None)
        if shown:
            cell.outputs = [o for o in map(_stored_output, cell.outputs) if o is not None]
            if cell.outputs:
                cell.metadata[RECORDED] = {"source_sha256": source_hash(cell.source)}
    return clean(nb)


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


def write(nb, path: Path) -> None:
    path.write_text(dumps(nb), encoding="utf-8")


def problems(path: Path) -> list[str]:
    """What is not clean about a stored notebook (empty list when it is clean)."""
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    found = []
    shown = path.parent.name in SHOWN_DIRS
    record = f"run `make record NOTEBOOKS={path.name[:2]}`"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if cell.execution_count is not None:
                found.append(f"cell {i}: execution count {cell.execution_count}")
            recorded = recorded_hash(cell)
            if cell.outputs and not shown and COMPARED not in tags(cell):
                found.append(f"cell {i}: stored output in a cell that nbval does not compare")
            elif cell.outputs and COMPARED not in tags(cell) and not recorded:
                found.append(f"cell {i}: stored output that `make record` did not store (no source hash): {record}")
            if recorded and recorded != source_hash(cell.source):
                found.append(f"cell {i}: its stored outputs came from another version of its source (stale): {record}")
            if COMPARED in tags(cell) and not cell.outputs:
                found.append(f"cell {i}: tagged {COMPARED} but has no recorded output ({record})")
            if COMPARED in tags(cell) and images(cell):
                found.append(f"cell {i}: a picture in a cell nbval compares (a test run, MPLBACKEND=agg, draws none)")
            for mime, data in images(cell):
                if len(data) > MAX_IMAGE_BYTES:
                    found.append(f"cell {i}: a stored {mime} of {len(data) // 1000} kB, over {MAX_IMAGE_BYTES // 1000}")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        found.append(f"not a valid notebook: {exc.message}")
    if set(nb.metadata) - set(KEEP_METADATA):
        found.append(f"notebook metadata beyond {KEEP_METADATA}: {sorted(set(nb.metadata) - set(KEEP_METADATA))}")
    if text != dumps(clean(nbformat.reads(text, as_version=4))):
        found.append("not in the stored form (run `python -m raycourse.authoring clean`)")
    return found


def execute(path: Path, *, timeout: int = 600):
    """Run a notebook from the top in a fresh kernel, as a learner's Run All does, and return it with its outputs.

    The kernel draws its figures inline (a test run's MPLBACKEND=agg would draw none)."""
    import os

    nb = read(path)
    env = {**os.environ, "MPLBACKEND": INLINE_BACKEND}
    client(nb, path, timeout).execute(env=env)
    return nb


def client(nb, path: Path, timeout: int):
    """An nbclient runner for ``nb`` (read from ``path``) in a fresh python3 kernel in its folder, its messages
    encrypted as make lab's kernels' are (``cluster.kernel_encryption_policy``)."""
    from nbclient import NotebookClient
    from traitlets.config import Config

    from raycourse.session.cluster import kernel_encryption_policy

    config = Config({"KernelManager": {"transport_encryption": kernel_encryption_policy()}})
    return NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}, config=config
    )


def record(path: Path, *, timeout: int = 600) -> None:
    """Execute a notebook and store it with its outputs (a lab: with those of its compared cells only)."""
    write(store(execute(path, timeout=timeout), path), path)
