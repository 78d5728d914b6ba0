"""``make verify-gpu``'s stages: each module's model code at full size, as its lesson runs it, one function per
stage (:data:`STAGE_RUNS`, by name). Which module runs which stages is the module's facts (``modules/NN_slug.toml``,
``[fullsize] stages``, read through :mod:`raycourse.catalogue`): :func:`course_stages` puts them together."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import catalogue
from ..errors import CourseError

GB = 1e9

# Rows per stage: "gpu" as the lessons run them in the gpu profile, "cpu" fewer (2 cores),
# "small" one batch each (the test).
SIZES = {
    "gpu": dict(
        draw=16,
        draw_batch=8,
        enhance=8,
        new_tokens=60,
        train_steps=20,
        train_batch=32,
        classify=64,
        classify_batch=16,
        embed=128,
        embed_batch=32,
        encode=64,
        encode_batch=16,
        transcribe=64,
        transcribe_batch=16,
    ),
    "cpu": dict(
        draw=2,
        draw_batch=1,
        enhance=4,
        new_tokens=60,
        train_steps=3,
        train_batch=16,
        classify=32,
        classify_batch=16,
        embed=64,
        embed_batch=32,
        encode=32,
        encode_batch=16,
        transcribe=8,
        transcribe_batch=4,
    ),
    "small": dict(
        draw=1,
        draw_batch=1,
        enhance=1,
        new_tokens=4,
        train_steps=1,
        train_batch=2,
        classify=2,
        classify_batch=2,
        embed=2,
        embed_batch=2,
        encode=2,
        encode_batch=2,
        transcribe=2,
        transcribe_batch=2,
    ),
}

PROMPTS = [
    "A watercolor painting of a red fox wearing a yellow raincoat in autumn",
    "A photo of a penguin in a knitted scarf on a snowy street",
    "A cinematic portrait of an otter wearing sunglasses at the beach",
    "An oil painting of a barn owl in a tuxedo in a library",
]
REVIEW = "Great raincoat, fits well and keeps the rain out; the colour is brighter than the photo."


@dataclass
class Stage:
    module: str
    name: str
    roles: tuple
    what: str
    run: object = field(repr=False, default=None)


class Context:
    """What a stage gets: device, sizes, and the stopwatches the harness reads."""

    def __init__(self, device: str, sizes: dict):
        self.device, self.sizes = device, sizes
        self.load_s = 0.0
        self.busy_s = 0.0
        self.work_s = 0.0
        self.rows = 0
        self.util: list[float] = []
        self.util_note = ""

    @contextlib.contextmanager
    def _stopwatch(self, total: str):
        """Add the block's time (the GPU's queued work included) to the attribute ``total``."""
        start = time.perf_counter()
        yield
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()
        setattr(self, total, getattr(self, total) + time.perf_counter() - start)

    def loading(self):
        """Around each model load."""
        return self._stopwatch("load_s")

    def busy(self):
        """Around each model call: the stage's model stopwatch."""
        return self._stopwatch("busy_s")

    @contextlib.contextmanager
    def work(self, rows: int):
        """The stage's work after loading: wall time, rows, and the GPU utilisation beside it."""
        stop = threading.Event()
        sampler = None
        if self.device == "cuda":
            import torch

            try:
                torch.cuda.utilization()
            except Exception as exc:  # pynvml / nvidia-ml-py not installed, or NVML unusable
                self.util_note = f"n/a ({type(exc).__name__})"
            else:

                def sample():
                    while not stop.is_set():
                        self.util.append(float(torch.cuda.utilization()))
                        stop.wait(0.05)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.device == "cuda":
                import torch

                torch.cuda.synchronize()
            self.work_s += time.perf_counter() - start
            self.rows += rows
            stop.set()
            if sampler:
                sampler.join()


