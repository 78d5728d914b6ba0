"""What a Ray holds, read from its GCS as ``ray status`` and ``ray memory`` do (:class:`RayView`): no driver, so this
process starts no job on the Ray and holds nothing there. ``make soak`` (:mod:`raycourse.authoring.soak`) notes it
after every notebook and checks with it that an abandoned run gives back everything (:func:`wait_released`), as
tests/platform/test_soak.py does; ``raycourse.authoring.soak`` re-exports these names."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HELD = ("CPU", "GPU")  # what an abandoned run must give back
RELEASE_TIMEOUT_S = 60.0
# A killed kernel's dataset stays registered with Ray Data's coordinator until its request expires, taking its share
# of the cluster from every new dataset meanwhile: raycourse.session.runtime.SHARED_RAY_ENV makes that 30 s, not 180.
REGISTRATION_TIMEOUT_S = 75.0
MB = 1024 * 1024


class RayView:
    """A Ray seen through its GCS: no driver, so this process starts no job and holds nothing on the Ray."""

    def __init__(self, address: str):
        from ray._private.internal_api import get_state_from_address

        self.address = address
        self.state = get_state_from_address(address)

    def _accessor(self):
        return self.state._connect_and_get_accessor()

    def resources(self) -> dict:
        """CPU and GPU: available and total."""
        total, available = self.state.cluster_resources(), self.state.available_resources()
        return {name: {"available": available.get(name, 0.0), "total": total.get(name, 0.0)} for name in HELD}

    def actors(self, job_id: str | None = None) -> list[dict]:
        """Every actor (of one job, if given): class, state, detached, what it asked for, its placement group."""
        from ray._common.utils import binary_to_hex
        from ray.core.generated import gcs_pb2

        found = []
        for raw in self._accessor().get_actor_table(None, None):
            data = gcs_pb2.ActorTableData.FromString(raw)
            job = binary_to_hex(data.job_id)
            if job_id is not None and job != job_id:
                continue
            found.append(
                {
                    "actor_id": binary_to_hex(data.actor_id),
                    "class_name": data.class_name,
                    "name": data.name,
                    "job_id": job,
                    "state": gcs_pb2.ActorTableData.ActorState.Name(data.state),
                    "detached": data.is_detached,
                    "pid": data.pid,
                    "required_resources": {k: v for k, v in data.required_resources.items() if v},
                    "placement_group_id": _id_or_none(data.placement_group_id),
                }
            )
        return found

    def placement_groups(self, job_id: str | None = None) -> list[dict]:
        """Placement groups that are not REMOVED (of one creator job, if given)."""
        from ray._common.utils import binary_to_hex
        from ray.core.generated import gcs_pb2

        found = []
        for raw in self._accessor().get_placement_group_table():
            data = gcs_pb2.PlacementGroupTableData.FromString(raw)
            state = gcs_pb2.PlacementGroupTableData.PlacementGroupState.Name(data.state)
            job = binary_to_hex(data.creator_job_id)
            if state == "REMOVED" or (job_id is not None and job != job_id):
                continue
            found.append(
                {
                    "placement_group_id": binary_to_hex(data.placement_group_id),
                    "name": data.name,
                    "state": state,
                    "creator_job_id": job,
                    "detached": data.is_detached,
                    "bundles": [{k: v for k, v in b.unit_resources.items()} for b in data.bundles],
                }
            )
        return found

    def job_dead(self, job_id: str) -> bool | None:
        """Whether Ray has marked the job finished (its driver gone); None if it does not know the job."""
        from ray._common.utils import binary_to_hex
        from ray.core.generated import gcs_pb2

        for raw in self._accessor().get_job_table(
            skip_submission_job_info_field=True, skip_is_running_tasks_field=True
        ):
            data = gcs_pb2.JobTableData.FromString(raw)
            if binary_to_hex(data.job_id) == job_id:
                return data.is_dead
        return None

    def object_store(self) -> dict:
        """Bytes in the object store and spilled so far (the raylets' store stats, as `ray memory` shows)."""
        try:
            from ray._private.internal_api import get_memory_info_reply

            stats = get_memory_info_reply(self.state, timeout_seconds=20).store_stats
            return {
                "used_mb": round(stats.object_store_bytes_used / MB, 1),
                "spilled_mb_total": round(stats.spilled_bytes_total / MB, 1),
                "objects": stats.num_local_objects,
            }
        except Exception as exc:  # private API: a figure missing is not a soak failure
            return {"error": f"{type(exc).__name__}: {exc}"[:200]}

    def close(self) -> None:
        self.state.disconnect()


def _id_or_none(raw: bytes) -> str | None:
    from ray._common.utils import binary_to_hex

    text = binary_to_hex(raw)
    return None if not text or set(text) == {"f"} else text  # Ray's nil ids are all 0xff


def _holds(actor: dict) -> dict:
    return {k: v for k, v in actor["required_resources"].items() if k in HELD and v}


def ray_processes(gcs_port: str | int) -> list[dict]:
    """This Ray's processes (matched by GCS port, as ``LocalRay.leftover_processes`` does) and their children.
    A worker process is one Ray renamed ``ray::...`` (``ray::IDLE``, ``ray::MapWorker(...)``) or a
    ``default_worker.py`` not renamed yet; Ray's agents (``ray::DashboardAgent``, ...) are Ray's own processes."""
    import psutil

    pattern = re.compile(rf"(gcs[-_]address[= ][^ ]*:{gcs_port}\b|gcs_server_port={gcs_port}\b)")
    found: dict[int, dict] = {}

    def note(proc, argv: list[str]) -> None:
        try:
            rss, cpu = proc.memory_info().rss, proc.cpu_times()
        except psutil.Error:
            return
        role = _role(argv)
        worker = (role.startswith("ray::") and not role.endswith("Agent")) or role == "default_worker.py"
        found[proc.pid] = {
            "pid": proc.pid,
            "worker": worker,
            "role": role,
            "rss_mb": rss / MB,
            "cpu_s": cpu.user + cpu.system,
        }

    for proc in psutil.process_iter(["cmdline"]):
        try:
            argv = proc.info["cmdline"] or []
        except psutil.Error:
            continue
        if pattern.search(" ".join(argv)):
            note(proc, argv)
            try:
                children = proc.children(recursive=True)
            except psutil.Error:
                continue
            for child in children:
                try:
                    note(child, child.cmdline())
                except psutil.Error:
                    continue
    return list(found.values())


def _role(argv: list[str]) -> str:
    """``ray::IDLE``, ``raylet``, ``gcs_server``, ``dashboard.py``, ``default_worker.py``, ...: what a process is."""
    words = " ".join(argv).split()
    if not words:
        return "?"
    if words[0].startswith("ray::") or words[0].startswith("ray-dashboard-"):
        return words[0].rstrip(":")
    name = words[0].rsplit("/", 1)[-1]
    if name.startswith("python"):  # a script: its name (``-m module``: the module)
        rest = iter(words[1:])
        for word in rest:
            if word == "-m":
                return next(rest, name)
            if not word.startswith("-"):
                return word.rsplit("/", 1)[-1]
    return name


def disk_mb(path: Path) -> float:
    """Size on disk of a folder, as ``du`` counts it (blocks, not lengths; every file once)."""
    total, seen = 0, set()
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return round(total / MB, 1)


# Ray Data 2.60 gives each running dataset the share of the cluster that one detached actor, shared by every job,
# reserves for it (_AutoscalingCoordinatorActor): what no one asked for is split equally between the datasets
# registered there. A dataset's executor registers when it starts, renews every 10 s and leaves when it shuts down;
# one whose driver died (a killed kernel) stays registered until its request expires (180 s), and in the meantime
# a new dataset gets half the CPUs and GPUs. Asked from a short-lived driver in a subprocess (its own job, gone
# when it returns), so that this process stays off the Ray.
_REQUESTERS = r"""
import json, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
try:
    actor = ray.get_actor("AutoscalingCoordinator", namespace="AutoscalingCoordinator")
except ValueError:
    print(json.dumps({"requesters": {}, "new_dataset_share": None}))
    sys.exit(0)
def look(self):
    def held(reserved):
        total = {}
        for resources in reserved.values():
            for name in ("CPU", "GPU"):
                total[name] = total.get(name, 0) + resources.get(name, 0)
        return total
    self.request_resources(requester_id="raycourse-soak-probe", resources=[], expire_after_s=5,
                           request_remaining=["CPU", "GPU", "memory", "object_store_memory"])
    share = held(self.get_reserved_resources("raycourse-soak-probe", recompute=True))
    self.cancel_request("raycourse-soak-probe")
    return {"requesters": {key: {"expires_in_s": round(req.expiration_time - time.time()),
                                 "reserved": held(req.reserved_resources)} for key, req in self._ongoing_reqs.items()},
            "new_dataset_share": share}
print(json.dumps(ray.get(actor.__ray_call__.remote(look), timeout=30)))
"""


def data_requesters(address: str) -> dict:
    """The datasets registered with Ray Data's cluster-wide coordinator, and the share a new dataset would get."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", _REQUESTERS, address], capture_output=True, text=True, timeout=90, env=env
        )
        return json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as exc:  # private internals of Ray Data: a figure missing is not a soak failure
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


def snapshot(view: RayView, temp_dir: Path, dashboard_url: str | None, gcs_port: str | int) -> dict:
    """What the Ray holds now."""
    import psutil

    procs = ray_processes(gcs_port)
    workers = [p for p in procs if p["worker"]]
    memory = psutil.virtual_memory()
    snap = {
        "time": time.strftime("%H:%M:%S"),
        "worker_processes": len(workers),
        "worker_rss_mb": round(sum(p["rss_mb"] for p in workers)),
        "workers_by_title": dict(Counter(p["role"] for p in workers).most_common()),
        "ray_processes_rss_mb": {
            role: round(sum(p["rss_mb"] for p in procs if p["role"] == role))
            for role in sorted({p["role"] for p in procs if not p["worker"]})
        },
        # CPU seconds each of Ray's own processes has used so far: the growth between two snapshots is Ray's
        # background work (GCS, raylet, dashboard, log monitor) while a notebook ran.
        "ray_processes_cpu_s": {
            role: round(sum(p["cpu_s"] for p in procs if p["role"] == role), 1)
            for role in sorted({p["role"] for p in procs if not p["worker"]})
        },
        "memory_used_mb": round(memory.used / MB),
        "memory_available_mb": round(memory.available / MB),
        "temp_dir_mb": disk_mb(temp_dir),
        "temp_dir_logs_mb": disk_mb(temp_dir / "session_latest" / "logs"),
        "log_files": sum(len(files) for _, _, files in os.walk(temp_dir / "session_latest" / "logs")),
        "object_store": view.object_store(),
        "resources": view.resources(),
        "placement_groups": view.placement_groups(),
        "data_requesters": data_requesters(view.address),
    }
    alive = [a for a in view.actors() if a["state"] == "ALIVE"]
    if dashboard_url:  # the dashboard's view of the same (what an instructor sees)
        alive_names = _state_api_alive(dashboard_url)
        if alive_names is not None:
            snap["alive_actors"] = alive_names
    snap.setdefault("alive_actors", dict(Counter(a["class_name"] for a in alive).most_common()))
    snap["alive_actors_holding"] = [
        {"class_name": a["class_name"], "job_id": a["job_id"], "holds": _holds(a)} for a in alive if _holds(a)
    ]
    return snap


def _state_api_alive(dashboard_url: str) -> dict | None:
    from ray.util.state import list_actors

    from ..session.cluster import state_api_at

    try:
        with state_api_at(dashboard_url):
            actors = list_actors(
                address=dashboard_url, filters=[("state", "=", "ALIVE")], limit=10_000, raise_on_missing_output=False
            )
        return dict(Counter(a.class_name for a in actors).most_common())
    except Exception:
        return None


# The abandoned run --------------------------------------------------------------------------------------------


@dataclass
class Released:
    """What an abandoned job left behind after the wait."""

    released: bool  # nothing of the job holds a CPU or GPU, and CPU/GPU are back to what they were before it
    seconds: float  # from the kill until released (or the whole wait, if never)
    job_dead: bool | None  # Ray marked the job finished
    holding: list = field(default_factory=list)  # actors of the job still alive that hold CPU/GPU, or not detached
    helpers: list = field(default_factory=list)  # detached actors of the job with no CPU/GPU (Ray Data's helpers)
    placement_groups: list = field(default_factory=list)  # the job's placement groups not removed
    before: dict = field(default_factory=dict)  # CPU/GPU available before the abandoned run
    after: dict = field(default_factory=dict)  # and at the end of the wait
    actor_states: dict = field(default_factory=dict)  # the job's actors by state at the end
    # The job's actor processes still running after its CPU/GPU came back (Ray frees the resources when it marks
    # the actor dead; the process, with its model in memory, exits a little later), and when the last one went.
    processes: list = field(default_factory=list)
    processes_gone_s: float | None = None

    def problems(self) -> list[str]:
        found = [
            f"{a['class_name']} ({a['state']}, holds {a['holds'] or 'nothing'}, "
            f"{'detached' if a['detached'] else 'not detached'})"
            for a in self.holding
        ]
        found += [
            f"placement group {g['placement_group_id'][:8]} {g['state']} {g['bundles']}" for g in self.placement_groups
        ]
        found += [
            f"{name} available {self.after[name]['available']:g} of {self.after[name]['total']:g}, "
            f"{self.before[name]['available']:g} before"
            for name in HELD
            if self.after.get(name, {}).get("available", 0) < self.before[name]["available"] - 1e-6
        ]
        return found


def leftovers(view: RayView, job_id: str, before: dict) -> Released:
    """What of ``job_id`` is left now (``seconds`` unset)."""
    actors = view.actors(job_id)
    alive = [dict(a, holds=_holds(a)) for a in actors if a["state"] != "DEAD"]
    holding = [a for a in alive if a["holds"] or not a["detached"]]
    helpers = [a for a in alive if not (a["holds"] or not a["detached"])]
    after = view.resources()
    result = Released(
        False,
        0.0,
        view.job_dead(job_id),
        holding,
        helpers,
        view.placement_groups(job_id),
        before,
        after,
        dict(Counter(a["state"] for a in actors)),
    )
    result.released = not result.problems()
    return result


def wait_released(
    view: RayView, job_id: str, before: dict, since: float, timeout: float = RELEASE_TIMEOUT_S
) -> Released:
    """Poll until nothing of ``job_id`` holds a CPU or GPU (or ``timeout`` after ``since``, a monotonic time)."""
    while True:
        found = leftovers(view, job_id, before)
        found.seconds = round(time.monotonic() - since, 2)
        if found.released or time.monotonic() - since > timeout:
            break
        time.sleep(0.25)
    pids = {a["pid"] for a in view.actors(job_id) if a["pid"] and not a["detached"]}
    while True:
        found.processes = sorted(pid for pid in pids if _running(pid))
        if not found.processes:
            found.processes_gone_s = round(time.monotonic() - since, 2)
            return found
        if time.monotonic() - since > timeout:
            return found
        time.sleep(0.25)


def wait_unregistered(address: str, since: float, timeout: float = REGISTRATION_TIMEOUT_S) -> tuple:
    """Poll Ray Data's coordinator until no dataset is registered (nothing else runs during the abandoned run):
    how many were at the first look, how many are left, and the seconds from ``since`` (a monotonic time) until
    none was (None: never)."""
    first = None
    while True:
        found = data_requesters(address)
        left = len(found.get("requesters", {})) if "requesters" in found else None
        first = left if first is None else first
        if left == 0:
            return first, 0, round(time.monotonic() - since, 1)
        if left is None or time.monotonic() - since > timeout:
            return first or 0, left, None
        time.sleep(2)


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
