"""Authoring commands: ``python -m raycourse.authoring {labs,quizzes,new-module,clean,check,record,bench,soak}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CourseError
from . import bench, labs, notebooks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m raycourse.authoring")
    sub = parser.add_subparsers(dest="command", required=True)
    p_labs = sub.add_parser("labs", help="generate labs/ from solutions/")
    p_labs.add_argument("--force", action="store_true", help="overwrite labs with uncommitted changes")
    sub.add_parser("quizzes", help="write each lesson's quiz cells from raycourse/checks/quizNN.py")
    p_new = sub.add_parser("new-module", help="scaffold a new module (lesson, quiz, solution, checks, tests)")
    p_new.add_argument("number", help="two digits, such as 08")
    p_new.add_argument("title", help='the module\'s title, such as "Serving embeddings"')
    for name, text in [
        ("clean", "store notebooks clean"),
        ("check", "list notebooks that are not clean"),
        ("record", "run lessons and solved labs from the top and store them with their outputs"),
        ("bench", "time every notebook"),
    ]:
        p = sub.add_parser(name, help=text)
        p.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
        if name in ("record", "bench"):
            p.add_argument("--modules", nargs="+", metavar="NN", help="only these modules' notebooks")
        if name == "bench":
            p.add_argument("--runs", type=int, default=3)
            p.add_argument("--own-ray", action="store_true", help="a Ray per notebook instead of one for all")
    p_soak = sub.add_parser("soak", help="every notebook twice in one Ray, an abandoned run between (make soak)")
    p_soak.add_argument(
        "--notebooks",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="only these notebooks (default: every lesson, then every solved lab)",
    )
    p_soak.add_argument(
        "--abandon",
        type=Path,
        metavar="PATH",
        help="the lesson whose run is abandoned (default: notebooks/03_image_generation.ipynb)",
    )
    p_soak.add_argument("--output", type=Path, help="where the figures go (default: outputs/soak.json)")
    p_soak.add_argument("--keep-temp", action="store_true", help="keep the Ray's temp dir (logs) afterwards")
    return parser


def _written(paths, done: str, none: str) -> int:
    for path in paths:
        print(f"wrote {path.relative_to(notebooks.ROOT)}")
    print(done.format(len(paths)) if paths else none)
    return 0


def _labs(args, paths) -> int:
    from ..errors import CourseError

    try:
        written = labs.generate(force=args.force)
    except (CourseError, labs.MarkerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return _written(written, "{} lab(s) regenerated", "labs are up to date")


def _new_module(args, paths) -> int:
    from ..errors import CourseError
    from . import scaffold

    try:
        written = scaffold.new_module(args.number, args.title)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.relative_to(notebooks.ROOT)}")
    print("next: `make labs` writes the lab from the solution; fill in every TODO; `make test`.")
    return 0


def _quizzes(args, paths) -> int:
    from . import quizzes

    return _written(quizzes.write_all(), "{} lesson(s) updated", "quizzes are up to date")


def _clean(args, paths) -> int:
    for path in paths:
        notebooks.write(notebooks.clean(notebooks.read(path)), path)
    return 0


def _check(args, paths) -> int:
    bad = {p: notebooks.problems(p) for p in paths}
    for path, found in bad.items():
        for problem in found:
            print(f"{path.relative_to(notebooks.ROOT)}: {problem}")
    return 1 if any(bad.values()) else 0


def _of_modules(args, paths: list) -> list:
    """``paths``, or only those of the modules ``--modules`` names; [] (and a message) when it names none there."""
    if not args.modules:
        return paths
    wanted = {m.strip().zfill(2) for m in " ".join(args.modules).replace(",", " ").split()}
    paths = [p for p in paths if p.name[:2] in wanted]
    if not paths:
        print(f"error: no notebook of module(s) {', '.join(sorted(wanted))}", file=sys.stderr)
    return paths


def _record(args, paths) -> int:
    paths = _of_modules(args, paths)
    if not paths:
        return 1
    failed = []
    for path in paths:
        shown = path.parent.name in notebooks.SHOWN_DIRS
        if shown or any(notebooks.COMPARED in notebooks.tags(c) for c in notebooks.read(path).cells):
            print(f"recording {path.relative_to(notebooks.ROOT)}", flush=True)
            try:
                notebooks.record(path)
            except notebooks.RecordError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed.append(path)
    from . import gallery

    try:
        for path in gallery.write():  # README's pictures, from the lessons just stored
            print(f"wrote {path.relative_to(notebooks.ROOT)}")
    except CourseError as exc:
        print(f"error: README's pictures: {exc}", file=sys.stderr)
        failed.append(notebooks.ROOT / gallery.FOLDER)
    if failed:
        print(f"not stored: {', '.join(str(p.relative_to(notebooks.ROOT)) for p in failed)}", file=sys.stderr)
        return 1
    return 0


def _soak(args, paths) -> int:
    from . import soak

    return soak.soak(
        [p.resolve() for p in args.notebooks or []] or None,
        args.abandon.resolve() if args.abandon else None,
        args.output,
        args.keep_temp,
    )


def _bench(args, paths) -> int:
    if not args.paths:  # every lesson and solved lab (a lab as shipped stops at its placeholders)
        paths = [p for p in paths if p.parent.name != "labs"]
    paths = _of_modules(args, paths)
    if not paths:
        return 1
    bench.bench(paths, runs=args.runs, own_ray=args.own_ray)
    from . import tables

    for path in tables.write():  # docs/bench.md's table, from results/bench.json
        print(f"wrote {path.relative_to(notebooks.ROOT)}")
    return 0


COMMANDS = {
    "labs": _labs,
    "new-module": _new_module,
    "quizzes": _quizzes,
    "clean": _clean,
    "check": _check,
    "record": _record,
    "soak": _soak,
    "bench": _bench,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    paths = [p.resolve() for p in getattr(args, "paths", [])] or notebooks.course_notebooks()
    return COMMANDS[args.command](args, paths)


if __name__ == "__main__":
    sys.exit(main())
