"""Lab 08 checks: pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 deploys four small applications on the run's Ray, once for the module: a right encoder ("search", GPUS
replicas of half a logical GPU, its settings given by .options(...) and serve.run's logging_config), and three that
forward `embed` to it, so they load no model: one whose embeddings are not normalised, one with no HTTP route, one
run with a single replica. The check reads the settings an app runs with (where none runs by the name handed: the
deployment object handed, which then carries the configuration under test), then calls the running application
through a handle and over HTTP.
Exercise 2 gets the catalogue that a real processor made through the right encoder (built once, with the
applications) and changes of it, and a processor aimed at the app the test names (building one calls no Serve).
Exercise 3 gets the lab's given `validate` and `RULES`, read from the solved lab's text, and edited copies of them;
everything else is checked without Serve: the expected embeddings and verdicts come from the check's own CLIP and
from the data files.
"""

import ast
import json
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ray.data.expressions import col

from raycourse import data_path
from raycourse.checks import lab08

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")


def setup_module():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this module


def _gpus() -> int:
    import ray

    return int(ray.cluster_resources()["GPU"])


def _encoder(
    normalise=True, batched=True, gpus=0.5, replicas=None, ongoing=16, http=True, quiet=True, bare=False, **options
):
    """A TextEncoder deployment as a learner writes it (replicas: GPUS unless given; bare: @serve.deployment with no
    settings, which the learner then gives to .options(...) and serve.run(...))."""
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

        if http:

            async def __call__(self, request):
                return {"embedding": await self.embed((await request.json())["text"])}

        async def embed_request(self, request: dict):  # Exercise 2's processor calls it
            yield {"embedding": await self.embed(request["text"])}

    if bare:
        return serve.deployment(TextEncoder)
    sized = {} if "autoscaling_config" in options else {"num_replicas": _gpus() if replicas is None else replicas}
    return serve.deployment(
        TextEncoder,
        **sized,
        max_ongoing_requests=ongoing,
        ray_actor_options={"num_gpus": gpus},
        logging_config={"enable_access_log": not quiet},
        **options,
    )


def _forwarder(scale=1.0, http=False, replicas=None):
    """`embed` that asks the "search" app and multiplies its answer by `scale` (2: embeddings not normalised), with
    `__call__` if `http`, so its replica loads no model; settings as the lab asks, but for `replicas` (given:
    that many; else autoscaled up to GPUS, one running)."""
    from ray import serve

    class TextEncoder:
        def __init__(self):
            self.search = serve.get_app_handle("search")

        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
        async def embed(self, texts):
            return [[scale * x for x in await self.search.embed.remote(text)] for text in texts]

        if http:

            async def __call__(self, request):
                return {"embedding": await self.embed((await request.json())["text"])}

    sized = (
        {"autoscaling_config": {"min_replicas": 1, "max_replicas": _gpus()}}
        if replicas is None
        else {"num_replicas": replicas}
    )
    return serve.deployment(
        TextEncoder,
        max_ongoing_requests=16,
        ray_actor_options={"num_gpus": 0.1, "num_cpus": 0},
        logging_config={"enable_access_log": False},
        **sized,
    )


@pytest.fixture(scope="module")
def serve_apps(ray_session):
    """The applications, the proxy's address, and a catalogue that a processor made through "search"; Serve stopped
    afterwards. "search" is the right encoder, its settings given as a learner may give them: a bare
    @serve.deployment, then .options(...) and serve.run's logging_config (GPUS replicas of half a GPU). The others
    ask it, so they load no model: "search-raw" (its embeddings doubled: not normalised), "search-nohttp" (no
    `__call__`), both with the settings the lab asks, and "search-one" (one replica: a count fixed by hand)."""
    import ray
    from ray import serve
    from ray.data.llm import ServeDeploymentProcessorConfig, build_processor

    from raycourse.session import cluster
    from raycourse import model_id

    port = cluster.free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    right = _encoder(bare=True).options(
        num_replicas=_gpus(), max_ongoing_requests=16, ray_actor_options={"num_gpus": 0.5}
    )
    quiet = {"enable_access_log": False}
    serve.run(right.bind(model_id("clip")), name="search", route_prefix="/search", logging_config=quiet)
    serve.run(_forwarder(scale=2.0, http=True).bind(), name="search-raw", route_prefix="/raw")
    serve.run(_forwarder().bind(), name="search-nohttp", route_prefix="/nohttp")
    serve.run(_forwarder(http=True, replicas=1).bind(), name="search-one", route_prefix="/one")
    processor = build_processor(
        ServeDeploymentProcessorConfig(deployment_name="TextEncoder", app_name="search", batch_size=8, concurrency=1),
        preprocess=lambda row: {"method": "embed_request", "request_kwargs": {"text": f"a photo of a {row['outfit']}"}},
        postprocess=lambda row: {"id": row["id"], "outfit": row["outfit"], "embedding": row["embedding"]},
    )
    outfits = ray.data.read_csv(data_path("outfits"))
    catalogue = processor(outfits).materialize()
    yield types.SimpleNamespace(
        url=f"http://127.0.0.1:{port}", catalogue=catalogue, lazy=lambda: processor(outfits), processor=processor
    )
    serve.shutdown()


# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 a Serve deployment that holds CLIP: test_ex1_rejects_what_would_not_serve_well...[not-a-deployment]
#   R2 `embed` decorated with @serve.batch: test_ex1_rejects_what_would_not_serve_well...[not-batched]
#   R3 (probe) `embed` returns each text's normalised embedding, a list of floats (the seed's queries, through a
#      handle): test_ex1_rejects_embeddings_that_are_not_normalised, test_ex1_observation_passes_and_forgeries...
#   R4 (probe) `__call__` for HTTP, {"text"} in and {"embedding"} out (the seed's first query, posted):
#      test_ex1_calls_the_http_route
#   R5 replicas sized to the cluster's GPUs, not a count fixed by hand, not more than fit: [fixed-count],
#      [more-gpus-than-the-cluster], test_ex1_holds_the_replicas_to_the_learners_gpu_budget,
#      test_ex1_judges_the_settings_the_app_runs_with (one replica run, the decorator's GPUS)
#   R6 each replica asks for part of a GPU: [no-gpu], [a-whole-gpu]
#   R7 holding at least max_batch_size requests at once (max_ongoing_requests): [batches-capped-by-max-ongoing]
#   R8 no log line per request (logging_config): [access-log-on]
#   R9 deployed as the application "search" with the route /search:
#      test_ex1_rejects_an_application_that_is_not_running, test_ex1_calls_the_http_route (another route: 404)
# Right answers written otherwise: the settings in the decorator, or given to .options(...) and serve.run(...,
# logging_config=...) (test_ex1_accepts_right_deployments: the check reads what the app runs with); GPUS replicas,
# twice as many on a quarter GPU, autoscaling up to GPUS (test_ex1_accepts_replicas_sized_otherwise).

NOT_DEPLOYED = "not-deployed"  # an app that is not running: the check reads the settings of the deployment handed


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    assert lab08.exercise_1.result(...).status == "not solved"


@pytest.mark.fast
@pytest.mark.parametrize(
    "make",
    [lambda: _encoder(), lambda: _encoder(bare=True)],
    ids=["settings-in-the-decorator", "settings-given-to-options-and-serve-run"],
)
def test_ex1_accepts_right_deployments(serve_apps, make):
    """ "search" runs a bare deployment given its settings by .options(...) and serve.run(..., logging_config=...):
    handed that bare deployment (no GPU, Serve's 5 requests at once, its access log on), the check still passes."""
    verdict = lab08.exercise_1.result(make(), "search", f"{serve_apps.url}/search")
    assert verdict.passed, verdict
    assert "answers over HTTP" in verdict.message


@pytest.mark.parametrize(
    "make",
    [
        lambda: _encoder(replicas=2 * _gpus(), gpus=0.5),
        lambda: _encoder(replicas=2 * _gpus(), gpus=0.25),
        lambda: _encoder(autoscaling_config={"min_replicas": 1, "max_replicas": _gpus()}),
    ],
    ids=["two-per-gpu", "two-per-gpu-on-a-quarter", "autoscaled-to-GPUS"],
)
def test_ex1_accepts_replicas_sized_otherwise(serve_apps, make):
    """The judge on the settings of a deployment so written (read from it, as where no app runs), with what the
    running "search" app answered."""
    seen = lab08.exercise_1.observe(_encoder(), "search", f"{serve_apps.url}/search", seed=SEED)
    settings = lab08.ex1._deployment(make())
    verdict = lab08.exercise_1.decide({**seen, "deployment": {**seen["deployment"], **settings}}, SEED)
    assert verdict.passed, verdict


def test_ex1_judges_the_settings_the_app_runs_with(serve_apps):
    """The deployment handed asks for GPUS replicas; the app runs one (.options(num_replicas=1) at serve.run)."""
    verdict = lab08.exercise_1.result(_encoder(), "search-one", f"{serve_apps.url}/one")
    assert verdict.status == "wrong" and "1 replica(s)" in verdict.message, verdict
    assert "num_replicas=GPUS" in verdict.hint


@pytest.mark.fast
def test_ex1_rejects_embeddings_that_are_not_normalised(serve_apps):
    verdict = lab08.exercise_1.result(_encoder(), "search-raw", f"{serve_apps.url}/raw")
    assert verdict.status == "wrong" and "normalize" in verdict.hint, verdict


def test_ex1_calls_the_http_route(serve_apps):
    """A deployment whose `embed` is right but that has no `__call__` fails; so does a route other than the lab's."""
    verdict = lab08.exercise_1.result(_encoder(), "search-nohttp", f"{serve_apps.url}/nohttp")
    assert verdict.status == "wrong" and "answered HTTP 500" in verdict.message, verdict
    assert "__call__" in verdict.hint and len(verdict.message) < 400
    verdict = lab08.exercise_1.result(_encoder(), "search", f"{serve_apps.url}/elsewhere")
    assert verdict.status == "wrong" and "answered HTTP 404" in verdict.message and "/search" in verdict.hint


