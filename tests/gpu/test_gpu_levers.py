"""The lever harness (tools/gpu_levers.py) and lesson 07's table from its results (tools/lever_table.py).

The GPU run itself happens on a lent GPU machine (tools/gpu_ray_check.sh, LEVERS=1); here the harness runs its dry
mode end to end on the CPU, where NVML is absent and the utilisation is null, said so.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


levers = _load("gpu_levers")
lever_table = _load("lever_table")


def test_the_plan_runs_each_baseline_then_moves_one_lever_at_a_time():
    runs = levers.plan(["07", "05"], levers.LEVERS, {"batch_size": 64})
    assert [r[1] for r in runs if r[0] == "07"][0] == "baseline"
    base = {stage: settings for stage, lever, _, settings in runs if lever == "baseline"}
    assert base["07"]["batch_size"] == base["05"]["batch_size"] == 64  # --set moves the baseline
    for stage, lever, value, settings in runs:
        if lever == "baseline":
            continue
        changed = {k for k in settings if settings[k] != base[stage][k]}
        assert changed == {lever} and settings[lever] == value
    assert ("07", "batch_size", 64, {**base["07"]}) not in runs  # the baseline's own value is not run twice
    named = {lever for stage in levers.LEVERS.values() for lever in stage}
    assert {
        "batch_size",
        "text_dtype",
        "cpu_workers",
        "prefetch_batches",
        "actors_per_gpu",
        "pin_memory",
        "preprocess_on_gpu",
    } <= named


def test_the_command_line_refuses_an_unknown_stage_or_lever(capsys):
    with pytest.raises(SystemExit):
        levers.main(["--stages", "09"])
    assert "unknown stage" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        levers.main(["--set", "warp_speed=9"])
    assert "LEVER=VALUE" in capsys.readouterr().err


def test_without_nvml_the_utilisation_is_null_and_the_note_says_why(monkeypatch):
    fake = types.SimpleNamespace(nvmlInit=lambda: (_ for _ in ()).throw(OSError("no NVIDIA driver")))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    sampler = levers.NvmlSampler().start()
    sampler.stop()
    assert "NVML unavailable" in sampler.note and "no NVIDIA driver" in sampler.note
    assert sampler.window(0, 2e9) == {"gpu_util": None, "gpu_util_samples": 0, "gpu_mem_peak_gib": None}


def test_nvml_samples_give_the_mean_utilisation_and_peak_memory_of_the_window(monkeypatch):
    readings = iter([(50, 2), (100, 6), (90, 4)] + [(0, 1)] * 1000)
    current = {}

    def utilisation(handle):
        current["u"], current["m"] = next(readings)
        return types.SimpleNamespace(gpu=current["u"])

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA T4",
        nvmlSystemGetDriverVersion=lambda: "580.1",
        nvmlDeviceGetUtilizationRates=utilisation,
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=current["m"] * 2**30),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    sampler = levers.NvmlSampler(period=0.001)
    assert sampler.note == "ok" and sampler.names == ["NVIDIA T4"]
    sampler.samples = [(10.0, 50, 2 * 2**30), (10.1, 100, 6 * 2**30), (10.2, 90, 4 * 2**30), (11.0, 0, 2**30)]
    assert sampler.window(10.0, 10.2) == {"gpu_util": 80.0, "gpu_util_samples": 3, "gpu_mem_peak_gib": 6.0}
    sampler.samples = []
    sampler.start()
    while len(sampler.samples) < 3:
        pass
    sampler.stop()
    assert [u for _, u, _ in sampler.samples[:3]] == [50, 100, 90]


@pytest.mark.slow(
    "the lever harness's dry run: a Ray Data pipeline with the CLIP stand-in's actors (about a minute here)"
)
@pytest.mark.tiny_only(
    "the lever harness's dry run on the stand-ins (on a GPU, tools/gpu_ray_check.sh runs the real one)"
)
def test_the_dry_run_writes_the_results_and_the_table_says_what_it_is(ray_session, course_env, tmp_path):
    out = tmp_path / "levers.json"
    assert levers.main(["--tiny", "--stages", "06", "--levers", "none", "--rows", "8", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["schema"] == 1 and report["mode"] == "tiny" and report["baseline"] == {"06": levers.BASELINE["06"]}
    [run] = report["runs"]
    assert run["status"] == "ok", run.get("error")
    assert run["stage"] == "06" and run["lever"] == "baseline" and run["rows"] == 8 and run["rows_per_s"] > 0
    assert {"seconds", "wall_s", "gpu_util", "gpu_util_samples", "gpu_mem_peak_gib", "nvml", "settings"} <= set(run)
    if report["machine"]["gpus"] == []:  # this machine: no NVML, so no utilisation, and the report says so
        assert run["gpu_util"] is None and "NVML unavailable" in report["nvml"]
    text = lever_table.render(report)
    assert "a dry run" in text and "| baseline |  | " in text and "module 06" in text
    if run["gpu_util"] is None:
        assert "| n/a | n/a |" in text


def test_the_table_marks_failed_runs_and_compares_with_the_baseline():
    report = {
        "schema": 1,
        "mode": "gpu",
        "profile": "gpu",
        "date": "2026-11-27T03:00:00+00:00",
        "nvml": "ok",
        "machine": {
            "gpus": ["NVIDIA H100 80GB HBM3"],
            "driver": "580.159.04",
            "cpus": 16,
            "torch": "2.11.0",
            "ray": "2.60.0",
        },
        "baseline": {"07": {"batch_size": 16}},
        "runs": [
            {
                "stage": "07",
                "lever": "baseline",
                "value": None,
                "status": "ok",
                "rows_per_s": 100.0,
                "gpu_util": 40.0,
                "gpu_mem_peak_gib": 5.0,
            },
            {
                "stage": "07",
                "lever": "batch_size",
                "value": 256,
                "status": "ok",
                "rows_per_s": 250.0,
                "gpu_util": 91.0,
                "gpu_mem_peak_gib": 12.5,
            },
            {
                "stage": "07",
                "lever": "actors_per_gpu",
                "value": 4,
                "status": "error",
                "error": "OutOfMemoryError: CUDA out of memory",
            },
        ],
    }
    text = lever_table.render(report)
    assert "NVIDIA H100 80GB HBM3 (driver 580.159.04)" in text and "2026-11-27" in text
    assert "| batch_size | 256 | 250.0 | 2.50x | 91 % | 12.5 GiB |" in text
    assert "| actors_per_gpu | 4 | error: OutOfMemoryError" in text


def test_the_table_refuses_a_file_that_is_not_a_results_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"rows": 1}')
    with pytest.raises(SystemExit, match="not a results file"):
        lever_table.load(bad)


def test_actors_per_gpu_ask_for_a_fraction_of_each_gpu_and_fill_them():
    pool = levers._gpu_pool({"actors_per_gpu": 4, "in_flight": 3}, gpus=2)
    assert pool["num_gpus"] == 0.25
    assert pool["compute"].min_size == pool["compute"].max_size == 8
    assert pool["compute"].max_tasks_in_flight_per_actor == 3
    cpu = levers._gpu_pool({"actors_per_gpu": 2, "in_flight": None}, gpus=0)  # the dry run: no GPU to ask for
    assert cpu["num_gpus"] == 0 and cpu["compute"].min_size == 2


def test_a_ladder_keeps_each_lever_it_moved_for_the_next_run():
    """--ladder: a recipe in its order, each run one lever more than the last (a lever may come back with another
    value); a lever already at its value is not run again."""
    ladder = [("cpu_workers", 12), ("actors_per_gpu", 2), ("batch_size", 16), ("batch_size", 64), ("actors_per_gpu", 3)]
    runs = levers.plan(["07"], levers.LEVERS, {}, ladder)
    assert [(lever, value) for _, lever, value, _ in runs] == [
        ("baseline", None),
        ("+cpu_workers", 12),
        ("+actors_per_gpu", 2),
        ("+batch_size", 64),  # 16 is the baseline's: no run
        ("+actors_per_gpu", 3),
    ]
    last = runs[-1][3]
    assert (last["cpu_workers"], last["actors_per_gpu"], last["batch_size"]) == (12, 3, 64)
    assert runs[2][3]["batch_size"] == 16 and runs[2][3]["cpu_workers"] == 12


def test_the_command_line_refuses_a_ladder_step_that_is_no_lever(capsys):
    with pytest.raises(SystemExit):
        levers.main(["--ladder", "batch_size=64,speed=11", "--out", "/dev/null"])
    assert "--ladder speed=11" in capsys.readouterr().err
