"""Lab 02 checks: pass any correct answer, reject placeholders and plausible mistakes."""

import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle

import raycourse
from raycourse.checks import lab02

# Ray workers cannot import this test module: send its batch functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

NO_OUTFIT_IDS = [4, 9, 13, 18, 22]  # what data/README.md documents; the checks compute it themselves


@pytest.fixture(scope="module")
def animals(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("animals")).materialize()


@pytest.fixture(scope="module")
def outfits(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("outfits")).materialize()


@pytest.fixture(scope="module")
def left(animals, outfits):
    return animals.join(outfits, join_type="left_outer", num_partitions=2, on=("id",)).materialize()


@pytest.fixture(scope="module")
def inner(animals, outfits):
    return animals.join(outfits, join_type="inner", num_partitions=2, on=("id",)).materialize()


@pytest.fixture(scope="module")
def frames():
    """The two tables as pandas DataFrames: answers that never touch Ray."""
    return pd.read_csv(raycourse.data_path("animals")), pd.read_csv(raycourse.data_path("outfits"))


def _prompt_pandas(df: pd.DataFrame) -> pd.DataFrame:  # a correct answer in pandas
    df["prompt"] = (df["animal"] + " wearing a " + df["outfit"]).fillna(df["animal"])
    return df


def _prompt_numpy(batch):  # a correct answer in NumPy, written differently from the solution
    outfit = batch["outfit"]
    has = np.array([o is not None for o in outfit], dtype=bool)
    batch["prompt"] = np.array([f"{a} wearing a {o}" if h else a
                                for a, o, h in zip(batch["animal"], outfit, has)], dtype=object)
    return batch


def _prompt_none_text(batch):  # the classic mistake: str(None) ends up in the prompt
    batch["prompt"] = batch["animal"] + " wearing a " + batch["outfit"].astype(str)
    return batch


def _prompt_no_outfit_anywhere(batch):
    batch["prompt"] = batch["animal"]
    return batch


def _prompt_empty_outfit(df: pd.DataFrame) -> pd.DataFrame:
    df["prompt"] = df["animal"] + " wearing a " + df["outfit"].fillna("")
    return df


def _prompt_missing(df: pd.DataFrame) -> pd.DataFrame:  # forgets the missing outfits: <NA> prompts
    df["prompt"] = df["animal"] + " wearing a " + df["outfit"]
    return df


def _prompt_crashes(batch):  # None + str raises inside a Ray task
    batch["prompt"] = batch["animal"] + " wearing a " + batch["outfit"]
    return batch


def _prompt_wrong_words(df: pd.DataFrame) -> pd.DataFrame:
    df["prompt"] = (df["animal"] + " in a " + df["outfit"]).fillna(df["animal"])
    return df


def verdict(check, *args):
    return check.result(*args)


def test_expected_answers_follow_the_data():
    assert sorted(lab02.expected_no_outfit()) == NO_OUTFIT_IDS
    prompts = lab02.expected_prompts()
    assert len(prompts) == 24
    assert prompts[1] == "A cinematic photo of a raccoon wearing a yellow raincoat"
    assert prompts[4] == "A pencil sketch of a hedgehog"


# Exercise 1 ---------------------------------------------------------------------------------

def test_ex1_placeholder_is_not_solved():
    v = verdict(lab02.exercise_1, ...)
    assert v.status == "not solved" and "`no_outfit` is still `...`" in v.message


def test_ex1_accepts_different_correct_answers(animals, outfits, left, frames):
    from ray.data.expressions import col

    solution_like = left.filter(expr=col("outfit").is_null())
    assert verdict(lab02.exercise_1, solution_like).passed
    anti = animals.join(outfits, join_type="left_anti", num_partitions=3, on=("id",))
    v = verdict(lab02.exercise_1, anti)
    assert v.passed and "[4, 9, 13, 18, 22]" in v.message
    a, o = frames
    merged = a.merge(o, on="id", how="left")
    df = merged[merged["outfit"].isna()]
    assert verdict(lab02.exercise_1, df).passed  # a pandas DataFrame
    assert verdict(lab02.exercise_1, df.to_dict("records")[::-1]).passed  # rows, in another order
    assert verdict(lab02.exercise_1, solution_like.drop_columns(["outfit"]).take_batch(10)).passed  # a batch


@pytest.mark.parametrize("mistake, message", [
    (lambda l, i, a, o: i, "DO have an outfit"),
    (lambda l, i, a, o: l, "holds all 24 animals"),
    (lambda l, i, a, o: o.join(a, join_type="left_anti", num_partitions=2, on=("id",)), "no `animal` column"),
    (lambda l, i, a, o: a.join(o, join_type="right_outer", num_partitions=2, on=("id",))
     .filter(lambda r: r["animal"] is None), "not animals"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None).select_columns(["id"]), "no `animal` column"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None).limit(3), "misses 2 animal(s)"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None or r["id"] == 1), "that do have an outfit"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None).union(l.filter(lambda r: r["outfit"] is None)),
     "duplicate"),
    (lambda l, i, a, o: l.filter(lambda r: r["id"] > 100), "is empty"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None).count(), "is an int"),
    (lambda l, i, a, o: NO_OUTFIT_IDS, "is a list"),
    (lambda l, i, a, o: l.filter(lambda r: r["outfit"] is None).rename_columns({"animal": "a", "outfit": "animal"}),
     "`animal` text of id 4"),
])
def test_ex1_rejects_mistakes(left, inner, animals, outfits, mistake, message):
    v = verdict(lab02.exercise_1, mistake(left, inner, animals, outfits))
    assert v.status == "wrong" and message in v.message and v.hint, v


