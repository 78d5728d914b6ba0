"""What a GPU slot showed, kept as results/gpu/NN.json, and docs/gpu-status.md built from them
(tools/gpu_results.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gpu_results", ROOT / "tools" / "gpu_results.py")
results = importlib.util.module_from_spec(spec)
sys.modules["gpu_results"] = results
spec.loader.exec_module(results)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0"
failures="2" skipped="1" tests="6" time="100.0" timestamp="2026-11-28T06:31:05.000000+00:00" hostname="vm">
<testcase classname="notebooks.05_vit_fine_tuning.ipynb" name="Cell 0" time="8.5"><failure message="pytest plugin
exception: the cell wrote to stderr">E   AssertionError: stderr</failure></testcase>
<testcase classname="notebooks.05_vit_fine_tuning.ipynb" name="Cell 1" time="1.5" />
<testcase classname="notebooks.07_multimodal_pipeline.ipynb" name="Cell 3" time="2.0"><failure message="#x1B[91mNotebook
cell execution failed">ImportError: Dataset.join depends on 'polars'</failure></testcase>
<testcase classname="tests.test_grading" name="test_a_solved_lab_passes_every_exercise[05]" time="50.0" />
<testcase classname="tests.grading.test_grading"
name="test_an_unsolved_lab_is_not_solved_yet_and_runs_without_errors[05]" time="0.0">
<skipped message="tiny profile only" /></testcase>
<testcase classname="tests.test_docs" name="test_other" time="0.1" />
</testsuite></testsuites>"""
SMI = "\n".join(
    [
        "2026/11/28 06:30:00.000, 0, 100",  # before the tests: not counted
        "2026/11/28 06:31:10.000, 80, 2048",
        "2026/11/28 06:32:00.500, 95, 12800",
        "2026/11/28 06:40:00.000, 0, 50000",  # after the tests: not counted
    ]
)


@pytest.fixture
def slot(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "machine.txt").write_text(
        "NVIDIA H200, 580.159.04, 143771 MiB\n16\n2026-11-28T06:26:44Z\nray 2.60.0 transformers 5.23.0 torch 2.11.0\n"
    )
    (out / "tests.xml").write_text(JUNIT)
    (out / "smi.csv").write_text(SMI)
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results" / "gpu")
    monkeypatch.setattr(results, "PAGE", tmp_path / "docs" / "gpu-status.md")
    return out


def test_collect_writes_a_file_per_module_with_each_notebooks_counts_and_the_peak_in_the_tests_window(slot):
    written = results.collect(slot, "run-a", {"05": "five", "": "all"}, "make test")
    assert sorted(p.name for p in written) == ["05.json", "07.json"]
    five = json.loads((results.RESULTS / "05.json").read_text())
    lesson = next(n for n in five["notebooks"] if n["notebook"].startswith("notebooks/05"))
    assert (lesson["passed"], lesson["failed"], lesson["skipped"], lesson["seconds"]) == (1, 1, 0, 10.0)
    assert lesson["not_run"] == results.lesson_cells(lesson["notebook"]) - 2  # the cells that never reported
    solved = next(n for n in five["notebooks"] if n["notebook"].startswith("solved lab 05"))
    assert (solved["passed"], solved["failed"]) == (1, 0)
    unsolved = next(n for n in five["notebooks"] if n["notebook"].startswith("unsolved lab 05"))
    assert unsolved["skipped"] == 1  # the grading tests' folder (tests/grading/) is read as well as the old name
    assert five["status"] == "failed" and five["beside"] == ["07"] and five["note"] == "five"
    assert five["gpu_mem_peak_gib"] == 12.5  # 12,800 MiB, the samples outside the 100 s of tests left out
    assert five["machine"] == "NVIDIA H200, driver 580.159.04, 16 CPUs" and five["software"]["ray"] == "2.60.0"
    seven = json.loads((results.RESULTS / "07.json").read_text())
    assert seven["note"] == "all"
    message = seven["notebooks"][0]["failures"][0]["message"]
    assert message.startswith("ImportError: Dataset.join") and "\x1b" not in message and "#x1B" not in message
    kept = results.RESULTS / "runs" / "run-a"
    assert {"machine.txt", "tests.xml", "smi.csv", "run.json"} <= {p.name for p in kept.iterdir()}


def test_a_slot_cut_short_is_incomplete_not_passed_and_the_page_says_how_many_cells_it_never_reached(slot):
    cells = results.lesson_cells("notebooks/06_clip_embeddings.ipynb")
    cases = "".join(
        f'<testcase classname="notebooks.06_clip_embeddings.ipynb" name="Cell {i}" time="1.0" />'
        for i in range(cells - 3)
    )
    (slot / "tests.xml").write_text(
        '<testsuites><testsuite name="pytest" time="50.0" timestamp="2026-11-28T06:31:05">'
        + cases
        + "</testsuite></testsuites>"
    )
    results.collect(slot, "run-b", {}, "make test")
    six = json.loads((results.RESULTS / "06.json").read_text())
    assert six["status"] == "incomplete" and six["notebooks"][0]["not_run"] == 3
    assert f"{cells - 3} / 0 / 0 (3 not reached)" in results.page()
    whole = "".join(
        f'<testcase classname="notebooks.06_clip_embeddings.ipynb" name="Cell {i}" time="1.0" />' for i in range(cells)
    )
    (slot / "tests.xml").write_text(
        '<testsuites><testsuite name="pytest" time="50.0" timestamp="2026-11-28T06:31:05">'
        + whole
        + "</testsuite></testsuites>"
    )
    results.collect(slot, "run-c", {}, "make test")
    assert json.loads((results.RESULTS / "06.json").read_text())["status"] == "passed"


def test_collect_refuses_a_folder_that_is_no_slot(tmp_path):
    with pytest.raises(SystemExit, match="no machine.txt"):
        results.collect(tmp_path, "run-x", {}, "")


def test_the_page_has_a_row_per_module_and_says_never_where_nothing_ran(slot, capsys):
    results.collect(slot, "run-a", {}, "make test")
    text = results.page()
    from raycourse import catalogue

    rows = [line for line in text.splitlines() if line[:5].startswith("| ") and line[2:4].isdigit()]
    assert [r[2:4] for r in rows] == [m.number for m in catalogue.modules(ROOT)]
    assert "| 05 | run-a | NVIDIA H200" in text and "| 03 | never |" in text
    assert results.main(["page", "--check"]) == 1  # not written yet: stale
    assert results.main(["page"]) == 0 and results.main(["page", "--check"]) == 0


def test_the_stored_status_page_is_what_the_stored_results_say():
    """docs/gpu-status.md is generated: edit results/gpu/ (tools/gpu_results.py collect), then `page`."""
    assert results.PAGE.read_text() == results.page(), "run `python tools/gpu_results.py page`"
