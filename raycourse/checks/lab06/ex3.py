"""Lab 06, exercise 3: ``find_duplicates`` on queries the lab never uses, at two thresholds, against the check's
own search over the stored embeddings."""

from __future__ import annotations

from .._core import Wrong, exercise, require
from ..toolkit import plain_value
from ._common import _store

QUERY_NAMES = ("edited photo 1", "edited photo 2", "edited photo 3", "exact copy", "unrelated 1", "unrelated 2")


def _probe_plan(n: int, width: int, seed) -> tuple:
    """What the queries are made of, from ``seed``: the 4 stored rows picked (3 to nudge, 1 to copy), the nudges,
    2 random directions, and the order of the 6 queries (never the exact copy first: so never best first)."""
    import numpy as np

    rng = np.random.default_rng(6 if seed is None else int(seed))
    picks = rng.choice(n, size=4, replace=False)
    nudges = rng.normal(scale=0.005, size=(3, width))
    random = rng.normal(size=(2, width))
    order = rng.permutation(len(QUERY_NAMES))
    if QUERY_NAMES[order[0]] == "exact copy":
        order = np.roll(order, 1)
    return [int(i) for i in picks], nudges, random, order


def _queries_of(picked, nudges, random, order) -> tuple[list[str], "np.ndarray"]:  # noqa: F821
    import numpy as np

    picked = np.asarray(picked, dtype=np.float64)
    queries = np.concatenate([picked[:3] + nudges, picked[3:], random])
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return [QUERY_NAMES[i] for i in order], queries[order]


def _probe_queries(vectors, seed=None) -> tuple[list[str], "np.ndarray"]:  # noqa: F821
    """Queries the lab never uses, made from ``seed``: stored embeddings nudged, one as it is, and random
    directions; not in order."""
    picks, nudges, random, order = _probe_plan(len(vectors), vectors.shape[1], seed)
    return _queries_of(vectors[picks], nudges, random, order)


def _thresholds(best) -> list[float]:
    """Two thresholds between the queries' best scores, each with a margin: one in the widest gap (the edited
    copies above, the random directions below) and one between the highest score and the next (only the exact
    copy above), so that a fixed or inverted threshold gives other flags for one of them."""
    import numpy as np

    values = np.unique(np.round(best, 6))
    cuts = (values[1:] + values[:-1]) / 2
    if len(cuts) == 0:
        return [float(values[0]) - 0.01]
    widest, top = int(np.argmax(np.diff(values))), len(cuts) - 1
    return [float(cuts[widest])] + ([float(cuts[top])] if top != widest else [])


FIND_COLUMNS = ("query", "match", "score", "duplicate")


def _found_facts(out) -> dict:
    """What ``find_duplicates`` returned, as plain data: its type and columns, and the four columns' rows."""
    import pandas as pd

    if isinstance(out, list) and all(isinstance(r, dict) for r in out):
        out = pd.DataFrame(out)
    if not isinstance(out, pd.DataFrame):
        return {"type": type(out).__name__}
    facts = {"type": "DataFrame", "columns": [str(c) for c in out.columns]}
    if all(c in out.columns for c in FIND_COLUMNS):
        rows = []
        for query, match, score, flag in zip(out["query"], out["match"], out["score"], out["duplicate"]):
            try:
                score = float(score)
            except (TypeError, ValueError):
                score = plain_value(score)
            rows.append(
                {
                    "query": plain_value(query),
                    "match": plain_value(match),
                    "score": score,
                    "duplicate": plain_value(flag),
                }
            )
        facts["rows"] = rows
    return facts


