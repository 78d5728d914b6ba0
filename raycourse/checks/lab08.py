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

Every check is in two halves (``raycourse.checks.Exercise``): the observer reads the learner's objects in the kernel
and returns plain data (the deployment's settings, the app's status, ``embed``'s and the HTTP route's answers; the
catalogue's rows and its run's stats; the good ids, the quarantine's rows and what ``validate`` did with the check's
tables; the runs and the job's files), and the judge decides from that data alone (in the grader's process when a
notebook is graded): its CLIP and the data files are the truth. Exercises 1 and 3 probe with inputs made from a seed
the caller chooses (:func:`queries`, :func:`validate_probes`). The observers still refuse early what must not run:
a deployment that would wait for a GPU forever, a lazy catalogue that would call the deleted app.
"""

from __future__ import annotations

import concurrent.futures
import random
from pathlib import Path

from ._core import Wrong, exercise, progress_of, require
from .toolkit import check_embeddings, error_line, model_for, require_dataset, rows_of

progress = progress_of(__name__)  # the lab's last cell: check.progress()

SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same text
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
    """The check's own normalised CLIP text embeddings (the judges' truth, computed in the grader's process)."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model_id = model_for("clip")
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    model, processor = _CLIP[model_id]
    with torch.inference_mode():
        features = model.get_text_features(**processor(text=texts, return_tensors="pt", padding=True)).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


# Exercise 1's search queries: made from a seed the caller chooses, so that a notebook cannot know them before its
# check runs (words of different lengths: a batch of them needs padding).
COLOURS = ("red", "blue", "yellow", "green", "white", "black", "grey", "purple", "orange", "pink")
PATTERNS = ("stripes", "checks", "dots", "zigzags", "squares")
THINGS = ("raincoat", "hat", "scarf", "jumper", "collar", "bandana", "coat", "bow tie")


def queries(seed) -> list[str]:
    """Six search queries made from ``seed``."""
    rng = random.Random(int(seed or 0))
    c = rng.sample(COLOURS, 5)
    things = rng.sample(THINGS, 2)
    texts = [
        f"{c[0]} and {c[1]} stripes",
        f"{rng.choice(('horizontal', 'vertical', 'diagonal'))} {rng.choice(PATTERNS)}",
        f"a {c[2]} {things[0]}",
        f"vertical {c[3]} and {c[4]} {rng.choice(PATTERNS)}",
        f"a tiny knitted {things[1]}",
        rng.choice(PATTERNS),
    ]
    rng.shuffle(texts)
    return texts


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


def _deployment(TextEncoder) -> dict:
    """What the check reads of the deployment's configuration, as plain data."""
    autoscaling = getattr(
        getattr(TextEncoder, "_deployment_config", None), "autoscaling_config", None
    )  # no public name
    embed = getattr(TextEncoder.func_or_class, "embed", None)
    return {
        "num_gpus": float((TextEncoder.ray_actor_options or {}).get("num_gpus") or 0),
        "num_replicas": TextEncoder.num_replicas,
        "max_replicas": None if autoscaling is None else autoscaling.max_replicas,
        "has_embed": embed is not None,
        "max_batch_size": embed._get_max_batch_size() if hasattr(embed, "_get_max_batch_size") else None,
        "max_ongoing_requests": TextEncoder.max_ongoing_requests,  # Serve's default: 5
        "access_log": (TextEncoder.logging_config or {}).get("enable_access_log", True),
    }


def _gpus_seen() -> dict:
    """The learner's GPUs (what GPU_SIZING gives in the kernel) and the cluster's."""
    import ray

    from raycourse import room

    cluster = int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0
    return {"learner": room.learner_gpus(), "cluster": cluster}


def _sized(deployment: dict) -> tuple[int, str]:
    """How many replicas the deployment may run (an autoscaling one: its most), and how that was said."""
    if deployment["max_replicas"] is not None:
        return int(deployment["max_replicas"]), f"up to {deployment['max_replicas']} autoscaled replicas"
    return int(deployment["num_replicas"]), f"{deployment['num_replicas']} replica(s)"


