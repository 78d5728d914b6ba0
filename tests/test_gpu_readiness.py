"""The gpu path's readiness on the cards and machines instructors have (issue 43, part 4), where a CPU can show it."""

from __future__ import annotations

import sys
import types

import pytest

from raycourse.authoring import notebooks

ROOT = notebooks.ROOT


class _Stop(Exception):
    pass


def test_lesson_08s_vllm_cell_frees_the_serve_replicas_gpus_before_its_engine_asks_for_one(monkeypatch):
    """The enhancer's replicas hold half of every GPU; a vLLM engine asks for a whole one, so on one GPU it would
    wait forever unless the cell deletes the application first."""
    nb = notebooks.read(ROOT / "notebooks" / "08_serving_and_resilient_jobs.ipynb")
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "vLLMEngineProcessorConfig(" in c.source]
    calls = []

    def build_processor(config, **kwargs):
        calls.append("build_processor")
        raise _Stop

    serve = types.SimpleNamespace(delete=lambda name: calls.append(f"delete {name}"),
                                  shutdown=lambda: calls.append("shutdown"))
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))  # as where vLLM is installed
    namespace = {"MODEL_ID": "Qwen/Qwen2.5-0.5B-Instruct", "GPUS": 1, "MAX_NEW_TOKENS": 60, "chat": lambda p: p,
                 "prompts": None, "display": print, "serve": serve, "build_processor": build_processor}
    with pytest.raises(_Stop):
        exec(compile(cell.source, "lesson-08-vllm-cell", "exec"), namespace)
    assert calls[:2] == ["delete enhancer", "build_processor"]