def _found(facts: dict, n: int) -> list[dict]:
    if facts["type"] != "DataFrame":
        raise Wrong(
            f"`find_duplicates` returned a {facts['type']}, not a DataFrame.",
            "Return a pandas DataFrame with the columns query, match, score and duplicate, one row per query.",
        )
    missing = [c for c in FIND_COLUMNS if c not in facts["columns"]]
    if missing:
        raise Wrong(
            f"the DataFrame `find_duplicates` returned has no {', '.join(f'`{c}`' for c in missing)} column "
            f"(its columns: {list(facts['columns'])}).",
            "Name the columns as the lab asks (query, match, score, duplicate): the cell after the check "
            "reads them by name.",
        )
    rows = facts["rows"]
    if len(rows) != n:
        raise Wrong(
            f"`find_duplicates` returned {len(rows)} rows for {n} queries.",
            "One row per query, flagged or not: its best stored match only.",
        )
    return rows


def _check_search(rows: list[dict], names: list, scores, index: dict, threshold: float) -> None:
    """One answer of ``find_duplicates`` (:func:`_found`) against the check's own search: the queries' names, the
    best match, its cosine, the flag at ``threshold``, the rows best first."""
    best = scores.max(axis=1)
    got = [r["query"] for r in rows]
    if sorted(map(str, got)) != sorted(names):
        raise Wrong(
            f"the `query` column holds {got[:3]}..., not the names of the queries ({names[:3]}...).",
            'Copy each query\'s name from queries["query"] into its row.',
        )
    row_of = {name: names.index(name) for name in names}
    below = [bool(best[row_of[str(r["query"])]] < threshold) for r in rows]  # each row's best score, below it
    mine = []
    for row in rows:
        cosine = _check_match(row, scores[row_of[str(row["query"])]], index)
        _check_flag(row, cosine, threshold, below, rows)
        mine.append(cosine)
    _check_best_first(mine)


def _check_match(row: dict, scores, index: dict) -> float:
    """A row's match: a stored path, the one most similar to its query (``scores``: the query's cosine with every
    stored image), with its cosine as the score; returns that cosine."""
    name, match = row["query"], row["match"]
    if str(match) not in index:
        raise Wrong(
            f"the match of {name!r} is {match!r}, which is not a stored path.",
            "Return the `path` of the best stored image as it is stored in the table.",
        )
    cosine, best = scores[index[str(match)]], scores.max()
    if cosine < best - 1e-5:
        if abs(cosine - scores.min()) < 1e-5:
            raise Wrong(
                f"the match of {name!r} is the stored image *least* similar to it.",
                "The most similar image has the highest cosine similarity: take the argmax.",
            )
        raise Wrong(
            f"the match of {name!r} is not the stored image most similar to it (its cosine "
            f"similarity is {cosine:.4f}; the best is {best:.4f}).",
            "Score the query against every stored embedding with a dot product (vectors @ query) and keep the highest.",
        )
    if abs(float(row["score"]) - cosine) > 1e-3:
        raise Wrong(
            f"the score of {name!r} is {float(row['score']):.4f}; the cosine similarity of the query and "
            f"its match is {cosine:.4f}.",
            "Both the stored and the query embeddings have length 1: their dot product is the score.",
        )
    return cosine


def _check_flag(row: dict, cosine: float, threshold: float, below: list[bool], rows: list[dict]) -> None:
    """A row's ``duplicate``: True or False, True when its best score reaches ``threshold`` (``below``: for each of
    ``rows``, whether its query's best score is below it)."""
    name, flag = row["query"], row["duplicate"]
    if not isinstance(flag, (bool, int)):  # text, a float, None: not a truth value
        raise Wrong(
            f"`duplicate` holds {flag!r}; it should be True or False.",
            "Compare the score with the threshold: score >= threshold gives True or False.",
        )
    flagged = bool(flag)
    if flagged != bool(cosine >= threshold):
        if all(bool(r["duplicate"]) == under for r, under in zip(rows, below)):
            raise Wrong(
                f"with threshold={threshold:.4f}, `duplicate` is True exactly for the queries whose "
                "best score is *below* the threshold.",
                "A near-duplicate is a query whose best score reaches the threshold.",
            )
        raise Wrong(
            f"with threshold={threshold:.4f}, {name!r} (best score {cosine:.4f}) is "
            f"{'flagged' if flagged else 'not flagged'} as a duplicate.",
            "Flag a query when its best score reaches the threshold the function is given (not a fixed number).",
        )