def _budget_words(gpus: dict) -> str:
    """raycourse.room.budget_words, from the GPUs the kernel saw."""
    from raycourse import room

    if gpus["learner"] < gpus["cluster"]:
        return f"your budget of {gpus['learner']} GPU(s) ({room.BUDGET_ENV}) of the cluster's {gpus['cluster']}"
    return f"the cluster's {gpus['cluster']} GPU(s)"


def _check_replicas(deployment: dict, gpus_seen: dict) -> float:
    """Each replica asks for part of a GPU; the replicas are sized to the cluster's GPUs, and fit them."""
    from raycourse import room

    gpus = float(deployment["num_gpus"])
    if not 0 < gpus < 1:
        raise Wrong(
            "its replicas ask for no GPU: the model would run on CPUs of a GPU cluster."
            if gpus <= 0
            else f"each replica asks for {gpus:g} GPU(s), where the lab asks for part of one: a small text "
            "encoder leaves most of a GPU idle.",
            'Give each replica part of a GPU: ray_actor_options={"num_gpus": 0.5}.',
        )
    cluster, (replicas, said) = int(gpus_seen["learner"]), _sized(deployment)
    if replicas * gpus > cluster + 1e-9:
        raise Wrong(
            f"{said} x {gpus:g} GPU = {replicas * gpus:g} GPUs, more than {_budget_words(gpus_seen)}: a "
            "replica would wait for a GPU forever.",
            f"Size it from the cluster, as every stage does: num_replicas=GPUS, with {room.GPU_SIZING}.",
        )
    if replicas < cluster:
        raise Wrong(
            f"{said} on a cluster of {cluster} GPU(s): a count fixed by hand leaves GPUs without a replica.",
            f"Size it from the cluster's GPUs: num_replicas=GPUS, with {room.GPU_SIZING}.",
        )
    return gpus


def _check_batching(deployment: dict) -> int:
    """``embed`` batches requests, and a replica holds enough requests at once to fill a batch."""
    if deployment["has_embed"] is not True:
        raise Wrong("the class has no method `embed`.", "Name the batched method `embed(self, texts)`.")
    max_batch = deployment["max_batch_size"]
    if not max_batch or max_batch < 2:
        raise Wrong(
            "`embed` does not batch requests: each call would run CLIP on one query.",
            "Decorate it with @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.05): it then gets a list "
            "of texts and returns a list of embeddings.",
        )
    ongoing = deployment["max_ongoing_requests"]
    if ongoing < max_batch:
        raise Wrong(
            f"a replica holds at most {ongoing} requests at once (max_ongoing_requests), so `embed` never gets "
            f"a batch larger than {ongoing}, not the {max_batch} of its max_batch_size.",
            f"Set max_ongoing_requests to at least max_batch_size in @serve.deployment(...): "
            f"max_ongoing_requests={2 * max_batch} lets the next batch gather while one runs.",
        )
    return max_batch


def _check_quiet(deployment: dict) -> None:
    if deployment["access_log"] is not False:
        raise Wrong(
            "every request would write a log line (Serve's access log is on): thousands of lines a minute, "
            "shown in the notebook.",
            'Turn it off in @serve.deployment(...): logging_config={"enable_access_log": False}, as in the lesson.',
        )


def _check_running(status, app_name: str) -> None:
    if status != "RUNNING":
        raise Wrong(
            f"no application {app_name!r} is running (Serve says: {status or 'none by that name'}).",
            f'Deploy it: serve.run(TextEncoder.bind(CLIP_ID), name="{app_name}", route_prefix="/search").',
        )


LIST_TYPES = ("list", "tuple", "ndarray")


def _vector(value):
    """A list-like answer as a list of numbers (None where it is not one)."""
    import numpy as np

    try:
        return np.asarray(value, dtype=np.float64).tolist()
    except (TypeError, ValueError):
        return None


