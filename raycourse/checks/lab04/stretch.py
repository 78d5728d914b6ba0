"""Lab 04, stretch: a token counter stage, and the cost it reports per prompt.

What each part judges, by the text's requirements (R1 ... R6, as tests/checks/test_checks_lab04.py lists them):

* R1 ``costs``, a Dataset of the catalogue with ``n_tokens``: toolkit.require_dataset, :func:`_check_cost_rows`.
* R2 the tokens of the whole chat through the chat template, with the generation prompt: :func:`_check_counts`,
  counted again by the judge with the course LLM's tokenizer.
* R3 (probe) each row's chat is ``catalogue_messages(description, season_for(id))``: a season is one token, so the
  counts cannot tell; the TokenCounter runs on a probe batch whose ids (from the seed) have seasons that differ from
  each other and from their positions', and :func:`_check_probe_chats` judges the chats it handed the chat template.
* R4 a class stage TokenCounter, left lazy: :func:`_check_counter_stage`.
* R5 (probe) the tokenizer loaded once: the same probe's second batch (toolkit.require_loaded_once).
* R6 a pool of one actor, no GPU: :func:`_check_counter_stage`.
"""

from __future__ import annotations

import functools
import numbers
import random
import re
from collections import Counter
from collections.abc import Mapping

from .._core import Wrong, exercise, require
from ..toolkit import call_as_ray, construct, counting, model_for, require_dataset, require_loaded_once, stages
from ._common import SEASONS, _cell, _observe_sent, _originals, _plan, _Stage, recording_chats, season_ids

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


def probe_candidates(seed) -> list[int]:
    """The row ids the stretch's probe batch may take, made from ``seed``: a notebook cannot know them before its
    check runs."""
    return random.Random(f"lab04-stretch-{int(seed or 0)}").sample(range(1, 1_000_000), 100)


def _probe_batch(rows: list[dict], ids: list[int]) -> dict:
    """The first rows of ``costs`` as a batch of the catalogue (their text and number columns, not ``n_tokens``),
    under the probe's row ids."""
    import numpy as np

    base = rows[: len(ids)]
    batch = {}
    for column in base[0]:
        values = [r[column] for r in base]
        if column != "n_tokens" and all(isinstance(v, str) for v in values):
            batch[column] = np.array(values, dtype=object)
        elif column != "n_tokens" and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            batch[column] = np.array(values, dtype=np.int64)
    batch["id"] = np.array(ids, dtype=np.int64)
    return batch


def _counter_probe(counter, batch: dict) -> tuple[dict, list]:
    """Build the learner's TokenCounter as Ray would (its constructor arguments by position and by name) and run it
    on the probe batch twice: the loads (models, processors) counted after the constructor and at the end (see
    toolkit.require_loaded_once), and the chats it handed the chat template for the first batch."""
    from transformers import PreTrainedTokenizerBase

    built = functools.partial(counter.fn, *(getattr(counter.op, "fn_constructor_args", None) or ()))
    with counting(PreTrainedTokenizerBase, "apply_chat_template") as counts:
        instance = construct(built, label=f"{COUNTER}(...)", hint="Give `__init__` the parameters that "
                             "`fn_constructor_kwargs` names.", **counter.constructor_kwargs)  # fmt: skip
        with recording_chats() as chats:
            call_as_ray(instance, batch)
        after_first = counts["load"], counts["processor"]
        call_as_ray(instance, batch)
    return {"first": list(after_first), "end": [counts["load"], counts["processor"]]}, _observe_sent(chats[:50])


def _observe_probe(counter, rows: list[dict], messages, season_for, seed) -> tuple[dict, dict]:
    """The loads of the learner's TokenCounter, and what it made of the probe batch: two rows of ``costs`` under
    row ids of the seed whose seasons differ from each other and from their positions' (:func:`season_ids`), the
    chats it handed the chat template, and the chat ``messages`` makes for each row (with ``season_for(id)``)."""
    ids = season_ids(probe_candidates(seed), season_for, min(2, len(rows)))
    batch = _probe_batch(rows, ids)
    loads, chats = _counter_probe(counter, batch)
    descriptions = [str(d) for d in batch[TEXT_COLUMN]]
    return loads, {
        "ids": ids,
        "descriptions": descriptions,
        "seasons_for": [str(season_for(i)) for i in ids],
        "positional": [str(season_for(p)) for p in range(len(ids))],
        "expected": [_observe_sent([("chat", messages(d, season_for(i)))])[0][1] for d, i in zip(descriptions, ids)],
        "chats": [chat for _, chat in chats],
    }


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


def _season_in(chat: list, expected: list, seasons) -> str | None:
    """A season named in ``chat`` and not in ``expected`` (the lab's seasons and those ``season_for`` gave)."""
    text, want = (" ".join(str(m["content"]) for m in c).lower() for c in (chat, expected))
    return next((s for s in seasons if re.search(rf"\b{re.escape(s.lower())}\b", text) and s.lower() not in want), None)


def _check_probe_chats(probe: dict, seed) -> None:
    """Each chat the TokenCounter handed the chat template for the probe batch is the one ``catalogue_messages``
    makes for its row, with ``season_for`` of the row's id (a chat that holds none of the rows' descriptions is not
    a row's: the counts of the catalogue's rows judge it)."""
    ids, descriptions = [int(i) for i in probe["ids"]], [str(d) for d in probe["descriptions"]]
    if not ids or len(set(ids)) != len(ids) or not set(ids) <= set(probe_candidates(seed)):
        raise Wrong(
            "the check's probe batch is not the one of this check's seed.",
            "Run the check cell as it is, after the cell that builds `costs`.",
        )
    seasons = [*SEASONS, *(str(s) for s in probe["seasons_for"])]
    for chat in probe["chats"]:
        text = " ".join(str(m["content"]) for m in chat)
        found = sorted((len(d), k) for k, d in enumerate(descriptions) if d in text)
        if not found:
            continue
        k = found[-1][1]
        if chat == probe["expected"][k]:
            continue
        row_id, want = ids[k], str(probe["seasons_for"][k])
        season = _season_in(chat, probe["expected"][k], seasons)
        at = [p for p, s in enumerate(probe["positional"]) if season is not None and str(s) == season]
        raise Wrong(
            f"the chat counted for id {row_id} has the season {season!r}; season_for({row_id}) is {want!r}"
            + (f" ({season!r} is season_for({at[0]}): the row's position in the batch, not its id)." if at else ".")
            if season
            else f"the chat counted for id {row_id} is not catalogue_messages(description, season_for({row_id})).",
            "Build each row's chat with `catalogue_messages(description, season_for(id))`, from that row's own id.",
        )


def _judge_stretch(seen, seed=None) -> str:
    _check_counter_stage(_plan(seen["plan"]))
    rows = _check_cost_rows(seen)
    _check_counts(rows)
    _check_probe_chats(seen["probe"], seed)
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
def stretch(costs, messages=None, season_for=None, *, seed=None) -> dict:
    """``costs``: the catalogue with ``n_tokens``, the length in tokens of the chat the Enhancer sends per row,
    counted by a TokenCounter actor (one, no GPU) that loads its tokenizer once and builds each row's chat with the
    season of its id (probed on row ids of the seed)."""
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
        seen["loads"], seen["probe"] = _observe_probe(counter, rows, messages, season_for, seed)
    return seen
