"""Prometheus beside the course's Ray, so that the dashboard's metrics are not all 0.

Ray's dashboard reads every metric it shows from the Prometheus server at ``RAY_PROMETHEUS_HOST``: the Ray Data
view's rows, bytes, CPU and GPU per operator among them (``ray/dashboard/modules/data/data_head.py``). Without a
server there, each of those columns reads 0. Ray writes the scrape config itself: the dashboard's metrics module
writes ``<session>/metrics/prometheus/prometheus.yml``, whose targets Ray keeps current in
``<session>/prom_metrics_service_discovery.json``.

The course runs the ``prometheus`` found on this machine (:func:`binary`) on that config, with one change: it scrapes
every 4 s rather than 10 s, so that a pipeline of a few seconds shows up, and less often once the agent grows slow to
answer (:meth:`Prometheus.pace`). It listens on loopback only, keeps its series in the Ray's session folder (a new
Ray's queries see no older Ray's runs, and two Rays of one user never share a store), and stops with the Ray. Where no
``prometheus`` is found, :data:`MISSING` says so in one line and nothing else changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BINARY_ENV = "RAYCOURSE_PROMETHEUS"  # the binary's path; "off": start none
HOST_ENV = "RAY_PROMETHEUS_HOST"  # Ray's own: where its dashboard asks for metrics (read when the dashboard starts)
RAY_CONFIG = Path("metrics", "prometheus", "prometheus.yml")  # in the session folder, written by Ray's dashboard
TARGETS = Path("prom_metrics_service_discovery.json")  # in the session folder: the targets Ray keeps current
# How often Prometheus scrapes, and how often Ray's processes hand their metrics to the node's agent (Ray's default
# for both: 10 s; a pipeline's rows then reached Prometheus 11 s after it ended, measured here, Ray 2.60).
# - Each scrape makes the agent render every series it holds, and Ray Data adds series for every dataset run that stay
#   while the Ray lives (ray-project/ray#65029): after a day of notebooks, 2.6 s of a core a scrape (docs/metrics.md).
#   So not every 2 s.
# - The agent keeps a gauge for two reports after its last one (OpenTelemetryMetricRecorder), and Ray Data reports a
#   finished dataset's numbers once: a scrape must come within that, or they are never stored. At 2 s reports and
#   5 s scrapes, one scrape of five saw a short run's final rows, and solved lab 10 late in a long session waited
#   30 s for rows that never came (measured).
# - The node's own numbers (CPU, GPU, memory) are the agent's, taken every 5 s by default: every report here.
SCRAPE_SECONDS = 4
REPORT_SECONDS = 3
SCRAPE_INTERVAL = f"{SCRAPE_SECONDS}s"
GAUGE_KEPT_SECONDS = 2 * REPORT_SECONDS  # ray._private.telemetry.open_telemetry_metric_recorder, Ray 2.60
REPORT_ENV = {  # read by every Ray process when it starts
    "RAY_metrics_report_interval_ms": str(REPORT_SECONDS * 1000),
    "REPORTER_UPDATE_INTERVAL_MS": str(REPORT_SECONDS * 1000),
}
# Ray Data's series stay while Ray lives, up to 2,000 label sets per metric (the agent's OpenTelemetry SDK then puts
# the rest into one overflow series): 185,000 lines after about 1,000 datasets here, and each scrape renders them all.
# At 4 s scrapes an hour of notebooks reached Prometheus's timeout (4.0 s) and then no metric came in at all
# (docs/metrics.md). The course then scrapes less often (each scrape's timeout its interval), so that rendering takes at
# most half a core and a scrape does not time out. Past the first step, a short run's last gauges (kept
# GAUGE_KEPT_SECONDS) can fall between two scrapes: so half a core, not a quarter (which went to 8 s after 150
# datasets here, docs/metrics.md).
PACE_STEPS = (SCRAPE_SECONDS, 8, 16, 32, 64, 128)
AGENT_SHARE = 0.5
PACE_EVERY = 20  # seconds between two looks at Prometheus's own scrape_duration_seconds
READ_0 = "the dashboard's metrics will read 0."
MISSING = (
    "No `prometheus` on this machine: the dashboard's metrics (its Ray Data view among them) will read 0. "
    "To see them: `sudo apt install prometheus` (Debian, Ubuntu), `brew install prometheus` (macOS), or "
    "`ray metrics launch-prometheus` in the course folder (it downloads one); then start again."
)


def binary() -> str | None:
    """The ``prometheus`` to run: ``RAYCOURSE_PROMETHEUS`` if set (``off``: none), else the one on ``PATH``
    (Debian's, Homebrew's), else one that ``ray metrics launch-prometheus`` unpacked into the current folder."""
    chosen = os.environ.get(BINARY_ENV, "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return chosen
    found = shutil.which("prometheus")
    if found:
        return found
    unpacked = sorted(Path.cwd().glob("prometheus-*/prometheus"), reverse=True)
    return next((str(p) for p in unpacked if os.access(p, os.X_OK)), None)


@dataclass
class Prometheus:
    """A Prometheus server of the course's, for one Ray: planned with :func:`plan` before the Ray starts (the
    dashboard reads ``env`` then), started with :meth:`start` once Ray has written its config."""

    binary: str
    port: int
    process: subprocess.Popen | None = None
    # Its config, log and series (data/): in the Ray's session folder, set by start(). One Ray's own: a new Ray starts
    # with no series, and two Rays of one user started at once never write each other's config.
    home: Path | None = None
    seconds: int = SCRAPE_SECONDS  # between two scrapes, now (pace() lengthens it)
    ray_config: Path | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        from .loopback import LOOPBACK

        return f"http://{LOOPBACK}:{self.port}"

    @property
    def env(self) -> dict:
        """What Ray's processes need in their environment to ask this server."""
        return {HOST_ENV: self.url, **REPORT_ENV}

    def start(self, session_dir: Path, timeout: float = 60, say=None) -> str | None:
        """Start on Ray's config in ``session_dir``, wait until it is ready and :meth:`pace` it (``say``: where its
        lines go, else none); ``None``, or one line that says why it did not start (the caller prints it and goes on
        without metrics)."""
        from .cluster import port_is_free

        if not port_is_free(self.port):
            return f"Prometheus not started: port {self.port} is taken; {READ_0}"
        ray_config = Path(session_dir) / RAY_CONFIG
        deadline = time.monotonic() + timeout
        while not ray_config.is_file():
            if time.monotonic() > deadline:
                return f"Prometheus not started: Ray wrote no scrape config ({ray_config}); {READ_0}"
            time.sleep(0.2)
        self.home = Path(session_dir) / "prometheus"
        self.home.mkdir(parents=True, exist_ok=True)
        self.ray_config = ray_config
        config = self.write_config()
        log = (self.home / "prometheus.log").open("w")
        try:
            self.process = subprocess.Popen(
                self.command(config), stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        except OSError as e:
            return f"Prometheus not started ({self.binary}: {e.strerror}); {READ_0}"
        finally:
            log.close()
        if not self._ready(deadline):
            self.stop()
            return f"Prometheus did not start (see {self.home / 'prometheus.log'}); {READ_0}"
        self._scraped(Path(session_dir), min(deadline, time.monotonic() + 3 * SCRAPE_SECONDS))
        self.pace(say)
        return None

    def write_config(self) -> Path:
        """Ray's config at the interval of now, in this server's home."""
        config = self.home / "prometheus.yml"
        config.write_text(course_config(self.ray_config.read_text(), self.seconds))
        return config

    def pace(self, say=None, every: float | None = None) -> threading.Thread:
        """Every ``every`` s (:data:`PACE_EVERY`), read how long each scrape took (Prometheus's own
        ``scrape_duration_seconds``), and when the slowest target took more than :data:`AGENT_SHARE` of the interval,
        or timed out, scrape less often (:func:`paced_seconds`; the config rewritten, then reloaded with SIGHUP).
        ``say`` gets one line for each change, and one if even the longest interval times out."""
        quiet = lambda line: None  # noqa: E731
        thread = threading.Thread(target=self._pace, args=(say or quiet, every or PACE_EVERY), daemon=True)
        thread.start()
        return thread

    def _pace(self, say, every: float) -> None:
        warned = False
        while not self.stopping.wait(every) and self.alive():
            now = self.seconds
            timeout = 0.9 * now  # a scrape that took this long, and failed, reached its timeout
            try:
                slowest = max((s for _, s in query(self.url, "scrape_duration_seconds", timeout=5)), default=0.0)
                timed_out = query(self.url, f"scrape_duration_seconds >= {timeout} and on(job, instance) up == 0")
            except (OSError, ValueError, KeyError, RuntimeError):
                continue
            seconds = paced_seconds(slowest, now)
            if seconds > now:
                self.seconds = seconds
                self.write_config()
                self.process.send_signal(signal.SIGHUP)  # Prometheus reloads its config
                slow = f"did not answer within {now} s" if timed_out else f"took {slowest:.1f} s to answer"
                say(
                    f"Prometheus: Ray's metrics agent {slow} (Ray keeps every dataset's series while it lives); "
                    f"scraping every {seconds} s from now on. A fresh Ray starts at {SCRAPE_SECONDS} s."
                )
            elif timed_out and not warned:
                warned = True
                say(
                    f"Prometheus: Ray's metrics agent did not answer within {now} s, so the dashboard's "
                    "metrics have stopped. Restart (`make lab`, or a fresh kernel) for a fresh Ray."
                )

    def command(self, config: Path) -> list[str]:
        from .loopback import LOOPBACK

        return [
            self.binary,
            f"--config.file={config}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--storage.tsdb.path={config.parent / 'data'}",
            "--storage.tsdb.retention.time=1d",
        ]

    def _ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return True
            time.sleep(0.3)
        return False

    def _scraped(self, session_dir: Path, deadline: float) -> bool:
        """Wait until every target Ray lists has been scraped once, so that a query made next finds Ray's series and
        a plot of a job started next has them from its start. Each target's first scrape comes within one interval."""
        targets = 1
        with contextlib.suppress(OSError, ValueError, AttributeError):
            groups = json.loads((session_dir / TARGETS).read_text())
            targets = sum(len(group.get("targets", [])) for group in groups) or 1
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError, RuntimeError):
                found = query(self.url, "count(up)", timeout=2)
                if found and found[0][1] >= targets:
                    return True
            time.sleep(0.5)
        return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10) -> None:
        self.stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def course_config(ray_config: str, seconds: int = SCRAPE_SECONDS) -> str:
    """Ray's generated scrape config scraped every ``seconds``, each scrape's timeout the same: the same targets,
    the same file."""
    import yaml

    config = yaml.safe_load(ray_config)
    every = f"{seconds}s"
    config.setdefault("global", {}).update(scrape_interval=every, scrape_timeout=every, evaluation_interval=every)
    header = f"# Ray's generated config ({RAY_CONFIG}), scraped every {every}: raycourse/session/prometheus.py\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def paced_seconds(slowest: float, seconds: int) -> int:
    """The interval to scrape at when the slowest target took ``slowest`` s to answer at ``seconds``: the first of
    :data:`PACE_STEPS`, never shorter than now, in which that takes at most :data:`AGENT_SHARE`; else the longest."""
    return next((s for s in PACE_STEPS if s >= seconds and slowest <= AGENT_SHARE * s), PACE_STEPS[-1])


