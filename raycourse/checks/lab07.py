"""Checks of lab 07: feed a starved model stage, and an ``iter_torch_batches`` training loop.

Exercise 1 runs the learner's pipeline itself and measures it, as the lesson does, from the
encoder's stopwatch columns: every row must come out once, with the features the given models
give (so no stage may skip or change work), and the encoder pool must compute a share of its
time on duty set from the starved pipeline's share measured in the same session (the lab's
given cell hands it over with ``starved_share``): at least ``TARGET_FACTOR`` times it, or
``BUSY_CAP`` when that is less. The target is relative because what a fed encoder reaches depends
on the machine: on CPU stand-ins the models are the slow part (fed 0.85-0.95, starved 0.2-0.5),
on a GPU the CPU stages set the pace. A noisy machine gets a second run. The encoder's pool may
hold 1 to the cluster's GPUs actors; more would wait for a GPU forever.

The features are compared per part (the text model's, then the image model's) by their relative
distance, ``|got - want| / |want|``, at most ``FEATURE_TOLERANCE``. The reference is computed on
the driver's CPU with each model in the dtype the encoder loads it in (the LLM in bfloat16 as
shipped, ``dtype="auto"``; the ViT in float32), while the stage may run on a GPU, whose bfloat16
kernels round in other places: a random Qwen2.5-0.5B of the real size gives 1.2-1.5 % between
bfloat16 and float32 on a CPU, the tiny stand-in 0.2-0.4 %, and batch size changes nothing on a
CPU. Another review's features, or the same review cut at another length or seen at another
image size, are tens of percent away or more.
Exercise 2 calls the learner's ``train_epoch`` on a small problem with a known answer, watching the model: every
row once per epoch, one optimizer step per batch, gradients reset, the model learning, and the number returned
the mean of the batches' cross-entropies, recomputed from the logits the model gave each batch (the mean of the
batch means or over the rows; as a Python, NumPy or 0-d PyTorch number). The last batch's loss, a sum, another
loss (MSE on the softmax) or one step per epoch are told apart, each with its hint.

The stretch (optional) calls the learner's ``evaluate`` on a model with dropout, left in
training mode, over 101 rows (a batch size rarely divides them): it must read the dataset with
``iter_torch_batches``, score every row once (the last, smaller batch too), in eval mode, with
no gradients recorded and the weights untouched, and return the accuracy the check computes
itself over all rows (not the mean of per-batch accuracies).
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections import Counter

import numpy as np

from ._core import NotSolved, Wrong, exercise, plan_ops, progress_of, require

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

TARGET_FACTOR = 2.0  # the tuned pool computes at least twice the starved pool's share of its time ...
BUSY_CAP = 0.70  # ... or this, when twice is more (CPU stand-ins: fed 0.85-0.95, starved 0.2-0.5)
FEATURE_TOLERANCE = 0.05  # relative distance per part: bf16 on another device is 1-2 % away, a wrong input far more
ENCODER = "ReviewEncoder"
MAX_TOKENS = 64
ATTEMPTS = 2
_starved: list[float] = []  # the starved pipeline's busy share, as measured in this session


def starved_share(share: float) -> float:
    """Keep the starved pipeline's busy share, measured in this session (Exercise 1's target is set from it)."""
    _starved[:] = [float(share)]
    return share


def busy_target(starved: float) -> float:
    """The busy share a tuned pool must reach, given the starved pool's share."""
    return min(BUSY_CAP, TARGET_FACTOR * starved)


def cluster_gpus() -> int:
    """The GPUs of the cluster this session is connected to, as the notebooks count them."""
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def busy_share(table) -> float:
    """The lesson's measure: computing time over time on duty, for every actor of the pool."""
    batches = table.drop_duplicates(["actor", "started"])
    busy = (batches["finished"] - batches["started"]).sum()
    on_duty = batches["finished"].max() - batches["started"].min()
    return float(busy / (on_duty * batches["actor"].nunique()))


def _encoder_stage(ds):
    stages = [op for op in plan_ops(ds) if inspect.isclass(getattr(op, "fn", None))
              and getattr(op.fn, "__name__", "") == ENCODER]
    if not stages:
        raise Wrong("the pipeline has no ReviewEncoder stage.",
                    "Keep the given ReviewEncoder as the last stage: tune how it is run, not what it is.")
    return stages[-1]


