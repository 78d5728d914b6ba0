#!/usr/bin/env python
"""Lesson 07's lever table from a results file of ``tools/gpu_levers.py``.

Usage::

    python tools/lever_table.py outputs/levers.json [--stage 07]

Prints a Markdown table per stage: each lever and value, rows per second (and against the stage's baseline), NVML's
GPU utilisation and the peak GPU memory, with the machine and the date above it. A run that failed or was skipped is
a row that says so; a figure that was not measured (no NVML) is "n/a", never a guess.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAMES = {
    "07": "module 07's encoder (Qwen2.5 + ViT), map_batches",
    "07-iter": "module 07's encoder fed by iter_torch_batches",
    "03": "module 03's SDXL-Turbo",
    "05": "module 05's ViT classifier",
    "06": "module 06's CLIP image embeddings",
}


def _fmt(value, spec, unit=""):
    return "n/a" if value is None else f"{value:{spec}}{unit}"


def load(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"error: cannot read {path} ({exc}); give the JSON that tools/gpu_levers.py wrote")
    if report.get("schema") != 1 or not isinstance(report.get("runs"), list):
        raise SystemExit(f"error: {path} is not a results file of tools/gpu_levers.py (schema 1)")
    return report


def header(report: dict) -> str:
    m = report["machine"]
    gpus = ", ".join(m.get("gpus") or []) or "no GPU seen by NVML"
    what = (
        "a dry run (tiny stand-ins: the figures mean nothing)"
        if report["mode"] == "tiny"
        else f"the {report['profile']} profile"
    )
    return (
        f"{gpus} (driver {m.get('driver') or 'n/a'}), {m.get('cpus')} CPUs, torch {m.get('torch')}, "
        f"Ray {m.get('ray')}; {report['date'][:10]}; {what}."
    )


def table(report: dict, stage: str) -> str:
    runs = [r for r in report["runs"] if r["stage"] == stage]
    if not runs:
        return ""
    base = next((r for r in runs if r["lever"] == "baseline" and r["status"] == "ok"), None)
    settings = ", ".join(f"{k}={v}" for k, v in report["baseline"][stage].items())
    lines = [
        f"**{NAMES.get(stage, stage)}**, baseline: {settings}",
        "",
        "| lever | value | rows/s | vs baseline | GPU utilisation (NVML) | GPU memory |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        value = "" if r["lever"] == "baseline" else str(r["value"])
        if r["status"] != "ok":
            lines.append(f"| {r['lever']} | {value} | {r['status']}: {r.get('error', '')[:80]} | | | |")
            continue
        ratio = f"{r['rows_per_s'] / base['rows_per_s']:.2f}x" if base and base["rows_per_s"] else "n/a"
        lines.append(
            f"| {r['lever']} | {value} | {r['rows_per_s']:.1f} | {ratio} | "
            f"{_fmt(r.get('gpu_util'), '.0f', ' %')} | {_fmt(r.get('gpu_mem_peak_gib'), '.1f', ' GiB')} |"
        )
    return "\n".join(lines)


def render(report: dict, stages=None) -> str:
    parts = [header(report)]
    if report.get("nvml") != "ok":
        parts.append(f"NVML: {report.get('nvml')}.")
    for stage in stages or list(dict.fromkeys(r["stage"] for r in report["runs"])):
        text = table(report, stage)
        if text:
            parts.append(text)
    return "\n\n".join(parts) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON that tools/gpu_levers.py wrote")
    parser.add_argument("--stage", action="append", help="only this stage (repeat for more)")
    args = parser.parse_args(argv)
    sys.stdout.write(render(load(args.results), args.stage))
    return 0


if __name__ == "__main__":
    sys.exit(main())
