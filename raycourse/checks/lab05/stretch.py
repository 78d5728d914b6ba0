"""Lab 05, stretch: ``per_class_accuracy`` on the learner's rows and on a table of the check's own with
mistakes, grouped by Ray Data.

What the text asks, and what judges it:
- a Dataset grouped in Ray Data, not a table counted in the driver: a grouping step (an aggregation, or
  ``map_groups``'s shuffle or sort) in the plan of what the function returns, or, returned materialized, in Ray's
  stats of what made it (:mod:`..stats`);
- one row per true ``label`` with the share of its images predicted right: the rows, on the check's own probe
  predictions (class names and order from the grader's seed; grouping by ``predicted`` gives other shares) and on
  the learner's.
"""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..stats import GROUPING, kinds, made_by
from ..toolkit import plan_ops
from ._common import _open, _part


def _not_a_dataset(name: str, type_name: str, hint: str) -> Wrong:
    """:func:`require_dataset`'s verdict, from the type's name the observer saw."""
    article = "an" if type_name[:1].lower() in "aeiou" else "a"
    return Wrong(f"`{name}` is {article} {type_name}, not a Ray Dataset.", hint)


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
    made = made_by(result)  # materialized: the operators Ray's stats say made it
    return {
        "dataset": True,
        "type": type(result).__name__,
        "ops": [type(op).__name__ for op in plan_ops(result)] if made is None else made,
        "kinds": kinds(result),
        "rows": result.take_all(),
    }


def _result_rows(seen: dict) -> list[dict]:
    """The rows of the Dataset ``per_class_accuracy`` returned, which Ray Data grouped (not a table made in the
    driver and handed back)."""
    if seen["dataset"] is not True:
        raise _not_a_dataset("per_class_accuracy(predictions)", str(seen["type"]), IN_RAY_HINT)
    ops = [str(op) for op in seen["ops"]]
    if not any(str(kind) in GROUPING for kind in seen.get("kinds", ())):
        if len(ops) == 1 and ops[0].startswith("From"):  # a table handed to Ray whole, no step after it
            raise Wrong(
                f"`per_class_accuracy` returned a Dataset made from a table in the driver ({ops[0]}): the "
                "predictions were all brought to the notebook to be counted.",
                IN_RAY_HINT,
            )
        raise Wrong(
            f"`per_class_accuracy` returned a Dataset that Ray Data did not group (its steps: {', '.join(ops)}).",
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
