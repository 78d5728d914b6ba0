"""Test-wide settings and the notebook checks that nbval alone cannot do.

``make test`` runs pytest with nbval over the lessons in notebooks/ (the labs and their solutions are
graded instead, by tests/grading/test_grading.py: each solution must pass every exercise, each lab say "not
solved yet", and neither may have an error or stderr output in any cell). On top of nbval (every cell
runs; cells tagged ``nbval-check-output`` match their recorded output) this file asserts that every
check cell of a lesson printed a passing verdict, and that no cell writes to stderr (warnings,
deprecations, Ray log lines), unless it is tagged ``stderr-ok``. The same rules hold for any notebook
of solutions/ or labs/ given to pytest by path.

The run's machinery (its one Ray, the processes side by side, their order and trails) is the plugin
``raycourse/testing/run_machinery.py``; this file says what a run selects (``make test-fast``, ``NOTEBOOKS=05``,
``make test-gpu``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from raycourse import catalogue
from raycourse.runtime import RAY_NOTICES_ENV, TEST_ENV

pytest_plugins = ["raycourse.testing.run_machinery"]  # the run's one Ray, side by side, order, trails


def _run_machinery():
    """The plugin's module, imported by pytest (as pytest_plugins are: imported here first, it would warn)."""
    import raycourse.testing.run_machinery

    return raycourse.testing.run_machinery


# Every notebook kernel inherits this environment: tiny profile, offline, quiet (one definition for
# the tests and the grader: raycourse.runtime.TEST_ENV).
for _key, _value in TEST_ENV.items():
    os.environ.setdefault(_key, _value)

# Ray's notices of tasks it runs again after their worker died go to this file, not into cells
# (raycourse.runtime.RETRY_NOTICE); the end of the run lists them.
# The folders made here go at the end of the run (pytest_unconfigure): the token's always, the notices' (with the
# test processes' trails) unless the run failed or Ray ran tasks again, when they say what happened.
_MADE_HERE: dict[str, str] = {}
if not os.environ.get(RAY_NOTICES_ENV):
    import tempfile

    _MADE_HERE["notices"] = tempfile.mkdtemp(prefix="rc-notices-")
    os.environ[RAY_NOTICES_ENV] = os.path.join(_MADE_HERE["notices"], "ray-retries.log")

# Every Ray of the run requires a token, as make lab's does (raycourse.auth): one token for the run, in a folder of
# its own (not the user's ~/.ray/auth_token), set before Ray is imported, for the run's Rays, its kernels and its
# test processes. A caller's cluster (RAY_ADDRESS) or a caller's token settings are used as they are.
if not os.environ.get("RAY_ADDRESS") and not any(
    os.environ.get(key) for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
):
    import tempfile

    _MADE_HERE["token"] = tempfile.mkdtemp(prefix="rc-auth-")
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=os.path.join(_MADE_HERE["token"], "auth_token"))

CHECK_TAG = "check"
QUIZ_TAG = "quiz"  # a lesson's quiz cell (raycourse.checks.quiz): shipped with every answer `...`
EXPECTED = {"solutions": "passed", "labs": "not solved yet", "notebooks": "passed"}
VERDICT_MARKS = ("✅", "⏳", "❌")


