"""``python -m raycourse.authoring new-module 08 "Serving embeddings"``: a new module from the template.

It writes the five files every module has, each already in the course's shape:

- ``notebooks/08_serving_embeddings.ipynb``: the lesson, with every section of the template
  (``template.py``): title, promise, prerequisites, time, a first section with two try-its, the
  quiz cells, key concepts, the lab link and what's next;
- ``raycourse/checks/quiz08.py``: the lesson's quiz (four questions to rewrite);
- ``solutions/08_serving_embeddings_lab.ipynb``: the lab's single source, with one exercise (a
  ``# BEGIN SOLUTION`` region and its check cell), a stretch exercise and the progress cell;
- ``raycourse/checks/lab08.py``: the checks, one per exercise, in the labs' style (checks that outgrow 600 lines
  become a package ``lab08/``, a module per exercise, as lab 05's are);
- ``tests/checks/test_checks_lab08.py``: tests that the checks pass a right answer and reject the
  placeholder and a wrong one, each marked ``fast`` (what ``make test-fast`` keeps: docs/testing.md);
- ``modules/08_serving_embeddings.toml``: the module's facts (:class:`raycourse.catalogue.Facts`): its title, its
  minutes, its GPUs and models, where it has run. The README's and the guides' tables of modules are generated from
  them (:mod:`raycourse.authoring.tables`), so the scaffold rewrites those tables too.

Then run ``make labs`` (the lab from the solution) and ``python -m raycourse.authoring quizzes``.
Every ``TODO`` marks text to write; the scaffold runs as it is (tests/notebooks/test_template.py runs it),
so an author starts from a module that passes, and fills it in. Nothing existing is overwritten.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .. import catalogue
from ..errors import CourseError
from . import notebooks, tables

LESSON_MINUTES, LAB_MINUTES = 30, 20  # the scaffold's Estimated time, in its notebooks and in its facts

KERNEL = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def _previous_module(root: Path, number: str) -> catalogue.Module | None:
    earlier = [m for m in catalogue.modules(root) if m.number < number]
    return earlier[-1] if earlier else None


def _quiz_cells(number: str, title: str):
    """The lesson's quiz cells, from the quiz module this scaffold writes (not yet importable)."""
    from .quizzes import cells_for

    namespace: dict = {}
    exec(quiz_module(number, title).replace("from .quiz import", "from raycourse.checks.quiz import"), namespace)
    return cells_for(namespace["QUIZ"])


def lesson(number: str, title: str, name: str, previous: catalogue.Module | None):
    prereq = f"[{previous.label}]({previous.lesson.name})" if previous else "the course environment (`make lab`)"
    quiz_text, quiz_answers = _quiz_cells(number, title)
    cells = [
        new_markdown_cell(
            f"# {number} · {title}\n\n"
            "TODO: one paragraph: what this module builds, and why a data or ML engineer needs it.\n\n"
            "**After this module you will be able to**\n\n"
            "- TODO: a skill, as a verb the learner can be checked on (build, explain, choose, measure);\n"
            "- TODO: a second skill.\n\n"
            f"**Prerequisites:** {prereq}. **Estimated time:** {LESSON_MINUTES} minutes."
        ),
        new_code_cell("import ray\n\nimport raycourse\n\nraycourse.init()"),
        new_markdown_cell(
            "## 1. TODO: the first idea\n\n"
            "TODO: *why* before *how*: the problem this step solves, then the API that solves it."
        ),
        new_code_cell("ds = ray.data.range(8)  # TODO: a short cell that shows the idea\nds.count()"),
        new_markdown_cell(
            "> **Try it.** TODO: ask the learner to predict, then change one thing in the cell above. Change "
            "`range(8)` to `range(3)`: what will `count()` say? You should see `3`."
        ),
        new_markdown_cell("TODO: what the result shows, and the next step."),
        new_code_cell("ds.take(2)  # TODO"),
        new_markdown_cell(
            "> **Try it.** TODO: a second prompt. Ask for `ds.take(5)` instead: how many rows come back? "
            "You should see five."
        ),
        quiz_text,
        quiz_answers,
        new_markdown_cell(
            "## Key concepts and APIs\n\n"
            "| concept | API |\n| --- | --- |\n| TODO: a concept | `TODO: its API` |\n\n"
            f"**Lab:** [labs/{name}_lab.ipynb](../labs/{name}_lab.ipynb): TODO: what the learner builds.\n\n"
            "**What's next:** TODO: the next module, or where to go from here."
        ),
    ]
    return new_notebook(cells=cells, metadata=KERNEL)