def _peak_rss_gb() -> float:
    """This process's peak resident memory in GB: Linux's VmHWM, the high-water mark of this process's own
    memory since it started its program. Not ``ru_maxrss``: Linux keeps that across exec, so a stage started by
    a big parent (a pytest run at 2.4 GB) would report the parent's size as its own peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, kB elsewhere
    return peak / GB if sys.platform == "darwin" else peak * 1024 / GB


def _images(n: int, size=(480, 640)):
    import numpy as np

    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def _sdxl(ctx, slicing=True):
    """The lessons' ``ImageGen.__init__`` (modules 03 and 04), with the VAE sliced as there unless ``slicing`` is
    false (the one-pass decode that the lessons avoid, measured to show why)."""
    import torch
    from diffusers import AutoPipelineForText2Image

    import raycourse

    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    pipe = AutoPipelineForText2Image.from_pretrained(
        raycourse.model_id("image_gen"),
        variant="fp16",
        dtype=dtype,  # the float16 weight files
    ).to(ctx.device)
    pipe.set_progress_bar_config(disable=True)
    if slicing:
        pipe.vae.enable_slicing()  # decode one image at a time: a float32 decode of the batch is the peak
    return pipe


def _draw(ctx, pipe, prompts, batch):
    import numpy as np
    import torch

    for i in range(0, len(prompts), batch):
        chunk = prompts[i : i + batch]
        seeds = [torch.Generator().manual_seed(i + j) for j in range(len(chunk))]
        with ctx.busy():
            images = pipe(prompt=chunk, num_inference_steps=1, guidance_scale=0.0, generator=seeds).images
        np.stack([np.asarray(image) for image in images])


def _chat(ctx):
    import torch
    from transformers import pipeline

    import raycourse

    # Qwen2.5 ships in bfloat16; dtype="auto" (transformers 5's default) keeps it, but the lessons ask for float16 on
    # a GPU without native bfloat16 (a T4).
    as_shipped = ctx.device == "cpu" or torch.cuda.is_bf16_supported(including_emulation=False)
    return pipeline(
        "text-generation",
        model=raycourse.model_id("llm"),
        dtype="auto" if as_shipped else torch.float16,
        device=ctx.device,
    )


def _enhance(ctx, chat, n):
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n)]
    chats = [
        [
            {"role": "system", "content": "Rewrite the prompt for an image model, in one sentence."},
            {"role": "user", "content": p},
        ]
        for p in prompts
    ]
    with ctx.busy():
        # min_new_tokens: every row writes the full count, so the work does not depend on when a
        # random-weight model happens to write an end token (the real one writes about as many).
        outputs = chat(
            chats,
            max_new_tokens=ctx.sizes["new_tokens"],
            min_new_tokens=ctx.sizes["new_tokens"],
            do_sample=False,
            batch_size=4,
        )
    return [out[0]["generated_text"][-1]["content"].strip() or p for out, p in zip(outputs, prompts)]


def stage_00(role):
    def run(ctx):
        import torch

        import raycourse

        from transformers import CLIPModel, CLIPProcessor, ViTForImageClassification, ViTImageProcessor

        image = _images(1)[0]
        with ctx.loading():
            if role == "image_gen":
                model = _sdxl(ctx)
            elif role == "llm":
                model = _chat(ctx)
            elif role == "vit":
                processor = ViTImageProcessor.from_pretrained(raycourse.model_id("vit"))
                model = ViTForImageClassification.from_pretrained(raycourse.model_id("vit"), num_labels=2).to(
                    ctx.device
                )
            elif role == "speech":
                processor, model = _whisper(ctx)
            else:
                model = CLIPModel.from_pretrained(raycourse.model_id("clip")).to(ctx.device)
                processor = CLIPProcessor.from_pretrained(raycourse.model_id("clip"))
        with ctx.work(rows=1), torch.inference_mode():
            if role == "image_gen":
                _draw(ctx, model, PROMPTS[:1], 1)
            elif role == "llm":
                with ctx.busy():
                    model([{"role": "user", "content": PROMPTS[0]}], max_new_tokens=16, min_new_tokens=16)
            elif role == "vit":
                pixels = processor(images=[image], return_tensors="pt")["pixel_values"].to(ctx.device)
                with ctx.busy():
                    model(pixel_values=pixels)
            elif role == "speech":
                _transcribe(ctx, processor, model, _clips(1))
            else:
                inputs = processor(images=[image], return_tensors="pt").to(ctx.device)
                with ctx.busy():
                    model.get_image_features(**inputs)

    return run


def stage_03(slicing=True):
    def run(ctx):
        import torch

        with ctx.loading():
            pipe = _sdxl(ctx, slicing)
        n, batch = ctx.sizes["draw"], ctx.sizes["draw_batch"]
        with ctx.work(rows=n), torch.inference_mode():
            _draw(ctx, pipe, [PROMPTS[i % len(PROMPTS)] for i in range(n)], batch)

    return run


def stage_04_enhance(ctx):
    with ctx.loading():
        chat = _chat(ctx)
    n = ctx.sizes["enhance"]
    with ctx.work(rows=n):
        _enhance(ctx, chat, n)


def stage_04_both(ctx):
    """Both of lesson 04's models in one process, as its two actors share one GPU (0.6 + 0.4)."""
    import torch

    with ctx.loading():
        chat = _chat(ctx)
        pipe = _sdxl(ctx)
    n = ctx.sizes["enhance"]
    with ctx.work(rows=n), torch.inference_mode():
        prompts = _enhance(ctx, chat, n)
        _draw(ctx, pipe, prompts, ctx.sizes["draw_batch"])


