"""``make verify-gpu``: every module's model stages at full size, measured, in process.

Each stage runs the lesson's own model code (the same ``from_pretrained`` calls on
``raycourse.model_id(role)``, the same dtype policy: SDXL-Turbo float16 on CUDA and
float32 on a CPU, Qwen2.5 as shipped in bfloat16 with ``dtype="auto"``, ViT, CLIP and
Whisper float32) on the full-size models, without Ray: one process per stage, so that each
stage's peak memory is its own. Per stage it records

* the load time (``from_pretrained`` and the move to the device);
* the peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (and reserved), then
  the stage again with ``torch.cuda.set_per_process_memory_fraction`` capped at 24 GB
  and at 16 GB, to emulate those cards (an out-of-memory error is the result, not a
  crash; the CUDA context, about 0.5 GB, is outside the cap); on a CPU the process's
  peak resident memory (VmHWM, which includes Python and the libraries: the
  ``base`` column is that figure before the stage starts);
* rows per second over the stage's work (after loading);
* the model's busy share: the time inside the model calls (a stopwatch around each
  call) over the stage's wall time, and on CUDA ``torch.cuda.utilization()`` sampled
  every 50 ms in a background thread beside it (NVML through ``nvidia-ml-py``, pinned in the
  course's lock; n/a where NVML cannot be used).

The models come from the cache that ``python -m raycourse standins --full-size`` builds
(random weights of the real shapes, built on first use), or with ``--real`` from the
Hugging Face cache that ``make prefetch`` fills. On a CPU only the roles that fit run
(CLIP, ViT, Qwen, Whisper); the stages that need SDXL-Turbo are listed as skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..catalogue import modules

GB = 1e9
CAPS_GB = (24, 16)

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


STAGES = [
    Stage("00", "load image_gen", ("image_gen",), "SDXL-Turbo loads, draws one image", stage_00("image_gen")),
    Stage("00", "load llm", ("llm",), "Qwen2.5 chat pipeline loads, answers (16 tokens)", stage_00("llm")),
    Stage("00", "load vit", ("vit",), "ViT classifier loads, one image", stage_00("vit")),
    Stage("00", "load clip", ("clip",), "CLIP loads, one image embedding", stage_00("clip")),
    Stage("00", "load speech", ("speech",), "Whisper loads, transcribes one clip", stage_00("speech")),
    Stage(
        "03", "image_gen", ("image_gen",), "ImageGen: 1 step, no guidance, batches of prompts, VAE sliced", stage_03()
    ),
    Stage(
        "03",
        "image_gen, VAE not sliced",
        ("image_gen",),
        "the same, the batch decoded in one pass (float32)",
        stage_03(slicing=False),
    ),
    Stage("04", "enhancer", ("llm",), "Enhancer: chat pipeline, batch_size=4, greedy", stage_04_enhance),
    Stage(
        "04", "enhancer + image_gen", ("llm", "image_gen"), "both models in one process, as on one GPU", stage_04_both
    ),
    Stage("05", "ViT training", ("vit",), "ViTForImageClassification, AdamW, forward+backward", stage_05_train),
    Stage("05", "ViT inference", ("vit",), "ImageClassifier: processor + forward", stage_05_infer),
    Stage("06", "CLIP embeddings", ("clip",), "EmbeddingGenerator: processor + get_image_features", stage_06),
    Stage("07", "ReviewEncoder", ("llm", "vit"), "Qwen2.5 text encoder + ViT encoder, 64 tokens", stage_07),
]
# Module 09's (audio and video): measured once the course has the module (raycourse.catalogue), so that a branch
# that adds the module brings its lesson and its stage together. Its frames are embedded by module 06's CLIP.
if any(m.number == "09" for m in modules()):
    STAGES.append(
        Stage(
            "09",
            "transcriber",
            ("speech",),
            "Whisper: log-mel features + generate, batches of clips",
            stage_09_transcribe,
        )
    )
# The modules (raycourse.catalogue) whose lessons load a model without a stage of their own, and why: each other
# such module has a stage above (tests/notebooks/test_catalogue.py holds the course to it). Module 09's frame embedder
# runs module 06's CLIP the same way (measured by 06's stage); its own stage is the transcriber's.
NO_STAGE = {
    "08": "its one model is module 04's: Qwen2.5 in the same chat pipeline (PromptEnhancer on Serve, BatchEnhancer "
    "in Ray Data), measured by 04's enhancer stage",
}


def _key(stage: Stage) -> str:
    return f"{stage.module} {stage.name}"


def _child(key: str, device: str, size: str, cap_gb: float | None) -> dict:
    """Run one stage in this process (a child of :func:`verify`) and return its measures."""
    import warnings

    warnings.filterwarnings("ignore")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    import diffusers  # noqa: F401  imported before the stage, so that its load time is the models' only
    import transformers  # noqa: F401
    from diffusers import AutoPipelineForText2Image  # noqa: F401
    from transformers import pipeline  # noqa: F401

    stage = next(s for s in STAGES if _key(s) == key)
    result = {"stage": key, "device": device, "cap_gb": cap_gb}
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        result["gpu"] = torch.cuda.get_device_name(0)
        result["gpu_total_gb"] = total / GB
        if cap_gb:
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gb * GB / total))
        torch.cuda.reset_peak_memory_stats()
    result["base_rss_gb"] = _peak_rss_gb()
    ctx = Context(device, SIZES[size])
    try:
        stage.run(ctx)
        result["status"] = "ok"
    except torch.OutOfMemoryError:
        result["status"] = "OOM"
    except RuntimeError as exc:  # some kernels report a failed allocation as a plain RuntimeError
        if "out of memory" not in str(exc).lower() and "ALLOC_FAILED" not in str(exc):
            raise
        result["status"] = "OOM"
    result.update(
        load_s=ctx.load_s,
        work_s=ctx.work_s,
        busy_s=ctx.busy_s,
        rows=ctx.rows,
        rows_per_s=ctx.rows / ctx.work_s if ctx.work_s else None,
        busy_share=ctx.busy_s / ctx.work_s if ctx.work_s else None,
        gpu_util=(sum(ctx.util) / len(ctx.util)) if ctx.util else None,
        gpu_util_note=ctx.util_note or None,
        peak_rss_gb=_peak_rss_gb(),
    )
    if device == "cuda":
        result["peak_alloc_gb"] = torch.cuda.max_memory_allocated() / GB
        result["peak_reserved_gb"] = torch.cuda.max_memory_reserved() / GB
    return result


def _env(cache: Path | None) -> dict:
    env = dict(
        os.environ,
        RAYCOURSE_PROFILE="gpu",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        TOKENIZERS_PARALLELISM="false",
    )
    if cache is not None:
        env["HF_HUB_CACHE"] = str(cache)
    for role in ("IMAGE_GEN", "LLM", "VIT", "CLIP"):  # the pinned models, not an override
        env.pop(f"RAYCOURSE_MODEL_{role}", None)
    return env


def _run_child(key, device, size, cap_gb, cache, timeout) -> dict:
    with tempfile.TemporaryDirectory(prefix="raycourse-verify-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "raycourse.fullsize.verify",
            "--child",
            key,
            "--device",
            device,
            "--size",
            size,
            "--out",
            str(out),
        ] + (["--cap-gb", str(cap_gb)] if cap_gb else [])
        try:
            proc = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"stage": key, "status": f"timeout ({timeout:g} s)", "cap_gb": cap_gb}
        if proc.returncode or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"stage": key, "status": "failed", "cap_gb": cap_gb, "error": " | ".join(tail)}
        return json.loads(out.read_text())


def _fmt(value, spec=".1f", none="—"):
    return none if value is None else format(value, spec)


def table(results: list[dict], device: str) -> str:
    cuda = device == "cuda"
    head = ["module", "stage", "load s", "work s", "rows", "rows/s", "busy share"]
    head += (
        ["GPU util", "peak GB (alloc/reserved)", "24 GB card", "16 GB card"] if cuda else ["peak RSS GB", "base RSS GB"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        row = [r["module"], r["name"]]
        full = r.get("runs", {}).get("full", {})
        status = full.get("status", r.get("status"))
        if status != "ok":
            why = r.get("skipped") or status + (f": {full.get('error')}" if full.get("error") else "")
            lines.append("| " + " | ".join(row + [why] + [""] * (len(head) - 3)) + " |")
            continue
        row += [
            _fmt(full["load_s"]),
            _fmt(full["work_s"]),
            str(full["rows"]),
            _fmt(full["rows_per_s"], ".2f"),
            _fmt(full["busy_share"] * 100, ".0f") + " %",
        ]
        if cuda:
            row.append(
                _fmt(full.get("gpu_util"), ".0f") + " %"
                if full.get("gpu_util") is not None
                else full.get("gpu_util_note") or "n/a"
            )
            row.append(f"{full['peak_alloc_gb']:.2f} / {full['peak_reserved_gb']:.2f}")
            for cap in CAPS_GB:
                capped = r["runs"].get(f"{cap}GB")
                row.append(
                    "—"
                    if capped is None
                    else capped["status"]
                    if capped["status"] != "ok"
                    else f"fits (peak {capped['peak_alloc_gb']:.1f})"
                    if capped.get("from_uncapped_run")
                    else f"ok ({capped['peak_alloc_gb']:.1f})"
                )
        else:
            row += [_fmt(full["peak_rss_gb"], ".2f"), _fmt(full["base_rss_gb"], ".2f")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def verify(
    roles=None,
    cache: Path | None = None,
    real: bool = False,
    size: str | None = None,
    modules=None,
    out: Path | None = None,
    timeout: float = 1800,
    log=print,
) -> dict:
    """Run the stages whose roles are available; build the full-size models first unless ``real``."""
    import torch

    from . import CPU_ROLES, build, default_cache

    device = "cuda" if torch.cuda.is_available() else "cpu"
    roles = tuple(roles or (("image_gen", "llm", "vit", "clip", "speech") if device == "cuda" else CPU_ROLES))
    size = size or ("gpu" if device == "cuda" else "cpu")
    if not real:
        cache = Path(cache or default_cache())
        for role, info in build(roles, cache, log=log).items():
            log(
                f"  {role:<10}{'kept' if info['kept'] else 'built'}: {info['bytes'] / GB:.2f} GB "
                f"in {info['seconds']:.1f} s"
            )
    results, gpu_name = [], None
    for stage in STAGES:
        entry = {"module": stage.module, "name": stage.name, "roles": list(stage.roles), "what": stage.what}
        results.append(entry)
        if modules and stage.module not in modules:
            entry["skipped"] = "not selected"
            continue
        missing = [r for r in stage.roles if r not in roles]
        if missing:
            entry["skipped"] = f"skipped: needs {', '.join(missing)}" + (
                " (does not fit a CPU)" if device == "cpu" and "image_gen" in missing else ""
            )
            continue
        runs = {"full": _run_child(_key(stage), device, size, None, cache, timeout)}
        if device == "cuda":  # the card's size as the stage's process saw it (this one keeps CUDA uninitialised)
            total = runs["full"].get("gpu_total_gb") or 0
            gpu_name = runs["full"].get("gpu") or gpu_name
            for cap in CAPS_GB:
                if cap >= total:
                    continue
                if runs["full"]["status"] == "ok" and runs["full"]["peak_reserved_gb"] < cap:
                    # The uncapped run never held as much as the cap: the cap cannot bite, and running the stage
                    # again would only repeat its loading. The uncapped peak is the answer.
                    runs[f"{cap}GB"] = {
                        "status": "ok",
                        "peak_alloc_gb": runs["full"]["peak_alloc_gb"],
                        "from_uncapped_run": True,
                    }
                else:
                    runs[f"{cap}GB"] = _run_child(_key(stage), device, size, cap, cache, timeout)
        entry["runs"] = runs
        full = runs["full"]
        log(
            f"  {_key(stage)}: {full['status']}"
            + (
                f" (load {full['load_s']:.1f} s, work {full['work_s']:.1f} s)"
                if full["status"] == "ok"
                else f" {full.get('error', '')}"
            )
        )
        if out:  # after every stage, so that a run cut short keeps what it measured
            _write(out, _report(device, gpu_name, torch, real, cache, size, roles, results))
    report = _report(device, gpu_name, torch, real, cache, size, roles, results)
    if out:
        _write(out, report)
    report["table"] = table(results, device)
    return report


def _report(device, gpu_name, torch, real, cache, size, roles, results) -> dict:
    import platform

    return {
        "device": device,
        "gpu": gpu_name,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "torch": torch.__version__,
        "models": "the real weights (Hugging Face cache)" if real else f"full-size random weights ({cache})",
        "sizes": {"name": size, **SIZES[size]},
        "roles": list(roles),
        "stages": results,
    }


def _write(out: Path, report: dict) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2, default=str))


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="one stage of make verify-gpu (internal)")
    parser.add_argument("--child", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--size", required=True)
    parser.add_argument("--cap-gb", type=float)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result = _child(args.child, args.device, args.size, args.cap_gb)
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
