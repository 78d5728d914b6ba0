"""Tiny, randomly initialised stand-ins for the course's models.

Why stand-ins?
--------------
The course notebooks use five pre-trained models from the Hugging Face Hub:

=============  ==========================================  =============================
role           real model                                  loaded with
=============  ==========================================  =============================
``image_gen``  ``stabilityai/sdxl-turbo``                  ``diffusers.AutoPipelineForText2Image``
``llm``        ``Qwen/Qwen2.5-0.5B-Instruct``              ``transformers.pipeline("text-generation")``
``vit``        ``google/vit-base-patch16-224-in21k``       ``ViTForImageClassification`` + ``ViTImageProcessor``
``clip``       ``openai/clip-vit-base-patch32``            ``CLIPModel`` + ``CLIPProcessor``
``speech``     ``openai/whisper-tiny``                     ``WhisperForConditionalGeneration`` + ``WhisperProcessor``
=============  ==========================================  =============================

Together they are several GB and SDXL needs a GPU to be usable.  In CI and on
laptops there is no GPU and often no Hub access, yet the notebooks still have to
run end to end so that the *Ray Data pipeline code* (the thing the course teaches)
is exercised.  The ``tiny`` profile therefore swaps each model for a stand-in that

* has the **same architecture classes, config layout, tokenizer type and file
  layout** as the real checkpoint, so the notebooks call exactly the same loading
  and inference code (``from_pretrained(path)``, pipelines, processors);
* produces outputs of the **same shapes and types** (512x512 PIL images, chat
  strings, ``(n, 512)`` CLIP embeddings, ViT logits);
* is **tiny** (a few MB) and fast on a CPU;
* is **built locally and deterministically** - no network access is ever attempted
  (tokenizers are trained with the ``tokenizers`` library on a small built-in English
  corpus), and the same ``role`` + ``seed`` always gives byte-identical weight and
  tokenizer files on the same machine.

Three of them are **trained** on the course's own synthetic world (:mod:`raycourse.world`,
:mod:`raycourse.models.training`, the rules in ``data/README.md``), so that ``tiny`` shows
what the lessons say the models do. Their seed-0 builds ship with the course
(:data:`TRAINED_DIR`, written by ``tools/train_standins.py``), so building them is a copy:

* ``clip`` learns to match stripe images with captions of their orientation and colours
  (about 10 s): text search finds the stripes a sentence names, zero-shot classification
  of the two stripe classes is far above chance;
* ``llm`` learns the course's prompt enhancement (about 45 s): it keeps the prompt, with
  its animal and outfit, and adds two elements of the season the instruction names;
* ``image_gen`` learns the picture world (about 45 s): one turbo step paints a prompt in the
  colour of its season, or else of its outfit, or else of its animal, so an enhanced prompt
  changes its picture;
* ``speech`` learns to transcribe the shop's reviews spoken by eSpeak NG (:mod:`raycourse.models.speech_training`, a few
  minutes, needs ``espeak-ng``): it writes the words of clips it never heard.

The ViT stand-in is built from code in a moment and trained by the learner: module 05
fine-tunes it on the stripes and shows a falling loss.

Usage::

    from raycourse.models.standins import build_standin
    path = build_standin("llm", "/tmp/standins/llm")   # -> pathlib.Path
    pipe = transformers.pipeline("text-generation", model=str(path))

Each built directory also holds ``standin.json`` (role, seed, version and the
real model it imitates).  Bump :data:`STANDIN_VERSION` whenever a builder
changes so that caches keyed on it are rebuilt.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

from . import bpe, builders
from .fingerprint import source_fingerprint
from .builders import _BUILDERS, _quiet, _write_json

__all__ = ["STANDIN_VERSION", "ROLES", "TRAINED", "TRAINED_DIR", "REAL_MODELS", "build_standin", "training_digest"]

#: Bump when any builder changes (used in cache directory names).
STANDIN_VERSION: int = 5

#: The model roles that have a stand-in.
ROLES: tuple[str, ...] = ("image_gen", "llm", "vit", "clip", "speech")

#: The stand-ins trained on the course's world. Their builds with seed 0 ship with the course, in
#: ``raycourse/models/trained/<role>/`` (about 3 MB in all): :func:`build_standin` copies them in a second instead of
#: training for a minute and a half. ``python tools/train_standins.py`` trains them anew and writes that folder;
#: ``make test-standins`` checks that it gives the shipped files byte for byte, and ``make test`` that they were
#: trained from today's sources (:func:`training_digest`).
TRAINED: tuple[str, ...] = ("image_gen", "llm", "clip", "speech")
TRAINED_DIR = pathlib.Path(__file__).parent / "trained"

#: The libraries whose versions a trained stand-in's bytes depend on (part of :func:`training_digest`).
TRAINING_LIBRARIES: tuple[str, ...] = ("torch", "transformers", "diffusers", "tokenizers", "safetensors")


def training_digest(role: str | None = None) -> str:
    """What a trained stand-in's files depend on: this builder, the training, the world it learns and the versions of
    the libraries that compute and write it. A training writes it into its ``standin.json`` (``trained_from``), so a
    shipped build made from other sources shows it (``tests/platform/test_standins.py``) without training anew. The
    speech stand-in's training has sources of its own (``role="speech"``); ``None``: the digest of every role's."""
    import hashlib
    from importlib import metadata

    from . import speech_training, training
    from .. import world
    from ..world import speech as world_speech

    if role is None:
        return hashlib.sha256("".join(training_digest(r) for r in TRAINED).encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    shared = (__file__, builders.__file__, bpe.__file__, training.__file__, world.__file__)
    speech = (speech_training.__file__, world_speech.__file__, speech_training.REVIEWS)
    sources = shared + (speech if role == "speech" else ())
    for module_file in sources:  # what the code does, not its layout: formatting leaves the shipped builds current
        digest.update(source_fingerprint(module_file))
    for name in TRAINING_LIBRARIES:
        digest.update(f"{name}=={metadata.version(name).split('+')[0]};".encode())
    return digest.hexdigest()[:16]


#: The real Hub model each stand-in imitates.
REAL_MODELS: dict[str, str] = {
    "image_gen": "stabilityai/sdxl-turbo",
    "llm": "Qwen/Qwen2.5-0.5B-Instruct",
    "vit": "google/vit-base-patch16-224-in21k",
    "clip": "openai/clip-vit-base-patch32",
    "speech": "openai/whisper-tiny",
}


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def build_standin(role: str, path: str | os.PathLike, seed: int = 0, *, train: bool = False) -> pathlib.Path:
    """Build the stand-in for ``role`` into directory ``path`` and return it.

    A trained stand-in (:data:`TRAINED`) with seed 0 is copied from the course's shipped build
    (:data:`TRAINED_DIR`) unless ``train`` is true; with another seed, or ``train=True``, it is trained here.

    ``path`` is created; it must not exist or be an empty directory.  The model is
    built in a temporary sibling directory and moved into place with
    :func:`os.replace`, so a crash never leaves a half-built model at ``path``.
    No network access is made.  Deterministic: the same ``role`` and ``seed``
    give byte-identical weight (safetensors) and tokenizer files.

    Raises ``ValueError`` for an unknown role and ``FileExistsError`` if ``path``
    is a non-empty directory (or a file).
    """
    if role not in _BUILDERS:
        raise ValueError(f"unknown stand-in role {role!r}; known roles: {', '.join(ROLES)}")
    path = pathlib.Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists and is not an empty directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.building-", dir=path.parent))
    try:
        shipped = TRAINED_DIR / role
        if role in TRAINED and seed == 0 and not train:
            if not (shipped / "standin.json").is_file():
                raise FileNotFoundError(
                    f"{shipped} holds no trained stand-in: run `python tools/train_standins.py "
                    f"{role}` to train it (about a minute), or restore the folder from git"
                )
            shutil.copytree(shipped, tmp, dirs_exist_ok=True)
        else:
            with _quiet():
                _BUILDERS[role](tmp, seed)
            _write_json(tmp / "standin.json", _standin_meta(role, seed))
        _make_readable(tmp)
        if path.is_dir():  # existing *empty* dir: os.replace may replace it on POSIX
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _standin_meta(role: str, seed: int) -> dict:
    """What a built stand-in's ``standin.json`` says: its role, seed, version, the real model it imitates and, for
    a trained one, the sources it was trained from (:func:`training_digest`)."""
    return {
        "role": role,
        "seed": seed,
        "standin_version": STANDIN_VERSION,
        "imitates": REAL_MODELS[role],
        "note": (
            "tiny stand-in trained on the course's world by raycourse.models.standins"
            if role in TRAINED
            else "tiny randomly initialised stand-in built by raycourse.models.standins"
        ),
        **({"trained_from": training_digest(role)} if role in TRAINED else {}),
    }


def _make_readable(tree: pathlib.Path) -> None:
    """mkdtemp creates 0700 and transformers writes weights 0600: make the tree world-readable like a normal
    checkout/cache."""
    os.chmod(tree, 0o755)
    for sub in tree.rglob("*"):
        os.chmod(sub, 0o755 if sub.is_dir() else 0o644)
