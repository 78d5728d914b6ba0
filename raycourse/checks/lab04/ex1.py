"""Lab 04, exercise 1: the learner's ``Enhancer`` called as Ray would, on probe prompts made from the seed (its
messages, its replies, its model).

What each part judges, by the text's requirements (R1 ... R10, as tests/checks/test_checks_lab04.py lists them):

* R1 a class with ``__call__``: :func:`_check_class`, in the kernel (there is nothing to call otherwise).
* R2 (probe) the constructor takes ``model_id``, ``prompt_column`` and ``messages``: :func:`_probe` builds the class
  with them, by name (toolkit.construct).
* R3 (probe) ``model_id`` is what it loads: :func:`_try_missing_model` builds it with a path that does not exist,
  which must fail (:func:`_check_model_id`).
* R4 (probe) ``prompt_column`` is the column it reads: the probe batch has ``caption``, not ``prompt``
  (:func:`_missing_column`).
* R5, R6 (probe) the replies go back into that column, one string per row, the reply only: :func:`_check_replies`
  and :func:`_reply_problem`; a KeyError met while picking the reply is named as such (:func:`_reply_key`).
* R7 (probe) ``messages`` builds each row's conversation: the check's own builder notes its calls
  (:func:`_logging_messages`); :func:`_check_messages` judges what the model got, :func:`_check_calls` that it was
  called for each row, with that row's text and one season, a str.
* R8 (probe) each row's own season, in its conversation and in a ``season`` column: the probe rows' ids have seasons
  that differ from each other and from their positions' (:func:`_probe_ids`); :func:`_check_calls` judges the
  seasons given to ``messages``, :func:`_check_seasons` the column of both batches.
* R9 (probe) greedy decoding: :func:`_check_greedy`, from each ``generate`` call.
* R10 (probe) the pipeline loaded once: a second batch for the same instance (toolkit.require_loaded_once).
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import random
import tempfile
from collections import Counter
from pathlib import Path

from .._core import Wrong, exercise, require
from ..toolkit import as_columns, call_as_ray, construct, counting, model_for, require_loaded_once
from ._common import _cell, _observe_sent, _Sent, note_chats, season_ids

PROBE_COLUMN = "caption"
PROBE_MARKER = "Probe instruction from the check"
PROBE_POOL = (  # the probe batch's two texts are drawn from these, by the seed
    "A cinematic photo of a raccoon wearing a yellow raincoat",
    "A watercolor painting of a red fox wearing a traditional Italian priest robe",
    "An oil painting of a barn owl wearing a tiny knitted scarf",
    "A pencil sketch of a hedgehog wearing a striped sailor shirt",
    "A studio photo of a golden retriever wearing a red bandana",
    "A 3D render of a penguin wearing a blue bow tie",
)
REPLY_HINT = (
    "For each conversation the text-generation pipeline returns the whole conversation with the "
    "model's reply appended as its last message: keep only the content of that last message."
)


def probes(seed) -> tuple[list[str], list[int]]:
    """The probe batch's two texts, and the row ids it may take (the first, then the second from the rest), made
    from ``seed``: a notebook cannot know them before its check runs."""
    rng = random.Random(int(seed or 0))
    return rng.sample(PROBE_POOL, 2), rng.sample(range(1, 1_000_000), 100)


def _probe_ids(candidates: list[int], season_for) -> tuple[int, int]:
    """Two row ids of ``candidates``; with ``season_for``, two whose seasons differ from each other and from
    ``season_for(0)`` and ``season_for(1)`` (so one season for all rows, or a row's position taken for its id, shows
    in every row)."""
    first, second = season_ids(candidates, season_for, 2)
    return first, second


def _probe_messages(prompt, season):
    """The check's own conversation builder: the class must send what this returns, for each row."""
    return [
        {"role": "system", "content": f"{PROBE_MARKER}: add two touches of {season}. One sentence."},
        {"role": "user", "content": prompt},
    ]


MAX_CALLS = 50  # calls of the check's builder noted: two per row and batch, for a right answer


