"""Lab 08 checks (Serving and resilient jobs): pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 reads the deployment's configuration (part of a GPU per replica, replicas sized to the cluster's GPUs,
a batched ``embed``, enough requests at once to fill a batch, no access log), then calls the running application
twice: ``embed`` through a handle, from a thread of its own (a notebook's cells run inside an event loop, where
Serve will not block on a response), and ``__call__`` over HTTP at the route the lab names, through Serve's proxy.
Exercise 2 wants the materialized Dataset that the processor made through the deployment (its run names the
processor's Serve stage; a lazy one would call the deleted app), and the processor, aimed at the app the lab names.
Exercise 3 runs the learner's ``validate`` on small tables of its own, where the given one quarantines, raises for too
many bad rows and raises for a row neither good nor quarantined: an edited copy is told. The expected answers come
from the check's own CLIP and from the data files, never from numbers written here; a learner's error is told by its
own line, and files not found where the lab asks are looked for beside that folder.
"""

from __future__ import annotations

import concurrent.futures
import weakref
from pathlib import Path

from ._core import Wrong, exercise, progress_of, require
from .toolkit import check_embeddings, error_line, model_for, require_dataset, rows_of

progress = progress_of(__name__)  # the lab's last cell: check.progress()

SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same text
QUERIES = [
    "red and blue stripes",
    "horizontal stripes",
    "a yellow raincoat",
    "vertical green and white stripes",
    "a tiny knitted hat",
    "checks",
]
COLUMNS = {"id", "outfit", "embedding"}
MAX_COMMENT = 120  # lab 08's rule: a comment of at most 120 characters, and a product of the catalogue
_EMBEDDING_HINTS = {
    "same_direction": SAME_DIRECTION,
    "width_hint": "Return model.get_text_features(**inputs).pooler_output, one row per text, as a list of floats.",
    "direction_hint": "Embed exactly the text asked for, with the processor's text= and padding=True, and keep the "
    "rows in the order of the texts.",
}
HTTP_HINT = (
    'Give the class `async def __call__(self, request)`: the text from (await request.json())["text"], and '
    'return {"embedding": await self.embed(text)}; deploy with route_prefix="/search".'
)


_CLIP: dict = {}


def _text_embeddings(texts: list[str]):
    """The check's own normalised CLIP text embeddings."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model_id = model_for("clip")
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    model, processor = _CLIP[model_id]
    with torch.inference_mode():
        features = model.get_text_features(**processor(text=texts, return_tensors="pt", padding=True)).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def _in_thread(fn, timeout: float = 180):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=timeout)


def _applications() -> dict:
    """Serve's applications now, by name, with their status ({} when Serve is not running)."""
    from ray import serve

    try:
        return {
            name: str(getattr(app.status, "value", app.status)) for name, app in serve.status().applications.items()
        }
    except Exception:  # Serve was never started or is shut down
        return {}


def _sized(TextEncoder) -> tuple[int, str]:
    """How many replicas the deployment may run (an autoscaling one: its most), and how that was said."""
    autoscaling = getattr(
        getattr(TextEncoder, "_deployment_config", None), "autoscaling_config", None
    )  # no public name
    if autoscaling is not None:
        return int(autoscaling.max_replicas), f"up to {autoscaling.max_replicas} autoscaled replicas"
    return int(TextEncoder.num_replicas), f"{TextEncoder.num_replicas} replica(s)"


def _check_replicas(TextEncoder) -> float:
    """Each replica asks for part of a GPU; the replicas are sized to the cluster's GPUs, and fit them."""
    from raycourse import room

    gpus = float((TextEncoder.ray_actor_options or {}).get("num_gpus") or 0)
    if not 0 < gpus < 1:
        raise Wrong(
            "its replicas ask for no GPU: the model would run on CPUs of a GPU cluster."
            if gpus <= 0
            else f"each replica asks for {gpus:g} GPU(s), where the lab asks for part of one: a small text "
            "encoder leaves most of a GPU idle.",
            'Give each replica part of a GPU: ray_actor_options={"num_gpus": 0.5}.',
        )
    cluster, (replicas, said) = room.learner_gpus(), _sized(TextEncoder)
    if replicas * gpus > cluster + 1e-9:
        raise Wrong(
            f"{said} x {gpus:g} GPU = {replicas * gpus:g} GPUs, more than {room.budget_words(cluster)}: a "
            "replica would wait for a GPU forever.",
            f"Size it from the cluster, as every stage does: num_replicas=GPUS, with {room.GPU_SIZING}.",
        )
    if replicas < cluster:
        raise Wrong(
            f"{said} on a cluster of {cluster} GPU(s): a count fixed by hand leaves GPUs without a replica.",
            f"Size it from the cluster's GPUs: num_replicas=GPUS, with {room.GPU_SIZING}.",
        )
    return gpus


