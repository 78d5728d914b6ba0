"""The checks toolkit: one place for the lab checks' shared vocabulary, and every exercise in a short shape.

A lab's check module says what its exercises ask; the words it says it with (a Dataset required, the files a learner
wrote, a learner's class built and called as Ray would, the plan's stages and pools, the learner's own error line)
live in ``raycourse/checks/toolkit.py``. These tests keep it so: a lab module that defines a helper the toolkit has,
an exercise function past about 40 lines, or Ray's private plan internals read outside the toolkit fail here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raycourse.catalogue import modules
from raycourse.checks import toolkit
from raycourse.checks._core import Wrong

CHECKS = Path(toolkit.__file__).parent
LABS = sorted(CHECKS.glob("lab[0-9][0-9].py")) + sorted(CHECKS.glob("lab[0-9][0-9]/*.py"))  # a big lab: a package
MAX_EXERCISE_LINES = 40  # issue 40: "exercise functions of at most about 40 lines" (lab05.exercise_2's shape)


def _functions(path: Path) -> list[ast.FunctionDef]:
    return [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)]


def _is_exercise(fn: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "exercise" for d in fn.decorator_list)


def test_every_lab_of_the_catalogue_has_a_check_module():
    have = {p.stem if p.parent == CHECKS else p.parent.name for p in LABS}
    want = {f"lab{m.number}" for m in modules() if m.checks is not None}
    assert want <= have


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.relative_to(CHECKS).with_suffix("").as_posix())
def test_no_lab_defines_a_helper_the_toolkit_has(lab):
    shared = {name.lstrip("_") for name in toolkit.__all__}
    again = [fn.name for fn in _functions(lab) if fn.name.lstrip("_") in shared]
    assert not again, f"{lab.name} defines {again} again: use raycourse.checks.toolkit's"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.relative_to(CHECKS).with_suffix("").as_posix())
def test_exercise_functions_are_short(lab):
    long = {
        fn.name: fn.end_lineno - fn.lineno + 1
        for fn in _functions(lab)
        if _is_exercise(fn) and fn.end_lineno - fn.lineno + 1 > MAX_EXERCISE_LINES
    }
    assert not long, f"{lab.name}: {long} (at most {MAX_EXERCISE_LINES} lines; move each requirement into a _check_*)"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.relative_to(CHECKS).with_suffix("").as_posix())
def test_ray_plan_internals_are_read_only_in_the_toolkit(lab):
    source = lab.read_text()
    for private in ("._logical_plan", "ray_remote_args", "isinstance(op.compute"):
        assert private not in source, f"{lab.name} reads {private!r}: use toolkit.stages()/pools()/plan_root()"


@pytest.mark.parametrize("package", sorted({p.parent for p in LABS if p.parent != CHECKS}), ids=lambda p: p.name)
def test_a_lab_packages_modules_each_import_only_from_those_loaded_before_it(package):
    """The grader compiles a lab's package in the kernel one module after the other, in ``_core.load_order``."""
    from raycourse.checks._core import load_order

    order = [*load_order(p.stem for p in package.glob("*.py") if p.stem != "__init__"), "__init__"]
    for position, name in enumerate(order):
        tree = ast.parse((package / f"{name}.py").read_text())
        used = {
            a.name if n.module is None else n.module
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level == 1
            for a in n.names
        }
        assert used <= set(order[:position]), f"{package.name}/{name}.py imports {sorted(used - set(order[:position]))}"


def test_stages_read_resources_and_pool_sizes_from_the_plan(ray_session):
    import ray.data

    class Double:
        def __call__(self, batch):
            return {"id": batch["id"] * 2}

    ds = (
        ray.data.range(4)
        .map_batches(lambda b: b, num_cpus=0.5)
        .map_batches(Double, compute=ray.data.ActorPoolStrategy(min_size=1, max_size=3), num_gpus=0.5, batch_size=2)
    )
    first, second = toolkit.stages(ds)
    assert (first.is_pool, first.num_cpus, first.num_gpus) == (False, 0.5, 0.0)
    assert (second.name, second.is_class, second.pool_size, second.num_gpus) == ("Double", True, (1, 3), 0.5)
    assert [s.name for s in toolkit.pools(ds)] == ["Double"]
    assert toolkit.plan_root(ds) is second.op


def test_require_dataset_names_what_it_got_instead():
    with pytest.raises(Wrong, match="`rows` is a list, not a Ray Dataset"):
        toolkit.require_dataset("rows", [1, 2])
    with pytest.raises(Wrong, match="is an int"):
        toolkit.require_dataset("n", 3)


def test_as_columns_accepts_every_batch_shape_map_batches_does():
    import pyarrow as pa

    want = {"a": [1, 2]}
    assert toolkit.as_columns(pd.DataFrame(want)) == want
    assert toolkit.as_columns(pa.table(want)) == want
    assert toolkit.as_columns({"a": np.array([1, 2])}) == want
    assert toolkit.as_columns([1, 2]) is None


@pytest.mark.parametrize(
    ("value", "want"),
    [(3, 3.0), (np.float32(0.5), 0.5), (np.array([2.0]), 2.0), (True, None), ("3", None), (np.array([1, 2]), None)],
)
def test_as_number(value, want):
    assert toolkit.as_number(value) == want


