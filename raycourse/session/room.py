"""A room on one Ray: the GPUs one learner may use, and who holds them when a GPU stage waits.

The course's pools and trainers size themselves with a plain expression (``GPU_SIZING``): the cluster's GPUs,
capped by :func:`gpu_budget`. The budget is every GPU of the cluster unless the instructor of a room that shares
one cluster sets ``RAYCOURSE_GPUS_PER_LEARNER`` (docs/gpu.md, "One Ray per learner, or one for the room").
It is a budget the course's code keeps to, not a quota: Ray 2.60 has none per job.

A GPU actor that Ray cannot place waits with no error. In a notebook, :func:`watch_cells` (called by
``raycourse.init()``) watches each running cell: when an actor or placement group of this notebook has waited
``PATIENCE_S`` for a GPU, and when a cell ends with Ray Data's "Timed out while starting actors", it prints who
holds the GPUs, read from Ray's own tables in the GCS (the actor, placement-group and job tables that Ray's state
API serves; read here without the dashboard, which a test run's Ray and some clusters do not have). It changes
nothing: the cell runs and fails as it would without it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter, defaultdict

from ..errors import CourseError

BUDGET_ENV = "RAYCOURSE_GPUS_PER_LEARNER"
# The line every lesson and lab sizes its GPU pools and trainers with.
GPU_SIZING = 'GPUS = min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget())'
PATIENCE_S = 60.0  # a GPU actor that waited this long for a GPU gets a message naming who holds them
POLL_S = 5.0
# How Ray ends a wait for GPUs it never got: Ray Data's wait_for_min_actors_s, its no-progress guard.
WAIT_ENDINGS = ("Timed out while starting actors", "made no progress")


def gpu_budget() -> int:
    """The GPUs one learner's pools and trainers may use: ``RAYCOURSE_GPUS_PER_LEARNER`` where the instructor set
    it (a room sharing one cluster), else every GPU of the cluster this notebook is connected to."""
    value = os.environ.get(BUDGET_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise CourseError(
                f"{BUDGET_ENV}={value!r} is not a number of GPUs.",
                f"Set {BUDGET_ENV} to a whole number, 1 or more (the GPUs each learner may use on the shared "
                "cluster), or unset it to use every GPU of the cluster; then restart the kernel.",
            )
        return int(value)
    import ray

    if not ray.is_initialized():
        raise CourseError(
            "gpu_budget() counts the cluster's GPUs, and this notebook is not connected to Ray.",
            "Run raycourse.init() first (the notebook's setup cell).",
        )
    return int(ray.cluster_resources().get("GPU", 0))


def learner_gpus() -> int:
    """What ``GPU_SIZING`` gives in this process: the cluster's GPUs within the budget (0 without a Ray)."""
    import ray

    if not ray.is_initialized():
        return 0
    return min(int(ray.cluster_resources().get("GPU", 0)), gpu_budget())


def budget_words(gpus: int | None = None) -> str:
    """ "the cluster's 2 GPUs", or "your budget of 1 GPU (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's 2"."""
    import ray

    cluster = int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0
    gpus = learner_gpus() if gpus is None else gpus
    if gpus < cluster:
        return f"your budget of {gpus} GPU(s) ({BUDGET_ENV}) of the cluster's {cluster}"
    return f"the cluster's {cluster} GPU(s)"


def session_notes() -> list[str]:
    """A line for raycourse.init()'s summary where a budget caps this notebook's share of the cluster."""
    import ray

    if not os.environ.get(BUDGET_ENV, "").strip():
        return []
    budget, cluster = gpu_budget(), int(ray.cluster_resources().get("GPU", 0))
    return [
        f"GPU budget {budget} of the cluster's {cluster} ({BUDGET_ENV}): GPUS = min({cluster}, {budget}) = "
        f"{min(cluster, budget)}; the room shares this Ray."
    ]


# ---------------------------------------------------------------------------------------------------------------
# Ray's tables, read from the GCS of the Ray this process is connected to.


def _accessor():
    from ray._private import state

    return state.state._connect_and_get_accessor()


def _hex(raw: bytes) -> str:
    return raw.hex()


def _id_or_none(raw: bytes) -> str | None:
    text = raw.hex()
    return None if not text or set(text) == {"f"} else text  # Ray's nil ids are all 0xff