def _check_pool(stage) -> None:
    """The encoder's actors fit the cluster's GPUs: 1 to GPUS actors of one GPU each (or fractions that fit)."""
    from ray.data import ActorPoolStrategy

    gpus = (getattr(stage, "ray_remote_args", None) or {}).get("num_gpus") or 0
    if gpus <= 0:
        raise Wrong("the ReviewEncoder stage asks for no GPU.",
                    "Keep num_gpus=1: the encoder's models run on a GPU; tune batch sizes and pool sizes.")
    compute = getattr(stage, "compute", None)
    if not isinstance(compute, ActorPoolStrategy):
        raise Wrong(f"the ReviewEncoder stage runs with {compute}, not a pool of actors.",
                    "compute=ray.data.ActorPoolStrategy(size=...): each actor loads the models once.")
    cluster = cluster_gpus()
    if compute.max_size is not None and compute.max_size * gpus > cluster:
        raise Wrong(f"the ReviewEncoder pool asks for up to {compute.max_size} actors with num_gpus={gpus:g} each; "
                    f"the cluster has {cluster} GPUs, so the actors that do not fit would wait for a GPU forever.",
                    "At most one actor per GPU: compute=ray.data.ActorPoolStrategy(size=n) with n from 1 to GPUS "
                    "(GPUS = int(ray.cluster_resources().get(\"GPU\", 0))).")


def _reference_features(rows) -> tuple[dict[int, np.ndarray], int]:
    """The features the given models give these rows (the lesson's three stages, run here), and the text part's width.

    Each model is loaded in the dtype the lesson's encoder uses: the LLM as shipped (``dtype="auto"``, bfloat16
    for Qwen2.5 and its tiny stand-in), the ViT in float32; the text model's output is averaged in float32.
    """
    import torch
    from PIL import Image
    from torchvision.transforms import v2
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from .. import model_id

    text_id, image_id = model_id("llm"), model_id("vit")
    config = AutoImageProcessor.from_pretrained(image_id)
    size = config.size["height"]
    tokens = AutoTokenizer.from_pretrained(text_id)(list(rows["text"]), padding="max_length", truncation=True,
                                                    max_length=MAX_TOKENS, return_tensors="pt")
    to_pixels = v2.Compose([v2.PILToTensor(), v2.Resize(size), v2.CenterCrop(size)])
    normalize = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.image_mean, config.image_std)])
    pixels = normalize(torch.stack([to_pixels(Image.open(p).convert("RGB")) for p in rows["photo"]]))
    with torch.inference_mode():
        hidden = AutoModel.from_pretrained(text_id, dtype="auto").eval()(**tokens).last_hidden_state.float()
        weights = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        text = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        vision = AutoModel.from_pretrained(image_id, dtype=torch.float32).eval()
        image = vision(pixel_values=pixels).last_hidden_state[:, 0].float()
    features = torch.cat([text, image], dim=1).numpy()
    return dict(zip(rows["id"].tolist(), features)), text.shape[1]


def feature_distance(got, want, text_width: int | None = None) -> float:
    """The larger relative distance of the two parts (text, image): |got - want| / |want| for each."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    parts = [slice(0, text_width), slice(text_width, None)] if text_width else [slice(None)]
    return max(float(np.linalg.norm(got[p] - want[p]) / max(np.linalg.norm(want[p]), 1e-12)) for p in parts)


def judge_run(table, source, reference, text_width: int | None = None) -> float:
    """Everything but the timing: one output row per input row, with the given models' features."""
    expected = Counter(source["id"].tolist())
    got = Counter(table["id"].tolist()) if "id" in table else Counter()
    if got != expected:
        lost, extra = sum((expected - got).values()), sum((got - expected).values())
        raise Wrong(f"the run gave {len(table)} rows for {sum(expected.values())} in `day` "
                    f"({lost} missing, {extra} extra).",
                    "Tune batch sizes and pools, but let every row of `day` through every stage once.")
    missing = {"features", "actor", "started", "finished"} - set(table.columns)
    if missing:
        raise Wrong(f"the output has no {sorted(missing)} column.",
                    "Keep the given ReviewEncoder unchanged: its stopwatch is what the check measures.")
    for rid, want in reference.items():
        rows = table[table["id"] == rid]
        for got_features in rows["features"]:
            distance = feature_distance(got_features, want, text_width)
            if not distance <= FEATURE_TOLERANCE:
                away = "another shape" if distance == float("inf") else f"{distance:.0%} away"
                raise Wrong(f"review {rid} came out with other features than the given models give it ({away}; "
                            f"precision alone moves them less than {FEATURE_TOLERANCE:.0%}).",
                            "Keep Tokenize's max_length, the image size and the models as given: the work "
                            "itself must not change, only how it is batched and spread.")
    return busy_share(table)


