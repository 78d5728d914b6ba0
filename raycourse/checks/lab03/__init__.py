"""Checks for lab 03 (batch image generation): uint8 pixels from float output; one Parquet file; PNG files.

Exercise 1 reads the plan of the learner's lazy pipeline ``pixels`` (toolkit.stages) and the rows of ``images``,
``pixels.materialize()``. The lab's ``FloatImageGen`` returns the diffusers pipeline's NumPy output, float32 values
from 0.0 to 1.0, and the learner turns it into uint8 pixels from 0 to 255 in a batch function of its own. What the
text asks, and what judges it:

- ``FloatImageGen`` as it is (the lesson's ``ImageGen`` pasted in does not pass), ``num_gpus=1``, in a pool of one
  actor per GPU within the learner's budget (``raycourse.gpu_budget()``; fewer leaves GPUs idle, more never start,
  with no error): the plan; a ``pixels`` materialized partway (its plan starts at ``InputData``) is named so;
- a batch function after it (``map_batches`` of a function), a CPU stage with no GPU: the plan;
- uint8 pixels from 0 to 255, of the same shape, in a tensor column: the facts of the rows of ``images`` (shape,
  type, range, levels), and a **probe** (the only requirement that the images cannot tell: a cast of 0.0 .. 1.0
  leaves 0s and 1s, but a scale by 256, 127 or per image leaves pictures that look right): the check calls the
  batch function as Ray calls it (its ``batch_format``, ``fn_args``, ``fn_kwargs``) on a batch of three float32
  images made from the seed (a ramp from 0.0 to 1.0 with 0.0, 0.5 and 1.0 in it; values from 0.2 to 0.8 only; all
  1.0), and the judge wants every value x at about 64 of their positions turned into 255·x, rounded or truncated;
- ``images = pixels.materialize()``: a MaterializedDataset that Ray's stats say ``FloatImageGen`` made.

Exercises 2 and 3 look only at what is on disk, so any way of producing it passes:
Ray Data's ``write_parquet`` / ``write_images`` (the intended answers), pyarrow, pandas or PIL in a loop. Exercise 2
asks for one Parquet file (a Ray write makes a file per block: the learner decides the blocks, or the rows per
file): the folder's listing judges the folder, the format and the number of files, the table's rows and columns the
rest. Exercise 3: the listing judges the folder, the format and nothing else beside the images; each file, opened,
its image. The stretch asks for ``thumbs``, each image shrunk to 128x128 in a CPU batch function of its own: the
plan judges the step (a trailing ``drop_columns``, a stage of Ray's own, is left out), the rows the columns and each
thumbnail's shape, type and mean colour, and a **probe** the shrinking itself: the check calls the thumbnails'
function as Ray calls it on three 512x512 images of 4x4 squares of colours drawn from the seed, and the judge
wants each square, in the middle of its place in the thumbnail, in its colour (a crop, a reshape with
``np.resize``, or the first row's thumbnail given to every row keeps the mean colour of noise, not the squares).

Each check takes what the exercise names and the ``prompts`` Dataset the images were made from (or a list of
the prompts, or just the expected number of images)::

    check.exercise_1(pixels, images, prompts)
    check.exercise_2(out_dir / "images_parquet", prompts)
    check.exercise_3(out_dir / "png", prompts)
    check.stretch(thumbs, images)  # a lazy Dataset whose last step is a CPU batch function

Every image must be a 512x512 RGB uint8 array that is not blank: the tiny stand-in paints
a shaded colour (its channels far apart) and SDXL-Turbo draws pictures, and neither stays
within a few grey levels, while
a uint8 cast of values from 0.0 to 1.0 leaves only 0s and 1s, and a cast before the
scaling only 0s and 255s.
Nothing written anywhere under the folder's parent (``out_dir``) means "not solved
yet"; files of the right kind in another folder are a wrong answer.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes and returns plain data, and
``_judge_N`` decides from it alone (in the grader's process when a notebook is graded). What is observed: the plans'
stages as data (name, kind, class or function, GPUs, pool size; :class:`_Stage`), the cluster's GPUs and the
learner's, the operators that made ``images``, the folders' listings, the tables' columns and row counts (per file),
the prompts, and of every image (a row's cell, a Parquet cell, a PNG file, a thumbnail) its facts: shape, pixel type,
lowest and highest value, number of levels, mean colour (:func:`_pixel_facts`), not its pixels; of a probe, what the
learner's function returned at the probe's positions (values, squares' mean colours), or its error. The prompts the
check is given (from the notebook's ``prompts``) must be the course's animals, read by the judge from the course's
data. Exercise 1 and the stretch call a function of the learner's on inputs of their own, so both take a seed (the
observer builds the probe from it, the judge what it should give); exercises 2 and 3 do not.

A module per exercise (``ex1``, ``ex2``, ``ex3``, ``stretch``) and what they share (``_common``); the lab
imports this package, which holds its exercises in the lab's order, :func:`progress` and what the lab's tests use.
"""

from .._core import progress_of
from ._common import IMAGE_SHAPE
from .ex1 import exercise_1
from .ex2 import exercise_2
from .ex3 import exercise_3
from .stretch import stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

__all__ = ["IMAGE_SHAPE", "exercise_1", "exercise_2", "exercise_3", "progress", "stretch"]
