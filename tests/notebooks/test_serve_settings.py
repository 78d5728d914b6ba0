"""The Serve deployments the course writes (lessons and solved labs) are set as lesson 08 teaches.

- No log line per request: `logging_config={"enable_access_log": False}` on every `@serve.deployment`. Under load
  (lesson 08's burst of 64 requests), the replicas' access logs, forwarded into the learner's cell, hid the table.
- A batch as large as `max_batch_size`: a replica holds at most `max_ongoing_requests` requests (Serve's default,
  5), so a `@serve.batch(max_batch_size=8)` method never saw more than 5 (Ray 2.60, serve/batching.py warns).
- A lesson's `serve.start` keeps Serve's controller and proxy at warnings and errors ("Removing 2 replicas" lines).

Read from the notebooks' source (the lab's answers included: the solution is what the course writes); no Ray.
"""

from __future__ import annotations

import ast

import pytest

from raycourse.authoring import notebooks

ROOT = notebooks.ROOT
SERVE_DEFAULT_MAX_ONGOING = 5  # ray/serve/_private/constants.py: DEFAULT_MAX_ONGOING_REQUESTS (Ray 2.60)
QUIET_LEVELS = {"WARNING", "ERROR", "CRITICAL"}


def _is_call_of(node, name: str) -> bool:
    """`serve.<name>(...)` or `<name>(...)`."""
    func = node.func if isinstance(node, ast.Call) else None
    return (isinstance(func, ast.Attribute) and func.attr == name) or (isinstance(func, ast.Name) and func.id == name)


def _keywords(call: ast.Call) -> dict:
    return {k.arg: k.value for k in call.keywords if k.arg}


def problems(source: str) -> list[str]:
    """What in this code breaks the rules above, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            deployment = next((d for d in node.decorator_list if _is_call_of(d, "deployment")), None)
            if deployment is None:
                continue
            options = _keywords(deployment)
            logging = ast.literal_eval(options["logging_config"]) if "logging_config" in options else {}
            if logging.get("enable_access_log", True) is not False:
                found.append(f"{node.name}: no logging_config={{'enable_access_log': False}}: a log line per request")
            ongoing = (
                ast.literal_eval(options["max_ongoing_requests"])
                if "max_ongoing_requests" in options
                else SERVE_DEFAULT_MAX_ONGOING
            )
            for method in node.body:
                for decorator in getattr(method, "decorator_list", []):
                    if _is_call_of(decorator, "batch"):
                        size = ast.literal_eval(_keywords(decorator).get("max_batch_size", ast.Constant(10)))
                        if ongoing < size:
                            found.append(
                                f"{node.name}.{method.name}: max_batch_size={size} but max_ongoing_requests="
                                f"{ongoing}: no batch larger than {ongoing}"
                            )
        elif (
            isinstance(node, ast.Call)
            and _is_call_of(node, "start")
            and isinstance(node.func, ast.Attribute)
            and getattr(node.func.value, "id", "") == "serve"
        ):
            options = _keywords(node)
            logging = ast.literal_eval(options["logging_config"]) if "logging_config" in options else {}
            if str(logging.get("log_level", "INFO")).upper() not in QUIET_LEVELS:
                found.append(
                    "serve.start(...) without logging_config={'log_level': 'WARNING'}: the controller's "
                    "INFO lines reach the cell"
                )
    return found


def _cells(folder: str):
    for path in sorted((ROOT / folder).glob("*.ipynb")):
        for index, cell in enumerate(notebooks.read(path).cells):
            if cell.cell_type == "code" and "serve." in cell.source:
                yield f"{folder}/{path.name} cell {index}", cell.source


def _without_serve_start(source: str) -> str:
    """A solved lab's setup cell is shared with other work (its GPU sizing line): only its deployments are held."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("serve.start("))


def test_the_lessons_and_solved_labs_serve_quietly_and_batch_in_full():
    found = [f"{where}: {problem}" for where, source in _cells("notebooks") for problem in problems(source)]
    found += [
        f"{where}: {problem}"
        for where, source in _cells("solutions")
        for problem in problems(_without_serve_start(source))
    ]
    assert not found, "\n".join(found)


def test_the_course_has_batched_deployments_to_hold():
    """The test above would pass on no deployment at all: lesson 08 and lab 08 each define one."""
    sources = [source for _, source in list(_cells("notebooks")) + list(_cells("solutions"))]
    batched = [s for s in sources if "@serve.deployment(" in s and "@serve.batch(" in s]
    assert len(batched) >= 2, batched


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "@serve.deployment(num_replicas=2)\nclass A:\n"
            "    @serve.batch(max_batch_size=8)\n    async def f(self, x): ...",
            ["a log line per request", "max_ongoing_requests=5"],
        ),
        (
            '@serve.deployment(max_ongoing_requests=16, logging_config={"enable_access_log": False})\nclass A:\n'
            "    @serve.batch(max_batch_size=8)\n    async def f(self, x): ...",
            [],
        ),
        (
            '@serve.deployment(max_ongoing_requests=6, logging_config={"enable_access_log": True})\nclass A:\n'
            "    @serve.batch(max_batch_size=8)\n    async def f(self, x): ...",
            ["a log line per request", "no batch larger than 6"],
        ),
        ('serve.start(proxy_location="HeadOnly")', ["controller's INFO lines"]),
        ('serve.start(logging_config={"log_level": "WARNING"})', []),
    ],
    ids=["defaults", "as-taught", "too-few-ongoing", "start-loud", "start-quiet"],
)
def test_the_rules_catch_what_they_name(source, expected):
    found = problems(source)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found
