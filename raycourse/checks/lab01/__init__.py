"""Checks for lab 01 (ingest and transform), on data the lesson never read: the shop's reviews.

The lesson read a CSV of image prompts, renamed a column, filtered on text and counted words.
The lab asks for the same pipeline on a JSON Lines file with other operations: read and keep
four columns; keep the reviews of 1 or 2 stars (a comparison of numbers) and add a column from
two columns of the same row (does the text name the row's own pet?); write parquet partitioned
by a column; and, as a stretch, a mean per group.

The expected answers are computed from ``text/reviews.jsonl`` with pandas, so the checks stay
right if the sample data changes. That file cannot test every rule (it has no 3-star review,
and every pet in it is written in lower case), so Exercise 2 also runs the learner's own steps
on a few probe reviews made from a seed the caller chooses (see :func:`probes`), and reads from
the Dataset's plan the steps the text names (an expression filter, a batch function; the
stretch's groupby).

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes the learner's
objects and returns plain data; ``_judge_N`` decides from that data alone (in the grader's process
when a notebook is graded).

A module per exercise (``ex1``, ``ex2``, ``ex3``, ``stretch``) and what they share (``_common``); the lab
imports this package, which holds its exercises in the lab's order, :func:`progress` and what the lab's tests use.
"""

from .._core import progress_of
from ._common import _mentions, expected_complaints
from .ex1 import exercise_1
from .ex2 import NUMBER_HINT, PROBE_PETS, exercise_2, probes
from .ex3 import exercise_3
from .stretch import stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

__all__ = [
    "NUMBER_HINT",
    "PROBE_PETS",
    "_mentions",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "expected_complaints",
    "probes",
    "progress",
    "stretch",
]
