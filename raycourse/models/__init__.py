"""Resolve a model role to what ``from_pretrained`` should load.

Notebooks never hard-code a model id; they ask ``raycourse.model_id("llm")`` and
pass the answer to the same ``from_pretrained(...)`` call that the real model
uses. See :mod:`raycourse.config` for the profiles and overrides.
"""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path

from .. import config
from ..errors import CourseError

CACHE_ENV = "RAYCOURSE_CACHE"


def cache_root() -> Path:
    """Where stand-ins are built: ``RAYCOURSE_CACHE`` or ``~/.cache/raycourse``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "raycourse").expanduser()


def standin_path(role: str | config.ModelRole) -> Path:
    """Cache folder of a stand-in, keyed by the builder's version and source code.

    A change to :mod:`raycourse.models.standins`, its training or its world therefore never reuses a stale build.
    """

    return _standin_folder(config.require_role(role))


def _standin_folder(spec: config.ModelRole) -> Path:
    from . import standins

    return cache_root() / "standins" / f"{spec.name}-v{standins.STANDIN_VERSION}-{_standin_sources_digest()}"


@functools.lru_cache(maxsize=1)
def _standin_sources_digest() -> str:
    """A digest of the builder, the training, the world it trains on and the shipped trained builds (about 3 MB):
    a change to any of them rebuilds. Read once per process: every actor that loads a model asks for a path."""
    import hashlib

    from . import standins

    sources = standins.training_digest().encode()  # the builder, the training, the world, the library versions
    shipped = sorted(f for f in standins.TRAINED_DIR.rglob("*") if f.is_file())
    sources += b"".join(str(f.relative_to(standins.TRAINED_DIR)).encode() + f.read_bytes() for f in shipped)
    return hashlib.sha256(sources).hexdigest()[:10]


def ensure_standin(role: str | config.ModelRole) -> Path:
    """Build the tiny stand-in for ``role`` unless it is already in the cache."""
    from filelock import FileLock

    from .standins import build_standin

    spec = config.require_role(role)  # looked up once: a role object passes through as it is
    path = _standin_folder(spec)
    if path.is_dir() and any(path.iterdir()):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # two actors asking at once build it once
        if not (path.is_dir() and any(path.iterdir())):
            build_standin(spec.name, path)
    return path


def ensure_standins() -> dict[str, Path]:
    return {role: ensure_standin(role) for role in config.MODEL_ROLES}


def _looks_like_path(value: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a local path."""
    return value.startswith((".", "/", "~")) or value.count("/") > 1


def pinned_snapshot(spec: config.ModelRole, cache_dir: str | None = None) -> tuple[Path | None, list[str]]:
    """The local folder of a role's pinned commit in the Hugging Face cache, and the files it lacks.

    Only the cache is read (``try_to_load_from_cache``): no network, no Hub call, whatever
    ``HF_HUB_OFFLINE`` says. The folder is usable when no file is missing.
    """
    from huggingface_hub import try_to_load_from_cache

    missing, folder = [], None
    for filename in spec.files:
        found = try_to_load_from_cache(spec.hub_id, filename, revision=spec.revision, cache_dir=cache_dir)
        if isinstance(found, str):
            folder = Path(found).parents[len(Path(filename).parts) - 1]
        else:
            missing.append(filename)
    return folder, missing


def _check_path(role: config.ModelRole, model: str) -> None:
    if _looks_like_path(model) and not Path(model).expanduser().exists():
        raise CourseError(
            f"The model for role '{role.name}' is set to the path {model!r}, which does not exist.",
            f"Fix {role.override_env}, or unset it to use the profile's model.",
        )


def _resolve_pinned(spec: config.ModelRole) -> str:
    folder, missing = pinned_snapshot(spec)
    if missing:
        raise CourseError(
            f"The model for role '{spec.name}' ({spec.purpose}: {spec.hub_id} at commit {spec.revision[:12]}) "
            f"is not in the Hugging Face cache: {len(missing)} of its {len(spec.files)} files are missing "
            f"(for example {missing[0]}).",
            "Run `make prefetch` once on a machine with internet (it downloads the gpu profile's pinned "
            f"models into the cache; on a cluster, into a cache every node sees), set {spec.override_env} "
            "to a local copy, or use RAYCOURSE_PROFILE=tiny.",
        )
    return str(folder)


