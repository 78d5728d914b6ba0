"""One local Ray for a whole course session, shared by every notebook.

``make lab`` (``python -m raycourse lab``) starts a Ray head node with Ray's own
``ray start --head --block``, dashboard on, then JupyterLab with ``RAY_ADDRESS``
pointing at it: every notebook kernel's ``raycourse.init()`` connects to that Ray
instead of starting its own, so notebooks opened side by side share one set of
(logical) GPUs, one dashboard and one object store. The test suite uses the same
shape. When JupyterLab exits, the head node is stopped and nothing is left
behind: ``ray start --block`` stops its processes on SIGTERM, and the whole
process group is killed after that as a last resort.

Nothing here is a cluster manager: on a real cluster (KubeRay, Anyscale,
``ray up``) set ``RAY_ADDRESS`` and ``raycourse.init()`` connects to it.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import auth
from .. import config
from .loopback import LOOPBACK, LOOPBACK_ENV, is_loopback, keep_loopback  # noqa: F401 (its callers' too)
from ..errors import CourseError
from .ports import (  # noqa: F401 (its callers' too)
    DEFAULT_DASHBOARD_PORT,
    RAY_MAX_WORKER_PORT,
    RAY_MIN_WORKER_PORT,
    SERVE_DEFAULT_PORT,
    check_port,
    free_port,
    jupyter_port,
    port_is_free,
    serve_port,
)

STARTED_LINE = "Ray runtime started."


def private_temp_dir() -> str:
    """Ray's temp dir for the course's Rays on this machine (``make lab``'s, a notebook's own): ``ray`` in a folder
    that only this user may enter, ``<system temp>/raycourse-<uid>/ray``; made (mode 0700) where missing.

    Ray 2.60 makes its temp dir and every folder in it (``session_*``, its ``logs``, ``sockets``) world-writable:
    ``ray._common.utils.try_to_create_directory`` chmods each to 0777, whatever the umask, so that several users can
    share ``/tmp/ray``; its log files are readable by all. On a shared machine another user could read a learner's
    worker logs (what a UDF printed) and put files into the session. Ray never changes the folders above its temp
    dir: one of mode 0700 keeps everyone else out of everything below it. The system temp dir is Ray's own choice
    (``RAY_TMPDIR``, else ``TMPDIR`` on Linux, else ``/tmp``); the folder's name is short: Ray's socket paths below
    it must fit in 107 bytes.
    """
    try:
        from ray._common.utils import get_default_system_temp_dir

        system = get_default_system_temp_dir()
    except Exception:  # private API: Ray's default before it
        system = "/tmp"
    base = Path(system) / f"raycourse-{os.getuid()}"
    Path(system).mkdir(parents=True, exist_ok=True)  # as Ray would make it (a RAY_TMPDIR not there yet)
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(base)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():  # made by someone else, or a link
        raise CourseError(
            f"{base}, where the course keeps this user's Ray session folders, is not a folder of this user's.",
            f"Remove {base} (someone else made it: an administrator may have to), or set RAY_TMPDIR to a folder "
            "of your own, and start again.",
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(base, 0o700)
    return str(base / "ray")


# Stopping the course's Ray stops it now. On SIGTERM, Ray 2.60's `ray start --block` first "drains" the node for
# up to 30 s (meant for Ray Serve on Kubernetes), and the helper actors that Ray Data leaves in a cluster keep the
# drain from finishing: stopping `make lab` after any notebook had run took 33 s here, 5 s without the drain.
STOP_NOW_ENV = {"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}


def ray_environment(base: dict | None = None) -> dict:
    """The environment of the Ray processes: the course's quiet, offline, small-machine settings."""
    from . import runtime

    env = dict(os.environ if base is None else base)
    settings = dict(runtime.QUIET_ENV, **runtime.SMALL_MACHINE_ENV, **STOP_NOW_ENV)
    if config.profile() == "tiny":
        settings.update(runtime.OFFLINE_ENV)
    settings[config.PROFILE_ENV] = config.profile()  # the profile the notebooks that join it get
    for key, value in settings.items():
        env.setdefault(key, value)
    env.pop("RAY_ADDRESS", None)  # `ray start --head` must start a head, not join one
    env.update(
        auth.server_env(env)
    )  # token authentication on, the token made if there is none (raycourse.session.auth)
    if config.uses_standins():
        env.pop("CUDA_VISIBLE_DEVICES", None)  # else Ray refuses 2 logical GPUs where it lists fewer
    return env


