"""A sandbox that stays shut: each way a graded notebook could undo or reach past it, tried from a cell.

* An unsolved lab 01 with one cell per attack (a remount, the course package edited, files left in ``/dev/shm``,
  the host's Unix sockets, the grader's environment), graded once as an instructor grades it (a sandbox and a
  Ray of its own: about 40 s here); one test per attack reads what its cell saw and what the host kept.
* The sandbox's private memory, counted by the memory limit and gone with it, without a kernel (2 s).
* The environment built from an allow list, and the output cap counting error outputs (on the run's Ray, 10 s).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import nbformat
import psutil
import pytest

from raycourse import grading, sandbox
from raycourse.authoring import notebooks

ROOT = Path(__file__).resolve().parents[2]
LAB01 = "01_ingest_and_transform_lab.ipynb"
CHECKOUT_INIT = ROOT / "raycourse" / "__init__.py"
LEAKY = {
    "DATABASE_URL": "postgres://app:hunter2@db.internal/app",
    "HTTPS_PROXY": "http://me:hunter2@proxy.internal:3128",
    "SENTRY_DSN": "https://abc@sentry.internal/1",
    "GH_PAT": "ghp_x",
    "PGPASS": "hunter2",
}
needs_sandbox = pytest.mark.skipif(bool(sandbox.unavailable()), reason=f"no sandbox here: {sandbox.unavailable()}")


def _attacks(where: dict) -> list[str]:
    return [
        # the remount that undid the sandbox, then a write to a host file; the same from a nested user namespace
        f"""
        import subprocess
        run = subprocess.run(["mount", "-o", "remount,bind,rw", "/"], capture_output=True, text=True)
        print("remount:", run.returncode)
        nested = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                                 "mount -o remount,bind,rw /"], capture_output=True, text=True)
        print("nested remount:", nested.returncode)
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
        print("privileges:", status["CapEff"].strip(), status["CapBnd"].strip(), status["NoNewPrivs"].strip())
        try:
            open({where["outside"]!r}, "a").write("changed")
            print("outside: written")
        except OSError as exc:
            print("outside:", type(exc).__name__)
        """,
        # code appended to the course package, the one imported and the checkout's
        f"""
        import os, raycourse
        print("package from the checkout:", os.path.realpath(raycourse.__file__) == {str(CHECKOUT_INIT)!r})
        for name, path in (("imported", raycourse.__file__), ("checkout", {str(CHECKOUT_INIT)!r})):
            try:
                open(path, "a").write("\\nprint('tampered')\\n")
                print("package", name, "written")
            except OSError as exc:
                print("package", name, type(exc).__name__)
        """,
        # files in /dev/shm and /tmp: the host's seen? one left behind?
        f"""
        import os
        seen = [os.path.exists(p) for p in ({where["shm_mark"]!r}, {where["tmp_mark"]!r})]
        print("host shm seen:", seen[0], "host tmp seen:", seen[1])
        with open({where["shm_left"]!r}, "wb") as left:
            left.write(b"x" * (64 << 20))
        print("shm written")
        """,
        # the host's Unix sockets: one under /tmp, one elsewhere, one abstract
        f"""
        import socket
        for name, path in (("tmp", {where["sock_tmp"]!r}), ("home", {where["sock_home"]!r}),
                           ("abstract", {where["abstract"]!r})):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    print("socket", name, "connected")
                except OSError as exc:
                    print("socket", name, type(exc).__name__)
        """,
        f"import os\nprint('environment:', sorted(k for k in {sorted(LEAKY)!r} if k in os.environ))",
    ]


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    return listener


ATTACK_GRADED = pytest.mark.slow("grades an attacking lab in the sandbox, its kernel and Ray (about a minute here)")


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """The unsolved lab 01 with the attacks, graded in a sandbox (no RAY_ADDRESS); what the host kept."""
    if sandbox.unavailable():
        pytest.skip(f"no sandbox here: {sandbox.unavailable()}")
    tmp = tmp_path_factory.mktemp("attacked")
    home = Path(tempfile.mkdtemp(prefix=".rcg-test-", dir=Path.home()))  # a file and a socket outside /tmp
    token = os.urandom(4).hex()
    where = {
        "outside": str(home / "instructor.txt"),
        "shm_mark": f"/dev/shm/rcg-test-host-{token}",
        "shm_left": f"/dev/shm/rcg-test-left-{token}",
        "tmp_mark": str(tmp / "host-tmp-mark"),
        "sock_tmp": str(tmp / "s"),
        "sock_home": str(home / "s"),
        "abstract": f"\0rcg-test-{token}",
    }
    Path(where["outside"]).write_text("keep me")
    Path(where["shm_mark"]).write_text("host")
    Path(where["tmp_mark"]).write_text("host")
    listeners = [_listen(where[k]) for k in ("sock_tmp", "sock_home", "abstract")]
    lab = notebooks.read(ROOT / "labs" / LAB01)
    lab.cells[-1:-1] = [nbformat.v4.new_code_cell(textwrap.dedent(s).strip()) for s in _attacks(where)]
    nbformat.write(lab, str(tmp / "mallory.ipynb"))
    package = CHECKOUT_INIT.read_bytes()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for name in ("RAY_ADDRESS", "RAYCOURSE_RAY_ENV"):
                mp.delenv(name, raising=False)
            for name, value in LEAKY.items():
                mp.setenv(name, value)
            with grading.Grader(timeout=300, echo=lambda *a: None) as grader:
                grade = grader.grade(tmp / "mallory.ipynb")
        shown = "".join(
            o.get("text", "") for c in grade.notebook.cells for o in c.get("outputs", []) if o.get("name") == "stdout"
        )
        yield {
            "grade": grade,
            "shown": shown,
            "where": where,
            "outside": Path(where["outside"]).read_text(),  # before the folder goes
            "package": CHECKOUT_INIT.read_bytes() == package,
            "shm_left": os.path.exists(where["shm_left"]),
        }
    finally:
        if CHECKOUT_INIT.read_bytes() != package:  # the attack got through: undo it before anything imports it
            CHECKOUT_INIT.write_bytes(package)
        for listener in listeners:
            listener.close()
        for path in (where["shm_mark"], where["shm_left"]):
            Path(path).unlink(missing_ok=True)
        sandbox.remove(home)


def _line(shown: str, prefix: str) -> str:
    lines = [line for line in shown.splitlines() if line.startswith(prefix)]
    assert lines, (prefix, shown[-3000:])
    return lines[0][len(prefix) :].strip()


@ATTACK_GRADED
def test_an_unsolved_lab_that_attacks_the_sandbox_scores_0(attacked):
    grade = attacked["grade"]
    assert [v.status for v in grade.verdicts] == ["not solved"] * 4, grade.report()
    assert grade.total_line() == "Lab 01: 0 of 3 exercises passed"
    assert grade.errors == [], [str(e) for e in grade.errors]  # every attack ran, and failed quietly


@ATTACK_GRADED
def test_a_remount_is_refused_and_nothing_regains_a_privilege(attacked):
    shown = attacked["shown"]
    assert _line(shown, "remount:") != "0"
    assert _line(shown, "nested remount:") != "0"
    assert _line(shown, "privileges:") == "0000000000000000 0000000000000000 1"  # no capability, no_new_privs
    assert _line(shown, "outside:") in ("OSError", "PermissionError")
    assert attacked["outside"] == "keep me"


@ATTACK_GRADED
def test_the_course_package_is_a_read_only_copy_not_the_checkout(attacked):
    shown = attacked["shown"]
    assert _line(shown, "package from the checkout:") == "False"
    assert _line(shown, "package imported") in ("OSError", "PermissionError")
    assert _line(shown, "package checkout") in ("OSError", "PermissionError")
    assert attacked["package"], "the checkout's raycourse/__init__.py was changed (restored)"


@ATTACK_GRADED
def test_dev_shm_and_tmp_are_the_notebooks_own_and_gone_after_it(attacked):
    shown = attacked["shown"]
    assert _line(shown, "host shm seen:") == "False host tmp seen: False"
    assert "shm written" in shown
    assert not attacked["shm_left"], "a file the notebook wrote in /dev/shm stayed on the host"
    assert attacked["grade"].memory_peak > 64 << 20


@ATTACK_GRADED
def test_no_host_unix_socket_can_be_reached(attacked):
    shown = attacked["shown"]
    for name in ("tmp", "home", "abstract"):
        assert _line(shown, f"socket {name}") in ("FileNotFoundError", "ConnectionRefusedError"), name


@ATTACK_GRADED
def test_the_grader_environment_does_not_reach_the_notebook(attacked):
    assert _line(attacked["shown"], "environment:") == "[]"


def test_the_kernel_environment_is_built_from_an_allow_list():
    env = grading.minimal_env(
        {
            **LEAKY,
            "PATH": "/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "RAYCOURSE_PROFILE": "tiny",
            "RAYCOURSE_API_KEY": "k",
            "RAY_AUTH_TOKEN": "ray",
            "HF_TOKEN": "hf",
            "AWS_SECRET_ACCESS_KEY": "s",
            "SSH_AUTH_SOCK": "/tmp/agent",
            "ANY_OTHER_NAME": "x",
            "PYTHONPATH": "/opt/site",  # the grader's own packages (a GPU machine's carried site): the copy goes first
        }
    )
    assert env == {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "RAYCOURSE_PROFILE": "tiny",
        "RAY_AUTH_TOKEN": "ray",  # Ray's own: the token of a Ray the kernel is told to join
        "PYTHONPATH": "/opt/site",
    }


FLOOD = """
class Flood(Exception):
    pass
