"""The check machinery shared by all labs."""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Callable


class NotSolved(Exception):
    """The exercise still holds its placeholder (or was skipped)."""


class Wrong(AssertionError):
    """The answer is there but not right; ``hint`` points the way without giving it away."""

    def __init__(self, problem: str, hint: str = ""):
        self.problem = problem
        self.hint = hint
        super().__init__(problem)


# What a verdict line starts with. The first three are the check cells' own; "error" and "not checked"
# come from a whole-notebook grading (``python -m raycourse grade``) and the lab's progress cell.
MARKS = {"passed": "✅", "not solved": "⏳", "wrong": "❌", "error": "💥", "not checked": "⬜"}
HEADS = {
    "passed": "passed",
    "not solved": "not solved yet",
    "wrong": "not right yet",
    "error": "could not be checked",
    "not checked": "not checked",
}


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str  # one of MARKS: "passed", "not solved", "wrong"; "error", "not checked" when grading
    message: str
    hint: str = ""
    error: str = ""  # grading: the error a cell of this exercise raised ("NameError: name 'x' is not defined")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        text = f"{MARKS[self.status]} {self.exercise} {HEADS[self.status]}: {self.message}"
        if self.error:
            text += f"\n   Error: {self.error}"
        if self.hint and self.status != "passed":
            text += f"\n   Hint: {self.hint}"
        return text

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "status": self.status,
            "message": self.message,
            "hint": self.hint,
            "error": self.error,
        }


def placeholder(value: Any) -> bool:
    """True for the ``...`` a generated lab leaves where the learner's code goes."""
    return value is Ellipsis


_STUB_BODIES = ([("LOAD_CONST", None), ("RETURN_VALUE", None)], [("RETURN_CONST", None)])


def is_stub(fn: Any) -> bool:
    """True for a function whose body is only ``...`` (and perhaps a docstring): an outline not yet written."""
    import dis

    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    ops = [(i.opname, i.argval) for i in dis.get_instructions(code) if i.opname not in ("RESUME", "NOP", "CACHE")]
    return ops in _STUB_BODIES


def written(value: Any) -> bool:
    """Whether the learner has written ``value``: not the placeholder ``...``, not an outline with empty bodies."""
    try:
        require("value", value, "")
    except NotSolved:
        return False
    return True


def require(name: str, value: Any, what: str) -> None:
    """Raise :class:`NotSolved` when ``value`` is still the placeholder, or an outline still to fill in.

    A lab can give a class or function as an outline (its signatures, bodies ``...``): while a
    method (or the function) still has only ``...``, the exercise is not solved yet.
    """
    if placeholder(value):
        raise NotSolved(f"`{name}` is still `...`; replace it with {what}.")
    if inspect.isclass(value):
        stubs = [m for m, fn in vars(value).items() if inspect.isfunction(fn) and is_stub(fn)]
        if stubs:
            raise NotSolved(
                f"`{name}.{stubs[0]}` still has only `...` as its body: write "
                f"{' and '.join(f'`{m}`' for m in stubs)} ({what})."
            )
    elif inspect.isfunction(value) and is_stub(value):
        raise NotSolved(f"`{name}` still has only `...` as its body: write it ({what}).")


def _release_abandoned_runs() -> None:
    """Give back the actors (and their CPUs and GPUs) of the runs a check started and did not finish.

    A check runs the learner's pipeline (``take_batch``, a few rows). When that run fails, Ray Data stops it, but its
    actors live until Python frees the run's executor, and the error's traceback ties the two in a reference cycle
    that only Python's cyclic garbage collector breaks, at a moment of its own choosing. A collection costs about
    0.3 s in a kernel that imported torch, so it runs only after a check caught an error. Until then the actors
    hold their GPUs, and the learner's next GPU stage waits for them without a word (measured: a failed check's
    two actors of ``num_gpus=0.6`` held 1.2 of 2 GPUs until ``gc.collect()``). Collecting now frees them at once.
    """
    import gc
    import sys

    if "ray" in sys.modules:
        gc.collect()


def fresh_seed() -> int:
    """A probe seed for a check run in the kernel: chosen at the run, so no answer can be fitted to its inputs.
    (The grader chooses its own, at grading time.)"""
    import secrets

    return secrets.randbits(32)


