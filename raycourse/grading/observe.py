"""Grading, stage 3: observe. The grader's requests in a graded kernel, each the text of :mod:`.in_kernel` (never
imported there) and a call: a check cell's checks run afresh and send back one line of plain data
(:func:`observe_cell`, which hands it to the judge), the grader's verdicts told to the kernel for its progress
cell (:func:`record`), and the kernel's watch for tampering (:func:`request`, :func:`watched_notes`)."""

from __future__ import annotations

import secrets
from pathlib import Path

from ..checks import Lab, Verdict
from . import in_kernel
from .judge import decide
from .plan import _short


def checks_sources() -> dict[str, str]:
    """The source of every module of ``raycourse.checks`` (a lab's package's modules too: ``labNN/exN.py``), by
    module name, as the grader reads them now."""
    from .. import checks

    folder = Path(checks.__file__).parent
    sources = {}
    for path in sorted(folder.glob("*.py")) + sorted(folder.glob("*/*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        name = ".".join(["raycourse.checks", *(parts[:-1] if parts[-1] == "__init__" else parts)])
        sources[name] = path.read_text("utf-8")
    return sources


OBSERVE_SOURCE = Path(in_kernel.__file__).read_text("utf-8")


def watched_notes(lines: list[str]) -> list[str]:
    """The note for what a kernel tried to change (the line :func:`raycourse.in_kernel._watched` printed)."""
    import ast

    for line in lines:
        if line.startswith(in_kernel.WATCH_MARK) and len(line) < 100_000:
            try:
                seen = ast.literal_eval(line[len(in_kernel.WATCH_MARK) :])
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return ["its kernel's report of what it tried to change could not be read."]
            if not isinstance(seen, list) or not seen:
                return []
            what = "; ".join(_short(str(s), 160) for s in seen[:5]) + ("; ..." if len(seen) > 5 else "")
            return [
                f"its kernel tried to change the course's or Python's files, or to undo its sandbox ({what}): "
                "in a sandbox that is refused; read the notebook."
            ]
    return []


def observe_cell(client, nb, index: int, calls: list, grade, sources: dict, *, in_place: bool):
    """Run ``calls`` (of cell ``index``) with the course's checks in a request of the grader's own, which
    observes (:mod:`.in_kernel`), and decide their verdicts here (:func:`.judge.decide`): the results, or None
    when no observation came back. ``in_place``: the request stands for the cell (its outputs, less the
    observation line, become the cell's, and the verdicts are shown there)."""
    import nbformat

    module = grade.module
    seeds = [secrets.randbits(32) for _ in calls]  # the checks' probe inputs: chosen now, unknown before
    sources = {name: sources[name] for name in Lab(module).modules}
    code = (
        f"(lambda b, g: b.exec(b.compile({OBSERVE_SOURCE + chr(10) + '_observe(*_args)'!r}, "
        f"'<raycourse grader>', 'exec'), {{'__name__': 'raycourse_grader', '__builtins__': b, "
        f"'_args': ({module!r}, {sources!r}, {calls!r}, {seeds!r}, g)}}))"
        f"(__import__('builtins'), globals())"
    )
    request = nbformat.v4.new_code_cell(code)
    nb.cells.append(request)
    client.judging, client.judged = True, 0
    try:
        client.execute_cell(request, len(nb.cells) - 1, store_history=in_place)
    finally:
        client.judging = False
        nb.cells.pop()
    marked, outputs = _read_back(request.outputs, in_place=in_place)
    # Exactly one line of observations, or none is believed (a notebook that prints one of its own during the
    # request makes two).
    results, tampered = decide(marked[0] if len(marked) == 1 else None, calls, seeds, Lab.of(module))
    for name in tampered:
        note = f"its kernel had replaced {name} when the grader ran its checks: read it (no verdict depends on it)."
        if note not in grade.notes:
            grade.notes.append(note)
    if in_place:
        nb.cells[index].outputs = outputs
        nb.cells[index].execution_count = request.get("execution_count")
    _show(client, nb, index, module, results, in_place=in_place)
    return results


def _read_back(request_outputs: list, *, in_place: bool) -> tuple[list[str], list]:
    """``(marked, outputs)`` of a request: its lines of observations (the mark taken off), and the rest of what it
    printed, as the cell's outputs (``in_place``: less the request's own traceback, which means nothing there)."""
    import nbformat

    marked, streams, outputs = [], {}, []
    for out in request_outputs:
        if out.get("output_type") == "stream":  # one text per stream: a line may come in pieces
            streams[out.get("name", "stdout")] = streams.get(out.get("name", "stdout"), "") + out.get("text", "")
        elif out.get("output_type") != "error" or not in_place:
            outputs.append(out)
    for name, text in streams.items():
        kept = []
        for line in text.splitlines(True):
            if line.startswith(in_kernel.MARK):
                marked.append(line[len(in_kernel.MARK) :].rstrip("\n"))
            elif line.strip():  # the request writes its lines each after a newline of its own
                kept.append(line)
        if kept:
            outputs.insert(0, nbformat.v4.new_output("stream", name=name, text="".join(kept)))
    return marked, outputs


def _show(client, nb, index: int, module: str, results: list | None, *, in_place: bool) -> None:
    """The verdicts told to the kernel (for its progress cell) and, ``in_place``, shown in cell ``index`` as the
    check cell prints them, with what it raised."""
    import nbformat

    if results is not None:
        shown = [Verdict(**r["verdict"]) for r in results if "verdict" in r]
        if in_place and shown:  # first, as the check cell prints them, before what else the request printed
            nb.cells[index].outputs.insert(
                0, nbformat.v4.new_output("stream", name="stdout", text="".join(f"{v}\n" for v in shown))
            )
        if shown:
            record(client, nb, module, shown)
    if in_place and results:
        for result in results:  # what the check cell raised, as it would show it
            if "raised" in result:
                ename, evalue, _ = result["raised"]
                nb.cells[index].outputs.append(
                    nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
                )


def request(client, nb, call: str) -> list[str]:
    """Run one of :mod:`.in_kernel`'s functions (``call``: "_watch()") in the kernel, outside the
    notebook's history; the lines it printed (none when it failed: what it reports is a lead, not a grade)."""
    import nbformat

    code = f"exec(compile({OBSERVE_SOURCE + chr(10) + call!r}, '<raycourse grader>', 'exec'), {{}})"
    request = nbformat.v4.new_code_cell(code)
    nb.cells.append(request)
    client.judging, client.judged = True, 0
    try:
        client.execute_cell(request, len(nb.cells) - 1, store_history=False)
    except Exception:
        return []
    finally:
        client.judging = False
        nb.cells.pop()
    text = "".join(o.get("text", "") for o in request.outputs if o.get("output_type") == "stream")
    return text.splitlines()


def record(client, nb, module: str, verdicts: list) -> None:
    """Tell the kernel the grader's verdicts, for the lab's progress cell only (what it shows; not the grade)."""
    import nbformat

    code = (
        "(lambda c: [c.record({m!r}, c.Verdict(**v)) for v in {v!r}])"
        "(__import__('raycourse.checks._core', fromlist=['record']))"
    ).format(m=module, v=[v.to_dict() for v in verdicts])
    request = nbformat.v4.new_code_cell(code)
    nb.cells.append(request)
    client.judging, client.judged = True, 0
    try:
        client.execute_cell(request, len(nb.cells) - 1, store_history=False)
    except Exception:  # the progress cell says less; the grade is the grader's
        pass
    finally:
        client.judging = False
        nb.cells.pop()
