"""Which verdict each exercise gets and which error explains it (raycourse.grading's pure part), and the
public view of a lab's checks that grading uses (raycourse.checks.Lab): no kernel, no Ray."""

import nbformat
import pytest

from raycourse import grading
from raycourse.checks import Lab, Verdict
from raycourse.grading import CellError, Explanation, plan_notebook, request_verdicts

NAMES = {"exercise_1": "Exercise 1", "exercise_2": "Exercise 2"}
TITLES = ["Exercise 1", "Exercise 2"]


def _book(checked_in=None) -> Explanation:
    return Explanation(TITLES, NAMES, "check", dict(checked_in or {}))


def _passed(attribute: str) -> dict:
    return {"attribute": attribute, "verdict": Verdict(NAMES[attribute], "passed", "fine.").to_dict()}


def test_a_verdict_is_explained_by_the_first_error_since_the_previous_check():
    book = _book({"Exercise 1": 3})
    errors = [CellError(1, "NameError", "name 'x' is not defined", "y = x + 1")]
    book.cell_ran("y = x + 1", None, [], errors[0], errors, in_place=False)
    errors.append(CellError(2, "KeyError", "'a'", "d['a']"))
    book.cell_ran("d['a']", None, [], errors[1], errors, in_place=False)
    book.cell_ran(
        "check.exercise_1(y)", [_passed("exercise_1")], [["exercise_1", ["y"], [], 1]], None, errors, in_place=True
    )
    verdict = book.final["Exercise 1"]
    assert verdict.status == "passed"
    assert verdict.error == str(errors[0])  # the first one, not the latest
    # A check resets the errors that explain: the next check has no cause.
    book.cell_ran(
        "check.exercise_2(y)", [_passed("exercise_2")], [["exercise_2", ["y"], [], 1]], None, errors, in_place=True
    )
    assert book.final["Exercise 2"].error == ""


def test_a_check_cell_that_raised_is_an_error_explained_by_the_first_error_of_the_notebook():
    book = _book({"Exercise 2": 4})
    first = CellError(0, "ImportError", "no module named foo", "import foo")
    book.cell_ran("import foo", None, [], first, [first], in_place=False)
    book.cell_ran(
        "check.exercise_1(ds)", [_passed("exercise_1")], [["exercise_1", ["ds"], [], 1]], None, [first], in_place=True
    )
    own = CellError(4, "NameError", "name 'ds' is not defined", "ds2 = ds.map(f)")
    book.cell_ran(
        "ds2 = ds.map(f)\ncheck.exercise_2(ds2)",
        None,
        [["exercise_2", ["ds2"], [], 2]],
        own,
        [first, own],
        in_place=False,
    )
    verdict = book.final["Exercise 2"]
    assert verdict.status == "error"
    assert verdict.message == "its check cell raised NameError: name 'ds' is not defined"
    assert verdict.error == str(first)  # no error since the last check: the notebook's first error explains it
    # A cell that raised with no error before it names no cause.
    alone = _book()
    alone.cell_ran("check.exercise_1(x)", None, [["exercise_1", ["x"], [], 1]], own, [own], in_place=False)
    assert (alone.final["Exercise 1"].status, alone.final["Exercise 1"].error) == ("error", "")


