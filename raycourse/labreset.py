"""``python -m raycourse reset-lab 03``: a fresh copy of a lab, the learner's copy kept.

A learner who wants to start a lab again (or an instructor helping one) gets the lab as the course
ships it, built from its solution like ``make labs`` builds it, and the learner's own copy moves to
``my-work/`` with a number (``my-work/03_image_generation_lab.1.ipynb``, then ``.2``, ...): nothing
is overwritten, and the saved copy still opens and runs in JupyterLab. ``my-work/`` is outside the
folders the tests run (a learner's half-done lab is not a failing test) and git ignores it.
"""

from __future__ import annotations

from pathlib import Path

from .authoring import labs, notebooks
from .catalogue import find_lab

SAVED = "my-work"


def reset_lab(which: str, root: Path = notebooks.ROOT) -> tuple[Path, Path | None]:
    """Write the fresh lab; return it and where the learner's copy went (None when it was already fresh)."""
    lab = find_lab(which, root)
    fresh = labs.expected_lab_text(root / "solutions" / lab.name)
    saved = None
    if lab.exists():
        if lab.read_text(encoding="utf-8") == fresh:
            return lab, None
        folder = root / SAVED
        folder.mkdir(exist_ok=True)
        number = 1
        while (folder / f"{lab.stem}.{number}.ipynb").exists():
            number += 1
        saved = folder / f"{lab.stem}.{number}.ipynb"
        lab.rename(saved)
    lab.write_text(fresh, encoding="utf-8")
    return lab, saved
