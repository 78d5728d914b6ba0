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
import shutil
import signal
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import notebooks
from .ray_view import (  # re-exported: soak.RayView, soak.HELD and the rest
    HELD as HELD,
    MB as MB,
    REGISTRATION_TIMEOUT_S,
    RELEASE_TIMEOUT_S,
    Released,
    RayView,
    data_requesters,
    snapshot,
    wait_released,
    wait_unregistered,
)

TOTAL_RATIO = 1.10  # pass 2's total may be at most this times pass 1's
EACH_RATIO, EACH_SLACK_S = 1.30, 5.0  # and each notebook at most this times its pass-1 time plus this
GPU_ACTOR_TIMEOUT_S = 300.0  # the abandoned kernel's cells until a GPU actor of its job is alive


# Abandoning a run ---------------------------------------------------------------------------------------------


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
    before = view.resources()
    km, kc, started = _start_kernel(cwd, env)
    try:
        kc.wait_for_ready(timeout=120)
        pid = km.provisioner.pid
        job_id, deadline = "", started + timeout
        for index, source in enumerate(cells):
            msg_id = kc.execute(source, store_history=True)
            while True:
                if job_id:
                    gpu, registered = _mid_pipeline(view, job_id, registered_first)
                    if gpu and (registered or not registered_first):
                        done = _kill(view, pid, job_id, before, started, release_timeout, registration_timeout)
                        done.killed_in_cell, done.killed_during = index, _first_line(source)
                        done.gpu_actor = gpu[0]["class_name"]
                        done.registered_at_kill = max(registered, done.registered_at_kill)
                        return done
                if time.monotonic() > deadline:
                    raise CellError(
                        f"no GPU actor of the kernel's job was alive within {timeout:.0f} s "
                        f"(cell {index}: {_first_line(source)})"
                    )
                reply = _reply(kc, msg_id, 0.5)
                if reply is None:
                    continue
                if reply["content"]["status"] != "ok":
                    content = reply["content"]
                    raise CellError(
                        f"cell {index} ({_first_line(source)}) raised {content.get('ename')}: {content.get('evalue')}"
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


def _start_kernel(cwd: Path, env: dict | None) -> tuple:
    """A fresh python3 kernel in ``cwd`` with ``env`` (default: this process's), its client's channels started, and
    when it started (monotonic)."""
    from jupyter_client import KernelManager

    from raycourse.session.cluster import kernel_encryption_policy

    km = KernelManager(kernel_name="python3", transport_encryption=kernel_encryption_policy())
    km.start_kernel(cwd=str(cwd), env=dict(os.environ if env is None else env))
    started = time.monotonic()
    kc = km.client()
    kc.start_channels()
    return km, kc, started


def _first_line(source: str) -> str:
    return source.strip().splitlines()[0][:80]


def _mid_pipeline(view: RayView, job_id: str, registered_first: bool) -> tuple[list[dict], int]:
    """The job's alive actors that asked for a GPU, and (with ``registered_first``, once there is one) how many
    datasets are registered with Ray Data's coordinator (a dataset registers a few seconds after it starts)."""
    gpu = [a for a in view.actors(job_id) if a["state"] == "ALIVE" and a["required_resources"].get("GPU")]
    registered = len(data_requesters(view.address).get("requesters", {})) if gpu and registered_first else 0
    return gpu, registered


def _kill(
    view: RayView,
    pid: int,
    job_id: str,
    before: dict,
    started: float,
    release_timeout: float,
    registration_timeout: float,
) -> Abandoned:
    """SIGKILL the kernel ``pid`` (as a crashed or force-killed kernel) that started at ``started`` (monotonic),
    then wait until its job holds nothing and no dataset is registered. Which cell and GPU actor it was killed at
    is the caller's to fill in."""
    import psutil

    held = view.resources()
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    try:
        psutil.Process(pid).wait(timeout=10)
        gone = True
    except psutil.NoSuchProcess:
        gone = True
    except psutil.TimeoutExpired:
        gone = False
    cleanup = wait_released(view, job_id, before, killed, release_timeout)
    done = Abandoned(job_id, pid, -1, "", "", round(killed - started, 1), held, gone, cleanup)
    first, done.registrations_left, done.registrations_gone_s = wait_unregistered(
        view.address, killed, registration_timeout
    )
    done.registered_at_kill = first
    return done


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
        return run_once(path)[0], None
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
                "gets a smaller share of the CPUs and GPUs meanwhile (see raycourse.session.runtime.SHARED_RAY_ENV)"
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
    from ..session import auth, cluster

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
    auth.refresh_ray_config()  # token (raycourse.session.auth)
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
            _run_pass(run, paths, names, times, errors, note)
            if run == 1:
                abandoned, abandon_error = _abandon_one(view, abandoned_path)
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
    return _finish(times, snaps, abandoned, abandon_error, left, problems, output, started)


def _run_pass(run: int, paths: list[Path], names: list[str], times: dict, errors: list[str], note) -> None:
    """One pass: every notebook in a fresh kernel, timed, with what the Ray holds after each (``note``)."""
    for path, name in zip(paths, names):
        seconds, error = _timed(path)
        times[name].append(seconds)
        if error:
            errors.append(f"{name} (pass {run}): {error}")
        snap = note(f"pass {run}: {name}")
        print(
            f"pass {run}  {name:<48}{seconds:7.1f} s{'  FAILED: ' + error if error else ''}\n        {_brief(snap)}",
            flush=True,
        )


def _abandon_one(view: RayView, abandoned_path: Path) -> tuple[Abandoned | None, str | None]:
    """The abandoned run between the passes, reported; returns it, or why it failed."""
    print(
        f"abandoned run: {abandoned_path.relative_to(notebooks.ROOT)}, killed once a GPU actor of its job is alive",
        flush=True,
    )
    abandoned, abandon_error = None, None
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
    return abandoned, abandon_error


def _finish(
    times: dict,
    snaps: list[dict],
    abandoned: Abandoned | None,
    abandon_error: str | None,
    left: list,
    problems: list[str],
    output: Path,
    started: float,
) -> int:
    """Print the table and the state after each phase, write ``output``; the exit status (0: passed)."""
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