def actors(job_id: str | None = None, state: str | None = None) -> list[dict]:
    """Actors from the GCS's actor table: class, name, job, state, detached, what they asked for, whether they have
    a worker yet, their placement group."""
    import ray
    from ray.core.generated import gcs_pb2

    job = ray.JobID(bytes.fromhex(job_id)) if job_id else None
    found = []
    for raw in _accessor().get_actor_table(job, state):
        data = gcs_pb2.ActorTableData.FromString(raw)
        found.append(
            {
                "actor_id": _hex(data.actor_id),
                "class_name": data.class_name,
                "name": data.name,
                "job_id": _hex(data.job_id),
                "state": gcs_pb2.ActorTableData.ActorState.Name(data.state),
                "detached": data.is_detached,
                "placed": bool(data.address.worker_id),
                "gpus": float(data.required_resources.get("GPU", 0.0)),
                "placement_group_id": _id_or_none(data.placement_group_id),
            }
        )
    return found


def placement_groups() -> list[dict]:
    """Placement groups that hold or wait for GPUs (not removed): creator job, state, GPUs of all their bundles."""
    from ray.core.generated import gcs_pb2

    found = []
    for raw in _accessor().get_placement_group_table():
        data = gcs_pb2.PlacementGroupTableData.FromString(raw)
        state = gcs_pb2.PlacementGroupTableData.PlacementGroupState.Name(data.state)
        gpus = sum(float(b.unit_resources.get("GPU", 0.0)) for b in data.bundles)
        if state == "REMOVED" or not gpus:
            continue
        found.append(
            {
                "placement_group_id": _hex(data.placement_group_id),
                "name": data.name,
                "state": state,
                "job_id": _hex(data.creator_job_id),
                "detached": data.is_detached,
                "gpus": gpus,
                "bundles": len(data.bundles),
            }
        )
    return found


def jobs() -> dict[str, dict]:
    """Ray's job table by job id: the driver's host and pid, whether it ended, its command line."""
    from ray._private import state

    return {
        j["JobID"]: {
            "ip": j["DriverIPAddress"],
            "pid": j["DriverPid"],
            "dead": j["IsDead"],
            "entrypoint": j["Entrypoint"],
        }
        for j in state.jobs()
    }


def _this_job() -> str:
    import ray

    return ray.get_runtime_context().get_job_id()


def waiting_for_gpus(job_id: str | None = None) -> list[dict]:
    """This job's actors and placement groups that ask for a GPU and have none yet: actors pending creation without
    a worker (outside a placement group: those wait with their group), groups not yet created."""
    job_id = job_id or _this_job()
    found = [
        dict(a, kind="actor")
        for a in actors(job_id, "PENDING_CREATION")
        if a["gpus"] and not a["placed"] and not a["placement_group_id"]
    ]
    found += [
        dict(g, kind="placement group")
        for g in placement_groups()
        if g["job_id"] == job_id and g["state"] in ("PENDING", "RESCHEDULING")
    ]
    return found


def gpu_holders() -> list[dict]:
    """Who holds the cluster's GPUs, per job: its alive actors with GPUs outside placement groups, and its created
    placement groups with GPU bundles (Ray Train's workers live in one), with the job's driver."""
    held: dict[str, dict] = defaultdict(lambda: {"gpus": 0.0, "what": Counter(), "detached": False})
    for actor in actors(state="ALIVE"):
        if actor["gpus"] and not actor["placement_group_id"]:
            entry = held[actor["job_id"]]
            entry["gpus"] += actor["gpus"]
            entry["what"][f"{actor['class_name']} ({actor['gpus']:g} GPU)"] += 1
            entry["detached"] |= actor["detached"]
    for group in placement_groups():
        if group["state"] == "CREATED":
            entry = held[group["job_id"]]
            entry["gpus"] += group["gpus"]
            entry["what"][
                f"a placement group of {group['bundles']} bundle(s), {group['gpus']:g} GPU "
                "(a Ray Train fit's workers live in one)"
            ] += 1
            entry["detached"] |= group["detached"]
    table, mine = jobs(), _this_job()
    return [
        dict(entry, job_id=job, yours=job == mine, driver=table.get(job, {}))
        for job, entry in sorted(held.items(), key=lambda kv: -kv[1]["gpus"])
    ]


def _gpus_taken(need: float) -> bool:
    """Whether fewer than ``need`` GPUs are free, both as Ray counts them and after what live actors and created
    placement groups hold: an actor whose worker is still starting has its GPU reserved, not held, and waits for
    its process (seconds on a busy machine), not for a GPU."""
    import ray

    if ray.available_resources().get("GPU", 0) >= need:
        return False
    held = sum(job["gpus"] for job in gpu_holders())
    return ray.cluster_resources().get("GPU", 0) - held < need


def _driver(job: dict) -> str:
    if job["yours"]:
        return "this notebook"
    driver = job["driver"]
    if not driver:
        return "a job Ray no longer lists"
    who = (
        "a notebook kernel"
        if "ipykernel" in driver["entrypoint"]
        else (" ".join(driver["entrypoint"].split())[:60] or "a driver")
    )
    state = "ended: its detached actors stay" if driver["dead"] else "running"
    return f"{who}, pid {driver['pid']} on {driver['ip']} ({state})"


