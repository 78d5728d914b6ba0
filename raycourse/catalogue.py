"""The course's modules, from its files' names: the one place that maps a module number to its files.

A module is its lesson, ``notebooks/NN_slug.ipynb``; the rest follows the same name:

- the lab ``labs/NN_slug_lab.ipynb``, generated from its solved lab ``solutions/NN_slug_lab.ipynb`` (``make labs``);
- the lab's checks ``raycourse/checks/labNN.py`` (a big lab's: a package ``labNN/``, a module per exercise) and
  their tests ``tests/checks/test_checks_labNN.py``;
- the lesson's quiz ``raycourse/checks/quizNN.py``, and checks of the lesson's own cells
  ``raycourse/checks/lessonNN.py`` where it has them.

- its facts ``modules/NN_slug.toml`` (:class:`Facts`): title, minutes, GPUs, model roles, full-size stages, two-node
  builds and where it has run, read by the README's and the guides' tables (``raycourse.authoring.tables``), by
  ``make verify-gpu`` (``raycourse.fullsize.stages``) and by the two-node rehearsal.

Module 00 (the environment check) has a lesson and a quiz and no lab. ``python -m raycourse.authoring new-module 09
"Title"`` writes a new module's files under these names; nothing else needs to list it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CourseError

ROOT = Path(__file__).resolve().parents[1]  # the course's checkout: notebooks/, labs/, solutions/, raycourse/
_LESSON = re.compile(r"(\d\d)_(\w+)\.ipynb")
_NOTEBOOK = re.compile(r"(\d\d)_\w+?(?:_lab)?\.ipynb")
_CHECKS = re.compile(r"(?:raycourse\.checks\.)?(lab|lesson)(\d\d)")


ROLES = ("image_gen", "llm", "vit", "clip", "speech")  # the model roles (raycourse.model_id)
PARTS = ("half day", "full day", "second morning", "production day")  # the workshop's schedules (docs/workshop.md)
# docs/measured.md: "what has been run where" (a date and machine, or never), then the soak's run times
RAN = ("tiny_ci", "two_node", "gpu_random", "gpu_real", "timed", "soak_lesson", "soak_lab")


@dataclass(frozen=True)
class Facts:
    """A module's facts, from ``modules/NN_slug.toml`` (the scaffold writes it; docs/authoring.md lists the fields)."""

    title: str
    learn: str
    roles: tuple[str, ...]
    lesson_minutes: int
    lab_minutes: int | None
    gpus: int
    one_gpu: str
    more_gpus: str
    stages: tuple[str, ...]  # make verify-gpu's stages of this module (raycourse.fullsize.stages.STAGE_RUNS names)
    no_stage: str | None  # why a module that loads a model has no stage of its own
    two_node: tuple[frozenset[str], int] | None  # GPU stages built and fit() calls on one GPU; None: not on the cluster
    part: str | None  # the workshop schedule it is in (PARTS), None: not scheduled
    break_after: int = 0
    note: str = ""
    ran: dict = field(default_factory=dict, compare=False)
    metrics: bool = False  # its notebooks read Ray's metrics: the grader gives them a Ray with a Prometheus

    @property
    def loads_a_model(self) -> bool:
        return bool(self.roles)


