"""Lab 05, exercise 3: the plan of ``predictions`` (the classifier's actor pool, the validation folders only),
``scored`` and the review files; the classifier's own run is in ``ex3_inference``."""

from __future__ import annotations

import inspect
import math
from collections import Counter
from pathlib import Path

from .._core import NotSolved, Wrong, exercise, require
from ..stats import require_lazy
from ..toolkit import as_number, as_text, require_dataset, stages
from .._core import written
from ._common import PER_CLASS, _course_folders, _image_files, _name, _open, _part
from .ex3_inference import _check_class, _classifier_seen


def _pending(name: str, what: str) -> None:
    """The verdict of :func:`require` on a placeholder, raised in the judge where the check reaches it."""
    require(name, ..., what)


def _stage(predictions, ImageClassifier):
    """The plan's stage that runs ImageClassifier (or a class stage, when it has another name); None if none."""
    classes = [s for s in stages(predictions) if s.is_class]
    ours = [s for s in classes if s.fn is ImageClassifier or s.name == "ImageClassifier"]
    return (ours or classes)[-1] if ours or classes else None


def cluster_gpus() -> int:
    """The GPUs of the cluster this session is connected to, within the learner's budget, as the notebooks count
    them (GPUS)."""
    from raycourse.session import room

    return room.learner_gpus()


def _predictions_seen(predictions, ImageClassifier, checkpoint) -> dict:
    """The plan of ``predictions``: its class stage (what its constructor is given, its GPUs, its actor pool, its
    batch size), the GPUs of the cluster (and of the learner's budget), and the files it reads."""
    import ray
    from ray.train import Checkpoint

    require_dataset(
        "predictions", predictions, "Build it: read_labelled(val_folders).map_batches(ImageClassifier, ...)."
    )
    require_lazy(
        "predictions",
        predictions,
        "your stage's settings (its checkpoint, GPUs and pool)",
        "`scored` is the one that runs, once: scored = predictions.materialize().",
    )
    stage = _stage(predictions, ImageClassifier)
    if stage is None:
        return {"stage": None}
    args = list(getattr(stage.op, "fn_constructor_args", None) or []) + list(stage.constructor_kwargs.values())
    low, high = stage.pool_size or (None, None)
    return {
        "stage": {
            "args": [
                {"checkpoint": isinstance(a, Checkpoint), "path": str(a.path) if isinstance(a, Checkpoint) else None}
                | {"text": str(a)[:500]}
                for a in args
            ],
            "num_gpus": stage.remote_args.get("num_gpus"),
            "pool": stage.is_pool,
            "compute": str(stage.compute)[:200],
            "pool_size": None if low is None else [low, None if math.isinf(high) else high],
            "batch_size": stage.batch_size,
        },
        "checkpoint_path": str(checkpoint.path),
        "cluster_gpus": int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0,
        "learner_gpus": cluster_gpus(),
        "input_files": [str(f) for f in predictions.input_files()],
    }


def _budget_words(gpus: int, cluster: int) -> str:
    """``raycourse.session.room.budget_words`` from the counts the observer saw."""
    from raycourse.session.room import BUDGET_ENV

    if gpus < cluster:
        return f"your budget of {gpus} GPU(s) ({BUDGET_ENV}) of the cluster's {cluster}"
    return f"the cluster's {cluster} GPU(s)"