@dataclass
class LocalRay:
    """A Ray head node started by :func:`start`; ``stop()`` ends it and everything it started."""

    address: str
    dashboard_url: str | None
    process: subprocess.Popen
    log_path: Path
    ports: dict = field(default_factory=dict)
    env_digest: str = ""  # runtime.env_digest of the settings its processes were started with
    auth_env: dict = field(default_factory=dict)  # RAY_AUTH_MODE and where the token is (raycourse.session.auth)
    temp_dir: str | None = None  # Ray's temp dir (--temp-dir): its session folders, its note of the address
    prometheus: object | None = None  # the course's Prometheus beside it (raycourse.session.prometheus), if one runs

    @property
    def prometheus_url(self) -> str | None:
        return self.prometheus.url if self.prometheus is not None and self.prometheus.alive() else None

    def client_env(self) -> dict:
        """What a notebook's environment needs to join this Ray (with no runtime_env when its settings match):
        its address, its token authentication's mode and token file, loopback kept (LOOPBACK_ENV), and where its
        Prometheus answers (RAY_PROMETHEUS_HOST, where one runs)."""
        from . import prometheus, runtime

        env = {"RAY_ADDRESS": self.address, runtime.RAY_ENV_DIGEST: self.env_digest, **self.auth_env, **LOOPBACK_ENV}
        if self.prometheus_url:
            env[prometheus.HOST_ENV] = self.prometheus_url
        return env

    def http_headers(self) -> dict:
        """The header its dashboard wants (the job and state APIs answer 401 without it)."""
        return auth.http_headers(self.auth_env)

    def alive(self) -> bool:
        return self.process.poll() is None

    def session_dir(self, timeout: float = 60) -> Path:
        """Its session folder, from what ``ray start --block`` prints once started ("Process exit logs will be saved
        to: <session>/logs/ray_process_exit.log"): never ``session_latest``, which another Ray of this user's in the
        same temp folder may have taken since."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_path.read_text() if self.log_path.is_file() else ""
            found = re.search(r"saved to: (?:\x1b\[[0-9;]*m)*(\S+?)/logs/ray_process_exit\.log", text)
            if found:
                return Path(found.group(1))
            if time.monotonic() > deadline:
                raise CourseError(
                    f"Ray's head node did not say where its session folder is (see {self.log_path}).",
                    "Stop other Ray sessions (`ray stop`) and start again.",
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 60) -> None:
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # ray start --block stops its processes
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # anything still alive in the head node's process group goes too
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        _forget_address(self.address, self.temp_dir)

    def leftover_processes(self) -> list[str]:
        """Command lines of processes that still belong to this Ray (empty after ``stop()``)."""
        import psutil

        gcs_port = self.address.rsplit(":", 1)[1]
        pattern = re.compile(rf"(gcs[-_]address[= ][^ ]*:{gcs_port}\b|gcs_server_port={gcs_port}\b)")
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
            except psutil.Error:
                continue
            if pattern.search(cmdline):
                found.append(cmdline[:200])
        return found


@contextmanager
def state_api_at(dashboard: str):
    """Ray's state API asked at ``dashboard`` (an http:// URL) and nowhere else.

    The state API takes ``RAY_API_SERVER_ADDRESS``, then ``RAY_ADDRESS``, over its ``address`` argument. Given a GCS
    address (as ``RAY_ADDRESS`` is while the two-node test's kernels join its head), it asks that GCS where the
    dashboard is, and on the way makes a client of that GCS the process's internal KV client
    (``ray.dashboard.utils.ray_address_to_api_server_url``). Once that Ray is stopped, the process's next Ray Data
    run reaches for it, and Ray ends the process 60 s later (``Failed to connect to GCS within 60 seconds``, at a
    log level the tests do not show): a test process that ran the two-node test, then a checks test, died without
    a trace. Pointing ``RAY_API_SERVER_ADDRESS`` at the dashboard keeps the state API on HTTP (``make soak`` and the
    tests ask it this way)."""
    saved = os.environ.get("RAY_API_SERVER_ADDRESS")
    os.environ["RAY_API_SERVER_ADDRESS"] = dashboard
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("RAY_API_SERVER_ADDRESS", None)
        else:
            os.environ["RAY_API_SERVER_ADDRESS"] = saved


def _forget_address(address: str, temp_dir: str | None = None) -> None:
    """Remove Ray's note of "the latest cluster" (``ray_current_cluster`` in its temp dir) if it is this one.

    ``ray stop`` does this; a head node stopped by a signal does not, and a stale note
    makes a later ``ray.init()`` try to connect to a Ray that is gone.
    """
    try:
        from ray._common.utils import reset_ray_address
        from ray._private.utils import read_ray_address

        noted = read_ray_address(temp_dir)
        if noted and noted.rsplit(":", 1)[-1] == address.rsplit(":", 1)[-1]:
            reset_ray_address(temp_dir)
    except Exception:  # private API: the note is a convenience, never an error
        pass


def ray_cli() -> list[str]:
    """The command that runs Ray's CLI (``ray start``, ...) of this environment."""
    ray = Path(sys.executable).with_name("ray")
    return [str(ray)] if ray.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


#: Run before ``ray start`` (then exec'd): SIGINT back to its default. A process started with SIGINT ignored (``nohup
#: make lab &``, a job a non-interactive shell put in the background) passes the ignoring on to Ray's raylet and every
#: worker; Ray's cancelling of a task (SIGINT: Ray Data cancels its last tasks when a dataset ends early) then fails
#: inside Ray with "TypeError: 'Handlers' object is not callable", printed into the learner's cell.
DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])"
)