def _check_batching(TextEncoder) -> int:
    """``embed`` batches requests, and a replica holds enough requests at once to fill a batch."""
    embed = getattr(TextEncoder.func_or_class, "embed", None)
    if embed is None:
        raise Wrong("the class has no method `embed`.", "Name the batched method `embed(self, texts)`.")
    max_batch = embed._get_max_batch_size() if hasattr(embed, "_get_max_batch_size") else None
    if not max_batch or max_batch < 2:
        raise Wrong(
            "`embed` does not batch requests: each call would run CLIP on one query.",
            "Decorate it with @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.05): it then gets a list "
            "of texts and returns a list of embeddings.",
        )
    ongoing = TextEncoder.max_ongoing_requests  # Serve's default: 5
    if ongoing < max_batch:
        raise Wrong(
            f"a replica holds at most {ongoing} requests at once (max_ongoing_requests), so `embed` never gets "
            f"a batch larger than {ongoing}, not the {max_batch} of its max_batch_size.",
            f"Set max_ongoing_requests to at least max_batch_size in @serve.deployment(...): "
            f"max_ongoing_requests={2 * max_batch} lets the next batch gather while one runs.",
        )
    return max_batch


def _check_quiet(TextEncoder) -> None:
    if (TextEncoder.logging_config or {}).get("enable_access_log", True):
        raise Wrong(
            "every request would write a log line (Serve's access log is on): thousands of lines a minute, "
            "shown in the notebook.",
            'Turn it off in @serve.deployment(...): logging_config={"enable_access_log": False}, as in the lesson.',
        )


def _check_running(app_name: str) -> None:
    status = _applications().get(app_name)
    if status != "RUNNING":
        raise Wrong(
            f"no application {app_name!r} is running (Serve says: {status or 'none by that name'}).",
            f'Deploy it: serve.run(TextEncoder.bind(CLIP_ID), name="{app_name}", route_prefix="/search").',
        )


def _check_embed(app_name: str):
    """``embed`` called through a handle, one text a call (Serve makes the batch): CLIP's normalised embeddings."""
    import numpy as np
    from ray import serve

    def ask():
        handle = serve.get_app_handle(app_name)
        responses = [handle.embed.remote(text) for text in QUERIES]
        return [response.result(timeout_s=120) for response in responses]

    try:
        answers = _in_thread(ask)
    except Exception as error:  # noqa: BLE001 (the learner's deployment failed: its own error, one line)
        raise Wrong(
            f"calling `embed` of {app_name!r} with one text failed: {error_line(error)}",
            "`embed` takes one text per call (Serve makes the list) and returns one list of floats per text.",
        ) from None
    if not all(isinstance(a, (list, tuple, np.ndarray)) for a in answers):
        raise Wrong(
            f"`embed` answered {type(answers[0]).__name__}, not a list of floats.",
            "Return features.tolist(): one list of floats per text.",
        )
    reference = _text_embeddings(QUERIES)
    check_embeddings(answers, reference, "`embed`'s embeddings", **_EMBEDDING_HINTS)
    return reference


