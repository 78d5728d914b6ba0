"""Grade lab notebooks: a learner's score (``python -m raycourse grade``) and a class report (``grade-class``).

Grading runs a *copy* of a lab notebook from the top in a fresh kernel (nbclient), the way
*Kernel > Restart Kernel and Run All Cells* would. The verdicts are the grader's own: the notebook's
cells run as they are, except its check cells (``check.exercise_2(photos)``), which the grader runs
itself, in an execute request of its own (:mod:`raycourse._judge`): the course's checks compiled from
the sources the grader read before any notebook ran, their verdicts read back from that request's
output only, signed with a secret made for that request. Nothing the notebook records, prints or
patches becomes a verdict. A cell that does more than check (a check call among other code) runs as it
is, then the grader repeats its checks the same way. The file itself is never written, and neither are
the learner's outputs: the copy runs in a temporary folder.

* A cell that raises stops nothing: the next cells still run (``allow_errors``). An exercise whose
  check cell raised (``NameError: name 'photos' is not defined`` when the exercise cell failed before
  assigning it) is reported as ``💥 ... could not be checked`` with that error, and every verdict
  carries the first error its own cells raised (``Error: ...``).
* Each notebook has a time limit (:data:`DEFAULT_TIMEOUT`, ``--timeout``); when it is reached the
  kernel is stopped and the exercises not checked by then say so. It has a memory limit too
  (:func:`default_memory`, ``--memory``), on its processes together (:class:`MemoryWatch`): the kernel,
  whatever it started and the Ray of its own; beyond it, the same. Its outputs are kept up to
  :data:`OUTPUT_LIMIT` characters (a note says the rest was dropped).
* Which lab a notebook is comes from its content (``from raycourse.checks import lab03 as check``),
  not its file name, and the list of exercises from that lab's checks module, so an exercise whose
  check cell was deleted or never reached is reported too.

Each notebook is kept from the others and from the grader's machine (see docs/instructor.md, "What
grading protects"): where Linux namespaces are available (:mod:`raycourse.sandbox`) its kernel runs
with every file system read-only but its scratch folder, no network, and a process tree that ends with
it; it starts a Ray of its own inside, gone with it. Elsewhere (macOS) it runs without that sandbox,
with a warning, on a Ray the grader starts for it alone and stops after it, and its processes are found
by a mark in their environment and killed. With ``RAY_ADDRESS`` set, every notebook joins that Ray (the
network stays on, its files writable: trusted notebooks only). The kernel gets a minimal environment: the
grader's variables of an allow list (:func:`minimal_env`), with a temporary ``HOME``, plus the test run's
quiet, offline settings (:data:`raycourse.runtime.TEST_ENV`), and imports the course package from a read-only
copy taken before the first notebook (:func:`raycourse.sandbox.package_copy`).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import _judge, config, runtime, sandbox
from .checks import MARKS, STRETCH, Lab, Verdict, is_stretch

DEFAULT_TIMEOUT = 600  # seconds per notebook; the slowest solved lab takes about 110 s on 2 cores
# What the graded kernels get on top of the caller's environment: the tests' settings, without the
# profile (the learner's profile is kept).
GRADE_ENV = {k: v for k, v in runtime.TEST_ENV.items() if k != config.PROFILE_ENV}

# `from raycourse.checks import lab03 as check` (or `import raycourse.checks.lab03 as check`)
_IMPORTS = (
    re.compile(
        r"^\s*from\s+raycourse\.checks\s+import\s+(?P<module>(?:lab|lesson)\d+)(?:\s+as\s+(?P<alias>\w+))?", re.M
    ),
    re.compile(r"^\s*import\s+raycourse\.checks\.(?P<module>(?:lab|lesson)\d+)\s+as\s+(?P<alias>\w+)", re.M),
)
# What a graded notebook keeps of its outputs (characters of text, all cells together); beyond it, a note.
OUTPUT_LIMIT = 1_000_000
JUDGE_OUTPUT_LIMIT = 64_000  # what the grader's own check requests keep besides their verdicts
# The environment a graded kernel gets from the grader's: these variables only (an allow list: whatever else the
# grader's environment holds, a database URL, a proxy with its password, a token of any name, stays out), those
# that begin with ALLOWED_PREFIXES, less any whose name looks like a secret (Ray's own RAY_* settings aside: the
# token of a Ray the kernel is told to join).
ALLOWED_ENV = frozenset(
    "PATH LANG LANGUAGE TZ TERM USER LOGNAME HOME TMPDIR VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV LD_LIBRARY_PATH "
    "CUDA_HOME CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES OMP_NUM_THREADS MKL_NUM_THREADS OPENBLAS_NUM_THREADS "
    "XDG_CACHE_HOME HF_HOME HF_HUB_CACHE TORCH_HOME MPLBACKEND PYTHONHASHSEED PYTHONUNBUFFERED PYTHONIOENCODING "
    "PYTHONWARNINGS COVERAGE_PROCESS_START".split()
)
ALLOWED_PREFIXES = ("LC_", "RAY_", "RAYCOURSE_")
SECRET_NAMES = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|DSN|PAT\b", re.I)
# In every process of a graded notebook: how the grader finds them all (not a RAYCOURSE_ setting: it must not travel
# to Ray's workers).
GRADE_MARK_ENV = "_RAYCOURSE_GRADED_RUN"
# Code in a notebook that reaches for the grading machinery (the record of verdicts, the checks' modules, the
# interpreter's hooks): never needed to solve a lab; the grade notes it, for the instructor to read.
SUSPICIOUS = re.compile(
    r"\b_core\b|_RESULTS|results_json|\bsys\.modules\b|\bbuiltins\b|__builtins__|"
    r"\.events\.register|input_transformers|addaudithook|settrace|setprofile|<<raycourse|"
    r"raycourse\._judge|\bsys\.stdout\s*="
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class CellError:
    """An error one cell of the graded copy raised."""

    index: int  # position of the cell in the notebook (0-based, markdown cells included)
    ename: str
    evalue: str
    line: str  # the line of the cell that raised (or its first line of code)

    def __str__(self) -> str:
        return f"`{_short(self.line, 60)}` raised {self.ename}: {_short(self.evalue, 200)}"


@dataclass
class Grade:
    """The grading of one notebook: one verdict per exercise of its lab, or why it could not be graded."""

    path: Path
    module: str | None = None  # "raycourse.checks.lab03"
    verdicts: list[Verdict] = field(default_factory=list)
    reason: str = ""  # set when the notebook could not be graded at all
    errors: list[CellError] = field(default_factory=list)  # every cell that raised, in order
    stderr: list[tuple[int, str]] = field(default_factory=list)  # (cell index, text) of cells that wrote to stderr
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    out_of_memory: bool = False  # its processes used more than the grader's memory limit: it was stopped
    memory_peak: int = 0  # the most memory its processes held together, in bytes, as the grader saw it (MemoryWatch)
    notebook: object = None  # the executed copy (nbformat), for whoever wants to look at its outputs

    @property
    def graded(self) -> bool:
        return not self.reason

    @property
    def label(self) -> str:
        return Lab(self.module).label if self.module else "?"

    @property
    def lab(self) -> str | None:
        """ "lab03" (the checks module's name)."""
        return self.module.rsplit(".", 1)[-1] if self.module else None

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.verdicts)

    def total_line(self) -> str:
        return Lab(self.module or "?").total_line(self.verdicts)

    def report(self) -> str:
        """What ``python -m raycourse grade`` prints for this notebook (after its first line)."""
        if not self.graded:
            return f"not graded: {self.reason}"
        lines = [str(v) for v in self.verdicts]
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(self.total_line())
        return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Reading a notebook ---------------------------------------------------------------------------------


