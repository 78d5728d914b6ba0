"""The check machinery shared by all labs."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable


class NotSolved(Exception):
    """The exercise still holds its placeholder (or was skipped)."""


class Wrong(AssertionError):
    """The answer is there but not right; ``hint`` points the way without giving it away."""

    def __init__(self, problem: str, hint: str = ""):
        self.problem = problem
        self.hint = hint
        super().__init__(problem)


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str  # "passed", "not solved", "wrong"
    message: str
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        if self.status == "passed":
            return f"✅ {self.exercise} passed: {self.message}"
        if self.status == "not solved":
            return f"⏳ {self.exercise} not solved yet: {self.message}"
        text = f"❌ {self.exercise} not right yet: {self.message}"
        return text + (f"\n   Hint: {self.hint}" if self.hint else "")


def placeholder(value: Any) -> bool:
    """True for the ``...`` a generated lab leaves where the learner's code goes."""
    return value is Ellipsis


def require(name: str, value: Any, what: str) -> None:
    """Raise :class:`NotSolved` when ``value`` is still the placeholder."""
    if placeholder(value):
        raise NotSolved(f"`{name}` is still `...`; replace it with {what}.")


class Exercise:
    """A check function turned into a notebook check (see :func:`exercise`)."""

    def __init__(self, title: str, fn: Callable[..., str]):
        self.title = title
        self.fn = fn
        functools.update_wrapper(self, fn)

    def result(self, *args, **kwargs) -> Verdict:
        try:
            summary = self.fn(*args, **kwargs)
        except NotSolved as exc:
            return Verdict(self.title, "not solved", str(exc))
        except Wrong as exc:
            return Verdict(self.title, "wrong", exc.problem, exc.hint)
        except Exception as exc:  # the learner's object broke in a way the check did not foresee
            return Verdict(
                self.title,
                "wrong",
                f"the check could not use your answer: {exc.__class__.__name__}: {exc}",
                "Run your exercise cell again and look at its error; then re-run this check.",
            )
        return Verdict(self.title, "passed", summary or "well done.")

    def __call__(self, *args, **kwargs) -> None:
        print(self.result(*args, **kwargs))


def exercise(title: str) -> Callable[[Callable[..., str]], Exercise]:
    """Decorate a function that raises :class:`NotSolved`/:class:`Wrong` or returns a summary."""

    def wrap(fn: Callable[..., str]) -> Exercise:
        return Exercise(title, fn)

    return wrap


def plan_ops(ds) -> list:
    """The logical operators of ``ds`` from source to sink ([] if the plan cannot be read)."""
    try:
        ops, order, stack = {}, [], [ds._logical_plan.dag]
        while stack:
            op = stack.pop()
            if id(op) in ops:
                continue
            ops[id(op)] = op
            order.append(op)
            stack.extend(getattr(op, "input_dependencies", []) or [])
        return list(reversed(order))
    except Exception:  # an internal API; the row checks below still run without it
        return []


def class_stages(ds) -> list:
    """The stages of ``ds`` that run a callable class (in an actor pool), from source to sink."""
    return [op for op in plan_ops(ds) if inspect.isclass(getattr(op, "fn", None))]


@contextlib.contextmanager
def counting(model_class, method: str):
    """Count model loads (any ``from_pretrained`` of a transformers model) and calls of ``model_class.method``.

    The checks of model stages use it to tell a model loaded once from one loaded per batch,
    and one forward pass per batch from one per image.
    """
    from transformers import PreTrainedModel

    counts = Counter()
    load, original = PreTrainedModel.from_pretrained.__func__, getattr(model_class, method)

    def counted_load(cls, *args, **kwargs):
        counts["load"] += 1
        return load(cls, *args, **kwargs)

    def counted(self, *args, **kwargs):
        counts["forward"] += 1
        return original(self, *args, **kwargs)

    PreTrainedModel.from_pretrained = classmethod(counted_load)
    setattr(model_class, method, counted)
    try:
        yield counts
    finally:
        PreTrainedModel.from_pretrained = classmethod(load)
        setattr(model_class, method, original)


def call_as_ray(stage, batch: dict):
    """``stage(batch)`` as Ray would call it: a dict of NumPy arrays, else (batch_format="pandas") a DataFrame."""
    import pandas as pd

    try:
        return stage({k: v.copy() for k, v in batch.items()})
    except Exception as numpy_error:
        try:
            return stage(pd.DataFrame({k: list(v) for k, v in batch.items()}))
        except Exception:
            raise numpy_error from None
