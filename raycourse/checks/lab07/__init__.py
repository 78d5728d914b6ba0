"""Checks of lab 07, the capstone: ratings assembled from three sources, each stage's resources chosen so that the
encoder is fed, and a regression on the stars trained from the stream.

Exercise 1 reads the learner's ``ratings`` and compares it with the check's own assembly of the same files (pandas,
no Ray): one row per rating whose product the catalogue lists (the ratings of retired products have no photo and
are left out, as an inner join does), each with its own ``text`` and ``stars`` and the photo of the product it
rates, a path to that product's file in the photo folder. A join on the rating's own ``id``, a left join, a photo
named by the rating's id and lost or doubled rows are told apart, each with its hint. Then its plan: the rows must
come from a join in Ray (not assembled in pandas and handed over) and the photo from a batch function (no row-by-row
``map``, which the lesson used); a learner's error inside a function is told by its own line.

Exercise 2 builds the learner's ``fed(source)`` over the check's own busiest day (``busiest_day``: the ratings,
``COPIES`` times, one block per rating as the app uploads them, every pool's actors started before the first row
flows) and reads its plan first: it must start from that source and run Tokenize, load_photos and RatingEncoder there
(a pipeline that ran its CPU stages before, with ``materialize()``, lost the streaming the exercise is about); they
are the lab's given stages, unchanged (their bytecode against the lab's own cells: an encoder edited in place, its
stopwatch moved, is told); the CPU stages ask for no GPU, the encoder for one GPU per actor and at most the cluster's
GPUs, and every actor pool's CPUs fit the cluster (a pool that cannot start would wait). Then it runs the pipeline and
measures it from the encoder's stopwatch columns, as the lesson does: rows per second over the run (its first batch's
start to its last batch's end) and the GPUs' busy share, the encoder's computing time over that time times *every* GPU
of the cluster (a GPU the pool leaves idle counts, idle). Every row of the day must come out once with the models'
features. It passes with at least ``MIN_BATCHES_PER_GPU`` encoder batches per GPU (one giant batch says nothing about
waiting), an encoder pool that can use every GPU of the cluster (read from the plan: a pool whose largest size leaves
a GPU idle fails before it runs; which actor gets which batch is Ray's choice, and a fast encoder can do them all on
one), at least ``SPEEDUP`` times the rows per second of the starved pipeline measured in the same session (the lab's
cell hands its run over with ``keep_starved``) and, on the CPU stand-ins, GPUs busier than the starved pipeline's.
Both targets are relative to the starved run of the same machine and session: an absolute busy share is not (measured
on the course's 2-core machine: a fed pipeline made 20-90 rows/s at 45-85 % busy under the load of other test runs,
and 241 rows/s at 26 % busy on the idle machine, where the tiny encoder is no longer the slow stage; the starved one
4-26 rows/s at 7-12 %). A run that misses gets one more try (a busy machine), the best one counts.

The features are compared per part (the text model's, then the image model's) by their relative distance,
``|got - want| / |want|``, at most ``FEATURE_TOLERANCE``, for every row of ``REFERENCE_ROWS`` ratings chosen from the
seed. The reference is computed on the CPU of the judge's process (the grader's, when a notebook is graded) with each
model in the dtype the encoder loads it in (the LLM in bfloat16 as shipped, ``dtype="auto"``; the ViT in float32),
while the stage may run on a GPU, whose bfloat16 kernels round in other places: a random Qwen2.5-0.5B of the real
size gives 1.2-1.5 % between bfloat16 and float32 on a CPU, the tiny stand-in 0.2-0.4 %; the lesson's encoder on
an NVIDIA H200 against this reference (``tools/feature_precision.py``) 0.9-1.1 % for the full-size Qwen2.5, 0.2-0.3 %
for the stand-in, 0.04 % for the ViT. Another rating's features, or the same rating cut at another length or seen at
another image size, are tens of percent away.

Exercise 3 calls the learner's ``train_epoch`` on a small regression with a known answer (integer targets, as the
stars are), watching the model: every row once per epoch, one optimizer step per batch, gradients reset, the model
learning, and the number returned the mean of the batches' mean squared errors, recomputed from the predictions the
model gave each batch (the mean of the batch means or over the rows; a Python, NumPy or 0-d PyTorch number). A
prediction of shape (n, 1) against a target of shape (n,) broadcasts to (n, n), which PyTorch only warns about; a
classification loss, another loss (L1), the last batch's loss, a sum, one step per epoch and an integer target are
told apart, each with its hint.

The stretch (optional) calls the learner's ``evaluate`` on a model with dropout, left in training mode, over 101
rows (a batch size rarely divides them): it must read the dataset with ``iter_torch_batches``, predict every row
once (the last, smaller batch too), in eval mode, with no gradients recorded and the weights untouched, and return
the mean absolute error over all rows (not the mean of per-batch errors).

Exercises 1 and 3 and the stretch are in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes in the
learner's kernel and returns plain data, ``_judge_N`` decides from it alone (in the grader's process when a notebook
is graded). Exercise 1 observes the rows (id, text, stars, photo, and the file the photo names) and the plan's joins
and row-by-row stages; the judge assembles the ratings itself. Exercise 3 observes four epochs on a regression made
from the seed (what each returned, the batches the model saw in training mode, the steps) and the weights after; the
judge rebuilds the regression and the starting model. The stretch observes one call on rows made from the seed (rows
predicted, modes, gradients, the weights after, what it returned); the judge rebuilds the model and predicts.
Exercise 2 observes the cluster (the learner's GPUs and their words, the CPUs), the stopwatch columns (actor,
started, finished) of the session's starved run, and each run of ``fed``: its plan as data (stage names in order,
whether its first operator is the day's own, the lab's stages' GPUs, pools and sizes, their bytecode, every pool's
smallest size and CPUs) and its output (row count, columns, every row's id and stopwatch, and the features of the
``REFERENCE_ROWS`` ratings chosen from the seed). A plan that cannot run as asked is judged in the kernel first and
not run (a pool that does not fit would wait for minutes); the judge judges it again from the plan. The judge
compiles the lab's given stages from the course's notebook, computes the reference features, measures both runs
and decides every target.

A module per exercise (``ex1``, ``ex2`` with its plan's part ``ex2_plan``, ``ex3``, ``stretch``) and what
they share (``_common``); the lab imports this package, which holds its exercises in the lab's order, the helpers its
cells call (``busiest_day``, ``keep_starved``, ``written``), :func:`progress`, ``SESSION_STATE`` and what the lab's
tests use.
"""

