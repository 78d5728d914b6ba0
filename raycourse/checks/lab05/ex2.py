"""Lab 05, exercise 2: the ``Result`` of ``TorchTrainer.fit()`` (a report per epoch, the loss falling, the
accuracy, the last checkpoint) and ``train_func``'s code; the runs of the learner's pieces are in ``ex2_training``."""

from __future__ import annotations

import contextlib
import inspect
import math
from pathlib import Path

from .._core import NotSolved, Wrong, exercise, require
from ..toolkit import as_number, as_text
from ._common import REPORT_HINT, _open, _part, _quiet_transformers, _value
from .ex2_training import (
    _check_evaluate,
    _check_one_epoch,
    _check_second_worker,
    _evaluate_seen,
    _one_epoch_seen,
    _second_worker_seen,
)

MIN_ACCURACY = 0.6  # Exercise 2: the last validation accuracy, against 1/3 for a guess among three classes
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
