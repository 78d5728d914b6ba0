"""Lab 01, exercise 3: the complaints written as Parquet, partitioned by pet."""

from __future__ import annotations

from pathlib import Path

from .._core import NotSolved, Wrong, exercise, require
from ..toolkit import visible_files, written_elsewhere
from ._common import FLAG, expected_complaints

PARQUET_MAGIC = b"PAR1"  # the first (and last) four bytes of every parquet file
PARTITION = "stars"
FOLDER = "complaints"
RERUN = "Re-run the setup cell (it empties out_dir), then run your exercise cell once."


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == PARQUET_MAGIC
    except OSError:
        return False


def _kinds(files: list[Path]) -> str:
    from collections import Counter

    kinds = Counter(p.suffix.lower() or "extension-less" for p in files)
    return ", ".join(f"{n} {kind} file{'s' if n > 1 else ''}" for kind, n in kinds.most_common())


def _layout_of(path: Path, target: Path) -> tuple[str, str] | None | str:
    """("stars", "1") for target/stars=1/file; None for a file directly in target; the folder path otherwise."""
    folders = path.relative_to(target).parts[:-1]
    if not folders:
        return None
    if len(folders) == 1 and "=" in folders[0]:
        key, _, value = folders[0].partition("=")
        return key, value
    return "/".join(folders)


PARTITION_HINT = (
    "The parquet writer can split a Dataset by a column's values: one subfolder per value, named column=value."
)


def _judge_3(seen, seed=None) -> str:
    files = seen["files"]
    if not files:
        raise NotSolved(f'no parquet files in `out_dir / "{FOLDER}"` yet; write the `complaints` Dataset there.')
    keys = sorted({str(f["key"]) for f in files})
    if keys != [PARTITION]:
        raise Wrong(
            f"the folders are named after {', '.join(f'`{k}`' for k in keys)}, not `{PARTITION}`.",
            f"Partition by the column `{PARTITION}`.",
        )
    per_folder, found = _check_folders(files)
    _check_all_complaints(found)
    listing = ", ".join(f"{folder}/ ({n} rows)" for folder, n in sorted(per_folder.items()))
    return f"{len(found)} complaints in {len(per_folder)} folders: {listing}."


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(out_dir):
    """`complaints` written as parquet into `out_dir / "complaints"`, one subfolder per number of stars."""
    import pyarrow.parquet as pq

    require("out_dir", out_dir, "the output folder from the setup cell")
    target = Path(out_dir) / FOLDER
    files = _parquet_files(Path(out_dir), target)
    found = []
    for path, (key, value) in sorted(_check_layout(files, target).items(), key=lambda item: str(item[0])):
        try:
            table = pq.read_table(path).to_pandas()
        except Exception as exc:
            raise Wrong(f"{path.relative_to(target)} cannot be read ({exc.__class__.__name__}).", RERUN) from None
        found.append(
            {
                "key": key,
                "value": value,
                "columns": [str(c) for c in table.columns],
                "ids": [int(i) for i in table["id"]] if "id" in table.columns else [],
            }
        )
    return {"files": found}


def _parquet_files(out_dir: Path, target: Path) -> list[Path]:
    """The parquet files in ``target``; :class:`Wrong` (or not solved) where they are not, saying where they went."""
    if target.is_file():
        raise Wrong(
            f'`out_dir / "{FOLDER}"` is a single file, not a folder of parquet files.',
            "Give the Dataset's parquet writer the folder: it writes one or more files into it.",
        )
    if not target.is_dir():
        _not_written(out_dir)
    present = visible_files(target)
    if not present:
        raise Wrong(
            f'`out_dir / "{FOLDER}"` exists but is empty.',
            "Write the `complaints` Dataset into it with the Dataset's parquet writer.",
        )
    files = [p for p in present if _is_parquet(p)]
    if not files:
        raise Wrong(
            f'`out_dir / "{FOLDER}"` holds no parquet files (it holds {_kinds(present)}).',
            "Look for the Dataset write method for the parquet format.",
        )
    others = [p for p in present if p not in files]
    if others:
        raise Wrong(f'`out_dir / "{FOLDER}"` holds {_kinds(others)} beside the parquet files.', RERUN)
    return files


