"""Lab 02 checks: pass any correct answer, reject placeholders and plausible mistakes."""

import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle

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


@pytest.fixture(scope="module")
def full(animals, outfits):
    return animals.join(outfits, join_type="full_outer", num_partitions=2, on=("id",)).materialize()


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


def test_ex1_placeholder_is_not_solved():
    v = verdict(lab02.exercise_1, ...)
    assert v.status == "not solved" and "`reviewed` is still `...`" in v.message


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


def test_ex1_accepts_pandas(frames):
    _, o, r = frames
    merged = r.merge(o.rename(columns={"id": "product_id"}), left_on="product", right_on="outfit")
    assert verdict(lab02.exercise_1, merged.sample(frac=1, random_state=0)).passed
    assert verdict(lab02.exercise_1, merged[["id", "product_id"]].to_dict("records")).passed


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
            lambda r, o: r.join(
                o.rename_columns({"id": "product_id"}),
                join_type="inner",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
            ).map_batches(lambda b: {**b, "product_id": b["product_id"] + 1}),
            "has the `product_id`",
        ),
        (
            lambda r, o: r.join(
                o.rename_columns({"id": "product_id"}),
                join_type="inner",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
            ).limit(10),
            "misses 50 review(s)",
        ),
        (
            lambda r, o: r.join(
                o.rename_columns({"id": "product_id"}),
                join_type="inner",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
            ).count(),
            "is an int",
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


def test_ex1_rejects_a_key_that_matches_nothing_and_duplicates(reviews, outfits, frames):
    _, o, r = frames
    v = verdict(lab02.exercise_1, r.merge(o.rename(columns={"id": "product_id"}), left_on="text", right_on="outfit"))
    assert v.status == "wrong" and "is empty" in v.message, v
    merged = r.merge(o.rename(columns={"id": "product_id"}), left_on="product", right_on="outfit")
    v = verdict(lab02.exercise_1, pd.concat([merged, merged.head(3)]))
    assert v.status == "wrong" and "duplicate" in v.message, v
    one_per_outfit = merged.drop_duplicates("product_id")  # an outfit's first review only
    v = verdict(lab02.exercise_1, one_per_outfit)
    assert v.status == "wrong" and "one per outfit" in v.message, v


# Exercise 2 ---------------------------------------------------------------------------------


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


def test_ex2_placeholder_is_not_solved():
    v = verdict(lab02.exercise_2, ...)
    assert v.status == "not solved" and "`prompts` is still `...`" in v.message


@pytest.mark.parametrize(
    "answer",
    [
        lambda f: f.map_batches(_prompt_numpy),
        lambda f: f.map_batches(_prompt_pandas, batch_format="pandas"),
        lambda f: f.map_batches(_prompt_rows, batch_size=5).select_columns(["id", "prompt"]),
    ],
)
def test_ex2_accepts_different_correct_answers(full, answer):
    v = verdict(lab02.exercise_2, answer(full))
    assert v.passed, v
    assert "26 prompts: 19 animals in their outfit, 5 animals without one, 2 product photos" in v.message


def test_ex2_accepts_pandas_and_rows(frames):
    a, o, _ = frames
    df = _prompt_pandas(a.merge(o, on="id", how="outer"))
    assert verdict(lab02.exercise_2, df.sample(frac=1, random_state=0)).passed  # DataFrame, shuffled
    assert verdict(lab02.exercise_2, df.to_dict("records")).passed  # list of rows


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


def test_ex2_rejects_a_different_joiner(frames):
    a, o, _ = frames
    df = _prompt_pandas(a.merge(o, on="id", how="outer"))
    df.loc[df["id"] == 1, "prompt"] = "A cinematic photo of a raccoon  wearing  a yellow raincoat"
    v = verdict(lab02.exercise_2, df)
    assert v.status == "wrong" and "expected 'A cinematic photo of a raccoon wearing a yellow raincoat'" in v.message


def test_check_cells_print_one_verdict_line(capsys):
    lab02.exercise_2(...)
    assert capsys.readouterr().out.startswith("⏳ Exercise 2 not solved yet")


# Stretch: reviews of outfits nobody wears ------------------------------------------------------------


def test_stretch_placeholder_is_not_solved():
    assert lab02.stretch.result(...).status == "not solved"


def _unworn(animals, outfits):
    return outfits.join(animals, join_type="left_anti", num_partitions=2, on=("id",))


def test_stretch_accepts_an_anti_then_a_semi_join_and_pandas(animals, outfits, reviews, frames):
    semi = reviews.join(
        _unworn(animals, outfits), join_type="left_semi", num_partitions=2, on=("product",), right_on=("outfit",)
    )
    v = lab02.stretch.result(semi)
    assert v.passed, v
    assert "6 reviews of the outfits nobody wears: graduation gown" in v.message
    right_semi = _unworn(animals, outfits).join(
        reviews, join_type="right_semi", num_partitions=2, on=("outfit",), right_on=("product",)
    )
    assert lab02.stretch.result(right_semi).passed
    a, o, r = frames
    unworn = set(o[~o["id"].isin(a["id"])]["outfit"])
    assert lab02.stretch.result(r[r["product"].isin(unworn)]).passed


@pytest.mark.parametrize(
    "mistake, message",
    [
        # an anti join where a semi join belongs: the reviews of the worn outfits
        (
            lambda a, o, r: r.join(
                _unworn(a, o), join_type="left_anti", num_partitions=2, on=("product",), right_on=("outfit",)
            ),
            "that animals DO wear",
        ),
        # the outfits that some animal wears, on the semi join's right
        (
            lambda a, o, r: r.join(
                o.join(a, join_type="left_semi", num_partitions=2, on=("id",)),
                join_type="left_semi",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
            ),
            "that animals DO wear",
        ),
        # an inner join: the outfits' columns come along
        (
            lambda a, o, r: r.join(
                _unworn(a, o).rename_columns({"id": "outfit_id"}),
                join_type="inner",
                num_partitions=2,
                on=("product",),
                right_on=("outfit",),
            ),
            "not the reviews' own",
        ),
        # the animals without an outfit, whose text matches no product
        (
            lambda a, o, r: r.join(
                a.join(o, join_type="left_anti", num_partitions=2, on=("id",)),
                join_type="left_semi",
                num_partitions=2,
                on=("product",),
                right_on=("animal",),
            ),
            "is empty",
        ),
        (lambda a, o, r: _unworn(a, o), "no `product`"),
    ],
)
def test_stretch_rejects_mistakes(animals, outfits, reviews, mistake, message):
    v = lab02.stretch.result(mistake(animals, outfits, reviews))
    assert v.status == "wrong" and message in v.message and v.hint, v
    assert lab02.stretch.result(2).status == "wrong"
