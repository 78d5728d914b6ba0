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


def test_the_summary_adds_up_each_kind_and_group_from_its_first_sample(tool):
    samples = {
        (1, 0.0): (2.0, 9.0, {"ray::IDLE", "ray::MapWorker(MapBatches(ImageGen)).__init__"}),
        (2, 0.0): (0.0, 6.0, {"ray::MapWorker(MapBatches(ImageGen)).submit"}),
        (3, 0.0): (0.0, 4.0, {"ray::MapWorker(MapBatches(Tokenize)).submit"}),
        (4, 0.0): (1.0, 3.0, {"ray::SplitCoordinator.start_epoch"}),
        (5, 0.0): (5.0, 5.01, {"ray::IDLE"}),  # too little to list
    }
    assert tool.summary(samples, machine_cpu_s=20.0, wall_s=10.0) == {
        "wall_s": 10.0,
        "machine_cpu_s": 20.0,
        "unattributed_s": 1.0,  # 20 busy, 19 seen
        "groups": [["Ray Data actors (every class)", 3, 17.0], ["Ray actors (every class)", 1, 2.0]],
        "kinds": [["Ray Data actor ImageGen", 2, 13.0], ["Ray Data actor Tokenize", 1, 4.0],
                  ["Ray actor SplitCoordinator", 1, 2.0]],
    }  # fmt: skip
    assert tool.summary(samples, machine_cpu_s=18.0, wall_s=10.0)["unattributed_s"] == 0.0  # never below 0


def test_a_process_started_meanwhile_counts_from_its_start(tool):
    """A process that burned 0.4 CPU s before its first sample: from zero if it started after the measurement
    began, from its first sample if it was running before."""
    import subprocess
    import threading
    import time

    import psutil

    burn = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\ntime.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        proc = psutil.Process(child.pid)
        while sum(proc.cpu_times()[:2]) < 0.4:
            time.sleep(0.05)
        key = (child.pid, proc.create_time())

        def first_sample(since: float) -> float:
            samples, stop = {}, threading.Event()
            sampler = threading.Thread(target=tool._sample, args=(samples, stop, 0.05, since))
            sampler.start()
            time.sleep(0.2)
            stop.set()
            sampler.join()
            return samples[key][0]

        assert first_sample(since=key[1] - 1) == 0.0  # started meanwhile
        assert first_sample(since=key[1] + 1) >= 0.4  # running before
    finally:
        child.kill()
        child.wait()


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


def test_a_sampling_interval_that_is_not_positive_is_refused(tool, capsys):
    with pytest.raises(SystemExit):
        tool.main(["--every", "0", "--", sys.executable, "-c", "pass"])
    assert "--every must be a number of seconds above 0, not 0" in capsys.readouterr().err


def test_top_lists_the_largest_kinds_and_every_group(tool, capsys):
    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    assert tool.main(["--every", "0.1", "--top", "1", "--", sys.executable, "-c", busy]) == 0
    out = capsys.readouterr().out
    kinds = [line for line in out.split("  kind\n")[1].splitlines() if "unattributed" not in line]
    assert len(kinds) == 1 and "group\n" in out and "unattributed (this sampler's own" in out, out
