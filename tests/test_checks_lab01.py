"""Lab 01 checks: pass any correct answer, reject placeholders and plausible mistakes."""

import re
import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle
from ray.data.expressions import col

import raycourse
from raycourse.checks import lab01

# Ray's workers cannot import this test module: send its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def animals(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("animals")).materialize()


@pytest.fixture(scope="module")
def prompts(animals):
    return animals.rename_columns({"animal": "prompt"}).materialize()


def _photos_pandas(batch: pd.DataFrame) -> pd.DataFrame:  # a different, pandas-based correct answer
    keep = batch[batch["prompt"].str.lower().str.contains("photo")].copy()
    keep["n_words"] = keep["prompt"].map(lambda p: len(p.split())).astype("int64")
    return keep


@pytest.fixture(scope="module")
def photos(prompts):
    return prompts.map_batches(_photos_pandas, batch_format="pandas").materialize()


def verdict(check, *args):
    return check.result(*args)


# Exercise 1 ---------------------------------------------------------------------------------

def test_ex1_placeholder_is_not_solved():
    v = verdict(lab01.exercise_1, ...)
    assert v.status == "not solved" and "`prompts` is still `...`" in v.message


def test_ex1_accepts_rename_and_an_equivalent_select(animals, prompts):
    assert verdict(lab01.exercise_1, prompts).passed
    other = animals.map_batches(lambda b: {"id": b["id"], "prompt": b["animal"]})
    assert verdict(lab01.exercise_1, other).passed


@pytest.mark.parametrize("mistake, message", [
    (lambda a: a, "still has a column called `animal`"),
    (lambda a: a.rename_columns({"animal": "prompts"}), "has no `prompt` column"),
    (lambda a: a.rename_columns({"animal": "prompt"}).limit(5), "has 5 rows"),
    (lambda a: a.rename_columns({"animal": "prompt"}).add_column("x", lambda b: b["id"]), "exactly the columns"),
    (lambda a: a.rename_columns({"animal": "prompt"}).to_pandas(), "not a Ray Dataset"),
    (lambda a: a.rename_columns({"animal": "prompt"}).map_batches(
        lambda b: {"id": b["id"], "prompt": np.char.upper(b["prompt"].astype(str))}), "text differs"),
])
def test_ex1_rejects_mistakes(animals, mistake, message):
    v = verdict(lab01.exercise_1, mistake(animals))
    assert v.status == "wrong" and message in v.message and v.hint


# Exercise 2 ---------------------------------------------------------------------------------

def test_ex2_placeholder_is_not_solved():
    assert verdict(lab01.exercise_2, ...).status == "not solved"


def _add_word_count(batch):  # the solution's batch function
    batch["n_words"] = np.array([len(p.split()) for p in batch["prompt"]])
    return batch


def _capitalized(batch):  # also changes the prompt text (invisible on the animals table)
    batch = _add_word_count(batch)
    batch["prompt"] = np.array([p.capitalize() for p in batch["prompt"]], dtype=object)
    return batch


def test_ex2_accepts_different_correct_answers(animals, prompts, photos):
    assert verdict(lab01.exercise_2, photos).passed
    numpy_way = prompts.filter(lambda r: "photo" in r["prompt"].lower()).map_batches(
        lambda b: {**b, "n_words": np.char.count(b["prompt"].astype(str), " ") + 1})
    assert verdict(lab01.exercise_2, numpy_way).passed
    assert len(lab01.expected_photos()) == 5


