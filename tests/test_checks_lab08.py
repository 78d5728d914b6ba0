"""Lab 08 checks: pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 deploys two small applications on the run's Ray (one replica each, half a logical GPU): a right
encoder and one that forgets to normalise. Everything else is checked without Serve: the expected embeddings and
verdicts come from the check's own CLIP and from the data files.
"""

import json

import numpy as np
import pandas as pd
import pytest

from raycourse import data_path
from raycourse.checks import lab08

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")


def _encoder(normalise=True, batched=True, gpus=0.5, replicas=1, ongoing=16):
    import torch
    from ray import serve

    class TextEncoder:
        def __init__(self, model_id):
            from transformers import CLIPModel, CLIPProcessor

            self.model = CLIPModel.from_pretrained(model_id).eval()
            self.processor = CLIPProcessor.from_pretrained(model_id)

        async def _embed(self, texts):
            with torch.inference_mode():
                features = self.model.get_text_features(
                    **self.processor(text=texts, return_tensors="pt", padding=True)
                ).pooler_output
            return (torch.nn.functional.normalize(features, dim=-1) if normalise else features).tolist()

        if batched:

            @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
            async def embed(self, texts):
                return await self._embed(texts)
        else:

            async def embed(self, text):
                return (await self._embed([text]))[0]

    return serve.deployment(
        TextEncoder,
        num_replicas=replicas,
        max_ongoing_requests=ongoing,
        ray_actor_options={"num_gpus": gpus},
        logging_config={"enable_access_log": False},
    )


@pytest.fixture(scope="module")
def serve_apps(ray_session):
    """A right encoder as "search" and one that does not normalise as "search-raw"; Serve stopped afterwards."""
    from ray import serve

    from raycourse import cluster, model_id

    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": cluster.free_port()})
    right, raw = _encoder(), _encoder(normalise=False)
    serve.run(right.bind(model_id("clip")), name="search", route_prefix="/search")
    serve.run(raw.bind(model_id("clip")), name="search-raw", route_prefix="/raw")
    yield right, raw
    serve.shutdown()


def test_ex1_placeholder_is_not_solved():
    assert lab08.exercise_1.result(...).status == "not solved"


def test_ex1_accepts_a_right_deployment_called_through_a_handle(serve_apps):
    right, _ = serve_apps
    verdict = lab08.exercise_1.result(right, "search")
    assert verdict.passed, verdict


def test_ex1_rejects_embeddings_that_are_not_normalised(serve_apps):
    _, raw = serve_apps
    verdict = lab08.exercise_1.result(raw, "search-raw")
    assert verdict.status == "wrong" and "normalize" in verdict.hint


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda: _encoder().func_or_class, "@serve.deployment"),  # the plain class
        (lambda: _encoder(gpus=0), "num_gpus"),
        (lambda: _encoder(replicas=8), "num_replicas=GPUS"),
        (lambda: _encoder(batched=False), "@serve.batch"),
        (lambda: _encoder(ongoing=5), "max_ongoing_requests"),  # Serve's default: no batch larger than 5
    ],
    ids=["not-a-deployment", "no-gpu", "more-gpus-than-the-cluster", "not-batched", "batches-capped-by-max-ongoing"],
)
def test_ex1_rejects_what_would_not_serve_well_before_calling_it(ray_session, make, hint):
    verdict = lab08.exercise_1.result(make(), "search")
    assert verdict.status == "wrong" and hint in verdict.hint, verdict


def test_ex1_holds_the_replicas_to_the_learners_gpu_budget(ray_session, monkeypatch):
    import ray

    gpus = int(ray.cluster_resources()["GPU"])
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    verdict = lab08.exercise_1.result(_encoder(replicas=2 * gpus, gpus=0.5), "search")  # the cluster's, not yours
    assert verdict.status == "wrong" and f"your budget of {gpus - 1} GPU(s)" in verdict.message, verdict
    assert "raycourse.gpu_budget()" in verdict.hint


def test_ex1_rejects_an_application_that_is_not_running(ray_session):
    verdict = lab08.exercise_1.result(_encoder(), "no-such-app")
    assert verdict.status == "wrong" and "serve.run" in verdict.hint


def _catalogue(template="a photo of a {}"):
    outfits = pd.read_csv(data_path("outfits"))
    vectors = lab08._text_embeddings([template.format(o) for o in outfits["outfit"]])
    return outfits.assign(embedding=list(vectors))


def test_ex2_accepts_a_table_and_a_dataset_once_the_app_is_deleted(ray_session):
    import ray

    table = _catalogue()
    assert lab08.exercise_2.result(...).status == "not solved"
    deleted = "deleted-search"  # an application that is not (or no longer) running
    assert lab08.exercise_2.result(table.sample(frac=1, random_state=0), deleted).passed  # any row order
    dataset = ray.data.from_pandas(table.assign(embedding=[v.tolist() for v in table["embedding"]]))
    assert lab08.exercise_2.result(dataset, deleted).passed


@pytest.mark.parametrize(
    "change, hint",
    [
        (lambda t: t.assign(batch_uuid="x", time_taken=0.1), "only id, outfit and embedding"),
        (lambda t: t.drop(columns="outfit"), "postprocess"),
        (lambda t: t.iloc[:-2], "every row"),
        (lambda t: _catalogue("{}"), "exactly the text"),
    ],
    ids=["internal-columns-kept", "a-column-lost", "rows-missing", "another-text"],
)
def test_ex2_rejects_tables_that_are_not_the_catalogue(ray_session, change, hint):
    verdict = lab08.exercise_2.result(change(_catalogue()), "deleted-search")
    assert verdict.status == "wrong" and hint in verdict.hint, verdict


