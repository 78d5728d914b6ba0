"""Checks for lab 05 (fine-tuning a ViT): labels from paths, reports from Ray Train, batched inference.

Exercise 1 reads the learner's Dataset ``train_images`` (path, label and the shape of
each image, a batch at a time) and compares it with the class folders: every image of
each folder (at most ``PER_CLASS``), no image twice, every image ``(H, W, 3)`` and every
label the class of the folder in its path. The likely mistakes get their own hints:
labels paired by row order (the union interleaves the classes), grayscale images kept
as they came (``(1, H, W)`` or ``(H, W)``) or dropped instead of converted.

Exercise 2 reads the ``Result`` of ``TorchTrainer.fit()``: one report per checkpoint, at
every ``settings["every"]`` steps up to ``settings["max_steps"]``, each with the
validation accuracy, and a Hugging Face checkpoint in the last one. Any way of
getting there passes (``eval_steps``/``save_steps``, an ``IntervalStrategy``, ...).

Exercise 3 calls the learner's ``ImageClassifier`` in this process on a few validation
images, the way Ray would, while it counts the model loads (``from_pretrained``) and the
forward passes of the ViT: one load, in ``__init__``, and one forward pass per batch,
not one per image. A checkpoint path that does not exist must fail (so the class loads
what it is given). Then it reads the plan of ``predictions``: a stage of that class with
the checkpoint in its constructor arguments, ``num_gpus=1`` and an actor pool of 1 to the
cluster's GPUs (a bigger one leaves actors waiting for a GPU forever; Ray itself refuses GPU
stages without a ``batch_size``). It does not run the pipeline: the cell after it does.
"""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

from ._core import NotSolved, Wrong, call_as_ray, class_stages, counting, exercise, progress_of, require

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

PER_CLASS = 200  # the lesson's limit(200) per class
READABLE = {"n02102040": "dog", "n01440764": "fish"}  # as in the notebooks: imagenette's WordNet ids
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif"}  # what read_images reads
PROBE_IMAGES = 6  # validation images in the probe batch of Exercise 3
CONVERT_HINT = ("Read the images with mode=\"RGB\" (read_images converts every image to three channels), "
                "as the lesson's section 2 does.")
PATH_LABEL_HINT = ("Take each image's label from its own path: the name of the folder it came from "
                   "(Path(path).parent.name, made readable with READABLE), in map_batches.")


def class_name(folder: str) -> str:
    """The class of a folder (or of a file's parent folder name): readable names for imagenette's ids."""
    return READABLE.get(folder, folder)


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


def _layout(shape) -> str:
    shape = tuple(shape)
    if len(shape) == 3 and shape[-1] == 3:
        return "colour"
    if len(shape) == 2:
        return "(H, W)"
    if len(shape) == 3 and shape[0] == 1:
        return "(1, H, W)"
    return str(shape)


def _rows(ds) -> tuple[list[str], list, list[str]]:
    """(paths, labels, image layouts) of every row, a batch at a time (the images are not kept)."""
    columns = list(ds.schema().names) if ds.schema() is not None else []
    for name, hint in (("path", "Read with include_paths=True: the path column says where each image came "
                                "from, and the check uses it."),
                       ("label", "Add a column called `label` with each image's class."),
                       ("image", "Keep the `image` column that read_images makes.")):
        if name not in columns:
            raise Wrong(f"`train_images` has no `{name}` column (its columns: {columns}).", hint)
    paths, labels, layouts = [], [], []
    for batch in ds.iter_batches(batch_size=64, batch_format="numpy"):
        paths += [str(p) for p in batch["path"]]
        labels += list(batch["label"])
        layouts += [_layout(getattr(image, "shape", ())) for image in batch["image"]]
    return paths, labels, layouts


