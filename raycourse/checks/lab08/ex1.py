"""Lab 08, exercise 1: the deployment's settings, then the running application asked through a handle and over
HTTP with queries made from the seed. By the text's requirements (R1-R9 of its check tests):

- R1 a Serve deployment: the object handed is one;
- R5 replicas sized to the cluster's GPUs, R6 part of a GPU each, R7 at least max_batch_size requests at once, R8
  no access log: read from what the app runs with (Serve's controller: what the decorator, ``.options(...)`` and
  serve.run's ``logging_config`` gave), or from the deployment handed where no app runs by that name; judged before
  the app is asked (a replica that waits for a GPU would never answer);
- R2 ``embed`` batched: its @serve.batch, read from the class;
- R9 deployed as "search": Serve's status of that app, and the route, asked over HTTP;
- R3 (probe) ``embed`` gives each text its normalised CLIP embedding: the seed's queries, through a handle, against
  the check's own CLIP; R4 (probe) ``__call__``: the seed's first query posted to the route, the same embedding."""

from __future__ import annotations

import concurrent.futures
import random

from .._core import Wrong, exercise, require
from ..toolkit import check_embeddings, error_line
from ._common import _EMBEDDING_HINTS, _applications, _text_embeddings, _vector

HTTP_HINT = (
    'Give the class `async def __call__(self, request)`: the text from (await request.json())["text"], and '
    'return {"embedding": await self.embed(text)}; deploy with route_prefix="/search".'
)


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


def _deployment(TextEncoder) -> dict:
    """What the check reads of the deployment object's configuration, as plain data."""
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


def _running(TextEncoder, app_name: str) -> dict:
    """The settings the app ``app_name`` runs the deployment with, as Serve's controller holds them: what
    ``.options(...)`` and serve.run's ``logging_config`` (the app's, for a deployment with none of its own) gave it
    beyond the decorator. {} where none runs by that name, or where they cannot be read.

    Serve has no public API for a running deployment's configuration (``serve.status()`` gives states only, and
    the REST API's details leave out ``logging_config``), so this asks the controller through Serve's private client;
    where that fails (another Ray release), the check reads the deployment object handed to it, as before."""
    import ray

    if not ray.is_initialized():
        return {}
    try:
        from ray.serve.context import _get_global_client

        client = _get_global_client(raise_if_no_controller_running=False)
        if client is None:
            return {}
        info, _ = client.get_deployment_info(TextEncoder.name, app_name)
        config, options = info.deployment_config, info.replica_config.ray_actor_options or {}
        autoscaling = config.autoscaling_config
        return {
            "num_gpus": float(options.get("num_gpus") or 0),
            "num_replicas": config.num_replicas,
            "max_replicas": None if autoscaling is None else autoscaling.max_replicas,
            "max_ongoing_requests": config.max_ongoing_requests,
            "access_log": (config.logging_config or {}).get("enable_access_log", True),
        }
    except Exception:  # noqa: BLE001 (no such app or deployment, or a Serve whose private client differs)
        return {}


def _gpus_seen() -> dict:
    """The learner's GPUs (what GPU_SIZING gives in the kernel) and the cluster's."""
    import ray

    from raycourse.session import room

    cluster = int(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0
    return {"learner": room.learner_gpus(), "cluster": cluster}


def _sized(deployment: dict) -> tuple[int, str]:
    """How many replicas the deployment may run (an autoscaling one: its most), and how that was said."""
    if deployment["max_replicas"] is not None:
        return int(deployment["max_replicas"]), f"up to {deployment['max_replicas']} autoscaled replicas"
    return int(deployment["num_replicas"]), f"{deployment['num_replicas']} replica(s)"


def _budget_words(gpus: dict) -> str:
    """raycourse.session.room.budget_words, from the GPUs the kernel saw."""
    from raycourse.session import room

    if gpus["learner"] < gpus["cluster"]:
        return f"your budget of {gpus['learner']} GPU(s) ({room.BUDGET_ENV}) of the cluster's {gpus['cluster']}"
    return f"the cluster's {gpus['cluster']} GPU(s)"


def _check_replicas(deployment: dict, gpus_seen: dict) -> float:
    """Each replica asks for part of a GPU; the replicas are sized to the cluster's GPUs, and fit them."""
    from raycourse.session import room

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
    deployment, gpus = {**_deployment(TextEncoder), **_running(TextEncoder, app_name)}, _gpus_seen()
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
