"""Where a command's CPU goes, by kind of process: `python tools/cpu_by_process.py [--out F.json] -- COMMAND ...`.

The test suite and `make bench` are CPU-bound on 2 cores: a notebook that takes 80 s alone takes about twice that
beside another one. `make bench` says which cells are slow and what Ray did in them (wall seconds, from Ray's state
API); this says what the machine's cores spent, summed per kind of process: each Ray actor class (its worker process,
imports and model load included), Ray's tasks, workers that never ran anything, Ray's own processes, and the rest.

It samples every process on the machine every 0.25 s while COMMAND runs (a notebook joins a Ray that is not its
child), so run it on an otherwise quiet machine. A process's CPU counts from its first sample; one that lives less than
a sample is missed, and the machine's total (psutil.cpu_times) says how much that was. Example::

    make setup .venv/.raycourse-dev-installed
    RAYCOURSE_TEST=1 .venv/bin/python tools/cpu_by_process.py -- \\
        .venv/bin/python -m pytest -q -p no:cacheprovider notebooks/07_multimodal_pipeline.ipynb
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.25
RAY_SYSTEM = ("raylet", "gcs_server", "dashboard", "log_monitor", "runtime_env", "DashboardAgent", "RuntimeEnvAgent")
# Ray Data's actor pools run the learner's class in a MapWorker: its title names the stages it runs, fused ones too:
# `MapWorker(MapBatches(Tokenize)->MapBatches(load_photos))`.
STAGE = re.compile(r"(?:MapBatches|Map|FlatMap|Filter)\((\w+)\)")


def kind(titles: list[str]) -> str:
    """The kind of one process from the titles it had. A Ray worker retitles itself ``ray::<what it runs>``:
    ``ray::IDLE`` between tasks, an actor's class (``ray::Class.method`` while a method runs), a task's function,
    or a Ray Data operator (``ray::MapBatches(fn)``); the system may show a title cut short, so the longest counts."""
    ray_titles = sorted((t[len("ray::") :] for t in titles if t.startswith("ray::") and t != "ray::IDLE"), key=len)
    if ray_titles:
        what = ray_titles[-1].split()[0]
        if what.startswith("SERVE_REPLICA::"):
            return f"Ray Serve replica {what.split('::')[1].split('#')[0]}"
        if what.startswith("MapWorker("):
            stages = next(filter(None, (STAGE.findall(t.split(".")[0]) for t in reversed(ray_titles))), None)
            return f"Ray Data actor {' + '.join(stages)}" if stages else "Ray Data actor (class not seen)"
        name = re.split(r"[.(]|->", what)[0]
        if any(name.startswith(system) for system in RAY_SYSTEM):
            return "Ray's own processes"
        if "(" in what.split(".")[0] or "->" in what:
            return "Ray Data tasks"
        return f"Ray actor {name}" if name[:1].isupper() else "Ray tasks"
    joined = " ".join(titles)
    if "ray::IDLE" in titles:
        return "Ray workers that ran nothing"
    if any(system in joined for system in RAY_SYSTEM):
        return "Ray's own processes"
    if "python" in joined:
        return "Python: drivers, kernels, tests"
    return "other"


def summary(samples: dict, machine_cpu_s: float, wall_s: float) -> dict:
    """Per kind: processes and CPU seconds (last sample minus first), largest first; with the machine's totals."""
    kinds: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for first, last, titles in samples.values():
        row = kinds[kind(sorted(titles))]
        row[0] += 1
        row[1] += last - first
    rows = sorted(([k, n, round(s, 1)] for k, (n, s) in kinds.items() if s >= 0.05), key=lambda r: -r[2])
    return {"wall_s": round(wall_s, 1), "machine_cpu_s": round(machine_cpu_s, 1), "kinds": rows}


def _machine_cpu_s() -> float:
    """The seconds the machine's cores have been busy (everything but idle and I/O wait)."""
    times = psutil.cpu_times()
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))


def _sample(samples: dict, stop: threading.Event) -> None:
    me = psutil.Process().pid
    while not stop.is_set():
        for proc in psutil.process_iter(["pid", "cmdline", "name", "cpu_times", "create_time"]):
            info = proc.info
            if info["pid"] == me or info["cpu_times"] is None:
                continue
            cpu = info["cpu_times"].user + info["cpu_times"].system
            title = " ".join(info["cmdline"] or [info["name"] or ""])
            title = title if title.startswith("ray::") else title[:200]
            key = (info["pid"], info["create_time"])
            first, _, titles = samples.get(key, (cpu, cpu, set()))
            titles.add(title.strip())
            samples[key] = (first, cpu, titles)
        stop.wait(SAMPLE_SECONDS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    samples: dict = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(samples, stop), daemon=True)
    cpu0, t0 = _machine_cpu_s(), time.monotonic()
    sampler.start()
    code = subprocess.call(command)
    stop.set()
    sampler.join()
    table = summary(samples, _machine_cpu_s() - cpu0, time.monotonic() - t0)
    print(f"\n{table['wall_s']} s of wall time; the machine's cores were busy {table['machine_cpu_s']} s")
    print(f"{'CPU s':>8}  {'procs':>5}  kind")
    for name, procs, seconds in table["kinds"]:
        print(f"{seconds:8.1f}  {procs:5d}  {name}")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