def _ask_embed(app_name: str, texts: list[str]) -> dict:
    """``embed`` called through a handle, one text a call (Serve makes the batch): the answers, or the error."""
    import numpy as np
    from ray import serve

    def ask():
        handle = serve.get_app_handle(app_name)
        responses = [handle.embed.remote(text) for text in texts]
        return [response.result(timeout_s=120) for response in responses]

    try:
        answers = _in_thread(ask)
    except Exception as error:  # noqa: BLE001 (the learner's deployment failed: its own error, one line)
        return {"error": error_line(error)}
    return {
        "types": [type(a).__name__ for a in answers],
        "answers": [_vector(a) if isinstance(a, (list, tuple, np.ndarray)) else None for a in answers],
    }


def _check_embed(embed: dict, app_name: str, reference) -> None:
    if embed.get("error") is not None:
        raise Wrong(
            f"calling `embed` of {app_name!r} with one text failed: {embed['error']}",
            "`embed` takes one text per call (Serve makes the list) and returns one list of floats per text.",
        )
    types = embed["types"]
    if not types or not all(t in LIST_TYPES for t in types):
        raise Wrong(
            f"`embed` answered {types[0] if types else 'nothing'}, not a list of floats.",
            "Return features.tolist(): one list of floats per text.",
        )
    check_embeddings(embed["answers"], reference, "`embed`'s embeddings", **_EMBEDDING_HINTS)


def _ask_http(url, text: str) -> dict:
    """``__call__``, through Serve's HTTP proxy: {"text": ...} posted; what came back."""
    import requests

    try:
        answer = _in_thread(lambda: requests.post(url, json={"text": text}, timeout=120))
        body = answer.json() if answer.ok else None
    except Exception as error:  # noqa: BLE001 (no proxy there, or an answer that is not JSON)
        return {"error": error_line(error)}
    seen = {"error": None, "status": answer.status_code, "text": answer.text.strip()[:200], "json": body is not None}
    if body is not None:
        seen["shown"] = str(body)[:120]
        if isinstance(body, dict) and "embedding" in body:
            seen["embedding"] = body["embedding"]
    return seen


def _check_http(http, url, reference) -> None:
    """``__call__`` at the route the lab names: {"text": ...} in, {"embedding": ...} out."""
    if http is None:
        raise Wrong(
            "the check got no URL to call.",
            'Run the check cell as given: check.exercise_1(TextEncoder, "search", URL).',
        )
    if http["error"] is not None:
        raise Wrong(f"asking {url} over HTTP failed: {http['error']}", HTTP_HINT)
    if http["json"] is not True:
        raise Wrong(f"{url} answered HTTP {http['status']}: {http['text']}", HTTP_HINT)
    if "embedding" not in http:
        raise Wrong(f"{url} answered {http['shown']}, without an `embedding`.", HTTP_HINT)
    check_embeddings([http["embedding"]], reference[:1], f"the embedding {url} answered", **_EMBEDDING_HINTS)


def _judge_1(seen, seed=None) -> str:
    deployment, url = seen["deployment"], seen["url"]
    gpus = _check_replicas(deployment, seen["gpus"])
    max_batch = _check_batching(deployment)
    _check_quiet(deployment)
    _check_running(seen["status"], seen["app_name"])
    texts = queries(seed)
    reference = _text_embeddings(texts)
    _check_embed(seen["embed"], seen["app_name"], reference)
    _check_http(seen["http"], url, reference)
    return (
        f"{_sized(deployment)[1]} on {gpus:g} GPU each, batches of up to {max_batch}; {len(texts)} queries "
        f"embedded as CLIP does, and {url} answers over HTTP."
    )


@exercise("Exercise 1 · search queries online", judge=_judge_1)
def exercise_1(TextEncoder, app_name="search", url=None, *, seed=None) -> dict:
    """Observes the deployment's configuration, the cluster's GPUs, the app's status, `embed`'s answers to the seed's
    queries (through a handle) and the first query's answer over HTTP. The configuration is checked before the app is
    called (a replica that waits for a GPU would never answer)."""
    from ray import serve

    require("TextEncoder", TextEncoder, "your deployment: a class decorated with @serve.deployment(...)")
    if not isinstance(TextEncoder, serve.Deployment):
        raise Wrong(
            f"`TextEncoder` is a {type(TextEncoder).__name__}, not a Serve deployment.",
            "Decorate the class with @serve.deployment(num_replicas=..., ray_actor_options={...}).",
        )
    deployment, gpus = _deployment(TextEncoder), _gpus_seen()
    _check_replicas(deployment, gpus)
    _check_batching(deployment)
    _check_quiet(deployment)
    status = _applications().get(app_name)
    _check_running(status, app_name)
    texts = queries(seed)
    seen = {"deployment": deployment, "gpus": gpus, "app_name": app_name, "status": status, "url": url}
    seen["embed"] = _ask_embed(app_name, texts)
    seen["http"] = _ask_http(url, texts[0]) if url else None
    return seen


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

    from ..data import data_path

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


