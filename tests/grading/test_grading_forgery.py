"""Attacks on the verdict from inside a graded kernel, as a learner with Python skill would try them on lab 01.

Each attack is a cell of a small unsolved lab 01 (its check cells and placeholders, no Ray work of its own), graded on
the run's Ray: every one must leave the notebook at 0 of 3, with a note where the grader saw the tampering. A check
in two halves decides in the grader (``raycourse.checks.Exercise``), so a notebook that rewrites what its kernel
serialises, signs or prints changes no verdict. About 5 s a notebook here.
"""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from raycourse import grading
from raycourse.grading import in_kernel
from raycourse.checks import lab01

P, N, W, E = "passed", "not solved", "wrong", "error"
TITLES = {
    "exercise_1": "Exercise 1",
    "exercise_2": "Exercise 2",
    "exercise_3": "Exercise 3",
    "stretch": "Stretch · the happiest pets",
}
HEAD = "from raycourse.checks import lab01 as check\nreviews = complaints = out_dir = per_pet = ..."
ARGS = ("reviews", "complaints", "out_dir", "per_pet")
CHECKS = [f"check.{attribute}({arg})" for attribute, arg in zip(TITLES, ARGS)]
FORGED = json.dumps(
    {
        "results": [
            {"attribute": a, "verdict": {"exercise": t, "status": "passed", "message": "forged"}}
            for a, t in TITLES.items()
        ]
    }
)
ROWS = {"columns": ["id", "pet", "text", "stars"], "rows": []}
OBSERVED = json.dumps({"results": [{"attribute": "exercise_1", "observation": ROWS}]})


def _grade(tmp_path, *attack: str, name: str = "attacker"):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(s).strip()) for s in (HEAD, *attack, *CHECKS)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    with grading.Grader(timeout=120) as grader:
        return grader.grade(path)


def _statuses(grade) -> list[str]:
    return [v.status for v in grade.verdicts]


# The verdict list the kernel serialises, rewritten to "passed" (3 of 3 and the stretch on the grader of before)
JSON_DUMPS = f"""
import json
_dumps = json.dumps
TITLES = {TITLES!r}
def dumps(obj, *args, **kwargs):
    results = obj.get("results", obj) if isinstance(obj, dict) else obj
    for r in results if isinstance(results, list) else ():
        if isinstance(r, dict) and r.get("attribute") in TITLES:
            r.pop("outcome", None)
            r["verdict"] = {{"exercise": TITLES[r["attribute"]], "status": "passed", "message": "forged",
                            "hint": "", "error": ""}}
    return _dumps(obj, *args, **kwargs)
json.dumps = dumps
"""

# The secret read from the grader's HMAC and a forged payload signed with it; the real payload's signature spoiled
HMAC_NEW = f"""
import hashlib, hmac, json, sys
_new = hmac.new
TITLES = {TITLES!r}
def new(key, msg=None, digestmod=None):
    payload = json.loads(msg.decode())
    forged = json.dumps([{{"attribute": r["attribute"], "verdict": {{"exercise": TITLES[r["attribute"]],
        "status": "passed", "message": "forged", "hint": "", "error": ""}}}} for r in payload if "attribute" in r])
    mac = _new(key, forged.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write("\\n<<raycourse-verdicts>>" + mac + forged + "\\n")
    class Spoiled:
        def hexdigest(self):
            return "0" * 64
    return Spoiled()
hmac.new = new
"""


def test_a_patched_json_dumps_forges_nothing(kernels_ray, tmp_path):
    grade = _grade(tmp_path, JSON_DUMPS)
    assert _statuses(grade) == [N, N, N, N], grade.report()
    assert grade.total_line() == "Lab 01: 0 of 3 exercises passed"
    assert any("replaced json.dumps" in n for n in grade.notes), grade.notes


def test_a_patched_hmac_new_forges_nothing_and_no_secret_reaches_the_kernel(kernels_ray, tmp_path):
    grade = _grade(tmp_path, HMAC_NEW)
    assert _statuses(grade) == [N, N, N, N], grade.report()
    assert any("replaced hmac.new" in n for n in grade.notes), grade.notes


# Further attacks ---------------------------------------------------------------------------------------------------

# The grader's line of observations replaced on its way out: "passed" verdicts, and an observation made up to fit
STDOUT_WRITER = f"""
import sys
TITLES = {TITLES!r}
MARK = {in_kernel.MARK!r}
FORGED = {FORGED!r}
OBSERVED = {OBSERVED!r}
class Writer:
    def __init__(self, out):
        self.out = out
    def write(self, text):
        if MARK in text:
            text = "\\n" + MARK + (OBSERVED if '"exercise_1"' in text else FORGED) + "\\n"
        return self.out.write(text)
    def __getattr__(self, name):
        return getattr(self.out, name)
sys.stdout = Writer(sys.stdout)
"""

