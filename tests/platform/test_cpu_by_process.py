"""tools/cpu_by_process.py: a command's CPU, summed per kind of process (the authors' view of where a CPU-bound
suite's time goes)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("cpu_by_process", ROOT / "tools" / "cpu_by_process.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "titles, expected",
    [
        (["ray::IDLE", "ray::MapWorker(MapBatches(ReviewEncoder)).__init__"], "Ray Data actor ReviewEncoder"),
        (
            ["ray::MapWorker(MapBatches(Tokenize)->MapBatches(load_photos)).submit"],  # fused stages
            "Ray Data actor Tokenize + load_photos",
        ),
        (["ray::MapWorker("], "Ray Data actor (class not seen)"),  # only a title cut short was sampled
        (["ray::RayTrainWo", "ray::RayTrainWorker.run_train_fn"], "Ray actor RayTrainWorker"),  # the longest counts
        (["ray::SERVE_REPLICA::champion#Sentiment#qa01:ServeReplica:champion:Sentiment"], "Ray Serve replica champion"),
        (["ray::MapBatches(load_photos)", "ray::ReadArrowJSON->SplitBlocks(16)"], "Ray Data tasks"),
        (["ray::cuda_works"], "Ray tasks"),
        (["ray::IDLE"], "Ray workers that ran nothing"),
        (["ray::DashboardAgent"], "Ray's own processes"),
        (["/venv/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet --x"], "Ray's own processes"),
        (["/venv/bin/python -m ipykernel_launcher -f k.json"], "Python: drivers, kernels, tests"),
        (["kworker/0:1"], "other"),
    ],
)
def test_each_process_is_named_by_what_ray_ran_in_it(tool, titles, expected):
    assert tool.kind(titles) == expected


def test_the_summary_adds_up_each_kind_from_its_first_sample(tool):
    samples = {
        (1, 0.0): (2.0, 9.0, {"ray::IDLE", "ray::MapWorker(MapBatches(ImageGen)).__init__"}),
        (2, 0.0): (0.0, 6.0, {"ray::MapWorker(MapBatches(ImageGen)).submit"}),
        (3, 0.0): (5.0, 5.01, {"ray::IDLE"}),  # too little to list
    }
    assert tool.summary(samples, machine_cpu_s=14.0, wall_s=10.0) == {
        "wall_s": 10.0,
        "machine_cpu_s": 14.0,
        "kinds": [["Ray Data actor ImageGen", 2, 13.0]],
    }


def test_a_command_s_own_cpu_is_measured_and_its_exit_status_kept(tool, tmp_path, capsys):
    busy = "import time, sys\nend = time.process_time() + 1.5\nwhile time.process_time() < end: pass\nsys.exit(3)"
    out = tmp_path / "cpu.json"
    assert tool.main(["--out", str(out), "--", sys.executable, "-c", busy]) == 3
    table = json.loads(out.read_text())
    python = dict((name, seconds) for name, _, seconds in table["kinds"])["Python: drivers, kernels, tests"]
    assert 0.5 <= python <= table["machine_cpu_s"] + 0.5, table
    assert "the machine's cores were busy" in capsys.readouterr().out


def test_a_missing_command_says_what_to_give(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main([])
    assert "give the command to measure after --" in capsys.readouterr().err
