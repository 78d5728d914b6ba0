"""raycourse.init(), metrics and pictures, with the test run's one Ray."""

import os
import subprocess
import sys

import pytest

import raycourse
from raycourse.session import cluster, loopback, runtime
from raycourse import config
from raycourse.errors import CourseError


@pytest.mark.tiny_only("the tiny profile's summary")
def test_init_twice_reuses_ray_and_prints_a_summary(ray_session, capsys):
    import ray

    again = raycourse.init()
    out = capsys.readouterr().out
    assert ray.is_initialized()
    assert again.profile == ray_session.profile == "tiny"
    for text in ("Profile   tiny", f"Ray       {ray.__version__}", "CPUs", "GPUs", "llm", "Data"):
        assert text in out
    assert str(os.getpid()) not in out  # no PIDs in a learner's cell


def test_init_applies_the_quiet_and_small_machine_settings(ray_session):
    import ray.data

    ctx = ray.data.DataContext.get_current()
    assert ctx.default_hash_shuffle_parallelism == 4
    assert ctx.enable_progress_bars is False  # RAYCOURSE_TEST=1
    assert os.environ["HF_HUB_OFFLINE"] == "1"  # tiny profile: offline
    assert ray_session.cpus >= runtime.MIN_LOCAL_CPUS


def test_gpu_profile_without_a_gpu_stops_with_advice(ray_session, monkeypatch):
    import ray

    monkeypatch.setenv("RAYCOURSE_PROFILE", "gpu")
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})  # a Ray without GPUs
    with pytest.raises(CourseError, match="needs a GPU") as err:
        raycourse.init(quiet=True)
    assert "RAYCOURSE_PROFILE=tiny" in err.value.fix


@pytest.mark.tiny_only("logical GPUs")
def test_tiny_profile_declares_logical_gpus_without_a_real_one(ray_session, monkeypatch):
    monkeypatch.setattr(runtime.config, "gpu_count", lambda: 0)
    assert runtime.local_gpus() == runtime.TINY_LOGICAL_GPUS == 2
    monkeypatch.setattr(runtime.config, "gpu_count", lambda: 1)
    assert runtime.local_gpus() == 2 and runtime.hide_real_gpus()  # stand-ins never use a real GPU
    monkeypatch.setenv("RAYCOURSE_PROFILE", "gpu")
    assert runtime.local_gpus() == 1 and not runtime.hide_real_gpus()  # real models use the real ones
    monkeypatch.setattr(runtime.config, "gpu_count", lambda: 0)
    assert runtime.local_gpus() == 0  # the gpu profile never pretends...
    monkeypatch.setenv("RAYCOURSE_REHEARSAL", "1")
    assert runtime.local_gpus() == 2  # ...except in its rehearsal, whose models are stand-ins
    assert ray_session.gpus == 2 and ray_session.logical_gpus
    assert "2 GPUs (logical" in str(ray_session)


def test_a_ray_without_gpus_gets_a_note(ray_session, monkeypatch, capsys):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0})
    session = raycourse.init()
    assert "Ray has no GPUs" in capsys.readouterr().out and session.gpus == 0


def test_jobs_on_a_cluster_pass_the_course_settings_to_their_workers(monkeypatch):
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    monkeypatch.setenv("RAYCOURSE_OUTPUTS", "/shared/outputs")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UNRELATED", "x")
    env = runtime._propagated_env()
    assert env["RAYCOURSE_PROFILE"] == "tiny" and env["RAYCOURSE_OUTPUTS"] == "/shared/outputs"
    assert env["HF_HUB_OFFLINE"] == "1" and "UNRELATED" not in env


def test_no_token_or_secret_travels_to_a_clusters_workers(monkeypatch):
    """A job's runtime_env is shown to anyone who reaches the dashboard: only the course's own settings, by name."""
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    monkeypatch.setenv("HF_HOME", "/shared/hf")
    for key in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_TOKEN_PATH",
        "RAYCOURSE_API_KEY",
        "RAYCOURSE_SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "WANDB_API_KEY",
        "RAY_AUTH_TOKEN",
        "HF_HUB_PASSWORD",
        "TRANSFORMERS_X",
    ):
        monkeypatch.setenv(key, "s3cr3t")
    monkeypatch.delenv(runtime.RAY_ENV_DIGEST, raising=False)  # a cluster: the settings travel
    sent = _init_kwargs(monkeypatch)["runtime_env"]["env_vars"]
    assert sent["RAYCOURSE_PROFILE"] == "tiny" and sent["HF_HOME"] == "/shared/hf"
    assert "s3cr3t" not in sent.values(), sent
    assert set(sent) <= set(runtime.PROPAGATED_KEYS)
    assert not [key for key in runtime.PROPAGATED_KEYS if runtime._is_secret(key)]
    assert runtime._is_secret("HF_TOKEN") and runtime._is_secret("my_password") and not runtime._is_secret("HF_HOME")


