"""An abandoned run gives back what it held: a kernel killed mid-pipeline (as a crashed or force-killed kernel) while
its GPU actor is alive leaves no actor of its job alive and no CPU or GPU held (`make soak` checks the same, with
the same code, on a lesson's run: raycourse.authoring.soak.abandon).

The kernel joins the run's one Ray (``kernels_ray``, its ``RAY_ADDRESS``). That Ray has no dashboard, and needs none:
the soak reads actors, placement groups and free resources from the GCS, as ``ray status`` does, so no Ray of the
test's own (10 s more to start, with a dashboard) is needed, and this process starts no Ray job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psutil
import pytest

from raycourse.authoring import soak

pytestmark = [
    pytest.mark.slow("a kernel killed mid-pipeline, then what it held waited for"),
    pytest.mark.tiny_only("a killed kernel's logical GPU given back (the soak runs on a GPU machine too)"),
]

CELLS = [
    "import time\n\nimport ray\n\nimport raycourse\n\nraycourse.init()",
    # A pool of one num_gpus=1 actor whose UDF sleeps far longer than the test: the kill comes while it works.
    "class Sleepy:\n"
    "    def __call__(self, batch):\n"
    "        time.sleep(120)\n"
    "        return batch\n\n\n"
    "ray.data.range(4, override_num_blocks=4).map_batches(\n"
    "    Sleepy, batch_size=1, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=1)).materialize()",
]


@pytest.fixture
def ray_address(kernels_ray):
    """The run's one Ray, or (``RAYCOURSE_SHARED_RAY=0``) a Ray of this test's own."""
    if kernels_ray:
        yield kernels_ray
        return
    from raycourse.session import cluster

    own = cluster.start(dashboard=False, temp_dir=tempfile.mkdtemp(prefix="rc-soak-", dir="/tmp"))
    try:
        yield own.address
    finally:
        own.stop()


def test_a_killed_kernel_leaves_no_actor_alive_and_no_cpu_or_gpu_held(ray_address, tmp_path: Path):
    view = soak.RayView(ray_address)
    before = view.resources()
    assert before["GPU"]["total"] >= 1, before
    # The kernel joins this Ray. Its dataset's registration with Ray Data's coordinator expires after 8 s here
    # (raycourse.init() makes it 30 s, Ray's own default is 180 s), and must be gone within 25 s of the kill.
    env = dict(os.environ, RAY_ADDRESS=ray_address, RAY_DATA_AUTOSCALING_REQUEST_EXPIRE_TIME_S="8")

    try:
        run = soak.abandon(
            view,
            CELLS,
            tmp_path,
            timeout=120,
            release_timeout=60,
            env=env,
            registration_timeout=25,
            registered_first=True,
        )
    finally:
        view.close()

    # The kill happened, mid-pipeline: the kernel is gone, and at the kill its GPU actor held a GPU (and a CPU).
    assert run.killed_in_cell == 1 and run.gpu_actor.startswith("MapWorker(MapBatches(Sleepy)")
    assert run.kernel_gone and not psutil.pid_exists(run.kernel_pid)
    assert run.held_at_kill["GPU"]["available"] <= before["GPU"]["available"] - 1, run.held_at_kill
    # Within the wait: Ray ended the job, every actor of it that is not a detached 0-CPU helper is DEAD, none
    # holds a CPU or GPU, no placement group of it is left, and CPU/GPU are back to what they were before.
    cleanup = run.cleanup
    assert cleanup.released, cleanup.problems()
    assert cleanup.job_dead is True
    assert not cleanup.holding and not cleanup.placement_groups
    assert cleanup.actor_states.get("DEAD", 0) >= 1, cleanup.actor_states
    assert all(not a["holds"] and a["detached"] for a in cleanup.helpers), cleanup.helpers
    for name in soak.HELD:
        assert cleanup.after[name]["available"] >= before[name]["available"], (name, cleanup.after, before)
    assert cleanup.seconds < 60
    assert cleanup.processes_gone_s is not None, f"the job's actor processes still run: {cleanup.processes}"
    # Its dataset no longer takes a share of the cluster from the datasets that come after it.
    assert run.registered_at_kill >= 1
    assert run.registrations_left == 0 and run.registrations_gone_s is not None, run.registrations_left
    print(
        f"killed {run.seconds_to_kill} s after the kernel's start, released {cleanup.seconds} s after the kill, "
        f"its dataset unregistered {run.registrations_gone_s} s after it, "
        f"its actor processes gone after {cleanup.processes_gone_s} s; "
        f"its actors {cleanup.actor_states}, helpers left {[a['class_name'] for a in cleanup.helpers]}"
    )