def solution(number: str, title: str, name: str):
    cells = [
        new_markdown_cell(
            f"# Lab {number} · {title}\n\n"
            "TODO: what the learner builds in this lab. Each exercise ends with a **check** cell: run it after "
            "your code, and it tells you at once whether the exercise is solved, or what is still wrong.\n\n"
            "**How to work:** replace each `...` under a `# TODO` line with your code, run the cell, then run the "
            f"check below it. Run the setup cell first. **Estimated time:** {LAB_MINUTES} minutes."
        ),
        new_markdown_cell(
            f"> **This is the solution notebook.** The lab with placeholders is `labs/{name}_lab.ipynb`;\n"
            "> try it before you read on.",
            metadata={"tags": ["solution-only"]},
        ),
        new_code_cell(
            f"import ray\n\nimport raycourse\nfrom raycourse.checks import lab{number} as check\n\nraycourse.init()"
        ),
        new_markdown_cell(
            "## Exercise 1: TODO\n\nTODO: the task. Build a Dataset `evens` with the even numbers "
            "below 10 from `ray.data.range(10)`."
        ),
        new_code_cell(
            "# BEGIN SOLUTION: build `evens`\n"
            'evens = ray.data.range(10).filter(expr=ray.data.expressions.col("id") % 2 == 0)\n'
            "# END SOLUTION"
        ),
        new_code_cell("check.exercise_1(evens)", metadata={"tags": ["check"]}),
        new_markdown_cell(
            "## Stretch: TODO\n\nFor fast finishers. TODO: a harder variation. Count `evens` into `n_evens`."
        ),
        new_code_cell("# BEGIN SOLUTION: count `evens`\nn_evens = evens.count()\n# END SOLUTION"),
        new_code_cell("check.stretch(n_evens)", metadata={"tags": ["check"]}),
        new_markdown_cell(
            "## Your progress\n\nEvery exercise of this lab, with the verdict its check cell gave when you last ran "
            "it in this session; this cell runs no check itself."
        ),
        new_code_cell("check.progress()"),
    ]
    return new_notebook(cells=cells, metadata=KERNEL)


def checks_module(number: str, title: str) -> str:
    return f'''"""Lab {number} checks ({title}): pass any correct answer, reject placeholders and plausible mistakes."""

from __future__ import annotations

from ._core import Wrong, exercise, progress_of, require

progress = progress_of(__name__)  # the lab's last cell: check.progress()


# Each check in two halves: the observer (decorated) runs in the learner's kernel and returns plain data; its judge
# decides from that data alone, in the grader's process when a notebook is graded (a pass never comes from the kernel).


def _judge_1(seen, seed=None) -> str:
    found = sorted(seen["ids"])
    if found != [0, 2, 4, 6, 8]:
        raise Wrong(f"`evens` holds {{found}}.", 'Keep the rows whose id divides by 2 (`col("id") % 2 == 0`).')
    return "five even numbers."


@exercise("Exercise 1 · TODO", judge=_judge_1)
def exercise_1(evens):
    require("evens", evens, "a Dataset of the even numbers below 10")
    return {{"ids": [int(row["id"]) for row in evens.take_all()]}}


def _judge_stretch(seen, seed=None) -> str:
    if seen["n_evens"] != 5:
        raise Wrong(f"`n_evens` is {{seen['n_evens']}}.", "Count the rows of `evens` with `count()`.")
    return "5 rows."


@exercise("Stretch · TODO", judge=_judge_stretch)
def stretch(n_evens):
    require("n_evens", n_evens, "the number of rows in `evens`")
    whole = isinstance(n_evens, int) and not isinstance(n_evens, bool)
    return {{"n_evens": int(n_evens) if whole else repr(n_evens)}}
'''


def quiz_module(number: str, title: str) -> str:
    questions = []
    for n in range(1, 5):
        questions.append(f"""    Question(
        "TODO: question {n}: a concept of this lesson, asked as a situation the learner meets.",
        {{
            "a": ("TODO: the right answer.", "TODO: why this is right, in the lesson's own terms ({n})."),
            "b": ("TODO: a common misconception.", "TODO: why this is wrong and what actually happens ({n})."),
            "c": (
                "TODO: another misconception.",
                "TODO: why this one is wrong too, and where the lesson shows it ({n}).",
            ),
        }},
        right="a",
    ),""")
    body = textwrap.indent("\n".join(questions), "    ")  # as ruff format lays the list out
    return (
        f'"""The quiz of lesson {number} ({title})."""\n\nfrom .quiz import Question, Quiz\n\n'
        f'QUIZ = Quiz(\n    "{number}",\n    [\n{body}\n    ],\n)\n\ncheck = QUIZ.check\n'
    )


