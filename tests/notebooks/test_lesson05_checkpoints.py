"""Lesson 05's checkpoints on two workers: no worker copies worker 0's checkpoint before it is whole.

After each save, ``RayTrainReportCallback`` copies the newest ``checkpoint-*`` folder under the Trainer's
``output_dir`` on *every* worker, but only worker 0 writes it, into a folder the workers share. A worker that got
there first copied a checkpoint still being written: once, in a test run, the copy failed on a file safetensors had
just renamed (``shutil.Error: ... .tmp76J04j: No such file or directory``) and lesson 05's ``fit()`` raised. The
lesson adds ``CheckpointWritten`` (a barrier) before Ray's callback. This test takes that class from the lesson and
plays one save on two Ray Train workers: worker 0 writes its checkpoint slowly (the model 2 s after the rest),
worker 1 has nothing to write; then both run ``on_save`` of the lesson's callbacks in the lesson's order, with a
probe before Ray's copy that writes down what the folder held at that moment.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from raycourse.authoring import notebooks

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "05_vit_fine_tuning.ipynb"


def _lesson_callback():
    """The lesson's ``CheckpointWritten``, from the cell that defines it, in a namespace of its own."""
    for cell in notebooks.read(LESSON).cells:
        tree = ast.parse(cell.source) if cell.cell_type == "code" else None
        if tree and any(isinstance(node, ast.ClassDef) and node.name == "CheckpointWritten" for node in tree.body):
            namespace = {"__name__": "lesson05_checkpoints"}
            exec(compile(tree, LESSON.name, "exec"), namespace)  # noqa: S102 - the course's own lesson
            return namespace["CheckpointWritten"]
    raise AssertionError("lesson 05 no longer defines CheckpointWritten")


def test_the_lesson_waits_for_the_checkpoint_before_ray_copies_it():
    source = next(
        cell.source for cell in notebooks.read(LESSON).cells if cell.source.startswith("def train_func(config):")
    )
    added = re.findall(r"trainer\.add_callback\((\w+)\(\)\)", source)
    assert added == ["CheckpointWritten", "RayTrainReportCallback"], added


@pytest.mark.slow("a Ray Train run of two workers (about 45 s here)")
def test_every_worker_copies_worker_0s_checkpoint_whole(ray_session, tmp_path):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.huggingface.transformers import RayTrainReportCallback
    from ray.train.torch import TorchTrainer

    class Probe:
        """Writes down, per worker, the newest checkpoint folder's files as Ray's callback is about to copy it."""

        def __init__(self, record):
            self.record = record

        def on_save(self, args, state, control, **kwargs):
            import ray.train
            from transformers.trainer_utils import get_last_checkpoint

            newest = get_last_checkpoint(args.output_dir) if Path(args.output_dir).is_dir() else None
            files = sorted(p.name for p in Path(newest).iterdir()) if newest else []
            rank = ray.train.get_context().get_world_rank()
            Path(self.record, f"rank-{rank}.txt").write_text(" ".join(files))

    def train_func(config):
        import time
        from types import SimpleNamespace

        import ray.train
        import torch.distributed

        torch.distributed.barrier()  # the workers in step, as after a training step (DDP's all-reduce)
        output_dir = Path(config["output_dir"])
        if ray.train.get_context().get_world_rank() == 0:  # the Trainer saves on worker 0 only
            folder = output_dir / "checkpoint-10"
            folder.mkdir(parents=True)
            (folder / "config.json").write_text("{}")
            time.sleep(2)
            (folder / "model.safetensors").write_bytes(b"weights")
        args = SimpleNamespace(output_dir=str(output_dir))
        state = SimpleNamespace(log_history=[{"step": 10, "loss": 0.5}])
        for callback in config["callbacks"]:  # as the Trainer's callback handler calls them, in order
            callback.on_save(args, state, None)

    record = tmp_path / "seen"
    record.mkdir()
    callbacks = [_lesson_callback()(), Probe(str(record)), RayTrainReportCallback()]
    result = TorchTrainer(
        train_func,
        train_loop_config={"output_dir": str(tmp_path / "trainer"), "callbacks": callbacks},
        scaling_config=ScalingConfig(num_workers=2, use_gpu=False),
        run_config=RunConfig(storage_path=str(tmp_path), name="save"),
    ).fit()
    assert result.error is None, result.error
    seen = {p.name: p.read_text() for p in sorted(record.iterdir())}
    assert seen == {"rank-0.txt": "config.json model.safetensors", "rank-1.txt": "config.json model.safetensors"}
    reported = Path(result.checkpoint.path) / RayTrainReportCallback.CHECKPOINT_NAME
    assert sorted(p.name for p in reported.iterdir()) == ["config.json", "model.safetensors"]
