"""Lab 04's checks: what several exercises share (the columns, a cell as data, the learner's messages as
sent, the plan's stages as data, the product photos)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from ..toolkit import pool_size_of, as_text

PRODUCT_PHOTO = "A product photo of a "


class _Sent(list):
    """What went to the model: [("chat", messages) or ("text", prompt)], and ``sampled``: per ``generate`` call,
    whether it sampled (``do_sample`` as passed, else the generation config's: Qwen's and its stand-in's sample)."""

    def __init__(self):
        super().__init__()
        self.sampled: list[bool] = []


MAX_TEXT = 4000  # characters of an observed text: a reply, a message


def _cell(value):
    """One cell of the returned batch as plain data: a string as it is (its first MAX_TEXT characters), anything
    else as its type's name and its text."""
    if isinstance(value, str):
        return str(value)[:MAX_TEXT]
    return {"type": type(value).__name__, "text": str(value)[:MAX_TEXT]}


def _observe_sent(sent: _Sent) -> list:
    """What went to the model, as plain data: ["chat", [{"role", "content"}, ...]] or ["text", prompt]."""
    seen = []
    for kind, item in sent:
        if kind == "chat":
            messages = [{"role": str(m.get("role")), "content": as_text(m.get("content", ""))[:MAX_TEXT]} for m in item]
            seen.append(["chat", messages])
        else:
            seen.append(["text", str(item)[:MAX_TEXT]])
    return seen


def _originals() -> set[str]:
    """Every text an unenhanced row can hold: the catalogue's descriptions, the bare outfits, and the animals'
    prompts of the lesson (a pipeline started from the wrong table)."""
    import pandas as pd

    import raycourse

    animals = pd.read_csv(raycourse.data_path("animals"))
    outfits = pd.read_csv(raycourse.data_path("outfits"))
    joined = animals.merge(outfits, on="id")
    return (
        set(PRODUCT_PHOTO + outfits["outfit"])
        | set(outfits["outfit"])
        | set(joined["animal"] + " wearing a " + joined["outfit"])
        | set(animals["animal"])
    )


def _methods_code(cls) -> dict:
    return {name: fn.__code__ for name, fn in vars(cls).items() if inspect.isfunction(fn)}


def _same_class(ran, mine) -> bool:
    """``ran`` is ``mine``, or ``mine``'s cell run again: the same name, and every method's code the same."""
    if ran is mine:
        return True
    if not inspect.isclass(ran) or getattr(ran, "__qualname__", None) != mine.__qualname__:
        return False
    return _methods_code(ran) == _methods_code(mine)


@dataclass(frozen=True)
class _Stage:
    """One stage of a plan as the check observed it: toolkit.Stage's fields as plain data, and for a class stage
    given constructor arguments, what it was given (the conversation builders by name, and whether one is the
    ``messages`` handed to the check; the texts) and whether its class is the learner's ``Enhancer``."""

    index: int
    name: str
    kind: str
    is_class: bool
    num_gpus: float
    pool_size: tuple[int, int | float] | None
    qualname: str
    has_args: bool
    yours: bool
    builders: tuple[tuple[str, bool], ...]
    texts: tuple[str, ...]

    @staticmethod
    def observe(index: int, stage, messages, Enhancer) -> dict:
        given = list(stage.constructor_kwargs.values()) + list(getattr(stage.op, "fn_constructor_args", None) or ())
        return {
            "index": index,
            "name": str(stage.name),
            "kind": stage.kind,
            "is_class": stage.is_class,
            "num_gpus": stage.num_gpus,
            "pool_size": list(stage.pool_size) if stage.pool_size else None,
            "qualname": str(getattr(stage.fn, "__qualname__", stage.name)),
            "has_args": bool(given),
            "yours": bool(inspect.isclass(Enhancer) and _same_class(stage.fn, Enhancer)),
            "builders": [
                [str(getattr(b, "__name__", b)), b is messages]
                for b in given
                if callable(b) and not isinstance(b, type)
            ],
            "texts": [v for v in given if isinstance(v, str)],
        }

    @classmethod
    def of(cls, seen: dict) -> _Stage:
        size = pool_size_of(seen["pool_size"])
        flags = [seen[k] for k in ("is_class", "has_args", "yours")] + [given for _, given in seen["builders"]]
        if not all(isinstance(f, bool) for f in flags):
            raise ValueError(f"flags {flags!r} that are not true or false")
        return cls(
            int(seen["index"]),
            str(seen["name"]),
            str(seen["kind"]),
            seen["is_class"],
            float(seen["num_gpus"]),
            size,
            str(seen["qualname"]),
            seen["has_args"],
            seen["yours"],
            tuple((str(name), given) for name, given in seen["builders"]),
            tuple(str(t) for t in seen["texts"]),
        )


def _plan(seen: list) -> list[_Stage]:
    plan = [_Stage.of(s) for s in seen]
    if [s.index for s in plan] != list(range(len(plan))):
        raise ValueError("stages out of order")
    return plan
