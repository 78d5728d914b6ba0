"""Lesson 07's training function on two workers: DDP on the CPU (gloo), and a checkpoint that loads for inference.

The lesson trains with one worker per GPU; ``tiny`` has two logical GPUs, but a test run may
have one, and the two-worker path is where DDP wraps the model: every state-dict name then
carries a ``module.`` prefix, and every worker runs the loop. This test takes the lesson's own
cells (``BATCHES``, ``make_classifier``, ``train_epoch``, ``train_func``) and fits them with
``ScalingConfig(num_workers=2)`` on a small separable problem, then loads the reported
checkpoint into a fresh ``make_classifier()`` with ``strict=True`` and classifies with it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from raycourse.authoring import notebooks

pytestmark = [
    pytest.mark.slow("lesson 07's training on two Ray Train workers"),
    pytest.mark.tiny_only("two-worker DDP on CPU with gloo"),
]

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "07_multimodal_pipeline.ipynb"
FEATURES = 8
NEEDED = {"BATCHES", "make_classifier", "train_epoch", "train_func"}


def lesson_namespace() -> dict:
    """The lesson's cells that define the training loop, run in a namespace of their own (FEATURES made small)."""
    import ray

    namespace = {
        "__name__": "lesson07_training",
        "FEATURES": FEATURES,
        "np": np,
        "torch": torch,
        "Path": Path,
        "ray": ray,
    }
    defined = set()
    for cell in notebooks.read(LESSON).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        names = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        names |= {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        if names & NEEDED:
            exec(compile(tree, f"{LESSON.name}", "exec"), namespace)  # noqa: S102 - the course's own lesson
            defined |= names & NEEDED
    assert defined == NEEDED, f"the lesson no longer defines {sorted(NEEDED - defined)}"
    return namespace


def _problem(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = (x @ np.linspace(1, -1, FEATURES) > 0).astype(np.int64)
    return x, y


def test_two_worker_ddp_fit_saves_a_checkpoint_that_loads_for_inference(ray_session, tmp_path):
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    lesson = lesson_namespace()
    x, y = _problem()
    train_ds = ray.data.from_items([{"features": f, "target": t} for f, t in zip(x, y)])
    trainer = TorchTrainer(
        lesson["train_func"],
        train_loop_config={"epochs": 4},
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False),  # DDP over gloo, as tiny trains
        run_config=RunConfig(storage_path=str(tmp_path), name="ddp"),
        datasets={"train": train_ds},
    )
    result = trainer.fit()
    assert result.error is None, result.error
    assert list(result.metrics_dataframe["epoch"]) == [1, 2, 3, 4]

    saved = sorted(p.name for p in Path(result.checkpoint.path).iterdir())
    assert saved == ["model.pt"], saved
    state = torch.load(Path(result.checkpoint.path) / "model.pt", map_location="cpu", weights_only=True)
    assert not any(name.startswith("module.") for name in state), list(state)  # the model, not DDP's wrapper
    model = lesson["make_classifier"]()
    untrained = {name: value.clone() for name, value in model.state_dict().items()}
    model.load_state_dict(state, strict=True)
    assert any(not torch.equal(untrained[name], value) for name, value in model.state_dict().items()), (
        "the checkpoint holds the untrained weights"
    )
    model.eval()
    with torch.no_grad():
        accuracy = (model(torch.as_tensor(x)).argmax(1).numpy() == y).mean()
    assert accuracy >= 0.85, f"the loaded model classifies {accuracy:.0%} of the training rows right"


def test_the_lesson_trains_one_worker_per_gpu():
    source = "\n".join(cell.source for cell in notebooks.read(LESSON).cells if cell.cell_type == "code")
    assert "ScalingConfig(num_workers=GPUS, use_gpu=USE_GPU)" in source
    assert "logical_gpus" not in source