class Exercise:
    """A check function turned into a notebook check (see :func:`exercise`).

    A check in two halves (``judge`` given): ``fn`` *observes* (it runs in the learner's kernel, calls the learner's
    objects, and returns plain data: numbers, text, lists, dicts) and ``judge(observation, seed)`` decides (it runs
    in the grader, on that data alone, from the grader's own sources). ``fn`` may still raise :class:`NotSolved`
    or :class:`Wrong` (a verdict that never passes); only ``judge`` can pass. An ``fn`` with a keyword-only
    ``seed`` gets a number the caller chooses (the grader: at grading time), from which it and ``judge`` make the
    same probe inputs. A check without ``judge`` decides where it runs (the quizzes); the grader never takes a pass
    from one.
    """

    def __init__(self, title: str, fn: Callable[..., Any], judge: Callable[[Any, int], str] | None = None):
        self.title = title
        self.fn = fn
        self.judge = judge
        self.seeded = "seed" in inspect.signature(fn).parameters
        functools.update_wrapper(self, fn)
        self.__module__ = lab_of(fn.__module__)  # the lab it belongs to: its verdicts are recorded under that name

    def observe(self, *args, seed: int | None = None, **kwargs):
        """What the check sees of the learner's objects, as plain data (JSON's types): ``fn``'s observation passed
        through :func:`encode` and back, as the grader receives it."""
        import json

        if self.seeded:
            kwargs["seed"] = seed
        return json.loads(encode(self.fn(*args, **kwargs)))

    def decide(self, observation, seed: int | None = None) -> Verdict:
        """``judge``'s verdict on an observation (the grader's half: no learner object is touched)."""
        try:
            return Verdict(self.title, "passed", self.judge(observation, seed) or "well done.")
        except NotSolved as exc:
            return Verdict(self.title, "not solved", str(exc))
        except Wrong as exc:
            return Verdict(self.title, "wrong", exc.problem, exc.hint)
        except Exception as exc:  # an observation that is not what the check makes: never a pass
            return Verdict(
                self.title, "wrong", f"the check could not read what it observed: {exc.__class__.__name__}: {exc}"
            )

    def result(self, *args, **kwargs) -> Verdict:
        failed_run = False
        seed = kwargs.pop("seed", None)
        if self.seeded and seed is None:
            seed = fresh_seed()
        try:
            if self.judge is None:
                summary = self.fn(*args, **kwargs)
            else:
                observation = self.observe(*args, seed=seed, **kwargs)
        except NotSolved as exc:
            return Verdict(self.title, "not solved", str(exc))
        except Wrong as exc:
            failed_run = exc.__context__ is not None  # the check caught an error, e.g. of the learner's run
            return Verdict(self.title, "wrong", exc.problem, exc.hint)
        except Exception as exc:  # the learner's object broke in a way the check did not foresee
            failed_run = True
            return Verdict(
                self.title,
                "wrong",
                f"the check could not use your answer: {exc.__class__.__name__}: {exc}",
                "Run your exercise cell again and look at its error; then re-run this check.",
            )
        finally:
            if failed_run:
                _release_abandoned_runs()
        if self.judge is not None:
            return self.decide(observation, seed)
        return Verdict(self.title, "passed", summary or "well done.")

    def __call__(self, *args, **kwargs) -> None:
        """What a check cell runs: print the verdict and note it for the lab's progress."""
        verdict = self.result(*args, **kwargs)
        record(self.__module__, verdict)
        print(verdict)


def encode(value) -> str:
    """``value`` as JSON, written here rather than by ``json``: what a check observes in a learner's kernel, where
    ``json`` may have been patched. NumPy and Python scalars become numbers, arrays and tuples lists, a dict's keys
    text; NaN and infinities become the text "nan", "inf", "-inf"; anything else its ``str()``."""
    out: list[str] = []
    _encode_into(out, value, 0)
    return "".join(out)


def _encode_into(out: list[str], v, depth: int) -> None:
    if depth > 50:
        raise ValueError("an observation nested more than 50 deep")
    if type(v).__module__ == "numpy" and hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, dict):
        out.append("{")
        for i, (k, item) in enumerate(v.items()):
            out.append(("," if i else "") + _json_text(str(k)) + ":")
            _encode_into(out, item, depth + 1)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _encode_into(out, item, depth + 1)
        out.append("]")
    else:
        out.append(_json_scalar(v))


def _json_scalar(v) -> str:
    """A value that holds no other: null, a boolean, a number (NaN and infinities as text), else its text."""
    import math

    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        f = float(v)
        return repr(f) if math.isfinite(f) else _json_text(str(f))
    return _json_text(str(v))


