"""Command line: ``python -m raycourse {info,standins,prefetch,make-data,check-profile,check-data,pins,reset-lab,
grade,grade-class,lab,verify-gpu}``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import config, models
from .errors import CourseError
from .grading import DEFAULT_TIMEOUT, default_memory


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:  # everything after `lab` goes to `jupyter lab` as it is (argparse would read it)
        parser, args = None, argparse.Namespace(command="lab", jupyter_args=argv[1:])
    else:
        parser = _parser()
        args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](parser, args) or 0
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m raycourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show the profile and what each model role resolves to")
    _add_standins(sub)
    _add_verify(sub)
    _add_course_tools(sub)
    _add_grading(sub)
    lab = sub.add_parser(
        "lab",
        help="start one Ray for the session (dashboard on), then JupyterLab; stop both together (what `make lab` runs)",
    )
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab`")
    return parser


def _add_standins(sub) -> None:
    """``standins``: the tiny profile's stand-ins, or the gpu profile's models at full size."""
    standins = sub.add_parser(
        "standins",
        help="build the tiny profile's model stand-ins (cached); with --full-size, "
        "random-weight models of the real sizes into a Hugging Face cache",
    )
    standins.add_argument(
        "--full-size",
        action="store_true",
        help="build the gpu profile's pinned models at their real sizes and dtypes, with random "
        "weights, from the real configs in raycourse/fullsize/configs (no download)",
    )
    standins.add_argument(
        "--roles",
        type=_roles,
        metavar="ROLE,...",
        help=f"with --full-size: which roles (default: all of {', '.join(config.MODEL_ROLES)})",
    )
    standins.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="with --full-size: the Hugging Face cache to "
        "build into (default: ~/.cache/raycourse/fullsize/hub, or RAYCOURSE_CACHE/fullsize/hub)",
    )


def _add_verify(sub) -> None:
    """``verify-gpu``: every module's model stages at full size, measured."""
    verify = sub.add_parser(
        "verify-gpu",
        help="run every module's model stages at full size and measure them (make verify-gpu)",
        description="Run every module's model stages at full size, in process (no Ray), one process per stage, "
        "and print per stage: load time, peak memory (CUDA: max_memory_allocated, and whether the stage fits a "
        "24 GB and a 16 GB card, emulated with set_per_process_memory_fraction; CPU: peak RSS), rows per second "
        "and the model's busy share (with torch.cuda.utilization() beside it on CUDA). On a CPU only CLIP, ViT "
        "and Qwen2.5 run. The models are full-size random-weight builds (standins --full-size; built on first "
        "use) unless --real.",
    )
    verify.add_argument(
        "--roles", type=_roles, metavar="ROLE,...", help="roles to run (default: all on CUDA; clip,vit,llm on a CPU)"
    )
    verify.add_argument(
        "--modules",
        type=lambda s: [m.strip().zfill(2) for m in s.split(",") if m.strip()],
        metavar="NN,...",
        help="only these modules' stages (00,03,04,05,06,07)",
    )
    verify.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="the full-size build's Hugging Face cache (default as for standins --full-size)",
    )
    verify.add_argument(
        "--real",
        action="store_true",
        help="use the real weights in the Hugging Face cache "
        "(after make prefetch) instead of the full-size random-weight build",
    )
    verify.add_argument(
        "--size",
        choices=("gpu", "cpu", "small"),
        help="rows per stage (default: gpu on CUDA, cpu on a CPU; small is one batch each)",
    )
    verify.add_argument(
        "--json",
        type=Path,
        default=Path("outputs/verify-gpu.json"),
        metavar="PATH",
        help="where to write the measures (default: outputs/verify-gpu.json)",
    )


