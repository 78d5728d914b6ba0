"""Grading, the limits on a graded notebook: the output kept (:func:`_capped_client`), the memory its processes
hold together (:class:`MemoryWatch`), and its processes found by their mark and killed (:func:`kill_marked`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal

from . import in_kernel
from .plan import _short

# What a graded notebook keeps of its outputs (characters of text, all cells together); beyond it, a note.
OUTPUT_LIMIT = 1_000_000


JUDGE_OUTPUT_LIMIT = 64_000  # what the grader's own check requests keep besides their observations


# In every process of a graded notebook: how the grader finds them all (not a RAYCOURSE_ setting: it must not travel
# to Ray's workers).
GRADE_MARK_ENV = "_RAYCOURSE_GRADED_RUN"


def _capped_client(nb, limit: int, **kwargs):
    """An nbclient that keeps ``limit`` characters of the notebook's outputs, every kind counted (streams, displays,
    results, errors); beyond it, the rest is dropped (counted in ``dropped``), but for one error per cell, cut to
    its name and value: how the grader knows that the cell raised."""
    from nbclient import NotebookClient

    class Capped(NotebookClient):
        kept = 0
        dropped = 0
        judging = False  # a request of the grader's: its verdict lines always, the rest up to JUDGE_OUTPUT_LIMIT

        def _room(self) -> int:
            return max(0, (JUDGE_OUTPUT_LIMIT - self.judged) if self.judging else limit - self.kept)

        def _take(self, size: int) -> None:
            if self.judging:
                self.judged += size
            else:
                self.kept += size

        def output(self, outs, msg, display_id, cell_index):
            content = msg.get("content", {})
            kind = msg.get("msg_type")
            if kind == "stream":
                text = content.get("text", "")
                keep = ""
                if self.judging:  # the verdict lines pass whatever their size (the grader reads them)
                    keep = "".join(l for l in text.splitlines(True) if l.startswith(in_kernel.MARK))
                    text = "".join(l for l in text.splitlines(True) if not l.startswith(in_kernel.MARK))
                room = self._room()
                self._take(min(len(text), room))
                self.dropped += max(0, len(text) - room)
                content["text"] = text[:room] + keep
                if not content["text"]:
                    return None
            else:
                if kind == "error":  # cut to size first
                    evalue = content.get("evalue", "")
                    content["evalue"] = _short(evalue, 2000) if len(evalue) > 2000 else evalue
                    content["traceback"] = [line[:2000] for line in content.get("traceback", [])[-30:]]
                size = len(json.dumps(content, default=str))
                if size > self._room():
                    self.dropped += size
                    if kind != "error" or cell_index in self.errored:
                        return None
                    content["evalue"] = _short(content["evalue"], 200)
                    content["traceback"] = []
                    size = len(json.dumps(content, default=str))
                if kind == "error":
                    self.errored.add(cell_index)
                self._take(size)
            return super().output(outs, msg, display_id, cell_index)

    client = Capped(nb, **kwargs)
    client.judged = 0
    client.errored = set()  # the cells with an error kept
    return client


def _processes_marked(mark: str) -> list:
    """This user's processes whose environment holds ``GRADE_MARK_ENV=mark`` (a graded notebook's, wherever they
    went: ``setsid``, double forks)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if (
                proc.pid != os.getpid()
                and proc.status() != psutil.STATUS_ZOMBIE
                and proc.environ().get(GRADE_MARK_ENV) == mark
            ):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def default_memory() -> float:
    """The memory limit per graded notebook, in GiB, when none is given: half of this machine's memory (the grader,
    the system and whatever else runs here keep the other half)."""
    import psutil

    return round(psutil.virtual_memory().total / 2**30 / 2, 1)


class MemoryWatch:
    """Watches the memory of a graded notebook's processes and kills them all when they use more than ``limit``
    GiB together: a thread that looks every ``interval`` seconds.

    Its processes: those of ``roots()`` (the kernel's launcher; the Ray the grader started for it) with everything
    they started (in a sandbox, every process of its PID namespace: its Ray's workers included), and, outside a
    sandbox, every process with the notebook's ``mark`` (a ``setsid`` one included). What counts is each
    process's private resident memory (resident less shared: not the libraries and weights mapped from files,
    which the page cache holds once for all), plus ``files()``: the bytes of a sandbox's own memory (its /tmp and
    /dev/shm, Ray's object store there).
    ``peak``: the most they held together at one look; ``exceeded``: True once it killed them.
    """

    def __init__(self, limit: float, roots, mark: str | None = None, interval: float = 0.5, files=None):
        import threading

        self.limit, self.roots, self.mark, self.interval = limit, roots, mark, interval
        self.files = files or (lambda: 0)  # bytes its processes hold in memory as files (a sandbox's tmpfs)
        self.peak, self.exceeded = 0, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="raycourse-memory-watch", daemon=True)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def processes(self) -> list:
        import psutil

        found = {}
        for root in self.roots():
            with contextlib.suppress(psutil.Error):
                for proc in [root, *root.children(recursive=True)]:
                    found[proc.pid] = proc
        if self.mark:
            for proc in _processes_marked(self.mark):
                found.setdefault(proc.pid, proc)
        found.pop(os.getpid(), None)  # never the grader's own process
        return list(found.values())

    @staticmethod
    def private(proc) -> int:
        """``proc``'s private resident memory in bytes (0 once it is gone)."""
        import psutil

        try:
            info = proc.memory_info()
        except (psutil.Error, OSError):
            return 0
        return max(0, info.rss - getattr(info, "shared", 0))

    def _watch(self) -> None:
        import psutil

        while not self._stop.wait(self.interval):
            procs = self.processes()
            used = sum(self.private(p) for p in procs) + self.files()
            self.peak = max(self.peak, used)
            if used > self.limit * 2**30:
                self.exceeded = True
                for proc in procs:
                    with contextlib.suppress(psutil.Error):
                        proc.send_signal(signal.SIGKILL)
                return


def kill_marked(mark: str, grace: float = 0.0) -> int:
    """Kill every process of a graded notebook (:func:`_processes_marked`) still there after ``grace`` seconds; return
    how many there were. ``grace``: a sandbox's processes are killed by the system when its kernel ends, and on a busy
    machine some are still exiting when the grader looks: those are not leftovers."""
    import psutil

    procs = _processes_marked(mark)
    if procs and grace:
        _, procs = psutil.wait_procs(procs, timeout=grace)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    return len(procs)
