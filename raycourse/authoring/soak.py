"""A workshop day on one Ray: ``make soak`` (``python -m raycourse.authoring soak``).

One Ray (dashboard on) for everything, as ``make lab`` keeps one for hours: every lesson and solved lab runs in a
fresh kernel (pass 1), then a learner's run is abandoned (a kernel killed mid-pipeline while its GPU actors are
alive, as a crashed or force-killed kernel), then every notebook runs again (pass 2). After each notebook it notes
what the Ray holds (worker processes and their memory, the machine's memory, the Ray temp dir's size, the object
store, alive actors, placement groups, free CPUs and GPUs). It fails if pass 2 is slower than pass 1 beyond noise,
if a notebook raises, or if anything of the abandoned run still holds a CPU or GPU after the wait; everything goes
to outputs/soak.json.

What a Ray holds is read from its GCS (:class:`RayView`), as ``ray status`` and ``ray memory`` do: no driver, so
the soak itself starts no job on the Ray (a driver would get idle worker processes of its own), and it works on a
Ray without a dashboard too (the test run's one), so that the abandoned-run check (:func:`abandon`,
:func:`wait_released`) is the same code in the soak and in tests/platform/test_soak.py. The GCS tables are those Ray's
state API serves from the dashboard; read directly, they give each actor's required resources and each placement group's
creator job without an HTTP server. The dashboard's state API is asked too, for the alive actors an instructor
sees there.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import notebooks

HELD = ("CPU", "GPU")  # what an abandoned run must give back
TOTAL_RATIO = 1.10  # pass 2's total may be at most this times pass 1's
EACH_RATIO, EACH_SLACK_S = 1.30, 5.0  # and each notebook at most this times its pass-1 time plus this
RELEASE_TIMEOUT_S = 60.0
GPU_ACTOR_TIMEOUT_S = 300.0  # the abandoned kernel's cells until a GPU actor of its job is alive
# A killed kernel's dataset stays registered with Ray Data's coordinator until its request expires, taking its share
# of the cluster from every new dataset meanwhile: raycourse.runtime.SHARED_RAY_ENV makes that 30 s, not 180.
REGISTRATION_TIMEOUT_S = 75.0
MB = 1024 * 1024


# What the Ray holds -------------------------------------------------------------------------------------------


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

    from ..cluster import state_api_at

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


@dataclass
class Abandoned:
    job_id: str
    kernel_pid: int
    killed_in_cell: int  # index among the code cells given
    killed_during: str  # that cell's first line
    gpu_actor: str  # the class of the job's GPU actor that was alive at the kill
    seconds_to_kill: float  # from the kernel's start
    held_at_kill: dict  # CPU/GPU available at the kill (less than before: the job held them)
    kernel_gone: bool  # the kernel process no longer runs after the kill
    cleanup: Released
    # Datasets still registered with Ray Data's coordinator after the wait (nothing else runs then), and when the
    # last registration went, in seconds from the kill.
    registrations_left: int | None = None
    registrations_gone_s: float | None = None
    registered_at_kill: int = 0  # datasets registered with the coordinator when the kernel was killed


class CellError(RuntimeError):
    pass


def abandon(
    view: RayView,
    cells: list[str],
    cwd: Path,
    timeout: float = GPU_ACTOR_TIMEOUT_S,
    release_timeout: float = RELEASE_TIMEOUT_S,
    env: dict | None = None,
    registration_timeout: float = REGISTRATION_TIMEOUT_S,
    registered_first: bool = False,
) -> Abandoned:
    """Run ``cells`` in a fresh kernel (which joins the Ray through ``RAY_ADDRESS``) until an actor of its job that
    asked for a GPU is ALIVE (and, with ``registered_first``, its dataset is registered with Ray Data's coordinator:
    each look takes seconds, so only for a pipeline that runs long), SIGKILL the kernel there (a crashed kernel),
    then wait until its job holds nothing and no dataset is registered."""
    import psutil
    from jupyter_client import KernelManager

    before = view.resources()
    from raycourse.cluster import kernel_encryption_policy

    km = KernelManager(kernel_name="python3", transport_encryption=kernel_encryption_policy())
    km.start_kernel(cwd=str(cwd), env=dict(os.environ if env is None else env))
    started = time.monotonic()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        pid = km.provisioner.pid
        job_id, deadline = "", started + timeout
        for index, source in enumerate(cells):
            msg_id = kc.execute(source, store_history=True)
            while True:
                if job_id:
                    gpu = [
                        a for a in view.actors(job_id) if a["state"] == "ALIVE" and a["required_resources"].get("GPU")
                    ]
                    # Mid-pipeline: its GPU actor works, and its dataset has its share of the cluster from Ray
                    # Data's coordinator (a dataset registers a few seconds after it starts).
                    registered = (
                        len(data_requesters(view.address).get("requesters", {})) if gpu and registered_first else 0
                    )
                    if gpu and (registered or not registered_first):
                        held = view.resources()
                        os.kill(pid, signal.SIGKILL)  # as a crashed or force-killed kernel
                        killed = time.monotonic()
                        try:
                            psutil.Process(pid).wait(timeout=10)
                            gone = True
                        except psutil.NoSuchProcess:
                            gone = True
                        except psutil.TimeoutExpired:
                            gone = False
                        cleanup = wait_released(view, job_id, before, killed, release_timeout)
                        done = Abandoned(
                            job_id,
                            pid,
                            index,
                            source.strip().splitlines()[0][:80],
                            gpu[0]["class_name"],
                            round(killed - started, 1),
                            held,
                            gone,
                            cleanup,
                        )
                        first, done.registrations_left, done.registrations_gone_s = wait_unregistered(
                            view.address, killed, registration_timeout
                        )
                        done.registered_at_kill = max(registered, first)
                        return done
                if time.monotonic() > deadline:
                    raise CellError(
                        f"no GPU actor of the kernel's job was alive within {timeout:.0f} s "
                        f"(cell {index}: {source.strip().splitlines()[0][:80]})"
                    )
                reply = _reply(kc, msg_id, 0.5)
                if reply is None:
                    continue
                if reply["content"]["status"] != "ok":
                    content = reply["content"]
                    raise CellError(
                        f"cell {index} ({source.strip().splitlines()[0][:80]}) raised "
                        f"{content.get('ename')}: {content.get('evalue')}"
                    )
                if not job_id:
                    job_id = _job_id(kc)
                break
        raise CellError("the cells finished without a GPU actor of the kernel's job alive: nothing to abandon")
    finally:
        kc.stop_channels()
        try:
            km.shutdown_kernel(now=True)
        except Exception:
            pass


def _reply(kc, msg_id: str, timeout: float):
    try:
        while True:
            msg = kc.get_shell_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
    except queue.Empty:
        return None


_JOB_ID = "__import__('ray').get_runtime_context().get_job_id() if __import__('ray').is_initialized() else ''"


def _job_id(kc) -> str:
    reply = kc.execute_interactive("", user_expressions={"job": _JOB_ID}, timeout=30, output_hook=lambda msg: None)
    value = reply["content"].get("user_expressions", {}).get("job", {})
    text = value.get("data", {}).get("text/plain", "''") if value.get("status") == "ok" else "''"
    return text.strip("'\"")


def code_cells(path: Path) -> list[str]:
    return [cell.source for cell in notebooks.read(path).cells if cell.cell_type == "code" and cell.source.strip()]


# The soak -----------------------------------------------------------------------------------------------------


ABANDONED = "notebooks/03_image_generation.ipynb"


def course_paths() -> list[Path]:
    return sorted((notebooks.ROOT / "notebooks").glob("*.ipynb")) + sorted(
        (notebooks.ROOT / "solutions").glob("*.ipynb")
    )


def _timed(path: Path) -> tuple[float, str | None]:
    from nbclient.exceptions import CellExecutionError

    from .bench import run_once

    start = time.perf_counter()
    try:
        return run_once(path), None
    except CellExecutionError as exc:
        text = str(exc)
        source = text.split("------------------", 2)[1].strip().splitlines() if "------------------" in text else []
        where = f"cell `{source[0][:70]}`" if source else "a cell"
        return time.perf_counter() - start, f"{where} raised {exc.ename}: {str(exc.evalue)[:200]}"
    except Exception as exc:  # a timeout, a dead kernel
        return time.perf_counter() - start, f"{type(exc).__name__}: {str(exc)[:200]}"


def verdict(times: dict, errors: list[str], abandoned: Abandoned | None, abandon_error: str | None) -> list[str]:
    """Why the soak fails (empty: it passes)."""
    problems = list(errors)
    if abandon_error:
        problems.append(f"the abandoned run: {abandon_error}")
    elif abandoned is not None:
        if not abandoned.kernel_gone:
            problems.append(f"the abandoned kernel (pid {abandoned.kernel_pid}) still runs after SIGKILL")
        if not abandoned.cleanup.released:
            problems.append(
                f"the abandoned run still holds after {abandoned.cleanup.seconds:.0f} s: "
                + "; ".join(abandoned.cleanup.problems())
            )
        if abandoned.registrations_left:
            problems.append(
                f"{abandoned.registrations_left} dataset(s) of the abandoned run still registered with "
                f"Ray Data's coordinator {REGISTRATION_TIMEOUT_S:.0f} s after the kill: every new dataset "
                "gets a smaller share of the CPUs and GPUs meanwhile (see raycourse.runtime.SHARED_RAY_ENV)"
            )
    both = {name: t for name, t in times.items() if len(t) == 2}
    if both:
        first, second = sum(t[0] for t in both.values()), sum(t[1] for t in both.values())
        if second > TOTAL_RATIO * first:
            problems.append(f"pass 2 took {second:.0f} s in all, more than {TOTAL_RATIO:.2f} x pass 1's {first:.0f} s")
        for name, (a, b) in both.items():
            if b > EACH_RATIO * a + EACH_SLACK_S:
                problems.append(
                    f"{name}: {b:.0f} s in pass 2, more than {EACH_RATIO:.2f} x {a:.0f} s + {EACH_SLACK_S:.0f} s"
                )
    return problems


def _brief(snap: dict) -> str:
    res, store = snap["resources"], snap["object_store"]
    own_cpu = sum(snap["ray_processes_cpu_s"].values())
    data = snap.get("data_requesters", {})
    share = data.get("new_dataset_share") or {}
    requesters = (
        f"{len(data['requesters'])} dataset(s) registered with Ray Data's coordinator (a new one gets "
        f"CPU {share.get('CPU', 0):g} GPU {share.get('GPU', 0):g})"
        if "requesters" in data and share
        else f"Ray Data's coordinator: {data.get('error', 'not started')}"
    )
    return (
        f"workers {snap['worker_processes']} ({snap['worker_rss_mb']} MB RSS), memory used "
        f"{snap['memory_used_mb']} MB, temp dir {snap['temp_dir_mb']:.0f} MB (logs "
        f"{snap['temp_dir_logs_mb']:.0f} MB in {snap['log_files']} files), Ray's own CPU {own_cpu:.0f} s,"
        f" object store {store.get('used_mb', '?')} MB (spilled {store.get('spilled_mb_total', '?')} MB), "
        f"CPU {res['CPU']['available']:g}/{res['CPU']['total']:g} GPU {res['GPU']['available']:g}/"
        f"{res['GPU']['total']:g} free, actors {snap['alive_actors']}, "
        f"placement groups {len(snap['placement_groups'])}, {requesters}"
    )


def soak(
    paths: list[Path] | None = None,
    abandoned_path: Path | None = None,
    output: Path | None = None,
    keep_temp: bool = False,
) -> int:
    """The soak; returns the exit status (0: passed)."""
    from .. import auth, cluster

    paths = paths or course_paths()
    abandoned_path = abandoned_path or notebooks.ROOT / ABANDONED
    output = output or notebooks.ROOT / "outputs" / "soak.json"
    for key in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):
        os.environ.pop(key, None)
    temp_dir = Path(tempfile.mkdtemp(prefix="rcsoak-", dir="/tmp"))
    started = time.monotonic()
    ray = cluster.start(dashboard=True, dashboard_port=cluster.free_port(), temp_dir=str(temp_dir))
    gcs_port = ray.address.rsplit(":", 1)[1]
    print(f"Ray {ray.address}, dashboard {ray.dashboard_url}, temp dir {temp_dir}", flush=True)
    os.environ.update(ray.client_env())
    cluster.keep_loopback()  # this process's clients of it (RayView, the state API) find it on loopback, with the
    auth.refresh_ray_config()  # token (raycourse.auth)
    names = [str(p.relative_to(notebooks.ROOT)) for p in paths]
    times: dict[str, list[float]] = {name: [] for name in names}
    errors: list[str] = []
    snaps: list[dict] = []
    abandoned, abandon_error, left = None, None, []
    view = None
    try:
        view = RayView(ray.address)

        def note(label: str) -> dict:
            snap = dict(snapshot(view, temp_dir, ray.dashboard_url, gcs_port), after=label)
            snaps.append(snap)
            return snap

        print(f"start: {_brief(note('start'))}", flush=True)
        for run in (1, 2):
            for path, name in zip(paths, names):
                seconds, error = _timed(path)
                times[name].append(seconds)
                if error:
                    errors.append(f"{name} (pass {run}): {error}")
                snap = note(f"pass {run}: {name}")
                print(
                    f"pass {run}  {name:<48}{seconds:7.1f} s{'  FAILED: ' + error if error else ''}\n"
                    f"        {_brief(snap)}",
                    flush=True,
                )
            if run == 1:
                print(
                    f"abandoned run: {abandoned_path.relative_to(notebooks.ROOT)}, killed once a GPU actor "
                    "of its job is alive",
                    flush=True,
                )
                try:
                    abandoned = abandon(view, code_cells(abandoned_path), abandoned_path.parent)
                    c = abandoned.cleanup
                    print(
                        f"  killed kernel {abandoned.kernel_pid} (job {abandoned.job_id}) in code cell "
                        f"{abandoned.killed_in_cell} `{abandoned.killed_during}` with {abandoned.gpu_actor} alive, "
                        f"{abandoned.seconds_to_kill:.0f} s after its start; CPU/GPU free at the kill: "
                        f"{ {k: v['available'] for k, v in abandoned.held_at_kill.items()} }",
                        flush=True,
                    )
                    print(
                        f"  {'released' if c.released else 'NOT released'} after {c.seconds:.1f} s (its actor "
                        f"processes gone after {c.processes_gone_s} s, still running: {c.processes or 'none'}); "
                        f"job dead: "
                        f"{c.job_dead}; its actors by state {c.actor_states}; left holding: "
                        f"{c.problems() or 'nothing'}; detached helpers left (no CPU/GPU): "
                        f"{[a['class_name'] for a in c.helpers] or 'none'}",
                        flush=True,
                    )
                    print(
                        f"  Ray Data's coordinator: {abandoned.registered_at_kill} dataset(s) registered at the "
                        "kill; "
                        + (
                            f"none {abandoned.registrations_gone_s:.0f} s after it"
                            if abandoned.registrations_gone_s is not None
                            else f"{abandoned.registrations_left} dataset(s) still registered"
                        ),
                        flush=True,
                    )
                except Exception as exc:
                    abandon_error = f"{type(exc).__name__}: {exc}"
                    print(f"  FAILED: {abandon_error}", flush=True)
                print(f"after the abandoned run: {_brief(note('abandoned run'))}", flush=True)
    finally:
        if view is not None:
            view.close()
        for key in ray.client_env():
            os.environ.pop(key, None)
        ray.stop()
        left = ray.leftover_processes()
        if not keep_temp:
            shutil.rmtree(temp_dir, ignore_errors=True)

    problems = verdict(times, errors, abandoned, abandon_error)
    if left:
        problems.append(f"{len(left)} Ray process(es) left after stopping it: {left[:3]}")
    _table(times)
    end_of = {
        label: next((s for s in reversed(snaps) if s["after"].startswith(label)), None)
        for label in ("start", "pass 1", "abandoned run", "pass 2")
    }
    for label, snap in end_of.items():
        if snap:
            print(f"after {label:<14}{_brief(snap)}")
    result = {
        "notebooks": {name: t for name, t in times.items()},
        "snapshots": snaps,
        "abandoned": asdict(abandoned) if abandoned else None,
        "abandon_error": abandon_error,
        "leftover_processes": left,
        "problems": problems,
        "minutes": round((time.monotonic() - started) / 60, 1),
        "limits": {
            "total_ratio": TOTAL_RATIO,
            "each_ratio": EACH_RATIO,
            "each_slack_s": EACH_SLACK_S,
            "release_timeout_s": RELEASE_TIMEOUT_S,
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {output} ({result['minutes']} min)")
    if problems:
        print(
            f"soak FAILED: {problems[0]}"
            + (f" (and {len(problems) - 1} more, see {output})" if len(problems) > 1 else "")
        )
        return 1
    print("soak passed: pass 2 no slower than pass 1 beyond noise, the abandoned run released everything")
    return 0


def _table(times: dict) -> None:
    print(f"\n{'notebook':<48}{'pass 1':>9}{'pass 2':>9}{'ratio':>8}")
    for name, t in times.items():
        cells = [f"{x:8.1f}s" for x in t] + [" " * 9] * (2 - len(t))
        ratio = f"{t[1] / t[0]:8.2f}" if len(t) == 2 and t[0] else ""
        print(f"{name:<48}{''.join(cells)}{ratio}")
    both = [t for t in times.values() if len(t) == 2]
    if both:
        a, b = sum(t[0] for t in both), sum(t[1] for t in both)
        print(f"{'total':<48}{a:8.1f}s{b:8.1f}s{b / a if a else 0:8.2f}\n")
