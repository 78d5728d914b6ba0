"""Lab 02 checks: pass any correct answer, reject placeholders and plausible mistakes."""

import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle
from ray.data.expressions import col

import raycourse
from raycourse.checks import lab02

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

# Ray workers cannot import this test module: send its batch functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

NO_OUTFIT_IDS = [4, 9, 13, 18, 22]  # what data/README.md documents; the checks compute it themselves
UNWORN_IDS = [25, 26]


@pytest.fixture(scope="module")
def animals(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("animals")).materialize()


@pytest.fixture(scope="module")
def outfits(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("outfits")).materialize()


@pytest.fixture(scope="module")
def reviews(ray_session):
    import ray

    return ray.data.read_json(raycourse.data_path("text")).materialize()


def _full_outer(animals, outfits):
    return animals.join(outfits, join_type="full_outer", num_partitions=2, on=("id",))


@pytest.fixture(scope="module")
def full(animals, outfits):  # materialized: for the wrong answers, which the rows give away
    return _full_outer(animals, outfits).materialize()


@pytest.fixture(scope="module")
def left(animals, outfits):
    return animals.join(outfits, join_type="left_outer", num_partitions=2, on=("id",)).materialize()


@pytest.fixture(scope="module")
def frames():
    """The three tables as pandas DataFrames: answers that never touch Ray."""
    return (
        pd.read_csv(raycourse.data_path("animals")),
        pd.read_csv(raycourse.data_path("outfits")),
        pd.read_json(raycourse.data_path("text"), lines=True),
    )


def verdict(check, *args):
    return check.result(*args)


def _by_product(reviews, right, join_type="inner", right_on="outfit"):
    """``reviews`` joined with ``right`` on the review's `product` (``right_on`` on the right side)."""
    return reviews.join(right, join_type=join_type, num_partitions=2, on=("product",), right_on=(right_on,))


@pytest.mark.fast
def test_expected_answers_follow_the_data():
    assert sorted(lab02.expected_no_outfit()) == NO_OUTFIT_IDS
    assert sorted(lab02.expected_unworn()) == UNWORN_IDS
    prompts = lab02.expected_prompts()
    assert len(prompts) == 26
    assert prompts[1] == "A cinematic photo of a raccoon wearing a yellow raincoat"
    assert prompts[4] == "A pencil sketch of a hedgehog"
    assert prompts[25] == "A product photo of a lab coat and safety goggles"
    assert len(lab02.expected_product_ids()) == 60
    assert sorted(lab02.expected_unworn_reviews()) == [4, 17, 27, 36, 39, 53]


# Exercise 1 ---------------------------------------------------------------------------------
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 a Dataset: test_ex1_rejects_what_is_no_join_of_datasets[DataFrame], [rows], test_ex1_rejects_mistakes[count]
#   R2 every review, once: [misses 50], test_ex1_rejects_a_key_that_matches_nothing_and_duplicates
#   R3 with its own `id`: [its `id` column holds the outfits' ids], [holds the outfits' ids], [no `id` column]
#   R4 and its own columns: test_ex1_rejects_mistakes[lacks the reviews' own column(s)]
#   R5 `product_id`, the id of the outfit whose `outfit` is the review's `product`: [came out as `id_outfit`],
#      [came out as `id_product`], [has the `product_id`]
#   R6 the two `id` columns kept apart (the error named in one line): test_ex1_rejects_two_id_columns_with_...
#   R7 by a join (the lesson's, of another shape): test_ex1_rejects_what_is_no_join_of_datasets[from_pandas]
# Right answers written otherwise: test_ex1_accepts_different_correct_answers.


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    v = verdict(lab02.exercise_1, ...)
    assert v.status == "not solved" and "`reviewed` is still `...`" in v.message