@pytest.mark.parametrize(
    "make, hint",
    [
        (lambda: _encoder().func_or_class, "@serve.deployment"),  # the plain class
        (lambda: _encoder(gpus=0), "num_gpus"),
        (lambda: _encoder(gpus=1), "part of a GPU"),
        (lambda: _encoder(replicas=8), "num_replicas=GPUS"),
        (lambda: _encoder(replicas=1), "num_replicas=GPUS"),  # tiny's Ray has 2 GPUs
        (lambda: _encoder(batched=False), "@serve.batch"),
        (lambda: _encoder(ongoing=5), "max_ongoing_requests"),  # Serve's default: no batch larger than 5
        (lambda: _encoder(quiet=False), "enable_access_log"),
    ],
    ids=[
        "not-a-deployment",
        "no-gpu",
        "a-whole-gpu",
        "more-gpus-than-the-cluster",
        "fixed-count",
        "not-batched",
        "batches-capped-by-max-ongoing",
        "access-log-on",
    ],
)
def test_ex1_rejects_what_would_not_serve_well_before_calling_it(ray_session, make, hint):
    """Settings read from the deployment handed (no app runs by that name), refused before the app is asked."""
    verdict = lab08.exercise_1.result(make(), NOT_DEPLOYED, "http://127.0.0.1:1/search")
    assert verdict.status == "wrong" and hint in verdict.hint, verdict


def test_ex1_holds_the_replicas_to_the_learners_gpu_budget(ray_session, monkeypatch):
    gpus = _gpus()
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    verdict = lab08.exercise_1.result(_encoder(replicas=2 * gpus, gpus=0.5), NOT_DEPLOYED)  # the cluster's, not yours
    assert verdict.status == "wrong" and f"your budget of {gpus - 1} GPU(s)" in verdict.message, verdict
    assert "raycourse.gpu_budget()" in verdict.hint


def test_ex1_rejects_an_application_that_is_not_running(ray_session):
    verdict = lab08.exercise_1.result(_encoder(), "no-such-app")
    assert verdict.status == "wrong" and "serve.run" in verdict.hint


# Exercise 2 requires (the lab's text, sentence by sentence):
#   R1 the embeddings made by build_processor through the deployment: test_ex2_rejects_embeddings_made_elsewhere
#   R2 `processor` aimed at Exercise 1's app "search", no other: test_ex2_rejects_a_processor_aimed_elsewhere
#   R3 `catalogue` a materialized Dataset (not pandas; not lazy: the app is deleted after):
#      test_ex2_rejects_a_lazy_catalogue_and_a_pandas_table
#   R4 each outfit sent as "a photo of a <outfit>": test_ex2_rejects_tables_that_are_not_the_catalogue[another-text]
#   R5 exactly three columns id, outfit and embedding: [internal-columns-kept], [a-column-lost]
#   R6 every outfit, once: [rows-missing]
#   R7 the "search" app deleted: test_ex2_rejects_an_application_left_running
# Right answers written otherwise: test_ex2_accepts_the_processors_catalogue (in another order, too).


DELETED = "deleted-search"  # the lab's app name in these tests: an application that is not (or no longer) running


def _aimed(app_name=DELETED):
    """A processor of the lab's kind aimed at `app_name` (built only: the check reads what it calls)."""
    from ray.data.llm import ServeDeploymentProcessorConfig, build_processor

    return build_processor(
        ServeDeploymentProcessorConfig(deployment_name="TextEncoder", app_name=app_name, batch_size=8, concurrency=1)
    )


def _catalogue(template="a photo of a {}"):
    outfits = pd.read_csv(data_path("outfits"))
    vectors = lab08._text_embeddings([template.format(o) for o in outfits["outfit"]])
    return outfits.assign(embedding=list(vectors))


@pytest.mark.fast
def test_ex2_accepts_the_processors_catalogue(serve_apps):
    assert lab08.exercise_2.result(...).status == "not solved"
    assert lab08.exercise_2.result(serve_apps.catalogue, DELETED, ...).status == "not solved"
    assert lab08.exercise_2.result(serve_apps.catalogue, DELETED, _aimed()).passed
    shuffled = serve_apps.catalogue.random_shuffle(seed=0).materialize()
    assert lab08.exercise_2.result(shuffled, DELETED, _aimed()).passed


def test_ex2_rejects_a_processor_aimed_elsewhere(serve_apps):
    """A processor aimed at another app (a copy of the deployment under another name answers the same embeddings),
    and a check cell that hands over no processor."""
    verdict = lab08.exercise_2.result(serve_apps.catalogue, DELETED, _aimed("search-raw"))
    assert verdict.status == "wrong" and "calls the application 'search-raw', not 'deleted-search'" in verdict.message
    assert f'app_name="{DELETED}"' in verdict.hint and len(verdict.message) < 200, verdict
    verdict = lab08.exercise_2.result(serve_apps.catalogue, DELETED)
    assert verdict.status == "wrong" and "got no processor" in verdict.message and "processor)" in verdict.hint


