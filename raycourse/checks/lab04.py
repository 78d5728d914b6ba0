"""Checks for lab 04 (LLM prompt enhancement): a reusable ``Enhancer``, and a pipeline over other data.

The lesson's ``Enhancer`` loads one model, reads one column and builds one kind of conversation, for the animals'
prompts. The lab's pipeline enhances the shop's catalogue instead: product descriptions, in a column ``description``,
which need another instruction (``catalogue_messages``). So the class takes the model, the column and the
conversation builder as constructor arguments (Exercise 1), and the learner routes the columns and chooses the
resources of a two-model pipeline over the catalogue (Exercise 2).

Exercise 1 builds and calls the learner's class itself, the way Ray would (toolkit.construct, call_as_ray), with
arguments the lab never uses, so that a class that only *looks* parameterised fails:

* ``Enhancer(model_id=<the course LLM>, prompt_column="caption", messages=<the check's own builder>)`` on a batch
  with the columns ``id`` and ``caption`` only: a hard-coded ``"prompt"`` column fails by name; conversations not
  made by the given ``messages`` fail because the model never receives the check's own.
* While it runs, the check notes what goes to the model (chats through a chat template, plain-text prompts, and
  whether each ``generate`` call samples): the reply must be the new text only, each row's conversation must name
  that row's ``season_for`` season, which also goes into a ``season`` column, and decoding must be greedy
  (``do_sample=False``: the course's LLM and its stand-in sample by default).
* The same instance gets a second batch: it may load nothing then (the pipeline is loaded once per actor).
* ``Enhancer(model_id=<a path that does not exist>, ...)`` must then fail: the one model id no correct class can load.

Exercise 2 reads the learner's lazy Dataset: its plan (toolkit.stages: the Enhancer stage runs the learner's own
``Enhancer`` class, handed to the check, and gets ``enhancer_model`` and ``catalogue_messages`` as constructor
arguments; the lab's ``ImageGen`` draws after it; each model stage holds a fraction of a GPU, one actor of each
fitting one GPU together, in pools of one actor; no image made before the Enhancer, found by running the part of the
plan in front of it) and a few rows (``take_batch``): in ``prompt``, the column ``ImageGen`` reads, an enhanced
description, its season and an image per row. A pipeline that fails when it runs is a wrong answer with the
learner's own error line.

The stretch reads ``costs``: a lazy Dataset whose ``TokenCounter`` class stage runs in a pool of one actor with no
GPU and loads its tokenizer once (built and called twice under toolkit.counting), and whose ``n_tokens`` are the
lengths of the chats the Enhancer sends.

Each check is in two halves (``raycourse.checks.Exercise``): ``exercise_N`` observes and returns plain data, and
``_judge_N`` decides from it alone (in the grader's process when a notebook is graded). Exercise 1's probe batch
(its two texts and row ids) comes from a seed chosen when the check runs (:func:`probes`); it observes the returned
batch's cells, what went to the model (the chats' roles and texts, plain prompts), whether each ``generate`` call
sampled, the loads counted after the constructor and at the end, the seasons ``season_for`` gives the probe rows, and
the error (or none) of a class built with a missing model. Exercise 2 observes its plan's stages as data
(:class:`_Stage`: GPUs, pools, whether a stage runs the learner's ``Enhancer``, the names of the builders it is given
and whether one is ``catalogue_messages``, the texts it is given), the image columns found in front of the Enhancer,
the learner's GPUs, and a few rows (texts, each image's type, shape and pixel type). The stretch observes its plan,
each row's description, ``n_tokens`` and the chat ``catalogue_messages`` makes for it, and the tokenizer's loads; the
judge counts each chat's tokens itself, with the course LLM's tokenizer. Where a plan is not what the lab asks for,
the observer stops there (Wrong) rather than run it: a GPU stage the cluster cannot place waits forever.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import numbers
import random
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ._core import Wrong, exercise, progress_of, require
from .toolkit import (
    pool_size_of,
    as_columns,
    as_text,
    call_as_ray,
    construct,
    counting,
    error_line,
    model_for,
    require_dataset,
    require_loaded_once,
    stages,
)

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

PROBE_COLUMN = "caption"
PROBE_MARKER = "Probe instruction from the check"
IMAGE_COLUMN = "prompt"  # the column the lab's ImageGen reads
IMAGE_STAGE = "ImageGen"  # the lab's image stage
TEXT_COLUMN = "description"  # the catalogue's column
PRODUCT_PHOTO = "A product photo of a "
PROBE_POOL = (  # the probe batch's two texts are drawn from these, by the seed
    "A cinematic photo of a raccoon wearing a yellow raincoat",
    "A watercolor painting of a red fox wearing a traditional Italian priest robe",
    "An oil painting of a barn owl wearing a tiny knitted scarf",
    "A pencil sketch of a hedgehog wearing a striped sailor shirt",
    "A studio photo of a golden retriever wearing a red bandana",
    "A 3D render of a penguin wearing a blue bow tie",
)
MAPPER_DOCS = "https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html"
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
    """Two row ids of ``candidates``; with ``season_for``, two whose seasons differ (so one season for all rows
    shows)."""
    first = candidates[0]
    if season_for is None:
        return first, candidates[1]
    season = season_for(first)
    return first, next((other for other in candidates[1:] if season_for(other) != season), candidates[1])


def _probe_messages(prompt, season):
    """The check's own conversation builder: the class must send what this returns, for each row."""
    return [
        {"role": "system", "content": f"{PROBE_MARKER}: add two touches of {season}. One sentence."},
        {"role": "user", "content": prompt},
    ]


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


