"""Lab 08, exercise 2: the catalogue materialized through the deployment by the processor, aimed at the app the
lab names, with the check's own CLIP embeddings of every outfit. By the text's requirements (R1-R7 of its check
tests): R1 made by a processor through the deployment (its run's stats name the processor's Serve stage), R2 the
processor aimed at the app the lab names, R3 a materialized Dataset, R4 the text "a photo of a <outfit>" (the
embeddings against the check's own CLIP of that text), R5 exactly the three columns, R6 every outfit once, R7 the
app deleted (Serve's status)."""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import check_embeddings, require_dataset, rows_of
from ._common import _EMBEDDING_HINTS, _applications, _text_embeddings, _vector

COLUMNS = {"id", "outfit", "embedding"}


SERVE_STAGE = "ServeDeploymentStageUDF"  # the stage build_processor's ServeDeploymentProcessorConfig runs
LAZY = Wrong(
    "`catalogue` is lazy: the processor has not run yet, and once the app is deleted it never can (each "
    "row would ask a deployment that is gone).",
    "Materialize it before you delete the app: catalogue = processor(outfits).materialize(), then "
    'serve.delete("search").',
)


def _check_made_by_the_processor(materialized, stats) -> None:
    """A materialized Dataset (lazy, it would call the deleted app again) that the deployment's processor made."""
    if materialized is not True:
        raise Wrong(LAZY.problem, LAZY.hint)
    if SERVE_STAGE not in stats:
        raise Wrong(
            "`catalogue` was not made by a processor that calls your deployment: its run has no "
            f"{SERVE_STAGE} stage (the embeddings came from elsewhere, the notebook's own model?).",
            'build_processor(ServeDeploymentProcessorConfig(deployment_name=..., app_name="search", ...), '
            "preprocess=..., postprocess=...), then processor(outfits).materialize().",
        )


def _aim(processor) -> dict:
    """What the processor was built with: its configuration's kind and the app it calls."""
    config = getattr(processor, "config", None)
    seen = {"given": processor is not None, "kind": type(config or processor).__name__}
    if hasattr(config, "app_name"):
        seen["app_name"] = config.app_name
    return seen


def _check_aimed(aim: dict, app_name: str) -> None:
    """The processor calls the deployment of the app the lab names (its configuration: no other app may answer)."""
    if aim["given"] is not True or "app_name" not in aim:
        raise Wrong(
            "the check got no processor built with ServeDeploymentProcessorConfig"
            + ("." if aim["given"] is not True else f" (it got a {aim['kind']})."),
            f'Run the check cell as given: check.exercise_2(catalogue, "{app_name}", processor).',
        )
    if aim["app_name"] != app_name:
        raise Wrong(
            f"`processor` calls the application {aim['app_name']!r}, not {app_name!r}, the deployment of "
            "Exercise 1 the lab asks it to use.",
            f'Aim it at Exercise 1\'s app: ServeDeploymentProcessorConfig(app_name="{app_name}", ...).',
        )


def _check_columns(columns) -> None:
    extra, missing = set(columns) - COLUMNS, COLUMNS - set(columns)
    if missing:
        raise Wrong(
            f"the table has no column {sorted(missing)} (it has {sorted(columns)}).",
            "Return {'id': row['id'], 'outfit': row['outfit'], 'embedding': row['embedding']} in postprocess.",
        )
    if extra:
        raise Wrong(
            f"the table keeps columns nobody asked for: {sorted(extra)}.",
            "The processor carries every column to postprocess; return only id, outfit and embedding there.",
        )


def _check_every_outfit(table, outfits):
    if sorted(table["id"].tolist()) != sorted(outfits["id"].tolist()):
        raise Wrong(
            f"{len(table)} rows with ids {sorted(table['id'].tolist())[:8]}..., the catalogue has "
            f"{len(outfits)} outfits.",
            "Run the processor over every row of outfits.csv, once.",
        )
    table = table.sort_values("id")
    expected = outfits.set_index("id").loc[table["id"], "outfit"]
    if list(table["outfit"]) != list(expected):
        raise Wrong("some rows pair an id with another outfit's name.", "Keep row['id'] and row['outfit'] together.")
    return table, expected


def _check_deleted(status, app_name: str) -> None:
    if status in ("RUNNING", "DEPLOYING", "UNHEALTHY", "DEPLOY_FAILED"):
        raise Wrong(
            f"the {app_name!r} application is still {status.lower()}: its replicas hold their GPUs although "
            "the batch is done.",
            f'Delete it when the processor has run: serve.delete("{app_name}").',
        )


def _judge_2(seen, seed=None) -> str:
    import pandas as pd

    from ...data import data_path

    app_name = seen["app_name"]
    _check_made_by_the_processor(seen["materialized"], seen["stats"])
    _check_aimed(seen["processor"], app_name)
    _check_columns(seen["columns"])
    rows = seen["rows"]
    table = pd.DataFrame({c: [r[c] for r in rows] for c in sorted(COLUMNS)})
    table, expected = _check_every_outfit(table, pd.read_csv(data_path("outfits")))
    texts = [f"a photo of a {o}" for o in expected]
    check_embeddings(
        list(table["embedding"]), _text_embeddings(texts), "the catalogue's embeddings", **_EMBEDDING_HINTS
    )
    _check_deleted(seen["status"], app_name)
    return f"{len(table)} outfits embedded through the deployment, three columns kept, and the app deleted."


@exercise("Exercise 2 · the catalogue through the deployment", judge=_judge_2)
def exercise_2(catalogue, app_name="search", processor=None) -> dict:
    """Observes whether `catalogue` is materialized and its run's stats (their text), the processor's aim, the
    catalogue's columns and rows (id, outfit, embedding), and the app's status now."""
    from ray.data.dataset import MaterializedDataset

    require("catalogue", catalogue, "the processor's output, materialized: every outfit with its embedding")
    require("processor", processor, "the processor that build_processor(...) returned")
    require_dataset("catalogue", catalogue, "Keep the processor's Dataset: processor(outfits).materialize().")
    if not isinstance(catalogue, MaterializedDataset):  # running it would call the deleted app
        raise Wrong(LAZY.problem, LAZY.hint)
    stats = str(catalogue.stats())[:1_000_000]  # a few KB: the run's operators and their times
    _check_made_by_the_processor(True, stats)
    table = rows_of(catalogue, "catalogue", "Run the processor's cell again and read its error.")
    columns = [str(c) for c in table.columns]
    rows = []
    if COLUMNS <= set(columns):
        rows = [
            {"id": i, "outfit": o, "embedding": _vector(e)}
            for i, o, e in zip(table["id"], table["outfit"], table["embedding"])
        ]
    return {
        "app_name": app_name,
        "materialized": True,
        "stats": stats,
        "processor": _aim(processor),
        "columns": columns,
        "rows": rows,
        "status": _applications().get(app_name),
    }
