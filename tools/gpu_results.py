#!/usr/bin/env python
"""What a GPU slot showed, kept in the repository: one results file per module, and the status page built from them.

Usage (from the repository root)::

    python tools/gpu_results.py collect /work/.device/2 --run 2026-11-28-h200-a --note "..."   # after a slot
    python tools/gpu_results.py page                     # docs/gpu-status.md from results/gpu/NN.json
    python tools/gpu_results.py page --check             # exit 1 if the page is not what the files say

``collect`` reads what ``tools/gpu_slot.sh`` left under ``$OUT`` (``machine.txt``, ``tests.xml``, ``smi.csv``,
``levers.json``, ``slot.log``, ``tests.log``), copies it to ``results/gpu/runs/RUN/`` and writes
``results/gpu/NN.json`` for every module whose notebooks ran there: per notebook the tests passed, failed and skipped
(nbval's cells of a lesson; the grader's test of a lab), their time, the first line of each failure, and the GPU
memory peak over the tests (nvidia-smi, every 0.5 s: the whole GPU, so shared by the modules run beside it, named in
``beside``). A module's newest run replaces its file. ``page`` writes the one table that README links to.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "gpu"
PAGE = ROOT / "docs" / "gpu-status.md"
SCHEMA = 1
RAW = ("machine.txt", "slot.log", "smi.csv", "tests.xml", "tests.log", "levers.json", "levers.md")


def read_machine(path: Path) -> dict:
    """``machine.txt``: nvidia-smi's name, driver, memory; the CPU count; the date; the software line."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    name, driver, memory = (part.strip() for part in lines[0].split(","))
    software = dict(re.findall(r"(\w+) (\S+)", next((line for line in lines if line.startswith("ray ")), "")))
    return {
        "gpu": name,
        "driver": driver,
        "gpu_memory": memory,
        "cpus": int(lines[1]),
        "date": lines[2],
        "software": software,
    }


def _notebook_of(case: ET.Element) -> tuple[str, str] | None:
    """(module, notebook label) of a test case: a lesson's nbval cell, or the grading of a solved/unsolved lab."""
    classname, name = case.get("classname", ""), case.get("name", "")
    lesson = re.match(r"notebooks\.(\d\d)_(.+)\.ipynb$", classname)
    if lesson:
        return lesson.group(1), f"notebooks/{lesson.group(1)}_{lesson.group(2)}.ipynb"
    lab = re.match(r"test_(a_solved_lab|an_unsolved_lab)\w*\[(\d\d)\]$", name)
    if classname in ("tests.test_grading", "tests.grading.test_grading") and lab:
        kind = "solved lab" if lab.group(1) == "a_solved_lab" else "unsolved lab"
        return lab.group(2), f"{kind} {lab.group(2)} (the grader)"
    return None


def lesson_cells(notebook: str) -> int:
    """How many tests nbval makes of a lesson: one per code cell."""
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    return sum(1 for cell in cells if cell["cell_type"] == "code")


def read_tests(path: Path) -> tuple[dict, dict]:
    """Per module, per notebook: counts, seconds and failures from pytest's JUnit XML (a lesson's cells that never
    reported, when the slot's time ran out, as ``not_run``); and the run's start/seconds."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    modules: dict = defaultdict(dict)
    for case in suite.iter("testcase"):
        where = _notebook_of(case)
        if where is None:
            continue
        module, notebook = where
        entry = modules[module].setdefault(
            notebook, {"notebook": notebook, "passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0, "failures": []}
        )
        entry["seconds"] = round(entry["seconds"] + float(case.get("time", 0)), 2)
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is not None:
            entry["failed"] += 1
            entry["failures"].append({"test": case.get("name"), "message": _first_line(failure)})
        elif case.find("skipped") is not None:
            entry["skipped"] += 1
        else:
            entry["passed"] += 1
    for notebooks in modules.values():
        for label, entry in notebooks.items():
            if label.startswith("notebooks/") and (ROOT / label).exists():
                seen = entry["passed"] + entry["failed"] + entry["skipped"]
                entry["not_run"] = max(0, lesson_cells(label) - seen)
    run = {"started": suite.get("timestamp"), "seconds": float(suite.get("time", 0))}
    return modules, run


def _first_line(failure: ET.Element) -> str:
    """The line of a failure that says what went wrong: an exception's last line, else the message's first."""
    text = (failure.get("message") or "") + "\n" + (failure.text or "")
    found = re.findall(r"^\s*(?:E\s+)?(\w+(?:Error|Exception)\b:.*)$", text, flags=re.M)
    line = found[-1] if found else text.strip().splitlines()[0] if text.strip() else "failed"
    line = re.sub(r"(\x1b|#x1B)\[[0-9;]*m", "", line).replace("\\x1b", "").replace("`", "'")
    return re.sub(r"\[[0-9;]*m", "", line).strip()[:200]


def gpu_peak(smi: Path, started: str | None, seconds: float) -> float | None:
    """The most GPU memory nvidia-smi saw (GiB) between ``started`` and ``started + seconds``."""
    if not smi.exists() or not started:
        return None
    begin = datetime.datetime.fromisoformat(started).replace(tzinfo=None)
    end = begin + datetime.timedelta(seconds=seconds)
    peak = None
    for line in smi.read_text().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            when = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f")
            used = float(parts[2])
        except (ValueError, IndexError):
            continue
        if begin <= when <= end:
            peak = used if peak is None else max(peak, used)
    return None if peak is None else round(peak / 1024, 1)


def collect(out: Path, run: str, notes: dict, command: str) -> list[Path]:
    """Copy a slot's files to results/gpu/runs/RUN and write results/gpu/NN.json for each module that ran."""
    if not (out / "machine.txt").exists():
        raise SystemExit(f"error: {out} has no machine.txt: give the folder a tools/gpu_slot.sh call returned")
    keep = RESULTS / "runs" / run
    keep.mkdir(parents=True, exist_ok=True)
    for name in RAW:
        if (out / name).exists():
            shutil.copyfile(out / name, keep / name)
    machine = read_machine(out / "machine.txt")
    (keep / "run.json").write_text(
        json.dumps({"run": run, "notes": notes, "command": command, **machine}, indent=1) + "\n"
    )
    written = []
    if not (out / "tests.xml").exists():
        return written
    modules, timing = read_tests(out / "tests.xml")
    peak = gpu_peak(out / "smi.csv", timing["started"], timing["seconds"])
    for module, notebooks in sorted(modules.items()):
        failed = sum(n["failed"] for n in notebooks.values())
        not_run = sum(n.get("not_run", 0) for n in notebooks.values())
        result = {
            "schema": SCHEMA,
            "module": module,
            "run": run,
            "date": machine["date"][:10],
            "machine": f"{machine['gpu']}, driver {machine['driver']}, {machine['cpus']} CPUs",
            "software": machine["software"],
            "weights": "full-size random weights (python -m raycourse standins --full-size)",
            "command": command,
            "beside": sorted(m for m in modules if m != module),
            "status": "failed" if failed else "incomplete" if not_run else "passed",
            "notebooks": sorted(notebooks.values(), key=lambda n: n["notebook"]),
            "gpu_mem_peak_gib": peak,
            "note": notes.get(module, notes.get("", "")),
        }
        path = RESULTS / f"{module}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        written.append(path)
    return written


