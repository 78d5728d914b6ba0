"""The environment files agree with each other."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        if "==" in line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def test_environment_yml_has_the_same_pins_as_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_section = env_lines[env_lines.index("  - pip:") + 1:]
    assert _pins(pip_section) == req
    assert "  - python=3.11" in env_lines


def test_every_direct_dependency_is_pinned_exactly_and_locked():
    lines = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    deps = [l for l in lines if l and not l.startswith("#")]
    assert deps and all("==" in d for d in deps), deps
    lock = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, version in _pins(deps).items():
        assert lock.get(name) == version, f"{name}: requirements {version}, lock {lock.get(name)}"


def test_issue_pins():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1" and req["ray"] == "2.60.0"
    for name in ["jupyterlab", "ipywidgets", "transformers", "diffusers", "datasets", "evaluate",
                 "accelerate", "polars", "matplotlib", "nbval", "pytest", "pandas", "pyarrow", "pillow"]:
        assert name in req, name
