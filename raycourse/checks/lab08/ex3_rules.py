"""Lab 08, exercise 3's ``RULES``, probed: the learner's rules applied, as ``validate`` applies them, to a table of the
check's own made from the seed (:func:`rule_probes`). The course's 48 ratings cannot tell a right rule from a wrong
one (their bad comments are 150 and 210 characters, the longest good one 64, all ASCII, none missing: ``>= 120``,
``> 100``, ``byte_len()`` and a rule that forgets a missing comment all give the right rows there); the probe can:
the catalogue's lowest and highest ids (good), an id it lacks between them and one above its highest (bad), no
product (bad), comments of exactly 120 and 121 characters, in ASCII and in 'é' (two bytes each; good up to 120
characters), and no comment (bad)."""

from __future__ import annotations

import random

from .._core import Wrong
from ..toolkit import error_line

MAX_COMMENT = 120  # lab 08's rule: a comment of at most 120 characters, and a product of the catalogue
WORDS = ("soft", "warm", "snug", "colour", "fits", "my", "cat", "well", "stitching", "bright", "cosy", "sleeve")
COLUMNS = (("id", "int64"), ("product_id", "int64"), ("stars", "int64"), ("text", "string"))  # read_json's

# Each probe row: (case, whether it is good, what it is in words, why the check's verdict on it is the rule's: for a
# good row, why quarantining it is wrong; for a bad one, why letting it through is).
CASES = (
    ("lowest", True, "a rating of product {lowest}, the catalogue's lowest id,", "it is in the catalogue"),
    ("highest", True, "a rating of product {highest}, the catalogue's highest id,", "it is in the catalogue"),
    ("gap", False, "a rating of product {gap}, an id the catalogue lacks,", "only the catalogue's ids are fine"),
    (
        "above",
        False,
        "a rating of product {above}, one above the catalogue's highest id,",
        "only the catalogue's ids are fine",
    ),
    ("no product", False, "a rating with no product", "a missing product breaks the rule"),
    ("120", True, "a comment of exactly 120 characters", "at most 120 is fine"),
    ("121", False, "a comment of 121 characters", "more than 120 breaks the rule"),
    ("é120", True, "a comment of 120 'é' (240 bytes)", "`str.len()` counts characters, `byte_len` bytes"),
    ("é121", False, "a comment of 121 'é'", "more than 120 characters breaks the rule, whatever the letters"),
    ("no comment", False, "a rating with no comment", "a missing comment breaks the rule"),
)
NAME_IT = {"no product": 'col("product_id").is_null()', "no comment": 'col("text").is_null()'}
PRODUCT_HINT = "Compare the product with CATALOGUE, the outfits' ids: not_in(CATALOGUE) is true for every other id."
LENGTH_HINT = 'A comment breaks the rule only above 120 characters: col("text").str.len() counts its characters.'
NULL_HINT = "A comparison with a missing value is neither true nor false: give every missing value its own rule."


def _comment(rng: random.Random, length: int) -> str:
    """ASCII words, exactly ``length`` characters."""
    text = ""
    while len(text) < length:
        text += rng.choice(WORDS) + " "
    text = text[:length]
    return text[:-1] + "s" if text.endswith(" ") else text


def rule_probes(seed, catalogue) -> dict:
    """The ratings the check hands the learner's ``RULES``, made from ``seed``, one per :data:`CASES` in its order
    (``rows``), and the product ids they name (``products``: lowest, highest, gap, above)."""
    rng = random.Random(int(seed or 0) + 8)
    ids = sorted(int(i) for i in catalogue)
    lowest, highest = ids[0], ids[-1]
    gaps = sorted(set(range(lowest, highest)) - set(ids))
    products = {"lowest": lowest, "highest": highest, "gap": rng.choice(gaps) if gaps else highest + 2}
    products["above"] = highest + 1
    short = {"no product": None, **products}
    texts = {"120": _comment(rng, MAX_COMMENT), "121": _comment(rng, MAX_COMMENT + 1)}
    texts.update({"é120": "é" * MAX_COMMENT, "é121": "é" * (MAX_COMMENT + 1), "no comment": None})
    rows = []
    for rating, (case, *_) in zip(sorted(rng.sample(range(1000, 10000), len(CASES))), CASES):
        product = short[case] if case in short else rng.choice(ids)
        text = texts[case] if case in texts else _comment(rng, rng.randint(20, 60))
        rows.append({"id": rating, "product_id": product, "stars": rng.randint(1, 5), "text": text})
    return {"rows": rows, "products": products}