def _fail(path: Path, what: str) -> CourseError:
    return CourseError(
        f"{path.name}: {what}.", "Fix the module's facts file; docs/authoring.md says what each field holds."
    )


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CourseError(
            f"{path.name} is missing: every module has its facts file modules/NN_slug.toml.",
            'A new module gets one from `python -m raycourse.authoring new-module NN "Title"`; copy a neighbour\'s.',
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from None


def _getter(path: Path):
    """``get(table, key, kind, where, default)``: a field of the file at ``path``, checked for its type."""

    def get(table: dict, key: str, kind: type, where: str, default=...):
        value = table.get(key, default)
        if value is ...:
            raise _fail(path, f"{where}{key} is missing")
        if key not in table:
            return value
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            raise _fail(path, f"{where}{key} must be a {kind.__name__}, not {value!r}")
        return value

    return get


def read_facts(path: Path) -> Facts:
    """Parse and check one facts file: a clear error names the file and the field."""
    data, get = _load_toml(path), _getter(path)
    minutes, gpus = get(data, "minutes", dict, ""), get(data, "gpus", dict, "")
    fullsize, two_node = get(data, "fullsize", dict, "", {}), get(data, "two_node", dict, "", None)
    schedule, ran = get(data, "schedule", dict, "", {}), get(data, "ran", dict, "")
    roles = tuple(get(data, "roles", list, ""))
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise _fail(path, f"roles {unknown} are not model roles ({', '.join(ROLES)})")
    stages = tuple(get(fullsize, "stages", list, "fullsize.", []))
    no_stage = get(fullsize, "no_stage", str, "fullsize.", None)
    if roles and not stages and not no_stage:
        raise _fail(path, "it loads a model: name its stages in [fullsize] stages, or say why not in no_stage")
    if stages and no_stage:
        raise _fail(path, "[fullsize] has both stages and no_stage: keep one")
    if roles and two_node is None:
        raise _fail(path, "it loads a model: say what it builds on one GPU in [two_node] (stages, fits)")
    builds = None
    if two_node is not None and get(two_node, "on_cluster", bool, "two_node.", True):
        builds = (frozenset(get(two_node, "stages", list, "two_node.")), get(two_node, "fits", int, "two_node."))
    part = get(schedule, "part", str, "schedule.", None)
    if part is not None and part not in PARTS:
        raise _fail(path, f"schedule.part {part!r} is none of {', '.join(PARTS)}")
    missing = [k for k in RAN if not isinstance(ran.get(k), str)]
    if missing:
        raise _fail(path, f"[ran] lacks {', '.join(missing)} (a date and machine, or never)")
    return Facts(
        title=get(data, "title", str, ""),
        learn=get(data, "learn", str, ""),
        roles=roles,
        lesson_minutes=get(minutes, "lesson", int, "minutes."),
        lab_minutes=get(minutes, "lab", int, "minutes.", None),
        gpus=get(gpus, "needed", int, "gpus."),
        one_gpu=get(gpus, "one", str, "gpus."),
        more_gpus=get(gpus, "more", str, "gpus."),
        stages=stages,
        no_stage=no_stage,
        two_node=builds,
        part=part,
        break_after=get(schedule, "break_after", int, "schedule.", 0),
        note=get(schedule, "note", str, "schedule.", ""),
        ran={k: ran[k] for k in RAN},
        metrics=get(data, "metrics", bool, "", False),
    )


@dataclass(frozen=True)
class Module:
    """One module of the course: ``number`` "03", ``slug`` "image_generation", its files under ``root``."""

    number: str
    slug: str
    root: Path = ROOT

    @property
    def name(self) -> str:
        """ "03_image_generation": the stem every file of the module starts with."""
        return f"{self.number}_{self.slug}"

    @property
    def label(self) -> str:
        """ "03 · image generation", as a lesson names the one before it."""
        return f"{self.number} · {self.slug.replace('_', ' ')}"

    @property
    def lesson(self) -> Path:
        return self.root / "notebooks" / f"{self.name}.ipynb"

    @property
    def lab(self) -> Path:
        """The learner's lab (generated from ``solution``)."""
        return self.root / "labs" / f"{self.name}_lab.ipynb"

    @property
    def solution(self) -> Path:
        """The solved lab, the lab's single source."""
        return self.root / "solutions" / f"{self.name}_lab.ipynb"

    @property
    def facts_file(self) -> Path:
        """``modules/NN_slug.toml``: the module's facts (:class:`Facts`)."""
        return self.root / "modules" / f"{self.name}.toml"

    @property
    def facts(self) -> Facts:
        return read_facts(self.facts_file)

    @property
    def has_lab(self) -> bool:
        return self.solution.is_file()

    def _package(self, stem: str) -> str | None:
        """``raycourse.checks.<stem>`` where it is: a module ``<stem>.py``, or a package ``<stem>/`` (a big lab's)."""
        folder = self.root / "raycourse" / "checks"
        found = (folder / f"{stem}.py").is_file() or (folder / stem / "__init__.py").is_file()
        return f"raycourse.checks.{stem}" if found else None

    @property
    def checks(self) -> str | None:
        """The lab's checks module ("raycourse.checks.lab03"), None without one."""
        return self._package(f"lab{self.number}")

    @property
    def lesson_checks(self) -> str | None:
        """The checks of the lesson's own cells ("raycourse.checks.lesson07"), None without them."""
        return self._package(f"lesson{self.number}")

    @property
    def quiz(self) -> str | None:
        """The lesson's quiz module ("raycourse.checks.quiz03"), None without one."""
        return self._package(f"quiz{self.number}")

    @property
    def check_tests(self) -> Path:
        return self.root / "tests" / "checks" / f"test_checks_lab{self.number}.py"


def modules(root: Path = ROOT) -> list[Module]:
    """Every module of the course, by number: one per lesson in ``notebooks/`` or solved lab in ``solutions/``
    (a solved lab without its lesson is still a module: tests/notebooks/test_catalogue.py says what it lacks)."""
    found: dict[str, Module] = {}
    for folder, suffix in (("notebooks", ".ipynb"), ("solutions", "_lab.ipynb")):
        for path in sorted((root / folder).glob(f"[0-9][0-9]_*{suffix}")):
            match = _LESSON.fullmatch(path.name.removesuffix(suffix) + ".ipynb")
            if match and (folder == "solutions" or not path.name.endswith("_lab.ipynb")):
                found.setdefault(match.group(1), Module(match.group(1), match.group(2), root))
    return [found[number] for number in sorted(found)]


def labs(root: Path = ROOT) -> list[Module]:
    """The modules that have a lab (a solved lab in ``solutions/``)."""
    return [m for m in modules(root) if m.has_lab]


def number_of(name: str | Path) -> str | None:
    """The module number of a course notebook ("05" for ``notebooks/05_vit_fine_tuning.ipynb``, a lab or a solved
    lab), of a checks module ("05" for ``raycourse.checks.lab05``), or of "05", "5", "lab05"; None for anything else."""
    text = Path(str(name)).name
    notebook, checks = _NOTEBOOK.fullmatch(text), _CHECKS.fullmatch(text)
    if notebook:
        return notebook.group(1)
    if checks:
        return checks.group(2)
    return f"{int(text):02d}" if text.isdigit() and int(text) < 100 else None


def _unknown(what: str, known: list[Module], hint: str = "") -> CourseError:
    numbers = ", ".join(m.number for m in known) or "none"
    return CourseError(
        f"There is no {what}. The course's modules are {numbers}.",
        hint
        or "Name one of those numbers (such as 03). A new module starts with "
        '`python -m raycourse.authoring new-module NN "Title"`.',
    )


def module(number: str, root: Path = ROOT) -> Module:
    """The module of ``number`` ("03", "3", "lab03"), or a CourseError naming the modules there are."""
    known = modules(root)
    wanted = number_of(str(number))
    for m in known:
        if m.number == wanted:
            return m
    raise _unknown(f"module {number!r}", known)


def find_lab(which: str, root: Path = ROOT) -> Path:
    """The lab of a module number ("03", "3") or a lab's file name or path (``labs/03_image_generation_lab.ipynb``)."""
    name = Path(str(which)).name
    with_lab = labs(root)
    if name.isdigit():
        found = [m.lab for m in with_lab if m.number == f"{int(name):02d}"]
    else:
        name = name if name.endswith(".ipynb") else name + ".ipynb"
        found = [m.lab for m in with_lab if m.lab.name == name]
    if len(found) != 1:
        known = ", ".join(m.solution.name for m in with_lab)
        raise CourseError(f"There is no lab {which!r}.", f"Name a module number (such as 03) or one of: {known}.")
    return found[0]


def notebook_of_checks(checks: str, root: Path = ROOT) -> Path | None:
    """The notebook whose check cells a checks module serves: ``raycourse.checks.lab03`` -> the lab of 03,
    ``raycourse.checks.lesson07`` -> the lesson of 07; None when the course has no such notebook."""
    match = _CHECKS.fullmatch(checks)
    if not match:
        return None
    kind, number = match.groups()
    for m in modules(root):
        if m.number == number:
            return m.lab if kind == "lab" else m.lesson
    return None
