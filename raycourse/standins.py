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
:mod:`raycourse.standin_training`, the rules in ``data/README.md``), so that ``tiny`` shows
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
* ``speech`` learns to transcribe the shop's reviews spoken by eSpeak NG (:mod:`raycourse.speech_training`, a few
  minutes, needs ``espeak-ng``): it writes the words of clips it never heard.

The ViT stand-in is built from code in a moment and trained by the learner: module 05
fine-tunes it on the stripes and shows a falling loss.

Usage::

    from raycourse.standins import build_standin
    path = build_standin("llm", "/tmp/standins/llm")   # -> pathlib.Path
    pipe = transformers.pipeline("text-generation", model=str(path))

Each built directory also holds ``standin.json`` (role, seed, version and the
real model it imitates).  Bump :data:`STANDIN_VERSION` whenever a builder
changes so that caches keyed on it are rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
import warnings
from typing import Callable, Iterator

from . import bpe
from .fingerprint import source_fingerprint
from .standin_training import seeded

__all__ = ["STANDIN_VERSION", "ROLES", "TRAINED", "TRAINED_DIR", "REAL_MODELS", "build_standin", "training_digest"]

#: Bump when any builder changes (used in cache directory names).
STANDIN_VERSION: int = 5

#: The model roles that have a stand-in.
ROLES: tuple[str, ...] = ("image_gen", "llm", "vit", "clip", "speech")

#: The stand-ins trained on the course's world. Their builds with seed 0 ship with the course, in
#: ``raycourse/trained/<role>/`` (about 3 MB in all): :func:`build_standin` copies them in a second instead of
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

    from . import speech_training, standin_training, world, world_speech

    if role is None:
        return hashlib.sha256("".join(training_digest(r) for r in TRAINED).encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    shared = (__file__, bpe.__file__, standin_training.__file__, world.__file__)
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
# Tokenizers
# ---------------------------------------------------------------------------

QWEN_CHAT_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    '    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'
    'You are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}\n'
    "    {%- for tool in tools %}\n"
    '        {{- "\\n" }}\n'
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    '    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and '
    'arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, '
    '\\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}\n'
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    '    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or '
    '(message.role == "assistant" and not message.tool_calls) %}\n'
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    '    {%- elif message.role == "assistant" %}\n'
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    '            {{- \'\\n<tool_call>\\n{"name": "\' }}\n'
    "            {{- tool_call.name }}\n"
    '            {{- \'", "arguments": \' }}\n'
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    '    {%- elif message.role == "tool" %}\n'
    '        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}\n'
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    '        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}\n'
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)
"""Qwen2.5-Instruct's ChatML chat template (verbatim)."""

_QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _qwen_tokenizer(vocab_size: int = 1024, words: tuple[str, ...] = (), first_words: tuple[str, ...] = ()):
    """A byte-level BPE ``Qwen2Tokenizer`` (fast) with Qwen's specials and chat template; ``words`` learned whole,
    ``first_words`` also as they begin a line."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    n_merges_room = vocab_size - 256 - len(_QWEN_SPECIALS)
    extra = ((" ".join(words),) * 50 if words else ()) + tuple(first_words) * 50
    merges = bpe.train_bpe(Qwen2Tokenizer().backend_tokenizer, 256 + n_merges_room, extra=extra)
    vocab = bpe.build_vocab(merges)
    for tok in _QWEN_SPECIALS:
        vocab[tok] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        padding_side="left",  # decoder-only: left padding for batched generation
        clean_up_tokenization_spaces=False,
        errors="replace",
        split_special_tokens=False,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in _QWEN_SPECIALS])
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def _clip_tokenizer(vocab_size: int = 1024, words: tuple[str, ...] = ()):
    """A CLIP-style byte-level BPE tokenizer (``</w>`` word suffix, lower-cased); ``words`` are learned whole."""
    from transformers import CLIPTokenizer

    extra = (" ".join(words),) * 50 if words else ()
    merges = bpe.train_bpe(CLIPTokenizer().backend_tokenizer, vocab_size - 2, suffix="</w>", extra=extra)
    vocab = bpe.build_vocab(merges, suffix="</w>")
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence transformers/diffusers info logging and progress bars while building.

    The previous settings are restored afterwards.  The progress-bar flags are
    set directly because ``transformers.logging.enable_progress_bar()`` would
    also re-enable huggingface_hub's bars, overriding the caller's choice.
    """
    import diffusers.utils.logging as d_logging
    import transformers.utils.logging as t_logging

    saved = (
        t_logging.get_verbosity(),
        d_logging.get_verbosity(),
        getattr(t_logging, "_tqdm_active", None),
        getattr(d_logging, "_tqdm_active", None),
    )
    t_logging.set_verbosity_error()
    d_logging.set_verbosity_error()
    for mod in (t_logging, d_logging):
        if hasattr(mod, "_tqdm_active"):
            mod._tqdm_active = False
    try:
        with warnings.catch_warnings():
            # diffusers' schedulers call np.array(torch_tensor) in __init__, which
            # NumPy 2 flags with a DeprecationWarning about torch's __array__
            # not taking `copy=`; harmless and not ours to fix.
            warnings.filterwarnings(
                "ignore",
                message=r"__array__ implementation doesn't accept a copy keyword",
                category=DeprecationWarning,
            )
            yield
    finally:
        t_logging.set_verbosity(saved[0])
        d_logging.set_verbosity(saved[1])
        if saved[2] is not None:
            t_logging._tqdm_active = saved[2]
        if saved[3] is not None:
            d_logging._tqdm_active = saved[3]