def _logging_messages(calls: list):
    """:func:`_probe_messages` that notes each call's ``(text, season)`` in ``calls``."""

    def messages(prompt, season):
        if len(calls) < MAX_CALLS:
            calls.append((prompt, season))
        return _probe_messages(prompt, season)

    return messages


def _prompt_batch(ids, prompts) -> dict:
    """A batch as Ray hands it to a class: NumPy arrays, strings as an object array."""
    import numpy as np

    return {"id": np.array(ids, dtype=np.int64), PROBE_COLUMN: np.array(prompts, dtype=object)}


def _release() -> None:
    """Give back the GPU memory of the models the check loaded in the notebook's own process. Only where CUDA holds
    some: a collection costs about 0.3 s in a kernel that imported torch (two per check of exercise 1), and on a CPU
    the check's models are freed as any object is, when the check drops them or at Python's next collection."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a course dependency
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        gc.collect()
        torch.cuda.empty_cache()


@contextlib.contextmanager
def _recording():
    """Note what goes to the model while the block runs (see :class:`_Sent`)."""
    sent = _Sent()
    from transformers import GenerationMixin, PreTrainedTokenizerBase
    from transformers.pipelines.text_generation import TextGenerationPipeline

    template, preprocess = PreTrainedTokenizerBase.apply_chat_template, TextGenerationPipeline.preprocess
    generate = GenerationMixin.generate

    def recording_generate(self, *args, **kwargs):
        config = kwargs.get("generation_config") or getattr(self, "generation_config", None)
        sent.sampled.append(bool(kwargs["do_sample"] if "do_sample" in kwargs else getattr(config, "do_sample", 0)))
        return generate(self, *args, **kwargs)

    def recording_template(self, conversation, *args, **kwargs):
        with contextlib.suppress(Exception):
            note_chats(sent, list(conversation))
        return template(self, conversation, *args, **kwargs)

    def recording_preprocess(self, prompt_text, *args, **kwargs):
        if isinstance(prompt_text, str):
            sent.append(("text", prompt_text))
        return preprocess(self, prompt_text, *args, **kwargs)

    PreTrainedTokenizerBase.apply_chat_template = recording_template
    TextGenerationPipeline.preprocess = recording_preprocess
    GenerationMixin.generate = recording_generate
    try:
        yield sent
    finally:
        PreTrainedTokenizerBase.apply_chat_template = template
        TextGenerationPipeline.preprocess = preprocess
        GenerationMixin.generate = generate


CONSTRUCT_HINT = (
    "`fn_constructor_kwargs` passes its keys as keyword arguments to `__init__`; the lab's pipeline uses the keys "
    "`model_id`, `prompt_column` and `messages`, so `__init__` needs parameters with those names."
)


REPLY_KEYS = ("generated_text", "content", "role")  # the keys of the pipeline's results and of their messages
REPLY_SLIPS = ("text", "generated", "output", "outputs", "reply", "response", "message", "answer")


def _reply_key(key) -> bool:
    """Whether a missing ``key`` is a slip in picking the reply out of the pipeline's results (not a str, a key they
    have, one close to theirs or that names a reply) rather than a column the class looked for."""
    import difflib

    if not isinstance(key, str):
        return True
    return key in REPLY_SLIPS or bool(difflib.get_close_matches(key, REPLY_KEYS, n=1, cutoff=0.75))


def _missing_column(exc: KeyError, batch) -> Wrong:
    key = exc.args[0] if exc.args else exc
    if _reply_key(key):
        return Wrong(
            f"your Enhancer raised KeyError: {key!r} while picking the reply out of the pipeline's results: the "
            f"batch has no such column (it has {sorted(batch)}), and the results have no such key there.",
            "For each conversation the text-generation pipeline returns a list with one result, a dict whose "
            "'generated_text' is the whole conversation, the model's reply appended as its last message (a dict "
            "with 'role' and 'content'): print one result to see it.",
        )
    if key == "prompt":
        return Wrong(
            f"your Enhancer read the column 'prompt', but it was built with "
            f"prompt_column={PROBE_COLUMN!r} and the batch had no 'prompt' column.",
            "Remember the column name the constructor receives (on `self`) and read the prompts from "
            "that column in `__call__`, instead of a fixed name.",
        )
    return Wrong(
        f"your Enhancer looked for the column {key!r}, which is not in the batch (it had {sorted(batch)}).",
        "Read the prompts from the column named by `prompt_column`.",
    )


def _call(instance, batch: dict):
    """``instance(batch)`` as Ray would call it (toolkit.call_as_ray); a missing column named as such."""
    try:
        return call_as_ray(instance, batch)
    except KeyError as exc:
        raise _missing_column(exc, batch) from None


def _text(value) -> str:
    """An observed cell as text (:func:`_cell`): a string as it is, anything else as its ``str()``."""
    return value if isinstance(value, str) else str(value["text"])


def _new_text(values, prompts) -> bool:
    """A column of one string per probe row, other than the probe prompts."""
    return (
        len(values) == len(prompts)
        and all(isinstance(v, str) for v in values)
        and any(v.strip() not in prompts for v in values)
    )


def _reply_problem(value: str, sent: list, prompts) -> str | None:
    """What shows that ``value`` is not the model's reply alone, or None."""
    for kind, item in sent:
        if kind == "chat":
            for message in item:
                content = str(message["content"]).strip()
                if message["role"] == "system" and len(content) >= 20 and content in value:
                    return f"contains the system message sent to the model ({content[:60]!r}...)"
        elif len(item.strip()) >= 20 and item.strip() not in prompts and item.strip() in value:
            return f"contains the whole text sent to the model ({item.strip()[:60]!r}...)"
    if ("'role'" in value or '"role"' in value) and ("'content'" in value or '"content"' in value):
        return "is a whole conversation written out as text (it has 'role' and 'content' keys)"
    return None


