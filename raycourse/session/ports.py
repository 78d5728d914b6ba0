"""The ports of the course's processes: free ones for what the course starts (:func:`free_port`), Serve's
(:func:`serve_port`), and a learner's choice checked against Ray's worker range (:func:`check_port`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import CourseError

DEFAULT_DASHBOARD_PORT = 8265


def free_port() -> int:
    """A TCP port that nothing listens on right now, above Ray's worker ports and below the system's ephemeral
    range (:func:`_quiet_ports`). A port is chosen here and bound later by another program (Ray's GCS, the
    dashboard, Prometheus); one from the ephemeral range could meanwhile go to any process's ``bind(0)`` or
    outgoing connection (Ray's own processes bind dozens), and that program would then fail to start."""
    import random

    low, high = _quiet_ports()
    pick = random.SystemRandom()  # not the `random` a notebook or test seeds: two sessions must not pick alike
    for _ in range(200):
        port = pick.randint(low, high)
        if port_is_free(port):
            return port
    with socket.socket() as sock:  # that range is full: the system's choice
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quiet_ports() -> tuple[int, int]:
    """The ports no program gets without asking for them by number: above Ray's worker range and below the
    ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768 by default; macOS: 49152)."""
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 49152
    return RAY_MAX_WORKER_PORT + 1, max(first_ephemeral - 1, RAY_MAX_WORKER_PORT + 1000)


SERVE_DEFAULT_PORT = 8000  # Ray Serve's own default; JupyterLab (8888) and the dashboard (8265) use others


def serve_port() -> int:
    """Where Ray Serve's HTTP proxy can listen on this machine: 8000, Serve's default, if nothing listens there,
    else a free port (a second course session, or another program on 8000). Module 08 passes it to
    ``serve.start(http_options={"port": ...})``; the proxy runs on the head node only (``proxy_location``)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):  # tests side by side: 8000 could be taken between this and the bind
        return free_port()
    return SERVE_DEFAULT_PORT if port_is_free(SERVE_DEFAULT_PORT) else free_port()


def port_is_free(port: int) -> bool:
    """Nothing listens on the port (a closed connection's TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


RAY_MIN_WORKER_PORT, RAY_MAX_WORKER_PORT = 10002, 19999


def jupyter_port(jupyter_args: list[str]) -> int | str | None:
    """The port given to ``jupyter lab`` (``--port=N``, ``--port N``, ``--ServerApp.port=N``), or None."""
    for i, arg in enumerate(jupyter_args):
        name, eq, value = arg.partition("=")
        if name in ("--port", "--ServerApp.port"):
            value = value if eq else (jupyter_args[i + 1] if i + 1 < len(jupyter_args) else "")
            return int(value) if value.strip().isdigit() else value
    return None


def check_port(variable: str, value) -> None:
    """A port the course's session may use: a number, 1-65535, outside Ray's worker port range."""
    fix = (
        f"Choose a port outside Ray's worker port range, such as `make lab {variable}="
        f"{DEFAULT_DASHBOARD_PORT if variable == 'DASHBOARD_PORT' else 8888}` (any of 1024-10001 or "
        f"{RAY_MAX_WORKER_PORT + 1}-65535 that nothing else uses)."
    )
    text = str(value).strip()
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise CourseError(f"{variable}={value} is not a port number.", fix)
    if RAY_MIN_WORKER_PORT <= int(text) <= RAY_MAX_WORKER_PORT:
        raise CourseError(
            f"{variable}={value} is inside Ray's worker port range {RAY_MIN_WORKER_PORT}-"
            f"{RAY_MAX_WORKER_PORT}: Ray's workers bind these ports, and Ray refuses to start (or a "
            "worker takes the port).",
            fix,
        )