# Exercise 2 ---------------------------------------------------------------------------------

def test_ex2_placeholder_is_not_solved():
    v = verdict(lab02.exercise_2, ...)
    assert v.status == "not solved" and "`prompts` is still `...`" in v.message


def test_ex2_accepts_different_correct_answers(left, frames):
    v = verdict(lab02.exercise_2, left.map_batches(_prompt_pandas, batch_format="pandas"))
    assert v.passed and "24 prompts" in v.message, v
    numpy_way = left.map_batches(_prompt_numpy, batch_size=5).select_columns(["id", "prompt"])
    assert verdict(lab02.exercise_2, numpy_way).passed
    a, o = frames
    df = _prompt_pandas(a.merge(o, on="id", how="left"))
    assert verdict(lab02.exercise_2, df.sample(frac=1, random_state=0)).passed  # DataFrame, shuffled
    assert verdict(lab02.exercise_2, df.to_dict("records")).passed  # list of rows


@pytest.mark.parametrize("mistake, message", [
    (lambda l, i: i.map_batches(_prompt_pandas, batch_format="pandas"), "only the animals with an outfit"),
    (lambda l, i: l, "no `prompt` column"),
    (lambda l, i: l.map_batches(_prompt_pandas, batch_format="pandas").drop_columns(["id"]), "no `id` column"),
    (lambda l, i: l.map_batches(_prompt_none_text), "contains 'None'"),
    (lambda l, i: l.map_batches(_prompt_missing, batch_format="pandas"), "no prompt (a missing value)"),
    (lambda l, i: l.map_batches(_prompt_crashes), "failed: TypeError: can only concatenate str"),
    (lambda l, i: l.map_batches(_prompt_no_outfit_anywhere), "does not mention its outfit"),
    (lambda l, i: l.map_batches(_prompt_wrong_words, batch_format="pandas"), "expected 'A cinematic"),
    (lambda l, i: l.map_batches(_prompt_empty_outfit, batch_format="pandas"), "animal text unchanged"),
    (lambda l, i: l.map_batches(_prompt_pandas, batch_format="pandas").limit(20), "misses"),
    (lambda l, i: l.map_batches(_prompt_pandas, batch_format="pandas").union(
        i.map_batches(_prompt_pandas, batch_format="pandas")), "duplicate"),
    (lambda l, i: l.map_batches(lambda b: {**b, "prompt": np.where(b["outfit"] == None, "", b["animal"])}),  # noqa: E711
     "empty strings"),
    (lambda l, i: l.map_batches(lambda b: {**b, "prompt": b["id"]}), "not a string"),
    (lambda l, i: "a prompt", "is a str"),
    (lambda l, i: l.filter(lambda r: r["id"] > 100).map_batches(_prompt_numpy), "is empty"),
])
def test_ex2_rejects_mistakes(left, inner, mistake, message):
    v = verdict(lab02.exercise_2, mistake(left, inner))
    assert v.status == "wrong" and message in v.message and v.hint, v


def test_ex2_rejects_a_different_joiner_and_a_full_outer_join(left, frames):
    a, o = frames
    df = _prompt_pandas(a.merge(o, on="id", how="left"))
    df.loc[df["id"] == 1, "prompt"] = "A cinematic photo of a raccoon  wearing  a yellow raincoat"
    v = verdict(lab02.exercise_2, df)
    assert v.status == "wrong" and "expected 'A cinematic photo of a raccoon wearing a yellow raincoat'" in v.message
    full = _prompt_pandas(a.merge(o, on="id", how="outer"))
    v = verdict(lab02.exercise_2, full)
    assert v.status == "wrong" and "not animals" in v.message


def test_check_cells_print_one_verdict_line(capsys):
    lab02.exercise_2(...)
    assert capsys.readouterr().out.startswith("⏳ Exercise 2 not solved yet")


# Stretch: outfits nobody wears ------------------------------------------------------------------------


def test_stretch_placeholder_is_not_solved():
    assert lab02.stretch.result(...).status == "not solved"


def test_stretch_accepts_an_anti_join_a_semi_join_complement_and_pandas(animals, outfits, frames):
    assert lab02.stretch.result(outfits.join(animals, join_type="left_anti", num_partitions=2, on=("id",))).passed
    assert lab02.stretch.result(animals.join(outfits, join_type="right_anti", num_partitions=2, on=("id",))).passed
    animal_table, outfit_table = frames
    assert lab02.stretch.result(outfit_table[~outfit_table["id"].isin(animal_table["id"])]).passed


def test_stretch_rejects_the_wrong_side_and_a_semi_join(animals, outfits):
    verdict = lab02.stretch.result(animals.join(outfits, join_type="left_anti", num_partitions=2, on=("id",)))
    assert verdict.status == "wrong" and "not the outfits without an animal" in verdict.message
    verdict = lab02.stretch.result(outfits.join(animals, join_type="left_semi", num_partitions=2, on=("id",)))
    assert verdict.status == "wrong" and "which an animal wears" in verdict.message
    assert lab02.stretch.result(2).status == "wrong"
