"""Checks for lab 04 (LLM prompt enhancement): a reusable ``Enhancer``, and a pipeline over other data.

The lesson's ``Enhancer`` loads one model, reads one column and builds one kind of conversation,
for the animals' prompts. The lab's pipeline enhances the shop's catalogue instead: product
descriptions, in a column ``description``, which need another instruction
(``catalogue_messages``). So the class takes the model, the column and the conversation
builder as constructor arguments (Exercise 1), and the learner routes the columns and chooses
the resources of a two-model pipeline over the catalogue (Exercise 2).

Exercise 1 calls the learner's class itself, the way Ray would, with arguments the
lab never uses, so that a class that only *looks* parameterised fails:

* ``Enhancer(model_id=<the course LLM>, prompt_column="caption", messages=<the check's own
  builder>)`` is called on a batch with the columns ``id`` and ``caption`` only (no ``prompt``).
  A class that reads or writes a hard-coded ``"prompt"`` column fails here, by name; one that
  builds its conversations without the ``messages`` it was given (the lab's ``chat_messages``)
  fails because the model never receives the check's conversations. The
  batch is a dict of NumPy arrays, as Ray hands it by default; a class written for
  ``batch_format="pandas"`` gets the same batch as a DataFrame when the dict fails,
  and may return a dict, a DataFrame or a pyarrow Table, as Ray accepts all three.
* While the class runs, the check notes what it sends to the model (every chat
  that goes through a tokenizer's chat template, every plain-text prompt given to a
  text-generation pipeline). The model's reply is then the new text only: a value
  that contains the system message, a printed conversation or the whole text sent
  is a wrong pick from the pipeline's output. What the model writes depends on the
  model (the tiny stand-in follows the course's rule, the real one words freely), so
  these properties are what the check can verify in both profiles.
* Given ``season_for`` (the lab's function), each row must come back with its own
  season in a ``season`` column, and the conversation sent for that row must name
  that season. The probe rows are chosen to have different seasons, so one season
  for the whole batch shows.
* ``Enhancer(model_id=<a path that does not exist>, prompt_column="caption", messages=...)``
  must then fail. A missing path is the one model id that no correct class can
  load, so an error proves the class loads what it is given, whatever it calls its
  attributes or however it loads the model. A class that ignores ``model_id`` (and
  loads a fixed model) runs without error and is rejected. The first probe ran the
  same batch successfully, so the error cannot come from the column or the batch.

Exercise 2 looks at the learner's dataset: its plan (a GPU for the models, shares with which
one actor of each stage fits on one GPU, so that the two share it as in the lesson; pools the
cluster can hold; a class stage that gets constructor arguments, among them a conversation
builder other than the animals' ``chat_messages``; no image made before it, found by running the
part of the plan in front of that stage, whatever the image stage is called) and a few rows
(``take_batch``): in ``prompt``, the column the image stage reads, an enhanced description, not
one of the catalogue's own; its season; and an image array per row. A pipeline that fails when
it runs (a column that is not there) is a wrong answer with the learner's own error.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ._core import Wrong, exercise, progress_of, require
from .toolkit import as_columns, as_text, class_stages as _class_stages, plan_ops as _plan_ops

progress = progress_of(__name__)  # the last cell of the lab: check.progress()

PROBE_COLUMN = "caption"
PROBE_MARKER = "Probe instruction from the check"
IMAGE_COLUMN = "prompt"  # the column the lab's ImageGen reads
TEXT_COLUMN = "description"  # the catalogue's column
PRODUCT_PHOTO = "A product photo of a "
PROBE_PROMPTS = (
    "A cinematic photo of a raccoon wearing a yellow raincoat",
    "A watercolor painting of a red fox wearing a traditional Italian priest robe",
)
PROBE_IDS = (1, 2)
MAPPER_DOCS = "https://docs.ray.io/en/latest/data/api/doc/ray.data.Dataset.map_batches.html"
REPLY_HINT = (
    "For each conversation the text-generation pipeline returns the whole conversation with the "
    "model's reply appended as its last message: keep only the content of that last message."
)


def _probe_ids(season_for) -> tuple[int, int]:
    """Two row ids; with ``season_for``, two whose seasons differ (so one season for all rows shows)."""
    if season_for is None:
        return PROBE_IDS
    first = season_for(PROBE_IDS[0])
    for other in range(PROBE_IDS[1], PROBE_IDS[1] + 100):
        if season_for(other) != first:
            return PROBE_IDS[0], other
    return PROBE_IDS


def _probe_messages(prompt, season):
    """The check's own conversation builder: the class must send what this returns, for each row."""
    return [
        {"role": "system", "content": f"{PROBE_MARKER}: add two touches of {season}. One sentence."},
        {"role": "user", "content": prompt},
    ]


