"""``make verify-gpu``: every module's model stages at full size, measured, in process.

Each stage runs the lesson's own model code (the same ``from_pretrained`` calls on
``raycourse.model_id(role)``, the same dtype policy: SDXL-Turbo float16 on CUDA and
float32 on a CPU, Qwen2.5 as shipped in bfloat16 with ``dtype="auto"``, ViT, CLIP and
Whisper float32) on the full-size models, without Ray: one process per stage, so that each
stage's peak memory is its own. Per stage it records

* the load time (``from_pretrained`` and the move to the device);
* the peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (and reserved), then
  the stage again with ``torch.cuda.set_per_process_memory_fraction`` capped at 24 GB
  and at 16 GB, to emulate those cards (an out-of-memory error is the result, not a
  crash; the CUDA context, about 0.5 GB, is outside the cap); on a CPU the process's
  peak resident memory (VmHWM, which includes Python and the libraries: the
  ``base`` column is that figure before the stage starts);
* rows per second over the stage's work (after loading);
* the model's busy share: the time inside the model calls (a stopwatch around each
  call) over the stage's wall time, and on CUDA ``torch.cuda.utilization()`` sampled
  every 50 ms in a background thread beside it (NVML through ``nvidia-ml-py``, pinned in the
  course's lock; n/a where NVML cannot be used).

The models come from the cache that ``python -m raycourse standins --full-size`` builds
(random weights of the real shapes, built on first use), or with ``--real`` from the
Hugging Face cache that ``make prefetch`` fills. On a CPU only the roles that fit run
(CLIP, ViT, Qwen, Whisper); the stages that need SDXL-Turbo are listed as skipped.

The stages' code is :mod:`raycourse.fullsize.stages`; which module runs which is each module's facts
(``modules/NN_slug.toml``, ``[fullsize]``); the table and the JSON report are :mod:`raycourse.fullsize.report`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .report import CAPS_GB, report, table, write
from .stages import GB, SIZES, Context, Stage, _peak_rss_gb, course_stages, no_stage

__all__ = ["CAPS_GB", "NO_STAGE", "SIZES", "STAGES", "Context", "Stage", "table", "verify"]

STAGES = course_stages()  # every module's stages, as its facts (modules/NN_slug.toml) name them
NO_STAGE = no_stage()  # the modules that load a model without a stage of their own, and why


def _key(stage: Stage) -> str:
    return f"{stage.module} {stage.name}"


def _child(key: str, device: str, size: str, cap_gb: float | None) -> dict:
    """Run one stage in this process (a child of :func:`verify`) and return its measures."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    import diffusers  # noqa: F401  imported before the stage, so that its load time is the models' only
    import transformers  # noqa: F401
    from diffusers import AutoPipelineForText2Image  # noqa: F401
    from transformers import pipeline  # noqa: F401

    stage = next(s for s in STAGES if _key(s) == key)
    result = {"stage": key, "device": device, "cap_gb": cap_gb}
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        result["gpu"] = torch.cuda.get_device_name(0)
        result["gpu_total_gb"] = total / GB
        if cap_gb:
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gb * GB / total))
        torch.cuda.reset_peak_memory_stats()
    result["base_rss_gb"] = _peak_rss_gb()
    ctx = Context(device, SIZES[size])
    try:
        stage.run(ctx)
        result["status"] = "ok"
    except torch.OutOfMemoryError:
        result["status"] = "OOM"
    except RuntimeError as exc:  # some kernels report a failed allocation as a plain RuntimeError
        if "out of memory" not in str(exc).lower() and "ALLOC_FAILED" not in str(exc):
            raise
        result["status"] = "OOM"
    result.update(
        load_s=ctx.load_s,
        work_s=ctx.work_s,
        busy_s=ctx.busy_s,
        rows=ctx.rows,
        rows_per_s=ctx.rows / ctx.work_s if ctx.work_s else None,
        busy_share=ctx.busy_s / ctx.work_s if ctx.work_s else None,
        gpu_util=(sum(ctx.util) / len(ctx.util)) if ctx.util else None,
        gpu_util_note=ctx.util_note or None,
        peak_rss_gb=_peak_rss_gb(),
    )
    if device == "cuda":
        result["peak_alloc_gb"] = torch.cuda.max_memory_allocated() / GB
        result["peak_reserved_gb"] = torch.cuda.max_memory_reserved() / GB
    return result