def check_tests(number: str) -> str:
    return f'''"""Lab {number} checks: pass any correct answer, reject placeholders and plausible mistakes."""

import pytest

from raycourse.checks import lab{number}

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")


@pytest.fixture(scope="module")
def ray_data(ray_session):
    import ray

    return ray.data


# Exercise 1 requires (the lab's text, sentence by sentence; docs/checks.md counts these lists):
#   R1 `evens` the even numbers below 10: test_ex1_rejects_the_odd_numbers


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    assert lab{number}.exercise_1.result(...).status == "not solved"


@pytest.mark.fast
def test_ex1_accepts_a_filter_and_a_range_with_a_step(ray_data):
    from ray.data.expressions import col

    assert lab{number}.exercise_1.result(ray_data.range(10).filter(expr=col("id") % 2 == 0)).passed
    assert lab{number}.exercise_1.result(ray_data.from_items([{{"id": i}} for i in range(0, 10, 2)])).passed


@pytest.mark.fast
def test_ex1_rejects_the_odd_numbers(ray_data):
    from ray.data.expressions import col

    verdict = lab{number}.exercise_1.result(ray_data.range(10).filter(expr=col("id") % 2 == 1))
    assert verdict.status == "wrong" and "% 2 == 0" in verdict.hint


# The stretch requires:
#   R1 `n_evens` the count of `evens`: test_stretch_rejects_another_count


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab{number}.stretch.result(...).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_the_count():
    assert lab{number}.stretch.result(5).passed


@pytest.mark.fast
def test_stretch_rejects_another_count():
    assert lab{number}.stretch.result(10).status == "wrong"
'''


def facts(number: str, title: str) -> str:
    """The new module's facts file: a CPU module with no model, scheduled on the second morning, never run yet."""
    ran = "\n".join(f'{key} = "never"' for key in catalogue.RAN[:5])
    return f"""# Module {number}'s facts, in one place: raycourse.catalogue reads them (Module.facts).
# docs/authoring.md says what each field holds. After an edit: python -m raycourse.authoring.tables.
title = {_toml(title)}
learn = "TODO: what the learner learns, as README's table of modules says it"
# The model roles its lesson loads (raycourse.model_id): image_gen, llm, vit, clip, speech. A module that loads one
# also needs [fullsize] stages = [...] (raycourse/fullsize/stages.py) or no_stage = "why", and [two_node].
roles = []

[minutes]
lesson = {LESSON_MINUTES}
lab = {LAB_MINUTES}

[schedule]
part = "second morning"

[gpus]
needed = 0
one = "CPU only"
more = "nothing"

[ran]
{ran}
soak_lesson = "not measured yet"
soak_lab = "not measured yet"
"""


def _toml(text: str) -> str:
    """A TOML basic string (the escapes JSON's strings use are TOML's too)."""
    import json

    return json.dumps(text, ensure_ascii=False)


def new_module(number: str, title: str, root: Path = notebooks.ROOT) -> list[Path]:
    """Write a new module's files under ``root`` and its rows in the guides' tables; return the files written.
    Refuses to overwrite anything."""
    if not re.fullmatch(r"\d\d", number):
        raise CourseError(f"{number!r} is not a two-digit module number.", "Name it like 08.")
    name = f"{number}_{slug(title)}"
    files = {
        root / "notebooks" / f"{name}.ipynb": None,
        root / "raycourse" / "checks" / f"quiz{number}.py": quiz_module(number, title),
        root / "solutions" / f"{name}_lab.ipynb": None,
        root / "raycourse" / "checks" / f"lab{number}.py": checks_module(number, title),
        root / "tests" / "checks" / f"test_checks_lab{number}.py": check_tests(number),
        root / "modules" / f"{name}.toml": facts(number, title),
    }
    package = root / "raycourse" / "checks" / f"lab{number}"  # checks grown into a package
    taken = [p for p in [*files, package] if p.exists()]
    taken += [m.lesson for m in catalogue.modules(root) if m.number == number]
    if taken:
        raise CourseError(
            f"module {number} exists already: {', '.join(str(p.relative_to(root)) for p in taken)}.",
            "Pick the next free number, or edit the existing files.",
        )
    previous = _previous_module(root, number)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            path.write_text(text, encoding="utf-8")
    lesson_path, solution_path = list(files)[0], list(files)[2]
    notebooks.write(notebooks.clean(lesson(number, title, name, previous)), lesson_path)
    notebooks.write(notebooks.clean(solution(number, title, name)), solution_path)
    return list(files) + tables.write(root)  # the guides' tables of modules, with the new one
