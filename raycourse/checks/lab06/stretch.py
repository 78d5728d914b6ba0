"""Lab 06, stretch: ``knn``'s leave-one-out vote against the check's own, and its function on a stored row that
carries another image's embedding."""

from __future__ import annotations

from pathlib import Path

from .._core import NotSolved, Wrong, exercise, require
from ..stats import require_lazy
from ..toolkit import as_columns, error_line, require_dataset, stages
from ._common import _store

K = 4  # the stretch's neighbours (the lab gives the same K)


KNN_HINT = (
    "Build it with ray.data.read_parquet(str(embeddings_dir)).map_batches(your_vote), a function of a batch of "
    "stored rows."
)


def _vote_functions(knn) -> list:
    """``knn``'s batch stages that run a function (the vote is the last)."""
    return [s.fn for s in stages(knn) if s.kind == "MapBatches" and not s.is_class]


def _check_vote_stage(kinds: list) -> None:
    if not any(kind == "MapBatches" and is_class is False for kind, is_class in kinds):
        raise Wrong("`knn` has no map_batches stage with a function: where does the vote run?", KNN_HINT)


def _check_knn_rows(seen: dict, paths: list) -> None:
    columns = [str(c) for c in seen["columns"]]
    lacking = [c for c in ("path", "predicted") if c not in columns]
    if lacking:
        raise Wrong(
            f"`knn` has no {', '.join(f'`{c}`' for c in lacking)} column (its columns: {columns}).",
            "One row per stored image: its `path` and the `predicted` class.",
        )
    got = [str(p) for p in seen["knn_path"]]
    if sorted(got) != sorted(paths) or len(seen["knn_predicted"]) != len(got):
        raise Wrong(
            f"`knn` has {len(got)} rows for {len(set(got))} paths; there are {len(paths)} stored images.",
            "One row for every stored image, each once.",
        )


def _votes(similarity, classes, k: int, weighted: bool) -> list[dict]:
    """For each row of ``similarity`` (itself already left out or not): each class's vote among its k nearest."""
    import numpy as np

    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    tallies = []
    for i, row in enumerate(nearest):
        tally: dict = {}
        for j in row:
            tally[classes[j]] = tally.get(classes[j], 0.0) + (similarity[i, j] if weighted else 1.0)
        tallies.append(tally)
    return tallies


def _winners(tally: dict, tolerance: float) -> set:
    top = max(tally.values())
    return {c for c, v in tally.items() if v >= top - tolerance}


def _neighbourhoods(vectors) -> dict:
    """Each stored image's ``K + 1`` most similar *other* stored images (``near``, most similar first, ties in the
    store's order) and their cosines (``near_scores``), and its cosine with itself (``itself``): all the votes
    the stretch compares with are made of these."""
    import numpy as np

    similarity = vectors @ vectors.T
    itself = similarity.diagonal().copy()
    np.fill_diagonal(similarity, -np.inf)
    near = np.argsort(-similarity, axis=1, kind="stable")[:, : K + 1]
    return {
        "itself": itself.tolist(),
        "near": near.tolist(),
        "near_scores": np.take_along_axis(similarity, near, axis=1).tolist(),
    }


def _tallies(seen: dict, classes: list) -> dict:
    """The votes of every stored image from its neighbourhood (:func:`_neighbourhoods`): ``weighted`` and
    ``counted`` among its K nearest others, ``itself`` weighted among its K nearest with itself counted in, and
    ``gap``, how far its K-th nearest other is above the next (0: a tie at the edge, where either may vote)."""
    n = len(classes)
    near = [[int(j) for j in row] for row in seen["near"]]
    scores = [[float(s) for s in row] for row in seen["near_scores"]]
    itself = [float(s) for s in seen["itself"]]
    if len(near) != n or len(scores) != n or len(itself) != n or any(len(r) != K + 1 for r in near + scores):
        raise ValueError("the neighbourhoods do not match the store")
    out: dict = {"weighted": [], "counted": [], "itself": [], "gap": []}
    for i in range(n):
        pairs = list(zip(near[i], scores[i]))
        with_self = sorted(pairs + [(i, itself[i])], key=lambda p: (-p[1], p[0]))[:K]
        for key, chosen, weighted in (
            ("weighted", pairs[:K], True),
            ("counted", pairs[:K], False),
            ("itself", with_self, True),
        ):
            tally: dict = {}
            for j, s in chosen:
                tally[classes[j]] = tally.get(classes[j], 0.0) + (s if weighted else 1.0)
            out[key].append(tally)
        out["gap"].append(scores[i][K - 1] - scores[i][K])
    return out