def _add_course_tools(sub) -> None:
    """The course's data and models: ``prefetch``, ``check-profile``, ``check-data``, ``make-data``, ``pins``, and a
    learner's ``reset-lab``."""
    pre = sub.add_parser(
        "prefetch",
        help="download the gpu profile's models into the Hugging Face cache, then read "
        "one file of each of its data sets (all roles only)",
    )
    pre.add_argument("roles", nargs="*", help=f"roles to fetch (default: all of {', '.join(config.MODEL_ROLES)})")
    sub.add_parser(
        "check-profile",
        help="exit 1 with advice when the profile cannot run here "
        "(the gpu profile without a GPU or without its cached models)",
    )
    sub.add_parser(
        "check-data",
        help="read every file of the course's data folder as Ray's readers would; exit 1 "
        "naming each file (and line) that they would fail on or read as empty, and how to restore it",
    )
    make_data = sub.add_parser(
        "make-data",
        help="draw the gpu profile's data sets at workshop scale into a folder (no download)",
        description="Draw the gpu profile's data sets (imagenette's three classes, the doggos photos) and module "
        "07's reviews at their real sizes times --scale, from the course's world, into OUT (one folder per S3 "
        "bucket); then RAYCOURSE_GPU_DATA=OUT makes raycourse.data_path() read them in the gpu profile. "
        "Deterministic: the same scale gives the same bytes.",
    )
    make_data.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write")
    make_data.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="F",
        help="the fraction of the real sizes (default 1: 6,930 photos of about 80 kB)",
    )
    make_data.add_argument("--jobs", type=int, metavar="N", help="processes drawing (default: one per CPU)")
    pins = sub.add_parser(
        "pins", help="show the gpu profile's pinned models (raycourse/models/models.toml); move a pin"
    )
    pins.add_argument(
        "--move",
        nargs="+",
        metavar=("ROLE", "COMMIT"),
        help="point ROLE at COMMIT (default: the Hub's current main); needs internet",
    )
    reset = sub.add_parser("reset-lab", help="a fresh copy of a lab; the learner's copy moves to my-work/")
    reset.add_argument("lab", help="module number (03) or the lab's file name")


def _add_grading(sub) -> None:
    """``grade`` (lab notebooks, one by one) and ``grade-class`` (a class's folder), with their limits."""
    grade = sub.add_parser(
        "grade",
        help="grade lab notebooks: run a copy of each from the top, print every exercise's verdict and a total",
        description="Run a copy of each lab notebook from the top in a fresh kernel (the file and your outputs are "
        "not touched) and print the verdict of every exercise, as its check cell would, and the lab's total. A cell "
        "that raises stops nothing. The verdicts are the grader's own checks, not what the notebook records. This runs "
        "the notebook's code, as you, in a sandbox where Linux allows it (files read-only, no network, a Ray of its "
        "own; else a warning says what is missing), without your secrets. Exit status: 0 when every "
        "notebook was graded (whatever its score), 1 when one could not be (not a lab notebook, unreadable), "
        "2 for a wrong command line.",
    )
    grade.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK", help="lab notebooks (.ipynb)")
    class_ = sub.add_parser(
        "grade-class",
        help="grade a class: every learner's lab notebooks in a folder, into grades.csv and grades.md",
        description="Grade every learner's lab notebooks in FOLDER: a notebook per learner (alice.ipynb) or a "
        "folder per learner (bob/, with lab notebooks anywhere inside). Writes grades.csv and grades.md (learner x "
        "exercise, totals, the share of learners who passed each exercise) and prints the table. A file that "
        "cannot be graded is a note in its learner's row. This runs the learners' code, as you, each notebook in a "
        "sandbox where Linux allows it, with a Ray of its own (see docs/security.md, What grading protects). Exit "
        "status: 0 when the report was written, 2 for a wrong "
        "command line.",
    )
    class_.add_argument("folder", type=Path, metavar="FOLDER", help="the class folder")
    class_.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write grades.csv and grades.md (default: FOLDER itself)"
    )
    class_.add_argument(
        "--lab",
        action="append",
        metavar="NN",
        dest="labs",
        help="grade only this lab (03); repeat for more (default: every lab found)",
    )
    for p in (grade, class_):
        p.add_argument(
            "--timeout",
            type=float,
            default=DEFAULT_TIMEOUT,
            metavar="S",
            help=f"time limit per notebook in seconds (default: {DEFAULT_TIMEOUT}); when reached, the "
            "kernel is stopped and the exercises not checked by then are reported as such",
        )
        p.add_argument(
            "--memory",
            type=_gib,
            default=None,
            metavar="GIB",
            help="memory limit per notebook in GiB, its processes together (its kernel, what it started, its Ray's "
            f"workers; default: half of this machine's memory, {default_memory():g} here); when exceeded, the "
            "notebook is stopped and the exercises not checked by then say so",
        )


