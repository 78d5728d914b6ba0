"""Notebook hygiene: the stored form of every course notebook.

Notebooks are stored *clean*: no outputs and no execution counts, except the
outputs (and execution count, which nbval needs to compare them) of cells tagged
``nbval-check-output``, which nbval compares on every test run. Those outputs come from a real run
(``python -m raycourse.authoring record``), never from hand editing.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIRS = ("notebooks", "solutions", "labs")
COMPARED = "nbval-check-output"
KEEP_METADATA = ("kernelspec", "language_info")
KEEP_CELL_METADATA = ("tags",)


def course_notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb"))


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def clean(nb, *, keep_compared: bool = True):
    """Return ``nb`` in its stored form (modified in place)."""
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
        if keep_compared and COMPARED in tags(cell) and cell.outputs:
            for out in cell.outputs:
                if "execution_count" in out:
                    out.execution_count = None
                if out.output_type in ("execute_result", "display_data"):
                    out.metadata = {}  # required by nbformat; what it held varies between runs
        else:
            cell.outputs = []
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


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
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            if cell.execution_count is not None:
                found.append(f"cell {i}: execution count {cell.execution_count}")
            if cell.outputs and COMPARED not in tags(cell):
                found.append(f"cell {i}: stored output in a cell that nbval does not compare")
            if COMPARED in tags(cell) and not cell.outputs:
                found.append(f"cell {i}: tagged {COMPARED} but has no recorded output (run `make record`)")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        found.append(f"not a valid notebook: {exc.message}")
    if set(nb.metadata) - set(KEEP_METADATA):
        found.append(f"notebook metadata beyond {KEEP_METADATA}: {sorted(set(nb.metadata) - set(KEEP_METADATA))}")
    if text != dumps(clean(nbformat.reads(text, as_version=4))):
        found.append("not in the stored form (run `python -m raycourse.authoring clean`)")
    return found


def record(path: Path, *, timeout: int = 600) -> None:
    """Execute a notebook and store the outputs of its compared cells (the rest stay clean)."""
    from nbclient import NotebookClient

    nb = read(path)
    NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    write(clean(nb), path)
