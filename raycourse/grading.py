"""Grade lab notebooks: a learner's score (``python -m raycourse grade``) and a class report (``grade-class``).

Grading runs a *copy* of a lab notebook from the top in a fresh kernel (nbclient), the way
*Kernel > Restart Kernel and Run All Cells* would, and reads the verdict of every exercise from the
lab's own checks: the check cells record each verdict in the kernel (``raycourse.checks._core``),
and the grader reads that record after every cell. Nothing runs a check a second time. The file
itself is never written, and neither are the learner's outputs: the copy runs in a temporary folder.

* A cell that raises stops nothing: the next cells still run (``allow_errors``). An exercise whose
  check cell raised (``NameError: name 'photos' is not defined`` when the exercise cell failed before
  assigning it) is reported as ``💥 ... could not be checked`` with that error, and every verdict
  carries the first error its own cells raised (``Error: ...``).
* Each notebook has a time limit (:data:`DEFAULT_TIMEOUT`, ``--timeout``); when it is reached the
  kernel is stopped and the exercises not checked by then say so.
* Which lab a notebook is comes from its content (``from raycourse.checks import lab03 as check``),
  not its file name, and the list of exercises from that lab's checks module, so an exercise whose
  check cell was deleted or never reached is reported too.

Grading runs the learner's code, as the user who runs the grader, with nothing more: the kernel
gets that user's environment (and profile) plus the test run's quiet, offline settings
(:data:`raycourse.runtime.TEST_ENV`). It joins the Ray in ``RAY_ADDRESS`` if one is set, else it
starts one Ray for the whole grading run with the course's usual resources and stops it (and
everything the graded code started on it) at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import config, runtime
from .checks import _core
from .checks._core import Verdict

DEFAULT_TIMEOUT = 600  # seconds per notebook; the slowest solved lab takes about 110 s on 2 cores
# What the graded kernels get on top of the caller's environment: the tests' settings, without the
# profile (the learner's profile is kept).
GRADE_ENV = {k: v for k, v in runtime.TEST_ENV.items() if k != config.PROFILE_ENV}

# `from raycourse.checks import lab03 as check` (or `import raycourse.checks.lab03 as check`)
_IMPORTS = (
    re.compile(r"^\s*from\s+raycourse\.checks\s+import\s+(?P<module>(?:lab|lesson)\d+)(?:\s+as\s+(?P<alias>\w+))?",
               re.M),
    re.compile(r"^\s*import\s+raycourse\.checks\.(?P<module>(?:lab|lesson)\d+)\s+as\s+(?P<alias>\w+)", re.M),
)
_DUMP_MARK = "<<raycourse-grade>>"
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
    notebook: object = None  # the executed copy (nbformat), for whoever wants to look at its outputs

    @property
    def graded(self) -> bool:
        return not self.reason

    @property
    def label(self) -> str:
        return _core.lab_label(self.module) if self.module else "?"

    @property
    def lab(self) -> str | None:
        """ "lab03" (the checks module's name)."""
        return self.module.rsplit(".", 1)[-1] if self.module else None

    @property
    def passed(self) -> int:
        return sum(v.passed for v in self.verdicts)

    def total_line(self) -> str:
        return _core.total_line(self.label, self.verdicts)

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
            nbformat.validate(nb)
    except Exception as exc:  # nbformat's ValidationError and conversion errors
        return None, f"not a valid notebook: {_short(getattr(exc, 'message', exc), 200)}"
    return nb, ""


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
        grade.reason = ("not a lab notebook: it never imports a lab's checks "
                        "(`from raycourse.checks import labNN as check`)")
        return grade, None, ""
    grade.module, alias = found
    try:
        exercises = _core.exercises(grade.module)
    except ImportError:
        grade.reason = f"it imports raycourse.checks.{grade.lab}, which the course does not have"
        grade.module = None
        return grade, None, ""
    if not exercises:
        grade.reason = f"raycourse.checks.{grade.lab} has no exercises"
        return grade, None, ""
    return grade, nb, alias


# Running a notebook --------------------------------------------------------------------------------


def _kernel_manager(kernel_name: str = "python3"):
    """A kernel manager for a Python kernel of *this* environment (the learner's), whatever kernels are installed."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, name):
            import ipykernel.kernelspec

            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return AsyncKernelManager(kernel_name=kernel_name, kernel_spec_manager=ThisPython())


class Grader:
    """Grades notebooks one after the other, all on one Ray; use it as a context manager.

    ``env`` is the environment the kernels start from (default: this process's). Ray: the one in
    ``RAY_ADDRESS`` if set, else one started (lazily, at the first notebook that needs it) for this
    grader and stopped when it closes.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, env: dict | None = None):
        self.timeout = timeout
        self.env = dict(os.environ if env is None else env)
        self.env.update(GRADE_ENV)
        self._ray = None
        self._ready = False  # the kernels' environment is complete (outputs aside, a Ray to join)
        self._cleanup: list[Path] = []

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._ray is not None:
            self._ray.stop()
            shutil.rmtree(self._ray.log_path.parent, ignore_errors=True)
            self._ray = None
        for path in self._cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self._cleanup = []

    def _kernel_env(self) -> dict:
        """The graded kernels' environment; on first use, moves outputs aside and starts a Ray if there is none."""
        if self._ready:
            return self.env
        from .outputs import OUTPUTS_ENV

        if self.env.get(OUTPUTS_ENV, "").strip():  # shared storage (a cluster): a fresh folder of its own there
            base = Path(self.env[OUTPUTS_ENV]).expanduser()
            base.mkdir(parents=True, exist_ok=True)
            aside = Path(tempfile.mkdtemp(prefix=".raycourse-grade-", dir=base))
            self._cleanup.append(aside)
            self.env[OUTPUTS_ENV] = str(aside)
        if not self.env.get("RAY_ADDRESS"):
            from . import cluster

            # The notebooks get the profile chosen here, as under `make lab`: the grading Ray has logical GPUs
            # in tiny, which must not make a notebook pick the gpu profile.
            with _environ(self.env):
                self.env[config.PROFILE_ENV] = config.profile()
            with _environ(self.env):
                self._ray = cluster.start(dashboard=False, temp_dir=tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
            self.env.update(self._ray.client_env())
        self._ready = True
        return self.env

    def grade(self, path: Path | str) -> Grade:
        """Grade one notebook (a copy of it; the file is only read)."""
        grade, nb, alias = inspect_notebook(path)
        if nb is None:
            return grade
        names = {attr: value.title for attr, value in vars(sys.modules[grade.module]).items()
                 if isinstance(value, _core.Exercise)}
        self._run(nb, grade, alias, names, _core.exercises(grade.module))
        return grade

    def _run(self, nb, grade: Grade, alias: str, names: dict, exercises: list) -> None:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        env = self._kernel_env()
        started = time.monotonic()  # the time limit counts from the kernel's start, not the grading Ray's
        deadline = started + self.timeout
        work = Path(tempfile.mkdtemp(prefix="raycourse-grade-"))
        folder = work / (re.sub(r"[^\w.-]", "_", grade.path.resolve().parent.name) or "notebook")
        folder.mkdir()
        client = NotebookClient(nb, timeout=int(self.timeout), allow_errors=True, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}})
        client.km = _kernel_manager()
        dump = nbformat.v4.new_code_cell(
            f"print({_DUMP_MARK!r} + __import__('raycourse.checks._core', fromlist=['_'])"
            f".results_json({grade.module!r}))")
        seen: dict[str, int] = {}  # exercise title -> order of the verdict last read
        final: dict[str, Verdict] = {}
        since_check: list[CellError] = []  # errors of the cells since the last check cell
        stopped = ""
        checked_in: dict[str, int] = {}  # exercise title -> index of the last cell that checks it
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                for title in check_calls(cell.source, alias, names):
                    checked_in[title] = index
        kernel_log = (work / "kernel.log").open("w")  # the kernel's own messages, not the cells' (those are outputs)
        try:
            with client.setup_kernel(env=env, stderr=kernel_log):
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type != "code" or not cell.source.strip():
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        stopped = "time"
                        break
                    client.timeout = max(1, int(remaining + 0.999))
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        stopped = "time"
                        break
                    except DeadKernelError:
                        stopped = "died"
                        break
                    error = self._collect(cell, index, grade)
                    client.timeout = 60
                    nb.cells.append(dump)
                    try:
                        client.execute_cell(dump, len(nb.cells) - 1, store_history=False)
                    except DeadKernelError:
                        stopped = "died"
                        break
                    finally:
                        nb.cells.pop()
                    recorded = _read_dump(dump)
                    new = {t: v for t, v in recorded.items() if seen.get(t) != v["order"]}
                    seen.update({t: v["order"] for t, v in recorded.items()})
                    calls = check_calls(cell.source, alias, names)
                    cause = since_check[0] if since_check else None
                    for title, data in new.items():
                        verdict = Verdict(data["exercise"], data["status"], data["message"], data["hint"])
                        final[title] = _with_cause(verdict, cause)
                    if error is not None and calls:
                        earlier = cause or (grade.errors[0] if grade.errors[0] is not error else None)
                        for title in calls:
                            if title not in new:
                                final[title] = Verdict(
                                    title, "error", f"its check cell raised {error.ename}: {_short(error.evalue, 200)}",
                                    "Run the notebook from the top (Kernel > Restart Kernel and Run All Cells) "
                                    "and fix the first error.",
                                    str(earlier) if earlier else "")
                    if new or calls:
                        since_check = []
                    elif error is not None:
                        since_check.append(error)
        except DeadKernelError:
            stopped = "died"
        except Exception as exc:  # the kernel did not start, or nbclient failed: say so, stop nothing else
            if not grade.errors and not final:
                grade.reason = f"the notebook could not be run: {exc.__class__.__name__}: {_short(exc, 200)}"
                return
            grade.notes.append(f"grading stopped early: {exc.__class__.__name__}: {_short(exc, 200)}")
            stopped = "failed"
        finally:
            grade.seconds = time.monotonic() - started
            kernel_log.close()
            shutil.rmtree(work, ignore_errors=True)
        grade.timed_out = stopped == "time"
        why = {"time": f"the time limit ({self.timeout:g} s) was reached before its check ran.",
               "died": "the kernel died before its check ran (out of memory?).",
               "failed": "grading stopped before its check ran."}
        for ex in exercises:
            if ex.title in final:
                continue
            if stopped:
                message = why[stopped]
            elif ex.title not in checked_in:
                attr = next(a for a, t in names.items() if t == ex.title)
                message = f"the notebook has no check cell for it (`{alias}.{attr}(...)`)."
            else:
                message = "its check cell ran but did not check it."
            final[ex.title] = Verdict(ex.title, "not checked", message)
        grade.verdicts = [final[ex.title] for ex in exercises]
        last_check = max(checked_in.values(), default=-1)
        for error in grade.errors:
            if error.index > last_check:
                grade.notes.append(f"a cell after the last check: {error}")
        if stopped == "time":
            grade.notes.append(f"time limit of {self.timeout:g} s reached: the kernel was stopped.")
        elif stopped == "died":
            grade.notes.append("the kernel died (out of memory?): the cells after it did not run.")
        grade.notebook = nb

    @staticmethod
    def _collect(cell, index: int, grade: Grade) -> CellError | None:
        """Note the cell's error and stderr in ``grade``; return its error, if it raised."""
        error = None
        stderr = "".join(o.get("text", "") for o in cell.outputs
                         if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if stderr.strip():
            grade.stderr.append((index, stderr))
        for out in cell.outputs:
            if out.get("output_type") == "error" and error is None:
                error = CellError(index, out.get("ename", "Error"), out.get("evalue", ""),
                                  _error_line(cell, out.get("traceback", [])))
                grade.errors.append(error)
        return error


def _with_cause(verdict: Verdict, cause: CellError | None) -> Verdict:
    if cause is None:
        return verdict
    return Verdict(verdict.exercise, verdict.status, verdict.message, verdict.hint, str(cause))


def _read_dump(cell) -> dict:
    for out in cell.outputs:
        for line in out.get("text", "").splitlines():
            if line.startswith(_DUMP_MARK):
                return json.loads(line[len(_DUMP_MARK):])
    return {}


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
    """Grade one notebook (see :class:`Grader` to grade several on one Ray)."""
    with Grader(timeout) as grader:
        return grader.grade(path)


# A class report ----------------------------------------------------------------------------------------

REPORT_NAMES = ("grades.csv", "grades.md")
SKIPPED_FOLDERS = {".ipynb_checkpoints", "outputs", "__pycache__"}
WORDS = {"passed": "passed", "not solved": "not solved", "wrong": "wrong", "error": "error",
         "not checked": "not checked", None: "missing"}
MISSING_MARK = "—"
LEGEND = ("✅ passed · ⏳ not solved yet · ❌ not right yet · 💥 could not be checked (an error) · "
          "⬜ not checked · — not handed in (or not a readable lab notebook: see notes)")


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
        if _core.is_stretch(title):
            short = _core.STRETCH
        return f"{_core.lab_label(module)} · {short}"

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
                passed += bool(verdict and verdict.passed and not _core.is_stretch(title))
                status = verdict.status if verdict else None
                row[self.column(module, title)] = (_core.MARKS[status] if status else MISSING_MARK) if marks \
                    else WORDS[status]
            row["passed"] = passed
            row["of"] = sum(not _core.is_stretch(title) for _, title in self.exercises)
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
        lines = [f"# Grades: {self.folder.name}", "",
                 f"{len(self.learners)} learners, graded with `python -m raycourse grade-class` on "
                 f"{time.strftime('%Y-%m-%d %H:%M')}: every lab notebook run from the top in a fresh kernel, "
                 f"at most {self.timeout:g} s each. `passed` counts the exercises passed out of `of`; "
                 f"a lab's optional stretch exercise has its own column but is not counted.", "",
                 self.summary(), "", "## Every verdict", ""]
        for learner in self.learners:
            lines += [f"### {learner.name}", ""]
            for module in sorted(learner.grades):
                grade = learner.grades[module]
                lines += [f"`{_display_path(grade.path, self.folder)}` ({grade.seconds:.0f} s):", "", "```",
                          grade.report(), "```", ""]
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
            files = sorted(p for p in entry.rglob("*.ipynb")
                           if not SKIPPED_FOLDERS & set(p.relative_to(entry).parts[:-1])
                           and not any(part.startswith(".") for part in p.relative_to(entry).parts))
            learners.setdefault(entry.name, []).extend(files)
        else:
            learners.setdefault(entry.stem if entry.suffix == ".ipynb" else entry.name, []).append(entry)
    return sorted(learners.items(), key=lambda item: item[0].lower())


def grade_class(folder: Path | str, *, timeout: float = DEFAULT_TIMEOUT, labs: list[str] | None = None,
                skip: tuple[Path, ...] = (), echo=print) -> ClassReport:
    """Grade every learner's lab notebooks in ``folder`` (see :func:`find_learners`).

    ``labs`` (``["lab03"]``) limits the grading to those labs. A file that cannot be graded never
    stops the report: it is a note in its learner's row. Two notebooks of one lab from one learner:
    the one with more exercises passed counts, and a note names the other.
    """
    folder = Path(folder)
    learners = []
    modules: set[str] = {f"raycourse.checks.{lab}" for lab in labs or []}
    with Grader(timeout) as grader:
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
                other = learner.grades.get(grade.module)
                if other is not None:
                    keep, drop = (grade, other) if grade.passed > other.passed else (other, grade)
                    learner.notes.append(f"two notebooks of {grade.label}: counted "
                                         f"{_display_path(keep.path, folder)} ({keep.passed} passed), not "
                                         f"{_display_path(drop.path, folder)} ({drop.passed} passed)")
                    grade = keep
                learner.grades[grade.module] = grade
    exercises = [(m, ex.title) for m in sorted(modules) for ex in _core.exercises(m)]
    return ClassReport(folder, learners, exercises, timeout)
