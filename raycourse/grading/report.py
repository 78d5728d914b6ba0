"""Grading, stage 5: the class report (``python -m raycourse grade-class``): learners found in a folder, each
notebook graded, ``grades.csv`` and ``grades.md`` written with every learner's text escaped."""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import MARKS, STRETCH, Lab, Verdict, is_stretch
from .plan import _ANSI, Grade, inspect_notebook
from .run import DEFAULT_TIMEOUT, Grader

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
        """Write ``grades.csv`` and ``grades.md`` into ``out``; return their paths. A learner's text is escaped in
        both: a CSV cell that a spreadsheet would run as a formula (:func:`csv_cell`), markdown and HTML in the
        report (:func:`md_text`)."""
        out.mkdir(parents=True, exist_ok=True)
        csv_path, md_path = out / REPORT_NAMES[0], out / REPORT_NAMES[1]
        table = self.table()
        table.columns = [csv_cell(c) for c in table.columns]
        # every text quoted: pandas' minimal quoting leaves a carriage return bare, which splits a row
        table.map(csv_cell).to_csv(csv_path, index=False, quoting=csv.QUOTE_NONNUMERIC)
        md_path.write_text(self.markdown(), encoding="utf-8")
        return csv_path, md_path

    def summary(self) -> str:
        """The readable table (markdown) with its legend: what grade-class prints."""
        return f"{LEGEND}\n\n{markdown_table(self.table(marks=True))}"

    def markdown(self) -> str:
        lines = [
            f"# Grades: {md_text(self.folder.name)}",
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
            lines += [f"### {md_text(learner.name)}", ""]
            for module in sorted(learner.grades):
                grade = learner.grades[module]
                report = _ANSI.sub("", grade.report())
                fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", report)), default=0))
                lines += [
                    f"{md_code(_display_path(grade.path, self.folder))} ({grade.seconds:.0f} s):",
                    "",
                    fence,
                    report,
                    fence,
                    "",
                ]
            lines += [f"- {md_text(note)}" for note in learner.notes]
            if learner.notes:
                lines.append("")
        return "\n".join(lines)


# What a spreadsheet reads as the start of a formula (OWASP's "CSV injection"): such a cell gets a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Markdown's and HTML's own characters, escaped in a learner's text (any ASCII punctuation may be, in CommonMark);
# and what GitHub would turn into a link by itself (http://..., www.)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]#!|~<>&@])|^([-+=])|(?<=:)(/)|(?<=\bwww)(\.)", re.I)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def csv_cell(value):
    """``value`` as a CSV cell no spreadsheet runs: text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading ``'`` (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def md_text(value) -> str:
    """``value`` as plain text in markdown: on one line (control characters become spaces), every markdown and HTML
    character escaped, so that a learner's name or note is shown as written and never becomes a heading, a link,
    an image or HTML."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(), _CONTROL.sub(" ", str(value)))


def md_code(value) -> str:
    """``value`` as inline code, on one line, with a run of backticks longer than any inside it."""
    text = _CONTROL.sub(" ", str(value))
    ticks = "`" * (1 + max((len(r) for r in re.findall(r"`+", text)), default=0))
    return f"{ticks} {text} {ticks}"


def safe_line(value) -> str:
    """``value`` for a terminal: control characters (a learner's file name may hold escape sequences) shown as
    ``\\x1b``, never sent."""
    return _CONTROL.sub(lambda m: "".join(ascii(c)[1:-1] for c in m.group()), str(value))


def markdown_table(frame) -> str:
    """A DataFrame as a GitHub markdown table (pandas' to_markdown needs an extra package); every cell's text
    escaped (:func:`md_text`)."""

    def cell(value) -> str:
        return md_text(value)

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
                    echo(safe_line(f"{name}: {where}: not graded: {peek.reason}"))
                    continue
                if labs and peek.lab not in labs:
                    continue
                echo(safe_line(f"{name}: grading {where} ({peek.label}) ..."), end=" ", flush=True)
                grade = grader.grade(path)
                if not grade.graded:
                    learner.notes.append(f"{where}: {grade.reason}")
                    echo(safe_line(f"not graded: {grade.reason}"))
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