@pytest.mark.fast
def test_ex2_rejects_a_lazy_catalogue_and_a_pandas_table(serve_apps):
    verdict = lab08.exercise_2.result(serve_apps.lazy(), DELETED, _aimed())
    assert verdict.status == "wrong" and "is lazy" in verdict.message and "materialize()" in verdict.hint, verdict
    assert len(verdict.message) < 300
    verdict = lab08.exercise_2.result(serve_apps.catalogue.to_pandas(), DELETED, _aimed())
    assert verdict.status == "wrong" and "not a Ray Dataset" in verdict.message


def test_ex2_rejects_embeddings_made_elsewhere(ray_session):
    import ray

    table = _catalogue()  # the notebook's own CLIP, right numbers, no deployment
    made_here = ray.data.from_pandas(table.assign(embedding=[v.tolist() for v in table["embedding"]])).materialize()
    verdict = lab08.exercise_2.result(made_here, DELETED, _aimed())
    assert (
        verdict.status == "wrong" and "not made by a processor" in verdict.message and "build_processor" in verdict.hint
    )


def _changed(catalogue, change):
    """The processor's catalogue changed as `change` says, still a Dataset that the processor's run made (the
    change applied in the driver, handed over by a batch function over the processor's output)."""
    table = change(catalogue.to_pandas())
    return (
        catalogue.repartition(1).map_batches(lambda batch: table, batch_format="pandas", batch_size=None).materialize()
    )


def _another_text(table):
    other = _catalogue("{}").set_index("id")["embedding"]
    return table.assign(embedding=[other[i].tolist() for i in table["id"]])


@pytest.mark.parametrize(
    "change, hint",
    [
        (lambda t: t.assign(batch_uuid="x", time_taken=0.1), "only id, outfit and embedding"),
        (lambda t: t.drop(columns="outfit"), "postprocess"),
        (lambda t: t.iloc[:-2], "every row"),
        (_another_text, "exactly the text"),
    ],
    ids=["internal-columns-kept", "a-column-lost", "rows-missing", "another-text"],
)
def test_ex2_rejects_tables_that_are_not_the_catalogue(serve_apps, change, hint):
    verdict = lab08.exercise_2.result(_changed(serve_apps.catalogue, change), DELETED, _aimed())
    assert verdict.status == "wrong" and hint in verdict.hint, verdict


def test_ex2_rejects_an_application_left_running(serve_apps):
    verdict = lab08.exercise_2.result(serve_apps.catalogue, "search", serve_apps.processor)
    assert verdict.status == "wrong" and 'serve.delete("search")' in verdict.hint


# Exercise 3 requires (the lab's text, sentence by sentence):
#   R1 `good_ratings` what validate returns, a Dataset of the ratings' rows:
#      test_ex3_wants_validates_dataset_and_says_where_files_went
#   R2 (probe) `RULES`, a dict from a reason to an expression true where a row breaks the rule:
#      test_ex3_rejects_rules_that_are_not_expressions[not-handed-over], [a-string], [a-list], [numbers]
#   R3 (probe) a product of the catalogue (an id of outfits.csv): test_ex3_rejects_a_rule_that_lets_a_null_product...,
#      test_ex3_rejects_rules_the_sample_cannot_tell[bad-ids-listed-by-hand]
#   R4 (probe) a comment of at most 120 characters: test_ex3_rejects_a_rule_that_catches_a_good_rating,
#      test_ex3_rejects_rules_the_sample_cannot_tell[at-least-120], [over-100], [byte-len]
#   R5 (probe) every missing value named (is_null()): test_ex3_rejects_rules_the_sample_cannot_tell[no-text-null]
#   R6 the bad rows quarantined in out_dir / "quarantine", each with its reason:
#      test_ex3_rejects_bad_rows_dropped_silently_and_rows_without_reason, test_ex3_wants_validates_dataset_and_...,
#      test_ex3_judges_the_newest_write_of_the_quarantine (an earlier run's files beside it)
#   R7 (probe) the given `validate` run as it is (not edited in place):
#      test_ex3_rejects_an_edited_validate[not-handed-over], [share-loosened], [share-stricter],
#      [rows-dropped-not-quarantined], [no-raise-for-a-row-no-rule-names]
#   R8 at most 20 % bad rows (max_bad_share=0.2): not judged, the share passed is not seen and any from 5/48 up
#      gives the same rows; how the given validate treats a share: [share-loosened], [share-stricter]
# Right answers written otherwise: a missing product with one reason or both (test_ex3_accepts_a_missing_product_...);
# the given validate written otherwise, its behaviour unchanged (test_ex3_accepts_the_given_validate_written_otherwise);
# the rules written otherwise (test_ex3_accepts_rules_written_otherwise: the solution's, ~is_in(...), no rule of its
# own for a missing product, the comment's two rules in one).

