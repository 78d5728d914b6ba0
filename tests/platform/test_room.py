"""A room on one Ray: the per-learner GPU budget, and the message that names who holds the GPUs.

Cheap: one local Ray of the course's shape (2 logical GPUs, no dashboard, started as ``make lab`` starts one) and
two small drivers, as two learners' kernels would be: one holds both GPUs, the other asks for one more.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from raycourse.session import cluster, room
from raycourse.errors import CourseError


@pytest.mark.parametrize("value", ["0", "-1", "half", "1.5", "two"])
def test_a_budget_that_is_not_a_number_of_gpus_says_what_to_set(monkeypatch, value):
    monkeypatch.setenv(room.BUDGET_ENV, value)
    with pytest.raises(CourseError) as error:
        room.gpu_budget()
    assert f"{room.BUDGET_ENV}={value!r}" in str(error.value)
    assert "whole number, 1 or more" in error.value.fix


def test_a_budget_set_by_the_instructor_is_read_as_it_is(monkeypatch):
    monkeypatch.setenv(room.BUDGET_ENV, " 3 ")
    assert room.gpu_budget() == 3


HOLDER = """
import sys, ray
ray.init(address="{address}", log_to_driver=False)

@ray.remote(num_gpus=1)
class Holder:
    def ready(self):
        return True

held = [Holder.remote() for _ in range(2)]
ray.get([h.ready.remote() for h in held])
print("JOB", ray.get_runtime_context().get_job_id(), flush=True)
sys.stdin.read()  # hold the GPUs until the test closes stdin
"""

WAITER = """
import io, os, sys, time, types, ray
import raycourse
from raycourse.session import room
ray.init(address="{address}", log_to_driver=False)
os.environ.pop(room.BUDGET_ENV, None)
exec(room.GPU_SIZING); print("SIZED", GPUS)
os.environ[room.BUDGET_ENV] = "1"
exec(room.GPU_SIZING); print("BUDGETED", GPUS, flush=True)

@ray.remote(num_gpus=1)
class Waiter:
    def ready(self):
        return True

waiter = Waiter.remote()
out = io.StringIO()
watcher = room.Watcher(patience_s=1, poll_s=0.5, stream=out).start()
deadline = time.monotonic() + 60
while not watcher.told and time.monotonic() < deadline:
    time.sleep(0.5)
watcher.stop()
print("WATCHED", ray.get_runtime_context().get_job_id())
print(out.getvalue())
print("ENDED")
err = io.StringIO()
sys.stderr = err
room._post_run_cell(types.SimpleNamespace(error_in_exec=ray.exceptions.GetTimeoutError(
    "Timed out while starting actors. This may mean that the cluster does not have enough resources")))
room._post_run_cell(types.SimpleNamespace(error_in_exec=ValueError("another error")))
sys.stderr = sys.__stderr__
print(err.getvalue())
"""


@pytest.fixture(scope="module")
def two_gpus():
    temp_dir = tempfile.mkdtemp(prefix="rcroom-", dir="/tmp")
    head = cluster.start(num_cpus=4, num_gpus=2, dashboard=False, temp_dir=temp_dir)
    try:
        yield head
    finally:
        head.stop()


def _driver(code: str, head, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != room.BUDGET_ENV}
    env.update(head.client_env())
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code.format(address=head.address))],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )


@pytest.mark.slow("a Ray of its own (2 logical GPUs) and two drivers: one holds the GPUs, the other is told who")
@pytest.mark.tiny_only("a Ray of its own with 2 logical GPUs")
def test_a_gpu_actor_that_waits_is_told_which_job_holds_the_gpus(two_gpus):
    holder = _driver(HOLDER, two_gpus, stdin=subprocess.PIPE)
    try:
        line = ""
        deadline = time.monotonic() + 120
        while not line.startswith("JOB ") and time.monotonic() < deadline and holder.poll() is None:
            line = holder.stdout.readline()
        assert line.startswith("JOB "), holder.stdout.read() if holder.poll() is not None else line
        holder_job = line.split()[1]
        waiter = _driver(WAITER, two_gpus)
        out, _ = waiter.communicate(timeout=180)
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert waiter.returncode == 0, out
    # The sizing line: every GPU of the cluster by default, the instructor's budget where it is set.
    assert "SIZED 2" in out and "BUDGETED 1" in out, out
    watched = out.split("WATCHED", 1)[1].split("ENDED")[0]
    told = watched.split("\n", 1)[1]
    assert "Waiting for GPUs: 1 of this notebook's actors" in told and "1 x Waiter (1 GPU)" in told, out
    assert "The cluster has 2 GPU(s), 0 free" in told, out
    assert f"job {holder_job}, " in told and f"pid {holder.pid} " in told and "2 x Holder (1 GPU)" in told, out
    assert "What to do:" in told and room.BUDGET_ENV in told, out
    # A cell that ends with Ray Data's timeout gets the holders too; any other error gets nothing.
    ended = out.split("ENDED", 1)[1]
    assert ended.count("Who holds them") == 1 and f"job {holder_job}, " in ended, out


KERNEL_CELLS = [
    "import time, ray, raycourse\nraycourse.init(quiet=True)\n"
    "raycourse.session.room.PATIENCE_S, raycourse.session.room.POLL_S = 2, 0.5",
    "@ray.remote(num_gpus=1)\nclass Holder:\n    def ready(self):\n        return True\n\n"
    "held = [Holder.remote() for _ in range(int(ray.cluster_resources()['GPU']))]\n"
    "ray.get([h.ready.remote() for h in held])",
    "extra = Holder.remote()\ntime.sleep(8)",
    "print('after')",
]


@pytest.mark.slow("a Ray of its own (2 logical GPUs) and two drivers: one holds the GPUs, the other is told who")
@pytest.mark.tiny_only("a Ray of its own with 2 logical GPUs")
def test_a_notebook_cell_that_waits_for_a_gpu_prints_who_holds_them(two_gpus, tmp_path, monkeypatch):
    """In a real kernel: raycourse.init() watches each cell; the cell whose actor waits gets the message (the
    kernel's own actors hold the GPUs here), the next cell nothing."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in KERNEL_CELLS])
    monkeypatch.delenv(room.BUDGET_ENV, raising=False)
    for key, value in two_gpus.client_env().items():  # the kernel joins the test's Ray, as under make lab
        monkeypatch.setenv(key, value)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = ["".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr") for cell in nb.cells]
    assert "Waiting for GPUs: 1 of this notebook's actors" in text[2] and "1 x Holder (1 GPU)" in text[2], text
    assert "this notebook: 2 GPU(s): 2 x Holder (1 GPU)" in text[2], text
    assert "Waiting for GPUs" not in text[1] + text[3], text
