"""Lab 12 checks (Two models online): pass any correct answer, reject placeholders and plausible mistakes."""

from __future__ import annotations

from ._core import Wrong, exercise, progress_of, require

progress = progress_of(__name__)  # the lab's last cell: check.progress()


# Each check in two halves: the observer (decorated) runs in the learner's kernel and returns plain data; its judge
# decides from that data alone, in the grader's process when a notebook is graded (a pass never comes from the kernel).


def _judge_1(seen, seed=None) -> str:
    found = sorted(seen["ids"])
    if found != [0, 2, 4, 6, 8]:
        raise Wrong(f"`evens` holds {found}.", 'Keep the rows whose id divides by 2 (`col("id") % 2 == 0`).')
    return "five even numbers."


@exercise("Exercise 1 · TODO", judge=_judge_1)
def exercise_1(evens):
    require("evens", evens, "a Dataset of the even numbers below 10")
    return {"ids": [int(row["id"]) for row in evens.take_all()]}


def _judge_stretch(seen, seed=None) -> str:
    if seen["n_evens"] != 5:
        raise Wrong(f"`n_evens` is {seen['n_evens']}.", "Count the rows of `evens` with `count()`.")
    return "5 rows."


@exercise("Stretch · TODO", judge=_judge_stretch)
def stretch(n_evens):
    require("n_evens", n_evens, "the number of rows in `evens`")
    whole = isinstance(n_evens, int) and not isinstance(n_evens, bool)
    return {"n_evens": int(n_evens) if whole else repr(n_evens)}
