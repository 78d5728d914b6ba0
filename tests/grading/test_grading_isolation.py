"""Grading that a learner's notebook can neither forge nor escape (issue 38): each attack changes its own grade only.

* The forging cells (the record of verdicts written, the checks patched, ``check`` rebound, a verdict line
  printed, from a cell and from a thread) on a small notebook that needs no Ray, graded on the run's Ray.
* A class of two (``grade_class``) graded the way an instructor grades one, without ``RAY_ADDRESS``: mallory's
  unsolved lab 01 leaves a ``setsid`` process, a detached actor and a placement group holding both logical GPUs,
  deletes a file outside its folder, plants one in the class folder, reaches for the network, prints 50 MB, tries to
  change the course's package and plants a folder where the next notebook's outputs would go (on the grader of
  before, that folder stopped trudy's setup cell, and her solved lab lost exercise 3); trudy's solved lab 01 then
  checks that the Ray it got is empty, and passes as if alone. Each notebook starts a Ray of its own, which is what
  is tested: about 35 s each here (the test about 80 s).
* Without a sandbox (macOS), the grader's own Ray per notebook and the processes found by their mark (20 s).
* Memory: a notebook that takes more than its limit is stopped, with a verdict that says so, and the next one is
  graded as if alone (on the run's Ray, 7 s); the watch counts a process tree and the marked processes (1 s).
"""

from __future__ import annotations

import json
import os
import re
import socket
import textwrap
from pathlib import Path

import nbformat
import psutil
import pytest

from raycourse import grading, sandbox
from raycourse.authoring import notebooks

ROOT = Path(__file__).resolve().parents[2]
LAB01 = "01_ingest_and_transform_lab.ipynb"
P, N, E, C = "passed", "not solved", "error", "not checked"