def read_notebook(path: Path):
    """``(notebook, "")``, or ``(None, reason)`` for a file that is not a readable notebook."""
    import nbformat

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read the file ({exc.strerror or exc})"
    if not raw.strip():
        return None, "the file is empty (0 bytes)" if not raw else "the file is empty (only whitespace)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: the file is not text (not UTF-8)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        what = re.sub(r"\s+(starting )?at$", "", exc.msg)  # "Unterminated string starting at" (a position)
        return None, f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {what})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "not a notebook: the JSON has no list of cells"
    try:
        with _quiet_nbformat():
            nb = nbformat.reads(text, as_version=4)
            _cell_ids_valid(nb)
            nbformat.validate(nb)
    except Exception as exc:  # nbformat's ValidationError and conversion errors
        return None, f"not a valid notebook: {_short(getattr(exc, 'message', exc), 200)}"
    return nb, ""


def _cell_ids_valid(nb) -> None:
    """A format 4.4 notebook whose cells have ids (Jupyter opens it; some tools write it) becomes 4.5, the format that
    has them, every cell with an id: nbformat would refuse it ("'id' was unexpected")."""
    import uuid

    if nb.get("nbformat") == 4 and nb.get("nbformat_minor", 0) < 5 and any("id" in c for c in nb.cells):
        nb.nbformat_minor = 5
        for cell in nb.cells:
            if not cell.get("id"):
                cell.id = uuid.uuid4().hex[:8]


@contextlib.contextmanager
def _quiet_nbformat():
    """nbformat logs invalid notebooks to stderr as well as raising; the reason is reported instead."""
    import logging

    log = logging.getLogger("traitlets")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def imported_checks(nb) -> tuple[str, str] | None:
    """The checks module and its name in the notebook (``("raycourse.checks.lab03", "check")``), if any."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for pattern in _IMPORTS:
            match = pattern.search(cell.source)
            if match:
                module = match.group("module")
                return f"raycourse.checks.{module}", match.group("alias") or module
    return None


def check_calls(source: str, alias: str, names: dict[str, str]) -> list[str]:
    """The exercise titles a cell's source checks (``check.exercise_2(photos)`` -> ``["Exercise 2"]``)."""
    found = []
    for attribute in re.findall(rf"(?<![\w.]){re.escape(alias)}\.(\w+)\s*\(", source):
        title = names.get(attribute)
        if title and title not in found:
            found.append(title)
    return found


def _error_line(cell, traceback: list[str]) -> str:
    """The line of ``cell`` that raised, from IPython's traceback ("Cell In[3], line 2"), else its first code line."""
    lines = cell.source.splitlines()
    for frame in traceback:
        match = re.search(r"Cell In\[\d*\], line (\d+)", _ANSI.sub("", frame))
        if match and 0 < int(match.group(1)) <= len(lines):
            return lines[int(match.group(1)) - 1].strip()
    code = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
    return code[0] if code else cell.source.strip()[:60]


def inspect_notebook(path: Path | str) -> tuple[Grade, object, str]:
    """Read a notebook and find its lab, running nothing: ``(grade, notebook, alias)``.

    ``notebook`` is None when it cannot be graded, and ``grade.reason`` says why.
    """
    path = Path(path)
    grade = Grade(path)
    if not path.is_file():
        grade.reason = "no such file" if not path.exists() else "not a file"
        return grade, None, ""
    nb, grade.reason = read_notebook(path)
    if nb is None:
        return grade, None, ""
    found = imported_checks(nb)
    if found is None:
        grade.reason = (
            "not a lab notebook: it never imports a lab's checks (`from raycourse.checks import labNN as check`)"
        )
        return grade, None, ""
    grade.module, alias = found
    try:
        exercises = Lab.of(grade.module).exercises
    except ImportError:
        grade.reason = f"it imports raycourse.checks.{grade.lab}, which the course does not have"
        grade.module = None
        return grade, None, ""
    if not exercises:
        grade.reason = f"raycourse.checks.{grade.lab} has no exercises"
        return grade, None, ""
    return grade, nb, alias


