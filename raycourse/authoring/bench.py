"""Wall time of every course notebook: ``make bench`` (``--runs N`` for a median of N).

Like ``make lab``, the notebooks run against one Ray for the whole benchmark (unless
``RAY_ADDRESS`` names one already), so the times are those a learner sees in a
session, without Ray's start-up in every notebook. ``--own-ray`` gives each notebook
a Ray of its own instead (the time of a notebook opened outside ``make lab``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from . import notebooks


def run_once(path: Path, timeout: int = 900) -> float:
    nb = notebooks.read(path)
    client = notebooks.client(nb, path, timeout)
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def bench(paths: list[Path], runs: int = 3, own_ray: bool = False) -> list[tuple[Path, list[float]]]:
    import os

    shared = None
    if own_ray:
        os.environ.pop("RAY_ADDRESS", None)
    elif not os.environ.get("RAY_ADDRESS"):
        from .. import cluster

        shared = cluster.start(dashboard=False)
        os.environ.update(shared.client_env())  # as make lab's kernels: its address, token and settings
    try:
        return _bench(paths, runs)
    finally:
        if shared is not None:
            for key in shared.client_env():
                os.environ.pop(key, None)
            shared.stop()


def _bench(paths: list[Path], runs: int) -> list[tuple[Path, list[float]]]:
    results = []
    for path in paths:
        times = [run_once(path) for _ in range(runs)]
        results.append((path, times))
        print(
            f"{str(path.relative_to(notebooks.ROOT)):<45}{statistics.median(times):8.1f} s"
            f"   (min {min(times):.1f}, max {max(times):.1f}, {runs} runs)",
            flush=True,
        )
    total = sum(statistics.median(t) for _, t in results)
    print(f"{'total of medians':<45}{total:8.1f} s")
    return results
