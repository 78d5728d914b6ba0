"""Lab 10 checks (Observe and size a pipeline): pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 wants the ratings counted per star by a ``ray.util.metrics.Counter`` inside a map_batches stage, and
``by_stars`` read back from Prometheus; exercise 2 probes the two sizing functions on jobs made from a seed and
wants ``measured``, the counting stage's rows per busy second, as Prometheus says; the stretch wants a Histogram of
a stage's seconds per batch and its 95th percentile. The checks ask the Prometheus beside the learner's Ray
(``raycourse.prometheus_url()``) over its HTTP API, polling: a run's numbers reach it a few seconds after the run.

Every check is in two halves (``raycourse.checks.Exercise``): the observer asks Prometheus and calls the learner's
functions in the kernel, returning plain data (each series of a metric with its tags, each run's rows and busy
seconds, a histogram's buckets, the probes' answers); the judge decides from that data alone, with the true counts
read from the data file in its own process. A module per exercise (``ex1``, ``ex2``, ``stretch``) and what they
share (``_common``).
"""

from .._core import progress_of
from .ex1 import exercise_1
from .ex2 import COST_SLIPS, WORKER_SLIPS, cost_probes, exercise_2, worker_probes
from .stretch import quantile, stretch

progress = progress_of(__name__)  # the lab's last cell: check.progress()

__all__ = [
    "COST_SLIPS",
    "WORKER_SLIPS",
    "cost_probes",
    "exercise_1",
    "exercise_2",
    "progress",
    "quantile",
    "stretch",
    "worker_probes",
]
