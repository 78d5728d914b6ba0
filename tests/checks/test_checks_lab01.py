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

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

# Ray's workers cannot import this test module: send its functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

COLUMNS = ["id", "pet", "text", "stars"]


@pytest.fixture(scope="module")
def raw(ray_session):
    import ray

    return ray.data.read_json(raycourse.data_path("text")).materialize()


@pytest.fixture(scope="module")
def reviews(raw):
    return raw.select_columns(COLUMNS).materialize()


def _complaints_pandas(batch: pd.DataFrame) -> pd.DataFrame:  # a different, pandas-based correct answer
    keep = batch[batch["stars"] < 3].copy()
    keep["mentions_pet"] = [p.lower() in t.lower() for p, t in zip(keep["pet"], keep["text"])]
    return keep


@pytest.fixture(scope="module")
def complaints(reviews):
    return reviews.map_batches(_complaints_pandas, batch_format="pandas").materialize()


def verdict(check, *args):
    return check.result(*args)


# Exercise 1 ---------------------------------------------------------------------------------
# Exercise 1 requires (the lab's text, sentence by sentence):
#   R1 a Dataset, read with a Ray Data reader: test_ex1_rejects_mistakes[to_pandas]
#   R2 the JSON Lines file read as JSON: test_ex1_rejects_the_file_read_as_text, [differ from the file]
#   R3 the whole file, every review: test_ex1_rejects_mistakes[limit], [is empty]
#   R4 only the columns id, pet, text and stars: test_ex1_rejects_mistakes[still has..., lacks...]
# Right answers written otherwise: test_ex1_accepts_different_correct_answers.


@pytest.mark.fast
def test_ex1_placeholder_is_not_solved():
    v = verdict(lab01.exercise_1, ...)
    assert v.status == "not solved" and "`reviews` is still `...`" in v.message


@pytest.mark.fast
@pytest.mark.parametrize(
    "answer",
    [
        lambda raw: raw.select_columns(COLUMNS),  # the solution
        lambda raw: raw.drop_columns(["product", "label"]),  # drop instead of select
        lambda raw: raw.select_columns(["stars", "text", "pet", "id"]),  # another column order
        lambda raw: raw.map_batches(lambda b: {c: b[c] for c in COLUMNS}),  # a batch function
    ],
)
def test_ex1_accepts_different_correct_answers(raw, answer):
    v = verdict(lab01.exercise_1, answer(raw))
    assert v.passed, v
    assert "60 reviews" in v.message


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda raw: raw, "still has the column(s) ['product', 'label']"),
        (lambda raw: raw.select_columns(["id", "pet", "text", "stars", "label"]), "still has the column(s) ['label']"),
        (lambda raw: raw.select_columns(["id", "text", "stars"]), "lacks the column(s) ['pet']"),
        (lambda raw: raw.select_columns(COLUMNS).rename_columns({"text": "review"}), "lacks the column(s) ['text']"),
        (lambda raw: raw.select_columns(COLUMNS).limit(5), "has 5 rows"),
        (lambda raw: raw.select_columns(COLUMNS).to_pandas(), "not a Ray Dataset"),
        (
            lambda raw: raw.select_columns(COLUMNS).map_batches(
                lambda b: {**b, "text": np.char.upper(b["text"].astype(str))}
            ),
            "differ from the file",
        ),
        (lambda raw: raw.select_columns(COLUMNS).filter(expr=col("id") < 0), "is empty"),
    ],
)
def test_ex1_rejects_mistakes(raw, mistake, message):
    v = verdict(lab01.exercise_1, mistake(raw))
    assert v.status == "wrong" and message in v.message, v
    assert v.hint


@pytest.mark.fast
def test_ex1_rejects_the_file_read_as_text(ray_session):
    import ray

    v = verdict(lab01.exercise_1, ray.data.read_text(raycourse.data_path("text")))
    assert v.status == "wrong" and "was not read as JSON" in v.message, v


