"""Grading, stage 1: read a notebook and plan its run, running nothing: which lab it is (from its content), which
cells are check cells and what they call, which cells reach for the grading machinery; and the records of a
grade (:class:`Grade`, :class:`CellError`)."""

from __future__ import annotations

import ast
import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import Lab, Verdict

# `from raycourse.checks import lab03 as check` (or `import raycourse.checks.lab03 as check`)
_IMPORTS = (
    re.compile(
        r"^\s*from\s+raycourse\.checks\s+import\s+(?P<module>(?:lab|lesson)\d+)(?:\s+as\s+(?P<alias>\w+))?", re.M
    ),
    re.compile(r"^\s*import\s+raycourse\.checks\.(?P<module>(?:lab|lesson)\d+)\s+as\s+(?P<alias>\w+)", re.M),
)


# Code in a notebook that reaches for the grading machinery (the record of verdicts, the checks' modules, the
# interpreter's hooks): never needed to solve a lab; the grade notes it, for the instructor to read.
SUSPICIOUS = re.compile(
    r"\b_core\b|_RESULTS|results_json|\bsys\.modules\b|\bbuiltins\b|__builtins__|"
    r"\.events\.register|input_transformers|addaudithook|settrace|setprofile|<<raycourse|"
    r"raycourse\.grading|\bsys\.stdout\s*="
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
