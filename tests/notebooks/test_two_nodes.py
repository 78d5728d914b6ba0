"""The gpu code path on a two-node Ray: every lesson that loads a model, as on an instructor's small cluster.

One run proves three things that once took three (the CPU rehearsal of the gpu profile on one GPU, and the
two-node run of the tiny profile on two):

- **The gpu profile, offline, from the pinned cache.** The kernels run in the gpu profile with
  ``HF_HUB_OFFLINE=1`` against a Hugging Face cache in the hub's own layout holding exactly the pinned files of
  the real repos at their pinned commits, played by the tiny stand-ins (``raycourse/models/rehearsal.py``). A pin that
  misses a file, a load without ``variant="fp16"``, or a model resolved anywhere but the pinned snapshot fails a
  notebook here. Between them the notebooks load every role: in the notebook's own process (module 00), in Ray
  Data actors (03, 04, 06, 07) and in Ray Train workers (05, 07).
- **Two nodes.** A head node with 4 logical CPUs and no GPU (as a cluster's head often is) and a worker node
  with 4 CPUs and one logical GPU, started with Ray's own ``ray start`` (the head through
  ``raycourse.session.cluster.start``, which ``make lab`` uses too). The notebooks run unchanged with ``RAY_ADDRESS``
  pointing at the head and ``RAYCOURSE_OUTPUTS`` on a folder both nodes share; each notebook's tasks and actors
  run on both nodes (Ray's state API says where), and what one node writes the other reads.
- **One GPU**, the smallest machine the gpu profile supports (an instructor's single L4, A10G or T4): every pool
  and trainer must size itself from the cluster. A pool or trainer that asked for two GPUs would wait forever or
  leave an actor pending with no error; Ray's state API shows what each notebook built
  (``tests/actor_sizes.py``). That the same lessons use every GPU of a larger cluster is checked on the test
  run's own Ray, which has two logical GPUs: after each lesson under nbval, the root ``conftest.py`` reads from
  the GCS what it built (every GPU stage on two actors or more, every fit on two workers, none waiting).

Every cell must run without an error and write nothing to stderr (unless tagged ``stderr-ok``), and every check
cell must pass, as under nbval. Labs and solutions write the same loads (``tests/gpu/test_rehearsal.py`` holds them
to it), so running them again here would prove nothing new about pins, files or variants. The test stops what
it started and checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from raycourse import catalogue, config
from raycourse.session import cluster, runtime

pytestmark = [
    pytest.mark.slow("a two-node Ray of its own, on which every lesson that loads a model runs"),
    pytest.mark.tiny_only(
        "two nodes on one machine and a logical GPU: the gpu code path rehearsed on a CPU with stand-ins"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
# Every lesson that loads a model (raycourse.model_id), by its module (raycourse.catalogue).
MODULES = {
    m.name: m for m in catalogue.modules(ROOT) if m.lesson.is_file() and "raycourse.model_id(" in m.lesson.read_text()
}
NOTEBOOKS = sorted(MODULES)
GPUS = 1
# What each GPU lesson must build on the one GPU, by module: its GPU stages, and how many fit() calls it makes; None:
# nothing built on the cluster (module 00 loads every model in the notebook's own process). From each module's facts
# (modules/NN_slug.toml, [two_node]), for every module whose facts name a model role.
BUILDS = {m.number: m.facts.two_node for m in catalogue.modules(ROOT) if m.facts.loads_a_model}
# Where a lesson writes what it reads back later, by module: the folder must be shared by the nodes.
OUTPUTS = {"05": "vit/checkpoint_*/checkpoint/model.safetensors", "06": "embeddings/*.parquet"}
VERDICT_MARKS = ("✅", "⏳", "❌")


# The worker node is Ray's own `ray start --address=<head>`, with the head's loopback address kept as given. Ray
# replaces 127.0.0.1 in every address by the machine's outward IP, where the one-machine head does not listen, except
# where it runs without clusters, and there it refuses to start a node that joins one
# (raycourse.session.cluster.LOOPBACK_ENV says more). Both nodes then listen on loopback only, with the run's token
# (raycourse.session.auth).
JOIN_ON_LOOPBACK = (
    "import sys; from ray._private import services; "
    "services.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())"
)


def _worker_node_env() -> dict:
    """The Ray processes' environment without the loopback switch: `ray start --address` refuses to join any
    cluster while RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ("Multi-node Ray clusters are not supported", on Linux too),
    and this process has it once anything here called raycourse.init() (cluster.keep_loopback); JOIN_ON_LOOPBACK
    keeps the worker node on loopback instead."""
    env = cluster.ray_environment()
    for key in cluster.LOOPBACK_ENV:
        env.pop(key, None)
    return env


def test_every_lesson_that_loads_a_model_is_run_here():
    assert set(BUILDS) == {m.number for m in MODULES.values()}, NOTEBOOKS


def rehearsal_env(cache: Path) -> dict:
    """The gpu profile, offline, resolving every model through the pins and this cache only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RAYCOURSE_MODEL_") and key not in ("HF_HOME", "HUGGINGFACE_HUB_CACHE")
    }
    env.update(
        {
            config.PROFILE_ENV: "gpu",
            config.REHEARSAL_ENV: "1",
            "HF_HUB_CACHE": str(cache),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    return env


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory, rehearsal_cache):
    with two_node_ray(tmp_path_factory, rehearsal_cache, gpus=GPUS) as found:
        yield found


@contextlib.contextmanager
def two_node_ray(tmp_path_factory, rehearsal_cache, *, gpus: int, worker_cpus: int = 4, env: dict | None = None):
    """A head (4 CPUs, no GPU) and a worker node (``worker_cpus``, ``gpus`` logical GPUs) in the rehearsal's
    settings (and ``env``), with this process's environment set for kernels that join the head; stopped after."""
    from ray.experimental import internal_kv

    kv_client = internal_kv.internal_kv_get_gcs_client()  # this process's Ray's (the run's one Ray), or None
    shared = tmp_path_factory.mktemp("shared")
    patch = pytest.MonkeyPatch()
    # Before the nodes start: they carry it (each node's processes get the rehearsal's settings, as `make lab`
    # would start a gpu-profile Ray, so the kernels that join need no runtime_env).
    env = {**rehearsal_env(rehearsal_cache), **(env or {})}
    for key in set(os.environ) - set(env):
        patch.delenv(key)
    for key, value in env.items():
        patch.setenv(key, value)
    patch.setenv("RAYCOURSE_OUTPUTS", str(shared / "outputs"))
    patch.delenv("RAY_ADDRESS", raising=False)  # not the test run's shared Ray
    patch.delenv(runtime.RAY_ENV_DIGEST, raising=False)
    # Every actor pool starts all its actors before it takes input (Ray Data's wait_for_min_actors_s, read in
    # the kernels' drivers), so that what the state API shows is what the pool asked for.
    patch.setenv("RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S", "300")
    # Ray Train's placement-group cleaner (an actor) asks Ray's state API whether the fit's controller lives. With no
    # address in its environment the state API asks the machine's latest Ray (/tmp/ray/ray_current_cluster): on a
    # machine where others run Rays too, another one, which does not know the controller, so the cleaner removed a
    # running fit's placement group ("Found multiple active Ray instances ... Connecting to latest cluster", then
    # "Destroying worker since its placement group was removed", seen here). The nodes' processes ask their own.
    dashboard_port = cluster.free_port()
    patch.setenv("RAY_API_SERVER_ADDRESS", f"http://127.0.0.1:{dashboard_port}")
    temp_dir = tempfile.mkdtemp(prefix="rc2-", dir="/tmp")  # short: Ray's socket paths must fit
    head = cluster.start(num_cpus=4, num_gpus=0, dashboard=True, dashboard_port=dashboard_port, temp_dir=temp_dir)
    assert head.dashboard_url == f"http://127.0.0.1:{dashboard_port}", head.dashboard_url  # taken meanwhile
    worker, attempt = _join(head, worker_cpus, gpus, temp_dir, 1), 1
    try:
        deadline = time.monotonic() + 120
        while len(nodes := _state("nodes", head.dashboard_url, state="ALIVE")) < 2:
            log = Path(temp_dir) / f"worker-node-{attempt}.log"
            if worker.poll() is not None and attempt < cluster.START_ATTEMPTS and cluster.SLOW_START in log.read_text():
                attempt += 1  # its raylet gave its agents Ray's fixed 15 s (cluster.SLOW_START): a busy machine
                worker, deadline = _join(head, worker_cpus, gpus, temp_dir, attempt), time.monotonic() + 120
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        for key, value in head.client_env().items():  # the notebook kernels join the head
            patch.setenv(key, value)
        yield head, {node.node_id for node in nodes}, shared / "outputs"
    finally:
        try:
            worker.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
            head.stop()
        finally:
            patch.undo()  # whatever happened above: the next test gets this process's own environment back
        left = head.leftover_processes()
        assert not left, f"Ray processes left behind: {left}"
        # The state API was asked over HTTP only: this process still talks to its own Ray, not to the head that is
        # gone (raycourse.session.cluster.state_api_at says what happened when it did not).
        assert internal_kv.internal_kv_get_gcs_client() is kv_client, "the two-node head became this process's KV"


def _join(head, cpus: int, gpus: int, temp_dir: str, attempt: int) -> subprocess.Popen:
    """The worker node: Ray's own ``ray start --address=<head>``, its output in ``worker-node-<attempt>.log``."""
    with (Path(temp_dir) / f"worker-node-{attempt}.log").open("w") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                JOIN_ON_LOOPBACK,
                "start",
                f"--address={head.address}",
                f"--num-cpus={cpus}",
                f"--num-gpus={gpus}",
                "--block",
                f"--dashboard-agent-listen-port={cluster.free_port()}",
                "--disable-usage-stats",
            ],
            env=_worker_node_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _state(kind: str, address: str, **filters) -> list:
    from ray.util import state

    from raycourse.session.cluster import state_api_at

    with state_api_at(address):
        return getattr(state, f"list_{kind}")(
            address=address,
            detail=True,
            limit=10_000,
            raise_on_missing_output=False,
            filters=[(k, "=", v) for k, v in filters.items()],
        )


