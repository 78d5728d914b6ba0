"""Resolving the lock for every supported Python and platform, started early and read late.

``uv pip compile`` asks the package index for each target: about 16 s each here, of which under 1 s is CPU,
the rest waiting on the network. ``tests/conftest.py`` starts all of them as soon as the run has collected the
test (so they wait on the network while the notebooks use the CPU), and
``tests/platform/test_environment.py`` reads what they wrote.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = {"Linux x86_64": "x86_64-manylinux_2_28", "macOS arm64": "aarch64-apple-darwin"}
MACOS = "14.0"  # torch 2.14's oldest macOS wheel


@dataclass
class Resolution:
    python: str
    name: str  # the platform, as a person says it
    out: Path  # the resolved requirements
    process: subprocess.Popen
    log: Path

    def wait(self, timeout: float = 300) -> tuple[int, str]:
        """uv's exit status and what it said."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return 1, f"uv pip compile did not finish in {timeout:.0f} s"
        return code, self.log.read_text(encoding="utf-8", errors="replace")


def start(pythons: list[str]) -> list[Resolution]:
    """Start ``uv pip compile`` of requirements.txt and requirements-dev.txt (the course's packages and the
    authors' tools: one lock holds both) within the lock for each Python and platform, wheels only."""
    import uv

    folder = Path(tempfile.mkdtemp(prefix="rc-lock-"))
    env = {**os.environ, "MACOSX_DEPLOYMENT_TARGET": MACOS, "UV_NO_CONFIG": "1"}
    runs = []
    for python in pythons:
        for name, platform in PLATFORMS.items():
            out, log = folder / f"{python}-{platform}.txt", folder / f"{python}-{platform}.log"
            with log.open("w") as stream:
                process = subprocess.Popen(
                    [
                        uv.find_uv_bin(),
                        "pip",
                        "compile",
                        "requirements.txt",
                        "requirements-dev.txt",
                        "-c",
                        "constraints.txt",
                        "--python-version",
                        python,
                        "--python-platform",
                        platform,
                        "--only-binary",
                        ":all:",
                        "--no-header",
                        "--quiet",
                        "-o",
                        str(out),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=stream,
                    stdin=subprocess.DEVNULL,
                )
            runs.append(Resolution(python, name, out, process, log))
    return runs


def remove(runs: list[Resolution]) -> None:
    """The folder the runs wrote in (at the end of the test process: tests/conftest.py)."""
    import shutil

    for folder in {run.out.parent for run in runs}:
        shutil.rmtree(folder, ignore_errors=True)