def start(
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    dashboard: bool = True,
    dashboard_port: int | None = None,
    temp_dir: str | None = None,
    log_path: Path | None = None,
    timeout: float = 120,
    base_env: dict | None = None,
    abort: threading.Event | None = None,
    metrics: bool = False,
) -> LocalRay:
    """Start a local Ray head node with the course's settings and wait until it answers.

    CPUs and GPUs default to what ``raycourse.init()`` gives a local Ray: at least
    8 logical CPUs, and in the tiny profile 2 logical GPUs on a machine without one. Its session folders go to
    ``temp_dir``, by default a folder of this user's only (:func:`private_temp_dir`).
    Its processes get ``base_env`` (default: this process's environment) with those settings. ``abort`` set
    while it starts (``make lab`` stopped) stops the head node and raises :class:`CourseError`. ``metrics`` (with the
    dashboard): Prometheus beside it, where this machine has one (:mod:`raycourse.session.prometheus`), else one line
    says what is missing.
    """
    from . import prometheus, runtime

    num_cpus = num_cpus or max(runtime.MIN_LOCAL_CPUS, os.cpu_count() or 1)
    num_gpus = runtime.local_gpus() if num_gpus is None else num_gpus
    temp_dir = temp_dir or private_temp_dir()
    server, note = prometheus.plan() if metrics and dashboard else (None, None)
    head = dict(num_cpus=num_cpus, num_gpus=num_gpus, dashboard=dashboard, dashboard_port=dashboard_port)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            cluster = _start_head(head, temp_dir, _attempt_log(log_path, attempt), timeout, base_env, abort, server)
            break
        except SlowStart:
            if attempt == START_ATTEMPTS:
                raise
            _say(f"Ray's head node gave up while starting: {SLOW_START_WHY}. Starting it again ...")
    if server is not None:
        try:
            note = server.start(cluster.session_dir(), say=_say)  # make lab's terminal hears it slow down
        except BaseException:  # Ctrl-C, or no session folder: the Ray started here is not left behind
            cluster.stop()
            raise
        cluster.prometheus = server if note is None else None
    if note:
        _say(note)
    return cluster


