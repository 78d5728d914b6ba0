"""Grading, stage 2: run a notebook in a fresh kernel, each kept from the others (:class:`Grader`): its environment
(:func:`minimal_env`), its sandbox and Ray, its check cells handed to the observation stage, the course's package
watched (:class:`PackageSeal`)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import config
from ..session import runtime
from ..session.prometheus import HOST_ENV
from ..session.runtime import RAY_ENV_DIGEST
from ..checks import Lab
from ..outputs import OUTPUTS_ENV
from .judge import Explanation
from .limits import GRADE_MARK_ENV, OUTPUT_LIMIT, MemoryWatch, _capped_client, default_memory, kill_marked
from .observe import checks_sources, observe_cell, request, watched_notes
from .plan import CellError, Grade, _error_line, _short, inspect_notebook, plan_notebook

# The course's modules the grader imports after a notebook has run (lazily, in functions): imported with the checks,
# before any notebook runs, so that none of them is read from a file a notebook changed.
GRADER_MODULES = (
    "raycourse.catalogue",
    "raycourse.session.cluster",
    "raycourse.data",
    "raycourse.models",
    "raycourse.outputs",
    "raycourse.checks.toolkit",
)


DEFAULT_TIMEOUT = 600  # seconds per notebook; the slowest solved lab takes about 110 s on 2 cores


# What the graded kernels get on top of the caller's environment: the tests' settings, without the
# profile (the learner's profile is kept).
GRADE_ENV = {k: v for k, v in runtime.TEST_ENV.items() if k != config.PROFILE_ENV}


# The environment a graded kernel gets from the grader's: these variables only (an allow list: whatever else the
# grader's environment holds, a database URL, a proxy with its password, a token of any name, stays out), those
# that begin with ALLOWED_PREFIXES, less any whose name looks like a secret (Ray's own RAY_* settings aside: the
# token of a Ray the kernel is told to join). PYTHONPATH: where the grader's own packages come from (a GPU machine's
# carried site); the course package itself comes first, from the grader's read-only copy.
ALLOWED_ENV = frozenset(
    "PATH LANG LANGUAGE TZ TERM USER LOGNAME HOME TMPDIR VIRTUAL_ENV CONDA_PREFIX CONDA_DEFAULT_ENV LD_LIBRARY_PATH "
    "CUDA_HOME CUDA_VISIBLE_DEVICES NVIDIA_VISIBLE_DEVICES OMP_NUM_THREADS MKL_NUM_THREADS OPENBLAS_NUM_THREADS "
    "XDG_CACHE_HOME HF_HOME HF_HUB_CACHE TORCH_HOME MPLBACKEND PYTHONHASHSEED PYTHONUNBUFFERED PYTHONIOENCODING "
    "PYTHONWARNINGS PYTHONPATH COVERAGE_PROCESS_START".split()
)
ALLOWED_PREFIXES = ("LC_", "RAY_", "RAYCOURSE_")
SECRET_NAMES = re.compile(r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|DSN|PAT\b", re.I)
# Folders a graded kernel reads, named in its environment: shown in its sandbox even where the host's /tmp is hidden.
_READ = ("XDG_CACHE_HOME", "RAYCOURSE_CACHE", "RAYCOURSE_DATA", "RAYCOURSE_GPU_DATA", "HF_HOME", "HF_HUB_CACHE")


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

    from raycourse.session.cluster import kernel_encryption_policy

    tcp = {"transport_encryption": kernel_encryption_policy()}  # Unix sockets: in a 0700 folder of the grader
    # With ipc, its connection file beside its sockets: a sandbox's kernel sees neither the grader's /tmp nor its
    # runtime folder.
    extra = {"transport": "ipc", "ip": str(ipc), "connection_file": f"{ipc}.json"} if ipc is not None else tcp
    return AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=ThisPython(), **extra)


def minimal_env(env: dict) -> dict:
    """``env`` reduced to what a graded kernel needs: :data:`ALLOWED_ENV` and :data:`ALLOWED_PREFIXES`, less names
    that look like a secret (:data:`SECRET_NAMES`; Ray's ``RAY_*`` settings aside)."""
    return {
        k: v
        for k, v in env.items()
        if (k in ALLOWED_ENV or k.startswith(ALLOWED_PREFIXES)) and (k.startswith("RAY_") or not SECRET_NAMES.search(k))
    }


class PackageSeal:
    """What the course's package (``root``) held when grading began (each file's digest): :meth:`changed` names
    the files changed, added or removed since. The grader never writes them back (an instructor may be editing the
    course): a sandbox keeps them read-only; the change is a note in the grade of the notebook it happened under.
    Compiled files (``__pycache__``) are left out."""

    def __init__(self, root: Path):
        self.root = root
        self.files = self._digests()

    def _digests(self) -> dict[str, str]:
        found = {}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if "__pycache__" in rel.parts or path.is_dir():
                continue
            try:
                found[str(rel)] = "link" if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                found[str(rel)] = "unreadable"
        return found

    def changed(self) -> list[str]:
        """The files that differ from what the package held when grading began (and it holds them from now on)."""
        now = self._digests()
        changed = sorted(k for k in set(now) | set(self.files) if now.get(k) != self.files.get(k))
        self.files = now
        return changed


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
        self._metrics = False  # the notebook being graded reads Ray's metrics (_reads_metrics)
        self.warning = ""
        self._echo = echo if echo is not None else (lambda text: print(text, file=sys.stderr, flush=True))
        self._sources = checks_sources()  # read before any notebook runs: what the verdicts are judged with
        for name in self._sources:  # and imported now: a check's judge runs here, never from a later edit
            importlib.import_module(name)
        for name in GRADER_MODULES:  # what the grader imports later, imported now for the same reason
            importlib.import_module(name)
        self._seal = PackageSeal(Path(__file__).resolve().parents[1])
        self._ready = False
        self._cleanup: list[Path] = []

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        from . import sandbox as _sandbox

        for path in self._cleanup:
            _sandbox.remove(path)
        self._cleanup = []

    def _prepare(self) -> None:
        """Once, at the first notebook: moves outputs aside, chooses the profile and whether there is a sandbox."""
        if self._ready:
            return
        if self.env.get(OUTPUTS_ENV, "").strip():  # shared storage (a cluster): a fresh folder of its own there
            base = Path(self.env[OUTPUTS_ENV]).expanduser()
            base.mkdir(parents=True, exist_ok=True)
            aside = Path(tempfile.mkdtemp(prefix=".raycourse-grade-", dir=base))
            self._cleanup.append(aside)
            self.env[OUTPUTS_ENV] = str(aside)
        # The course package the kernels import: a read-only copy taken now, before the first notebook runs, ahead
        # of the grader's own PYTHONPATH (where its other packages may come from).
        from . import sandbox as _sandbox

        package = Path(tempfile.mkdtemp(prefix="rcg-package-"))
        self._cleanup.append(package)
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(_sandbox.package_copy(package)), *filter(None, self.env.get("PYTHONPATH", "").split(os.pathsep))]
        )
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
            from . import sandbox  # not at import: `python -m raycourse.grading.sandbox` imports this package first

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
        if self._metrics and env.get("RAY_ADDRESS") and not env.get(HOST_ENV):
            # Its checks ask the Ray's Prometheus, and the Ray in RAY_ADDRESS has none the grader knows of (the
            # tests' Ray): a Ray of its own, with one, as without RAY_ADDRESS.
            for key in ("RAY_ADDRESS", RAY_ENV_DIGEST):
                env.pop(key, None)
        if env.get(OUTPUTS_ENV, "").strip():  # shared storage: a folder of its own in the grader's, gone after it
            env[OUTPUTS_ENV] = tempfile.mkdtemp(prefix=f"{work.name}-", dir=env[OUTPUTS_ENV])
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
        self._metrics = _reads_metrics(grade.module)
        try:
            self._run(nb, grade, alias, lab.calls, lab.titles)
        finally:
            changed = self._seal.changed()
            if changed:
                grade.notes.append(
                    f"the course's package changed while it was graded ({', '.join(changed[:5])}"
                    f"{', ...' if len(changed) > 5 else ''}): read the notebook, and restore the course (git status)."
                )
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
                from ..session import cluster

                ray_env = {k: v for k, v in env.items() if k != GRADE_MARK_ENV}  # Ray's processes are not its
                with _environ(ray_env):
                    ray = cluster.start(
                        dashboard=self._metrics,
                        metrics=self._metrics,
                        temp_dir=str(work / "tmp" / "ray"),
                        base_env=ray_env,
                    )
                env.update(ray.client_env())
            self._execute(nb, grade, alias, names, titles, env, work, folder, started, ray)
        finally:
            if ray is not None:
                ray.stop()
            killed = kill_marked(mark, grace=5.0 if self.sandboxed else 0.0)  # whatever outlived the kernel
            if killed:
                grade.notes.append(f"{killed} process(es) it started outlived its kernel: the grader killed them.")
            grade.seconds = time.monotonic() - started
            shutil.rmtree(work, ignore_errors=True)
            if env.get(OUTPUTS_ENV) != self.env.get(OUTPUTS_ENV):
                shutil.rmtree(env[OUTPUTS_ENV], ignore_errors=True)

    def _execute(self, nb, grade, alias, names, titles, env, work, folder, started, ray=None) -> None:
        from nbclient.exceptions import DeadKernelError

        deadline = started + self.timeout
        client, fifo = self._client(nb, env, work, folder)
        plans, checked_in, notes = plan_notebook(nb, alias, names)
        grade.notes.extend(notes)
        book = Explanation(titles, names, alias, checked_in)
        stopped = ""
        kernel_log = (work / "kernel.log").open("w")  # the kernel's own messages, not the cells' (those are outputs)
        watch = self._memory_watch(client, env, ray)
        try:
            with client.setup_kernel(env=env, stderr=kernel_log), watch:
                stopped = self._run_cells(client, nb, grade, plans, book, deadline)
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
            if fifo is not None:
                os.close(fifo)
        self._finish(nb, grade, book, client, watch, stopped)

    def _client(self, nb, env, work, folder):
        """``(client, fifo)``: the notebook's client and its kernel's manager (in a sandbox: the kernel launched in
        it, and the end of the pipe the grader holds open, which ends the sandbox when the grader dies; else None)."""
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
        if not self.sandboxed:
            client.km = _kernel_manager()
            return client, None
        from . import sandbox as _sandbox

        writable = [str(work)] + [env[k] for k in ("RAYCOURSE_OUTPUTS",) if env.get(k, "").strip()]
        # What the notebook writes (its HOME, temporary and working folders, /tmp, /dev/shm) is in the sandbox's
        # memory, counted in its limit and gone with it; the kernel's sockets to the grader stay in `work`.
        private = [env["HOME"], env["TMPDIR"], str(folder)]
        readable = [*filter(None, self.env["PYTHONPATH"].split(os.pathsep))]
        readable += [env[k] for k in _READ if env.get(k, "").strip()]
        os.mkfifo(work / "grader")  # held open by the grader: when it dies, the sandbox ends
        fifo = os.open(work / "grader", os.O_RDWR)
        client.km = _kernel_manager(
            wrap=lambda argv: _sandbox.command(
                argv,
                writable,
                ray=True,
                watch=str(work / "grader"),
                metrics=self._metrics,
                private=private,
                readable=readable,
                size=int(self.memory * 2**30),
            ),
            ipc=work / "kernel",
        )
        return client, fifo

    def _memory_watch(self, client, env, ray) -> MemoryWatch:
        """The watch on the memory of the notebook's processes: its kernel's and its Ray's, and (in a sandbox) the
        files in the sandbox's private memory."""
        import psutil

        def roots():  # the kernel's launcher (in a sandbox, `unshare`: the whole namespace below it) and its Ray
            pids = [getattr(client.km.provisioner, "pid", None), ray.process.pid if ray is not None else None]
            found = []
            for pid in pids:
                if pid is not None:  # psutil.Process(None) would be the grader itself
                    with contextlib.suppress(psutil.Error):
                        found.append(psutil.Process(pid))
            return found

        def in_files():  # the sandbox's private memory: files in its /tmp, /dev/shm, HOME, ...
            from . import sandbox as _sandbox

            pid = getattr(client.km.provisioner, "pid", None)
            return _sandbox.private_bytes(pid) if self.sandboxed and pid is not None else 0

        return MemoryWatch(self.memory, roots, mark=None if self.sandboxed else env.get(GRADE_MARK_ENV), files=in_files)

    def _run_cells(self, client, nb, grade, plans, book, deadline) -> str:
        """Run the notebook's code cells in order, a check cell's checks in the grader's own request, and tell
        ``book`` what each did: why it stopped early ("time", "died"), or "" when every cell ran."""
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        request(client, nb, "_watch()")  # before any cell of the notebook
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "time"
            client.timeout = max(1, int(remaining + 0.999))
            only_checks, calls = plans[index]
            try:
                if only_checks:  # the grader runs its checks in its place
                    judged = observe_cell(client, nb, index, calls, grade, self._sources, in_place=True)
                else:
                    client.execute_cell(cell, index)
                    judged = None
                error = self._collect(cell, index, grade)
                if judged is None and calls and error is None:  # a cell that checks among other code
                    client.timeout = max(1, int(deadline - time.monotonic() + 0.999))
                    judged = observe_cell(client, nb, index, calls, grade, self._sources, in_place=False)
            except CellTimeoutError:
                return "time"
            except DeadKernelError:
                return "died"
            book.cell_ran(cell.source, judged, calls, error, grade.errors, in_place=only_checks)
        client.timeout = max(5, int(deadline - time.monotonic() + 0.999))
        grade.notes.extend(watched_notes(request(client, nb, "_watched()")))
        return ""

    def _finish(self, nb, grade, book, client, watch, stopped: str) -> None:
        """The grade once the run ended (``stopped``: "", "time", "died", "failed"): its memory, its notes, a
        verdict per exercise."""
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


def _reads_metrics(number: str | None) -> bool:
    """Whether the module's notebooks read Ray's metrics (its facts' ``metrics``): its Ray then gets a dashboard and a
    Prometheus, as make lab's has, so that its checks can ask Prometheus."""
    from .. import catalogue

    try:
        return bool(number) and catalogue.module(number).facts.metrics
    except Exception:  # a notebook of no known module is graded as before; its own verdict says what is wrong
        return False
