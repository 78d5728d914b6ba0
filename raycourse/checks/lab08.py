"""Lab 08 checks (Serving and resilient jobs): pass any correct answer, reject placeholders and plausible mistakes.

The checks call the learner's deployment themselves, through a handle (no port), from a thread of their own: a
notebook's cells run inside an event loop, where Serve will not block on a response. The expected answers come
from the check's own CLIP and from the data files, never from numbers written here.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from ._core import Wrong, exercise, progress_of, require
from .toolkit import model_for

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


def _check_vectors(vectors, reference, what: str) -> None:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != reference.shape:
        raise Wrong(
            f"{what}: embeddings of shape {vectors.shape}, CLIP's are {reference.shape}.",
            "Return model.get_text_features(**inputs).pooler_output, one row per text, as a list of floats.",
        )
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, 1, atol=1e-3):
        raise Wrong(
            f"{what}: the embeddings have lengths {norms.min():.3g} to {norms.max():.3g}, not 1.",
            "Normalise each one: torch.nn.functional.normalize(features, dim=-1).",
        )
    cosines = (vectors * reference).sum(axis=1)
    if cosines.min() < SAME_DIRECTION:
        raise Wrong(
            f"{what}: some embeddings point elsewhere than CLIP's for the same text (cosine {cosines.min():.3f}).",
            "Embed exactly the text asked for, with the processor's text= and padding=True, and keep the rows "
            "in the order of the texts.",
        )


@exercise("Exercise 1 · search queries online")
def exercise_1(TextEncoder, app_name="search") -> str:
    import numpy as np
    from ray import serve

    require("TextEncoder", TextEncoder, "your deployment: a class decorated with @serve.deployment(...)")
    if not isinstance(TextEncoder, serve.Deployment):
        raise Wrong(
            f"`TextEncoder` is a {type(TextEncoder).__name__}, not a Serve deployment.",
            "Decorate the class with @serve.deployment(num_replicas=..., ray_actor_options={...}).",
        )
    gpus = float(TextEncoder.ray_actor_options.get("num_gpus") or 0) if TextEncoder.ray_actor_options else 0.0
    if gpus <= 0:
        raise Wrong(
            "its replicas ask for no GPU: the model would run on CPUs of a GPU cluster.",
            'Give each replica part of a GPU: ray_actor_options={"num_gpus": 0.5}.',
        )
    from raycourse import room

    cluster_gpus = room.learner_gpus()  # the cluster's GPUs, within the learner's budget
    replicas = TextEncoder.num_replicas
    if isinstance(replicas, int) and replicas * gpus > cluster_gpus + 1e-9:
        raise Wrong(
            f"{replicas} replicas x {gpus:g} GPU = {replicas * gpus:g} GPUs, more than "
            f"{room.budget_words(cluster_gpus)}: a replica would wait for a GPU forever.",
            f"Size it from the cluster, as every stage does: num_replicas=GPUS, with {room.GPU_SIZING}.",
        )
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
    status = _applications().get(app_name)
    if status != "RUNNING":
        raise Wrong(
            f"no application {app_name!r} is running (Serve says: {status or 'none by that name'}).",
            f'Deploy it: serve.run(TextEncoder.bind(CLIP_ID), name="{app_name}", route_prefix="/search").',
        )

    def ask():
        handle = serve.get_app_handle(app_name)
        responses = [handle.embed.remote(text) for text in QUERIES]
        return [response.result(timeout_s=120) for response in responses]

    try:
        answers = _in_thread(ask)
    except Exception as error:
        raise Wrong(
            f"calling `embed` of {app_name!r} with one text failed: {type(error).__name__}: "
            f"{str(error).strip().splitlines()[-1][:300]}",
            "`embed` takes one text per call (Serve makes the list) and returns one list of floats per text.",
        )
    if not all(isinstance(a, (list, tuple, np.ndarray)) for a in answers):
        raise Wrong(
            f"`embed` answered {type(answers[0]).__name__}, not a list of floats.",
            "Return features.tolist(): one list of floats per text.",
        )
    _check_vectors(answers, _text_embeddings(QUERIES), "`embed`")
    sized = f"{replicas} replica(s)" if isinstance(replicas, int) else "autoscaled replicas"
    return f"{sized} on {gpus:g} GPU each, batches of up to {max_batch}; {len(QUERIES)} queries embedded as CLIP does."


def _catalogue_frame(catalogue):
    import pandas as pd

    if isinstance(catalogue, pd.DataFrame):
        return catalogue
    if hasattr(catalogue, "to_pandas"):
        return catalogue.to_pandas()
    raise Wrong(
        f"`catalogue` is a {type(catalogue).__name__}.",
        "Keep what the processor returns: processor(outfits).materialize() (or .to_pandas()).",
    )


@exercise("Exercise 2 · the catalogue through the deployment")
def exercise_2(catalogue, app_name="search") -> str:
    import pandas as pd

    from ..data import data_path

    require("catalogue", catalogue, "the processor's output: every outfit with its embedding")
    table = _catalogue_frame(catalogue)
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
    outfits = pd.read_csv(data_path("outfits"))
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
    _check_vectors(list(table["embedding"]), _text_embeddings([f"a photo of a {o}" for o in expected]), "the catalogue")
    status = _applications().get(app_name)
    if status in ("RUNNING", "DEPLOYING", "UNHEALTHY", "DEPLOY_FAILED"):
        raise Wrong(
            f"the {app_name!r} application is still {status.lower()}: its replicas hold their GPUs although "
            "the batch is done.",
            f'Delete it when the processor has run: serve.delete("{app_name}").',
        )
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


def _quarantined(folder: Path):
    import pandas as pd

    files = sorted(p for p in Path(folder).rglob("*.json*") if p.is_file()) if Path(folder).is_dir() else []
    if not files:
        raise Wrong(
            f"nothing was written to {folder}.",
            'Pass out_dir / "quarantine" to validate(...): it writes the bad rows there with their reason.',
        )
    return pd.concat([pd.read_json(p, lines=True) for p in files], ignore_index=True)


@exercise("Exercise 3 · a validation rule for the ratings")
def exercise_3(good_ratings, quarantine_dir) -> str:
    import pandas as pd

    from ..data import data_path

    require("good_ratings", good_ratings, "the rows that break no rule, from validate(...)")
    ratings = pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})
    catalogue = set(pd.read_csv(data_path("outfits"))["id"])
    breakers = _rule_breakers(ratings, catalogue)
    good = _catalogue_frame(good_ratings)
    if "id" not in good.columns:
        raise Wrong(
            "`good_ratings` has no `id` column.", "Keep the ratings' own columns: validate returns ds.filter(...)."
        )
    kept = set(good["id"].astype(int))
    let_through = sorted(kept & set(breakers))
    if let_through:
        raise Wrong(
            f"{len(let_through)} rating(s) that break the rule are among the good ones: "
            + "; ".join(f"id {i} ({breakers[i]})" for i in let_through[:3])
            + ".",
            "Every rule is an expression true where a row breaks it: is_null() for a missing value, "
            "not_in(CATALOGUE) for an unknown product, str.len() > 120 for a long comment.",
        )
    lost = sorted(set(ratings["id"]) - set(breakers) - kept)
    if lost:
        raise Wrong(
            f"{len(lost)} good rating(s) are missing from `good_ratings` (ids {lost[:5]}).",
            "A rule catches more than it should: check its comparison (at most 120 characters is fine).",
        )
    quarantined = _quarantined(quarantine_dir)
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
    return (
        f"{len(kept)} good ratings go on; the {len(breakers)} that break the rule are quarantined, each with its "
        "reason."
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


@exercise("Stretch · a job that resumes")
def stretch(runs, output) -> str:
    import pandas as pd

    from ..data import data_path

    require("runs", runs, "what run_words returned for a killed run and for the run after it")
    if not isinstance(runs, (list, tuple)) or len(runs) != 2 or not all(isinstance(r, dict) for r in runs):
        raise Wrong(
            "`runs` should be a list of the two dicts run_words returned.", "runs = [run_words(3), run_words()]"
        )
    first, second = runs
    total = len(pd.read_json(data_path("new_ratings"), lines=True))
    if not first.get("killed"):
        raise Wrong("the first run was not killed.", "Kill it part-way: run_words(3).")
    files = list(Path(output).glob("*.parquet")) if Path(output).is_dir() else []
    if not files:
        raise Wrong(f"no parquet files in {output}.", "Run the job into `output` (run_words does).")
    cut_short = sorted(p.name for p in files if not _whole_parquet(p))
    if cut_short:
        raise Wrong(
            f"{len(cut_short)} file(s) in {output} are not whole parquet ({cut_short[0]}): the kill cut their "
            "write short, and the second run did not clean them up.",
            "A job with a CheckpointConfig deletes the files its killed run left half written when it starts "
            "again: set one in JOB (see the lesson), then run both runs again.",
        )
    ids = pd.concat([pd.read_parquet(p, columns=["id"]) for p in files])["id"]
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
            "checkpoint_path=checkpoints) in JOB, before the pipeline.",
        )
    return (
        f"the killed run worked on {first.get('rows worked on')} ratings; the second skipped what was written and "
        f"worked on {worked}; all {total} written once."
    )