# Ray 2.60's raylet waits 15 s (fixed: agent_register_timeout_ms does not change it) for its dashboard agent to
# write its ports, then aborts, and `ray start` says "The current node timed out during startup". On 2 busy cores
# the agent's imports alone took 16.6 s (a CI run, 2026-11-29). A new head node on new ports usually makes it.
SLOW_START = "timed out during startup"
SLOW_START_WHY = "this machine is busy, and its dashboard agent took longer than Ray's fixed 15 s to report"
START_ATTEMPTS = 3


class SlowStart(CourseError):
    """The head node died waiting for its own agents (:data:`SLOW_START`): a busy machine, worth another try."""


def _attempt_log(log_path: Path | None, attempt: int) -> Path | None:
    """The caller's log for the first attempt, a sibling for each later one (the first one's failure is kept)."""
    if log_path is None or attempt == 1:
        return log_path
    path = Path(log_path)
    return path.with_name(f"{path.stem}-{attempt}{path.suffix}")


def _start_head(head: dict, temp_dir: str, log_path, timeout, base_env, abort, server) -> LocalRay:
    """One try of :func:`start`: ``ray start --head`` on new free ports, waited for."""
    from . import runtime

    cmd, ports, dashboard_url = _head_command(**head, temp_dir=temp_dir)
    gcs_port = ports["gcs"]
    log_path = Path(log_path) if log_path else Path(temp_dir) / f"raycourse-ray-{gcs_port}.log"
    env = dict(ray_environment(base_env), **LOOPBACK_ENV, **(server.env if server else {}))
    process, started = _spawn(cmd, env, log_path)
    cluster = LocalRay(
        f"{LOOPBACK}:{gcs_port}",
        dashboard_url,
        process,
        log_path,
        ports,
        runtime.env_digest(env),
        {key: env[key] for key in auth.AUTH_ENV if key in env},
        temp_dir,
    )
    _wait_started(cluster, started, time.monotonic() + timeout, abort)
    return cluster


def _head_command(
    num_cpus: int, num_gpus: int, dashboard: bool, dashboard_port: int | None, temp_dir: str
) -> tuple[list[str], dict, str | None]:
    """``ray start --head`` for :func:`start`, on free ports of loopback: the command, its ports by name and the
    dashboard's URL (``None`` without one)."""
    gcs_port = free_port()
    ports = {"gcs": gcs_port, "client": free_port(), "agent": free_port()}
    cmd = [
        *ray_cli(),
        "start",
        "--head",
        "--block",
        f"--port={gcs_port}",
        f"--num-cpus={num_cpus}",
        f"--num-gpus={num_gpus}",
        f"--ray-client-server-port={ports['client']}",
        f"--dashboard-agent-listen-port={ports['agent']}",
        "--disable-usage-stats",
        f"--node-ip-address={LOOPBACK}",
    ]
    dashboard_url = None
    if dashboard:
        port = dashboard_port or DEFAULT_DASHBOARD_PORT
        if not port_is_free(port):
            port = free_port()
        ports["dashboard"] = port
        cmd += ["--include-dashboard=true", f"--dashboard-host={LOOPBACK}", f"--dashboard-port={port}"]
        dashboard_url = f"http://{LOOPBACK}:{port}"
    else:
        cmd += ["--include-dashboard=false"]
    cmd.append(f"--temp-dir={temp_dir}")
    return cmd, ports, dashboard_url