def _sent_for(prompt: str, sent: list) -> list[str]:
    """The texts of what was sent to the model for one prompt (chats as the text of all their messages)."""
    texts = []
    for kind, item in sent:
        text = " ".join(str(m["content"]) for m in item) if kind == "chat" else item
        if prompt in text:
            texts.append(text)
    return texts


def _check_messages(sent: list) -> None:
    """Every conversation the class sent was built by the ``messages`` it was given (the check's builder)."""
    if not sent:
        return  # nothing recorded (another way to reach the model): the other properties still hold
    own = [
        (kind, item)
        for kind, item in sent
        if (kind == "text" and PROBE_MARKER not in item)
        or (kind == "chat" and not any(PROBE_MARKER in str(m["content"]) for m in item))
        or kind not in ("text", "chat")
    ]
    if own:
        kind = "plain text" if own[0][0] == "text" else "conversations"
        raise Wrong(
            f"the check built Enhancer with a `messages` function of its own, but the model received {kind} "
            "that function did not make: your class builds them some other way.",
            "Keep the `messages` the constructor receives (on `self`) and call it for each row, "
            "`self.messages(prompt, season)`, instead of a fixed function such as `chat_messages`.",
        )


SEASON_HINT = "Give every row its own season: season_for(row id), for each id of the batch."


def _positional(season: str, positional) -> str:
    """A note for a wrong ``season`` that is the season of a position in the batch (``positional``: season_for(0),
    season_for(1))."""
    at = [p for p, s in enumerate(positional or []) if str(s) == season]
    return f" ({season!r} is season_for({at[0]}): the row's position in the batch, not its id)" if at else ""


