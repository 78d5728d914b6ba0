"""Wall time of every course notebook, and where it goes: ``make bench`` (``--runs N`` for a median of N).

Like ``make lab``, the notebooks run against one Ray for the whole benchmark (dashboard on, and Prometheus beside it,
as make lab's), so the times are those a learner sees in a session, without Ray's start-up in every notebook.
``--own-ray`` gives each notebook a Ray of its own instead (the time of a notebook opened outside ``make lab``);
``RAY_ADDRESS`` set: that Ray.

Where the time goes: each code cell's wall time (nbclient's own timestamps) and, on the benchmark's own Ray, what Ray
did for it, from Ray's state API (its task events): the actors the cell started, how long each took from its
request until Ray ran its creation (waiting for resources, a worker process) and from then until it was ready (the
imports its class needs, then its ``__init__``: a model load), and the seconds its tasks ran (pipeline work; Ray
Train's workers apart, as training). A notebook's three slowest cells are printed and written, with the medians, to
``results/bench.json``; ``python -m raycourse.authoring.tables`` puts them into docs/bench.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from . import notebooks

RESULTS = notebooks.ROOT / "results" / "bench.json"
SLOWEST = 3  # cells per notebook kept in the results
TRAIN_CLASS = "RayTrainWorker"  # Ray Train's worker actors: their tasks are the training loop
# Ray Data's helper actors, by class (a task's func_or_class_name is "Class.method"): one of each per Ray.
RAY_HELPERS = ("_StatsActor", "_AutoscalingCoordinatorActor", "ActorLocationTracker")
TASK_EVENTS_FLUSH_S = 2.0  # Ray's workers report task events every second (task_events_report_interval_ms)


@dataclass
class CellTime:
    """One code cell's wall time and what Ray did for it (seconds summed over Ray's processes, which overlap)."""

    index: int
    code: str  # its first line
    wall_s: float
    actors: int = 0
    actor_start_s: float = 0.0  # request to its creation running: waiting for resources, a worker process
    actor_init_s: float = 0.0  # creation: the imports its class needs, then __init__ (a model load)
    tasks: int = 0
    task_s: float = 0.0
    train_s: float = 0.0
    start: float = 0.0  # epoch seconds, not written
    end: float = 0.0

    def summary(self) -> str:
        said = ray_work(self.row()) or "no Ray work (the driver's own)"
        return f"cell {self.index} ({self.wall_s:.1f} s) `{self.code}`: {said}"

    def row(self) -> dict:
        kept = asdict(self)
        del kept["start"], kept["end"]
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in kept.items()}


def ray_work(row: dict, init: str = "__init__") -> str:
    """What Ray did for a cell (:meth:`CellTime.row`), in words; "" when nothing. ``init``: how ``__init__`` is
    written (docs/bench.md puts it in backticks)."""
    parts = []
    if row["actors"]:
        noun = "actor" if row["actors"] == 1 else "actors"
        parts.append(
            f"{row['actors']} {noun}: {row['actor_start_s']:.1f} s to start, {row['actor_init_s']:.1f} s in {init}"
        )
    if row["tasks"]:
        training = f", {row['train_s']:.1f} s training" if row["train_s"] else ""
        parts.append(f"{row['tasks']} tasks: {row['task_s']:.1f} s of work{training}")
    return "; ".join(parts)


def _shown(path: Path) -> str:
    """``path`` from the course's root where it is in the course."""
    return str(path.relative_to(notebooks.ROOT)) if path.is_relative_to(notebooks.ROOT) else str(path)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def cell_times(nb) -> list[CellTime]:
    """Every code cell that ran, with its wall time from nbclient's timestamps (``record_timing``)."""
    found = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type != "code" or not began or not ended:
            continue
        lines = [line for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        code = (lines[0].strip() if lines else "")[:60]
        start, end = _epoch(began), _epoch(ended)
        found.append(CellTime(index, code, end - start, start=start, end=end))
    return found


def ray_tasks(dashboard: str, seen: set) -> list:
    """Ray's task events of every job (driver) not in ``seen``, which gets them: the notebook that just ran (its kernel,
    and any driver it started, as lesson 08's job). Ray's state API gives a driver job no start time, and the
    notebooks run one after another, so a job is the notebook's when it is new."""
    from ray.util.state import list_jobs, list_tasks

    from ..session import cluster

    time.sleep(TASK_EVENTS_FLUSH_S)
    with cluster.state_api_at(dashboard):
        jobs = {j.job_id for j in list_jobs(address=dashboard, limit=10_000, raise_on_missing_output=False)}
        new, _ = jobs - seen - {None}, seen.update(jobs)
        return [
            task
            for job in sorted(new)
            for task in list_tasks(
                address=dashboard,
                filters=[("job_id", "=", job)],
                detail=True,
                limit=10_000,  # the most the state API gives (RAY_MAX_LIMIT_FROM_API_SERVER)
                raise_on_missing_output=False,
            )
        ]


def attribute(cells: list[CellTime], tasks) -> list[CellTime]:
    """Each task to the cell that was running when it was submitted; Ray Data's own helper actors (one of each per
    Ray, started by its first dataset) and their calls are no cell's work."""
    for task in tasks:
        if (task.func_or_class_name or "").split(".")[0] in RAY_HELPERS:
            continue
        at = (task.creation_time_ms or task.start_time_ms or 0) / 1000
        cell = next((c for c in cells if c.start <= at <= c.end), None)
        if cell is None:
            continue
        ran = (task.end_time_ms - task.start_time_ms) / 1000 if task.start_time_ms and task.end_time_ms else 0.0
        if task.type == "ACTOR_CREATION_TASK":
            cell.actors += 1
            if task.start_time_ms and task.creation_time_ms:
                cell.actor_start_s += (task.start_time_ms - task.creation_time_ms) / 1000
            cell.actor_init_s += ran
        elif task.type in ("NORMAL_TASK", "ACTOR_TASK"):
            cell.tasks += 1
            if TRAIN_CLASS in (task.func_or_class_name or task.name or ""):
                cell.train_s += ran
            else:
                cell.task_s += ran
    return cells


def run_once(
    path: Path, timeout: int = 900, dashboard: str | None = None, seen: set | None = None
) -> tuple[float, list[CellTime]]:
    """The notebook's wall time, and its cells' times (with what Ray did for them where ``dashboard`` is given:
    ``seen`` holds the jobs of the Ray's earlier notebooks)."""
    nb = notebooks.read(path)
    client = notebooks.client(nb, path, timeout)
    start = time.perf_counter()
    client.execute()
    took = time.perf_counter() - start
    cells = cell_times(nb)
    if dashboard:
        cells = attribute(cells, ray_tasks(dashboard, set() if seen is None else seen))
    return took, cells


def bench(paths: list[Path], runs: int = 3, own_ray: bool = False, results: Path | None = RESULTS) -> dict:
    shared, dashboard = None, None
    if own_ray:
        os.environ.pop("RAY_ADDRESS", None)
    elif not os.environ.get("RAY_ADDRESS"):
        from ..session import auth, cluster

        # As make lab's: the dashboard, and Prometheus beside it where this machine has one (lessons 10-12 read it)
        shared = cluster.start(dashboard=True, dashboard_port=cluster.free_port(), metrics=True)
        dashboard = shared.dashboard_url
        os.environ.update(shared.client_env())  # as make lab's kernels: its address, token and settings
        auth.refresh_ray_config()  # this process asks its state API, with the token (raycourse.session.auth)
    try:
        measured = _bench(paths, runs, dashboard)
    finally:
        if shared is not None:
            for key in shared.client_env():
                os.environ.pop(key, None)
            shared.stop()
    if results is not None and dashboard:
        _write(results, measured, runs)
    return measured


def _bench(paths: list[Path], runs: int, dashboard: str | None) -> dict:
    measured, seen = {}, set()
    for path in paths:
        timed = [run_once(path, dashboard=dashboard, seen=seen) for _ in range(runs)]
        times = [t for t, _ in timed]
        median = statistics.median(times)
        cells = min(timed, key=lambda tc: abs(tc[0] - median))[1]  # the run nearest the median
        slowest = sorted(cells, key=lambda c: -c.wall_s)[:SLOWEST]
        name = _shown(path)
        measured[name] = dict(median_s=round(median, 1), times_s=[round(t, 1) for t in times], slowest=slowest)
        print(f"{name:<45}{median:8.1f} s   (min {min(times):.1f}, max {max(times):.1f}, {runs} runs)", flush=True)
        for cell in slowest:
            print(f"    {cell.summary()}", flush=True)
    total = sum(m["median_s"] for m in measured.values())
    print(f"{'total of medians':<45}{total:8.1f} s")
    return measured


def _write(path: Path, measured: dict, runs: int) -> None:
    """Merge this run's notebooks into the results file (a run of some notebooks keeps the others' rows)."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    notebooks_ = dict(old.get("notebooks", {}))
    for name, m in measured.items():
        notebooks_[name] = dict(
            date=time.strftime("%Y-%m-%d"),
            runs=runs,
            median_s=m["median_s"],
            times_s=m["times_s"],
            slowest=[c.row() for c in m["slowest"]],
        )
    data = dict(
        machine=f"{os.cpu_count()} CPU cores, {platform.machine()}, {platform.system()}",
        profile=os.environ.get("RAYCOURSE_PROFILE", "tiny"),
        notebooks=dict(sorted(notebooks_.items())),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {_shown(path)}")
