"""The shared vocabulary of the lab checks.

A lab's check module (``labNN.py``) says *what* an exercise asks; the words it says it with live here, once:

- **answers**: :func:`require_dataset`, :func:`as_columns`, :func:`as_number`, :func:`as_text`;
- **files a learner wrote**: :func:`visible_files`, :func:`partition_of`;
- **a learner's class**: :func:`construct` (as ``fn_constructor_kwargs`` would), :func:`call_as_ray`
  (as ``map_batches`` would), :func:`counting` and :func:`require_loaded_once` (models loaded once per actor,
  one forward pass per batch, inference without gradients);
- **the plan**: :class:`Stage` and :func:`stages` / :func:`pools`, the one place that reads Ray's private plan
  internals (``Dataset._logical_plan``), so that a Ray upgrade is fixed here and nowhere else;
- **messages**: :func:`error_line`, the learner's own error out of the traceback Ray wraps it in;
- **embeddings**: :func:`check_embeddings` (width, unit length, the same direction as a reference).

Every function raises :class:`~raycourse.checks._core.Wrong` (a problem and a hint) or returns a plain value.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from ._core import Wrong

__all__ = [
    "Stage",
    "as_columns",
    "as_number",
    "as_text",
    "call_as_ray",
    "check_embeddings",
    "class_stages",
    "construct",
    "counting",
    "error_line",
    "model_for",
    "partition_of",
    "plan_ops",
    "pools",
    "quiet_model_loading",
    "read_options",
    "require_dataset",
    "require_inference",
    "require_loaded_once",
    "require_model_in_init",
    "review_table",
    "rows_of",
    "stages",
    "visible_files",
]

# --------------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------------

DATASET_HINT = "Keep working on the Dataset itself: Dataset methods return new Datasets."


def require_dataset(name: str, value: Any, hint: str = DATASET_HINT):
    """``value`` itself when it is a Ray Dataset; else :class:`Wrong` naming what it is instead."""
    import ray.data

    if not isinstance(value, ray.data.Dataset):
        article = "an" if type(value).__name__[:1].lower() in "aeiou" else "a"
        raise Wrong(f"`{name}` is {article} {type(value).__name__}, not a Ray Dataset.", hint)
    return value


def as_columns(out) -> dict | None:
    """A batch a learner's function returned as ``{column: list of values}``; None when it is not a batch
    (a DataFrame, a pyarrow Table and a dict of columns are batches, as ``map_batches`` accepts them)."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        return {str(c): list(out[c]) for c in out.columns}
    if type(out).__module__.startswith("pyarrow") and hasattr(out, "to_pydict"):
        return {str(c): list(v) for c, v in out.to_pydict().items()}
    if isinstance(out, Mapping):
        return {c: ([v] if isinstance(v, str) else list(v)) if _iterable(v) else [v] for c, v in out.items()}
    return None


def _iterable(value) -> bool:
    try:
        iter(value)
    except TypeError:
        return False
    return True


def pool_size_of(size):
    """An actor pool's (smallest, largest) size from its observation (``[low, high]``, ``high`` maybe "inf": a pool
    without a maximum), or None for none."""
    if size is None:
        return None
    low, high = size
    high = float(high) if isinstance(high, str) else high
    return (int(low), high if high == math.inf else int(high))


def plain_value(value):
    """A value of the learner's table as plain data: a NumPy scalar as its Python value; text, numbers, truth values
    and None as they are; anything else its ``repr``."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def as_number(value) -> float | None:
    """A real number (Python, NumPy, or a one-element array or tensor) as a float; None for text, booleans and
    anything else."""
    import numbers

    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError, RuntimeError):  # more than one element
            return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def review_table():
    """The course's review table (``data_path("text")``) as a pandas DataFrame: what lab checks compare with."""
    import pandas as pd

    from ..data import data_path

    return pd.read_json(data_path("text"), lines=True)


