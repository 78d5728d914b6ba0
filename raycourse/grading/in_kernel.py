"""The grader's observation request, inside a graded kernel (``raycourse.grading``); never imported by a notebook.

The grader does not import this file in the kernel: it sends its text, with the checks' sources it read before
any notebook ran, in an execute request of its own. The request runs a check cell's calls with the checks
compiled afresh from those sources, and writes back, as one line of plain JSON (written by :func:`encode` of the
checks' own machinery, not by the kernel's ``json``), what the checks *observed*: for a check in two halves, the
data its first half gathered from the learner's objects (on inputs made from a seed the grader chose for this
request), or its "not solved" / "wrong". The verdict is decided by the grader, in its own process, from that
data alone (:meth:`raycourse.checks.Exercise.decide`). No secret is sent: nothing here is trusted, and a line
that says "passed" means nothing to the grader.

The request calls ``_observe(module, sources, calls, seeds, user_ns)``: ``sources`` are the modules' sources in
the order they are loaded (``raycourse.checks.Lab.modules``); ``calls`` are the check calls the cell makes, each
``[attribute, [argument source, ...], [[keyword, source], ...], line]``, and ``seeds`` one number for each; the
arguments are evaluated in the notebook's namespace, as the check cell would.
"""

MARK = "<<raycourse-observations>>"

# Functions a notebook has no reason to replace; seen replaced, the grader notes it for the instructor (what the
# grader decides does not depend on them). Each with where its own code lives (None: built into Python).
WATCHED = (
    ("json", "dumps", "json/__init__.py"),
    ("json", "loads", "json/__init__.py"),
    ("hmac", "new", "hmac.py"),
    ("builtins", "print", None),
    ("builtins", "exec", None),
    ("builtins", "compile", None),
    ("builtins", "__import__", None),
    ("builtins", "isinstance", None),
    ("builtins", "getattr", None),
)
# Replacements that libraries make themselves, by where their code lives: Ray's tqdm_ray puts its safe_print in
# builtins.print in a process that drew Ray Data's progress bars (seen in a test process: a false "tampered" note).
LIBRARIES_REPLACE = {("builtins", "print"): "ray/experimental/tqdm_ray.py"}


def _code_file(fn) -> str:
    return str(getattr(getattr(fn, "__code__", None), "co_filename", "")).replace("\\", "/")


def _tampered():
    import sys

    found = []
    for module, name, home in WATCHED:
        owner = sys.modules.get(module)
        if owner is None:
            continue
        fn = getattr(owner, name, None)
        library = LIBRARIES_REPLACE.get((module, name))
        if library and _code_file(fn).endswith(library):
            continue
        if home is None:
            if type(fn).__name__ != "builtin_function_or_method":
                found.append(f"{module}.{name}")
        elif not _code_file(fn).endswith(home):
            found.append(f"{module}.{name}")
    return found


def _observe(module, sources, calls, seeds, user_ns):
    import sys

    saved = {name: sys.modules.get(name) for name in sources}  # the kernel's own, put back after
    results = []
    try:
        tampered = _tampered()
    except BaseException:
        tampered = ["the interpreter"]
    core = None
    try:
        core, lab = _load(module, sources)
        _carry_session_state(lab, saved.get(module))
        for (attribute, args, kwargs, line), seed in zip(calls, seeds):
            try:
                values = [eval(compile(a, "<check cell>", "eval"), user_ns) for a in args]
                named = {k: eval(compile(v, "<check cell>", "eval"), user_ns) for k, v in kwargs if k != "seed"}
            except BaseException as exc:  # what the check cell would have raised
                results.append({"attribute": attribute, "raised": [type(exc).__name__, str(exc), line]})
                break
            _observe_call(results, core, attribute, getattr(lab, attribute), values, named, seed)
    except BaseException as exc:
        results.append({"failed": f"{type(exc).__name__}: {exc}"})
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    _write_observations(core, results, tampered)


def _load(module, sources):
    """Fresh modules from the grader's sources, in their order (the checks' machinery, the package, the lab: a lab's
    package after its own modules), in place of the kernel's own: ``(the checks' machinery, the lab)``."""
    import sys
    import types

    names = list(sources)
    for name in names:
        fresh = types.ModuleType(name)
        package = any(other.startswith(f"{name}.") for other in names)  # raycourse.checks, a lab's package
        fresh.__package__ = name if package else name.rpartition(".")[0]
        fresh.__file__ = f"<raycourse grader: {name}>"
        if package:
            fresh.__path__ = []
        sys.modules[name] = fresh
    for name in names:
        exec(compile(sources[name], f"<raycourse grader: {name}>", "exec"), sys.modules[name].__dict__)
    return sys.modules[names[0]], sys.modules[module]