def observe_rules(rules, seed, catalogue) -> dict | None:
    """Each probe row's verdict under ``rules``, as the given ``validate`` reaches it: the reasons whose rule is
    true for it (its quarantine), and whether every rule is false for it (kept as good; a rule that gives no answer,
    null, keeps it out of both). None: no rules handed over."""
    import pyarrow as pa
    import ray
    from ray.data.expressions import Expr

    if rules is None:
        return None
    if not isinstance(rules, dict) or not rules:
        return {
            "error": f"`RULES` is {'an empty dict' if rules == {} else 'a ' + type(rules).__name__}, not a dict "
            "from each reason to an expression"
        }
    odd = next((reason for reason, rule in rules.items() if not isinstance(rule, Expr)), None)
    if odd is not None:
        return {"error": f"the rule {str(odd)!r} is a {type(rules[odd]).__name__}, not a Ray Data expression"}
    rows = rule_probes(seed, catalogue)["rows"]
    table = pa.Table.from_pylist(rows, schema=pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS]))
    names = {f"rule {n}": str(reason) for n, reason in enumerate(rules)}
    try:
        answers = ray.data.from_arrow(table).with_columns(dict(zip(names, rules.values()))).take_all()
    except Exception as error:  # noqa: BLE001 (a column the ratings lack, a rule that cannot run: the judge tells it)
        return {"error": error_line(error)}
    answers = sorted(answers, key=lambda row: row["id"])
    for name, reason in names.items():
        values = [row[name] for row in answers if row[name] is not None and not isinstance(row[name], bool)]
        if values:
            return {"error": f"the rule {reason!r} gives {type(values[0]).__name__} values, not true or false"}
    return {
        "rows": [
            {
                "reasons": [reason for name, reason in names.items() if row[name] is True],
                "kept": all(row[name] is False for name in names),
            }
            for row in answers
        ]
    }


def _hint(case: str) -> str:
    if case in NAME_IT:
        return f"Give the missing value its own rule: {NAME_IT[case]}."
    return PRODUCT_HINT if case in ("lowest", "highest", "gap", "above") else LENGTH_HINT


def check_rules(seen, seed, catalogue) -> None:
    """Every probe row as the rule says: a good one kept, a bad one quarantined (with a reason)."""
    if seen is None:
        raise Wrong(
            "the check got no `RULES`.",
            'Run the check cell as given: check.exercise_3(good_ratings, out_dir / "quarantine", validate, RULES).',
        )
    if seen.get("error") is not None:
        raise Wrong(
            f"your RULES could not be used on ratings of the check's own: {seen['error']}.",
            'RULES maps a reason to a Ray Data expression true where a row breaks it, such as col("text").is_null().',
        )
    products, rows = rule_probes(seed, catalogue)["products"], seen["rows"]
    if len(rows) != len(CASES):
        raise Wrong(f"the check saw {len(rows)} ratings of its own come back, not {len(CASES)}.", NULL_HINT)
    for (case, good, what, why), row in zip(CASES, rows):
        what = what.format(**products)
        if good and row["reasons"]:
            raise Wrong(f"{what} is quarantined by {row['reasons'][0]!r}: {why}.", _hint(case))
        if not good and row["kept"]:
            raise Wrong(f"{what} is among the good ones: {why}.", _hint(case))
        if not row["kept"] and not row["reasons"]:
            said = f"name it with `{NAME_IT[case]}`" if case in NAME_IT else "a rule gives no answer (null) for it"
            raise Wrong(f"{what} is neither good nor quarantined: {said}.", NULL_HINT)
