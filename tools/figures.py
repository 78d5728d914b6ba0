"""The lessons' diagrams: every ``notebooks/figures/NN_*.svg`` is drawn here, with matplotlib.

``make figures`` runs ``python tools/figures.py`` and rewrites them all; ``--out DIR`` writes them elsewhere (the
test ``tests/docs/test_figures.py`` does, and compares the bytes with the stored files: a figure edited here but not
rebuilt fails it). ``--png DIR`` also writes a PNG of each, to look at. The SVGs are byte-for-byte the same on
every run and machine with the pinned matplotlib: the text is drawn as paths (DejaVu Sans, shipped with
matplotlib), ids come from ``svg.hashsalt`` and no date is written.

One function per figure, named by its file; the colours say the same thing in every figure:
blue data (rows, blocks), green CPU tasks, orange actors and GPUs, grey storage, red waiting or failure,
purple Ray Serve. Every fact drawn is Ray 2.60's (the lesson cell beside the figure says where it comes from).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("agg")
from matplotlib import patches  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "notebooks" / "figures"
# The screenshots of tools/capture_dashboard.py sit beside the diagrams; a real run draws them, so they are never
# the same bytes twice: the tests hold them to being referenced, not to their bytes.
SCREENSHOT_PREFIX = "dashboard_"
# A markdown image: ![alt text](figures/name.svg)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")

RC = {
    "svg.hashsalt": "raycourse-figures",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Verdana", "Arial", "Helvetica"],
    "font.size": 10,
    "path.simplify": True,
}
INK = "#222222"
MUTED = "#666666"
KINDS = {  # fill, edge
    "data": ("#dbe9f6", "#1f77b4"),
    "task": ("#e3f2dc", "#2ca02c"),
    "actor": ("#ffe7cc", "#e8710a"),
    "gpu": ("#fff4e6", "#e8710a"),
    "store": ("#eeeeee", "#555555"),
    "wait": ("#fbdcdc", "#d62728"),
    "serve": ("#ece3f5", "#9467bd"),
    "plain": ("#ffffff", "#888888"),
    "none": ("none", "none"),
}


class Drawing:
    """A figure of ``w`` x ``h`` inches whose coordinates are tenths of an inch, origin bottom left."""

    def __init__(self, w: float, h: float):
        self.fig = plt.figure(figsize=(w, h))
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_xlim(0, w * 10)
        self.ax.set_ylim(0, h * 10)
        self.ax.axis("off")

    def box(
        self,
        x,
        y,
        w,
        h,
        text="",
        kind="data",
        size=10,
        weight="normal",
        ls="-",
        lw=1.2,
        color=INK,
        ha="center",
        round_=True,
    ):
        fill, edge = KINDS[kind]
        style = "round,pad=0,rounding_size=0.6" if round_ else "square,pad=0"
        self.ax.add_patch(
            patches.FancyBboxPatch(
                (x, y), w, h, boxstyle=style, facecolor=fill, edgecolor=edge, linewidth=lw, linestyle=ls
            )
        )
        if text:
            tx = x + w / 2 if ha == "center" else x + 0.8
            self.text(tx, y + h / 2, text, size=size, weight=weight, color=color, ha=ha)
        return (x, y, w, h)

    def text(self, x, y, s, size=10, ha="center", va="center", color=INK, weight="normal", style="normal", rotation=0):
        self.ax.text(
            x,
            y,
            s,
            fontsize=size,
            ha=ha,
            va=va,
            color=color,
            fontweight=weight,
            fontstyle=style,
            linespacing=1.25,
            parse_math=False,
            rotation=rotation,
        )

    def arrow(self, a, b, color=INK, lw=1.3, ls="-", rad=0.0, style="-|>", text=None, size=9, offset=(0, 1.2)):
        self.ax.add_patch(
            patches.FancyArrowPatch(
                a,
                b,
                arrowstyle=style,
                mutation_scale=11,
                color=color,
                lw=lw,
                linestyle=ls,
                connectionstyle=f"arc3,rad={rad}",
                shrinkA=1,
                shrinkB=1,
            )
        )
        if text:
            self.text((a[0] + b[0]) / 2 + offset[0], (a[1] + b[1]) / 2 + offset[1], text, size=size, color=color)

    def line(self, xs, ys, color=INK, lw=1.2, ls="-"):
        self.ax.plot(xs, ys, color=color, lw=lw, ls=ls, solid_capstyle="butt")

    def legend(self, x, y, kinds, size=9):
        for kind, label in kinds:
            self.box(x, y - 0.6, 1.6, 1.2, kind=kind, lw=1)
            self.text(x + 2.2, y, label, size=size, ha="left", color=MUTED)
            x += 2.8 + 0.62 * len(label)


# --- lesson 01 ---------------------------------------------------------------------------------------------


def fig_01_blocks(d=None):
    d = Drawing(9.6, 3.2)
    d.text(48, 30, "One small CSV file, read on a Ray with 8 CPUs, then repartition(4)", size=11, weight="bold")
    d.box(1, 11, 9, 9, "animals.csv\n(one file)", kind="store")
    d.arrow((10.2, 15.5), (15, 15.5))
    d.box(15, 11, 10, 9, "one read\ntask", kind="task")
    d.arrow((25.2, 15.5), (30, 15.5), text="split", size=9)
    for i in range(16):  # 2 x 8 CPUs
        col, row = i % 8, i // 8
        d.box(30.5 + col * 2.9, 17 - row * 4.2, 2.4, 3.2, kind="data", lw=1)
    d.text(42, 7.8, "16 blocks = 2 × 8 CPUs\n(never fewer than twice the CPUs)", size=9, color=MUTED)
    d.arrow((54.6, 15.5), (61, 15.5))
    d.text(57.8, 17.9, "repartition(4)", size=9)
    for i in range(4):
        d.box(61.5 + i * 6.2, 12.5, 5.4, 6, f"block {i + 1}", kind="data", size=8.5)
    d.text(73.5, 7.8, "exactly 4 blocks\nof about equal size", size=9, color=MUTED)
    d.text(
        48,
        2.6,
        "A block is how Ray stores and moves rows; each block is processed by one task at a time, "
        "so the number of blocks bounds the parallelism.",
        size=9,
        color=MUTED,
    )
    return d


def fig_01_tasks_actors():
    d = Drawing(10, 3.8)
    d.text(23.5, 36, "map_batches(function): tasks", size=11, weight="bold")
    d.text(73, 36, "map_batches(Class, compute=ActorPoolStrategy(size=2))", size=10.5, weight="bold")
    blocks_y = [27.5, 21.5, 15.5, 9.5]
    for i, y in enumerate(blocks_y):
        d.box(2, y, 8, 4.2, f"block {i + 1}", kind="data", size=9)
        d.arrow((10.2, y + 2.1), (15.8, y + 2.1))
        d.box(16, y - 0.2, 16, 4.6, "task: fn(batch)", kind="task", size=9)
        d.arrow((32.2, y + 2.1), (37.8, y + 2.1))
        d.box(38, y, 7, 4.2, "out", kind="data", size=9)
    d.text(23.5, 4.4, "a task per block, started for it, stateless,\nanywhere in the cluster", size=9, color=MUTED)
    d.line([48.5, 48.5], [3, 34], color="#cccccc", lw=1)
    for i, y in enumerate(blocks_y):
        d.box(51, y, 8, 4.2, f"block {i + 1}", kind="data", size=9)
    for j, y in enumerate((25, 12)):
        d.box(64, y - 2, 23, 10, "", kind="actor")
        d.text(75.5, y + 6, f"actor {j + 1}", size=9.5, weight="bold")
        d.text(75.5, y + 2.6, "__init__: once (load the model)", size=8.5)
        d.text(75.5, y - 0.2, "__call__(batch): per batch", size=8.5)
    for i, y in enumerate(blocks_y):
        target = 26 if i < 2 else 13
        d.arrow((59.2, y + 2.1), (63.8, target + (1 if i % 2 == 0 else -1)), lw=1.1)
    for y in (28, 15):
        d.arrow((87.2, y), (90.8, y))
        d.box(91, y - 2.1, 5, 4.2, "out", kind="data", size=8)
    d.text(73, 4.4, "long-lived processes: what __init__ built\nserves every batch the actor gets", size=9, color=MUTED)
    return d


# --- lesson 02 ---------------------------------------------------------------------------------------------


def fig_02_hash_join():
    d = Drawing(9.6, 5.2)
    d.text(48, 50, 'animals.join(outfits, join_type="inner", num_partitions=2, on=("id",))', size=11, weight="bold")
    # The grouping of the lesson's recorded run (cell "describe_block"): ids 1, 2, 7 hashed together, 3, 5, 8 too.
    part = {1: 0, 2: 0, 7: 0, 3: 1, 5: 1, 8: 1}
    colors = {0: ("#dbe9f6", "#1f77b4"), 1: ("#fbe3ef", "#c2185b")}
    blocks = [
        ("animals (left), block 1", [(1, "raccoon"), (2, "red fox"), (3, "barn owl")]),
        ("animals (left), block 2", [(5, "golden retriever"), (7, "brown bear"), (8, "tabby cat")]),
        ("outfits (right), block 1", [(1, "yellow raincoat"), (3, "tuxedo"), (7, "pirate hat")]),
        ("outfits (right), block 2", [(2, "priest robe"), (5, "sweater"), (8, "chef's apron")]),
    ]
    targets = {0: 34, 1: 14}
    y = 45.5
    for title, rows in blocks:
        h = 1.6 + 2.8 * len(rows)
        d.box(6, y - h, 20, h, kind="plain", lw=1, ls="--")
        for k, (i, name) in enumerate(rows):
            ry = y - 0.8 - 2.8 * (k + 1) + 0.2
            fill, edge = colors[part[i]]
            d.ax.add_patch(
                patches.FancyBboxPatch(
                    (7, ry), 18, 2.4, boxstyle="round,pad=0,rounding_size=0.4", facecolor=fill, edgecolor=edge, lw=1
                )
            )
            d.text(16, ry + 1.2, f"id {i} · {name}", size=8.5)
            d.arrow((25.2, ry + 1.2), (50.8, targets[part[i]] + (ry - 24) * 0.1), color=edge, lw=0.8)
        y -= h + 1.6
    d.text(3, 34.5, "animals (left): 2 blocks", size=9, color=MUTED, rotation=90)
    d.text(3, 11.5, "outfits (right): 2 blocks", size=9, color=MUTED, rotation=90)
    d.text(40, 46, "1. shuffle: every row goes to\npartition hash(id) % 2", size=9.5, weight="bold")
    outfit_ids = {i for _, rows in blocks[2:] for i, _ in rows}
    for p, yc in targets.items():
        fill, edge = colors[p]
        d.box(51, yc - 6.5, 20, 13, "", kind="plain", lw=1.4)
        d.ax.patches[-1].set_edgecolor(edge)
        d.text(61, yc + 4.4, ("one partition", "the other partition")[p], size=9.5, weight="bold", color=edge)
        ids = [i for i in sorted(part) if part[i] == p]
        d.text(61, yc + 1.2, "animals " + ", ".join(map(str, ids)), size=8.5)
        d.text(61, yc - 1.4, "outfits " + ", ".join(str(i) for i in ids if i in outfit_ids), size=8.5)
        d.text(61, yc - 4.6, "2. joined on its own", size=8.5, color=MUTED)
        d.arrow((71.2, yc), (76.8, yc))
        joined = [i for i in ids if i in outfit_ids]
        d.box(77, yc - 4, 18, 8, f"output block\nids {', '.join(map(str, joined))}", kind="data", size=8.5)
    d.text(86, 46, "3. one block\nper partition", size=9.5, weight="bold")
    d.text(
        73,
        3.5,
        "Equal ids always meet in the same partition. Six of\nthe 24 ids, grouped as in the lesson's run.",
        size=8.5,
        color=MUTED,
    )
    return d


# --- lesson 03 ---------------------------------------------------------------------------------------------


def fig_03_blocks_bundles_batches():
    d = Drawing(9.6, 3.6)
    d.text(48, 34, "prompts.repartition(4).map_batches(ImageGen, batch_size=2, ...): 8 rows", size=11, weight="bold")
    heads = [
        (9, "blocks (4)", "how Ray stores\nand moves rows"),
        (36, "bundles", "whole blocks, gathered until ≥ batch_size rows;\na block is never cut"),
        (66, "actors of the pool", "each bundle: one actor"),
        (88, "batches", "batch_size rows,\ncut from the bundle"),
    ]
    for x, h, sub in heads:
        d.text(x, 29.5, h, size=10, weight="bold")
        d.text(x, 25.7, sub, size=8, color=MUTED)
    for i in range(4):
        y = 18.5 - i * 5
        d.box(2, y, 14, 3.8, "", kind="data", lw=1)
        d.box(2.6, y + 0.5, 6, 2.8, f"row {2 * i + 1}", kind="data", size=8, lw=0.8)
        d.box(9.4, y + 0.5, 6, 2.8, f"row {2 * i + 2}", kind="data", size=8, lw=0.8)
        d.arrow((16.2, y + 1.9), (28.8, y + 1.9))
        d.box(29, y, 14, 3.8, f"bundle {i + 1}: 2 rows", kind="plain", size=8.5)
    for j, yc in enumerate((16.8, 6.8)):
        d.box(57, yc - 3.2, 18, 6.4, f"actor {j + 1}\nGPU {j}", kind="actor", size=9)
    for i in range(4):
        y = 18.5 - i * 5 + 1.9
        d.arrow((43.2, y), (56.8, 16.8 if i in (0, 2) else 6.8), lw=1, color=MUTED)
    for j, yc in enumerate((16.8, 6.8)):
        d.arrow((75.2, yc), (80.8, yc))
        d.box(81, yc - 2.2, 14, 4.4, "__call__(2 rows)\n× 2 calls", kind="data", size=8.5)
    d.text(
        48,
        1.8,
        "With batch_size=8 and 8 blocks of one row: one bundle of 8, one actor. With repartition(1):"
        " one bundle, one actor, however small the batch.",
        size=8.5,
        color=MUTED,
    )
    return d


def fig_03_actor_pool():
    d = Drawing(9.6, 3.8)
    d.text(
        48,
        36,
        "An actor pool over GPUs: map_batches(ImageGen, num_gpus=1, compute=ActorPoolStrategy(size=2))",
        size=10.5,
        weight="bold",
    )
    d.text(11, 30.5, "bundles waiting", size=9.5, color=MUTED)
    for i in range(5):
        d.box(2 + i * 3.6, 24, 3, 4, kind="data", lw=1)
    d.arrow((20.5, 26), (29.5, 26), text="least busy\nready actor", size=8.5, offset=(0, 3.4))
    # node with two GPUs
    d.box(30, 3.5, 58, 28.5, "", kind="plain", lw=1.2, ls="--")
    d.text(59, 30, "a node: Ray schedules actors onto free GPUs", size=9, color=MUTED)
    for j, y in enumerate((17, 5.5)):
        d.box(33, y, 34, 10, "", kind="actor")
        d.text(50, y + 8, f"actor {j + 1}  (num_gpus=1, 1 CPU)", size=9.5, weight="bold")
        d.text(50, y + 5.2, f"CUDA_VISIBLE_DEVICES={j}: sees its GPU as cuda:0", size=8.5)
        d.box(36, y + 1, 6, 2.6, "running", kind="data", size=7.5, lw=0.8)
        d.box(43, y + 1, 6, 2.6, "next", kind="data", size=7.5, lw=0.8, ls="--")
        d.text(58.5, y + 2.3, "≤ 2 tasks in flight", size=8, color=MUTED)
        d.box(72, y + 1.5, 13, 7, f"GPU {j}", kind="gpu", size=10, weight="bold")
        d.arrow((67.2, y + 5), (71.8, y + 5), style="<|-|>")
    d.text(
        12,
        13,
        "An actor gets work only\nonce its __init__ (model\nload) has finished; work\n"
        "starts with the first\nready actor.",
        size=8.5,
        color=MUTED,
    )
    d.text(92.5, 17.5, "one\nactor\nper\nGPU", size=8.5, color=MUTED)
    return d


# --- lesson 04 ---------------------------------------------------------------------------------------------


def fig_04_backpressure():
    d = Drawing(9.6, 4.4)
    d.text(48, 42, "Two models share each GPU; the slow stage sets the pace", size=11, weight="bold")
    # top: GPU sharing
    for g, x in enumerate((4, 50)):
        d.box(x, 24, 42, 12.5, "", kind="gpu", lw=1.4)
        d.text(x + 21, 34.4, f"GPU {g}", size=9.5, weight="bold")
        d.box(x + 1.5, 25.5, 23, 6.5, "Enhancer\nnum_gpus=0.6", kind="actor", size=8.5)
        d.box(x + 25.5, 25.5, 15, 6.5, "ImageGen\nnum_gpus=0.4", kind="actor", size=8.5)
    d.text(
        48,
        21.6,
        "0.6 + 0.4 = 1.0 per GPU: a scheduling promise; Ray does not split the GPU's memory or"
        " compute, both models must fit",
        size=8.5,
        color=MUTED,
    )
    # bottom: stream with budget
    d.box(2, 7.5, 15, 8, "read\nprompts", kind="task", size=9)
    d.arrow((17.2, 11.5), (21.8, 11.5))
    d.box(22, 7.5, 17, 8, "Enhancer\n(fast)", kind="actor", size=9)
    d.arrow((39.2, 11.5), (43.8, 11.5))
    d.box(44, 5.7, 26, 11.6, "", kind="plain", lw=1.2, ls="--")
    d.text(57, 15.1, "Enhancer's output, not yet taken", size=8.5, color=MUTED)
    for i in range(4):
        d.box(45.5 + i * 4.2, 7.5, 3.4, 4.2, kind="data", lw=1)
    d.box(62.5, 6.9, 6.5, 5.4, "full", kind="wait", size=8.5)
    d.arrow((70.2, 11.5), (74.8, 11.5))
    d.box(75, 7.5, 17, 8, "ImageGen\n(slow)", kind="actor", size=9)
    d.arrow((92.2, 11.5), (95.5, 11.5))
    d.arrow((57, 5.5), (30.5, 7.3), color="#d62728", rad=-0.2, ls="--")
    d.text(
        48,
        1.6,
        "its share of the object-store budget is full: no new Enhancer tasks until ImageGen takes a block",
        size=8.5,
        color="#d62728",
    )
    return d


# --- lesson 05 ---------------------------------------------------------------------------------------------


def fig_05_ddp():
    d = Drawing(9.6, 4.0)
    d.text(
        48,
        38,
        'TorchTrainer(train_func, datasets={"train": ...}, scaling_config=ScalingConfig(num_workers=2, use_gpu=...))',
        size=9.5,
        weight="bold",
    )
    d.box(2, 12, 14, 16, "train\nDataset\n(features)", kind="data", size=9.5)
    for w, y in enumerate((21, 5)):
        d.arrow((16.2, 20), (25.8, y + 5.5), text=None)
        d.box(26, y + 2, 14, 7, f"shard {w}", kind="data", size=9)
        d.arrow((40.2, y + 5.5), (44.8, y + 5.5))
        d.box(45, y, 30, 11, "", kind="actor")
        d.text(60, y + 8.6, f"worker {w} (RayTrainWorker)", size=9.5, weight="bold")
        d.text(60, y + 5.6, 'get_dataset_shard("train")', size=8.5)
        d.text(60, y + 2.8, "model copy · HF Trainer · GPU", size=8.5)
    d.arrow((60, 20.8), (60, 16.2), style="<|-|>", color="#e8710a")
    d.text(68.5, 18.5, "average gradients\nafter every step\n(torch.distributed)", size=8, color="#e8710a", ha="left")
    d.arrow((75.2, 26), (82.8, 22))
    d.arrow((75.2, 10), (82.8, 14))
    d.box(82, 11, 13, 14, "checkpoints\n+ metrics\nunder\nstorage_path", kind="store", size=8.5)
    d.text(21, 4.3, "each worker streams\nits own share of rows", size=8.5, color=MUTED)
    d.text(88, 6.6, "RayTrainReportCallback:\na report per\ncheckpoint", size=8, color=MUTED)
    return d


def fig_05_checkpoint_inference():
    d = Drawing(9.6, 3.6)
    d.text(
        48,
        34,
        "Batch inference from the checkpoint: one actor per GPU, one forward pass per batch",
        size=11,
        weight="bold",
    )
    d.box(2, 12, 22, 17, "", kind="store")
    d.text(13, 26.6, "checkpoint folder", size=9.5, weight="bold")
    for k, f in enumerate(("model.safetensors", "config.json", "preprocessor_config.json")):
        d.text(13, 23.2 - k * 2.8, f, size=8)
    d.text(13, 14.2, "(from_pretrained loads it)", size=8, color=MUTED)
    d.box(2, 2, 22, 7, "read_images(validation)", kind="task", size=8.5)
    d.arrow((24.2, 20), (37.8, 22), text="fn_constructor_kwargs", size=8.5, offset=(0, 2.2))
    d.arrow((24.2, 5.5), (37.8, 10), text="batches of 16", size=8.5, offset=(0, -2.6))
    for j, y in enumerate((18, 5)):
        d.box(38, y, 30, 9, "", kind="actor")
        d.text(53, y + 6.6, f"ImageClassifier actor {j + 1} · GPU {j}", size=9, weight="bold")
        d.text(53, y + 3.6, "__init__: load model + processor", size=8.5)
        d.text(53, y + 1.4, "__call__: one forward pass / batch", size=8.5)
        d.arrow((68.2, y + 4.5), (75.8, 15.5 if j == 0 else 13))
    d.box(75.5, 9, 19.5, 11, "predictions\n(label, predicted)\n→ accuracy,\nconfusion matrix", kind="data", size=8.5)
    d.text(53, 1.5, "num_gpus=1 · compute=ActorPoolStrategy(size=GPUS)", size=8.5, color=MUTED)
    return d


# --- lesson 06 ---------------------------------------------------------------------------------------------


def fig_06_read_embed_write():
    d = Drawing(9.6, 3.8)
    d.text(48, 36, "read_images → CLIP on GPU actors → write_parquet", size=11, weight="bold")
    d.box(1, 6, 12, 24, "", kind="store")
    d.text(7, 27.4, "image files", size=9, weight="bold")
    for k in range(5):
        d.box(3, 23 - k * 3, 8, 2.2, kind="plain", lw=0.8)
    d.text(7, 7.6, "local / S3", size=8, color=MUTED)
    for t, y in enumerate((22, 13.5, 5)):
        d.arrow((13.2, 18), (17.8, y + 3.5), lw=0.9, color=MUTED)
        d.box(18, y, 18, 7, f"read task {t + 1}\nReadImage, Map(add_class)", kind="task", size=8)
        d.arrow((36.2, y + 3.5), (39.8, y + 3.5))
        d.box(40, y + 1.5, 4, 4, kind="data", lw=1)
    d.text(27, 1.5, "CPU tasks: files → blocks", size=8.5, color=MUTED)
    for j, y in enumerate((19, 7)):
        d.box(50, y, 22, 9, f"EmbeddingGenerator\nactor {j + 1} · GPU {j}", kind="actor", size=8.5)
    for y, t in ((25.5, 23.5), (17, 12), (8.5, 11)):
        d.arrow((44.2, y), (49.8, t), lw=1)
    d.text(61, 3.5, "num_gpus=1, one actor per GPU;\nonly path, class, embedding go on", size=8, color=MUTED)
    for j, y in enumerate((23.5, 11.5)):
        d.arrow((72.2, y), (77.8, y))
        d.box(78, y - 2, 4, 4, kind="data", lw=1)
        d.arrow((82.2, y), (84.8, y))
    d.box(85, 6, 10, 24, "", kind="store")
    d.text(90, 27.4, "parquet", size=9, weight="bold")
    for k in range(4):
        d.box(86.5, 21 - k * 4, 7, 2.8, f"file {k + 1}", kind="plain", size=7, lw=0.8)
    d.text(90, 3.5, "one file\nper block", size=8, color=MUTED)
    return d


# --- lesson 07 ---------------------------------------------------------------------------------------------


def fig_07_multimodal_dag():
    d = Drawing(9.6, 3.8)
    d.text(48, 36, "Three modalities, one row per review, into training", size=11, weight="bold")
    d.box(1, 23, 14, 7, "reviews\n(read_json)", kind="store", size=8.5)
    d.box(1, 11, 14, 7, "products\n(read_csv)", kind="store", size=8.5)
    d.box(1, 1.5, 14, 6, "photos\nproducts/NN.png", kind="store", size=8)
    d.arrow((15.2, 26.5), (19.8, 21))
    d.arrow((15.2, 14.5), (19.8, 18.5))
    d.box(20, 15.5, 11, 8, "join\non product", kind="task", size=8.5)
    d.arrow((31.2, 19.5), (34.8, 19.5))
    d.box(35, 15.5, 12, 8, "map(add_photo):\na path per\nrow, no pixels", kind="task", size=8)
    d.arrow((47.2, 19.5), (49.8, 19.5))
    d.box(50, 15.5, 12, 8, "Tokenize\nactor pool\nnum_cpus=1", kind="actor", size=8)
    d.arrow((62.2, 19.5), (64.8, 19.5))
    d.box(65, 15.5, 12, 8, "load_photos\ntasks, PIL →\nv2 tensors", kind="task", size=8)
    d.arrow((15.2, 4.5), (70, 15.2), ls="--", color=MUTED)
    d.text(50, 6.8, "each photo opened by its path", size=8, color=MUTED)
    d.text(63.5, 25.2, "CPU stages, one per modality (num_cpus=1)", size=8.5, color=MUTED)
    d.arrow((77.2, 19.5), (79.3, 19.5))
    d.box(79.5, 14.5, 16, 10, "ReviewEncoder\nLLM + ViT\nnum_gpus=1, pool", kind="actor", size=8.5, weight="bold")
    d.arrow((87.5, 14.3), (87.5, 11.2))
    d.box(
        70,
        1.5,
        25.5,
        9.5,
        "features → train_test_split\n→ iter_torch_batches →\nloop / TorchTrainer",
        kind="data",
        size=8.5,
    )
    d.text(33, 29, "every stage runs at once, streaming blocks to the next", size=8.5, color=MUTED)
    return d


def fig_07_gpu_waits():
    d = Drawing(9.6, 4.2)
    d.text(48, 40, 'What "the GPU waits" looks like (a sketch, not a measurement)', size=11, weight="bold")
    d.text(48, 36.6, "busy share = time the actors compute / (run time × GPUs the job holds)", size=8.5, color=MUTED)

    def lane(y, label, spans, kind):
        d.text(17, y + 1.5, label, size=9, ha="right")
        d.line([19, 95], [y + 1.5, y + 1.5], color="#dddddd", lw=0.8)
        for a, b in spans:
            d.box(19 + a, y, b - a, 3, kind=kind, lw=0.8, round_=False)

    d.text(57, 33.4, "batch_size=1: a Ray task per review in each CPU stage", size=9.5, weight="bold")
    tiny = [(i * 5.0, i * 5.0 + 1.2) for i in range(15)]
    lane(29, "CPU stages", tiny, "task")
    gpu = [(i * 5.0 + 2.2, i * 5.0 + 3.2) for i in range(15)]
    lane(24, "GPU actor", gpu, "actor")
    for a, b in [(0, 2.2)] + [(i * 5.0 + 3.2, i * 5.0 + 7.2) for i in range(14)]:
        d.box(19 + a, 24.3, b - a, 2.4, kind="wait", lw=0, round_=False)
    d.text(
        57,
        20.5,
        "red: the GPU actor waits for the next trickle of rows (task overheads, one row per call)",
        size=8.5,
        color="#d62728",
    )
    d.text(
        57, 16, "batch_size=32: one task carries 32 reviews, one encoder call computes 32 rows", size=9.5, weight="bold"
    )
    lane(10, "CPU stages", [(0, 12), (13, 25), (26, 38), (39, 51), (52, 64)], "task")
    lane(5, "GPU actor", [(12.5, 24.5), (25.5, 37.5), (38.5, 50.5), (51.5, 63.5), (64.5, 76)], "actor")
    d.arrow((19, 2.4), (95, 2.4), lw=1)
    d.text(17, 2.4, "time", size=8.5, ha="right", color=MUTED)
    return d


# --- lesson 08 ---------------------------------------------------------------------------------------------


def fig_08_serve_path():
    d = Drawing(9.6, 4.0)
    d.text(48, 38, "A request's path through Ray Serve", size=11, weight="bold")
    d.box(1, 22, 12, 8, "client\nHTTP POST\n:8000", kind="plain", size=8.5)
    d.arrow((13.2, 26), (17.8, 26))
    d.box(18, 19, 24, 14, "", kind="serve")
    d.text(30, 30.5, "proxy (actor)", size=9.5, weight="bold")
    d.text(30, 27.4, "HeadOnly: one, on the head", size=8)
    d.box(20, 20.5, 20, 5, "router: picks a replica", kind="plain", size=8.5)
    d.box(1, 5, 12, 8, "Python\nhandle\n.remote()", kind="plain", size=8.5)
    d.arrow((13.2, 9), (17.8, 9))
    d.box(18, 5, 24, 8, "router in the caller\n(no HTTP, no proxy)", kind="serve", size=8.5)
    d.text(30, 16.5, "choice of 2 replicas, the less busy;\nat most max_ongoing_requests each", size=8, color=MUTED)
    for j, y in enumerate((23.5, 1.5)):
        d.box(48, y, 47, 13, "", kind="actor")
        d.text(54, y + 11, f"replica {j + 1}", size=9.5, weight="bold", ha="left")
        d.text(71.5, y + 11, "(actor, model loaded)", size=8.5, color=MUTED, ha="left")
        for k in range(4):
            d.box(50 + k * 3.2, y + 2.5, 2.6, 5, kind="data", lw=0.8)
        d.text(57, y + 1.1, "queued calls", size=7.5, color=MUTED)
        d.arrow((63, y + 5), (67.8, y + 5))
        d.box(68, y + 1.5, 25, 7, "@serve.batch: one enhance(\n[prompts]) per forward pass", kind="serve", size=8)
    d.arrow((42.2, 24), (47.8, 30))
    d.arrow((42.2, 9), (47.8, 8))
    d.arrow((42.2, 22), (47.8, 12.5), ls="--", color=MUTED)
    d.text(
        71.5,
        20,
        "a batch: ≤ max_batch_size, and ≤ max_ongoing_requests (default 5)\n"
        "that the replica accepts at once; it waits batch_wait_timeout_s from its first request",
        size=7.8,
        color=MUTED,
    )
    return d


def fig_08_checkpoint_files():
    d = Drawing(9.6, 4.0)
    d.text(48, 38, "Ray Data's checkpoint: a two-step commit per written file", size=11, weight="bold")
    steps = [
        ("1", "the ids of the rows to write →\ncheckpoint_path/ID.pending.parquet", "store"),
        ("2", "the data file, named from the same ID:\nout/ID….parquet", "data"),
        ("3", "commit: rename ID.pending.parquet →\ncheckpoint_path/ID.parquet", "task"),
    ]
    for k, (n, text, kind) in enumerate(steps):
        y = 25 - k * 9
        d.box(2, y, 38, 7, text, kind=kind, size=8.5)
        d.text(0.8, y + 3.5, n, size=10, weight="bold")
        if k < 2:
            d.arrow((21, y - 0.2), (21, y - 1.8))
    d.text(
        21,
        4.5,
        "a driver killed between 1 and 3 leaves a pending\nfile and perhaps a data file without its footer",
        size=8.5,
        color="#d62728",
    )
    d.line([45, 45], [3, 34], color="#cccccc", lw=1)
    d.text(70, 33, "The next run of the same job, before it reads", size=9.5, weight="bold")
    nxt = [
        ("delete the data files that match a pending checkpoint,\nthen the pending files", "wait"),
        ("load the committed ids", "store"),
        ("skip those rows; work on the rest", "data"),
    ]
    for k, (text, kind) in enumerate(nxt):
        y = 23 - k * 8
        d.box(50, y, 40, 6.2, text, kind=kind, size=8.5)
        if k < 2:
            d.arrow((70, y - 0.2), (70, y - 1.6))
    d.text(70, 3.4, "job finished: the checkpoint is deleted (delete_checkpoint_on_success=True)", size=8, color=MUTED)
    return d


# --- lesson 09 ---------------------------------------------------------------------------------------------


def fig_09_video_search():
    d = Drawing(9.6, 3.8)
    d.text(48, 36, "read_videos → CLIP on GPU actors → groupby(path) → search", size=11, weight="bold")
    d.box(1, 6, 12, 24, "", kind="store")
    d.text(7, 27.4, "video files", size=9, weight="bold")
    for k in range(4):
        d.box(3, 22 - k * 4, 8, 2.8, f"{k + 1}.mp4", kind="plain", size=7, lw=0.8)
    for t, y in enumerate((20, 7)):
        d.arrow((13.2, 18), (17.8, y + 4), lw=0.9, color=MUTED)
        d.box(18, y, 17, 8, f"read task {t + 1}\ndecode, fps=2,\nresize=(224, 224)", kind="task", size=8)
        for k in range(3):
            d.box(36 + k * 1.6, y + 2 + k * 1.2, 3, 3, kind="data", lw=0.8)
    d.text(27, 2.5, "CPU: a row per frame\n(path, frame, timestamp)", size=8, color=MUTED)
    for j, y in enumerate((20, 7)):
        d.arrow((41.2, y + 4), (44.8, y + 4))
        d.box(45, y, 17, 8, f"FrameEmbedder\nactor {j + 1} · GPU {j}", kind="actor", size=8.5)
    d.text(53.5, 2.5, "num_gpus=1, one actor\nper GPU; no pixels go on", size=8, color=MUTED)
    for y in (24, 11):
        d.arrow((62.2, y), (66.8, 17))
    d.box(67, 12, 12, 10, "groupby(path)\n.map_groups:\na row per video", kind="task", size=8)
    d.arrow((79.2, 17), (82.8, 17))
    d.box(83, 10, 12.5, 14, "sentence →\nbest video and\nthe first frame\nthat matches", kind="data", size=8)
    return d


# --- lesson 10 ---------------------------------------------------------------------------------------------


def fig_10_metrics_path():
    from raycourse.session.prometheus import REPORT_SECONDS, SCRAPE_SECONDS  # the course's intervals, drawn

    d = Drawing(9.6, 3.8)
    d.text(48, 36, "Where a pipeline's metrics go", size=11, weight="bold")
    sources = [
        (25, "your UDF (task or actor)\nCounter.inc(), Histogram.observe()", "actor"),
        (14.5, "Ray Data's executor\nrows, bytes, seconds per operator", "task"),
        (4, "the node itself\nCPU, GPU, memory", "store"),
    ]
    for y, text, kind in sources:
        d.box(1, y, 25, 8, text, kind=kind, size=8.5)
        d.arrow((26.2, y + 4), (31.8, 18))
    d.box(32, 12, 14, 12, "metrics agent\n(one per node)\n/metrics", kind="plain", size=8.5)
    d.text(39, 9.5, f"reported every {REPORT_SECONDS} s", size=7.5, color=MUTED)
    d.arrow((46.2, 18), (59.8, 18), text=f"scraped every {SCRAPE_SECONDS} s", size=7.5, offset=(0, 1.6))
    d.box(60, 11, 15, 14, "Prometheus\nkeeps each series\nover time", kind="data", size=8.5)
    d.arrow((75.2, 21), (80.8, 27))
    d.arrow((75.2, 15), (80.8, 9))
    d.box(81, 23, 14.5, 8, "dashboard:\nRay Data view", kind="serve", size=8.5)
    d.box(81, 5, 14.5, 8, "your notebook:\nPromQL over HTTP", kind="serve", size=8.5)
    d.text(88.2, 2.6, "raycourse.prometheus_url()", size=7.5, color=MUTED)
    return d


FIGURES_BY_NAME = {
    "01_blocks": fig_01_blocks,
    "01_tasks_actors": fig_01_tasks_actors,
    "02_hash_join": fig_02_hash_join,
    "03_blocks_bundles_batches": fig_03_blocks_bundles_batches,
    "03_actor_pool": fig_03_actor_pool,
    "04_backpressure": fig_04_backpressure,
    "05_ddp": fig_05_ddp,
    "05_checkpoint_inference": fig_05_checkpoint_inference,
    "06_read_embed_write": fig_06_read_embed_write,
    "07_multimodal_dag": fig_07_multimodal_dag,
    "07_gpu_waits": fig_07_gpu_waits,
    "08_serve_path": fig_08_serve_path,
    "08_checkpoint_files": fig_08_checkpoint_files,
    "09_video_search": fig_09_video_search,
    "10_metrics_path": fig_10_metrics_path,
}


def build(out: Path, png: Path | None = None, names=None) -> list[Path]:
    """Draw the figures into ``out`` (``name.svg``); with ``png``, also a PNG of each there. Returns the SVGs."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in FIGURES_BY_NAME.items():
        if names and name not in names:
            continue
        with matplotlib.rc_context(RC):
            d = draw()
            path = out / f"{name}.svg"
            d.fig.savefig(path, format="svg", metadata={"Date": None})
            if png is not None:
                png.mkdir(parents=True, exist_ok=True)
                d.fig.savefig(png / f"{name}.png", dpi=110)
            plt.close(d.fig)
        written.append(path)
    return written


