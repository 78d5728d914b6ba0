#!/usr/bin/env python
"""The course's locked packages as wheels for a lent GPU machine, in parts that each fit one call.

Usage (from the repository root, on a machine with PyPI)::

    python tools/gpu_bundle.py --have device-pip.txt       # what the device lacks, downloaded, tarred and split
    python tools/gpu_bundle.py --have device-pip.txt --dry-run

The lent machine (CONTRIBUTING.md, "On a real GPU") has torch and its CUDA libraries but not Ray, and a call
carries at most 64 MiB with the working tree. This takes every package of ``constraints.txt`` (the lock: what
``make setup`` installs) that the machine lacks or has at another version (``--have``: its ``python3 -m pip list
--format=freeze``; without it, every package is taken), except the torch family, which cannot travel and is the
machine's own (torch, torchvision, torchaudio, triton and the CUDA libraries: their versions are the machine's,
said in the output). It downloads those wheels for the machine (CPython 3.12, manylinux x86_64), tars them and
splits the tar into parts of at most ``--part-mib`` under ``.gpubundle/pN/``, with ``.gpubundle/manifest.txt``
listing what is in them and each part's sha256. ``tools/gpu_ray_check.sh`` joins the parts on the machine
(``/tmp/parts``), checks them and installs the wheels into ``/tmp/site``. The printed plan says what each call
carries.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
OUT = ROOT / ".gpubundle"
# The machine's own: built together with its torch and CUDA, too large to carry (gigabytes).
MACHINES_OWN = re.compile(r"^(torch|torchvision|torchaudio|triton|cuda-.*|nvidia-(?!ml-py).*)$")
PLATFORMS = (
    "manylinux_2_39_x86_64",
    "manylinux_2_35_x86_64",
    "manylinux_2_34_x86_64",
    "manylinux_2_31_x86_64",
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
MIB = 2**20


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines (pip freeze, constraints.txt) as {normalised name: version}; the rest ignored."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_norm(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


# With --any-version: the packages that still travel at the locked version when the machine has another, because
# the lessons' results depend on them (the model code and its tokenizers, the course's Ray).
EXACT = (
    "ray",
    "transformers",
    "diffusers",
    "tokenizers",
    "huggingface-hub",
    "safetensors",
    "accelerate",
    "regex",
    "evaluate",
    "datasets",
)


def plan(lock: dict[str, str], have: dict[str, str] | None, any_version: bool = False) -> dict[str, list]:
    """What to carry, what the machine already has (at the locked version, or with ``any_version`` at any version
    but for ``EXACT``), and what stays the machine's own."""
    carry, present, own = [], [], []
    for name, version in sorted(lock.items()):
        if MACHINES_OWN.match(name):
            own.append((name, version, (have or {}).get(name)))
        elif have is not None and (have.get(name) == version or (any_version and name in have and name not in EXACT)):
            present.append((name, version))
        else:
            carry.append((name, version))
    return {"carry": carry, "present": present, "own": own}


def download(packages, folder: Path, python: str = "3.12") -> list[str]:
    """The wheels of ``packages`` for the machine into ``folder``; returns the packages that have no such wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = []
    for name, version in packages:
        if any(_norm(p.name.split("-")[0]) == name and f"-{version}-" in p.name for p in folder.glob("*.whl")):
            continue
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "-d",
            str(folder),
            f"{name}=={version}",
        ]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        if subprocess.run(cmd, capture_output=True, text=True).returncode:
            missing.append(f"{name}=={version}")
    return missing


def split(tar_bytes: bytes, part_mib: float) -> list[bytes]:
    size = int(part_mib * MIB)
    return [tar_bytes[i : i + size] for i in range(0, len(tar_bytes), size)] or [b""]


def bundle(wheels: list[Path], out: Path, part_mib: float) -> list[dict]:
    """Tar the wheels (sorted, no timestamps) and write the parts ``out/pN/part-NN``; return each part's facts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for wheel in sorted(wheels, key=lambda p: p.name):
            info = tarfile.TarInfo(wheel.name)
            info.size, info.mtime, info.mode = wheel.stat().st_size, 0, 0o644
            with open(wheel, "rb") as f:
                tar.addfile(info, f)
    parts = []
    for old in out.glob("p[0-9]*"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    for i, chunk in enumerate(split(buf.getvalue(), part_mib), start=1):
        folder = out / f"p{i}"
        folder.mkdir(parents=True)
        (folder / f"part-{i:02d}").write_bytes(chunk)
        parts.append(
            {
                "part": f"part-{i:02d}",
                "folder": folder.name,
                "bytes": len(chunk),
                "sha256": hashlib.sha256(chunk).hexdigest(),
            }
        )
    return parts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--have", type=Path, help="the machine's `python3 -m pip list --format=freeze`")
    parser.add_argument("--lock", type=Path, default=LOCK, help="the lock (default: constraints.txt)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the parts go (default: .gpubundle)")
    parser.add_argument(
        "--part-mib",
        type=float,
        default=52.0,
        help="the largest part (default 52: a call carries 64 MiB with the working tree)",
    )
    parser.add_argument(
        "--any-version",
        action="store_true",
        help="take the machine's version of what it has (fewer parts), except " + ", ".join(EXACT),
    )
    parser.add_argument("--dry-run", action="store_true", help="say what would be carried; download nothing")
    args = parser.parse_args(argv)

    lock = read_pins(args.lock.read_text())
    have = read_pins(args.have.read_text()) if args.have else None
    todo = plan(lock, have, args.any_version)
    print(
        f"{len(lock)} locked packages: {len(todo['carry'])} to carry, {len(todo['present'])} already on the "
        f"machine at {'its' if args.any_version else 'the locked'} version, "
        f"{len(todo['own'])} the machine's own (torch and CUDA)"
        + ("" if have is not None else "; no --have, so every other package is carried")
    )
    for name, version, there in todo["own"]:
        if have is not None and there != version:
            print(f"  machine's own: {name} {there or '(absent)'} instead of the locked {version}")
    print("  carry: " + ", ".join(f"{n}=={v}" for n, v in todo["carry"]))
    if args.dry_run:
        return 0
    wheels_dir = args.out / "wheels"
    missing = download(todo["carry"], wheels_dir)
    if missing:
        print(
            f"error: no wheel for the machine (CPython 3.12, manylinux x86_64) of: {', '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    wanted = {f"{n}=={v}" for n, v in todo["carry"]}
    wheels = [w for w in wheels_dir.glob("*.whl") if f"{_norm(w.name.split('-')[0])}=={w.name.split('-')[1]}" in wanted]
    parts = bundle(wheels, args.out, args.part_mib)
    manifest = [f"{p['part']} {p['bytes']} {p['sha256']}" for p in parts]
    (args.out / "manifest.txt").write_text("\n".join(manifest) + "\n")
    for p in parts:  # every part travels with the manifest, so the machine can check what it has so far
        (args.out / p["folder"] / "manifest.txt").write_text("\n".join(manifest) + "\n")
    total = sum(p["bytes"] for p in parts)
    print(
        f"{len(wheels)} wheels, {total / MIB:.0f} MiB in {len(parts)} part(s) under {args.out}/. Calls, the "
        "machine kept warm between them:"
    )
    for i, p in enumerate(parts, start=1):
        last = i == len(parts)
        print(
            f'  call {i}: carry ["{args.out.name}/{p["folder"]}"], command: mkdir -p /tmp/parts && '
            f"cp {args.out.name}/{p['folder']}/* /tmp/parts/" + ("; then tools/gpu_ray_check.sh" if last else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
