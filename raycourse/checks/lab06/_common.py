"""Lab 06's checks: what several exercises share (the check's own CLIP and its embeddings of the course's images,
the images' filesystem, the stored parquet files, the hints on an embedding's width and direction)."""

from __future__ import annotations

from pathlib import Path

from .._core import NotSolved
from ..toolkit import model_for, partition_of

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}  # the files the lab's catalogue lists
SAME_DIRECTION = 0.99  # cosine between the learner's embedding and the check's, for the same image


_CLIP: dict = {}  # model id -> (model, processor): the check's own CLIP, loaded once per process


def _clip():
    """The check's own CLIP (model and processor) for the active profile."""
    from transformers import CLIPModel, CLIPProcessor

    model_id = model_for("clip")
    if model_id not in _CLIP:
        _CLIP[model_id] = (CLIPModel.from_pretrained(model_id).eval(), CLIPProcessor.from_pretrained(model_id))
    return _CLIP[model_id]


def _image_embeddings(images) -> "np.ndarray":  # noqa: F821
    import numpy as np
    import torch
    from PIL import Image

    model, processor = _clip()
    pil = [image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image)) for image in images]
    with torch.inference_mode():
        features = model.get_image_features(
            **processor(images=[p.convert("RGB") for p in pil], return_tensors="pt")
        ).pooler_output
    return torch.nn.functional.normalize(features, dim=-1).numpy()


def _filesystem(root: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(str(root))


def _open_image(filesystem, path: str):
    from PIL import Image

    with filesystem.open_input_file(path) as file:
        return Image.open(file).convert("RGB")


def _vectors(column) -> "np.ndarray":  # noqa: F821
    import numpy as np

    return np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in list(column)])


WIDTH_HINT = (
    "Use what model.get_image_features(**inputs).pooler_output returns (the config's projection_dim), one row per "
    "image, and do not reshape or hard-code a width."
)
DIRECTION_HINT = (
    'Open the image at each row\'s path, run all of them through processor(images=..., return_tensors="pt") and '
    "model.get_image_features(**inputs).pooler_output, and keep the rows in the batch's order."
)


def _parquet_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.parquet")) if folder.is_dir() else []


def _stored(embeddings_dir) -> "pd.DataFrame":  # noqa: F821
    """Every stored row, whatever the layout: the columns of its file, plus the folder's partition if it has one."""
    import pandas as pd
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor type, so the embedding column reads back)

    root = Path(embeddings_dir)
    files = _parquet_files(root)
    if not files:
        raise NotSolved(f"there are no parquet files in {root} yet; write the embeddings there.")
    frames = []
    for file in files:
        frame = pq.read_table(str(file), partitioning=None).to_pandas()
        partition = partition_of(file, root)
        if partition and partition[0] not in frame.columns:
            frame[partition[0]] = partition[1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _store(embeddings_dir, what: str) -> tuple[list[str], "np.ndarray", "pd.DataFrame"]:  # noqa: F821
    try:
        table = _stored(embeddings_dir)
    except NotSolved:
        raise NotSolved(f"there are no stored embeddings {what} yet: solve Exercise 2 first.") from None
    return [str(p) for p in table["path"]], _vectors(table["embedding"]), table
