"""Full-size random-weight models of the gpu profile's pinned repos, built offline.

The real weights can never be downloaded where the course is tested (no internet), but
their *shapes* can be built: the real config files are small JSON files, kept in
``configs/`` (see its README for where each came from). :func:`build` turns them into
random-weight models of the real sizes and dtypes, saved under the real file names
(SDXL-Turbo's ``*.fp16.safetensors`` variant files, Qwen's bfloat16 ``model.safetensors``,
CLIP's float32 ``pytorch_model.bin``, ViT's float32 ``model.safetensors``), and puts
exactly the pinned files of ``raycourse/models/models.toml`` into a Hugging Face cache laid out
like the rehearsal's (:func:`raycourse.models.rehearsal._add_to_cache`). With ``HF_HUB_CACHE``
pointing there, ``raycourse.model_id(role)`` in the gpu profile resolves them and the
lessons' ``from_pretrained`` calls load them: ``make verify-gpu`` then measures every
module's model stages at full size (:mod:`raycourse.fullsize.verify`).

Tokenizers are the tiny stand-ins' (:mod:`raycourse.models.standins`): their ids (about 1,000)
fit any of the real vocabularies, so every input encodes; what a random model writes
back may decode to ids the small tokenizer does not know (they are dropped).

Weights are cheap on purpose: each model is built on the meta device (no
``torch.nn.init`` pass), then every tensor is filled once with seeded normal noise
(std 0.02; norm weights 1, biases 0), cast to the checkpoint's dtype and written once.
A role already in the cache, built from the same configs by the same code, is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from .. import config
from ..errors import CourseError
from ..models.fingerprint import source_fingerprint

__all__ = ["CONFIGS", "CPU_ROLES", "build", "default_cache", "param_count", "meta_models"]

#: Bump when the builder changes what it writes (part of each role's stamp).
FULLSIZE_VERSION = 1

CONFIGS = Path(__file__).with_name("configs")

#: The roles that fit a CPU at full size (SDXL-Turbo does not: 3.5 B parameters, minutes per image).
CPU_ROLES = ("clip", "vit", "llm", "speech")

#: Each role's weight files: (file in the repo, component config folder, dtype).
_WEIGHTS = {
    "image_gen": [
        ("text_encoder/model.fp16.safetensors", "text_encoder", "float16"),
        ("text_encoder_2/model.fp16.safetensors", "text_encoder_2", "float16"),
        ("unet/diffusion_pytorch_model.fp16.safetensors", "unet", "float16"),
        ("vae/diffusion_pytorch_model.fp16.safetensors", "vae", "float16"),
    ],
    "llm": [("model.safetensors", "", "bfloat16")],
    "vit": [("model.safetensors", "", "float32")],
    "clip": [("pytorch_model.bin", "", "float32")],
    "speech": [("model.safetensors", "", "float32")],
}


def default_cache() -> Path:
    """Where ``standins --full-size`` builds by default: ``<raycourse cache>/fullsize/hub``."""
    from ..models import cache_root

    return cache_root() / "fullsize" / "hub"


def _meta_model(role: str, component: str):
    """The model of one weight file, built from the real config on the meta device (no memory, no init)."""
    import torch

    folder = CONFIGS / role / component
    with torch.device("meta"):
        if role == "image_gen":
            if component in ("text_encoder", "text_encoder_2"):
                from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

                cls = CLIPTextModel if component == "text_encoder" else CLIPTextModelWithProjection
                return cls(CLIPTextConfig.from_pretrained(folder))
            from diffusers import AutoencoderKL, UNet2DConditionModel

            cls = UNet2DConditionModel if component == "unet" else AutoencoderKL
            return cls.from_config(cls.load_config(folder))
        from transformers import AutoConfig, AutoModelForCausalLM, CLIPModel, ViTModel, WhisperForConditionalGeneration

        cfg = AutoConfig.from_pretrained(folder)
        if role == "speech":
            return WhisperForConditionalGeneration(cfg)
        if role == "llm":
            return AutoModelForCausalLM.from_config(cfg)
        if role == "vit":
            return ViTModel(cfg)  # the in21k checkpoint holds ViTModel with its pooler
        if role == "clip":
            return CLIPModel(cfg)
    raise ValueError(role)


def meta_models(role: str) -> dict[str, object]:
    """The role's models on the meta device, one per weight file (keyed by the file)."""
    config.require_role(role)
    return {name: _meta_model(role, component) for name, component, _ in _WEIGHTS[role]}


def param_count(role: str) -> dict[str, int]:
    """Parameters per weight file of a role, counted on the meta device (cheap: nothing is allocated)."""
    return {name: sum(p.numel() for p in model.parameters()) for name, model in meta_models(role).items()}


