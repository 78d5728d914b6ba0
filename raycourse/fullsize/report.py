"""``make verify-gpu``'s report: the table of every stage's measures, and the JSON it writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .stages import SIZES

CAPS_GB = (24, 16)  # the cards emulated by capping the process's share of the GPU


def _fmt(value, spec=".1f", none="—"):
    return none if value is None else format(value, spec)


def table(results: list[dict], device: str) -> str:
    cuda = device == "cuda"
    head = ["module", "stage", "load s", "work s", "rows", "rows/s", "busy share"]
    head += (
        ["GPU util", "peak GB (alloc/reserved)", "24 GB card", "16 GB card"] if cuda else ["peak RSS GB", "base RSS GB"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [r["module"], r["name"]]
        full = r.get("runs", {}).get("full", {})
        status = full.get("status", r.get("status"))
        if status != "ok":
            why = r.get("skipped") or status + (f": {full.get('error')}" if full.get("error") else "")
            lines.append("| " + " | ".join(row + [why] + [""] * (len(head) - 3)) + " |")
            continue
        row += [
            _fmt(full["load_s"]),
            _fmt(full["work_s"]),
            str(full["rows"]),
            _fmt(full["rows_per_s"], ".2f"),
            _fmt(full["busy_share"] * 100, ".0f") + " %",
        ]
        if cuda:
            row.append(
                _fmt(full.get("gpu_util"), ".0f") + " %"
                if full.get("gpu_util") is not None
                else full.get("gpu_util_note") or "n/a"
            )
            row.append(f"{full['peak_alloc_gb']:.2f} / {full['peak_reserved_gb']:.2f}")
            for cap in CAPS_GB:
                capped = r["runs"].get(f"{cap}GB")
                row.append(
                    "—"
                    if capped is None
                    else capped["status"]
                    if capped["status"] != "ok"
                    else f"fits (peak {capped['peak_alloc_gb']:.1f})"
                    if capped.get("from_uncapped_run")
                    else f"ok ({capped['peak_alloc_gb']:.1f})"
                )
        else:
            row += [_fmt(full["peak_rss_gb"], ".2f"), _fmt(full["base_rss_gb"], ".2f")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def report(device, gpu_name, torch, real, cache, size, roles, results) -> dict:
    import platform

    return {
        "device": device,
        "gpu": gpu_name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__,
        "models": "the real weights (Hugging Face cache)" if real else f"full-size random weights ({cache})",
        "sizes": {"name": size, **SIZES[size]},
        "roles": list(roles),
        "stages": results,
    }


def write(out: Path, report: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2, default=str))
