"""How far lesson 07's encoder features on this machine's GPU are from lab 07's CPU reference.

Lab 07's check (``raycourse.checks.lab07``) recomputes the review features on the driver's CPU, each model in
the dtype the lesson's encoder loads it in, and accepts a learner's features within ``FEATURE_TOLERANCE``
(relative distance per part: text, then image). This measures that distance where it matters, on a real GPU:
the encoder's ``__call__`` from lesson 07 (the same code, without Ray) on CUDA, against ``_reference_features``.

Run it on a machine with a GPU, once per profile::

    RAYCOURSE_PROFILE=tiny python tools/feature_precision.py
    RAYCOURSE_PROFILE=gpu HF_HUB_CACHE=<standins --full-size cache> python tools/feature_precision.py

It prints one JSON line: the per-part distances (largest and median over the rows) and the tolerance. On a machine
without a GPU the encoder runs on the CPU too, so the distances are those of the CPU alone (a check of this script).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rows(n: int = 16) -> dict:
    """The first ``n`` shop reviews of ``data/text``, each with one of the sample product photos."""
    reviews = [json.loads(line) for line in (ROOT / "data/text/reviews.jsonl").read_text().splitlines()[:n]]
    photos = sorted((ROOT / "data/products").glob("*.png"))
    return {
        "id": np.array([r["id"] for r in reviews]),
        "text": [r["text"] for r in reviews],
        "photo": [str(photos[i % len(photos)]) for i in range(len(reviews))],
    }


def encoder_features(batch: dict) -> np.ndarray:
    """Lesson 07's tokenizer, photo loader and ``ReviewEncoder.__call__``, on this machine's GPU if it has one."""
    import torch
    from PIL import Image
    from torchvision.transforms import v2
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    import raycourse
    from raycourse.checks.lab07 import MAX_TOKENS

    text_model, image_model = raycourse.model_id("llm"), raycourse.model_id("vit")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokens = AutoTokenizer.from_pretrained(text_model)(
        batch["text"], padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="np"
    )
    config = AutoImageProcessor.from_pretrained(image_model)
    size = config.size["height"]
    to_pixels = v2.Compose([v2.PILToTensor(), v2.Resize(size), v2.CenterCrop(size)])
    photos = np.stack([to_pixels(Image.open(p).convert("RGB")).numpy() for p in batch["photo"]])

    text = AutoModel.from_pretrained(text_model, dtype="auto").to(device).eval()  # as shipped: bf16
    vision = AutoModel.from_pretrained(image_model, dtype=torch.float32).to(device).eval()
    normalize = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(config.image_mean, config.image_std)])
    ids = torch.as_tensor(tokens["input_ids"], device=device)
    mask = torch.as_tensor(tokens["attention_mask"], device=device)
    pixels = normalize(torch.as_tensor(photos, device=device))
    with torch.inference_mode():
        hidden = text(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        features = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        image = vision(pixel_values=pixels).last_hidden_state[:, 0]
    util = torch.cuda.utilization(device) if device == "cuda" else None  # the lesson's call, as it makes it
    return torch.cat([features, image], dim=1).cpu().numpy(), device, util, str(text.dtype)


def main() -> int:
    import pandas as pd
    import torch

    import raycourse
    from raycourse.checks.lab07 import FEATURE_TOLERANCE, _reference_features

    batch = rows()
    got, device, util, text_dtype = encoder_features(batch)
    reference, width = _reference_features(pd.DataFrame(batch))
    want = np.stack([reference[i] for i in batch["id"].tolist()])
    parts = {"text": slice(0, width), "image": slice(width, None)}
    distance = {
        name: [float(np.linalg.norm(g[p] - w[p]) / np.linalg.norm(w[p])) for g, w in zip(got, want)]
        for name, p in parts.items()
    }
    other = [
        float(
            np.linalg.norm(got[i][parts["text"]] - want[i - 1][parts["text"]])
            / np.linalg.norm(want[i - 1][parts["text"]])
        )
        for i in range(1, len(got))
    ]
    print(
        json.dumps(
            {
                "profile": raycourse.profile(),
                "llm": raycourse.model_id("llm"),
                "device": device,
                "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                "torch": torch.__version__,
                "text_dtype": text_dtype,
                "rows": len(got),
                "text_width": width,
                "tolerance": FEATURE_TOLERANCE,
                **{f"{name}_max": max(d) for name, d in distance.items()},
                **{f"{name}_median": float(np.median(d)) for name, d in distance.items()},
                "another_review_text_min": min(other),
                "cuda_utilization_call": util,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