def _check_http(url, reference) -> None:
    """``__call__``, through Serve's HTTP proxy at the route the lab names: {"text": ...} in, {"embedding": ...} out."""
    import requests

    if not url:
        raise Wrong(
            "the check got no URL to call.",
            'Run the check cell as given: check.exercise_1(TextEncoder, "search", URL).',
        )
    try:
        answer = _in_thread(lambda: requests.post(url, json={"text": QUERIES[0]}, timeout=120))
        body = answer.json() if answer.ok else None
    except Exception as error:  # noqa: BLE001 (no proxy there, or an answer that is not JSON)
        raise Wrong(f"asking {url} over HTTP failed: {error_line(error)}", HTTP_HINT) from None
    if body is None:
        raise Wrong(f"{url} answered HTTP {answer.status_code}: {answer.text.strip()[:200]}", HTTP_HINT)
    if not isinstance(body, dict) or "embedding" not in body:
        raise Wrong(f"{url} answered {str(body)[:120]}, without an `embedding`.", HTTP_HINT)
    check_embeddings([body["embedding"]], reference[:1], f"the embedding {url} answered", **_EMBEDDING_HINTS)


@exercise("Exercise 1 · search queries online")
def exercise_1(TextEncoder, app_name="search", url=None) -> str:
    from ray import serve

    require("TextEncoder", TextEncoder, "your deployment: a class decorated with @serve.deployment(...)")
    if not isinstance(TextEncoder, serve.Deployment):
        raise Wrong(
            f"`TextEncoder` is a {type(TextEncoder).__name__}, not a Serve deployment.",
            "Decorate the class with @serve.deployment(num_replicas=..., ray_actor_options={...}).",
        )
    gpus = _check_replicas(TextEncoder)
    max_batch = _check_batching(TextEncoder)
    _check_quiet(TextEncoder)
    _check_running(app_name)
    reference = _check_embed(app_name)
    _check_http(url, reference)
    return (
        f"{_sized(TextEncoder)[1]} on {gpus:g} GPU each, batches of up to {max_batch}; {len(QUERIES)} queries "
        f"embedded as CLIP does, and {url} answers over HTTP."
    )


SERVE_STAGE = "ServeDeploymentStageUDF"  # the stage build_processor's ServeDeploymentProcessorConfig runs


def _check_made_by_the_processor(catalogue):
    """A materialized Dataset (lazy, it would call the deleted app again) that the deployment's processor made."""
    from ray.data.dataset import MaterializedDataset

    require_dataset("catalogue", catalogue, "Keep the processor's Dataset: processor(outfits).materialize().")
    if not isinstance(catalogue, MaterializedDataset):
        raise Wrong(
            "`catalogue` is lazy: the processor has not run yet, and once the app is deleted it never can (each "
            "row would ask a deployment that is gone).",
            "Materialize it before you delete the app: catalogue = processor(outfits).materialize(), then "
            'serve.delete("search").',
        )
    if SERVE_STAGE not in catalogue.stats():
        raise Wrong(
            "`catalogue` was not made by a processor that calls your deployment: its run has no "
            f"{SERVE_STAGE} stage (the embeddings came from elsewhere, the notebook's own model?).",
            'build_processor(ServeDeploymentProcessorConfig(deployment_name=..., app_name="search", ...), '
            "preprocess=..., postprocess=...), then processor(outfits).materialize().",
        )
    return rows_of(catalogue, "catalogue", "Run the processor's cell again and read its error.")


def _check_aimed(processor, app_name: str) -> None:
    """The processor calls the deployment of the app the lab names (its configuration: no other app may answer)."""
    config = getattr(processor, "config", None)
    if processor is None or not hasattr(config, "app_name"):
        raise Wrong(
            "the check got no processor built with ServeDeploymentProcessorConfig"
            + ("." if processor is None else f" (it got a {type(config or processor).__name__})."),
            f'Run the check cell as given: check.exercise_2(catalogue, "{app_name}", processor).',
        )
    if config.app_name != app_name:
        raise Wrong(
            f"`processor` calls the application {config.app_name!r}, not {app_name!r}, the deployment of "
            "Exercise 1 the lab asks it to use.",
            f'Aim it at Exercise 1\'s app: ServeDeploymentProcessorConfig(app_name="{app_name}", ...).',
        )


