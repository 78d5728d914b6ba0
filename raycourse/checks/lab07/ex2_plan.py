"""Lab 07, exercise 2's plan of ``fed(source)``, read before it runs: the lab's given stages unchanged (their
bytecode against the lab's own cells), streaming from the day's source, GPUs and pools that fit the cluster."""

from __future__ import annotations

import inspect
import math

from .._core import Wrong
from ..toolkit import plan_ops, plan_root, pools, stages

ENCODER, TOKENIZER, PHOTOS = "RatingEncoder", "Tokenize", "load_photos"


def cluster_gpus() -> int:
    """The GPUs of the cluster this session is connected to, within the learner's budget, as the notebooks count
    them (GPUS)."""
    from raycourse.session import room

    return room.learner_gpus()


def cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 0))


def _lab_stages(ds) -> dict:
    """The Tokenize, load_photos and encoder stages of ``ds`` (toolkit Stages), by name."""
    found = {}
    for stage in stages(ds):
        if stage.name in (ENCODER, TOKENIZER, PHOTOS):
            found.setdefault(stage.name, stage)
    return found


def _cluster() -> dict:
    """What the kernel's cluster gives the learner, as plain data: the GPUs within the budget (and how a message
    names them) and the cluster's CPUs."""
    from raycourse.session import room

    gpus = cluster_gpus()
    return {"gpus": gpus, "words": room.budget_words(gpus), "cpus": cluster_cpus()}


def _code_of(fn) -> list:
    """What a function does, without where it was written, as plain data: its bytecode, names and constants,
    nested code too (a set of constants sorted, so that it reads the same in every process)."""
    code = getattr(fn, "__code__", fn)
    return [code.co_code.hex(), list(code.co_names), list(code.co_varnames), [_const_of(c) for c in code.co_consts]]


def _const_of(value) -> dict:
    if hasattr(value, "co_code"):
        return {"code": _code_of(value)}
    if isinstance(value, tuple):
        return {"tuple": [_const_of(v) for v in value]}
    if isinstance(value, frozenset):
        return {"frozenset": sorted(repr(v) for v in value)}
    return {type(value).__name__: repr(value)}


def _methods(obj) -> dict:
    if not inspect.isclass(obj):
        return {"": _code_of(obj)} if hasattr(obj, "__code__") else {}
    return {name: _code_of(fn) for name, fn in vars(obj).items() if hasattr(fn, "__code__")}


def _stage_facts(stage) -> dict:
    size = stage.pool_size
    return {
        "num_gpus": stage.num_gpus,
        "pool": stage.is_pool,
        "compute": str(stage.compute),
        "pool_size": None if size is None else [size[0], size[1]],
    }


def _plan_facts(ds, day) -> dict:
    """The plan of ``ds`` as plain data: its stages' names from source to sink, whether its first operator is
    ``day``'s own, the lab's stages' resources and code (by name), and every actor pool's smallest size and CPUs per
    actor."""
    ops = plan_ops(ds)
    found = _lab_stages(ds)
    return {
        "stages": [str(stage.name) for stage in stages(ds)],
        "from_source": bool(ops) and ops[0] is plan_root(day),
        "lab": {name: _stage_facts(stage) for name, stage in found.items()},
        "code": {name: _methods(stage.fn) for name, stage in found.items()},
        "pools": [[pool.pool_size[0], pool.num_cpus] for pool in pools(ds)],
    }


def _size(value) -> int | float:
    """A pool size as observed (``inf``: no limit, read back as the text "inf")."""
    number = float(value)
    return number if math.isinf(number) or not number.is_integer() else int(number)


def _check_streams_from(plan: dict) -> None:
    """The stages of the exercise, from the day, in one streaming plan, the encoder last."""
    found = plan["lab"]
    if ENCODER not in found:
        raise Wrong(
            "the pipeline has no RatingEncoder stage.",
            "Keep the given RatingEncoder as the last stage: choose how it runs, not what it does.",
        )
    skipped = [name for name in (TOKENIZER, PHOTOS) if name not in found]
    if skipped or plan["from_source"] is not True:
        what = f"does not run {' and '.join(skipped)}" if skipped else "does not start from `source`"
        raise Wrong(
            f"the pipeline that fed(source) returns {what}: the work before the encoder ran earlier (a "
            "materialize() or to_pandas() in between?), so the run the check measures skips it, and the "
            "stages no longer stream into each other.",
            "Chain the three map_batches calls on `source` and return the Dataset, lazy: the check runs it.",
        )
    order = [str(name) for name in plan["stages"]]
    if order.index(ENCODER) < max(order.index(TOKENIZER), order.index(PHOTOS)):
        raise Wrong(
            "the RatingEncoder stage runs before a CPU stage it needs.",
            "Tokenize and load_photos first (in either order), RatingEncoder last.",
        )