def as_text(value) -> str:
    """A value as text: bytes decoded, a chat message's list of parts joined, anything else ``str()``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (list, tuple)):
        return " ".join(as_text(part.get("text", "")) if isinstance(part, Mapping) else as_text(part) for part in value)
    return str(value)


def model_for(role: str) -> str:
    """The model a check compares with: the same one the learner's notebook loads for ``role``."""
    from ..models import model_id as course_model_id

    return course_model_id(role)


# --------------------------------------------------------------------------------------------------
# Files a learner wrote
# --------------------------------------------------------------------------------------------------


def visible_files(folder: Path) -> list[Path]:
    """Files under ``folder`` (recursively), without hidden ones (a notebook's checkpoints, the course's marker)."""
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def partition_of(file: Path, root: Path) -> tuple[str, str] | None:
    """``(column, value)`` of a file in one hive folder under ``root`` (``root/stars=1/x.parquet``), else None."""
    parts = Path(file).relative_to(root).parts
    if len(parts) == 2 and "=" in parts[0]:
        column, _, value = parts[0].partition("=")
        return column, unquote(value)
    return None


# --------------------------------------------------------------------------------------------------
# A learner's class, run as Ray would run it
# --------------------------------------------------------------------------------------------------


def construct(cls, *, label: str, hint: str, **kwargs):
    """``cls(**kwargs)``, as ``fn_constructor_kwargs`` builds an actor's instance; an ``__init__`` whose
    parameters do not take those names is :class:`Wrong` with ``hint`` (``label`` names the call in the message)."""
    try:
        return cls(**kwargs)
    except TypeError as exc:
        if "argument" in str(exc):  # unexpected / missing keyword argument
            raise Wrong(f"`{label}` failed: {exc}", hint) from None
        raise


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