def page() -> str:
    """docs/gpu-status.md: one row per module of the course, from its results file or 'never'."""
    sys.path.insert(0, str(ROOT))
    from raycourse import catalogue

    lines = [
        "# The course on a real GPU",
        "",
        "Generated by `python tools/gpu_results.py page` from `results/gpu/NN.json` (written from a GPU slot's",
        "files by `python tools/gpu_results.py collect`); do not edit by hand. Each row is the newest `make test`",
        "run of that module in the `gpu` profile on a GPU (nbval on the lesson, the grader on the labs), with the",
        "full-size random weights. Modules run side by side in one pytest run share the GPU; `beside` names them.",
        "A lesson's cells \"not reached\" had not reported when the slot's time ran out (status: incomplete).",
        "",
        "| # | run | machine | notebooks: tests passed / failed / skipped, seconds | GPU memory peak | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for module in catalogue.modules(ROOT):
        path = RESULTS / f"{module.number}.json"
        if not path.exists():
            lines.append(f"| {module.number} | never | | | | never run on a GPU with `make test` |")
            continue
        r = json.loads(path.read_text())
        cells = "; ".join(
            f"{n['notebook']}: {n['passed']} / {n['failed']} / {n['skipped']}"
            + (f" ({n['not_run']} not reached)" if n.get("not_run") else "")
            + f", {n['seconds']:.0f} s"
            for n in r["notebooks"]
        )
        beside = f" (beside {', '.join(r['beside'])})" if r["beside"] else ""
        peak = "n/a" if r["gpu_mem_peak_gib"] is None else f"{r['gpu_mem_peak_gib']} GiB{beside}"
        lines.append(f"| {module.number} | {r['run']} | {r['machine']} | {cells} | {peak} | {r['status']} |")
        failures = sorted({f["message"] for n in r["notebooks"] for f in n["failures"]})
        if failures or r.get("note"):
            notes.append(f"- **{module.number}** ({r['run']}): {r.get('note', '')}".rstrip())
            notes += [f"  - `{message}`" for message in failures]
    if notes:
        lines += ["", "## What failed, and why", ""] + notes
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    c = sub.add_parser("collect", help="keep a slot's files and write results/gpu/NN.json")
    c.add_argument("out", type=Path, help="the folder the slot's files came back to")
    c.add_argument("--run", required=True, help="a name for this run, such as 2026-11-28-h200-a")
    c.add_argument(
        "--note",
        action="append",
        default=[],
        metavar="[NN=]TEXT",
        help="what a reader must know to read a module's failures (NN=: that module's; else every module's)",
    )
    c.add_argument("--command", default="tools/gpu_slot.sh", help="what ran")
    p = sub.add_parser("page", help="write docs/gpu-status.md")
    p.add_argument("--check", action="store_true", help="exit 1 if the page differs from what the files say")
    args = parser.parse_args(argv)
    if args.verb == "collect":
        notes = {}
        for item in args.note:
            module, sep, text = item.partition("=")
            notes.update({module: text} if sep and re.fullmatch(r"\d\d", module) else {"": item})
        for path in collect(args.out, args.run, notes, args.command):
            print(f"wrote {path}")
        return 0
    text = page()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} is stale: run `python tools/gpu_results.py page`", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