ip = get_ipython()
for _ in range(2000):  # 60 kB each: 120 MB of error outputs
    ip._showtraceback(Flood, "x" * 100, ["y" * 2000] * 30)
print("flooded")
"""


def test_error_outputs_count_in_the_output_cap(kernels_ray, tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("from raycourse.checks import lab01 as check\nreviews = ..."),
            nbformat.v4.new_code_cell(FLOOD),
            nbformat.v4.new_code_cell("print('after')\nraise ValueError('mine')"),
            nbformat.v4.new_code_cell("check.exercise_1(reviews)"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, str(tmp_path / "flood.ipynb"))
    with grading.Grader(timeout=120, echo=lambda *a: None) as grader:
        grade = grader.grade(tmp_path / "flood.ipynb")
    kept = sum(len(json.dumps(c.get("outputs", []))) for c in grade.notebook.cells)
    assert kept < grading.OUTPUT_LIMIT + 100_000, kept
    assert any(n.startswith("output truncated") for n in grade.notes), grade.notes
    # each cell's first error is still known: the flood's, and the next cell's own (its value cut short)
    assert [(e.index, e.ename) for e in grade.errors] == [(1, "Flood"), (2, "ValueError")]
    assert grade.verdicts[0].status == "not solved", grade.report()


@needs_sandbox
def test_files_in_the_sandbox_count_as_its_memory_and_go_with_it(tmp_path):
    """A process that holds little but writes /dev/shm and /tmp: the bytes count (up to the sandbox's size), the
    memory watch stops it, and nothing it wrote is left on the host."""
    token = os.urandom(4).hex()
    script = textwrap.dedent(
        f"""
        import sys, time
        for path, size in (("/dev/shm/rcg-{token}", 96), ("/tmp/rcg-{token}", 96), ("/dev/shm/more-{token}", 96)):
            try:
                with open(path, "wb") as out:
                    for _ in range(size):
                        out.write(b"x" * (1 << 20))
            except OSError as exc:
                print(type(exc).__name__, flush=True)
        print("ready", flush=True)
        time.sleep(120)
        """
    )
    launcher = subprocess.Popen(
        sandbox.command([sys.executable, "-c", script], [str(tmp_path)], size=256 << 20),
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert launcher.stdout.readline() == "OSError\n"  # past its 256 MiB: "No space left on device"
        assert launcher.stdout.readline() == "ready\n"
        held = sandbox.private_bytes(launcher.pid)
        assert 250 << 20 < held <= 256 << 20, held
        watch = grading.MemoryWatch(
            0.2, lambda: [psutil.Process(launcher.pid)], interval=0.1, files=lambda: sandbox.private_bytes(launcher.pid)
        )
        with watch:
            launcher.wait(timeout=60)
        assert watch.exceeded and watch.peak > 250 << 20
    finally:
        launcher.kill()
        launcher.wait()
    assert not [p for p in Path("/dev/shm").iterdir() if token in p.name]
    assert not [p for p in Path("/tmp").iterdir() if token in p.name]


@needs_sandbox
def test_a_course_checked_out_under_tmp_keeps_its_data_readable_in_the_sandbox(tmp_path):
    """The sandbox hides the host's /tmp behind its own, and a CI's clone often lies there: the course's data and
    notebooks beside the package stay readable (read-only) in it, else ``raycourse.init()`` finds no data."""
    course = tmp_path / "course"  # under /tmp (pytest's tmp_path), like a fresh clone in a temporary folder
    shutil.copytree(ROOT / "raycourse", course / "raycourse", ignore=shutil.ignore_patterns("__pycache__"))
    (course / "data").mkdir()
    (course / "data" / "seen.txt").write_text("seen")
    probe = (
        "import os, subprocess, sys\n"
        "from raycourse.grading import sandbox\n"
        f"data = {str(course / 'data')!r}\n"
        "script = 'import os; p = ' + repr(data)\n"
        "script += '; print(open(os.path.join(p, \"seen.txt\")).read(), os.access(p, os.W_OK))'\n"
        "run = subprocess.run(sandbox.command([sys.executable, '-c', script], []), capture_output=True, text=True)\n"
        "print(run.stdout.strip() or run.stderr[-2000:])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(course))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=course, timeout=99)
    assert run.stdout.strip() == "seen False", (run.stdout, run.stderr[-2000:])