LAB = Path(__file__).parents[2] / "solutions" / "08_serving_and_resilient_jobs_lab.ipynb"


def _given_validate(*edits):
    """The lab's given `validate`, read from the solved lab's text, with each (old, new) edit applied."""
    import nbformat
    from ray.data.expressions import lit

    cell = next(c.source for c in nbformat.read(LAB, 4).cells if "def validate(" in c.source)
    node = next(n for n in ast.parse(cell).body if getattr(n, "name", None) == "validate")
    source = ast.get_source_segment(cell, node)
    for old, new in edits:
        assert old in source, f"the given validate no longer has {old!r}: update this test's edit"
        source = source.replace(old, new)
    namespace = {"lit": lit}
    exec(source, namespace)
    return namespace["validate"]


def _solution_rules():
    """The solved lab's `RULES`, read from its text."""
    import nbformat

    cell = next(c.source for c in nbformat.read(LAB, 4).cells if "RULES = {" in c.source)
    node = next(n for n in ast.parse(cell).body if isinstance(n, ast.Assign) and n.targets[0].id == "RULES")
    namespace = {"col": col, "CATALOGUE": CATALOGUE}
    exec(ast.get_source_segment(cell, node), namespace)
    return namespace["RULES"]


GIVEN = _given_validate()
CATALOGUE = pd.read_csv(data_path("outfits"))["id"].tolist()
RULES = _solution_rules()
SEED = 20240611  # the seed a test hands the checks where it names what the probes hold


def _ratings():
    return pd.read_json(data_path("new_ratings"), lines=True, dtype={"product_id": "Int64"})


def _validated(tmp_path, good_ids=None, quarantine=None):
    """What validate() gives for the rule (or the changes asked for): the good rows and a quarantine folder."""
    import ray

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
    return ray.data.from_pandas(good), folder


@pytest.mark.fast
def test_ex3_accepts_the_rule_with_every_bad_row_quarantined(ray_session, tmp_path):
    assert lab08.exercise_3.result(..., tmp_path, GIVEN, RULES).status == "not solved"
    good, folder = _validated(tmp_path)
    assert lab08.exercise_3.result(good, folder, ..., RULES).status == "not solved"
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.passed and "5 that break the rule" in verdict.message, verdict


def test_ex3_accepts_the_given_validate_written_otherwise(ray_session, tmp_path):
    """The rules or-ed with functools.reduce, the docstring left out: what it does is what the check asks."""
    rewritten = _given_validate(
        (
            "    broken = None\n    for rule in rules.values():\n"
            "        broken = rule if broken is None else broken | rule\n",
            "    broken = __import__('functools').reduce(lambda a, b: a | b, rules.values())\n",
        ),
        ('"""The rows that break no rule;', '"""'),
    )
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good, folder, rewritten, RULES)
    assert verdict.passed, verdict


@pytest.mark.parametrize(
    "edits, message",
    [
        ([("> max_bad_share * n", "> max(max_bad_share, 0.5) * n")], "let it through for 2 bad rows of 10 at max_bad"),
        ([("> max_bad_share * n", ">= max_bad_share * n")], "raised for 2 bad rows of 10 at max_bad_share=0.2"),
        ([("    bad.write_json(str(quarantine_dir))\n", "")], "kept {good} and quarantined []"),
        ([("if n_good + len(bad_ids) != n:", "if False:")], "let it through for a row no rule names"),
        (None, "got no `validate`"),
    ],
    ids=[
        "share-loosened",
        "share-stricter",
        "rows-dropped-not-quarantined",
        "no-raise-for-a-row-no-rule-names",
        "not-handed-over",
    ],
)
def test_ex3_rejects_an_edited_validate(ray_session, tmp_path, edits, message):
    """The learner's rows and quarantine are right (made by the rule); the validate handed over was edited."""
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(
        good, folder, None if edits is None else _given_validate(*edits), RULES, seed=SEED
    )
    probes = lab08.validate_probes(SEED)
    message = message.format(good=[i for i in probes["ids"] if i not in probes["bad"]])
    assert verdict.status == "wrong" and message in verdict.message, verdict
    assert "validate" in verdict.hint and "\n" not in verdict.message and len(verdict.message) < 250
    assert "np." not in verdict.message  # the ids as the learner writes them


def test_ex3_accepts_a_missing_product_with_both_reasons(ray_session, tmp_path):
    """not_in(CATALOGUE) is true for a missing product (lab 08 says why): the solution's rules quarantine that rating
    twice, "no product" and "not in the catalogue", and the check accepts it."""
    ratings = _ratings()
    breakers = lab08._rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"]))
    assert breakers[5] == "no product"
    rows = [{"id": i, "reason": why} for i, why in breakers.items()] + [{"id": 5, "reason": "not in the catalogue"}]
    good, folder = _validated(tmp_path, quarantine=rows)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.passed, verdict


