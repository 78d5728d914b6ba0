"""Lab 04, stretch: a token counter stage, and the cost it reports per prompt."""

from __future__ import annotations

import numbers
from collections import Counter
from collections.abc import Mapping

from .._core import Wrong, exercise, require
from ..toolkit import call_as_ray, construct, counting, model_for, require_dataset, require_loaded_once, stages
from ._common import _Stage, _cell, _observe_sent, _originals, _plan

TEXT_COLUMN = "description"  # the catalogue's column


def _chat_tokens(tokenizer, chat) -> int:
    ids = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=True)
    return len(ids["input_ids"] if isinstance(ids, Mapping) else ids)


COUNTER = "TokenCounter"


def _check_counter_stage(plan: list[_Stage]) -> _Stage:
    """A class stage ``TokenCounter`` in a pool of one actor, with no GPU, in the plan of a lazy ``costs``."""
    counter = next((s for s in plan if s.name == COUNTER), None)
    if counter is None or not counter.is_class:
        names = ", ".join(s.name for s in plan) or "none: it was run already (take/materialize)"
        raise Wrong(
            f"`costs` has no class stage `{COUNTER}` (its stages: {names}).",
            f"Count in `map_batches({COUNTER}, ...)`, a class that loads the tokenizer once per actor, and leave "
            "`costs` lazy.",
        )
    if counter.num_gpus or counter.pool_size != (1, 1):
        raise Wrong(
            f"{COUNTER} runs in a pool of {counter.pool_size} (min, max) actors with num_gpus={counter.num_gpus:g}; "
            "the lab asks for one actor and no GPU: a tokenizer is CPU work.",
            "Use `compute=ray.data.ActorPoolStrategy(size=1)` and no `num_gpus`.",
        )
    return counter


def _counter_loads(counter, rows) -> dict:
    """Build the learner's TokenCounter as Ray would and run it on two batches: the loads (models, processors)
    counted after the constructor and at the end (see toolkit.require_loaded_once)."""
    import numpy as np
    from transformers import PreTrainedTokenizerBase

    batch = {c: np.array([r[c] for r in rows[:2]], dtype=object) for c in ("id", TEXT_COLUMN)}
    batch["id"] = batch["id"].astype(np.int64)
    with counting(PreTrainedTokenizerBase, "apply_chat_template") as counts:
        instance = construct(counter.fn, label=f"{COUNTER}(...)", hint="Give `__init__` the parameters that "
                             "`fn_constructor_kwargs` names.", **counter.constructor_kwargs)  # fmt: skip
        call_as_ray(instance, batch)
        after_first = counts["load"], counts["processor"]
        call_as_ray(instance, batch)
    return {"first": list(after_first), "end": [counts["load"], counts["processor"]]}


def _check_cost_rows(seen: dict) -> list[dict]:
    rows = seen["rows"]
    if not seen["n_rows"]:
        raise Wrong("`costs` is empty.", "Start from the lab's `catalogue`: one row per product.")
    columns = list(seen["columns"])
    lacking = [c for c in ("id", TEXT_COLUMN, "n_tokens") if c not in columns]
    if lacking:
        raise Wrong(
            f"`costs` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: {columns}).",
            f"Keep `id` and `{TEXT_COLUMN}` and add the count as `n_tokens`.",
        )
    if len(rows) != seen["n_rows"]:
        raise ValueError(f"{len(rows)} rows observed of {seen['n_rows']}")
    if any(str(r[TEXT_COLUMN]) not in _originals() for r in rows):
        raise Wrong(
            "`costs` holds descriptions that the LLM has already rewritten.",
            "Count the tokens of the descriptions before the Enhancer: start from `catalogue` (that also "
            "runs no model but the tokenizer).",
        )
    return rows


def _check_counts(rows: list[dict]) -> None:
    """Each row's ``n_tokens`` against the chat that ``catalogue_messages`` made for it (observed), counted here."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_for("llm"))
    for row in rows:
        text, got = str(row[TEXT_COLUMN]), row["n_tokens"]
        chat = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["chat"]]
        if not any(text in m["content"] for m in chat) or not any(m["role"] == "system" for m in chat):
            raise ValueError(f"a chat for {text!r} that is not catalogue_messages' (its text and an instruction)")
        want = _chat_tokens(tokenizer, chat)
        if isinstance(got, numbers.Real) and not isinstance(got, bool) and got == want:
            continue
        if got == len(tokenizer(text)["input_ids"]):
            raise Wrong(
                f"`n_tokens` of {text!r} is {got}: the tokens of the description alone.",
                "The model reads the whole conversation of `catalogue_messages` (the system message too) in "
                "its chat template, ready for its answer: count that.",
            )
        raise Wrong(
            f"`n_tokens` of {text!r} is {got!r}; the chat the Enhancer sends for it is {want} tokens.",
            "Apply the tokenizer's chat template to `catalogue_messages(description, season_for(id))`, with "
            "the generation prompt, and count the token ids.",
        )


def _judge_stretch(seen, seed=None) -> str:
    _check_counter_stage(_plan(seen["plan"]))
    rows = _check_cost_rows(seen)
    _check_counts(rows)
    loads = seen["loads"]
    counts = Counter(load=int(loads["end"][0]), processor=int(loads["end"][1]))
    after_first = int(loads["first"][0]), int(loads["first"][1])
    require_loaded_once(counts, after_first, label=COUNTER, batches=1, processor="a tokenizer")
    counts = [int(r["n_tokens"]) for r in rows]
    return (
        f"{len(rows)} chats of {min(counts)} to {max(counts)} tokens, counted by one {COUNTER} actor with no GPU "
        "that loads its tokenizer once: the system message, not the description, is most of what the LLM reads."
    )


@exercise("Stretch · what the LLM reads, in tokens", judge=_judge_stretch)
def stretch(costs, messages=None, season_for=None) -> dict:
    """``costs``: the catalogue with ``n_tokens``, the length in tokens of the chat the Enhancer sends per row,
    counted by a TokenCounter actor (one, no GPU) that loads its tokenizer once."""
    require("costs", costs, "the Dataset of `catalogue` with an `n_tokens` column")
    if messages is None or season_for is None:
        raise TypeError("call it as check.stretch(costs, catalogue_messages, season_for)")
    require_dataset("costs", costs, f"Build `costs` with `map_batches({COUNTER}, ...)` on `catalogue`.")
    real = stages(costs)
    seen = {"plan": [_Stage.observe(i, s, None, None) for i, s in enumerate(real)]}
    counter = real[_check_counter_stage(_plan(seen["plan"])).index]  # a plan the lab does not ask for is not run
    rows = costs.take_all()
    seen["columns"] = [str(c) for c in rows[0]] if rows else []
    seen["n_rows"] = len(rows)
    seen["rows"] = [
        {
            "id": _cell(r["id"]) if isinstance(r["id"], str) else r["id"],
            TEXT_COLUMN: str(r[TEXT_COLUMN]),
            "n_tokens": r["n_tokens"] if isinstance(r["n_tokens"], numbers.Real) else _cell(r["n_tokens"]),
            "chat": _observe_sent([("chat", messages(str(r[TEXT_COLUMN]), season_for(r["id"])))])[0][1],
        }
        for r in rows
        if all(c in r for c in ("id", TEXT_COLUMN, "n_tokens"))
    ]
    if len(seen["rows"]) == len(rows) and rows:
        _check_cost_rows(seen)  # rewritten descriptions: nothing to count
        seen["loads"] = _counter_loads(counter, rows)
    return seen