def holders_message(waiting: list[dict] | None = None, waited_s: float | None = None) -> str:
    """What a learner reads when GPU work waits: what waits, who holds the GPUs, what to do."""
    import ray

    total = ray.cluster_resources().get("GPU", 0)
    free = ray.available_resources().get("GPU", 0)
    lines = []
    if waiting:
        names = Counter(f"{w.get('class_name') or 'a placement group'} ({w['gpus']:g} GPU)" for w in waiting)
        since = f" for {waited_s:.0f} s" if waited_s else ""
        lines.append(
            f"Waiting for GPUs: {sum(names.values())} of this notebook's actors or placement groups have "
            f"waited{since}: " + ", ".join(f"{n} x {name}" for name, n in names.items()) + "."
        )
    lines.append(
        f"The cluster has {total:g} GPU(s), {free:g} free. Who holds them (Ray's actor, placement-group "
        "and job tables):"
    )
    holders = gpu_holders()
    for job in holders:
        what = "; ".join(f"{n} x {name}" for name, n in job["what"].items())
        lines.append(f"  - job {job['job_id']}, {_driver(job)}: {job['gpus']:g} GPU(s): {what}")
    if not holders:
        lines.append("  - no job holds a GPU now: the wait should end as soon as Ray places what waits.")
    budget = os.environ.get(BUDGET_ENV, "").strip() or "not set"
    lines += [
        "What to do:",
        "  - GPUs come back when the pipeline, trainer or Serve app that holds them ends, or its kernel stops.",
        "  - Another notebook of yours: let its cell finish, or shut its kernel down (Kernel > Shut Down Kernel).",
        "  - Another learner's: wait, or tell the instructor: a room that shares one cluster sets "
        f"{BUDGET_ENV} so that every learner's pools fit, sized with {GPU_SIZING} (here: {budget}).",
        "  - This notebook's own (a run that failed can keep its actors): Kernel > Restart. A Serve app left up: "
        "serve.shutdown().",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Watching a running cell.


class Watcher:
    """A thread that, while it runs, checks every ``poll_s`` what of this job waits for a GPU; once something has
    waited ``patience_s`` (without the GPUs it asks for being free), it writes :func:`holders_message` to
    ``stream`` once."""

    def __init__(self, *, patience_s: float | None = None, poll_s: float | None = None, stream=None):
        import contextvars

        self.patience_s = PATIENCE_S if patience_s is None else patience_s
        self.poll_s = POLL_S if poll_s is None else poll_s
        self.stream = stream
        self.told = False
        self._stop = threading.Event()
        self._job = _this_job()
        context = contextvars.copy_context()  # a notebook's output goes to the cell that started the watch
        self._thread = threading.Thread(target=context.run, args=(self._run,), daemon=True, name="raycourse-gpu-wait")

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        import ray

        first_seen: dict[str, float] = {}
        while not self._stop.wait(self.poll_s):
            try:
                waiting = waiting_for_gpus(self._job)
                now = time.monotonic()
                ids = {w.get("actor_id") or w["placement_group_id"] for w in waiting}
                first_seen = {i: first_seen.get(i, now) for i in ids}
                if not waiting or self.told:
                    continue
                waited = now - min(first_seen.values())
                if waited >= self.patience_s and _gpus_taken(min(w["gpus"] for w in waiting)):
                    print(holders_message(waiting, waited), file=self.stream or sys.stderr, flush=True)
                    self.told = True
            except Exception:  # Ray gone or its tables changed: the watch is a help, never an error of its own
                if not ray.is_initialized():
                    return


_watcher: Watcher | None = None
_watching = False


def _pre_run_cell(info=None) -> None:
    global _watcher
    import ray

    if ray.is_initialized():
        _watcher = Watcher().start()


def _post_run_cell(result=None) -> None:
    global _watcher
    watcher, _watcher = _watcher, None
    if watcher is not None:
        watcher.stop()
    error = getattr(result, "error_in_exec", None)
    if error is not None and any(text in str(error) for text in WAIT_ENDINGS) and not (watcher and watcher.told):
        try:
            print(holders_message(), file=sys.stderr, flush=True)
        except Exception:  # Ray gone: its own error says enough
            pass


def watch_cells() -> bool:
    """In a notebook kernel, watch every cell that runs for GPU work that waits (idempotent). False elsewhere."""
    global _watching
    if _watching:
        return True
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell is not None else None
    if ip is None or ip.__class__.__name__ != "ZMQInteractiveShell":
        return False
    ip.events.register("pre_run_cell", _pre_run_cell)
    ip.events.register("post_run_cell", _post_run_cell)
    _watching = True
    return True