def _plain_id(value):
    """An id as the judge reads it: a whole number as an int, anything else (a missing one) as its text."""
    try:
        return int(value) if float(value).is_integer() else str(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _quarantined(folder: Path) -> dict:
    """What lies in the quarantine folder: how many JSON files, and their rows' id and reason (text, else None);
    where none: where files like them went."""
    import pandas as pd

    files = sorted(p for p in Path(folder).rglob("*.json*") if p.is_file()) if Path(folder).is_dir() else []
    if not files:
        return {"folder": str(folder), "files": 0, "elsewhere": _elsewhere(folder, "*.json*")}
    table = pd.concat([pd.read_json(p, lines=True) for p in files], ignore_index=True)
    reasons = table["reason"] if "reason" in table.columns else [None] * len(table)
    return {
        "folder": str(folder),
        "files": len(files),
        "columns": [str(c) for c in table.columns],
        "rows": [
            {"id": _plain_id(i), "reason": r if isinstance(r, str) else None}
            for i, r in zip(table["id"] if "id" in table.columns else [None] * len(table), reasons)
        ],
    }


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


def _check_quarantine(quarantine: dict, breakers: dict) -> None:
    """Every rating that breaks the rule is in the quarantine with a reason, and no other."""
    if quarantine["files"] == 0:
        raise Wrong(
            f"nothing was written to {quarantine['folder']}.{quarantine['elsewhere']}",
            'Pass out_dir / "quarantine" to validate(...): it writes the bad rows there with their reason.',
        )
    if "reason" not in quarantine["columns"]:
        raise Wrong(
            "the quarantined rows have no `reason` column.", "Keep the reason: with_column('reason', lit(...))."
        )
    reasons: dict = {}
    for row in quarantine["rows"]:
        reason = row["reason"]
        reasons.setdefault(row["id"], []).extend([reason] if isinstance(reason, str) and reason.strip() else [])
    quarantined = {int(i) for i in reasons}  # an id that is not a whole number: the judge cannot read it
    missing = sorted(set(breakers) - quarantined)
    if missing:
        raise Wrong(
            f"rating(s) {missing} break the rule and are not in the quarantine: they were dropped silently.",
            "Give every way a row can break the rule its own rule, missing values included.",
        )
    unexplained = sorted(int(i) for i, r in reasons.items() if not r)
    if unexplained:
        raise Wrong(f"quarantined rating(s) {unexplained} have no reason.", "Name each rule: RULES = {'reason': expr}.")
    wrongly = sorted(quarantined - set(breakers))
    if wrongly:
        raise Wrong(f"good rating(s) {wrongly[:5]} are in the quarantine.", "Check each rule's comparison.")


GIVEN_HINT = (
    "Run `validate` as the lab gives it: copy its cell from the lab again, unchanged, run it, then your RULES cell."
)


def validate_probes(seed) -> dict:
    """The tables the check hands `validate`, made from ``seed`` (columns ``id``, ``x``; two rules: x > 10, x < 0):
    ten rows with their ids, two of which break a rule (``bad``: one over 10, one negative), and the same ids with
    every x good but one missing (``with_null``: neither true nor false for a rule)."""
    rng = random.Random(int(seed or 0))
    ids = sorted(rng.sample(range(100, 1000), 10))
    xs = [rng.randint(0, 10) for _ in ids]
    over, negative = rng.sample(range(len(ids)), 2)
    xs[over], xs[negative] = rng.randint(11, 99), -rng.randint(1, 99)
    with_null = [rng.randint(0, 10) for _ in ids]
    with_null[rng.randrange(len(ids))] = None
    return {"ids": ids, "xs": xs, "bad": sorted((ids[over], ids[negative])), "with_null": with_null}


PROBE_RUNS = (  # (the table: "xs" or "with_null", max_bad_share, what it is, in words)
    ("xs", 0.2, "2 bad rows of 10 at max_bad_share=0.2"),
    ("xs", 0.1, "2 bad rows of 10 at max_bad_share=0.1"),
    ("with_null", 0.5, "a row no rule names (x missing: neither good nor quarantined)"),
)


def _probe(validate, ids: list, xs: list, max_bad_share: float) -> dict:
    """``validate`` run on a table of the check's own: what it raised (its exception's classes and line), or the ids
    it returned as good (None: not a Dataset) and the ids it quarantined."""
    import tempfile

    import pandas as pd
    import ray
    from ray.data.expressions import col

    table = ray.data.from_items([{"id": i, "x": x} for i, x in zip(ids, xs)])
    with tempfile.TemporaryDirectory(prefix="validate-") as folder:
        try:
            answer = validate(
                table,
                {"x over 10": col("x") > 10, "x negative": col("x") < 0},
                Path(folder),
                max_bad_share=max_bad_share,
            )
        except Exception as error:  # noqa: BLE001 (the given validate raises ValueError; the judge tells the rest)
            return {"raised": [c.__name__ for c in type(error).__mro__], "line": error_line(error)}
        files = sorted(Path(folder).rglob("*.json*"))
        written = pd.concat([pd.read_json(p, lines=True) for p in files]) if files else pd.DataFrame()
        quarantined = sorted(map(int, written.get("id", [])))
    good = answer[0] if isinstance(answer, tuple) and answer else answer
    is_dataset = isinstance(good, ray.data.Dataset)
    kept = sorted(map(int, rows_of(good, "validate(...)", GIVEN_HINT)["id"])) if is_dataset else None
    return {"raised": None, "kept": kept, "quarantined": quarantined}


def _observe_validate(validate, seed) -> list[dict] | None:
    if not callable(validate):
        return None
    probes = validate_probes(seed)
    return [_probe(validate, probes["ids"], probes[table], share) for table, share, _ in PROBE_RUNS]


def _check_given_validate(runs, seed) -> None:
    """The given validate, run as it is: it quarantines up to max_bad_share, raises above it, and raises for a row
    that no rule catches and no rule lets through (a missing value: x > 10 is neither true nor false)."""
    if runs is None:
        raise Wrong(
            "the check got no `validate` function.",
            'Run the check cell as given: check.exercise_3(good_ratings, out_dir / "quarantine", validate).',
        )
    if len(runs) != len(PROBE_RUNS):
        raise Wrong(f"the check saw {len(runs)} runs of `validate`, not {len(PROBE_RUNS)}.", GIVEN_HINT)
    probes = validate_probes(seed)
    first = runs[0]
    if first["raised"] is not None:
        raise Wrong(
            f"your `validate` raised for {PROBE_RUNS[0][2]}, where the given one returns them "
            f"quarantined: {first['line']}",
            GIVEN_HINT,
        )
    good = [i for i in probes["ids"] if i not in probes["bad"]]
    if first["kept"] != good or first["quarantined"] != probes["bad"]:
        raise Wrong(
            f"your `validate` kept {first['kept']} and quarantined {first['quarantined']} of a table whose rows "
            f"{probes['bad']} break the rule: the given one returns the other 8 and writes those 2 to "
            "quarantine_dir (rows dropped, not quarantined?).",
            GIVEN_HINT,
        )
    for run, (_, _, what) in zip(runs[1:], PROBE_RUNS[1:]):
        if run["raised"] is None or "ValueError" not in run["raised"]:
            got = f"raised {run['line']}" if run["raised"] is not None else "let it through"
            raise Wrong(f"your `validate` {got} for {what}, where the given one raises ValueError.", GIVEN_HINT)


def _judge_3(seen, seed=None) -> str:
    import pandas as pd

    from ..data import data_path

    ratings = pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})
    breakers = _rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"]))
    if "id" not in seen["good_columns"]:
        raise Wrong(
            "`good_ratings` has no `id` column.", "Keep the ratings' own columns: validate returns ds.filter(...)."
        )
    kept = {int(i) for i in seen["good_ids"]}
    _check_good_rows(kept, breakers, set(ratings["id"]))
    _check_quarantine(seen["quarantine"], breakers)
    _check_given_validate(seen["validate"], seed)
    return (
        f"{len(kept)} good ratings go on; the {len(breakers)} that break the rule are quarantined, each with its "
        "reason, by the given `validate`."
    )


