"""Prometheus beside make lab's Ray (raycourse/session/prometheus.py): the dashboard's Ray Data view reads real rows
from it, and without a `prometheus` one line says what to install and the Ray starts as before."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request

import pytest

from raycourse.session import cluster, prometheus, runtime

pytestmark = pytest.mark.tiny_only("a Ray of its own with no GPU; nothing here depends on the profile")
NEEDS_PROMETHEUS = pytest.mark.skipif(prometheus.binary() is None, reason=prometheus.MISSING)

PIPELINE = textwrap.dedent(
    """
    import time, ray
    ray.init(logging_level="ERROR", log_to_driver=False)
    def slow(batch):
        time.sleep(0.5)
        return batch
    rows = ray.data.range(2000, override_num_blocks=8).map_batches(slow).count()
    print(ray.get_runtime_context().get_job_id(), rows, flush=True)
    """
)


def _get(url: str, headers: dict | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return json.load(response)


def _outside_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", prometheus.HOST_ENV)}


@pytest.mark.slow("starts make lab's Ray, its dashboard and a Prometheus (about 40 s here)")
@NEEDS_PROMETHEUS
def test_the_dashboards_ray_data_view_shows_a_pipelines_rows_from_the_courses_prometheus(tmp_path):
    """make lab's Ray (cluster.start as run_lab calls it): a Prometheus on loopback, on Ray's own scrape config, that
    the dashboard asks; a pipeline run by a kernel of that Ray shows its rows per operator in the Ray Data view."""
    lab_ray = cluster.start(dashboard=True, dashboard_port=cluster.free_port(), num_cpus=4, num_gpus=0, metrics=True)
    try:
        url = lab_ray.prometheus_url
        assert url and url.startswith("http://127.0.0.1:"), url
        assert lab_ray.client_env()[prometheus.HOST_ENV] == url  # a notebook learns where to query it
        config = (lab_ray.prometheus.home / "prometheus.yml").read_text()
        assert str(lab_ray.session_dir() / "prom_metrics_service_discovery.json") in config
        assert f"scrape_interval: {prometheus.SCRAPE_INTERVAL}" in config

        done = subprocess.run(
            [sys.executable, "-c", PIPELINE],
            env=dict(_outside_env(), **lab_ray.client_env()),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        job_id, rows = done.stdout.split()[-2:]
        assert rows == "2000"

        # Ray's own targets are scraped (its nodes' metrics ports, from its service discovery file)
        targets = _get(url + "/api/v1/targets")["data"]["activeTargets"]
        assert targets and all(t["labels"]["job"] == "ray" for t in targets), targets

        seen, deadline = None, time.monotonic() + 90
        while time.monotonic() < deadline:
            datasets = _get(f"{lab_ray.dashboard_url}/api/data/datasets/{job_id}", lab_ray.http_headers())["datasets"]
            seen = {op["operator"]: float(op["ray_data_output_rows"]["max"]) for d in datasets for op in d["operators"]}
            if seen and max(seen.values()) >= 2000:  # Ray reports them every few seconds: the last report
                break
            time.sleep(2)
        assert seen and max(seen.values()) == 2000, f"the Ray Data view's rows per operator: {seen}"
    finally:
        lab_ray.stop()
    assert not lab_ray.prometheus.alive()
    assert not lab_ray.leftover_processes()


def test_without_prometheus_one_line_says_what_to_install_and_ray_starts_as_before(monkeypatch, tmp_path, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no prometheus on PATH (Ray's own commands are found by their path)
    monkeypatch.delenv(prometheus.BINARY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # and none unpacked by `ray metrics launch-prometheus` here
    assert prometheus.binary() is None
    server, note = prometheus.plan()
    assert server is None and note == prometheus.MISSING
    assert "\n" not in note and "apt install prometheus" in note and "launch-prometheus" in note

    monkeypatch.setenv(prometheus.BINARY_ENV, str(tmp_path / "nowhere" / "prometheus"))
    server, note = prometheus.plan()
    assert server is None and "is not a program that can run" in note

    monkeypatch.setenv(prometheus.BINARY_ENV, "off")  # asked for none: nothing said
    assert prometheus.plan() == (None, None)


def test_a_prometheus_that_ray_unpacked_into_the_course_folder_is_found(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv(prometheus.BINARY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    unpacked = tmp_path / "prometheus-2.48.1.linux-amd64" / "prometheus"
    unpacked.parent.mkdir()
    unpacked.write_text("#!/bin/sh\n")
    unpacked.chmod(0o755)
    assert prometheus.binary() == str(unpacked)


def test_the_course_config_is_rays_own_with_a_shorter_scrape():
    ray_config = textwrap.dedent(
        """
        global:
          scrape_interval: 10s
          evaluation_interval: 10s
        scrape_configs:
        - job_name: 'ray'
          file_sd_configs:
          - files:
            - '/tmp/x/session_1/prom_metrics_service_discovery.json'
        """
    )
    import yaml

    ours = yaml.safe_load(prometheus.course_config(ray_config))
    theirs = yaml.safe_load(ray_config)
    assert ours["scrape_configs"] == theirs["scrape_configs"]
    assert ours["global"] == {"scrape_interval": "4s", "scrape_timeout": "4s", "evaluation_interval": "4s"}
    slower = yaml.safe_load(prometheus.course_config(ray_config, 16))
    assert slower["global"] == {"scrape_interval": "16s", "scrape_timeout": "16s", "evaluation_interval": "16s"}
    assert slower["scrape_configs"] == theirs["scrape_configs"]


def test_a_slower_agent_is_scraped_less_often_and_never_more_often_again():
    """The agent's render time over the interval stays at most a half (of a core); a scrape that timed out is at
    least its interval; the interval never shrinks (Ray's series never do); past the last step it stays there."""
    assert prometheus.PACE_STEPS[0] == prometheus.SCRAPE_SECONDS
    slowest = (0.2, 2.0, 2.01, 4.0, 4.01, 7.9)
    assert [prometheus.paced_seconds(seconds, 4) for seconds in slowest] == [4, 4, 8, 8, 16, 16]
    assert prometheus.paced_seconds(0.1, 16) == 16 and prometheus.paced_seconds(16.0, 16) == 32
    assert prometheus.paced_seconds(500.0, 4) == prometheus.PACE_STEPS[-1] == 128
    assert [prometheus._duration(t) for t in ("8s", "2m8s", "1h", "1m")] == [8, 128, 3600, 60]
    with pytest.raises(ValueError):
        prometheus._duration("500ms")
    assert prometheus.scrape_seconds("http://127.0.0.1:9") == prometheus.SCRAPE_SECONDS  # nothing there: the first
    assert prometheus.scrape_seconds(None) == prometheus.SCRAPE_SECONDS


class _SlowTarget:
    """An HTTP endpoint of metrics that answers each scrape after ``delay`` s, as Ray's agent does once it holds an
    hour of Ray Data's series (4.0 s, docs/metrics.md): a stand-in, since a real agent takes that hour to get there."""

    def __init__(self, delay: float):
        import http.server
        import threading

        class Slow(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                time.sleep(delay)
                body = b"# TYPE course_slow gauge\ncourse_slow 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # Prometheus gave up on it: a timeout
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.slow("a Prometheus on two slow targets until it has paced them (about 15 s here)")
@NEEDS_PROMETHEUS
def test_prometheus_scrapes_a_slow_agent_less_often_so_it_stays_up_and_says_so(tmp_path, monkeypatch):
    """A target slower than the scrape's timeout is down and sends no metric (what an hour of notebooks did to Ray's
    agent): the course's Prometheus reads its own scrape durations, scrapes less often, and the target is up again;
    one that times out even at the longest interval gets one line. Steps of 1 and 4 s, for time: the rule is the
    same at the course's (above)."""
    monkeypatch.setattr(prometheus, "PACE_STEPS", (1, 4))
    monkeypatch.setattr(prometheus, "PACE_EVERY", 0.5)
    slow, slower = _SlowTarget(1.3), _SlowTarget(5.0)
    session = tmp_path / "session"
    (session / prometheus.RAY_CONFIG).parent.mkdir(parents=True)
    (session / prometheus.TARGETS).write_text(
        json.dumps([{"labels": {"job": "ray"}, "targets": [slow.address, slower.address]}])
    )
    discovery = {"job_name": "ray", "file_sd_configs": [{"files": [str(session / prometheus.TARGETS)]}]}
    (session / prometheus.RAY_CONFIG).write_text(json.dumps({"global": {}, "scrape_configs": [discovery]}))
    said = []
    server = prometheus.Prometheus(prometheus.binary(), cluster.free_port(), seconds=1)
    try:
        assert server.start(session, say=said.append) is None
        up = {}
        for _ in range(240):  # about 10 s here; a minute for a busy machine
            up = {labels["instance"]: value for labels, value in prometheus.query(server.url, "up")}
            if len(said) == 2 and up.get(slow.address) == 1:
                break
            time.sleep(0.25)
        assert server.seconds == 4 and prometheus.scrape_seconds(server.url) == 4, (server.seconds, said)
        assert "scrape_interval: 4s" in (server.home / "prometheus.yml").read_text()
        assert up == {slow.address: 1, slower.address: 0}, (up, said)
        assert "scraping every 4 s" in said[0] and "did not answer within 4 s" in said[1], said
        assert all("\n" not in line for line in said)
        # A notebook's summary (raycourse.init) says how often its Prometheus scrapes now, not at first.
        now = prometheus.scrape_seconds(server.url)  # as raycourse.init() asks
        summary = runtime.Session("tiny", "2.60", "here", 4, 0, prometheus=server.url, scrape_seconds=now)
        assert f"Metrics   {server.url} (Prometheus, scraping every 4 s;" in str(summary)
    finally:
        server.stop()
        slow.server.shutdown()
        slower.server.shutdown()


@NEEDS_PROMETHEUS
def test_a_prometheus_that_cannot_start_is_one_line_and_stops(tmp_path):
    """A busy port (another server there), or a binary that fails: one line each, nothing is left running."""
    session = tmp_path / "session"
    (session / prometheus.RAY_CONFIG).parent.mkdir(parents=True)
    (session / prometheus.RAY_CONFIG).write_text("global: {}\nscrape_configs: []\n")
    first = prometheus.Prometheus(prometheus.binary(), cluster.free_port())
    assert first.start(session) is None
    # Its config, log and series live in the Ray's session folder: a new Ray's queries see none of an older one's
    # runs, and two Rays started at once never share a config.
    home = session / "prometheus"
    assert first.home == home and f"--storage.tsdb.path={home / 'data'}" in first.command(home / "prometheus.yml")
    assert (home / "data").is_dir() and "scrape_configs" in (home / "prometheus.yml").read_text()
    try:
        second = prometheus.Prometheus(first.binary, first.port)
        note = second.start(session, timeout=30)
        assert note and "\n" not in note and f"port {first.port} is taken" in note, note
        assert not second.alive()
        failing = tmp_path / "failing"
        failing.write_text("#!/bin/sh\necho 'err: bad flag' >&2\nexit 2\n")
        failing.chmod(0o755)
        other = tmp_path / "other-session"
        (other / prometheus.RAY_CONFIG).parent.mkdir(parents=True)
        (other / prometheus.RAY_CONFIG).write_text("global: {}\nscrape_configs: []\n")
        third = prometheus.Prometheus(str(failing), cluster.free_port())
        note = third.start(other, timeout=30)
        assert note and "\n" not in note and str(other / "prometheus" / "prometheus.log") in note, note
        assert "bad flag" in (other / "prometheus" / "prometheus.log").read_text()
    finally:
        first.stop()
    assert not first.alive()
    assert urllib.parse.urlparse(first.url).hostname == "127.0.0.1"


LONE_NOTEBOOK = textwrap.dedent(
    """
    import json, os, time, urllib.request
    import raycourse
    from raycourse.session import prometheus
    raycourse.init(quiet=True)
    url = prometheus.own_url()
    print("URL", url, os.environ.get("RAY_PROMETHEUS_HOST"), flush=True)
    for _ in range(60):  # Ray writes its nodes' metrics ports into the discovery file within seconds
        with urllib.request.urlopen(url + "/api/v1/targets", timeout=10) as response:
            targets = json.load(response)["data"]["activeTargets"]
        if targets:
            break
        time.sleep(1)
    print("TARGETS", len(targets), flush=True)
    """
)


@pytest.mark.slow("a notebook's own Ray with its dashboard and a Prometheus (about 20 s here)")
@NEEDS_PROMETHEUS
def test_a_notebook_that_starts_its_own_ray_gets_a_prometheus_that_goes_with_it(tmp_path):
    """raycourse.init() outside make lab, as a learner's lone notebook (not a test run: its Ray has a dashboard)."""
    import psutil

    env = {k: v for k, v in _outside_env().items() if k != "RAYCOURSE_TEST"}
    done = subprocess.run(
        [sys.executable, "-c", LONE_NOTEBOOK], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    said = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("URL", "TARGETS")))
    url, host = said["URL"].split()
    assert url == host and url.startswith("http://127.0.0.1:"), said  # the dashboard was pointed at it
    assert int(said["TARGETS"]) >= 1, said
    listen = f"--web.listen-address={url.removeprefix('http://')}"
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if listen in (p.info["cmdline"] or [])]
    assert not left, f"a Prometheus outlived its notebook: {left}"