@exercise("Exercise 1")
def exercise_1(train_images, folders):
    """``train_images``: every image of the class ``folders``, in colour, labelled from its path."""
    require("train_images", train_images, "the Dataset of labelled training images")
    import ray.data

    if not isinstance(train_images, ray.data.Dataset):
        raise Wrong(f"`train_images` is a {type(train_images).__name__}, not a Ray Dataset.",
                    "Build it from ray.data.read_images calls.")
    folders = [str(f) for f in folders]
    paths, labels, layouts = _rows(train_images)
    if not paths:
        raise Wrong("`train_images` is empty.", "Read both class folders.")
    by_folder = {_name(f): f for f in folders}
    stray = [p for p in paths if _parent_name(p) not in by_folder]
    if stray:
        raise Wrong(f"{len(stray)} images come from other folders (for example {stray[0]}).",
                    "Read the two folders of `train_folders`, nothing else.")
    twice = [p for p, n in Counter(paths).items() if n > 1]
    if twice:
        raise Wrong(f"{len(twice)} images are in `train_images` more than once (for example {_name(twice[0])}).",
                    "Read each class folder once and put the two reads together with union.")

    odd = Counter(layout for layout in layouts if layout != "colour")
    if odd:
        kinds = ", ".join(f"{n} of shape {kind}" for kind, n in odd.most_common())
        raise Wrong(f"{sum(odd.values())} images are not (H, W, 3) colour images ({kinds}): grayscale images "
                    "kept as they are; a ViT needs three channels.", CONVERT_HINT)

    per_folder = Counter(_parent_name(p) for p in paths)
    for name, folder in by_folder.items():
        expected = min(PER_CLASS, len(_image_files(folder)))
        got = per_folder.get(name, 0)
        if got == 0:
            raise Wrong(f"no image of the folder {name} is in `train_images`.", "Read both class folders.")
        if got < expected:
            raise Wrong(f"{expected - got} of the {expected} images of {name} are missing: dropped rather than "
                        "converted? A grayscale photo of a dog is still a good example of a dog.",
                        "Keep every image: " + CONVERT_HINT)
        if got > expected:
            raise Wrong(f"{got} images of {name}, more than the lesson's {PER_CLASS} per class.",
                        f"Keep at most {PER_CLASS} images of each class with limit({PER_CLASS}).")

    wanted = [class_name(_parent_name(p)) for p in paths]
    as_text = [str(label.decode() if isinstance(label, bytes) else label) for label in labels]
    if not all(isinstance(label, (str, bytes)) for label in labels):
        raise Wrong(f"the labels are {type(labels[0]).__name__} values (for example {labels[0]!r}), not class names.",
                    f"Label each image with its class name, one of {sorted(set(wanted))}.")
    wrong = sum(a != b for a, b in zip(as_text, wanted))
    if wrong:
        example = next(i for i, (a, b) in enumerate(zip(as_text, wanted)) if a != b)
        raise Wrong(f"{wrong} of {len(paths)} images have a label that is not the class of their folder (for "
                    f"example {_name(paths[example])} in {_parent_name(paths[example])} is labelled "
                    f"{as_text[example]!r}). Labels paired with the rows by position go wrong: union "
                    "interleaves the blocks of the two reads.", PATH_LABEL_HINT)
    counts = ", ".join(f"{n} {class_name(name)}" for name, n in sorted(per_folder.items()))
    return f"{len(paths)} images ({counts}), all (H, W, 3), each labelled with the class of its folder."


# Exercise 2 -------------------------------------------------------------------------------------

REPORT_HINT = ("RayTrainReportCallback reports to Ray Train each time the Trainer saves a checkpoint: save "
               "(save_strategy=\"steps\", save_steps) and evaluate (eval_strategy=\"steps\", eval_steps) every "
               "config[\"every\"] steps.")


