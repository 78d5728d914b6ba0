"""The gpu profile's pinned models: the pins file, offline resolution, prefetch, moving a pin.

Nothing here reaches the network: the Hub's answers are stood in for with monkeypatch,
and the cache is the rehearsal's (tiny stand-ins under the real repos' file names).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import raycourse
from raycourse import config, models
from raycourse.models import rehearsal
from raycourse.errors import CourseError


@pytest.fixture(scope="module")
def rehearsal_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf-cache")
    rehearsal.build_cache(cache)
    return cache


@pytest.fixture
def gpu_cache(course_env, rehearsal_cache):
    """The gpu profile, offline, reading the rehearsal cache."""
    import huggingface_hub.constants as hub_constants

    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setenv("HF_HUB_OFFLINE", "1")
    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(rehearsal_cache))
    return rehearsal_cache


def test_every_role_is_pinned_to_exact_files_at_a_commit():
    assert set(config.MODEL_ROLES) == {"image_gen", "llm", "vit", "clip", "speech"}
    for spec in config.MODEL_ROLES.values():
        assert re.fullmatch(r"[0-9a-f]{40}", spec.revision), spec.name
        assert spec.files and len(set(spec.files)) == len(spec.files), spec.name
        assert not any(ch in f for f in spec.files for ch in "*?["), "exact file names, no patterns"
        assert set(spec.sizes) <= set(spec.files) and spec.licence
    sdxl = config.MODEL_ROLES["image_gen"]
    weights = [f for f in sdxl.files if f.endswith(".safetensors")]
    assert sdxl.variant == "fp16" and len(weights) == 4 and all(".fp16." in f for f in weights)
    assert not any(f.startswith("sd_xl_turbo") or f.endswith((".onnx", ".onnx_data")) for f in sdxl.files)
    assert "pytorch_model.bin" in config.MODEL_ROLES["clip"].files  # its main branch has no safetensors


def test_a_broken_pins_file_says_how_to_restore_it(tmp_path):
    broken = tmp_path / "models.toml"
    broken.write_text(config.PINS_FILE.read_text().replace(config.MODEL_ROLES["vit"].revision, "main"))
    with pytest.raises(CourseError, match="no valid pin for the model role 'vit'") as err:
        config.load_pins(broken)
    assert "pins --move vit" in err.value.fix


def test_gpu_profile_loads_the_pinned_snapshot_from_the_cache(gpu_cache):
    for role, spec in config.MODEL_ROLES.items():
        path = Path(raycourse.model_id(role))
        assert path == gpu_cache / f"models--{spec.hub_id.replace('/', '--')}" / "snapshots" / spec.revision
        assert all((path / f).is_file() for f in spec.files)
        assert spec.revision[:12] in models.describe(role)
    assert raycourse.model_id("llm", check=False) == "Qwen/Qwen2.5-0.5B-Instruct"


def test_a_missing_model_names_the_role_and_make_prefetch(course_env, tmp_path):
    import huggingface_hub.constants as hub_constants

    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CourseError, match="role 'clip'") as err:
        raycourse.model_id("clip")
    assert "make prefetch" in err.value.fix and "RAYCOURSE_PROFILE=tiny" in err.value.fix


@pytest.mark.parametrize(
    "role, left_out",
    [
        ("image_gen", "tokenizer_2/vocab.json"),
        ("image_gen", "unet/config.json"),
        ("llm", "tokenizer_config.json"),  # the chat template lives there
        ("vit", "preprocessor_config.json"),
        ("clip", "pytorch_model.bin"),
        ("speech", "preprocessor_config.json"),
    ],
)
def test_a_pin_without_one_of_its_files_cannot_load(course_env, tmp_path, monkeypatch, role, left_out):
    """What the rehearsal guards: a file missing from a pin is a failed load, before a workshop."""
    import huggingface_hub.constants as hub_constants

    rehearsal.build_cache(tmp_path, [role], leave_out={role: [left_out]})
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CourseError, match=re.escape(left_out)):
        raycourse.model_id(role)
    # ... and had the pin forgotten the file, the model itself would not load from the snapshot:
    spec = config.MODEL_ROLES[role]
    trimmed = config.ModelRole(**{**spec.__dict__, "files": tuple(f for f in spec.files if f != left_out)})
    monkeypatch.setitem(config.MODEL_ROLES, role, trimmed)
    folder = Path(raycourse.model_id(role))
    with pytest.raises(Exception):
        _load(role, folder)


def _load(role: str, folder: Path):
    """Load a role the way the notebooks do (CPU, float32)."""
    import torch

    if role == "image_gen":
        from diffusers import AutoPipelineForText2Image

        return AutoPipelineForText2Image.from_pretrained(str(folder), dtype=torch.float32, variant="fp16")
    if role == "llm":
        from transformers import pipeline

        chat = pipeline("text-generation", model=str(folder), device="cpu")
        return chat([{"role": "user", "content": "hi"}], max_new_tokens=2)
    if role == "vit":
        from transformers import ViTForImageClassification, ViTImageProcessor

        return ViTImageProcessor.from_pretrained(str(folder)), ViTForImageClassification.from_pretrained(
            str(folder), num_labels=2
        )
    if role == "speech":
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        processor = WhisperProcessor.from_pretrained(str(folder))
        model = WhisperForConditionalGeneration.from_pretrained(str(folder))
        features = processor([[0.0] * 16_000], sampling_rate=16_000, return_tensors="pt").input_features
        return processor.batch_decode(model.generate(features, max_new_tokens=2), skip_special_tokens=True)
    from transformers import CLIPModel, CLIPProcessor

    return CLIPProcessor.from_pretrained(str(folder)), CLIPModel.from_pretrained(str(folder))


@pytest.mark.parametrize("role", list(config.MODEL_ROLES))
def test_the_rehearsal_snapshot_loads_like_the_real_repo(gpu_cache, role):
    assert _load(role, Path(raycourse.model_id(role))) is not None


def test_prefetch_downloads_exactly_the_pinned_files(course_env, tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as hub_constants

    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    calls = []

    def fake_download(repo_id, revision=None, allow_patterns=None, **kwargs):  # what the Hub would do
        calls.append((repo_id, revision, allow_patterns))
        rehearsal.build_cache(tmp_path, ["vit"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    spec = config.MODEL_ROLES["vit"]
    assert models.prefetch(["vit"]) == {
        "vit": str(tmp_path / "models--google--vit-base-patch16-224-in21k" / "snapshots" / spec.revision)
    }
    assert calls == [(spec.hub_id, spec.revision, list(spec.files))]
    models.prefetch(["vit"])  # already cached: nothing is downloaded again
    assert len(calls) == 1


def test_prefetch_fails_clearly_on_a_pin_that_does_not_exist(course_env, tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as hub_constants
    from huggingface_hub.errors import RevisionNotFoundError

    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))

    def no_such_commit(*args, **kwargs):
        raise RevisionNotFoundError(
            "404 Client Error: Revision Not Found",
            response=SimpleNamespace(headers={}, status_code=404, request=None, url="", text=""),
        )

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_such_commit)
    with pytest.raises(CourseError, match="pin of role 'llm' does not exist") as err:
        models.prefetch(["llm"])
    assert "pins --move llm" in err.value.fix


def test_prefetch_fails_when_the_commit_lacks_a_pinned_file(course_env, tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as hub_constants

    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda *a, **k: rehearsal.build_cache(tmp_path, ["clip"], leave_out={"clip": ["pytorch_model.bin"]}),
    )
    with pytest.raises(CourseError, match="has no file pytorch_model.bin"):
        models.prefetch(["clip"])


@pytest.mark.parametrize("wrapped", [False, True])
def test_prefetch_on_a_full_disk_says_the_disk_not_the_network(course_env, tmp_path, monkeypatch, wrapped):
    import errno

    import huggingface_hub
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hub"  # not made yet: the room is measured on the nearest folder that exists
    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(cache))

    def disk_full(*args, **kwargs):
        error = OSError(errno.ENOSPC, "No space left on device")
        if not wrapped:
            raise error
        try:
            raise error
        except OSError as inner:  # as a library that catches and raises its own error would
            raise RuntimeError("Data processing error: download failed") from inner

    monkeypatch.setattr(huggingface_hub, "snapshot_download", disk_full)
    with pytest.raises(CourseError, match="The disk is full") as err:
        models.prefetch(["clip"])
    assert str(cache) in err.value.problem and " GB are free there" in err.value.problem
    assert "internet" not in str(err.value) and "HF_HUB_CACHE" in err.value.fix

    def offline(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url: /api/models")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CourseError, match="Could not download") as err:  # the network: as before
        models.prefetch(["clip"])
    assert "internet connection" in err.value.fix

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(cache / "models--x"))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", read_only)
    with pytest.raises(CourseError, match="Could not write") as err:
        models.prefetch(["clip"])
    assert "writable" in err.value.fix and "internet" not in str(err.value)


def test_moving_a_pin_checks_the_files_and_rewrites_the_pins_file(tmp_path, monkeypatch):
    import huggingface_hub

    pins = tmp_path / "models.toml"
    shutil.copy(config.PINS_FILE, pins)
    spec = config.MODEL_ROLES["vit"]
    new = "0123456789abcdef0123456789abcdef01234567"
    siblings = [SimpleNamespace(rfilename=f, size=1000 + i) for i, f in enumerate(spec.files)]
    monkeypatch.setattr(
        huggingface_hub,
        "model_info",
        lambda repo, revision=None, files_metadata=False: SimpleNamespace(sha=new, siblings=siblings),
    )
    assert models.move_pin("vit", path=pins) == new
    moved = config.load_pins(pins)
    assert moved["vit"].revision == new and moved["vit"].sizes == {f: 1000 + i for i, f in enumerate(spec.files)}
    assert moved["clip"] == config.MODEL_ROLES["clip"] and moved["clip"].sizes == config.MODEL_ROLES["clip"].sizes
    monkeypatch.setattr(
        huggingface_hub,
        "model_info",
        lambda repo, revision=None, files_metadata=False: SimpleNamespace(sha=new, siblings=siblings[1:]),
    )
    with pytest.raises(CourseError, match="lacks"):
        models.move_pin("vit", path=pins)


def test_the_gpu_profile_on_a_machine_without_a_gpu_says_so(course_env, monkeypatch):
    assert "tiny" in models.check_profile()
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    monkeypatch.setattr(config, "gpu_count", lambda: 0)
    with pytest.raises(CourseError, match="needs an NVIDIA GPU") as err:
        models.check_profile()
    assert "make test" in err.value.fix


def test_a_gpu_that_torch_cannot_use_names_the_driver_and_what_to_do(course_env, monkeypatch):
    """NVML sees a GPU, but this torch build cannot use it (a driver older than its CUDA): stop, say why."""
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    monkeypatch.setattr(config, "gpu_count", lambda: 1)
    monkeypatch.setattr(models, "_driver_version", lambda: "535.104.05")
    with pytest.raises(CourseError, match="driver 535.104.05") as err:
        models.check_profile()  # here torch (in a fresh process) finds no CUDA, as with a too-old driver
    assert "cannot use them" in str(err.value) and "580" in err.value.fix


def test_the_torch_probe_asks_a_fresh_process_and_reports_this_torch():
    import torch

    info = models.torch_gpus()
    assert info["torch"] == torch.__version__ and info["usable"] is torch.cuda.is_available()
    assert info["count"] == (torch.cuda.device_count() if info["usable"] else 0)


def test_the_gpu_profile_without_its_models_says_make_prefetch(course_env, monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    course_env.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(config, "gpu_count", lambda: 1)
    monkeypatch.setattr(
        models,
        "torch_gpus",
        lambda: {"usable": True, "count": 1, "name": "NVIDIA L4", "driver": "580.1", "torch": "2.14.1", "cuda": "13.0"},
    )
    with pytest.raises(CourseError, match="image_gen, llm, vit, clip") as err:
        models.check_profile()
    assert "make prefetch" in err.value.fix


def _probe(**info):
    return {
        "usable": False,
        "count": 1,
        "name": "Tesla V100-SXM2-16GB",
        "driver": "580.95.05",
        "torch": "2.14.1",
        "cuda": "13.0",
        "error": "AcceleratorError: CUDA error: no kernel image is available for execution",
        "capability": [7, 0],
        "arch_list": ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
        **info,
    }


def test_a_card_older_than_the_torch_build_says_so_not_update_the_driver(course_env, monkeypatch):
    """A V100 (7.0) or P100 (6.0) with a new driver: torch's CUDA 13 wheels have no kernels for it."""
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    monkeypatch.setattr(config, "gpu_count", lambda: 1)
    for capability, name in (([7, 0], "Tesla V100-SXM2-16GB"), ([6, 0], "Tesla P100-PCIE-16GB")):
        monkeypatch.setattr(models, "torch_gpus", lambda: _probe(capability=capability, name=name))
        with pytest.raises(
            CourseError, match=rf"{name} has compute capability {capability[0]}\.{capability[1]}"
        ) as err:
            models.check_profile()
        assert "7.5 and up" in err.value.problem and "no driver update" in err.value.problem
        assert "T4" in err.value.fix and f"sm_{capability[0]}{capability[1]}" in err.value.fix
        assert "580" not in err.value.fix  # not the driver advice


def test_a_card_the_build_supports_gets_the_driver_advice_when_torch_cannot_use_it(course_env, monkeypatch):
    course_env.setenv("RAYCOURSE_PROFILE", "gpu")
    monkeypatch.setattr(config, "gpu_count", lambda: 1)
    for probe in (_probe(capability=[7, 5], name="Tesla T4"), _probe(capability=None, arch_list=[])):
        monkeypatch.setattr(models, "torch_gpus", lambda: probe)
        with pytest.raises(CourseError, match="cannot use them") as err:
            models.check_profile()
        assert "580" in err.value.fix
    assert models.card_too_old(_probe(capability=[8, 9])) is None
    assert models.card_too_old(_probe(capability=[7, 0], arch_list=["sm_70", "sm_75"])) is None


def test_the_torch_probe_reports_the_capability_and_arch_list_where_cuda_works():
    import torch

    info = models.torch_gpus()
    if torch.cuda.is_available():
        assert info["capability"] == list(torch.cuda.get_device_capability(0))
        assert info["arch_list"] == torch.cuda.get_arch_list()
    else:
        assert info["capability"] is None and info["arch_list"] == []