def _course_variables(paths) -> set[str]:
    """The ``RAYCOURSE_*`` names that the files at ``paths`` (files, or folders of .py files) mention."""
    import re

    files = [f for p in paths for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])]
    return {
        name
        for path in files
        for name in re.findall(r"(?<![A-Za-z0-9])_?RAYCOURSE_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
    }


def test_every_course_setting_the_package_reads_travels_or_is_the_drivers_alone():
    """A RAYCOURSE_* variable added to the package is named in the allow-list (or as the driver's own)."""
    from pathlib import Path

    package = Path(runtime.__file__).parents[1]  # raycourse/
    # raycourse/testing is the test run's plugin: what it reads, the test run reads (CONTRIBUTING's table lists it)
    read = _course_variables([p for p in package.rglob("*.py") if "testing" not in p.relative_to(package).parts])
    read -= {"_RAYCOURSE_GRADED_RUN"}  # the grader's mark of a graded notebook's processes, not a setting
    read -= {"RAYCOURSE_MODEL"}  # the prefix of RAYCOURSE_MODEL_<ROLE>, each role listed
    assert read <= set(runtime.PROPAGATED_KEYS) | set(runtime.DRIVER_ONLY_KEYS), (
        read - set(runtime.PROPAGATED_KEYS) - set(runtime.DRIVER_ONLY_KEYS)
    )


def test_every_course_variable_the_code_reads_is_in_contributing_s_table():
    """CONTRIBUTING.md's table of the RAYCOURSE_* variables lists every one that the package, the tools, the
    Makefile and the tests read."""
    import re
    from pathlib import Path

    root = Path(runtime.__file__).parents[2]
    text = (root / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(_?RAYCOURSE_[A-Z0-9_<>]+)` \|", text, flags=re.M))
    if "RAYCOURSE_MODEL_<ROLE>" in table:  # the roles' overrides, and the prefix the code builds them from
        table |= {"RAYCOURSE_MODEL"} | {role.override_env for role in config.MODEL_ROLES.values()}
    code = [root / "raycourse", root / "tools", *(root / "tools").glob("*.sh"), root / "conftest.py", root / "Makefile"]
    read = _course_variables(code)
    read |= _course_variables([root / "tests"]) - {"RAYCOURSE_API_KEY", "RAYCOURSE_SECRET"}  # the tests' fake secrets
    assert read - table == set(), "add them to CONTRIBUTING.md's table of the RAYCOURSE_* variables"
    assert {name for name in table if "_MODEL" not in name} <= read, "the table lists a variable nothing reads"


class _Proc:
    def __init__(self, uid, cmdline):
        self.info = {"uids": type("uids", (), {"real": uid})(), "cmdline": cmdline}


def test_a_notebook_joins_the_machines_latest_ray_only_if_it_is_its_users(monkeypatch):
    """Ray's note of the machine's latest `ray start` (/tmp/ray/ray_current_cluster) names whoever's Ray; a
    notebook joins it only where this user's Ray processes serve it, never another user's."""
    import psutil
    from ray._private import services

    mine, theirs = "127.0.0.1:6100", "127.0.0.1:6200"
    processes = [
        _Proc(os.getuid() + 1, ["raylet", f"--gcs-address={theirs}"]),
        _Proc(os.getuid(), ["ray::IDLE --node-ip-address=127.0.0.1 --gcs-address=" + mine]),
    ]
    monkeypatch.setattr(psutil, "process_iter", lambda attrs=None: iter(processes))
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: theirs)
    assert runtime.find_running_ray() is None
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: mine)
    assert runtime.find_running_ray() == mine
    # make lab's Ray notes its address in this user's own temp dir (cluster.private_temp_dir), not /tmp/ray
    noted = {cluster.private_temp_dir(): mine, None: theirs}
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: noted.get(temp_dir))
    assert runtime.find_running_ray() == mine


def _init_kwargs(monkeypatch):
    import ray

    calls = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs) or None)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: None)
    monkeypatch.setattr(loopback, "keep_loopback", lambda: None)  # this process's Ray settings stay as they are
    runtime._start_ray(None, "127.0.0.1:6379")
    return calls[0]


def test_a_local_ray_has_a_dashboard_where_its_packages_are_and_starts_without_one_elsewhere(monkeypatch):
    """Ray's own default for a learner (include_dashboard=None): True made a Ray without ray[default]'s packages
    refuse to start on a GPU machine ("Cannot include dashboard with missing packages"); none in a test run."""
    import ray

    calls = []
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs) or None)
    monkeypatch.setattr(ray, "get_runtime_context", lambda: None)
    monkeypatch.setattr(loopback, "keep_loopback", lambda: None)  # this process's Ray settings stay as they are
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    monkeypatch.delenv(runtime.TEST_ENV_FLAG, raising=False)
    for key, value in runtime.SMALL_MACHINE_ENV.items():  # set by a local start: put back after the test
        monkeypatch.setenv(key, os.environ.get(key, value))
    monkeypatch.setattr(runtime, "_owns_ray", runtime._owns_ray)
    monkeypatch.setattr(runtime, "_dashboard_url", runtime._dashboard_url)
    runtime._start_ray(None, None)
    monkeypatch.setenv(runtime.TEST_ENV_FLAG, "1")
    runtime._start_ray(None, None)
    assert [call["include_dashboard"] for call in calls] == [None, False]
    assert all(call["address"] == "local" for call in calls)
    # its session folders in this user's own folder, not /tmp/ray (tests/platform/test_cluster.py: what that keeps out)
    assert all(call["_temp_dir"] == cluster.private_temp_dir() for call in calls)


def test_a_notebook_joining_the_courses_own_ray_with_its_settings_needs_no_runtime_env(monkeypatch):
    """No runtime_env: Ray starts workers directly (setup_worker per worker cost 10-30 s per notebook)."""
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    monkeypatch.setenv(runtime.RAY_ENV_DIGEST, runtime.env_digest())
    assert "runtime_env" not in _init_kwargs(monkeypatch)


def test_a_notebook_with_other_settings_or_on_another_cluster_sends_them(monkeypatch):
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    monkeypatch.setenv(runtime.RAY_ENV_DIGEST, runtime.env_digest())
    monkeypatch.setenv("RAYCOURSE_OUTPUTS", "/shared/outputs")  # changed after the Ray started
    assert _init_kwargs(monkeypatch)["runtime_env"]["env_vars"]["RAYCOURSE_OUTPUTS"] == "/shared/outputs"
    monkeypatch.delenv(runtime.RAY_ENV_DIGEST)  # a cluster of one's own: no digest
    assert _init_kwargs(monkeypatch)["runtime_env"]["env_vars"]["RAYCOURSE_PROFILE"] == "tiny"


def test_existing_cluster_that_rejects_num_cpus(monkeypatch):
    import ray

    def fake_init(**kwargs):  # what ray.init says when connecting with num_cpus
        assert kwargs["address"] == "ray://head:10001"
        raise ValueError("When connecting to an existing cluster, num_cpus and num_gpus must not be provided.")

    monkeypatch.setattr(ray, "init", fake_init)
    with pytest.raises(CourseError, match="rejects num_cpus=8") as err:
        runtime._start_ray(8, "ray://head:10001")
    assert "without num_cpus" in err.value.fix


@pytest.mark.parametrize("slow_tries", [1, 3])
def test_a_local_ray_that_gave_up_waiting_for_its_agents_is_started_again_then_said(monkeypatch, capsys, slow_tries):
    import ray

    from raycourse.session import cluster

    tries, shutdowns = [], []

    def fake_init(**kwargs):  # ray.init on a busy machine: the raylet gave its agents 15 s (cluster.SLOW_START)
        tries.append(kwargs)
        if len(tries) <= slow_tries:
            raise Exception("The current node timed out during startup. This could happen because ...")
        return "context"

    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray, "shutdown", lambda: shutdowns.append(1))
    if slow_tries < cluster.START_ATTEMPTS:
        assert runtime._ray_init({"num_cpus": 8}, 8, None) == "context"
        assert len(tries) == slow_tries + 1 and len(shutdowns) == slow_tries
        assert capsys.readouterr().out.count("Starting it again") == slow_tries
    else:
        with pytest.raises(CourseError, match="too busy") as err:
            runtime._ray_init({"num_cpus": 8}, 8, None)
        assert len(tries) == cluster.START_ATTEMPTS and "make lab" in err.value.fix
    tries.clear()
    with pytest.raises(CourseError):  # joining a cluster: its start is not this machine's to try again
        runtime._ray_init({"address": "ray://head:10001"}, None, "ray://head:10001")
    assert len(tries) == 1


def test_accuracy_metric_offline_in_another_directory(ray_session, tmp_path, monkeypatch):
    import ray

    monkeypatch.chdir(tmp_path)
    metric = raycourse.load_metric("accuracy")
    assert metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0]) == {"accuracy": 0.75}

    @ray.remote
    def in_worker():  # like a Ray Train worker: other process, other working directory
        os.chdir("/")
        return raycourse.load_metric("accuracy").compute(predictions=[1, 1], references=[1, 0])

    assert ray.get(in_worker.remote()) == {"accuracy": 0.5}
    with pytest.raises(CourseError, match="no metric called 'bleu'"):
        raycourse.load_metric("bleu")


def test_show_images_draws_a_grid(monkeypatch):
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    images = [
        Image.new("RGB", (32, 32), "red"),
        np.zeros((16, 16), dtype=np.uint8),
        np.ones((8, 8, 3)),
        np.full((1, 6, 4), 200, dtype=np.uint8),
    ]  # grayscale as Ray Data returns it in a mixed block
    raycourse.show_images(images, titles=["a", "b", "$x$o$", "gray"], ncols=2)  # "$" is not math
    fig = shown[0]
    assert len(fig.axes) == 4 and [a.get_title() for a in fig.axes] == ["a", "b", "$x$o$", "gray"]
    assert fig.axes[3].get_images()[0].get_array().shape == (6, 4)
    with pytest.raises(ValueError):
        raycourse.show_images(images[:3], titles=["a"])
    plt.close("all")


def test_a_long_title_stays_clear_of_the_image_above_it(monkeypatch):
    """Lesson 04's grid: prompts wrapped into seven lines each; every title sits between its image and the one above."""
    import matplotlib.pyplot as plt
    import numpy as np

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    prompt = "autumn: A 3D render of a penguin wearing a bright orange space suit, among falling red leaves and sky."
    raycourse.show_images([np.zeros((64, 64, 3), dtype=np.uint8)] * 8, titles=[prompt] * 8, ncols=4, wrap=24)
    fig = shown[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    above, below = fig.axes[0], fig.axes[4]  # the first image of each row
    image_above = above.get_images()[0].get_window_extent(renderer)
    title_below = below.title.get_window_extent(renderer)
    assert title_below.y1 <= image_above.y0, (title_below, image_above)  # pixels: y grows upwards
    plt.close("all")


def test_only_the_worker_pool_size_warning_is_kept_out_of_cells(monkeypatch, capsys):
    from ray._private import worker

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    runtime.drop_worker_pool_warning()
    runtime.drop_worker_pool_warning()  # a second init must not wrap it twice
    assert worker.print_to_stdstream.raycourse_filter
    size = (
        "WARNING: 8 PYTHON worker processes have been started on node: abc with address: 1.2.3.4, which is "
        "4x the maximum expected startup concurrency (2)."
    )
    for message in [size, "A worker died or was killed while executing a task."]:
        worker.print_to_stdstream({"lines": [message], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    out = capsys.readouterr().out
    assert "worker died" in out
    assert "startup concurrency" not in out


def test_a_workers_known_noise_lines_are_dropped_one_by_one_and_the_rest_of_its_output_shows(monkeypatch, capsys):
    from ray._private import worker

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    runtime.drop_worker_pool_warning()
    level = (
        "[2026-11-25 09:37:51,204 I 27545 27545] logging.cc:303: Set ray log level from environment variable "
        "RAY_BACKEND_LOG_LEVEL to 3"
    )
    worker.print_to_stdstream({"lines": [level], "pid": "raylet", "is_err": True}, ignore_prefix=False)
    loading = "Loading pipeline components...:  57%|█████▋    | 4/7 [00:00<00:00, 32.69it/s]"
    worker.print_to_stdstream(
        {
            "lines": [loading, "hello from inside a UDF", level],
            "pid": 4242,
            "is_err": True,
            "actor_name": "MapWorker(MapBatches(ImageGen))",
        },
        ignore_prefix=False,
    )
    err = capsys.readouterr().err
    assert "hello from inside a UDF" in err and "MapBatches(ImageGen)" in err
    assert "RAY_BACKEND_LOG_LEVEL" not in err and "Loading pipeline components" not in err


def test_a_dropped_progress_bars_end_read_on_its_own_is_dropped_and_a_workers_own_empty_line_is_not(
    monkeypatch, capsys
):
    """The log monitor read the bar before its closing newline: the newline arrives alone, as an empty line."""
    from ray._private import worker

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    runtime.drop_worker_pool_warning()
    actor = {"is_err": True, "actor_name": "MapWorker(MapBatches(ImageGen))"}
    bar = "Loading pipeline components...: 100%|██████████| 7/7 [00:00<00:00, 30.1it/s]"
    worker.print_to_stdstream({**actor, "lines": [bar], "pid": 4242}, ignore_prefix=False)
    worker.print_to_stdstream({**actor, "lines": [""], "pid": 4343}, ignore_prefix=False)  # another worker's
    worker.print_to_stdstream({**actor, "lines": ["", "", "drawn"], "pid": 4242}, ignore_prefix=False)
    err = capsys.readouterr().err.splitlines()
    assert [line.rsplit("pid=", 1)[1] for line in err] == ["4343)\x1b[0m ", "4242)\x1b[0m ", "4242)\x1b[0m drawn"], err


def test_a_task_retry_notice_reaches_a_learners_cell_and_a_test_runs_file(monkeypatch, capsys, tmp_path):
    from ray._private import worker

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    runtime.drop_worker_pool_warning()
    retry = (
        "Task _map_task failed. There are infinite retries remaining, so the task will be retried. "
        "Error: The worker died unexpectedly."
    )
    monkeypatch.delenv(runtime.RAY_NOTICES_ENV, raising=False)  # a learner's run
    worker.print_to_stdstream({"lines": [retry], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    assert "so the task will be retried" in capsys.readouterr().out
    notices = tmp_path / "notices.log"
    monkeypatch.setenv(runtime.RAY_NOTICES_ENV, str(notices))  # a test run
    worker.print_to_stdstream({"lines": [retry], "pid": "raylet", "is_err": False}, ignore_prefix=False)
    worker.print_to_stdstream(
        {"lines": ["A worker died or was killed."], "pid": "raylet", "is_err": False}, ignore_prefix=False
    )
    out = capsys.readouterr().out
    assert "retried" not in out and "A worker died or was killed." in out  # every other message still shows
    assert notices.read_text() == retry + "\n"


def test_serve_shutdowns_notices_are_dropped_and_a_dead_replica_still_shows(monkeypatch, capsys, tmp_path):
    """serve.shutdown() kills Serve's controller under its own open calls; Ray's "will be retried" notices of
    those calls say nothing to a learner (module 08). A learner's replica that dies is still reported."""
    from ray._private import worker

    monkeypatch.setattr(worker, "print_to_stdstream", worker.print_to_stdstream)  # restored afterwards
    runtime.drop_worker_pool_warning()
    shutdown = [
        f"Task ServeController.{name} failed. There are infinite retries remaining, so the task will be "
        "retried. Error: The actor is dead because it was killed by `ray.kill`."
        for name in ("listen_for_change", "graceful_shutdown")
    ] + [  # the kill landing while a call is on the wire (test runs under load)
        f"Task ServeController.{name} failed. There are infinite retries remaining, so the task will be "
        f"retried. Error: The actor is temporarily unavailable: RpcError: RPC error: {error}"
        for name in ("listen_for_change", "graceful_shutdown")
        for error in (
            "Socket closed rpc_code: 14",
            "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:19724: Failed to connect to "
            "remote host: Connection refused rpc_code: 14",
        )
    ]
    died = (
        "Task ServeReplica:enhancer:PromptEnhancer.handle_request failed. There are infinite retries remaining, "
        "so the task will be retried. Error: The actor died unexpectedly before finishing this task."
    )
    for learner in (True, False):
        if learner:
            monkeypatch.delenv(runtime.RAY_NOTICES_ENV, raising=False)
        else:
            monkeypatch.setenv(runtime.RAY_NOTICES_ENV, str(tmp_path / "notices.log"))
        worker.print_to_stdstream({"lines": shutdown, "pid": "raylet", "is_err": False}, ignore_prefix=False)
        worker.print_to_stdstream({"lines": [*shutdown, died], "pid": "raylet", "is_err": False}, ignore_prefix=False)
        out = capsys.readouterr().out
        assert "ServeController" not in out
        assert ("handle_request failed" in out) == learner  # a test run writes it to its notices file
    assert (tmp_path / "notices.log").read_text() == died + "\n"


@pytest.mark.tiny_only("stand-ins")
def test_stand_ins_on_a_gpu_machine_get_rays_gpus_but_never_cuda(ray_session, monkeypatch):
    """A GPU runner's tiny smoke test: Ray grants its GPUs as usual, CUDA stays hidden from the stand-ins."""
    import ray

    monkeypatch.setattr(runtime.config, "gpu_count", lambda: 1)  # NVML would say: one real GPU here
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    # The run's shared Ray (joined, as under make lab), or a local one (RAYCOURSE_SHARED_RAY=0).
    address = None if runtime._owns_ray else ray.get_runtime_context().gcs_address
    ray.shutdown()
    try:
        runtime._start_ray(None, address, hide_gpus=runtime.hide_real_gpus())
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""  # the notebook's own process

        @ray.remote(num_gpus=1)
        class Probe:
            def seen(self):
                import torch

                granted = ray.get_runtime_context().get_assigned_resources().get("GPU")
                return os.environ.get("CUDA_VISIBLE_DEVICES"), granted, torch.cuda.is_available()

        # Ray's books still hold the GPU for the actor; its process sees no CUDA device.
        visible, granted, cuda = ray.get(Probe.remote().seen.remote())
        assert (visible, granted, cuda) == ("", 1.0, False)
    finally:
        ray.shutdown()
        monkeypatch.undo()
        runtime._start_ray(None, address)


def test_stats_table_keeps_each_operators_tasks_blocks_and_rows(ray_session):
    import ray

    ds = ray.data.range(40, override_num_blocks=4).map_batches(lambda b: b).limit(25).materialize()
    table = raycourse.stats_table(ds.stats())
    assert list(table.columns) == ["operator", "tasks", "blocks", "rows out"]
    assert table["rows out"].iloc[-1] == 25
    assert (table["tasks"] >= 1).all() and (table["blocks"] >= 1).all()
    with pytest.raises(ValueError, match="materialize"):
        raycourse.stats_table("nothing ran")


@pytest.mark.tiny_only("the sample images (the gpu profile reads them from S3)")
def test_readers_take_concurrency_while_transforms_log_its_deprecation(ray_session, caplog):
    """What module 06 teaches about Ray 2.60: concurrency= on a reader, compute= on a transform."""
    import logging

    import ray

    root = raycourse.data_path("embedding_images")
    with caplog.at_level(logging.WARNING, logger="ray.data"):
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            four = ray.data.read_images(root, override_num_blocks=4, concurrency=2)
            assert four.materialize().num_blocks() == 4
            assert not [r for r in caplog.records if "deprecated" in r.getMessage()]
            ray.data.range(4, override_num_blocks=2).map(lambda row: row, concurrency=2).materialize()
        finally:
            logging.getLogger("ray.data").setLevel(logging.ERROR)
    assert any("``concurrency`` is deprecated" in r.getMessage() for r in caplog.records)


def test_rays_workers_run_with_the_small_machine_settings(ray_session):
    """Ray Train's controller and Ray Data's workers read these in their own processes, not the driver's."""
    import ray

    @ray.remote(num_cpus=0)
    def settings():
        return {key: os.environ.get(key) for key in runtime.SMALL_MACHINE_ENV}

    assert ray.get(settings.remote()) == runtime.SMALL_MACHINE_ENV


def test_small_machines_read_parquet_footers_with_one_actor():
    # Ray 2.60 starts 32 footer-reading actors per read_parquet by default: 20-29 s for 4 files on 2 cores.
    assert runtime.SMALL_MACHINE_ENV["RAY_DATA_PARQUET_FOOTER_NUM_ACTORS"] == "1"


LISTING = """
import pyarrow as pa, pyarrow.fs
from ray.data._internal import dynamic_work_queue
from ray.data._internal.datasource_v2.common.non_sampling_file_indexer import NonSamplingFileIndexer
started = []
start_thread = dynamic_work_queue._WorkerPool.start_thread
dynamic_work_queue._WorkerPool.start_thread = lambda self, *a, **kw: started.append(start_thread(self, *a, **kw))
indexer = NonSamplingFileIndexer(ignore_missing_paths=False)
infos = list(indexer.list_file_infos(pa.array([{folder!r}]), filesystem=pyarrow.fs.LocalFileSystem()))
print(len(infos), len(started))
"""


def test_rays_file_listing_race_is_real_and_the_course_lists_without_threads(tmp_path):
    """Ray 2.60's threaded listing ends with a thread that can find its queue closed by the reader: InterruptedError,
    printed into the cell (forced here: the reader has already gone). The course's setting lists without threads."""
    import threading

    from ray.data._internal import dynamic_work_queue

    pool = dynamic_work_queue._WorkerPool()
    pool.interrupted.set()  # the reader took the last file and closed the pool
    errors = []
    previous, threading.excepthook = threading.excepthook, errors.append
    try:
        thread = threading.Thread(target=dynamic_work_queue._signal_completion, args=(pool, 8))
        thread.start()
        thread.join()
    finally:
        threading.excepthook = previous
    assert [e.exc_type for e in errors] == [InterruptedError], "Ray fixed the race: the setting can go"

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.parquet").write_bytes(b"x")
    env = {**os.environ, "RAY_DATA_LIST_FILES_THREADED_NUM_WORKERS": "8"}
    run = [sys.executable, "-c", LISTING.format(folder=str(tmp_path))]
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.split() == ["3", "9"]
    env.update(runtime.SMALL_MACHINE_ENV)
    assert subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.split() == ["3", "0"]


# A driver cancels tasks whose argument, a small result, it holds in its own memory, each before Ray's I/O thread
# has taken its submission (``ray.remote`` hands it over; ``ray.cancel`` acts at once).
CANCEL_RACE = """
import ray

ray.init(num_cpus=1, include_dashboard=False)


@ray.remote
def small():
    return b"x" * 100


@ray.remote
def size(data):
    return len(data)


data = small.remote()
ray.wait([data])
for _ in range(3000):
    ray.cancel(size.remote(data))
print("alive")
"""


def test_rays_cancel_race_is_real_so_the_checks_never_stop_a_dataset_early():
    """Ray 2.60 lowers a small argument's count twice when its task is cancelled before the submission ran: the
    driver dies. Ray Data cancels its tasks in flight when a dataset stops early (``columns()``, ``take()``); a lab
    check's test process died so in CI. The checks run a learner's Dataset to its end (tests/checks, ``limits``)."""
    course_only = {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"}
    bare_env = {k: v for k, v in os.environ.items() if k not in course_only}  # Ray as pip installs it
    bare = subprocess.run(
        [sys.executable, "-c", CANCEL_RACE], env=bare_env, capture_output=True, text=True, timeout=300
    )
    assert bare.returncode != 0, "Ray fixed the race: the checks may stop a dataset early again"
    assert "Check failed: it->second.submitted_task_ref_count > 0" in bare.stderr, bare.stderr[-3000:]


def test_make_labs_kernels_carry_the_settings_of_the_labs_ray(monkeypatch):
    """A kernel that make lab starts (profile set, then raycourse.init's defaults) matches the lab's Ray."""
    from raycourse.session import cluster
    from raycourse import config

    for key in list(os.environ):
        if key in runtime.PROPAGATED_KEYS:
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAYCOURSE_PROFILE", "tiny")
    lab_ray = runtime.env_digest(cluster.ray_environment())
    for key in list(runtime.QUIET_ENV) + list(runtime.OFFLINE_ENV):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAYCOURSE_PROFILE", config.profile())
    runtime.apply_environment()
    assert runtime.env_digest() == lab_ray


def _sdxl_notices(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, FutureWarning) and "upcast_vae" in str(w.message)]


def test_the_float16_sdxl_decode_notice_is_dropped_in_the_notebook_and_only_it():
    """A float16 SDXL run (as on a GPU) upcasts sdxl-turbo's VAE for every decode, through diffusers' deprecated
    upcast_vae(): its FutureWarning would land in the cell. The course drops that one notice and keeps the upcast.

    torch runs float16 convolutions on the CPU, so the tiny stand-in (whose VAE config says force_upcast: true, as
    sdxl-turbo's) goes through the same decode path as SDXL-Turbo on a GPU.
    """
    import warnings

    import torch
    from diffusers import AutoPipelineForText2Image

    pipe = AutoPipelineForText2Image.from_pretrained(
        raycourse.model_id("image_gen"), variant="fp16", dtype=torch.float16
    )
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae.config.force_upcast and pipe.vae.dtype == torch.float16

    def draw():
        return pipe(
            prompt=["a fox"],
            num_inference_steps=1,
            guidance_scale=0.0,
            height=64,
            width=64,
            generator=[torch.Generator().manual_seed(0)],
            output_type="np",
        ).images

    with warnings.catch_warnings(record=True) as without_filter:
        warnings.simplefilter("always")
        draw()
    assert _sdxl_notices(without_filter), "diffusers no longer warns: the filter may go"
    with warnings.catch_warnings(record=True) as course:
        warnings.simplefilter("always")
        runtime.apply_environment()
        images = draw()
        warnings.warn("another API is deprecated", FutureWarning)  # the filter is narrow
    assert not _sdxl_notices(course)
    assert [str(w.message) for w in course if issubclass(w.category, FutureWarning)] == ["another API is deprecated"]
    assert images.shape == (1, 64, 64, 3) and pipe.vae.dtype == torch.float16  # upcast for the decode, then back


@pytest.mark.slow("starts Ray workers that import torch and diffusers (about 45 s here)")
def test_ray_workers_drop_the_float16_sdxl_decode_notice_through_pythonwarnings():
    """Ray's workers get the course's PYTHONWARNINGS (QUIET_ENV): its -W entry matches diffusers' message."""
    import subprocess
    import sys

    code = (
        "import types, torch\n"
        "from diffusers import StableDiffusionXLPipeline\n"
        "StableDiffusionXLPipeline.upcast_vae(types.SimpleNamespace(vae=torch.nn.Linear(1, 1)))\n"
        "import warnings; warnings.warn('another API is deprecated', FutureWarning)\n"
    )

    def stderr(pythonwarnings):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        env.update({"PYTHONWARNINGS": pythonwarnings} if pythonwarnings else {})
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr

    assert "FutureWarning: `upcast_vae` is deprecated" in stderr(None)
    course = stderr(runtime.QUIET_ENV["PYTHONWARNINGS"])
    assert "upcast_vae" not in course and "Invalid -W option" not in course
    assert "FutureWarning: another API is deprecated" in course


@pytest.mark.parametrize("where", ["notebook", "worker"])
def test_torchs_notice_on_ray_datas_read_only_arrays_is_dropped_like_ray_means_to(where):
    """Ray's own catch_warnings around torch.as_tensor is not thread-safe (prefetch threads), so the notice
    escaped into a cell once; the course's filter (apply_environment, PYTHONWARNINGS for workers) holds it."""
    import subprocess
    import sys

    code = (
        "import numpy as np, torch, warnings\n"
        "{setup}\n"
        "frozen = np.zeros(4, dtype=np.float32); frozen.flags.writeable = False\n"
        "torch.as_tensor(frozen)\n"
        "warnings.warn('another warning', UserWarning)\n"
    )
    setup = "from raycourse.session import runtime; runtime.apply_environment()" if where == "notebook" else ""

    def stderr(course: bool):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        if course and where == "worker":
            env["PYTHONWARNINGS"] = runtime.QUIET_ENV["PYTHONWARNINGS"]
        return subprocess.run(
            [sys.executable, "-c", code.format(setup=setup if course else "")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr

    assert runtime.NONWRITABLE_NOTICE in stderr(course=False), "torch no longer warns: the filter may go"
    course = stderr(course=True)
    assert runtime.NONWRITABLE_NOTICE not in course and "Invalid -W option" not in course
    assert "UserWarning: another warning" in course


def test_a_killed_kernels_dataset_gives_back_its_share_of_the_cluster_after_30_s_not_180():
    """raycourse.init() sets the expiry of a dataset's registration with Ray Data's coordinator, and Ray Data reads
    that name (a fresh process: Ray Data reads it when its first dataset runs; a Ray upgrade that renames it fails
    here). `make soak` and tests/platform/test_soak.py show the registration going after a kill."""
    code = (
        "import os\n"
        "from raycourse.session import runtime\n"
        "runtime.apply_environment()\n"
        "from ray.data._internal.cluster_autoscaler.default_cluster_autoscaler_v2 import "
        "DefaultClusterAutoscalerV2 as A\n"
        "print(os.environ['RAY_DATA_AUTOSCALING_REQUEST_EXPIRE_TIME_S'], A.AUTOSCALING_REQUEST_EXPIRE_TIME_S)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_DATA_AUTOSCALING_REQUEST_EXPIRE_TIME_S"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["30", "30"], run.stdout
    assert runtime.SHARED_RAY_ENV == {"RAY_DATA_AUTOSCALING_REQUEST_EXPIRE_TIME_S": "30"}


# A learner's kernel against a test run's: the same driver code, once with a learner's environment and once with
# the test run's switches (raycourse.session.runtime.TEST_ENV). It joins the run's Ray, like every notebook kernel.
LEARNER_DRIVER = r"""
import time
import raycourse
import ray

raycourse.init(quiet=True)


def shout(batch):
    print("hello from inside a UDF")
    return batch


ray.data.range(4, override_num_blocks=1).map_batches(shout).materialize()
ray.data.range(4, override_num_blocks=2).map(lambda row: row, concurrency=2).materialize()
time.sleep(3)  # Ray forwards a worker's output to its driver within a second or so
print("driver done")
"""


def _run_driver(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", LEARNER_DRIVER], env=env, capture_output=True, text=True, timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "driver done" in output, output
    return output


@pytest.mark.slow("runs notebook kernels, a learner's and a test run's")
def test_a_learners_kernel_shows_ray_worker_output_and_warnings_and_a_test_run_does_not(kernels_ray):
    """A UDF's print() and Ray Data's deprecation notice reach a learner (as on any cluster); a test run stays quiet."""
    test_env = dict(os.environ)
    learner_env = {k: v for k, v in os.environ.items() if k not in runtime.TEST_ENV or k in runtime.OFFLINE_ENV}
    learner_env["RAYCOURSE_PROFILE"] = "tiny"
    learner = _run_driver(learner_env)
    assert "hello from inside a UDF" in learner, learner
    assert "``concurrency`` is deprecated" in learner, learner
    assert runtime.WORKER_POOL_WARNING not in learner  # the course's one known noise stays out
    quiet = _run_driver(test_env)
    assert "hello from inside a UDF" not in quiet and "deprecated" not in quiet, quiet