def _prompt_batch(ids=PROBE_IDS) -> dict:
    """A batch as Ray hands it to a class: NumPy arrays, strings as an object array."""
    import numpy as np

    return {"id": np.array(ids, dtype=np.int64), PROBE_COLUMN: np.array(PROBE_PROMPTS, dtype=object)}


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
    """Note what goes to the model while the block runs: [("chat", messages) or ("text", prompt)]."""
    sent: list = []
    try:
        from transformers import PreTrainedTokenizerBase
        from transformers.pipelines.text_generation import TextGenerationPipeline
    except ImportError:  # pragma: no cover - transformers is a course dependency
        yield sent
        return
    template, preprocess = PreTrainedTokenizerBase.apply_chat_template, TextGenerationPipeline.preprocess

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
    try:
        yield sent
    finally:
        PreTrainedTokenizerBase.apply_chat_template = template
        TextGenerationPipeline.preprocess = preprocess


def _construct(cls, model_id: str):
    try:
        return cls(model_id=model_id, prompt_column=PROBE_COLUMN, messages=_probe_messages)
    except TypeError as exc:
        if "argument" in str(exc):  # unexpected/missing keyword argument
            raise Wrong(
                f"`Enhancer(model_id=..., prompt_column=..., messages=...)` failed: {exc}",
                "`fn_constructor_kwargs` passes its keys as keyword arguments to `__init__`; the lab's "
                "pipeline uses the keys `model_id`, `prompt_column` and `messages`, so `__init__` needs "
                "parameters with those names.",
            ) from None
        raise


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
    """``instance(batch)`` as Ray would call it: a dict of NumPy arrays, else (batch_format="pandas") a DataFrame.

    Returns (output, the format that worked).
    """
    import pandas as pd

    try:
        return instance(dict(batch)), "numpy"
    except KeyError as exc:
        raise _missing_column(exc, batch) from None
    except Exception as numpy_error:
        try:
            return instance(pd.DataFrame(batch)), "pandas"
        except KeyError as exc:
            raise _missing_column(exc, batch) from None
        except Exception:
            raise numpy_error from None


def _batch_format_input(batch: dict, fmt: str):
    import pandas as pd

    return pd.DataFrame(batch) if fmt == "pandas" else dict(batch)


def _new_text(values) -> bool:
    """A column of one string per probe row, other than the probe prompts."""
    return (
        len(values) == len(PROBE_PROMPTS)
        and all(isinstance(v, str) for v in values)
        and any(v.strip() not in PROBE_PROMPTS for v in values)
    )


def _reply_problem(value: str, sent: list) -> str | None:
    """What shows that ``value`` is not the model's reply alone, or None."""
    for kind, item in sent:
        if kind == "chat":
            for message in item:
                content = as_text(message.get("content", "")).strip()
                if message.get("role") == "system" and len(content) >= 20 and content in value:
                    return f"contains the system message sent to the model ({content[:60]!r}...)"
        elif len(item.strip()) >= 20 and item.strip() not in PROBE_PROMPTS and item.strip() in value:
            return f"contains the whole text sent to the model ({item.strip()[:60]!r}...)"
    if ("'role'" in value or '"role"' in value) and ("'content'" in value or '"content"' in value):
        return "is a whole conversation written out as text (it has 'role' and 'content' keys)"
    return None


def _sent_for(prompt: str, sent: list) -> list[str]:
    """The texts of what was sent to the model for one prompt (chats as the text of all their messages)."""
    texts = []
    for kind, item in sent:
        text = " ".join(as_text(m.get("content", "")) for m in item) if kind == "chat" else item
        if prompt in text:
            texts.append(text)
    return texts


