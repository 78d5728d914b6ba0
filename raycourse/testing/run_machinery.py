"""The test run's machinery, a pytest plugin (the root conftest.py registers it with ``pytest_plugins``; the
conftest keeps the notebook rules and what a run selects).

Like ``make lab``, a test run starts one Ray (``raycourse.session.cluster.start``) and every notebook kernel and test
connects to it through ``RAY_ADDRESS``; it is stopped at the end of the run. ``RAY_ADDRESS`` set by the caller (a
cluster of your own) is used as it is; ``RAYCOURSE_SHARED_RAY=0`` gives every notebook a Ray of its own instead. Side by
side (pytest-xdist), each process has its own, the units of work are the root conftest.py's ``_scope``, each process
runs the notebook, Ray and kernel runs first (``run_order``), and writes a trail of its steps (``trail``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from raycourse.session.runtime import RAY_NOTICES_ENV

# What runs in one process side by side, nodeid -> unit (the root conftest.py's ``_scope``, set in its configure).
SCOPE = pytest.StashKey()

_SHARED_RAY = None
_EARLY_RAY = None  # the run's Ray while it starts beside the collection (a Future), see pytest_configure
SELECTION_ENV = ("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS")  # read by the root conftest.py only, never by Ray


def _ray_env() -> dict:
    return {key: value for key, value in os.environ.items() if key not in SELECTION_ENV}


def _start_shared_ray():
    import tempfile

    from raycourse.session import cluster

    temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")  # short: Ray's socket paths must fit
    # No dashboard, no Prometheus: metrics reported every 2 s by every worker of a whole run made the metrics agents
    # grind (their CPU grew with the run's series, to a quarter of a core each). The notebooks that read metrics
    # (module 10) get a Ray of their own (root conftest.py, the grader).
    return cluster.start(dashboard=False, temp_dir=temp_dir, base_env=_ray_env())


def _runs_its_own_ray(config) -> bool:
    """Whether this run starts the run's one Ray at all: not for --collect-only, a caller's cluster (RAY_ADDRESS), or
    ``RAYCOURSE_SHARED_RAY=0`` (a Ray per notebook, to compare times)."""
    return (
        not config.option.collectonly
        and not os.environ.get("RAY_ADDRESS")
        and os.environ.get("RAYCOURSE_SHARED_RAY", "1") != "0"
    )


def _starts_ray_early(config) -> bool:
    """A run that certainly needs the run's Ray (`make test-fast`: the checks' tests; `make test NOTEBOOKS=05`) starts
    it while the tests are collected: collection (imports of torch, transformers, Ray) and Ray's start (about 4 s)
    then share the wait instead of following each other."""
    return _runs_its_own_ray(config) and (
        os.environ.get("RAYCOURSE_FAST", "") not in ("", "0") or bool(os.environ.get("RAYCOURSE_NOTEBOOKS"))
    )


def _needs_ray(item) -> bool:
    """Notebook cells (nbval), in-process Ray tests (ray_session), notebooks run in kernels (kernels_ray)."""
    if item.get_closest_marker("skip"):  # e.g. a tiny-only test under make test-gpu
        return False
    return hasattr(item, "cell") or bool({"ray_session", "kernels_ray"} & set(getattr(item, "fixturenames", ())))


def pytest_collection_finish(session):
    """Start the run's one Ray if anything collected needs it (notebooks, Ray tests), or take the one started early."""
    global _SHARED_RAY, _EARLY_RAY
    early, _EARLY_RAY = _EARLY_RAY, None
    needed = _runs_its_own_ray(session.config) and any(_needs_ray(i) for i in session.items)
    if early is not None:
        from raycourse.session import cluster, runtime

        started = early.result()
        # Kept only if nothing the kernels pass on to Ray changed while the tests were collected.
        if needed and started.env_digest == runtime.env_digest(cluster.ray_environment(_ray_env())):
            _SHARED_RAY = started
        else:
            started.stop()
    if needed and _SHARED_RAY is None:
        _SHARED_RAY = _start_shared_ray()
    if _SHARED_RAY is not None:
        from raycourse.session import auth, cluster

        os.environ.update(_SHARED_RAY.client_env())  # every notebook kernel inherits it
        cluster.keep_loopback()  # this process's own clients of it (the lessons' actor checks, the soak test)
        auth.refresh_ray_config()


def pytest_sessionfinish(session, exitstatus):
    global _SHARED_RAY, _EARLY_RAY
    if _EARLY_RAY is not None:  # the collection did not finish (an error, an interrupt): stop the Ray started early
        early, _EARLY_RAY = _EARLY_RAY, None
        try:
            early.result().stop()
        except Exception:  # it did not start either; its own error says why
            pass
    if _SHARED_RAY is not None:
        import shutil

        for key in _SHARED_RAY.client_env():
            os.environ.pop(key, None)
        _SHARED_RAY.stop()
        notices = Path(os.environ.get(RAY_NOTICES_ENV, ""))
        if notices.is_file() and notices.read_text(encoding="utf-8").strip():
            # A worker died during the run (the notices name the task, not the test): its raylet and worker logs
            # say why, so they stay (a flaky test is a bug to find, never retried away).
            print(
                f"\nRay ran failed tasks again (listed below); the run's Ray logs are kept in "
                f"{_SHARED_RAY.log_path.parent} (raylet.out, python-core-worker-*.log)",
                file=sys.stderr,
            )
        else:
            shutil.rmtree(_SHARED_RAY.log_path.parent, ignore_errors=True)
        _SHARED_RAY = None


