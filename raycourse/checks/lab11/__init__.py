"""Lab 11 checks (Data that changes): pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 probes ``add_daily_stars`` on an inbox and an Iceberg table of the check's own, days copied in steps
from the seed, and reads the learner's own table; exercise 2 probes ``new_product_share`` on Datasets made from the
seed and holds ``THRESHOLD`` and ``flagged`` to the shares the judge computes from the data files; the stretch
reads the learner's table as of each snapshot and compares ``rows_by_snapshot``.

Every check is in two halves (``raycourse.checks.Exercise``): the observer calls the learner's functions and reads
tables in the kernel, returning plain data; the judge decides from that data alone, with the days' true counts and
products read from the data files in its own process. A module per exercise (``ex1``, ``ex2``, ``stretch``) and
what they share (``_common``).
"""

from .._core import progress_of
from .ex1 import PROBE_TABLE, exercise_1, probe_steps
from .ex2 import SLIPS, exercise_2, share, share_probes
from .stretch import stretch

progress = progress_of(__name__)  # the lab's last cell: check.progress()

__all__ = [
    "PROBE_TABLE",
    "SLIPS",
    "exercise_1",
    "exercise_2",
    "probe_steps",
    "progress",
    "share",
    "share_probes",
    "stretch",
]
