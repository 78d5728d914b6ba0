"""The carry to a lent GPU machine: every locked package it lacks, as wheels in parts that each fit a call
(tools/gpu_bundle.py), joined and checked there (tools/gpu_join_parts.sh) by tools/gpu_ray_check.sh."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gpu_bundle", ROOT / "tools" / "gpu_bundle.py")
bundle = importlib.util.module_from_spec(spec)
sys.modules["gpu_bundle"] = bundle
spec.loader.exec_module(bundle)


def test_the_plan_carries_what_the_machine_lacks_or_has_at_another_version_and_never_torch():
    lock = bundle.read_pins((ROOT / "constraints.txt").read_text())
    machine = {
        "torch": "2.11.0",
        "torchvision": "0.26.0",
        "nvidia-cublas": "13.0.1",
        "numpy": lock["numpy"],
        "transformers": "0.0.1",
        "nvidia-ml-py": lock["nvidia-ml-py"],
    }
    todo = bundle.plan(lock, machine)
    carry = {name for name, _ in todo["carry"]}
    # what lesson 05's fit, module 08's Serve and every notebook's import need, absent from the machine
    assert {
        "ray",
        "evaluate",
        "datasets",
        "dill",
        "multiprocess",
        "fastapi",
        "uvicorn",
        "polars",
        "diffusers",
        "ipython",
        "nbformat",
    } <= carry
    assert "transformers" in carry  # another version there: the locked one travels
    assert "numpy" not in carry and ("numpy", lock["numpy"]) in todo["present"]
    assert not carry & {"torch", "torchvision", "triton"} and not any(
        n.startswith(("nvidia-c", "cuda-")) for n in carry
    )
    assert "nvidia-ml-py" not in carry and ("nvidia-ml-py", lock["nvidia-ml-py"]) in todo["present"]
    assert len(todo["carry"]) + len(todo["present"]) + len(todo["own"]) == len(lock)
    # --any-version: the machine's pandas does, its transformers does not (the model code's results depend on it)
    relaxed = {n for n, _ in bundle.plan(lock, {**machine, "pandas": "1.0"}, any_version=True)["carry"]}
    assert "pandas" not in relaxed and "transformers" in relaxed and "ray" in relaxed
    # without the machine's list, everything but the torch family travels
    assert {n for n, _ in bundle.plan(lock, None)["carry"]} == set(lock) - {n for n, _, _ in todo["own"]}


def test_read_pins_reads_pip_freeze_and_the_lock():
    assert bundle.read_pins(
        "# c\nRay[serve]==2.60.0\ntyping_extensions==4.15.0\n-e git+x#egg=y\nfoo @ file:///x\n"
    ) == {"ray": "2.60.0", "typing-extensions": "4.15.0"}


def _wheels(folder: Path, n: int, size: int) -> list[Path]:
    folder.mkdir()
    out = []
    for i in range(n):
        path = folder / f"pkg{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(f"pkg{i}/data.bin", bytes((i + j) % 251 for j in range(size)))  # stored, not compressed
        out.append(path)
    return out


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum, as the lent machine has")
def test_the_parts_fit_their_size_and_join_back_into_the_wheels_on_the_machine(tmp_path):
    wheels = _wheels(tmp_path / "w", 5, 300_000)
    out = tmp_path / "bundle"
    parts = bundle.bundle(wheels, out, part_mib=0.5)
    assert len(parts) >= 3 and all(p["bytes"] <= 0.5 * bundle.MIB for p in parts)
    manifest = "\n".join(f"{p['part']} {p['bytes']} {p['sha256']}" for p in parts) + "\n"
    landing = tmp_path / "parts"
    landing.mkdir()
    (landing / "manifest.txt").write_text(manifest)
    env = {"PATH": "/usr/bin:/bin", "PARTS": str(landing), "WORK": str(tmp_path / "unpacked"), "NO_INSTALL": "1"}
    join = ["bash", str(ROOT / "tools" / "gpu_join_parts.sh")]
    for p in parts[:-1]:  # the calls so far: the last part has not come yet
        shutil.copy(out / p["folder"] / p["part"], landing)
    run = subprocess.run(join, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and f"missing {parts[-1]['part']}" in run.stdout
    shutil.copy(out / parts[-1]["folder"] / parts[-1]["part"], landing)
    run = subprocess.run(join, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    for wheel in wheels:
        assert (tmp_path / "unpacked" / wheel.name).read_bytes() == wheel.read_bytes()
    first = landing / parts[0]["part"]
    first.write_bytes(b"x" + first.read_bytes()[1:])
    run = subprocess.run(join, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and f"broken {parts[0]['part']}" in run.stdout


def test_gpu_ray_check_joins_the_parts_draws_the_data_and_runs_the_levers():
    script = (ROOT / "tools" / "gpu_ray_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "tools" / "gpu_ray_check.sh")]).returncode == 0
    assert "tools/gpu_join_parts.sh" in script and "make-data --out /tmp/gpudata" in script
    assert "RAYCOURSE_GPU_DATA=/tmp/gpudata" in script and "tools/gpu_levers.py" in script
    assert "standins --full-size --cache /tmp/rc/fullsize/hub" in script  # every role: CLIP for module 06 too
    assert ".gpubundle/" in (ROOT / ".gitignore").read_text()  # the parts never land in git


def test_the_site_carry_leaves_out_the_authors_tools_and_nothing_a_notebook_needs():
    """A GPU run once failed for want of polars (Ray Data's join), ipywidgets (tqdm's stderr warning) and truststore
    (huggingface_hub's import): only the authors' tools may stay behind."""
    lock = bundle.read_pins((ROOT / "constraints.txt").read_text())
    carry = {name for name, _ in bundle.site_plan(bundle.plan(lock, {"torch": "2.11.0"})["carry"])}
    assert {"polars", "polars-runtime-32", "ipywidgets", "truststore", "ray", "nbval", "ipykernel"} <= carry
    assert not carry & bundle.AUTHORS_TOOLS
    runtime = {
        bundle._norm(line.split("==")[0].split(";")[0].strip())
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "-"))
    }
    left_out = {name for name in runtime if name in lock and name not in carry and not bundle.MACHINES_OWN.match(name)}
    assert left_out <= bundle.AUTHORS_TOOLS, (
        f"needed on the GPU machine, left out: {sorted(left_out - bundle.AUTHORS_TOOLS)}"
    )


def test_the_site_is_unpacked_with_executables_kept_and_packed_into_archives_that_unpack_to_it(tmp_path):
    wheel = tmp_path / "ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        raylet = zipfile.ZipInfo("ray/core/raylet")
        raylet.external_attr = 0o755 << 16
        z.writestr(raylet, b"\x7fELF" + b"x" * 4000)
        z.writestr("ray/__init__.py", "VERSION = 1\n" * 300)
        z.writestr("ray/jars/big.jar", b"j" * 5000)
        z.writestr("ray/__pycache__/x.pyc", b"c")
        z.writestr("ray-2.60.0.dist-info/METADATA", "Name: ray\n")
    other = tmp_path / "polars-2.1.0-py3-none-any.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("polars/__init__.py", "import os\n" * 500)
    site = tmp_path / "site"
    bundle.unpack([wheel, other], site)
    assert (site / "ray/core/raylet").stat().st_mode & 0o111
    assert not (site / "ray/jars").exists() and not (site / "ray/__pycache__").exists()
    assert bundle.assign({"a": 10, "b": 6, "c": 5}, 2) == [["a"], ["b", "c"]]
    made = bundle.pack_site(site, tmp_path / "out", part_mib=0.005, ratio=1.0)  # 13 kB in parts of 5 kB
    assert len(made) >= 2
    back = tmp_path / "back"
    back.mkdir()
    for m in made:
        subprocess.run(["tar", "-xJf", str(tmp_path / "out" / m["folder"] / m["archive"]), "-C", str(back)], check=True)
    files = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert sorted(str(p.relative_to(back)) for p in back.rglob("*") if p.is_file()) == files
    assert (back / "ray/core/raylet").stat().st_mode & 0o111


def test_a_lock_line_for_another_platform_does_not_travel_to_the_linux_x86_64_machine():
    lock = bundle.read_pins((ROOT / "constraints.txt").read_text())
    assert "decord" in lock and "decord2" not in lock  # decord2 is for macOS arm64 and Linux aarch64 only
    text = 'a==1\nb==2; sys_platform != "linux"\nc==3; python_version >= "3.12"\n'
    assert bundle.read_pins(text) == {"a": "1", "c": "3"}
    assert bundle.read_pins(text, machine=None) == {"a": "1", "b": "2", "c": "3"}  # the machine's pip freeze


def test_a_slot_for_some_modules_leaves_out_what_only_the_others_and_jupyterlab_use():
    lock = bundle.read_pins((ROOT / "constraints.txt").read_text())
    carry = bundle.plan(lock, {"torch": "2.11.0"})["carry"]
    everything = {name for name, _ in bundle.site_plan(carry)}
    some = {name for name, _ in bundle.site_plan(carry, modules=["07", "05"])}
    assert {"av", "decord", "jupyterlab"} <= everything - some
    assert {"polars", "ipywidgets", "ray", "nbval", "ipykernel", "jupyter-client"} <= some
    assert {"av", "decord"} <= {name for name, _ in bundle.site_plan(carry, modules=["09"])}
    # every package left out for JupyterLab's front end is one the tests never import
    assert "jupyterlab" not in {n for n, _ in bundle.site_plan(carry, modules=["09"])}
