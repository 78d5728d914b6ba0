#!/usr/bin/env python
"""The lever table (issue 43): what feeds a GPU, measured one lever at a time on the lessons' Ray Data stages.

Usage (from the repository root)::

    python tools/gpu_levers.py --out outputs/levers.json                     # on a GPU: gpu profile, all stages
    python tools/gpu_levers.py --tiny --out /tmp/levers.json                 # anywhere: a dry run, tiny stand-ins
    python tools/gpu_levers.py --stages 07 --set batch_size=256 --set actors_per_gpu=2 --levers none

Each stage is a lesson's batch-inference stage, as Ray Data code: module 07's encoder (Qwen2.5 and the ViT over
tokenized reviews and photos, ``07``; the same encoder fed by ``iter_torch_batches`` in this process, ``07-iter``),
module 03's SDXL-Turbo (``03``), module 05's ViT classifier (``05``) and module 06's CLIP image embeddings (``06``).
A stage runs once with the baseline settings (the lesson's own), then once per lever value with everything else as
in the baseline. ``--set lever=value`` changes the baseline (a recipe: several levers together).

Per run: rows, rows per second over the GPU stage's own stopwatch (its first batch's start to its last batch's end,
so model loading is left out), NVML's GPU utilisation (``nvidia-ml-py``, sampled every 0.1 s in this process over
the same window: the mean of the samples) and the peak GPU memory NVML reports in that window (all processes, so
every actor). Without NVML (no NVIDIA driver: the dry run) the utilisation and memory are null and ``nvml`` says
why. The results go to ``--out`` as JSON; ``tools/lever_table.py`` turns them into lesson 07's table.

Data: the active profile's ``raycourse.data_path()``. In the gpu profile on a machine without S3, draw the data sets
first (``python -m raycourse make-data --out DIR``) and set ``RAYCOURSE_GPU_DATA=DIR`` (``--data DIR`` does both when
DIR has no manifest yet). Module 07's reviews each get a photo of the data set (``embedding_images``, in turn), so
that decoding costs what a workshop's photos cost.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCHEMA = 1
# The lessons' own settings: what each stage runs with before any lever moves.
BASELINE = {
    "07": dict(
        batch_size=16,
        text_dtype="auto",
        vision_dtype="float32",
        cpu_workers=1,
        actors_per_gpu=1,
        in_flight=None,
        preprocess_on_gpu=True,
        pin_memory=False,
    ),
    "07-iter": dict(
        batch_size=16, text_dtype="auto", vision_dtype="float32", cpu_workers=1, prefetch_batches=1, pin_memory=False
    ),
    "03": dict(batch_size=4, actors_per_gpu=1, in_flight=None),
    "05": dict(
        batch_size=16,
        vision_dtype="float32",
        cpu_workers=1,
        actors_per_gpu=1,
        in_flight=None,
        preprocess_on_gpu=False,
        pin_memory=False,
    ),
    "06": dict(
        batch_size=32,
        vision_dtype="float32",
        cpu_workers=1,
        actors_per_gpu=1,
        in_flight=None,
        preprocess_on_gpu=False,
        pin_memory=False,
    ),
}
# One lever at a time: the values tried besides the baseline's.
LEVERS = {
    "07": {
        "batch_size": [64, 256],
        "text_dtype": ["float16", "float32"],
        "cpu_workers": [4, 8],
        "actors_per_gpu": [2, 4],
        "in_flight": [4],
        "preprocess_on_gpu": [False],
        "pin_memory": [True],
    },
    "07-iter": {"prefetch_batches": [0, 4], "pin_memory": [True], "batch_size": [64, 256], "cpu_workers": [4]},
    "03": {"batch_size": [1, 8], "actors_per_gpu": [2]},
    "05": {
        "batch_size": [64, 256],
        "vision_dtype": ["bfloat16"],
        "cpu_workers": [4, 8],
        "actors_per_gpu": [2],
        "preprocess_on_gpu": [True],
        "pin_memory": [True],
    },
    "06": {
        "batch_size": [128, 512],
        "vision_dtype": ["bfloat16"],
        "cpu_workers": [4, 8],
        "actors_per_gpu": [2],
        "preprocess_on_gpu": [True],
        "pin_memory": [True],
    },
}
TINY_LEVERS = {  # the dry run: one value of a few levers per stage, the shape of the table and nothing more
    "07": {"batch_size": [8], "actors_per_gpu": [2]},
    "07-iter": {"prefetch_batches": [2]},
    "03": {"batch_size": [2]},
    "05": {"preprocess_on_gpu": [True]},
    "06": {"cpu_workers": [2]},
}
ROWS = {"07": None, "07-iter": None, "03": 256, "05": None, "06": None}  # None: every row of the data set
TINY_ROWS = {"07": 24, "07-iter": 24, "03": 4, "05": 24, "06": 24}
STAGES = tuple(BASELINE)


SHOWN_KEYS = ("status", "rows_per_s", "gpu_util", "gpu_mem_peak_gib", "error")  # printed after each run


def _dtype(name):
    """A dtype by name; "auto" as the lessons load Qwen2.5: as shipped (bfloat16), but float16 on a GPU without
    native bfloat16 (a T4)."""
    import torch

    if name == "auto":
        as_shipped = not torch.cuda.is_available() or torch.cuda.is_bf16_supported(including_emulation=False)
        return "auto" if as_shipped else torch.float16
    return getattr(torch, name)


def _device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _to_device(array, device, pin):
    """A numpy batch column as a tensor on ``device``; through pinned host memory (an asynchronous copy) if
    ``pin``."""
    import torch

    tensor = torch.as_tensor(array)
    if pin and device == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class Stopwatch:
    """Every GPU stage's ``__call__`` is timed: ``started`` and ``finished`` per row of its output."""

    @staticmethod
    def stamp(out: dict, n: int, started: float) -> dict:
        import numpy as np

        out["started"] = np.full(n, started)
        out["finished"] = np.full(n, time.time())
        return out