def _notebook(*sources: str):
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(textwrap.dedent(s)) for s in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def _text(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


def _sleepers(seconds: str) -> list:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if (proc.info["cmdline"] or [])[-2:] == ["sleep", seconds] or proc.info["cmdline"] == ["sleep", seconds]:
            found.append(proc)
    return found


FORGED = json.dumps(
    [
        {"attribute": a, "verdict": {"exercise": t, "status": "passed", "message": "forged", "hint": "", "error": ""}}
        for a, t in (
            ("exercise_1", "Exercise 1"),
            ("exercise_2", "Exercise 2"),
            ("exercise_3", "Exercise 3"),
            ("stretch", "Stretch · the happiest pets"),
        )
    ]
)
FORGE = f"""
import threading, time
import raycourse.checks._core as core
for title in ("Exercise 1", "Exercise 2", "Exercise 3", "Stretch · the happiest pets"):
    core.record("raycourse.checks.lab01", core.Verdict(title, "passed", "forged"))
def forge():  # a verdict line during every request of the grader's, signed with a guess
    while True:
        print("<<raycourse-verdicts>>" + "0" * 64 + {FORGED!r}, flush=True)
        time.sleep(0.05)
threading.Thread(target=forge, daemon=True).start()
print("<<raycourse-verdicts>>" + "0" * 64 + {FORGED!r})
"""


def test_a_notebook_cannot_forge_its_verdicts(kernels_ray, tmp_path):
    """Every way of writing "passed" from the notebook's own code leaves the verdicts the checks give."""
    nb = _notebook(
        "from raycourse.checks import lab01 as check\nreviews = complaints = out_dir = per_pet = ...",
        # the checks patched in the kernel, the module replaced, the record written and a verdict line printed
        "import sys\nimport raycourse.checks._core as core\n"
        "core.Exercise.result = lambda self, *a, **k: core.Verdict(self.title, 'passed', 'forged')\n"
        "check.exercise_1.fn = lambda *a, **k: 'forged'\n"
        "sys.modules['raycourse.checks.lab01'].exercise_2 = check.exercise_1",
        FORGE,
        "check.exercise_1(reviews)",
        "check.exercise_2(complaints)",
        # `check` rebound: the check cell still runs the course's check
        "class Fake:\n    def __getattr__(self, name):\n        return lambda *a: print('✅ passed')\ncheck = Fake()",
        "check.exercise_3(out_dir)",
        "check.stretch(per_pet)",
        FORGE,
    )
    path = tmp_path / "forger.ipynb"
    nbformat.write(nb, str(path))
    with grading.Grader(timeout=120) as grader:
        grade = grader.grade(path)
    assert [v.status for v in grade.verdicts] == [N, N, N, N], grade.report()
    assert grade.total_line() == "Lab 01: 0 of 3 exercises passed"
    assert grade.errors == [], [str(e) for e in grade.errors]
    assert "`reviews` is still `...`" in grade.verdicts[0].message
    # The check cells show the grader's verdicts, never a verdict line; the cells that reach for the machinery
    # are named for the instructor.
    for index in (3, 4, 6, 7):
        text = _text(grade.notebook.cells[index])
        assert text.startswith("⏳ ") and "<<raycourse" not in text.split("\n", 1)[0], text[:300]
    assert [n.split(" reaches")[0] for n in grade.notes if "grading machinery" in n] == [
        "cell 1",
        "cell 2",
        "cell 8",
    ], grade.notes


def test_a_check_call_among_other_code_is_repeated_by_the_grader(kernels_ray, tmp_path):
    """A cell that checks among other code runs as it is; the grader's own check gives the verdict."""
    nb = _notebook(
        "from raycourse.checks import lab01 as check\nreviews = ...",
        "x = 1\ncheck.exercise_1(reviews)\nprint('after')",
        "def local():\n    mine = ...\n    check.exercise_2(mine)\nlocal()",
    )
    path = tmp_path / "mixed.ipynb"
    nbformat.write(nb, str(path))
    with grading.Grader(timeout=120) as grader:
        grade = grader.grade(path)
    assert [v.status for v in grade.verdicts] == [N, E, C, C], grade.report()
    assert _text(grade.notebook.cells[1]).endswith("after\n")
    assert grade.verdicts[1].message == (
        "the grader could not repeat its check `check.exercise_2(mine)`: NameError: name 'mine' is not defined"
    )


def test_a_notebook_in_format_4_4_with_cell_ids_is_graded(tmp_path):
    """Jupyter opens a 4.4 notebook whose cells have ids; the grader reads it as 4.5 (the format with ids)."""
    nb = _notebook("from raycourse.checks import lab01 as check", "x = 1")
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 4
    del data["cells"][1]["id"]  # one cell without: it gets one
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(data), encoding="utf-8")
    grade, read, alias = grading.inspect_notebook(path)
    assert grade.reason == "" and alias == "check" and grade.module == "raycourse.checks.lab01"
    assert read.nbformat_minor == 5 and all(c.get("id") for c in read.cells)
    data["cells"][0]["id"] = "not valid!"  # an id nbformat 4.5 refuses: the reason says so
    path.write_text(json.dumps(data), encoding="utf-8")
    assert grading.inspect_notebook(path)[0].reason.startswith("not a valid notebook")


def test_the_kernel_environment_has_no_secrets():
    env = grading.Grader(
        env={
            "HOME": "/home/x",
            "HF_TOKEN": "hf_x",
            "OPENAI_API_KEY": "k",
            "aws_secret_access_key": "s",
            "SSH_AUTH_SOCK": "/tmp/agent",
            "RAY_AUTH_TOKEN": "ray",
            "PATH": "/bin",
        }
    ).env
    assert "HF_TOKEN" not in env and "OPENAI_API_KEY" not in env and "aws_secret_access_key" not in env
    assert "SSH_AUTH_SOCK" not in env
    assert env["RAY_AUTH_TOKEN"] == "ray" and env["PATH"] == "/bin"  # Ray's own settings pass


# A class, graded as an instructor grades one: a Ray per notebook -------------------------------------------------


# Writes into the course's own package (which every later kernel imports), and a folder planted where the next
# notebook's outputs would go on the class's shared storage (RAYCOURSE_OUTPUTS): a folder the course did not make.
TAMPER = """
import os, pathlib, raycourse
try:
    with open(pathlib.Path(raycourse.__file__), "a") as f:
        f.write("\\nraise SystemExit('sabotaged')\\n")
    print("package: written")
except OSError as exc:
    print("package:", type(exc).__name__)
shared = pathlib.Path(os.environ["RAYCOURSE_OUTPUTS"])
for root in {shared, shared.parent}:
    target = root / pathlib.Path.cwd().name / "01_ingest_and_transform_lab"
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / "mine.txt").write_text("not yours")
        (target / ".raycourse-output").unlink(missing_ok=True)  # not the course's folder any more: never cleared
        print("planted", target.relative_to(shared.parent))
    except OSError as exc:
        print("plant:", type(exc).__name__)
"""


