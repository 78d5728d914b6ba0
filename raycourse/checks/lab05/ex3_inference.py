"""Lab 05, exercise 3's ``ImageClassifier`` called as Ray would, on probe validation images and a Checkpoint
on a filesystem that is not this machine's disk: its loads and forward passes counted, its outputs beside the
checkpoint's own."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from .._core import Wrong
from ..toolkit import (
    as_columns,
    as_number,
    as_text,
    call_as_ray,
    construct,
    counting,
    error_line,
    require_inference,
    require_loaded_once,
    require_model_in_init,
)
from ._common import _image_files, _open, _parent_name, _part, _quiet_transformers, class_name

PROBE_PER_FOLDER = 3  # validation images of each local class folder in the probe batch of Exercise 3
SAME_PROBABILITY = 2e-3  # Exercise 3: the learner's confidence against the check's softmax (TF32 on a GPU)


def probe_paths(seed) -> list[str]:
    """The validation images of the probe batch: PROBE_PER_FOLDER of each local class folder, chosen by ``seed``.

    Local sample images, in every profile: the probe counts loads and forward passes and compares the outputs with
    the check's own run of the checkpoint, and any image does for that (the gpu profile's own images are on object
    storage)."""
    import random

    from ...data import DATA_ROLES, data_root

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