def _carry_session_state(lab, kernel_lab):
    """What the lab's own cells hand its checks during the session (lab 07's starved run, kept by keep_starved): the
    names come from the grader's source (SESSION_STATE), the values from the kernel's module, as the learner's cells
    left them; data the learner gives the checks either way."""
    for key in getattr(lab, "SESSION_STATE", ()):
        if kernel_lab is not None and isinstance(getattr(kernel_lab, key, None), list):
            getattr(lab, key)[:] = list(getattr(kernel_lab, key))


def _observe_call(results, core, attribute, check, values, named, seed):
    """One check call: what its observer saw (or its "not solved" / "wrong"), appended to ``results``; a check with
    no judge decides here (the grader never takes a pass from it)."""
    if check.judge is None:
        results.append({"attribute": attribute, "verdict": check.result(*values, **named).to_dict()})
        return
    if check.seeded:
        named["seed"] = seed
    try:
        results.append({"attribute": attribute, "observation": check.fn(*values, **named)})
    except core.NotSolved as exc:
        results.append({"attribute": attribute, "outcome": ["not solved", str(exc), ""]})
    except core.Wrong as exc:
        results.append({"attribute": attribute, "outcome": ["wrong", exc.problem, exc.hint]})
        if exc.__context__ is not None:
            core._release_abandoned_runs()
    except Exception as exc:  # the learner's object broke in a way the check did not foresee
        results.append(
            {
                "attribute": attribute,
                "outcome": [
                    "wrong",
                    f"the check could not use your answer: {exc.__class__.__name__}: {exc}",
                    "Run your exercise cell again and look at its error; then re-run this check.",
                ],
            }
        )
        core._release_abandoned_runs()


def _write_observations(core, results, tampered):
    """The one line the grader reads back, written by the checks' own encoder (not the kernel's ``json``)."""
    import sys

    try:
        tampered += [t for t in _tampered() if t not in tampered]
        payload = core.encode({"results": results, "tampered": tampered})
    except BaseException:
        payload = '{"results": [{"failed": "the observations could not be written"}], "tampered": []}'
    sys.stdout.write(f"\n{MARK}{payload}\n")  # one write, on a line of its own, whatever other threads print
    sys.stdout.flush()


# What a kernel tried to change of the course or of Python (the grader's notes) -------------------------------------

WATCH_MARK = "<<raycourse-watched>>"
_CHANGES = ("os.remove", "os.rename", "os.replace", "os.rmdir", "os.truncate", "os.chmod", "os.symlink", "os.link")
_ESCAPES = ("mount", "umount", "nsenter", "unshare", "chroot", "setcap", "capsh")


def _watch():
    """Before the notebook's first cell: an audit hook (it cannot be removed) that notes every attempt of this
    process to write or remove a file of the course's package or of Python's installation, and every command
    that would undo a sandbox (``mount``). What it notes is a lead for the instructor, not a verdict."""
    import importlib.util
    import os
    import sys

    spec = importlib.util.find_spec("raycourse")
    roots = [os.path.dirname(spec.origin)] if spec is not None and spec.origin else []
    roots += [sys.prefix, sys.base_prefix]
    guarded = tuple(os.path.realpath(r) + os.sep for r in roots)
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    seen = []

    def hook(event, args):
        if len(seen) >= 20:
            return
        try:
            if event == "open":
                path, mode, flags = args
                if not (
                    (isinstance(mode, str) and any(c in mode for c in "wax+")) or (mode is None and flags & writes)
                ):
                    return
            elif event in _CHANGES:
                path = args[0]
            elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec"):
                what = args[1] if event == "subprocess.Popen" else args[0]
                words = (what if isinstance(what, (str, bytes)) else " ".join(map(str, what or ())))[:200]
                words = os.fsdecode(words) if isinstance(words, bytes) else str(words)
                if any(w in words.replace("/", " ").split() for w in _ESCAPES):
                    seen.append(f"ran `{words}`")
                return
            else:
                return
            if isinstance(path, int):
                return
            real = os.path.realpath(os.fsdecode(path))
            if any((real + os.sep).startswith(g) for g in guarded):
                seen.append(f"{'wrote' if event == 'open' else event} {real}")
        except Exception:
            pass

    sys.addaudithook(hook)
    holder = type(sys)("_raycourse_grader_watch")
    holder.seen = seen
    sys.modules[holder.__name__] = holder


def _watched():
    """After the notebook's last cell: what the hook of :func:`_watch` noted, one line."""
    import sys

    holder = sys.modules.get("_raycourse_grader_watch")
    seen = list(holder.seen) if isinstance(getattr(holder, "seen", None), list) else ["removed the grader's watch"]
    sys.stdout.write(f"\n{WATCH_MARK}{seen!r}\n")
    sys.stdout.flush()