# One function per sub-command: each takes the parser (for usage errors) and the parsed arguments, and returns
# the exit status (None: 0). A CourseError it raises is printed as "error: ..." by main().


def _info(parser, args) -> None:
    print(f"profile: {config.profile()}")
    for role in config.MODEL_ROLES:
        print(f"  {role:<10}{models.describe(role)}")


def _standins(parser, args) -> None:
    if args.full_size:
        return _standins_full_size(args)
    if args.roles or args.cache:
        parser.error("--roles and --cache go with --full-size")
    for role in config.MODEL_ROLES:
        start = time.perf_counter()
        path = models.ensure_standin(role)
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        print(f"  {role:<10}{path}  ({size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")


def _standins_full_size(args) -> None:
    from . import fullsize

    start = time.perf_counter()
    built = fullsize.build(args.roles, args.cache, log=print)
    for role, info in built.items():
        took = "already built" if info["kept"] else f"{info['seconds']:.1f} s"
        print(f"  {role:<10}{info['snapshot']}  ({info['bytes'] / 1e9:.2f} GB, {took})")
    cache = args.cache or fullsize.default_cache()
    print(
        f"Built in {time.perf_counter() - start:.1f} s. In the gpu profile, HF_HUB_CACHE={cache} makes "
        "raycourse.model_id() load these (tokenizers: the tiny stand-ins')."
    )


def _reset_lab(parser, args) -> None:
    from .labreset import reset_lab

    lab, saved = reset_lab(args.lab)
    where = lab.relative_to(lab.parents[1])
    if saved is None:
        print(f"{where} is already as the course ships it: nothing to reset.")
    else:
        print(
            f"Your work is kept in {saved.relative_to(lab.parents[1])}; {where} is fresh.\n"
            "In JupyterLab: File > Reload Notebook from Disk (or close the tab and open it again)."
        )


def _check_profile(parser, args) -> None:
    print(models.check_profile())


def _check_data(parser, args) -> None:
    from . import data

    config.profile()  # the data roles depend on it: a wrong name is the first thing to say
    print(f"{data.data_root()}: {data.check_data()} data files read, none that Ray's readers would fail on.")


def _pins(parser, args) -> None:
    if args.move:
        role, commit = args.move[0], (args.move[1] if len(args.move) > 1 else None)
        print(f"{role}: pinned to {models.move_pin(role, commit)} (raycourse/models/models.toml)")
        return
    total, unrecorded = 0, []
    for role, spec in config.MODEL_ROLES.items():
        size = sum(spec.sizes.values())
        total += size
        unknown = [f for f in spec.files if f not in spec.sizes]
        weights = [f for f in unknown if f.endswith((".safetensors", ".bin"))]
        unrecorded += [f"{spec.hub_id}/{f}" for f in weights]
        note = [f"size not recorded: {', '.join(weights)}"] if weights else []
        if len(unknown) > len(weights):
            note.append(f"+{len(unknown) - len(weights)} small text files")
        print(
            f"  {role:<10}{spec.hub_id} @ {spec.revision}  {len(spec.files)} files, "
            f"{size / 1e9:.2f} GB" + (f" ({'; '.join(note)})" if note else "")
        )
        print(f"  {'':<10}licence: {spec.licence}")
    print(
        f"  {'total':<10}{total / 1e9:.2f} GB in the Hugging Face cache after `make prefetch`"
        + (f", plus {', '.join(unrecorded)}" if unrecorded else "")
    )


def _verify_gpu(parser, args) -> int:
    from .fullsize.verify import verify as run_verify

    report = run_verify(args.roles, args.cache, real=args.real, size=args.size, modules=args.modules, out=args.json)
    gpu = f" ({report['gpu']})" if report["gpu"] else ""
    print(
        f"\nFull-size model stages on {report['device']}{gpu}, {report['machine']}; "
        f"models: {report['models']}; rows: {report['sizes']['name']} sizes\n"
    )
    print(report["table"])
    print(f"\nWrote {args.json}")
    failed = [s for s in report["stages"] if s.get("runs", {}).get("full", {}).get("status") not in (None, "ok")]
    return 1 if failed else 0