# ---------------------------------------------------------------------------------------------- module 07
class Tokenize:
    def __init__(self, model_id, max_length):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_id)
        self.max_length = max_length

    def __call__(self, batch):
        tokens = self.tokenizer(
            list(batch["text"]), padding="max_length", truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {
            "id": batch["id"],
            "photo": batch["photo"],
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
        }


def load_photos(batch, size, normalize_on_cpu, mean, std):
    """Photo paths in, (3, size, size) pixels out: uint8 (normalised later, on the GPU), or float32 normalised here."""
    import numpy as np
    import torch
    from PIL import Image
    from torchvision.transforms import v2

    to_pixels = v2.Compose([v2.PILToTensor(), v2.Resize(size), v2.CenterCrop(size)])
    pixels = torch.stack([to_pixels(Image.open(path).convert("RGB")) for path in batch["photo"]])
    if normalize_on_cpu:
        pixels = v2.Normalize(mean, std)(v2.ToDtype(torch.float32, scale=True)(pixels))
    batch["pixels"] = pixels.numpy()
    del batch["photo"]
    return {k: np.asarray(v) for k, v in batch.items()}


class ReviewEncoder:
    """Module 07's encoder: mean of Qwen2.5's last hidden states over real tokens, and the ViT's [CLS] vector."""

    def __init__(self, text_model, image_model, text_dtype, vision_dtype, pin_memory):
        import torch
        from torchvision.transforms import v2
        from transformers import AutoImageProcessor, AutoModel

        self.device, self.pin = _device(), pin_memory
        self.text = AutoModel.from_pretrained(text_model, dtype=_dtype(text_dtype)).to(self.device).eval()
        self.vision = AutoModel.from_pretrained(image_model, dtype=_dtype(vision_dtype)).to(self.device).eval()
        config = AutoImageProcessor.from_pretrained(image_model)
        self.vision_dtype = next(self.vision.parameters()).dtype
        self.normalize = v2.Compose(
            [v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.image_mean, config.image_std)]
        )

    def encode(self, ids, mask, pixels):
        import torch

        if pixels.dtype == torch.uint8:
            pixels = self.normalize(pixels)
        with torch.inference_mode():
            hidden = self.text(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            text = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
            image = self.vision(pixel_values=pixels.to(self.vision_dtype)).last_hidden_state[:, 0].float()
        return torch.cat([text, image], dim=1).cpu().numpy()

    def __call__(self, batch):
        started = time.time()
        features = self.encode(
            _to_device(batch["input_ids"], self.device, self.pin),
            _to_device(batch["attention_mask"], self.device, self.pin),
            _to_device(batch["pixels"], self.device, self.pin),
        )
        return Stopwatch.stamp({"id": batch["id"], "features": features}, len(features), started)


def _photos() -> list[str]:
    import raycourse

    root = raycourse.data_path("embedding_images")
    if "://" in root:
        from raycourse.errors import CourseError

        raise CourseError(
            f"The photos are on {root}, which this tool does not list.",
            "Draw the data sets here (`python -m raycourse make-data --out DIR`) and set "
            "RAYCOURSE_GPU_DATA=DIR, or pass --data DIR.",
        )
    return sorted(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _prepared_07(s, rows, gpus, repeat=1):
    import ray
    from transformers import AutoImageProcessor

    import raycourse

    photos = _photos()
    reviews = ray.data.read_json(raycourse.data_path("text"))

    def add_photo(row):
        row["photo"] = photos[row["id"] % len(photos)]
        return row

    text_model, image_model = raycourse.model_id("llm"), raycourse.model_id("vit")
    config = AutoImageProcessor.from_pretrained(image_model)
    workers = max(1, s["cpu_workers"])
    if repeat > 1:  # more rows than the data set has, for a measuring window long enough to be steady
        reviews = reviews.flat_map(lambda row: [{**row, "id": row["id"] * repeat + k} for k in range(repeat)])
    if rows:
        reviews = reviews.limit(rows)
    return (
        (
            reviews.map(add_photo)
            .map_batches(
                Tokenize,
                fn_constructor_kwargs={"model_id": text_model, "max_length": 64},
                batch_size=s["batch_size"],
                num_cpus=1,
                # tokenizing is cheap: a quarter of the CPU workers, so that the rest decode photos (the cost)
                compute=ray.data.ActorPoolStrategy(size=max(1, -(-workers // 4))),
            )
            .map_batches(
                load_photos,
                batch_size=s["batch_size"],
                num_cpus=1,
                fn_kwargs={
                    "size": config.size["height"],
                    "normalize_on_cpu": not s.get("preprocess_on_gpu", True),
                    "mean": config.image_mean,
                    "std": config.image_std,
                },
                compute=ray.data.TaskPoolStrategy(size=max(workers, gpus or 1)),
            )
        ),
        text_model,
        image_model,
    )


def _gpu_pool(s, gpus):
    """``num_gpus`` and the actor pool for ``actors_per_gpu`` actors on each GPU (fractional ``num_gpus``)."""
    import ray

    k = max(1, s.get("actors_per_gpu", 1))
    pool = dict(size=max(1, gpus) * k)
    if s.get("in_flight"):
        pool["max_tasks_in_flight_per_actor"] = s["in_flight"]
    return dict(num_gpus=(1 / k if gpus else 0), compute=ray.data.ActorPoolStrategy(**pool))


def run_07(s, rows, gpus, repeat=1):
    prepared, text_model, image_model = _prepared_07(s, rows, gpus, repeat)
    return prepared.map_batches(
        ReviewEncoder,
        batch_size=s["batch_size"],
        **_gpu_pool(s, gpus),
        fn_constructor_kwargs=dict(
            text_model=text_model,
            image_model=image_model,
            text_dtype=s["text_dtype"],
            vision_dtype=s["vision_dtype"],
            pin_memory=s["pin_memory"],
        ),
    )


def run_07_iter(s, rows, gpus, repeat=1):
    """The encoder in this process, fed by ``iter_torch_batches`` (``prefetch_batches``, ``pin_memory``)."""
    prepared, text_model, image_model = _prepared_07({**s, "preprocess_on_gpu": True}, rows, gpus, repeat)
    encoder = ReviewEncoder(text_model, image_model, s["text_dtype"], s["vision_dtype"], False)
    batches = prepared.select_columns(["input_ids", "attention_mask", "pixels"]).iter_torch_batches(
        batch_size=s["batch_size"],
        prefetch_batches=s["prefetch_batches"],
        pin_memory=s["pin_memory"],
        device=encoder.device,
    )
    for batch in batches:
        started = time.time()
        features = encoder.encode(batch["input_ids"], batch["attention_mask"], batch["pixels"])
        yield Stopwatch.stamp({}, len(features), started)


# ---------------------------------------------------------------------------------------------- module 03
class ImageGen:
    """Module 03's SDXL-Turbo: one step, no guidance, float16 weights on a GPU."""

    def __init__(self, model_id):
        import torch
        from diffusers import AutoPipelineForText2Image

        dtype = torch.float16 if torch.cuda.is_available() else torch.float32
        self.pipe = AutoPipelineForText2Image.from_pretrained(model_id, variant="fp16", dtype=dtype).to(_device())
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe.vae.enable_slicing()

    def __call__(self, batch):
        import numpy as np

        started = time.time()
        images = self.pipe(prompt=list(batch["prompt"]), num_inference_steps=1, guidance_scale=0.0).images
        pixels = np.stack([np.asarray(image) for image in images])
        return Stopwatch.stamp(
            {"id": batch["id"], "mean": pixels.reshape(len(pixels), -1).mean(1)}, len(pixels), started
        )


def run_03(s, rows, gpus):
    import ray

    import raycourse

    animals = ray.data.read_csv(raycourse.data_path("animals")).to_pandas()
    outfits = ray.data.read_csv(raycourse.data_path("outfits")).to_pandas()
    pairs = animals.merge(outfits, on="id")
    prompts = [f"{a} wearing a {o}" for a, o in zip(pairs["animal"], pairs["outfit"])]
    items = [{"id": i, "prompt": prompts[i % len(prompts)]} for i in range(rows)]
    return ray.data.from_items(items).map_batches(
        ImageGen,
        batch_size=s["batch_size"],
        fn_constructor_kwargs={"model_id": raycourse.model_id("image_gen")},
        **_gpu_pool(s, gpus),
    )


# ---------------------------------------------------------------------------------------------- modules 05, 06
def preprocess_images(batch, role, on_gpu, size):
    """CPU side of modules 05 and 06: the model's own processor (float32, normalised), or with ``on_gpu`` only a
    resize and crop to uint8 here, the scaling and normalising left to the GPU."""
    import numpy as np

    import raycourse

    images = list(batch["image"])
    if on_gpu:
        import torch
        from torchvision.transforms import v2

        crop = v2.Compose([v2.Resize(size), v2.CenterCrop(size)])
        pixels = np.stack([crop(torch.as_tensor(im).permute(2, 0, 1)).numpy() for im in images])
    else:
        processor = _processor(raycourse.model_id(role))
        pixels = processor(images=images, return_tensors="np")["pixel_values"].astype(np.float32)
    return {"pixels": pixels}


_PROCESSORS: dict = {}


def _processor(model_id):
    from transformers import AutoImageProcessor

    if model_id not in _PROCESSORS:
        _PROCESSORS[model_id] = AutoImageProcessor.from_pretrained(model_id)
    return _PROCESSORS[model_id]


class ImageModel:
    """Module 05's ViT classifier (logits, argmax) or module 06's CLIP image embeddings (normalised)."""

    def __init__(self, role, model_id, vision_dtype, pin_memory):
        import torch
        from torchvision.transforms import v2

        self.role, self.device, self.pin = role, _device(), pin_memory
        if role == "vit":
            from transformers import ViTForImageClassification

            self.model = ViTForImageClassification.from_pretrained(model_id, num_labels=3, dtype=_dtype(vision_dtype))
        else:
            from transformers import CLIPModel

            self.model = CLIPModel.from_pretrained(model_id, dtype=_dtype(vision_dtype))
        self.model = self.model.to(self.device).eval()
        self.dtype = next(self.model.parameters()).dtype
        config = _processor(model_id)
        self.normalize = v2.Compose(
            [v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.image_mean, config.image_std)]
        )

    def __call__(self, batch):
        import torch

        started = time.time()
        pixels = _to_device(batch["pixels"], self.device, self.pin)
        if pixels.dtype == torch.uint8:
            pixels = self.normalize(pixels)
        with torch.inference_mode():
            if self.role == "vit":
                out = self.model(pixel_values=pixels.to(self.dtype)).logits.argmax(-1).cpu().numpy()
            else:
                features = self.model.get_image_features(pixel_values=pixels.to(self.dtype)).pooler_output
                out = torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()
        return Stopwatch.stamp({"out": out}, len(out), started)


def _run_images(role, paths, s, rows, gpus):
    import ray

    import raycourse

    model_id = raycourse.model_id(role)
    config = _processor(model_id)
    size = config.crop_size["height"] if getattr(config, "crop_size", None) else config.size["height"]
    images = ray.data.read_images(paths, mode="RGB")
    if rows:
        images = images.limit(rows)
    workers = max(1, s["cpu_workers"])
    return images.map_batches(
        preprocess_images,
        batch_size=s["batch_size"],
        num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=workers),
        fn_kwargs={"role": role, "on_gpu": s["preprocess_on_gpu"], "size": size},
    ).map_batches(
        ImageModel,
        batch_size=s["batch_size"],
        **_gpu_pool(s, gpus),
        fn_constructor_kwargs=dict(
            role=role, model_id=model_id, vision_dtype=s["vision_dtype"], pin_memory=s["pin_memory"]
        ),
    )


def run_05(s, rows, gpus):
    import raycourse

    paths = raycourse.data_path("images_train_3") + raycourse.data_path("images_val_3")  # lab 05's three classes
    return _run_images("vit", paths, s, rows, gpus)


def run_06(s, rows, gpus):
    import raycourse

    return _run_images("clip", raycourse.data_path("embedding_images"), s, rows, gpus)


RUNNERS = {"07": run_07, "07-iter": run_07_iter, "03": run_03, "05": run_05, "06": run_06}


# ---------------------------------------------------------------------------------------------- measuring
class NvmlSampler:
    """NVML's utilisation (mean over the GPUs) and memory in use (sum), every ``period`` s, with time stamps."""

    def __init__(self, period: float = 0.1):
        self.period, self.samples, self.note = period, [], "ok"
        self._stop, self._thread, self._nvml = threading.Event(), None, None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
            if not self.handles:
                raise RuntimeError("NVML sees no GPU")
            self._nvml = pynvml
            self.names = [self._str(pynvml.nvmlDeviceGetName(h)) for h in self.handles]
            self.driver = self._str(pynvml.nvmlSystemGetDriverVersion())
        except Exception as exc:  # no nvidia-ml-py, no driver, no GPU: the dry run
            self.note = f"NVML unavailable ({type(exc).__name__}: {exc}): utilisation and GPU memory are null"
            self.names, self.driver = [], None

    @staticmethod
    def _str(value):
        return value.decode() if isinstance(value, bytes) else str(value)

    def start(self):
        if self._nvml:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        nvml = self._nvml
        while not self._stop.is_set():
            try:
                util = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
                used = sum(nvml.nvmlDeviceGetMemoryInfo(h).used for h in self.handles)
                self.samples.append((time.time(), sum(util) / len(util), used))
            except Exception as exc:
                self.note = f"NVML sampling failed ({type(exc).__name__}: {exc})"
                return
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def window(self, start: float, end: float) -> dict:
        inside = [(u, m) for t, u, m in self.samples if start <= t <= end]
        if not inside:
            return {"gpu_util": None, "gpu_util_samples": 0, "gpu_mem_peak_gib": None}
        return {
            "gpu_util": round(sum(u for u, _ in inside) / len(inside), 1),
            "gpu_util_samples": len(inside),
            "gpu_mem_peak_gib": round(max(m for _, m in inside) / 2**30, 2),
        }


def measure(stage: str, settings: dict, rows, gpus: int, repeat: int = 1, window_s: float | None = None) -> dict:
    """One run of a stage: consume its output, read its stopwatch columns, NVML beside them. With ``window_s``, stop
    once the GPU stage's stopwatch has run that long (rows per second over a fixed window: a slow setting costs no
    more time than a fast one)."""
    sampler = NvmlSampler().start()
    wall = time.perf_counter()
    try:
        extra = {"repeat": repeat} if stage.startswith("07") else {}
        out = RUNNERS[stage](settings, rows, gpus, **extra)
        batches = out if stage == "07-iter" else out.iter_batches(batch_size=None, batch_format="numpy")
        starts, ends, n = [], [], 0
        for batch in batches:
            n += len(batch["started"])
            starts.append(float(min(batch["started"])))
            ends.append(float(max(batch["finished"])))
            if window_s and max(ends) - min(starts) >= window_s:
                break
    finally:
        sampler.stop()
        batches = out = None  # a run stopped at its window: Ray Data ends the rest of its execution
    if not n:
        raise RuntimeError("the stage returned no rows")
    start, end = min(starts), max(ends)
    return {
        "rows": n,
        "seconds": round(end - start, 3),
        "rows_per_s": round(n / max(end - start, 1e-9), 2),
        "stopped_at_window": bool(window_s and end - start >= window_s),
        "wall_s": round(time.perf_counter() - wall, 1),
        **sampler.window(start, end),
        "nvml": sampler.note,
    }


def machine() -> dict:
    import ray
    import torch

    nvml = NvmlSampler()
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "cpus": os.cpu_count(),
        "gpus": nvml.names,
        "driver": nvml.driver,
        "nvml": nvml.note,
    }
    if torch.cuda.is_available():
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return info


def plan(stages, levers: dict, base_overrides: dict, ladder=()) -> list[tuple[str, str, object, dict]]:
    """Every run: ``(stage, lever, value, settings)``, the baseline first in each stage. With ``ladder`` (a list of
    ``(lever, value)``), the levers are moved one after another and kept: each run adds one to the last (the lever
    is then named ``+lever``), the order of a recipe; else each lever moves alone from the baseline."""
    runs = []
    for stage in stages:
        base = {**BASELINE[stage], **{k: v for k, v in base_overrides.items() if k in BASELINE[stage]}}
        runs.append((stage, "baseline", None, base))
        if ladder:
            settings = dict(base)
            for lever, value in ladder:
                if lever in settings and settings[lever] != value:
                    settings = {**settings, lever: value}
                    runs.append((stage, f"+{lever}", value, settings))
            continue
        for lever, values in levers.get(stage, {}).items():
            for value in values:
                if base.get(lever) != value:
                    runs.append((stage, lever, value, {**base, lever: value}))
    return runs


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def _choices(parser, args) -> tuple[list, dict, list]:
    """The stages, the baseline's changes (--set) and the ladder (--ladder) the command line asks for, checked."""
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in BASELINE]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; the stages are {', '.join(STAGES)}")
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not any(key in b for b in BASELINE.values()):
            parser.error(
                f"--set {item}: give LEVER=VALUE with a lever of {sorted({k for b in BASELINE.values() for k in b})}"
            )
        overrides[key] = _value(value)
    ladder = []
    for item in filter(None, (x.strip() for x in args.ladder.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not any(key in b for b in BASELINE.values()):
            parser.error(f"--ladder {item}: give LEVER=VALUE with a lever of a stage's baseline")
        ladder.append((key, _value(value)))
    return stages, overrides, ladder


def _levers_and_rows(args) -> tuple[dict, dict]:
    """The levers to move, by stage, and the rows each stage reads."""
    catalogue = TINY_LEVERS if args.tiny else LEVERS
    if args.levers == "none":
        levers = {}
    elif args.levers == "all":
        levers = catalogue
    else:
        wanted = {name.strip() for name in args.levers.split(",")}
        levers = {st: {k: v for k, v in lv.items() if k in wanted} for st, lv in LEVERS.items()}
    rows = dict(TINY_ROWS if args.tiny else ROWS)
    if args.rows:
        rows = {k: args.rows for k in rows}
    return levers, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/levers.json"), help="the results JSON")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a dry run: the tiny profile's stand-ins and data, "
        "a few rows, one value of a few levers (proves the harness runs; its figures mean nothing)",
    )
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument(
        "--levers", default="all", help="'all', 'none' (baselines only) or lever names, comma-separated"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="LEVER=VALUE",
        help="change the baseline (repeat for a recipe of several levers)",
    )
    parser.add_argument("--rows", type=int, help="rows per stage (default: the whole data set; 03: 256 prompts)")
    parser.add_argument(
        "--ladder",
        default="",
        metavar="LEVER=VALUE,...",
        help="move these levers one after another, each kept for the next run (a recipe in its order), "
        "instead of one lever at a time",
    )
    parser.add_argument(
        "--window-s",
        type=float,
        help="stop each run once its GPU stage has run this many seconds (default: run every row)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="module 07's stages: each review N times (each time with another photo), for a longer steady window",
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="gpu profile: read the data drawn in DIR (RAYCOURSE_GPU_DATA), "
        "drawing it first at --scale if DIR has no manifest.json",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="with --data: the scale to draw at (default 1)")
    parser.add_argument("--budget-s", type=float, default=None, help="start no run after this many seconds")
    args = parser.parse_args(argv)

    stages, overrides, ladder = _choices(parser, args)
    if args.tiny:
        os.environ["RAYCOURSE_PROFILE"] = "tiny"
    if args.data:
        if not (args.data / "manifest.json").exists():
            from raycourse.data.workshop import generate

            print(f"Drawing the gpu profile's data at scale {args.scale} into {args.data} ...", flush=True)
            generate(args.data, args.scale)
        os.environ["RAYCOURSE_GPU_DATA"] = str(args.data.resolve())
    levers, rows = _levers_and_rows(args)

    import ray

    import raycourse

    if __name__ != "__main__":  # imported (a test): Ray's workers cannot import this file, so send it by value
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    raycourse.init(quiet=True)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    report = {
        "schema": SCHEMA,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "tiny" if args.tiny else raycourse.profile(),
        "profile": raycourse.profile(),
        "machine": machine(),
        "ray_gpus": gpus,
        "data": os.environ.get("RAYCOURSE_GPU_DATA") or "data_path()",
        "baseline": {
            st: {**BASELINE[st], **{k: v for k, v in overrides.items() if k in BASELINE[st]}} for st in stages
        },
        "runs": [],
    }
    report["nvml"] = report["machine"]["nvml"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    report["repeat"], report["window_s"] = args.repeat, args.window_s
    for stage, lever, value, settings in plan(stages, levers, overrides, ladder):
        entry = {"stage": stage, "lever": lever, "value": value, "settings": settings}
        if args.budget_s is not None and time.perf_counter() - began > args.budget_s:
            entry.update(status="skipped", error=f"over the budget of {args.budget_s:g} s")
        else:
            print(f"== {stage} {lever}{'' if value is None else '=' + str(value)}", flush=True)
            try:
                entry.update(status="ok", **measure(stage, settings, rows[stage], gpus, args.repeat, args.window_s))
            except Exception as exc:
                entry.update(status="error", error=f"{type(exc).__name__}: {str(exc)[:500]}")
            print(
                f"   {json.dumps({k: entry.get(k) for k in SHOWN_KEYS if entry.get(k) is not None})}",
                flush=True,
            )
        report["runs"].append(entry)
        args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")  # after every run: a cut-off run keeps
    print(f"Wrote {args.out} ({len(report['runs'])} runs, {time.perf_counter() - began:.0f} s)")
    return 0 if all(r["status"] != "error" for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