def _env(cache: Path | None) -> dict:
    env = dict(
        os.environ,
        RAYCOURSE_PROFILE="gpu",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    if cache is not None:
        env["HF_HUB_CACHE"] = str(cache)
    for role in ("IMAGE_GEN", "LLM", "VIT", "CLIP"):  # the pinned models, not an override
        env.pop(f"RAYCOURSE_MODEL_{role}", None)
    return env


def _run_child(key, device, size, cap_gb, cache, timeout) -> dict:
    with tempfile.TemporaryDirectory(prefix="raycourse-verify-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "raycourse.fullsize.verify",
            "--child",
            key,
            "--device",
            device,
            "--size",
            size,
            "--out",
            str(out),
        ] + (["--cap-gb", str(cap_gb)] if cap_gb else [])
        try:
            proc = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"stage": key, "status": f"timeout ({timeout:g} s)", "cap_gb": cap_gb}
        if proc.returncode or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"stage": key, "status": "failed", "cap_gb": cap_gb, "error": " | ".join(tail)}
        return json.loads(out.read_text())


def _build(roles, cache, log) -> Path:
    """The full-size random-weight models of ``roles`` in ``cache`` (built on first use)."""
    from . import build, default_cache

    cache = Path(cache or default_cache())
    for role, info in build(roles, cache, log=log).items():
        log(
            f"  {role:<10}{'kept' if info['kept'] else 'built'}: {info['bytes'] / GB:.2f} GB in {info['seconds']:.1f} s"
        )
    return cache


def _skipped(stage: Stage, modules, roles, device: str) -> str | None:
    """Why a stage does not run here, or None."""
    if modules and stage.module not in modules:
        return "not selected"
    missing = [r for r in stage.roles if r not in roles]
    if missing:
        return f"skipped: needs {', '.join(missing)}" + (
            " (does not fit a CPU)" if device == "cpu" and "image_gen" in missing else ""
        )
    return None


def _measure(stage: Stage, device: str, size: str, cache, timeout) -> dict:
    """The stage's runs: "full", and on CUDA each smaller card (CAPS_GB) the stage's uncapped peak might not fit."""
    runs = {"full": _run_child(_key(stage), device, size, None, cache, timeout)}
    if device != "cuda":
        return runs
    full = runs["full"]
    total = full.get("gpu_total_gb") or 0  # the card's size as the stage's process saw it (this one keeps CUDA off)
    for cap in CAPS_GB:
        if cap >= total:
            continue
        if full["status"] == "ok" and full["peak_reserved_gb"] < cap:
            # The uncapped run never held as much as the cap: the cap cannot bite, and running the stage
            # again would only repeat its loading. The uncapped peak is the answer.
            runs[f"{cap}GB"] = {"status": "ok", "peak_alloc_gb": full["peak_alloc_gb"], "from_uncapped_run": True}
        else:
            runs[f"{cap}GB"] = _run_child(_key(stage), device, size, cap, cache, timeout)
    return runs


def _said(stage: Stage, full: dict) -> str:
    if full["status"] == "ok":
        return f"  {_key(stage)}: ok (load {full['load_s']:.1f} s, work {full['work_s']:.1f} s)"
    return f"  {_key(stage)}: {full['status']} {full.get('error', '')}"


def verify(
    roles=None,
    cache: Path | None = None,
    real: bool = False,
    size: str | None = None,
    modules=None,
    out: Path | None = None,
    timeout: float = 1800,
    log=print,
) -> dict:
    """Run the stages whose roles are available; build the full-size models first unless ``real``."""
    import torch

    from . import CPU_ROLES

    device = "cuda" if torch.cuda.is_available() else "cpu"
    roles = tuple(roles or (("image_gen", "llm", "vit", "clip", "speech") if device == "cuda" else CPU_ROLES))
    size = size or ("gpu" if device == "cuda" else "cpu")
    if not real:
        cache = _build(roles, cache, log)
    results, gpu_name = [], None
    for stage in STAGES:
        entry = {"module": stage.module, "name": stage.name, "roles": list(stage.roles), "what": stage.what}
        results.append(entry)
        why = _skipped(stage, modules, roles, device)
        if why:
            entry["skipped"] = why
            continue
        entry["runs"] = _measure(stage, device, size, cache, timeout)
        gpu_name = entry["runs"]["full"].get("gpu") or gpu_name
        log(_said(stage, entry["runs"]["full"]))
        if out:  # after every stage, so that a run cut short keeps what it measured
            write(out, report(device, gpu_name, torch, real, cache, size, roles, results))
    result = report(device, gpu_name, torch, real, cache, size, roles, results)
    if out:
        write(out, result)
    result["table"] = table(results, device)
    return result


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="one stage of make verify-gpu (internal)")
    parser.add_argument("--child", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--cap-gb", type=float)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = _child(args.child, args.device, args.size, args.cap_gb)
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
