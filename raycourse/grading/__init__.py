"""Grade lab notebooks: a learner's score (``python -m raycourse grade``) and a class report (``grade-class``).

Grading runs a *copy* of a lab notebook from the top in a fresh kernel (nbclient), the way
*Kernel > Restart Kernel and Run All Cells* would. The verdicts are the grader's own: the notebook's
cells run as they are, except its check cells (``check.exercise_2(photos)``), which the grader runs
itself, in an execute request of its own (:mod:`raycourse.grading.in_kernel`): the course's checks, compiled from
the sources the grader read before any notebook ran, *observe* the learner's objects (on probe inputs
made from seeds the grader chooses then) and send back plain data, which the grader parses as untrusted
JSON and judges in its own process with its own checks (:func:`decide`). No secret is sent; nothing the
notebook records, prints or patches is taken as a verdict. A cell that does more than check (a check call
among other code) runs as it is, then the grader repeats its checks the same way. The file itself is
never written, and neither are the learner's outputs: the copy runs in a temporary folder.

* A cell that raises stops nothing: the next cells still run (``allow_errors``). An exercise whose
  check cell raised (``NameError: name 'photos' is not defined`` when the exercise cell failed before
  assigning it) is reported as ``💥 ... could not be checked`` with that error, and every verdict
  carries the first error its own cells raised (``Error: ...``).
* Each notebook has a time limit (:data:`DEFAULT_TIMEOUT`, ``--timeout``); when it is reached the
  kernel is stopped and the exercises not checked by then say so. It has a memory limit too
  (:func:`default_memory`, ``--memory``), on its processes together (:class:`MemoryWatch`): the kernel,
  whatever it started and the Ray of its own; beyond it, the same. Its outputs are kept up to
  :data:`OUTPUT_LIMIT` characters (a note says the rest was dropped).
* Which lab a notebook is comes from its content (``from raycourse.checks import lab03 as check``),
  not its file name, and the list of exercises from that lab's checks module, so an exercise whose
  check cell was deleted or never reached is reported too.

Each notebook is kept from the others and from the grader's machine (see docs/security.md, "What
grading protects"): where Linux namespaces are available (:mod:`raycourse.grading.sandbox`) its kernel runs
with every file system read-only but its scratch folder, no network, and a process tree that ends with
it; it starts a Ray of its own inside, gone with it. Elsewhere (macOS) it runs without that sandbox,
with a warning, on a Ray the grader starts for it alone and stops after it, and its processes are found
by a mark in their environment and killed. With ``RAY_ADDRESS`` set, every notebook joins that Ray (the
network stays on, its files writable: trusted notebooks only). The kernel gets a minimal environment: the
grader's, less anything that looks like a secret (tokens, keys, passwords), with a temporary ``HOME``,
plus the test run's quiet, offline settings (:data:`raycourse.session.runtime.TEST_ENV`).
"""

from __future__ import annotations

from pathlib import Path

# Its stages, each a module: plan (read a notebook, plan its run), run (the Grader: a fresh kernel per notebook, its
# environment, sandbox and Ray), limits (output, memory, processes), observe (the grader's requests in the kernel,
# in_kernel their text), judge (verdicts from observations, in the grader), report (a class), sandbox.
from ..checks import Lab  # noqa: F401
from . import in_kernel  # noqa: F401
from .judge import OBSERVATION_LIMIT, Explanation, decide, request_verdicts  # noqa: F401
from .limits import GRADE_MARK_ENV, OUTPUT_LIMIT, MemoryWatch, default_memory, kill_marked  # noqa: F401
from .observe import checks_sources, observe_cell, watched_notes  # noqa: F401
from .plan import (  # noqa: F401
    SUSPICIOUS,
    CellError,
    Grade,
    check_calls,
    imported_checks,
    inspect_notebook,
    plan_cell,
    plan_notebook,
    read_notebook,
)
from .report import (  # noqa: F401
    FORMULA_START,
    LEGEND,
    REPORT_NAMES,
    ClassReport,
    Learner,
    csv_cell,
    find_learners,
    grade_class,
    markdown_table,
    md_code,
    md_text,
    safe_line,
)
from .run import (  # noqa: F401
    ALLOWED_ENV,
    ALLOWED_PREFIXES,
    DEFAULT_TIMEOUT,
    GRADE_ENV,
    SECRET_NAMES,
    Grader,
    PackageSeal,
    _kernel_manager,
    minimal_env,
)


def grade(path: Path | str, timeout: float = DEFAULT_TIMEOUT) -> Grade:
    """Grade one notebook (see :class:`Grader` to grade several)."""
    with Grader(timeout) as grader:
        return grader.grade(path)