@exercise("Exercise 3 · a validation rule for the ratings", judge=_judge_3)
def exercise_3(good_ratings, quarantine_dir, validate=None, *, seed=None) -> dict:
    """Observes `good_ratings`' columns and ids, what the quarantine folder holds, and what `validate` does with the
    seed's tables (:func:`validate_probes`)."""
    require("good_ratings", good_ratings, "the rows that break no rule, from validate(...)")
    require("validate", validate, "the lab's validate function, as it is given")
    require_dataset("good_ratings", good_ratings, "Keep what validate(...) returns: good_ratings, bad_ratings = ...")
    good = rows_of(good_ratings, "good_ratings", "Run validate's cell again and read its error.")
    columns = [str(c) for c in good.columns]
    return {
        "good_columns": columns,
        "good_ids": [int(i) for i in good["id"]] if "id" in columns else [],
        "quarantine": _quarantined(quarantine_dir),
        "validate": _observe_validate(validate, seed),
    }


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


def _written(output) -> dict:
    """The job's parquet files in ``output``: each one's name, whether it is whole, its columns and ids (of a whole
    file with an `id`); where none: where files like them went."""
    import pyarrow.parquet as pq

    files = sorted(Path(output).glob("*.parquet")) if Path(output).is_dir() else []
    seen = []
    for path in files:
        whole = _whole_parquet(path)
        columns = list(pq.read_schema(path).names) if whole else None
        ids = pq.read_table(path, columns=["id"])["id"].to_pylist() if whole and "id" in columns else None
        seen.append({"name": path.name, "whole": whole, "columns": columns, "ids": ids})
    return {"output": str(output), "files": seen, "elsewhere": "" if files else _elsewhere(output, "*.parquet")}