def scrape_seconds(url: str | None) -> float:
    """How often the Prometheus at ``url`` scrapes now (the config it runs, from its HTTP API); the course's first
    interval where there is none or it does not say."""
    import yaml

    if not url:
        return SCRAPE_SECONDS
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/api/v1/status/config", timeout=5) as response:
            config = yaml.safe_load(json.load(response)["data"]["yaml"])
        return _duration(config["global"]["scrape_interval"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return SCRAPE_SECONDS


def _duration(text: str) -> float:
    """A Prometheus duration (``8s``, ``2m8s``, ``1h``) in seconds."""
    import re

    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if not parts or not any(parts.groups()):
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in parts.groups())
    return 3600 * hours + 60 * minutes + seconds


def plan() -> tuple[Prometheus | None, str | None]:
    """A server to start beside a new Ray, on a free loopback port; or ``None`` and the one line that says what is
    missing."""
    from .cluster import free_port

    found = binary()
    if found is None:
        return None, (None if os.environ.get(BINARY_ENV, "").strip().lower() == "off" else MISSING)
    if not (os.path.isfile(found) and os.access(found, os.X_OK)):
        return None, f"{BINARY_ENV}={found} is not a program that can run; {READ_0}"
    return Prometheus(found, free_port()), None


def query(url: str, promql: str, timeout: float = 10) -> list[tuple[dict, float]]:
    """An instant PromQL query: each series' labels and value (NaN and infinities as floats)."""
    address = f"{url.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(address, timeout=timeout) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {promql!r}: {answer.get('error')}")
    data = answer["data"]
    if data["resultType"] == "scalar":
        return [({}, float(data["result"][1]))]
    return [(item["metric"], float(item["value"][1])) for item in data["result"]]