@pytest.mark.fast
@pytest.mark.parametrize(
    "answer",
    [
        # the solution: the outfits' id renamed first, an inner join on differently named keys
        lambda r, o: r.join(
            o.rename_columns({"id": "product_id"}),
            join_type="inner",
            num_partitions=2,
            on=("product",),
            right_on=("outfit",),
        ),
        # a suffix for the right side, renamed afterwards; a left outer join
        lambda r, o: r.join(
            o, join_type="left_outer", num_partitions=3, on=("product",), right_on=("outfit",), right_suffix="_outfit"
        ).rename_columns({"id_outfit": "product_id"}),
        # the key renamed to match on both sides, the outfits on the right with the review-side name
        lambda r, o: r.join(
            o.rename_columns({"id": "product_id", "outfit": "product"}),
            join_type="inner",
            num_partitions=1,
            on=("product",),
        ),
        # outfits on the left, a right outer join that keeps every review
        lambda r, o: o.rename_columns({"id": "product_id"}).join(
            r, join_type="right_outer", num_partitions=2, on=("outfit",), right_on=("product",)
        ),
    ],
)
def test_ex1_accepts_different_correct_answers(reviews, outfits, answer):
    v = verdict(lab02.exercise_1, answer(reviews, outfits))
    assert v.passed, v
    assert "60 reviews, each with the id of its product" in v.message


@pytest.mark.parametrize(
    "answer, message",
    [
        (lambda merged: merged, "is a DataFrame, not a Ray Dataset"),
        (lambda merged: merged.to_dict("records"), "is a list, not a Ray Dataset"),
        (lambda merged: ray.data.from_pandas(merged), "was not made by a join"),  # joined in pandas
    ],
)
def test_ex1_rejects_what_is_no_join_of_datasets(ray_session, frames, answer, message):
    _, o, r = frames
    merged = r.merge(o.rename(columns={"id": "product_id"}), left_on="product", right_on="outfit")
    v = verdict(lab02.exercise_1, answer(merged))
    assert v.status == "wrong" and message in v.message and v.hint, v


@pytest.mark.parametrize(
    "mistake, message",
    [
        # the suffixed id left as it is
        (
            lambda r, o: r.join(
                o, join_type="inner", num_partitions=2, on=("product",), right_on=("outfit",), right_suffix="_outfit"
            ),
            "came out as `id_outfit`",
        ),
        # both sides suffixed: the review's own id is gone
        (
            lambda r, o: r.join(
                o,
                join_type="inner",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
                left_suffix="_review",
                right_suffix="_product",
            ),
            "came out as `id_product`",
        ),
        # the reviews' id renamed instead of the outfits'
        (
            lambda r, o: r.rename_columns({"id": "review_id"}).join(
                o, join_type="inner", num_partitions=2, on=("product",), right_on=("outfit",)
            ),
            "its `id` column holds the outfits' ids",
        ),
        # the outfits' id taken as the row's id: ids repeat
        (
            lambda r, o: (
                r.drop_columns(["id"])
                .join(o, join_type="inner", num_partitions=2, on=("product",), right_on=("outfit",))
                .map_batches(lambda b: {**b, "product_id": b["id"]})
            ),
            "holds the outfits' ids",
        ),
        # a semi join: one row per outfit that has reviews, the outfits' ids
        (
            lambda r, o: o.rename_columns({"id": "product_id"}).join(
                r, join_type="left_semi", num_partitions=2, on=("outfit",), right_on=("product",)
            ),
            "no `id` column",
        ),
        # the wrong product for some reviews
        (
            lambda r, o: _by_product(r, o.rename_columns({"id": "product_id"})).map_batches(
                lambda b: {**b, "product_id": b["product_id"] + 1}
            ),
            "has the `product_id`",
        ),
        (lambda r, o: _by_product(r, o.rename_columns({"id": "product_id"})).limit(10), "misses 50 review(s)"),
        (lambda r, o: _by_product(r, o.rename_columns({"id": "product_id"})).count(), "is an int"),
        # the reviews' other columns dropped
        (
            lambda r, o: _by_product(r.select_columns(["id", "product"]), o.rename_columns({"id": "product_id"})),
            "lacks the reviews' own column(s) ['pet', 'text', 'stars', 'label']",
        ),
    ],
)
def test_ex1_rejects_mistakes(reviews, outfits, mistake, message):
    v = verdict(lab02.exercise_1, mistake(reviews, outfits))
    assert v.status == "wrong" and message in v.message and v.hint, v


