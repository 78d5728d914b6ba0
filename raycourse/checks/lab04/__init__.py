"""Checks for lab 04 (LLM prompt enhancement): a reusable ``Enhancer``, and a pipeline over other data.

The lesson's ``Enhancer`` loads one model, reads one column and builds one kind of conversation, for the animals'
prompts. The lab's pipeline enhances the shop's catalogue instead: product descriptions, in a column ``description``,
which need another instruction (``catalogue_messages``). So the class takes the model, the column and the
conversation builder as constructor arguments (Exercise 1), and the learner routes the columns and chooses the
resources of a two-model pipeline over the catalogue (Exercise 2).

Exercise 1 builds and calls the learner's class itself, the way Ray would (toolkit.construct, call_as_ray), with
arguments the lab never uses, so that a class that only *looks* parameterised fails:

* ``Enhancer(model_id=<the course LLM>, prompt_column="caption", messages=<the check's own builder>)`` on a batch
  with the columns ``id`` and ``caption`` only: a hard-coded ``"prompt"`` column fails by name; conversations not
  made by the given ``messages`` fail because the model never receives the check's own, and the builder notes its
  calls: one for each row, with that row's text and one season (a str), the row's own.
* The probe rows' ids have seasons that differ from each other and from ``season_for(0)`` and ``season_for(1)``:
  one season for every row, or a row's position taken for its id, gives every row a wrong season.
* While it runs, the check notes what goes to the model (chats through a chat template, plain-text prompts, and
  whether each ``generate`` call samples): the reply must be the new text only, each row's conversation must name
  that row's ``season_for`` season, which also goes into a ``season`` column, and decoding must be greedy
  (``do_sample=False``: the course's LLM and its stand-in sample by default).
* The same instance gets a second batch: it may load nothing then (the pipeline is loaded once per actor).
* ``Enhancer(model_id=<a path that does not exist>, ...)`` must then fail: the one model id no correct class can load.

Exercise 2 reads the learner's lazy Dataset: its plan (toolkit.stages: the Enhancer stage runs the learner's own
``Enhancer`` class, handed to the check, and gets ``enhancer_model`` and ``catalogue_messages`` as constructor
arguments; the lab's ``ImageGen`` draws after it; each model stage holds a fraction of a GPU, one actor of each
fitting one GPU together, in pools of one actor; no image made before the Enhancer, and a catalogue description in
the column it is given, found by running the part of the plan in front of it) and a few rows (``take_batch``): in
``prompt``, the column ``ImageGen`` reads, an enhanced description, its season and an image per row. A pipeline that
fails when it runs is a wrong answer with the learner's own error line.

The stretch reads ``costs``: a lazy Dataset whose ``TokenCounter`` class stage runs in a pool of one actor with no
GPU and loads its tokenizer once (built, with its constructor arguments by position and by name, and called twice
under toolkit.counting, on a probe batch), and whose ``n_tokens`` are the lengths of the chats the Enhancer sends.
The counts cannot tell one season from another (each is one token): on the probe batch, whose row ids have seasons
that differ from each other and from their positions', each chat handed to the chat template must be
``catalogue_messages(description, season_for(id))``.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes and returns plain data, and
``_judge_N`` decides from it alone (in the grader's process when a notebook is graded). Exercise 1's probe batch
(its two texts and row ids) and the stretch's row ids come from a seed chosen when the check runs (:func:`probes`,
:func:`probe_candidates`). What each module judges, by the text's requirements, is in its docstring. Exercise 1
observes the returned batch's cells (and the second batch's seasons), the calls of the check's builder, what went to
the model (the chats' roles and texts, plain prompts), whether each ``generate`` call sampled, the loads counted
after the constructor and at the end, the seasons ``season_for`` gives the probe rows and their positions, and the
error (or none) of a class built with a missing model. Exercise 2 observes its plan's stages as data
(:class:`_Stage`: GPUs, pools, whether a stage runs the learner's ``Enhancer``, the names of the builders it is
given and whether one is ``catalogue_messages`` or makes its conversations, the texts it is given), the image
columns found in front of the Enhancer and what the column it is given holds there, the operators that made a
materialized answer, the learner's GPUs, and a few rows (texts, each image's type, shape and pixel type). The
stretch observes its plan, each row's description, ``n_tokens`` and the chat ``catalogue_messages`` makes for it,
the tokenizer's loads, and its probe (the ids, the chats handed to the chat template and those
``catalogue_messages`` makes); the judge counts each chat's tokens itself, with the course LLM's tokenizer. Where a
plan is not what the lab asks for, the observer stops there (Wrong) rather than run it: a GPU stage the cluster
cannot place waits forever.

A module per exercise (``ex1``, ``ex2``, ``stretch``) and what they share (``_common``); the lab imports this
package, which holds its exercises in the lab's order, :func:`progress` and what the lab's tests use.
"""

from .._core import progress_of
from .ex1 import exercise_1, probes
from .ex2 import exercise_2
from .stretch import probe_candidates, stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

__all__ = ["exercise_1", "exercise_2", "probe_candidates", "probes", "progress", "stretch"]