def _die_with_parent() -> None:
    """In the child before exec: a SIGTERM when the process that started it dies (Linux), so that a killed
    ``make lab`` or kernel leaves no Prometheus behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


_own: Prometheus | None = None  # the server beside the Ray this process started (raycourse.init), if any


def before_own_ray() -> None:
    """Before ``ray.init`` starts a notebook's own Ray: plan a server and point the dashboard at it
    (``RAY_PROMETHEUS_HOST`` in this process's environment, which Ray's processes inherit), or print the line that
    says what is missing. A host the caller set already is kept, and nothing is started."""
    global _own
    if os.environ.get(HOST_ENV):
        return
    _own, note = plan()
    if _own is not None:
        os.environ.update(_own.env)
    if note:
        print(note)


def after_own_ray(context) -> None:
    """After ``ray.init`` (its ``context``): start the planned server on the new Ray's config, stopped when this
    process exits; a Ray without a dashboard has no metrics to serve, and gets none. A failure is one printed line."""
    global _own
    server, _own = _own, None
    if server is None:
        return
    note = None
    if getattr(context, "dashboard_url", None):
        from ray._private import worker

        note = server.start(Path(worker._global_node.get_session_dir_path()))
        if note is None:
            import atexit

            atexit.register(server.stop)
            _own = server
            return
    for key in server.env:
        os.environ.pop(key, None)
    if note:
        print(note)


def own_url() -> str | None:
    """Where the Prometheus beside this process's own Ray answers, if one runs."""
    return _own.url if _own is not None and _own.alive() else None


def prometheus_url() -> str | None:
    """Where a notebook can query Ray's metrics with PromQL (Prometheus's HTTP API): the server beside this process's
    own Ray, or the one ``make lab`` started (``RAY_PROMETHEUS_HOST``, Ray's own setting); ``None`` without one
    (:data:`MISSING` says how to get one). ``raycourse.prometheus_url()``."""
    return own_url() or os.environ.get(HOST_ENV) or None
