"""What a notebook built on a Ray, read back from Ray's state API: its GPU actor pools and its trainers.

Every actor a job asked for is listed, alive or dead, including one that never got its GPU and was ended
with its pipeline: a pool of ``num_gpus=1`` actors larger than the cluster's GPUs leaves such actors behind,
with no error. Ray Train's workers of one ``fit()`` share a placement group, so a trainer's size is the number
of workers in its group. Used by the two-node test (the gpu rehearsal, one logical GPU: nothing asks for more) and,
through the GCS, by the root conftest.py after each lesson under nbval (the test run's Ray, two logical GPUs:
nothing uses fewer), to show that each GPU notebook sizes its pools and its trainers from the cluster.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class Built:
    """One job's (one notebook kernel's) GPU stages and trainers."""

    ran: Counter = field(default_factory=Counter)  # per GPU stage: actors that got a node and ran
    never_placed: Counter = field(default_factory=Counter)  # per GPU stage: actors that never got a GPU
    trainers: list = field(default_factory=list)  # per fit(): how many workers it asked for


def built(address: str) -> dict[str, Built]:
    """Per job, what it built: a GPU stage is a Ray Data map worker that asked for ``GPU``
    (``MapWorker(MapBatches(ImageGen))``); Ray Train's workers count whether or not they asked for one
    (``tiny`` trains without ``use_gpu``)."""
    from ray.util.state import list_actors

    from raycourse.session.cluster import state_api_at

    with state_api_at(address):
        actors = list_actors(address=address, detail=True, limit=10_000, raise_on_missing_output=False)
    return count(
        [
            {
                "actor_id": a.actor_id,
                "class_name": a.class_name,
                "job_id": a.job_id,
                "required_resources": a.required_resources or {},
                "placed": bool(a.node_id) and bool(a.pid),
                "placement_group_id": a.placement_group_id,
            }
            for a in actors
        ]
    )


def from_gcs(address: str) -> tuple[list[dict], int]:
    """Every actor in the GCS's actor table, marked ``placed`` if it got a process, and the cluster's GPUs: what
    :func:`count` reads, without a dashboard (the test run's own Ray has none)."""
    from raycourse.authoring.soak import RayView

    view = RayView(address)
    try:
        return [dict(a, placed=bool(a["pid"])) for a in view.actors()], int(view.resources()["GPU"]["total"])
    finally:
        view.close()


def count(actors: list[dict]) -> dict[str, Built]:
    """Per job: GPU stages (placed or never placed) and trainers (workers per placement group)."""
    jobs: dict[str, Built] = defaultdict(Built)
    groups: dict[str, Counter] = defaultdict(Counter)
    for actor in actors:
        wants = actor["required_resources"] or {}
        if actor["class_name"].startswith("MapWorker(") and wants.get("GPU"):
            (jobs[actor["job_id"]].ran if actor["placed"] else jobs[actor["job_id"]].never_placed)[
                actor["class_name"]
            ] += 1
        elif actor["class_name"] == "RayTrainWorker":
            groups[actor["job_id"]][actor["placement_group_id"] or actor["actor_id"]] += 1
    for job, sizes in groups.items():
        jobs[job].trainers = sorted(sizes.values())
    return dict(sorted(jobs.items()))


def oversized(jobs: dict[str, Built], gpus: int) -> list[str]:
    """Every pool that left an actor without a GPU, and every trainer with more workers than GPUs."""
    found = [
        f"job {job}: {n} {stage} actor(s) never got a GPU"
        for job, b in jobs.items()
        for stage, n in b.never_placed.items()
    ]
    found += [
        f"job {job}: a trainer of {n} workers on {gpus} GPU(s)"
        for job, b in jobs.items()
        for n in b.trainers
        if n > gpus
    ]
    return found


def undersized(jobs: dict[str, Built], gpus: int) -> list[str]:
    """Every GPU stage that ran on fewer actors than the cluster has GPUs (a GPU left idle), and every trainer with
    fewer workers. A stage's actors are counted over the job: a pipeline run twice starts its pool twice."""
    found = [
        f"job {job}: {stage} ran on {n} actor(s) with {gpus} GPUs"
        for job, b in jobs.items()
        for stage, n in b.ran.items()
        if n < gpus
    ]
    found += [
        f"job {job}: a trainer of {n} worker(s) on {gpus} GPUs"
        for job, b in jobs.items()
        for n in b.trainers
        if n < gpus
    ]
    return found