@exercise("Exercise 1 · feed the model stage")
def exercise_1(tuned, day) -> str:
    require("tuned", tuned, "your tuned pipeline: a Dataset built from `day` that ends in the ReviewEncoder stage")
    if not hasattr(tuned, "map_batches"):
        raise Wrong(f"`tuned` is a {type(tuned).__name__}, not a Dataset.",
                    "Build it lazily from `day`, as `starved(day)` is built; do not run it yourself.")
    _check_pool(_encoder_stage(tuned))
    if not _starved:
        raise NotSolved("the starved pipeline has not been measured in this session: run its cell (the one that "
                        "prints `starved: ...`) first; the target is set from its busy share.")
    starved = _starved[0]
    target = busy_target(starved)
    source = day.to_pandas()
    sample = source.drop_duplicates("id").sort_values("id").head(6)
    reference, text_width = _reference_features(sample)
    shares = []
    for _ in range(ATTEMPTS):
        shares.append(judge_run(tuned.to_pandas(), source, reference, text_width))
        if shares[-1] >= target:
            break
    best = max(shares)
    if best < target:
        raise Wrong(f"the encoder pool computed {best:.0%} of its time on duty (best of {len(shares)} runs); "
                    f"the target is {target:.0%} (the starved pipeline: {starved:.0%}).",
                    "Look at what makes it wait: batches of one row in the CPU stages, tiny GPU batches, "
                    "more actors than the input keeps busy.")
    return (f"every row of `day` once, with the given models' features, and the encoder pool busy {best:.0%} "
            f"of its time (target {target:.0%}, from the starved {starved:.0%}; {len(shares)} run(s)).")


# ----------------------------------------------------------------------------- Exercise 2