def _write_json(path: pathlib.Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Builders: each writes a complete model directory into `out` (an empty dir)
# ---------------------------------------------------------------------------


def _build_llm(out: pathlib.Path, seed: int) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    from . import world
    from .standin_training import train_llm

    tok = _qwen_tokenizer(
        words=tuple(world.enhancer_words() + world.review_words()), first_words=tuple(world.enhancer_first_words())
    )
    pad_id = tok.convert_tokens_to_ids("<|endoftext|>")
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    vocab_size = ((len(tok) + 63) // 64) * 64  # padded, like Qwen's 151936
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=96,  # trained to copy the prompt and add its season's elements: 64 was too small
        intermediate_size=192,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,  # every head its own keys: the copying of the prompt needs them
        max_position_embeddings=4096,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=pad_id,
        eos_token_id=im_end,
        pad_token_id=pad_id,
    )
    with seeded(seed):
        model = Qwen2ForCausalLM(config)
        # Trained for about 40 s on the world's prompt enhancements (raycourse.standin_training, world.py).
        train_llm(model, tok, seed)
    # Qwen2.5-0.5B-Instruct's generation defaults, as its generation_config.json ships them (trained, the
    # stand-in needs no tokens suppressed: it writes visible words and ends its answer with <|im_end|>).
    gen = GenerationConfig(
        bos_token_id=pad_id,
        pad_token_id=pad_id,
        eos_token_id=[im_end, pad_id],
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repetition_penalty=1.1,
    )
    model.generation_config = gen
    # Saved in bfloat16 with ``dtype: bfloat16`` in its config, as Qwen2.5 ships: transformers 5 loads
    # with dtype="auto" by default, so code that meets the real model in bfloat16 (``.numpy()`` on a
    # bf16 tensor fails, features differ from a float32 run) meets it in tiny too.
    model.config.dtype = torch.bfloat16
    model.to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _build_clip(out: pathlib.Path, seed: int) -> None:
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPVisionConfig,
    )

    from .standin_training import clip_training_words, train_clip

    tok = _clip_tokenizer(words=tuple(clip_training_words()))
    text_config = CLIPTextConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        projection_dim=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    vision_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=224,
        patch_size=32,
        hidden_act="quick_gelu",
        projection_dim=512,
    )
    config = CLIPConfig(
        text_config=text_config.to_dict(),
        vision_config=vision_config.to_dict(),
        projection_dim=512,
    )
    with seeded(seed):
        model = CLIPModel(config)
    # Same preprocessing as openai/clip-vit-base-patch32 (the class defaults).
    image_processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tok)
    # Trained for a few seconds on the course's world (raycourse.standin_training): orientation and colours.
    with seeded(seed):
        train_clip(model, processor, seed)
    model.save_pretrained(out)
    processor.save_pretrained(out)


