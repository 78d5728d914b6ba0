"""Lab 03, exercise 2: the images in one Parquet file, read from disk."""

from __future__ import annotations

from pathlib import Path

from .._core import Wrong, exercise
from ._common import (
    IMAGE_SHAPE,
    RERUN_HINT,
    _as_array,
    _describe,
    _files_of,
    _folder,
    _image_problem,
    _judge_expected,
    _not_there,
    _observe_expected,
    _pickled,
    _pixel_facts,
    _where,
)


def _column_arrays(column) -> list:
    """The images of one Parquet column as NumPy arrays (raises ValueError when they are not images)."""
    import pyarrow as pa

    if isinstance(column.type, pa.FixedShapeTensorType):  # pyarrow's own tensor type: one array for all rows
        return list(column.combine_chunks().to_numpy_ndarray())
    return [_as_array(v) for v in column.to_pylist()]


ONE_FILE_HINT = (
    "A Ray write makes at least one file per block of the Dataset: make it one block before you "
    "write, or ask the writer for at least as many rows per file as there are images."
)


def _parquet_names(files: list[str]) -> list[str]:
    return [f for f in files if Path(f).suffix.lower() == ".parquet"]


def _check_parquet_files(files: list[str], folder: str) -> list[str]:
    parquet = _parquet_names(files)
    if not parquet:
        found = f" (it holds {_describe(files)})" if files else " (it is empty)"
        raise Wrong(
            f'out_dir / "{folder}" holds no .parquet files{found}.',
            "Look for the Dataset write method that writes the Parquet format.",
        )
    return parquet


def _read_table(files: list[Path], target: Path):
    import pyarrow.parquet as pq
    import ray.data  # noqa: F401  (registers Ray's tensor column type, so image cells read back as arrays)

    try:
        table = pq.ParquetDataset([str(p) for p in files]).read()
    except Exception as exc:  # e.g. files of two different runs with different columns
        raise Wrong(
            f'the parquet files in out_dir / "{target.name}" cannot be read as one table '
            f"({exc.__class__.__name__}: {str(exc)[:120]}).",
            RERUN_HINT,
        ) from None
    return table


def _check_table_rows(table: dict, n_expected: int, expected_prompts) -> int:
    columns, num_rows = list(table["columns"]), int(table["num_rows"])
    if "prompt" not in columns:
        raise Wrong(
            f"the parquet files have no `prompt` column (their columns: {columns}).",
            "Write the Dataset that holds both the prompts and the images, with its column names.",
        )
    if num_rows != n_expected:
        if num_rows > n_expected:
            raise Wrong(f"the parquet files hold {num_rows} rows, but there are {n_expected} prompts.", RERUN_HINT)
        raise Wrong(
            f"the parquet files hold {num_rows} rows, but there are {n_expected} prompts.",
            "Write one row per prompt: the whole generated Dataset, not a sample of it.",
        )
    got_prompts = [str(p) for p in table["prompts"]]
    if len(got_prompts) != num_rows:
        raise ValueError(f"{len(got_prompts)} prompts observed in {num_rows} rows")
    if expected_prompts is not None and sorted(got_prompts) != sorted(expected_prompts):
        odd = (
            next(p for p in got_prompts if p not in expected_prompts)
            if set(got_prompts) - set(expected_prompts)
            else None
        )
        detail = f" (for example {odd!r})" if odd else ""
        raise Wrong(
            f"the `prompt` column does not hold the prompts of `prompts`{detail}.",
            "Generate the images from `prompts` and keep its `prompt` column unchanged.",
        )
    return num_rows


def _observe_columns(table) -> list[dict]:
    """Each column that may hold the images (``image`` first, then any other but ``prompt``): whether it holds
    pickled Python objects, else whether its cells read back as arrays (else the type of its first value), and the
    facts of each (:func:`_pixel_facts`)."""
    columns = table.column_names
    candidates = (["image"] if "image" in columns else []) + [c for c in columns if c not in ("image", "prompt")]
    seen = []
    for name in candidates:
        column = table.column(name)
        if _pickled(column.type):
            seen.append({"name": name, "pickled": True})
            continue
        try:
            arrays = _column_arrays(column)
        except Exception:
            values = column.to_pylist()
            seen.append({"name": name, "pickled": False, "type": type(values[0]).__name__ if values else "no"})
            continue
        seen.append({"name": name, "pickled": False, "images": [_pixel_facts(a) for a in arrays]})
    return seen