def _cell_text(outputs) -> str:
    parts = []
    for out in outputs or []:
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append("\n".join(out.get("traceback", [])))
    return "".join(parts)


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item):
    cell = getattr(item, "cell", None)
    if cell is None or getattr(item, "test_outputs", None) is None:  # not a cell
        return
    cell_tags = cell.get("metadata", {}).get("tags", [])
    if "stderr-ok" not in cell_tags:
        stderr = "".join(
            o.get("text", "")
            for o in item.test_outputs
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        assert not stderr.strip(), f"the cell wrote to stderr (a learner would see this):\n{stderr}"
    folder = Path(str(item.fspath)).parent.name
    if QUIZ_TAG in cell_tags and folder == "notebooks":  # a lesson ships its quiz unanswered
        lines = _cell_text(item.test_outputs).splitlines()
        answers = [line for line in lines if line.startswith(VERDICT_MARKS)]
        assert answers and all(" not answered yet: " in line for line in answers), (
            "the quiz as shipped must say 'not answered yet' for every question:\n" + "\n".join(lines)
        )
        assert lines[-1].endswith(f": 0 of {len(answers)} right"), lines[-1]
        return
    if CHECK_TAG not in cell_tags:
        return
    expected = EXPECTED.get(folder)
    if expected is None:
        return
    text = _cell_text(item.test_outputs)
    verdicts = [line for line in text.splitlines() if line.startswith(VERDICT_MARKS)]
    assert verdicts, f"check cell printed no verdict:\n{text}"
    wrong = [v for v in verdicts if expected not in v.split(":")[0]]
    assert not wrong, f"expected every check in {folder}/ to say '{expected}', got:\n" + "\n".join(wrong)


# What each lesson under nbval built on the run's Ray (two logical GPUs in tiny): read from the GCS before its first
# cell and after its last, so that every GPU stage and trainer of a lesson is seen to use every GPU of the cluster
# (tests/actor_sizes.py; the two-node rehearsal shows the same lessons asking for no more than one GPU).
_LESSON_ACTORS: dict = {}
SERVE_ACTORS = ("ServeController", "ProxyActor", "ServeReplica")  # Ray Serve's actors, by class name


def _actor_sizes():

    tests = str(Path(__file__).resolve().parent / "tests")
    if tests not in sys.path:
        sys.path.append(tests)
    import actor_sizes

    return actor_sizes


def _is_lesson_cell(item) -> bool:
    return (
        getattr(item, "cell", None) is not None
        and Path(str(item.fspath)).parent.name == "notebooks"
        and bool(os.environ.get("RAY_ADDRESS"))
    )


def pytest_runtest_setup(item):
    if _is_lesson_cell(item) and str(item.fspath) not in _LESSON_ACTORS:
        actors, _ = _actor_sizes().from_gcs(os.environ["RAY_ADDRESS"])
        _LESSON_ACTORS[str(item.fspath)] = {a["actor_id"] for a in actors}


def pytest_runtest_teardown(item, nextitem):
    # module and session fixtures end after this (the two-node cluster, Serve, Ray)
    _run_machinery().trail("teardown", item.nodeid)
    if not _is_lesson_cell(item) or (nextitem is not None and str(nextitem.fspath) == str(item.fspath)):
        return
    sizes = _actor_sizes()
    actors, gpus = sizes.from_gcs(os.environ["RAY_ADDRESS"])
    before = _LESSON_ACTORS.get(str(item.fspath), set())
    jobs = sizes.count([a for a in actors if a["actor_id"] not in before])
    problems = sizes.oversized(jobs, gpus) + sizes.undersized(jobs, gpus)
    # A Serve application outlives its notebook (Serve's controller is detached), holding its replicas' GPUs in the
    # course's one Ray: a lesson that started Serve stops it (module 08 ends with serve.shutdown()).
    problems += [
        f"left running: {a['class_name']} (Ray Serve)"
        for a in actors
        if a["state"] == "ALIVE" and a["class_name"].startswith(SERVE_ACTORS)
    ]
    assert not problems, f"{Path(str(item.fspath)).name} on {gpus} GPUs:\n" + "\n".join(problems)


# Tests that prove something about the tiny profile only, by file (every test in it) or by file and test name.
# `make test-gpu` (the gpu profile, on a GPU machine) skips them; `tests/platform/test_gpu_selection.py` holds this list
# to existing tests. Anything not listed runs in both profiles. A file can say so itself, where it lives:
# `pytestmark = pytest.mark.tiny_only("why")` (every check-test file does: `new-module` writes it).
TINY_ONLY = {
    "tests/platform/test_standins.py": "the stand-ins themselves",
    "tests/platform/test_model_standins.py": "the stand-ins themselves",
    "tests/gpu/test_rehearsal.py": "the gpu code path rehearsed on a CPU with stand-ins",
    (
        "tests/gpu/test_gpu_levers.py",
        "test_the_dry_run_writes_the_results_and_the_table_says_what_it_is",
    ): "the lever harness's dry run on the stand-ins (on a GPU, tools/gpu_ray_check.sh runs the real one)",
    "tests/notebooks/test_two_nodes.py": "two nodes on one machine and a logical GPU: the gpu code path rehearsed on a "
    "CPU with stand-ins",
    "tests/notebooks/test_two_learners.py": "two kernels on a two-node Ray with logical GPUs: the gpu code path "
    "rehearsed on a CPU with stand-ins",
    "tests/platform/test_cluster.py": "make lab's and a lone notebook's tiny Ray with logical GPUs",
    "tests/notebooks/test_browser.py": "JupyterLab in a browser, on the tiny profile",
    "tests/notebooks/test_progress.py": "progress bars, with stand-in stages",
    "tests/notebooks/test_ddp.py": "two-worker DDP on CPU with gloo",
    "tests/platform/test_soak.py": "a killed kernel's logical GPU given back (the soak runs on a GPU machine too)",
    ("tests/platform/test_lab_signals.py", "test_closing_the_terminal_stops_jupyterlab_and_ray"): "make lab's tiny Ray",
    (
        "tests/platform/test_lab_signals.py",
        "test_the_death_of_the_process_that_started_it_stops_jupyterlab_and_ray",
    ): "make lab's tiny Ray",
    (
        "tests/grading/test_grading.py",
        "test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_broken_lab_reports_the_error_and_grades_the_rest",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_time_limit_stops_the_kernel_and_the_rest_is_not_checked",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_dead_kernel_missing_check_cells_and_a_renamed_import",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_graded_copy_writes_its_outputs_aside_never_into_the_learners",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_grade_prints_each_verdict_and_a_total_and_fails_for_a_file_it_cannot_grade",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_class_report_has_every_verdict_total_and_share",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/grading/test_grading.py",
        "test_a_class_report_is_printed_and_written_as_a_readable_table",
    ): "the grader's logic, which does not depend on the profile",
    (
        "tests/platform/test_room.py",
        "test_a_gpu_actor_that_waits_is_told_which_job_holds_the_gpus",
    ): "a Ray of its own with 2 logical GPUs",
    (
        "tests/platform/test_room.py",
        "test_a_notebook_cell_that_waits_for_a_gpu_prints_who_holds_them",
    ): "a Ray of its own with 2 logical GPUs",
    ("tests/platform/test_runtime.py", "test_init_twice_reuses_ray_and_prints_a_summary"): "the tiny profile's summary",
    ("tests/platform/test_runtime.py", "test_tiny_profile_declares_logical_gpus_without_a_real_one"): "logical GPUs",
    ("tests/platform/test_runtime.py", "test_stand_ins_on_a_gpu_machine_get_rays_gpus_but_never_cuda"): "stand-ins",
    (
        "tests/platform/test_runtime.py",
        "test_readers_take_concurrency_while_transforms_log_its_deprecation",
    ): "the sample images (the gpu profile reads them from S3)",
}


# What `make test-fast` leaves out (RAYCOURSE_FAST=1): every test that runs a whole notebook, starts a Ray of
# its own or asks the package index, by file or by file and test name. What stays is the unit tests and the
# checks' tests that FAST_CHECKS names (on the run's one Ray), for an author's edit-test loop.
SLOW_RUNS = {
    "tests/platform/test_environment.py": (
        "test_the_lock_resolves_to_wheels_for_every_supported_python_on_linux_and_macos"
    ),
    "tests/notebooks/test_two_nodes.py": None,
    "tests/notebooks/test_two_learners.py": None,
    # a Ray of its own (2 logical GPUs) and two drivers: one holds the GPUs, the other is told who
    "tests/platform/test_room.py": {
        "test_a_gpu_actor_that_waits_is_told_which_job_holds_the_gpus",
        "test_a_notebook_cell_that_waits_for_a_gpu_prints_who_holds_them",
    },
    "tests/notebooks/test_browser.py": None,
    "tests/docs/test_site.py": None,  # builds the website (make site) and reads every page in Chromium
    "tests/platform/test_cluster.py": None,
    "tests/notebooks/test_progress.py": None,
    "tests/notebooks/test_ddp.py": None,
    "tests/platform/test_soak.py": None,
    "tests/platform/test_lab_signals.py": {
        "test_closing_the_terminal_stops_jupyterlab_and_ray",
        "test_the_death_of_the_process_that_started_it_stops_jupyterlab_and_ray",
    },
    "tests/platform/test_runtime.py": (
        "test_a_learners_kernel_shows_ray_worker_output_and_warnings_and_a_test_run_does_not"
    ),
    # a scaffolded module's notebooks run; verify-gpu measures stages in processes of their own
    "tests/notebooks/test_template.py": "test_a_scaffolded_module_runs_and_its_tests_pass",
    # trains the stand-ins anew to compare them with the shipped ones (about a minute and a half of training)
    "tests/platform/test_standins.py": {
        "test_the_shipped_trained_standins_are_what_their_training_gives",
        "test_another_seed_gives_other_weights",
        # the image stand-in paints the course's 62 prompts at 512 px (20 s): what it
        # learned, not a unit; `make test-standins` runs it with the trainings
        "test_image_gen_paints_each_prompt_of_the_course_in_its_world_colour",
    },
    # the lever harness's dry run: a Ray Data pipeline with the CLIP stand-in's actors (about a minute here)
    "tests/gpu/test_gpu_levers.py": "test_the_dry_run_writes_the_results_and_the_table_says_what_it_is",
    "tests/gpu/test_fullsize.py": {
        "test_verify_gpu_measures_a_stage_and_lists_what_it_skipped",
        "test_full_size_build_resolves_and_loads_in_the_gpu_profile",
        "test_verify_gpu_transcribes_with_whisper_tiny_at_full_size",
    },
    # the grader runs a class of notebooks, each in its own kernel with a Ray of its own (a minute and a half here)
    "tests/grading/test_grading_isolation.py": {
        "test_a_class_where_one_notebook_attacks_grades_the_next_one_as_if_alone",
        "test_without_a_sandbox_the_grader_gives_each_notebook_a_ray_and_kills_what_it_left",
    },
    "tests/grading/test_grading.py": {
        "test_a_solved_lab_passes_every_exercise",
        "test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors",
        "test_a_broken_lab_reports_the_error_and_grades_the_rest",
        "test_a_class_report_has_every_verdict_total_and_share",
        "test_a_class_report_is_printed_and_written_as_a_readable_table",
        "test_grade_prints_each_verdict_and_a_total_and_fails_for_a_file_it_cannot_grade",
    },
}
# What `make test-fast` keeps of the lab checks' tests: per exercise and stretch, its placeholder (where it has a
# test of its own), one right answer and one wrong one, a parametrized test with its first case only; `make test`
# runs every test of these files (each requirement of a lab's text with the wrong answer that breaks only it). A
# check-test file with no line here runs whole in both. tests/platform/test_gpu_selection.py holds every name to a test.
FAST_CHECKS = {
    "tests/checks/test_checks_lab01.py": {
        "test_ex1_placeholder_is_not_solved",
        "test_ex1_accepts_different_correct_answers",
        "test_ex1_rejects_the_file_read_as_text",
        "test_ex2_placeholder_is_not_solved",
        "test_ex2_accepts_the_solution",
        "test_ex2_rejects_an_empty_dataset",
        "test_ex3_placeholder_and_nothing_written_are_not_solved",
        "test_ex3_accepts_ray_and_pandas_partitioned_writers",
        "test_ex3_rejects_a_review_in_the_wrong_folder",
        "test_check_cells_print_one_verdict_line",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_ray_data_groupings",
        "test_stretch_rejects_a_table_made_outside_ray_data",
    },
    "tests/checks/test_checks_lab02.py": {
        "test_expected_answers_follow_the_data",
        "test_ex1_placeholder_is_not_solved",
        "test_ex1_accepts_different_correct_answers",
        "test_ex1_rejects_a_key_that_matches_nothing_and_duplicates",
        "test_ex2_placeholder_is_not_solved",
        "test_ex2_accepts_different_correct_answers",
        "test_ex2_rejects_a_different_joiner",
        "test_check_cells_print_one_verdict_line",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_an_anti_then_a_semi_join",
        "test_stretch_rejects_other_steps_than_joins",
    },
    "tests/checks/test_checks_lab03.py": {
        "test_ex1_placeholder_is_not_solved",
        "test_ex1_accepts_pixel_arrays",
        "test_ex1_rejects_missing_rows_and_a_batch",
        "test_ex2_nothing_written_is_not_solved",
        "test_ex2_accepts_one_ray_parquet_file",
        "test_ex2_rejects_the_wrong_folder",
        "test_ex3_nothing_written_is_not_solved",
        "test_ex3_accepts_write_images",
        "test_ex3_rejects_jpeg",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_a_pil_resize_and_a_stride",
        "test_stretch_rejects_blank_and_full_size_thumbnails",
    },
    "tests/checks/test_checks_lab04.py": {
        "test_exercise_1_placeholder_is_not_solved",
        "test_exercise_1_accepts_correct_classes",
        "test_exercise_1_rejects_wrong_classes",
        "test_exercise_2_placeholder_is_not_solved",
        "test_exercise_2_accepts_a_correct_pipeline",
        "test_exercise_2_rejects_an_empty_dataset",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_a_tokenizer_actor_counting_ids_or_text",
        "test_stretch_rejects_a_table_and_a_function_stage",
    },
    "tests/checks/test_checks_lab05.py": {
        "test_ex1_placeholders_are_not_solved",
        "test_ex1_accepts_labels_from_paths_in_colour_and_the_sorted_classes",
        "test_ex1_rejects_grayscale_dropped",
        "test_ex2_placeholders_are_not_solved",
        "test_ex2_accepts_a_loop_through_prepare_model_with_a_report_per_epoch",
        "test_ex2_rejects_a_report_per_batch",
        "test_ex3_placeholders_are_not_solved",
        "test_ex3_accepts_batched_classifiers_with_the_softmax_confidence",
        "test_ex3_rejects_a_pipeline_without_the_class",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_a_groupby_mean_and_extra_columns",
        "test_stretch_rejects_sums_grouping_by_prediction_and_answers_that_ignore_the_data",
    },
    "tests/checks/test_checks_lab06.py": {
        "test_ex1_waits_for_the_placeholder_and_the_outline",
        "test_ex1_accepts_correct_classes",
        "test_ex1_rejects_a_function",
        "test_ex2_waits_for_the_placeholder_and_points_at_the_folder_when_the_files_went_elsewhere",
        "test_ex2_accepts_the_stored_embeddings",
        "test_ex2_rejects_something_else_than_a_dataset",
        "test_ex3_waits_for_the_placeholder_and_the_embeddings",
        "test_ex3_accepts_any_correct_search",
        "test_ex3_rejects_mistakes",
        "test_stretch_waits_for_the_placeholder_and_the_embeddings",
        "test_stretch_accepts_a_ray_map_batches_vote",
        "test_stretch_rejects_a_table_made_in_the_notebook",
    },
    "tests/checks/test_checks_lab07.py": {
        "test_ex1_waits_for_the_placeholder_and_wants_a_dataset",
        "test_ex1_accepts_the_rows_however_they_were_built",
        "test_ex1_rejects_rows_assembled_outside_ray",
        "test_ex2_waits_for_the_placeholder_and_the_starved_run",
        "test_ex2_passes_a_fed_run_and_says_what_it_measured",
        "test_ex2_rejects_the_starved_run_one_giant_batch_and_an_idle_gpu",
        "test_ex3_waits_for_the_placeholder_and_the_outline",
        "test_ex3_accepts_different_correct_loops",
        "test_ex3_rejects_the_likely_mistakes",
        "test_stretch_placeholder_and_outline_are_not_solved",
        "test_stretch_accepts_correct_loops",
        "test_stretch_rejects_mistakes",
    },
    "tests/checks/test_checks_lab08.py": {
        "test_ex1_placeholder_is_not_solved",
        "test_ex1_accepts_right_deployments",
        "test_ex1_rejects_embeddings_that_are_not_normalised",
        "test_ex2_accepts_the_processors_catalogue",
        "test_ex2_rejects_a_lazy_catalogue_and_a_pandas_table",
        "test_ex3_accepts_the_rule_with_every_bad_row_quarantined",
        "test_ex3_rejects_a_rule_that_lets_a_null_product_through",
        "test_stretch_accepts_a_resumed_run_and_rejects_a_restarted_one",
        "test_stretch_wants_the_id_in_what_is_written",
    },
    "tests/checks/test_checks_lab09.py": {
        "test_ex1_placeholder_is_not_solved",
        "test_ex1_accepts_the_solution_and_a_pandas_batch_function",
        "test_ex1_a_pandas_table",
        "test_ex2_placeholder_is_not_solved",
        "test_ex2_accepts_the_solution_and_a_pandas_group_function",
        "test_ex2_not_grouped",
        "test_stretch_placeholder_is_not_solved",
        "test_stretch_accepts_a_materialized_colours",
        "test_stretch_not_materialized",
    },
}

# The lab-grading tests that take one lab each: `make test NOTEBOOKS=05` keeps those of lab 05 (and lesson 05).
GRADED_PER_LAB = SLOW_RUNS["tests/grading/test_grading.py"] - {
    "test_a_class_report_has_every_verdict_total_and_share",
    "test_a_class_report_is_printed_and_written_as_a_readable_table",
    "test_grade_prints_each_verdict_and_a_total_and_fails_for_a_file_it_cannot_grade",
}


def _rel(item) -> str | None:
    try:
        return Path(str(item.fspath)).resolve().relative_to(Path(__file__).resolve().parent).as_posix()
    except ValueError:
        return None


def _name(item) -> str:
    return getattr(item, "originalname", None) or item.name.split("[")[0]


def _slow(item) -> bool:
    if hasattr(item, "cell"):  # an nbval cell of a lesson
        return True
    names = SLOW_RUNS.get(_rel(item), ())
    return names is None or _name(item) == names or _name(item) in names


def _beyond_fast(item) -> bool:
    """Whether ``make test-fast`` leaves ``item`` out: a slow run, or a lab check's test beyond FAST_CHECKS (a test
    not named there, or a parametrized one's later cases)."""
    if _slow(item):
        return True
    kept = FAST_CHECKS.get(_rel(item))
    if kept is None:
        return False
    if _name(item) not in kept:
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(callspec.indices.values())


def _in_modules(item, modules: set) -> bool:
    """Whether ``item`` runs a notebook of one of ``modules`` ("05"): a lesson's cell or a lab's grading."""
    rel = _rel(item) or ""
    if hasattr(item, "cell"):
        return catalogue.number_of(rel) in modules
    if rel == "tests/grading/test_grading.py" and _name(item) in GRADED_PER_LAB:
        return item.name.split("[")[-1].rstrip("]") in modules
    return False


def _tiny_only(item) -> str | None:
    """Why ``item`` proves something about the tiny profile only (its tiny_only mark, TINY_ONLY), or None."""
    mark = item.get_closest_marker("tiny_only") if hasattr(item, "get_closest_marker") else None
    if mark is not None:
        return mark.args[0] if mark.args else "marked tiny_only"
    rel = _rel(item)
    return TINY_ONLY.get(rel) or TINY_ONLY.get((rel, _name(item))) if rel else None


def _selected_modules() -> set:
    """The modules ``make test NOTEBOOKS=05,06`` names (RAYCOURSE_NOTEBOOKS), as "05", "06"."""
    return {m.strip().zfill(2) for m in os.environ.get("RAYCOURSE_NOTEBOOKS", "").replace(",", " ").split()}


@pytest.hookimpl(tryfirst=True)  # before the run machinery starts a Ray early
def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # NOTEBOOKS=19 would select nothing and say so only as "no tests ran"
        for number in sorted(_selected_modules()):
            try:
                catalogue.module(number, Path(__file__).resolve().parent)
            except catalogue.CourseError as error:
                raise pytest.UsageError(f"NOTEBOOKS={number}: {error}") from None
    config.stash[_run_machinery().SCOPE] = _scope  # the units of work side by side


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = exitstatus


_EXIT_STATUS = pytest.StashKey()


@pytest.hookimpl(trylast=True)  # after the end-of-run summary has listed Ray's notices
def pytest_unconfigure(config):
    """The run's folders in /tmp go with it: the token's always; the notices' and trails' when the run passed
    and Ray ran no task again (otherwise they are what a person reads next)."""
    import shutil

    if "token" in _MADE_HERE:
        shutil.rmtree(_MADE_HERE.pop("token"), ignore_errors=True)
    notices = _MADE_HERE.get("notices")
    retries = Path(notices or "", "ray-retries.log")
    quiet = not retries.is_file() or not retries.read_text(encoding="utf-8").strip()
    if notices and config.stash.get(_EXIT_STATUS, None) == 0 and quiet:
        shutil.rmtree(_MADE_HERE.pop("notices"), ignore_errors=True)


def _scope(nodeid: str) -> str:
    """What runs in one process: a file's tests (its module fixtures: the two-node cluster, Serve, a notebook's
    cells in one kernel), except that every lab's grading is a unit of its own (the file holds a third of the run)."""
    path, _, test = nodeid.partition("::")
    if path == "tests/grading/test_grading.py" and test.split("[")[0] in GRADED_PER_LAB:
        return nodeid
    return path


def pytest_collection_modifyitems(config, items):
    """`make test-fast` (RAYCOURSE_FAST=1): no notebook runs; `make test NOTEBOOKS=05` (RAYCOURSE_NOTEBOOKS=05):
    only module 05's lesson and the grading of its lab."""
    # Read once and taken out of the environment: a test that runs pytest again (the rehearsal, the tests of
    # this file's own rules) must collect what it names.
    modules = _selected_modules()
    os.environ.pop("RAYCOURSE_NOTEBOOKS", None)
    fast = os.environ.pop("RAYCOURSE_FAST", "") not in ("", "0")
    if modules or fast:
        keep = [i for i in items if (_in_modules(i, modules) if modules else not _beyond_fast(i))]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: the groups that run notebooks, Rays or kernels
        # first, then the files whose tests use the run's Ray, so that the quick tests that need no Ray fill the end of
        # the run in both processes instead of one waiting for the other (test-fast: tests/platform/test_runtime.py,
        # 34 s, came last in one process while the other had been idle for 22 s)
        items[:] = _run_machinery().run_order(items, _slow)
    _mark_items(items)


def _mark_items(items):
    gpu_profile = os.environ.get("RAYCOURSE_PROFILE", "").strip().lower() == "gpu"
    # `make test-gpu` keeps what means something on a GPU machine: the lessons under nbval and the solved labs
    # graded with the real models, and the tests that do not depend on the profile. A test listed in TINY_ONLY proves
    # something about the tiny profile (stand-ins, the sample data's paths, Ray's logical GPUs, the CPU rehearsal
    # of the gpu path, the grader's logic on tiny copies): there it would test nothing, or fail for the wrong reason.
    for item in items:
        why = _tiny_only(item)
        if gpu_profile and why:
            item.add_marker(pytest.mark.skip(reason=f"tiny profile only: {why}"))
        # Stored notebooks carry no execution counts (a learner sees `[ ]` on every cell), and nbval
        # treats a cell without one as never run: it would not compare the recorded output, and it fails
        # one that has outputs ("Unrun reference cell has outputs"). Here, every cell with stored outputs
        # gets a count; nbval compares only those tagged for comparison (--nbval-lax).
        cell = getattr(item, "cell", None)
        if cell is not None and cell.outputs:
            cell.execution_count = 1
        # nbval waits only 5 s for a cell's output messages after the cell finishes; on a
        # busy 2-core machine that is too short and fails cells that ran fine.
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
        # Recorded outputs are the tiny profile's (its stand-ins' shapes and words); in the
        # gpu profile every cell still runs and every check must pass, but nothing is
        # compared with the recording.
        if gpu_profile and getattr(item, "options", None) is not None and "check" in item.options:
            item.options["check"] = False
