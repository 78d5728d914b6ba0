"""The GPU modules on a real multi-node Ray: two nodes on this machine, joined through RAY_ADDRESS.

A head node and a worker node, each with its own 4 logical CPUs and 1 logical GPU, started with Ray's own
``ray start`` (the head through ``raycourse.cluster.start``, which ``make lab`` uses too). The notebooks run
unchanged with ``RAY_ADDRESS`` pointing at the head and ``RAYCOURSE_OUTPUTS`` on a folder both nodes share,
as on a cluster with shared storage. Every GPU stage of the course sizes its pool to the cluster's GPUs, a whole
GPU per actor (module 04: 0.6 + 0.4 per pair), so with one GPU per node its actors must land on both nodes: Ray's
state API says where each actor ran, and how many each pool and trainer asked for (``tests/actor_sizes.py``). The test stops what it started and checks that nothing is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from raycourse import cluster, runtime

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["03_image_generation", "04_llm_prompt_enhancement", "05_vit_fine_tuning", "06_clip_embeddings",
             "07_multimodal_pipeline"]
# Where a notebook writes what it reads back later: the folder must be shared by the nodes.
OUTPUTS = {"05_vit_fine_tuning": "vit/checkpoint_*/checkpoint/model.safetensors",
           "06_clip_embeddings": "embeddings/*.parquet"}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    from ray.util.state import list_nodes

    shared = tmp_path_factory.mktemp("shared")
    patch = pytest.MonkeyPatch()
    patch.setenv("RAYCOURSE_OUTPUTS", str(shared / "outputs"))  # before the nodes start: they carry it
    patch.delenv("RAY_ADDRESS", raising=False)  # not the test run's shared Ray
    patch.delenv(runtime.RAY_ENV_DIGEST, raising=False)
    # Every actor pool starts all its actors before it takes input (Ray Data's wait_for_min_actors_s, read in
    # the kernels' drivers): otherwise, on this small data, one actor may do all the work while the other still
    # waits for its node (CI once saw module 06's second actor never placed), and the test could not tell.
    patch.setenv("RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S", "300")
    temp_dir = tempfile.mkdtemp(prefix="rc2-", dir="/tmp")  # short: Ray's socket paths must fit
    head = cluster.start(num_cpus=4, num_gpus=1, dashboard=True, dashboard_port=cluster.free_port(),
                         temp_dir=temp_dir)
    log = (Path(temp_dir) / "worker-node.log").open("w")
    worker = subprocess.Popen(
        [*cluster.ray_cli(), "start", f"--address={head.address}", "--num-cpus=4", "--num-gpus=1", "--block",
         f"--dashboard-agent-listen-port={cluster.free_port()}", "--disable-usage-stats"],
        env=cluster.ray_environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while len(nodes := list_nodes(address=head.dashboard_url, filters=[("state", "=", "ALIVE")])) < 2:
            assert worker.poll() is None and time.monotonic() < deadline, (Path(temp_dir) / "worker-node.log").read_text()
            time.sleep(1)
        for key, value in head.client_env().items():  # the notebook kernels join the head
            patch.setenv(key, value)
        yield head, {node.node_id for node in nodes}, shared / "outputs"
    finally:
        worker.send_signal(signal.SIGTERM)  # `ray start --block` stops its node's processes
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
        head.stop()
        patch.undo()
        left = head.leftover_processes()
        assert not left, f"Ray processes left behind: {left}"


def _actors(address: str) -> dict:
    from ray.util.state import list_actors

    return {a.actor_id: a for a in list_actors(address=address, detail=True, limit=10_000, raise_on_missing_output=False)}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_gpu_module_runs_on_both_nodes_of_a_two_node_ray(two_nodes, name):
    from actor_sizes import built, oversized

    head, node_ids, outputs = two_nodes
    before = _actors(head.dashboard_url)
    jobs_before = set(built(head.dashboard_url))
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    started = [a for key, a in _actors(head.dashboard_url).items() if key not in before]
    gpu_stages = [a for a in started if (a.required_resources or {}).get("GPU") and a.node_id]
    assert gpu_stages, f"{name} ran no GPU actor on the cluster (did it start a Ray of its own?)"
    # A pool's second actor may still be waiting for its node when the first has done all the work (module
    # 05's 50 validation images), so the spread is over all the notebook's actors: GPU stages, CPU stages
    # (featurizer, tokenizer), Ray Train's workers.
    used = {a.node_id for a in started if a.node_id}
    assert used == node_ids, f"{name}: its actors ran on {len(used)} of the 2 nodes: {[a.class_name for a in started]}"
    # The notebook sized every GPU pool and its trainer from the cluster: on two GPUs, every GPU stage ran on
    # both (each run of a pipeline starts its pool anew; lesson 07's sweep measures one actor on purpose), none
    # of its actors waited for a GPU, and every fit had two workers (the rehearsal shows the same notebooks
    # building one of each on one GPU).
    jobs = {job: b for job, b in built(head.dashboard_url).items() if job not in jobs_before}
    assert not oversized(jobs, 2), oversized(jobs, 2)
    ran = {stage: n for b in jobs.values() for stage, n in b.ran.items()}
    assert ran and all(n >= 2 for n in ran.values()), f"{name} built {ran} on 2 GPUs"
    assert all(n == 2 for b in jobs.values() for n in b.trainers), f"{name}: trainers of {jobs} workers"
    if name in OUTPUTS:
        folder = outputs / "notebooks" / name  # RAYCOURSE_OUTPUTS/<notebook folder>/<output name>
        assert list(folder.glob(OUTPUTS[name])), f"{name} wrote nothing under {folder}"