def test_the_exercises_no_check_decided_say_why():
    book = _book({"Exercise 1": 2})
    late = CellError(7, "ValueError", "bad", "f()")
    verdicts, notes = book.finish([late], "", 600)
    assert [(v.exercise, v.status) for v in verdicts] == [("Exercise 1", "not checked"), ("Exercise 2", "not checked")]
    assert verdicts[0].message == "its check cell ran but did not check it."
    assert verdicts[1].message == "the notebook has no check cell for it (`check.exercise_2(...)`)."
    assert notes == [f"a cell after the last check: {late}"]
    verdicts, notes = book.finish([], "time", 30)
    assert {v.message for v in verdicts} == {"the time limit (30 s) was reached before its check ran."}
    assert notes == ["time limit of 30 s reached: the kernel was stopped."]
    verdicts, notes = book.finish([], "died", 30)
    assert notes == ["the kernel died (out of memory?): the cells after it did not run."]
    verdicts, notes = book.finish([], "memory", 30, 2.5)
    assert {v.message for v in verdicts} == {
        "its processes used more than 2.5 GiB of memory (the limit) before its check ran."
    }
    assert notes == [
        "memory limit of 2.5 GiB reached: the notebook's processes (its kernel, what it started and its Ray's) used "
        "more than that together; the grader stopped them, and the cells after it did not run."
    ]
    assert book.final == {}  # finishing decides nothing for the book itself


def test_what_the_grader_s_request_brought_back_becomes_verdicts():
    calls = [["exercise_1", ["x"], [], 1]]
    lost = request_verdicts(None, calls, NAMES, None, in_place=True)
    assert lost["Exercise 1"].status == "error" and "no observation it could read back" in lost["Exercise 1"].message
    error = CellError(1, "NameError", "x", "x")
    assert request_verdicts(None, calls, NAMES, error, in_place=False) == {}  # the cell's own error says it
    assert request_verdicts([_passed("exercise_1")], [], NAMES, None, in_place=True) == {}  # no check call
    raised = request_verdicts(
        [{"attribute": "exercise_1", "raised": ["NameError", "name 'x' is not defined", "check.exercise_1(x)"]}],
        calls,
        NAMES,
        None,
        in_place=False,
    )
    assert raised["Exercise 1"].message.startswith("the grader could not repeat its check `check.exercise_1(x)`")
    failed = request_verdicts([{"failed": "KeyError: 'lab'"}], calls, NAMES, None, in_place=True)
    assert failed["Exercise 1"].message == "the grader's check failed: KeyError: 'lab'"


def test_planning_a_notebook_finds_its_check_cells_and_what_reaches_into_grading():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("from raycourse.checks import lab01 as check"),
            nbformat.v4.new_markdown_cell("check.exercise_2(x) in prose is no check"),
            nbformat.v4.new_code_cell("check.exercise_1(x)"),
            nbformat.v4.new_code_cell("y = 1\ncheck.exercise_1(y)\nimport sys; sys.modules"),
        ]
    )
    plans, checked_in, notes = plan_notebook(nb, "check", NAMES)
    assert checked_in == {"Exercise 1": 3}
    assert plans[0] == (False, []) and plans[2][0] is True and plans[3][0] is False
    assert len(notes) == 1 and notes[0].startswith("cell 3 reaches into the grading machinery")


def test_a_lab_view_gives_its_exercises_label_and_totals():
    lab = Lab.of("lab05")
    assert lab == Lab("raycourse.checks.lab05")
    assert (lab.name, lab.label) == ("lab05", "Lab 05")
    assert lab.titles == [ex.title for ex in lab.exercises] and lab.titles[0] == "Exercise 1"
    assert set(lab.calls.values()) >= set(lab.titles)
    assert lab.modules[-1] == "raycourse.checks.lab05"
    assert set(lab.modules) <= set(grading.checks_sources())
    verdicts = [Verdict(title, "passed", "fine.") for title in lab.titles]
    assert lab.total_line(verdicts).startswith("Lab 05: ")
    with pytest.raises(ImportError):
        Lab.of("lab99")


def test_grading_imports_nothing_private_of_the_checks():
    import ast
    from pathlib import Path

    trees = [ast.parse(p.read_text("utf-8")) for p in Path(grading.__file__).parent.glob("*.py")]
    private = [
        (node.module, alias.name)
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and "checks" in (node.module or "")
        for alias in node.names
        if alias.name.startswith("_") or any(part.startswith("_") for part in node.module.split("."))
    ]
    assert private == []