@exercise("Exercise 2")
def exercise_2(result, settings):
    """``result`` of ``trainer.fit()``: a report with the validation accuracy every ``settings["every"]`` steps."""
    if result is None:
        raise NotSolved("there is no `result` yet: complete train_func, then run the training cell.")
    require("result", result, "the Result of trainer.fit()")
    every, max_steps = int(settings["every"]), int(settings["max_steps"])
    if getattr(result, "error", None) is not None:
        raise Wrong(f"the training failed: {str(result.error).splitlines()[0][:200]}",
                    "Read the error above the check, fix train_func, and run the training cell again.")
    frame = getattr(result, "metrics_dataframe", None)
    if frame is None or len(frame) == 0:
        raise Wrong("Ray Train got no report from the training: no metrics and no checkpoint.",
                    "Add RayTrainReportCallback() to the Trainer (trainer.add_callback), and " + REPORT_HINT)
    steps = [int(s) for s in frame["step"]] if "step" in frame else []
    expected = list(range(every, max_steps + 1, every)) + ([max_steps] if max_steps % every else [])
    if "eval_accuracy" not in frame or frame["eval_accuracy"].isna().any():
        raise Wrong(f"the reports (at steps {steps}) have no validation accuracy (eval_accuracy).",
                    "Evaluate at every report: eval_strategy=\"steps\" with eval_steps equal to save_steps; "
                    "the Trainer then runs compute_metrics on the validation shard.")
    if steps != expected:
        raise Wrong(f"Ray Train got reports at steps {steps}, not every {every} steps ({expected}).", REPORT_HINT)
    checkpoint = getattr(result, "checkpoint", None)
    if checkpoint is None:
        raise Wrong("the result has no checkpoint.", REPORT_HINT)
    from ray.train.huggingface.transformers import RayTrainReportCallback

    folder = Path(checkpoint.path) / RayTrainReportCallback.CHECKPOINT_NAME
    if not (folder / "config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise Wrong(f"the last checkpoint ({folder}) holds no model (config.json and weights).",
                    "Let the Trainer save the whole model: save_strategy=\"steps\" (save_only_model=True is fine).")
    accuracy = ", ".join(f"{a:.2f}" for a in frame["eval_accuracy"])
    return (f"{len(steps)} reports, at steps {', '.join(map(str, steps))}; validation accuracy {accuracy}; "
            "the model is in the last checkpoint.")


# Exercise 3 -------------------------------------------------------------------------------------