@contextlib.contextmanager
def quiet_model_loading():
    """Models that a check loads in the notebook's own process (a reference to compare with) without transformers'
    "Loading weights" bars: a check cell shows its verdict. The learner's own loads keep theirs (restored after)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def counting(model_class, method: str):
    """Count loads and calls while a model stage runs: ``load`` (any ``from_pretrained`` of a transformers model),
    ``processor`` (of an image processor, a processor or a tokenizer), ``forward`` (calls of ``model_class.method``),
    and of those, ``with_grad``: the calls that recorded gradients (neither ``torch.inference_mode()`` nor
    ``torch.no_grad()`` around them).

    The checks of model stages use it to tell a model or processor loaded once from one loaded per batch, one
    forward pass per batch from one per image, and inference from a forward pass that builds an autograd graph.
    """
    import torch
    from transformers import ImageProcessingMixin, PreTrainedModel, PreTrainedTokenizerBase, ProcessorMixin

    counts = Counter()
    originals = [
        (cls, "from_pretrained", cls.__dict__["from_pretrained"], key)
        for cls, key in (
            (PreTrainedModel, "load"),
            (ImageProcessingMixin, "processor"),
            (ProcessorMixin, "processor"),
            (PreTrainedTokenizerBase, "processor"),
        )
    ]
    original = getattr(model_class, method)

    loading = []  # the loads under way: a processor's own loads of its image processor and tokenizer count once

    def counted_load(load, key):
        def counted(cls, *args, **kwargs):
            if not loading:
                counts[key] += 1
            loading.append(key)
            try:
                return load.__func__(cls, *args, **kwargs)
            finally:
                loading.pop()

        return classmethod(counted)

    def counted(self, *args, **kwargs):
        counts["forward"] += 1
        counts["with_grad"] += torch.is_grad_enabled()
        return original(self, *args, **kwargs)

    for cls, name, load, key in originals:
        setattr(cls, name, counted_load(load, key))
    setattr(model_class, method, counted)
    try:
        yield counts
    finally:
        for cls, name, load, _ in originals:
            setattr(cls, name, load)
        setattr(model_class, method, original)


def require_loaded_once(counts: Counter, in_init: tuple[int, int], *, label: str, batches: int, processor: str) -> None:
    """After ``batches`` calls of a stage built under :func:`counting`: no model or processor loaded again.

    ``in_init`` is ``(counts["load"], counts["processor"])`` read right after the constructor ran; ``processor``
    names the stage's processor kind for the message ("an image processor", "a tokenizer", ...).
    """
    loads, processors = counts["load"] - in_init[0], counts["processor"] - in_init[1]
    if loads or processors:
        what = "a model" if loads else processor
        raise Wrong(
            f"`{label}` loaded {what} {max(loads, processors)} times while working on {batches} batches: "
            "loaded per batch.",
            f"Load the model and {processor} once, in __init__, and keep them on self; __call__ only uses them.",
        )


def require_model_in_init(counts: Counter, *, label: str, hint: str) -> tuple[int, int]:
    """``(loads, processor loads)`` the constructor made; :class:`Wrong` when it loaded no model."""
    if counts["load"] == 0:
        raise Wrong(f"`{label}.__init__` loads no model.", hint)
    return counts["load"], counts["processor"]


def require_inference(counts: Counter, *, model: str) -> None:
    """The model ran at least once, and never with gradients recorded."""
    if counts["with_grad"]:
        raise Wrong(
            f"the {model} ran with gradients recorded: every forward pass built an autograd graph that inference "
            "never uses (memory and time on a GPU).",
            "Run the model under `with torch.inference_mode():`, as the lab asks.",
        )


# --------------------------------------------------------------------------------------------------
# The plan: the one place that reads Ray's private plan internals
# --------------------------------------------------------------------------------------------------


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
    except Exception:  # an internal API; the row checks still run without it
        return []


def plan_root(ds):
    """The last logical operator of ``ds`` (its sink), or None when the plan cannot be read."""
    try:
        return ds._logical_plan.dag
    except Exception:
        return None


def read_options(ds) -> dict:
    """The options the first reader of ``ds`` was given, as its datasource keeps them (``fps``, ``resize``,
    ``include_timestamps`` of ``read_videos``...): public attributes only; {} when the plan cannot be read."""
    for op in plan_ops(ds):
        source = getattr(op, "datasource", None)
        if source is not None:
            return {k: v for k, v in vars(source).items() if not k.startswith("_")}
    return {}


def class_stages(ds) -> list:
    """The operators of ``ds`` that run a callable class (in an actor pool), from source to sink."""
    return [op for op in plan_ops(ds) if inspect.isclass(getattr(op, "fn", None))]


@dataclass(frozen=True)
class Stage:
    """One ``map``/``map_batches``/``filter``/``flat_map`` stage of a plan, as a check reads it."""

    op: Any

    @property
    def fn(self):
        return getattr(self.op, "fn", None)

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", None) or getattr(self.op, "name", type(self.op).__name__)

    @property
    def kind(self) -> str:
        """The operator's class name: ``MapBatches``, ``MapRows``, ``Filter``, ``FlatMap``, ``Project``..."""
        return type(self.op).__name__

    @property
    def is_class(self) -> bool:
        return inspect.isclass(self.fn)

    @property
    def remote_args(self) -> dict:
        return dict(getattr(self.op, "ray_remote_args", None) or {})

    @property
    def num_gpus(self) -> float:
        return float(self.remote_args.get("num_gpus") or 0)

    @property
    def num_cpus(self) -> float | None:
        value = self.remote_args.get("num_cpus")
        return None if value is None else float(value)

    @property
    def compute(self):
        return getattr(self.op, "compute", None)

    @property
    def is_pool(self) -> bool:
        from ray.data import ActorPoolStrategy

        return isinstance(self.compute, ActorPoolStrategy)

    @property
    def pool_size(self) -> tuple[int, int | float] | None:
        """``(min_size, max_size)`` of an actor pool (max may be ``inf``), or None for tasks."""
        if not self.is_pool:
            return None
        low = int(self.compute.min_size or 1)
        high = self.compute.max_size
        return low, (math.inf if high is None else high)

    @property
    def batch_size(self):
        return getattr(self.op, "batch_size", None)

    @property
    def batch_format(self):
        return getattr(self.op, "batch_format", None)

    @property
    def constructor_kwargs(self) -> dict:
        return dict(getattr(self.op, "fn_constructor_kwargs", None) or {})