def _problem(n=96, features=6, seed=0):
    """A separable two-class problem: the class is the sign of a fixed direction."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x @ np.linspace(1, -1, features) > 0).astype(np.int64)
    x[:, 0] += np.arange(n) * 1e-3  # row i is recognisable by its first feature
    return x, y


def _count_calls(obj, name: str, counts: Counter, key: str) -> None:
    """Replace ``obj.name`` (on this object only) by a wrapper that counts its calls in ``counts[key]``."""
    original = getattr(obj, name)

    def counted(*args, **kwargs):
        counts[key] += 1
        return original(*args, **kwargs)

    setattr(obj, name, counted)


@contextlib.contextmanager
def _counting_iterators():
    import ray.data

    calls = Counter()
    original = ray.data.Dataset.iter_torch_batches

    def counted(self, *args, **kwargs):
        calls["iter_torch_batches"] += 1
        return original(self, *args, **kwargs)

    ray.data.Dataset.iter_torch_batches = counted
    try:
        yield calls
    finally:
        ray.data.Dataset.iter_torch_batches = original


LOSS_TOLERANCE = 1e-3  # relative: float32 sums in another order, or a float32 mean, differ by far less


def _batch_losses(batches, targets_of) -> tuple[list[float], list[int]]:
    """Each training batch's mean cross-entropy, from the logits the model gave it, and each batch's size."""
    import torch

    losses, sizes = [], []
    for features, logits in batches:
        target = torch.as_tensor(targets_of(features))
        losses.append(torch.nn.functional.cross_entropy(torch.as_tensor(logits), target).item())
        sizes.append(len(features))
    return losses, sizes


def _as_number(value):
    """A loss returned as a Python, NumPy or 0-d PyTorch number, as a float; None for anything else."""
    import numbers

    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(float(value)):
        return float(value)
    return None


@exercise("Exercise 2 · an iter_torch_batches training loop")
def exercise_2(train_epoch) -> str:
    """``train_epoch(model, optimizer, dataset)``: one pass over every row, one step per batch, cross-entropy, and the
    mean of the batches' losses returned (of the batch means, or over the rows: both are the mean training loss)."""
    require("train_epoch", train_epoch, "a function train_epoch(model, optimizer, dataset) returning the mean loss")
    if not callable(train_epoch):
        raise Wrong("`train_epoch` is not a function.", "Define it with def train_epoch(model, optimizer, dataset): ...")
    import ray
    import torch

    x, y = _problem()
    target_of_row = {round(float(f), 6): int(t) for f, t in zip(x[:, 0], y)}  # a row is known by its first feature

    def targets_of(features):
        return np.array([target_of_row.get(round(float(f), 6), -1) for f in features[:, 0]])

    dataset = ray.data.from_items([{"features": f, "target": t} for f, t in zip(x, y)])
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 2)
    seen = []  # (features, logits) of every batch the model saw in training mode
    model.register_forward_hook(lambda module, inputs, output: seen.append(
        (inputs[0].detach().float().numpy().copy(), output.detach().float().numpy().copy())) if module.training else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    counts = Counter()
    _count_calls(optimizer, "step", counts, "step")
    _count_calls(optimizer, "zero_grad", counts, "zero")  # either way of resetting the gradients counts
    _count_calls(model, "zero_grad", counts, "zero")
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(model(torch.as_tensor(x)), torch.as_tensor(y)).item()
    returned, batches = [], 0
    with _counting_iterators() as calls:
        for epoch in range(4):
            seen.clear()
            steps = counts["step"]
            model.train()
            value = train_epoch(model, optimizer, dataset)
            rows = np.concatenate([f for f, _ in seen]) if seen else np.zeros((0, x.shape[1]))
            if len(rows) != len(x) or not np.allclose(np.sort(rows[:, 0]), np.sort(x[:, 0]), atol=1e-6):
                raise Wrong(f"epoch {epoch + 1} trained on {len(rows)} rows; the dataset has {len(x)}.",
                            "Loop over every batch of dataset.iter_torch_batches(...) once per call, "
                            "and keep the last, smaller batch.")
            if counts["step"] and counts["step"] - steps != len(seen):
                raise Wrong(f"epoch {epoch + 1} ran {len(seen)} batches and took {counts['step'] - steps} optimizer "
                            "step(s): the model learns from a batch only when the optimizer steps after it.",
                            "Inside the loop, for every batch: zero_grad(), the loss, loss.backward(), optimizer.step().")
            batches += len(seen)
            returned.append((value, _batch_losses(seen, targets_of)))
    if calls["iter_torch_batches"] == 0:
        raise Wrong("the loop did not read the dataset with iter_torch_batches.",
                    "for batch in dataset.iter_torch_batches(batch_size=..., dtypes=...): ...")
    if counts["step"] == 0:
        raise Wrong("the optimizer never took a step.", "Call optimizer.step() after loss.backward().")
    if counts["zero"] < counts["step"]:
        raise Wrong(f"{counts['step']} optimizer steps but the gradients were reset only {counts['zero']} times: "
                    "each step adds up the gradients of all earlier batches.",
                    "Call optimizer.zero_grad() once per batch, before loss.backward().")
    with torch.no_grad():
        logits = model(torch.as_tensor(x))
        after = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
        accuracy = (logits.argmax(1).numpy() == y).mean()
    if not after < before * 0.8 or accuracy < 0.85:
        raise Wrong(f"after 4 epochs the loss went from {before:.3f} to {after:.3f} (accuracy {accuracy:.0%}) on a "
                    "problem a linear model learns at once.",
                    "Use cross-entropy on the model's output for batch['features'] against batch['target'].")
    for epoch, (value, (losses, sizes)) in enumerate(returned, 1):
        number = _as_number(value)
        if number is None:
            raise Wrong(f"train_epoch returned {value!r}, not the mean loss as a number.",
                        "Collect loss.item() for every batch and return their mean as a float.")
        means = (float(np.mean(losses)), float(np.average(losses, weights=sizes)))
        if not any(abs(number - m) <= LOSS_TOLERANCE * max(abs(m), 1e-6) for m in means):
            last, total = losses[-1], float(np.sum(losses))
            if len(losses) > 1 and abs(number - last) <= LOSS_TOLERANCE * abs(last):
                problem = "the last batch's loss, not the mean over the epoch"
            elif len(losses) > 1 and abs(number - total) <= LOSS_TOLERANCE * abs(total):
                problem = "the sum of the batches' losses, not their mean"
            else:
                problem = (f"not the mean cross-entropy of its batches ({means[0]:.4f}): another loss, or another "
                           "value")
            raise Wrong(f"in epoch {epoch} train_epoch returned {number:.4f}: {problem}.",
                        "Train with torch.nn.functional.cross_entropy(logits, target) on each batch, collect "
                        "loss.item(), and return the mean of those numbers.")
    return (f"every row once per epoch, one step per batch ({batches // 4} per epoch), the mean cross-entropy "
            f"returned, loss {before:.2f} -> {after:.2f}, accuracy {accuracy:.0%} after 4 epochs.")


@exercise("Stretch · an evaluation loop")
def stretch(evaluate) -> str:
    """``evaluate(model, dataset)``: the accuracy over every row, in eval mode, without gradients or updates."""
    require("evaluate", evaluate, "a function evaluate(model, dataset) returning the accuracy")
    if not callable(evaluate):
        raise Wrong("`evaluate` is not a function.", "Define it with def evaluate(model, dataset): ...")
    import ray
    import torch

    x, y = _problem(n=101, seed=1)  # 101 rows: a batch size that divides it is unlikely
    dataset = ray.data.from_items([{"features": f, "target": t} for f, t in zip(x, y)])
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 2))
    model.train()  # as a training loop leaves it
    state = {k: v.clone() for k, v in model.state_dict().items()}
    seen, modes, grads = [], set(), []
    model.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach().numpy().copy()))
    def watch(module, inputs, output):  # returns None: the output stays as it is
        modes.add(module.training)
        grads.append(torch.is_grad_enabled())

    model.register_forward_hook(watch)
    with _counting_iterators() as calls:
        accuracy = evaluate(model, dataset)
    rows = np.concatenate(seen) if seen else np.zeros((0, x.shape[1]))
    if calls["iter_torch_batches"] == 0:
        raise Wrong("evaluate did not read the dataset with iter_torch_batches.",
                    "for batch in dataset.iter_torch_batches(batch_size=..., dtypes=...): ...")
    if len(rows) != len(x) or not np.allclose(np.sort(rows[:, 0]), np.sort(x[:, 0]), atol=1e-6):
        raise Wrong(f"evaluate scored {len(rows)} rows; the dataset has {len(x)}.",
                    "Score every batch once, the last, smaller one too (no drop_last).")
    if any(k for k in modes):
        raise Wrong("the model ran in training mode: its dropout still drops features at random.",
                    "Call model.eval() before the loop.")
    if any(grads):
        raise Wrong("the forward passes recorded gradients, which evaluation never uses.",
                    "Run the loop under torch.no_grad() (or torch.inference_mode()).")
    if any(not torch.equal(state[k], v) for k, v in model.state_dict().items()):
        raise Wrong("evaluate changed the model's weights.", "Evaluation only predicts: no loss.backward(), no step.")
    with torch.no_grad():
        model.eval()
        want = float((model(torch.as_tensor(x)).argmax(1).numpy() == y).mean())
    if not isinstance(accuracy, (float, int, np.floating)) or abs(float(accuracy) - want) > 1e-6:
        raise Wrong(f"evaluate returned {accuracy!r}; the model classifies {want:.4f} of the rows right.",
                    "Count the rows whose argmax matches `target` over all batches, divide by the number of rows "
                    "(not the mean of per-batch accuracies: the last batch is smaller).")
    return f"all {len(x)} rows scored once, in eval mode without gradients: accuracy {want:.1%}, weights untouched."
