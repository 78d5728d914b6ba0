"""What a notebook built on a Ray, read back from Ray's state API: its GPU actor pools and its trainers.

Every actor a job asked for is listed, alive or dead, including one that never got its GPU and was ended
at the end of the pipeline (a pool larger than the cluster's GPUs leaves such actors behind, with no error).
Used by the rehearsal (one logical GPU) and the two-node test (two), to show that each GPU notebook sizes its
pools and its trainer from the cluster.
"""

from __future__ import annotations

from collections import Counter, defaultdict


def built(address: str) -> dict[str, dict[str, int]]:
    """Per job (one notebook kernel each), the number of actors of each GPU stage and of Ray Train's workers.

    A GPU stage is a Ray Data map worker that asked for ``GPU`` (``MapWorker(MapBatches(ImageGen))``); Ray
    Train's workers count whether or not they asked for one (``tiny`` trains without ``use_gpu``).
    """
    from ray.util.state import list_actors

    jobs: dict[str, Counter] = defaultdict(Counter)
    for actor in list_actors(address=address, detail=True, limit=10_000, raise_on_missing_output=False):
        wants = actor.required_resources or {}
        if actor.class_name.startswith("MapWorker(") and wants.get("GPU"):
            jobs[actor.job_id][actor.class_name] += 1
        elif actor.class_name == "RayTrainWorker":
            jobs[actor.job_id]["RayTrainWorker"] += 1
    return {job: dict(stages) for job, stages in sorted(jobs.items())}


def oversized(jobs: dict[str, dict[str, int]], gpus: int) -> list[str]:
    """Every pool or trainer that asked for more actors than the cluster has GPUs."""
    return [f"job {job}: {stage} x{n} on {gpus} GPU(s)" for job, stages in jobs.items()
            for stage, n in stages.items() if n > gpus]