def _image_column(table: dict, num_rows: int) -> str:
    """The column that holds the 512x512 RGB images (``image`` first, then any other), or Wrong."""
    columns = list(table["columns"])
    names = (["image"] if "image" in columns else []) + [c for c in columns if c not in ("image", "prompt")]
    if [column["name"] for column in table["candidates"]] != names:
        raise ValueError(f"the columns {names} observed as {[c['name'] for c in table['candidates']]}")
    tried = []
    for column in table["candidates"]:
        name = str(column["name"])
        if column["pickled"] is not False:
            if name == "image":
                raise Wrong(
                    "the `image` column holds pickled Python objects (PIL images?), not pixel arrays.",
                    "Write the Dataset of Exercise 1, whose `image` column holds NumPy uint8 arrays "
                    "(height x width x 3).",
                )
            continue
        if "images" not in column:
            tried.append(str(column["type"]))
            if name == "image":
                break
            continue
        images = column["images"]
        if len(images) != num_rows:
            raise ValueError(f"{len(images)} cells observed in the column {name!r} of {num_rows} rows")
        problems = [(i, p) for i, p in enumerate(_image_problem(f) for f in images) if p]
        if not problems:
            return name
        if name == "image" or len(images[0]["shape"]) >= 2:
            i, (problem, hint) = problems[0]
            raise Wrong(f"the image in row {i} of column `{name}` {problem}.", hint)
    if "image" not in columns:
        raise Wrong(
            f"the parquet files have no image column (their columns: {columns}).",
            "Write the Dataset after the image generation step, the one with the images in it.",
        )
    raise Wrong(
        f"the `image` column holds {tried[0]} values, which cannot be read back as images.",
        "Put the images in the batch as NumPy uint8 arrays (height x width x 3).",
    )


def _check_one_file(sizes: list[int], num_rows: int) -> None:
    if len(sizes) > 1:
        raise Wrong(
            f"the {num_rows} images are spread over {len(sizes)} parquet files (of "
            f"{', '.join(map(str, sorted(sizes)))} rows); the exercise asks for one file.",
            ONE_FILE_HINT,
        )


def _judge_2(seen, seed=None) -> str:
    n_expected, expected_prompts = _judge_expected(seen["expected"])
    folder = str(seen["folder"])
    parquet = _check_parquet_files([str(f) for f in seen["files"]], folder)
    table = seen["table"]
    sizes = [int(n) for n in table["file_rows"]]
    if len(sizes) != len(parquet) or sum(sizes) != int(table["num_rows"]):
        raise ValueError(f"{len(parquet)} parquet files, {len(sizes)} files' row counts, {table['num_rows']} rows")
    num_rows = _check_table_rows(table, n_expected, expected_prompts)
    name = _image_column(table, num_rows)
    _check_one_file(sizes, num_rows)
    return (
        f"{num_rows} rows with `prompt` and `{name}` ({IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB) "
        f'in one parquet file under out_dir / "{folder}".'
    )


@exercise("Exercise 2", judge=_judge_2)
def exercise_2(folder, prompts):
    """Prompts and images written as one Parquet file into ``folder`` (``out_dir / "images_parquet"``)."""
    import pyarrow.parquet as pq

    target = _folder(folder)
    if not target.exists():
        _not_there(target, {".parquet"}, "parquet", "write the images of Exercise 1 there as Parquet")
    expected = _observe_expected(prompts)
    if not target.is_dir():
        raise Wrong(
            f"{_where(target, target.parent)} is a file, not a folder.",
            "A Ray Data write method takes the folder to write its files into.",
        )
    files = _files_of(target)
    seen = {"expected": expected, "folder": target.name, "files": files}
    parquet = [target / f for f in _parquet_names(files)]
    if not parquet:  # the judge says what the folder holds instead
        return seen
    table = _read_table(parquet, target)
    seen["table"] = {
        "columns": list(table.column_names),
        "num_rows": table.num_rows,
        "prompts": [str(p) for p in table.column("prompt").to_pylist()] if "prompt" in table.column_names else None,
        "file_rows": [pq.ParquetFile(p).metadata.num_rows for p in parquet],
        "candidates": _observe_columns(table),
    }
    return seen
