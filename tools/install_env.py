"""Install the course's locked environment into a venv with uv, from wherever this machine's pip installs.

``make setup`` runs it with the venv's Python: ``python tools/install_env.py -r requirements.txt -c constraints.txt``.

Why uv and not pip: the lock holds torch with its CUDA libraries (about 6 GB unpacked). pip unpacks them one by one
(1 min 59 s for the whole lock in a fresh venv on a 2-core machine, measured); uv unpacks in parallel and links from
its cache (40 s with an empty cache, bytecode compiled; the same 211 packages, ``pip freeze`` identical).
uv is in the lock already (tests/platform/test_environment.py resolves the lock with it), so pip installs only uv first.

Why this script: uv does not read pip's configuration, and a machine's pip may be set up to install from a
mirror, a local index or a folder of wheels (``pip config list``: index-url, extra-index-url, find-links,
constraint, cert, trusted-host, no-index). The script hands the same settings to uv, with pip's rule for choosing
among indexes (the best version from any of them: ``--index-strategy unsafe-best-match``), so both install the
same files from the same places. Where uv fails it says so and installs with pip, as before.

Pins for one platform only (``decord==0.6.0; sys_platform == "linux" and ...``, ``decord2==3.4.0; ...`` elsewhere):
a package that requirements.txt pins for other platforms only is uninstalled first where a venv has it (decord and
decord2 install the same ``decord`` module: installed over the other, and then the other uninstalled, it would take
files that are now decord's with it). ``--other-platforms requirements.txt`` prints those pins (``make lock`` adds
them to the lock, as pip freeze sees only this platform's).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

# pip's settings that uv has a flag for; values that are lists (several URLs) are separated by white space
LIST_FLAGS = {
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}
ONE_FLAGS = {"index-url": "--index-url"}
TRUE = {"1", "true", "yes", "on"}


def pip_config(python: str) -> dict[str, str]:
    """pip's configuration for ``pip install``, as this Python's ``pip config list`` shows it."""
    return parse_pip_config(
        subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False).stdout
    )


def parse_pip_config(said: str) -> dict[str, str]:
    """``pip config list``'s lines (``global.find-links='/opt/wheels'``): environment over [install] over [global]."""
    ranked: dict[str, tuple[int, str]] = {}
    rank = {"global": 0, "install": 1, ":env:": 2}
    for line in said.splitlines():
        name, sep, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if not sep or section not in rank:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key not in ranked or rank[section] >= ranked[key][0]:
            ranked[key] = (rank[section], value)
    return {key: value for key, (_, value) in ranked.items()}


def uv_arguments(config: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The uv flags and environment that say what pip's configuration says."""
    args, env = ["--index-strategy", "unsafe-best-match"], {}
    for key, flag in ONE_FLAGS.items():
        if config.get(key):
            args += [flag, config[key]]
    for key, flag in LIST_FLAGS.items():
        for value in config.get(key, "").split():
            args += [flag, value]
    if config.get("no-index", "").lower() in TRUE:
        args.append("--no-index")
    if config.get("cert"):
        env["SSL_CERT_FILE"] = config["cert"]
    return args, env


def other_platforms(lines: list[str]) -> list[str]:
    """The requirement lines (``name==version; marker``) whose environment marker is false on this machine."""
    try:
        from packaging.markers import Marker
    except ImportError:  # a new venv has pip only, which carries packaging
        from pip._vendor.packaging.markers import Marker

    found = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        requirement, semicolon, marker = line.partition(";")
        if semicolon and not Marker(marker.strip()).evaluate():
            found.append(f"{requirement.strip()}; {marker.strip()}")
    return found


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0].strip()


def installed_for_other_platforms(argv: list[str]) -> list[str]:
    """The packages in this venv that the requirement files of ``argv`` (``-r FILE``) pin for other platforms only."""
    from importlib import metadata

    names = []
    for flag, path in zip(argv, argv[1:]):
        if flag == "-r":
            with open(path, encoding="utf-8") as file:
                names += [_name(line) for line in other_platforms(file.read().splitlines())]
    present = []
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        present.append(name)
    return present


def main(argv: list[str]) -> int:
    if argv[:1] == ["--other-platforms"]:
        with open(argv[1], encoding="utf-8") as file:
            print("\n".join(other_platforms(file.read().splitlines())))
        return 0
    python = sys.executable
    pip = [python, "-m", "pip", "--disable-pip-version-check", "-q"]
    lock = dict(line.split("==", 1) for line in open("constraints.txt").read().split() if line.startswith("uv=="))
    subprocess.run([*pip, "install", f"uv=={lock['uv']}"], check=True)
    args, env = uv_arguments(pip_config(python))
    leftover = installed_for_other_platforms(argv)
    if leftover:
        print(f"install_env: uninstalling {', '.join(leftover)}, pinned for other platforms only", file=sys.stderr)
        subprocess.run([*pip, "uninstall", "--yes", *leftover], check=True)
    command = [python, "-m", "uv", "pip", "install", "--quiet", "--python", python, "--compile-bytecode", *args, *argv]
    if subprocess.run(command, env={**os.environ, **{k: v for k, v in env.items() if k not in os.environ}}).returncode:
        print(
            f"install_env: uv could not install the lock ({shlex.join(command[2:])}); installing with pip instead "
            "(slower: about 2 minutes)",
            file=sys.stderr,
        )
        subprocess.run([*pip, "install", *argv], check=True)
    for name, probe in NATIVE.items():
        if subprocess.run([python, "-c", probe], capture_output=True).returncode:
            version = lock_version(name)
            print(f"install_env: {name} cannot load its native library; reinstalling it with pip", file=sys.stderr)
            subprocess.run([*pip, "install", "--force-reinstall", "--no-deps", f"{name}=={version}"], check=True)
    return 0


# Packages published both as a pure-Python wheel (which needs a system library) and as a platform wheel that
# bundles it. Where two indexes list the same version, uv takes the first index's files even when another index has
# the better wheel for this platform (seen: soundfile's py3-none-any wheel, then "cannot load library
# 'libsndfile.so'" on a machine without Debian's libsndfile1). pip chooses by platform tag, so it mends them.
NATIVE = {"soundfile": "import soundfile"}


def lock_version(name: str) -> str:
    for line in open("constraints.txt").read().split():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.split("==", 1)[1]
    raise SystemExit(f"install_env: {name} is not in constraints.txt")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