def _not_written(out_dir: Path) -> None:
    """No `complaints` folder: where the parquet files went instead, if anywhere."""
    elsewhere = written_elsewhere(out_dir, FOLDER, _is_parquet)
    if elsewhere is None:
        raise NotSolved(f'no parquet files in `out_dir / "{FOLDER}"` yet; write the `complaints` Dataset there.')
    where = "out_dir itself" if elsewhere == out_dir else str(elsewhere)
    if out_dir in elsewhere.parents:
        where = f"{elsewhere.relative_to(out_dir)}/"
    raise Wrong(
        f"found parquet files in {where}, not in {FOLDER}/ of out_dir ({out_dir}).",
        f'Write to the folder `out_dir / "{FOLDER}"` (pass it as a string).',
    )


def _check_layout(files: list[Path], target: Path) -> dict[Path, tuple[str, str]]:
    """Each file's hive folder ``(column, value)``: one folder deep, named after `stars`."""
    partitions = {p: _layout_of(p, target) for p in files}
    flat = [p for p, part in partitions.items() if part is None]
    if flat:
        raise Wrong(
            f"{len(flat)} parquet file(s) lie directly in {FOLDER}/, not in one folder per number of stars.",
            PARTITION_HINT,
        )
    odd = sorted({part for part in partitions.values() if isinstance(part, str)})
    if odd:
        raise Wrong(
            f"found parquet files in {FOLDER}/{odd[0]}/: the files should sit one folder deep, in "
            f"folders named {PARTITION}=<number of stars>.",
            f"Partition by `{PARTITION}` alone. " + PARTITION_HINT,
        )
    keys = sorted({part[0] for part in partitions.values()})
    if keys != [PARTITION]:
        raise Wrong(
            f"the folders are named after {', '.join(f'`{k}`' for k in keys)}, not `{PARTITION}`.",
            f"Partition by the column `{PARTITION}`.",
        )
    return partitions


def _check_folders(files: list[dict]) -> tuple[dict[str, int], dict[int, str]]:
    """Rows per folder, and the folder of each review: every review once, in the folder of its stars."""
    expected = expected_complaints()
    seen: dict[int, str] = {}
    per_folder: dict[str, int] = {}
    for file in files:
        value, columns = str(file["value"]), file["columns"]
        lacking = [c for c in ("id", "text", FLAG) if c not in columns]
        if lacking:
            raise Wrong(
                f"the parquet files have no `{lacking[0]}` column (they have {list(columns)}).",
                "Write the Dataset of exercise 2, with all its columns.",
            )
        folder = f"{PARTITION}={value}"
        per_folder[folder] = per_folder.get(folder, 0) + len(file["ids"])
        for row_id in (int(i) for i in file["ids"]):
            if row_id in seen:
                raise Wrong(f"review {row_id} is written twice.", RERUN)
            seen[row_id] = value
            want = expected.get(row_id)
            if want is not None and value != str(want["stars"]):
                raise Wrong(
                    f"review {row_id} has {want['stars']} star(s) but sits in {folder}/.",
                    f"Let the writer build the folders from the `{PARTITION}` column.",
                )
    return per_folder, seen


def _check_all_complaints(seen: dict[int, str]) -> None:
    expected = expected_complaints()
    extra, lacking = set(seen) - set(expected), set(expected) - set(seen)
    if extra:
        raise Wrong(
            f"the files hold {len(extra)} review(s) that are not complaints (ids {sorted(extra)[:3]}...).",
            f"Write `complaints` (exercise 2), not `reviews`. {RERUN}",
        )
    if lacking:
        raise Wrong(
            f"the files miss {len(lacking)} complaint(s) (ids {sorted(lacking)[:3]}).",
            f"Write the whole `complaints` Dataset. {RERUN}",
        )
