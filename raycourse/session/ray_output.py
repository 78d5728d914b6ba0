"""What Ray prints into a notebook's cells from its workers and raylet, filtered: the few notices that say nothing
about a learner's pipeline are dropped (``raycourse.session.runtime.init`` installs the filter), everything else reaches
the cell; what Ray's C++ core writes while it starts stays out (:func:`_quiet_fd2`). ``raycourse.session.runtime``
re-exports these names."""

from __future__ import annotations

import logging

import contextlib
import os
import sys

# Ray's raylet tells every driver when a node runs 4x more Python workers than its *physical* cores
# ("... worker processes have been started on node ... maximum expected startup concurrency").
# The course's local Ray declares more logical CPUs than a laptop has cores, on purpose (GPU actors
# must not starve the read tasks), and several notebooks share it, so that warning would print into
# learners' cells in normal runs, again at every further multiple. It is dropped; every other message
# from Ray (failed tasks, dead actors, out of memory) still reaches the cell, except the retry notices
# of a test run (below).
WORKER_POOL_WARNING = "maximum expected startup concurrency"
# Since Ray 2.50 the driver also hears of every task that failed with a system error (its worker process
# died) and that Ray runs again: "Task _map_task failed. There are infinite retries remaining, so the task
# will be retried. Error: ...". A learner sees it: a retry that keeps coming back is the only sign of a
# pipeline that cannot finish. A test run names a file in RAYCOURSE_RAY_NOTICES (the root conftest.py does)
# and the notices go there instead: the cell still checks the retried task's result, pytest lists the
# notices at the end of the run, and a busy machine's one lost worker does not break a cell's output.
RETRY_NOTICE = "so the task will be retried"
# Lines of Ray's workers that a learner now sees (log_to_driver) and that say nothing about their pipeline, dropped
# one by one, everything else a worker prints still reaching the cell:
# - every new worker process announces the C++ log level that the course sets to keep Ray's C++ lines out of cells
#   (RAY_BACKEND_LOG_LEVEL in QUIET_ENV): "(raylet) [...] logging.cc:303: Set ray log level from environment
#   variable RAY_BACKEND_LOG_LEVEL to 3", once per worker, dozens per notebook;
# - diffusers draws a text progress bar while it loads a pipeline's components, in every SDXL actor ("Loading
#   pipeline components...: 57%|█████▋ | 4/7"), as the course keeps the Hugging Face Hub's download bars out too
#   (HF_HUB_DISABLE_PROGRESS_BARS); diffusers has no setting for it that reaches a worker.
DROPPED_LINES = ("Set ray log level from environment variable RAY_BACKEND_LOG_LEVEL", "Loading pipeline components...")
# A progress bar redraws its line with "\r" and ends it with "\n" when it closes. Ray's log monitor publishes what a
# worker's file holds when it reads it, a line without its end too: read between the bar's last redraw and its "\n",
# the bar arrives as one line (dropped above) and its end as an empty line of its own, which reached a learner's cell
# as a bare "(MapWorker(MapBatches(ImageGen)) pid=...)" on stderr (a CI run of lesson 03 in the browser). So the first
# line a worker sends after a dropped line is dropped too when it is empty.
RAY_NOTICES_ENV = "RAYCOURSE_RAY_NOTICES"
# serve.shutdown() ends Serve's controller with ray.kill, on purpose, while the calls that the driver's handles and
# the shutdown itself have open on it are still waiting; Ray then tells the driver that each "failed" and "will be
# retried" (Ray 2.60: "Task ServeController.listen_for_change failed. There are infinite retries remaining, so the
# task will be retried. Error: The actor is dead because it was killed by `ray.kill`."), after every clean shutdown
# (module 08). When the kill lands while a call is on the wire, the error reads "The actor is temporarily
# unavailable: RpcError: ..." instead ("Socket closed", or "failed to connect to all addresses": seen in test runs
# under load). Those notices of Serve's controller, and only those, are dropped: a replica or a task of the learner
# that dies still shows.
SERVE_SHUTDOWN_NOTICE = ("Task ServeController.", ("killed by `ray.kill`", "The actor is temporarily unavailable"))


def _serve_shutdown_notice(text: str) -> bool:
    start, endings = SERVE_SHUTDOWN_NOTICE
    return start in text and any(ending in text for ending in endings)


def _drop_noise(lines: list, after_dropped: set, pid) -> list:
    """``lines`` without DROPPED_LINES, nor the empty line that ends a dropped progress bar (see DROPPED_LINES).
    ``after_dropped`` holds the workers (pids) whose last line was dropped, and only those."""
    kept = []
    for line in lines:
        text = str(line)
        if any(notice in text for notice in DROPPED_LINES):
            after_dropped.add(pid)
            continue
        if text.strip() or pid not in after_dropped:
            kept.append(line)
        after_dropped.discard(pid)
    return kept


def drop_worker_pool_warning() -> None:
    """Filter the worker-pool size warning (and, in a test run, task-retry notices) out of what Ray
    prints into this driver (idempotent)."""
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "raycourse_filter", False):
        return  # another Ray version, or already done

    after_dropped: set = set()  # the workers (pids) whose last line was dropped

    def print_to_stdstream(data, ignore_prefix):
        lines = data.get("lines") or []
        kept = _drop_noise(lines, after_dropped, data.get("pid"))
        if lines and not kept:
            return None
        if len(kept) != len(lines):
            data = {**data, "lines": kept}
        if data.get("pid") == "raylet":
            text = "\n".join(str(line) for line in data.get("lines") or [])
            if WORKER_POOL_WARNING in text:
                return None
            if _serve_shutdown_notice(text):
                kept = [line for line in data.get("lines") or [] if not _serve_shutdown_notice(str(line))]
                if not kept:
                    return None
                data = {**data, "lines": kept}
                text = "\n".join(str(line) for line in kept)
            notices = os.environ.get(RAY_NOTICES_ENV)
            if notices and RETRY_NOTICE in text:
                with open(notices, "a", encoding="utf-8") as log:
                    log.write(text + "\n")
                return None
        return original(data, ignore_prefix)

    print_to_stdstream.raycourse_filter = True
    worker.print_to_stdstream = print_to_stdstream


@contextlib.contextmanager
def _quiet_fd2():
    """Keep what Ray's C++ core writes to file descriptor 2 while it starts out of the cell.

    In Jupyter, fd 2 is forwarded into the cell, and Ray prints a log-level line there at
    start-up. Python-level errors still arrive as exceptions.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _WarningsAndAbove(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def quiet_serve_driver_log() -> None:
    """A test run's driver keeps Ray Serve's INFO lines ("Started Serve in namespace", "Application ... is ready")
    out of its cells, as RAY_DATA_LOG_LEVEL=ERROR does for Ray Data. Serve sets its driver logger up again, at INFO
    and with a stream to stderr, in serve.start and serve.run, and no setting reaches it (RAY_SERVE_LOG_TO_STDERR is
    for the replicas' logs); a filter on the logger itself stays. A learner sees the lines (idempotent)."""
    logger = logging.getLogger("ray.serve")
    if not any(isinstance(f, _WarningsAndAbove) for f in logger.filters):
        logger.addFilter(_WarningsAndAbove())
