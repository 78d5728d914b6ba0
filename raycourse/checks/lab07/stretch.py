"""Lab 07, stretch: the learner's ``evaluate`` on a model with dropout (eval mode, no gradients, every row
once, the mean absolute error over all rows)."""

from __future__ import annotations

import warnings

import numpy as np

from .._core import Wrong, exercise, require
from ..toolkit import error_line
from ._common import _counting_iterators, _number_of, _problem, _returned, _seed_of


def _evaluated_model(features: int):
    """The check's model for ``evaluate``, as it starts: dropout, left in training mode (the same weights in the
    kernel and the grader)."""
    import torch

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(features, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))
    with torch.no_grad():
        model[2].bias.fill_(3.0)  # near the stars: errors of about one star
    model.train()  # as a training loop leaves it
    return model


def _evaluation_problem(seed):
    """101 rows (a batch size that divides it is unlikely), made from ``seed``."""
    return _problem(n=101, seed=_seed_of(seed) + 1)


class _Evaluated:
    """The check's model for ``evaluate``: its inputs, modes and gradients watched."""

    def __init__(self, seed=None):
        import ray

        self.x, self.y = _evaluation_problem(seed)
        self.dataset = ray.data.from_items([{"features": f, "target": t} for f, t in zip(self.x, self.y)])
        self.model = model = _evaluated_model(self.x.shape[1])
        self.seen, self.modes, self.grads = [], [], []
        model.register_forward_pre_hook(lambda module, inputs: self.seen.append(inputs[0].detach().numpy().copy()))
        model.register_forward_hook(self._watch)

    def _watch(self, module, inputs, output):  # returns None: the output stays as it is
        import torch

        self.modes.append(bool(module.training))
        self.grads.append(bool(torch.is_grad_enabled()))


def _check_evaluation(seen: dict, x) -> None:
    """Read with iter_torch_batches, every row once, in eval mode, without gradients, the weights untouched."""
    rows = np.asarray(seen["rows"], dtype=np.float64)
    if int(seen["iter_torch_batches"]) == 0:
        raise Wrong(
            "evaluate did not read the dataset with iter_torch_batches.",
            "for batch in dataset.iter_torch_batches(batch_size=..., dtypes=...): ...",
        )
    if len(rows) != len(x) or not np.allclose(np.sort(rows), np.sort(x[:, 0]), atol=1e-6):
        raise Wrong(
            f"evaluate predicted {len(rows)} rows; the dataset has {len(x)}.",
            "Predict every batch once, the last, smaller one too (no drop_last).",
        )
    if int(seen["shuffled"]):
        raise Wrong(
            "evaluate shuffles the rows (local_shuffle_buffer_size): work that training needs and evaluation not.",
            "Read the rows as they are: iter_torch_batches(batch_size=..., dtypes=...), no shuffle.",
        )
    if any(mode is not False for mode in seen["modes"]):
        raise Wrong(
            "the model ran in training mode: its dropout still drops features at random.",
            "Call model.eval() before the loop.",
        )
    if any(grad is not False for grad in seen["grads"]):
        raise Wrong(
            "the forward passes recorded gradients, which evaluation never uses.",
            "Run the loop under torch.no_grad() (or torch.inference_mode()).",
        )
    state = _evaluated_model(x.shape[1]).state_dict()
    after = seen["state"]
    if set(after) != set(state) or any(
        not np.array_equal(np.asarray(after[k], dtype=np.float32).reshape(v.shape), v.numpy()) for k, v in state.items()
    ):
        raise Wrong("evaluate changed the model's weights.", "Evaluation only predicts: no loss.backward(), no step.")


def _batches_of(seen: dict, x) -> list:
    """The rows of each forward pass, as indices into ``x`` (empty when the observation does not say)."""
    sizes, rows = seen.get("batch_sizes"), np.asarray(seen["rows"], dtype=np.float64)
    if not isinstance(sizes, list) or not all(isinstance(n, int) and n > 0 for n in sizes) or sum(sizes) != len(rows):
        return []
    order = np.abs(rows[:, None] - x[None, :, 0]).argmin(axis=1)  # row i is recognisable by its first feature
    return np.split(order, np.cumsum(sizes)[:-1])


