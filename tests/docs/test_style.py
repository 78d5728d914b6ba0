"""The code's style: `ruff check` and `ruff format --check` are clean (settings in pyproject.toml's [tool.ruff])."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> str:
    ruff = Path(sys.executable).with_name("ruff")  # the venv's bin/, from requirements-dev.txt
    assert ruff.exists(), "ruff is not installed: it is pinned in requirements-dev.txt; `make test` installs it"
    return str(ruff)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_the_code_passes_ruff(command):
    done = subprocess.run([_ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"`ruff {' '.join(command)}` found problems; `.venv/bin/ruff format .` and `.venv/bin/ruff check --fix .` "
        f"fix most of them:\n{done.stdout[-3000:]}{done.stderr[-1000:]}"
    )


def test_ruff_is_configured_for_the_course(tmp_path):
    """The settings are read (a line of 121 characters fails), and the files whose bytes are hashed are left alone."""
    text = (ROOT / "pyproject.toml").read_text()
    assert "line-length = 120" in text and "raycourse/standins.py" in text
    long_line = tmp_path / "long.py"
    long_line.write_text("x = " + repr("a" * 115) + "\n")
    done = subprocess.run(
        [_ruff(), "check", "--config", str(ROOT / "pyproject.toml"), str(long_line)], capture_output=True, text=True
    )
    assert done.returncode == 1 and "E501" in done.stdout, done.stdout
