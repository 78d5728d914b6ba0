"""Checks for lab 06 (CLIP embeddings): an embedder that opens its own images, a store with one folder per class,
and a near-duplicate search over it.

Exercise 1 calls the learner's ``ImagePathEmbedder(model_id, image_root)`` in this process on a batch of the
catalogue's kind (``path``, ``class``, ``file_size``: no pixels), the way Ray would, while it counts the model and
processor loads (``from_pretrained``), CLIP's image forward passes and the gradients they record, and watches which
files are opened by name: one load of each, in ``__init__``; one pass per batch under ``torch.inference_mode()``;
the images opened through the filesystem of ``image_root`` (pyarrow), never by their path with ``Image.open`` or
``open``, which would not reach the ``gpu`` profile's bucket. The embeddings must be CLIP's own for the images at
those paths (the check computes them itself and compares directions), as wide as the model's ``projection_dim``,
of length 1, in the batch's order, with every column of the batch kept and no pixels returned. A model id that
does not exist must fail, so the class loads the model it is given.

Exercise 2 reads what is on disk under ``embeddings_dir``: one folder per class, named the way
``write_parquet(..., partition_cols=["class"])`` names them (``class=<name>``), each holding the parquet files of
its images only, with ``path`` and ``embedding`` and nothing else (the class is in the folder's name); every image
of the catalogue once; every embedding of length 1 and CLIP's embedding of the image at its path (on a sample).
Files written elsewhere are pointed at. Then it reads the plan of ``embeddings``: a stage of a callable class given
the model id and the image root as constructor arguments, with one whole GPU per actor (``num_gpus=1``, as the
lab says) and an actor pool of any size from one actor to the cluster's GPUs.

Exercise 3 calls the learner's ``find_duplicates(queries, threshold)`` with query embeddings the lab never uses
(stored embeddings nudged, one stored embedding as it is, random directions) and two thresholds, and compares the
result with its own search over the stored embeddings: one row per query, its name in ``query``, the stored image
with the highest cosine similarity in ``match`` (either one of a tie), that cosine in ``score``, ``duplicate``
true exactly where the score reaches the threshold, the rows best first.

The stretch (optional) reads ``knn``, a Dataset whose last ``map_batches`` stage is a function (a table made in
the notebook is not what the lab asks for), with ``path`` and ``predicted`` for every stored image, and compares it
with the check's own leave-one-out vote: the class with the highest summed cosine similarity among the ``K`` most
similar *other* stored images. Then it calls that function on one stored row carrying another stored image's
embedding (a copy under another name): an image left out by its score instead of by its path votes otherwise,
wherever the store has a row on which the two rules disagree.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes in the learner's kernel and
returns plain data, ``_judge_N`` decides from it alone (in the grader's process when a notebook is graded), with
the seed the caller chose:

- Exercise 1 observes the counts (loads in ``__init__`` and in all, CLIP passes, passes with gradients), the probe
  files opened by name, both batches returned (columns, paths, embeddings) and whether a missing model id fails; the
  probe batch's order comes from the seed. The judge computes CLIP's embeddings of the probe images itself.
- Exercise 2 observes the parquet files' places under ``embeddings_dir``, the stored columns, every row's path, class
  and embedding length, the embeddings of a few rows chosen from the seed, and the class stage's settings. The judge
  lists the course's images and computes CLIP's embeddings of the sampled ones itself.
- Exercise 3 observes the stored paths, the stored embeddings the queries are made from (picked from the seed),
  every query's cosine with every stored embedding and ``find_duplicates``'s tables. The judge rebuilds the queries,
  checks the cosines of the picked rows against them, and runs the search on the cosines.
- The stretch observes the store's neighbourhoods (each image's ``K + 1`` nearest others and their cosines), the
  plan's stages, ``knn``'s rows and the vote on a copy chosen from the seed. The judge counts the votes itself.

A module per exercise (``ex1``, ``ex2``, ``ex3``, ``stretch``) and what they share (``_common``); the lab
imports this package, which holds its exercises in the lab's order, :func:`progress`, ``written`` and what the lab's
tests use.
"""

from .._core import progress_of, written
from ._common import _image_embeddings, _stored
from .ex1 import _catalogue_batch, exercise_1
from .ex2 import _image_paths, _sample_rows, exercise_2
from .ex3 import FIND_COLUMNS, _probe_queries, _thresholds, exercise_3
from .stretch import K, _copy_row, _copy_rows, _tallies, stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

__all__ = [
    "FIND_COLUMNS",
    "K",
    "_catalogue_batch",
    "_copy_row",
    "_copy_rows",
    "_image_embeddings",
    "_image_paths",
    "_probe_queries",
    "_sample_rows",
    "_stored",
    "_tallies",
    "_thresholds",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "progress",
    "stretch",
    "written",
]