def _spawn(cmd: list[str], env: dict, log_path: Path) -> tuple[subprocess.Popen, threading.Event]:
    """Run the head node's ``cmd`` in a session of its own; a thread copies its output to ``log_path`` and sets the
    returned event when the head node says it is up."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGINT, *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    started = threading.Event()

    def pump():  # copy Ray's output to the log file; note when the head node is up
        for line in process.stdout:
            log.write(line)
            log.flush()
            if STARTED_LINE in line:
                started.set()
        log.close()

    threading.Thread(target=pump, daemon=True).start()
    return process, started


def _wait_started(cluster: LocalRay, started: threading.Event, deadline: float, abort: threading.Event | None) -> None:
    """Wait until the head node is up (and its dashboard answers); on a failure, ``abort`` or an interruption, stop
    it and raise."""
    process, log_path, dashboard_url = cluster.process, cluster.log_path, cluster.dashboard_url
    try:
        while not started.wait(0.2):
            if abort is not None and abort.is_set():
                raise CourseError(
                    "Stopped while Ray's head node was starting; it is stopped too.",
                    "Nothing: start it again when you want it.",
                )
            if process.poll() is not None or time.monotonic() > deadline:
                cluster.stop()
                if _log_says(log_path, SLOW_START):
                    raise SlowStart(
                        f"Ray's head node did not start: {SLOW_START_WHY} (see {log_path}).",
                        "Close notebooks you are not using, and try again.",
                    )
                raise CourseError(
                    f"Ray's head node did not start (see {log_path}).",
                    "Stop other Ray sessions (`ray stop`), close notebooks you are not using, and try again.",
                )
        if dashboard_url:
            _wait_for_http(dashboard_url, deadline, cluster.http_headers())
    except BaseException:  # Ctrl-C or a signal (make lab stopped) while Ray starts: nothing is left running
        cluster.stop()
        raise


def _log_says(path: Path, text: str, wait: float = 5) -> bool:
    """``text`` is in the log at ``path``, or appears there within ``wait`` seconds (its pump thread copies the rest
    of the output of a process that just exited)."""
    deadline = time.monotonic() + wait
    while not (path.is_file() and text in path.read_text(errors="replace")):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _wait_for_http(url: str, deadline: float, headers: dict | None = None) -> bool:
    import urllib.request

    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url + "/api/version", headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


# The course's JupyterLab keeps its own settings and workspaces (in .jupyter/ where `make lab` runs), not the
# learner's global ones: it opens on the course, with the course's defaults. Those defaults are written once,
# into a settings file that does not exist yet; a change the learner makes there later is kept.
LAB_DIR = ".jupyter"
LAB_DEFAULTS = {
    # No "Would you like to get notified about official Jupyter news?" pop-up over the first notebook, and no
    # check for a newer JupyterLab: the course pins its version.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def lab_environment(base: Path) -> dict:
    """JUPYTERLAB_SETTINGS_DIR / _WORKSPACES_DIR under ``base``, with the course's defaults where none are set."""
    import json

    settings, workspaces = base / LAB_DIR / "user-settings", base / LAB_DIR / "workspaces"
    for name, values in LAB_DEFAULTS.items():
        path = settings / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2) + "\n")
    workspaces.mkdir(parents=True, exist_ok=True)
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(workspaces)}


# Ray's workers bind ports from a range (`ray start --min-worker-port/--max-worker-port`, Ray 2.60's defaults; the
# course sets none): a dashboard port inside it stops `ray start` ("used by other components"), and a JupyterLab
# port inside it can be taken by a worker.
def _say(text: str) -> None:
    """Print, where a terminal closed under us (EIO) or a pipe was cut must not stop the cleanup."""
    try:
        print(text, flush=True)
    except (OSError, ValueError):
        pass


