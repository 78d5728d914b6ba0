"""A gpu-profile rehearsal on a CPU, offline: the pinned Hub repos, played by the tiny stand-ins.

The gpu profile cannot be downloaded here (no internet) or run (no GPU), yet most of
what breaks it the night before a workshop is not about the GPU: a pin, a file that
``make prefetch`` does not fetch, a variant the notebooks ask for but the cache does
not hold, a load that still wants the network. The rehearsal checks exactly those:

1. each role's tiny stand-in is written in the layout and under the file names of the
   real repo at its pinned commit (``fake_repo``): fp16 variant files for SDXL-Turbo,
   tokenizers as ``vocab.json`` + ``merges.txt``, CLIP's weights as ``pytorch_model.bin``
   and its image processor as ``preprocessor_config.json``, Qwen's chat template
   inside ``tokenizer_config.json``;
2. from that repo, only the files pinned in ``models.toml`` are copied into a Hugging
   Face cache in the hub's own layout (``models--org--name/blobs``, ``snapshots/<commit>``,
   ``refs/main``), as ``make prefetch`` would download them (``build_cache``);
3. the notebooks then run in the gpu profile against that cache with
   ``HF_HUB_OFFLINE=1`` and Ray's logical GPUs. A file missing from a pin fails the load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from .. import config
from ..errors import CourseError


def _legacy_tokenizer(folder: Path) -> None:
    """Add the files of a slow BPE tokenizer (vocab.json, merges.txt, special_tokens_map.json).

    The real repos ship them (sdxl-turbo's tokenizers have nothing else); transformers
    builds the fast tokenizer from them on load.
    """
    spec = json.loads((folder / "tokenizer.json").read_text())
    model = spec["model"]
    (folder / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False))
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    special = {k: settings[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if settings.get(k)}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def fake_repo(spec: config.ModelRole, out: Path) -> Path:
    """Write the tiny stand-in of a role as its real Hub repo lays it out, into ``out``."""
    import torch

    from . import ensure_standin

    role = spec.name
    standin = ensure_standin(spec)
    out.mkdir(parents=True, exist_ok=True)
    if role == "image_gen":
        shutil.copytree(standin, out, dirs_exist_ok=True)  # saved as the fp16 variant files
        for name in ("tokenizer", "tokenizer_2"):
            _legacy_tokenizer(out / name)
    elif role == "llm":
        shutil.copytree(standin, out, dirs_exist_ok=True)
        template = out / "chat_template.jinja"
        if template.exists():  # Qwen keeps its chat template inside tokenizer_config.json
            settings = json.loads((out / "tokenizer_config.json").read_text())
            settings["chat_template"] = template.read_text()
            (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False))
            template.unlink()
        _legacy_tokenizer(out)
    elif role == "vit":
        shutil.copytree(standin, out, dirs_exist_ok=True)
    elif role == "clip":
        from transformers import CLIPModel, CLIPProcessor

        model = CLIPModel.from_pretrained(str(standin))
        model.config.save_pretrained(out)
        torch.save(model.state_dict(), out / "pytorch_model.bin")  # main has no safetensors
        processor = CLIPProcessor.from_pretrained(str(standin))
        processor.image_processor.save_pretrained(out)  # preprocessor_config.json
        processor.tokenizer.save_pretrained(out)
        _legacy_tokenizer(out)
    elif role == "speech":
        from transformers import WhisperProcessor

        for name in ("config.json", "generation_config.json", "model.safetensors"):
            shutil.copyfile(standin / name, out / name)
        processor = WhisperProcessor.from_pretrained(str(standin))
        processor.feature_extractor.save_pretrained(out)  # preprocessor_config.json, as whisper-tiny's repo has it
        processor.tokenizer.save_pretrained(out)
        _legacy_tokenizer(out)
        tokenizer = processor.tokenizer  # whisper-tiny's repo also lists its added tokens and its spelling normaliser
        added = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
        (out / "added_tokens.json").write_text(json.dumps(added, indent=2))
        (out / "normalizer.json").write_text("{}")  # the stand-in spells nothing two ways
    else:  # pragma: no cover - every role is covered above
        raise ValueError(role)
    (out / "standin.json").unlink(missing_ok=True)
    return out


def _add_to_cache(cache_dir: Path, spec: config.ModelRole, repo: Path, files) -> Path:
    """Copy ``files`` of ``repo`` into the hub cache layout at the role's pinned commit."""
    root = cache_dir / ("models--" + spec.hub_id.replace("/", "--"))
    snapshot = root / "snapshots" / spec.revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(spec.revision)
    for name in files:
        data = (repo / name).read_bytes()
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def build_cache(cache_dir: Path, roles=None, *, leave_out: dict | None = None) -> dict[str, Path]:
    """A Hugging Face cache holding each role's pinned files, taken from its fake repo.

    ``leave_out`` maps a role to file names not to copy (to show that a pin without
    them cannot load). A pinned file the fake repo lacks is an error: the rehearsal
    would no longer test what the real repo holds.
    """
    leave_out = leave_out or {}
    done = {}
    with tempfile.TemporaryDirectory(prefix="raycourse-rehearsal-") as tmp:
        for role in roles or list(config.MODEL_ROLES):
            spec = config.require_role(role)
            repo = fake_repo(spec, Path(tmp) / role)
            absent = [f for f in spec.files if not (repo / f).is_file()]
            if absent:
                raise CourseError(
                    f"The rehearsal's copy of {spec.hub_id} lacks the pinned file(s) {absent}.",
                    "Teach raycourse.models.rehearsal.fake_repo to write them as the real repo holds them.",
                )
            keep = [f for f in spec.files if f not in set(leave_out.get(role, ()))]
            done[role] = _add_to_cache(Path(cache_dir), spec, repo, keep)
    return done