@pytest.mark.fast
def test_ex3_rejects_a_rule_that_lets_a_null_product_through(ray_session, tmp_path):
    bad_ids = set(lab08._rule_breakers(_ratings(), set(pd.read_csv(data_path("outfits"))["id"])))
    good, folder = _validated(tmp_path, good_ids=set(_ratings()["id"]) - bad_ids | {5})
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.status == "wrong" and "id 5 (no product)" in verdict.message and "is_null()" in verdict.hint


def test_ex3_rejects_bad_rows_dropped_silently_and_rows_without_reason(ray_session, tmp_path):
    ratings = _ratings().set_index("id")
    breakers = lab08._rule_breakers(_ratings(), set(pd.read_csv(data_path("outfits"))["id"]))
    quiet = [{"id": i, "reason": why} for i, why in breakers.items() if i != 5]
    (tmp_path / "a").mkdir()
    good, folder = _validated(tmp_path / "a", quarantine=quiet)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.status == "wrong" and "dropped silently" in verdict.message
    blank = [{"id": i, "reason": "" if i == 11 else why} for i, why in breakers.items()]
    (tmp_path / "b").mkdir()
    good, folder = _validated(tmp_path / "b", quarantine=blank)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.status == "wrong" and "[11] have no reason" in verdict.message
    assert len(ratings) == 48


def _word_counts(ids):
    """Each rating's word count, as the job counts them."""
    text = _ratings().set_index("id")["text"]
    return [len(text[i].split()) for i in ids]


def _written(folder, runs_of_ids, column="words", count=_word_counts):
    """A file per run in `folder`, the ids and (`column`) what `count` gives for them (None: only the ids)."""
    folder.mkdir()
    for n, ids in enumerate(runs_of_ids):
        pd.DataFrame({"id": ids, **({} if count is None else {column: count(ids)})}).to_parquet(
            folder / f"run{n}.parquet"
        )
    return folder


@pytest.mark.fast
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


def test_ex3_rejects_a_rule_that_catches_a_good_rating(ray_session, tmp_path):
    """A comparison that catches a good rating of the sample: the longest good comment has 64 characters, so `> 60`
    (not `> 100`: the sample cannot tell that one, the probe does) puts that rating among the bad ones."""
    ratings = _ratings()
    bad_ids = set(lab08._rule_breakers(ratings, set(pd.read_csv(data_path("outfits"))["id"])))
    good = ratings[~ratings["id"].isin(bad_ids)]
    longest = int(good.loc[good["text"].str.len().idxmax(), "id"])
    good_rows, folder = _validated(tmp_path, good_ids=set(good["id"]) - {longest})
    verdict = lab08.exercise_3.result(good_rows, folder, GIVEN, RULES)
    assert verdict.status == "wrong" and f"missing from `good_ratings` (ids [{longest}])" in verdict.message, verdict


def test_ex3_wants_validates_dataset_and_says_where_files_went(ray_session, tmp_path):
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good.to_pandas(), folder, GIVEN, RULES)
    assert verdict.status == "wrong" and "not a Ray Dataset" in verdict.message
    verdict = lab08.exercise_3.result(
        good, tmp_path / "elsewhere", GIVEN, RULES
    )  # the quarantine went to tmp_path/quarantine
    assert verdict.status == "wrong" and f"Files like it are in {folder}" in verdict.message, verdict


def _rules(**changes):
    """The solution's RULES with each change: a rule replaced, added, or (None) left out."""
    rules = {**RULES, **changes}
    return {reason: rule for reason, rule in rules.items() if rule is not None}


@pytest.mark.parametrize(
    "rules",
    [
        lambda: RULES,
        lambda: _rules(**{"not in the catalogue": ~col("product_id").is_in(CATALOGUE)}),
        lambda: _rules(**{"no product": None}),  # not_in(CATALOGUE) is true for a missing product
        lambda: _rules(
            **{
                "no comment": None,
                "comment over 120 characters": None,
                "no comment, or too long": col("text").is_null() | (col("text").str.len() > 120),
            }
        ),
    ],
    ids=["solution", "negated-is-in", "no-rule-for-a-missing-product", "comment-rules-in-one"],
)
def test_ex3_accepts_rules_written_otherwise(ray_session, tmp_path, rules):
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, rules(), seed=SEED)
    assert verdict.passed and "your RULES sort the check's own ratings right" in verdict.message, verdict