# Exercise 2 ---------------------------------------------------------------------------------
# Exercise 2 requires:
#   R1 a Dataset built from `reviews`, its columns kept: test_ex2_rejects_mistakes[lacks the column(s)]
#   R2 (probe) only the reviews with 1 or 2 stars (a number): [keeps 30], [misses 13], [keep a review of 3 stars],
#      [drop a review of], test_ex2_rejects_an_empty_dataset,
#      test_ex2_names_the_learners_own_error (stars compared with text)
#   R3 kept with an expression filter: test_ex2_rejects_steps_the_text_does_not_ask_for[python filter],
#      [filter inside the batch function]
#   R4 a column `mentions_pet`, True or False: [no `mentions_pet` column], [holds str values]
#   R5 (probe) True where the text names the row's own pet, in any capitalisation: [`mentions_pet` is True],
#      [False for a review of a], [True for a review of a]
#   R6 computed in a function that receives a whole batch: test_ex2_rejects_steps_...[row map]
#   R7 the reviews otherwise unchanged, each once: [the text of review], [duplicate rows]
#   R8 left lazy, so the check can read and try its steps (stated in the text): test_ex2_rejects_steps_...[materialized]
# Right answers written otherwise: test_ex2_accepts_more_correct_answers.


@pytest.mark.fast
def test_ex2_placeholder_is_not_solved():
    assert verdict(lab01.exercise_2, ...).status == "not solved"


def _add_flag(batch):  # the solution's batch function
    batch["mentions_pet"] = np.array([p.lower() in t.lower() for p, t in zip(batch["pet"], batch["text"])])
    return batch


def _flag_case_sensitive(batch):  # right for the reviews file (every pet in lower case), wrong in general
    batch["mentions_pet"] = np.array([p in t for p, t in zip(batch["pet"], batch["text"])])
    return batch


ALL_PETS = ["tabby cat", "hamster", "rabbit", "husky", "parrot", "beagle", "ferret", "corgi", "guinea pig", "dachshund"]


def _flag_any_pet(batch):  # any pet named, not the row's own: right on the file, wrong in general
    batch["mentions_pet"] = np.array([any(p in t.lower() for p in ALL_PETS) for t in batch["text"]])
    return batch


@pytest.mark.fast
def test_ex2_accepts_the_solution(reviews):
    v = verdict(lab01.exercise_2, reviews.filter(expr=col("stars") <= 2).map_batches(_add_flag))
    assert v.passed, v
    assert len(lab01.expected_complaints()) == 30


@pytest.mark.parametrize(
    "answer",
    [
        # another comparison that keeps 1 and 2 stars
        lambda raw, r: r.filter(expr=col("stars") < 3).map_batches(_add_flag),
        # an expression of two comparisons, then a regular expression per row
        lambda raw, r: r.filter(expr=(col("stars") >= 1) & (col("stars") <= 2)).map_batches(
            lambda b: {
                **b,
                "mentions_pet": np.array(
                    [re.search(re.escape(p), t, re.IGNORECASE) is not None for p, t in zip(b["pet"], b["text"])]
                ),
            }
        ),
        # the flag as 0/1 integers, in a pandas batch
        lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(
            lambda df: df.assign(
                mentions_pet=[int(p.casefold() in t.casefold()) for p, t in zip(df["pet"], df["text"])]
            ),
            batch_format="pandas",
        ),
        # filter the raw file first, choose the columns afterwards
        lambda raw, r: raw.filter(expr=col("stars") <= 2).select_columns(COLUMNS).map_batches(_add_flag),
        # the flag first, the filter afterwards
        lambda raw, r: r.map_batches(_add_flag).filter(expr=col("stars") <= 2),
        # another expression; `reviews` materialized first
        lambda raw, r: r.materialize().filter(expr=col("stars").is_in([1, 2])).map_batches(_add_flag),
    ],
)
def test_ex2_accepts_more_correct_answers(raw, reviews, answer):
    v = verdict(lab01.exercise_2, answer(raw, reviews))
    assert v.passed, v


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda raw, r: r.map_batches(_add_flag), "keeps 30 review(s) of more than 2 stars"),
        (lambda raw, r: r.filter(expr=col("stars") <= 2), "no `mentions_pet` column"),
        (lambda raw, r: r.filter(expr=col("stars") < 2).map_batches(_add_flag), "misses 13 review(s) of 1 or 2 stars"),
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(_add_flag).drop_columns(["pet"]),
            "lacks the column(s) ['pet']",
        ),
        (
            lambda raw, r: (
                r.filter(expr=col("stars") <= 2)
                .map_batches(_add_flag)
                .union(r.filter(expr=col("stars") <= 2).map_batches(_add_flag))
            ),
            "duplicate rows",
        ),
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(
                lambda b: {**b, "mentions_pet": np.array([str(p in t) for p, t in zip(b["pet"], b["text"])])}
            ),
            "holds str values",
        ),
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(
                lambda b: {**b, "mentions_pet": np.ones(len(b["id"]), dtype=bool)}
            ),
            "`mentions_pet` is True for review",
        ),
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(
                lambda b: {**_add_flag(b), "text": np.char.lower(b["text"].astype(str))}
            ),
            "the text of review",
        ),
        # rules that are right for the reviews file only: the probe reviews show them
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(_flag_case_sensitive),
            "`mentions_pet` = False for a review of a",
        ),
        (
            lambda raw, r: r.filter(expr=col("stars") <= 2).map_batches(_flag_any_pet),
            "`mentions_pet` = True for a review of a",
        ),
        (lambda raw, r: r.filter(expr=col("stars") < 4).map_batches(_add_flag), "keep a review of 3 stars"),
        (
            lambda raw, r: raw.filter(expr=col("label") == "negative").select_columns(COLUMNS).map_batches(_add_flag),
            "keep a review of 3 stars",
        ),
        (
            lambda raw, r: r.filter(expr=col("id").is_in(list(lab01.expected_complaints()))).map_batches(_add_flag),
            "drop a review of",
        ),
    ],
)
def test_ex2_rejects_mistakes(raw, reviews, mistake, message):
    v = verdict(lab01.exercise_2, mistake(raw, reviews))
    assert v.status == "wrong" and message in v.message, v
    assert v.hint