def pytest_terminal_summary(terminalreporter):
    """Ray's task-retry notices of the run (a worker died and Ray ran its task again): kept out of the
    cells, which still checked every result, and listed here so that a machine's trouble is not hidden."""
    path = Path(os.environ.get(RAY_NOTICES_ENV, ""))
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.is_file() else []
    if lines:
        terminalreporter.section(f"Ray ran {len(lines)} failed task(s) again (raycourse.session.runtime.RETRY_NOTICE)")
        for line in lines:
            terminalreporter.line(line)


# `make test` and `make test-fast` run two processes side by side (TEST_WORKERS=0: in line) (pytest-xdist, `--dist
# loadgroup`), each with its own Ray: the run's processes then share 2 cores. torch's CPU threads in the notebook
# kernels and the test processes are cut to one each (Ray's workers have one already), sleeping while they wait: with
# two threads each spinning, a stand-in's training in one process took 142 s instead of 12 s beside a notebook in the
# other.
SIDE_BY_SIDE_ENV = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def pytest_configure(config):
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):  # the xdist controller
        for key, value in SIDE_BY_SIDE_ENV.items():  # before it starts the workers, which inherit it
            os.environ.setdefault(key, value)
    elif _starts_ray_early(config):  # a process that runs tests (an xdist worker, or pytest in line)
        global _EARLY_RAY
        from concurrent.futures import ThreadPoolExecutor

        _EARLY_RAY = ThreadPoolExecutor(1, thread_name_prefix="ray-start").submit(_start_shared_ray)


# Where each test process is: a line as each phase of each test starts and ends, in a file per process beside Ray's
# retry notices, written through at once. A test process that dies without a trace (a SIGKILL, or a library's own
# _exit: no traceback, nothing from faulthandler) leaves there the phase it died in; side by side, the run prints it.
def _trail_path(worker: str) -> Path:
    return Path(os.environ[RAY_NOTICES_ENV]).with_name(f"trail-{worker}.log")


_TRAIL = None


def trail(phase: str, nodeid: str) -> None:
    global _TRAIL
    if _TRAIL is None:
        _TRAIL = _trail_path(os.environ.get("PYTEST_XDIST_WORKER", "main")).open("a", buffering=1, encoding="utf-8")
    import time

    _TRAIL.write(f"{time.strftime('%H:%M:%S')} pid {os.getpid()} {phase} {nodeid}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    trail("start", item.nodeid)
    try:
        return (yield)
    finally:
        trail("end", item.nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """Side by side: a test process that died is named with the last lines it wrote to its trail."""
    if not error:
        return
    path = _trail_path(node.gateway.id)
    lines = path.read_text(encoding="utf-8").splitlines()[-6:] if path.is_file() else ["(no trail)"]
    sys.stderr.write(f"\n{node.gateway.id} died ({error}); its last steps ({path}):\n  " + "\n  ".join(lines) + "\n")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` with the units of the root conftest.py's ``_scope``, in the order the workers collected
    them (notebook, Ray and kernel runs first). xdist's own loadgroup reads ``xdist_group`` marks into node ids,
    which pytest 9 no longer lets a plugin rename, so it groups nothing: every test went its own way, and module
    fixtures ran twice."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CourseScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return config.stash[SCOPE](nodeid)

    config.option.loadscopereorder = False  # keep the workers' order, not the biggest units first
    return CourseScheduling(config, log)


# Run before anything else in their process, while it has no Ray driver yet: in three hangs caught live, the test
# process's driver had been connected when tests/platform/test_lab_signals.py ran, and during that file its connection
# to its Ray's GCS went out of step (the GCS answered every later request "Missing :authority header", which Ray retries
# without end: CHANGELOG, 2026-11-27). Which step of that file does it is not found.
BEFORE_ANY_DRIVER = ("tests/platform/test_lab_signals.py",)


def run_order(items, slow) -> list:
    """Notebook, Ray and kernel runs first, then the quick tests of files that use the run's Ray, then the rest; in
    collection order within each (a notebook's cells stay in order; the runs too: the two-node file, whose runs start
    a cluster of their own, once moved behind the others and ended the run 3 min after the other process); the files
    of BEFORE_ANY_DRIVER before all."""
    ray_files = {str(item.fspath) for item in items if _needs_ray(item)}

    def key(item):
        later = not str(item.fspath).endswith(BEFORE_ANY_DRIVER)
        return (later, not slow(item), not slow(item) and str(item.fspath) not in ray_files)

    return sorted(items, key=key)