def _check_stage(seen: dict) -> None:
    from raycourse.session import room

    stage = seen["stage"]
    if stage is None:
        raise Wrong(
            "`predictions` has no stage that runs the ImageClassifier class.",
            "Pass the class itself to map_batches (map_batches(ImageClassifier, ...)): Ray builds one "
            "per actor, so the model is loaded once per actor.",
        )
    path = str(seen["checkpoint_path"])
    if not any(a["checkpoint"] is True and str(a["path"]) == path for a in stage["args"]):
        given = [a for a in stage["args"] if str(a["text"]) == path or str(a["text"]).endswith(path)]
        raise Wrong(
            "the ImageClassifier stage is given "
            + (
                "the checkpoint's path, a folder name that other nodes may not have: it needs the Checkpoint itself."
                if given
                else "not the Checkpoint of the last report (result.checkpoint)."
            ),
            'fn_constructor_kwargs={"checkpoint": checkpoint}, the Checkpoint of result.checkpoint.',
        )
    num_gpus = as_number(stage["num_gpus"])
    if num_gpus != 1:
        raise Wrong(
            f"the stage asks for num_gpus={stage['num_gpus']}, where each actor holds one model on its own GPU.",
            "Give the stage num_gpus=1.",
        )
    if stage["pool"] is not True:
        raise Wrong(
            f"the stage runs with {stage['compute']}, not a pool of actors.",
            "compute=ray.data.ActorPoolStrategy(size=GPUS): one actor per GPU, each loads the model once.",
        )
    cluster, high = int(seen["learner_gpus"]), stage["pool_size"][1]
    if high is not None and high > cluster:
        raise Wrong(
            f"the stage asks for a pool of up to {high} actors with one GPU each; it may use "
            f"{_budget_words(cluster, int(seen['cluster_gpus']))}, so {high - cluster} of them would wait for a "
            "GPU forever, doing nothing.",
            f"Size the pool to the cluster, within your budget: {room.GPU_SIZING}, then "
            "compute=ray.data.ActorPoolStrategy(size=GPUS).",
        )


def _bare(path: str) -> str:
    """A path or URI without its scheme and user (``s3://anonymous@bucket/key`` -> ``bucket/key``), as Ray lists
    the files it reads."""
    rest = str(path).split("://", 1)[-1].rstrip("/")
    head, slash, tail = rest.partition("/")
    return head.rsplit("@", 1)[-1] + slash + tail if "://" in str(path) else rest


def _under(path: str, folder: str) -> bool:
    """Whether the file ``path`` lies in ``folder`` (a local path or a URI; Ray lists files without the scheme)."""
    return _bare(path).rsplit("/", 1)[0].endswith(_bare(folder))


def _check_inputs(files: list[str], folders: list[str]) -> None:
    """The stage classifies the validation images: every file the plan reads lies in one of ``folders``."""
    stray = [f for f in files if not any(_under(f, folder) for folder in folders)]
    if stray:
        raise Wrong(
            f"`predictions` reads {len(stray)} of its {len(files)} images from outside `val_folders`, for "
            f"example {stray[0]}: a model scored on images it trained on looks better than it is.",
            "Read the validation images, read_labelled(val_folders), and classify those.",
        )


SCORED_COLUMNS = ("path", "label", "predicted", "confidence")


def _scored_seen(scored) -> dict:
    """``scored``: whether it is materialized, its columns, and (materialized, with them) its path, label,
    predicted and confidence columns."""
    from ray.data.dataset import MaterializedDataset

    require_dataset("scored", scored, "Keep the predictions as a Dataset whose rows Ray holds in memory.")
    seen = {"materialized": isinstance(scored, MaterializedDataset), "columns": list(scored.schema().names)}
    if seen["materialized"] and all(c in seen["columns"] for c in SCORED_COLUMNS):
        rows = scored.select_columns(list(SCORED_COLUMNS)).take_all()
        seen["rows"] = {
            "path": [str(r["path"]) for r in rows],
            "label": [as_text(r["label"]) for r in rows],
            "predicted": [as_text(r["predicted"]) for r in rows],
            "confidence": [as_number(r["confidence"]) for r in rows],
        }
    return seen


def _check_scored(seen: dict, folders: list[str]) -> "pd.DataFrame":  # noqa: F821
    """``scored``: materialized, every validation image once with path, label, predicted and confidence."""
    import pandas as pd

    if seen["materialized"] is not True:
        raise Wrong(
            "`scored` is still a plan: every use of it (the filter, the write, the scores after) would run "
            "the model on every image again.",
            "Run the pipeline once and keep its rows in Ray's object store (the lesson's section 1).",
        )
    columns = list(seen["columns"])
    lacking = [c for c in SCORED_COLUMNS if c not in columns]
    if lacking:
        raise Wrong(
            f"`scored` has no {lacking} column (its columns: {columns}).",
            "Make `scored` from `predictions`, as ImageClassifier returns them.",
        )
    table = pd.DataFrame({c: seen["rows"][c] for c in SCORED_COLUMNS})
    table["path"] = table["path"].map(str)
    if table["confidence"].isna().any():
        raise Wrong("`scored` has rows whose confidence is not a number.", "Make `scored` from `predictions`.")
    expected = sum(min(PER_CLASS, len(_image_files(f))) for f in folders)
    stray = [p for p in table["path"] if not any(_under(p, f) for f in folders)]
    if stray:
        raise Wrong(
            f"`scored` holds {len(stray)} images from outside `val_folders` (for example {stray[0]}).",
            "Make `scored` from `predictions`, the validation images.",
        )
    if len(table) != expected or table["path"].duplicated().any():
        raise Wrong(
            f"`scored` has {len(table)} rows ({table['path'].nunique()} images) for the {expected} validation images.",
            "Make `scored` from `predictions`, every validation image once.",
        )
    return table