def test_ray_reports_every_3_s_where_a_prometheus_listens_and_a_notebook_finds_it(monkeypatch):
    """Ray's processes hand their metrics over every 10 s by default: a lesson's pipeline of seconds showed up 11 s
    after it ended. Where the course runs a Prometheus, they report every 3 s, and raycourse.prometheus_url() says where
    to send PromQL: this process's own server, else make lab's (RAY_PROMETHEUS_HOST)."""
    import raycourse

    server = prometheus.Prometheus("prometheus", 9999)
    assert server.env == {
        prometheus.HOST_ENV: server.url,
        "RAY_metrics_report_interval_ms": "3000",
        "REPORTER_UPDATE_INTERVAL_MS": "3000",
    }
    monkeypatch.setattr(prometheus, "_own", None)
    monkeypatch.delenv(prometheus.HOST_ENV, raising=False)
    assert raycourse.prometheus_url() is None
    monkeypatch.setenv(prometheus.HOST_ENV, "http://127.0.0.1:9090")
    assert raycourse.prometheus_url() == "http://127.0.0.1:9090"


def test_a_finished_datasets_last_numbers_stay_long_enough_for_a_scrape():
    """Ray's metrics agent keeps a gauge for two reports after its last one, and Ray Data reports a finished
    dataset's rows once: unless a scrape comes within that, Prometheus never stores them (at 2 s reports and 5 s
    scrapes, solved lab 10 waited for rows that never came). Ray's own rule, asked in a process with the course's
    settings, must leave a whole scrape and a margin."""
    ask = "from ray._private.telemetry.open_telemetry_metric_recorder import OpenTelemetryMetricRecorder as R\n"
    ask += "print(R._resolve_gauge_ttl_seconds(None))"
    env = dict(_outside_env(), **prometheus.REPORT_ENV)
    done = subprocess.run([sys.executable, "-c", ask], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    kept = float(done.stdout.split()[-1])
    assert kept == prometheus.GAUGE_KEPT_SECONDS
    assert kept >= prometheus.SCRAPE_SECONDS + 2, (kept, prometheus.SCRAPE_SECONDS)
