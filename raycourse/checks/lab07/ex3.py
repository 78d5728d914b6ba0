"""Lab 07, exercise 3: the learner's ``train_epoch`` on a small regression with a known answer, made from the
seed (every row once, a step per batch, the mean of the batches' losses)."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import _counting_iterators, _number_of, _problem, _returned, _seed_of


def _count_calls(obj, name: str, counts: Counter, key: str) -> None:
    """Replace ``obj.name`` (on this object only) by a wrapper that counts its calls in ``counts[key]``."""
    original = getattr(obj, name)

    def counted(*args, **kwargs):
        counts[key] += 1
        return original(*args, **kwargs)

    setattr(obj, name, counted)


LOSS_TOLERANCE = 1e-3  # relative: float32 sums in another order, or a float32 mean, differ by far less
SHAPE_HINT = (
    "Make the prediction and the target the same shape: the model gives (batch, 1), the target is "
    "(batch,); predictions.squeeze(1) (or target.unsqueeze(1)) before mse_loss."
)
MSE_HINT = (
    "Train with torch.nn.functional.mse_loss(prediction, target) on each batch, the target as floats of the "
    "prediction's shape; collect loss.item() and return the mean of those numbers."
)


def _batch_losses(batches, targets_of) -> tuple[list[float], list[float], list[int]]:
    """Each training batch's mean squared error, from the predictions the model gave it; the same broadcast
    (a (n, 1) prediction against a (n,) target: every prediction against every target); each batch's size."""
    losses, broadcast, sizes = [], [], []
    for features, predictions in batches:
        target = targets_of(features).astype(np.float64)
        predicted = np.asarray(predictions, dtype=np.float64).reshape(len(features), -1)
        losses.append(float(np.mean((predicted[:, 0] - target) ** 2)))
        broadcast.append(float(np.mean((predicted - target[None, :]) ** 2)))
        sizes.append(len(features))
    return losses, broadcast, sizes


def _explain_error(error: Exception) -> Wrong:
    """A Wrong for the errors a regression loop typically raises, with what each means."""
    import traceback

    names = {frame.name for frame in traceback.extract_tb(error.__traceback__)}
    text = error_line(error)
    if names & {"cross_entropy", "nll_loss"} or "cross_entropy" in text:
        return Wrong(
            f"train_epoch raised {text} in a classification loss.",
            "The stars are a number to predict, not a class: the model gives one number per row, and a "
            "regression loss (mean squared error) compares it with the target.",
        )
    if "Long" in text or "dtype" in text.lower():
        return Wrong(
            f"train_epoch raised {text}.",
            "The target column holds integers (stars); a regression loss wants floats: "
            'dtypes={"target": torch.float32} in iter_torch_batches, or .float().',
        )
    return Wrong(f"train_epoch raised {text}.", "Run your loop on the lab's data and read its error.")