def _check_columns(table) -> None:
    extra, missing = set(table.columns) - COLUMNS, COLUMNS - set(table.columns)
    if missing:
        raise Wrong(
            f"the table has no column {sorted(missing)} (it has {sorted(table.columns)}).",
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


def _check_deleted(app_name: str) -> None:
    status = _applications().get(app_name)
    if status in ("RUNNING", "DEPLOYING", "UNHEALTHY", "DEPLOY_FAILED"):
        raise Wrong(
            f"the {app_name!r} application is still {status.lower()}: its replicas hold their GPUs although "
            "the batch is done.",
            f'Delete it when the processor has run: serve.delete("{app_name}").',
        )


@exercise("Exercise 2 · the catalogue through the deployment")
def exercise_2(catalogue, app_name="search", processor=None) -> str:
    import pandas as pd

    from ..data import data_path

    require("catalogue", catalogue, "the processor's output, materialized: every outfit with its embedding")
    require("processor", processor, "the processor that build_processor(...) returned")
    table = _check_made_by_the_processor(catalogue)
    _check_aimed(processor, app_name)
    _check_columns(table)
    table, expected = _check_every_outfit(table, pd.read_csv(data_path("outfits")))
    texts = [f"a photo of a {o}" for o in expected]
    check_embeddings(
        list(table["embedding"]), _text_embeddings(texts), "the catalogue's embeddings", **_EMBEDDING_HINTS
    )
    _check_deleted(app_name)
    return f"{len(table)} outfits embedded through the deployment, three columns kept, and the app deleted."


def _rule_breakers(frame, catalogue: set) -> dict:
    """Each rating id that breaks lab 08's rule, with why."""
    import pandas as pd

    broken = {}
    for row in frame.itertuples():
        reasons = []
        if pd.isna(row.product_id):
            reasons.append("no product")
        elif int(row.product_id) not in catalogue:
            reasons.append(f"product {int(row.product_id)} is not in the catalogue")
        if not isinstance(row.text, str):
            reasons.append("no comment")
        elif len(row.text) > MAX_COMMENT:
            reasons.append(f"a comment of {len(row.text)} characters")
        if reasons:
            broken[int(row.id)] = "; ".join(reasons)
    return broken


def _elsewhere(folder: Path, pattern: str) -> str:
    """Where files like ``pattern`` went instead of ``folder``: up to three folders beside it, as words ("" if none)."""
    parent = Path(folder).parent
    found = sorted({p.parent for p in parent.rglob(pattern) if p.is_file()})[:3] if parent.is_dir() else []
    return f" Files like it are in {', '.join(map(str, found))}." if found else ""


def _quarantined(folder: Path):
    import pandas as pd

    files = sorted(p for p in Path(folder).rglob("*.json*") if p.is_file()) if Path(folder).is_dir() else []
    if not files:
        raise Wrong(
            f"nothing was written to {folder}.{_elsewhere(folder, '*.json*')}",
            'Pass out_dir / "quarantine" to validate(...): it writes the bad rows there with their reason.',
        )
    return pd.concat([pd.read_json(p, lines=True) for p in files], ignore_index=True)


def _check_good_rows(kept: set, breakers: dict, ids: set) -> None:
    """No rating that breaks the rule among the good ones, and no good one lost."""
    let_through = sorted(kept & set(breakers))
    if let_through:
        raise Wrong(
            f"{len(let_through)} rating(s) that break the rule are among the good ones: "
            + "; ".join(f"id {i} ({breakers[i]})" for i in let_through[:3])
            + ".",
            "Every rule is an expression true where a row breaks it: is_null() for a missing value, "
            "not_in(CATALOGUE) for an unknown product, str.len() > 120 for a long comment.",
        )
    lost = sorted(ids - set(breakers) - kept)
    if lost:
        raise Wrong(
            f"{len(lost)} good rating(s) are missing from `good_ratings` (ids {lost[:5]}).",
            "A rule catches more than it should: check its comparison (at most 120 characters is fine).",
        )


def _check_quarantine(quarantined, breakers: dict) -> None:
    """Every rating that breaks the rule is in the quarantine with a reason, and no other."""
    if "reason" not in quarantined.columns:
        raise Wrong(
            "the quarantined rows have no `reason` column.", "Keep the reason: with_column('reason', lit(...))."
        )
    reasons = quarantined.groupby("id")["reason"].apply(lambda r: [x for x in r if isinstance(x, str) and x.strip()])
    missing = sorted(set(breakers) - set(reasons.index.astype(int)))
    if missing:
        raise Wrong(
            f"rating(s) {missing} break the rule and are not in the quarantine: they were dropped silently.",
            "Give every way a row can break the rule its own rule, missing values included.",
        )
    unexplained = sorted(int(i) for i, r in reasons.items() if not r)
    if unexplained:
        raise Wrong(f"quarantined rating(s) {unexplained} have no reason.", "Name each rule: RULES = {'reason': expr}.")
    wrongly = sorted(set(reasons.index.astype(int)) - set(breakers))
    if wrongly:
        raise Wrong(f"good rating(s) {wrongly[:5]} are in the quarantine.", "Check each rule's comparison.")


GIVEN_HINT = (
    "Run `validate` as the lab gives it: copy its cell from the lab again, unchanged, run it, then your RULES cell."
)


def _probe(validate, xs: list, max_bad_share: float):
    """``validate`` run on a table of its own (``id``, ``x``; two rules: x > 10, x < 0; the given validate wants two
    or more, for its union): what it returned (or raised), the ids it returned as good, and the ids it quarantined."""
    import tempfile

    import pandas as pd
    import ray
    from ray.data.expressions import col

    table = ray.data.from_items([{"id": i, "x": x} for i, x in enumerate(xs)])
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        try:
            answer = validate(
                table,
                {"x over 10": col("x") > 10, "x negative": col("x") < 0},
                Path(folder),
                max_bad_share=max_bad_share,
            )
        except Exception as error:  # noqa: BLE001 (the given validate raises ValueError; the caller tells the rest)
            return error, None, None
        files = sorted(Path(folder).rglob("*.json*"))
        written = pd.concat([pd.read_json(p, lines=True) for p in files]) if files else pd.DataFrame()
        quarantined = sorted(map(int, written.get("id", [])))
    good = answer[0] if isinstance(answer, tuple) and answer else answer
    is_dataset = isinstance(good, ray.data.Dataset)
    kept = sorted(map(int, rows_of(good, "validate(...)", GIVEN_HINT)["id"])) if is_dataset else None
    return answer, kept, quarantined


_RUN_AS_GIVEN = weakref.WeakSet()  # the validate functions that behaved as the given one (a check cell run again)


def _check_given_validate(validate) -> None:
    """The given validate, run as it is: it quarantines up to max_bad_share, raises above it, and raises for a row
    that no rule catches and no rule lets through (a missing value: x > 10 is neither true nor false)."""
    if not callable(validate):
        raise Wrong(
            "the check got no `validate` function.",
            'Run the check cell as given: check.exercise_3(good_ratings, out_dir / "quarantine", validate).',
        )
    if validate in _RUN_AS_GIVEN:
        return
    answer, kept, quarantined = _probe(validate, [1, 2, 3, 4, 5, 6, 7, 8, 50, 60], 0.2)
    if isinstance(answer, Exception):
        raise Wrong(
            "your `validate` raised for 2 bad rows of 10 at max_bad_share=0.2, where the given one returns them "
            f"quarantined: {error_line(answer)}",
            GIVEN_HINT,
        )
    if kept != list(range(8)) or quarantined != [8, 9]:
        raise Wrong(
            f"your `validate` kept {kept} and quarantined {quarantined} of a table whose rows 8 and 9 break the "
            "rule: the given one returns 0-7 and writes 8 and 9 to quarantine_dir (rows dropped, not quarantined?).",
            GIVEN_HINT,
        )
    for xs, share, what in (
        ([1, 2, 3, 4, 5, 6, 7, 8, 50, 60], 0.1, "2 bad rows of 10 at max_bad_share=0.1"),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, None], 0.5, "a row no rule names (x missing: neither good nor quarantined)"),
    ):
        answer, _, _ = _probe(validate, xs, share)
        if not isinstance(answer, ValueError):
            got = f"raised {error_line(answer)}" if isinstance(answer, Exception) else "let it through"
            raise Wrong(f"your `validate` {got} for {what}, where the given one raises ValueError.", GIVEN_HINT)
    _RUN_AS_GIVEN.add(validate)