def model_id(role: str, *, check: bool = True) -> str:
    """What to pass to ``from_pretrained`` for a model role.

    ``tiny``: the local directory of the stand-in (built on first use).
    ``gpu``: the local folder of the seeds' model at its pinned commit in the Hugging
    Face cache (``make prefetch`` fills it), so loading needs no network and always
    gets the pinned files. With ``check=False`` it is the Hub id instead, unchecked.
    ``RAYCOURSE_MODEL_<ROLE>`` (a Hub id or a local folder) overrides both.
    """
    spec = config.require_role(role)
    override = os.environ.get(spec.override_env, "").strip()
    if override:
        if check:
            _check_path(spec, override)
        return str(Path(override).expanduser()) if Path(override).expanduser().exists() else override
    if config.profile() == "tiny":
        return str(ensure_standin(spec))
    if not check:
        return spec.hub_id
    return _resolve_pinned(spec)


def describe(role: str) -> str:
    """One line for the init summary: what the role resolves to, without building anything."""
    spec = config.require_role(role)
    override = os.environ.get(spec.override_env, "").strip()
    if override:
        return f"{override}  (from {spec.override_env})"
    if config.profile() == "tiny":
        return f"tiny stand-in of {spec.hub_id}"
    return f"{spec.hub_id} @ {spec.revision[:12]}"


_DISK_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def _disk_problem(exc: BaseException, spec, needed: int) -> CourseError | None:
    """A download that failed on the disk, not the network (a full disk, a cache it may not write), said so:
    where the cache is and how much room it has. None for any other error."""
    import shutil

    from huggingface_hub import constants

    cause, seen = exc, set()
    while cause is not None and id(cause) not in seen:  # the OSError may be wrapped by the Hub's own errors
        seen.add(id(cause))
        code = getattr(cause, "errno", None) if isinstance(cause, OSError) else None
        if code in _DISK_FULL or code in _NOT_WRITABLE or "No space left on device" in str(cause):
            break
        cause = cause.__cause__ or cause.__context__
    else:
        return None
    cache = Path(constants.HF_HUB_CACHE)
    where = next((p for p in (cache, *cache.parents) if p.exists()), cache)
    free = shutil.disk_usage(where).free
    need = f"; {spec.hub_id} needs about {needed / 1e9:.2f} GB more" if needed else ""
    if code in _NOT_WRITABLE:
        return CourseError(
            f"Could not write {spec.hub_id!r} into the Hugging Face cache {cache}: {cause}.",
            "Make the cache writable for you, or point HF_HUB_CACHE at a folder you may write (the notebooks "
            "must see the same HF_HUB_CACHE), then run `make prefetch` again.",
        )
    return CourseError(
        f"The disk is full: downloading {spec.hub_id!r} into the Hugging Face cache {cache} failed with "
        f"{cause.__class__.__name__}: {cause}. {free / 1e9:.2f} GB are free there{need}.",
        f"Free space on that disk (`du -sh {cache}/*` shows what the cache holds), or point HF_HUB_CACHE at a "
        "disk with room (`HF_HUB_CACHE=/big/disk/hub make prefetch`, and the same HF_HUB_CACHE for `make lab`), "
        "then run `make prefetch` again: what was downloaded is kept. `make pins` lists the sizes.",
    )