def test_ex1_rejects_two_id_columns_with_the_error_and_a_hint(reviews, outfits):
    ds = reviews.join(outfits, join_type="inner", num_partitions=2, on=("product",), right_on=("outfit",))
    v = verdict(lab02.exercise_1, ds)
    assert (
        v.status == "wrong" and "failed: ValueError: Left and right columns suffixes cannot be both None" in v.message
    )
    assert "another name" in v.hint


@pytest.mark.fast
def test_ex1_rejects_a_key_that_matches_nothing_and_duplicates(reviews, outfits, frames):
    v = verdict(
        lab02.exercise_1,
        _by_product(
            reviews.rename_columns({"product": "p", "text": "product"}), outfits.rename_columns({"id": "product_id"})
        ),
    )
    assert v.status == "wrong" and "is empty" in v.message, v
    joined = _by_product(reviews, outfits.rename_columns({"id": "product_id"}))
    v = verdict(lab02.exercise_1, joined.union(joined.limit(3)))
    assert v.status == "wrong" and "duplicate" in v.message, v
    _, o, r = frames
    merged = r.merge(o.rename(columns={"id": "product_id"}), left_on="product", right_on="outfit")
    one_per_outfit = ray.data.from_pandas(merged.drop_duplicates("product_id"))  # an outfit's first review only
    v = verdict(lab02.exercise_1, one_per_outfit)
    assert v.status == "wrong" and "one per outfit" in v.message, v


# Exercise 2 ---------------------------------------------------------------------------------
# Exercise 2 requires:
#   R1 a Dataset: test_ex2_rejects_steps_the_text_does_not_ask_for[DataFrame], test_ex2_rejects_mistakes[is a str]
#   R2 one row for each `id` of either table: [misses the outfits...], [misses the animals...], [duplicate], [empty]
#   R3 the columns `id` and `prompt`: [no `prompt` column], [no `id` column]
#   R4 "<animal> wearing a <outfit>" where both: test_ex2_rejects_a_different_joiner, [not a string]
#   R5 the animal text unchanged where no outfit: [animal text unchanged]
#   R6 "A product photo of a <outfit>" where no animal: [an outfit that no animal wears]
#   R7 from a join that keeps the rows of both sides: test_ex2_rejects_steps_...[left join and union], [from_pandas]
#   R8 `prompt` added by a function passed to map_batches, on whole columns: test_ex2_rejects_steps_...[row map]
#   R9 no prompt holds None, nan or <NA>: [no prompt (a missing value)], [contains 'None'], [failed: TypeError]
# Right answers written otherwise: test_ex2_accepts_different_correct_answers.


def _prompt_numpy(batch):  # the solution's way
    has_animal, has_outfit = ~pd.isna(batch["animal"]), ~pd.isna(batch["outfit"])
    animal = np.where(has_animal, batch["animal"], "")
    outfit = np.where(has_outfit, batch["outfit"], "")
    dressed = np.where(has_outfit, animal + " wearing a " + outfit, animal)
    batch["prompt"] = np.where(has_animal, dressed, "A product photo of a " + outfit)
    return batch


def _prompt_pandas(df: pd.DataFrame) -> pd.DataFrame:  # a correct answer in pandas
    dressed = (df["animal"] + " wearing a " + df["outfit"]).fillna(df["animal"])
    df["prompt"] = dressed.fillna("A product photo of a " + df["outfit"])
    return df


def _prompt_rows(batch):  # a correct answer row by row
    def one(animal, outfit):
        if animal is None:
            return f"A product photo of a {outfit}"
        return animal if outfit is None else f"{animal} wearing a {outfit}"

    batch["prompt"] = np.array([one(a, o) for a, o in zip(batch["animal"], batch["outfit"])], dtype=object)
    return batch


def _prompt_two_cases(df: pd.DataFrame) -> pd.DataFrame:  # the lesson's left-join rule: the unworn outfits get nan
    df["prompt"] = (df["animal"] + " wearing a " + df["outfit"]).fillna(df["animal"])
    return df


def _prompt_none_text(batch):  # the classic mistake: str(None) ends up in the prompt
    batch["prompt"] = batch["animal"].astype(str) + " wearing a " + batch["outfit"].astype(str)
    return batch


