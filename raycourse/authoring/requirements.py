"""What each lab's checks judge: the requirements its exercises' texts state, as its check tests list them, and how
many of them a probe judges (the check calls the learner's function itself, on inputs built to tell right from wrong).

A lab's check tests (``tests/checks/test_checks_labNN.py``) list them in comments, an exercise at a time::

    # Exercise 2 requires (the lab's text, sentence by sentence):
    #   R1 a Dataset: test_ex2_rejects_steps_the_text_does_not_ask_for[DataFrame]
    #   R2 (probe) at least 30 words, 30 itself included: test_ex2_rejects_a_threshold_off_by_one
    #      (a second line of the same requirement)

``# The stretch requires:`` heads the stretch's. Each requirement, after a colon, names what breaks it: the tests,
their cases (``[misses 50]``) or the wrong answers they feed the check; ``(probe)`` marks one that a probe judges.
docs/checks.md's table is generated from these lists (:func:`table`, through :mod:`.tables`), and
tests/docs/test_docs.py holds every lab to one list per exercise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import catalogue

_HEAD = re.compile(r"^# (?:Exercise (\d+)|The (stretch)) requires\b")
_ITEM = re.compile(r"^#\s+R(\d+)\s+(\(probe\)\s+)?(.*)$")
_MORE = re.compile(r"^#\s{4,}\S")
_TEST = re.compile(r"\btest_[a-z0-9_]+")
_CALL = re.compile(r"check\.(exercise_(\d+)|stretch)\(")


@dataclass
class Requirement:
    number: int
    probe: bool
    text: str
    tests: list[str] = field(default_factory=list)


def listed(tests_file: Path) -> dict[str, list[Requirement]]:
    """Each exercise's requirements ("1", "2", ..., "stretch") as the file's comments list them."""
    found: dict[str, list[Requirement]] = {}
    current: list[Requirement] | None = None
    for line in tests_file.read_text(encoding="utf-8").splitlines():
        head, item = _HEAD.match(line), _ITEM.match(line)
        if head:
            current = found.setdefault(head.group(1) or head.group(2), [])
        elif current is not None and item:
            current.append(Requirement(int(item.group(1)), bool(item.group(2)), item.group(3)))
        elif current is not None and current and _MORE.match(line):
            current[-1].text += " " + line.lstrip("# ").strip()
        elif not line.startswith("#"):
            current = None
    for requirements in found.values():
        for r in requirements:
            r.tests = _TEST.findall(r.text)
    return found


def exercises(solution: Path) -> list[str]:
    """The exercises a solved lab checks, in its order ("1", "2", ..., "stretch")."""
    import json

    cells = json.loads(solution.read_text(encoding="utf-8"))["cells"]
    names = [
        m.group(2) or "stretch" for c in cells if c["cell_type"] == "code" for m in _CALL.finditer("".join(c["source"]))
    ]
    return list(dict.fromkeys(names))


def problems(module: catalogue.Module) -> list[str]:
    """What is missing from a lab's lists: an exercise without one, numbers out of order, a requirement without a
    test, a test named that the file does not define."""
    tests_file = module.check_tests
    listed_here = listed(tests_file)
    defined = set(re.findall(r"^def (test_[a-z0-9_]+)", tests_file.read_text(encoding="utf-8"), flags=re.M))
    out = []
    for name in exercises(module.solution):
        requirements = listed_here.get(name)
        where = f"{tests_file.name}, exercise {name}"
        if not requirements:
            head = "# The stretch requires:" if name == "stretch" else f"# Exercise {name} requires:"
            out.append(f"{where}: no list of its requirements ('{head}', then '#   R1 ...: test_...')")
            continue
        if [r.number for r in requirements] != list(range(1, len(requirements) + 1)):
            out.append(f"{where}: requirements numbered {[r.number for r in requirements]}, not R1, R2, ...")
        for r in requirements:
            said, _, breaks = r.text.partition(": ")
            if not said.strip() or not breaks.strip():
                out.append(f"{where}: R{r.number} says no wrong answer that breaks it ('R{r.number} <what>: <tests>')")
            unknown = [t for t in r.tests if t not in defined and not any(d.startswith(t) for d in defined)]
            if unknown:
                out.append(f"{where}: R{r.number} names tests the file does not define: {unknown}")
    return out


def counts(root: Path = catalogue.ROOT) -> list[tuple[str, str, int, int]]:
    """(lab, exercise, requirements, judged by a probe) for every exercise of every lab."""
    rows = []
    for module in catalogue.labs(root):
        listed_here = listed(module.check_tests)
        for name in exercises(module.solution):
            requirements = listed_here.get(name, [])
            rows.append((module.number, name, len(requirements), sum(r.probe for r in requirements)))
    return rows


def table(root: Path = catalogue.ROOT) -> str:
    """docs/checks.md's table: per lab, each exercise's requirements and how many a probe judges."""
    by_lab: dict[str, list[tuple[str, int, int]]] = {}
    for lab, name, n, probes in counts(root):
        by_lab.setdefault(lab, []).append((name, n, probes))
    head = ["lab", "requirements, by exercise (probed)", "in all", "probed"]
    rows = []
    for lab, items in by_lab.items():
        each = ", ".join(f"{'S' if name == 'stretch' else name}: {n} ({p})" for name, n, p in items)
        rows.append([lab, each, str(sum(n for _, n, _ in items)), str(sum(p for _, _, p in items))])
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])
