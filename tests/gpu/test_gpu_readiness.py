"""The gpu path's readiness on the cards and machines instructors have (issue 43, part 4), where a CPU can show it."""

from __future__ import annotations

import sys
import types

import pytest

from raycourse.authoring import notebooks

ROOT = notebooks.ROOT


class _Stop(Exception):
    pass


def test_lesson_08s_vllm_cell_frees_the_serve_replicas_gpus_before_its_engine_asks_for_one(monkeypatch):
    """The enhancer's replicas hold half of every GPU; a vLLM engine asks for a whole one, so on one GPU it would
    wait forever unless the cell deletes the application first."""
    nb = notebooks.read(ROOT / "notebooks" / "08_serving_and_resilient_jobs.ipynb")
    [cell] = [c for c in nb.cells if c.cell_type == "code" and "vLLMEngineProcessorConfig(" in c.source]
    calls = []

    def build_processor(config, **kwargs):
        calls.append("build_processor")
        raise _Stop

    serve = types.SimpleNamespace(
        delete=lambda name: calls.append(f"delete {name}"), shutdown=lambda: calls.append("shutdown")
    )
    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))  # as where vLLM is installed
    namespace = {
        "MODEL_ID": "Qwen/Qwen2.5-0.5B-Instruct",
        "GPUS": 1,
        "MAX_NEW_TOKENS": 60,
        "chat": lambda p: p,
        "prompts": None,
        "display": print,
        "serve": serve,
        "build_processor": build_processor,
    }
    with pytest.raises(_Stop):
        exec(compile(cell.source, "lesson-08-vllm-cell", "exec"), namespace)
    assert calls[:2] == ["delete enhancer", "build_processor"]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    from raycourse.data import workshop as workshop_data

    out = tmp_path_factory.mktemp("gpu-data")
    workshop_data.generate(out, 0.001, jobs=1)
    return out


def test_the_data_check_reads_one_file_of_each_s3_data_set(drawn, course_env):
    from pyarrow.fs import LocalFileSystem

    from raycourse import data

    asked = []

    def open_fs(uri):  # S3 as a folder: s3://anonymous@BUCKET/KEY is drawn/BUCKET/KEY
        asked.append(uri)
        return LocalFileSystem(), str(drawn / uri.split("@", 1)[1])

    done = data.check_gpu_data(open_fs)
    assert set(done) == set(asked) and len(asked) == 7  # imagenette's 3 classes x 2 splits, and the doggos photos
    assert "s3://anonymous@doggos-dataset/train" in done
    assert all("read" in what and "bytes" in what for what in done.values())


def test_the_data_check_reads_the_local_copy_when_one_is_set(drawn, course_env):
    from raycourse import data

    course_env.setenv("RAYCOURSE_GPU_DATA", str(drawn))

    def no_s3(uri):
        raise AssertionError(f"asked S3 for {uri}")

    done = data.check_gpu_data(no_s3)
    assert len(done) == 7 and all(where.startswith(str(drawn)) for where in done)


def test_no_route_to_s3_says_which_data_set_and_what_to_do(course_env):
    from raycourse import data
    from raycourse.errors import CourseError

    def no_route(uri):
        raise OSError("When resolving region for bucket 'air-example-data-2': AWS Error NETWORK_CONNECTION")

    with pytest.raises(CourseError, match="air-example-data-2.*NETWORK_CONNECTION") as err:
        data.check_gpu_data(no_route)
    assert "no route" in err.value.fix and "make-data --out" in err.value.fix and "RAYCOURSE_GPU_DATA" in err.value.fix

    def hangs(uri):
        import time

        time.sleep(30)

    with pytest.raises(CourseError, match=r"no answer in 0\.2 s"):
        data.check_gpu_data(hangs, timeout=0.2)


def test_make_prefetch_ends_with_the_data_check_and_fails_without_a_route(course_env, monkeypatch, capsys):
    from raycourse import data, models
    from raycourse.__main__ import main
    from raycourse.errors import CourseError

    monkeypatch.setattr(models, "prefetch", lambda roles=None: {"llm": "/cache/qwen"})

    def failing(**kwargs):
        raise CourseError("Could not read the gpu profile's data at s3://x (OSError: no route).", "Open a route.")

    monkeypatch.setattr(data, "check_gpu_data", failing)
    assert main(["prefetch"]) == 1
    assert "Could not read the gpu profile's data" in capsys.readouterr().err
    monkeypatch.setattr(data, "check_gpu_data", lambda **kwargs: {"s3://x": "3 files, read 10 bytes of a.jpg"})
    assert main(["prefetch"]) == 0
    assert "s3://x: 3 files" in capsys.readouterr().out
    monkeypatch.setattr(data, "check_gpu_data", failing)
    assert main(["prefetch", "llm"]) == 0  # one role: the models only


def _qwen_loads():
    """Every code line that loads the course's LLM (Qwen2.5) in a lesson or solved lab, with its notebook."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in notebooks.read(path).cells:
            if cell.cell_type != "code":
                continue
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if 'pipeline("text-generation"' in line or "AutoModel.from_pretrained(text_model" in line:
                    found.append((path.name, lines, i))
    return found


def _cards(monkeypatch, native: bool):
    """torch.cuda as on a card with (an A100, 8.0) or without (a T4, 7.5) native bfloat16; a T4 emulates it."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native or including_emulation)


@pytest.mark.parametrize("native", [True, False], ids=["A100", "T4"])
def test_qwen_loads_as_shipped_where_bfloat16_is_native_and_in_float16_on_a_t4(monkeypatch, native):
    import torch

    loads = _qwen_loads()
    assert {name for name, _, _ in loads} >= {
        "00_environment_check.ipynb",
        "04_llm_prompt_enhancement.ipynb",
        "07_multimodal_pipeline.ipynb",
        "08_serving_and_resilient_jobs.ipynb",
    }
    _cards(monkeypatch, native)
    for name, lines, i in loads:
        call = lines[i] + (lines[i + 1] if not lines[i].rstrip().endswith(")") else "")
        assert 'dtype="auto" if as_shipped else torch.float16' in call, (name, call)
        [rule] = [line.strip() for line in lines[:i] if line.strip().startswith("as_shipped =")][-1:]
        for device in ("cuda", "cpu"):
            scope = {"torch": torch, "device": device, "self": types.SimpleNamespace(device=device)}
            exec(rule, scope)
            dtype = "auto" if scope["as_shipped"] else torch.float16
            assert dtype == ("auto" if native or device == "cpu" else torch.float16), (name, device)


def test_the_measuring_tools_choose_qwens_dtype_as_the_lessons_do(monkeypatch):
    import importlib.util

    import torch

    spec = importlib.util.spec_from_file_location("gpu_levers_dtype", ROOT / "tools" / "gpu_levers.py")
    levers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(levers)
    _cards(monkeypatch, native=False)
    assert levers._dtype("auto") is torch.float16 and levers._dtype("float32") is torch.float32
    _cards(monkeypatch, native=True)
    assert levers._dtype("auto") == "auto"