def _review_seen(review_dir) -> dict:
    """The folder ``review_dir`` read back: its name, whether it exists; if not, the folders beside it that hold
    CSV files with a confidence column; if so, its files that are not CSV, else the columns and the paths of the
    rows its CSV files hold."""
    import pandas as pd

    review_dir = Path(review_dir)
    seen = {"name": review_dir.name, "exists": review_dir.exists()}
    if not seen["exists"]:
        stray = (
            [p for p in review_dir.parent.rglob("*.csv") if "confidence" in p.read_text().split("\n", 1)[0]]
            if review_dir.parent.is_dir()
            else []
        )
        return {**seen, "stray": [p.parent.name for p in stray]}
    files = sorted(p for p in review_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    others = [p.name for p in files if p.suffix.lower() != ".csv"]
    if others:
        return {**seen, "others": others}
    frames = [pd.read_csv(p) for p in files if p.stat().st_size]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["path", "confidence"])
    return {
        **seen,
        "others": [],
        "columns": [str(c) for c in rows.columns],
        "paths": [str(p) for p in rows["path"]] if "path" in rows.columns else [],
    }


def _check_review(table, seen: dict, review_below: float) -> tuple[int, int]:
    """The CSV files in the review folder hold exactly the rows of ``table`` below ``review_below``."""
    unsure = set(table.loc[table["confidence"] < review_below, "path"])
    if seen["exists"] is not True:
        _check_review_unwritten(seen, unsure, len(table), review_below)
        return 0, len(table)
    _check_review_files(seen)
    _check_review_rows([str(p) for p in seen["paths"]], unsure, set(table["path"]), review_below)
    return len(unsure), len(table)


def _check_review_unwritten(seen: dict, unsure: set, total: int, review_below: float) -> None:
    """No review folder: right only when no image is below ``review_below``."""
    name = str(seen["name"])
    if not unsure:
        return
    if seen["stray"]:
        raise Wrong(
            f'found CSV files in {seen["stray"][0]}, but nothing in out_dir / "{name}".',
            f'Write into exactly the folder the exercise names: out_dir / "{name}".',
        )
    raise NotSolved(
        f'nothing written to out_dir / "{name}" yet: {len(unsure)} of the {total} images are below {review_below}.'
    )


def _check_review_files(seen: dict) -> None:
    """CSV files only, with the columns a person needs."""
    name = str(seen["name"])
    if seen["others"]:
        raise Wrong(
            f'out_dir / "{name}" holds {seen["others"][0]}: not a CSV file.',
            "Write the rows with write_csv, a format a person opens in any spreadsheet.",
        )
    lacking = [c for c in ("path", "predicted", "confidence") if c not in seen["columns"]]
    if lacking:
        raise Wrong(
            f"the review files have no {lacking} column (their columns: {list(seen['columns'])}): a person "
            "needs the image, what the model answered and how sure it was.",
            "Write the rows of `scored` as they are.",
        )