def stages(ds) -> list[Stage]:
    """The user-function stages of ``ds`` from source to sink (reads and writes left out)."""
    return [Stage(op) for op in plan_ops(ds) if getattr(op, "fn", None) is not None]


def pools(ds) -> list[Stage]:
    """The stages of ``ds`` that run in an actor pool."""
    return [s for s in stages(ds) if s.is_pool]


# --------------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------------

_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Warning)): (.+)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(exc: BaseException, limit: int = 200) -> str:
    """The learner's own error (``TypeError: ...``) out of the Ray exception that wraps it: one line."""
    plain = _ANSI.sub("", str(exc))
    lines = [_ERROR_LINE.match(line.strip()) for line in plain.splitlines()]
    own = [m for m in lines if m and not m.group(1).startswith("ray.")]
    if own:
        return f"{own[-1].group(1)}: {own[-1].group(2)[:limit]}"
    last = plain.strip().splitlines()[-1][:limit] if plain.strip() else ""
    return f"{type(exc).__name__}: {last}".rstrip(": ")


# --------------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------------


def check_embeddings(vectors, reference, what: str, *, same_direction: float, width_hint: str, direction_hint: str):
    """``vectors`` (one row per item) have the reference's width, unit length and (cosine >= ``same_direction``)
    the reference's direction; returns them as a float32 array."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != reference.shape[1] or len(vectors) != len(reference):
        raise Wrong(
            f"{what} have shape {vectors.shape}; the model's embeddings of the same items have {reference.shape}.",
            width_hint,
        )
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1, atol=1e-3):
        raise Wrong(
            f"{what} are not of length 1 (lengths from {norms.min():.3g} to {norms.max():.3g}).",
            "Normalise each embedding: torch.nn.functional.normalize(features, dim=-1), so that a dot product is "
            "the cosine similarity.",
        )
    cosines = (vectors * reference).sum(axis=1)
    if cosines.min() < same_direction:
        raise Wrong(
            f"{what} point elsewhere than the model's own for the same item (cosine {cosines.min():.2f}).",
            direction_hint,
        )
    return vectors


# --- added by checks0102 ---
# The steps a learner's Dataset was built with (what the lab's text asks for: an expression filter, a batch function,
# a join of a given type, joins only), and a learner's steps replayed on rows of the check's own.


def plan_kinds(ds) -> list[str]:
    """The kinds of ``ds``'s logical operators from source to sink: ``Read``, ``InputData`` (a materialized
    Dataset, whose steps are gone), ``Filter``, ``MapBatches``, ``MapRows``, ``Join``, ``Aggregate``..."""
    return [type(op).__name__ for op in plan_ops(ds)]


def filter_kinds(ds) -> list[str]:
    """One word per ``filter`` of ``ds``, from source to sink: ``"expression"`` for ``filter(expr=...)``,
    ``"function"`` for a Python predicate ``filter(fn)``."""
    return [
        "expression" if getattr(op, "predicate_expr", None) is not None else "function"
        for op in plan_ops(ds)
        if type(op).__name__ == "Filter"
    ]


def join_types(ds) -> list[str]:
    """The ``join_type`` of every join of ``ds``, from source to sink (``"inner"``, ``"full_outer"``...)."""
    types = []
    for op in plan_ops(ds):
        if type(op).__name__ == "Join":
            kind = getattr(op, "join_type", "")
            types.append(str(getattr(kind, "value", kind)))
    return types


def plan_source(ds):
    """The one source operator of ``ds`` (a read, or a materialized Dataset) when its plan has exactly one and
    steps after it; None otherwise (a join or a union has two sources)."""
    root = plan_root(ds)
    sources = [op for op in plan_ops(ds) if not (getattr(op, "input_dependencies", None) or [])]
    return sources[0] if root is not None and len(sources) == 1 and sources[0] is not root else None


def source_dataset(ds, source):
    """The Dataset that ``source`` (an operator of ``ds``'s plan) reads: ``ds`` without its later steps."""
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    return ray.data.Dataset._from_parent(ds, LogicalPlan(source, ds.context))


def replay(ds, source, rows):
    """``ds``'s steps after its operator ``source``, run on the Dataset ``rows`` instead: how a check tries a
    learner's steps (a filter, a batch function) on rows of its own that the course's file lacks."""
    import ray.data
    from ray.data._internal.logical.interfaces import LogicalPlan

    new_source = rows._logical_plan.dag
    dag = ds._logical_plan.dag._apply_transform(lambda op: new_source if op is source else op)
    return ray.data.Dataset._from_parent(rows, LogicalPlan(dag, ds.context))


def written_elsewhere(out_dir: Path, folder: str, wanted) -> Path | None:
    """Where files meant for ``out_dir / folder`` went instead, if a learner's path missed it: a folder of
    ``out_dir`` itself, ``out_dir``'s parent (``out_dir.parent / folder``, ``str(out_dir) + folder``), or the
    notebook's working folder and its parent (a relative path). ``wanted(path)`` tells a file of the answer."""
    out_dir = Path(out_dir)
    places = [out_dir, out_dir.parent / folder, Path(f"{out_dir}{folder}"), Path.cwd() / folder]
    places.append(Path.cwd().parent / folder)
    for place in places:
        if place.is_dir() and place != out_dir / folder:
            found = [p for p in visible_files(place) if wanted(p) and (out_dir / folder) not in p.parents]
            if found and place == out_dir:  # the top folder under out_dir that holds them, or out_dir itself
                parts = found[0].relative_to(out_dir).parts
                return out_dir / parts[0] if len(parts) > 1 else out_dir
            if found:
                return place
    return None


def run_dataset(name: str, ds, hint: str, *, pandas: bool = False, columns: bool = False):
    """Run the learner's Dataset ``name``: its rows (``take_all()``), with ``pandas`` a DataFrame, with ``columns``
    (its column names, its rows) from one run to its end; when the learner's steps fail, :class:`Wrong` naming their
    own error in one line (:func:`error_line`), with ``hint``. A check stops a learner's Dataset early only where a
    whole run is dear (``columns()`` of a lazy one runs it to its first block): Ray 2.60 can kill the process that
    cancels the tasks still in flight then (tests/platform/test_runtime.py)."""
    try:
        if columns:
            ran = ds.materialize()
            return ran.columns(), ran.take_all()
        return ds.to_pandas() if pandas else ds.take_all()
    except Exception as exc:  # the learner's pipeline failed while it ran
        raise Wrong(f"running `{name}` failed: {error_line(exc)}", hint) from None


__all__ += [
    "run_dataset",
    "filter_kinds",
    "join_types",
    "plan_kinds",
    "plan_source",
    "replay",
    "source_dataset",
    "written_elsewhere",
]


def rows_of(ds, label: str, hint: str):
    """``ds.to_pandas()``; an error that the learner's own functions raise while it runs is :class:`Wrong` with the
    learner's error line, not an error of the check's own run."""
    try:
        return ds.to_pandas()
    except Exception as error:  # noqa: BLE001 (a learner's function failed inside Ray)
        raise Wrong(f"running `{label}` failed: {error_line(error)}", hint) from None
