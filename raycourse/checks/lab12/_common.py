"""Lab 12's checks: what the exercises share. A learner's value as plain data (a number, a truth value, or its text),
and the comparison of numbers that the judges make."""

from __future__ import annotations

import math

from .._core import encoded_number

TOLERANCE = 1e-9  # relative; a learner's numbers and the judge's agree this closely when computed the same way


def number(value) -> list:
    """["number", value] for a real number (NaN and infinities as text), ["other", its repr] else."""
    return encoded_number(value, shown)


def truth(value) -> list:
    """["bool", value] for True or False (NumPy's included), ["other", its repr] else."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return ["bool", bool(value)]
    return ["other", shown(value)]


def whole(value) -> list:
    """["int", value] for a whole number (an int or a NumPy integer, not a bool), ["other", its repr] else."""
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__.startswith(("int", "uint")) and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool):
        return ["int", int(value)]
    return ["other", shown(value)]


def shown(value, width: int = 80) -> str:
    """A learner's value as a message shows it: its repr, cut, and its type ("None", "1 (an int)")."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{repr(value)[:width]} ({'an' if name[:1].lower() in 'aeiou' else 'a'} {name})"


def close(a, b) -> bool:
    """Two numbers the same within :data:`TOLERANCE` (a p-value of 1e-15 and of 0 are the same)."""
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=1e-12)
