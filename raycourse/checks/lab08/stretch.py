"""Lab 08, stretch: the job's runs and the files it wrote, each row once."""

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


def _written(output) -> dict:
    """The job's parquet files in ``output``: each one's name, whether it is whole, its columns and ids (of a whole
    file with an `id`); where none: where files like them went."""
    import pyarrow.parquet as pq

    files = sorted(Path(output).glob("*.parquet")) if Path(output).is_dir() else []
    seen = []
    for path in files:
        whole = _whole_parquet(path)
        columns = list(pq.read_schema(path).names) if whole else None
        ids = pq.read_table(path, columns=["id"])["id"].to_pylist() if whole and "id" in columns else None
        seen.append({"name": path.name, "whole": whole, "columns": columns, "ids": ids})
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


def _judge_stretch(seen, seed=None) -> str:
    import pandas as pd

    from ...data import data_path

    first, second = _check_runs(seen["runs"])
    total = len(pd.read_json(data_path("new_ratings"), lines=True))
    ids = pd.Series(_written_ids(seen["written"]), dtype=object)
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
        f"worked on {worked}; all {total} written once, each with its id."
    )


@exercise("Stretch · a job that resumes", judge=_judge_stretch)
def stretch(runs, output) -> dict:
    """Observes `runs` as given (run_words' dicts) and the parquet files in `output`."""
    require("runs", runs, "what run_words returned for a killed run and for the run after it")
    return {"runs": runs, "written": _written(output)}