def _prompt_crashes(batch):  # None + str raises inside a Ray task
    batch["prompt"] = batch["animal"] + " wearing a " + batch["outfit"]
    return batch


def _prompt_wrong_photo(df: pd.DataFrame) -> pd.DataFrame:
    dressed = (df["animal"] + " wearing a " + df["outfit"]).fillna(df["animal"])
    df["prompt"] = dressed.fillna("A photo of a " + df["outfit"])
    return df


def _prompt_default_outfit(df: pd.DataFrame) -> pd.DataFrame:  # the lesson's default outfit for the animals
    df["prompt"] = (df["animal"] + " wearing a " + df["outfit"].fillna("plain woollen scarf")).fillna(
        "A product photo of a " + df["outfit"]
    )
    return df


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved():
    v = verdict(lab02.exercise_2, ...)
    assert v.status == "not solved" and "`prompts` is still `...`" in v.message


@pytest.mark.fast
@pytest.mark.parametrize(
    "answer",
    [
        lambda f: f.map_batches(_prompt_numpy),
        lambda f: f.map_batches(_prompt_pandas, batch_format="pandas"),
        lambda f: f.map_batches(_prompt_rows, batch_size=5).select_columns(["id", "prompt"]),
    ],
)
def test_ex2_accepts_different_correct_answers(animals, outfits, answer):
    v = verdict(lab02.exercise_2, answer(_full_outer(animals, outfits)))
    assert v.passed, v
    assert "26 prompts: 19 animals in their outfit, 5 animals without one, 2 product photos" in v.message


def test_a_materialized_answer_is_judged_by_what_its_stats_say_made_it(animals, outfits, reviews, frames):
    """Lesson 01 teaches materialize(), and no exercise forbids it: a right answer materialized passes every exercise;
    one whose stats name no join, or a row `map` for the prompt, is still refused for that step."""
    by_text = dict(on=("product",), right_on=("outfit",), num_partitions=2)
    reviewed = reviews.join(outfits.rename_columns({"id": "product_id"}), join_type="inner", **by_text)
    assert verdict(lab02.exercise_1, reviewed.materialize()).passed
    prompts = _full_outer(animals, outfits).map_batches(_prompt_numpy).materialize()
    assert type(prompts).__name__ == "MaterializedDataset"
    v = verdict(lab02.exercise_2, prompts)
    assert v.passed and "26 prompts" in v.message, v
    assert lab02.stretch.result(_by_product(reviews, _unworn(animals, outfits), "left_semi").materialize()).passed
    a, o, _ = frames
    in_pandas = ray.data.from_pandas(_prompt_pandas(a.merge(o, on="id", how="outer"))).materialize()
    v = verdict(lab02.exercise_2, in_pandas)
    assert v.status == "wrong" and "was not made by a join" in v.message and "stats" in v.message, v
    v = verdict(lab02.exercise_2, _full_outer(animals, outfits).map(_prompt_row).materialize())
    assert v.status == "wrong" and "row by row (`map`)" in v.message, v
    v = verdict(
        lab02.exercise_2,
        animals.join(outfits, join_type="left_outer", num_partitions=2, on=("id",))
        .map_batches(_prompt_numpy)
        .materialize(),
    )
    assert v.status == "wrong" and "misses the outfits that no animal wears" in v.message, v  # the rows tell


def _no_animal(batch):  # the outfits of an anti join, with the `animal` column they lack
    return {**batch, "animal": np.array([None] * len(batch["id"]), dtype=object)}


def _prompt_row(row):  # a row function: right prompts, but not on whole columns
    animal, outfit = row["animal"], row["outfit"]
    dressed = animal if outfit is None else f"{animal} wearing a {outfit}"
    return {**row, "prompt": f"A product photo of a {outfit}" if animal is None else dressed}