@pytest.mark.parametrize(
    "rules, message",
    [
        (
            lambda: _rules(**{"comment over 120 characters": col("text").str.len() >= 120}),
            "a comment of exactly 120 characters is quarantined by 'comment over 120 characters': at most 120 is fine",
        ),
        (
            lambda: _rules(**{"comment over 120 characters": col("text").str.len() > 100}),
            "a comment of exactly 120 characters is quarantined by",
        ),
        (
            lambda: _rules(**{"comment over 120 characters": col("text").str.byte_len() > 120}),
            "a comment of 120 'é' (240 bytes) is quarantined by 'comment over 120 characters': `str.len()` counts "
            "characters, `byte_len` bytes",
        ),
        (
            lambda: _rules(**{"no comment": None}),
            'a rating with no comment is neither good nor quarantined: name it with `col("text").is_null()`',
        ),
        (
            lambda: _rules(**{"not in the catalogue": col("product_id").is_in([4, 99])}),  # the sample's bad ids
            "one above the catalogue's highest id, is among the good ones",
        ),
    ],
    ids=["at-least-120", "over-100", "byte-len", "no-text-null", "bad-ids-listed-by-hand"],
)
def test_ex3_rejects_rules_the_sample_cannot_tell(ray_session, tmp_path, rules, message):
    """Each gives the sample's right rows (made here as the rule says); the check's own ratings tell them."""
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, rules(), seed=SEED)
    assert verdict.status == "wrong" and message in verdict.message, verdict
    assert "\n" not in verdict.message and len(verdict.message) < 250


@pytest.mark.parametrize(
    "rules, message",
    [
        (None, "got no `RULES`"),
        (lambda: {"long comment": "text over 120"}, "the rule 'long comment' is a str, not a Ray Data expression"),
        (lambda: list(RULES.values()), "is a list, not a dict"),
        (lambda: _rules(**{"comment over 120 characters": col("text").str.len()}), "gives int values"),
    ],
    ids=["not-handed-over", "a-string", "a-list", "numbers"],
)
def test_ex3_rejects_rules_that_are_not_expressions(ray_session, tmp_path, rules, message):
    good, folder = _validated(tmp_path)
    verdict = lab08.exercise_3.result(good, folder, GIVEN, None if rules is None else rules(), seed=SEED)
    assert verdict.status == "wrong" and message in verdict.message, verdict
    assert "RULES" in verdict.hint and len(verdict.message) < 300


def test_ex3_judges_the_newest_write_of_the_quarantine(ray_session, tmp_path):
    """Ray's write_json adds a write's files beside those of an earlier one: a first run whose rules catch too many
    (validate raises, after writing its bad rows), then the right rules into the same folder. The check judges the
    newest write, and says what else lies there."""
    import ray

    ratings = ray.data.read_json(data_path("new_ratings"))
    folder = tmp_path / "quarantine"
    with pytest.raises(ValueError, match="broke a rule"):
        GIVEN(ratings, _rules(**{"few stars": col("stars") < 4}), folder, max_bad_share=0.2)
    earlier = len(list(folder.glob("*.json")))
    good, _ = GIVEN(ratings, RULES, folder, max_bad_share=0.2)
    assert len(list(folder.glob("*.json"))) > earlier > 0
    verdict = lab08.exercise_3.result(good, folder, GIVEN, RULES)
    assert verdict.passed and f"also holds {earlier} file(s) of an earlier run" in verdict.message, verdict


# The stretch requires:
#   R1 a killed run, then a whole one, kept in `runs`: test_stretch_accepts_a_resumed_run_and_rejects_a_restarted_one
#   R2 what the job writes carries the rating's id: test_stretch_wants_the_id_in_what_is_written
#   R3 and its comment's word count, under any name: test_stretch_wants_each_ratings_word_count
#   R4 resumable: the second run skips what was written, nothing twice, no file left half written:
#      test_stretch_accepts_a_resumed_run_and_rejects_a_restarted_one
#   R5 every rating written: test_stretch_wants_the_id_in_what_is_written


@pytest.mark.fast
def test_stretch_wants_the_id_in_what_is_written(tmp_path):
    runs = [
        {"killed": True, "rows worked on": 16, "files written so far": 3},
        {"killed": False, "rows worked on": 36, "files written so far": 9},
    ]
    counts_only = tmp_path / "counts"
    counts_only.mkdir()
    pd.DataFrame({"words": [3] * 48}).to_parquet(counts_only / "run0.parquet")
    verdict = lab08.stretch.result(runs, counts_only)
    assert verdict.status == "wrong" and "without the rating's id" in verdict.message, verdict
    _written(tmp_path / "words", [list(range(1, 40))])
    verdict = lab08.stretch.result(runs, tmp_path / "words")
    assert verdict.status == "wrong" and "39 of 48 ratings were written" in verdict.message
    verdict = lab08.stretch.result(runs, tmp_path / "output")  # the job wrote into tmp_path/words
    assert verdict.status == "wrong" and "Files like it are in" in verdict.message, verdict
    assert str(tmp_path / "words") in verdict.message


