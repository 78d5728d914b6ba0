"""Pictures and tables for notebooks: an image grid on top of matplotlib, a table of a run's stats."""

from __future__ import annotations

import textwrap
from typing import Iterable, Sequence


def show_images(
    images: Iterable, titles: Sequence[str] | None = None, *, ncols: int = 4, size: float = 2.6, wrap: int = 28
):
    """Show images (PIL images, or NumPy arrays HxW, HxWxC or 1xHxW) in a grid with optional titles."""
    import matplotlib.pyplot as plt
    import numpy as np

    images = list(images)
    titles = None if titles is None else list(titles)  # NumPy arrays of prompts work too
    if not images:
        raise ValueError("show_images() got no images")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    wrapped = None if titles is None else [textwrap.fill(str(t), wrap) for t in titles]
    # room above each row for its longest title: 8-point lines, 1.4 line spacing, a quarter inch of margin
    rows = [wrapped[r * ncols : (r + 1) * ncols] for r in range(nrows)] if wrapped else []
    lines = [max(t.count("\n") + 1 for t in row) for row in rows]
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + sum(0.25 + n * 8 * 1.4 / 72 for n in lines)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        array = np.asarray(images[i])
        if array.ndim == 3 and array.shape[0] == 1:  # a grayscale image from a mixed Ray Data block: (1, H, W)
            array = array[0]
        ax.imshow(array, cmap="gray" if array.ndim == 2 else None)
        if titles is not None:
            # parse_math=False: a "$" in a prompt is text, not the start of a formula
            ax.set_title(wrapped[i], fontsize=8, parse_math=False)
    fig.tight_layout()
    plt.show()


def stats_table(stats: str):
    """The per-operator lines of ``Dataset.stats()`` as a table: operator, tasks, blocks, rows out.

    ``ds.stats()`` is the notebook's view of what the Ray dashboard's Ray Data panel shows for a run;
    this keeps the counts and leaves the timings (which change from run to run) to the full text.
    """
    import re

    import pandas as pd

    operator = re.compile(
        r"^Operator \d+ (?P<name>.+?): (?P<tasks>\d+) tasks? executed, "
        r"(?P<blocks>\d+) blocks? produced"
    )
    rows_total = re.compile(r"^\* Output num rows per block: .*?(?P<rows>\d+) total")
    rows = []
    for line in str(stats).splitlines():
        line = line.strip()
        match = operator.match(line)
        if match:
            rows.append(
                {
                    "operator": match["name"],
                    "tasks": int(match["tasks"]),
                    "blocks": int(match["blocks"]),
                    "rows out": None,
                }
            )
            continue
        match = rows_total.match(line)
        if match and rows and rows[-1]["rows out"] is None:
            rows[-1]["rows out"] = int(match["rows"])
    if not rows:
        raise ValueError(
            "no operator lines in these stats: pass the text of ds.stats() after the dataset ran "
            "(for example ds.materialize().stats())"
        )
    return pd.DataFrame(rows)
