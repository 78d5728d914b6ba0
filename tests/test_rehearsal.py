"""The gpu profile's rehearsal: every lesson and solution notebook through the gpu code path, here.

No GPU and no internet, yet the notebooks run as they would after ``make prefetch`` on a GPU
machine: the gpu profile, ``HF_HUB_OFFLINE=1``, a Hugging Face cache in the hub's own layout
holding exactly the pinned files of the real repos at their pinned commits (played by the
tiny stand-ins, see ``raycourse/rehearsal.py``), and Ray's logical GPUs. A pin that misses a
file, a load without ``variant="fp16"``, or a model resolved anywhere but the pinned snapshot
fails a notebook here. It runs nbval in a second pytest, with the same checks as the main run
(every cell runs, nothing on stderr), joined to this run's Ray.

It runs every lesson notebook that loads a model (``raycourse.model_id``): between them they load every
role, in the notebook's own process (module 00), in Ray Data actors (03, 04, 06, 07) and in Ray Train workers
(05, 07). They run on a Ray of their own with **one** logical GPU, the smallest machine the gpu profile supports
(an instructor's single L4, A10G or T4): every pool and trainer must size itself from the cluster, and Ray's
state API shows what each notebook built (``tests/actor_sizes.py``); a pool or trainer that asked for two GPUs
would wait forever or leave an actor pending, and fails here. The two-node test shows the same notebooks on two
GPUs. Labs and solutions write the same loads (``test_every_model_load_is_written_the_same_way`` holds them to
it), so running them again would prove nothing new about pins, files or variants.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raycourse import config, rehearsal

ROOT = Path(__file__).resolve().parent.parent
ALL_NOTEBOOKS = sorted(p.relative_to(ROOT) for folder in ("notebooks", "labs", "solutions")
                       for p in (ROOT / folder).glob("*.ipynb"))
NOTEBOOKS = [p for p in ALL_NOTEBOOKS if p.parts[0] == "notebooks" and "raycourse.model_id(" in (ROOT / p).read_text()]
REHEARSAL_GPUS = 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("rehearsal-hf-cache")
    rehearsal.build_cache(cache)
    return cache


def rehearsal_env(cache: Path) -> dict:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("RAYCOURSE_MODEL_") or key in ("HF_HOME", "HUGGINGFACE_HUB_CACHE"):
            env.pop(key)  # resolve through the pins and this cache only
    env.update({
        config.PROFILE_ENV: "gpu",
        config.REHEARSAL_ENV: "1",
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    })
    return env


def test_the_cache_holds_every_pinned_file_under_its_commit(cache):
    for spec in config.MODEL_ROLES.values():
        snapshot = cache / ("models--" + spec.hub_id.replace("/", "--")) / "snapshots" / spec.revision
        assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()) == sorted(spec.files)


@pytest.fixture(scope="module")
def one_gpu_ray(cache):
    """A Ray of the rehearsal's own, with one logical GPU and its dashboard (Ray's state API reads from it).

    Started with the rehearsal's settings, as ``make lab`` would start it for the gpu profile, so the notebooks
    that join it need no runtime_env (each worker would go through Ray's setup_worker first).
    """
    import tempfile

    from raycourse import cluster

    with pytest.MonkeyPatch.context() as patch:
        for key in set(os.environ) - set(rehearsal_env(cache)):
            patch.delenv(key)
        for key, value in rehearsal_env(cache).items():
            patch.setenv(key, value)
        ray_cluster = cluster.start(num_gpus=REHEARSAL_GPUS, dashboard=True, dashboard_port=cluster.free_port(),
                                    temp_dir=tempfile.mkdtemp(prefix="rc1-", dir="/tmp"))
    try:
        yield ray_cluster
    finally:
        ray_cluster.stop()
        left = ray_cluster.leftover_processes()
        assert not left, f"Ray processes left behind: {left}"


def test_every_notebook_runs_in_the_gpu_profile_offline_from_the_pinned_cache_on_one_gpu(cache, one_gpu_ray):
    from actor_sizes import built, oversized

    env = rehearsal_env(cache)
    env.pop("RAY_ADDRESS", None)
    env.update(one_gpu_ray.client_env())
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, NOTEBOOKS)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert run.returncode == 0, "the gpu-profile rehearsal failed:\n" + run.stdout[-8000:] + run.stderr[-2000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary, summary
    jobs = built(one_gpu_ray.dashboard_url)
    assert not oversized(jobs, REHEARSAL_GPUS), oversized(jobs, REHEARSAL_GPUS)
    # Modules 03, 04, 06 and 07 run GPU stages, 05 and 07 train once each: all of it built on the one GPU.
    stages = {stage for b in jobs.values() for stage in b.ran}
    assert {"MapWorker(MapBatches(ImageGen))", "MapWorker(MapBatches(Enhancer))",
            "MapWorker(MapBatches(EmbeddingGenerator))", "MapWorker(MapBatches(ReviewEncoder))"} <= stages, jobs
    assert sorted(n for b in jobs.values() for n in b.trainers) == [1, 1], jobs


def _code_cells(path: Path):
    import nbformat

    for index, cell in enumerate(nbformat.read(str(ROOT / path), as_version=4).cells):
        if cell.cell_type == "code":
            yield index, "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _role_of(node) -> str | None:
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "model_id"
            and node.args and isinstance(node.args[0], ast.Constant)):
        return node.args[0].value
    return None


def _model_role(call: ast.Call, names: dict) -> str | None:
    """The role in ``X.from_pretrained(raycourse.model_id("role"), ...)``, ``pipeline(..., model=...)``,
    directly or through a name assigned from ``raycourse.model_id`` in the same cell."""
    for node in list(call.args[:1]) + [k.value for k in call.keywords if k.arg == "model"]:
        role = names.get(node.id) if isinstance(node, ast.Name) else _role_of(node)
        if role:
            return role
    return None


def test_every_model_load_is_written_the_same_way():
    """SDXL always with the fp16 variant and a dtype; no load from a hard-coded Hub id; every role seen."""
    loads = {}
    for path in ALL_NOTEBOOKS:
        for index, source in _code_cells(path):
            tree = ast.parse(source)
            names = {t.id: _role_of(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name) and _role_of(n.value)}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name not in ("from_pretrained", "pipeline"):
                    continue
                where = f"{path} cell {index}: {ast.unparse(node)[:90]}"
                literal = [a for a in node.args[:1] if isinstance(a, ast.Constant) and "/" in str(a.value)]
                assert not literal, f"{where}: load through raycourse.model_id(role), never a Hub id"
                role = _model_role(node, names)
                if role is None:
                    continue
                loads.setdefault(role, []).append(where)
                kwargs = {k.arg: k.value for k in node.keywords}
                if role == "image_gen":
                    assert isinstance(kwargs.get("variant"), ast.Constant) and kwargs["variant"].value == "fp16", where
                    assert "dtype" in kwargs and "torch_dtype" not in kwargs, where
    assert {"image_gen", "llm", "vit", "clip"} <= set(loads), sorted(loads)
    assert len(loads["image_gen"]) >= 5, loads["image_gen"]  # 00, 03, 04 and labs/solutions 03, 04