def _probe_batch() -> dict:
    """A few of the course's validation images, as Ray hands them to a stage: a dict of NumPy arrays.

    Local sample images in every profile: the probe counts loads and forward passes, and
    any image does for that (the gpu profile's own images are on object storage).
    """
    import numpy as np
    from PIL import Image

    from ..data import data_root

    paths = []
    for folder in sorted(p for p in (data_root() / "images" / "val").iterdir() if p.is_dir()):
        paths += [str(Path(folder) / name) for name in _image_files(folder)[: PROBE_IMAGES // 2]]
    images = [np.array(Image.open(p).convert("RGB")) for p in paths]  # writable, as Ray hands them
    column = np.empty(len(images), dtype=object)
    column[:] = images
    if len({i.shape for i in images}) == 1:
        column = np.stack(images)
    return {"image": column, "path": np.array(paths),
            "label": np.array([class_name(_parent_name(p)) for p in paths])}


def _output_column(out, classes, n: int) -> list:
    """The predicted class names in the learner's output batch (the column of class names)."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        out = {c: out[c] for c in out.columns}
    if not hasattr(out, "keys"):
        raise Wrong(f"`ImageClassifier` returned a {type(out).__name__}, not a batch.",
                    "Return a dict of columns, for example {\"path\": ..., \"label\": ..., \"predicted\": ...}.")
    if "predicted" not in out:
        raise Wrong(f"the batch `ImageClassifier` returned has no `predicted` column (its columns: {sorted(out)}).",
                    "Put each image's predicted class name in a column called `predicted`.")
    predicted = [str(v.decode() if isinstance(v, bytes) else v) for v in list(out["predicted"])]
    if len(predicted) != n:
        raise Wrong(f"`predicted` has {len(predicted)} values for a batch of {n} images.",
                    "Return one prediction per image of the batch.")
    odd = [p for p in predicted if p not in classes]
    if odd:
        raise Wrong(f"`predicted` holds {odd[0]!r}, not a class name ({classes}).",
                    "Turn each output index into its name with model.config.id2label.")
    return predicted


def _checkpoint_classes(checkpoint_path) -> list[str]:
    import json

    config = Path(checkpoint_path) / "config.json"
    if not config.is_file():
        raise Wrong(f"{checkpoint_path} holds no model (no config.json).",
                    "checkpoint_path = Path(result.checkpoint.path) / RayTrainReportCallback.CHECKPOINT_NAME.")
    return sorted(json.loads(config.read_text()).get("id2label", {}).values())


def _check_class(ImageClassifier, checkpoint_path) -> str:
    import numpy as np

    classes = _checkpoint_classes(checkpoint_path)
    batch = _probe_batch()
    n = len(batch["path"])
    from transformers import ViTForImageClassification

    with counting(ViTForImageClassification, "forward") as counts:
        try:
            classifier = ImageClassifier(checkpoint_path=str(checkpoint_path))
        except TypeError as exc:
            if "argument" in str(exc):
                raise Wrong(f"`ImageClassifier(checkpoint_path=...)` failed: {exc}",
                            "fn_constructor_kwargs={\"checkpoint_path\": ...} passes checkpoint_path to __init__: "
                            "give __init__ a parameter with that name.") from None
            raise
        loads_in_init, processors_in_init = counts["load"], counts["processor"]
        if loads_in_init == 0:
            raise Wrong("`ImageClassifier.__init__` loads no model.",
                        "Load the fine-tuned model in __init__ with ViTForImageClassification.from_pretrained("
                        "checkpoint_path): once per actor.")
        out = call_as_ray(classifier, batch)
        second = call_as_ray(classifier, batch)
    if counts["load"] > loads_in_init or counts["processor"] > processors_in_init:
        what = "a model" if counts["load"] > loads_in_init else "an image processor"
        extra = max(counts["load"] - loads_in_init, counts["processor"] - processors_in_init)
        raise Wrong(f"`ImageClassifier` loaded {what} {extra} times while classifying 2 batches: loaded per batch.",
                    "Load the model and the image processor once, in __init__, and keep them on self; __call__ "
                    "only uses them.")
    if counts["with_grad"]:
        raise Wrong("the ViT ran with gradients recorded: every forward pass built an autograd graph that "
                    "inference never uses (memory and time on a GPU).",
                    "Run the model under `with torch.inference_mode():`, as the lab asks.")
    predicted = _output_column(out, classes, n)
    _output_column(second, classes, n)
    if counts["forward"] == 0:
        raise Wrong("the fine-tuned ViT never ran on the batch.",
                    "Call the model on the processed batch: model(**inputs).logits.")
    if counts["forward"] >= 2 * n:
        raise Wrong(f"the model ran {counts['forward'] // 2} times for a batch of {n} images: one image at a time.",
                    "Process the whole batch at once: processor(list(batch[\"image\"]), return_tensors=\"pt\"), "
                    "then one model(**inputs) call, then argmax over the logits of every row.")
    try:
        ImageClassifier(checkpoint_path=str(Path(checkpoint_path) / "no-such-checkpoint"))
    except Exception:
        pass
    else:
        raise Wrong("`ImageClassifier(checkpoint_path=<a folder that does not exist>)` loaded a model anyway: it "
                    "does not load the checkpoint it is given.",
                    "Load the model from the checkpoint_path argument, not from a fixed name.")
    if set(batch["label"]) <= set(classes):
        return f"{int(np.sum(np.array(predicted) == batch['label']))} of {n} probe images right"
    return f"{n} probe images"


def _stage(predictions, ImageClassifier):
    """The plan's stage that runs ImageClassifier (or a class stage, when it has another name)."""
    stages = class_stages(predictions)
    ours = [op for op in stages if op.fn is ImageClassifier or op.fn.__name__ == "ImageClassifier"]
    if ours:
        return ours[-1]
    if stages:
        return stages[-1]
    raise Wrong("`predictions` has no stage that runs the ImageClassifier class.",
                "Pass the class itself to map_batches (map_batches(ImageClassifier, ...)): Ray builds one "
                "per actor, so the model is loaded once per actor.")


def cluster_gpus() -> int:
    """The GPUs of the cluster this session is connected to, as the notebooks count them."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def _check_stage(op, checkpoint_path) -> None:
    from ray.data import ActorPoolStrategy

    args = list(op.fn_constructor_args or []) + list((op.fn_constructor_kwargs or {}).values())
    if str(checkpoint_path) not in [str(a) for a in args]:
        raise Wrong("the ImageClassifier stage is not given the checkpoint's path.",
                    "fn_constructor_kwargs={\"checkpoint_path\": str(checkpoint_path)}.")
    gpus = (op.ray_remote_args or {}).get("num_gpus")
    if gpus != 1:
        raise Wrong(f"the stage asks for num_gpus={gpus}, where each actor holds one model on its own GPU.",
                    "Give the stage num_gpus=1.")
    compute = op.compute
    if not isinstance(compute, ActorPoolStrategy):
        raise Wrong(f"the stage runs with {compute}, not a pool of actors.",
                    "compute=ray.data.ActorPoolStrategy(size=GPUS): one actor per GPU, each loads the model once.")
    cluster = cluster_gpus()
    if compute.max_size is not None and compute.max_size > cluster:
        raise Wrong(f"the stage asks for a pool of up to {compute.max_size} actors with one GPU each; the cluster "
                    f"has {cluster} GPUs, so {compute.max_size - cluster} of them would wait for a GPU forever, "
                    "doing nothing.",
                    "Size the pool to the cluster: GPUS = int(ray.cluster_resources().get(\"GPU\", 0)), then "
                    "compute=ray.data.ActorPoolStrategy(size=GPUS).")


BATCH_SIZE = 16  # the lab's batch size for the classifier stage (the pool's size is the learner's: 1 to GPUS)


def _under(path: str, folder: str) -> bool:
    """Whether the file ``path`` lies in ``folder`` (a local path or a URI; Ray lists files without the scheme)."""
    folder = str(folder).split("://", 1)[-1].rstrip("/")
    return str(path).split("://", 1)[-1].rsplit("/", 1)[0].endswith(folder)


def _check_inputs(predictions, val_folders) -> None:
    """The stage classifies the validation images: every file the plan reads lies in one of ``val_folders``."""
    files = predictions.input_files()
    if not files or val_folders is None:
        return
    folders = [str(f) for f in val_folders]
    stray = [f for f in files if not any(_under(f, folder) for folder in folders)]
    if stray:
        raise Wrong(f"`predictions` reads {len(stray)} of its {len(files)} images from outside `val_folders`, for "
                    f"example {stray[0]}: a model scored on images it trained on looks better than it is.",
                    "Read the validation images, read_labelled(val_folders), and classify those.")


@exercise("Exercise 3")
def exercise_3(ImageClassifier, predictions, checkpoint_path, val_folders=None):
    """``ImageClassifier`` from the checkpoint, batched; ``predictions``: its stage, over the validation images, with
    GPUs, an actor pool and the lab's batch size."""
    if checkpoint_path is None:
        raise NotSolved("there is no checkpoint yet: solve Exercise 2 first.")
    require("ImageClassifier", ImageClassifier, "your ImageClassifier class")
    if not inspect.isclass(ImageClassifier):
        raise Wrong(f"`ImageClassifier` is a {type(ImageClassifier).__name__}, not a class.",
                    "Write `class ImageClassifier:` with __init__(self, checkpoint_path) and __call__(self, batch).")
    probe = _check_class(ImageClassifier, checkpoint_path)
    require("predictions", predictions, "the Dataset of predictions for val_images")
    import ray.data

    if not isinstance(predictions, ray.data.Dataset):
        raise Wrong(f"`predictions` is a {type(predictions).__name__}, not a Ray Dataset.",
                    "Build it with val_images.map_batches(ImageClassifier, ...); the next cell runs it.")
    op = _stage(predictions, ImageClassifier)
    _check_stage(op, checkpoint_path)
    if op.batch_size != BATCH_SIZE:
        raise Wrong(f"the stage takes batches of {op.batch_size} images; the lab asks for {BATCH_SIZE}.",
                    f"batch_size={BATCH_SIZE}: the pool's size is yours to choose (1 to GPUS), the batch size is set.")
    _check_inputs(predictions, val_folders)
    compute = op.compute
    actors = (f"{compute.min_size}" if compute.min_size == compute.max_size
              else f"{compute.min_size} to {compute.max_size or 'any number of'}")
    return (f"ImageClassifier loads the checkpoint once and runs one forward pass per batch ({probe}); the stage "
            f"runs it on {actors} actor(s) with one GPU each (the cluster has {cluster_gpus()}), "
            f"{op.batch_size} images per batch.")


# Stretch -----------------------------------------------------------------------------------------------

# The check's own predictions, with mistakes: six dogs (four right) and four fish (one right), 67 % and 25 %. Grouped
# by the predicted class instead, they would give 57 % (4 of the 7 "dog" answers) and 33 % (1 of 3).
PROBE = {"label": ["dog"] * 6 + ["fish"] * 4, "predicted": ["dog"] * 4 + ["fish"] * 3 + ["dog"] * 3}


def _result_rows(result) -> list[dict]:
    import pandas as pd
    import ray.data

    if isinstance(result, ray.data.Dataset):
        return result.take_all()
    if isinstance(result, pd.DataFrame):
        return result.to_dict("records")
    raise Wrong(f"`per_class_accuracy` returned a {type(result).__name__}, not a Ray Dataset.",
                "Group the predictions by their true label and aggregate each group: return that Dataset.")


def _judge_per_class(rows: list[dict], table, where: str) -> dict:
    """The share per true label in ``rows`` (one of its number columns), checked against ``table``'s predictions."""
    import numbers

    expected = (table["predicted"] == table["label"]).groupby(table["label"]).mean().to_dict()
    counts = table.groupby("label").size().to_dict()
    if not rows or "label" not in rows[0]:
        grouped_by = " (grouped by `predicted`?)" if rows and "predicted" in rows[0] else ""
        raise Wrong(f"on {where}, the result has no `label` column{grouped_by} (its columns: "
                    f"{list(rows[0]) if rows else []}).", "Group by the true class, `label`: one row per class.")
    labels = [r["label"] for r in rows]
    if len(set(labels)) != len(labels):
        raise Wrong(f"on {where}, a label is in more than one row.", "Group by `label`: one row per class.")
    if set(labels) != set(expected):
        raise Wrong(f"on {where}, the result has the labels {sorted(labels)}; the predictions have {sorted(expected)}.",
                    "Group by the true `label`, not by `predicted`.")
    numbers_ = [c for c in rows[0] if c != "label" and all(isinstance(r[c], numbers.Real) for r in rows)]
    if not numbers_:
        raise Wrong(f"on {where}, the result has no number per class (its columns: {list(rows[0])}).",
                    "Aggregate a 0/1 `correct` column per class: its mean is the class's accuracy.")
    for column in numbers_:
        if all(abs(float(r[column]) - expected[r["label"]]) < 1e-6 for r in rows):
            return expected
    by_label = {r["label"]: r for r in rows}
    column = numbers_[0]
    if all(abs(float(by_label[label][column]) - share * counts[label]) < 1e-6 for label, share in expected.items()):
        raise Wrong(f"on {where}, `{column}` is the number of images predicted right per class, not their share.",
                    "Take the mean of `correct` (0 or 1) per class, not its sum.")
    by_prediction = (table["predicted"] == table["label"]).groupby(table["predicted"]).mean().to_dict()
    label, share = next(iter(sorted(expected.items())))
    got = float(by_label[label][column])
    guess = " (the share per *predicted* class?)" if abs(got - by_prediction.get(label, -1)) < 1e-6 else ""
    raise Wrong(f"on {where}, the result gives {got:.3f} for {label!r}, but {share:.1%} of its {counts[label]} "
                f"images are predicted right{guess}.",
                "Mark each row right or wrong (`predicted == label`), then average that per true `label`.")


@exercise("Stretch · accuracy per class")
def stretch(per_class_accuracy, predictions):
    """``per_class_accuracy(predictions)``: one row per true ``label`` with the share of its images predicted right,
    on the learner's predictions and on the check's own, which hold mistakes (grouping by ``predicted`` differs)."""
    import pandas as pd
    import ray.data

    require("per_class_accuracy", per_class_accuracy,
            "a function per_class_accuracy(predictions) returning one row per label with its accuracy")
    require("predictions", predictions, "the Dataset of predictions of Exercise 3")
    if not callable(per_class_accuracy):
        raise Wrong(f"`per_class_accuracy` is a {type(per_class_accuracy).__name__}, not a function.",
                    "Define it with def per_class_accuracy(predictions): ...")
    probe = pd.DataFrame(PROBE)
    _judge_per_class(_result_rows(per_class_accuracy(ray.data.from_pandas(probe))), probe, "the check's probe predictions")
    table = pd.DataFrame([{"label": r["label"], "predicted": r["predicted"]} for r in predictions.take_all()])
    expected = _judge_per_class(_result_rows(per_class_accuracy(predictions)), table, "your predictions")
    counts = table.groupby("label").size().to_dict()
    return ("right on the check's predictions with mistakes, and on yours: " + ", ".join(
        f"{label}: {share:.0%} of {counts[label]}" for label, share in sorted(expected.items())) + ".")