def _json_text(s: str) -> str:
    """``s`` as a JSON string, in ASCII: quotes and backslashes escaped, other characters as ``\\uXXXX``."""
    parts = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            parts.append("\\" + ch)
        elif 0x20 <= code <= 0x7E:
            parts.append(ch)
        elif code > 0xFFFF:
            code -= 0x10000
            parts.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            parts.append(f"\\u{code:04x}")
    parts.append('"')
    return "".join(parts)


def lab_of(module: str) -> str:
    """The checks module whose exercise a function of ``module`` is: ``module`` itself (``raycourse.checks.lab02``), or
    for a module of a lab's package (``raycourse.checks.lab05.ex2``: a big lab keeps a module per exercise), the
    package (``raycourse.checks.lab05``), the one its notebook imports and grading knows it by."""
    inside = f"{__package__}."
    return inside + module[len(inside) :].split(".", 1)[0] if module.startswith(inside) else module


def exercise(title: str, judge: Callable[[Any, int], str] | None = None) -> Callable[[Callable], Exercise]:
    """Decorate a function that raises :class:`NotSolved`/:class:`Wrong` or returns a summary; with ``judge``, a
    function that observes (returns plain data), and ``judge`` decides from it (see :class:`Exercise`)."""

    def wrap(fn: Callable) -> Exercise:
        return Exercise(title, fn, judge)

    return wrap


# The verdicts of the check cells run in this process (a notebook's kernel): checks module -> exercise
# title -> (order in which it was recorded, latest verdict). The lab's progress cell reads it, and so does
# ``python -m raycourse grade`` after every cell; nothing here runs a check again.
_RESULTS: dict[str, dict[str, tuple[int, Verdict]]] = {}
_ORDER = itertools.count(1)


def record(module: str, verdict: Verdict) -> None:
    _RESULTS.setdefault(module, {})[verdict.exercise] = (next(_ORDER), verdict)


def recorded(module: str) -> dict[str, Verdict]:
    """The latest verdict of each exercise of ``module`` (``"raycourse.checks.lab03"``) checked in this process."""
    return {title: verdict for title, (_, verdict) in _RESULTS.get(module, {}).items()}


def results_json(module: str) -> str:
    """The recorded verdicts of ``module`` as JSON, each with the order in which it was recorded (for grading)."""
    import json

    return json.dumps(
        {title: dict(verdict.to_dict(), order=order) for title, (order, verdict) in _RESULTS.get(module, {}).items()},
        ensure_ascii=False,
    )


def exercises(module: str) -> list[Exercise]:
    """The exercises of a checks module, in the order the module defines them (the lab's order)."""
    import importlib

    return [
        value
        for value in vars(importlib.import_module(module)).values()
        if isinstance(value, Exercise) and value.__module__ == module
    ]


def lab_label(module: str) -> str:
    """ "Lab 03" for raycourse.checks.lab03, "Lesson 07" for raycourse.checks.lesson07."""
    name = module.rsplit(".", 1)[-1]
    match = re.fullmatch(r"([a-z]+?)_?(\d+)", name)
    return f"{match.group(1).capitalize()} {match.group(2)}" if match else name


NOT_RUN = "its check cell has not run in this session."


def progress_verdicts(module: str) -> list[Verdict]:
    """One verdict per exercise of ``module``: the latest one recorded, or "not checked"."""
    seen = recorded(module)
    return [seen.get(ex.title) or Verdict(ex.title, "not checked", NOT_RUN) for ex in exercises(module)]


# A lab's last exercise may be a stretch: optional, for those who finish early. It has a check like the others,
# but the lab's total counts only the exercises everyone is asked to do.
STRETCH = "Stretch"


def is_stretch(title: str) -> bool:
    """ "Stretch", or a titled one ("Stretch · a second seed")."""
    return title == STRETCH or title.startswith(f"{STRETCH} ")


