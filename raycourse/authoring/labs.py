"""Generate ``labs/`` from ``solutions/``: the solution notebook is the single source.

Markers, in code cells of a solution notebook (the convention of otter-grader's
``otter assign``, so course authors may already know it):

* ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` -- the lines between become a
  placeholder. Text after ``BEGIN SOLUTION:`` tells the learner what to write
  there (``# BEGIN SOLUTION: build the prompt column with map_batches``). Every
  variable the region assigns at its top level becomes ``name = ...``, so the check
  cell after it finds the name (and reports "not solved yet").
* ``# BEGIN SOLUTION OUTLINE`` ... ``# END SOLUTION`` -- for a whole class or function to write:
  the lab keeps its outline (the ``class``/``def`` lines with their signatures and docstrings,
  and each method), with every body replaced by ``...``; other statements in the region become
  placeholders as above. The checks report an outline not yet filled in as "not solved yet".
* ``name = <expression>  # SOLUTION`` -- becomes ``name = ...  # TODO: your code``.

Cells tagged ``solution-only`` are dropped from the lab. Everything else, checks
included, is copied as it is, and the lab is written in the stored (clean) form.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from . import notebooks

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?P<outline> OUTLINE)?(?::\s*(?P<what>.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
INLINE = re.compile(r"^(?P<head>\s*[\w\[\]\.\"', ]+?\s*=\s*).+?\s*# SOLUTION\s*$")
SOLUTION_ONLY = "solution-only"


class MarkerError(ValueError):
    pass


def assigned_names(lines: list[str]) -> list[str]:
    """Variables assigned at the top level of a solution region, in order (functions and classes excluded,
    except decorated ones: ``@serve.deployment class TextEncoder`` is a value that a check takes)."""
    import ast
    import textwrap

    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
            if node.name not in names:
                names.append(node.name)
            continue
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        )
        stack = list(targets)
        while stack:  # names, and names in tuples; not `ray` of `ray.data.x = ...` (that sets an attribute)
            target = stack.pop(0)
            if isinstance(target, (ast.Tuple, ast.List)):
                stack[:0] = target.elts
            elif isinstance(target, ast.Starred):
                stack.insert(0, target.value)
            elif isinstance(target, ast.Name) and target.id not in names:
                names.append(target.id)
    return names


def outline(lines: list[str]) -> list[str]:
    """The skeleton of a solution region: classes and functions with their signatures, docstrings and
    methods (as written in the solution), every body ``...``; any other top-level statement becomes
    ``name = ...``."""
    import ast
    import textwrap

    source = textwrap.dedent("\n".join(lines)).splitlines()
    tree = ast.parse("\n".join(source))
    out: list[str] = []

    def text(first: int, last: int) -> list[str]:  # 1-based, inclusive
        return source[first - 1 : last]

    def skeleton(node) -> None:
        if node.decorator_list:
            raise MarkerError(f"an OUTLINE region cannot outline the decorated {node.name}")
        body = node.body
        has_doc = ast.get_docstring(node, clean=False) is not None
        out.extend(text(node.lineno, body[0].lineno - 1))  # the class/def line(s), signature included
        if has_doc:
            out.extend(text(body[0].lineno, body[0].end_lineno))
        pad = " " * (body[0].col_offset)
        if isinstance(node, ast.ClassDef):
            methods = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            for method in methods:
                out.append("")
                skeleton(method)
            if not methods:
                out.append(pad + "...")
        else:
            out.append(pad + "...  # TODO: your code")

    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if out:
                out += ["", ""]
            skeleton(node)
        else:
            names = assigned_names(text(node.lineno, node.end_lineno))
            if names and out and not out[-1].endswith("= ..."):
                out += ["", ""]
            out.extend(f"{name} = ..." for name in names)
    return out


def lab_source(source: str, where: str = "") -> str:
    """Replace the solution regions of one cell's source with placeholders."""
    out: list[str] = []
    region: dict | None = None
    for lineno, line in enumerate(source.splitlines(), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if region is not None:
                raise MarkerError(f"{where} line {lineno}: BEGIN SOLUTION inside another solution region")
            region = dict(begin.groupdict(), lines=[])
            continue
        if end:
            if region is None:
                raise MarkerError(f"{where} line {lineno}: END SOLUTION without BEGIN SOLUTION")
            indent = region["indent"]
            what = region["what"] or "your code"
            out.append(f"{indent}# TODO: {what}")
            if region["outline"]:
                out.extend(indent + line if line else line for line in outline(region["lines"]))
                region = None
                continue
            names = assigned_names(region["lines"])
            out.extend(f"{indent}{name} = ..." for name in names)
            if not names:
                out.append(f"{indent}...")
            region = None
            continue
        if region is not None:
            region["lines"].append(line)
            continue
        inline = INLINE.match(line)
        if inline:
            out.append(f"{inline.group('head')}...  # TODO: your code")
        elif line.rstrip().endswith("# SOLUTION"):
            raise MarkerError(f"{where} line {lineno}: '# SOLUTION' only works on an assignment: {line.strip()}")
        else:
            out.append(line)
    if region is not None:
        raise MarkerError(f"{where}: BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return any(BEGIN.match(l) or l.rstrip().endswith("# SOLUTION") for l in source.splitlines())


def make_lab(solution_nb):
    """The lab notebook for a solution notebook (a new object; the input is untouched)."""
    nb = copy.deepcopy(solution_nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        if SOLUTION_ONLY in notebooks.tags(cell):
            continue
        if cell.cell_type == "code":
            cell.source = lab_source(cell.source, where=f"cell {i}")
            # outputs recorded in a solution do not belong in the learner's copy
            if notebooks.COMPARED in notebooks.tags(cell):
                cell.metadata["tags"] = [t for t in notebooks.tags(cell) if t != notebooks.COMPARED]
        cells.append(cell)
    nb.cells = cells
    if not any(has_solution(c.source) for c in solution_nb.cells if c.cell_type == "code"):
        raise MarkerError("the solution notebook has no solution regions")
    return notebooks.clean(nb, outputs=False)


def lab_path(solution: Path, root: Path = notebooks.ROOT) -> Path:
    return root / "labs" / solution.name


def expected_lab_text(solution: Path) -> str:
    return notebooks.dumps(make_lab(notebooks.read(solution)))


def locally_modified(path: Path) -> bool:
    """True when git says ``path`` differs from the last commit (a learner's work, perhaps)."""
    import subprocess

    try:
        result = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", path.name], cwd=path.parent, capture_output=True
        )
    except FileNotFoundError:  # no git: be careful
        return True
    return result.returncode == 1


def generate(root: Path = notebooks.ROOT, *, force: bool = False) -> list[Path]:
    """Write every lab from its solution; returns the labs written.

    A lab with uncommitted changes is never overwritten (it may hold a learner's
    answers) unless ``force``; the error names the files.
    """
    plan = []
    for solution in sorted((root / "solutions").glob("*.ipynb")):
        target = lab_path(solution, root)
        text = expected_lab_text(solution)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            plan.append((target, text))
    blocked = [t for t, _ in plan if t.exists() and not force and locally_modified(t)]
    if blocked:
        from ..errors import CourseError

        raise CourseError(
            "These labs have uncommitted changes, which regenerating would overwrite: "
            + ", ".join(str(b.relative_to(root)) for b in blocked),
            "Save your work elsewhere (or commit it), then run `make labs` again; "
            "authors who mean to overwrite run `python -m raycourse.authoring labs --force`.",
        )
    (root / "labs").mkdir(exist_ok=True)
    for target, text in plan:
        target.write_text(text, encoding="utf-8")
    return [t for t, _ in plan]
