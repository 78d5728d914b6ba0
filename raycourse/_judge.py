"""The grader's own check run, inside a graded kernel (``raycourse.grading``); never imported by a notebook.

The grader does not import this file in the kernel: it sends its text, with the checks' sources it read
before any notebook ran and a secret made for this one request, in an execute request of its own, and
reads the verdicts back from that request's output only, signed with the secret. So the verdicts come
from the course's checks as the grader read them, compiled afresh for every request: a notebook that
replaced or patched ``raycourse.checks`` in its kernel, edited its files, wrote to the record of
verdicts, rebound ``check`` or printed something that looks like a verdict changes nothing. What this
cannot stop (code that rewrites the interpreter or the kernel itself) is in docs/instructor.md.

The request calls ``_judge(secret, module, sources, calls, user_ns)``: ``sources`` are the modules' sources in
the order they are loaded (``raycourse.checks.Lab.modules``); ``calls`` are the check calls the
cell makes, each ``[attribute, [argument source, ...], [[keyword, source], ...], line]``; their arguments
are evaluated in the notebook's namespace, as the check cell would. It prints each verdict, as a check
cell does, then one line: the mark, the HMAC-SHA256 of the payload, the payload (JSON).
"""

MARK = "<<raycourse-verdicts>>"


def _judge(secret, module, sources, calls, user_ns):
    import hashlib
    import hmac
    import json
    import sys
    import types

    package = "raycourse.checks"
    names = list(sources)  # the checks' machinery, the package, the lab: in the order they are loaded
    saved = {name: sys.modules.get(name) for name in names}
    results, verdicts = [], []
    try:
        for name in names:  # fresh modules from the grader's sources; the kernel's own are put back after
            fresh = types.ModuleType(name)
            fresh.__package__ = package
            fresh.__file__ = f"<raycourse grader: {name}>"
            if name == package:
                fresh.__path__ = []
            sys.modules[name] = fresh
        for name in names:
            exec(compile(sources[name], f"<raycourse grader: {name}>", "exec"), sys.modules[name].__dict__)
        lab = sys.modules[module]
        # What the lab's own cells hand its checks during the session (lab 07's starved run, kept by
        # keep_starved): the names come from the grader's source (SESSION_STATE), the values from the kernel's
        # module, as the learner's cells left them; data the learner gives the checks either way.
        kernel_lab = saved.get(module)
        for key in getattr(lab, "SESSION_STATE", ()):
            if kernel_lab is not None and isinstance(getattr(kernel_lab, key, None), list):
                getattr(lab, key)[:] = list(getattr(kernel_lab, key))
        for attribute, args, kwargs, line in calls:
            try:
                values = [eval(compile(a, "<check cell>", "eval"), user_ns) for a in args]
                named = {k: eval(compile(v, "<check cell>", "eval"), user_ns) for k, v in kwargs}
            except BaseException as exc:  # what the check cell would have raised
                results.append({"attribute": attribute, "raised": [type(exc).__name__, str(exc), line]})
                break
            verdict = getattr(lab, attribute).result(*values, **named)
            sys.stdout.write(f"\n{verdict}\n")  # one write, on a line of its own, whatever other threads print
            verdicts.append(verdict.to_dict())
            results.append({"attribute": attribute, "verdict": verdict.to_dict()})
    except BaseException as exc:
        results.append({"failed": f"{type(exc).__name__}: {exc}"})
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    try:  # the notebook's own record, for its progress cell (only what it shows; the grade is the line below)
        core = sys.modules[names[0]]  # the kernel's own machinery (loaded first)
        for v in verdicts:
            core.record(module, core.Verdict(**v))
    except Exception:
        pass
    payload = json.dumps(results, ensure_ascii=True)
    mac = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    sys.stdout.write(f"\n{MARK}{mac}{payload}\n")
    sys.stdout.flush()
