"""Exercise 2 · drift in what the reviews name: the share of a day's reviews that name a product the reference days
never name, and a threshold of the learner's.

The observer calls ``new_product_share`` on Ray Datasets it builds from the seed (:func:`share_probes`: a day with no
new product against a reference that repeats its products, a day with a quarter of new reviews whose new product
comes back, a day whose share is a tenth, a fifth, a half or three fifths), and reads ``THRESHOLD`` and ``flagged``.
The judge holds the answers to the rule and names the near miss they match (:data:`SLIPS`: distinct products
instead of reviews, the arguments reversed, a count, the day's own products taken as known, ...); then it computes
each later day's share from the data files itself and wants ``THRESHOLD`` to flag the last day and not the fourth,
and ``flagged`` to say so.
"""

from __future__ import annotations

import math
import random

from .._core import Wrong, encoded_number, exercise, require
from ..toolkit import error_line
from ._common import products_of, shop_days

KNOWN = (
    "pirate hat and an eye patch",
    "yellow raincoat",
    "red superhero cape",
    "tuxedo with a bow tie",
    "wizard robe with a pointed hat",
    "pink ballerina tutu",
    "velvet tracksuit with gold chains",
    "bright orange space suit",
)
NEW = ("padded winter coat", "knitted snood", "fleece-lined boots", "quilted gilet")
PETS = ("corgi", "parrot", "husky", "tabby cat", "rabbit")
TOLERANCE = 1e-9
RULE = "Count the day's reviews whose product is not among the reference's products, and divide by the day's reviews."


def _new(day, reference) -> list[bool]:
    known = set(reference)
    return [product not in known for product in day]


def share(day: list[str], reference: list[str]) -> float:
    """The rule: the share of ``day``'s reviews whose product ``reference`` never names."""
    return sum(_new(day, reference)) / len(day)


# near miss -> (its answer on the products of a day and of the reference, the hint); each differs from the rule and
# from every other on every seed's probes
SLIPS = {
    "the share of the day's distinct products that are new": (
        lambda d, r: len(set(d) - set(r)) / len(set(d)),
        "Count reviews, not distinct products: a new product named by three reviews counts three times.",
    ),
    "the distinct new products divided by the day's reviews": (
        lambda d, r: len(set(d) - set(r)) / len(d),
        "Count every review that names a new product, each time it does.",
    ),
    "with its arguments reversed (the reference's reviews the day never names)": (
        lambda d, r: share(r, d),
        "new_product_share(day_reviews, reference_reviews): the day's reviews over the reference's products.",
    ),
    "a count of reviews, not a share": (
        lambda d, r: float(sum(_new(d, r))),
        "Divide by the number of the day's reviews: a share lies between 0 and 1.",
    ),
    "the share of the day's reviews that name a known product": (
        lambda d, r: 1 - share(d, r),
        "Count the reviews whose product the reference never names.",
    ),
    "as if the day's own products were known (a reference that includes the day)": (
        lambda d, r: 0.0,
        "The known products are the reference's alone: a set from reference_reviews.unique('product').",
    ),
    "divided by the reference's reviews": (
        lambda d, r: sum(_new(d, r)) / len(r),
        "Divide by the number of the day's reviews.",
    ),
}


def _case(rng: random.Random, new_reviews: int, reviews: int) -> dict:
    """A reference of four products, each named two or three times, and a day of ``reviews`` reviews of which
    ``new_reviews`` name new products: the first of them named again when there are two or more."""
    known, fresh = rng.sample(KNOWN, 4), rng.sample(NEW, 2)
    reference = [p for p in known for _ in range(rng.randint(2, 3))]
    rng.shuffle(reference)
    two = new_reviews >= 3  # the first new product named twice or more, a second once
    day = (
        [fresh[0]] * (new_reviews - two)
        + [fresh[1]] * two
        + [rng.choice(known[:3]) for _ in range(reviews - new_reviews)]
    )
    rng.shuffle(day)
    return {"day": day, "reference": reference}


def share_probes(seed) -> list[dict]:
    """``new_product_share``'s probe inputs: three (day's products, reference's products), drawn again until every
    slip answers unlike the rule and every other slip."""
    rng = random.Random(int(seed or 0) + 11)
    while True:
        n = rng.choice((8, 12, 16))
        cases = [
            _case(rng, 0, rng.randint(5, 9)),
            _case(rng, n // 4, n),
            _case(rng, rng.choice((1, 2, 5, 6)), 10),
        ]
        answers = [[share(c["day"], c["reference"]) for c in cases]]
        answers += [[fn(c["day"], c["reference"]) for c in cases] for fn, _ in SLIPS.values()]
        if all(not _same(a, b) for i, a in enumerate(answers) for b in answers[i + 1 :]):
            return cases


def _same(a: list, b: list) -> bool:
    return all(math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE) for x, y in zip(a, b))