@pytest.mark.parametrize("answer", [
    # the solution: an expression filter, then a batch function
    lambda a, p: p.filter(expr=col("prompt").str.contains("photo", ignore_case=True)).map_batches(_add_word_count),
    # a whole-word regular expression, ignoring case
    lambda a, p: p.filter(lambda r: re.search(r"\bphoto\b", r["prompt"], re.IGNORECASE) is not None)
    .map_batches(_add_word_count),
    # filter the animals first, rename afterwards
    lambda a, p: a.filter(expr=col("animal").str.lower().str.contains("photo")).rename_columns(
        {"animal": "prompt"}).map_batches(_add_word_count),
    # the word counts as whole numbers stored as floats
    lambda a, p: p.filter(lambda r: "photo" in r["prompt"].casefold()).map_batches(
        lambda b: {**b, "n_words": np.char.count(b["prompt"].astype(str), " ") + 1.0}),
    # materialized: the check can no longer replay the steps, and judges the rows alone
    lambda a, p: p.map_batches(_photos_pandas, batch_format="pandas").materialize(),
])
def test_ex2_accepts_more_correct_answers(animals, prompts, answer):
    v = verdict(lab01.exercise_2, answer(animals, prompts))
    assert v.passed, v


@pytest.mark.parametrize("mistake, message", [
    (lambda p: p.map_batches(lambda b: {**b, "n_words": np.zeros(len(b["id"]), int) + 3}), "not photos"),
    (lambda p: p.filter(lambda r: "photo" in r["prompt"]), "no `n_words` column"),
    (lambda p: p.filter(lambda r: "Photo" in r["prompt"]).map_batches(_photos_pandas, batch_format="pandas"),
     "misses"),
    (lambda p: p.map_batches(_photos_pandas, batch_format="pandas").map_batches(
        lambda b: {**b, "n_words": b["n_words"] + 1}), "`n_words` is"),
    (lambda p: p.map_batches(_photos_pandas, batch_format="pandas").drop_columns(["id"]), "lacks the column"),
    (lambda p: p.map_batches(_photos_pandas, batch_format="pandas").union(
        p.map_batches(_photos_pandas, batch_format="pandas")), "duplicate rows"),
    # case-sensitive matches: right for the animals table (every "photo" is lower case), wrong in general
    (lambda p: p.filter(lambda r: "photo" in r["prompt"]).map_batches(_add_word_count),
     "drop the prompt 'A PHOTO OF A WOLF IN THE SNOW'"),
    (lambda p: p.filter(expr=col("prompt").str.contains("photo")).map_batches(_add_word_count),
     "drop the prompt 'A PHOTO OF A WOLF IN THE SNOW'"),
    # the photo rows picked by their ids
    (lambda p: p.filter(lambda r: r["id"] in (1, 5, 10, 15, 20)).map_batches(_add_word_count),
     "drop the prompt"),
    # n_words as text
    (lambda p: p.filter(lambda r: "photo" in r["prompt"].lower()).map_batches(
        lambda b: {**b, "n_words": np.array([str(len(t.split())) for t in b["prompt"]])}),
     "`n_words` holds str values"),
    # the batch function also changes the prompt
    (lambda p: p.filter(lambda r: "photo" in r["prompt"].lower()).map_batches(_capitalized),
     "turn the prompt 'A PHOTO OF A WOLF IN THE SNOW' into 'A photo of a wolf in the snow'"),
    (lambda p: p.filter(lambda r: "photo" in r["prompt"].lower()).map_batches(
        lambda b: {**b, "prompt": np.char.strip(b["prompt"].astype(str), "A "),
                   "n_words": np.array([len(t.split()) for t in b["prompt"]])}),
     "the prompt of id"),
])
def test_ex2_rejects_mistakes(prompts, mistake, message):
    v = verdict(lab01.exercise_2, mistake(prompts))
    assert v.status == "wrong" and message in v.message, v
    assert v.hint


# Exercise 3 ---------------------------------------------------------------------------------

def test_ex3_placeholder_and_nothing_written_are_not_solved(tmp_path):
    assert verdict(lab01.exercise_3, ...).status == "not solved"
    assert verdict(lab01.exercise_3, tmp_path).status == "not solved"