def _check_cpu_stages(found: dict) -> None:
    for name in (TOKENIZER, PHOTOS):
        num_gpus = float(found[name]["num_gpus"])
        if num_gpus > 0:
            raise Wrong(
                f"the {name} stage asks for num_gpus={num_gpus:g}: it holds a GPU that the encoder needs, for "
                "work a CPU does.",
                "CPU stages ask for CPUs (num_cpus=); only the encoder asks for GPUs.",
            )


def _check_encoder_pool(encoder: dict, cluster: dict) -> None:
    """One GPU per encoder actor, in a pool that reaches every GPU of the cluster and no more (``cluster``: the
    learner's GPUs, as observed)."""
    from raycourse.session import room

    num_gpus = float(encoder["num_gpus"])
    if num_gpus != 1:
        raise Wrong(
            f"the RatingEncoder stage asks for num_gpus={num_gpus:g} per actor.",
            "One GPU per encoder actor (num_gpus=1); how many actors run is the pool's size.",
        )
    if encoder["pool"] is not True:
        raise Wrong(
            f"the RatingEncoder stage runs with {encoder['compute']}, not a pool of actors.",
            "compute=ray.data.ActorPoolStrategy(...): each actor loads the models once.",
        )
    gpus, largest = int(cluster["gpus"]), _size(encoder["pool_size"][1])
    if largest > gpus:
        raise Wrong(
            f"the RatingEncoder pool may grow to {'no limit' if largest == math.inf else largest} actors of one GPU "
            f"each; it may use {cluster['words']}, and an actor that does not fit waits for a GPU forever.",
            f"ActorPoolStrategy(size=n) or (min_size=..., max_size=n), with n from 1 to GPUS ({room.GPU_SIZING}).",
        )
    if largest < gpus:
        raise Wrong(
            f"the RatingEncoder pool holds at most {largest} actor(s) of one GPU each, where GPUS is "
            f"{gpus}: the job holds the others all the same, idle, and an idle GPU counts.",
            "Let the encoder's pool reach one actor per GPU (GPUS): size=GPUS, or max_size=GPUS for a pool "
            "that grows with its input.",
        )


def _check_pools_fit(pool_sizes: list, cpus) -> None:
    """``pool_sizes``: every actor pool's smallest size and CPUs per actor (None: one)."""
    reserved = sum(_size(low) * (1 if per is None else float(per)) for low, per in pool_sizes)
    cpus = float(cpus)
    if reserved > cpus:
        raise Wrong(
            f"the actor pools ask for {reserved:g} CPUs at once (an actor holds its CPUs, a GPU actor one "
            f"too); the cluster has {cpus:g}, so a pool would wait for its actors forever.",
            "Size the actor pools to the cluster's CPUs (ray.cluster_resources()), GPU actors included.",
        )


def _judge_plan(plan: dict, cluster: dict) -> None:
    """The stages of the exercise, from the day, in one streaming plan, each asking for what fits the cluster."""
    _check_streams_from(plan)
    _check_cpu_stages(plan["lab"])
    _check_encoder_pool(plan["lab"][ENCODER], cluster)
    _check_pools_fit(plan["pools"], cluster["cpus"])


def _check_plan(ds, day) -> None:
    """The plan of ``ds`` judged in this process, against this process's cluster (the observer's early stop; and
    the unit tests')."""
    _judge_plan(_plan_facts(ds, day), _cluster())


def _given_stages() -> dict:
    """The lab's given Tokenize, load_photos and RatingEncoder, compiled from the lab's own cells (not run)."""
    import ast
    import json

    from ...catalogue import modules

    module = next(m for m in modules() if m.number == "07")
    notebook = module.solution if module.solution.exists() else module.lab  # the lab's copy may be edited
    given = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell["source"]) if cell["cell_type"] == "code" else ""
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        names = {node.name for node in body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
        if names & {ENCODER, TOKENIZER, PHOTOS} and all(isinstance(n, (ast.ClassDef, ast.FunctionDef)) for n in body):
            namespace = {"__name__": "given"}
            exec(compile(source, "<given>", "exec"), namespace)  # definitions only: nothing runs
            given.update({name: namespace[name] for name in names})
    return given


def _judge_given(plan: dict) -> None:
    """The stages run the lab's given classes and function as they are: the work and the stopwatch unchanged
    (``plan["code"]``: each lab stage's code, as observed; compared with the lab's cells compiled here)."""
    given = _given_stages()
    for name in plan["lab"]:
        if name in given and plan["code"][name] != _methods(given[name]):
            raise Wrong(
                f"the pipeline runs a {name} that is not the lab's given one: it was edited (the check measures "
                "the given stages, and RatingEncoder's stopwatch).",
                f"Run the given cell of {name} again as it is: choose how each stage runs, not what it does.",
            )


def _check_given(found: dict) -> None:
    """:func:`_judge_given` on stages found in a plan (toolkit Stages, or anything with the stage's ``fn``)."""
    _judge_given({"lab": list(found), "code": {name: _methods(stage.fn) for name, stage in found.items()}})
