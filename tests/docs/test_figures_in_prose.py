"""A figure in a notebook's prose comes from the run, or says where it comes from (issue 53).

A measured figure typed into markdown goes stale at the next recording: the text then contradicts the outputs
stored beside it (a "95.0 %" printed under prose that says "77.5 %"). So every figure in a lesson's or solution's
markdown (a number with a unit of time, rate, share or size, or any decimal) must be one of:

- **in its stored outputs**: the run printed it (the same number, in any output of the notebook);
- **a setting of its code**: the number is in the notebook's code (``batch_size=16``; ``50 ms`` where the code
  says ``0.05``; ``50 %`` where it says ``0.5``);
- **sourced**: its sentence dates it (``2026-11-26``), links to where it was measured, or names it an expectation
  or a library default (``expect``, ``default``);
- the module's **Estimated time** (its facts file: ``tests/notebooks/test_catalogue.py`` holds the two equal);
- an **answer option** of a quiz (``**b**: 40 times``), which claims nothing;
- or listed in :data:`NOT_MEASURED` with why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))

UNIT = r"ms|s|sec|seconds?|min|minutes?|hours?|%|rows/s|rows per second|images/s|GiB|GB|MiB|MB|KiB|KB|x|×|times"
FIGURE = re.compile(rf"(?<![\w.=/#-])(\d+(?:,\d{{3}})*(?:\.\d+)?)\s?({UNIT})?(?![\w/])")
SOURCED = re.compile(r"\b20\d\d-\d\d-\d\d\b|\]\([^)]*\)|\bexpect|\bdefault|\btypical of\b", re.I)
OPTION = re.compile(r"\*\*[a-e]\*\*:|^\s*\*\*\d+\.\*\*")  # a quiz's answer option, or its question
VERSION = re.compile(r"(?:Ray|Python|``)\s$|\d\.$")  # what comes before a version number: "Ray 2.60", "`decord` 0.6"
# Figures that are not measured, by notebook and figure: each with where it comes from.
NOT_MEASURED = {
    ("00_environment_check", "7 GB"): "SDXL-Turbo's weights: about 3.5 billion parameters of 2 bytes",
    ("01_ingest_and_transform", "128 MiB"): "Ray 2.60's DataContext.target_max_block_size",
    ("03_image_generation", "7 GB"): "SDXL-Turbo's float16 weights: about 3.5 billion parameters of 2 bytes",
    ("04_llm_prompt_enhancement", "1.2"): "arithmetic: two actors of num_gpus=0.6",
    ("04_llm_prompt_enhancement", "12 MiB"): "arithmetic: sixteen rows of 0.75 MiB",
    ("05_vit_fine_tuning", "80 %"): "arithmetic: what test_size=0.2 leaves for training",
    ("07_multimodal_pipeline", "50 %"): "arithmetic: chance between two classes",
    ("09_audio_and_video", "3.5 s"): "an example: frames one second apart find a change at 3.5 s at 3.0 or 4.0",
    ("03_image_generation_lab", "0.75 MiB"): "arithmetic: 512 x 512 x 3 bytes",
    ("03_image_generation_lab", "4.5 MiB"): "arithmetic: six images of 0.75 MiB",
    ("12_two_models_online_lab", "0.07"): "a rule, not a result: the stretch check's tolerance on simulated power",
}


def _texts(cells, kind: str) -> str:
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == kind)


def _outputs(cells) -> str:
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for mime in ("text/plain", "text/html", "text/markdown"):
                parts.append("".join(out.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:\.\d+)?", text.replace(",", "")))


def _shown(number: str, unit: str | None, outputs: str) -> bool:
    """Whether the outputs print the figure: the number, and with a unit the same kind of unit after it."""
    after = rf"\s?{re.escape(unit[0])}" if unit else r"(?![\d.])"
    return re.search(rf"(?<![\d.]){re.escape(number)}{after}", outputs) is not None


def _as_setting(number: str, unit: str | None) -> set[str]:
    """How the code may write the figure: as typed, and ms as seconds, % as a fraction."""
    value = float(number)
    forms = {number, f"{value:g}"}
    if unit == "ms":
        forms.add(f"{value / 1000:g}")
    if unit == "%":
        forms.add(f"{value / 100:g}")
    return forms


def _sentence(text: str, start: int, end: int) -> str:
    begin = max(text.rfind(". ", 0, start), text.rfind("\n\n", 0, start), 0)
    stop = min([i for i in (text.find(". ", end), text.find("\n\n", end)) if i >= 0] or [len(text)])
    return text[begin:stop]


def unsourced_figures(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    code, outputs = _tokens(_texts(cells, "code")), _outputs(cells).replace(",", "")
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        lines = "".join(cell["source"]).split("\n")
        kept = [line for line in lines if not OPTION.search(line) and "Estimated time:**" not in line]
        prose = re.sub(r"`[^`]*`", "``", "\n".join(kept))  # code spans are settings and names, not claims
        for match in FIGURE.finditer(prose):
            number, unit = match.group(1).replace(",", ""), match.group(2)
            if unit is None and "." not in number:
                continue  # a count or an ordinal with no unit: "two actors", "module 05"
            if VERSION.search(prose[: match.start()]) or re.match(r"\.\d", prose[match.end() :]):
                continue  # a version: "Ray 2.60", "0.6.0"
            typed = match.group(0).strip()
            if _shown(number, unit, outputs) or _as_setting(number, unit) & code:
                continue
            if SOURCED.search(_sentence(prose, match.start(), match.end())):
                continue
            if (path.stem, typed) in NOT_MEASURED:
                continue
            line = prose[prose.rfind("\n", 0, match.start()) + 1 :].split("\n", 1)[0]
            found.append(f"cell {index}: {typed!r} in {line.strip()[:160]!r}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_in_the_prose_comes_from_the_run_or_says_where_it_comes_from(path):
    found = unsourced_figures(path)
    assert not found, (
        f"{path.name}: figures typed into the prose that its stored outputs do not show and no source names "
        "(print them from the run, name the run or the expectation with a date or a link, or list them in "
        "NOT_MEASURED with why):\n" + "\n".join(found)
    )


def test_a_figure_the_outputs_contradict_is_found(tmp_path):
    """Lesson 05's old cell 53 said "77.5 % and 100 %" beside a printed 95.0 %."""
    nb = {
        "cells": [
            {"cell_type": "code", "source": "print(acc)", "outputs": [{"output_type": "stream", "text": "95.0 %\n"}]},
            {"cell_type": "markdown", "source": "It reached 77.5 % and 100 % in the end.\n\nAll 95.0 % of them."},
            {"cell_type": "markdown", "source": "On the H200 (2026-11-28) it crossed 90 %. A pass shared 6.2 rows."},
            {"cell_type": "markdown", "source": "**a**: 40 times · **b**: 2 times\n\nExpect about 3 s per batch."},
        ]
    }
    path = tmp_path / "05_x.ipynb"
    path.write_text(json.dumps(nb))
    found = unsourced_figures(path)
    assert [f.split(":")[1].strip() for f in found] == ["'77.5 %' in 'It reached 77.5 % and 100 % in the end.'"] * 1 + [
        "'100 %' in 'It reached 77.5 % and 100 % in the end.'",
        "'6.2' in 'On the H200 (2026-11-28) it crossed 90 %. A pass shared 6.2 rows.'",
    ], found
