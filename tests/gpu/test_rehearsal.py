"""The gpu profile's rehearsal on a CPU: the pinned cache it runs from, and how the notebooks load models.

No GPU and no internet, yet the lessons run as they would after ``make prefetch`` on a GPU machine: the gpu
profile, ``HF_HUB_OFFLINE=1``, and a Hugging Face cache in the hub's own layout holding exactly the pinned files
of the real repos at their pinned commits (played by the tiny stand-ins, see ``raycourse/models/rehearsal.py``).
``tests/notebooks/test_two_nodes.py`` runs every lesson that loads a model that way, on a two-node Ray with one
logical GPU.
This file checks the cache itself, and that every notebook (lessons, labs, solutions) writes its loads the same
way, so that running the labs and solutions there too would prove nothing new about pins, files or variants.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from raycourse import config

pytestmark = pytest.mark.tiny_only("the gpu code path rehearsed on a CPU with stand-ins")

ROOT = Path(__file__).resolve().parents[2]
ALL_NOTEBOOKS = sorted(
    p.relative_to(ROOT) for folder in ("notebooks", "labs", "solutions") for p in (ROOT / folder).glob("*.ipynb")
)


def test_the_cache_holds_every_pinned_file_under_its_commit(rehearsal_cache):
    cache = rehearsal_cache
    for spec in config.MODEL_ROLES.values():
        snapshot = cache / ("models--" + spec.hub_id.replace("/", "--")) / "snapshots" / spec.revision
        assert sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if not p.is_dir()) == sorted(spec.files)


def _code_cells(path: Path):
    import nbformat

    for index, cell in enumerate(nbformat.read(str(ROOT / path), as_version=4).cells):
        if cell.cell_type == "code":
            yield (
                index,
                "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))),
            )


def _role_of(node) -> str | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "model_id"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
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
            names = {
                t.id: _role_of(n.value)
                for n in ast.walk(tree)
                if isinstance(n, ast.Assign)
                for t in n.targets
                if isinstance(t, ast.Name) and _role_of(n.value)
            }
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