def stale(stored: Path = FIGURES) -> list[str]:
    """What is not current in ``stored``: a diagram missing, differing from what this script draws, or drawn by
    no function here. Empty when every stored SVG is what ``make figures`` would write."""
    with tempfile.TemporaryDirectory() as tmp:
        built = {p.name: p.read_bytes() for p in build(Path(tmp))}
    kept = {p.name: p.read_bytes() for p in stored.glob("*.svg")}
    found = [f"{name}: missing (run `make figures`)" for name in sorted(built.keys() - kept.keys())]
    found += [
        f"{name}: stale, not what tools/figures.py draws now (run `make figures`)"
        for name in sorted(built.keys() & kept.keys())
        if built[name] != kept[name]
    ]
    found += [
        f"{name}: no function in tools/figures.py draws it (add one to FIGURES_BY_NAME, or delete the file)"
        for name in sorted(kept.keys() - built.keys())
    ]
    return found


def references(notebook_paths) -> list[tuple[Path, str, str]]:
    """(notebook, alt text, target) for every markdown image in the notebooks' markdown cells."""
    import nbformat

    found = []
    for path in notebook_paths:
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "markdown":
                found += [(Path(path), alt, target) for alt, target in IMAGE.findall(cell.source)]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help=f"folder for the SVGs (default {FIGURES})")
    parser.add_argument("--png", type=Path, help="also write a PNG of each figure here, to look at")
    parser.add_argument("names", nargs="*", help="only these figures (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(FIGURES_BY_NAME)
    if unknown:
        parser.error(f"no figure named {sorted(unknown)}; the figures: {', '.join(FIGURES_BY_NAME)}")
    for path in build(args.out, args.png, args.names):
        print(f"{path} ({path.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