def required(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts that count towards a lab's total: all but the stretch exercise's."""
    return [v for v in verdicts if not is_stretch(v.exercise)]


def total_line(label: str, verdicts: list[Verdict], *, so_far: bool = False) -> str:
    """ "Lab 03: 2 of 3 exercises passed" (``so_far``: "Lab 03 so far: ..."), "..., and the stretch exercise"
    when the optional stretch passed too."""
    counted = required(verdicts)
    passed = sum(v.passed for v in counted)
    noun = "exercise" if len(counted) == 1 else "exercises"
    line = f"{label}{' so far' if so_far else ''}: {passed} of {len(counted)} {noun} passed"
    if any(v.passed and is_stretch(v.exercise) for v in verdicts):
        line += ", and the stretch exercise"
    return line


def load_order(names) -> list[str]:
    """The modules of a lab's package (``ex2``, ``_common``, ``ex2_training``, ...) in the order the grader loads
    them: ``_common`` (what several exercises share) first, then each exercise's module after its parts
    (``ex1``, ``ex2_training``, ``ex2``, ..., ``stretch``). Each imports only from those before it."""

    def key(name: str) -> tuple:
        head, _, part = name.partition("_")  # "_common" -> ("", "common"), "ex2_training" -> ("ex2", "training")
        return head, not part, part

    return sorted(names, key=key)


@dataclass(frozen=True)
class Lab:
    """A lab's checks as grading and reports see them: its exercises, label, totals and recorded verdicts.

    ``Lab.of("raycourse.checks.lab03")`` (or ``Lab.of("lab03")``) imports the checks module; an unknown lab
    raises ImportError.
    """

    module: str  # "raycourse.checks.lab03"

    @classmethod
    def of(cls, module: str) -> Lab:
        import importlib

        module = module if "." in module else f"{__package__}.{module}"
        importlib.import_module(module)
        return cls(module)

    @property
    def name(self) -> str:
        """ "lab03"."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def label(self) -> str:
        """ "Lab 03"."""
        return lab_label(self.module)

    @property
    def exercises(self) -> list[Exercise]:
        """Its exercises, in the lab's order."""
        return exercises(self.module)

    @property
    def titles(self) -> list[str]:
        return [ex.title for ex in self.exercises]

    @property
    def calls(self) -> dict[str, str]:
        """The title of each exercise by the attribute a check cell calls (``{"exercise_2": "Exercise 2"}``)."""
        import sys

        return {
            attr: value.title for attr, value in vars(sys.modules[self.module]).items() if isinstance(value, Exercise)
        }

    @property
    def modules(self) -> list[str]:
        """The modules its checks run from, in the order they are loaded (the grader sends their sources). A lab's
        package (``labNN/``) has its own modules loaded before itself (:func:`load_order`)."""
        import importlib
        import pkgutil

        found = getattr(importlib.import_module(self.module), "__path__", None)
        parts = load_order(m.name for m in pkgutil.iter_modules(found)) if found else []
        return [f"{__package__}._core", __package__, *(f"{self.module}.{part}" for part in parts), self.module]

    def total_line(self, verdicts: list[Verdict], *, so_far: bool = False) -> str:
        return total_line(self.label, verdicts, so_far=so_far)

    def recorded(self) -> dict[str, Verdict]:
        """The latest verdict of each of its exercises checked in this process."""
        return recorded(self.module)


def _notebook_of(module: str) -> str:
    """Where the course keeps the notebook of a checks module ("labs/03_image_generation_lab.ipynb")."""
    from .. import catalogue

    found = catalogue.notebook_of_checks(module)
    return str(found.relative_to(catalogue.ROOT)) if found else "<notebook>.ipynb"


def progress_of(module: str) -> Callable[[], None]:
    """The ``progress()`` of a checks module: the last cell of its lab calls ``check.progress()``."""

    def progress() -> None:
        """Print this lab's progress from the check cells already run in this session (runs no check)."""
        verdicts = progress_verdicts(module)
        lines = [total_line(lab_label(module), verdicts, so_far=True)]
        lines += ["  " + str(v).replace("\n", "\n  ") for v in verdicts]
        counted = required(verdicts)
        if all(v.passed for v in counted):
            lines.append(
                "Every exercise of this lab passed: well done."
                + ("" if all(v.passed for v in verdicts) else " Done early? Try the stretch exercise.")
            )
        elif any(v.status == "not checked" for v in counted):
            lines.append(
                "Only the checks run in this kernel count (a restart forgets them). To grade the saved "
                f"notebook from the top, in a terminal: python -m raycourse grade {_notebook_of(module)}"
            )
        print("\n".join(lines))

    progress.__module__ = module
    return progress


def encoded_number(value, shown=lambda value: repr(value)[:80]) -> list:
    """A learner's answer as plain data for a judge: ["number", value] for a real number (NumPy's included; NaN and
    infinities as text), ["other", ``shown(value)``] else."""
    import numbers

    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        return ["number", number if math.isfinite(number) else str(number)]
    return ["other", shown(value)]