def _check_seasons(columns: dict, ids, prompts, seen: dict, sent: list, batch: str = "") -> None:
    """Every row has its own season in a `season` column and in the conversation sent for it (``seen``'s
    ``seasons_for``: what the lab's ``season_for`` gives for each row id, or None when the check was not given it).
    ``batch``: which batch's columns, in the messages (" in the second batch")."""
    if "season" not in columns:
        raise Wrong(
            f"the returned batch{batch} has no 'season' column (its columns: {sorted(columns)}).",
            "Keep the season of each row beside the enhanced prompt, as the lesson's Enhancer does: "
            '`batch["season"]`, one season per row.',
        )
    seasons = [_text(s) for s in columns["season"]]
    if len(seasons) != len(ids):
        raise Wrong(
            f"the 'season' column{batch} came back with {len(seasons)} value(s) for {len(ids)} rows.",
            "Store one season per row of the batch.",
        )
    seasons_for = seen["seasons_for"]
    if seasons_for is None:
        return
    for row_id, prompt, season, expected in zip(ids, prompts, seasons, seasons_for, strict=True):
        expected = str(expected)
        if season != expected:
            raise Wrong(
                f"the row with id {row_id} came back{batch} with the season {season!r}, but season_for({row_id}) "
                f"is {expected!r}{_positional(season, seen['positional'])}.",
                SEASON_HINT,
            )
        texts = _sent_for(prompt, sent)
        if texts and not any(expected.lower() in t.lower() for t in texts):
            raise Wrong(
                f"the conversation sent to the model for the row with id {row_id} does not name its season "
                f"{expected!r}, so the reply cannot be about it.",
                "Build each row's conversation from that row's own prompt and season "
                "(chat_messages(prompt, season), row by row).",
            )


CALL_HINT = (
    "Build the conversations row by row, each from that row's text and its own season: "
    "`[self.messages(text, season) for text, season in zip(texts, seasons)]`."
)


def _check_call(text, season, prompts) -> None:
    """One call of the check's builder: ``messages(text, season)`` with a row's text and one season, a str."""
    if not (isinstance(text, str) and text in prompts):
        if isinstance(season, str) and season in prompts:
            raise Wrong(
                f"your Enhancer called `messages({_text(text)[:40]!r}, {season[:40]!r}...)`: the row's text comes "
                "first, then its season (the arguments are swapped).",
                "`messages(text, season)` takes the text, then the season, as `chat_messages` does.",
            )
        raise Wrong(
            f"your Enhancer called `messages` with {_text(text)[:80]!r} as the text, not the text of a row of the "
            "batch.",
            CALL_HINT,
        )
    if not isinstance(season, str):
        raise Wrong(
            f"your Enhancer called `messages` for {text[:40]!r}... with a {season['type']} as the season "
            f"({season['text'][:80]}): it takes one row's season, a single str.",
            CALL_HINT,
        )


def _check_calls(seen: dict, ids, prompts) -> None:
    """The check's builder was called for each row, with that row's text and, given ``season_for``, its season."""
    calls = seen["calls"]
    if not calls:
        raise Wrong(
            "your Enhancer never called the `messages` it was given (the check built it with a conversation "
            "builder of its own): the conversations the model got were made some other way.",
            "Keep the `messages` the constructor receives (on `self`) and build each row's conversation with it, "
            "`self.messages(text, season)`, instead of a conversation or a template of your own.",
        )
    for text, season in calls:
        _check_call(text, season, prompts)
    for row_id, prompt in zip(ids, prompts):
        if not any(text == prompt for text, _ in calls):
            raise Wrong(
                f"your Enhancer never called `messages` for the row with id {row_id} ({prompt[:40]!r}...).",
                CALL_HINT,
            )
    if seen["seasons_for"] is None:
        return
    for text, season in calls:
        k = prompts.index(text)
        expected = str(seen["seasons_for"][k])
        if season != expected:
            raise Wrong(
                f"the conversation of the row with id {ids[k]} was built with the season {season!r}, but "
                f"season_for({ids[k]}) is {expected!r}{_positional(season, seen['positional'])}.",
                SEASON_HINT,
            )


def _check_class(Enhancer) -> None:
    if not inspect.isclass(Enhancer):
        raise Wrong(
            f"`Enhancer` is a {type(Enhancer).__name__}, not a class.",
            "Write a class with `__init__(self, model_id, prompt_column, messages)` that loads the model once, and "
            "`__call__(self, batch)` that enhances one batch; Ray then keeps one model per actor.",
        )
    if not any("__call__" in vars(k) for k in Enhancer.__mro__ if k is not object):
        raise Wrong("`Enhancer` has no `__call__` method.", "Ray calls `instance(batch)` for every batch.")