def _problems(nb) -> list[str]:
    """What nbval and the root conftest.py would fail: an error, stderr, a check cell that did not pass."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        for out in cell.outputs:
            if out.output_type == "error":
                found.append(f"cell {index} raised {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr" and out.text.strip() and "stderr-ok" not in tags:
                found.append(f"cell {index} wrote to stderr: {out.text.strip()[:500]}")
        if "check" in tags:
            text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            verdicts = [line for line in text.splitlines() if line.startswith(VERDICT_MARKS)]
            if not verdicts or any("passed" not in v.split(":")[0] for v in verdicts):
                found.append(f"check cell {index} did not pass: {text.strip()[:500]}")
    return found


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_lesson_runs_in_the_gpu_profile_on_two_nodes_and_one_gpu(two_nodes, name):
    from actor_sizes import built, oversized

    head, node_ids, outputs = two_nodes
    actors_before = {a.actor_id for a in _state("actors", head.dashboard_url)}
    jobs_before = {j.job_id for j in _state("jobs", head.dashboard_url) if j.job_id}
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    ).execute()
    problems = _problems(nb)
    assert not problems, f"{name} in the gpu profile on two nodes:\n" + "\n".join(problems)
    number = MODULES[name].number
    if BUILDS[number] is None:
        return  # module 00 loads every model in the notebook's own process
    jobs = {j.job_id for j in _state("jobs", head.dashboard_url) if j.job_id} - jobs_before
    assert jobs, f"{name} ran no job on the cluster (did it start a Ray of its own?)"
    # Where the notebook's work ran: its actors (GPU stages, CPU stages, Ray Train's workers) and its tasks.
    actors = [a for a in _state("actors", head.dashboard_url) if a.actor_id not in actors_before and a.node_id]
    tasks = [t for job in jobs for t in _state("tasks", head.dashboard_url, job_id=job) if t.node_id]
    used = {x.node_id for x in actors + tasks}
    assert used == node_ids, f"{name}: its tasks and actors ran on {len(used)} of the 2 nodes"
    # Sized from the cluster: on one GPU no actor waited for a GPU and no fit asked for more workers than GPUs.
    stages, fits = BUILDS[number]
    new = {job: b for job, b in built(head.dashboard_url).items() if job in jobs}
    assert not oversized(new, GPUS), oversized(new, GPUS)
    ran = {stage for b in new.values() for stage in b.ran}
    assert stages <= ran, f"{name} built {ran}, expected {stages}"
    assert sorted(n for b in new.values() for n in b.trainers) == [GPUS] * fits, f"{name}: trainers of {new}"
    if number in OUTPUTS:
        folder = outputs / "notebooks" / name  # RAYCOURSE_OUTPUTS/<notebook folder>/<output name>
        assert list(folder.glob(OUTPUTS[number])), f"{name} wrote nothing under {folder}"
