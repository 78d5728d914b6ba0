"""The grading stages alone, without a kernel: the observation request's code run in this process, the judge on
what it wrote, the watch for tampering (in a process of its own: an audit hook stays), the package's seal."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

from raycourse import grading
from raycourse.grading import in_kernel

LAB = "raycourse.checks.lab01"


def _observe(calls, user_ns, seeds=None):
    sources = grading.checks_sources()
    lab = grading.Lab.of(LAB)
    seeds = seeds or [1] * len(calls)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        in_kernel._observe(LAB, {n: sources[n] for n in lab.modules}, calls, seeds, user_ns)
    lines = [l[len(in_kernel.MARK) :] for l in out.getvalue().splitlines() if l.startswith(in_kernel.MARK)]
    assert len(lines) == 1, out.getvalue()
    return grading.decide(lines[0], calls, seeds, lab)


def test_the_observation_request_sends_plain_data_that_the_grader_judges():
    calls = [
        ["exercise_1", ["reviews"], [], "check.exercise_1(reviews)"],
        ["exercise_3", ["out_dir"], [], "check.exercise_3(out_dir)"],
    ]
    results, tampered = _observe(calls, {"reviews": ..., "out_dir": 42})
    assert tampered == []
    verdicts = [r["verdict"] for r in results]
    assert [v["status"] for v in verdicts] == ["not solved", "wrong"], verdicts
    assert "the check could not use your answer" in verdicts[1]["message"]
    # the kernel's own modules are put back: the request leaves no trace in sys.modules
    files = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]  # None: a namespace package
    assert not [f for f in files if f.startswith("<raycourse grader")]


def test_an_argument_that_raises_stops_the_cells_checks_as_the_cell_would():
    calls = [["exercise_1", ["missing"], [], "check.exercise_1(missing)"]]
    results, _ = _observe(calls, {})
    assert results == [
        {"attribute": "exercise_1", "raised": ["NameError", "name 'missing' is not defined", calls[0][3]]}
    ]


def test_the_watch_notes_writes_to_the_package_and_sandbox_commands(tmp_path):
    import raycourse

    package = Path(raycourse.__file__).parent
    script = (
        Path(in_kernel.__file__).read_text()
        + f"""
_watch()
import os, subprocess
for act in (lambda: os.remove({str(package / "no-such-file.py")!r}),
            lambda: subprocess.run(["mount", "-o", "remount,rw", "/"], capture_output=True),
            lambda: open({str(tmp_path / "mine.txt")!r}, "w").close()):
    try:
        act()
    except OSError:
        pass
_watched()
"""
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    notes = grading.watched_notes(run.stdout.splitlines())
    assert len(notes) == 1 and "no-such-file.py" in notes[0] and "ran `mount -o remount,rw /`" in notes[0], notes
    assert "mine.txt" not in notes[0]  # its own files are its own
    assert grading.watched_notes([in_kernel.WATCH_MARK + "[]"]) == []
    assert "could not be read" in grading.watched_notes([in_kernel.WATCH_MARK + "[__import__('os')]"])[0]


def test_the_seal_names_what_changed_in_the_package(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("a")
    (tmp_path / "sub" / "b.py").write_text("b")
    (tmp_path / "__pycache__").mkdir()
    seal = grading.PackageSeal(tmp_path)
    assert seal.changed() == []
    (tmp_path / "a.py").write_text("changed")
    (tmp_path / "sub" / "b.py").unlink()
    (tmp_path / "new.py").write_text("new")
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"compiled")  # Python's own: not a change
    assert seal.changed() == ["a.py", "new.py", "sub/b.py"]
    assert seal.changed() == []  # from now on, what it holds now


def test_every_lab_check_has_a_judge_in_the_grader():
    """A check that decided in the kernel could be answered "passed" by a notebook that rewrites its interpreter:
    every exercise of every lab (and of lesson 07's checkpoints) observes there and is judged in the grader."""
    import importlib
    import pkgutil

    from raycourse import checks

    names = [m.name for m in pkgutil.iter_modules(checks.__path__) if m.name.startswith(("lab", "lesson"))]
    assert len(names) >= 10, names
    unjudged = [
        f"{name}.{ex.fn.__name__}"
        for name in names
        for ex in grading.Lab.of(f"raycourse.checks.{name}").exercises
        if ex.judge is None
    ]
    assert unjudged == []
    assert importlib.import_module("raycourse.checks.lab01").exercise_1.judge is not None


def test_a_pass_that_a_kernel_decided_is_never_taken(monkeypatch):
    """A check without a judge (a quiz's, or one written without) decides in the kernel: its "passed" there is a
    line a notebook can write, so the grader takes its "not solved" or "wrong" only."""
    import json
    import types

    from raycourse.checks import exercise

    module = types.ModuleType("raycourse.checks.lab_unjudged")
    module.exercise_1 = exercise("Exercise 1")(lambda value: "fine")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    lab = grading.Lab(module.__name__)
    calls = [["exercise_1", ["x"], [], "check.exercise_1(x)"]]
    said = {"attribute": "exercise_1", "verdict": {"status": "passed", "message": "fine", "hint": ""}}
    results, _ = grading.decide(json.dumps({"results": [said]}), calls, [1], lab)
    assert results is None  # not believed: no verdict from that line
    said["verdict"]["status"] = "wrong"
    results, _ = grading.decide(json.dumps({"results": [said]}), calls, [1], lab)
    assert results[0]["verdict"]["status"] == "wrong"


def test_rays_own_print_is_not_tampering_and_a_learners_is(monkeypatch):
    """Ray's tqdm_ray puts its safe_print in builtins.print where Ray Data drew progress bars: no note for that; a
    print the notebook wrote is noted."""
    import builtins

    from ray.experimental import tqdm_ray

    from raycourse.grading import in_kernel

    monkeypatch.setattr(builtins, "print", tqdm_ray.safe_print)
    assert "builtins.print" not in in_kernel._tampered()
    monkeypatch.setattr(builtins, "print", lambda *args, **kwargs: None)
    assert "builtins.print" in in_kernel._tampered()
