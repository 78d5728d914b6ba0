"""Lab 08's checks: what several exercises share (the check's own CLIP and its text embeddings, the hints on an
embedding, the Serve applications running, a folder's files written elsewhere)."""

from __future__ import annotations

from pathlib import Path

from ..toolkit import model_for

SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same text
_EMBEDDING_HINTS = {
    "same_direction": SAME_DIRECTION,
    "width_hint": "Return model.get_text_features(**inputs).pooler_output, one row per text, as a list of floats.",
    "direction_hint": "Embed exactly the text asked for, with the processor's text= and padding=True, and keep the "
    "rows in the order of the texts.",
}


_CLIP: dict = {}


def _text_embeddings(texts: list[str]):
    """The check's own normalised CLIP text embeddings (the judges' truth, computed in the grader's process)."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model_id = model_for("clip")
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    model, processor = _CLIP[model_id]
    with torch.inference_mode():
        features = model.get_text_features(**processor(text=texts, return_tensors="pt", padding=True)).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def _applications() -> dict:
    """Serve's applications now, by name, with their status ({} when Serve is not running)."""
    from ray import serve

    try:
        return {
            name: str(getattr(app.status, "value", app.status)) for name, app in serve.status().applications.items()
        }
    except Exception:  # Serve was never started or is shut down
        return {}


def _vector(value):
    """A list-like answer as a list of numbers (None where it is not one)."""
    import numpy as np

    try:
        return np.asarray(value, dtype=np.float64).tolist()
    except (TypeError, ValueError):
        return None


def _elsewhere(folder: Path, pattern: str) -> str:
    """Where files like ``pattern`` went instead of ``folder``: up to three folders beside it, as words ("" if none)."""
    parent = Path(folder).parent
    found = sorted({p.parent for p in parent.rglob(pattern) if p.is_file()})[:3] if parent.is_dir() else []
    return f" Files like it are in {', '.join(map(str, found))}." if found else ""