def test_stretch_wants_each_ratings_word_count(tmp_path):
    runs = [
        {"killed": True, "rows worked on": 16, "files written so far": 3},
        {"killed": False, "rows worked on": 36, "files written so far": 9},
    ]
    ids = list(range(1, 49))
    verdict = lab08.stretch.result(runs, _written(tmp_path / "ids", [ids[:12], ids[12:]], count=None))
    assert verdict.status == "wrong" and "the job writes only the id: the count is missing" in verdict.message, verdict
    zeros = _written(tmp_path / "zeros", [ids[:12], ids[12:]], count=lambda ids: [0] * len(ids))
    verdict = lab08.stretch.result(runs, zeros)
    words = _word_counts([1])[0]
    assert verdict.status == "wrong" and f"`words` of rating 1 is 0, its comment has {words} words" in verdict.message
    renamed = _written(tmp_path / "renamed", [ids[:12], ids[12:]], column="n_words")
    verdict = lab08.stretch.result(runs, renamed)
    assert verdict.passed and "word count" in verdict.message, verdict


# Every check in two halves: what the observer sends of a right answer passes its judge (with the seed it was made
# with); what a forger would send instead does not.


def _never_passes(check, forgeries: dict, seed=SEED):
    for what, forged in forgeries.items():
        verdict = check.decide(forged, seed)
        assert verdict.status != "passed", (what, verdict)


def test_ex1_observation_passes_and_forgeries_do_not(serve_apps):
    seen = lab08.exercise_1.observe(_encoder(), "search", f"{serve_apps.url}/search", seed=SEED)
    assert lab08.exercise_1.decide(seen, SEED).passed
    embed, http = seen["embed"], seen["http"]
    first = embed["answers"][0]
    _never_passes(
        lab08.exercise_1,
        {
            "nothing": {},
            "no answers": {**seen, "embed": {**embed, "types": [], "answers": []}},
            "one answer for every query": {**seen, "embed": {**embed, "answers": [first] * len(embed["answers"])}},
            "no HTTP": {**seen, "http": None},
            "an HTTP answer without JSON": {**seen, "http": {**http, "json": False}},
            "the app not running": {**seen, "status": None},
            "replicas on CPUs": {**seen, "deployment": {**seen["deployment"], "num_gpus": 0.0}},
        },
    )
    assert not lab08.exercise_1.decide(seen, SEED + 1).passed  # another seed's queries: other embeddings


def test_ex2_observation_passes_and_forgeries_do_not(serve_apps):
    seen = lab08.exercise_2.observe(serve_apps.catalogue, DELETED, _aimed())
    assert lab08.exercise_2.decide(seen, SEED).passed
    rows = seen["rows"]
    _never_passes(
        lab08.exercise_2,
        {
            "nothing": {},
            "no rows": {**seen, "rows": []},
            "one embedding for every outfit": {
                **seen,
                "rows": [{**r, "embedding": rows[0]["embedding"]} for r in rows],
            },
            "no serve stage": {**seen, "stats": ""},
            "lazy": {**seen, "materialized": False},
            "aimed elsewhere": {**seen, "processor": {**seen["processor"], "app_name": "search-raw"}},
            "the app left running": {**seen, "status": "RUNNING"},
        },
    )


def test_ex3_observation_passes_and_forgeries_do_not(ray_session, tmp_path):
    good, folder = _validated(tmp_path)
    seen = lab08.exercise_3.observe(good, folder, GIVEN, RULES, seed=SEED)
    assert lab08.exercise_3.decide(seen, SEED).passed
    first = seen["validate"][0]
    _never_passes(
        lab08.exercise_3,
        {
            "nothing": {},
            "no good ids": {**seen, "good_ids": []},
            "an empty quarantine": {**seen, "quarantine": {**seen["quarantine"], "rows": []}},
            "no quarantine files": {**seen, "quarantine": {"folder": str(folder), "files": 0, "elsewhere": ""}},
            "no validate": {**seen, "validate": None},
            "validate never raises": {**seen, "validate": [first, first, first]},
        },
    )
    assert not lab08.exercise_3.decide(seen, SEED + 1).passed  # another seed's tables: other ids


def test_stretch_observation_passes_and_forgeries_do_not(tmp_path):
    ids = list(range(1, 49))
    runs = [
        {"killed": True, "rows worked on": 16, "files written so far": 3},
        {"killed": False, "rows worked on": 36, "files written so far": 9},
    ]
    seen = lab08.stretch.observe(runs, _written(tmp_path / "resumed", [ids[:12], ids[12:]]))
    assert lab08.stretch.decide(seen, SEED).passed
    files = seen["written"]["files"]
    _never_passes(
        lab08.stretch,
        {
            "nothing": {},
            "no files": {**seen, "written": {**seen["written"], "files": []}},
            "files without ids": {**seen, "written": {**seen["written"], "files": [{**f, "ids": []} for f in files]}},
            "no counts": {**seen, "written": {**seen["written"], "files": [{**f, "numbers": {}} for f in files]}},
            "every id twice": {**seen, "written": {**seen["written"], "files": files + files}},
            "no kill": {**seen, "runs": [{**runs[0], "killed": False}, runs[1]]},
            "all redone": {**seen, "runs": [runs[0], {**runs[1], "rows worked on": 48}]},
        },
    )
