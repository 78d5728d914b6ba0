"""Lab 04's checks: what several exercises share (the columns, a cell as data, the learner's messages as
sent, the chats handed to a chat template, probe row ids of differing seasons, the plan's stages as data, the
catalogue's descriptions and the product photos)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass

from ..toolkit import pool_size_of, as_text

PRODUCT_PHOTO = "A product photo of a "
SEASONS = ("winter", "spring", "summer", "autumn")  # the lab's seasons: named in a message when a chat has another


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


def note_chats(sent: list, conversation) -> None:
    """Append to ``sent`` each chat of ``conversation`` (one chat, or a list of them, as ``apply_chat_template``
    takes them) as ``("chat", messages)``."""
    chats = conversation if conversation and isinstance(conversation[0], (list, tuple)) else [conversation]
    for chat in chats:
        messages = [m for m in chat if isinstance(m, Mapping)]
        if messages:
            sent.append(("chat", messages))


@contextlib.contextmanager
def recording_chats():
    """Note the chats handed to a tokenizer's chat template while the block runs: ``[("chat", messages), ...]``."""
    from transformers import PreTrainedTokenizerBase

    sent: list = []
    template = PreTrainedTokenizerBase.apply_chat_template

    def recording_template(self, conversation, *args, **kwargs):
        with contextlib.suppress(Exception):
            note_chats(sent, list(conversation))
        return template(self, conversation, *args, **kwargs)

    PreTrainedTokenizerBase.apply_chat_template = recording_template
    try:
        yield sent
    finally:
        PreTrainedTokenizerBase.apply_chat_template = template


def season_ids(candidates, season_for, n: int) -> list[int]:
    """``n`` row ids of ``candidates`` (in their order); with ``season_for``, ids whose seasons differ from each other
    and from the seasons of the batch's positions, ``season_for(0)`` ... ``season_for(n - 1)``: one season for all
    rows, or a row's position taken for its id, then gives a wrong season to every row."""
    if season_for is None:
        return list(candidates[:n])
    taken = {str(season_for(p)) for p in range(n)}
    chosen = []
    for candidate in candidates:
        season = str(season_for(candidate))
        if season not in taken:
            chosen.append(candidate)
            taken.add(season)
            if len(chosen) == n:
                return chosen
    return chosen + [c for c in candidates if c not in chosen][: n - len(chosen)]  # a season_for of few seasons


def _descriptions() -> set[str]:
    """The catalogue's descriptions: what the Enhancer of Exercise 2 must read."""
    import pandas as pd

    import raycourse

    return set(PRODUCT_PHOTO + pd.read_csv(raycourse.data_path("outfits"))["outfit"])


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


BUILDER_PROBES = (  # (text, season): a builder that makes the same conversations on these is the same builder
    ("A product photo of a probe scarf", "winter"),
    ("A product photo of a probe hat", "summer"),
)


def same_builder(given, messages) -> bool:
    """``given`` is the conversation builder ``messages``: the same object, the same function defined again (its cell
    run again: the same name and code), or one that makes the same conversations on :data:`BUILDER_PROBES`."""
    if given is messages:
        return True
    if messages is None or not callable(messages):
        return False
    code = getattr(given, "__code__", None)
    if code is not None and getattr(given, "__qualname__", None) == getattr(messages, "__qualname__", 0):
        if code == getattr(messages, "__code__", None):
            return True
    try:
        return all(bool(given(t, s) == messages(t, s)) for t, s in BUILDER_PROBES)
    except Exception:  # a builder that fails or makes what cannot be compared: not the same
        return False


@dataclass(frozen=True)
class _Stage:
    """One stage of a plan as the check observed it: toolkit.Stage's fields as plain data, and for a class stage
    given constructor arguments, what it was given (the conversation builders by name, and whether one is the
    ``messages`` handed to the check, :func:`same_builder`; the texts) and whether its class is the learner's
    ``Enhancer``."""

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
                [str(getattr(b, "__name__", b)), same_builder(b, messages)]
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