def test_ex3_accepts_ray_and_pandas_writers(tmp_path, photos):
    photos.write_parquet(str(tmp_path / "a" / "photos"))
    assert verdict(lab01.exercise_3, tmp_path / "a").passed
    (tmp_path / "b" / "photos").mkdir(parents=True)
    photos.to_pandas().to_parquet(tmp_path / "b" / "photos" / "part.parquet")
    assert verdict(lab01.exercise_3, tmp_path / "b").passed
    (tmp_path / "c" / "photos").mkdir(parents=True)  # a parquet file without the usual suffix
    photos.to_pandas().to_parquet(tmp_path / "c" / "photos" / "part-0")
    assert verdict(lab01.exercise_3, tmp_path / "c").passed


def test_ex3_rejects_mistakes(tmp_path, prompts, photos):
    photos.write_parquet(str(tmp_path / "wrong_place" / "out"))
    v = verdict(lab01.exercise_3, tmp_path / "wrong_place")
    assert v.status == "wrong" and "not in photos/" in v.message

    prompts.write_parquet(str(tmp_path / "all" / "photos"))
    v = verdict(lab01.exercise_3, tmp_path / "all")
    assert v.status == "wrong" and "no `n_words` column" in v.message

    prompts.map_batches(_photos_pandas, batch_format="pandas").limit(2).write_parquet(str(tmp_path / "few" / "photos"))
    v = verdict(lab01.exercise_3, tmp_path / "few")
    assert v.status == "wrong" and "hold 2 rows" in v.message


@pytest.mark.parametrize("write, message", [
    # one parquet file where the folder should be
    (lambda ds, d: ds.to_pandas().to_parquet(d / "photos"), "is a single file, not a folder"),
    # another format in the folder
    (lambda ds, d: ds.write_csv(str(d / "photos")), "holds no parquet files (it holds 1 .csv file"),
    (lambda ds, d: ds.write_json(str(d / "photos")), "holds no parquet files (it holds 1 .json file"),
    # an empty folder
    (lambda ds, d: (d / "photos").mkdir(), "exists but is empty"),
    # parquet files, and a stray file beside them
    (lambda ds, d: (ds.write_parquet(str(d / "photos")), ds.write_csv(str(d / "photos"))),
     "holds 1 .csv file beside the parquet files"),
])
def test_ex3_rejects_files_that_are_not_a_parquet_folder(tmp_path, photos, write, message):
    write(photos.repartition(1), tmp_path)
    v = verdict(lab01.exercise_3, tmp_path)
    assert v.status == "wrong" and message in v.message, v
    assert v.hint


def test_check_cells_print_one_verdict_line(capsys):
    lab01.exercise_1(...)
    assert capsys.readouterr().out.startswith("⏳ Exercise 1 not solved yet")


# Stretch: photo prompts per word count ------------------------------------------------------------------


def test_stretch_placeholder_is_not_solved():
    assert lab01.stretch.result(...).status == "not solved"


def test_stretch_accepts_a_groupby_count_a_pandas_table_and_rows(photos):
    assert lab01.stretch.result(photos.groupby("n_words").count()).passed
    counted = photos.to_pandas().groupby("n_words").size().reset_index(name="prompts")
    assert lab01.stretch.result(counted).passed
    assert lab01.stretch.result(counted.to_dict("records")).passed


def test_stretch_rejects_every_prompt_counted_and_a_missing_key(prompts, photos):
    table = prompts.to_pandas()
    every = table.assign(n_words=[len(p.split()) for p in table["prompt"]]).groupby("n_words").size().reset_index()
    verdict = lab01.stretch.result(every)
    assert verdict.status == "wrong" and "not only the photo prompts" in verdict.message
    verdict = lab01.stretch.result(photos.groupby("prompt").count())
    assert verdict.status == "wrong" and "no `n_words` column" in verdict.message
    off_by_one = photos.to_pandas().groupby("n_words").size().reset_index(name="n").assign(n=lambda t: t["n"] + 1)
    verdict = lab01.stretch.result(off_by_one)
    assert verdict.status == "wrong" and "photo prompt(s) have" in verdict.message
    assert lab01.stretch.result(42).status == "wrong"
