"""Grading, stage 4: judge. The verdict of every check call from what the kernel observed (:func:`decide`: in the
grader's process, with its own checks), and the verdict of every exercise with the error that explains it
(:class:`Explanation`). Pure: no kernel."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from ..checks import Lab, Verdict
from .plan import CellError, _short, check_calls


OBSERVATION_LIMIT = 50_000_000  # characters of one request's observations; beyond it, no verdict


def _text(value, limit: int = 2000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def decide(line: str | None, calls: list, seeds: list, lab: Lab) -> tuple[list | None, list[str]]:
    """The results of a cell's check calls, from the line of observations its request wrote (untrusted data:
    parsed here, by the grader's ``json``, and judged by the grader's own checks): ``(results, tampered)``.

    ``results`` (None when there is no readable line) has, for each call in order, ``{"attribute", "verdict"}``,
    ``{"attribute", "raised"}`` or ``{"failed"}``; a verdict that passes comes only from a check's judge, run here
    on what its observer saw, with the seed the grader chose (a check without a judge decides in the kernel: its
    "not solved" or "wrong" is taken as it came, a "passed" from there is not). ``tampered``: what the request saw
    replaced in the kernel (``json.dumps``).
    """
    if line is None or len(line) > OBSERVATION_LIMIT:
        return None, []
    try:
        data = json.loads(line)
    except ValueError:
        return None, []
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        return None, []
    tampered = [_text(t, 100) for t in data.get("tampered") or [] if isinstance(t, str)][:20]
    exercises = {attr: getattr(sys.modules[lab.module], attr) for attr in lab.calls}
    results = []
    for position, result in enumerate(data["results"]):
        if not isinstance(result, dict):
            return None, tampered
        if "failed" in result:
            results.append({"failed": _text(result["failed"], 300)})
            break
        if position >= len(calls) or result.get("attribute") != calls[position][0]:
            return None, tampered  # not what was asked, in the order asked
        attribute, check = calls[position][0], exercises[calls[position][0]]
        if "raised" in result:
            raised = result["raised"]
            if not (isinstance(raised, list) and len(raised) == 3):
                return None, tampered
            results.append({"attribute": attribute, "raised": [_text(r, 2000) for r in raised]})
            break
        if check.judge is not None and "observation" in result:
            verdict = check.decide(result["observation"], seeds[position])
        elif check.judge is not None and isinstance(result.get("outcome"), list) and len(result["outcome"]) == 3:
            status, message, hint = result["outcome"]
            if status not in ("not solved", "wrong"):  # an observer never passes
                return None, tampered
            verdict = Verdict(check.title, status, _text(message), _text(hint))
        elif check.judge is None and isinstance(result.get("verdict"), dict):
            got = result["verdict"]  # a check with no judge decided in the kernel: never believed to pass
            if got.get("status") not in ("not solved", "wrong"):
                return None, tampered
            verdict = Verdict(check.title, got["status"], _text(got.get("message")), _text(got.get("hint")))
        else:
            return None, tampered
        results.append({"attribute": attribute, "verdict": verdict.to_dict()})
    return results, tampered


def request_verdicts(judged, calls: list, names: dict, error: CellError | None, *, in_place: bool) -> dict:
    """The verdicts of a cell's check calls from the grader's request (title -> Verdict)."""
    if not calls or (judged is None and not in_place and error is not None):
        return {}
    titles = [names[c[0]] for c in calls]
    if judged is None:
        return {
            t: Verdict(
                t,
                "error",
                "the grader got no observation it could read back from the kernel: the notebook's code "
                "interfered with its output (sys.stdout?), printed lines of its own, or the kernel itself.",
                "Run the notebook from the top and look at what its cells change outside your exercises.",
            )
            for t in titles
        }
    new = {}
    for result in judged:
        if "verdict" in result:
            new[names[result["attribute"]]] = Verdict(**result["verdict"])
        elif "raised" in result and not in_place:
            ename, evalue, line = result["raised"]
            title = names[result["attribute"]]
            new[title] = Verdict(
                title,
                "error",
                f"the grader could not repeat its check `{_short(line, 60)}`: {ename}: {_short(evalue, 200)}",
                "Put each check call in a cell of its own, as the lab has it.",
            )
        elif "failed" in result:
            for title in titles:
                new.setdefault(title, Verdict(title, "error", f"the grader's check failed: {result['failed']}"))
    return new


@dataclass
class Explanation:
    """The verdicts of a notebook's exercises, built cell by cell from what each cell did, and the error that
    explains each one: the first error of the cells since the previous check (a verdict's ``cause``). Pure: the
    kernel loop (:meth:`Grader._run_cells`) feeds it; its unit tests feed it by hand."""

    titles: list[str]  # the lab's exercises, in order
    names: dict[str, str]  # exercise title by the attribute a check cell calls
    alias: str  # the checks module's name in the notebook ("check")
    checked_in: dict[str, int]  # the index of the last cell that checks each exercise
    final: dict[str, Verdict] = field(default_factory=dict)
    since_check: list[CellError] = field(default_factory=list)  # errors of the cells since the last check cell

    def cell_ran(
        self, source: str, judged, calls: list, error: CellError | None, errors: list[CellError], *, in_place: bool
    ) -> None:
        """A code cell ran: ``judged`` is what the grader's request brought back (None: none ran, or no signed
        answer), ``error`` the cell's own error (already in ``errors``, every error so far)."""
        titles = check_calls(source, self.alias, self.names)
        new = request_verdicts(judged, calls, self.names, error, in_place=in_place)
        cause = self.since_check[0] if self.since_check else None
        for title, verdict in new.items():
            self.final[title] = _with_cause(verdict, cause)
        if error is not None and titles:
            earlier = cause or (errors[0] if errors[0] is not error else None)
            for title in titles:
                if title not in new:
                    self.final[title] = Verdict(
                        title,
                        "error",
                        f"its check cell raised {error.ename}: {_short(error.evalue, 200)}",
                        "Run the notebook from the top (Kernel > Restart Kernel and Run All Cells) "
                        "and fix the first error.",
                        str(earlier) if earlier else "",
                    )
        if new or titles:
            self.since_check = []
        elif error is not None:
            self.since_check.append(error)

    def finish(
        self, errors: list[CellError], stopped: str, timeout: float, memory: float = 0.0
    ) -> tuple[list[Verdict], list[str]]:
        """``(verdicts, notes)`` once the run ended (``stopped``: "", "time", "memory", "died" or "failed"): one
        verdict per exercise, "not checked" and why for those no check cell decided (``memory``: the limit, GiB)."""
        why = {
            "time": f"the time limit ({timeout:g} s) was reached before its check ran.",
            "memory": f"its processes used more than {memory:g} GiB of memory (the limit) before its check ran.",
            "died": "the kernel died before its check ran (out of memory?).",
            "failed": "grading stopped before its check ran.",
        }
        final = dict(self.final)
        for title in self.titles:
            if title in final:
                continue
            if stopped:
                message = why[stopped]
            elif title not in self.checked_in:
                attr = next(a for a, t in self.names.items() if t == title)
                message = f"the notebook has no check cell for it (`{self.alias}.{attr}(...)`)."
            else:
                message = "its check cell ran but did not check it."
            final[title] = Verdict(title, "not checked", message)
        last_check = max(self.checked_in.values(), default=-1)
        notes = [f"a cell after the last check: {error}" for error in errors if error.index > last_check]
        if stopped == "time":
            notes.append(f"time limit of {timeout:g} s reached: the kernel was stopped.")
        elif stopped == "memory":
            notes.append(
                f"memory limit of {memory:g} GiB reached: the notebook's processes (its kernel, what it started and "
                "its Ray's) used more than that together; the grader stopped them, and the cells after it did not run."
            )
        elif stopped == "died":
            notes.append("the kernel died (out of memory?): the cells after it did not run.")
        return [final[title] for title in self.titles], notes


def _with_cause(verdict: Verdict, cause: CellError | None) -> Verdict:
    if cause is None:
        return verdict
    return Verdict(verdict.exercise, verdict.status, verdict.message, verdict.hint, str(cause))
