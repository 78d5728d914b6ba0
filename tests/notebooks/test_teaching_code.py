"""A learner never meets two slightly different versions of the same class or function.

Code that several notebooks repeat (``ImageGen``, ``expand_prompt``, the stages of module 07, ...)
is written out in each notebook that uses it, so each notebook reads on its own; this test holds
every copy to be the same text, comments and docstrings included. A variation gets a name of its
own (``ImageGenWithActor``). Code a learner writes in a lab (inside ``# BEGIN SOLUTION`` regions)
is the learner's answer and is not held to the lesson's text.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from raycourse.authoring import labs, notebooks

ROOT = notebooks.ROOT
# Names that stand for different code on purpose, and why.
DIFFERENT_ON_PURPOSE = {
    "train_func": "Ray Train's conventional name for a training loop; modules 05 and 07 train different models",
}


def shared_definitions() -> dict[str, dict[str, list[str]]]:
    """Name -> source text -> notebooks that define it that way (lessons and solutions, outside answers)."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in notebooks.read(path).cells:
            if cell.cell_type != "code":
                continue
            source = labs.lab_source(cell.source)  # the learner's answers become placeholders
            lines = source.splitlines()
            for node in ast.parse(source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    text = "\n".join(lines[node.lineno - 1 - len(node.decorator_list) : node.end_lineno])
                    if "# TODO: " in text:
                        continue  # holds the learner's answer (or its outline)
                    if node.name in DIFFERENT_ON_PURPOSE:
                        continue
                    found[node.name][text].append(f"{path.parent.name}/{path.name}")
    return found


def test_repeated_classes_and_functions_are_the_same_everywhere():
    differing = {name: versions for name, versions in shared_definitions().items() if len(versions) > 1}
    report = "\n".join(
        f"{name}: " + " | ".join(", ".join(where) for where in versions.values())
        for name, versions in differing.items()
    )
    assert not differing, f"these differ between notebooks (make them identical or rename a variation):\n{report}"


def test_the_check_sees_repeated_code():
    definitions = shared_definitions()
    assert len(sum(definitions["busy_share"].values(), [])) == 2  # module 07's lesson and solution