def _stop_when_orphaned(stop, interval: float = 0.5) -> None:
    """Call ``stop()`` once the process that started this one (``make``) is gone, whatever killed it (SIGKILL
    sends no signal on): this process is then a child of another (init, a subreaper), and getppid says so."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(interval)
        stop()

    threading.Thread(target=watch, daemon=True, name="raycourse-parent-watch").start()


def kernel_encryption_policy() -> str:
    """How the course's kernel managers start a kernel over TCP: with its messages encrypted (``auto``: CurveZMQ
    keys made for each kernel whose kernelspec supports them, as ipykernel's does). A kernel listens on loopback
    TCP ports; without it, any user of a shared machine can subscribe to its output stream (messages are signed,
    not hidden), and ipykernel 7.4 warns so at every kernel start. ``disabled`` where pyzmq lacks CurveZMQ."""
    import zmq

    return "auto" if zmq.has("curve") else "disabled"


def kernel_encryption(jupyter_args: list[str]) -> list[str]:
    """JupyterLab's setting for the policy above, unless its command line gives one."""
    setting = "--MappingKernelManager.transport_encryption"
    if any(arg.split("=")[0] == setting for arg in jupyter_args):
        return []
    return [f"{setting}={kernel_encryption_policy()}"]


def run_lab(jupyter_args: list[str]) -> int:
    """``make lab``: one Ray for the session, JupyterLab on top of it, both stopped together: by JupyterLab's
    exit, SIGTERM, SIGHUP (its terminal closed), or the death of the process that started it."""
    config.profile()  # a wrong RAYCOURSE_PROFILE is said before anything starts
    dashboard_port = os.environ.get("DASHBOARD_PORT") or DEFAULT_DASHBOARD_PORT
    check_port("DASHBOARD_PORT", dashboard_port)
    if jupyter_port(jupyter_args) is not None:
        check_port("PORT", jupyter_port(jupyter_args))
    lab = None
    stopping = threading.Event()

    def stop(signum=None, frame=None):  # JupyterLab stops, then Ray (below); while Ray starts, start() gives up
        stopping.set()
        if lab is not None:
            lab.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    _stop_when_orphaned(lambda: os.kill(os.getpid(), signal.SIGTERM))
    _say("Starting Ray for this session (head node, dashboard on) ...")
    cluster = start(dashboard=True, dashboard_port=int(dashboard_port), abort=stopping, metrics=True)
    code = 1
    try:
        token = f"   token: {auth.where(cluster.auth_env)}" if cluster.http_headers() else ""
        _say(f"Ray: {cluster.address}   dashboard: {cluster.dashboard_url}{token}   log: {cluster.log_path}")
        if cluster.prometheus_url:
            _say(f"Prometheus (the dashboard's metrics): {cluster.prometheus_url}")
        # The notebooks get the profile chosen here: the lab's Ray has logical GPUs in tiny,
        # which must not make a notebook pick the gpu profile.
        env = dict(
            os.environ, RAYCOURSE_PROFILE=config.profile(), **cluster.client_env(), **lab_environment(Path.cwd())
        )
        jupyter = str(Path(sys.executable).with_name("jupyter"))
        if not stopping.is_set():
            lab = subprocess.Popen([jupyter, "lab", *kernel_encryption(jupyter_args), *jupyter_args], env=env)
        if stopping.is_set() and lab is not None:  # a signal came while JupyterLab started
            lab.send_signal(signal.SIGTERM)
        while lab is not None:
            try:
                code = lab.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C reaches JupyterLab too; it asks or shuts down
                continue
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal's SIGHUP must not cut the cleanup short
        if lab is not None and lab.poll() is None:  # an error here: JupyterLab goes too
            lab.terminate()
        _say("Stopping Ray ...")
        cluster.stop()
        left = cluster.leftover_processes()
        _say("Ray stopped." if not left else f"Ray processes left behind: {left}")
    return code