def test_ex2_rejects_an_application_left_running(serve_apps):
    verdict = lab08.exercise_2.result(_catalogue(), "search")
    assert verdict.status == "wrong" and 'serve.delete("search")' in verdict.hint


def _ratings():
    return pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})


def _validated(tmp_path, good_ids=None, quarantine=None):
    """What validate() gives for the rule (or the changes asked for): the good rows and a quarantine folder."""
    ratings = _ratings()
    breakers = lab08._rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"]))
    good = ratings[~ratings["id"].isin(breakers if good_ids is None else set(ratings["id"]) - set(good_ids))]
    rows = (
        quarantine
        if quarantine is not None
        else [{**ratings.set_index("id").loc[i].to_dict(), "id": i, "reason": why} for i, why in breakers.items()]
    )
    folder = tmp_path / "quarantine"
    folder.mkdir()
    (folder / "part-0.json").write_text("".join(json.dumps(r, default=str) + "\n" for r in rows))
    return good, folder


def test_ex3_accepts_the_rule_with_every_bad_row_quarantined(tmp_path):
    assert lab08.exercise_3.result(..., tmp_path).status == "not solved"
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good, folder)
    assert verdict.passed and "5 that break the rule" in verdict.message, verdict


def test_ex3_accepts_a_missing_product_with_both_reasons(tmp_path):
    """not_in(CATALOGUE) is true for a missing product (lab 08 says why): the solution's rules quarantine that rating
    twice, "no product" and "not in the catalogue", and the check accepts it."""
    ratings = _ratings()
    breakers = lab08._rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"]))
    assert breakers[5] == "no product"
    rows = [{"id": i, "reason": why} for i, why in breakers.items()] + [{"id": 5, "reason": "not in the catalogue"}]
    good, folder = _validated(tmp_path, quarantine=rows)
    verdict = lab08.exercise_3.result(good, folder)
    assert verdict.passed, verdict


def test_ex3_rejects_a_rule_that_lets_a_null_product_through(tmp_path):
    bad_ids = set(lab08._rule_breakers(_ratings(), set(pd.read_csv(data_path("outfits"))["id"])))
    good, folder = _validated(tmp_path, good_ids=set(_ratings()["id"]) - bad_ids | {5})
    verdict = lab08.exercise_3.result(good, folder)
    assert verdict.status == "wrong" and "id 5 (no product)" in verdict.message and "is_null()" in verdict.hint


def test_ex3_rejects_bad_rows_dropped_silently_and_rows_without_reason(tmp_path):
    ratings = _ratings().set_index("id")
    breakers = lab08._rule_breakers(_ratings(), set(pd.read_csv(data_path("outfits"))["id"]))
    quiet = [{"id": i, "reason": why} for i, why in breakers.items() if i != 5]
    (tmp_path / "a").mkdir()
    good, folder = _validated(tmp_path / "a", quarantine=quiet)
    verdict = lab08.exercise_3.result(good, folder)
    assert verdict.status == "wrong" and "dropped silently" in verdict.message
    blank = [{"id": i, "reason": "" if i == 11 else why} for i, why in breakers.items()]
    (tmp_path / "b").mkdir()
    good, folder = _validated(tmp_path / "b", quarantine=blank)
    verdict = lab08.exercise_3.result(good, folder)
    assert verdict.status == "wrong" and "[11] have no reason" in verdict.message
    assert len(ratings) == 48


def _written(folder, runs_of_ids):
    folder.mkdir()
    for n, ids in enumerate(runs_of_ids):
        pd.DataFrame({"id": ids, "words": 3}).to_parquet(folder / f"run{n}.parquet")
    return folder


def test_stretch_accepts_a_resumed_run_and_rejects_a_restarted_one(tmp_path):
    ids = list(range(1, 49))
    assert lab08.stretch.result(..., tmp_path).status == "not solved"
    resumed = _written(tmp_path / "resumed", [ids[:12], ids[12:]])
    runs = [
        {"killed": True, "rows worked on": 16, "files written so far": 3},
        {"killed": False, "rows worked on": 36, "files written so far": 9},
    ]
    assert lab08.stretch.result(runs, resumed).passed
    restarted = _written(tmp_path / "restarted", [ids[:12], ids])  # no checkpoint: everything written again
    verdict = lab08.stretch.result([runs[0], {**runs[1], "rows worked on": 48}], restarted)
    assert verdict.status == "wrong" and "written twice" in verdict.message and "CheckpointConfig" in verdict.hint
    redone = _written(tmp_path / "redone", [ids])  # the first run's files deleted by hand, all redone
    verdict = lab08.stretch.result([runs[0], {**runs[1], "rows worked on": 48}], redone)
    assert verdict.status == "wrong" and "all 48 ratings again" in verdict.message
    verdict = lab08.stretch.result([{**runs[0], "killed": False}, runs[1]], resumed)
    assert verdict.status == "wrong" and "run_words(3)" in verdict.hint
    # the killed run's last file cut short, and no checkpoint to delete it: a verdict, not pyarrow's error
    cut_short = _written(tmp_path / "cut_short", [ids[:12], ids[12:]])
    whole = (cut_short / "run1.parquet").read_bytes()
    (cut_short / "run2.parquet").write_bytes(whole[: len(whole) // 2])
    verdict = lab08.stretch.result(runs, cut_short)
    assert verdict.status == "wrong" and "run2.parquet" in verdict.message and "CheckpointConfig" in verdict.hint
    assert np.array_equal(sorted(pd.read_parquet(resumed)["id"]), ids)
