"""Automatic checks for the labs.

Each lab has a module here (``raycourse.checks.lab01``) with one check per
exercise (a big lab's is a package, ``labNN/``, with a module per exercise; its
exercises belong to the package). A check cell in a lab calls it with the learner's objects::

    check.exercise_1(prompts, out_dir)

and prints one of three verdicts:

* ``✅ Exercise 1 passed: ...``
* ``⏳ Exercise 1 not solved yet: ...`` -- the placeholder ``...`` is still there
* ``❌ Exercise 1 not right yet: <what is wrong>`` and a ``Hint:`` line

A check never crashes the notebook: an unexpected error in the learner's objects
becomes a ``❌`` verdict that names the error. ``check.exercise_1.result(...)``
returns the :class:`Verdict` instead of printing it (used by the unit tests).

Grading (``raycourse.grading``) sees a lab through :class:`Lab` (its exercises, label, totals and
recorded verdicts), :data:`MARKS` and :func:`is_stretch`, never through the private ``_core``.
"""

from ._core import MARKS, STRETCH, Lab, NotSolved, Verdict, Wrong, exercise, is_stretch

__all__ = ["MARKS", "STRETCH", "Lab", "NotSolved", "Verdict", "Wrong", "exercise", "is_stretch"]