@exercise("Exercise 3 · a validation rule for the ratings")
def exercise_3(good_ratings, quarantine_dir, validate=None) -> str:
    import pandas as pd

    from ..data import data_path

    require("good_ratings", good_ratings, "the rows that break no rule, from validate(...)")
    require("validate", validate, "the lab's validate function, as it is given")
    require_dataset("good_ratings", good_ratings, "Keep what validate(...) returns: good_ratings, bad_ratings = ...")
    ratings = pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})
    breakers = _rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"]))
    good = rows_of(good_ratings, "good_ratings", "Run validate's cell again and read its error.")
    if "id" not in good.columns:
        raise Wrong(
            "`good_ratings` has no `id` column.", "Keep the ratings' own columns: validate returns ds.filter(...)."
        )
    kept = set(good["id"].astype(int))
    _check_good_rows(kept, breakers, set(ratings["id"]))
    _check_quarantine(_quarantined(quarantine_dir), breakers)
    _check_given_validate(validate)
    return (
        f"{len(kept)} good ratings go on; the {len(breakers)} that break the rule are quarantined, each with its "
        "reason, by the given `validate`."
    )


def _whole_parquet(path) -> bool:
    """Whether a parquet file was written to its end (it has its footer): a write cut short by a kill was not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return True
    except (pa.ArrowInvalid, OSError):
        return False


def _check_runs(runs) -> tuple[dict, dict]:
    if not isinstance(runs, (list, tuple)) or len(runs) != 2 or not all(isinstance(r, dict) for r in runs):
        raise Wrong(
            "`runs` should be a list of the two dicts run_words returned.", "runs = [run_words(3), run_words()]"
        )
    if not runs[0].get("killed"):
        raise Wrong("the first run was not killed.", "Kill it part-way: run_words(3).")
    return runs[0], runs[1]


def _written_ids(output):
    """The ids in the job's parquet files: every file whole, each with the rating's id."""
    import pandas as pd
    import pyarrow.parquet as pq

    files = sorted(Path(output).glob("*.parquet")) if Path(output).is_dir() else []
    if not files:
        raise Wrong(f"no parquet files in {output}.{_elsewhere(output, '*.parquet')}", "Run the job: run_words does.")
    cut_short = [p.name for p in files if not _whole_parquet(p)]
    if cut_short:
        raise Wrong(
            f"{len(cut_short)} file(s) in {output} are not whole parquet ({cut_short[0]}): the kill cut their "
            "write short, and the second run did not clean them up.",
            "A job with a CheckpointConfig deletes the files its killed run left half written when it starts "
            "again: set one in JOB (see the lesson), then run both runs again.",
        )
    if "id" not in pq.read_schema(files[0]).names:
        raise Wrong(
            f"the job writes {pq.read_schema(files[0]).names} without the rating's id: no one can tell which "
            "ratings a killed run finished, neither you nor a checkpoint.",
            "Return the id with the counts from count_words: a checkpoint by id needs it in what is written.",
        )
    return pd.concat([pd.read_parquet(p, columns=["id"]) for p in files])["id"]


@exercise("Stretch · a job that resumes")
def stretch(runs, output) -> str:
    import pandas as pd

    from ..data import data_path

    require("runs", runs, "what run_words returned for a killed run and for the run after it")
    first, second = _check_runs(runs)
    total = len(pd.read_json(data_path("new_ratings"), lines=True))
    ids = _written_ids(output)
    if ids.duplicated().any():
        raise Wrong(
            f"{int(ids.duplicated().sum())} rating(s) were written twice: the second run wrote rows the first "
            "one had written.",
            "Make the job skip them: a CheckpointConfig by id (see the lesson).",
        )
    if len(ids) != total:
        raise Wrong(f"{len(ids)} of {total} ratings were written.", "Let the second run finish: run_words().")
    worked = second.get("rows worked on", total)
    if worked >= total:
        raise Wrong(
            f"the second run worked on all {total} ratings again: the first run's work was redone.",
            'Set ray.data.DataContext.get_current().checkpoint_config = CheckpointConfig(id_column="id", '
            "checkpoint_path=...) in JOB, before the pipeline runs.",
        )
    return (
        f"the killed run worked on {first.get('rows worked on')} ratings; the second skipped what was written and "
        f"worked on {worked}; all {total} written once, each with its id."
    )
