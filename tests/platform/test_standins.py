"""Contract tests for :mod:`raycourse.models.standins` (offline, CPU, ~30 s on 2 cores).

Each stand-in is built once into a temporary folder and then loaded through the
same class and call the notebooks use with the real Hub model.  The module turns
DeprecationWarning and FutureWarning into errors, so a stand-in that makes
transformers/diffusers complain fails here rather than in front of a learner.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

# Same values as the root conftest.py; set here too so the file also runs alone.
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}.items():
    os.environ.setdefault(_key, _value)

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from raycourse.models import standins  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("error::DeprecationWarning"),
    pytest.mark.filterwarnings("error::FutureWarning"),
    pytest.mark.tiny_only("the stand-ins themselves"),
]

PROMPTS = ["A watercolor painting of a red fox", "A cinematic photo of a raccoon in a yellow raincoat"]
CHATS = [[{"role": "system", "content": "Enhance the image prompt."}, {"role": "user", "content": p}] for p in PROMPTS]
# diffusers' schedulers call np.array(torch_tensor) in __init__; NumPy 2 answers with a
# DeprecationWarning about torch's __array__ signature. Third-party internals, harmless.
DIFFUSERS_NUMPY_WARNING = r"__array__ implementation doesn't accept a copy keyword"


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    """Every stand-in, from the course's cache (built there on first use, as a notebook would: the training of two of
    them takes about a minute, paid once per run); ``test_same_seed_gives_identical_files`` builds them afresh."""
    from raycourse.models import ensure_standin

    paths, seconds = {}, {}
    for role in standins.ROLES:
        start = time.perf_counter()
        paths[role] = ensure_standin(role)
        seconds[role] = round(time.perf_counter() - start, 2)
    print("build (or cache) seconds:", seconds)
    return paths


@pytest.fixture(scope="module")
def pil_images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)) for _ in range(3)]


def _digests(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(path.rglob("*"))
        if f.is_file()
    }


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# --- the API ---------------------------------------------------------------------


def test_unknown_role_is_a_value_error_that_lists_the_roles(tmp_path):
    with pytest.raises(ValueError) as info:
        standins.build_standin("whisper", tmp_path / "x")
    assert all(role in str(info.value) for role in standins.ROLES)
    assert not (tmp_path / "x").exists()


def test_roles_and_version():
    assert standins.ROLES == ("image_gen", "llm", "vit", "clip", "speech")
    assert isinstance(standins.STANDIN_VERSION, int) and standins.STANDIN_VERSION >= 1


def test_builds_into_an_empty_dir_but_never_over_a_non_empty_one(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert standins.build_standin("vit", empty) == empty
    assert (empty / "config.json").is_file() and (empty / "model.safetensors").is_file()
    with pytest.raises(FileExistsError):
        standins.build_standin("vit", empty)
    # the build happens in a temporary sibling that is moved into place: nothing left over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_every_standin_is_small_and_says_what_it_imitates(built):
    import json

    for role, path in built.items():
        assert _size(path) < 5_000_000, f"{role}: {_size(path) / 1e6:.1f} MB"
        meta = json.loads((path / "standin.json").read_text())
        assert meta["role"] == role and meta["standin_version"] == standins.STANDIN_VERSION
        assert meta["imitates"] == standins.REAL_MODELS[role]


def test_same_seed_gives_identical_files(built, tmp_path):
    again = standins.build_standin("vit", tmp_path / "vit")  # built from code: the untrained stand-in
    assert _digests(again) == _digests(built["vit"])
    assert any(name.endswith(".safetensors") for name in _digests(again))


@pytest.mark.parametrize("role", standins.TRAINED)
def test_the_shipped_trained_standins_were_trained_from_todays_sources(role):
    """A change to the builder, the training, the world or a library that computes the weights makes the shipped
    build stale: its standin.json names the sources it was trained from (standins.training_digest)."""
    import json

    meta = json.loads((standins.TRAINED_DIR / role / "standin.json").read_text())
    assert meta.get("trained_from") == standins.training_digest(role), (
        f"raycourse/models/trained/{role} was trained from other sources than today's (raycourse/models/: standins.py, "
        f"builders.py, bpe.py, training.py; raycourse/world/; for speech models/speech_training.py, world/speech.py "
        f"and data/text/reviews.jsonl, "
        f"or the versions of {', '.join(standins.TRAINING_LIBRARIES)}): run "
        f"`python tools/train_standins.py {role}` and commit it"
    )


# Training anew takes 10 s for CLIP, 47 s for the image generator and 77 s for the LLM. `make test` trains CLIP, whose
# loop (raycourse.models.training._fit) the LLM shares, to show that a training gives the same stand-in again; the
# sources test above holds every shipped build to today's sources. `make test-standins` (RAYCOURSE_RETRAIN=1) trains all
# three.
RETRAINED_IN_MAKE_TEST = ("clip",)


def _cpu() -> str:
    """This machine's CPU as far as torch's float kernels go: its model name and the instruction set torch uses."""
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "a CPU",
        )
        if Path("/proc/cpuinfo").is_file()
        else "a CPU"
    )
    return f"{model}, torch's {torch.backends.cpu.get_cpu_capability()} kernels"


@pytest.mark.slow(
    "trains the stand-ins anew to compare them with the shipped ones (about a minute and a half of training)"
)
@pytest.mark.parametrize("role", standins.TRAINED)
def test_the_shipped_trained_standins_are_what_their_training_gives(built, role, tmp_path):
    """raycourse/models/trained/ is what `python tools/train_standins.py` writes (and the course's cache holds a copy of
    it).

    On a CPU like the one that trained it, training anew gives it byte for byte. On another, it cannot: torch's CPU
    kernels (MKL, oneDNN, its own vectorised loops) sum in an order that depends on the instruction set, the last bits
    differ, and the training's steps grow them into weights as far from the shipped ones as another seed's (measured
    on an Ice Lake Xeon with AVX-512: every tensor differs, as with seed 1). There the stand-in trained anew is held
    to what the shipped one is tested for: the same measures, on the course's data."""
    if role not in RETRAINED_IN_MAKE_TEST and os.environ.get("RAYCOURSE_RETRAIN") != "1":
        pytest.skip(f"{role} is trained anew by `make test-standins`; make test holds it to today's sources")
    if role == "speech":
        from raycourse.world import speech as world_speech

        if not world_speech.have_espeak():
            pytest.skip("the speech stand-in trains on speech that espeak-ng synthesises: apt-get install espeak-ng")
    assert _digests(built[role]) == _digests(standins.TRAINED_DIR / role)
    again = standins.build_standin(role, tmp_path / role, train=True)
    shipped = _digests(standins.TRAINED_DIR / role)
    if _digests(again) == shipped:
        return
    # Everything but the weights is the same on every CPU: the tokenizer, the configs, standin.json.
    assert {k: v for k, v in _digests(again).items() if not k.endswith(".safetensors")} == {
        k: v for k, v in shipped.items() if not k.endswith(".safetensors")
    }, (
        f"raycourse/models/trained/{role} is not what the training gives now: "
        f"run `python tools/train_standins.py {role}`"
        " and commit it"
    )
    warnings.warn(
        f"{role}: training on this CPU ({_cpu()}) gives other weights than the shipped ones (a CPU with "
        "other float kernels trained them); the stand-in trained here is held to the shipped one's tests"
    )
    QUALITY[role](again)