def _check_review_rows(paths: list[str], unsure: set, every: set, review_below: float) -> None:
    """The review files' images: each once, every unsure one of ``every`` (the images of `scored`), no other."""
    twice = sum(n - 1 for n in Counter(paths).values())
    if twice:
        raise Wrong(
            f"{twice} images are in the review files more than once: the cell ran "
            "twice, and the second write added files beside the first's?",
            'write_csv(..., mode="overwrite") replaces what an earlier run wrote.',
        )
    got = set(paths)
    confident = every - unsure
    if got and got <= confident and not (got & unsure):
        raise Wrong(
            f"the review files hold {len(got)} images the model is sure of (confidence {review_below} or "
            "more), and none of the unsure ones: the filter is the wrong way round.",
            f"Keep the rows whose confidence is below REVIEW_BELOW ({review_below}).",
        )
    answered = got & confident
    if answered:
        raise Wrong(
            f"{len(answered)} images in the review files have a confidence of {review_below} or more: "
            "those the model answers itself.",
            f"Keep only the rows below REVIEW_BELOW ({review_below}).",
        )
    lost = unsure - got
    if lost:
        raise Wrong(
            f"{len(lost)} of the {len(unsure)} images below {review_below} are not in the review files "
            f"(for example {_name(sorted(lost)[0])}): nobody would look at them.",
            "Filter `scored` on its confidence column, below REVIEW_BELOW, and write every row that passes.",
        )
    stray = got - every
    if stray:
        raise Wrong(
            f"the review files hold {len(stray)} images that are not in `scored`.",
            "Write the rows of `scored` whose confidence is below REVIEW_BELOW, nothing else.",
        )


PREDICTIONS_WHAT = "the Dataset of predictions for the validation images"
SCORED_WHAT = "predictions, run once and kept (materialized)"


def _judge_3(seen, seed) -> str:
    n = _check_class(_open(seen["classifier"]), seed)
    if seen["predictions"] is None:
        _pending("predictions", PREDICTIONS_WHAT)
    predictions = _open(seen["predictions"])
    _check_stage(predictions)
    folders = _course_folders("images_val_3")
    _check_inputs([str(f) for f in predictions["input_files"]], folders)
    if seen["scored"] is None:
        _pending("scored", SCORED_WHAT)
    table = _check_scored(_open(seen["scored"]), folders)
    review_below = float(seen["review_below"])
    unsure, total = _check_review(table, seen["review"], review_below)
    stage = predictions["stage"]
    low, high = stage["pool_size"]
    actors = f"{low}" if low == high else f"{low} to {'any number of' if high is None else high}"
    return (
        f"ImageClassifier loads the checkpoint once, from wherever it is stored, runs one forward pass per batch "
        f"and gives {n} probe images, their classes and confidences as the checkpoint gives them; the stage runs "
        f"on {actors} actor(s) with one GPU each (GPUS is {predictions['learner_gpus']}), {stage['batch_size']} "
        f"images per batch; {unsure} of the {total} validation images are below {seen['review_below']} and wait "
        f'in out_dir / "{seen["review"]["name"]}" for a person.'
    )


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(ImageClassifier, predictions, scored, checkpoint, val_folders, review_dir, review_below, *, seed=None):
    """``ImageClassifier`` from a Checkpoint wherever it is stored, with each prediction's confidence, batched;
    ``predictions``: its stage over the validation images with a GPU per actor and a pool the cluster holds;
    ``scored``: run once; the images below ``review_below`` written as CSV to ``review_dir``.

    Observes the class on probe images from ``seed`` (and the checkpoint's own run on them), the plan of
    ``predictions``, the rows of ``scored`` and the review files read back; :func:`_judge_3` decides from those,
    against the course's validation folders."""
    if checkpoint is None:
        raise NotSolved("there is no checkpoint yet: solve Exercise 2 first.")
    require("ImageClassifier", ImageClassifier, "your ImageClassifier class")
    if not inspect.isclass(ImageClassifier):
        raise Wrong(
            f"`ImageClassifier` is a {type(ImageClassifier).__name__}, not a class.",
            "Write `class ImageClassifier:` with __init__(self, checkpoint) and __call__(self, batch).",
        )
    return {
        "classifier": _part(_classifier_seen, ImageClassifier, checkpoint, seed),
        "predictions": _part(_predictions_seen, predictions, ImageClassifier, checkpoint)
        if written(predictions)
        else None,
        "scored": _part(_scored_seen, scored) if written(scored) else None,
        "val_folders": None if val_folders is None else [str(f) for f in val_folders],
        "review": _review_seen(review_dir),
        "review_below": float(review_below),
    }
