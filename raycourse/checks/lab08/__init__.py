"""Lab 08 checks (Serving and resilient jobs): pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 reads the settings the application runs with (part of a GPU per replica, replicas sized to the cluster's
GPUs, enough requests at once to fill a batch, no access log: from Serve's controller, so that ``.options(...)`` and
serve.run's ``logging_config`` count; from the deployment handed where no app runs), ``embed``'s batching from the
class, then calls the running application twice: ``embed`` through a handle, from a thread of its own (a notebook's
cells run inside an event loop, where Serve will not block on a response), and ``__call__`` over HTTP at the route
the lab names, through Serve's proxy. Exercise 2 wants the materialized Dataset that the processor made through the
deployment (its run names the processor's Serve stage; a lazy one would call the deleted app), and the processor,
aimed at the app the lab names. Exercise 3 applies the learner's ``RULES`` to ratings of its own (the catalogue's
edges, comments of 120 and 121 characters in ASCII and in 'é', missing values: what the sample cannot show), and
runs the learner's ``validate`` on small tables of its own, where the given one quarantines, raises for too many bad
rows and raises for a row neither good nor quarantined: an edited copy is told; it judges the quarantine folder's
newest write. The stretch wants each rating written once, with its id and its word count. The expected answers come
from the check's own CLIP and from the data files, never from numbers written here; a learner's error is told by its
own line, and files not found where the lab asks are looked for beside that folder. Each module's docstring says
which of its exercise's requirements (as its check tests list them) each part judges.

Every check is in two halves (``raycourse.checks.Exercise``): the observer reads the learner's objects in the kernel
and returns plain data (the deployment's settings, the app's status, ``embed``'s and the HTTP route's answers; the
catalogue's rows and its run's stats; the good ids, the quarantine's rows, what ``RULES`` make of the check's ratings
and what ``validate`` did with the check's tables; the runs and the job's files, ids and numbers), and the judge
decides from that data alone (in the grader's process when a notebook is graded): its CLIP and the data files are the
truth. Exercises 1 and 3 probe with inputs made from a seed the caller chooses (:func:`queries`, :func:`rule_probes`,
:func:`validate_probes`). The observers still refuse early what must not run: a deployment that would wait for a GPU
forever, a lazy catalogue that would call the deleted app.

A module per exercise (``ex1``, ``ex2``, ``ex3`` with ``ex3_rules``, ``stretch``) and what they share (``_common``);
the lab imports this package, which holds its exercises in the lab's order, :func:`progress` and what the lab's tests
use.
"""

from .._core import progress_of
from ._common import _text_embeddings
from .ex1 import exercise_1, queries
from .ex2 import exercise_2
from .ex3 import _rule_breakers, exercise_3, validate_probes
from .ex3_rules import rule_probes
from .stretch import stretch

progress = progress_of(__name__)  # the lab's last cell: check.progress()

__all__ = [
    "_rule_breakers",
    "_text_embeddings",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "progress",
    "queries",
    "rule_probes",
    "stretch",
    "validate_probes",
]
