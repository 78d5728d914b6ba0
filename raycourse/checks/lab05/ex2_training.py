"""Lab 05, exercise 2's runs of the learner's pieces here, on a tiny model of the check's own: ``one_epoch``,
``evaluate``, and ``train_func`` as the second of two workers, with Ray Train's calls replaced by stand-ins."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

from .._core import Wrong, require
from ..toolkit import as_number, error_line, quiet_model_loading
from ._common import REPORT_HINT, _quiet_transformers, _value

PROBE_CONFIG = {"classes": ["ant", "bee", "cat", "dog"], "epochs": 2, "batch_size": 3, "learning_rate": 0.0123}
PROBE_ROWS = 7  # rows of each probe shard: batches of 3, 3 and 1 (a mean over batches is not a mean over rows)
PROBE_RIGHT = 4  # rows of the evaluation probe whose label is the model's own answer: 4 of 7
_PROBE_MODEL: dict = {}  # the tiny probe checkpoint's folder, saved once per process


def _probe_model_dir() -> str:
    """A tiny random ViT (32 x 32 images) and its image processor, saved once: what ``config["model_id"]`` names in
    the probe run of ``train_func``, so that the probe is cheap in every profile. Removed when the process ends."""
    import atexit
    import shutil
    import tempfile

    if "dir" not in _PROBE_MODEL:
        from transformers import ViTImageProcessor, ViTModel

        folder = tempfile.mkdtemp(prefix="lab05-probe-vit-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # a kernel or test process leaves no folder behind
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