@pytest.mark.parametrize(
    "mistake, message",
    [
        # R1: right prompts in pandas, never a Dataset
        (lambda a, o, frames: _prompt_pandas(frames[0].merge(frames[1], on="id", how="outer")), "not a Ray Dataset"),
        # R7: right prompts in pandas, handed over as a Dataset
        (
            lambda a, o, frames: ray.data.from_pandas(_prompt_pandas(frames[0].merge(frames[1], on="id", how="outer"))),
            "was not made by a join",
        ),
        # R7: a left join plus the unworn outfits by an anti join: two joins, none keeps both sides
        (
            lambda a, o, frames: (
                a.join(o, join_type="left_outer", num_partitions=2, on=("id",))
                .union(o.join(a, join_type="left_anti", num_partitions=2, on=("id",)).map_batches(_no_animal))
                .map_batches(_prompt_numpy)
            ),
            "not from one join that keeps the rows of both sides",
        ),
        # R8: the prompt made row by row
        (lambda a, o, frames: _full_outer(a, o).map(_prompt_row), "row by row (`map`)"),
    ],
)
def test_ex2_rejects_steps_the_text_does_not_ask_for(animals, outfits, frames, mistake, message):
    v = verdict(lab02.exercise_2, mistake(animals, outfits, frames))
    assert v.status == "wrong" and message in v.message and v.hint, v


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda f, l: l.map_batches(_prompt_numpy), "misses the outfits that no animal wears"),
        (
            lambda f, l: f.map_batches(_prompt_numpy).filter(lambda r: r["animal"] is not None or r["id"] < 0),
            "misses the outfits that no animal wears",
        ),
        (
            lambda f, l: f.map_batches(_prompt_numpy).filter(lambda r: r["outfit"] is not None),
            "misses the animals without an outfit",
        ),
        (lambda f, l: f, "no `prompt` column"),
        (lambda f, l: f.map_batches(_prompt_numpy).drop_columns(["id"]), "no `id` column"),
        (lambda f, l: f.map_batches(_prompt_two_cases, batch_format="pandas"), "no prompt (a missing value)"),
        (lambda f, l: f.map_batches(_prompt_none_text), "contains 'None'"),
        (lambda f, l: f.map_batches(_prompt_crashes), "failed: TypeError"),
        (lambda f, l: f.map_batches(_prompt_wrong_photo, batch_format="pandas"), "an outfit that no animal wears"),
        (lambda f, l: f.map_batches(_prompt_default_outfit, batch_format="pandas"), "animal text unchanged"),
        (lambda f, l: f.map_batches(_prompt_numpy).union(f.map_batches(_prompt_numpy)), "duplicate"),
        (lambda f, l: f.map_batches(lambda b: {**b, "prompt": b["id"]}), "not a string"),
        (lambda f, l: "a prompt", "is a str"),
        (lambda f, l: f.filter(lambda r: r["id"] > 100).map_batches(_prompt_numpy), "is empty"),
    ],
)
def test_ex2_rejects_mistakes(full, left, mistake, message):
    v = verdict(lab02.exercise_2, mistake(full, left))
    assert v.status == "wrong" and message in v.message and v.hint, v


@pytest.mark.fast
def test_ex2_rejects_a_different_joiner(ray_session, frames):
    a, o, _ = frames
    df = _prompt_pandas(a.merge(o, on="id", how="outer"))
    df.loc[df["id"] == 1, "prompt"] = "A cinematic photo of a raccoon  wearing  a yellow raincoat"
    v = verdict(lab02.exercise_2, ray.data.from_pandas(df))
    assert v.status == "wrong" and "expected 'A cinematic photo of a raccoon wearing a yellow raincoat'" in v.message


@pytest.mark.fast
def test_check_cells_print_one_verdict_line(capsys):
    lab02.exercise_2(...)
    assert capsys.readouterr().out.startswith("⏳ Exercise 2 not solved yet")


# Stretch: reviews of outfits nobody wears ------------------------------------------------------------
# The stretch requires:
#   R1 a Dataset: test_stretch_rejects_mistakes[DataFrame], [an int]
#   R2 the reviews whose product is an outfit that no animal wears: [that animals DO wear] (twice), [is empty]
#   R3 the reviews' own columns and nothing else: [not the reviews' own], [no `product`], [lacks the reviews' own]
#   R4 joins only, no filter: test_stretch_rejects_other_steps_than_joins
# Right answers written otherwise: test_stretch_accepts_an_anti_then_a_semi_join.


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab02.stretch.result(...).status == "not solved"


