"""Lab 05, exercise 1: ``train_images`` against the class folders (every image once, in colour, labelled by its
folder), ``CLASSES``, and ``class_names`` on labels no folder has."""

from __future__ import annotations

from collections import Counter

from .._core import Wrong, exercise, require
from ..toolkit import as_text, error_line, require_dataset
from ._common import PER_CLASS, _course_folders, _image_files, _name, _open, _parent_name, _part, class_name

CONVERT_HINT = (
    'Read the images with mode="RGB" (read_images converts every image to three channels), '
    "as the lesson's section 2 does."
)
RUN_HINT = "Run `train_images.take_batch(2)` in a cell of its own to see the whole error."
PATH_LABEL_HINT = (
    "Take each image's label from its own path: the name of the folder it came from "
    "(Path(path).parent.name, made readable with READABLE), in map_batches."
)


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
    """The paths, labels and image layouts of every row, read a batch at a time from one whole run (the check keeps
    no image): labels as text, and the first label that is not text (its type's name and repr), if any."""
    try:  # run to its end once, never stopped early (toolkit.run_dataset says why)
        ds = ds.materialize()
    except Exception as exc:  # the learner's steps fail
        raise Wrong(f"running `train_images` failed: {error_line(exc)}", RUN_HINT) from None
    columns = ds.columns() or []
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
    _check_read_once(paths, by_folder)
    _check_colour(layouts)
    per_folder = _check_per_folder(paths, by_folder)
    _check_labels(paths, labels, seen["not_text"])
    return paths, per_folder


def _check_read_once(paths: list[str], by_folder: dict[str, str]) -> None:
    """Every image from one of the folders, and none twice."""
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


def _check_colour(layouts: list) -> None:
    """Every image ``(H, W, 3)``: a grayscale one converted, not kept as it came."""
    odd = Counter(str(layout) for layout in layouts if layout != "colour")
    if odd:
        kinds = ", ".join(f"{n} of shape {kind}" for kind, n in odd.most_common())
        raise Wrong(
            f"{sum(odd.values())} images are not (H, W, 3) colour images ({kinds}): grayscale images "
            "kept as they are; a ViT needs three channels.",
            CONVERT_HINT,
        )


def _check_per_folder(paths: list[str], by_folder: dict[str, str]) -> Counter:
    """Every folder read, each with all its images up to PER_CLASS (none dropped, none beyond the limit)."""
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
    return per_folder


def _check_labels(paths: list[str], labels: list, not_text) -> None:
    """Every label the class name of the folder in its path (not paired with the rows by position)."""
    wanted = [class_name(_parent_name(p)) for p in paths]
    if not_text is not None or not all(isinstance(label, str) for label in labels):
        kind, example = not_text or [type(labels[0]).__name__, repr(labels[0])]
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
