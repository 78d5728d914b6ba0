"""The SDXL stand-in (two CLIP tokenizers) builds byte-identically too, and the cache serves it.

tests/platform/test_standins.py covers loading, shapes and the other roles' determinism.
"""

import hashlib

import pytest

from raycourse import models
from raycourse.models import standins

pytestmark = pytest.mark.tiny_only("the stand-ins themselves")


def _digest(path):
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name != "standin.json")
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_image_gen_standin_is_deterministic(tmp_path):
    first = standins.build_standin("image_gen", tmp_path / "a")
    second = standins.build_standin("image_gen", tmp_path / "b")
    assert _digest(first) and _digest(first) == _digest(second)


def test_cache_builds_once_and_reuses(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYCOURSE_CACHE", str(tmp_path))
    path = models.ensure_standin("vit")
    stamp = (path / "config.json").stat().st_mtime_ns
    assert models.ensure_standin("vit") == path and (path / "config.json").stat().st_mtime_ns == stamp
    assert f"v{standins.STANDIN_VERSION}" in path.name
