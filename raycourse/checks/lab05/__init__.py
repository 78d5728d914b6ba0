"""Checks for lab 05 (fine-tuning a ViT on three classes): the class list from the data, a plain PyTorch loop in
Ray Train, and batched inference that sends the images the model is unsure of to a person.

Exercise 1 reads the learner's Dataset ``train_images`` (path, label and the shape of each image, a batch at a
time) and compares it with the class folders, however many: every image of each folder (at most ``PER_CLASS``),
no image twice, every image ``(H, W, 3)`` and every label the class of the folder in its path. The likely mistakes
get their own hints: labels paired by row order (a union interleaves the classes), grayscale images kept as they
came (``(1, H, W)`` or ``(H, W)``) or dropped instead of converted, a folder left out. ``class_names(ds)`` is called
on a Dataset of the check's own, with labels no folder has (a list typed by hand or taken from the folders fails);
``CLASSES`` must be the class names found in the data, each once, in sorted order: ``Dataset.unique`` returns them
in no fixed order, and a class's position is the model's output number for it.

Exercise 2 reads the ``Result`` of ``TorchTrainer.fit()``: one report per epoch (``epoch``, ``loss``,
``eval_accuracy``), the loss falling, the last validation accuracy well above a guess (``MIN_ACCURACY``), and a
last checkpoint that ``from_pretrained`` loads with every weight, one output per class named after ``CLASSES``, and
an image processor beside it (``module.`` names, a sub-folder, a head of the wrong size are told apart). Then it
runs the learner's pieces here, on a tiny model of its own: ``one_epoch`` (training mode, one optimizer step per
batch of the ``batch_size`` it is given, the mean loss returned), ``evaluate`` (eval mode, no gradients, the share
of the rows right over batches of unequal size), and ``train_func`` as the second of two workers, with Ray Train's
calls replaced by stand-ins and a ``config`` whose values differ from the lab's: the model from
``config["model_id"]`` with ``config["classes"]``' outputs, ``prepare_model``, AdamW at ``config``'s rate, its
batch size and epochs, both shards read, a report every epoch, and nothing saved (only rank 0 saves). From
``train_func``'s code it reads that ``model.module`` is not used unguarded.

Exercise 3 calls the learner's ``ImageClassifier(checkpoint=...)`` in this process on a few validation images, the
way Ray would, with a ``Checkpoint`` on a filesystem that is not this machine's disk (its ``path`` is no local
folder; ``as_directory()`` reaches the files), while it counts the model and processor loads and the ViT's forward
passes: one load of each, in ``__init__``; one forward pass per batch under ``torch.inference_mode()``. Its
``predicted`` and ``confidence`` are compared with the check's own run of the checkpoint: the class name of the
largest logit and its softmax probability. A Checkpoint of a folder that does not exist must fail. Then it reads
the plan of ``predictions``: a stage of that class with the Checkpoint in its constructor arguments,
``num_gpus=1``, an actor pool of 1 to the cluster's GPUs (the batch size is the learner's), reading only the
validation folders. ``scored`` must be materialized, with every validation image once; the CSV files in
``review_dir`` must hold exactly the rows of ``scored`` whose confidence is below ``review_below``.

The stretch reads ``per_class_accuracy`` on the learner's rows and on a table of its own with mistakes, in which
grouping by the predicted class gives other numbers than grouping by the true one; the result must be a Dataset
that Ray Data grouped, not a table made in the driver.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes (the rows, the plans, what the
learner's functions and class do on probes made from the check's seed, the checkpoint and the files read back) and
returns plain data; ``_judge_N`` decides from that data alone, against the course's class folders (in the grader's
process when a notebook is graded). A part of an observation may carry a verdict that never passes (``_part``), which
the judge raises in the check's own order. The one reference the judge cannot make itself is the checkpoint's own run
on the probe images (the checkpoint is the learner's file, in the kernel's private folders): Exercise 3 observes its
probabilities beside the class's outputs.

A module per exercise (``ex1``, ``ex2``, ``ex3``, ``stretch``), two of them with a part of their own
(``ex2_training``, ``ex3_inference``), and what they share (``_common``); the lab imports this package, which holds
its exercises in the lab's order, :func:`progress`, ``written`` and what the lab's tests use.
"""

from .._core import progress_of, written
from ._common import _image_files, class_name
from .ex1 import exercise_1, probe_labels
from .ex2 import exercise_2
from .ex3_inference import probe_paths
from .ex3 import _under, exercise_3
from .stretch import probe_predictions, stretch

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

__all__ = [
    "_image_files",
    "_under",
    "class_name",
    "exercise_1",
    "exercise_2",
    "exercise_3",
    "probe_labels",
    "probe_paths",
    "probe_predictions",
    "progress",
    "stretch",
    "written",
]