@pytest.mark.fast
def test_ex2_rejects_an_empty_dataset(complaints):
    v = verdict(lab01.exercise_2, complaints.filter(expr=col("stars") == 0))
    assert v.status == "wrong" and "misses all 30" in v.message, v


@pytest.mark.parametrize(
    "mistake, message, hint",
    [
        # R3: right rows, but a Python predicate where the text asks for an expression
        (
            lambda r: r.filter(lambda row: row["stars"] in (1, 2)).map_batches(_add_flag),
            "with a Python function, not with an expression",
            "filter(expr=",
        ),
        # R3: the rows chosen inside the batch function, no filter step at all
        (
            lambda r: r.map_batches(_complaints_pandas, batch_format="pandas"),
            "no `filter` step",
            "filter(expr=",
        ),
        # R6: the flag added row by row
        (
            lambda r: r.filter(expr=col("stars") <= 2).map(
                lambda row: {**row, "mentions_pet": row["pet"].lower() in row["text"].lower()}
            ),
            "row by row (`map`)",
            "map_batches",
        ),
        # R8: materialized, its steps gone
        (
            lambda r: r.filter(expr=col("stars") <= 2).map_batches(_add_flag).materialize(),
            "is materialized",
            "lazy",
        ),
    ],
)
def test_ex2_rejects_steps_the_text_does_not_ask_for(reviews, mistake, message, hint):
    v = verdict(lab01.exercise_2, mistake(reviews))
    assert v.status == "wrong" and message in v.message and hint in v.hint, v


def test_the_checks_run_a_lazy_answer_to_its_end_never_stopping_it_early(raw, reviews, limits):
    assert verdict(lab01.exercise_1, raw.select_columns(COLUMNS)).passed
    assert verdict(lab01.exercise_2, reviews.filter(expr=col("stars") <= 2).map_batches(_add_flag)).passed
    assert limits == []


def test_ex2_names_the_learners_own_error(reviews):
    # the mistake the lab warns about: `stars` compared with text fails inside Ray's run
    v = verdict(lab01.exercise_2, reviews.filter(expr=col("stars") <= "2").map_batches(_add_flag))
    assert v.status == "wrong" and v.message.startswith("running `complaints` failed: "), v
    assert "less_equal" in v.message and "\n" not in v.message and len(v.message) < 300, v
    assert "\x1b" not in v.message and v.hint == lab01.NUMBER_HINT


# Exercise 3 ---------------------------------------------------------------------------------
# Exercise 3 requires:
#   R1 parquet: test_ex3_rejects_files_that_are_not_a_parquet_folder[csv], [single file]
#   R2 into the folder out_dir / "complaints": test_ex3_rejects_mistakes (wrong_place),
#      test_ex3_says_where_files_written_one_folder_up_went
#   R3 partitioned by `stars`, one folder deep, named stars=<n>: test_ex3_rejects_mistakes (flat, pet, two)
#   R4 each folder holding the complaints of its rating: test_ex3_rejects_a_review_in_the_wrong_folder
#   R5 `complaints` itself, every row once, all its columns: test_ex3_rejects_mistakes (all, noflag, few, twice)
# Right answers written otherwise: test_ex3_accepts_ray_and_pandas_partitioned_writers.


