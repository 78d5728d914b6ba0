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
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections import Counter
from pathlib import Path

from ._core import NotSolved, Wrong, _release_abandoned_runs, exercise, progress_of, require
from .toolkit import (
    as_columns,
    as_number,
    as_text,
    call_as_ray,
    construct,
    counting,
    error_line,
    plan_ops,
    quiet_model_loading,
    require_dataset,
    require_inference,
    require_loaded_once,
    require_model_in_init,
    stages,
)
from ._core import written  # the lab's training cell asks check.written(train_func)

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

PER_CLASS = 200  # the lesson's limit(200) per class
READABLE = {"n02102040": "dog", "n01440764": "fish", "n03888605": "parachute"}  # as in the lab: imagenette's ids
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"}  # what read_images reads
PROBE_PER_FOLDER = 3  # validation images of each local class folder in the probe batch of Exercise 3
MIN_ACCURACY = 0.6  # Exercise 2: the last validation accuracy, against 1/3 for a guess among three classes
SAME_PROBABILITY = 2e-3  # Exercise 3: the learner's confidence against the check's softmax (TF32 on a GPU)
CONVERT_HINT = (
    'Read the images with mode="RGB" (read_images converts every image to three channels), '
    "as the lesson's section 2 does."
)
PATH_LABEL_HINT = (
    "Take each image's label from its own path: the name of the folder it came from "
    "(Path(path).parent.name, made readable with READABLE), in map_batches."
)


def class_name(folder: str) -> str:
    """The class of a folder (or of a file's parent folder name): readable names for imagenette's ids."""
    return READABLE.get(folder, folder)


def _part(fn, *args, **kwargs) -> dict:
    """What one part of an observer saw: ``{"seen": ...}``, or the verdict the part reached in the kernel (``{"not
    solved": message}``, ``{"wrong": [problem, hint]}``), which the judge raises in the check's own order. Such a
    verdict never passes, so it may come from the kernel; only the judge passes, on what was seen."""
    try:
        return {"seen": fn(*args, **kwargs)}
    except NotSolved as exc:
        return {"not solved": str(exc)}
    except Wrong as exc:
        if exc.__context__ is not None:  # the part caught an error of the learner's run: free its actors now
            _release_abandoned_runs()
        return {"wrong": [exc.problem, exc.hint]}


def _open(part: dict):
    """What :func:`_part` saw; raises the verdict the part reached instead."""
    if "not solved" in part:
        raise NotSolved(str(part["not solved"]))
    if "wrong" in part:
        problem, hint = part["wrong"]
        raise Wrong(str(problem), str(hint))
    return part["seen"]


def _pending(name: str, what: str) -> None:
    """The verdict of :func:`require` on a placeholder, raised in the judge where the check reaches it."""
    require(name, ..., what)


def _not_a_dataset(name: str, type_name: str, hint: str) -> Wrong:
    """:func:`require_dataset`'s verdict, from the type's name the observer saw."""
    article = "an" if type_name[:1].lower() in "aeiou" else "a"
    return Wrong(f"`{name}` is {article} {type_name}, not a Ray Dataset.", hint)


# Exercise 1 -------------------------------------------------------------------------------------


