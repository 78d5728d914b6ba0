"""What the make targets select (root conftest.py). `make test-gpu`: the lessons and solved labs with the real
models, and every test that does not depend on the profile; the tests of the tiny profile (TINY_ONLY) are
skipped, with why. `make test-fast`: no notebook run (SLOW_RUNS). `make test NOTEBOOKS=05`: one module's notebooks."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from raycourse.runtime import RAY_NOTICES_ENV

ROOT = Path(__file__).resolve().parents[2]


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


def _item(rel: str, name: str):
    return SimpleNamespace(fspath=ROOT / rel, originalname=name, name=name)


def test_every_tiny_only_entry_names_a_test_that_exists():
    for key in root_conftest.TINY_ONLY:
        rel, name = key if isinstance(key, tuple) else (key, None)
        if rel == "tests/notebooks/test_ddp.py" and not (ROOT / rel).exists():
            continue
        assert (ROOT / rel).is_file(), rel
        if name:
            tree = ast.parse((ROOT / rel).read_text())
            assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, (rel, name)


def test_lessons_solved_labs_and_profile_free_tests_run_on_a_gpu_and_tiny_tests_do_not():
    kept = [
        _item("notebooks/05_vit_fine_tuning.ipynb", "Cell 3"),
        _item("tests/grading/test_grading.py", "test_a_solved_lab_passes_every_exercise"),
        _item("tests/gpu/test_pins.py", "anything"),
        _item("tests/platform/test_profiles.py", "anything"),
    ]
    assert [root_conftest._tiny_only(item) for item in kept] == [None] * len(kept)
    for rel, name in [
        ("tests/notebooks/test_two_nodes.py", "t"),
        ("tests/grading/test_grading.py", "test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors"),
        ("tests/platform/test_runtime.py", "test_tiny_profile_declares_logical_gpus_without_a_real_one"),
    ]:
        assert root_conftest._tiny_only(_item(rel, name)), (rel, name)
    # A file that marks itself (every check-test file: pytestmark = pytest.mark.tiny_only("why")).
    marked = _item("tests/checks/test_checks_lab05.py", "test_anything")
    marked.get_closest_marker = lambda name: pytest.mark.tiny_only("why").mark if name == "tiny_only" else None
    assert root_conftest._tiny_only(marked) == "why"


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
    lesson_cell = SimpleNamespace(fspath=ROOT / "notebooks/05_vit_fine_tuning.ipynb", name="Cell 3", cell={})
    slow = [
        lesson_cell,
        _item("tests/notebooks/test_two_nodes.py", "test_a_lesson_runs_in_the_gpu_profile_on_two_nodes_and_one_gpu"),
        _item("tests/grading/test_grading.py", "test_a_solved_lab_passes_every_exercise"),
    ]
    fast = [
        _item(
            "tests/checks/test_checks_lab05.py", "test_ex1_accepts_labels_from_paths_in_colour_and_the_sorted_classes"
        ),
        _item("tests/gpu/test_rehearsal.py", "test_every_model_load_is_written_the_same_way"),
        _item("tests/grading/test_grading.py", "test_grading_verdicts_read_like_the_check_cells"),
    ]
    assert all(root_conftest._slow(i) for i in slow) and not any(root_conftest._slow(i) for i in fast)
    assert all(root_conftest._beyond_fast(i) for i in slow) and not any(root_conftest._beyond_fast(i) for i in fast)


def _case(rel: str, name: str, index: int):
    """A parametrized test's case ``index``, as pytest collects it (its callspec)."""
    return SimpleNamespace(
        fspath=ROOT / rel, originalname=name, name=f"{name}[{index}]", callspec=SimpleNamespace(indices={"x": index})
    )


def test_test_fast_keeps_one_right_and_one_wrong_answer_per_exercise_and_make_test_every_one():
    """FAST_CHECKS: a listed test runs in test-fast with its first case only; an unlisted one of the file does not;
    neither counts as slow, so make test runs and orders them as before."""
    lab = "tests/checks/test_checks_lab01.py"
    assert not root_conftest._beyond_fast(_case(lab, "test_ex1_accepts_different_correct_answers", 0))
    assert root_conftest._beyond_fast(_case(lab, "test_ex1_accepts_different_correct_answers", 1))
    assert root_conftest._beyond_fast(_item(lab, "test_ex1_rejects_mistakes"))
    assert not root_conftest._slow(_item(lab, "test_ex1_rejects_mistakes"))
    assert not root_conftest._beyond_fast(_item("tests/checks/test_checks_toolkit.py", "test_anything"))