def _check_votes(predicted: dict, paths: list, classes: list, tallies: dict) -> None:
    """Each stored image's ``predicted`` (by row) against the check's own weighted vote of its K nearest others;
    the likely mistakes (itself among its neighbours, a plain count, its own class copied) told apart."""
    weighted, counted, itself = tallies["weighted"], tallies["counted"], tallies["itself"]
    wrong = [i for i, c in predicted.items() if c not in _winners(weighted[i], 1e-6) and tallies["gap"][i] > 1e-6]
    if wrong:
        if all(c in _winners(itself[i], 1e-6) for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images get the class that they themselves vote for: each image is among its "
                "own neighbours.",
                "An image is most similar to itself (score 1): leave it out of its own candidates.",
            )
        if all(c in _winners(counted[i], 0.5) for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images take the class of a plain count of votes; with K = {K}, ties such as "
                "2 against 2 are common, and a count settles them by chance.",
                "Add up each neighbour's cosine similarity per class and take the class with the largest sum.",
            )
        if all(c == classes[i] for i, c in predicted.items()):
            raise Wrong(
                f"{len(wrong)} images are 'predicted' as their own class: the true label was copied, not voted.",
                "Predict from the neighbours' classes only.",
            )
        i = wrong[0]
        votes = ", ".join(f"{c}: {v:.3f}" for c, v in sorted(weighted[i].items()))
        raise Wrong(
            f"{Path(paths[i]).name} is predicted {predicted[i]!r}; its {K} nearest other images vote {votes}.",
            f"Take the {K} most similar other stored images, add up their cosine similarities per class and "
            "keep the class with the largest sum.",
        )


def _copy_rows(with_itself: list, without: list) -> list[int]:
    """The stored rows where a copy of the image left out by its score instead of by its path votes otherwise: one
    class wins with the copy counted in, and it is not among the winners without it."""
    rows = []
    for y, (a, b) in enumerate(zip(with_itself, without)):
        right, left_out = _winners(a, 1e-6), _winners(b, 1e-6)
        if len(right) == 1 and not right & left_out:
            rows.append(y)
    return rows


def _copy_row(rows: list[int], seed) -> int | None:
    import random

    return rows[random.Random(int(seed or 0)).randrange(len(rows))] if rows else None


def _itself_probe(vote, paths: list, vectors, classes: list, seed) -> dict | None:
    """The vote function called on one stored row carrying another stored image's embedding (a copy under another
    name, score 1), the image ``y`` chosen from ``seed`` among those where the two ways of leaving an image out
    vote differently; None where the store has no such image."""
    import numpy as np

    similarity = vectors @ vectors.T
    with_itself = _votes(similarity, classes, K, weighted=True)
    np.fill_diagonal(similarity, -np.inf)
    y = _copy_row(_copy_rows(with_itself, _votes(similarity, classes, K, weighted=True)), seed)
    if y is None:
        return None
    x = int(np.argmin(vectors @ vectors[y]))  # the row's own path: the stored image least like the copy
    batch = {
        "path": np.array([paths[x]]),
        "class": np.array([classes[x]]),
        "embedding": vectors[y : y + 1].astype(np.float32),
    }
    try:
        columns = as_columns(vote({k: v.copy() for k, v in batch.items()})) or {}
    except Exception as exc:  # said by the judge, after what the rows show
        return {"x": x, "y": y, "failed": error_line(exc)}
    return {"x": x, "y": y, "predicted": str(list(columns.get("predicted", [None]))[0])}