@pytest.mark.fast
def test_ex3_placeholder_and_nothing_written_are_not_solved(tmp_path):
    assert verdict(lab01.exercise_3, ...).status == "not solved"
    assert verdict(lab01.exercise_3, tmp_path).status == "not solved"


@pytest.mark.fast
def test_ex3_accepts_ray_and_pandas_partitioned_writers(tmp_path, complaints):
    complaints.write_parquet(str(tmp_path / "a" / "complaints"), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path / "a")
    assert v.passed, v
    assert "30 complaints in 2 folders: stars=1/" in v.message
    complaints.to_pandas().to_parquet(tmp_path / "b" / "complaints", partition_cols=["stars"])
    assert verdict(lab01.exercise_3, tmp_path / "b").passed
    table = complaints.to_pandas()  # by hand, one file per folder, the `stars` column kept in the files too
    for stars, part in table.groupby("stars"):
        (tmp_path / "c" / "complaints" / f"stars={stars}").mkdir(parents=True)
        part.to_parquet(tmp_path / "c" / "complaints" / f"stars={stars}" / "part-0")
    assert verdict(lab01.exercise_3, tmp_path / "c").passed


def test_ex3_rejects_mistakes(tmp_path, reviews, complaints):
    complaints.write_parquet(str(tmp_path / "wrong_place" / "out"), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path / "wrong_place")
    assert v.status == "wrong" and "not in complaints/" in v.message

    complaints.write_parquet(str(tmp_path / "flat" / "complaints"))
    v = verdict(lab01.exercise_3, tmp_path / "flat")
    assert v.status == "wrong" and "lie directly in complaints/" in v.message and "column=value" in v.hint

    complaints.write_parquet(str(tmp_path / "pet" / "complaints"), partition_cols=["pet"])
    v = verdict(lab01.exercise_3, tmp_path / "pet")
    assert v.status == "wrong" and "named after `pet`, not `stars`" in v.message

    complaints.write_parquet(str(tmp_path / "two" / "complaints"), partition_cols=["stars", "pet"])
    v = verdict(lab01.exercise_3, tmp_path / "two")
    assert v.status == "wrong" and "one folder deep" in v.message

    reviews.map_batches(_add_flag).write_parquet(str(tmp_path / "all" / "complaints"), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path / "all")
    assert v.status == "wrong" and "30 review(s) that are not complaints" in v.message

    reviews.filter(expr=col("stars") <= 2).write_parquet(
        str(tmp_path / "noflag" / "complaints"), partition_cols=["stars"]
    )
    v = verdict(lab01.exercise_3, tmp_path / "noflag")
    assert v.status == "wrong" and "no `mentions_pet` column" in v.message

    complaints.limit(2).write_parquet(str(tmp_path / "few" / "complaints"), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path / "few")
    assert v.status == "wrong" and "miss 28 complaint(s)" in v.message

    for _ in range(2):
        complaints.write_parquet(str(tmp_path / "twice" / "complaints"), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path / "twice")
    assert v.status == "wrong" and "written twice" in v.message and "Re-run the setup cell" in v.hint


@pytest.mark.parametrize(
    "place",
    [
        lambda out: out.parent / "complaints",  # out_dir.parent / "complaints"
        lambda out: f"{out}complaints",  # str(out_dir) + "complaints": a folder beside out_dir
    ],
)
def test_ex3_says_where_files_written_one_folder_up_went(tmp_path, complaints, place):
    out_dir = tmp_path / "lab"
    out_dir.mkdir()
    wrote = place(out_dir)
    complaints.write_parquet(str(wrote), partition_cols=["stars"])
    v = verdict(lab01.exercise_3, out_dir)
    assert v.status == "wrong" and f"found parquet files in {wrote}, not in complaints/ of out_dir" in v.message, v


@pytest.mark.fast
def test_ex3_rejects_a_review_in_the_wrong_folder(tmp_path, complaints):
    table = complaints.to_pandas()
    table["stars"] = 3 - table["stars"]  # the 1-star reviews in stars=2/ and the other way round
    table.to_parquet(tmp_path / "complaints", partition_cols=["stars"])
    v = verdict(lab01.exercise_3, tmp_path)
    assert v.status == "wrong" and "star(s) but sits in stars=" in v.message, v


