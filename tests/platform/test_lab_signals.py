"""`make lab` stops JupyterLab and its Ray when its terminal closes or the process that started it dies, and
refuses ports that Ray's workers would take.

The two runs start the real `python -m raycourse lab` (Ray head node and JupyterLab, about 25 s each) under a bash
that stands for `make`: the first on a terminal that then closes, the second under a parent that is killed.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from raycourse.session import cluster

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # the lab starts a Ray of its own
    return {**env, "RAYCOURSE_PROFILE": "tiny", **extra}


def _take_terminal():  # the child's stdin (a terminal) becomes its session's controlling terminal, as in a shell
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    # A terminal's shell dies of SIGHUP when the terminal closes, and its foreground jobs then get theirs; a test run
    # started under `nohup` (or in the background) would pass SIGHUP and SIGINT on ignored, and a shell keeps a signal
    # it was started ignoring ignored, so the lab's shell would outlive the terminal and its lab never hear of it
    for number in (signal.SIGHUP, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)


class Lab:
    """`bash -c 'python -m raycourse lab ...; ...'` in a session of its own; its output is collected."""

    def __init__(self, tmp_path: Path, terminal: bool):
        self.port, self.dashboard_port = cluster.free_port(), cluster.free_port()
        command = (
            f"{sys.executable} -m raycourse lab --no-browser --port={self.port} --allow-root "
            f"--ServerApp.root_dir={tmp_path} --IdentityProvider.token=t0k3n; echo make done"
        )
        self.output, self.master, self.reader = [], None, None
        self.closing = threading.Event()
        if terminal:
            self.master, slave = pty.openpty()
            io = {"stdin": slave, "stdout": slave, "stderr": slave}
        else:
            self.log = (tmp_path / "lab.log").open("w+")
            io = {"stdin": subprocess.DEVNULL, "stdout": self.log, "stderr": subprocess.STDOUT}
        self.shell = subprocess.Popen(
            ["bash", "-c", command],
            env=_env(DASHBOARD_PORT=str(self.dashboard_port)),
            cwd=tmp_path,
            start_new_session=True,
            preexec_fn=_take_terminal if terminal else None,
            **io,
        )
        if terminal:
            os.close(slave)
            self.reader = threading.Thread(target=self._read_terminal, daemon=True)
            self.reader.start()

    def _read_terminal(self):
        # Never blocked in read() when the terminal is to close: a read in progress holds the terminal open (the
        # kernel releases a file when its last use ends), so close() would not hang it up and nothing gets SIGHUP.
        while not self.closing.is_set():
            try:
                if not select.select([self.master], [], [], 0.2)[0]:
                    continue
                chunk = os.read(self.master, 4096)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            self.output.append(chunk.decode(errors="replace"))

    def close_terminal(self) -> None:
        """The terminal window closes: its master side is closed, by no one else still reading it."""
        self.closing.set()
        self.reader.join()
        os.close(self.master)
        self.master = -1

    def text(self) -> str:
        if self.master is None:
            self.log.seek(0)
            return self.log.read()
        return "".join(self.output)

    def wait_until_up(self) -> str:
        """The Ray address once JupyterLab answers."""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.shell.poll() is None, self.text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status?token=t0k3n", timeout=5):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer:\n{self.text()[-3000:]}")
        match = re.search(r"Ray: \S+:(\d+)\s", self.text())
        assert match, self.text()
        return match.group(1)

    def left(self, gcs_port: str) -> list[str]:
        """Processes of this lab still alive: JupyterLab (its port) and Ray (its GCS port)."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                line = " ".join(proc.info["cmdline"] or [])
            except psutil.Error:
                continue
            if proc.pid == self.shell.pid:  # the shell that stands for make (a zombie until the test reaps it)
                continue
            if f"--port={self.port}" in line or re.search(rf"(:{gcs_port}\b|gcs_server_port={gcs_port}\b)", line):
                found.append(f"{proc.pid}: {line[:150]}")
        return found

    def wait_until_gone(self, gcs_port: str) -> None:
        deadline = time.monotonic() + 90  # a limit to wait, not a measure: stopping Ray takes a few seconds
        while time.monotonic() < deadline and (self.left(gcs_port) or not cluster.port_is_free(self.port)):
            time.sleep(0.5)
        left = self.left(gcs_port)
        if left:
            for line in left:  # clean up before failing
                try:
                    os.kill(int(line.split(":")[0]), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        assert not left, f"left running: {left}\n{self.text()[-3000:]}"
        assert cluster.port_is_free(self.port) and cluster.port_is_free(self.dashboard_port)

    def kill_all(self):
        try:
            os.killpg(self.shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow("starts make lab (its Ray and JupyterLab, about 25 s)")
@pytest.mark.tiny_only("make lab's tiny Ray")
def test_closing_the_terminal_stops_jupyterlab_and_ray(tmp_path):
    lab = Lab(tmp_path, terminal=True)
    try:
        gcs_port = lab.wait_until_up()
        lab.close_terminal()  # SIGHUP to the shell and its foreground processes
        lab.wait_until_gone(gcs_port)
    finally:
        lab.kill_all()


@pytest.mark.slow("starts make lab (its Ray and JupyterLab, about 25 s)")
@pytest.mark.tiny_only("make lab's tiny Ray")
def test_the_death_of_the_process_that_started_it_stops_jupyterlab_and_ray(tmp_path):
    lab = Lab(tmp_path, terminal=False)
    try:
        gcs_port = lab.wait_until_up()
        lab.shell.kill()  # make (here bash) dies at once, telling nobody: SIGKILL
        lab.shell.wait()
        lab.wait_until_gone(gcs_port)
        assert "Ray stopped." in lab.text() and "make done" not in lab.text()
    finally:
        lab.kill_all()
        lab.log.close()


@pytest.mark.parametrize(
    "variable,value,message",
    [
        ("DASHBOARD_PORT", "15000", "inside Ray's worker port range 10002-19999"),
        ("DASHBOARD_PORT", "dash", "not a port number"),
        ("PORT", "10002", "inside Ray's worker port range 10002-19999"),
    ],
)
def test_a_port_that_ray_s_workers_would_take_is_refused_before_anything_starts(variable, value, message):
    args = ["--no-browser", f"--port={value if variable == 'PORT' else 8888}"]
    env = _env(DASHBOARD_PORT=value if variable == "DASHBOARD_PORT" else "8265")
    result = subprocess.run(
        [sys.executable, "-m", "raycourse", "lab", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {variable}={value} is ") and message in result.stderr, result.stderr
    assert "What to do: " in result.stderr and "Starting Ray" not in result.stdout


def test_the_worker_port_range_is_ray_s():
    from ray.scripts.scripts import start

    defaults = {p.name: p.default for p in start.params}
    assert (cluster.RAY_MIN_WORKER_PORT, cluster.RAY_MAX_WORKER_PORT) == (
        defaults["min_worker_port"],
        defaults["max_worker_port"],
    )
    assert cluster.jupyter_port(["--no-browser", "--port", "9999"]) == 9999
    assert cluster.jupyter_port(["--ServerApp.port=9998"]) == 9998 and cluster.jupyter_port([]) is None