def _prefetch(parser, args) -> None:
    for role, where in models.prefetch(args.roles or None).items():
        print(f"  {role:<10}{where}")
    if not args.roles:
        _check_gpu_data()


def _lab(parser, args) -> int:
    from .session.cluster import run_lab

    return run_lab(args.jupyter_args)


def _roles(text: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in roles if r not in config.MODEL_ROLES]
    if unknown or not roles:
        named = ", ".join(unknown) or repr(text)
        raise argparse.ArgumentTypeError(f"unknown role(s) {named}; the roles are {', '.join(config.MODEL_ROLES)}")
    return roles


def _check_gpu_data() -> None:
    """`make prefetch`'s last step: reach and read one file of each of the gpu profile's data sets."""
    from .data import check_gpu_data

    print("Reading one file of each of the gpu profile's data sets ...", flush=True)
    for where, what in check_gpu_data().items():
        print(f"  {where}: {what}")


def _make_data(parser, args) -> int:
    from .data import GPU_DATA_ENV
    from .data.workshop import generate

    if not args.scale > 0:
        raise CourseError(
            f"--scale {args.scale} is not a fraction above 0.",
            "Give --scale a fraction above 0 (1 is the data sets' real size).",
        )
    start = time.perf_counter()
    manifest = generate(args.out, args.scale, args.jobs, log=print)
    print(
        f"Wrote {manifest['images']} images and {manifest['counts']['text/reviews.jsonl']} reviews "
        f"({manifest['bytes'] / 1e9:.2f} GB) in {time.perf_counter() - start:.1f} s. "
        f"In the gpu profile, {GPU_DATA_ENV}={args.out.resolve()} makes raycourse.data_path() read them."
    )
    return 0


def _gib(text: str) -> float:
    try:
        value = float(text.strip().upper().removesuffix("GIB").removesuffix("G"))
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GiB above 0: give one such as 8 or 12.5")
    return value


def _grade(parser, args) -> int:
    from .grading import Grader

    paths, timeout = args.notebooks, args.timeout
    grades = []
    with Grader(timeout, memory=args.memory) as grader:
        for i, path in enumerate(paths):
            print(("\n" if i else "") + f"Grading {path} (a copy, from the top, at most {timeout:g} s) ...", flush=True)
            grade = grader.grade(path)
            grades.append(grade)
            print(grade.report(), flush=True)
    if len(grades) > 1:
        print("\nTotal:")
        for grade in grades:
            print(f"  {grade.total_line() if grade.graded else 'not graded'}  ({grade.path})")
    return 0 if all(g.graded for g in grades) else 1


def _grade_class(parser, args) -> int:
    import os

    from . import catalogue
    from .grading import grade_class

    folder = args.folder
    if not folder.is_dir():
        parser.error(f"{folder} is not a folder (give the folder that holds the learners' notebooks)")
    labs = []
    for lab in args.labs or []:
        digits = lab.removeprefix("lab").lstrip("0") or "0"
        if not digits.isdigit():
            parser.error(f"--lab {lab}: give a lab's number, such as 03")
        labs.append(f"lab{int(digits):02d}")
    known = {m.checks.rsplit(".", 1)[-1] for m in catalogue.labs() if m.checks}
    if set(labs) - known:
        parser.error(f"there is no {', '.join(sorted(set(labs) - known))}; the labs are {', '.join(sorted(known))}")
    out = args.out or folder
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        print(
            "Note: you are root, so the learners' code runs as root too. Grade as an ordinary user where you can.",
            file=sys.stderr,
        )
    report = grade_class(
        folder, timeout=args.timeout, memory=args.memory, labs=labs or None, skip=(out,) if args.out else ()
    )
    csv_path, md_path = report.write(out)
    print()
    print(report.summary())
    print(f"\nWrote {csv_path} and {md_path}")
    return 0


COMMANDS = {
    "info": _info,
    "standins": _standins,
    "prefetch": _prefetch,
    "make-data": _make_data,
    "check-profile": _check_profile,
    "check-data": _check_data,
    "pins": _pins,
    "reset-lab": _reset_lab,
    "grade": _grade,
    "grade-class": _grade_class,
    "lab": _lab,
    "verify-gpu": _verify_gpu,
}


if __name__ == "__main__":
    sys.exit(main())
