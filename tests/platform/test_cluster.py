"""One Ray per course session: a notebook alone, `make lab`, and the largest pipeline shape.

These tests start Ray processes of their own (a notebook's local Ray, the Ray of
`python -m raycourse lab`), apart from the test run's shared one, and check that
they stop without leaving a process behind.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_runtime_dir

from raycourse.session import cluster, ports, prometheus

pytestmark = [
    pytest.mark.slow("starts Rays of its own: a lone notebook's and make lab's"),
    pytest.mark.tiny_only("make lab's and a lone notebook's tiny Ray with logical GPUs"),
]

ROOT = Path(__file__).resolve().parents[2]


def _env_without_ray(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(extra)
    return env


# Module 04's shape, the largest pipeline of the course so far: read tasks, then two
# actor pools on fractional GPUs, 2 x 0.6 + 2 x 0.4 = the 2 logical GPUs, each actor
# also holding a CPU. With 4 logical CPUs this waited forever; it must finish.
ALONE_SCRIPT = textwrap.dedent(
    """
    import json, time
    import numpy as np, psutil, ray, raycourse
    from ray.data.expressions import col

    session = raycourse.init(quiet=True)
    listening = listening_addresses(psutil.Process())

    class Stage:
        def __init__(self, name):
            self.name = name
            time.sleep(0.5)  # a model load

        def __call__(self, batch):
            ctx = ray.get_runtime_context()
            gpu = ctx.get_accelerator_ids()["GPU"]
            share = ctx.get_assigned_resources().get("GPU", 0)
            batch[self.name] = np.array([f"{ctx.get_actor_id()}|{gpu}|{share}"] * len(batch["id"]))
            time.sleep(0.1)  # the model's work
            return batch

    ds = (
        ray.data.read_csv(raycourse.data_path("animals"))
        .filter(expr=col("id") <= 12)
        .map_batches(Stage, batch_size=2, fn_constructor_args=("enhancer",), num_gpus=0.6,
                     compute=ray.data.ActorPoolStrategy(size=2))
        .map_batches(Stage, batch_size=2, fn_constructor_args=("image_gen",), num_gpus=0.4,
                     compute=ray.data.ActorPoolStrategy(size=2))
    )
    start = time.perf_counter()
    rows = ds.take_all()
    print("RESULT", json.dumps({
        "address": session.address, "gpus": session.gpus, "cpus": session.cpus,
        "summary": str(session), "rows": len(rows), "seconds": time.perf_counter() - start,
        "enhancer": sorted({r["enhancer"] for r in rows}), "image_gen": sorted({r["image_gen"] for r in rows}),
        "listening": listening,
    }))
    """
)


def listening_addresses(root) -> list:
    """(ip, port, process name) of every socket that ``root`` or a process it started listens on."""
    import psutil

    found = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            found += [
                (c.laddr.ip, c.laddr.port, proc.name())
                for c in proc.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN
            ]
        except psutil.Error:
            continue
    return found


LOOPBACK_IPS = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


def test_a_notebook_alone_starts_its_own_tiny_ray_and_module_04_shape_finishes(tmp_path):
    script = tmp_path / "alone.py"
    script.write_text(inspect.getsource(listening_addresses) + ALONE_SCRIPT)
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            env=_env_without_ray(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("module 04's pipeline shape did not finish in 5 minutes on the tiny Ray (starved?)")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT", 1)[1])
    assert "started by this notebook" in result["address"]
    assert result["gpus"] == 2 and result["cpus"] >= 8
    assert "2 GPUs (logical" in result["summary"]
    # Its own Ray listens on loopback only, as make lab's (test below)
    assert result["listening"] and all(ip in LOOPBACK_IPS for ip, _, _ in result["listening"]), result["listening"]
    assert result["rows"] == 12
    for stage, share in (("enhancer", "0.6"), ("image_gen", "0.4")):
        actors = {v.split("|")[0] for v in result[stage]}
        shares = {v.split("|")[2] for v in result[stage]}
        assert len(actors) <= 2 and shares == {share}, result[stage]
    gpus_used = {v.split("|")[1] for stage in ("enhancer", "image_gen") for v in result[stage]}
    assert gpus_used <= {"['0']", "['1']"}


# --- make lab -------------------------------------------------------------------------------

KERNEL_CODE = (
    "import ray, raycourse\n"
    "s = raycourse.init(quiet=True)\n"
    "print('GCS', ray.get_runtime_context().gcs_address, 'JOB', ray.get_runtime_context().get_job_id(), "
    "'GPUS', s.gpus, 'DASH', s.dashboard)\n"
)


async def _run_in_kernel(base: str, token: str, kernel_id: str, code: str, timeout: float = 180) -> str:
    """Execute code in a JupyterLab kernel over its websocket, as the browser does; return stdout."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = base.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
    conn = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    await conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "buffers": [],
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    )
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = await asyncio.wait_for(conn.read_message(), timeout=deadline - time.monotonic())
        if raw is None:
            break
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["header"]["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])
        elif kind == "execute_reply":
            break
    conn.close()
    return "".join(out)


def _api(base: str, token: str, path: str, body: dict | None = None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def _wait_for(predicate, timeout: float, what: str, process=None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    printed = lambda: f":\n{log.read_text()[-3000:]}" if log is not None and log.is_file() else ""  # noqa: E731
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process exited with {process.returncode} while waiting for {what}{printed()}")
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}{printed()}")


def _dashboard(url: str, path: str, headers: dict | None = None) -> urllib.request.Request:
    """A request to a course Ray's dashboard, with the run's token (raycourse.session.auth) unless ``headers`` say
    else."""
    from raycourse.session import auth

    return urllib.request.Request(url + path, headers=auth.http_headers() if headers is None else headers)


def _status(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# A driver that joins a Ray with plain ray.init(address=...), runs one task and waits (its workers listen too).
# Ray's C++ client logs why it was refused: shown here. One try to reach the GCS instead of Ray's 20 (1 s each).
DRIVER_SCRIPT = textwrap.dedent(
    """
    import sys, ray
    try:
        ray.init(address=sys.argv[1], log_to_driver=False)
    except Exception as exc:
        print("REFUSED", type(exc).__name__, exc, flush=True)
        sys.exit(3)
    print("JOINED", ray.get(ray.remote(lambda: "ran").remote()), flush=True)
    sys.stdin.read()
    """
)


def test_make_labs_ray_listens_on_loopback_only_and_refuses_anyone_without_its_token(tmp_path):
    """make lab's Ray (raycourse.session.cluster.start with a dashboard, as run_lab starts it): every port that it, its
    workers and a kernel that joins it listen on is on 127.0.0.1 (Ray's GCS, raylet, agents, client server, dashboard,
    workers); a driver without the token, or with another, is refused, and so is the dashboard's job API. Its
    session folder (worker logs: what UDFs print) is its user's only."""
    import psutil

    from raycourse.session import auth

    lab_ray = cluster.start(dashboard=True, dashboard_port=cluster.free_port())  # Ray's temp dir: run_lab's
    home = tmp_path / "home"  # no ~/.ray/auth_token there: Ray finds no token but what it is given
    home.mkdir()
    bare = {k: v for k, v in os.environ.items() if k not in auth.AUTH_ENV and k not in ("RAY_ADDRESS", "HOME")}
    bare.update(
        HOME=str(home), RAY_gcs_server_port_wait_time_s="1", RAY_BACKEND_LOG_LEVEL="warning", **cluster.LOOPBACK_ENV
    )  # refused for the token, not for the address
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_SCRIPT)
    driver = session = None
    try:
        assert lab_ray.auth_env["RAY_AUTH_MODE"] == "token"
        session = _session_folder(lab_ray)
        _only_its_user_may_enter(session)
        # A kernel of make lab: its environment has what client_env() gives (the token's mode and file).
        driver = subprocess.Popen(
            [sys.executable, str(script), lab_ray.address],
            env=dict(bare, **lab_ray.client_env()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        said = []
        while not said or not said[-1].startswith(("JOINED", "REFUSED", "Traceback")) and said[-1]:
            said.append(driver.stdout.readline())
        assert said[-1].startswith("JOINED ran"), "".join(said)
        listening = listening_addresses(psutil.Process(lab_ray.process.pid)) + listening_addresses(
            psutil.Process(driver.pid)
        )
        ports = {port for _, port, _ in listening}
        assert {lab_ray.ports["gcs"], lab_ray.ports["client"], lab_ray.ports["dashboard"]} <= ports, listening
        beyond = [entry for entry in listening if entry[0] not in LOOPBACK_IPS]
        assert not beyond, f"listening beyond loopback: {beyond}"

        for name, env in (
            ("no token", bare),
            ("another token", dict(bare, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)),
        ):
            refused = subprocess.run(
                [sys.executable, str(script), lab_ray.address],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert refused.returncode == 3 and "REFUSED" in refused.stdout, (
                name,
                refused.stdout,
                refused.stderr[-2000:],
            )
            assert "Unauthenticated" in refused.stderr, (name, refused.stderr[-2000:])

        jobs = "/api/jobs/"
        assert _status(_dashboard(lab_ray.dashboard_url, jobs, {})) == 401
        assert _status(_dashboard(lab_ray.dashboard_url, jobs, {"Authorization": "Bearer " + "0" * 64})) == 403
        assert _status(_dashboard(lab_ray.dashboard_url, jobs, lab_ray.http_headers())) == 200
    finally:
        if driver is not None:
            driver.kill()
            driver.wait()
        lab_ray.stop()
        if session is not None:  # its own session folder and log only: the temp dir is this user's other Rays' too
            shutil.rmtree(session, ignore_errors=True)
        lab_ray.log_path.unlink(missing_ok=True)
    assert not lab_ray.leftover_processes()


def _session_folder(ray: cluster.LocalRay) -> Path:
    return ray.session_dir()


def _only_its_user_may_enter(session: Path) -> None:
    """Ray 2.60 makes its session folders world-writable (0777) on purpose; a folder of this user's above it, mode
    0700, keeps every other user out. Where the tests run as root, another user (nobody) tries to list the worker
    logs and is refused."""
    assert session.name.startswith("session_") and (session / "logs").is_dir(), session
    modes = {str(folder): folder.stat() for folder in (session, *session.parents)}
    private = [f for f, st in modes.items() if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0]
    assert private, {f: oct(stat.S_IMODE(st.st_mode)) for f, st in modes.items()}
    if os.getuid() == 0:
        other = subprocess.run(
            [sys.executable, "-c", f"import os; os.setuid(65534); print(os.listdir({str(session / 'logs')!r}))"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode != 0 and "PermissionError" in other.stderr, other.stdout


def test_the_course_s_ray_temp_dir_is_its_users_alone(monkeypatch, tmp_path):
    """cluster.private_temp_dir: made 0700, put back to 0700, and refused where someone else's folder (or a link to
    one) stands in its place."""
    from raycourse.errors import CourseError

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # Ray's own setting for its system temp dir
    base = tmp_path / f"raycourse-{os.getuid()}"
    assert cluster.private_temp_dir() == str(base / "ray")
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    base.chmod(0o755)
    cluster.private_temp_dir()
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    base.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    base.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CourseError, match="is not a folder of this user's") as err:
        cluster.private_temp_dir()
    assert "RAY_TMPDIR" in err.value.fix


def test_a_free_port_is_one_no_program_gets_by_chance_and_a_seeded_random_does_not_choose_it(monkeypatch):
    import random
    import socket

    low, high = ports._quiet_ports()
    assert cluster.RAY_MAX_WORKER_PORT < low < high  # above Ray's workers' ports
    with socket.socket() as sock:  # below what the system hands out to bind(0)
        sock.bind(("127.0.0.1", 0))
        assert sock.getsockname()[1] > high
    picks = []
    for _ in range(3):
        random.seed(0)  # a notebook's or a test's seed
        picks.append(cluster.free_port())
    assert all(low <= port <= high and cluster.port_is_free(port) for port in picks) and len(set(picks)) > 1
    monkeypatch.setattr(ports, "port_is_free", lambda port: False)  # that range full: the system's choice
    assert cluster.free_port() > high


# The first dashboard agent of the Ray whose processes get this sitecustomize takes 20 s to start (a busy machine).
SLOW_FIRST_AGENT = """
import os, sys, time
if any(a.endswith("dashboard/agent.py") for a in sys.argv):
    try:
        os.close(os.open(os.path.join(os.path.dirname(__file__), "slowed"), os.O_CREAT | os.O_EXCL))
        time.sleep(20)
    except FileExistsError:
        pass
"""


@pytest.mark.slow("starts a Ray that dies, then another (about a minute)")
def test_a_head_node_whose_agent_was_too_slow_to_report_is_started_again(tmp_path, capsys):
    (tmp_path / "sitecustomize.py").write_text(SLOW_FIRST_AGENT)
    env = _env_without_ray(PYTHONPATH=str(tmp_path))
    head = cluster.start(
        num_cpus=1, num_gpus=0, dashboard=False, temp_dir=tempfile.mkdtemp(prefix="rcs-", dir="/tmp"), base_env=env
    )
    try:
        assert (tmp_path / "slowed").exists()  # the first one did wait
        said = capsys.readouterr().out
        assert f"Ray's head node gave up while starting: {cluster.SLOW_START_WHY}. Starting it again" in said, said
        first = sorted(Path(head.temp_dir).glob("raycourse-ray-*.log"), key=lambda p: p.stat().st_mtime)[0]
        assert cluster.SLOW_START in first.read_text() and first != head.log_path  # the failure's log is kept
        assert head.process.poll() is None and cluster.STARTED_LINE in head.log_path.read_text()
    finally:
        head.stop()
    assert not head.leftover_processes()


def test_make_lab_runs_one_ray_for_every_notebook_and_leaves_nothing_behind(tmp_path):
    for name in ("a.ipynb", "b.ipynb"):
        (tmp_path / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    port, dashboard_port, token = cluster.free_port(), cluster.free_port(), uuid.uuid4().hex
    log = (tmp_path / "lab.log").open("w")
    lab = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "raycourse",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
            f"--IdentityProvider.token={token}",
        ],
        env=_env_without_ray(DASHBOARD_PORT=str(dashboard_port)),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(lambda: _api(base, token, "/api/status"), 180, "JupyterLab to answer", lab, tmp_path / "lab.log")
        printed = (tmp_path / "lab.log").read_text()
        match = re.search(r"Ray: (\S+)\s+dashboard: (\S+)", printed)
        assert match, printed
        address, dashboard = match.groups()
        assert dashboard == f"http://127.0.0.1:{dashboard_port}"
        assert re.search(r"token: (\S+)", printed), printed  # where the dashboard's sign-in token is
        metrics = re.search(r"Prometheus \(the dashboard's metrics\): http://127.0.0.1:(\d+)", printed)
        assert bool(metrics) == bool(prometheus.binary()), printed  # test_prometheus.py: what it shows
        with urllib.request.urlopen(_dashboard(dashboard, "/api/version"), timeout=10) as response:
            assert json.loads(response.read())["ray_version"]

        # Two notebooks opened in JupyterLab: two sessions, two kernels, one Ray.
        outputs = []
        for name in ("a.ipynb", "b.ipynb"):
            session = _api(
                base,
                token,
                "/api/sessions",
                {"path": name, "type": "notebook", "name": name, "kernel": {"name": "python3"}},
            )
            outputs.append(asyncio.run(_run_in_kernel(base, token, session["kernel"]["id"], KERNEL_CODE)))
            # Its messages are encrypted: the server made CurveZMQ keys for it (cluster.kernel_encryption)
            connection = Path(jupyter_runtime_dir()) / f"kernel-{session['kernel']['id']}.json"
            assert json.loads(connection.read_text()).get("curve_publickey"), connection
        found = [re.search(r"GCS (\S+) JOB (\S+) GPUS (\S+) DASH (\S+)", out) for out in outputs]
        assert all(found), outputs
        (gcs_a, job_a, gpus_a, dash_a), (gcs_b, job_b, gpus_b, dash_b) = (m.groups() for m in found)
        assert gcs_a.endswith(address.rsplit(":", 1)[1]) and gcs_b == gcs_a  # the lab's Ray, both
        assert job_a != job_b  # two drivers (jobs) in one Ray
        assert gpus_a == gpus_b == "2.0" and dash_a == dash_b == dashboard
        with urllib.request.urlopen(_dashboard(dashboard, "/api/jobs/"), timeout=10) as response:
            drivers = [
                j for j in json.loads(response.read()) if j.get("type") == "DRIVER" and j.get("status") == "RUNNING"
            ]
        assert len(drivers) >= 2

        # The course's own settings: no news pop-up over the first notebook, no update check.
        news = _api(base, token, "/lab/api/settings/@jupyterlab/apputils-extension:notification")["settings"]
        assert news["fetchNews"] == "false" and news["checkForUpdates"] is False
        assert (tmp_path / ".jupyter" / "user-settings").is_dir()
    finally:
        lab.send_signal(signal.SIGTERM)  # what stopping `make lab` does
        try:
            lab.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            pytest.fail("make lab did not stop in 2 minutes")
        log.close()
    printed = (tmp_path / "lab.log").read_text()
    assert "Ray stopped." in printed, printed[-2000:]
    assert "without encryption" not in printed, printed[-2000:]  # ipykernel's warning at a plain-text kernel's start
    gcs_port = address.rsplit(":", 1)[1]
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [line for line in left.splitlines() if f":{gcs_port}" in line or f"--port={port}" in line]
    assert cluster.port_is_free(port) and cluster.port_is_free(dashboard_port)
    assert not metrics or cluster.port_is_free(int(metrics.group(1)))  # its Prometheus stopped with it


def test_the_course_jupyterlab_has_its_own_settings_and_keeps_the_learners_changes(tmp_path):
    env = cluster.lab_environment(tmp_path)
    news = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    assert json.loads(news.read_text()) == {"fetchNews": "false", "checkForUpdates": False}
    assert Path(env["JUPYTERLAB_WORKSPACES_DIR"]).is_dir()
    assert str(tmp_path / ".jupyter") in env["JUPYTERLAB_SETTINGS_DIR"]
    news.write_text('{"fetchNews": "true"}')  # the learner turned the news on
    cluster.lab_environment(tmp_path)
    assert json.loads(news.read_text()) == {"fetchNews": "true"}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's ignored signals in /proc")
def test_a_ray_started_with_sigint_ignored_gives_its_processes_sigint_back():
    """`nohup make lab &` (or a job a non-interactive shell puts in the background) starts with SIGINT ignored, and an
    ignored signal stays ignored across exec: every Ray worker would inherit it, and Ray's cancelling of a task
    (SIGINT, as Ray Data cancels its last tasks when a dataset ends early) failed in the worker with "TypeError:
    'Handlers' object is not callable", printed into the learner's cell. cluster.start gives SIGINT back."""
    temp_dir = tempfile.mkdtemp(prefix="rc-sigint-", dir="/tmp")
    script = textwrap.dedent(
        f"""
        import signal, psutil
        from raycourse.session import cluster
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        own = cluster.start(dashboard=False, temp_dir={temp_dir!r})  # short: Ray's socket paths must fit
        try:
            port = own.address.rsplit(":", 1)[1]
            ignored = {{}}
            for proc in psutil.process_iter(["cmdline"]):
                line = " ".join(proc.info["cmdline"] or [])
                if proc.pid == own.process.pid or ("raylet" in line and ":" + port in line):
                    with open(f"/proc/{{proc.pid}}/status") as status:
                        mask = next(int(l.split()[1], 16) for l in status if l.startswith("SigIgn:"))
                    ignored[line[:80]] = bool(mask & (1 << (signal.SIGINT - 1)))
            print(ignored)
            assert len(ignored) >= 2 and not any(ignored.values()), ignored
        finally:
            own.stop()
        """
    )
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