class _Sent(list):
    """What went to the model: [("chat", messages) or ("text", prompt)], and ``sampled``: per ``generate`` call,
    whether it sampled (``do_sample`` as passed, else the generation config's: Qwen's and its stand-in's sample)."""

    def __init__(self):
        super().__init__()
        self.sampled: list[bool] = []


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

    def note_chats(conversation):
        chats = conversation if conversation and isinstance(conversation[0], (list, tuple)) else [conversation]
        for chat in chats:
            messages = [m for m in chat if isinstance(m, Mapping)]
            if messages:
                sent.append(("chat", messages))

    def recording_template(self, conversation, *args, **kwargs):
        with contextlib.suppress(Exception):
            note_chats(list(conversation))
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


def _missing_column(exc: KeyError, batch) -> Wrong:
    key = exc.args[0] if exc.args else exc
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


def _check_seasons(columns: dict, ids, prompts, seasons_for, sent: list) -> None:
    """Every row has its own season in a `season` column and in the conversation sent for it (``seasons_for``:
    what the lab's ``season_for`` gives for each row id, or None when the check was not given it)."""
    if "season" not in columns:
        raise Wrong(
            f"the returned batch has no 'season' column (its columns: {sorted(columns)}).",
            "Keep the season of each row beside the enhanced prompt, as the lesson's Enhancer does: "
            '`batch["season"]`, one season per row.',
        )
    seasons = [_text(s) for s in columns["season"]]
    if len(seasons) != len(ids):
        raise Wrong(
            f"the 'season' column came back with {len(seasons)} value(s) for {len(ids)} rows.",
            "Store one season per row of the batch.",
        )
    if seasons_for is None:
        return
    for row_id, prompt, season, expected in zip(ids, prompts, seasons, seasons_for, strict=True):
        expected = str(expected)
        if season != expected:
            raise Wrong(
                f"the row with id {row_id} came back with the season {season!r}, but season_for({row_id}) "
                f"is {expected!r}.",
                "Give every row its own season: season_for(row id), for each id of the batch.",
            )
        texts = _sent_for(prompt, sent)
        if texts and not any(expected.lower() in t.lower() for t in texts):
            raise Wrong(
                f"the conversation sent to the model for the row with id {row_id} does not name its season "
                f"{expected!r}, so the reply cannot be about it.",
                "Build each row's conversation from that row's own prompt and season "
                "(chat_messages(prompt, season), row by row).",
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


def _probe(Enhancer, ids, prompts):
    """Build the class and call it on two batches, recording what goes to the model; (output, sent, loads)."""
    from transformers.pipelines.text_generation import TextGenerationPipeline

    try:
        with _recording() as sent, counting(TextGenerationPipeline, "postprocess") as counts:
            instance = construct(
                Enhancer, label="Enhancer(model_id=..., prompt_column=..., messages=...)", hint=CONSTRUCT_HINT,
                model_id=model_for("llm"), prompt_column=PROBE_COLUMN, messages=_probe_messages,
            )  # fmt: skip
            out = _call(instance, _prompt_batch(ids, prompts))
            after_first = counts["load"], counts["processor"]
            _call(instance, _prompt_batch(ids, prompts))  # a second batch for the same actor: nothing to load again
    finally:
        _release()
    return out, sent, (counts, after_first)


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
    if [str(p) for p in seen["prompts"]] != prompts or ids[0] != candidates[0] or ids[1] not in candidates[1:]:
        raise Wrong(
            "the check's probe batch is not the one of this check's seed.",
            "Run the check cell as it is, after the cell that defines your Enhancer.",
        )
    columns = _check_replies(seen, prompts)
    sent = seen["sent"]
    _check_messages(sent)
    _check_seasons(columns, ids, prompts, seen["seasons_for"], sent)
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
    out, sent, (counts, after_first) = _probe(Enhancer, ids, prompts)
    columns = as_columns(out)
    return {
        "prompts": prompts,
        "ids": list(ids),
        "seasons_for": None if season_for is None else [str(season_for(i)) for i in ids],
        "returned": type(out).__name__,
        "columns": None if columns is None else {str(c): [_cell(v) for v in vs] for c, vs in columns.items()},
        "sent": _observe_sent(sent),
        "sampled": list(sent.sampled),
        "loads": {"first": list(after_first), "end": [counts["load"], counts["processor"]]},
        "missing_model": _try_missing_model(Enhancer, ids, prompts),
    }


# Exercise 2 -------------------------------------------------------------------------------------------


def _image_columns(batch) -> list[str]:
    """Columns of a batch that hold images: arrays of at least 2 dimensions per row."""
    import numpy as np

    found = []
    for name, values in batch.items():
        try:
            first = np.asarray(values[0])
        except Exception:
            continue
        if first.dtype != object and first.ndim >= 2:
            found.append(str(name))
    return found


def _images_before(ds, stage) -> dict | None:
    """The image columns already present in the rows that reach ``stage``, and the last stage that ran before it
    (``{"columns": [...], "drawn_by": name or None}``), or None.

    Runs the part of the plan in front of ``stage`` for one row: in a correct pipeline
    that is only the prompts (cheap); in a wrong one, it finds images whatever the stage
    that drew them is called, a class or a function.
    """
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    inputs = getattr(stage.op, "input_dependencies", None) or []
    if len(inputs) != 1:
        return None
    try:
        before = ray.data.Dataset._from_parent(ds, LogicalPlan(inputs[0], ds.context))
        batch = before.take_batch(1)
    except Exception:  # an internal API, or a plan that cannot run in parts: the row checks remain
        return None
    columns = _image_columns(batch)
    if not columns:
        return None
    drawn_by = stages(before)
    return {"columns": columns, "drawn_by": drawn_by[-1].name if drawn_by else None}


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


def _check_yours(enhancers: list[_Stage], Enhancer: dict) -> _Stage:
    """The stage given constructor arguments runs the class the learner handed the check (their Enhancer)."""
    if Enhancer["is_class"] is not True:
        raise Wrong(
            "the check got no `Enhancer` class.",
            "Run the check cell as given: check.exercise_2(catalogue_images, catalogue_messages, enhancer_model, "
            "Enhancer).",
        )
    mine = [s for s in enhancers if s.yours]
    if not mine:
        ran = ", ".join(f"`{s.qualname}`" for s in enhancers)
        older = (
            " (an older definition, from before you ran its cell again)" if ran == f"`{Enhancer['qualname']}`" else ""
        )
        raise Wrong(
            f"the stage given constructor arguments runs {ran}{older}, not your `{Enhancer['qualname']}`.",
            "Pass your own Enhancer of Exercise 1 to map_batches, then build catalogue_images again: "
            ".map_batches(Enhancer, fn_constructor_kwargs={...}, ...).",
        )
    return mine[0]


def _check_enhancer(plan: list[_Stage], seen: dict) -> _Stage:
    """The class stage that gets constructor arguments: the learner's Enhancer, given the model and the messages
    handed to the check (``seen``: the observation)."""
    enhancers = [s for s in plan if s.is_class and s.has_args]
    if not enhancers:
        names = ", ".join(s.name for s in plan if s.is_class) or "none"
        raise Wrong(
            f"no class stage gets constructor arguments (class stages: {names}), so no Enhancer can know the "
            "model, the column or the conversation.",
            f"`map_batches` passes `fn_constructor_kwargs={{...}}` to the class's `__init__`: see {MAPPER_DOCS}",
        )
    stage = _check_yours(enhancers, seen["enhancer"])
    if seen["messages"] is not False and not any(given for _, given in stage.builders):
        named = ", ".join(f"`{name}`" for name, _ in stage.builders) or "none"
        animals = (
            " (the animals' conversation keeps an animal wearing its clothing)" if "chat_messages" in named else ""
        )
        raise Wrong(
            f"{stage.name} gets the conversation builder(s) {named}, not `catalogue_messages`{animals}.",
            "Pass `catalogue_messages` as the `messages` argument, with the model and the column.",
        )
    model = str(seen["model"])
    if model not in stage.texts:
        raise Wrong(
            f"{stage.name} is not given `enhancer_model` ({model!r}) among its constructor arguments.",
            "Pass `enhancer_model` as the `model_id` argument: the pipeline chooses the model, not the class.",
        )
    return stage


def _check_order(early: dict | None, enhancer: _Stage) -> None:
    """``early``: :func:`_images_before` of the Enhancer's stage."""
    if early:
        columns, drawn_by = [str(c) for c in early["columns"]], early["drawn_by"]
        who = f"{drawn_by} draws" if drawn_by is not None else "the rows already hold"
        raise Wrong(
            f"{who} the images (column {columns[0]!r}) before {enhancer.name} runs, so they are drawn from "
            "the original descriptions, not the enhanced ones.",
            "The order of the `map_batches` calls is the order of the stages: enhance first, then draw.",
        )


def _check_image_stage(plan: list[_Stage], enhancer: _Stage) -> _Stage:
    after = plan[plan.index(enhancer) + 1 :]
    drawer = next((s for s in after if s.is_class and s.name == IMAGE_STAGE), None)
    if drawer is None:
        raise Wrong(
            f"no `{IMAGE_STAGE}` stage runs after {enhancer.name} (stages after it: "
            f"{', '.join(s.name for s in after) or 'none'}).",
            f"Chain `.map_batches({IMAGE_STAGE}, ...)`, the lab's class as it is, after the Enhancer.",
        )
    return drawer


def _check_gpu_shares(models: list[_Stage], gpus) -> None:
    """Each model stage holds a fraction of a GPU, one actor of each fitting one GPU together, in a pool of one.
    ``gpus``: the learner's GPUs (the cluster's within the budget), as observed."""
    if int(gpus) <= 0:
        return
    for stage in models:
        if not 0 < stage.num_gpus < 1:
            raise Wrong(
                f"{stage.name} asks for num_gpus={stage.num_gpus:g}: the lab asks for a fraction of a GPU for "
                "each model" + (" (with none, it runs on the CPU)." if not stage.num_gpus else "."),
                "Give each model stage a share of one GPU with `num_gpus=`, as the lesson does.",
            )
        if stage.pool_size != (1, 1):
            raise Wrong(
                f"the pool of {stage.name} has {stage.pool_size} (min, max) actors; the lab asks for one actor "
                "per stage (five products need no more, and one of each fits any cluster from one GPU up).",
                "Use `compute=ray.data.ActorPoolStrategy(size=1)` for each model stage, not the lesson's GPUS.",
            )
    if sum(s.num_gpus for s in models) > 1 + 1e-9:
        asked = " + ".join(f"{s.name} {s.num_gpus:g}" for s in models)
        raise Wrong(
            f"one actor of each stage asks for {asked} = {sum(s.num_gpus for s in models):g} GPUs: the models "
            "cannot share a GPU, and on a one-GPU machine a stage would wait for its GPU forever, with no error.",
            "Give each stage a fraction of a GPU, so that one actor of each fits on one GPU together.",
        )


def _take(ds, rows: int) -> dict:
    no_rows = Wrong("`catalogue_images` yields no rows.", "Start from the lab's `catalogue` and keep its rows.")
    try:
        batch = ds.take_batch(rows)
    except Exception as exc:  # the learner's pipeline fails when it runs (Ray: "The dataset is empty." when empty)
        if isinstance(exc, ValueError) and "empty" in str(exc):
            raise no_rows from None
        raise Wrong(f"running `catalogue_images` failed: {error_line(exc)}", RUN_HINT) from None
    if not batch or not len(next(iter(batch.values()))):
        raise no_rows
    return batch


def _observe_rows(batch) -> dict:
    """A few rows as plain data: their columns, the texts ImageGen drew from, and each image's type, shape and
    pixel type."""
    import numpy as np

    seen = {"columns": sorted(str(c) for c in batch)}
    if IMAGE_COLUMN in batch:
        seen["prompts"] = [_cell(p) for p in batch[IMAGE_COLUMN]]
    if "image" in batch:
        images = []
        for image in batch["image"]:
            arr = np.asarray(image)
            images.append({"type": type(image).__name__, "shape": [int(n) for n in arr.shape], "dtype": str(arr.dtype)})
        seen["images"] = images
    return seen


def _check_rows(batch: dict) -> int:
    columns = list(batch["columns"])
    for column, hint in (
        ("image", f"Chain the {IMAGE_STAGE} stage after the Enhancer in the same pipeline."),
        (IMAGE_COLUMN, f"{IMAGE_STAGE} draws what the `prompt` column holds: the enhanced description must be there."),
        ("season", "Use the Enhancer of Exercise 1, which keeps each row's season beside its enhanced text."),
    ):
        if column not in columns:
            raise Wrong(f"the rows have no {column!r} column (they have {columns}).", hint)
    prompts = list(batch["prompts"])
    n = len(prompts)
    if not n:
        raise Wrong("`catalogue_images` yields no rows.", "Start from the lab's `catalogue` and keep its rows.")
    if not all(isinstance(p, str) for p in prompts):
        first = next(p for p in prompts if not isinstance(p, str))
        raise Wrong(
            f"the {IMAGE_COLUMN!r} column should hold text; found a {first['type']}.",
            "The Enhancer should store one string per row.",
        )
    unchanged = [p for p in prompts if p in _originals()]
    if unchanged:
        raise Wrong(
            f"{len(unchanged)} of {n} rows have an unenhanced text in {IMAGE_COLUMN!r}, e.g. {unchanged[0]!r}: "
            f"that is what {IMAGE_STAGE} drew.",
            f"{IMAGE_STAGE} reads `prompt`: the Enhancer's output must be there when it runs, whichever column "
            "the Enhancer works on.",
        )
    images = batch["images"]
    if len(images) != n:
        raise ValueError(f"{len(images)} images observed for {n} rows")
    for i, image in enumerate(images):
        shape = tuple(int(d) for d in image["shape"])
        if image["dtype"] != "uint8" or len(shape) != 3 or shape[-1] != 3:
            raise Wrong(
                f"row {i}: the image is {image['type']} of shape {shape} and dtype "
                f"{image['dtype']}, not a (height, width, 3) uint8 array.",
                f"Keep the lab's {IMAGE_STAGE} stage as it is: it stores each image as a NumPy uint8 array.",
            )
    return n


def _check_plan(seen: dict, plan: list[_Stage]) -> tuple[_Stage, _Stage]:
    """The checks of the plan, in the order the text asks: the Enhancer, the order of the stages (its
    ``before``: what runs in front of it), ImageGen after it, the GPU shares. Returns (Enhancer, ImageGen)."""
    if not plan:
        raise Wrong("`catalogue_images` shows no stages: it was run already (take/materialize).", DATASET_HINT)
    enhancer = _check_enhancer(plan, seen)
    _check_order(seen["before"], enhancer)
    drawer = _check_image_stage(plan, enhancer)
    _check_gpu_shares([enhancer, drawer], seen["gpus"])
    return enhancer, drawer


def _judge_2(seen, seed=None) -> str:
    enhancer, drawer = _check_plan(seen, _plan(seen["plan"]))
    n = _check_rows(seen["rows"])
    return (
        f"{enhancer.name} ({enhancer.num_gpus:g} GPU) then {drawer.name} ({drawer.num_gpus:g} GPU), one actor "
        f"each; {n} rows, each with an enhanced {IMAGE_COLUMN!r}, its season and an RGB image."
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(catalogue_images, messages=None, model=None, Enhancer=None, rows: int = 3) -> dict:
    """``catalogue_images``: the catalogue enhanced by the learner's ``Enhancer`` (``model``, ``messages``), then
    drawn by ImageGen, each model on a share of a GPU in a pool of one actor; checked through its plan and a few
    rows."""
    from raycourse import room

    require("catalogue_images", catalogue_images, "the Dataset of your Enhancer + ImageGen pipeline")
    require_dataset("catalogue_images", catalogue_images, DATASET_HINT)
    real = stages(catalogue_images)
    seen = {
        "plan": [_Stage.observe(i, s, messages, Enhancer) for i, s in enumerate(real)],
        "enhancer": {
            "is_class": inspect.isclass(Enhancer),
            "qualname": str(getattr(Enhancer, "__qualname__", type(Enhancer).__name__)),
        },
        "messages": messages is not None,
        "model": str(model or model_for("llm")),
        "gpus": room.learner_gpus(),
    }
    plan = _plan(seen["plan"])
    # the plan's checks run here too, before anything runs: a pipeline the lab does not ask for may wait forever
    if plan:
        seen["before"] = _images_before(catalogue_images, real[_check_enhancer(plan, seen).index])
    _check_plan(seen, plan)
    seen["rows"] = _observe_rows(_take(catalogue_images, rows))
    return seen


DATASET_HINT = (
    "Chain `.map_batches(...)` calls on the catalogue and assign the resulting Dataset, lazy: "
    "without take, take_batch or materialize, so that the check can read its stages."
)
RUN_HINT = (
    "Run `catalogue_images.take_batch(2)` in a cell of its own to see the whole error. Which column holds "
    "the catalogue's text when the Enhancer runs, and which one does ImageGen read?"
)


# Stretch ---------------------------------------------------------------------------------------------


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
