"""Where a command's CPU goes, by kind of process: `python tools/cpu_by_process.py [--out F.json] -- COMMAND ...`.

The test suite and `make bench` are CPU-bound on 2 cores: a notebook that takes 80 s alone takes about twice that
beside another one. `make bench` says which cells are slow and what Ray did in them (wall seconds, from Ray's state
API); this says what the machine's cores spent, summed per kind of process: each Ray actor class (its worker process,
imports and model load included), Ray's tasks, workers that never ran anything, Ray's own processes, and the rest.

It samples every process on the machine every 0.25 s (``--every``) while COMMAND runs (a notebook joins a Ray that is
not its child), so run it on an otherwise quiet machine. A process started meanwhile counts from its start, one that
was running from its first sample; what a process spends after its last sample, or in a life shorter than a sample, is
missed: the table's ``unattributed`` row (the machine's total, from psutil.cpu_times, less the rest, the sampler's
own included) says how much.
A whole test suite is sampled every second or two (``--every 1``), to keep the sampler's own CPU small. Example::

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


# The kinds summed into groups, for a long command (a whole suite) whose kinds run to hundreds: a kind's group is the
# first of these its name starts with, else the kind itself.
GROUPS = ("Ray Data actor", "Ray Serve replica", "Ray actor")


def group(kind_name: str) -> str:
    """The group of a kind: ``Ray Data actor ReviewEncoder`` is one of the ``Ray Data actors``."""
    return next((f"{prefix}s (every class)" for prefix in GROUPS if kind_name.startswith(prefix + " ")), kind_name)


def _rows(sums: dict) -> list:
    return sorted(([k, n, round(s, 1)] for k, (n, s) in sums.items() if s >= 0.05), key=lambda r: -r[2])


def summary(samples: dict, machine_cpu_s: float, wall_s: float) -> dict:
    """Per kind and per group: processes and CPU seconds (last sample minus first), largest first; the machine's
    totals, and what no sample saw (``unattributed``)."""
    kinds: dict[str, list] = defaultdict(lambda: [0, 0.0])
    groups: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for first, last, titles in samples.values():
        name = kind(sorted(titles))
        for row in (kinds[name], groups[group(name)]):
            row[0] += 1
            row[1] += last - first
    seen = sum(s for _, s in kinds.values())
    return {
        "wall_s": round(wall_s, 1),
        "machine_cpu_s": round(machine_cpu_s, 1),
        "unattributed_s": round(max(machine_cpu_s - seen, 0.0), 1),
        "groups": _rows(groups),
        "kinds": _rows(kinds),
    }


def _machine_cpu_s() -> float:
    """The seconds the machine's cores have been busy (everything but idle and I/O wait)."""
    times = psutil.cpu_times()
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))


def _sample(samples: dict, stop: threading.Event, every: float, since: float) -> None:
    """Every ``every`` seconds, each process's CPU so far; a process created after ``since`` (epoch seconds)
    counts from zero, not from its first sample."""
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
            born = 0.0 if info["create_time"] >= since else cpu
            first, _, titles = samples.get(key, (born, cpu, set()))
            titles.add(title.strip())
            samples[key] = (first, cpu, titles)
        stop.wait(every)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.add_argument("--every", type=float, default=SAMPLE_SECONDS, help="seconds between samples (0.25)")
    parser.add_argument("--top", type=int, help="list only the N kinds that used the most CPU (the groups: all)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")
    if args.every <= 0:
        parser.error(f"--every must be a number of seconds above 0, not {args.every:g}")
    samples: dict = {}
    stop = threading.Event()
    cpu0, t0 = _machine_cpu_s(), time.monotonic()
    sampler = threading.Thread(target=_sample, args=(samples, stop, args.every, time.time()), daemon=True)
    sampler.start()
    code = subprocess.call(command)
    stop.set()
    sampler.join()
    table = summary(samples, _machine_cpu_s() - cpu0, time.monotonic() - t0)
    print(f"\n{table['wall_s']} s of wall time; the machine's cores were busy {table['machine_cpu_s']} s")
    for title, rows in (("group", table["groups"]), ("kind", table["kinds"][: args.top])):
        print(f"\n{'CPU s':>8}  {'procs':>5}  {title}")
        for name, procs, seconds in rows:
            print(f"{seconds:8.1f}  {procs:5d}  {name}")
    print(f"{table['unattributed_s']:8.1f}  {'':>5}  unattributed (this sampler's own, and what no sample saw)")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