def _state_dict(model, dtype: str, seed: int) -> dict:
    """Seeded random tensors for every entry of the model's state dict, in ``dtype``.

    Norm weights are 1 and biases 0, everything else normal(0, 0.02), so activations stay
    finite through 32 fp16 layers. A tied ``lm_head.weight`` (Whisper's ``proj_out.weight``) is left out, as the
    real checkpoint does.
    """
    import torch

    target = getattr(torch, dtype)
    tied = getattr(getattr(model, "config", None), "tie_word_embeddings", False)
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, meta in model.state_dict().items():
        if tied and name in ("lm_head.weight", "proj_out.weight"):  # Qwen's, Whisper's output layer: the embeddings
            continue
        if meta.ndim == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
            tensor = torch.ones(meta.shape, dtype=target)
        elif name.endswith("bias"):
            tensor = torch.zeros(meta.shape, dtype=target)
        else:
            tensor = torch.empty(meta.shape, dtype=torch.float32).normal_(0.0, 0.02, generator=generator)
            tensor = tensor.to(target)
        out[name] = tensor.contiguous()
    return out


def _write_weights(role: str, repo: Path, seed: int) -> None:
    import torch
    from safetensors.torch import save_file

    for i, (name, component, dtype) in enumerate(_WEIGHTS[role]):
        tensors = _state_dict(_meta_model(role, component), dtype, seed + i)
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".bin"):
            torch.save(tensors, path)  # openai/clip-vit-base-patch32 at its pin has no safetensors
        else:
            save_file(tensors, str(path), metadata={"format": "pt"})
        del tensors


def _digest(spec: config.ModelRole) -> str:
    """What a role's build depends on: this code, its configs, the pin (files and commit)."""
    h = hashlib.sha256(f"{FULLSIZE_VERSION} {spec.hub_id} {spec.revision} {spec.files}".encode())
    h.update(source_fingerprint(__file__))  # the builder's code, not its layout
    for path in sorted((CONFIGS / spec.name).rglob("*.json")):
        h.update(str(path.relative_to(CONFIGS)).encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _stamp(cache_dir: Path, spec) -> Path:
    return cache_dir / ("models--" + spec.hub_id.replace("/", "--")) / ".raycourse-fullsize.json"


def is_built(spec: config.ModelRole, cache_dir: Path) -> bool:
    from ..models import pinned_snapshot

    stamp = _stamp(Path(cache_dir), spec)
    if not stamp.is_file() or json.loads(stamp.read_text()).get("digest") != _digest(spec):
        return False
    return not pinned_snapshot(spec, cache_dir=str(cache_dir))[1]


def _fake_repo(spec: config.ModelRole, out: Path, seed: int) -> Path:
    """The role's repo as the Hub holds it: the tiny stand-in's tokenizers, the real configs, full-size weights."""
    from ..models.rehearsal import fake_repo

    role = spec.name
    fake_repo(spec, out)  # tokenizers (and the layout) of the tiny stand-in
    for path in list(out.rglob("*")):  # its weights and configs go; the real ones come
        if path.is_file() and (
            path.suffix in (".safetensors", ".bin")
            or path.name
            in (
                "config.json",
                "model_index.json",
                "scheduler_config.json",
                "generation_config.json",
                "preprocessor_config.json",
            )
        ):
            path.unlink()
    for path in (CONFIGS / role).rglob("*.json"):
        target = out / path.relative_to(CONFIGS / role)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    _write_weights(role, out, seed)
    return out


def build(roles=None, cache_dir: Path | None = None, *, seed: int = 0, log=None) -> dict[str, dict]:
    """Build full-size random-weight models of ``roles`` into the Hugging Face cache ``cache_dir``.

    Returns, per role, the snapshot folder, its size in bytes, the build time and whether
    it was already there. Only the files pinned in ``models.toml`` enter the cache.
    """
    from ..models.rehearsal import _add_to_cache

    cache_dir = Path(cache_dir or default_cache()).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = {}
    for spec in [config.require_role(role) for role in roles or list(config.MODEL_ROLES)]:  # looked up once
        role = spec.name
        start = time.perf_counter()
        kept = is_built(spec, cache_dir)
        if not kept:
            if log:
                log(f"  {role:<10}building {spec.hub_id} at full size ...")
            scratch = cache_dir.parent / ".building"
            scratch.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f"{role}-", dir=scratch) as tmp:
                repo = _fake_repo(spec, Path(tmp) / role, seed)
                absent = [f for f in spec.files if not (repo / f).is_file()]
                if absent:
                    raise CourseError(
                        f"The full-size build of {spec.hub_id} lacks the pinned file(s) {absent}.",
                        "Teach raycourse.fullsize to write them as the real repo holds them.",
                    )
                root = cache_dir / ("models--" + spec.hub_id.replace("/", "--"))
                shutil.rmtree(root, ignore_errors=True)  # a stale build's blobs go
                _add_to_cache(cache_dir, spec, repo, spec.files)
            with contextlib.suppress(OSError):
                scratch.rmdir()  # only when empty: another build may be using it
            _stamp(cache_dir, spec).write_text(json.dumps({"digest": _digest(spec), "seed": seed}))
        snapshot = cache_dir / ("models--" + spec.hub_id.replace("/", "--")) / "snapshots" / spec.revision
        size = sum((snapshot / f).stat().st_size for f in spec.files)
        done[role] = {"snapshot": snapshot, "bytes": size, "seconds": time.perf_counter() - start, "kept": kept}
    return done
