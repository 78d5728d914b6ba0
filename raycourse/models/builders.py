"""The builders of the course's model stand-ins (:mod:`raycourse.models.standins`): each writes a complete model
directory (weights, configs, tokenizer) into an empty folder, from a seed; the trained ones train on the course's world
(:mod:`raycourse.models.training`, :mod:`raycourse.models.speech_training`). Part of the trained stand-ins' sources
(``standins.training_digest``)."""

from __future__ import annotations

import contextlib
import json
import pathlib
import warnings
from typing import Callable, Iterator

from . import bpe
from .training import seeded


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

    from .. import world
    from .training import train_llm

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
        # Trained for about 40 s on the world's prompt enhancements (raycourse.models.training, world.py).
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

    from .training import clip_training_words, train_clip

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
    # Trained for a few seconds on the course's world (raycourse.models.training): orientation and colours.
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
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from .. import world
    from .training import train_image_gen

    tok = _clip_tokenizer(words=tuple(world.enhancer_words()))  # the world's words whole: short token sequences
    with seeded(seed):
        text_encoder = CLIPTextModel(_sdxl_text_config(tok, "quick_gelu"))
        text_encoder_2 = CLIPTextModelWithProjection(_sdxl_text_config(tok, "gelu"))
        unet = _sdxl_unet()
        vae = _sdxl_vae()
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tok,
        tokenizer_2=tok,
        unet=unet,
        scheduler=_sdxl_turbo_scheduler(),
        force_zeros_for_empty_prompt=True,
    )
    with seeded(seed):
        # Trained for about 45 s so that one turbo step paints the world's colour of a prompt (models/training.py).
        train_image_gen(pipe, seed)
    # Saved as sdxl-turbo's fp16 variant files (`*.fp16.safetensors`), the files the gpu
    # profile loads: notebooks pass `variant="fp16"` in both profiles, and a CPU load
    # with dtype=torch.float32 casts the half-precision weights up.
    pipe.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True, variant="fp16")


def _sdxl_text_config(tok, act: str):
    """The config of the image generator's text encoders (``act``: CLIP's ``quick_gelu``, or ``gelu`` for the
    second, as SDXL has them), for the tokenizer ``tok``."""
    from transformers import CLIPTextConfig

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


def _sdxl_unet():
    """The image generator's UNet, randomly initialised (the caller seeds it)."""
    from diffusers import UNet2DConditionModel

    # 3 levels at 64/32/16 latent pixels, cross-attention only at the deepest
    # level (plus the mid block): ~0.4 s per 512 px image on one slow CPU core.
    return UNet2DConditionModel(
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


def _sdxl_vae():
    """The image generator's VAE, randomly initialised (the caller seeds it): 4 levels -> vae_scale_factor 8, like
    SDXL's VAE."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
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


def _sdxl_turbo_scheduler():
    """sdxl-turbo's scheduler: Euler ancestral, trailing timesteps."""
    from diffusers import EulerAncestralDiscreteScheduler

    return EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon",
        timestep_spacing="trailing",
        steps_offset=1,
    )


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