def _probe(Enhancer, ids, prompts, calls: list):
    """Build the class and call it on two batches, recording what goes to the model and (in ``calls``) each call
    of the check's builder; (output, the second batch's output, sent, loads)."""
    from transformers.pipelines.text_generation import TextGenerationPipeline

    try:
        with _recording() as sent, counting(TextGenerationPipeline, "postprocess") as counts:
            instance = construct(
                Enhancer, label="Enhancer(model_id=..., prompt_column=..., messages=...)", hint=CONSTRUCT_HINT,
                model_id=model_for("llm"), prompt_column=PROBE_COLUMN, messages=_logging_messages(calls),
            )  # fmt: skip
            out = _call(instance, _prompt_batch(ids, prompts))
            after_first = counts["load"], counts["processor"]
            again = _call(instance, _prompt_batch(ids, prompts))  # a second batch for the same actor: no new load
    finally:
        _release()
    return out, again, sent, (counts, after_first)


def _check_replies(seen: dict, prompts) -> dict:
    """The batch came back with one model reply per row in the probe column; returns its columns."""
    columns, sent = seen["columns"], seen["sent"]
    if columns is None:
        raise Wrong(
            f"`Enhancer(...)(batch)` returned a {seen['returned']}, not a batch (a dict of columns or a DataFrame).",
            "Put the enhanced prompts into the batch and `return batch`.",
        )
    if PROBE_COLUMN not in columns:
        raise Wrong(
            f"with prompt_column={PROBE_COLUMN!r} the returned batch has no {PROBE_COLUMN!r} column "
            f"(its columns: {sorted(columns)}).",
            "Write the enhanced text back into the column named by `prompt_column`, so the stages after "
            "the Enhancer find it where the prompt was.",
        )
    values = columns[PROBE_COLUMN]
    if len(values) != len(prompts):
        raise Wrong(
            f"for a batch of {len(prompts)} rows the {PROBE_COLUMN!r} column came back with {len(values)} value(s).",
            "Return exactly one enhanced prompt per row of the batch.",
        )
    not_text = [v for v in values if not isinstance(v, str)]
    if not_text:
        raise Wrong(
            f"the {PROBE_COLUMN!r} column should hold one string per row; one value is a "
            f"{not_text[0]['type']}: {str(not_text[0]['text'])[:120]}",
            "The text-generation pipeline returns, per chat, a list of results whose 'generated_text' is "
            "the whole conversation; the reply is the content of its last message.",
        )
    if all(v.strip() == p for v, p in zip(values, prompts)):
        elsewhere = [c for c in columns if c not in (PROBE_COLUMN, "id") and _new_text(columns[c], prompts)]
        raise Wrong(
            f"the {PROBE_COLUMN!r} column came back unchanged: the prompts were not replaced by the "
            "model's output" + (f" (new text went to {elsewhere[0]!r} instead)." if elsewhere else "."),
            "Write the LLM's replies into the column named by `prompt_column` (keep the originals in "
            "another column if you want to compare).",
        )
    for i, value in enumerate(values):
        problem = _reply_problem(value, sent, prompts)
        if problem:
            raise Wrong(f"the enhanced prompt of row {i} {problem}: that is not the model's reply.", REPLY_HINT)
    return columns


def _check_greedy(sampled: list) -> None:
    """Every ``generate`` call decoded greedily: the same text is enhanced the same way on every run."""
    if any(s is not False for s in sampled):
        raise Wrong(
            f"{sum(s is not False for s in sampled)} of the model's {len(sampled)} generate calls sampled: the same "
            "text would be enhanced differently on every run (the LLM's own generation config samples unless told "
            "not to).",
            "Pass `do_sample=False` to the pipeline call, as the lesson does.",
        )


MISSING_MODEL = Path(tempfile.gettempdir()) / "raycourse-lab04-probe" / "no-such-model"