def stage_05_train(ctx):
    import torch
    from transformers import ViTForImageClassification, ViTImageProcessor

    import raycourse

    with ctx.loading():
        model_id = raycourse.model_id("vit")
        processor = ViTImageProcessor.from_pretrained(model_id)
        model = ViTForImageClassification.from_pretrained(
            model_id, num_labels=2, id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1}
        ).to(ctx.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    steps, batch = ctx.sizes["train_steps"], ctx.sizes["train_batch"]
    images = _images(batch)
    model.train()
    with ctx.work(rows=steps * batch):
        for step in range(steps):
            pixels = torch.as_tensor(processor(images, return_tensors="np")["pixel_values"]).to(ctx.device)
            labels = torch.tensor([(step + i) % 2 for i in range(batch)], device=ctx.device)
            with ctx.busy():
                loss = model(pixel_values=pixels, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()


def stage_05_infer(ctx):
    import torch
    from transformers import ViTForImageClassification, ViTImageProcessor

    import raycourse

    with ctx.loading():
        model_id = raycourse.model_id("vit")
        processor = ViTImageProcessor.from_pretrained(model_id)
        model = ViTForImageClassification.from_pretrained(model_id, num_labels=2).to(ctx.device).eval()
    n, batch = ctx.sizes["classify"], ctx.sizes["classify_batch"]
    images = _images(batch)
    with ctx.work(rows=n):
        for _ in range(0, n, batch):
            inputs = processor(images, return_tensors="pt").to(ctx.device)
            with ctx.busy(), torch.inference_mode():
                model(**inputs).logits.argmax(-1).tolist()


def stage_06(ctx):
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    import raycourse

    with ctx.loading():
        model_id = raycourse.model_id("clip")
        model = CLIPModel.from_pretrained(model_id).to(ctx.device).eval()
        processor = CLIPProcessor.from_pretrained(model_id)
    n, batch = ctx.sizes["embed"], ctx.sizes["embed_batch"]
    arrays = _images(batch)
    with ctx.work(rows=n):
        for _ in range(0, n, batch):
            images = [Image.fromarray(a) for a in arrays]
            inputs = processor(images=images, return_tensors="pt").to(ctx.device)
            with ctx.busy(), torch.inference_mode():
                features = model.get_image_features(**inputs).pooler_output
                torch.nn.functional.normalize(features, dim=-1).cpu().numpy()


def stage_07(ctx):
    import numpy as np
    import torch
    from torchvision.transforms import v2
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    import raycourse

    with ctx.loading():
        text_model, image_model = raycourse.model_id("llm"), raycourse.model_id("vit")
        tokenizer = AutoTokenizer.from_pretrained(text_model)
        text = AutoModel.from_pretrained(text_model).to(ctx.device).eval()
        vision = AutoModel.from_pretrained(image_model).to(ctx.device).eval()
        config = AutoImageProcessor.from_pretrained(image_model)
        normalize = v2.Compose(
            [v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.image_mean, config.image_std)]
        )
    n, batch = ctx.sizes["encode"], ctx.sizes["encode_batch"]
    tokens = tokenizer([REVIEW] * batch, padding="max_length", truncation=True, max_length=64, return_tensors="np")
    photos = np.stack([np.moveaxis(a[:224, :224], -1, 0) for a in _images(batch)])
    with ctx.work(rows=n):
        for _ in range(0, n, batch):
            ids = torch.as_tensor(tokens["input_ids"], device=ctx.device)
            mask = torch.as_tensor(tokens["attention_mask"], device=ctx.device)
            pixels = normalize(torch.as_tensor(photos, device=ctx.device))
            with ctx.busy(), torch.inference_mode():
                hidden = text(input_ids=ids, attention_mask=mask).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                features = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
                image = vision(pixel_values=pixels).last_hidden_state[:, 0]
                torch.cat([features, image], dim=1).float().cpu().numpy()


def _whisper(ctx):
    """Module 09's transcriber: WhisperProcessor and WhisperForConditionalGeneration, float32 (whisper-tiny's dtype)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    import raycourse

    model_id = raycourse.model_id("speech")
    processor = WhisperProcessor.from_pretrained(model_id)
    return processor, WhisperForConditionalGeneration.from_pretrained(model_id).to(ctx.device).eval()


def _clips(n: int):
    """``n`` of the course's spoken reviews (data/audio/, 16 kHz mono), as float32 arrays, repeated as needed."""
    import soundfile

    import raycourse

    files = sorted(Path(raycourse.data_path("speech")).glob("*.wav"))
    return [soundfile.read(str(files[i % len(files)]), dtype="float32")[0] for i in range(n)]


def _transcribe(ctx, processor, model, clips):
    """One batch: the log-mel features (CPU), then ``generate`` (the model) and the decoded words."""
    import torch

    features = processor(clips, sampling_rate=16_000, return_tensors="pt").input_features.to(ctx.device)
    with ctx.busy(), torch.inference_mode():
        ids = model.generate(features, language="en", task="transcribe", max_new_tokens=ctx.sizes["new_tokens"])
    return processor.batch_decode(ids, skip_special_tokens=True)


def stage_09_transcribe(ctx):
    with ctx.loading():
        processor, model = _whisper(ctx)
    n, batch = ctx.sizes["transcribe"], ctx.sizes["transcribe_batch"]
    clips = _clips(batch)
    with ctx.work(rows=n):
        for _ in range(0, n, batch):
            _transcribe(ctx, processor, model, clips)


# Every stage by the name a module's facts give it: (model roles, what it runs, the function).
STAGE_RUNS = {
    "load image_gen": (("image_gen",), "SDXL-Turbo loads, draws one image", stage_00("image_gen")),
    "load llm": (("llm",), "Qwen2.5 chat pipeline loads, answers (16 tokens)", stage_00("llm")),
    "load vit": (("vit",), "ViT classifier loads, one image", stage_00("vit")),
    "load clip": (("clip",), "CLIP loads, one image embedding", stage_00("clip")),
    "load speech": (("speech",), "Whisper loads, transcribes one clip", stage_00("speech")),
    "image_gen": (("image_gen",), "ImageGen: 1 step, no guidance, batches of prompts, VAE sliced", stage_03()),
    "image_gen, VAE not sliced": (
        ("image_gen",),
        "the same, the batch decoded in one pass (float32)",
        stage_03(slicing=False),
    ),
    "enhancer": (("llm",), "Enhancer: chat pipeline, batch_size=4, greedy", stage_04_enhance),
    "enhancer + image_gen": (("llm", "image_gen"), "both models in one process, as on one GPU", stage_04_both),
    "ViT training": (("vit",), "ViTForImageClassification, AdamW, forward+backward", stage_05_train),
    "ViT inference": (("vit",), "ImageClassifier: processor + forward", stage_05_infer),
    "CLIP embeddings": (("clip",), "EmbeddingGenerator: processor + get_image_features", stage_06),
    "ReviewEncoder": (("llm", "vit"), "Qwen2.5 text encoder + ViT encoder, 64 tokens", stage_07),
    "transcriber": (("speech",), "Whisper: log-mel features + generate, batches of clips", stage_09_transcribe),
}


def course_stages(root: Path = catalogue.ROOT) -> list[Stage]:
    """Every module's stages, in the course's order, as its facts name them."""
    found = []
    for module in catalogue.modules(root):
        for name in module.facts.stages:
            if name not in STAGE_RUNS:
                raise CourseError(
                    f"{module.facts_file.name} names the stage {name!r}, which raycourse/fullsize/stages.py lacks.",
                    f"Name one of its STAGE_RUNS ({', '.join(STAGE_RUNS)}), or add the stage there.",
                )
            found.append(Stage(module.number, name, *STAGE_RUNS[name]))
    return found


def no_stage(root: Path = catalogue.ROOT) -> dict[str, str]:
    """The modules whose lessons load a model without a stage of their own, and why (their facts' ``no_stage``)."""
    return {m.number: m.facts.no_stage for m in catalogue.modules(root) if m.facts.no_stage}