from .._core import Wrong, progress_of, written
from ._common import _rated
from .ex1 import exercise_1
from .ex2_plan import _check_given, _check_plan, _given_stages, cluster_cpus, cluster_gpus
from .ex2 import (
    FEATURE_TOLERANCE,
    MAX_TOKENS,
    WAIT_FOR_ACTORS_S,
    _reference_features,
    _reference_rows,
    _starved,
    busiest_day,
    busy_share,
    busy_target,
    exercise_2,
    judge_run,
    keep_starved,
    measure,
    rows_per_second,
    verdict_of,
)
from .ex3 import exercise_3
from .stretch import stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

# Handed over by the lab's cells (keep_starved): the grader carries it into the checks it runs afresh
# (raycourse/grading/in_kernel.py).
SESSION_STATE = ("_starved",)

__all__ = [
    "FEATURE_TOLERANCE",
    "MAX_TOKENS",
    "SESSION_STATE",
    "WAIT_FOR_ACTORS_S",
    "Wrong",
    "_check_given",
    "_check_plan",
    "_given_stages",
    "_rated",
    "_reference_features",
    "_reference_rows",
    "_starved",
    "busiest_day",
    "busy_share",
    "busy_target",
    "cluster_cpus",
    "cluster_gpus",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "judge_run",
    "keep_starved",
    "measure",
    "progress",
    "rows_per_second",
    "stretch",
    "verdict_of",
    "written",
]