def _check_itself_by_path(probe: dict | None, paths: list, tallies: dict, seed) -> None:
    """Itself left out by its path, not by its score (``probe``: :func:`_itself_probe`)."""
    y = _copy_row(_copy_rows(tallies["itself"], tallies["weighted"]), seed)
    if y is None:
        if probe is not None:
            raise ValueError("a copy probed where the store has none to probe")
        return  # on this store, leaving out the best match by its score votes the same: nothing to tell apart
    if int(probe["y"]) != y:
        raise ValueError("the copy probed is not the one asked for")
    if "failed" in probe:
        raise Wrong(f"your vote function failed on a batch of one stored row: {probe['failed']}", KNN_HINT)
    x, got = int(probe["x"]), str(probe["predicted"])
    right, left_out = _winners(tallies["itself"][y], 1e-6), _winners(tallies["weighted"][y], 1e-6)
    if got in left_out and got not in right:
        raise Wrong(
            f"given the row of {Path(paths[x]).name} with the embedding of {Path(paths[y]).name} (a copy stored "
            "under another path, score 1), your vote left that copy out: it leaves out the best score, not the "
            "image itself.",
            'Leave each image out by its path (np.equal.outer(batch["path"], all_paths)), not by its score.',
        )


def _judge_stretch(seen, seed) -> str:
    paths, classes = [str(p) for p in seen["paths"]], [str(c) for c in seen["classes"]]
    if len(classes) != len(paths):
        raise ValueError("a class for every stored path")
    _check_vote_stage(seen["stages"])
    _check_knn_rows(seen, paths)
    tallies = _tallies(seen, classes)
    index = {p: i for i, p in enumerate(paths)}
    predicted = {index[str(p)]: str(c) for p, c in zip(seen["knn_path"], seen["knn_predicted"])}
    _check_votes(predicted, paths, classes, tallies)
    _check_itself_by_path(seen["probe"], paths, tallies, seed)
    accuracy = sum(predicted[i] == classes[i] for i in range(len(paths))) / len(paths)
    kinds = len(set(classes))
    return (
        f"{len(paths)} images, each labelled by the weighted vote of its {K} nearest others: leave-one-out "
        f"accuracy {accuracy:.1%} over {kinds} classes (chance about {1 / kinds:.0%})."
    )


@exercise("Stretch · a k-nearest-neighbour classifier", judge=_judge_stretch)
def stretch(knn, embeddings_dir, *, seed=None):
    """``knn``: a Dataset whose batch function gives every stored image the class its K most similar *other*
    stored images vote for (left out by path), each vote weighted by its cosine similarity.

    Observes the store (paths, classes, and each image's nearest other images with their cosines: see
    :func:`_neighbourhoods`), ``knn``'s stages and rows, and its vote function called on a copy of a stored image
    chosen from ``seed`` (:func:`_itself_probe`)."""
    require("knn", knn, "a Dataset with `path` and `predicted` for every stored image")
    paths, vectors, table = _store(embeddings_dir, "to classify")
    if "class" not in table.columns:
        raise NotSolved("the stored embeddings have no class folders yet: solve Exercise 2 first.")
    require_dataset("knn", knn, KNN_HINT)
    require_lazy("knn", knn, "your vote function, which it calls on a row of its own,", "the check runs it.")
    classes = [str(c) for c in table["class"]]
    seen = {
        "paths": paths,
        "classes": classes,
        **_neighbourhoods(vectors),
        "stages": [[s.kind, s.is_class] for s in stages(knn)],
    }
    functions = _vote_functions(knn)
    if not functions:
        return seen
    got = knn.to_pandas()
    seen["columns"] = [str(c) for c in got.columns]
    for column in ("path", "predicted"):
        if column in got.columns:
            seen[f"knn_{column}"] = [str(v) for v in got[column]]
    seen["probe"] = _itself_probe(functions[-1], paths, vectors, classes, seed)
    return seen
