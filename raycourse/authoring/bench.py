"""Wall time of every course notebook: ``make bench`` (``--runs N`` for a median of N)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from . import notebooks


def run_once(path: Path, timeout: int = 900) -> float:
    from nbclient import NotebookClient

    nb = notebooks.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def bench(paths: list[Path], runs: int = 3) -> list[tuple[Path, list[float]]]:
    results = []
    for path in paths:
        times = [run_once(path) for _ in range(runs)]
        results.append((path, times))
        print(f"{str(path.relative_to(notebooks.ROOT)):<45}{statistics.median(times):8.1f} s"
              f"   (min {min(times):.1f}, max {max(times):.1f}, {runs} runs)", flush=True)
    total = sum(statistics.median(t) for _, t in results)
    print(f"{'total of medians':<45}{total:8.1f} s")
    return results
