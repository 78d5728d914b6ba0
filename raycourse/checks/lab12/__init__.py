"""Lab 12 checks (Two models online): pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 probes ``in_candidate`` on 20,000 made-up users from the seed, here and in a fresh Python process with
another ``PYTHONHASHSEED``; exercise 2 probes ``decide`` on logs made from the seed and holds ``decision`` to the
rule on the learner's own log; the stretch simulates days of the sizes ``requests_needed`` gives.

Every check is in two halves (``raycourse.checks.Exercise``): the observer calls the learner's functions in the
kernel and returns plain data (bits as hex digits, numbers, truth values); the judge decides from that data alone,
with the rule computed in its own process. A module per exercise (``ex1``, ``ex2``, ``stretch``) and what they share
(``_common``).
"""

from .._core import progress_of
from .ex1 import exercise_1, probe_plan, probe_users
from .ex2 import SLIPS, decide_probes, exercise_2, reference
from .stretch import formula, simulated_power, stretch, stretch_probes

progress = progress_of(__name__)  # the lab's last cell: check.progress()

__all__ = [
    "SLIPS",
    "decide_probes",
    "exercise_1",
    "exercise_2",
    "formula",
    "probe_plan",
    "probe_users",
    "progress",
    "reference",
    "simulated_power",
    "stretch",
    "stretch_probes",
]