def _written_ids(written: dict) -> list:
    """The ids in the job's parquet files: every file whole, each with the rating's id."""
    output, files = written["output"], written["files"]
    if not files:
        raise Wrong(f"no parquet files in {output}.{written['elsewhere']}", "Run the job: run_words does.")
    cut_short = [f["name"] for f in files if f["whole"] is not True]
    if cut_short:
        raise Wrong(
            f"{len(cut_short)} file(s) in {output} are not whole parquet ({cut_short[0]}): the kill cut their "
            "write short, and the second run did not clean them up.",
            "A job with a CheckpointConfig deletes the files its killed run left half written when it starts "
            "again: set one in JOB (see the lesson), then run both runs again.",
        )
    without = [f for f in files if "id" not in f["columns"]]
    if without:
        raise Wrong(
            f"the job writes {without[0]['columns']} without the rating's id: no one can tell which "
            "ratings a killed run finished, neither you nor a checkpoint.",
            "Return the id with the counts from count_words: a checkpoint by id needs it in what is written.",
        )
    return [i for f in files for i in f["ids"]]


def _judge_stretch(seen, seed=None) -> str:
    import pandas as pd

    from ..data import data_path

    first, second = _check_runs(seen["runs"])
    total = len(pd.read_json(data_path("new_ratings"), lines=True))
    ids = pd.Series(_written_ids(seen["written"]), dtype=object)
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


@exercise("Stretch · a job that resumes", judge=_judge_stretch)
def stretch(runs, output) -> dict:
    """Observes `runs` as given (run_words' dicts) and the parquet files in `output`."""
    require("runs", runs, "what run_words returned for a killed run and for the run after it")
    return {"runs": runs, "written": _written(output)}