# Running a notebook --------------------------------------------------------------------------------


def _kernel_manager(kernel_name: str = "python3", wrap=None, ipc: Path | None = None):
    """A kernel manager for a Python kernel of *this* environment (the learner's), whatever kernels are installed.

    ``wrap``: turns the kernel's command into the one that starts it (a sandbox); ``ipc``: the kernel talks over
    Unix sockets at this path's prefix, not TCP (a kernel without network).
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, name):
            import ipykernel.kernelspec

            spec = ipykernel.kernelspec.get_kernel_dict()
            if wrap is not None:
                spec = dict(spec, argv=wrap(list(spec["argv"])))
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    from raycourse.cluster import kernel_encryption_policy

    tcp = {"transport_encryption": kernel_encryption_policy()}  # Unix sockets: in a 0700 folder of the grader
    # With ipc, its connection file beside its sockets: a sandbox's kernel sees neither the grader's /tmp nor its
    # runtime folder.
    extra = {"transport": "ipc", "ip": str(ipc), "connection_file": f"{ipc}.json"} if ipc is not None else tcp
    return AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=ThisPython(), **extra)


# Folders a graded kernel reads, named in its environment: shown in its sandbox even where the host's /tmp is hidden.
_READ = ("XDG_CACHE_HOME", "RAYCOURSE_CACHE", "RAYCOURSE_DATA", "RAYCOURSE_GPU_DATA", "HF_HOME", "HF_HUB_CACHE")


def minimal_env(env: dict) -> dict:
    """``env`` reduced to what a graded kernel needs: :data:`ALLOWED_ENV` and :data:`ALLOWED_PREFIXES`, less names
    that look like a secret (:data:`SECRET_NAMES`; Ray's ``RAY_*`` settings aside)."""
    return {
        k: v
        for k, v in env.items()
        if (k in ALLOWED_ENV or k.startswith(ALLOWED_PREFIXES)) and (k.startswith("RAY_") or not SECRET_NAMES.search(k))
    }


def checks_sources() -> dict[str, str]:
    """The source of every module of ``raycourse.checks``, by module name, as the grader reads them now."""
    from . import checks

    folder = Path(checks.__file__).parent
    return {
        ("raycourse.checks" if p.stem == "__init__" else f"raycourse.checks.{p.stem}"): p.read_text("utf-8")
        for p in sorted(folder.glob("*.py"))
    }


JUDGE_SOURCE = Path(_judge.__file__).read_text("utf-8")


def plan_cell(source: str, alias: str, names: dict[str, str]) -> tuple[bool, list]:
    """``(only_checks, calls)`` of a cell: the check calls in it (``[attribute, [args], [[keyword, arg]], line]``,
    in order), and whether the cell is nothing but such calls (a check cell the grader runs in its place)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        tree = ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # a syntax error: the cell raises when it runs, and its checks are reported with that error
        return False, []
    lines = source.splitlines()

    def is_check(node) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == alias
            and node.func.attr in names
            and not any(isinstance(a, ast.Starred) for a in node.args)
            and all(k.arg for k in node.keywords)
        )

    found = sorted((n for n in ast.walk(tree) if is_check(n)), key=lambda n: (n.lineno, n.col_offset))
    calls = [
        [
            n.func.attr,
            [ast.unparse(a) for a in n.args],
            [[k.arg, ast.unparse(k.value)] for k in n.keywords],
            lines[n.lineno - 1].strip() if 0 < n.lineno <= len(lines) else "",
        ]
        for n in found
    ]
    only = bool(tree.body) and all(isinstance(s, ast.Expr) and is_check(s.value) for s in tree.body)
    return only, calls


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
                    keep = "".join(l for l in text.splitlines(True) if l.startswith(_judge.MARK))
                    text = "".join(l for l in text.splitlines(True) if not l.startswith(_judge.MARK))
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


def kill_marked(mark: str) -> int:
    """Kill every process of a graded notebook (:func:`_processes_marked`); return how many there were."""
    import psutil

    procs = _processes_marked(mark)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    return len(procs)


class Grader:
    """Grades notebooks one after the other, each kept from the others; use it as a context manager.

    ``env`` is the environment the kernels start from (default: this process's), less its secrets
    (:func:`minimal_env`). Ray: the one in ``RAY_ADDRESS`` if set; else each notebook gets a Ray of its
    own (started in its sandbox by the notebook, or without a sandbox by the grader) that ends with it.
    ``sandbox``: None to use one where this machine allows it, False never (a warning says what is lost).
    ``output_limit``: the characters of output kept per notebook; ``memory``: the GiB its processes may use
    together (default: :func:`default_memory`).
    """

    def __init__(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        env: dict | None = None,
        *,
        sandbox: bool | None = None,
        output_limit: int = OUTPUT_LIMIT,
        memory: float | None = None,
        echo=None,
    ):
        self.timeout = timeout
        self.memory = default_memory() if memory is None else memory
        if not self.memory > 0:
            raise ValueError(f"memory limit of {memory} GiB: give a number of GiB above 0 (for example 8)")
        base = dict(os.environ if env is None else env)
        self.env = minimal_env(base)
        self.env.update(GRADE_ENV)
        # Caches a temporary HOME must not hide: the stand-in models, the Hugging Face cache (read-only in the sandbox).
        home = Path(base.get("HOME") or Path.home()).expanduser()
        self._pinned = {
            "XDG_CACHE_HOME": base.get("XDG_CACHE_HOME") or str(home / ".cache"),
            "RAYCOURSE_CACHE": base.get("RAYCOURSE_CACHE") or str(home / ".cache" / "raycourse"),
        }
        self.output_limit = output_limit
        self._want_sandbox = sandbox
        self.sandboxed = False
        self.warning = ""
        self._echo = echo if echo is not None else (lambda text: print(text, file=sys.stderr, flush=True))
        self._sources = checks_sources()  # read before any notebook runs: what the verdicts are judged with
        self._ready = False
        self._cleanup: list[Path] = []

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for path in self._cleanup:
            sandbox.remove(path)
        self._cleanup = []

    def _prepare(self) -> None:
        """Once, at the first notebook: moves outputs aside, chooses the profile and whether there is a sandbox."""
        if self._ready:
            return
        from .outputs import OUTPUTS_ENV

        if self.env.get(OUTPUTS_ENV, "").strip():  # shared storage (a cluster): a fresh folder of its own there
            base = Path(self.env[OUTPUTS_ENV]).expanduser()
            base.mkdir(parents=True, exist_ok=True)
            aside = Path(tempfile.mkdtemp(prefix=".raycourse-grade-", dir=base))
            self._cleanup.append(aside)
            self.env[OUTPUTS_ENV] = str(aside)
        # The course package the kernels import: a read-only copy taken now, before the first notebook runs.
        package = Path(tempfile.mkdtemp(prefix="rcg-package-"))
        self._cleanup.append(package)
        self.env["PYTHONPATH"] = str(sandbox.package_copy(package))
        if not self.env.get("RAY_ADDRESS"):
            # The notebooks get the profile chosen here, as under `make lab`: a local Ray has logical GPUs in tiny,
            # which must not make a notebook pick the gpu profile.
            with _environ(self.env):
                self.env[config.PROFILE_ENV] = config.profile()
        if self.env.get("RAY_ADDRESS"):  # Ray takes no driver from another PID namespace
            why = (
                f"they join the Ray in RAY_ADDRESS, {self.env['RAY_ADDRESS']}, which takes no kernel from a sandbox "
                "and runs their tasks outside one"
            )
        else:
            why = "you asked for none" if self._want_sandbox is False else sandbox.unavailable()
        self.sandboxed = not why
        if why:
            self.warning = (
                f"Warning: no sandbox for the graded notebooks ({why}): each runs as you, with your files "
                "writable and the network reachable; its processes are still ended with it. Grade only "
                "notebooks you would run yourself."
            )
            self._echo(self.warning)
        self._ready = True

    def _notebook_env(self, work: Path, mark: str) -> dict:
        env = dict(self.env)
        env[GRADE_MARK_ENV] = mark
        if not env.get("RAY_ADDRESS"):  # a Ray of its own: a HOME and temporary folder of its own too
            for key, value in self._pinned.items():
                env[key] = value
            (work / "home").mkdir()
            (work / "tmp").mkdir()
            env.update(HOME=str(work / "home"), TMPDIR=str(work / "tmp"), RAY_TMPDIR=str(work / "tmp"))
            # its Ray's token is its own, made in that HOME: not the caller's (a file the sandbox cannot write)
            for key in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
                env.pop(key, None)
        return env

    def grade(self, path: Path | str) -> Grade:
        """Grade one notebook (a copy of it; the file is only read)."""
        grade, nb, alias = inspect_notebook(path)
        if nb is None:
            return grade
        lab = Lab.of(grade.module)
        self._run(nb, grade, alias, lab.calls, lab.titles)
        return grade

    def _run(self, nb, grade: Grade, alias: str, names: dict, titles: list) -> None:
        self._prepare()
        started = time.monotonic()  # the time limit counts from here: a Ray of the grader's is part of it
        # A short path: Ray's Unix sockets live under it, and Linux allows them 107 characters.
        work = Path(tempfile.mkdtemp(prefix="rcg-"))
        folder = work / (re.sub(r"[^\w.-]", "_", grade.path.resolve().parent.name) or "notebook")
        folder.mkdir()
        mark = secrets.token_hex(8)
        env = self._notebook_env(work, mark)
        ray = None
        try:
            if not env.get("RAY_ADDRESS") and not self.sandboxed:  # no sandbox: a Ray of the grader's, for it alone
                from . import cluster

                ray_env = {k: v for k, v in env.items() if k != GRADE_MARK_ENV}  # Ray's processes are not its
                with _environ(ray_env):
                    ray = cluster.start(dashboard=False, temp_dir=str(work / "tmp" / "ray"), base_env=ray_env)
                env.update(ray.client_env())
            self._execute(nb, grade, alias, names, titles, env, work, folder, started, ray)
        finally:
            if ray is not None:
                ray.stop()
            killed = kill_marked(mark)  # whatever outlived the kernel (a sandbox leaves nothing: counted anyway)
            if killed:
                grade.notes.append(f"{killed} process(es) it started outlived its kernel: the grader killed them.")
            grade.seconds = time.monotonic() - started
            shutil.rmtree(work, ignore_errors=True)

    def _execute(self, nb, grade, alias, names, titles, env, work, folder, started, ray=None) -> None:
        import psutil
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        deadline = started + self.timeout
        # A sandbox starts its Ray before the kernel: that counts as the kernel's start, and on a busy machine
        # takes longer than nbclient's 60 s.
        client = _capped_client(
            nb,
            self.output_limit,
            timeout=int(self.timeout),
            allow_errors=True,
            startup_timeout=max(60, int(self.timeout)),
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        )
        if self.sandboxed:
            writable = [str(work)] + [env[k] for k in ("RAYCOURSE_OUTPUTS",) if env.get(k, "").strip()]
            # What the notebook writes (its HOME, temporary and working folders, /tmp, /dev/shm) is in the sandbox's
            # memory, counted in its limit and gone with it; the kernel's sockets to the grader stay in `work`.
            private = [env["HOME"], env["TMPDIR"], str(folder)]
            os.mkfifo(work / "grader")  # held open by the grader: when it dies, the sandbox ends
            fifo = os.open(work / "grader", os.O_RDWR)
            client.km = _kernel_manager(
                wrap=lambda argv: sandbox.command(
                    argv,
                    writable,
                    ray=True,
                    watch=str(work / "grader"),
                    private=private,
                    readable=[self.env["PYTHONPATH"], *(env[k] for k in _READ if env.get(k, "").strip())],
                    size=int(self.memory * 2**30),
                ),
                ipc=work / "kernel",
            )
        else:
            client.km = _kernel_manager()
        plans, checked_in, notes = plan_notebook(nb, alias, names)
        grade.notes.extend(notes)
        book = Explanation(titles, names, alias, checked_in)
        stopped = ""
        kernel_log = (work / "kernel.log").open("w")  # the kernel's own messages, not the cells' (those are outputs)

        def roots():  # the kernel's launcher (in a sandbox, `unshare`: the whole namespace below it) and its Ray
            pids = [getattr(client.km.provisioner, "pid", None), ray.process.pid if ray is not None else None]
            found = []
            for pid in pids:
                if pid is not None:  # psutil.Process(None) would be the grader itself
                    with contextlib.suppress(psutil.Error):
                        found.append(psutil.Process(pid))
            return found

        def in_files():  # the sandbox's private memory: files in its /tmp, /dev/shm, HOME, ...
            pid = getattr(client.km.provisioner, "pid", None)
            return sandbox.private_bytes(pid) if self.sandboxed and pid is not None else 0

        watch = MemoryWatch(
            self.memory, roots, mark=None if self.sandboxed else env.get(GRADE_MARK_ENV), files=in_files
        )
        try:
            with client.setup_kernel(env=env, stderr=kernel_log), watch:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        stopped = "time"
                        break
                    client.timeout = max(1, int(remaining + 0.999))
                    only_checks, calls = plans[index]
                    try:
                        if only_checks:  # the grader runs its checks in its place
                            judged = self._judge(client, nb, index, calls, grade.module, in_place=True)
                        else:
                            client.execute_cell(cell, index)
                            judged = None
                    except CellTimeoutError:
                        stopped = "time"
                        break
                    except DeadKernelError:
                        stopped = "died"
                        break
                    error = self._collect(cell, index, grade)
                    if judged is None and calls and error is None:  # a cell that checks among other code
                        remaining = deadline - time.monotonic()
                        client.timeout = max(1, int(remaining + 0.999))
                        try:
                            judged = self._judge(client, nb, index, calls, grade.module, in_place=False)
                        except CellTimeoutError:
                            stopped = "time"
                            break
                        except DeadKernelError:
                            stopped = "died"
                            break
                    book.cell_ran(cell.source, judged, calls, error, grade.errors, in_place=only_checks)
        except DeadKernelError:
            stopped = "died"
        except Exception as exc:  # the kernel did not start, or nbclient failed: say so, stop nothing else
            if not grade.errors and not book.final and not watch.exceeded:
                kernel_log.flush()
                said = [l for l in (work / "kernel.log").read_text(errors="replace").splitlines() if l.strip()][-3:]
                grade.reason = f"the notebook could not be run: {exc.__class__.__name__}: {_short(exc, 200)}" + (
                    f" (the kernel said: {_short(' / '.join(said), 600)})" if said else ""
                )
                return
            grade.notes.append(f"grading stopped early: {exc.__class__.__name__}: {_short(exc, 200)}")
            stopped = "failed"
        finally:
            kernel_log.close()
            if self.sandboxed:
                os.close(fifo)
        grade.memory_peak = watch.peak
        if watch.exceeded and stopped in ("died", "failed", ""):
            stopped = "memory"
            grade.notes = [n for n in grade.notes if not n.startswith("grading stopped early")]
        if client.dropped:
            grade.notes.append(
                f"output truncated: the notebook printed more than {self.output_limit:,} characters; "
                f"the grader kept the first ones and dropped {client.dropped:,}."
            )
        grade.timed_out = stopped == "time"
        grade.out_of_memory = stopped == "memory"
        grade.verdicts, notes = book.finish(grade.errors, stopped, self.timeout, self.memory)
        grade.notes.extend(notes)
        grade.notebook = nb

    def _judge(self, client, nb, index: int, calls: list, module: str, *, in_place: bool):
        """Run ``calls`` (of cell ``index``) with the course's checks in a request of the grader's own; the results
        (:mod:`raycourse._judge`), or None when no signed answer came back. ``in_place``: the request stands for
        the cell (its outputs, less the verdict line, become the cell's)."""
        import nbformat

        secret = secrets.token_hex(32)
        sources = {name: self._sources[name] for name in Lab(module).modules}
        code = (
            f"(lambda b, g: b.exec(b.compile({JUDGE_SOURCE + chr(10) + '_judge(*_args)'!r}, "
            f"'<raycourse grader>', 'exec'), {{'__name__': 'raycourse_grader', '__builtins__': b, "
            f"'_args': ({secret!r}, {module!r}, {sources!r}, {calls!r}, g)}}))"
            f"(__import__('builtins'), globals())"
        )
        request = nbformat.v4.new_code_cell(code)
        nb.cells.append(request)
        client.judging, client.judged = True, 0
        try:
            client.execute_cell(request, len(nb.cells) - 1, store_history=in_place)
        finally:
            client.judging = False
            nb.cells.pop()
        signed, streams, outputs = [], {}, []
        for out in request.outputs:
            if out.get("output_type") == "stream":  # one text per stream: a line may come in pieces
                streams[out.get("name", "stdout")] = streams.get(out.get("name", "stdout"), "") + out.get("text", "")
            elif out.get("output_type") != "error" or not in_place:  # the request's own traceback means nothing
                outputs.append(out)
        for name, text in streams.items():
            kept = []
            for line in text.splitlines(True):
                if line.startswith(_judge.MARK):
                    body = line[len(_judge.MARK) :].rstrip("\n")
                    mac, payload = body[:64], body[64:]
                    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
                    if hmac.compare_digest(mac, expected):
                        signed.append(payload)
                elif line.strip():  # the request writes its lines each after a newline of its own
                    kept.append(line)
            if kept:
                outputs.insert(0, nbformat.v4.new_output("stream", name=name, text="".join(kept)))
        if in_place:
            nb.cells[index].outputs = outputs
            nb.cells[index].execution_count = request.get("execution_count")
        results = json.loads(signed[0]) if len(signed) == 1 else None
        if in_place and results:
            for result in results:  # what the check cell raised, as it would show it
                if "raised" in result:
                    ename, evalue, _ = result["raised"]
                    nb.cells[index].outputs.append(
                        nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
                    )
        return results

    @staticmethod
    def _collect(cell, index: int, grade: Grade) -> CellError | None:
        """Note the cell's error and stderr in ``grade``; return its error, if it raised."""
        error = None
        stderr = "".join(
            o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        if stderr.strip():
            grade.stderr.append((index, stderr))
        for out in cell.outputs:
            if out.get("output_type") == "error" and error is None:
                error = CellError(
                    index, out.get("ename", "Error"), out.get("evalue", ""), _error_line(cell, out.get("traceback", []))
                )
                grade.errors.append(error)
        return error


# Which verdict each exercise gets, and which error explains it (pure: no kernel) -------------------------


def plan_notebook(nb, alias: str, names: dict[str, str]) -> tuple[dict, dict[str, int], list[str]]:
    """What the grader knows before it runs anything: ``(plans, checked_in, notes)``: the :func:`plan_cell` of
    each code cell by index, the index of the last cell that checks each exercise, and a note for each cell that
    reaches into the grading machinery."""
    plans, checked_in, notes = {}, {}, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            titles = check_calls(cell.source, alias, names)
            for title in titles:
                checked_in[title] = index
            plans[index] = plan_cell(cell.source, alias, names) if titles else (False, [])
            what = sorted(set(SUSPICIOUS.findall(cell.source)))
            if what:
                notes.append(
                    f"cell {index} reaches into the grading machinery ({', '.join(what)}): "
                    "it cannot change a verdict, but read it."
                )
    return plans, checked_in, notes


def request_verdicts(judged, calls: list, names: dict, error: CellError | None, *, in_place: bool) -> dict:
    """The verdicts of a cell's check calls from the grader's request (title -> Verdict)."""
    if not calls or (judged is None and not in_place and error is not None):
        return {}
    titles = [names[c[0]] for c in calls]
    if judged is None:
        return {
            t: Verdict(
                t,
                "error",
                "the grader got no verdict back from the kernel: the notebook's code "
                "interfered with its output (sys.stdout?) or the kernel itself.",
                "Run the notebook from the top and look at what its cells change outside your exercises.",
            )
            for t in titles
        }
    new = {}
    for result in judged:
        if "verdict" in result:
            new[names[result["attribute"]]] = Verdict(**result["verdict"])
        elif "raised" in result and not in_place:
            ename, evalue, line = result["raised"]
            title = names[result["attribute"]]
            new[title] = Verdict(
                title,
                "error",
                f"the grader could not repeat its check `{_short(line, 60)}`: {ename}: {_short(evalue, 200)}",
                "Put each check call in a cell of its own, as the lab has it.",
            )
        elif "failed" in result:
            for title in titles:
                new.setdefault(title, Verdict(title, "error", f"the grader's check failed: {result['failed']}"))
    return new


@dataclass
class Explanation:
    """The verdicts of a notebook's exercises, built cell by cell from what each cell did, and the error that
    explains each one: the first error of the cells since the previous check (a verdict's ``cause``). Pure: the
    kernel loop (:meth:`Grader._execute`) feeds it; its unit tests feed it by hand."""

    titles: list[str]  # the lab's exercises, in order
    names: dict[str, str]  # exercise title by the attribute a check cell calls
    alias: str  # the checks module's name in the notebook ("check")
    checked_in: dict[str, int]  # the index of the last cell that checks each exercise
    final: dict[str, Verdict] = field(default_factory=dict)
    since_check: list[CellError] = field(default_factory=list)  # errors of the cells since the last check cell

    def cell_ran(
        self, source: str, judged, calls: list, error: CellError | None, errors: list[CellError], *, in_place: bool
    ) -> None:
        """A code cell ran: ``judged`` is what the grader's request brought back (None: none ran, or no signed
        answer), ``error`` the cell's own error (already in ``errors``, every error so far)."""
        titles = check_calls(source, self.alias, self.names)
        new = request_verdicts(judged, calls, self.names, error, in_place=in_place)
        cause = self.since_check[0] if self.since_check else None
        for title, verdict in new.items():
            self.final[title] = _with_cause(verdict, cause)
        if error is not None and titles:
            earlier = cause or (errors[0] if errors[0] is not error else None)
            for title in titles:
                if title not in new:
                    self.final[title] = Verdict(
                        title,
                        "error",
                        f"its check cell raised {error.ename}: {_short(error.evalue, 200)}",
                        "Run the notebook from the top (Kernel > Restart Kernel and Run All Cells) "
                        "and fix the first error.",
                        str(earlier) if earlier else "",
                    )
        if new or titles:
            self.since_check = []
        elif error is not None:
            self.since_check.append(error)

    def finish(
        self, errors: list[CellError], stopped: str, timeout: float, memory: float = 0.0
    ) -> tuple[list[Verdict], list[str]]:
        """``(verdicts, notes)`` once the run ended (``stopped``: "", "time", "memory", "died" or "failed"): one
        verdict per exercise, "not checked" and why for those no check cell decided (``memory``: the limit, GiB)."""
        why = {
            "time": f"the time limit ({timeout:g} s) was reached before its check ran.",
            "memory": f"its processes used more than {memory:g} GiB of memory (the limit) before its check ran.",
            "died": "the kernel died before its check ran (out of memory?).",
            "failed": "grading stopped before its check ran.",
        }
        final = dict(self.final)
        for title in self.titles:
            if title in final:
                continue
            if stopped:
                message = why[stopped]
            elif title not in self.checked_in:
                attr = next(a for a, t in self.names.items() if t == title)
                message = f"the notebook has no check cell for it (`{self.alias}.{attr}(...)`)."
            else:
                message = "its check cell ran but did not check it."
            final[title] = Verdict(title, "not checked", message)
        last_check = max(self.checked_in.values(), default=-1)
        notes = [f"a cell after the last check: {error}" for error in errors if error.index > last_check]
        if stopped == "time":
            notes.append(f"time limit of {timeout:g} s reached: the kernel was stopped.")
        elif stopped == "memory":
            notes.append(
                f"memory limit of {memory:g} GiB reached: the notebook's processes (its kernel, what it started and "
                "its Ray's) used more than that together; the grader stopped them, and the cells after it did not run."
            )
        elif stopped == "died":
            notes.append("the kernel died (out of memory?): the cells after it did not run.")
        return [final[title] for title in self.titles], notes


def _with_cause(verdict: Verdict, cause: CellError | None) -> Verdict:
    if cause is None:
        return verdict
    return Verdict(verdict.exercise, verdict.status, verdict.message, verdict.hint, str(cause))


@contextlib.contextmanager
def _environ(env: dict):
    """``os.environ`` is ``env`` inside (Ray's head node and the profile are read from it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def grade(path: Path | str, timeout: float = DEFAULT_TIMEOUT) -> Grade:
    """Grade one notebook (see :class:`Grader` to grade several)."""
    with Grader(timeout) as grader:
        return grader.grade(path)


# A class report ----------------------------------------------------------------------------------------

REPORT_NAMES = ("grades.csv", "grades.md")
SKIPPED_FOLDERS = {".ipynb_checkpoints", "outputs", "__pycache__"}
WORDS = {
    "passed": "passed",
    "not solved": "not solved",
    "wrong": "wrong",
    "error": "error",
    "not checked": "not checked",
    None: "missing",
}
MISSING_MARK = "—"
LEGEND = (
    "✅ passed · ⏳ not solved yet · ❌ not right yet · 💥 could not be checked (an error) · "
    "⬜ not checked · — not handed in (or not a readable lab notebook: see notes)"
)


@dataclass
class Learner:
    name: str
    grades: dict[str, Grade] = field(default_factory=dict)  # checks module -> the grade that counts
    notes: list[str] = field(default_factory=list)


@dataclass
class ClassReport:
    folder: Path
    learners: list[Learner]
    exercises: list[tuple[str, str]]  # (checks module, exercise title), the table's columns in order
    timeout: float = DEFAULT_TIMEOUT

    def verdict(self, learner: Learner, module: str, title: str) -> Verdict | None:
        grade = learner.grades.get(module)
        return next((v for v in grade.verdicts if v.exercise == title), None) if grade else None

    def column(self, module: str, title: str) -> str:
        match = re.match(r"(Exercise|Checkpoint)\s+(\d+)", title)
        short = f"{'Ex' if match.group(1) == 'Exercise' else 'Cp'} {match.group(2)}" if match else title
        if is_stretch(title):
            short = STRETCH
        return f"{Lab(module).label} · {short}"

    def table(self, marks: bool = False):
        """Learner x exercise (pandas): verdict words (``marks``: the verdicts' marks), totals, notes; a last
        row with the share of learners who passed each exercise."""
        import pandas as pd

        rows = []
        for learner in self.learners:
            row = {"learner": learner.name}
            passed = 0
            for module, title in self.exercises:
                verdict = self.verdict(learner, module, title)
                passed += bool(verdict and verdict.passed and not is_stretch(title))
                status = verdict.status if verdict else None
                row[self.column(module, title)] = (
                    (MARKS[status] if status else MISSING_MARK) if marks else WORDS[status]
                )
            row["passed"] = passed
            row["of"] = sum(not is_stretch(title) for _, title in self.exercises)
            row["notes"] = "; ".join(learner.notes)
            rows.append(row)
        share = {"learner": "passed by (share of learners)"}
        for module, title in self.exercises:
            n = sum(bool((v := self.verdict(l, module, title)) and v.passed) for l in self.learners)
            share[self.column(module, title)] = f"{n / len(self.learners):.0%}" if self.learners else ""
        share.update({"passed": "", "of": "", "notes": ""})
        columns = ["learner", *(self.column(m, t) for m, t in self.exercises), "passed", "of", "notes"]
        return pd.DataFrame(rows + [share], columns=columns)

    def write(self, out: Path) -> tuple[Path, Path]:
        """Write ``grades.csv`` and ``grades.md`` into ``out``; return their paths."""
        out.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = out / REPORT_NAMES[0], out / REPORT_NAMES[1]
        self.table().to_csv(csv_path, index=False)
        md_path.write_text(self.markdown(), encoding="utf-8")
        return csv_path, md_path

    def summary(self) -> str:
        """The readable table (markdown) with its legend: what grade-class prints."""
        return f"{LEGEND}\n\n{markdown_table(self.table(marks=True))}"

    def markdown(self) -> str:
        lines = [
            f"# Grades: {self.folder.name}",
            "",
            f"{len(self.learners)} learners, graded with `python -m raycourse grade-class` on "
            f"{time.strftime('%Y-%m-%d %H:%M')}: every lab notebook run from the top in a fresh kernel, "
            f"at most {self.timeout:g} s each. `passed` counts the exercises passed out of `of`; "
            f"a lab's optional stretch exercise has its own column but is not counted.",
            "",
            self.summary(),
            "",
            "## Every verdict",
            "",
        ]
        for learner in self.learners:
            lines += [f"### {learner.name}", ""]
            for module in sorted(learner.grades):
                grade = learner.grades[module]
                lines += [
                    f"`{_display_path(grade.path, self.folder)}` ({grade.seconds:.0f} s):",
                    "",
                    "```",
                    grade.report(),
                    "```",
                    "",
                ]
            lines += [f"- {note}" for note in learner.notes]
            if learner.notes:
                lines.append("")
        return "\n".join(lines)


def markdown_table(frame) -> str:
    """A DataFrame as a GitHub markdown table (pandas' to_markdown needs an extra package)."""

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _display_path(path: Path, folder: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def find_learners(folder: Path, skip: tuple[Path, ...] = ()) -> list[tuple[str, list[Path]]]:
    """``(learner, files)`` for every learner in a class folder, sorted by name.

    A learner is a notebook in the folder (``alice.ipynb``) or a subfolder (``bob/``) with their lab
    notebooks anywhere inside it. Any other file in the folder is a learner too, whose file is not
    a notebook (reported as such). Hidden files, the report's own files and ``skip`` are left out.
    """
    learners: dict[str, list[Path]] = {}
    skipped = {p.resolve() for p in skip}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in REPORT_NAMES or entry.resolve() in skipped:
            continue
        if entry.is_dir():
            files = sorted(
                p
                for p in entry.rglob("*.ipynb")
                if not SKIPPED_FOLDERS & set(p.relative_to(entry).parts[:-1])
                and not any(part.startswith(".") for part in p.relative_to(entry).parts)
            )
            learners.setdefault(entry.name, []).extend(files)
        else:
            learners.setdefault(entry.stem if entry.suffix == ".ipynb" else entry.name, []).append(entry)
    return sorted(learners.items(), key=lambda item: item[0].lower())


def grade_class(
    folder: Path | str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory: float | None = None,
    labs: list[str] | None = None,
    skip: tuple[Path, ...] = (),
    echo=print,
) -> ClassReport:
    """Grade every learner's lab notebooks in ``folder`` (see :func:`find_learners`).

    ``labs`` (``["lab03"]``) limits the grading to those labs. A file that cannot be graded never
    stops the report: it is a note in its learner's row. ``memory``: the GiB each notebook's processes may use
    together (:class:`Grader`). Two notebooks of one lab from one learner:
    the one with more exercises passed counts, and a note names the other.
    """
    folder = Path(folder)
    learners = []
    modules: set[str] = {f"raycourse.checks.{lab}" for lab in labs or []}
    with Grader(timeout, memory=memory) as grader:
        for name, files in find_learners(folder, skip):
            learner = Learner(name)
            learners.append(learner)
            if not files:
                learner.notes.append("no notebooks handed in")
            for path in files:
                where = _display_path(path, folder)
                peek, nb, _ = inspect_notebook(path)
                if nb is None:
                    learner.notes.append(f"{where}: {peek.reason}")
                    echo(f"{name}: {where}: not graded: {peek.reason}")
                    continue
                if labs and peek.lab not in labs:
                    continue
                echo(f"{name}: grading {where} ({peek.label}) ...", end=" ", flush=True)
                grade = grader.grade(path)
                if not grade.graded:
                    learner.notes.append(f"{where}: {grade.reason}")
                    echo(f"not graded: {grade.reason}")
                    continue
                echo(f"{grade.total_line()} ({grade.seconds:.0f} s)")
                modules.add(grade.module)
                if grade.timed_out:
                    learner.notes.append(f"{where}: time limit of {timeout:g} s reached")
                if grade.out_of_memory:
                    learner.notes.append(f"{where}: used more than {grader.memory:g} GiB of memory: stopped")
                other = learner.grades.get(grade.module)
                if other is not None:
                    keep, drop = (grade, other) if grade.passed > other.passed else (other, grade)
                    learner.notes.append(
                        f"two notebooks of {grade.label}: counted "
                        f"{_display_path(keep.path, folder)} ({keep.passed} passed), not "
                        f"{_display_path(drop.path, folder)} ({drop.passed} passed)"
                    )
                    grade = keep
                learner.grades[grade.module] = grade
    exercises = [(m, ex.title) for m in sorted(modules) for ex in Lab(m).exercises]
    return ClassReport(folder, learners, exercises, timeout)
