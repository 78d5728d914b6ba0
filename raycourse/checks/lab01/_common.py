"""Lab 01's checks: what several exercises share (the columns, the complaint rule, the hint to re-run)."""

from __future__ import annotations

from ..toolkit import review_table

COLUMNS = ("id", "pet", "text", "stars")  # what Exercise 1 keeps
MAX_STARS = 2  # a complaint: 1 or 2 stars
FLAG = "mentions_pet"


def _mentions(pet: str, text: str) -> bool:
    return str(pet).lower() in str(text).lower()


def expected_complaints() -> dict[int, dict]:
    """id -> the row (pet, text, stars, mentions_pet) of every review with 1 or 2 stars."""
    table = review_table()
    keep = table[table["stars"] <= MAX_STARS]
    return {
        int(r.id): {"pet": r.pet, "text": r.text, "stars": int(r.stars), FLAG: _mentions(r.pet, r.text)}
        for r in keep.itertuples()
    }


def _integer(value):
    """``value`` as an int when it is a whole number (int or float, not text or bool), else None."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return int(value) if float(value).is_integer() else None


RUN_HINT = "Run `{name}.take_batch(3)` in a cell of its own to see the whole error."
