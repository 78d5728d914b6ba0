"""Profiles and model roles: which model (and which data) a notebook gets.

A *profile* decides what every model role and data role resolves to:

* ``gpu`` -- the real models from the workshop seeds, loaded from the Hugging Face
  cache (run ``make prefetch`` once, with internet, before a workshop), and the
  seeds' public data sets.
* ``tiny`` -- tiny, randomly initialised stand-ins of the *same architectures*,
  built locally by :mod:`raycourse.models.standins`, and the small sample data in
  ``data/``. Nothing touches the network. Results are meaningless but have the
  real shapes, so every notebook runs on a 2-core laptop in seconds.

The profile comes from ``RAYCOURSE_PROFILE``; when it is unset the default is
``gpu`` on a machine with an NVIDIA GPU and ``tiny`` everywhere else.
A single model can be swapped without editing any notebook by setting
``RAYCOURSE_MODEL_<ROLE>`` (for example ``RAYCOURSE_MODEL_LLM=Qwen/Qwen2.5-1.5B-Instruct``)
to a Hub id or a local directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .errors import CourseError

PROFILES = ("tiny", "gpu")
REHEARSAL_ENV = "RAYCOURSE_REHEARSAL"  # set by the rehearsal only (raycourse.models.rehearsal)
PROFILE_ENV = "RAYCOURSE_PROFILE"


PINS_FILE = Path(__file__).parent / "models" / "models.toml"
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelRole:
    name: str
    hub_id: str  # what the gpu profile loads: the seeds' model
    purpose: str
    loader: str  # the class a notebook loads it with, for messages and docs
    revision: str = ""  # the pinned commit (models.toml)
    files: tuple = ()  # exactly the files from_pretrained loads at that commit
    sizes: dict = field(default_factory=dict, hash=False, compare=False)  # bytes per file, where known
    variant: str | None = None  # the weights variant the gpu profile loads ("fp16")
    licence: str = ""

    @property
    def override_env(self) -> str:
        return f"RAYCOURSE_MODEL_{self.name.upper()}"


_ROLES = (
    ("image_gen", "image generation", "AutoPipelineForText2Image"),
    ("llm", "prompt enhancement", 'pipeline("text-generation")'),
    ("vit", "fine-tuning base", "ViTForImageClassification"),
    ("clip", "image embeddings", "CLIPModel / CLIPProcessor"),
    ("speech", "speech-to-text", "WhisperForConditionalGeneration / WhisperProcessor"),
)


def load_pins(path: Path = PINS_FILE) -> dict[str, ModelRole]:
    """Read the pinned models (``models.toml``): one place for prefetch and every load."""
    with open(path, "rb") as f:
        pins = tomllib.load(f)
    roles = {}
    for name, purpose, loader in _ROLES:
        pin = pins.get(name)
        if not pin or not _SHA.match(str(pin.get("revision", ""))) or not pin.get("files"):
            raise CourseError(
                f"{path.name} has no valid pin for the model role '{name}' (a repo, a 40-hex revision and its files).",
                f"Restore {path} from git, or move the pin with `python -m raycourse pins --move {name}`.",
            )
        roles[name] = ModelRole(
            name,
            pin["repo"],
            purpose,
            loader,
            pin["revision"],
            tuple(pin["files"]),
            dict(pin.get("sizes", {})),
            pin.get("variant"),
            pin.get("licence", ""),
        )
    return roles


MODEL_ROLES: dict[str, ModelRole] = load_pins()


@lru_cache(maxsize=1)
def gpu_count() -> int:
    """Number of NVIDIA GPUs this process may use (0 without any), found without starting CUDA.

    Asked through NVML, as Ray asks, not through torch: once torch has initialised CUDA in a
    process, ``CUDA_VISIBLE_DEVICES`` no longer changes what it sees, and the tiny profile
    must still be able to hide a real GPU from its stand-ins (see ``runtime.hide_real_gpus``).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1", "NoDevFiles"):
        return 0
    try:
        from ray._private.accelerators import NvidiaGPUAcceleratorManager

        found = NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    except Exception:  # Ray's layout changed: ask torch instead
        import torch

        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return min(found, len(visible.split(","))) if visible else found


def rehearsal() -> bool:
    """Whether this is the gpu profile's rehearsal: its code path, with stand-ins under the real names."""
    return os.environ.get(REHEARSAL_ENV, "").strip() not in ("", "0")


def uses_standins() -> bool:
    """Whether the models loaded are tiny random stand-ins (the tiny profile, or the gpu rehearsal)."""
    return profile() == "tiny" or rehearsal()


def profile() -> str:
    """The active profile: ``RAYCOURSE_PROFILE``, else ``gpu`` with a GPU and ``tiny`` without."""
    value = os.environ.get(PROFILE_ENV, "").strip()
    if not value:
        return "gpu" if gpu_count() > 0 else "tiny"
    if value not in PROFILES:  # names as written, lower case: every file and command says them so
        raise CourseError(
            f"Unknown profile {value!r} in {PROFILE_ENV}.",
            f"Set {PROFILE_ENV} to one of {', '.join(PROFILES)}"
            + (f" (lower case: {value.lower()})" if value.lower() in PROFILES else "")
            + " (or unset it: the default is 'gpu' on a machine with a GPU and 'tiny' elsewhere).",
        )
    return value


def require_role(role: str | ModelRole) -> ModelRole:
    """The :class:`ModelRole` of a role's name; a role object as it is (so it is looked up once, at the top)."""
    if isinstance(role, ModelRole):
        return role
    try:
        return MODEL_ROLES[role]
    except KeyError:
        raise CourseError(f"Unknown model role {role!r}.", f"Use one of: {', '.join(MODEL_ROLES)}.") from None
