"""Lab 08, stretch: the job's runs and the files it wrote. By the text's requirements (R1-R5 of its check tests):
R1 a killed run then a whole one (``runs``), R2 each written row carries the rating's id, R3 and its comment's word
count (a column of numbers besides the id, any name, equal to ``len(comment.split())`` for every rating), R4
resumable (no file left half written, nothing written twice, the second run worked on fewer ratings than all), R5
every rating written."""

from __future__ import annotations

from pathlib import Path

from .._core import Wrong, exercise, require
from ._common import _elsewhere


def _whole_parquet(path) -> bool:
    """Whether a parquet file was written to its end (it has its footer): a write cut short by a kill was not."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return True
    except (pa.ArrowInvalid, OSError):
        return False


def _check_runs(runs) -> tuple[dict, dict]:
    if not isinstance(runs, (list, tuple)) or len(runs) != 2 or not all(isinstance(r, dict) for r in runs):
        raise Wrong(
            "`runs` should be a list of the two dicts run_words returned.", "runs = [run_words(3), run_words()]"
        )
    if not runs[0].get("killed"):
        raise Wrong("the first run was not killed.", "Kill it part-way: run_words(3).")
    return runs[0], runs[1]


def _numbers(table) -> dict:
    """A whole file's columns besides ``id`` that hold numbers, with their values (a count is one of them)."""
    import pyarrow as pa

    return {
        name: table[name].to_pylist()
        for name, kind in zip(table.schema.names, table.schema.types)
        if name != "id" and (pa.types.is_integer(kind) or pa.types.is_floating(kind))
    }


def _written(output) -> dict:
    """The job's parquet files in ``output``: each one's name, whether it is whole, its columns, and (of a whole file
    with an `id`) its ids and its columns of numbers; where none: where files like them went."""
    import pyarrow.parquet as pq

    files = sorted(Path(output).glob("*.parquet")) if Path(output).is_dir() else []
    seen = []
    for path in files:
        whole = _whole_parquet(path)
        table = pq.read_table(path) if whole else None
        columns = list(table.schema.names) if whole else None
        with_id = whole and "id" in columns
        ids = table["id"].to_pylist() if with_id else None
        seen.append(
            {
                "name": path.name,
                "whole": whole,
                "columns": columns,
                "ids": ids,
                "numbers": _numbers(table) if with_id else None,
            }
        )
    return {"output": str(output), "files": seen, "elsewhere": "" if files else _elsewhere(output, "*.parquet")}


def _written_ids(written: dict) -> list:
    """The ids in the job's parquet files: every file whole, each with the rating's id."""
    output, files = written["output"], written["files"]
    if not files:
        raise Wrong(f"no parquet files in {output}.{written['elsewhere']}", "Run the job: run_words does.")
    cut_short = [f["name"] for f in files if f["whole"] is not True]
    if cut_short:
        raise Wrong(
            f"{len(cut_short)} file(s) in {output} are not whole parquet ({cut_short[0]}): the kill cut their "
            "write short, and the second run did not clean them up.",
            "A job with a CheckpointConfig deletes the files its killed run left half written when it starts "
            "again: set one in JOB (see the lesson), then run both runs again.",
        )
    without = [f for f in files if "id" not in f["columns"]]
    if without:
        raise Wrong(
            f"the job writes {without[0]['columns']} without the rating's id: no one can tell which "
            "ratings a killed run finished, neither you nor a checkpoint.",
            "Return the id with the counts from count_words: a checkpoint by id needs it in what is written.",
        )
    return [i for f in files for i in f["ids"]]


def _word_counts() -> dict:
    """Each rating's word count as the job defines it (``len(comment.split())``), by id (None: no comment)."""
    import pandas as pd

    from ...data import data_path

    ratings = pd.read_json(data_path("new_ratings"), lines=True)
    return {int(i): len(t.split()) if isinstance(t, str) else None for i, t in zip(ratings["id"], ratings["text"])}


def _check_counts(files: list, counts: dict) -> None:
    """A column besides the id holds each rating's word count, whatever its name."""
    besides = sorted({c for f in files for c in f["columns"] if c != "id"})
    if not besides:
        raise Wrong(
            "the job writes only the id: the count is missing.",
            "Return the count with the id from count_words: a dict of both columns.",
        )
    named = [c for c in besides if all(c in f["numbers"] for f in files)]
    if not named:
        raise Wrong(
            f"the job writes {besides} besides the id, none of them a number in every file: the count is missing.",
            "Return the counts as count_words computes them, with the id.",
        )
    wrong = {}  # each column of numbers: its first row that is not the count
    for column in named:
        rows = ((i, v) for f in files for i, v in zip(f["ids"], f["numbers"][column]))
        wrong[column] = next(((i, v) for i, v in rows if counts.get(int(i)) is not None and v != counts[int(i)]), None)
        if wrong[column] is None:
            return
    column = next((c for c in named if "word" in c.lower() or "count" in c.lower()), named[0])
    rating, value = wrong[column]
    raise Wrong(
        f"`{column}` of rating {rating} is {value}, its comment has {counts[int(rating)]} words.",
        "Write what count_words counts, len(comment.split()) per rating, beside its id.",
    )


def _judge_stretch(seen, seed=None) -> str:
    import pandas as pd

    first, second = _check_runs(seen["runs"])
    counts = _word_counts()
    total = len(counts)
    ids = pd.Series(_written_ids(seen["written"]), dtype=object)
    _check_counts(seen["written"]["files"], counts)
    if ids.duplicated().any():
        raise Wrong(
            f"{int(ids.duplicated().sum())} rating(s) were written twice: the second run wrote rows the first "
            "one had written.",
            "Make the job skip them: a CheckpointConfig by id (see the lesson).",
        )
    if len(ids) != total:
        raise Wrong(f"{len(ids)} of {total} ratings were written.", "Let the second run finish: run_words().")
    worked = second.get("rows worked on", total)
    if worked >= total:
        raise Wrong(
            f"the second run worked on all {total} ratings again: the first run's work was redone.",
            'Set ray.data.DataContext.get_current().checkpoint_config = CheckpointConfig(id_column="id", '
            "checkpoint_path=...) in JOB, before the pipeline runs.",
        )
    return (
        f"the killed run worked on {first.get('rows worked on')} ratings; the second skipped what was written and "
        f"worked on {worked}; all {total} written once, each with its id and its word count."
    )


@exercise("Stretch · a job that resumes", judge=_judge_stretch)
def stretch(runs, output) -> dict:
    """Observes `runs` as given (run_words' dicts) and the parquet files in `output`."""
    require("runs", runs, "what run_words returned for a killed run and for the run after it")
    return {"runs": runs, "written": _written(output)}