def _name(path: str) -> str:
    """A file or folder's own name, for local paths and URIs alike."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def _parent_name(path: str) -> str:
    return _name(str(path).rsplit("/", 1)[0])


def _image_files(folder: str) -> list[str]:
    """The names of the image files in one class folder (local or on object storage)."""
    if "://" not in str(folder):
        return sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    from pyarrow.fs import FileSelector, FileSystem

    fs, root = FileSystem.from_uri(str(folder))
    infos = fs.get_file_info(FileSelector(root, recursive=False))
    return sorted(_name(i.path) for i in infos if Path(i.path).suffix.lower() in IMAGE_SUFFIXES)


def _course_folders(role: str) -> list[str]:
    """The class folders of a data role (``images_train_3``, ``images_val_3``): what the judges compare with."""
    import raycourse

    return [str(f) for f in raycourse.data_path(role)]


def _layout(shape) -> str:
    shape = tuple(shape)
    if len(shape) == 3 and shape[-1] == 3:
        return "colour"
    if len(shape) == 2:
        return "(H, W)"
    if len(shape) == 3 and shape[0] == 1:
        return "(1, H, W)"
    return str(shape)


def _rows(ds) -> dict:
    """The paths, labels and image layouts of every row, a batch at a time (the images are not kept): labels as
    text, and the first label that is not text (its type's name and repr), if any."""
    columns = list(ds.schema().names) if ds.schema() is not None else []
    for name, hint in (
        (
            "path",
            "Read with include_paths=True: the path column says where each image came from, and the check uses it.",
        ),
        ("label", "Add a column called `label` with each image's class."),
        ("image", "Keep the `image` column that read_images makes."),
    ):
        if name not in columns:
            raise Wrong(f"`train_images` has no `{name}` column (its columns: {columns}).", hint)
    paths, labels, layouts, not_text = [], [], [], None
    for batch in ds.iter_batches(batch_size=64, batch_format="numpy"):
        paths += [str(p) for p in batch["path"]]
        for label in batch["label"]:
            labels.append(as_text(label))
            if not_text is None and not isinstance(label, (str, bytes)):
                not_text = [type(label).__name__, repr(label)]
        layouts += [_layout(getattr(image, "shape", ())) for image in batch["image"]]
    return {"paths": paths, "labels": labels, "layouts": layouts, "not_text": not_text}


def _check_images(seen: dict, folders: list[str]) -> tuple[list[str], Counter]:
    """Every image of every folder (at most PER_CLASS each), once, in colour, labelled from its path."""
    paths, labels, layouts = [str(p) for p in seen["paths"]], list(seen["labels"]), list(seen["layouts"])
    if not (len(paths) == len(labels) == len(layouts)):
        raise Wrong("the check saw more paths than labels or images.", "Run the exercise cell again, then the check.")
    if not paths:
        raise Wrong("`train_images` is empty.", "Read every folder of `train_folders`.")
    by_folder = {_name(f): f for f in folders}
    stray = [p for p in paths if _parent_name(p) not in by_folder]
    if stray:
        raise Wrong(
            f"{len(stray)} images come from other folders (for example {stray[0]}).",
            "Read the folders of `train_folders`, nothing else.",
        )
    twice = [p for p, n in Counter(paths).items() if n > 1]
    if twice:
        raise Wrong(
            f"{len(twice)} images are in `train_images` more than once (for example {_name(twice[0])}).",
            "Read each class folder once and put the reads together (union).",
        )
    odd = Counter(str(layout) for layout in layouts if layout != "colour")
    if odd:
        kinds = ", ".join(f"{n} of shape {kind}" for kind, n in odd.most_common())
        raise Wrong(
            f"{sum(odd.values())} images are not (H, W, 3) colour images ({kinds}): grayscale images "
            "kept as they are; a ViT needs three channels.",
            CONVERT_HINT,
        )
    per_folder = Counter(_parent_name(p) for p in paths)
    missing = [name for name in by_folder if per_folder.get(name, 0) == 0]
    if missing:
        raise Wrong(
            f"no image of the folder {missing[0]} is in `train_images` ({len(per_folder)} of the "
            f"{len(by_folder)} folders are).",
            "Read every folder of the list you are given, however many there are: a loop over `folders`.",
        )
    for name, folder in by_folder.items():
        expected, got = min(PER_CLASS, len(_image_files(folder))), per_folder[name]
        if got < expected:
            raise Wrong(
                f"{expected - got} of the {expected} images of {name} are missing: dropped rather than "
                "converted? A grayscale photo of a dog is still a good example of a dog.",
                "Keep every image: " + CONVERT_HINT,
            )
        if got > expected:
            raise Wrong(
                f"{got} images of {name}, more than the lesson's {PER_CLASS} per class.",
                f"Keep at most {PER_CLASS} images of each class with limit({PER_CLASS}).",
            )
    wanted = [class_name(_parent_name(p)) for p in paths]
    if seen["not_text"] is not None or not all(isinstance(label, str) for label in labels):
        kind, example = seen["not_text"] or [type(labels[0]).__name__, repr(labels[0])]
        raise Wrong(
            f"the labels are {kind} values (for example {example}), not class names.",
            f"Label each image with its class name, one of {sorted(set(wanted))}.",
        )
    wrong = sum(a != b for a, b in zip(labels, wanted))
    if wrong:
        example = next(i for i, (a, b) in enumerate(zip(labels, wanted)) if a != b)
        raise Wrong(
            f"{wrong} of {len(paths)} images have a label that is not the class of their folder (for "
            f"example {_name(paths[example])} in {_parent_name(paths[example])} is labelled "
            f"{labels[example]!r}). Labels paired with the rows by position go wrong: union "
            "interleaves the blocks of its inputs.",
            PATH_LABEL_HINT,
        )
    return paths, per_folder


def _classes_seen(classes) -> dict:
    """``CLASSES`` as the judge reads it: its type's name, and for a list or tuple its items as text, whether each
    is text, and the reprs of the first three."""
    listed = isinstance(classes, (list, tuple))
    return {
        "type": type(classes).__name__,
        "items": [as_text(c) for c in classes] if listed else None,
        "texts": [isinstance(c, (str, bytes)) for c in classes] if listed else None,
        "first": [repr(c) for c in list(classes)[:3]] if listed else None,
    }


def _check_classes(seen: dict, found: list[str]) -> None:
    """``CLASSES``: the class names found in the data, each once, sorted."""
    if seen["items"] is None:
        raise Wrong(
            f"`CLASSES` is a {seen['type']}, not a list of class names.",
            "Make it a list: the Featurizer calls CLASSES.index(label), and the model's id2label is built from it.",
        )
    names = [str(c) for c in seen["items"]]
    if len(seen["texts"]) != len(names) or not all(t is True for t in seen["texts"]):
        raise Wrong(
            f"`CLASSES` holds values that are not text ({', '.join(map(str, seen['first']))}), not class names.",
            "Take the class names from the `label` column of train_images.",
        )
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice:
        raise Wrong(f"`CLASSES` names {twice[0]!r} more than once.", "One entry per class: the distinct labels.")
    if set(names) != set(found):
        lacking, extra = sorted(set(found) - set(names)), sorted(set(names) - set(found))
        detail = (
            (f"lacks {lacking}" if lacking else "")
            + (" and " if lacking and extra else "")
            + (f"has {extra}, which no image of train_images is labelled with" if extra else "")
        )
        raise Wrong(
            f"`CLASSES` ({names}) {detail}.",
            "Compute it from the data: the distinct values of train_images' `label` column, which Ray "
            "Data can collect for you; a list typed by hand goes stale when a folder is added.",
        )
    if names != sorted(names):
        raise Wrong(
            f"`CLASSES` is {names}, not in sorted order. Dataset.unique returns the values in no fixed "
            "order, so the same code can give another order on the next run, and a class's position is "
            "the number the model outputs for it: a checkpoint would mean other classes than the code "
            "that reads it.",
            "Put the names in an order that does not depend on the run: sorted(...).",
        )


# Labels no folder of the lab has, for class_names' probe Dataset: three of them, chosen from the seed.
PROBE_WORDS = ("zebra", "ant", "moth", "heron", "otter", "lynx", "newt", "wasp", "yak", "gecko", "koala", "tapir")


def probe_labels(seed) -> list[str]:
    """The `label` column of the Dataset ``class_names`` is given: three labels no folder has, six rows (one
    label once, one twice, one three times), in an order from ``seed`` whose first-seen order is not sorted."""
    import random

    rng = random.Random(int(seed or 0))
    words = rng.sample(PROBE_WORDS, 3)
    labels = [words[0]] + [words[1]] * 2 + [words[2]] * 3
    rng.shuffle(labels)
    last = labels.index(max(words))  # the last name in sorted order comes first: the first-seen order is not sorted
    labels[0], labels[last] = labels[last], labels[0]
    return labels


CLASS_NAMES_HINT = 'Find the names in the Dataset you are given: the distinct values of its "label" column, sorted.'


def _class_names_seen(class_names, seed) -> dict:
    """What ``class_names`` returns for a Dataset of the check's own (labels from ``seed``): ``{"raised": ...}`` or
    ``{"names": [...] or None (not a list), "repr": ...}``."""
    import ray.data

    probe = ray.data.from_items(
        [{"path": f"probe/{label}/{i}.png", "label": label} for i, label in enumerate(probe_labels(seed))]
    )
    try:
        got = class_names(probe)
    except Exception as exc:
        return {"raised": error_line(exc)}
    listed = isinstance(got, (list, tuple))
    return {"names": [as_text(name) for name in got] if listed else None, "repr": repr(got)[:300]}


def _check_class_names(seen: dict, seed) -> None:
    """``class_names(ds)`` finds the labels in the Dataset it is given: a Dataset of the check's own, other labels."""
    if "raised" in seen:
        raise Wrong(f"`class_names` failed on a Dataset of the check's own: {seen['raised']}", CLASS_NAMES_HINT)
    want = sorted(set(probe_labels(seed)))
    if seen["names"] != want:
        raise Wrong(
            f"`class_names` gives {seen['repr']} for a Dataset whose labels are {', '.join(want)}: names typed by "
            "hand or taken from the folders go stale when the data changes.",
            CLASS_NAMES_HINT,
        )


def _judge_1(seen, seed) -> str:
    paths, per_folder = _check_images(_open(seen["images"]), _course_folders("images_train_3"))
    found = sorted({class_name(_parent_name(p)) for p in paths})
    _check_class_names(seen["class_names"], seed)
    _check_classes(seen["classes"], found)
    counts = ", ".join(f"{n} {class_name(name)}" for name, n in sorted(per_folder.items()))
    return (
        f"{len(paths)} images ({counts}), all (H, W, 3), each labelled with the class of its folder; "
        f"CLASSES = {[str(c) for c in seen['classes']['items']]}."
    )


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(train_images, classes, folders, class_names, *, seed=None):
    """``train_images``: every image of the class ``folders``, in colour, labelled from its path; ``class_names``:
    the sorted labels of any Dataset; ``classes`` (``CLASSES``): the class names found in train_images, sorted.

    Observes the rows' paths, labels and image layouts, ``class_names`` on a Dataset of labels from ``seed``, and
    ``CLASSES``; :func:`_judge_1` compares them with the course's class folders."""
    require("train_images", train_images, "the Dataset of labelled training images")
    require("class_names", class_names, "your class_names(ds) function")
    require("CLASSES", classes, "class_names(train_images)")
    require_dataset("train_images", train_images, "Build it from ray.data.read_images calls.")
    return {
        "folders": [str(f) for f in folders],
        "images": _part(_rows, train_images),
        "class_names": _class_names_seen(class_names, seed),
        "classes": _classes_seen(classes),
    }


# Exercise 2 -------------------------------------------------------------------------------------

REPORT_HINT = (
    'At the end of every epoch, every worker calls ray.train.report({"epoch": ..., "loss": ..., '
    '"eval_accuracy": ...}, checkpoint=...), rank 0 with the checkpoint and the others with None.'
)
SAVE_HINT = (
    "On rank 0, save the model you gave prepare_model (not the wrapper it returned) with "
    "save_pretrained(folder), the image processor with its save_pretrained(folder) beside it, and report "
    "ray.train.Checkpoint.from_directory(folder)."
)


def _code_parts(fn) -> tuple[set[str], set[str]]:
    """The names and string constants in ``fn``'s code: its nested functions' too, and those of the functions of
    its own module (the notebook) that it calls, so that helpers count as part of it."""
    names: set[str] = set()
    strings: set[str] = set()
    seen, functions = set(), [fn]
    while functions:
        function = functions.pop()
        code = getattr(function, "__code__", None)
        if code is None or code in seen:
            continue
        seen.add(code)
        own, codes = set(), [code]
        while codes:
            current = codes.pop()
            own.update(current.co_names)
            for const in current.co_consts:
                if inspect.iscode(const):
                    codes.append(const)
                elif isinstance(const, str):
                    strings.add(const)
        names |= own
        module = getattr(function, "__module__", None)
        for name in own:
            value = getattr(function, "__globals__", {}).get(name)
            if inspect.isfunction(value) and value.__module__ == module:
                functions.append(value)
    return names, strings


@contextlib.contextmanager
def _quiet_transformers():
    """No load report on the notebook's output while the check loads a checkpoint."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _code_seen(train_func) -> dict:
    """The names ``train_func``'s code (with its helpers) uses, and its string constants that are identifiers."""
    names, strings = _code_parts(train_func)
    return {"names": sorted(names), "strings": sorted(s for s in strings if s.isidentifier())}


def _check_code(seen: dict) -> None:
    names, strings = set(seen["names"]), set(seen["strings"])
    if "prepare_model" not in names:
        raise Wrong(
            "`train_func` never calls prepare_model: each worker trains a copy of its own on its share of "
            "the data, the copies never exchange a gradient, and the checkpoint holds rank 0's copy, "
            "trained on a part of the data only.",
            "Pass the model through ray.train.torch.prepare_model, and train what it returns.",
        )
    if "module" in names and "module" not in strings and "isinstance" not in names:
        raise Wrong(
            "`train_func` uses `model.module`: prepare_model wraps the model in DDP only when there are "
            "several workers; on a cluster with one GPU there is no `.module`, and the job fails.",
            "Keep the model you pass to prepare_model in a variable of its own, and save that one.",
        )


def _value(v):
    """A reported value as the judge reads it: a number (a tensor's or array's too), else its repr."""
    number = as_number(v)
    return repr(v)[:100] if number is None else number


def _reports_seen(frame) -> dict | None:
    """The reports Ray Train got (``result.metrics_dataframe``): how many, their keys, and the values of epoch,
    loss and eval_accuracy; None when there is no table."""
    if frame is None:
        return None
    return {
        "count": len(frame),
        "columns": [str(c) for c in frame.columns],
        **{c: [_value(v) for v in frame[c]] for c in ("epoch", "loss", "eval_accuracy") if c in frame},
    }


def _check_reports(seen: dict | None, epochs: int) -> tuple[list[float], list[float]]:
    """One report per epoch with epoch, loss and eval_accuracy; returns (losses, accuracies)."""
    if seen is None or seen["count"] == 0:
        raise Wrong("Ray Train got no report from the training: no metrics and no checkpoint.", REPORT_HINT)
    for column, what in (
        ("epoch", "the epoch's number"),
        ("loss", "the epoch's mean training loss"),
        ("eval_accuracy", "the share of the validation rows classified right"),
    ):
        if column not in seen["columns"]:
            raise Wrong(
                f"the reports have no `{column}` ({what}); their keys: "
                f"{[c for c in seen['columns'] if not str(c).startswith('_')]}.",
                REPORT_HINT,
            )
    count = int(seen["count"])
    if count != epochs or not all(len(seen[c]) == count for c in ("epoch", "loss", "eval_accuracy")):
        per = " (one per batch?)" if count > epochs else ""
        raise Wrong(
            f"Ray Train got {count} reports{per} for {epochs} epochs.",
            "Report once per epoch, after its evaluation: " + REPORT_HINT,
        )
    numbers = [as_number(e) for e in seen["epoch"]]
    if None in numbers or [n - numbers[0] for n in numbers] != list(range(epochs)):
        raise Wrong(
            f"the reports' `epoch` values are {list(seen['epoch'])}, not the epochs counted one by one.",
            "Report the number of the epoch that just ended.",
        )
    losses = [as_number(v) for v in seen["loss"]]
    accuracies = [as_number(v) for v in seen["eval_accuracy"]]
    if not all(v is not None and math.isfinite(v) for v in losses):
        raise Wrong(
            f"the reported losses are {list(seen['loss'])}: not all numbers.",
            "Report the mean of the epoch's batch losses as a number (loss.item() per batch).",
        )
    if epochs > 1 and losses[-1] >= losses[0]:
        raise Wrong(
            f"the training loss did not fall: {', '.join(f'{v:.3f}' for v in losses)}.",
            "For every batch: the cross-entropy of the logits and the labels, optimizer.zero_grad(), "
            "loss.backward(), optimizer.step(), with the optimizer over the prepared model's parameters.",
        )
    if not all(a is not None and 0 <= a <= 1 for a in accuracies):
        raise Wrong(
            f"the reported eval_accuracy values are {', '.join(str(a) for a in seen['eval_accuracy'])}: not shares "
            "between 0 and 1.",
            "Divide the number of right predictions by the number of rows seen.",
        )
    if accuracies[-1] < MIN_ACCURACY:
        raise Wrong(
            f"the last validation accuracy is {accuracies[-1]:.2f}, below {MIN_ACCURACY}: a guess among "
            "three classes gets 0.33, and a model that learns does much better here.",
            "Check the evaluation: eval mode, the argmax of the logits compared with `labels`; and that "
            "the loop trains the model it evaluates.",
        )
    return losses, accuracies


def _checkpoint_seen(result) -> dict | None:
    """The last checkpoint's folder as from_pretrained finds it: whether it holds config.json (else where one is,
    and its files), what loading it reports (an error, or the weights it did not expect and those it lacks), the
    model's output names, and whether an image processor is beside it; None when the result has no checkpoint."""
    from transformers import ViTForImageClassification

    checkpoint = getattr(result, "checkpoint", None)
    if checkpoint is None:
        return None
    folder = Path(checkpoint.path)
    seen = {"config": (folder / "config.json").is_file()}
    if not seen["config"]:
        seen["inner"] = sorted(str(p.parent.relative_to(folder)) for p in folder.rglob("config.json"))
        seen["files"] = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        return seen
    try:
        with _quiet_transformers(), contextlib.redirect_stdout(None):
            model, info = ViTForImageClassification.from_pretrained(str(folder), output_loading_info=True)
    except Exception as exc:
        return {**seen, "load_error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"}
    return {
        **seen,
        "unexpected": [str(k) for k in info.get("unexpected_keys", [])],
        "missing": [str(k) for k in info.get("missing_keys", [])],
        "labels": [str(model.config.id2label[i]) for i in range(model.config.num_labels)],
        "processor": (folder / "preprocessor_config.json").is_file(),
    }


def _check_checkpoint(seen: dict | None, names: list[str] | None) -> None:
    """The checkpoint loads with every weight, one output per class named after CLASSES (``names``), and a
    processor."""
    if seen is None:
        raise Wrong("the result has no checkpoint: no report carried one.", SAVE_HINT)
    if seen["config"] is not True:
        if seen["inner"]:
            raise Wrong(
                f"the model is in the sub-folder {seen['inner'][0]} of the checkpoint; Exercise 3 loads it from the "
                "checkpoint's own folder (result.checkpoint.path).",
                "Call save_pretrained on the very folder you hand to Checkpoint.from_directory.",
            )
        raise Wrong(
            f"the last checkpoint holds {seen['files'] or 'nothing'}: no Hugging Face model (config.json and "
            "weights) for from_pretrained to load.",
            SAVE_HINT,
        )
    if "load_error" in seen:
        raise Wrong(f"from_pretrained cannot load the last checkpoint: {seen['load_error']}", SAVE_HINT)
    if any(str(key).startswith("module.") for key in seen["unexpected"]):
        raise Wrong(
            "the checkpoint's weights are named `module.…`: they were saved from the DDP wrapper that "
            "prepare_model returned, and from_pretrained finds none of the ViT's weights in them.",
            "Save the model you gave prepare_model, not the wrapper: " + SAVE_HINT,
        )
    missing = list(seen["missing"])
    if missing:
        raise Wrong(
            f"the checkpoint lacks {len(missing)} of the model's weights (for example {missing[0]}): "
            "from_pretrained would start them from random values.",
            SAVE_HINT,
        )
    labels = [str(label) for label in seen["labels"]]
    if not labels:
        raise Wrong("the model of the last checkpoint has no outputs.", SAVE_HINT)
    if names is not None and len(labels) != len(names):
        raise Wrong(
            f"the model has {len(labels)} outputs for {len(names)} classes ({names}).",
            "from_pretrained(..., num_labels=len(classes), id2label=..., label2id=...): one output per "
            'class, from config["classes"].',
        )
    if names is not None and labels != names:
        raise Wrong(
            f"the model's outputs are named {labels}, not after CLASSES ({names}): its predictions would "
            "come back as numbers or as the wrong class names.",
            "id2label=dict(enumerate(classes)) and label2id={name: i for i, name in enumerate(classes)}.",
        )
    if seen["processor"] is not True:
        raise Wrong(
            "the checkpoint holds the model but no image processor: Exercise 3 loads both from it.",
            'Beside the model, save ViTImageProcessor.from_pretrained(config["model_id"]) with its own '
            "save_pretrained(folder).",
        )


# Exercise 2: the loop's pieces, run here on a tiny model ------------------------------------------------

PROBE_CONFIG = {"classes": ["ant", "bee", "cat", "dog"], "epochs": 2, "batch_size": 3, "learning_rate": 0.0123}
PROBE_ROWS = 7  # rows of each probe shard: batches of 3, 3 and 1 (a mean over batches is not a mean over rows)
PROBE_RIGHT = 4  # rows of the evaluation probe whose label is the model's own answer: 4 of 7
_PROBE_MODEL: dict = {}  # the tiny probe checkpoint's folder, saved once per process


def _probe_model_dir() -> str:
    """A tiny random ViT (32 x 32 images) and its image processor, saved once: what ``config["model_id"]`` names in
    the probe run of ``train_func``, so that the probe is cheap in every profile."""
    import tempfile

    if "dir" not in _PROBE_MODEL:
        from transformers import ViTImageProcessor, ViTModel

        folder = tempfile.mkdtemp(prefix="lab05-probe-vit-")
        ViTModel(_probe_config(), add_pooling_layer=False).save_pretrained(folder)  # no head: the learner's has K
        ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
        _PROBE_MODEL["dir"] = folder
    return _PROBE_MODEL["dir"]


def _probe_config(num_labels: int = 3):
    from transformers import ViTConfig

    return ViTConfig(
        image_size=32,
        patch_size=16,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=num_labels,
    )


class _Shard:
    """A stand-in for a worker's dataset shard: ``iter_torch_batches`` over fixed rows, each call noted."""

    def __init__(self, pixel_values, labels):
        self.pixel_values, self.labels = pixel_values, labels
        self.batch_sizes: list = []
        self.current = None

    def iter_torch_batches(self, *, batch_size=256, **_options):
        self.batch_sizes.append(batch_size)
        step = len(self.labels) if batch_size is None else int(batch_size)
        for start in range(0, len(self.labels), step):
            self.current = {
                "pixel_values": self.pixel_values[start : start + step],
                "labels": self.labels[start : start + step],
            }
            yield dict(self.current)


def _probe_shard(num_labels: int, seed: int = 0) -> _Shard:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return _Shard(
        torch.randn(PROBE_ROWS, 3, 32, 32, generator=generator),
        torch.randint(0, num_labels, (PROBE_ROWS,), generator=generator),
    )


@contextlib.contextmanager
def _forwards(model):
    """Every forward pass of ``model``: whether it ran in training mode, whether it recorded gradients, its logits."""
    import torch

    seen = []

    def hook(module, args, output):
        seen.append((module.training, torch.is_grad_enabled(), output.logits.detach()))

    handle = model.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def _run_piece(fn, name: str, *args):
    try:
        return fn(*args)
    except Exception as exc:
        raise Wrong(
            f"`{name}` failed when the check called it on a tiny model and a shard of {PROBE_ROWS} rows: "
            f"{error_line(exc)}",
            f"Run `{name}` alone: it gets the model, the shard and batch_size as arguments (see the list above).",
        ) from None


def _probe_seed(seed, offset: int = 0) -> int:
    """A torch seed for the probes of Exercise 2, from the check's seed."""
    return (int(seed or 0) + offset) % 2**31


def _one_epoch_seen(one_epoch, seed) -> dict:
    """``one_epoch`` run on a tiny model and a shard of PROBE_ROWS random rows (from ``seed``), batch_size 3: the
    batch sizes it read the shard with, the mode of each forward pass, the optimizer steps, each batch's
    cross-entropy as its forward pass gave it, and what it returned."""
    import torch
    from transformers import ViTForImageClassification

    require("one_epoch", one_epoch, "one pass over the training shard")
    torch.manual_seed(_probe_seed(seed))
    model, shard = ViTForImageClassification(_probe_config()).eval(), _probe_shard(3, seed=_probe_seed(seed, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = []
    optimizer.register_step_post_hook(lambda *_: steps.append(1))
    losses = []
    with _forwards(model) as seen:
        model.register_forward_hook(
            lambda m, a, out: losses.append(
                torch.nn.functional.cross_entropy(out.logits, shard.current["labels"]).item()
            )
        )
        returned = _run_piece(one_epoch, "one_epoch", model, optimizer, shard, 3)
    return {
        "batch_sizes": list(shard.batch_sizes),
        "training": [bool(training) for training, _, _ in seen],
        "steps": len(steps),
        "losses": losses,
        "returned": _value(returned),
    }


def _check_one_epoch(seen: dict) -> None:
    """One pass in training mode with gradients, one optimizer step per batch of ``batch_size``, the mean loss."""
    batches = math.ceil(PROBE_ROWS / 3)
    if seen["batch_sizes"] != [3]:
        raise Wrong(
            f"`one_epoch` read the shard with batch_size {seen['batch_sizes']} where it was given batch_size=3.",
            "One pass: shard.iter_torch_batches(batch_size=batch_size), with the argument it gets.",
        )
    training = list(seen["training"])
    if any(t is not True for t in training):
        raise Wrong(
            "`one_epoch` ran the model in eval mode: it trains as if it were evaluating (dropout off).",
            "Put the model in training mode first: model.train() (evaluate leaves it in eval mode).",
        )
    steps, losses = int(seen["steps"]), [float(v) for v in seen["losses"]]
    if steps != batches or len(training) != batches or len(losses) != batches:
        raise Wrong(
            f"`one_epoch` made {steps} optimizer steps and {len(training)} forward passes for the {batches} "
            f"batches of {PROBE_ROWS} rows.",
            "For every batch: one forward pass, the loss, optimizer.zero_grad(), loss.backward(), optimizer.step().",
        )
    loss, mean = as_number(seen["returned"]), sum(losses) / len(losses)
    if loss is None or not math.isfinite(mean) or abs(loss - mean) > 1e-4:
        raise Wrong(
            f"`one_epoch` returned {seen['returned']!r}; the mean of its batches' cross-entropy losses is {mean:.4f}.",
            "Return the mean of the batch losses as a number: loss.item() per batch, then their mean.",
        )


def _evaluate_seen(evaluate, seed) -> dict:
    """``evaluate`` run on a tiny model (in training mode when it is called) and a shard of PROBE_ROWS rows of which
    PROBE_RIGHT (which ones: from ``seed``) are labelled with the model's own answer, batch_size 3: the batch sizes
    it read, the mode and gradient recording of each forward pass, and what it returned."""
    import torch
    from transformers import ViTForImageClassification

    require("evaluate", evaluate, "the share of the validation rows classified right")
    torch.manual_seed(_probe_seed(seed, 2))
    model, shard = ViTForImageClassification(_probe_config()), _probe_shard(3, seed=_probe_seed(seed, 3))
    with torch.no_grad():
        answers = model.eval()(pixel_values=shard.pixel_values).logits.argmax(-1)
    order = torch.randperm(PROBE_ROWS, generator=torch.Generator().manual_seed(_probe_seed(seed, 4)))
    right = torch.zeros(PROBE_ROWS, dtype=torch.bool)
    right[order[:PROBE_RIGHT]] = True
    shard.labels = torch.where(right, answers, (answers + 1) % 3)
    model.train()
    with _forwards(model) as seen:
        returned = _run_piece(evaluate, "evaluate", model, shard, 3)
    return {
        "batch_sizes": list(shard.batch_sizes),
        "training": [bool(training) for training, _, _ in seen],
        "grad": [bool(grad) for _, grad, _ in seen],
        "returned": _value(returned),
    }


def _check_evaluate(seen: dict) -> None:
    """The share of the shard's rows classified right, in eval mode, without gradients."""
    if seen["batch_sizes"] != [3]:
        raise Wrong(
            f"`evaluate` read the shard with batch_size {seen['batch_sizes']} where it was given batch_size=3.",
            "One pass: shard.iter_torch_batches(batch_size=batch_size), with the argument it gets.",
        )
    if any(t is not False for t in seen["training"]):
        raise Wrong(
            "`evaluate` ran the model in training mode (dropout on): its accuracy would be measured on a model "
            "that drops part of what it computes.",
            "Call model.eval() before the evaluation loop.",
        )
    if any(g is not False for g in seen["grad"]):
        raise Wrong(
            "`evaluate` ran the model with gradients recorded: an autograd graph per batch that nothing uses.",
            "Evaluate under `with torch.no_grad():` (or torch.inference_mode()).",
        )
    if not seen["training"] or len(seen["grad"]) != len(seen["training"]):
        raise Wrong(
            f"`evaluate` returned {seen['returned']!r} without running the model on the shard.",
            "For every batch of the shard: the model's logits, their argmax compared with `labels`.",
        )
    accuracy = as_number(seen["returned"])
    if accuracy is None or abs(accuracy - PROBE_RIGHT / PROBE_ROWS) > 1e-6:
        raise Wrong(
            f"`evaluate` returned {seen['returned']!r} on a shard where {PROBE_RIGHT} of {PROBE_ROWS} rows are "
            f"classified right ({PROBE_RIGHT / PROBE_ROWS:.4f}), in batches of 3, 3 and 1.",
            "Count the rows whose largest logit is their label over the whole shard, and divide by the rows seen.",
        )


class _Context:
    """``ray.train.get_context()`` of the second of two workers."""

    def get_world_rank(self):
        return 1

    def get_world_size(self):
        return 2

    def get_local_rank(self):
        return 1

    def get_local_world_size(self):
        return 2

    def get_node_rank(self):
        return 0


@contextlib.contextmanager
def _as_second_worker(train_func, shards: dict, record: dict):
    """Ray Train's calls, as the second of two workers sees them: the rank, the shards, ``report`` and
    ``prepare_model`` (the model kept as it is), noted in ``record``; saving is noted, not done."""
    import ray.train
    import ray.train.torch
    import torch
    from transformers import ImageProcessingMixin, PreTrainedModel

    def report(metrics, checkpoint=None, **_):
        record["reports"].append((dict(metrics), checkpoint))

    def prepare_model(model, *_, **__):
        record["models"].append(model)
        return model

    def shard(name):
        record["shards"].append(name)
        return shards[name]

    def saved(what):
        return lambda *args, **kwargs: record["saved"].append(what)

    def optimizer_init(self, params, defaults, *args, **kwargs):
        record["optimizers"].append((type(self).__name__, defaults.get("lr")))
        return original_init(self, params, defaults, *args, **kwargs)

    original_init = torch.optim.Optimizer.__init__
    fakes = {
        (ray.train, "get_context"): lambda: _Context(),
        (ray.train, "get_dataset_shard"): shard,
        (ray.train, "report"): report,
        (ray.train.torch, "prepare_model"): prepare_model,
        (ray.train.torch, "get_device"): lambda: torch.device("cpu"),
        (PreTrainedModel, "save_pretrained"): saved("the model (save_pretrained)"),
        (ImageProcessingMixin, "save_pretrained"): saved("the image processor (save_pretrained)"),
        (torch, "save"): saved("a file (torch.save)"),
        (torch.distributed, "all_reduce"): lambda *a, **k: None,
        (torch.distributed, "barrier"): lambda *a, **k: None,
        (torch.optim.Optimizer, "__init__"): optimizer_init,
    }
    originals = {key: getattr(*key) for key in fakes}
    namespace = getattr(train_func, "__globals__", {})
    by_value = {id(originals[key]): fakes[key] for key in fakes}
    rebound = {n: v for n, v in namespace.items() if id(v) in by_value}  # from ray.train import report, ...
    for (owner, name), fake in fakes.items():
        setattr(owner, name, fake)
    namespace.update({n: by_value[id(v)] for n, v in rebound.items()})
    try:
        yield record
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
        namespace.update(rebound)


def _run_as_second_worker(train_func, seed) -> tuple[dict, dict]:
    """``train_func`` run here as rank 1 of 2 on the probe config: what it reported, saved, read and trained."""
    config = {"model_id": _probe_model_dir(), **PROBE_CONFIG}
    shards = {name: _probe_shard(3, _probe_seed(seed, 5 + i)) for i, name in enumerate(("train", "valid"))}
    record = {"reports": [], "models": [], "shards": [], "saved": [], "optimizers": []}
    try:
        with (
            quiet_model_loading(),
            _quiet_transformers(),
            contextlib.redirect_stdout(None),
            _as_second_worker(train_func, shards, record),
        ):
            train_func(dict(config))
    except Exception as exc:
        raise Wrong(
            "`train_func` failed when the check ran it as the second of two workers (config "
            f"{ {k: v for k, v in config.items() if k != 'model_id'} }, a tiny model): {error_line(exc)}",
            "Take everything from `config` (model_id, classes, epochs, batch_size, learning_rate) and from "
            "Ray Train's calls; the same function runs on every worker.",
        ) from None
    return record, shards


def _second_worker_seen(train_func, seed) -> dict:
    """What ``train_func`` did as rank 1 of 2 on the probe config (:data:`PROBE_CONFIG`, a tiny model of the
    check's own at ``model_id``): the first model it passed to prepare_model (where from, its output names), the
    optimizers it made, the shards it read and their batch sizes, its reports, and what it saved."""
    record, shards = _run_as_second_worker(train_func, seed)
    models = record["models"]
    return {
        "probe_model": _probe_model_dir(),
        "models": len(models),
        "model_from": str(models[0].config.name_or_path) if models else None,
        "labels": [str(models[0].config.id2label[i]) for i in range(models[0].config.num_labels)] if models else [],
        "optimizers": [[str(name), lr] for name, lr in record["optimizers"]],
        "shards": list(record["shards"]),
        "batch_sizes": sorted({size for s in shards.values() for size in s.batch_sizes}, key=str),
        "reports": len(record["reports"]),
        "reported_checkpoints": sum(checkpoint is not None for _, checkpoint in record["reports"]),
        "saved": list(record["saved"]),
    }


def _check_second_worker(seen: dict) -> None:
    """As rank 1: the model from config with its classes, AdamW at config's rate, config's batch size and
    epochs, both shards read, a report every epoch without a checkpoint, nothing saved."""
    config = PROBE_CONFIG
    if not seen["models"]:
        raise Wrong("`train_func` never calls prepare_model.", "Pass the model through ray.train.torch.prepare_model.")
    labels = list(seen["labels"])
    if seen["model_from"] != seen["probe_model"] or labels != config["classes"]:
        raise Wrong(
            f'given config["classes"] = {config["classes"]} and its own model_id, `train_func` trained a model '
            f"from {Path(str(seen['model_from'])).name or 'elsewhere'} with the outputs {labels}.",
            'Build the model from config: from_pretrained(config["model_id"], num_labels=len(config["classes"]), '
            "id2label=..., label2id=...), not from names of the notebook.",
        )
    optimizers = [tuple(o) for o in seen["optimizers"]]
    if optimizers != [("AdamW", config["learning_rate"])]:
        raise Wrong(
            f"given learning_rate={config['learning_rate']}, `train_func` made the optimizer(s) "
            f"{optimizers} (class, learning rate).",
            'One torch.optim.AdamW(model.parameters(), lr=config["learning_rate"]).',
        )
    if set(seen["shards"]) != {"train", "valid"}:
        raise Wrong(
            f"`train_func` read the shards {sorted(set(seen['shards']))}: an accuracy measured on the training "
            "rows says how well the model remembers them.",
            'Train on get_dataset_shard("train") and evaluate on get_dataset_shard("valid").',
        )
    if list(seen["batch_sizes"]) != [config["batch_size"]]:
        raise Wrong(
            f"given batch_size={config['batch_size']}, `train_func` read its shards in batches of "
            f"{seen['batch_sizes']}.",
            'Pass config["batch_size"] to one_epoch and evaluate.',
        )
    if seen["reports"] != config["epochs"]:
        raise Wrong(
            f"given epochs={config['epochs']}, the second worker reported {seen['reports']} times: every "
            "worker reports every epoch (the call is a barrier), for config's number of epochs.",
            REPORT_HINT,
        )
    if seen["saved"] or seen["reported_checkpoints"] != 0:
        what = seen["saved"][0] if seen["saved"] else "a checkpoint"
        raise Wrong(
            f"the second worker (rank 1) saved {what}: every worker writes the same weights, each to the "
            "same storage, for one checkpoint.",
            "Save only on rank 0 (ray.train.get_context().get_world_rank() == 0); the others report checkpoint=None.",
        )


def _judge_2(seen, seed) -> str:
    _check_code(seen["code"])
    epochs = int(seen["epochs"])
    losses, accuracies = _check_reports(seen["reports"], epochs)
    names = seen["classes"]
    _check_checkpoint(seen["checkpoint"], names)
    _check_one_epoch(_open(seen["one_epoch"]))
    _check_evaluate(_open(seen["evaluate"]))
    _check_second_worker(_open(seen["second_worker"]))
    outputs = len(names) if names is not None else len(seen["checkpoint"]["labels"])
    return (
        f"{epochs} reports; loss {losses[0]:.3f} → {losses[-1]:.3f}; validation accuracy "
        f"{', '.join(f'{a:.2f}' for a in accuracies)}; the last checkpoint loads with "
        f"{outputs} named outputs and its image processor."
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(train_func, result, settings, classes, one_epoch, evaluate, *, seed=None):
    """``one_epoch`` and ``evaluate`` on a tiny model; ``train_func`` as the second of two workers; ``result`` of
    ``trainer.fit()``: a report per epoch, the loss falling, the validation accuracy well above a guess, and a
    checkpoint from_pretrained loads with CLASSES' names.

    Observes ``train_func``'s code, the reports, the checkpoint as from_pretrained loads it, and what the pieces
    do on probes made from ``seed``; :func:`_judge_2` decides from those."""
    require("train_func", train_func, "your training loop")
    if result is None:
        raise NotSolved("there is no `result` yet: write the functions above, then run the training cell.")
    require("result", result, "the Result of trainer.fit()")
    if getattr(result, "error", None) is not None:
        raise Wrong(
            f"the training failed: {str(result.error).splitlines()[0][:200]}",
            "Read the error above the check, fix train_func, and run the training cell again.",
        )
    return {
        "code": _code_seen(train_func),
        "epochs": int(settings["epochs"]),
        "reports": _reports_seen(getattr(result, "metrics_dataframe", None)),
        "classes": [as_text(c) for c in classes] if isinstance(classes, (list, tuple)) else None,
        "checkpoint": _checkpoint_seen(result),
        "one_epoch": _part(_one_epoch_seen, one_epoch, seed),
        "evaluate": _part(_evaluate_seen, evaluate, seed),
        "second_worker": _part(_second_worker_seen, train_func, seed),
    }


# Exercise 3 -------------------------------------------------------------------------------------


def probe_paths(seed) -> list[str]:
    """The validation images of the probe batch: PROBE_PER_FOLDER of each local class folder, chosen by ``seed``.

    Local sample images, in every profile: the probe counts loads and forward passes and compares the outputs with
    the check's own run of the checkpoint, and any image does for that (the gpu profile's own images are on object
    storage)."""
    import random

    from ..data import DATA_ROLES, data_root

    rng = random.Random(int(seed or 0))
    paths = []
    for folder in DATA_ROLES["images_val_3"][0]:  # the tiny profile's folders, relative to the data root
        folder = data_root() / folder
        names = _image_files(folder)
        paths += [str(folder / name) for name in rng.sample(names, min(PROBE_PER_FOLDER, len(names)))]
    return paths


def _validation_batch(seed) -> dict:
    """The probe images (:func:`probe_paths`) as Ray hands them to a stage: a dict of NumPy arrays."""
    import numpy as np
    from PIL import Image

    paths = probe_paths(seed)
    images = [np.array(Image.open(p).convert("RGB")) for p in paths]  # writable, as Ray hands them
    column = np.empty(len(images), dtype=object)
    column[:] = images
    if len({i.shape for i in images}) == 1:
        column = np.stack(images)
    return {"image": column, "path": np.array(paths), "label": np.array([class_name(_parent_name(p)) for p in paths])}


def _output_seen(out) -> dict:
    """An output batch of the learner's class as the judge reads it: its columns, and the values of `predicted`
    (as text) and `confidence` (numbers, None where not a number) where it has them; ``{"type": ...}`` when it is
    not a batch."""
    import numpy as np

    columns = as_columns(out)
    if columns is None:
        return {"type": type(out).__name__}
    seen = {"columns": sorted(str(c) for c in columns)}
    if "predicted" in columns:
        seen["predicted"] = [as_text(v) for v in columns["predicted"]]
    if "confidence" in columns:
        values = out["confidence"] if not hasattr(out, "to_pydict") else columns["confidence"]
        values = values.detach().cpu().numpy() if hasattr(values, "detach") else values
        seen["confidence"] = [as_number(v) for v in list(np.asarray(values).reshape(-1))]
    return seen


def _outputs(seen: dict, classes: list[str], n: int) -> tuple[list[str], list]:
    """The predicted class names and the confidences in the learner's output batch (as :func:`_output_seen` saw it)."""
    if "columns" not in seen:
        raise Wrong(
            f"`ImageClassifier` returned a {seen['type']}, not a batch.",
            'Return a dict of columns, for example {"path": ..., "predicted": ..., "confidence": ...}.',
        )
    columns = list(seen["columns"])
    for column, what in (
        ("predicted", "each image's predicted class name"),
        ("confidence", "the probability the model gives its prediction"),
    ):
        if column not in columns:
            raise Wrong(
                f"the batch `ImageClassifier` returned has no `{column}` column (its columns: {sorted(columns)}).",
                f"Put {what} in a column called `{column}`.",
            )
    for column in ("path", "label"):
        if column not in columns:
            raise Wrong(
                f"the batch `ImageClassifier` returned has no `{column}` column: the rows can no longer be "
                "told apart or scored.",
                f"Pass the batch's `{column}` column on to the output.",
            )
    predicted = [str(p) for p in seen["predicted"]]
    confidence = [as_number(v) for v in seen["confidence"]]
    for column, got in (("predicted", predicted), ("confidence", confidence)):
        if len(got) != n:
            raise Wrong(
                f"`{column}` has {len(got)} values for a batch of {n} images.",
                "Return one value per image of the batch.",
            )
    odd = [p for p in predicted if p not in classes]
    if odd:
        raise Wrong(
            f"`predicted` holds {odd[0]!r}, not a class name ({classes}).",
            "Turn each output index into its name with model.config.id2label.",
        )
    return predicted, confidence


def _checkpoint_classes(folder) -> list[str] | None:
    """The output names in the checkpoint's config.json, in order; None when it has none."""
    import json

    config = Path(folder) / "config.json"
    if not config.is_file():
        return None
    id2label = json.loads(config.read_text()).get("id2label", {})
    return [str(id2label[key]) for key in sorted(id2label, key=int)]


def _reference(folder, batch) -> list[list[float]]:
    """The check's own run of the checkpoint on the probe batch: each image's softmax probabilities."""
    import torch
    from transformers import ViTForImageClassification, ViTImageProcessor

    with _quiet_transformers():
        processor = ViTImageProcessor.from_pretrained(str(folder))
        model = ViTForImageClassification.from_pretrained(str(folder)).eval()
    with torch.inference_mode():
        return model(**processor(list(batch["image"]), return_tensors="pt")).logits.softmax(-1).tolist()


def _check_confidence(got: list, want: list[float]) -> None:
    if any(v is None or math.isnan(v) for v in got):
        raise Wrong(
            f"`confidence` holds values that are not numbers ({got[:3]}).",
            "Return one probability per image, as a NumPy array of floats.",
        )
    if any(v < 0 or v > 1 for v in got):
        raise Wrong(
            f"`confidence` holds {next(v for v in got if v < 0 or v > 1):.3f}: not a probability. Logits "
            "are scores of any size; the softmax turns them into probabilities that add up to 1.",
            "Take the softmax of the logits over the classes, then the largest probability of each row.",
        )
    far = [(g, w) for g, w in zip(got, want) if abs(g - w) > SAME_PROBABILITY]
    if far:
        g, w = far[0]
        raise Wrong(
            f"`confidence` gives {g:.3f} where the softmax probability of the predicted class is {w:.3f} "
            f"({len(far)} of {len(got)} probe images differ).",
            "The softmax over the classes of each image's logits (softmax(-1)), and of it the value at "
            "the predicted class: the largest.",
        )


CHECKPOINT_HINT = (
    "Open the Checkpoint you are given with `with checkpoint.as_directory() as folder:` and load the image "
    "processor and the model from that folder, inside the `with`."
)


@contextlib.contextmanager
def _elsewhere(folder):
    """A Checkpoint of ``folder`` as a cluster's storage gives it: on a filesystem that is not this machine's
    disk, so that its ``path`` is no folder here and only ``as_directory()`` (a download) reaches the files."""
    import tempfile

    import pyarrow.fs
    from ray.train import Checkpoint

    with tempfile.TemporaryDirectory(prefix="lab05-storage-") as storage:
        (Path(storage) / "bucket" / "run").mkdir(parents=True)
        (Path(storage) / "bucket" / "run" / "checkpoint").symlink_to(Path(folder).resolve(), target_is_directory=True)
        filesystem = pyarrow.fs.SubTreeFileSystem(storage, pyarrow.fs.LocalFileSystem())
        yield Checkpoint("bucket/run/checkpoint", filesystem=filesystem)


COUNTED = ("load", "processor", "forward", "with_grad")


def _classify(ImageClassifier, checkpoint, batch) -> dict:
    """The class built from ``checkpoint`` and called on two batches as Ray would: the loads (and passes) its
    constructor made, those after the two calls, and its two output batches (:func:`_output_seen`)."""
    from transformers import ViTForImageClassification

    with _quiet_transformers(), counting(ViTForImageClassification, "forward") as counts:
        try:
            classifier = construct(
                ImageClassifier,
                label="ImageClassifier(checkpoint=<a Checkpoint on a cluster's storage>)",
                hint='fn_constructor_kwargs={"checkpoint": checkpoint} passes it to __init__ by name.',
                checkpoint=checkpoint,
            )
        except Wrong:
            raise
        except Exception as exc:
            raise Wrong(
                f"`ImageClassifier` failed on a Checkpoint whose files are not on this machine's disk (as on a "
                f"cluster's storage): {error_line(exc)}",
                CHECKPOINT_HINT,
            ) from None
        in_init = {key: counts[key] for key in COUNTED}
        if in_init["load"] == 0:  # the verdict require_model_in_init gives: no call is worth making
            return {"in_init": in_init}
        outputs = [call_as_ray(classifier, batch) for _ in range(2)]
    return {
        "in_init": in_init,
        "counts": {key: counts[key] for key in COUNTED},
        "outputs": list(map(_output_seen, outputs)),
    }


def _classifier_seen(ImageClassifier, checkpoint, seed) -> dict:
    """What the check sees of ``ImageClassifier`` on the probe batch (from ``seed``): the checkpoint's output names
    and its own softmax probabilities for each probe image, the class's loads, passes and outputs on a Checkpoint
    of the same files on another filesystem, and whether it loads a model from a Checkpoint of no folder."""
    from ray.train import Checkpoint

    batch = _validation_batch(seed)
    seen = {"paths": [str(p) for p in batch["path"]]}
    with checkpoint.as_directory() as folder:
        seen["classes"] = _checkpoint_classes(folder)
        if seen["classes"] is None:
            return {**seen, "folder": str(checkpoint.path)}
        seen["reference"] = _reference(folder, batch)
        with _elsewhere(folder) as remote:
            seen["run"] = _part(_classify, ImageClassifier, remote, batch)
        try:
            with _quiet_transformers():
                ImageClassifier(checkpoint=Checkpoint(str(Path(folder) / "no-such-checkpoint")))
        except Exception:
            seen["loads_missing"] = False
        else:
            seen["loads_missing"] = True
    return seen


def _check_class(seen: dict, seed) -> int:
    """``ImageClassifier`` on the probe batch: loaded once, one pass per batch without gradients, the class of the
    largest logit of the checkpoint's own run and its softmax probability; returns the probe's size."""
    from collections import Counter

    paths = [str(p) for p in seen["paths"]]
    if paths != probe_paths(seed):
        raise Wrong("the check saw other probe images than it chose.", "Run the check cell again.")
    n = len(paths)
    classes = seen["classes"]
    if classes is None:
        raise Wrong(
            f"the checkpoint ({seen['folder']}) holds no model (no config.json).",
            "checkpoint = result.checkpoint, the Checkpoint of Exercise 2's last report.",
        )
    classes = [str(c) for c in classes]
    run = _open(seen["run"])
    in_init = require_model_in_init(
        Counter(run["in_init"]),
        label="ImageClassifier",
        hint="Load the fine-tuned model in __init__: " + CHECKPOINT_HINT,
    )
    counts = Counter(run["counts"])
    require_loaded_once(counts, in_init, label="ImageClassifier", batches=2, processor="an image processor")
    require_inference(counts, model="ViT")
    if counts["forward"] >= 2 * n:
        raise Wrong(
            f"the model ran {counts['forward'] // 2} times for a batch of {n} images: one image at a time.",
            'Process the whole batch at once: processor(list(batch["image"]), return_tensors="pt"), '
            "then one model(**inputs) call for every row.",
        )
    if counts["forward"] == 0:
        raise Wrong(
            "the model never ran on the two batches: the predictions do not come from it.",
            "Run the model on every batch in __call__: one model(**inputs) call for the whole batch.",
        )
    first, second = run["outputs"]
    predicted, confidence = _outputs(first, classes, n)
    _outputs(second, classes, n)
    reference = [[float(p) for p in row] for row in seen["reference"]]
    if len(reference) != n or any(len(row) != len(classes) for row in reference):
        raise Wrong("the check's own run of the checkpoint is not one row per probe image.", "Run the check again.")
    want_predicted = [classes[max(range(len(row)), key=row.__getitem__)] for row in reference]
    if predicted != want_predicted:
        differ = sum(a != b for a, b in zip(predicted, want_predicted))
        raise Wrong(
            f"`predicted` differs from the class of the largest logit for {differ} of {n} probe images.",
            "Predict each image's class as the argmax of its logits, named with model.config.id2label.",
        )
    _check_confidence(confidence, [max(row) for row in reference])
    if seen["loads_missing"] is not False:
        raise Wrong(
            "`ImageClassifier(checkpoint=<a Checkpoint of a folder that does not exist>)` loaded a model "
            "anyway: it does not load the checkpoint it is given.",
            "Load the model from the Checkpoint you are given, not from a fixed name: " + CHECKPOINT_HINT,
        )
    return n


def _stage(predictions, ImageClassifier):
    """The plan's stage that runs ImageClassifier (or a class stage, when it has another name); None if none."""
    classes = [s for s in stages(predictions) if s.is_class]
    ours = [s for s in classes if s.fn is ImageClassifier or s.name == "ImageClassifier"]
    return (ours or classes)[-1] if ours or classes else None


def cluster_gpus() -> int:
    """The GPUs of the cluster this session is connected to, within the learner's budget, as the notebooks count
    them (GPUS)."""
    from raycourse import room

    return room.learner_gpus()


def _predictions_seen(predictions, ImageClassifier, checkpoint) -> dict:
    """The plan of ``predictions``: its class stage (what its constructor is given, its GPUs, its actor pool, its
    batch size), the GPUs of the cluster (and of the learner's budget), and the files it reads."""
    import ray
    from ray.train import Checkpoint

    require_dataset(
        "predictions", predictions, "Build it: read_labelled(val_folders).map_batches(ImageClassifier, ...)."
    )
    stage = _stage(predictions, ImageClassifier)
    if stage is None:
        return {"stage": None}
    args = list(getattr(stage.op, "fn_constructor_args", None) or []) + list(stage.constructor_kwargs.values())
    low, high = stage.pool_size or (None, None)
    return {
        "stage": {
            "args": [
                {"checkpoint": isinstance(a, Checkpoint), "path": str(a.path) if isinstance(a, Checkpoint) else None}
                | {"text": str(a)[:500]}
                for a in args
            ],
            "num_gpus": stage.remote_args.get("num_gpus"),
            "pool": stage.is_pool,
            "compute": str(stage.compute)[:200],
            "pool_size": None if low is None else [low, None if math.isinf(high) else high],
            "batch_size": stage.batch_size,
        },
        "checkpoint_path": str(checkpoint.path),
        "cluster_gpus": int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0,
        "learner_gpus": cluster_gpus(),
        "input_files": [str(f) for f in predictions.input_files()],
    }


def _budget_words(gpus: int, cluster: int) -> str:
    """``raycourse.room.budget_words`` from the counts the observer saw."""
    from raycourse.room import BUDGET_ENV

    if gpus < cluster:
        return f"your budget of {gpus} GPU(s) ({BUDGET_ENV}) of the cluster's {cluster}"
    return f"the cluster's {cluster} GPU(s)"


def _check_stage(seen: dict) -> None:
    from raycourse import room

    stage = seen["stage"]
    if stage is None:
        raise Wrong(
            "`predictions` has no stage that runs the ImageClassifier class.",
            "Pass the class itself to map_batches (map_batches(ImageClassifier, ...)): Ray builds one "
            "per actor, so the model is loaded once per actor.",
        )
    path = str(seen["checkpoint_path"])
    if not any(a["checkpoint"] is True and str(a["path"]) == path for a in stage["args"]):
        given = [a for a in stage["args"] if str(a["text"]) == path or str(a["text"]).endswith(path)]
        raise Wrong(
            "the ImageClassifier stage is given "
            + (
                "the checkpoint's path, a folder name that other nodes may not have: it needs the Checkpoint itself."
                if given
                else "not the Checkpoint of the last report (result.checkpoint)."
            ),
            'fn_constructor_kwargs={"checkpoint": checkpoint}, the Checkpoint of result.checkpoint.',
        )
    num_gpus = as_number(stage["num_gpus"])
    if num_gpus != 1:
        raise Wrong(
            f"the stage asks for num_gpus={stage['num_gpus']}, where each actor holds one model on its own GPU.",
            "Give the stage num_gpus=1.",
        )
    if stage["pool"] is not True:
        raise Wrong(
            f"the stage runs with {stage['compute']}, not a pool of actors.",
            "compute=ray.data.ActorPoolStrategy(size=GPUS): one actor per GPU, each loads the model once.",
        )
    cluster, high = int(seen["learner_gpus"]), stage["pool_size"][1]
    if high is not None and high > cluster:
        raise Wrong(
            f"the stage asks for a pool of up to {high} actors with one GPU each; it may use "
            f"{_budget_words(cluster, int(seen['cluster_gpus']))}, so {high - cluster} of them would wait for a "
            "GPU forever, doing nothing.",
            f"Size the pool to the cluster, within your budget: {room.GPU_SIZING}, then "
            "compute=ray.data.ActorPoolStrategy(size=GPUS).",
        )


def _bare(path: str) -> str:
    """A path or URI without its scheme and user (``s3://anonymous@bucket/key`` -> ``bucket/key``), as Ray lists
    the files it reads."""
    rest = str(path).split("://", 1)[-1].rstrip("/")
    head, slash, tail = rest.partition("/")
    return head.rsplit("@", 1)[-1] + slash + tail if "://" in str(path) else rest


def _under(path: str, folder: str) -> bool:
    """Whether the file ``path`` lies in ``folder`` (a local path or a URI; Ray lists files without the scheme)."""
    return _bare(path).rsplit("/", 1)[0].endswith(_bare(folder))


def _check_inputs(files: list[str], folders: list[str]) -> None:
    """The stage classifies the validation images: every file the plan reads lies in one of ``folders``."""
    stray = [f for f in files if not any(_under(f, folder) for folder in folders)]
    if stray:
        raise Wrong(
            f"`predictions` reads {len(stray)} of its {len(files)} images from outside `val_folders`, for "
            f"example {stray[0]}: a model scored on images it trained on looks better than it is.",
            "Read the validation images, read_labelled(val_folders), and classify those.",
        )


SCORED_COLUMNS = ("path", "label", "predicted", "confidence")


def _scored_seen(scored) -> dict:
    """``scored``: whether it is materialized, its columns, and (materialized, with them) its path, label,
    predicted and confidence columns."""
    from ray.data.dataset import MaterializedDataset

    require_dataset("scored", scored, "Keep the predictions as a Dataset whose rows Ray holds in memory.")
    seen = {"materialized": isinstance(scored, MaterializedDataset), "columns": list(scored.schema().names)}
    if seen["materialized"] and all(c in seen["columns"] for c in SCORED_COLUMNS):
        rows = scored.select_columns(list(SCORED_COLUMNS)).take_all()
        seen["rows"] = {
            "path": [str(r["path"]) for r in rows],
            "label": [as_text(r["label"]) for r in rows],
            "predicted": [as_text(r["predicted"]) for r in rows],
            "confidence": [as_number(r["confidence"]) for r in rows],
        }
    return seen


def _check_scored(seen: dict, folders: list[str]) -> "pd.DataFrame":  # noqa: F821
    """``scored``: materialized, every validation image once with path, label, predicted and confidence."""
    import pandas as pd

    if seen["materialized"] is not True:
        raise Wrong(
            "`scored` is still a plan: every use of it (the filter, the write, the scores after) would run "
            "the model on every image again.",
            "Run the pipeline once and keep its rows in Ray's object store (the lesson's section 1).",
        )
    columns = list(seen["columns"])
    lacking = [c for c in SCORED_COLUMNS if c not in columns]
    if lacking:
        raise Wrong(
            f"`scored` has no {lacking} column (its columns: {columns}).",
            "Make `scored` from `predictions`, as ImageClassifier returns them.",
        )
    table = pd.DataFrame({c: seen["rows"][c] for c in SCORED_COLUMNS})
    table["path"] = table["path"].map(str)
    if table["confidence"].isna().any():
        raise Wrong("`scored` has rows whose confidence is not a number.", "Make `scored` from `predictions`.")
    expected = sum(min(PER_CLASS, len(_image_files(f))) for f in folders)
    stray = [p for p in table["path"] if not any(_under(p, f) for f in folders)]
    if stray:
        raise Wrong(
            f"`scored` holds {len(stray)} images from outside `val_folders` (for example {stray[0]}).",
            "Make `scored` from `predictions`, the validation images.",
        )
    if len(table) != expected or table["path"].duplicated().any():
        raise Wrong(
            f"`scored` has {len(table)} rows ({table['path'].nunique()} images) for the {expected} validation images.",
            "Make `scored` from `predictions`, every validation image once.",
        )
    return table


def _review_seen(review_dir) -> dict:
    """The folder ``review_dir`` read back: its name, whether it exists; if not, the folders beside it that hold
    CSV files with a confidence column; if so, its files that are not CSV, else the columns and the paths of the
    rows its CSV files hold."""
    import pandas as pd

    review_dir = Path(review_dir)
    seen = {"name": review_dir.name, "exists": review_dir.exists()}
    if not seen["exists"]:
        stray = (
            [p for p in review_dir.parent.rglob("*.csv") if "confidence" in p.read_text().split("\n", 1)[0]]
            if review_dir.parent.is_dir()
            else []
        )
        return {**seen, "stray": [p.parent.name for p in stray]}
    files = sorted(p for p in review_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    others = [p.name for p in files if p.suffix.lower() != ".csv"]
    if others:
        return {**seen, "others": others}
    frames = [pd.read_csv(p) for p in files if p.stat().st_size]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["path", "confidence"])
    return {
        **seen,
        "others": [],
        "columns": [str(c) for c in rows.columns],
        "paths": [str(p) for p in rows["path"]] if "path" in rows.columns else [],
    }


def _check_review(table, seen: dict, review_below: float) -> tuple[int, int]:
    """The CSV files in the review folder hold exactly the rows of ``table`` below ``review_below``."""
    name = str(seen["name"])
    unsure = set(table.loc[table["confidence"] < review_below, "path"])
    if seen["exists"] is not True:
        if not unsure:
            return 0, len(table)
        if seen["stray"]:
            raise Wrong(
                f'found CSV files in {seen["stray"][0]}, but nothing in out_dir / "{name}".',
                f'Write into exactly the folder the exercise names: out_dir / "{name}".',
            )
        raise NotSolved(
            f'nothing written to out_dir / "{name}" yet: {len(unsure)} of the '
            f"{len(table)} images are below {review_below}."
        )
    if seen["others"]:
        raise Wrong(
            f'out_dir / "{name}" holds {seen["others"][0]}: not a CSV file.',
            "Write the rows with write_csv, a format a person opens in any spreadsheet.",
        )
    lacking = [c for c in ("path", "predicted", "confidence") if c not in seen["columns"]]
    if lacking:
        raise Wrong(
            f"the review files have no {lacking} column (their columns: {list(seen['columns'])}): a person "
            "needs the image, what the model answered and how sure it was.",
            "Write the rows of `scored` as they are.",
        )
    paths = [str(p) for p in seen["paths"]]
    twice = sum(n - 1 for n in Counter(paths).values())
    if twice:
        raise Wrong(
            f"{twice} images are in the review files more than once: the cell ran "
            "twice, and the second write added files beside the first's?",
            'write_csv(..., mode="overwrite") replaces what an earlier run wrote.',
        )
    got = set(paths)
    confident = set(table["path"]) - unsure
    if got and got <= confident and not (got & unsure):
        raise Wrong(
            f"the review files hold {len(got)} images the model is sure of (confidence {review_below} or "
            "more), and none of the unsure ones: the filter is the wrong way round.",
            f"Keep the rows whose confidence is below REVIEW_BELOW ({review_below}).",
        )
    answered = got & confident
    if answered:
        raise Wrong(
            f"{len(answered)} images in the review files have a confidence of {review_below} or more: "
            "those the model answers itself.",
            f"Keep only the rows below REVIEW_BELOW ({review_below}).",
        )
    lost = unsure - got
    if lost:
        raise Wrong(
            f"{len(lost)} of the {len(unsure)} images below {review_below} are not in the review files "
            f"(for example {_name(sorted(lost)[0])}): nobody would look at them.",
            "Filter `scored` on its confidence column, below REVIEW_BELOW, and write every row that passes.",
        )
    stray = got - set(table["path"])
    if stray:
        raise Wrong(
            f"the review files hold {len(stray)} images that are not in `scored`.",
            "Write the rows of `scored` whose confidence is below REVIEW_BELOW, nothing else.",
        )
    return len(unsure), len(table)


PREDICTIONS_WHAT = "the Dataset of predictions for the validation images"
SCORED_WHAT = "predictions, run once and kept (materialized)"


def _judge_3(seen, seed) -> str:
    n = _check_class(_open(seen["classifier"]), seed)
    if seen["predictions"] is None:
        _pending("predictions", PREDICTIONS_WHAT)
    predictions = _open(seen["predictions"])
    _check_stage(predictions)
    folders = _course_folders("images_val_3")
    _check_inputs([str(f) for f in predictions["input_files"]], folders)
    if seen["scored"] is None:
        _pending("scored", SCORED_WHAT)
    table = _check_scored(_open(seen["scored"]), folders)
    review_below = float(seen["review_below"])
    unsure, total = _check_review(table, seen["review"], review_below)
    stage = predictions["stage"]
    low, high = stage["pool_size"]
    actors = f"{low}" if low == high else f"{low} to {'any number of' if high is None else high}"
    return (
        f"ImageClassifier loads the checkpoint once, from wherever it is stored, runs one forward pass per batch "
        f"and gives {n} probe images, their classes and confidences as the checkpoint gives them; the stage runs "
        f"on {actors} actor(s) with one GPU each (GPUS is {predictions['learner_gpus']}), {stage['batch_size']} "
        f"images per batch; {unsure} of the {total} validation images are below {seen['review_below']} and wait "
        f'in out_dir / "{seen["review"]["name"]}" for a person.'
    )


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(ImageClassifier, predictions, scored, checkpoint, val_folders, review_dir, review_below, *, seed=None):
    """``ImageClassifier`` from a Checkpoint wherever it is stored, with each prediction's confidence, batched;
    ``predictions``: its stage over the validation images with a GPU per actor and a pool the cluster holds;
    ``scored``: run once; the images below ``review_below`` written as CSV to ``review_dir``.

    Observes the class on probe images from ``seed`` (and the checkpoint's own run on them), the plan of
    ``predictions``, the rows of ``scored`` and the review files read back; :func:`_judge_3` decides from those,
    against the course's validation folders."""
    if checkpoint is None:
        raise NotSolved("there is no checkpoint yet: solve Exercise 2 first.")
    require("ImageClassifier", ImageClassifier, "your ImageClassifier class")
    if not inspect.isclass(ImageClassifier):
        raise Wrong(
            f"`ImageClassifier` is a {type(ImageClassifier).__name__}, not a class.",
            "Write `class ImageClassifier:` with __init__(self, checkpoint) and __call__(self, batch).",
        )
    return {
        "classifier": _part(_classifier_seen, ImageClassifier, checkpoint, seed),
        "predictions": _part(_predictions_seen, predictions, ImageClassifier, checkpoint)
        if written(predictions)
        else None,
        "scored": _part(_scored_seen, scored) if written(scored) else None,
        "val_folders": None if val_folders is None else [str(f) for f in val_folders],
        "review": _review_seen(review_dir),
        "review_below": float(review_below),
    }


# Stretch -----------------------------------------------------------------------------------------------

# The check's own predictions, with mistakes: six of a first class (four right), five of a second (one right), five
# of a third (three right): 67 %, 20 % and 60 %. Grouped by the predicted class instead, they give 50 % (4 of the 8
# answers of the first class), 25 % (1 of 4) and 75 % (3 of 4). Which names the three classes have, and the rows'
# order, come from the seed.
PROBE = {
    "label": [0] * 6 + [1] * 5 + [2] * 5,
    "predicted": [0] * 4 + [1] * 2 + [1] + [0] * 3 + [2] + [2] * 3 + [0, 1],
}
PROBE_CLASSES = ("dog", "fish", "parachute", "church", "chainsaw", "truck", "golf ball", "horn", "cassette", "bird")


def probe_predictions(seed):
    """The check's own predictions (:data:`PROBE`) as a DataFrame: class names and row order from ``seed``."""
    import random

    import pandas as pd

    rng = random.Random(int(seed or 0))
    names = rng.sample(PROBE_CLASSES, 3)
    rows = [(names[label], names[predicted]) for label, predicted in zip(PROBE["label"], PROBE["predicted"])]
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["label", "predicted"])


IN_RAY_HINT = "Group the predictions by their true label and aggregate each group in Ray Data: return that Dataset."


def _result_seen(result) -> dict:
    """What ``per_class_accuracy`` returned: its type's name, and for a Dataset its plan's operator names and rows."""
    import ray.data

    if not isinstance(result, ray.data.Dataset):
        return {"dataset": False, "type": type(result).__name__}
    return {
        "dataset": True,
        "type": type(result).__name__,
        "ops": [type(op).__name__ for op in plan_ops(result)],
        "rows": result.take_all(),
    }


def _result_rows(seen: dict) -> list[dict]:
    """The rows of the Dataset ``per_class_accuracy`` returned, which Ray Data grouped (not a table made in the
    driver and handed back)."""
    if seen["dataset"] is not True:
        raise _not_a_dataset("per_class_accuracy(predictions)", str(seen["type"]), IN_RAY_HINT)
    ops = [str(op) for op in seen["ops"]]
    if ops and ops[0].startswith("From") and "Aggregate" not in ops:
        raise Wrong(
            f"`per_class_accuracy` returned a Dataset made from a table in the driver ({ops[0]}): the predictions "
            "were all brought to the notebook to be counted.",
            IN_RAY_HINT,
        )
    rows = seen["rows"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise Wrong("the check could not read the rows of the result.", IN_RAY_HINT)
    return rows


def _judge_per_class(rows: list[dict], table, where: str) -> dict:
    """The share per true label in ``rows`` (one of its number columns), checked against ``table``'s predictions."""
    import numbers

    expected = (table["predicted"] == table["label"]).groupby(table["label"]).mean().to_dict()
    counts = table.groupby("label").size().to_dict()
    if not rows or "label" not in rows[0]:
        grouped_by = " (grouped by `predicted`?)" if rows and "predicted" in rows[0] else ""
        raise Wrong(
            f"on {where}, the result has no `label` column{grouped_by} (its columns: {list(rows[0]) if rows else []}).",
            "Group by the true class, `label`: one row per class.",
        )
    labels = [r["label"] for r in rows]
    if len(set(labels)) != len(labels):
        raise Wrong(f"on {where}, a label is in more than one row.", "Group by `label`: one row per class.")
    if set(labels) != set(expected):
        raise Wrong(
            f"on {where}, the result has the labels {sorted(labels)}; the predictions have {sorted(expected)}.",
            "Group by the true `label`, not by `predicted`.",
        )
    numbers_ = [c for c in rows[0] if c != "label" and all(isinstance(r[c], numbers.Real) for r in rows)]
    if not numbers_:
        raise Wrong(
            f"on {where}, the result has no number per class (its columns: {list(rows[0])}).",
            "Aggregate a 0/1 `correct` column per class: its mean is the class's accuracy.",
        )
    for column in numbers_:
        if all(abs(float(r[column]) - expected[r["label"]]) < 1e-6 for r in rows):
            return expected
    by_label = {r["label"]: r for r in rows}
    column = numbers_[0]
    if all(abs(float(by_label[label][column]) - share * counts[label]) < 1e-6 for label, share in expected.items()):
        raise Wrong(
            f"on {where}, `{column}` is the number of images predicted right per class, not their share.",
            "Take the mean of `correct` (0 or 1) per class, not its sum.",
        )
    by_prediction = (table["predicted"] == table["label"]).groupby(table["predicted"]).mean().to_dict()
    label, share = next(iter(sorted(expected.items())))
    got = float(by_label[label][column])
    guess = " (the share per *predicted* class?)" if abs(got - by_prediction.get(label, -1)) < 1e-6 else ""
    raise Wrong(
        f"on {where}, the result gives {got:.3f} for {label!r}, but {share:.1%} of its {counts[label]} "
        f"images are predicted right{guess}.",
        "Mark each row right or wrong (`predicted == label`), then average that per true `label`.",
    )


def _judge_stretch(seen, seed) -> str:
    import pandas as pd

    probe = probe_predictions(seed)
    _judge_per_class(_result_rows(_open(seen["probe"])), probe, "the check's probe predictions")
    table = pd.DataFrame({"label": seen["predictions"]["label"], "predicted": seen["predictions"]["predicted"]})
    expected = _judge_per_class(_result_rows(_open(seen["yours"])), table, "your predictions")
    counts = table.groupby("label").size().to_dict()
    return (
        "right on the check's predictions with mistakes, and on yours: "
        + ", ".join(f"{label}: {share:.0%} of {counts[label]}" for label, share in sorted(expected.items()))
        + "."
    )


@exercise("Stretch · accuracy per class", judge=_judge_stretch)
def stretch(per_class_accuracy, predictions, *, seed=None):
    """``per_class_accuracy(predictions)``: one row per true ``label`` with the share of its images predicted right,
    on the learner's predictions and on the check's own, which hold mistakes (grouping by ``predicted`` differs).

    Observes what it returns on the check's predictions (class names from ``seed``) and on the learner's, and the
    learner's labels and predictions; :func:`_judge_stretch` computes the shares from those."""
    import ray.data

    require(
        "per_class_accuracy",
        per_class_accuracy,
        "a function per_class_accuracy(predictions) returning one row per label with its accuracy",
    )
    require("scored", predictions, "the predictions of Exercise 3, run once")
    if not callable(per_class_accuracy):
        raise Wrong(
            f"`per_class_accuracy` is a {type(per_class_accuracy).__name__}, not a function.",
            "Define it with def per_class_accuracy(predictions): ...",
        )
    probe = _part(_result_seen, per_class_accuracy(ray.data.from_pandas(probe_predictions(seed))))
    if "seen" not in probe:
        return {"probe": probe}  # not a Dataset: the verdict, before the learner's predictions are run
    rows = predictions.take_all()
    return {
        "probe": probe,
        "predictions": {"label": [r["label"] for r in rows], "predicted": [r["predicted"] for r in rows]},
        "yours": _part(_result_seen, per_class_accuracy(predictions)),
    }
