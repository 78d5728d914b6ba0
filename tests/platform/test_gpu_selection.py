"""What the make targets select, read from the marks on the tests (root conftest.py; pyproject.toml registers them).
`make test-gpu`: the lessons and solved labs with the real models, and every test that does not depend on the
profile; the tests marked `tiny_only` are skipped, with why. `make test-fast`: no notebook run (`slow`), and of each
lab's check tests those marked `fast`. `make test NOTEBOOKS=05`: one module's notebooks (`per_lab`)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from raycourse import catalogue
from raycourse.session.runtime import RAY_NOTICES_ENV

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
COURSE_MARKS = {"tiny_only", "slow", "fast", "per_lab"}
PYTEST_MARKS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}


def _load_root_conftest():
    """The root conftest.py as a module of its own name (tests/conftest.py is 'conftest' too)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("raycourse_root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


root_conftest = _load_root_conftest()


def _load_run_machinery():
    """The run's machinery (raycourse/testing/run_machinery.py) as a copy of its own: the tests below set its Rays,
    never those of the run they are part of."""
    import importlib.util

    path = ROOT / "raycourse" / "testing" / "run_machinery.py"
    spec = importlib.util.spec_from_file_location("raycourse_run_machinery_copy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_machinery = _load_run_machinery()


def _item(rel: str, name: str, *marks, case=None, module=None, fixtures=()):
    """A collected test as the root conftest reads it: its file, its name (``case``: a parametrized one's case), its
    marks (``pytest.mark.slow("why")``, ...), its fixtures, and its module (where test-fast reads ``fast`` marks)."""
    found = {mark.mark.name: mark.mark for mark in marks}
    return SimpleNamespace(
        fspath=ROOT / rel,
        originalname=name,
        name=name if case is None else f"{name}[{case}]",
        get_closest_marker=found.get,
        module=module,
        fixturenames=list(fixtures),
    )


def _cell(path: str):
    """A lesson's cell under nbval (no marks: slow by its kind)."""
    return SimpleNamespace(fspath=ROOT / path, name="Cell 3", cell={}, get_closest_marker=lambda _: None)


def _lab_module():
    """A check-test file that marks what test-fast keeps (as each lab's does)."""

    @pytest.mark.fast
    def test_kept():
        pass

    def test_other():
        pass

    return SimpleNamespace(test_kept=test_kept, test_other=test_other)


# The marks as written in the test files: every file is held to them, collected here or not.


def _mark(node) -> tuple[str, list] | None:
    """``pytest.mark.NAME`` or ``pytest.mark.NAME(...)`` as (NAME, its arguments); None for anything else."""
    target = node.func if isinstance(node, ast.Call) else node
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
        and isinstance(target.value.value, ast.Name)
        and target.value.value.id == "pytest"
    ):
        return target.attr, list(node.args) if isinstance(node, ast.Call) else []
    return None


def _written_marks() -> list[tuple[str, str | None, str, list]]:
    """Every mark on a test or a file of tests/: (file, test or None for the file's ``pytestmark``, name, arguments)."""
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
                values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
                found += [(rel, None, *mark) for mark in map(_mark, values) if mark]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found += [(rel, node.name, *mark) for mark in map(_mark, node.decorator_list) if mark]
    return found


WRITTEN = _written_marks()


def _marked(name: str) -> set[tuple[str, str | None]]:
    return {(rel, test) for rel, test, mark, _ in WRITTEN if mark == name}


def _test_names(rel: str) -> set:
    tree = ast.parse((ROOT / rel).read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_mark_is_registered_sits_on_a_test_and_slow_and_tiny_only_say_why():
    """A misspelt mark would select nothing (--strict-markers refuses it where it is collected; this, in every file),
    and make test-gpu prints a tiny_only test's reason with its skip."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    registered = {re.match(r"\w+", line).group() for line in options["markers"]}
    assert registered == COURSE_MARKS and "--strict-markers" in options["addopts"]
    assert {name for _, _, name, _ in WRITTEN} >= COURSE_MARKS
    for rel, test, name, args in WRITTEN:
        where = f"{rel}::{test or 'pytestmark'}"
        assert name in COURSE_MARKS | PYTEST_MARKS, f"{where}: pytest.mark.{name} is not registered in pyproject.toml"
        assert test is None or test.startswith("test_"), f"{where}: a mark on a function that is not a test"
        if name in ("slow", "tiny_only"):
            said = args[0].value if len(args) == 1 and isinstance(args[0], ast.Constant) else None
            assert isinstance(said, str) and said.strip(), f'{where}: {name}("why") says why, in one string'
        elif name in ("fast", "per_lab"):
            assert not args and test, f"{where}: {name} marks a test, with no argument"


def test_fast_marks_a_lab_check_test_that_is_not_slow_and_per_lab_a_grading_test():
    slow = _marked("slow")
    for rel, test in _marked("fast"):
        assert re.fullmatch(r"tests/checks/test_checks_lab\d\d\.py", rel), f"{rel}::{test}: fast is for lab checks"
        assert (rel, test) not in slow and (rel, None) not in slow, f"{rel}::{test}: both fast and slow"
    assert _marked("per_lab") and all(rel.startswith("tests/grading/") for rel, _ in _marked("per_lab"))


def _functions() -> dict[str, dict[str, ast.FunctionDef]]:
    return {
        path.relative_to(ROOT).as_posix(): {
            n.name: n for n in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(n, ast.FunctionDef)
        }
        for path in sorted(TESTS.rglob("*.py"))
    }


def _starts_a_ray(function: ast.FunctionDef) -> bool:
    """Whether ``function`` calls ``cluster.start`` (raycourse.session.cluster: a Ray of its own, not the run's)."""
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "start"
        and getattr(n.func.value, "id", None) == "cluster"
        for n in ast.walk(function)
    )


def test_every_test_that_starts_a_ray_of_its_own_is_marked_slow():
    """In its body, through a helper it calls or a fixture it asks for (of its file, another test file's it imports, or
    tests/conftest.py's), up to ``cluster.start``: make test-fast would otherwise start a Ray per such test."""
    functions = _functions()
    starts = {(rel, name) for rel, defs in functions.items() for name, f in defs.items() if _starts_a_ray(f)}
    while True:  # what reaches one of them, by name, through the functions a file has or imports from another
        more = set(starts)
        for rel, defs in functions.items():
            tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
            imported = {
                alias.asname or alias.name: (other, alias.name)
                for node in tree.body
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("test_")
                for other in functions
                if Path(other).stem == node.module
                for alias in node.names
            }
            for name, f in defs.items():
                used = {n.id for n in ast.walk(f) if isinstance(n, ast.Name)} | {a.arg for a in f.args.args}
                reached = {(rel, u) for u in used if u in defs} | {imported[u] for u in used if u in imported}
                reached |= {("tests/conftest.py", u) for u in used if u in functions["tests/conftest.py"]}
                if reached & starts:
                    more.add((rel, name))
        if more == starts:
            break
        starts = more
    tests = {(rel, name) for rel, name in starts if name.startswith("test_")}
    assert ("tests/platform/test_room.py", "test_a_gpu_actor_that_waits_is_told_which_job_holds_the_gpus") in tests
    assert any(rel == "tests/notebooks/test_two_nodes.py" for rel, _ in tests)
    slow = _marked("slow")
    unmarked = sorted(f"{rel}::{name}" for rel, name in tests if (rel, name) not in slow and (rel, None) not in slow)
    assert not unmarked, f'mark them pytest.mark.slow("why"): {unmarked}'


def test_lessons_solved_labs_and_profile_free_tests_run_on_a_gpu_and_tiny_tests_do_not():
    solved = "test_a_solved_lab_passes_every_exercise"
    kept = [
        _cell("notebooks/05_vit_fine_tuning.ipynb"),
        _item("tests/grading/test_grading.py", solved, pytest.mark.slow("kernels"), pytest.mark.per_lab, case="05"),
        _item("tests/gpu/test_pins.py", "anything"),
    ]
    assert [root_conftest._tiny_only(item) for item in kept] == [None] * len(kept)
    marked = _item("tests/checks/test_checks_lab05.py", "test_anything", pytest.mark.tiny_only("why"))
    assert root_conftest._tiny_only(marked) == "why"
    # as written: the solved labs, the pins and the profiles run on a GPU; the two-node rehearsal, an unsolved lab's
    # grading and Ray's logical GPUs do not
    tiny = _marked("tiny_only")
    for rel, test in [
        ("tests/grading/test_grading.py", solved),
        ("tests/gpu/test_pins.py", None),
        ("tests/platform/test_profiles.py", None),
    ]:
        assert (rel, test) not in tiny and (rel, None) not in tiny, (rel, test)
    for rel, test in [
        ("tests/notebooks/test_two_nodes.py", None),
        ("tests/grading/test_grading.py", "test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors"),
        ("tests/platform/test_runtime.py", "test_tiny_profile_declares_logical_gpus_without_a_real_one"),
    ]:
        assert (rel, test) in tiny, (rel, test)


def test_a_gpu_profile_run_skips_the_tiny_tests_with_their_reason_and_starts_no_ray():
    """As under make test-gpu (collected and skipped: no Ray starts for them, no GPU is needed)."""
    env = {**os.environ, "RAYCOURSE_PROFILE": "gpu"}
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/checks/test_checks_lab01.py",
            "tests/notebooks/test_two_nodes.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    assert "skipped" in last and "passed" not in last and "failed" not in last, last
    assert "tiny profile only: the checks' unit tests run on the sample data" in run.stdout
    assert "two nodes on one machine" in run.stdout


def test_test_fast_leaves_out_every_notebook_run_and_keeps_the_checks_tests():
    slow = [
        _cell("notebooks/05_vit_fine_tuning.ipynb"),
        _item(
            "tests/notebooks/test_two_nodes.py",
            "test_a_lesson_runs_in_the_gpu_profile_on_two_nodes_and_one_gpu",
            pytest.mark.slow("a two-node Ray of its own"),
        ),
        _item(
            "tests/grading/test_grading.py",
            "test_a_solved_lab_passes_every_exercise",
            pytest.mark.slow("kernels"),
            pytest.mark.per_lab,
            case="05",
        ),
    ]
    fast = [
        _item("tests/checks/test_checks_lab05.py", "test_kept", pytest.mark.fast, module=_lab_module()),
        _item(
            "tests/gpu/test_rehearsal.py", "test_every_model_load_is_written_the_same_way", pytest.mark.tiny_only("")
        ),
        _item("tests/grading/test_grading.py", "test_grading_verdicts_read_like_the_check_cells"),
    ]
    assert all(root_conftest._slow(i) for i in slow) and not any(root_conftest._slow(i) for i in fast)
    assert all(root_conftest._beyond_fast(i) for i in slow) and not any(root_conftest._beyond_fast(i) for i in fast)


def test_test_fast_keeps_one_right_and_one_wrong_answer_per_exercise_and_make_test_every_one():
    """Of a file that marks tests `fast`: a marked test runs in test-fast with its first case only; an unmarked one of
    the file does not; neither counts as slow, so make test runs and orders them as before. A file that marks none
    runs whole."""
    lab, module = "tests/checks/test_checks_lab01.py", _lab_module()

    def case(index):
        kept = _item(lab, "test_kept", pytest.mark.fast, case=index, module=module)
        kept.callspec = SimpleNamespace(indices={"x": index})
        return kept

    assert not root_conftest._beyond_fast(case(0))
    assert root_conftest._beyond_fast(case(1))
    assert root_conftest._beyond_fast(_item(lab, "test_other", module=module))
    assert not root_conftest._slow(_item(lab, "test_other", module=module))
    whole = SimpleNamespace(test_other=_lab_module().test_other)
    assert not root_conftest._beyond_fast(_item("tests/checks/test_checks_toolkit.py", "test_other", module=whole))


def test_every_lab_check_file_marks_what_test_fast_keeps_and_each_exercise_keeps_two():
    fast: dict[str, set] = {}
    for rel, test in _marked("fast"):
        fast.setdefault(rel, set()).add(test)
    labs = {p.relative_to(ROOT).as_posix() for p in (TESTS / "checks").glob("test_checks_lab*.py")}
    assert labs == set(fast), "every lab's check tests mark what make test-fast keeps (pytest.mark.fast)"
    for rel, kept in fast.items():
        exercises = {m.group(1) for n in _test_names(rel) if (m := re.match(r"test_(ex\d|exercise_\d|stretch)_", n))}
        for exercise in exercises:
            ones = [n for n in kept if n.startswith(f"test_{exercise}_")]
            assert len(ones) >= 2, f"{rel}: test-fast keeps {ones} of {exercise}, not a right and a wrong answer"


def test_test_fast_collects_the_first_case_of_a_kept_parametrized_check_test():
    """A real collection (RAYCOURSE_FAST=1), lab 01: the tests marked fast, a parametrized one with its first case."""
    env = {**os.environ, "RAYCOURSE_FAST": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "--collect-only",
            "-p",
            "no:cacheprovider",
            "tests/checks/test_checks_lab01.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ids = [
        line.split("::", 1)[1]
        for line in run.stdout.splitlines()
        if line.startswith("tests/checks/test_checks_lab01.py::")
    ]
    assert run.returncode == 0 and ids, run.stdout[-2000:] + run.stderr[-2000:]
    kept = {test for rel, test in _marked("fast") if rel == "tests/checks/test_checks_lab01.py"}
    assert {i.split("[")[0] for i in ids} == kept
    assert "test_ex1_accepts_different_correct_answers[<lambda>0]" in ids
    assert not any(i.startswith("test_ex1_accepts_different_correct_answers[") and i.endswith("1]") for i in ids)


def test_notebooks_05_keeps_lesson_05_and_the_grading_of_lab_05_only():
    def graded(name, lab, *marks):
        return _item("tests/grading/test_grading.py", name, *marks, case=lab)

    per_lab = pytest.mark.per_lab
    keep = [
        _cell("notebooks/05_vit_fine_tuning.ipynb"),
        graded("test_a_solved_lab_passes_every_exercise", "05", per_lab),
        graded("test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors", "05", per_lab),
    ]
    drop = [
        _cell("notebooks/04_llm_prompt_enhancement.ipynb"),
        graded("test_a_solved_lab_passes_every_exercise", "04", per_lab),
        graded("test_a_case_that_is_not_a_lab", "05"),  # not per_lab: its case is no module
        _item("tests/checks/test_checks_lab05.py", "anything"),
    ]
    assert all(root_conftest._in_modules(i, {"05"}) for i in keep)
    assert not any(root_conftest._in_modules(i, {"05"}) for i in drop)


def _collected_with_marks(tmp_path, *paths: str) -> dict[str, set]:
    """A real collection of ``paths``: each test's node id and the names of its marks."""
    (tmp_path / "print_marks.py").write_text(
        "def pytest_collection_finish(session):\n"
        "    for item in session.items:\n"
        "        print('MARKS', item.nodeid, *sorted({m.name for m in item.iter_markers()}), sep='\\t')\n"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS", "PYTEST_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-p", "print_marks", *paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    lines = [line.split("\t") for line in run.stdout.splitlines() if line.startswith("MARKS\t")]
    return {nodeid: set(marks) for _, nodeid, *marks in lines}


def test_side_by_side_each_case_of_a_per_lab_test_and_only_those_is_a_unit_of_its_own(tmp_path):
    """The controller of a run side by side schedules node ids without their marks: its rule for a per_lab case
    (PER_LAB_CASE) picks exactly the cases marked per_lab in a real collection of the grading tests, one per lab."""
    collected = _collected_with_marks(tmp_path, "tests/grading")
    per_lab = {nodeid for nodeid, marks in collected.items() if "per_lab" in marks}
    units = {nodeid for nodeid in collected if root_conftest._scope(nodeid) == nodeid}
    assert per_lab and units == per_lab, sorted(units ^ per_lab)
    labs = {m.number for m in catalogue.modules() if m.has_lab}
    assert {nodeid.split("[")[-1].rstrip("]") for nodeid in per_lab} == labs


def test_side_by_side_a_files_tests_stay_in_one_process_and_each_labs_grading_is_a_unit():
    """`make test` runs in two processes (pytest-xdist). A file's tests share its module fixtures and a notebook's cells
    one kernel, so they must go to one process; each lab's grading is a unit of its own (test_grading.py holds a third
    of the run). xdist's own loadgroup grouped nothing under pytest 9: this runs the real scheduler."""
    scope = root_conftest._scope
    assert scope("notebooks/05_vit_fine_tuning.ipynb::Cell 3") == scope("notebooks/05_vit_fine_tuning.ipynb::Cell 9")
    assert scope("tests/notebooks/test_two_nodes.py::test_a[05]") == scope("tests/notebooks/test_two_nodes.py::test_b")
    solved = "tests/grading/test_grading.py::test_a_solved_lab_passes_every_exercise"
    assert (
        len({scope(f"{solved}[04]"), scope(f"{solved}[05]"), scope("tests/grading/test_grading.py::test_other")}) == 3
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS", "PYTEST_"))
    }
    files = ("tests/checks/test_quizzes.py", "tests/docs/test_docs.py", "tests/platform/test_profiles.py")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    workers = {}
    for line in run.stdout.splitlines():
        if line.startswith("[gw") and " PASSED " in line:
            workers.setdefault(line.split(" PASSED ")[1].split("::")[0], set()).add(line.split("]")[0])
    assert set(workers) == set(files) and all(len(w) == 1 for w in workers.values()), workers
    assert len(set.union(*workers.values())) == 2, f"one process ran everything: {workers}"


def test_side_by_side_a_test_process_that_dies_is_named_with_the_step_it_died_in(tmp_path):
    """A test process can die without a trace (SIGKILL, a library's _exit). Each one writes its steps to a trail as
    it goes; the run names a dead one with its last steps, and the other process goes on."""
    (tmp_path / "test_dies.py").write_text(
        "import os, signal\n\n\ndef test_dies():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    (tmp_path / "test_lives.py").write_text("def test_lives():\n    pass\n")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS", "PYTEST_"))
    }
    env[RAY_NOTICES_ENV] = str(tmp_path / "notices" / "ray-retries.log")
    (tmp_path / "notices").mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conftest",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "--max-worker-restart=0",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_dies.py"),
            str(tmp_path / "test_lives.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1 and "1 failed, 1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
    said = re.search(r"\n(gw\d) died \(.*\); its last steps \((.*)\):\n(.*)", run.stderr)
    assert said, run.stderr[-3000:]
    worker, trail, last = said.groups()
    assert Path(trail) == tmp_path / "notices" / f"trail-{worker}.log"
    assert last.strip().endswith("start test_dies.py::test_dies"), last
    lines = Path(trail).read_text().splitlines()
    assert lines[-1].endswith("start test_dies.py::test_dies"), lines


@pytest.mark.parametrize("outcome", ["passed", "failed"])
def test_a_run_takes_its_token_folder_away_and_keeps_its_trails_only_when_it_failed(tmp_path, outcome):
    """The run's token (rc-auth-*) never stays in /tmp; its notices and trails (rc-notices-*) stay after a failure."""
    (tmp_path / "test_one.py").write_text(f"def test_one():\n    assert {outcome == 'passed'}\n")
    strip = ("RAYCOURSE_FAST", "RAYCOURSE_NOTEBOOKS", "PYTEST_", "RAY_AUTH_", "RAY_ADDRESS", RAY_NOTICES_ENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    env["TMPDIR"] = str(tmp_path)  # where the run makes its folders (tempfile)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
        + [str(tmp_path / "test_one.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == (0 if outcome == "passed" else 1), run.stdout[-3000:] + run.stderr[-2000:]
    assert f"1 {outcome}" in run.stdout, run.stdout[-3000:]
    assert not list(tmp_path.glob("rc-auth-*")), "the run's token folder stayed"
    kept = list(tmp_path.glob("rc-notices-*"))
    if outcome == "passed":
        assert not kept, "a run that passed left its notices folder"
    else:
        assert len(kept) == 1 and (kept[0] / "trail-main.log").is_file(), list(tmp_path.iterdir())


def test_side_by_side_a_worker_runs_notebooks_first_then_the_files_that_use_ray_then_the_rest():
    """The quick tests that need no Ray fill the end of the run in both processes (make test-fast: a Ray file
    that came last kept one process busy 22 s after the other had finished)."""

    docs = _item("tests/docs/test_docs.py", "test_a")
    runtime_pure = _item("tests/platform/test_runtime.py", "test_pure")
    runtime_ray = _item("tests/platform/test_runtime.py", "test_ray", fixtures=["ray_session"])
    authoring = _item("tests/notebooks/test_authoring.py", "test_b")
    cell = _cell("notebooks/05_vit_fine_tuning.ipynb")
    cell.fixturenames = []
    # a run that starts a cluster of its own, not the run's Ray: it keeps its place among the runs
    two_nodes = _item(
        "tests/notebooks/test_two_nodes.py",
        "test_a_lesson_runs_in_the_gpu_profile_on_two_nodes_and_one_gpu",
        pytest.mark.slow("a two-node Ray of its own"),
    )
    # before all, while the process has no Ray driver yet (run_machinery.BEFORE_ANY_DRIVER says why)
    signals = _item("tests/platform/test_lab_signals.py", "test_the_worker_port_range_is_ray_s")
    order = run_machinery.run_order(
        [docs, runtime_pure, two_nodes, authoring, signals, runtime_ray, cell], root_conftest._slow
    )
    assert order == [signals, two_nodes, cell, runtime_pure, runtime_ray, docs, authoring]


def test_only_a_run_that_surely_needs_the_runs_ray_starts_it_while_collecting(monkeypatch):
    config = SimpleNamespace(option=SimpleNamespace(collectonly=False))
    for key in ("RAY_ADDRESS", "RAYCOURSE_SHARED_RAY", *run_machinery.SELECTION_ENV):
        monkeypatch.delenv(key, raising=False)
    assert not run_machinery._starts_ray_early(config)  # pytest tests/docs/test_docs.py: maybe no Ray at all
    monkeypatch.setenv("RAYCOURSE_FAST", "1")  # make test-fast: the checks' tests
    assert run_machinery._starts_ray_early(config)
    assert "RAYCOURSE_FAST" not in run_machinery._ray_env()  # Ray's processes never see the selection
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # a cluster of the caller's
    assert not run_machinery._starts_ray_early(config)
    monkeypatch.delenv("RAY_ADDRESS")
    assert not run_machinery._starts_ray_early(SimpleNamespace(option=SimpleNamespace(collectonly=True)))


def test_a_ray_started_early_is_kept_only_while_the_settings_it_passes_on_are_the_same(monkeypatch):
    from concurrent.futures import Future

    from raycourse.session import cluster, runtime

    class FakeRay:
        def __init__(self, digest):
            self.env_digest, self.stopped = digest, False

        def client_env(self):
            return {}

        def stop(self):
            self.stopped = True

    needs_ray = SimpleNamespace(
        config=SimpleNamespace(option=SimpleNamespace(collectonly=False)),
        items=[SimpleNamespace(cell={}, get_closest_marker=lambda _: None)],
    )
    for key in ("RAY_ADDRESS", "RAYCOURSE_SHARED_RAY"):
        monkeypatch.delenv(key, raising=False)
    today = runtime.env_digest(cluster.ray_environment(run_machinery._ray_env()))
    for digest, kept in [(today, True), ("other settings", False)]:
        early, fresh = FakeRay(digest), FakeRay(today)
        future = Future()
        future.set_result(early)
        monkeypatch.setattr(run_machinery, "_EARLY_RAY", future)
        monkeypatch.setattr(run_machinery, "_SHARED_RAY", None)
        monkeypatch.setattr(run_machinery, "_start_shared_ray", lambda: fresh)
        run_machinery.pytest_collection_finish(needs_ray)
        assert run_machinery._SHARED_RAY is (early if kept else fresh)
        assert early.stopped is not kept and not fresh.stopped
        assert run_machinery._EARLY_RAY is None