def _unworn(animals, outfits):
    return outfits.join(animals, join_type="left_anti", num_partitions=2, on=("id",))


@pytest.mark.fast
def test_stretch_accepts_an_anti_then_a_semi_join(animals, outfits, reviews):
    v = lab02.stretch.result(_by_product(reviews, _unworn(animals, outfits), "left_semi"))
    assert v.passed, v
    assert "6 reviews of the outfits nobody wears: graduation gown" in v.message
    right_semi = _unworn(animals, outfits).join(
        reviews, join_type="right_semi", num_partitions=2, on=("outfit",), right_on=("product",)
    )
    assert lab02.stretch.result(right_semi).passed
    # the reviews of the worn outfits left out: a semi join, then an anti join
    worn = outfits.join(animals, join_type="left_semi", num_partitions=2, on=("id",))
    assert lab02.stretch.result(_by_product(reviews, worn, "left_anti")).passed


def _unworn_products(frames) -> list[str]:
    a, o, _ = frames
    return sorted(o[~o["id"].isin(a["id"])]["outfit"])


@pytest.mark.parametrize(
    "mistake, message",
    [
        # an anti join where a semi join belongs: the reviews of the worn outfits
        (lambda a, o, r, f: _by_product(r, _unworn(a, o), "left_anti"), "that animals DO wear"),
        # the outfits that some animal wears, on the semi join's right
        (
            lambda a, o, r, f: _by_product(
                r, o.join(a, join_type="left_semi", num_partitions=2, on=("id",)), "left_semi"
            ),
            "that animals DO wear",
        ),
        # an inner join: the outfits' columns come along
        (lambda a, o, r, f: _by_product(r, _unworn(a, o).rename_columns({"id": "outfit_id"})), "not the reviews' own"),
        # the animals without an outfit, whose text matches no product
        (
            lambda a, o, r, f: _by_product(
                r, a.join(o, join_type="left_anti", num_partitions=2, on=("id",)), "left_semi", right_on="animal"
            ),
            "is empty",
        ),
        (lambda a, o, r, f: _unworn(a, o), "no `product`"),
        # the reviews' own columns, not all of them
        (
            lambda a, o, r, f: _by_product(r.drop_columns(["label"]), _unworn(a, o), "left_semi"),
            "lacks the reviews' own column(s) ['label']",
        ),
        # right rows, filtered in pandas
        (lambda a, o, r, f: f[2][f[2]["product"].isin(_unworn_products(f))], "is a DataFrame, not a Ray Dataset"),
        (lambda a, o, r, f: 2, "is an int"),
    ],
)
def test_stretch_rejects_mistakes(animals, outfits, reviews, frames, mistake, message):
    v = lab02.stretch.result(mistake(animals, outfits, reviews, frames))
    assert v.status == "wrong" and message in v.message and v.hint, v


@pytest.mark.fast
@pytest.mark.parametrize(
    "mistake, message",
    [
        # the right reviews, with a filter and no join
        (lambda a, o, r, f: r.filter(expr=col("product").is_in(_unworn_products(f))), "was not made by a join"),
        # the lesson's other way to rows without a partner: a left outer join and a filter on the missing side
        (
            lambda a, o, r, f: _by_product(
                r,
                o.join(a, join_type="left_outer", num_partitions=2, on=("id",))
                .filter(expr=col("animal").is_null())
                .select_columns(["outfit"]),
                "left_semi",
            ),
            "made with a filter besides joins",
        ),
        # the semi join's rows chosen again in a batch function
        (
            lambda a, o, r, f: _by_product(r, _unworn(a, o), "left_semi").map_batches(lambda b: b),
            "made with a batch function besides joins",
        ),
    ],
)
def test_stretch_rejects_other_steps_than_joins(animals, outfits, reviews, frames, mistake, message):
    v = lab02.stretch.result(mistake(animals, outfits, reviews, frames))
    assert v.status == "wrong" and message in v.message and "join" in v.hint, v