def prefetch(roles: list[str] | None = None) -> dict[str, str]:
    """Download the ``gpu`` profile's pinned models into the Hugging Face cache: exactly their files."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RevisionNotFoundError

    done = {}
    for role in roles or list(config.MODEL_ROLES):
        spec = config.require_role(role)
        override = os.environ.get(spec.override_env, "").strip()
        if override:
            print(f"  {role:<10}skipped: {spec.override_env}={override}", flush=True)
            done[role] = override
            continue
        folder, missing = pinned_snapshot(spec)
        if not missing:
            done[role] = str(folder)
            continue
        known = sum(spec.sizes.get(f, 0) for f in missing)
        print(
            f"Downloading {spec.hub_id} @ {spec.revision[:12]} ({spec.purpose}): {len(missing)} files"
            + (f", {known / 1e9:.2f} GB" if known else "")
            + " ...",
            flush=True,
        )
        try:
            snapshot_download(spec.hub_id, revision=spec.revision, allow_patterns=list(spec.files))
        except RevisionNotFoundError as exc:
            raise CourseError(
                f"The pin of role '{role}' does not exist: {spec.hub_id} has no commit {spec.revision}.",
                f"Move the pin to a commit that exists: `python -m raycourse pins --move {role}` "
                "(see docs/gpu.md, 'Before a GPU workshop').",
            ) from exc
        except Exception as exc:
            disk = _disk_problem(exc, spec, known)
            if disk:
                raise disk from exc
            raise CourseError(
                f"Could not download {spec.hub_id!r}: {exc.__class__.__name__}: {exc}",
                "Check the internet connection and that HF_HUB_OFFLINE is not set, then run `make prefetch` again.",
            ) from exc
        folder, missing = pinned_snapshot(spec)
        if missing:
            raise CourseError(
                f"{spec.hub_id} at commit {spec.revision[:12]} has no file {missing[0]} "
                f"({len(missing)} pinned file(s) missing), so role '{role}' cannot load.",
                f"Fix the file list of '{role}' in raycourse/models/models.toml, or move the pin with "
                f"`python -m raycourse pins --move {role}`.",
            )
        done[role] = str(folder)
    return done


def move_pin(role: str, revision: str | None = None, path: Path | None = None) -> str:
    """Point a role at another commit (default: the Hub's current ``main``); rewrite models.toml.

    Every pinned file must exist at the new commit; their sizes are recorded from the Hub.
    """
    from huggingface_hub import model_info

    spec = config.require_role(role)
    info = model_info(spec.hub_id, revision=revision or "main", files_metadata=True)
    present = {s.rfilename: s.size for s in info.siblings or []}
    missing = [f for f in spec.files if f not in present]
    if missing:
        raise CourseError(
            f"{spec.hub_id} at {info.sha} lacks {missing}, which role '{role}' loads.",
            "Pick another commit, or change the role's file list in raycourse/models/models.toml by hand.",
        )
    path = path or config.PINS_FILE
    text = path.read_text()
    text = text.replace(f'revision = "{spec.revision}"', f'revision = "{info.sha}"')
    head, sep, rest = text.partition(f"[{role}.sizes]")
    body_end = rest.find("\n[")
    body = "".join(f'"{f}" = {present[f]}\n' for f in spec.files if present.get(f))
    line_end = rest.index("\n") + 1
    rest = rest[:line_end] + body + ("\n" + rest[body_end + 1 :] if body_end >= 0 else "")
    path.write_text(head + sep + rest)
    return info.sha


def check_profile() -> str:
    """Say whether this machine can run the active profile; raise CourseError with advice if not.

    ``tiny`` runs anywhere. ``gpu`` needs an NVIDIA GPU here (the test suite's notebooks
    load models in this machine's processes) and every pinned model in the cache.
    """
    profile = config.profile()
    if profile == "tiny":
        return "profile tiny: runs on any machine, offline"
    if config.gpu_count() == 0:
        raise CourseError(
            "The gpu profile needs an NVIDIA GPU on this machine, and none is visible here.",
            "Run `make test-gpu` on a GPU machine (after `make prefetch`); here, run `make test` (tiny profile).",
        )
    gpus = torch_gpus()
    too_old = card_too_old(gpus)
    if too_old:
        raise CourseError(*too_old)
    if not gpus["usable"]:
        raise CourseError(
            f"NVML sees {config.gpu_count()} NVIDIA GPU(s) ({gpus['name'] or 'name unknown'}, driver "
            f"{gpus['driver'] or 'unknown'}), but torch {gpus['torch']} (built for CUDA {gpus['cuda'] or 'none'}) "
            f"cannot use them: {gpus['error'] or 'torch.cuda.is_available() is False'}.",
            "torch's CUDA 13 wheels need NVIDIA driver 580 or newer (`nvidia-smi` shows the driver): update the "
            "driver, or install the torch build for the CUDA version your driver supports, then run this again.",
        )
    missing = [
        role
        for role, spec in config.MODEL_ROLES.items()
        if not os.environ.get(spec.override_env) and pinned_snapshot(spec)[1]
    ]
    if missing:
        raise CourseError(
            f"The gpu profile's models for {', '.join(missing)} are not in the Hugging Face cache.",
            "Run `make prefetch` once with internet (see docs/gpu.md, 'Before a GPU workshop').",
        )
    return (
        f"profile gpu: {gpus['count']} GPU(s) that torch can use ({gpus['name']}, driver {gpus['driver']}, "
        f"torch {gpus['torch']} for CUDA {gpus['cuda']}), every pinned model in the cache"
    )


def card_too_old(gpus: dict) -> tuple[str, str] | None:
    """(problem, fix) when the GPU's compute capability is below every architecture this torch build has kernels
    for (torch's CUDA 13 wheels: 7.5 and up, so a V100 at 7.0 or a P100 at 6.0 cannot run them), else None."""
    capability, archs = gpus.get("capability"), gpus.get("arch_list") or []
    built = sorted(int(a.split("_")[1]) for a in archs if a.startswith("sm_") and a.split("_")[1].isdigit())
    if not capability or not built:
        return None
    major, minor = capability
    if major * 10 + minor >= built[0]:
        return None
    lowest = f"{built[0] // 10}.{built[0] % 10}"
    return (
        f"The GPU {gpus.get('name') or ''} has compute capability {major}.{minor}, and torch "
        f"{gpus.get('torch')} (built for CUDA {gpus.get('cuda') or '?'}) has kernels for {lowest} and up only "
        f"({', '.join(archs)}): no driver update changes that.",
        f"Use a GPU of compute capability {lowest} or newer (a T4, L4, A10G, A100 or H100), or install a torch "
        f"build whose torch.cuda.get_arch_list() includes sm_{major}{minor} (an older CUDA's), then run this "
        "again; elsewhere the tiny profile runs (RAYCOURSE_PROFILE=tiny).",
    )


_TORCH_PROBE = """
import json, torch
info = {"torch": torch.__version__, "cuda": torch.version.cuda, "usable": False, "count": 0, "name": "", "error": "",
        "capability": None, "arch_list": []}
try:
    info["usable"] = torch.cuda.is_available()
    if info["usable"]:
        info["count"] = torch.cuda.device_count()
        info["name"] = torch.cuda.get_device_name(0)
        info["capability"] = list(torch.cuda.get_device_capability(0))  # known before any kernel runs
        info["arch_list"] = torch.cuda.get_arch_list()  # what this build has kernels for (sm_75, ...)
        torch.ones(1, device="cuda").add_(1).item()  # a kernel runs: the driver and the build agree
except Exception as exc:
    info["usable"], info["error"] = False, f"{type(exc).__name__}: {exc}"
print(json.dumps(info))
"""


def torch_gpus() -> dict:
    """What torch can do with this machine's GPUs, asked in a fresh process, and the NVIDIA driver's version.

    NVML (which Ray and :func:`config.gpu_count` ask) sees a GPU whenever the driver is loaded, even one that
    this torch build cannot use (a driver older than its CUDA needs); only torch itself can say, and asking it
    here would start CUDA in this process, so a subprocess asks.
    """
    import json
    import subprocess
    import sys

    try:
        run = subprocess.run([sys.executable, "-c", _TORCH_PROBE], capture_output=True, text=True, timeout=300)
        info = json.loads(run.stdout.strip().splitlines()[-1])
    except Exception as exc:  # torch missing or broken: say what happened
        info = {
            "torch": "?",
            "cuda": None,
            "usable": False,
            "count": 0,
            "name": "",
            "error": f"the torch probe failed ({type(exc).__name__}: {exc})",
        }
    info["driver"] = _driver_version()
    return info


def _driver_version() -> str:
    """The NVIDIA driver's version (``nvidia-smi``, else NVML through Ray's copy of pynvml), or ''."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.split()
            if out:
                return out[0]
        except Exception:
            pass
    try:
        from ray._private.thirdparty import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:
        return ""