def _check_best_first(scores: list[float]) -> None:
    """The rows sorted by score, the highest first."""
    import numpy as np

    mine = np.array(scores)
    if np.any(np.diff(mine) > 1e-6):
        if np.all(np.diff(mine) >= -1e-6):
            raise Wrong(
                "the rows are in order of rising score: worst first.",
                'Sort by score from the highest down: sort_values("score", ascending=False).',
            )
        raise Wrong(
            "the rows are not sorted by score, best first.",
            'Sort by score from the highest down: sort_values("score", ascending=False).',
        )


def _judge_3(seen, seed) -> str:
    import numpy as np

    paths = [str(p) for p in seen["paths"]]
    scores = np.asarray(seen["scores"], dtype=np.float64)  # (queries, stored): the stored embeddings' cosines
    picked = {int(i): v for i, v in seen["picked"]}
    width = len(next(iter(picked.values())))
    picks, nudges, random, order = _probe_plan(len(paths), width, seed)
    names, queries = _queries_of([picked[i] for i in picks], nudges, random, order)
    if (
        list(map(str, seen["names"])) != names
        or scores.shape != (len(names), len(paths))
        or not np.allclose(scores[:, picks], queries @ np.asarray([picked[i] for i in picks]).T, atol=1e-6)
    ):
        raise Wrong("the check's queries were not the ones it asked for.", "Run the check cell again.")
    index = {p: i for i, p in enumerate(paths)}
    thresholds = _thresholds(scores.max(axis=1))
    answers = seen["answers"]
    if len(answers) != len(thresholds) or not np.allclose(seen["thresholds"], thresholds, rtol=0, atol=1e-12):
        raise Wrong("the check's thresholds were not the ones it asked for.", "Run the check cell again.")
    for facts, threshold in zip(answers, thresholds):
        _check_search(_found(facts, len(names)), names, scores, index, threshold)
    return (
        f"{len(names)} new queries, {len(thresholds)} thresholds: the same best matches, scores and flags "
        f"as a search the check ran itself over the {len(paths)} stored embeddings, best first."
    )


@exercise("Exercise 3", judge=_judge_3)
def exercise_3(find_duplicates, embeddings_dir, *, seed=None):
    """``find_duplicates(queries, threshold)``: each query's most similar stored image, its cosine, whether it
    reaches the threshold; one row per query, best first.

    Observes the stored paths, the embeddings of the stored rows the queries are made from (picked from ``seed``),
    every query's cosine with every stored embedding, and what ``find_duplicates`` returns at each threshold."""
    require("find_duplicates", find_duplicates, "your find_duplicates(queries, threshold) function")
    if not callable(find_duplicates):
        raise Wrong(
            f"`find_duplicates` is a {type(find_duplicates).__name__}, not a function.",
            "def find_duplicates(queries, threshold): ...",
        )
    import numpy as np
    import pandas as pd

    paths, vectors, _ = _store(embeddings_dir, "to search")
    names, queries = _probe_queries(vectors, seed)
    scores = queries @ vectors.T  # (queries, stored)
    thresholds = _thresholds(scores.max(axis=1))
    frame = pd.DataFrame({"query": names, "embedding": list(queries.astype(np.float32))})
    picks = _probe_plan(len(vectors), vectors.shape[1], seed)[0]
    return {
        "paths": paths,
        "picked": [[i, vectors[i].tolist()] for i in picks],
        "names": names,
        "scores": scores.tolist(),
        "thresholds": thresholds,
        "answers": [_found_facts(find_duplicates(frame.copy(), threshold)) for threshold in thresholds],
    }
