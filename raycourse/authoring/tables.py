"""The guides' tables of modules, generated from the modules' facts (``modules/NN_slug.toml``, read through
:mod:`raycourse.catalogue`): the README's module table (and its gallery, :mod:`.gallery`), the workshop schedules
(docs/workshop.md), the GPU table (docs/gpu.md), what has run where with the soak's run times (docs/measured.md), and
what each lab's checks judge (docs/checks.md, from the check tests' lists: :mod:`.requirements`).

Each table sits between ``<!-- facts: NAME -->`` and ``<!-- /facts -->`` in its page; the text around it is the
page's own. ``python -m raycourse.authoring.tables`` rewrites the tables (the scaffold runs it for a new module);
tests/docs/test_docs.py fails while a page differs from what the facts give.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .. import catalogue
from ..errors import CourseError
from . import gallery, requirements

# Where each schedule starts, what opens and closes it (the workshop's own rows, not a module's).
SCHEDULES = {
    "half day": dict(
        start=0,
        opening=(10, "welcome; module 00 (environment check) on every machine, already run the day before (see below)"),
        closing="wrap-up; fast finishers: module {next}'s lesson",
    ),
    "full day": dict(start=5 * 60, opening=None, closing="wrap-up"),
    "second morning": dict(start=0, opening=None, closing=None),
    "production day": dict(
        start=0,
        opening=(15, "recap of modules 06 and 08; `make lab` on every machine prints a Metrics address (Prometheus)"),
        closing="wrap-up: which of the day's tools your own pipeline needs first",
    ),
}


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _minutes(facts) -> str:
    return f"{facts.lesson_minutes} + {facts.lab_minutes} min" if facts.lab_minutes else f"{facts.lesson_minutes} min"


def readme_modules(modules: list[catalogue.Module]) -> str:
    rows = [
        [
            m.number,
            f"[{m.facts.title}](notebooks/{m.lesson.name})",
            _minutes(m.facts),
            str(m.facts.gpus or "none"),
            m.facts.learn,
        ]
        for m in modules
    ]
    return _table(["#", "module", "lesson + lab", "GPUs", "you learn"], rows)


def schedule(modules: list[catalogue.Module], part: str) -> str:
    spec, now, rows = SCHEDULES[part], SCHEDULES[part]["start"], []
    if spec["opening"]:
        rows.append([_clock(now), spec["opening"][1]])
        now += spec["opening"][0]
    mine = [m for m in modules if m.facts.part == part]
    for m in mine:
        f = m.facts
        lab = f", lab {f.lab_minutes} min" if f.lab_minutes is not None else ""
        rows.append(
            [_clock(now), f"{m.number} {f.title}: lesson {f.lesson_minutes} min{lab}" + (f" {f.note}" * bool(f.note))]
        )
        now += f.lesson_minutes + (f.lab_minutes or 0)
        if f.break_after:
            rows.append([_clock(now), f"break ({f.break_after} min)"])
            now += f.break_after
    if spec["closing"]:
        later = [m.number for m in modules if mine and m.number > mine[-1].number]
        rows.append([_clock(now), spec["closing"].format(next=later[0] if later else "the next")])
    return _table(["time", "block"], rows)


def gpu_table(modules: list[catalogue.Module]) -> str:
    rows = [[m.number, str(m.facts.gpus or "none"), m.facts.one_gpu, m.facts.more_gpus] for m in modules]
    return _table(["#", "GPUs", "on one GPU", "what 2 or 4 GPUs change"], rows)


def ran_where(modules: list[catalogue.Module]) -> str:
    head = ["#", "`tiny` CI", "two-node", "GPU, full-size random weights", "GPU, real weights", "timed on a GPU"]
    return _table(head, [[m.number, *(m.facts.ran[k] for k in catalogue.RAN[:5])] for m in modules])


def run_times(modules: list[catalogue.Module]) -> str:
    head = ["module", "lesson, pass 1 / pass 2", "lab, solved (the solution notebook), pass 1 / pass 2"]
    rows = [[f"{m.number} {m.facts.title}", m.facts.ran["soak_lesson"], m.facts.ran["soak_lab"]] for m in modules]
    return _table(head, rows)


def _cell_said(cell: dict) -> str:
    from .bench import ray_work

    code = cell["code"].replace("|", "\\|").replace("`", "'")
    said = ray_work(cell, init="`__init__`") or "the driver's own work"
    return f"cell {cell['index']}, {cell['wall_s']} s (`{code}`): {said}"


def where_the_time_goes(root: Path) -> str:
    """``make bench``'s last results (results/bench.json): each notebook's median and its slowest cells."""
    path = root / "results" / "bench.json"
    if not path.is_file():
        return "No `make bench` has written `results/bench.json` yet."
    data = json.loads(path.read_text(encoding="utf-8"))
    head = ["notebook", "median", "its slowest cells, and what Ray did in them"]
    rows = [
        [
            f"`{name}`",
            f"{m['median_s']} s ({m['runs']} run{'s' * (m['runs'] != 1)}, {m['date']})",
            "<br>".join(_cell_said(c) for c in m["slowest"]),
        ]
        for name, m in data["notebooks"].items()
    ]
    return f"{data['machine']}, `{data['profile']}` profile.\n\n" + _table(head, rows)


def tables(root: Path = catalogue.ROOT) -> dict[Path, dict[str, str]]:
    """Each page's generated tables, by the name its markers give them."""
    modules = catalogue.modules(root)
    return {
        root / "README.md": {"gallery": gallery.markdown(root), "modules": readme_modules(modules)},
        root / "docs" / "workshop.md": {part: schedule(modules, part) for part in SCHEDULES},
        root / "docs" / "gpu.md": {"gpus": gpu_table(modules)},
        root / "docs" / "measured.md": {"ran where": ran_where(modules), "run times": run_times(modules)},
        root / "docs" / "bench.md": {"where the time goes": where_the_time_goes(root)},
        root / "docs" / "checks.md": {"requirements": requirements.table(root)},
    }


def _marked(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- facts: {re.escape(name)} -->\n).*?(\n<!-- /facts -->)", re.S)


def render(page: Path, generated: dict[str, str]) -> str:
    """The page with each of its generated tables as the facts give it."""
    text = page.read_text(encoding="utf-8")
    for name, table in generated.items():
        marked = _marked(name)
        if not marked.search(text):
            raise CourseError(
                f"{page.name} has no table '{name}' (between <!-- facts: {name} --> and <!-- /facts -->).",
                "Put the markers back around the table; python -m raycourse.authoring.tables fills them.",
            )
        text = marked.sub(lambda m: m.group(1) + table + m.group(2), text, count=1)
    return text


def stale(root: Path = catalogue.ROOT) -> list[Path]:
    """The pages whose tables differ from what the modules' facts give, and README's pictures that differ from their
    lessons' stored outputs (:mod:`raycourse.authoring.gallery`)."""
    pages = [page for page, generated in tables(root).items() if render(page, generated) != page.read_text("utf-8")]
    return pages + gallery.stale(root)


def write(root: Path = catalogue.ROOT) -> list[Path]:
    """Rewrite every generated table from the facts; return the pages that changed. A page that is not there (a copy
    of the course without its guides) is left out; tests/docs/test_docs.py holds the course to every page."""
    changed = []
    for page, generated in tables(root).items():
        if not page.is_file():
            continue
        text = render(page, generated)
        if text != page.read_text(encoding="utf-8"):
            page.write_text(text, encoding="utf-8")
            changed.append(page)
    return changed + gallery.write(root)


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(catalogue.ROOT)}")
    sys.exit(0)
