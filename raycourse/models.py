"""Resolve a model role to what ``from_pretrained`` should load.

Notebooks never hard-code a model id; they ask ``raycourse.model_id("llm")`` and
pass the answer to the same ``from_pretrained(...)`` call that the real model
uses. See :mod:`raycourse.config` for the profiles and overrides.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import config
from .errors import CourseError

CACHE_ENV = "RAYCOURSE_CACHE"


def cache_root() -> Path:
    """Where stand-ins are built: ``RAYCOURSE_CACHE`` or ``~/.cache/raycourse``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "raycourse").expanduser()


def standin_path(role: str) -> Path:
    """Cache folder of a stand-in, keyed by the builder's version and source code.

    A change to :mod:`raycourse.standins` therefore never reuses a stale build.
    """
    import hashlib

    from . import standins

    config.require_role(role)
    digest = hashlib.sha256(Path(standins.__file__).read_bytes()).hexdigest()[:10]
    return cache_root() / "standins" / f"{role}-v{standins.STANDIN_VERSION}-{digest}"


def ensure_standin(role: str) -> Path:
    """Build the tiny stand-in for ``role`` unless it is already in the cache."""
    from filelock import FileLock

    from .standins import build_standin

    path = standin_path(role)
    if path.is_dir() and any(path.iterdir()):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):  # two actors asking at once build it once
        if not (path.is_dir() and any(path.iterdir())):
            build_standin(role, path)
    return path


def ensure_standins() -> dict[str, Path]:
    return {role: ensure_standin(role) for role in config.MODEL_ROLES}


def _looks_like_path(value: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a local path."""
    return value.startswith((".", "/", "~")) or value.count("/") > 1


def _hub_cached(repo_id: str) -> bool:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        snapshot_download(repo_id, local_files_only=True)
        return True
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return False


def _hub_reachable(repo_id: str) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", ""):
        return False
    from huggingface_hub import model_info

    try:
        model_info(repo_id, timeout=10)
        return True
    except Exception:
        return False


def _check_available(role: config.ModelRole, model: str) -> None:
    """A Hub id must be in the local cache or downloadable; a path must exist."""
    if Path(model).expanduser().exists():
        return
    if _looks_like_path(model):
        raise CourseError(
            f"The model for role '{role.name}' is set to the path {model!r}, which does not exist.",
            f"Fix {role.override_env}, or unset it to use the profile's model.",
        )
    if _hub_cached(model) or _hub_reachable(model):
        return
    raise CourseError(
        f"The model {model!r} ({role.purpose}) is not in the Hugging Face cache, and the Hub "
        "cannot be reached from here.",
        "Run `make prefetch` once on a machine with internet (it downloads the gpu profile's "
        f"models into the cache), set {role.override_env} to a local copy, or use "
        "RAYCOURSE_PROFILE=tiny.",
    )


def model_id(role: str, *, check: bool = True) -> str:
    """What to pass to ``from_pretrained`` for a model role.

    ``tiny``: the local directory of the stand-in (built on first use).
    ``gpu``: the seeds' Hub id. ``RAYCOURSE_MODEL_<ROLE>`` overrides both.
    """
    spec = config.require_role(role)
    override = os.environ.get(spec.override_env, "").strip()
    if override:
        if check:
            _check_available(spec, override)
        return str(Path(override).expanduser()) if Path(override).expanduser().exists() else override
    if config.profile() == "tiny":
        return str(ensure_standin(role))
    if check:
        _check_available(spec, spec.hub_id)
    return spec.hub_id


def describe(role: str) -> str:
    """One line for the init summary: what the role resolves to, without building anything."""
    spec = config.require_role(role)
    override = os.environ.get(spec.override_env, "").strip()
    if override:
        return f"{override}  (from {spec.override_env})"
    if config.profile() == "tiny":
        return f"tiny stand-in of {spec.hub_id}"
    return spec.hub_id


# What `make prefetch` downloads for each role: the diffusers/transformers files that
# `from_pretrained(model_id, dtype=...)` loads (the notebooks pass no `variant`, so the
# same call works for the stand-ins; the single-file checkpoints are skipped).
PREFETCH_PATTERNS = {
    "image_gen": ["*.json", "*.txt", "*/*.json", "*/*.txt", "*/diffusion_pytorch_model.safetensors",
                  "*/model.safetensors", "tokenizer*/*"],
    "llm": ["*.json", "*.txt", "*.safetensors", "merges.txt", "vocab.json"],
    "vit": ["*.json", "*.safetensors"],
    "clip": ["*.json", "*.txt", "*.safetensors"],
}


def prefetch(roles: list[str] | None = None) -> dict[str, str]:
    """Download the ``gpu`` profile's models into the Hugging Face cache."""
    from huggingface_hub import snapshot_download

    done = {}
    for role in roles or list(config.MODEL_ROLES):
        spec = config.require_role(role)
        model = os.environ.get(spec.override_env, "").strip() or spec.hub_id
        if Path(model).expanduser().exists():
            done[role] = model
            continue
        print(f"Downloading {model} ({spec.purpose}) ...", flush=True)
        try:
            done[role] = snapshot_download(model, allow_patterns=PREFETCH_PATTERNS.get(role))
        except Exception as exc:
            raise CourseError(
                f"Could not download {model!r}: {exc.__class__.__name__}: {exc}",
                "Check the internet connection and that HF_HUB_OFFLINE is not set, then run "
                "`make prefetch` again.",
            ) from exc
    return done
