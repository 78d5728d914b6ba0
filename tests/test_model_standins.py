"""Every tiny stand-in loads through the real class, answers with the real shape, and is deterministic."""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from raycourse import standins
from raycourse.models import ensure_standin

PROMPTS = ["A watercolor painting of a red fox", "A cinematic photo of a raccoon"]


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (96, 64, 3), dtype=np.uint8)) for _ in range(2)]


def _digest(path):
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".json", ".txt"))
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_image_gen_standin_is_an_sdxl_pipeline_with_512px_images():
    from diffusers import AutoPipelineForText2Image, StableDiffusionXLPipeline

    pipe = AutoPipelineForText2Image.from_pretrained(str(ensure_standin("image_gen")), dtype=torch.float32)
    assert isinstance(pipe, StableDiffusionXLPipeline)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(prompt=PROMPTS, num_inference_steps=1, guidance_scale=0.0).images
    assert [im.size for im in out] == [(512, 512)] * 2 and out[0].mode == "RGB"


def test_llm_standin_chats_with_visible_text():
    from transformers import pipeline

    chat = pipeline("text-generation", model=str(ensure_standin("llm")), device="cpu")
    messages = [[{"role": "system", "content": "Enhance the description."}, {"role": "user", "content": p}]
                for p in PROMPTS]
    out = chat(messages, max_new_tokens=12, batch_size=2)
    answers = [o[0]["generated_text"][-1]["content"] for o in out]
    assert len(answers) == 2 and all(isinstance(a, str) and a.strip() for a in answers)
    assert chat.model.__class__.__name__ == "Qwen2ForCausalLM"


def test_vit_standin_reloads_with_a_new_head(images):
    from transformers import ViTForImageClassification, ViTImageProcessor

    path = str(ensure_standin("vit"))
    processor = ViTImageProcessor.from_pretrained(path)
    model = ViTForImageClassification.from_pretrained(path, num_labels=3)
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (2, 3, 224, 224)
    with torch.inference_mode():
        assert tuple(model(pixel_values=pixels).logits.shape) == (2, 3)


def test_clip_standin_embeds_images_and_text_in_512_numbers(images):
    from transformers import CLIPModel, CLIPProcessor

    path = str(ensure_standin("clip"))
    model, processor = CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)
    with torch.inference_mode():
        image_features = model.get_image_features(**processor(images=images, return_tensors="pt")).pooler_output
        text_features = model.get_text_features(**processor(text=PROMPTS, return_tensors="pt", padding=True))
    assert tuple(image_features.shape) == (2, 512)
    text = getattr(text_features, "pooler_output", text_features)
    assert tuple(text.shape) == (2, 512)


@pytest.mark.parametrize("role", standins.ROLES)
def test_standins_are_deterministic_and_small(role, tmp_path):
    first = standins.build_standin(role, tmp_path / "a")
    second = standins.build_standin(role, tmp_path / "b")
    assert _digest(first) == _digest(second) and _digest(first)
    size = sum(f.stat().st_size for f in first.rglob("*") if f.is_file())
    assert size < 10_000_000, f"{role} stand-in is {size / 1e6:.1f} MB"


def test_unknown_role_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="image_gen"):
        standins.build_standin("whisper", tmp_path / "x")