def _linear(features: int):
    """The check's linear model for ``train_epoch``, as it starts (the same weights in the kernel and the grader)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Linear(features, 1)


def _mse(weight, bias, x, y) -> float:
    w = np.asarray(weight, dtype=np.float32).reshape(-1)
    predicted = x @ w + np.float32(np.asarray(bias, dtype=np.float32).reshape(-1)[0])
    return float(np.mean((predicted.astype(np.float64) - y) ** 2))


class _Trainee:
    """The check's regression for ``train_epoch`` (its data from ``seed``): a linear model whose training batches and
    optimizer are watched."""

    def __init__(self, seed=None):
        import ray
        import torch

        self.x, self.y = _problem(seed=_seed_of(seed))
        self.dataset = ray.data.from_items([{"features": f, "target": t} for f, t in zip(self.x, self.y)])  # int64
        self.model = _linear(self.x.shape[1])
        self.seen = []  # (first features, predictions) of every batch the model saw in training mode
        self.model.register_forward_hook(self._watch)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.2)  # stable from 1 row to all 96 per batch
        self.counts = Counter()
        _count_calls(self.optimizer, "step", self.counts, "step")
        _count_calls(self.optimizer, "zero_grad", self.counts, "zero")  # either way of resetting the gradients
        _count_calls(self.model, "zero_grad", self.counts, "zero")

    def _watch(self, module, inputs, output):
        if module.training:
            features = inputs[0].detach().float().numpy()
            predictions = output.detach().float().numpy().reshape(len(features), -1)
            self.seen.append([features[:, 0].tolist(), predictions.tolist()])

    def epoch(self, train_epoch) -> dict:
        """One call of ``train_epoch``: what it returned, the batches the model saw, the optimizer's steps, and
        whether PyTorch warned of a broadcast."""
        self.seen = []
        steps = self.counts["step"]
        self.model.train()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = train_epoch(self.model, self.optimizer, self.dataset)
            except Exception as error:  # noqa: BLE001 (a learner's loop: say what its error means)
                raise _explain_error(error) from None
        return {
            "returned": _returned(value),
            "batches": self.seen,
            "steps": self.counts["step"] - steps,
            "broadcast": any("target size" in str(w.message) for w in caught),
        }


def _check_every_row(number: int, batches: list, x) -> None:
    rows = np.asarray([f for first, _ in batches for f in first], dtype=np.float64)
    if len(rows) != len(x) or not np.allclose(np.sort(rows), np.sort(x[:, 0]), atol=1e-6):
        raise Wrong(
            f"epoch {number} trained on {len(rows)} rows; the dataset has {len(x)}.",
            "Loop over every batch of dataset.iter_torch_batches(...) once per call, and keep the last, smaller batch.",
        )


def _check_a_step_per_batch(number: int, steps: int, batches: int, any_step: int) -> None:
    if any_step and steps != batches:
        raise Wrong(
            f"epoch {number} ran {batches} batches and took {steps} optimizer "
            "step(s): the model learns from a batch only when the optimizer steps after it.",
            "Inside the loop, for every batch: zero_grad(), the loss, loss.backward(), optimizer.step().",
        )


def _check_steps(calls: Counter, counts: Counter) -> None:
    if calls["iter_torch_batches"] == 0:
        raise Wrong(
            "the loop did not read the dataset with iter_torch_batches.",
            "for batch in dataset.iter_torch_batches(batch_size=..., dtypes=...): ...",
        )
    if counts["step"] == 0:
        raise Wrong("the optimizer never took a step.", "Call optimizer.step() after loss.backward().")
    if counts["zero"] < counts["step"]:
        raise Wrong(
            f"{counts['step']} optimizer steps but the gradients were reset only {counts['zero']} times: "
            "each step adds up the gradients of all earlier batches.",
            "Call optimizer.zero_grad() once per batch, before loss.backward().",
        )


def _check_returned(epoch: int, returned: dict, losses, broadcast, sizes, broadcasting: bool) -> None:
    """What epoch ``epoch`` returned is the mean of its batches' mean squared errors (of the batches or the rows)."""
    number = _number_of(returned)
    if number is None:
        raise Wrong(
            f"train_epoch returned {returned['repr']}, not the mean loss as a number.",
            "Collect loss.item() for every batch and return their mean as a float.",
        )
    if not losses:
        raise Wrong(f"epoch {epoch} trained on no batch.", MSE_HINT)
    close = lambda want: abs(number - want) <= LOSS_TOLERANCE * max(abs(want), 1e-6)  # noqa: E731
    means = (float(np.mean(losses)), float(np.average(losses, weights=sizes)))
    if any(close(m) for m in means):
        return
    if broadcasting or close(float(np.mean(broadcast))) or close(float(np.average(broadcast, weights=sizes))):
        raise Wrong(
            f"in epoch {epoch} train_epoch returned {number:.4f}, the squared error of every prediction "
            "of a batch against every target of it: a (batch, 1) prediction and a (batch,) target "
            "broadcast to (batch, batch).",
            SHAPE_HINT,
        )
    if len(losses) > 1 and close(losses[-1]):
        problem = "the last batch's loss, not the mean over the epoch"
    elif len(losses) > 1 and close(float(np.sum(losses))):
        problem = "the sum of the batches' losses, not their mean"
    else:
        problem = f"not the mean squared error of its batches ({means[0]:.4f}): another loss, or another value"
    raise Wrong(f"in epoch {epoch} train_epoch returned {number:.4f}: {problem}.", MSE_HINT)