def _build_vit(out: pathlib.Path, seed: int) -> None:
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=224,
        patch_size=16,
        num_channels=3,
        qkv_bias=True,
        # The real checkpoint uses 0.02, but it is pre-trained.  From a random
        # start with std 0.02 this tiny ViT barely moves in 60 steps on the
        # course's stripes task; with 0.1 (which also sizes the new classifier
        # head) it reaches 100 % validation accuracy in ~20-40 steps at lr 2e-4..3e-3.
        initializer_range=0.1,
    )
    with seeded(seed):
        model = ViTModel(config, add_pooling_layer=True)
    # Same preprocessing as google/vit-base-patch16-224-in21k.
    image_processor = ViTImageProcessor(
        do_resize=True,
        size={"height": 224, "width": 224},
        do_normalize=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    model.save_pretrained(out)
    image_processor.save_pretrained(out)


def _build_image_gen(out: pathlib.Path, seed: int) -> None:
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from . import world
    from .standin_training import train_image_gen

    tok = _clip_tokenizer(words=tuple(world.enhancer_words()))  # the world's words whole: short token sequences

    def text_config(act: str) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act=act,
            projection_dim=32,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )

    with seeded(seed):
        text_encoder = CLIPTextModel(text_config("quick_gelu"))
        text_encoder_2 = CLIPTextModelWithProjection(text_config("gelu"))
        # 3 levels at 64/32/16 latent pixels, cross-attention only at the deepest
        # level (plus the mid block): ~0.4 s per 512 px image on one slow CPU core.
        unet = UNet2DConditionModel(
            sample_size=64,  # x vae_scale_factor 8 -> 512 px default, like sdxl-turbo
            in_channels=4,
            out_channels=4,
            block_out_channels=(16, 32, 32),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4, 4),
            transformer_layers_per_block=1,
            cross_attention_dim=64,  # hidden_size(text_encoder) + hidden_size(text_encoder_2)
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=6 * 8 + 32,  # 6 time ids + pooled text_embeds
            norm_num_groups=8,
        )
        # 4 levels -> vae_scale_factor 8, like SDXL's VAE.
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            latent_channels=4,
            block_out_channels=(8, 16, 16, 16),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=1,
            norm_num_groups=4,
            sample_size=512,
            scaling_factor=0.13025,
            force_upcast=True,
            mid_block_add_attention=False,
        )
    scheduler = EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        timestep_spacing="trailing",
        steps_offset=1,
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )
    with seeded(seed):
        # Trained for about 45 s so that one turbo step paints the world's colour of a prompt (standin_training).
        train_image_gen(pipe, seed)
    # Saved as sdxl-turbo's fp16 variant files (`*.fp16.safetensors`), the files the gpu
    # profile loads: notebooks pass `variant="fp16"` in both profiles, and a CPU load
    # with dtype=torch.float32 casts the half-precision weights up.
    pipe.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True, variant="fp16")


def _build_speech(out: pathlib.Path, seed: int) -> None:
    from .speech_training import build_speech

    build_speech(out, seed)  # trained for a few minutes on the world's speech (needs espeak-ng)


_BUILDERS: dict[str, Callable[[pathlib.Path, int], None]] = {
    "image_gen": _build_image_gen,
    "llm": _build_llm,
    "vit": _build_vit,
    "clip": _build_clip,
    "speech": _build_speech,
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
            _write_json(
                tmp / "standin.json",
                {
                    "role": role,
                    "seed": seed,
                    "standin_version": STANDIN_VERSION,
                    "imitates": REAL_MODELS[role],
                    "note": (
                        "tiny stand-in trained on the course's world by raycourse.standins"
                        if role in TRAINED
                        else "tiny randomly initialised stand-in built by raycourse.standins"
                    ),
                    **({"trained_from": training_digest(role)} if role in TRAINED else {}),
                },
            )
        # mkdtemp creates 0700 and transformers writes weights 0600: make the
        # tree world-readable like a normal checkout/cache.
        os.chmod(tmp, 0o755)
        for sub in tmp.rglob("*"):
            os.chmod(sub, 0o755 if sub.is_dir() else 0o644)
        if path.is_dir():  # existing *empty* dir: os.replace may replace it on POSIX
            path.rmdir()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