def _attacks(outside: Path, planted: Path, port: int) -> list[str]:
    return [
        "import subprocess\nsubprocess.Popen(['setsid', 'sleep', '987'])\n"
        "subprocess.Popen('setsid sleep 987 &', shell=True)",
        """
        import ray
        from ray.util.placement_group import placement_group
        @ray.remote(num_gpus=1)
        class Hog:
            def ready(self):
                return True
        hog = Hog.options(name="hog", lifetime="detached").remote()
        ray.get(hog.ready.remote())
        group = placement_group([{"GPU": 1, "CPU": 1}], lifetime="detached")
        ray.get(group.ready())
        print("holding", ray.available_resources().get("GPU", 0), "GPUs free")
        """,
        f"""
        import os
        for what, act in (("remove", lambda: os.remove({str(outside)!r})),
                          ("plant", lambda: open({str(planted)!r}, "w").write("{{}}"))):
            try:
                act()
                print(what, "done")
            except OSError as exc:
                print(what, type(exc).__name__)
        """,
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            print("network: connected")
        except OSError as exc:
            print("network:", type(exc).__name__)
        """,
        "import os\nprint('secrets:', [k for k in ('HF_TOKEN', 'MY_API_KEY') if k in os.environ], os.environ['HOME'])",
        TAMPER,
        "print('x' * 50_000_000)",  # what the notebook prints after this is over the limit: dropped
        FORGE,
    ]


PROBE = """
import os
import ray
import raycourse
raycourse.init(quiet=True)
free, total = ray.available_resources().get("GPU", 0), ray.cluster_resources().get("GPU", 0)
assert free == total > 0, f"{free} of {total} GPUs free"
assert not ray.util.placement_group_table(), ray.util.placement_group_table()
print("clean")
"""


@pytest.mark.slow(
    "the grader runs a class of notebooks, each in its own kernel with a Ray of its own (a minute and a half here)"
)
def test_a_class_where_one_notebook_attacks_grades_the_next_one_as_if_alone(tmp_path, monkeypatch):
    for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("MY_API_KEY", "secret")
    shared = tmp_path / "shared"  # the class's outputs on shared storage, as on a cluster
    shared.mkdir()
    monkeypatch.setenv("RAYCOURSE_OUTPUTS", str(shared))
    folder = tmp_path / "class"
    folder.mkdir()
    outside = tmp_path / "instructor.txt"
    outside.write_text("keep me")
    planted = folder / "zed.ipynb"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    mallory = notebooks.read(ROOT / "labs" / LAB01)
    mallory.cells[-1:-1] = [
        nbformat.v4.new_code_cell(textwrap.dedent(s).strip())
        for s in _attacks(outside, planted, listener.getsockname()[1])
    ]
    nbformat.write(mallory, str(folder / "mallory.ipynb"))
    trudy = notebooks.read(ROOT / "solutions" / LAB01)
    after_init = next(i for i, c in enumerate(trudy.cells) if "raycourse.init(" in c.source) + 1
    trudy.cells.insert(
        after_init,
        nbformat.v4.new_code_cell(PROBE + f"assert not os.path.exists({str(planted)!r})\nprint('nothing planted')"),
    )
    nbformat.write(trudy, str(folder / "trudy.ipynb"))
    try:
        report = grading.grade_class(folder, timeout=300, echo=lambda *a, **k: None)
    finally:
        listener.close()
    assert [(l.name, list(l.grades)) for l in report.learners] == [
        ("mallory", ["raycourse.checks.lab01"]),
        ("trudy", ["raycourse.checks.lab01"]),
    ], [(l.name, l.notes) for l in report.learners]
    grades = {learner.name: learner.grades["raycourse.checks.lab01"] for learner in report.learners}
    bad, good = grades["mallory"], grades["trudy"]
    # mallory: her own grade, whatever she did
    assert [v.status for v in bad.verdicts] == [N, N, N, N], bad.report()
    cells = {i: _text(c) for i, c in enumerate(bad.notebook.cells)}
    shown = "".join(t for t in cells.values() if not t.startswith("xxxx"))
    assert re.search(r"holding 0(\.0)? GPUs free", shown), (shown[-4000:], [str(e) for e in bad.errors])
    assert re.search(r"secrets: \[\] \S*/rcg-\w+/home\n", shown), shown[-3000:]  # no token, a HOME of its own
    assert bad.errors == [], [str(e) for e in bad.errors]  # every attack ran (and failed quietly, or did nothing)
    kept = sum(len(t) for t in cells.values())
    assert kept <= grading.OUTPUT_LIMIT + 10_000
    assert any(n.startswith("output truncated: the notebook printed more than 1,000,000 characters") for n in bad.notes)
    # trudy: graded as if alone, on an empty Ray of her own
    assert [v.status for v in good.verdicts] == [P, P, P, P], good.report()
    assert good.errors == [] and not good.notes, ([str(e) for e in good.errors], good.notes)
    assert "clean\n" in "".join(_text(c) for c in good.notebook.cells)
    # the memory limit (default: half the machine's) saw her kernel and the Ray in her sandbox: 1.6 GiB here
    assert 512 << 20 < good.memory_peak < grading.default_memory() * 2**30 and not good.out_of_memory
    # nothing of mallory's outlived her grading
    assert not _sleepers("987"), [p.info["cmdline"] for p in _sleepers("987")]
    if sandbox.unavailable():  # macOS: no sandbox for files and network (the grader warned)
        return
    # read-only, or (under /tmp, as here) not even seen: the sandbox's /tmp is its own
    assert re.search(r"remove (PermissionError|OSError|FileNotFoundError)\n", shown), shown[-3000:]
    assert re.search(r"plant (PermissionError|OSError|FileNotFoundError)\n", shown), shown[-3000:]
    assert "network: ConnectionRefusedError" in shown
    assert outside.read_text() == "keep me" and not planted.exists()
    assert not any("outlived" in n for n in bad.notes), bad.notes  # the sandbox ended them with the kernel
    assert "package: OSError" in shown or "package: PermissionError" in shown, shown[-2000:]
    assert any(n.startswith("its kernel tried to change the course's or Python's files") for n in bad.notes), bad.notes
    assert not list(shared.iterdir()), list(shared.rglob("*"))  # the grader's folders there: gone with it


@pytest.mark.slow(
    "the grader runs a class of notebooks, each in its own kernel with a Ray of its own (a minute and a half here)"
)
def test_without_a_sandbox_the_grader_gives_each_notebook_a_ray_and_kills_what_it_left(tmp_path, monkeypatch):
    for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV"):
        monkeypatch.delenv(name, raising=False)
    nb = _notebook(
        "from raycourse.checks import lab01 as check\nreviews = ...",
        "import subprocess\nsubprocess.Popen('setsid sleep 986 &', shell=True)",
        PROBE,
        "check.exercise_1(reviews)",
    )
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, str(path))
    said = []
    with grading.Grader(timeout=180, sandbox=False, echo=said.append) as grader:
        grade = grader.grade(path)
    assert said and said[0].startswith("Warning: no sandbox for the graded notebooks (you asked for none)")
    assert [v.status for v in grade.verdicts] == [N, C, C, C], grade.report()
    assert grade.errors == [], [str(e) for e in grade.errors]
    assert "1 process(es) it started outlived its kernel: the grader killed them." in grade.notes
    assert not _sleepers("986")


# Memory: a limit on a notebook's processes together ----------------------------------------------------------

HOG = """
import time
hog = []
for _ in range(64):  # up to 4 GiB, 64 MiB at a time: the grader stops it on the way, or while it holds them
    hog.append(b"x" * (64 << 20))
    time.sleep(0.05)
time.sleep(60)
print("not stopped")
"""


def test_a_notebook_that_takes_too_much_memory_is_stopped_and_the_next_one_is_not(kernels_ray, tmp_path):
    hog = _notebook(
        "from raycourse.checks import lab01 as check\nreviews = complaints = ...",
        "check.exercise_1(reviews)",
        HOG,
        "check.exercise_2(complaints)",
    )
    calm = _notebook(
        "from raycourse.checks import lab01 as check\nreviews = ...",
        "kept = b'x' * (512 << 20)\nimport time\ntime.sleep(2)\nprint(len(kept) >> 20, 'MiB')",
        "check.exercise_1(reviews)",
    )
    nbformat.write(hog, str(tmp_path / "hog.ipynb"))
    nbformat.write(calm, str(tmp_path / "calm.ipynb"))
    with grading.Grader(timeout=120, memory=1.5) as grader:
        bad = grader.grade(tmp_path / "hog.ipynb")
        good = grader.grade(tmp_path / "calm.ipynb")
    # the hog: what was checked before it stays, the rest says why it was not checked
    assert [v.status for v in bad.verdicts] == [N, C, C, C], bad.report()
    assert bad.verdicts[1].message == "its processes used more than 1.5 GiB of memory (the limit) before its check ran."
    assert bad.out_of_memory and not bad.timed_out
    assert any(n.startswith("memory limit of 1.5 GiB reached: the notebook's processes") for n in bad.notes), bad.notes
    assert "not stopped" not in _text(bad.notebook.cells[2])
    # the next notebook, on the same grader: graded as if alone, its memory seen (512 MiB of it in the kernel)
    assert [v.status for v in good.verdicts] == [N, C, C, C], good.report()
    assert "512 MiB" in _text(good.notebook.cells[1])
    assert not good.out_of_memory and not any("memory" in n for n in good.notes), good.notes
    assert 512 << 20 < good.memory_peak < 1.5 * 2**30


CHILD = """
import os, subprocess, sys, time
hog = b"x" * (300 << 20)  # held by a child of a child, in a session of its own
sys.stdout.write("ready\\n"); sys.stdout.flush()
time.sleep(120)
"""


def test_the_memory_watch_counts_every_process_of_the_tree_and_the_marked_ones_and_kills_them(tmp_path):
    """A parent that holds little, a grandchild (in a session of its own) and a marked process that holds 300 MiB
    each: together over a 0.5 GiB limit, and only together; the watch kills them all."""
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(CHILD)
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, {str(script)!r}], "
            "start_new_session=True)\ntime.sleep(120)",
        ],
    )
    marked = subprocess.Popen(
        [sys.executable, str(script)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, grading.GRADE_MARK_ENV: "m4rk"},
    )
    try:
        assert marked.stdout.readline() == "ready\n"
        watch = grading.MemoryWatch(0.5, lambda: [psutil.Process(parent.pid)], mark="m4rk", interval=0.2)
        tree = watch.processes()
        assert {p.pid for p in tree} >= {parent.pid, marked.pid} and len(tree) == 3, tree
        with watch:
            parent.wait(timeout=60)
            marked.wait(timeout=60)
        assert watch.exceeded and watch.peak > 0.5 * 2**30
        _, alive = psutil.wait_procs(tree, timeout=60)  # killed: gone once the system has run their exit
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    finally:
        for proc in (parent, marked):
            proc.kill()
            proc.wait()


def test_the_memory_limit_is_given_in_gib_and_a_wrong_one_is_refused(capsys):
    from raycourse.__main__ import _parser

    parser = _parser()
    assert parser.parse_args(["grade", "--memory", "8", "a.ipynb"]).memory == 8.0
    assert parser.parse_args(["grade-class", "--memory=12.5G", "class"]).memory == 12.5
    assert parser.parse_args(["grade", "a.ipynb"]).memory is None  # the Grader's default: half the machine's
    for wrong in ("0", "-1", "lots"):
        with pytest.raises(SystemExit):
            parser.parse_args(["grade", f"--memory={wrong}", "a.ipynb"])
        assert f"'{wrong}' is not a number of GiB above 0: give one such as 8 or 12.5" in capsys.readouterr().err
    assert 0 < grading.default_memory() == round(psutil.virtual_memory().total / 2**31, 1)
    with pytest.raises(ValueError, match="give a number of GiB above 0"):
        grading.Grader(memory=0)