def _judge_3(seen, seed) -> str:
    x, y = _problem(seed=_seed_of(seed))
    row_target = {round(float(f), 6): int(t) for f, t in zip(x[:, 0], y)}

    def targets_of(first):
        return np.array([row_target.get(round(float(f), 6), np.nan) for f in first])

    epochs = seen["epochs"]
    if len(epochs) != 4:
        raise ValueError("four epochs")
    counts = Counter({k: int(seen["counts"][k]) for k in ("step", "zero")})
    for number, epoch in enumerate(epochs, 1):
        _check_every_row(number, epoch["batches"], x)
        _check_a_step_per_batch(number, int(epoch["steps"]), len(epoch["batches"]), counts["step"])
    _check_steps(Counter(iter_torch_batches=int(seen["iter_torch_batches"])), counts)
    model = _linear(x.shape[1])
    before = _mse(model.weight.detach().numpy(), model.bias.detach().numpy(), x, y)
    after = _mse(seen["weight"], seen["bias"], x, y)
    broadcasting = any(epoch["broadcast"] is True for epoch in epochs)
    for number, epoch in enumerate(epochs, 1):
        losses, broadcast, sizes = _batch_losses(epoch["batches"], targets_of)
        _check_returned(number, epoch["returned"], losses, broadcast, sizes, broadcasting)
    if not after < before * 0.3:
        raise Wrong(
            f"after 4 epochs the mean squared error went from {before:.3f} to {after:.3f} on a problem a "
            "linear model learns at once.",
            MSE_HINT,
        )
    batches = sum(len(epoch["batches"]) for epoch in epochs)
    return (
        f"every row once per epoch, one step per batch ({batches // 4} per epoch), the mean squared error "
        f"returned: {before:.2f} -> {after:.2f} after 4 epochs."
    )


@exercise("Exercise 3 · train a stars regressor from the stream", judge=_judge_3)
def exercise_3(train_epoch, *, seed=None) -> dict:
    """``train_epoch(model, optimizer, dataset)``: one pass over every row, one step per batch, mean squared error of
    the (n, 1) prediction against the stars, and the mean of the batches' losses returned.

    Observes 4 calls on the check's regression (its rows made from ``seed``): per epoch what it returned, the batches
    the model saw in training mode (their rows' first feature, the predictions), the optimizer's steps and a
    broadcast warning; the steps, gradient resets and iter_torch_batches calls in all; and the model's weights after.
    """
    require("train_epoch", train_epoch, "a function train_epoch(model, optimizer, dataset) returning the mean loss")
    if not callable(train_epoch):
        raise Wrong(
            "`train_epoch` is not a function.", "Define it with def train_epoch(model, optimizer, dataset): ..."
        )
    trainee = _Trainee(seed)
    with _counting_iterators() as calls:
        epochs = [trainee.epoch(train_epoch) for _ in range(4)]
    return {
        "epochs": epochs,
        "counts": {k: int(trainee.counts[k]) for k in ("step", "zero")},
        "iter_torch_batches": int(calls["iter_torch_batches"]),
        "weight": trainee.model.weight.detach().float().numpy().reshape(-1).tolist(),
        "bias": trainee.model.bias.detach().float().numpy().reshape(-1).tolist(),
    }
