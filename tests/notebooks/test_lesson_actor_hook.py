"""The root conftest.py holds each lesson run on the run's Ray to the actors it started there (too many GPU actors
for the GPUs, or too few): counted from the actors there before its first cell."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A GPU pool of one actor on a Ray of 2 GPUs, as tests/platform/test_soak.py leaves one in the run's Ray
POOL_OF_ONE = {
    "actor_id": "a1",
    "class_name": "MapWorker(MapBatches(Sleepy))",
    "job_id": "18000000",
    "state": "DEAD",
    "placed": True,
    "required_resources": {"GPU": 1.0, "CPU": 1.0},
    "placement_group_id": None,
}


@pytest.fixture
def hooks(request, monkeypatch):
    """The root conftest.py, its lesson bookkeeping emptied, the run's Ray at a made-up address whose actors the
    test sets (``ray_actors``): what the hooks would read from the GCS."""
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == ROOT / "conftest.py":
            break
    else:
        pytest.fail("the root conftest.py is not loaded")
    monkeypatch.setattr(plugin, "_LESSON_ACTORS", {})
    monkeypatch.setattr(plugin, "_OWN_RAY_SAVED", {})
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    sizes = plugin._actor_sizes()
    ray_actors: list[dict] = []
    fake = SimpleNamespace(**{name: getattr(sizes, name) for name in ("count", "oversized", "undersized")})
    fake.from_gcs = lambda address: (list(ray_actors), 2)
    monkeypatch.setattr(plugin, "_actor_sizes", lambda: fake)
    return plugin, ray_actors


def _run(plugin, notebook: str, between=None) -> None:
    """Two cells of ``notebooks/<notebook>`` through the setup and teardown hooks; ``between`` after the first."""
    path = ROOT / "notebooks" / notebook
    cells = [SimpleNamespace(cell={"source": "x"}, fspath=path, nodeid=f"{path.name}::Cell {i}") for i in (0, 1)]
    plugin.pytest_runtest_setup(cells[0])
    plugin.pytest_runtest_teardown(cells[0], cells[1])
    if between:
        between()
    plugin.pytest_runtest_setup(cells[1])
    plugin.pytest_runtest_teardown(cells[1], None)


def test_a_lesson_on_a_ray_of_its_own_is_not_held_to_what_earlier_tests_left_in_the_runs_ray(hooks):
    plugin, ray_actors = hooks
    ray_actors.append(POOL_OF_ONE)  # left by an earlier test
    _run(plugin, "10_observe_and_size_a_pipeline.ipynb")  # reads metrics: a Ray of its own, RAY_ADDRESS unset
    assert not plugin._LESSON_ACTORS and not plugin._OWN_RAY_SAVED


def test_a_lesson_on_the_runs_ray_is_held_to_the_actors_it_started_there(hooks):
    plugin, ray_actors = hooks
    ray_actors.append(dict(POOL_OF_ONE, actor_id="a0", job_id="17000000"))  # left by an earlier test: not its own
    _run(plugin, "03_image_generation.ipynb")
    plugin._LESSON_ACTORS.clear()
    with pytest.raises(AssertionError, match=r"job 18000000: .* ran on 1 actor\(s\) with 2 GPUs"):
        _run(plugin, "03_image_generation.ipynb", between=lambda: ray_actors.append(POOL_OF_ONE))