def test_error_line_finds_the_learners_own_error_in_rays_traceback():
    wrapped = RuntimeError(
        "\x1b[36mray::MapBatches(f)()\x1b[39m\nTraceback (most recent call last):\n  File ...\n"
        "ray.exceptions.UserCodeException: boom\n\nTypeError: unsupported operand type(s) for +: 'int' and 'str'"
    )
    assert toolkit.error_line(wrapped) == "TypeError: unsupported operand type(s) for +: 'int' and 'str'"
    assert toolkit.error_line(ValueError("plain")) == "ValueError: plain"


def test_construct_tells_a_constructor_without_the_named_parameters():
    class Model:
        def __init__(self, path):
            self.path = path

    assert toolkit.construct(Model, label="Model(path=...)", hint="h", path="x").path == "x"
    with pytest.raises(Wrong, match=r"`Model\(model_id=...\)` failed: .*unexpected keyword"):
        toolkit.construct(Model, label="Model(model_id=...)", hint="h", model_id="x")


def test_visible_files_and_partitions(tmp_path):
    (tmp_path / "stars=1").mkdir()
    (tmp_path / "stars=1" / "a.parquet").write_bytes(b"")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x").write_bytes(b"")
    (tmp_path / "top.parquet").write_bytes(b"")
    files = toolkit.visible_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["stars=1/a.parquet", "top.parquet"]
    assert [toolkit.partition_of(f, tmp_path) for f in files] == [("stars", "1"), None]


def test_check_embeddings_rejects_wrong_width_length_and_direction():
    ref = np.eye(3, dtype=np.float32)
    kw = {"same_direction": 0.99, "width_hint": "w", "direction_hint": "d"}
    assert toolkit.check_embeddings(ref.tolist(), ref, "e", **kw).shape == (3, 3)
    with pytest.raises(Wrong, match="shape"):
        toolkit.check_embeddings(ref[:, :2], ref, "e", **kw)
    with pytest.raises(Wrong, match="length 1"):
        toolkit.check_embeddings(ref * 2, ref, "e", **kw)
    with pytest.raises(Wrong, match="elsewhere"):
        toolkit.check_embeddings(ref[::-1], ref, "e", **kw)


# --- added by checks0102 ---


def test_plan_kinds_filters_and_joins_read_the_steps(ray_session):
    import ray.data
    from ray.data.expressions import col

    left, right = ray.data.range(6), ray.data.range(3)
    ds = left.filter(expr=col("id") > 1).filter(lambda row: row["id"] < 5).map_batches(lambda b: b)
    assert toolkit.plan_kinds(ds)[1:] == ["Filter", "Filter", "MapBatches"]
    assert toolkit.filter_kinds(ds) == ["expression", "function"]
    assert toolkit.join_types(left.join(right, join_type="left_anti", num_partitions=1, on=("id",))) == ["left_anti"]
    assert toolkit.plan_kinds(ds.materialize()) == ["InputData"]


def test_replay_runs_a_learners_steps_on_other_rows(ray_session):
    import ray.data
    from ray.data.expressions import col

    ds = ray.data.range(10).filter(expr=col("id") >= 8)
    source = toolkit.plan_source(ds)
    assert len(toolkit.source_dataset(ds, source).take_all()) == 10
    again = toolkit.replay(ds, source, ray.data.from_items([{"id": 7}, {"id": 9}]))
    assert again.take_all() == [{"id": 9}]
    assert toolkit.plan_source(ray.data.range(3)) is None  # no steps after the source


def test_run_dataset_names_the_learners_own_error(ray_session):
    import ray.data

    def breaks(batch):
        raise KeyError("pet")

    with pytest.raises(Wrong, match=r"^running `ds` failed: KeyError: 'pet'$") as failed:
        toolkit.run_dataset("ds", ray.data.range(2).map_batches(breaks), "h")
    assert failed.value.hint == "h"
    assert toolkit.run_dataset("ds", ray.data.range(2), "h") == [{"id": 0}, {"id": 1}]


def test_written_elsewhere_finds_files_beside_or_above_the_folder(tmp_path):
    out = tmp_path / "lab"
    (out / "other").mkdir(parents=True)
    wanted = lambda p: p.suffix == ".parquet"  # noqa: E731
    assert toolkit.written_elsewhere(out, "complaints", wanted) is None
    (out / "other" / "a.parquet").write_bytes(b"")
    assert toolkit.written_elsewhere(out, "complaints", wanted) == out / "other"
    (out / "other" / "a.parquet").unlink()
    (tmp_path / "labcomplaints" / "stars=1").mkdir(parents=True)  # str(out_dir) + "complaints"
    (tmp_path / "labcomplaints" / "stars=1" / "b.parquet").write_bytes(b"")
    assert toolkit.written_elsewhere(out, "complaints", wanted) == tmp_path / "labcomplaints"


# --- added by checks0708 ---


def test_rows_of_tells_the_learners_own_error_in_one_line(ray_session):
    import ray

    def broken(batch):
        return {"photo": batch["product"]}  # a column the rows do not have

    assert list(toolkit.rows_of(ray.data.range(3), label="ds", hint="h")["id"]) == [0, 1, 2]
    with pytest.raises(Wrong, match=r"^running `ds` failed: KeyError: 'product'$") as wrong:
        toolkit.rows_of(ray.data.range(3).map_batches(broken), label="ds", hint="h")
    assert wrong.value.hint == "h"