def test_a_trained_standin_that_is_not_shipped_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.setattr(standins, "TRAINED_DIR", tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="tools/train_standins.py llm"):
        standins.build_standin("llm", tmp_path / "llm")
    assert not (tmp_path / "llm").exists()


@pytest.mark.slow("trains a stand-in anew with another seed")
def test_another_seed_gives_other_weights(built, tmp_path):
    # CLIP: a trained stand-in with a tokenizer, 10 s to build (the LLM's training takes 45 s)
    other = standins.build_standin("clip", tmp_path / "clip", seed=1)
    assert _digests(other)["model.safetensors"] != _digests(built["clip"])["model.safetensors"]
    assert _digests(other)["tokenizer.json"] == _digests(built["clip"])["tokenizer.json"]


def test_building_leaves_the_callers_random_state_alone(tmp_path):
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    standins.build_standin("vit", tmp_path / "vit")
    assert torch.equal(torch.rand(4), expected)


# --- image_gen: stabilityai/sdxl-turbo --------------------------------------------


def test_image_gen_is_an_sdxl_pipeline_that_paints_512px_images(built):
    from diffusers import (
        AutoencoderKL,
        AutoPipelineForText2Image,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    with warnings.catch_warnings():
        # raised both when the scheduler is built and by its set_timesteps() in every call
        warnings.filterwarnings("ignore", message=DIFFUSERS_NUMPY_WARNING, category=DeprecationWarning)
        pipe = AutoPipelineForText2Image.from_pretrained(str(built["image_gen"]), dtype=torch.float32, variant="fp16")
        pipe.set_progress_bar_config(disable=True)
        start = time.perf_counter()
        images = pipe(prompt=PROMPTS, num_inference_steps=1, guidance_scale=0.0).images
        seconds = time.perf_counter() - start
    print(f"image_gen: {seconds:.2f} s for 2 images")
    assert isinstance(pipe, StableDiffusionXLPipeline)
    assert isinstance(pipe.text_encoder, CLIPTextModel)
    assert isinstance(pipe.text_encoder_2, CLIPTextModelWithProjection)
    assert isinstance(pipe.tokenizer, CLIPTokenizer) and isinstance(pipe.tokenizer_2, CLIPTokenizer)
    assert isinstance(pipe.unet, UNet2DConditionModel) and isinstance(pipe.vae, AutoencoderKL)
    assert isinstance(pipe.scheduler, EulerAncestralDiscreteScheduler)
    assert len(images) == 2
    assert all(isinstance(im, Image.Image) and im.size == (512, 512) and im.mode == "RGB" for im in images)


@pytest.mark.slow(
    "the image stand-in paints the course's 62 prompts at 512 px (20 s): what it learned, not a unit; "
    "make test-standins runs it with the trainings"
)
def test_image_gen_paints_each_prompt_of_the_course_in_its_world_colour(built):
    _image_gen_paints_each_prompt_in_its_world_colour(built["image_gen"])


def _image_gen_paints_each_prompt_in_its_world_colour(path: Path):
    """The picture world (data/README.md): one turbo step paints a prompt in its season's colour, or else its
    outfit's, or else its animal's. Every animal of the course alone (lesson 03, lab 03), and with its outfit (the
    join), plain and with a season's elements as the enhancer writes them (each season in turn), seeded per row as the
    lessons do: the dominant colour is the world's for >= 80 % of the prompts (measured: 59 of 62; grey, the weakest
    colour, came out yellow twice), and a season changes the picture of the same prompt."""
    from diffusers import AutoPipelineForText2Image

    from raycourse import world

    animals, outfits = dict(world.ANIMALS), dict(world.OUTFITS)
    seasons = list(world.SEASON_ELEMENTS)
    prompts = []
    for n, row in enumerate(sorted(set(animals) & set(outfits))):
        first, second = world.SEASON_ELEMENTS[seasons[n % len(seasons)]]
        prompts += [
            f"{animals[row]} wearing a {outfits[row]}",
            f"{animals[row]} wearing a {outfits[row]}, {first} and {second}.",
        ]
    prompts += [animals[row] for row in sorted(animals)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=DIFFUSERS_NUMPY_WARNING, category=DeprecationWarning)
        pipe = AutoPipelineForText2Image.from_pretrained(str(path), dtype=torch.float32, variant="fp16")
        pipe.set_progress_bar_config(disable=True)
        pipe.vae.enable_slicing()
        images = pipe(
            prompt=prompts,
            num_inference_steps=1,
            guidance_scale=0.0,
            generator=[torch.Generator().manual_seed(n) for n in range(len(prompts))],
        ).images
    wanted = [world.picture_colour(p) for p in prompts]
    drawn = [world.dominant_colour(image) for image in images]
    misses = [(p, w, d) for p, w, d in zip(prompts, wanted, drawn) if w != d]
    print(f"image_gen: {len(prompts) - len(misses)} of {len(prompts)} in the world's colour; misses: {misses}")
    assert None not in wanted
    assert len(misses) <= 0.2 * len(prompts), misses
    pairs = range(0, 2 * len(set(animals) & set(outfits)), 2)  # (plain, enhanced) of each joined row
    changed = sum(drawn[i] != drawn[i + 1] for i in pairs if wanted[i] != wanted[i + 1])
    assert changed >= 0.8 * sum(wanted[i] != wanted[i + 1] for i in pairs)


# --- llm: Qwen/Qwen2.5-0.5B-Instruct -----------------------------------------------


def test_llm_tokenizer_is_qwen_style_with_chatml(built):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(built["llm"]))
    assert type(tok).__name__ == "Qwen2Tokenizer" and tok.is_fast
    assert tok.padding_side == "left"
    assert (tok.pad_token, tok.eos_token) == ("<|endoftext|>", "<|im_end|>")
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tok(special, add_special_tokens=False).input_ids) == 1
    text = tok.apply_chat_template(CHATS[0], tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nEnhance the image prompt.<|im_end|>\n"
        f"<|im_start|>user\n{PROMPTS[0]}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    # Qwen's default system prompt when none is given
    text = tok.apply_chat_template(CHATS[0][1:], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert tok.decode(tok(PROMPTS[1]).input_ids) == PROMPTS[1]


def test_llm_chats_in_visible_words_without_warnings(built):
    import transformers
    from transformers import pipeline

    chat = pipeline("text-generation", model=str(built["llm"]), device="cpu")
    assert type(chat.model).__name__ == "Qwen2ForCausalLM"

    # Capture what transformers logs at WARNING level during a run (e.g. about
    # generation flags or padding); its loggers do not propagate to root.
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setLevel(logging.WARNING)
    root = transformers.logging.get_logger()
    level = transformers.logging.get_verbosity()
    root.addHandler(handler)
    transformers.logging.set_verbosity_warning()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = chat(CHATS, batch_size=2)
    finally:
        root.removeHandler(handler)
        transformers.logging.set_verbosity(level)

    answers = [o[0]["generated_text"][-1]["content"] for o in out]
    assert len(answers) == 2
    assert all(isinstance(a, str) and a.strip() and a.strip().isprintable() for a in answers), answers
    assert log.getvalue() == ""


# --- vit: google/vit-base-patch16-224-in21k ---------------------------------------


def test_vit_loads_with_a_new_classifier_head(built, pil_images):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    path = str(built["vit"])
    config = ViTConfig.from_pretrained(path)
    assert (config.image_size, config.patch_size, config.architectures) == (224, 16, ["ViTModel"])
    processor = ViTImageProcessor.from_pretrained(path)
    model = ViTForImageClassification.from_pretrained(path, num_labels=3)
    pixels = processor(images=pil_images, return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (3, 3, 224, 224)
    with torch.inference_mode():
        assert tuple(model(pixel_values=pixels).logits.shape) == (3, 3)


# --- clip: openai/clip-vit-base-patch32 ---------------------------------------------


def test_clip_embeds_images_and_text_in_512_numbers(built, pil_images):
    from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

    path = str(built["clip"])
    model, processor = CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)
    assert isinstance(processor.tokenizer, CLIPTokenizer)
    assert (model.config.vision_config.image_size, model.config.vision_config.patch_size) == (224, 32)
    with torch.inference_mode():
        image_out = model.get_image_features(**processor(images=pil_images, return_tensors="pt"))
        text_out = model.get_text_features(**processor(text=PROMPTS, return_tensors="pt", padding=True))
    # transformers 5 returns an output object; the projected embedding is pooler_output
    assert tuple(image_out.pooler_output.shape) == (3, 512)
    assert tuple(text_out.pooler_output.shape) == (2, 512)
    assert torch.isfinite(image_out.pooler_output).all() and torch.isfinite(text_out.pooler_output).all()
    tok = CLIPTokenizer.from_pretrained(path)
    ids = tok("A photo of a cat!").input_ids
    assert (
        (ids[0], ids[-1])
        == (tok.bos_token_id, tok.eos_token_id)
        == (model.config.text_config.bos_token_id, model.config.text_config.eos_token_id)
    )
    assert tok.decode(ids, skip_special_tokens=True) == "a photo of a cat !"
    assert tok.model_max_length == 77


# --- trained on the course's world (issue 27): what tiny shows, measured on data/ ---------------------------------


def _clip_embed(path, image_paths, texts):
    from transformers import CLIPModel, CLIPProcessor

    model, processor = CLIPModel.from_pretrained(str(path)).eval(), CLIPProcessor.from_pretrained(str(path))
    with torch.inference_mode():
        images = processor(images=[Image.open(p).convert("RGB") for p in image_paths], return_tensors="pt")
        vectors = torch.nn.functional.normalize(model.get_image_features(**images).pooler_output, dim=-1)
        words = processor(text=texts, return_tensors="pt", padding=True)
        sentences = torch.nn.functional.normalize(model.get_text_features(**words).pooler_output, dim=-1)
    return vectors.numpy(), sentences.numpy()


@pytest.mark.parametrize("split", ["train", "val"])
def test_clip_finds_the_stripes_a_sentence_names_and_classifies_them_zero_shot(built, split):
    _clip_finds_the_stripes_a_sentence_names(built["clip"], split)


def _clip_finds_the_stripes_a_sentence_names(path: Path, split: str):
    """The stand-in never saw data/'s images (it trains on others drawn by the same rules). On them: a search that
    names an orientation finds it in its top 5 (>= 0.8; measured 1.0), and zero-shot with the lesson's sentences
    per folder name is right for >= 90 % (measured 98 % of train, in the lesson too)."""
    from raycourse.data import data_root

    image_paths = sorted((data_root() / "images" / split).glob("*/*"))
    classes = np.array([p.parent.name for p in image_paths])
    names = sorted(set(classes))
    queries = ["a photo of horizontal stripes", "a photo of vertical stripes", "horizontal stripes", "vertical stripes"]
    prompts = [f"a photo of {name.replace('_', ' ')}" for name in names]  # lesson 06's zero-shot sentences
    vectors, sentences = _clip_embed(path, image_paths, queries + prompts)
    for query, sentence in zip(queries, sentences[:4]):
        top5 = classes[np.argsort(-(vectors @ sentence))[:5]]
        wanted = "stripes_horizontal" if "horizontal" in query else "stripes_vertical"
        assert (top5 == wanted).mean() >= 0.8, (query, top5)
    zero_shot = np.array(names)[(vectors @ sentences[4:].T).argmax(axis=1)]
    assert (zero_shot == classes).mean() >= 0.9, (zero_shot == classes).mean()


def test_clip_search_by_colour_beats_chance(built):
    _clip_search_by_colour_beats_chance(built["clip"])


def _clip_search_by_colour_beats_chance(path: Path):
    """Colour words: for each of the four commonest hues among the stripe colours of data/images/train (named by the
    world's rule, from make_data's own draws), the 5 best hits of "<colour> stripes" hold that colour more often
    than chance. (Black, white and grey are left out: grey is whatever mid-tone is nearest to it, a weak word.)"""
    import importlib.util
    from collections import Counter

    from raycourse.data import data_root
    from raycourse.world import colour_name, draw_stripes_with_colours

    spec = importlib.util.spec_from_file_location("make_data", Path(__file__).parents[2] / "tools" / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    image_paths, colours = [], []
    for c_idx, name in enumerate(make_data.CLASSES):
        for i in range(make_data.SPLITS["train"]):
            _, a, b = draw_stripes_with_colours(make_data._rng(0, c_idx, i), name == "stripes_horizontal")
            image_paths.append(next((data_root() / "images" / "train" / name).glob(f"{name}_train_{i:03d}.*")))
            colours.append(
                set() if i % make_data.GRAY_EVERY == make_data.GRAY_OFFSET else {colour_name(a), colour_name(b)}
            )
    counts = Counter(c for cs in colours for c in cs if c not in ("black", "white", "grey"))
    common = [c for c, _ in counts.most_common(4)]
    vectors, sentences = _clip_embed(path, image_paths, [f"{c} stripes" for c in common])
    hits = 0
    for colour, sentence in zip(common, sentences):
        top5 = np.argsort(-(vectors @ sentence))[:5]
        hits += sum(colour in colours[i] for i in top5)
        chance = sum(colour in cs for cs in colours) / len(colours)
        assert sum(colour in colours[i] for i in top5) / 5 > chance, (colour, chance)
    assert hits / 20 >= 0.6, hits


def test_llm_enhances_every_prompt_of_the_course_keeping_its_animal_and_outfit(built):
    _llm_enhances_every_prompt_of_the_course(built["llm"])


def _llm_enhances_every_prompt_of_the_course(path: Path):
    """The world's rule (data/README.md): the enhanced prompt is the prompt, then two elements of the season the
    instruction names. On every row of the course's two tables (the joined ids) under lesson 04's instruction with
    each season, lab 04's catalogue instruction and lesson 08's, greedy as the lessons run it: the answer holds the
    animal and the outfit, ends a sentence, and adds the season's elements (measured: every one of them)."""
    from transformers import pipeline

    from raycourse import world

    animals, outfits = dict(world.ANIMALS), dict(world.OUTFITS)
    seasons = list(world.SEASON_ELEMENTS)
    cases = []
    for n, row in enumerate(sorted(set(animals) & set(outfits))):
        season = seasons[n % len(seasons)]
        prompt = f"{animals[row]} wearing a {outfits[row]}"
        cases.append((world.SEASON_INSTRUCTION.format(season=season), prompt, world.SEASON_ELEMENTS[season]))
        cases.append((world.DETAILS_INSTRUCTION, prompt, world.VIVID_DETAILS))
    for n, row in enumerate(sorted(outfits)):
        season = seasons[n % len(seasons)]
        cases.append(
            (
                world.CATALOGUE_INSTRUCTION.format(season=season),
                f"A product photo of a {outfits[row]}",
                world.SEASON_ELEMENTS[season],
            )
        )
    chat = pipeline("text-generation", model=str(path), device="cpu")
    out = chat(
        [[{"role": "system", "content": s}, {"role": "user", "content": p}] for s, p, _ in cases],
        max_new_tokens=60,
        do_sample=False,
        batch_size=8,
    )
    answers = [o[0]["generated_text"][-1]["content"].strip() for o in out]
    for (_, prompt, (first, second)), answer in zip(cases, answers):
        assert answer == f"{prompt}, {first} and {second}.", (prompt, answer)


# --- speech: openai/whisper-tiny ------------------------------------------------------


def _clips():
    """The shipped clips (data/audio/, never heard in training) with what each says (data/audio_transcripts.jsonl)."""
    import json

    import soundfile

    root = Path(__file__).resolve().parents[2] / "data"
    rows = [json.loads(line) for line in (root / "audio_transcripts.jsonl").read_text().splitlines()]
    return rows, [soundfile.read(root / "audio" / f"{row['id']}.wav", dtype="float32")[0] for row in rows]


def test_speech_loads_and_runs_like_whisper_tiny(built):
    from transformers import (
        AutoModelForSpeechSeq2Seq,
        AutoProcessor,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
        pipeline,
    )

    path = str(built["speech"])
    processor, model = WhisperProcessor.from_pretrained(path), WhisperForConditionalGeneration.from_pretrained(path)
    assert isinstance(AutoProcessor.from_pretrained(path), WhisperProcessor)
    assert isinstance(AutoModelForSpeechSeq2Seq.from_pretrained(path), WhisperForConditionalGeneration)
    assert isinstance(processor.feature_extractor, WhisperFeatureExtractor)
    assert isinstance(processor.tokenizer, WhisperTokenizer) and processor.tokenizer.is_fast
    assert processor.feature_extractor.sampling_rate == 16_000 and model.config.num_mel_bins == 80
    tokenizer = processor.tokenizer
    for special in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>", "<|endoftext|>"):
        assert tokenizer.convert_tokens_to_ids(special) in tokenizer.all_special_ids, special
    rows, clips = _clips()
    features = processor(clips[:2], sampling_rate=16_000, return_tensors="pt").input_features
    assert features.shape[:2] == (2, 80)
    ids = model.generate(features, language="en", task="transcribe")
    generation = model.generation_config  # Whisper's: the prompt it decodes from, the language and the task
    assert generation.decoder_start_token_id == tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    assert generation.lang_to_id == {"<|en|>": tokenizer.convert_tokens_to_ids("<|en|>")}
    assert generation.task_to_id["transcribe"] == tokenizer.convert_tokens_to_ids("<|transcribe|>")
    assert generation.no_timestamps_token_id == tokenizer.convert_tokens_to_ids("<|notimestamps|>")
    texts = processor.batch_decode(ids, skip_special_tokens=True)
    assert all(isinstance(t, str) and "<|" not in t for t in texts)
    # the pipeline, with a sampling rate, as read_audio gives it; and with the language found by the model
    asr = pipeline("automatic-speech-recognition", model=path, device="cpu")
    out = asr([{"raw": clips[0], "sampling_rate": 16_000}], batch_size=1)
    assert isinstance(out[0]["text"], str) and out[0]["text"].strip() and "<|" not in out[0]["text"]


def test_speech_transcribes_the_clips_it_never_heard(built):
    _speech_transcribes_the_clips(built["speech"])


def _speech_transcribes_the_clips(path: Path):
    """The word error rate on data/audio/'s spoken reviews is at most 20 % (voices and sentences the training never
    had: raycourse.models.speech_training), and the two bad clips (silence, noise) are not transcribed as their
    review."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from raycourse.models import speech_training

    rows, clips = _clips()
    processor = WhisperProcessor.from_pretrained(str(path))
    model = WhisperForConditionalGeneration.from_pretrained(str(path)).eval()
    with torch.inference_mode():
        features = processor(clips, sampling_rate=16_000, return_tensors="pt").input_features
        texts = processor.batch_decode(
            model.generate(features, language="en", task="transcribe"), skip_special_tokens=True
        )
    spoken = [(row["text"], text) for row, text in zip(rows, texts) if not row["fault"]]
    assert not {row["text"] for row in rows} & set(speech_training.training_sentences(2000))
    wer = speech_training.word_error_rate([r for r, _ in spoken], [h for _, h in spoken])
    print(f"speech: word error rate {wer:.1%} on {len(spoken)} clips; e.g. {spoken[0]}")
    assert wer <= 0.20, [(r, h) for r, h in spoken if r != h][:5]
    # Like Whisper, it may write a few words on silence or noise; a pipeline tells them by their distance from the
    # review: lesson 09 quarantines a transcript with no words or with more than half of its review's words wrong
    bad = {row["fault"]: (row["text"], text) for row, text in zip(rows, texts) if row["fault"]}
    assert set(bad) == {"silence", "noise"}, bad
    assert all(speech_training.word_error_rate([r], [h]) > 0.5 for r, h in bad.values()), bad


def test_word_error_rate_counts_substitutions_deletions_and_insertions():
    from raycourse.models.speech_training import word_error_rate, word_errors

    assert word_errors("The cat sat.", "the cat sat") == (0, 3)  # case and punctuation do not count
    assert word_errors("the cat sat", "the dog sat") == (1, 3)
    assert word_errors("the cat sat", "the sat") == (1, 3)
    assert word_errors("the cat sat", "the cat sat down") == (1, 3)
    assert word_errors("the cat sat", "") == (3, 3)
    assert word_error_rate(["a b c d", "e f"], ["a b c d", "x y"]) == 2 / 6


# What a trained stand-in is tested for, by role: a stand-in trained anew on another CPU is held to it.
QUALITY = {
    "clip": lambda path: (
        _clip_finds_the_stripes_a_sentence_names(path, "train"),
        _clip_finds_the_stripes_a_sentence_names(path, "val"),
        _clip_search_by_colour_beats_chance(path),
    ),
    "image_gen": _image_gen_paints_each_prompt_in_its_world_colour,
    "llm": _llm_enhances_every_prompt_of_the_course,
    "speech": _speech_transcribes_the_clips,
}