def _dataset(products: list[str], rng: random.Random):
    import ray

    rows = []
    for i, product in enumerate(products, 1):
        pet, stars = rng.choice(PETS), rng.randint(1, 5)
        rows.append({"id": i, "product": product, "pet": pet, "text": f"My {pet} wore the {product}.", "stars": stars})
    return ray.data.from_items(rows, override_num_blocks=2)


def _probe(new_product_share, seed) -> list:
    rng = random.Random(int(seed or 0) + 12)
    answers = []
    for case in share_probes(seed):
        day, reference = _dataset(case["day"], rng), _dataset(case["reference"], rng)
        try:
            answers.append(encoded_number(new_product_share(day, reference)))
        except Exception as exc:  # noqa: BLE001 (the learner's error, named by the judge)
            answers.append(["error", error_line(exc)])
            break
    return answers


def _shown(case: dict) -> str:
    new = sum(_new(case["day"], case["reference"]))
    return (
        f"a day of {len(case['day'])} reviews, {new} of them naming a product that a reference of "
        f"{len(case['reference'])} reviews never names"
    )


def check_shares(found: list, seed) -> None:
    cases = share_probes(seed)
    for case, (kind, value) in zip(cases, found):
        if kind == "error":
            raise Wrong(f"`new_product_share` failed on {_shown(case)}: {value}", "Fix the error above.")
        if kind != "number" or isinstance(value, str):
            raise Wrong(f"`new_product_share` returns {value} on {_shown(case)}, not a number.", "Return a float.")
    if len(found) != len(cases):
        raise Wrong(f"the check saw {len(found)} answers of `new_product_share`, not {len(cases)}.", RULE)
    values = [value for _, value in found]
    if _same(values, [share(c["day"], c["reference"]) for c in cases]):
        return
    for slip, (fn, hint) in SLIPS.items():
        if _same(values, [fn(c["day"], c["reference"]) for c in cases]):
            raise Wrong(f"on the check's own days, `new_product_share` answers {slip}.", hint)
    case, value = next((c, v) for c, v in zip(cases, values) if not _same([v], [share(c["day"], c["reference"])]))
    raise Wrong(
        f"`new_product_share` returns {value:.4g} on {_shown(case)}; the share is "
        f"{share(case['day'], case['reference']):.4g}.",
        RULE,
    )


def _real_shares() -> dict[str, float]:
    """Each day after the reference's share, from the data files (pandas): the judge's own."""
    days = shop_days()
    reference = products_of(days[:3])
    return {day: share(products_of([day]), reference) for day in days[3:]}


def check_threshold(threshold: list, flagged: list) -> str:
    shares = _real_shares()
    kind, value = threshold
    if kind != "number" or isinstance(value, str):
        raise Wrong(f"`THRESHOLD` is {value}, not a number.", "A share between 0 and 1, a float.")
    drifted = [day for day, s in shares.items() if s > value]
    calm = [day for day in shares if day not in drifted]
    last, others = max(shares), [day for day in shares if day != max(shares)]
    if last not in drifted:
        raise Wrong(
            f"with THRESHOLD = {value:g}, the last day is not flagged: its share is {shares[last]:g}.",
            "Choose a threshold below the share of a day of a new product line.",
        )
    if any(day in drifted for day in others):
        day = next(day for day in others if day in drifted)
        raise Wrong(
            f"with THRESHOLD = {value:g}, {day} is flagged too: its share is {shares[day]:g}.", "Choose higher."
        )
    if flagged[0] != "days":
        raise Wrong(f"`flagged` is {flagged[-1]}, not a list of days.", "A list: [day for day in DAYS[3:] if ...].")
    if flagged != ["days", [last]]:
        raise Wrong(
            f"`flagged` is {flagged[-1]}; your THRESHOLD flags {[last]}.",
            "flagged = [day for day in DAYS[3:] if new_product_share(...) > THRESHOLD]: a list of the days.",
        )
    return f"THRESHOLD = {value:g} flags {last} (share {shares[last]:g}) and not {', '.join(calm)}"


def _judge_2(seen, seed=None) -> str:
    check_shares(seen["shares"], seed)
    flags = check_threshold(seen["threshold"], seen["flagged"])
    return f"`new_product_share` holds on the check's own days; {flags}."


def _flagged(flagged) -> list:
    if isinstance(flagged, (list, tuple)) and all(isinstance(day, str) for day in flagged):
        return ["days", list(flagged)]
    return ["other", repr(flagged)[:80]]


@exercise("Exercise 2 · drift in what the reviews name", judge=_judge_2)
def exercise_2(new_product_share, threshold, flagged, *, seed=None) -> dict:
    require("new_product_share", new_product_share, "the share of a day's reviews naming a new product")
    require("THRESHOLD", threshold, "the share above which a day is flagged")
    require("flagged", flagged, "the days after the reference whose share is above THRESHOLD")
    if not callable(new_product_share):
        raise Wrong(f"`new_product_share` is {new_product_share!r}, not a function.", "Define it with def.")
    return {
        "shares": _probe(new_product_share, seed),
        "threshold": encoded_number(threshold),
        "flagged": _flagged(flagged),
    }
