"""Run a course notebook's code cells in one Python process (no Jupyter on the GPU machine), one by one,
recording each cell's time, error and result; write a JSON report. Usage: run_cells.py NOTEBOOK OUT.json
Top-level `await` runs as in Jupyter: on one event loop that lasts the whole notebook.
RUN_CELLS_PRELUDE: Python run in the notebook's namespace before its first cell (tools/gpu_ray_check.sh's
LOCAL_DATA)."""

import ast
import asyncio
import inspect
import json
import os
import sys
import time
import traceback

nb_path, out_path = sys.argv[1], sys.argv[2]
cells = [c for c in json.load(open(nb_path))["cells"] if c["cell_type"] == "code"]
ns = {"__name__": "__main__"}
try:
    from IPython.display import display  # noqa
except Exception:
    ns["display"] = lambda *a, **k: print(*[repr(x)[:300] for x in a])
if os.environ.get("RUN_CELLS_PRELUDE"):
    exec(os.environ["RUN_CELLS_PRELUDE"], ns)
loop = asyncio.new_event_loop()
FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def run(code):
    """Run a compiled cell (or its last expression): a coroutine where the cell awaits, on the notebook's loop."""
    result = eval(code, ns)
    return loop.run_until_complete(result) if code.co_flags & inspect.CO_COROUTINE else result


report = {"notebook": nb_path, "cells": [], "prelude": os.environ.get("RUN_CELLS_PRELUDE", "")}
start = time.time()
for i, cell in enumerate(cells):
    src = "".join(cell["source"])
    entry = {
        "index": i,
        "first_line": src.splitlines()[0][:100] if src.strip() else "",
        "tags": cell["metadata"].get("tags", []),
    }
    t = time.time()
    try:
        tree = ast.parse(src)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body = tree.body[:-1]
        run(compile(tree, f"cell{i}", "exec", flags=FLAGS))
        if last is not None:
            value = run(compile(ast.Expression(last.value), f"cell{i}", "eval", flags=FLAGS))
            entry["result"] = repr(value)[:600]
        entry["status"] = "ok"
    except BaseException as exc:  # noqa
        entry["status"] = "error"
        entry["error"] = f"{type(exc).__name__}: {str(exc)[:800]}"
        entry["traceback"] = traceback.format_exc()[-2500:]
    entry["seconds"] = round(time.time() - t, 2)
    print(
        f"[{time.time() - start:6.1f} s] cell {i:2d} {entry['status']:5s} {entry['seconds']:6.1f} s  "
        f"{entry['first_line'][:70]}" + (f"\n      {entry['error'][:300]}" if entry["status"] == "error" else ""),
        flush=True,
    )
    report["cells"].append(entry)
    json.dump(report, open(out_path, "w"), indent=1)
report["seconds"] = round(time.time() - start, 1)
json.dump(report, open(out_path, "w"), indent=1)
print(
    f"{nb_path}: {sum(c['status'] == 'ok' for c in report['cells'])} of {len(cells)} cells ok in {report['seconds']} s"
)