def _check_messages(sent: list) -> None:
    """Every conversation the class sent was built by the ``messages`` it was given (the check's builder)."""
    if not sent:
        return  # nothing recorded (another way to reach the model): the other properties still hold
    own = [
        item
        for kind, item in sent
        if (kind == "text" and PROBE_MARKER not in item)
        or (kind == "chat" and not any(PROBE_MARKER in as_text(m.get("content", "")) for m in item))
    ]
    if own:
        kind = "plain text" if isinstance(own[0], str) else "conversations"
        raise Wrong(
            f"the check built Enhancer with a `messages` function of its own, but the model received {kind} "
            "that function did not make: your class builds them some other way.",
            "Keep the `messages` the constructor receives (on `self`) and call it for each row, "
            "`self.messages(prompt, season)`, instead of a fixed function such as `chat_messages`.",
        )


def _check_seasons(columns: dict, ids, season_for, sent: list) -> None:
    """Every row has its own season in a `season` column and in the conversation sent for it."""
    if "season" not in columns:
        raise Wrong(
            f"the returned batch has no 'season' column (its columns: {sorted(columns)}).",
            "Keep the season of each row beside the enhanced prompt, as the lesson's Enhancer does: "
            '`batch["season"]`, one season per row.',
        )
    seasons = [str(s) for s in columns["season"]]
    if len(seasons) != len(ids):
        raise Wrong(
            f"the 'season' column came back with {len(seasons)} value(s) for {len(ids)} rows.",
            "Store one season per row of the batch.",
        )
    if season_for is None:
        return
    for row_id, prompt, season in zip(ids, PROBE_PROMPTS, seasons):
        expected = str(season_for(int(row_id)))
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