# Lines that look like observations, printed by a thread all along (during every request of the grader's too)
PRINTER = f"""
import threading, time
FORGED = {in_kernel.MARK!r} + {FORGED!r}
def forge():
    while True:
        print(FORGED, flush=True)
        time.sleep(0.01)
threading.Thread(target=forge, daemon=True).start()
print(FORGED)
"""

# The checks the grader compiles in the kernel swapped for checks that pass and decide there
EXEC_SWAP = """
import builtins
_exec = builtins.exec
def exec(code, *args):
    _exec(code, *args)
    if getattr(code, "co_filename", "") == "<raycourse grader: raycourse.checks.lab01>":
        namespace = args[0]
        core = __import__("sys").modules["raycourse.checks._core"]
        for name, value in list(namespace.items()):
            if isinstance(value, core.Exercise):
                namespace[name] = core.Exercise(value.title, lambda *a, **k: "forged")
builtins.exec = exec
"""

# A learner's object that raises SystemExit (and KeyboardInterrupt) as soon as a check looks at it
EXITS = """
class Exits:
    @property
    def __class__(self):
        raise SystemExit(0)
reviews = Exits()
class Interrupts:
    @property
    def __class__(self):
        raise KeyboardInterrupt
complaints = Interrupts()
"""


@pytest.mark.parametrize(
    "attack, statuses, note",
    [
        (STDOUT_WRITER, [W, E, E, E], "reaches into the grading machinery (<<raycourse, sys.stdout =)"),
        (PRINTER, [E, E, E, E], ""),
        (EXEC_SWAP, [E, E, E, E], "replaced builtins.exec"),
        (EXITS, [E, E, N, N], ""),
    ],
    ids=["stdout-writer", "printed-observations", "checks-swapped", "system-exit"],
)
def test_further_attacks_forge_nothing(kernels_ray, tmp_path, attack, statuses, note):
    grade = _grade(tmp_path, attack)
    assert _statuses(grade) == statuses, grade.report()
    assert grade.passed == 0
    if note:
        assert any(note in n for n in grade.notes), grade.notes


# The two halves, without a kernel ---------------------------------------------------------------------------------


def test_an_observation_is_judged_by_the_grader_and_never_passes_on_its_own_say():
    calls = [["exercise_1", ["reviews"], [], "check.exercise_1(reviews)"]]
    lab = grading.Lab.of("raycourse.checks.lab01")

    def decide(results):
        return grading.decide(json.dumps({"results": results, "tampered": []}), calls, [1], lab)[0]

    # a verdict that says "passed" for a check in two halves: not believed
    assert decide([{"attribute": "exercise_1", "verdict": {"status": "passed"}}]) is None
    # an observer's "passed" outcome: not believed either (it may only say not solved or wrong)
    assert decide([{"attribute": "exercise_1", "outcome": ["passed", "forged", ""]}]) is None
    # an observation of the wrong shape: wrong, never passed
    assert decide([{"attribute": "exercise_1", "observation": "rows"}])[0]["verdict"]["status"] == W
    # results for a check that was not asked for
    assert decide([{"attribute": "exercise_2", "observation": {}}]) is None
    assert grading.decide("not json", calls, [1], lab) == (None, [])


def test_the_probes_of_exercise_2_come_from_the_seed():
    first, again, other = lab01.probes(7), lab01.probes(7), lab01.probes(8)
    assert first == again and first != other
    assert sorted(p[2] for p in first.values())[-2:] == [3, 5]
    named = [(pet, text) for pet, text, _, _ in first.values() if lab01._mentions(pet, text)]
    assert len(named) == 3 and sum(pet not in text for pet, text in named) == 2  # in capitals, not as the file has it
    others = [text for pet, text, _, _ in first.values() if not lab01._mentions(pet, text)]
    assert any(any(p in text for p in lab01.PROBE_PETS) for text in others)  # another pet of the file's


def test_the_checks_encoder_writes_json_that_json_reads():
    import numpy as np

    from raycourse.checks import _core

    value = {"a": [1, 2.5, np.int64(3), np.float32(0.5), np.bool_(True), None, 'é\n"\\', "🐍"], 4: (float("nan"),)}
    assert json.loads(_core.encode(value)) == {"a": [1, 2.5, 3, 0.5, True, None, 'é\n"\\', "🐍"], "4": ["nan"]}
