"""What a source file means, not how it is laid out: the digests of the trained stand-ins (``standins.training_digest``)
and of the full-size builds (``fullsize``) hash this, so that formatting a file, rewording a comment or a docstring
leaves the shipped weights current, while any change to the code that computes them makes them stale."""

from __future__ import annotations

import ast
from pathlib import Path

_WITH_DOCSTRING = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def source_fingerprint(path: str | Path) -> bytes:
    """A Python file's syntax tree without its docstrings (comments and layout never reach the tree); any other file's
    bytes (data that a training reads)."""
    path = Path(path)
    if path.suffix != ".py":
        return path.read_bytes()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, _WITH_DOCSTRING) and node.body and _is_docstring(node.body[0]):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False).encode()


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