def _test_names(rel: str) -> set:
    tree = ast.parse((ROOT / rel).read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_fast_check_and_slow_run_names_a_test_that_exists_and_each_exercise_keeps_two():
    for rel, names in [*root_conftest.SLOW_RUNS.items(), *root_conftest.FAST_CHECKS.items()]:
        if rel == "tests/notebooks/test_ddp.py" and not (ROOT / rel).exists():
            continue
        assert (ROOT / rel).is_file(), rel
        names = {names} if isinstance(names, str) else names or set()
        assert names <= _test_names(rel), (rel, sorted(names - _test_names(rel)))
    labs = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests" / "checks").glob("test_checks_lab*.py")}
    assert labs == set(root_conftest.FAST_CHECKS), "every lab's check tests name what make test-fast keeps"
    for rel, kept in root_conftest.FAST_CHECKS.items():
        exercises = {m.group(1) for n in _test_names(rel) if (m := re.match(r"test_(ex\d|exercise_\d|stretch)_", n))}
        for exercise in exercises:
            ones = [n for n in kept if n.startswith(f"test_{exercise}_")]
            assert len(ones) >= 2, f"{rel}: test-fast keeps {ones} of {exercise}, not a right and a wrong answer"


def test_test_fast_collects_the_first_case_of_a_kept_parametrized_check_test():
    """A real collection (RAYCOURSE_FAST=1), lab 01: the listed tests, each parametrized one with its first case."""
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
    kept = root_conftest.FAST_CHECKS["tests/checks/test_checks_lab01.py"]
    assert {i.split("[")[0] for i in ids} == kept
    assert "test_ex1_accepts_different_correct_answers[<lambda>0]" in ids
    assert not any(i.startswith("test_ex1_accepts_different_correct_answers[") and i.endswith("1]") for i in ids)


def test_notebooks_05_keeps_lesson_05_and_the_grading_of_lab_05_only():
    def graded(name, lab):
        return SimpleNamespace(fspath=ROOT / "tests/grading/test_grading.py", originalname=name, name=f"{name}[{lab}]")

    def cell(path):
        return SimpleNamespace(fspath=ROOT / path, name="Cell 1", cell={})

    keep = [
        cell("notebooks/05_vit_fine_tuning.ipynb"),
        graded("test_a_solved_lab_passes_every_exercise", "05"),
        graded("test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors", "05"),
    ]
    drop = [
        cell("notebooks/04_llm_prompt_enhancement.ipynb"),
        graded("test_a_solved_lab_passes_every_exercise", "04"),
        _item("tests/checks/test_checks_lab05.py", "anything"),
    ]
    assert all(root_conftest._in_modules(i, {"05"}) for i in keep)
    assert not any(root_conftest._in_modules(i, {"05"}) for i in drop)


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

    def item(rel, name, fixtures=()):
        return SimpleNamespace(
            fspath=ROOT / rel,
            originalname=name,
            name=name,
            fixturenames=list(fixtures),
            get_closest_marker=lambda _: None,
        )

    docs = item("tests/docs/test_docs.py", "test_a")
    runtime_pure = item("tests/platform/test_runtime.py", "test_pure")
    runtime_ray = item("tests/platform/test_runtime.py", "test_ray", ["ray_session"])
    authoring = item("tests/notebooks/test_authoring.py", "test_b")
    cell = SimpleNamespace(
        fspath=ROOT / "notebooks/05_vit_fine_tuning.ipynb", name="Cell 3", cell={}, get_closest_marker=lambda _: None
    )
    # a run that starts a cluster of its own, not the run's Ray: it keeps its place among the runs
    two_nodes = item(
        "tests/notebooks/test_two_nodes.py", "test_a_lesson_runs_in_the_gpu_profile_on_two_nodes_and_one_gpu"
    )
    # before all, while the process has no Ray driver yet (run_machinery.BEFORE_ANY_DRIVER says why)
    signals = item("tests/platform/test_lab_signals.py", "test_the_worker_port_range_is_ray_s")
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

    from raycourse import cluster, runtime

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