def _try_missing_model(Enhancer, ids, prompts) -> str:
    """What ``Enhancer`` does with a model path that does not exist: the name of the error it raised, or "ran"."""
    try:  # the same call as the probe's, which worked: only the model id differs
        call_as_ray(Enhancer(model_id=str(MISSING_MODEL), prompt_column=PROBE_COLUMN, messages=_probe_messages),
                    _prompt_batch(ids, prompts))  # fmt: skip
    except Exception as exc:  # what a class that really loads `model_id` does with a missing model
        return type(exc).__name__
    finally:
        _release()
    return "ran"


def _check_model_id(outcome) -> None:
    """A model path that does not exist must fail: a class that loads a fixed model runs anyway."""
    if not isinstance(outcome, str) or not outcome:
        raise ValueError(f"the outcome {outcome!r} of the missing model's run")
    if outcome == "ran":
        raise Wrong(
            f"`Enhancer(model_id={str(MISSING_MODEL)!r}, ...)` still worked, although no model exists there: "
            "the class ignores `model_id`.",
            "Load the text-generation pipeline from the `model_id` the constructor receives, not from a "
            "fixed name or `raycourse.model_id(...)` inside the class.",
        )


def _judge_1(seen, seed=None) -> str:
    prompts, candidates = probes(seed)
    ids = [int(i) for i in seen["ids"]]
    if [str(p) for p in seen["prompts"]] != prompts or len(set(ids)) != 2 or not set(ids) <= set(candidates):
        raise Wrong(
            "the check's probe batch is not the one of this check's seed.",
            "Run the check cell as it is, after the cell that defines your Enhancer.",
        )
    columns = _check_replies(seen, prompts)
    sent = seen["sent"]
    _check_messages(sent)
    _check_calls(seen, ids, prompts)
    _check_seasons(columns, ids, prompts, seen, sent)
    if seen["seasons_for"] is not None:  # the same instance, the same rows: the same seasons
        second = seen["second_seasons"]
        _check_seasons({} if second is None else {"season": second}, ids, prompts, seen, [], " in the second batch")
    _check_greedy(seen["sampled"])
    loads = seen["loads"]
    counts = Counter(load=int(loads["end"][0]), processor=int(loads["end"][1]))
    after_first = int(loads["first"][0]), int(loads["first"][1])
    require_loaded_once(counts, after_first, label="Enhancer", batches=1, processor="a tokenizer")
    _check_model_id(seen["missing_model"])
    seasons = ", each with its row's season" if seen["seasons_for"] is not None else ""
    return (
        f"Enhancer read {PROBE_COLUMN!r}, sent the conversations of the `messages` it was given, wrote "
        f"{len(columns[PROBE_COLUMN])} greedy model replies back into it{seasons}, loaded its model once, and "
        "refused a model path that does not exist: all three constructor arguments are honoured."
    )


@exercise("Exercise 1", judge=_judge_1)
def exercise_1(Enhancer, season_for=None, *, seed=None) -> dict:
    """``Enhancer`` takes ``model_id``, ``prompt_column`` and ``messages`` and honours them (see the docstring)."""
    require("Enhancer", Enhancer, "your parameterised Enhancer class")
    _check_class(Enhancer)
    prompts, candidates = probes(seed)
    ids = _probe_ids(candidates, season_for)
    calls: list = []
    out, again, sent, (counts, after_first) = _probe(Enhancer, ids, prompts, calls)
    columns, second = as_columns(out), as_columns(again)
    return {
        "prompts": prompts,
        "ids": list(ids),
        "seasons_for": None if season_for is None else [str(season_for(i)) for i in ids],
        "positional": None if season_for is None else [str(season_for(p)) for p in range(len(ids))],
        "returned": type(out).__name__,
        "columns": None if columns is None else {str(c): [_cell(v) for v in vs] for c, vs in columns.items()},
        "second_seasons": [_cell(v) for v in second["season"]] if second and "season" in second else None,
        "calls": [[_cell(text), _cell(season)] for text, season in calls],
        "sent": _observe_sent(sent),
        "sampled": list(sent.sampled),
        "loads": {"first": list(after_first), "end": [counts["load"], counts["processor"]]},
        "missing_model": _try_missing_model(Enhancer, ids, prompts),
    }