@exercise("Exercise 1")
def exercise_1(Enhancer, season_for=None) -> str:
    """``Enhancer`` takes ``model_id`` and ``prompt_column`` and honours both (see the module docstring)."""
    require("Enhancer", Enhancer, "your parameterised Enhancer class")
    if not inspect.isclass(Enhancer):
        raise Wrong(
            f"`Enhancer` is a {type(Enhancer).__name__}, not a class.",
            "Write a class with `__init__(self, model_id, prompt_column)` that loads the model once, and "
            "`__call__(self, batch)` that enhances one batch; Ray then keeps one model per actor.",
        )
    if not any("__call__" in vars(k) for k in Enhancer.__mro__ if k is not object):
        raise Wrong("`Enhancer` has no `__call__` method.", "Ray calls `instance(batch)` for every batch.")
    import raycourse

    ids = _probe_ids(season_for)
    try:
        with _recording() as sent:
            out, fmt = _call(_construct(Enhancer, raycourse.model_id("llm")), _prompt_batch(ids))
    finally:
        _release()
    columns = as_columns(out)
    if columns is None:
        raise Wrong(
            f"`Enhancer(...)(batch)` returned a {type(out).__name__}, not a batch (a dict of columns or a DataFrame).",
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
    if len(values) != len(PROBE_PROMPTS):
        raise Wrong(
            f"for a batch of {len(PROBE_PROMPTS)} rows the {PROBE_COLUMN!r} column came back with "
            f"{len(values)} value(s).",
            "Return exactly one enhanced prompt per row of the batch.",
        )
    not_text = [v for v in values if not isinstance(v, str)]
    if not_text:
        raise Wrong(
            f"the {PROBE_COLUMN!r} column should hold one string per row; one value is a "
            f"{type(not_text[0]).__name__}: {str(not_text[0])[:120]}",
            "The text-generation pipeline returns, per chat, a list of results whose 'generated_text' is "
            "the whole conversation; the reply is the content of its last message.",
        )
    if all(v.strip() == p for v, p in zip(values, PROBE_PROMPTS)):
        elsewhere = [c for c in columns if c not in (PROBE_COLUMN, "id") and _new_text(columns[c])]
        raise Wrong(
            f"the {PROBE_COLUMN!r} column came back unchanged: the prompts were not replaced by the "
            "model's output" + (f" (new text went to {elsewhere[0]!r} instead)." if elsewhere else "."),
            "Write the LLM's replies into the column named by `prompt_column` (keep the originals in "
            "another column if you want to compare).",
        )
    for i, value in enumerate(values):
        problem = _reply_problem(value, sent)
        if problem:
            raise Wrong(f"the enhanced prompt of row {i} {problem}: that is not the model's reply.", REPLY_HINT)
    _check_messages(sent)
    _check_seasons(columns, ids, season_for, sent)

    missing = Path(tempfile.gettempdir()) / "raycourse-lab04-probe" / "no-such-model"
    try:  # the same call as above, which worked: only the model id differs
        Enhancer(model_id=str(missing), prompt_column=PROBE_COLUMN, messages=_probe_messages)(
            _batch_format_input(_prompt_batch(ids), fmt)
        )
    except Exception:  # what a class that really loads `model_id` does with a missing model
        pass
    else:
        raise Wrong(
            f"`Enhancer(model_id={str(missing)!r}, ...)` still worked, although no model exists there: "
            "the class ignores `model_id`.",
            "Load the text-generation pipeline from the `model_id` the constructor receives, not from a "
            "fixed name or `raycourse.model_id(...)` inside the class.",
        )
    finally:
        _release()
    seasons = ", each with its row's season" if season_for is not None else ""
    return (
        f"Enhancer read {PROBE_COLUMN!r}, sent the conversations of the `messages` it was given, wrote "
        f"{len(values)} model replies back into it{seasons}, and refused a model path that does not exist: "
        "all three constructor arguments are honoured."
    )


def _stage_name(op) -> str:
    fn = getattr(op, "fn", None)
    return getattr(fn, "__name__", None) or getattr(op, "name", type(op).__name__)


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


def _images_before(ds, stage):
    """(image columns, stage) already present in the rows that reach ``stage``, or None.

    Runs the part of the plan in front of ``stage`` for one row: in a correct pipeline
    that is only the prompts (cheap); in a wrong one, it finds images whatever the stage
    that drew them is called, a class or a function.
    """
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    inputs = getattr(stage, "input_dependencies", None) or []
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
    drawn_by = next((op for op in reversed(_plan_ops(before)) if getattr(op, "fn", None) is not None), None)
    return columns, drawn_by


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


def _check_gpu_pools(stages) -> None:
    """Wrong when no stage asks for a GPU, when one actor of each GPU stage does not fit on one GPU (the models
    cannot share it, as the lesson's do), or when the pools ask for more than the cluster's GPUs can hold: their
    extra actors would wait for a GPU forever, with no error. Two conditions that any placement needs (so no pool
    that fits is refused): the shares add up to at most the cluster's GPUs, and no two actors of more than half a
    GPU share one."""
    from ray.data import ActorPoolStrategy

    from raycourse import room

    gpus = float(room.learner_gpus())
    pools = [
        (op.fn.__name__, int(op.compute.min_size or 1), float((op.ray_remote_args or {}).get("num_gpus") or 0))
        for op in stages
        if isinstance(op.compute, ActorPoolStrategy)
    ]
    pools = [(name, actors, share) for name, actors, share in pools if share > 0]
    if gpus <= 0:
        return
    if not pools:
        raise Wrong(
            "no stage of the pipeline asks for a GPU: on a GPU cluster both models would run on the CPU.",
            "Give each model stage a share of a GPU with `num_gpus=`, as the lesson does.",
        )
    one_each = sum(share for _, _, share in pools)
    if one_each > 1 + 1e-9:
        asked = " + ".join(f"{name} {share:g}" for name, _, share in pools)
        raise Wrong(
            f"one actor of each stage asks for {asked} = {one_each:g} GPUs: the models cannot share a GPU, "
            "and on a one-GPU machine a stage would wait for its GPU forever, with no error.",
            "Give each stage a fraction of a GPU, so that one actor of each fits on one GPU together.",
        )
    total = sum(actors * share for _, actors, share in pools)
    large = sum(actors for _, actors, share in pools if share > 0.5)
    if total > gpus + 1e-9 or large > gpus:
        asked = " + ".join(f"{actors} {name} x {share:g}" for name, actors, share in pools)
        raise Wrong(
            f"the pools ask for {asked} GPUs, more than {room.budget_words(int(gpus))} can hold: the "
            "extra actors would wait for a GPU forever, with no error.",
            "One actor per stage fits any cluster; at most one per GPU, counted with "
            'min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget()).',
        )


def _builders(op) -> list:
    """The functions given to a class stage's constructor (by keyword or by position)."""
    values = list((op.fn_constructor_kwargs or {}).values()) + list(op.fn_constructor_args or ())
    return [v for v in values if callable(v) and not isinstance(v, type)]


_RUN_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")


def _run_error(exc: Exception) -> str:
    """The learner's own error (``KeyError: 'prompt'``) out of the Ray exception that wraps it."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    own = [
        m
        for m in (_RUN_ERROR.match(line.strip()) for line in text.splitlines())
        if m and not m.group(1).startswith("ray.")
    ]
    if own:
        return f"{own[-1].group(1)}: {own[-1].group(2)[:200]}"
    return f"{type(exc).__name__}: {text.strip().splitlines()[-1][:200] if text.strip() else ''}"


@exercise("Exercise 2")
def exercise_2(catalogue_images, messages=None, rows: int = 3) -> str:
    """``catalogue_images`` yields rows whose ``prompt`` (what ImageGen drew) is an enhanced description, with its
    season and an HxWx3 uint8 image."""
    require("catalogue_images", catalogue_images, "the Dataset of your Enhancer + ImageGen pipeline")
    import numpy as np
    import ray.data

    if not isinstance(catalogue_images, ray.data.Dataset):
        raise Wrong(
            f"`catalogue_images` is a {type(catalogue_images).__name__}, not a Ray Dataset.",
            "Chain `.map_batches(...)` calls on the catalogue and assign the resulting Dataset "
            "(without calling take/take_batch on it).",
        )
    stages = _class_stages(catalogue_images)
    _check_gpu_pools(stages)
    if stages:
        with_args = [op for op in stages if op.fn_constructor_kwargs or op.fn_constructor_args]
        if not with_args:
            names = ", ".join(op.fn.__name__ for op in stages)
            raise Wrong(
                f"none of the class stages ({names}) gets constructor arguments, so the Enhancer cannot "
                "know the model, the column or the conversation.",
                f"`map_batches` passes `fn_constructor_kwargs={{...}}` to the class's `__init__`: see {MAPPER_DOCS}",
            )
        builders = [f for op in with_args for f in _builders(op)]
        if messages is not None and any(getattr(f, "__name__", "") == "chat_messages" for f in builders):
            raise Wrong(
                "the Enhancer gets the animals' `chat_messages`, whose instruction keeps an animal wearing "
                "its clothing: the catalogue's photos show products.",
                "Pass the lab's conversation builder for the catalogue, `catalogue_messages`.",
            )
        if messages is not None and not builders:
            raise Wrong(
                "the Enhancer gets no conversation builder among its constructor arguments.",
                "Pass `catalogue_messages` as the `messages` argument, with the model and the column.",
            )
        for enhancer in with_args:
            early = _images_before(catalogue_images, enhancer)
            if early:
                columns, drawn_by = early
                who = f"{_stage_name(drawn_by)} draws" if drawn_by is not None else "the rows already hold"
                raise Wrong(
                    f"{who} the images (column {columns[0]!r}) before {enhancer.fn.__name__} runs, so they "
                    "are drawn from the original descriptions, not the enhanced ones.",
                    "The order of the `map_batches` calls is the order of the stages: enhance first, then draw.",
                )
    no_rows = Wrong("`catalogue_images` yields no rows.", "Start from the lab's `catalogue` and keep its rows.")
    try:
        batch = catalogue_images.take_batch(rows)
    except ValueError as exc:  # Ray: "The dataset is empty."
        if "empty" in str(exc):
            raise no_rows from None
        raise Wrong(f"running `catalogue_images` failed: {_run_error(exc)}", RUN_HINT) from None
    except Exception as exc:  # the learner's pipeline fails when it runs: a column that is not there, ...
        raise Wrong(f"running `catalogue_images` failed: {_run_error(exc)}", RUN_HINT) from None
    n = len(next(iter(batch.values()))) if batch else 0
    if n == 0:
        raise no_rows
    if "image" not in batch:
        raise Wrong(
            f"the rows have no 'image' column (they have {sorted(batch)}).",
            "Chain the ImageGen stage after the Enhancer in the same pipeline.",
        )
    if IMAGE_COLUMN not in batch:
        raise Wrong(
            f"the rows have no {IMAGE_COLUMN!r} column (they have {sorted(batch)}).",
            "ImageGen draws what the `prompt` column holds: the enhanced description must be there.",
        )
    prompts = [p for p in batch[IMAGE_COLUMN]]
    if not all(isinstance(p, str) for p in prompts):
        raise Wrong(
            f"the {IMAGE_COLUMN!r} column should hold text; found a {type(prompts[0]).__name__}.",
            "The Enhancer should store one string per row.",
        )
    originals = _originals()
    unchanged = [p for p in prompts if p in originals]
    if unchanged:
        raise Wrong(
            f"{len(unchanged)} of {n} rows have an unenhanced text in {IMAGE_COLUMN!r}, e.g. {unchanged[0]!r}: "
            "that is what ImageGen drew.",
            "ImageGen reads `prompt`: the Enhancer's output must be there when ImageGen runs, whichever column "
            "the Enhancer works on.",
        )
    if "season" not in batch:
        raise Wrong(
            f"the rows have no 'season' column (they have {sorted(batch)}).",
            "Use the Enhancer of Exercise 1, which keeps each row's season beside its enhanced text.",
        )
    for i, image in enumerate(batch["image"]):
        arr = np.asarray(image)
        if arr.dtype == object or arr.ndim != 3 or arr.shape[-1] != 3 or min(arr.shape[:2]) < 8:
            raise Wrong(
                f"row {i}: the image should be an array of shape (height, width, 3); got "
                f"{type(image).__name__} with shape {getattr(arr, 'shape', None)}.",
                "Keep the lab's ImageGen stage as it is: it stores each image as a NumPy array.",
            )
        if arr.dtype != np.uint8:
            raise Wrong(
                f"row {i}: the image array has dtype {arr.dtype}, expected uint8.",
                "Keep the lab's ImageGen stage as it is.",
            )
    h, w = np.asarray(batch["image"][0]).shape[:2]
    return f"{n} rows, each with an enhanced {IMAGE_COLUMN!r}, its season and a {h}x{w} RGB image."


RUN_HINT = (
    "Run `catalogue_images.take_batch(2)` in a cell of its own to see the whole error. Which column holds "
    "the catalogue's text when the Enhancer runs, and which one does ImageGen read?"
)


# Stretch ---------------------------------------------------------------------------------------------


def _chat_tokens(tokenizer, chat) -> int:
    ids = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=True)
    return len(ids["input_ids"] if isinstance(ids, Mapping) else ids)


@exercise("Stretch · what the LLM reads, in tokens")
def stretch(costs, messages=None, season_for=None) -> str:
    """``costs``: the catalogue with ``n_tokens``, the length in tokens of the chat the Enhancer sends per row."""
    import pandas as pd
    import ray.data
    from transformers import AutoTokenizer

    import raycourse

    require("costs", costs, "the Dataset of `catalogue` with an `n_tokens` column")
    if messages is None or season_for is None:
        raise TypeError("call it as check.stretch(costs, catalogue_messages, season_for)")
    if isinstance(costs, ray.data.Dataset):
        rows = costs.take_all()
    elif isinstance(costs, pd.DataFrame):
        rows = costs.to_dict("records")
    else:
        raise Wrong(
            f"`costs` is a {type(costs).__name__}, not a Ray Dataset.",
            "Build `costs` with `map_batches` on `catalogue`.",
        )
    if not rows:
        raise Wrong("`costs` is empty.", "Start from the lab's `catalogue`: one row per product.")
    lacking = [c for c in ("id", TEXT_COLUMN, "n_tokens") if c not in rows[0]]
    if lacking:
        raise Wrong(
            f"`costs` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: {list(rows[0])}).",
            f"Keep `id` and `{TEXT_COLUMN}` and add the count as `n_tokens`.",
        )
    originals = _originals()
    if any(str(r[TEXT_COLUMN]) not in originals for r in rows):
        raise Wrong(
            "`costs` holds descriptions that the LLM has already rewritten.",
            "Count the tokens of the descriptions before the Enhancer: start from `catalogue` (that also "
            "runs no model but the tokenizer).",
        )
    tokenizer = AutoTokenizer.from_pretrained(raycourse.model_id("llm"))
    for row in rows:
        text, season = str(row[TEXT_COLUMN]), season_for(row["id"])
        want = _chat_tokens(tokenizer, messages(text, season))
        got = row["n_tokens"]
        if got == want:
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
    counts = [int(r["n_tokens"]) for r in rows]
    return (
        f"{len(rows)} chats of {min(counts)} to {max(counts)} tokens: the system message, not the description, "
        "is most of what the LLM reads."
    )
