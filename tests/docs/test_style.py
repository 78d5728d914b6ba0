"""The code's style: `ruff check` and `ruff format --check` are clean (settings in pyproject.toml's [tool.ruff])."""

import subprocess
import sys
import tomllib
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
    """The settings are read: a line of 121 characters fails, and so does a function more complex than the limit."""
    long_line = tmp_path / "long.py"
    long_line.write_text("x = " + repr("a" * 115) + "\n")
    limit = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["mccabe"]["max-complexity"]
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(limit))  # complexity limit + 1
    complex_function = tmp_path / "branchy.py"
    complex_function.write_text(f"def f(x):\n{branches}    return None\n")
    for path, rule in [(long_line, "E501"), (complex_function, "C901")]:
        done = subprocess.run(
            [_ruff(), "check", "--config", str(ROOT / "pyproject.toml"), str(path)], capture_output=True, text=True
        )
        assert done.returncode == 1 and rule in done.stdout, done.stdout


def test_ruff_reads_every_file_of_the_repository():
    """No file is left out: every tracked Python file and notebook is linted (notebooks are linted, not formatted)."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    listed = subprocess.run([_ruff(), "check", "--show-files", "."], cwd=ROOT, capture_output=True, text=True).stdout
    linted = {Path(line.strip()).resolve() for line in listed.splitlines() if line.strip()}
    missing = [path for path in tracked if (ROOT / path).resolve() not in linted]
    assert not missing, f"ruff does not lint {missing}: remove them from pyproject.toml's excludes"