def _mistake(number: float, predicted, y, batches: list) -> str:
    """What a wrong number is, computed from the batches the learner's loop predicted: the nearest of the known
    mistakes (two of them can come within the tolerance of each other on some seeds), or "another number"."""
    spread = [float(np.abs(predicted[b][:, None] - y[b][None, :]).mean()) for b in batches]
    sizes = [len(b) for b in batches]
    broadcast = "every prediction against every target: a (batch, 1) prediction and a (batch,) target broadcast"
    known = [
        (float(((predicted - y) ** 2).mean()), "the mean squared error, not the mean absolute error"),
        (float(np.abs(predicted[:, None] - y[None, :]).mean()), broadcast),
    ]
    if batches:
        known += [
            (
                float(np.mean([np.abs(predicted[b] - y[b]).mean() for b in batches])),
                "the mean of the batches' errors, where the last, smaller batch counts as much as a full one",
            ),
            (float(np.dot(spread, sizes) / len(y)), broadcast),  # each batch's mean times its rows, over all rows
            (float(np.mean(spread)), broadcast),  # the mean of the batches' means
            (float(np.dot(spread, np.square(sizes)) / len(y)), broadcast),  # each batch's sum, over all rows
        ]
    distance, problem = min((abs(number - value) / max(abs(value), 1.0), problem) for value, problem in known)
    return problem if distance <= 1e-4 else "another number"


def _check_mean_absolute_error(returned: dict, predicted, y, batches: list) -> float:
    want = float(np.abs(predicted - y).mean())
    number = _number_of(returned)
    if number is None or abs(number - want) > 1e-4 * max(want, 1.0):
        problem = "another number" if number is None else _mistake(number, predicted, y, batches)
        raise Wrong(
            f"evaluate returned {returned['repr']}: {problem}; the model's mean absolute error is {want:.4f}.",
            "Add up |prediction - target| over all rows (the prediction squeezed to the target's shape) and "
            "divide by the number of rows (not the mean of per-batch errors: the last batch is smaller).",
        )
    return want


def _judge_stretch(seen, seed) -> str:
    import torch

    x, y = _evaluation_problem(seed)
    _check_evaluation(seen, x)
    model = _evaluated_model(x.shape[1]).eval()
    with torch.no_grad():
        predicted = model(torch.as_tensor(x))[:, 0].numpy().astype(np.float64)
    want = _check_mean_absolute_error(seen["returned"], predicted, y, _batches_of(seen, x))
    return f"all {len(x)} rows predicted once, in eval mode without gradients: off by {want:.2f} stars on average."


@exercise("Stretch · an evaluation loop", judge=_judge_stretch)
def stretch(evaluate, *, seed=None) -> dict:
    """``evaluate(model, dataset)``: the mean absolute error over every row, in eval mode, without gradients.

    Observes one call on the check's model and rows (made from ``seed``): the iter_torch_batches calls and shuffles,
    the rows predicted (their first feature), each forward pass's size, mode and gradient recording, the weights
    after, and what it returned."""
    require("evaluate", evaluate, "a function evaluate(model, dataset) returning the mean absolute error")
    if not callable(evaluate):
        raise Wrong("`evaluate` is not a function.", "Define it with def evaluate(model, dataset): ...")
    ev = _Evaluated(seed)
    with _counting_iterators() as calls:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                error = evaluate(ev.model, ev.dataset)
            except Exception as failure:  # noqa: BLE001 (a learner's loop: its own error, one line)
                raise Wrong(f"evaluate raised {error_line(failure)}.", "Run your loop and read its error.") from None
    rows = np.concatenate(ev.seen)[:, 0] if ev.seen else np.zeros(0)
    return {
        "iter_torch_batches": int(calls["iter_torch_batches"]),
        "shuffled": int(calls["shuffled"]),
        "rows": rows.astype(np.float64).tolist(),
        "batch_sizes": [len(inputs) for inputs in ev.seen],
        "modes": ev.modes,
        "grads": ev.grads,
        "state": {k: v.detach().float().numpy().reshape(-1).tolist() for k, v in ev.model.state_dict().items()},
        "returned": _returned(error),
    }