@pytest.mark.parametrize(
    "write, message",
    [
        # one parquet file where the folder should be
        (lambda ds, d: ds.to_pandas().to_parquet(d / "complaints"), "is a single file, not a folder"),
        # another format in the folder
        (lambda ds, d: ds.write_csv(str(d / "complaints")), "holds no parquet files (it holds 1 .csv file"),
        # an empty folder
        (lambda ds, d: (d / "complaints").mkdir(), "exists but is empty"),
        # parquet files, and a stray file beside them
        (
            lambda ds, d: (
                ds.write_parquet(str(d / "complaints"), partition_cols=["stars"]),
                ds.write_csv(str(d / "complaints")),
            ),
            "holds 1 .csv file beside the parquet files",
        ),
    ],
)
def test_ex3_rejects_files_that_are_not_a_parquet_folder(tmp_path, complaints, write, message):
    write(complaints.repartition(1), tmp_path)
    v = verdict(lab01.exercise_3, tmp_path)
    assert v.status == "wrong" and message in v.message, v
    assert v.hint


@pytest.mark.fast
def test_check_cells_print_one_verdict_line(capsys):
    lab01.exercise_1(...)
    assert capsys.readouterr().out.startswith("⏳ Exercise 1 not solved yet")


# Stretch: the happiest pets ------------------------------------------------------------------------------
# The stretch requires:
#   R1 a Dataset, grouped and aggregated by Ray Data: test_stretch_rejects_a_table_made_outside_ray_data
#   R2 one row per pet of all the reviews: test_stretch_rejects_mistakes[averages only the complaints], [no `pet`]
#   R3 the column `pet` and one column of mean stars: [one column of mean stars], [not a Dataset]
#   R4 the mean of that pet's stars: [counts], [adds], [its reviews average]
# Right answers written otherwise: test_stretch_accepts_ray_data_groupings (an aggregate; map_groups; materialized).


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab01.stretch.result(...).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_ray_data_groupings(reviews):
    from ray.data.aggregate import Mean

    v = lab01.stretch.result(reviews.groupby("pet").mean("stars"))
    assert v.passed, v
    assert "the happiest owners have a corgi" in v.message
    other = (
        reviews.select_columns(["pet", "stars"])
        .groupby("pet", num_partitions=2)
        .aggregate(Mean("stars", alias_name="mean"))
    )
    assert lab01.stretch.result(other).passed


def _mean_of_group(group):
    return {"pet": group["pet"][:1], "mean_stars": [group["stars"].mean()]}


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: r.groupby("pet").mean("stars").materialize(),  # lesson 01 teaches materialize(); not forbidden
        lambda r: r.groupby("pet").map_groups(_mean_of_group),  # another way to group in Ray Data
        lambda r: r.groupby("pet").map_groups(_mean_of_group).materialize(),
    ],
    ids=["materialized", "map_groups", "map_groups materialized"],
)
def test_stretch_accepts_other_ray_data_groupings(reviews, answer):
    v = lab01.stretch.result(answer(reviews))
    assert v.passed, v


@pytest.mark.fast
def test_stretch_rejects_a_table_made_outside_ray_data(reviews):
    import ray

    table = reviews.to_pandas().groupby("pet")["stars"].mean().reset_index(name="mean_stars")
    v = lab01.stretch.result(table)
    assert v.status == "wrong" and "is a DataFrame, not a Ray Dataset" in v.message, v
    v = lab01.stretch.result(ray.data.from_pandas(table))  # a Dataset, but the grouping ran in pandas
    assert v.status == "wrong" and "not grouped by Ray Data" in v.message and "groupby" in v.hint, v
    v = lab01.stretch.result(ray.data.from_pandas(table).materialize())  # materialized: its stats say FromPandas
    assert v.status == "wrong" and "not grouped by Ray Data" in v.message, v


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda r, c: r.groupby("pet").count(), "counts each pet's reviews"),
        (lambda r, c: r.groupby("pet").sum("stars"), "adds each pet's stars up"),
        (lambda r, c: c.groupby("pet").mean("stars"), "averages only the complaints"),
        (lambda r, c: r.groupby("text").mean("stars"), "no `pet` column"),
        (lambda r, c: r.groupby("pet").mean(["stars", "id"]), "one column of mean stars"),
        (lambda r, c: r.groupby("pet").max("stars"), "its reviews average"),
        (lambda r, c: 42, "is an int, not a Ray Dataset"),
    ],
)
def test_stretch_rejects_mistakes(reviews, complaints, mistake, message):
    v = lab01.stretch.result(mistake(reviews, complaints))
    assert v.status == "wrong" and message in v.message, v
    assert v.hint
