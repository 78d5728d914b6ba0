"""The full-size build (``standins --full-size``) and ``make verify-gpu``, on a CPU.

Costs here (2 cores, measured alone): the parameter counts 4 s (meta device, nothing
allocated); the ViT + CLIP build 6 s and their loads in the gpu profile 4 s; ``verify-gpu``
on module 05 with one batch 13 s (20-30 s on a busy machine); 27 s for the file. The
full-size build is 0.96 GB on disk, in a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raycourse import config
from raycourse import fullsize
from raycourse.__main__ import main

ROOT = Path(__file__).resolve().parents[2]

# Parameters per weight file, from the real model cards and checkpoints: SDXL's UNet 2.57 B,
# its text encoders 123 M (CLIP ViT-L/14 text) and 695 M (OpenCLIP ViT-bigG/14 text), its
# VAE 83.7 M; Qwen2.5-0.5B 0.49 B (tied embeddings); ViT-B/16 86.4 M; CLIP ViT-B/32 151.3 M; Whisper tiny 37.8 M
# (151,061,672 bytes of float32 at the pin, less the file's 19,112-byte header).
REAL_PARAMS = {
    "image_gen": {
        "text_encoder/model.fp16.safetensors": 123_060_480,
        "text_encoder_2/model.fp16.safetensors": 694_659_840,
        "unet/diffusion_pytorch_model.fp16.safetensors": 2_567_463_684,
        "vae/diffusion_pytorch_model.fp16.safetensors": 83_653_863,
    },
    "llm": {"model.safetensors": 494_032_768},
    "vit": {"model.safetensors": 86_389_248},
    "clip": {"pytorch_model.bin": 151_277_313},
    "speech": {"model.safetensors": 37_760_640},  # whisper-tiny 39 M with its fixed positions; output tied
}
BYTES_PER_PARAM = {"image_gen": 2, "llm": 2, "vit": 4, "clip": 4, "speech": 4}


def test_the_configs_give_the_real_parameter_counts_and_file_sizes():
    for role, expected in REAL_PARAMS.items():
        assert fullsize.param_count(role) == expected, role
        # Where models.toml records a weight file's size (the Hub's figure at the pin), the
        # parameters in the checkpoint's dtype fill it but for the file's header (< 0.1 %).
        for name, params in expected.items():
            recorded = config.MODEL_ROLES[role].sizes.get(name)
            if recorded:
                assert 0 <= recorded - params * BYTES_PER_PARAM[role] < recorded * 1e-3, (role, name)
    # Config files whose size the pin records are the real files, byte for byte.
    checked = 0
    for role, spec in config.MODEL_ROLES.items():
        for name, size in spec.sizes.items():
            if name.endswith(".json") and "token" not in name and "vocab" not in name:  # tokenizers: the tiny ones
                assert (fullsize.CONFIGS / role / name).stat().st_size == size, (role, name)
                checked += 1
    assert checked == 4  # model_index.json, Qwen's config.json and generation_config.json, ViT's config.json


def test_the_configs_hold_the_real_shapes():
    read = lambda *p: json.loads(fullsize.CONFIGS.joinpath(*p).read_text())  # noqa: E731
    qwen = read("llm", "config.json")
    assert (
        qwen["hidden_size"],
        qwen["num_hidden_layers"],
        qwen["num_attention_heads"],
        qwen["num_key_value_heads"],
        qwen["intermediate_size"],
        qwen["vocab_size"],
        qwen["tie_word_embeddings"],
        qwen["torch_dtype"],
        qwen["rope_theta"],
    ) == (896, 24, 14, 2, 4864, 151936, True, "bfloat16", 1e6)
    vit = read("vit", "config.json")
    assert (
        vit["hidden_size"],
        vit["num_hidden_layers"],
        vit["num_attention_heads"],
        vit["intermediate_size"],
        vit["patch_size"],
    ) == (768, 12, 12, 3072, 16)
    clip = read("clip", "config.json")
    text, vision = clip["text_config"], clip["vision_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"]) == (512, 12, 8)
    assert (
        vision["hidden_size"],
        vision["num_hidden_layers"],
        vision["num_attention_heads"],
        vision["patch_size"],
        clip["projection_dim"],
    ) == (768, 12, 12, 32, 512)
    unet = read("image_gen", "unet", "config.json")
    assert (unet["sample_size"], unet["cross_attention_dim"], unet["addition_embed_type"]) == (64, 2048, "text_time")
    # Every pinned config file of every role is in the folder (nothing else is needed to build).
    for role, spec in config.MODEL_ROLES.items():
        tokenizer = ("token", "vocab", "normalizer")  # the tiny stand-ins' (Whisper's spelling normaliser too)
        pinned = {f for f in spec.files if f.endswith(".json") and not any(word in f for word in tokenizer)}
        assert pinned <= {
            str(p.relative_to(fullsize.CONFIGS / role)) for p in (fullsize.CONFIGS / role).rglob("*.json")
        }, role


def test_roles_and_cache_go_with_full_size_only(capsys):
    with pytest.raises(SystemExit):
        main(["standins", "--roles", "vit"])
    assert "--full-size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["standins", "--full-size", "--roles", "vit,sdxl"])
    assert "unknown role(s) sdxl" in capsys.readouterr().err


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("fullsize") / "hub"
    assert main(["standins", "--full-size", "--roles", "vit,clip", "--cache", str(cache)]) == 0
    return cache


@pytest.mark.slow("builds the full-size models and loads them in processes of their own")
def test_full_size_build_resolves_and_loads_in_the_gpu_profile(built, capsys):
    capsys.readouterr()
    assert main(["standins", "--full-size", "--roles", "vit,clip", "--cache", str(built)]) == 0
    assert capsys.readouterr().out.count("already built") == 2  # written once, then kept
    code = (
        "import json, raycourse, torch\n"
        "from transformers import CLIPModel, CLIPProcessor, ViTForImageClassification, ViTImageProcessor\n"
        "vit_id, clip_id = raycourse.model_id('vit'), raycourse.model_id('clip')\n"
        "vit = ViTForImageClassification.from_pretrained(vit_id, num_labels=2)\n"
        "clip = CLIPModel.from_pretrained(clip_id)\n"
        "ViTImageProcessor.from_pretrained(vit_id); CLIPProcessor.from_pretrained(clip_id)\n"
        "count = lambda m: sum(p.numel() for p in m.parameters())\n"
        "print(json.dumps({'vit_id': vit_id, 'clip_id': clip_id, 'vit': count(vit.vit), 'clip': count(clip),\n"
        "                  'dtypes': [str(vit.dtype), str(clip.dtype)]}))\n"
    )
    env = dict(
        os.environ,
        RAYCOURSE_PROFILE="gpu",
        HF_HUB_CACHE=str(built),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_VERBOSITY="error",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    for role in ("IMAGE_GEN", "LLM", "VIT", "CLIP"):
        env.pop(f"RAYCOURSE_MODEL_{role}", None)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    for role in ("vit", "clip"):
        spec = config.MODEL_ROLES[role]
        assert (
            Path(got[f"{role}_id"]) == built / f"models--{spec.hub_id.replace('/', '--')}" / "snapshots" / spec.revision
        )
    # The classifier takes ViTModel without its pooler (768 x 768 + 768), which the in21k checkpoint also holds.
    assert got["vit"] == REAL_PARAMS["vit"]["model.safetensors"] - 768 * 768 - 768
    assert got["clip"] == REAL_PARAMS["clip"]["pytorch_model.bin"]
    assert got["dtypes"] == ["torch.float32", "torch.float32"]  # as their checkpoints ship


@pytest.mark.slow("verify-gpu measures stages in processes of their own")
def test_verify_gpu_measures_a_stage_and_lists_what_it_skipped(built, tmp_path, capsys):
    out = tmp_path / "verify.json"
    code = main(
        [
            "verify-gpu",
            "--roles",
            "vit",
            "--modules",
            "05",
            "--size",
            "small",
            "--cache",
            str(built),
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads(out.read_text())
    stages = {f"{s['module']} {s['name']}": s for s in report["stages"]}
    train = stages["05 ViT training"]["runs"]["full"]
    assert train["status"] == "ok" and train["rows"] == 2 and train["work_s"] > 0 and 0 < train["busy_share"] <= 1
    if report["device"] == "cpu":
        assert train["peak_rss_gb"] > train["base_rss_gb"] + 0.3  # the ViT and its gradients, at full size
    assert stages["06 CLIP embeddings"]["skipped"] == "not selected"
    assert stages["05 ViT inference"]["runs"]["full"]["status"] == "ok"
    assert "| 05 | ViT training |" in printed and "| 05 | ViT inference |" in printed


@pytest.mark.slow("verify-gpu measures stages in processes of their own")
def test_verify_gpu_transcribes_with_whisper_tiny_at_full_size(tmp_path, capsys):
    """whisper-tiny built from its vendored configs (the real generation config: 99 languages, Whisper's ids) loads
    in the gpu profile and generates from the course's clips; a random model's words are not the point."""
    out = tmp_path / "verify.json"
    args = ["verify-gpu", "--roles", "speech", "--modules", "00", "--size", "small", "--cache", str(tmp_path / "hub")]
    code = main([*args, "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    stages = {f"{s['module']} {s['name']}": s for s in json.loads(out.read_text())["stages"]}
    run = stages["00 load speech"]["runs"]["full"]
    assert run["status"] == "ok" and run["rows"] == 1 and run["work_s"] > 0, run
    spec = config.MODEL_ROLES["speech"]
    snapshot = tmp_path / "hub" / f"models--{spec.hub_id.replace('/', '--')}" / "snapshots" / spec.revision
    size = (snapshot / "model.safetensors").stat().st_size  # the real file: 167 float32 tensors and a header
    assert 0 <= size - 37_760_640 * 4 < 1e-3 * spec.sizes["model.safetensors"]


def test_the_cuda_table_shows_memory_caps_oom_and_utilisation():
    """The CUDA columns, from measures as a GPU run writes them (no GPU needed)."""
    from raycourse.fullsize.verify import table

    ok = dict(
        status="ok",
        load_s=3.2,
        work_s=2.0,
        rows=16,
        rows_per_s=8.0,
        busy_share=0.75,
        gpu_util=None,
        gpu_util_note="n/a (ModuleNotFoundError)",
        peak_alloc_gb=10.4,
        peak_reserved_gb=11.0,
    )
    results = [
        {
            "module": "03",
            "name": "image_gen",
            "runs": {"full": ok, "24GB": dict(ok, peak_alloc_gb=10.4), "16GB": dict(ok, peak_alloc_gb=10.4)},
        },
        {
            "module": "04",
            "name": "enhancer + image_gen",
            "runs": {
                "full": dict(ok, gpu_util=61.0, peak_alloc_gb=19.8),
                "24GB": dict(ok, peak_alloc_gb=19.8),
                "16GB": {"status": "OOM"},
            },
        },
        {"module": "00", "name": "load clip", "runs": {"full": {"status": "failed", "error": "boom"}}},
        {"module": "06", "name": "CLIP embeddings", "skipped": "not selected"},
    ]
    lines = table(results, "cuda").splitlines()
    assert "GPU util" in lines[0] and "24 GB card" in lines[0] and "16 GB card" in lines[0]
    assert lines[2].endswith("| 8.00 | 75 % | n/a (ModuleNotFoundError) | 10.40 / 11.00 | ok (10.4) | ok (10.4) |")
    assert lines[3].endswith("| 61 % | 19.80 / 11.00 | ok (19.8) | OOM |")
    assert "| failed: boom |" in lines[4] and "| not selected |" in lines[5]


def test_a_stages_peak_memory_is_its_own_not_its_parents():
    """ru_maxrss survives exec on Linux: a stage started by a big process (a pytest run) reported that process's
    size as its peak, and a CPU stage's growth vanished under it (a test-fast run saw peak == base)."""
    import subprocess
    import sys

    import numpy as np

    parent = np.ones(int(1.5e9 / 8))  # this process now holds 1.5 GB
    code = "from raycourse.fullsize.verify import _peak_rss_gb; print(_peak_rss_gb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert parent.sum() > 0 and child < 0.5, child


def test_a_cap_above_the_uncapped_peak_is_not_run_again_and_each_stage_is_saved_as_it_ends(monkeypatch, tmp_path):
    """On CUDA a stage runs again under a 24 GB and a 16 GB cap only where its uncapped run reserved more than the
    cap (below it the cap cannot bite: the H200 run of 2026-11-26 spent most of its 5.7 min starting processes).
    The JSON is written after every stage, so that a run cut short keeps what it measured."""
    import torch

    from raycourse.fullsize import verify as v

    calls, snapshots = [], []
    peaks = {"03 image_gen, VAE not sliced": (15.9, 24.8), "03 image_gen": (8.6, 10.0)}

    def fake_child(key, device, size, cap_gb, cache, timeout):
        calls.append((key, cap_gb))
        alloc, reserved = peaks[key]
        if cap_gb:
            alloc, reserved = min(alloc, cap_gb - 1), min(reserved, cap_gb - 0.5)
        out = tmp_path / "verify.json"
        snapshots.append(json.loads(out.read_text()) if out.exists() else None)
        return dict(
            status="ok",
            gpu="NVIDIA X",
            gpu_total_gb=80.0,
            load_s=1.0,
            work_s=1.0,
            rows=16,
            rows_per_s=16.0,
            busy_share=1.0,
            gpu_util=50.0,
            peak_alloc_gb=alloc,
            peak_reserved_gb=reserved,
        )

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(v, "_run_child", fake_child)
    report = v.verify(roles=["image_gen"], real=True, modules=["03"], out=tmp_path / "verify.json", log=lambda *a: None)
    assert calls == [
        ("03 image_gen", None),
        ("03 image_gen, VAE not sliced", None),
        ("03 image_gen, VAE not sliced", 24),
        ("03 image_gen, VAE not sliced", 16),
    ]
    sliced = next(s for s in report["stages"] if s["name"] == "image_gen")["runs"]
    assert sliced["16GB"] == {"status": "ok", "peak_alloc_gb": 8.6, "from_uncapped_run": True}
    assert "| fits (peak 8.6) | fits (peak 8.6) |" in report["table"]
    assert "| ok (15.9) | ok (15.0) |" in report["table"]  # the capped runs' own peaks
    # The second stage's first run found the first stage already on disk.
    saved = snapshots[1]["stages"]
    assert snapshots[0] is None and "runs" in next(s for s in saved if s["name"] == "image_gen")


def test_verify_loads_sdxl_as_the_lessons_imagegen_does(monkeypatch):
    """The stage measures the lessons' code: ``ImageGen.__init__`` of modules 03 and 04 (and their labs) slices the
    VAE, and so does the verify stage (an H200 run without it measured 15.9 GB at 8 images, with it 8.6 GB). The
    unsliced stage is the comparison the lessons' text cites."""
    import diffusers

    from raycourse.fullsize import stages as v  # the stages' model code

    class Pipe:
        def __init__(self):
            self.vae = type(
                "Vae", (), {"sliced": False, "enable_slicing": lambda self: setattr(self, "sliced", True)}
            )()

        def to(self, device):
            return self

        def set_progress_bar_config(self, **kwargs):
            pass

    monkeypatch.setattr(diffusers.AutoPipelineForText2Image, "from_pretrained", lambda *a, **k: Pipe())
    ctx = v.Context("cpu", v.SIZES["small"])
    assert v._sdxl(ctx).vae.sliced and not v._sdxl(ctx, slicing=False).vae.sliced
    stages = []  # every batch stage that loads SDXL: a cell with the load and a __call__
    for path in sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if "AutoPipelineForText2Image.from_pretrained(" in source and "def __call__" in source:
                stages.append(path.name)
                assert "self.pipe.vae.enable_slicing()" in source, path.name
    assert len(stages) >= 4, stages  # lessons 03 and 04, solutions 03 and 04
