"""Command line: ``python -m raycourse {info,standins,prefetch,check-profile,pins,reset-lab,lab}``."""

from __future__ import annotations

import argparse
import sys
import time

from . import config, models
from .errors import CourseError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["lab"]:  # everything after `lab` goes to `jupyter lab` as it is
        from .cluster import run_lab

        try:
            return run_lab(argv[1:])
        except CourseError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    parser = argparse.ArgumentParser(prog="python -m raycourse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="show the profile and what each model role resolves to")
    sub.add_parser("standins", help="build the tiny profile's model stand-ins (cached)")
    pre = sub.add_parser("prefetch", help="download the gpu profile's models into the Hugging Face cache")
    pre.add_argument("roles", nargs="*", help=f"roles to fetch (default: all of {', '.join(config.MODEL_ROLES)})")
    sub.add_parser("check-profile", help="exit 1 with advice when the profile cannot run here "
                   "(the gpu profile without a GPU or without its cached models)")
    pins = sub.add_parser("pins", help="show the gpu profile's pinned models (raycourse/models.toml); move a pin")
    pins.add_argument("--move", nargs="+", metavar=("ROLE", "COMMIT"),
                      help="point ROLE at COMMIT (default: the Hub's current main); needs internet")
    reset = sub.add_parser("reset-lab", help="a fresh copy of a lab; the learner's copy moves to my-work/")
    reset.add_argument("lab", help="module number (03) or the lab's file name")
    lab = sub.add_parser("lab", help="start one Ray for the session (dashboard on), then JupyterLab; "
                         "stop both together (what `make lab` runs)")
    lab.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="passed on to `jupyter lab`")
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            print(f"profile: {config.profile()}")
            for role in config.MODEL_ROLES:
                print(f"  {role:<10}{models.describe(role)}")
        elif args.command == "standins":
            for role in config.MODEL_ROLES:
                start = time.perf_counter()
                path = models.ensure_standin(role)
                size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                print(f"  {role:<10}{path}  ({size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")
        elif args.command == "reset-lab":
            from .labreset import reset_lab

            lab, saved = reset_lab(args.lab)
            where = lab.relative_to(lab.parents[1])
            if saved is None:
                print(f"{where} is already as the course ships it: nothing to reset.")
            else:
                print(f"Your work is kept in {saved.relative_to(lab.parents[1])}; {where} is fresh.\n"
                      "In JupyterLab: File > Reload Notebook from Disk (or close the tab and open it again).")
        elif args.command == "check-profile":
            print(models.check_profile())
        elif args.command == "pins":
            if args.move:
                role, commit = args.move[0], (args.move[1] if len(args.move) > 1 else None)
                print(f"{role}: pinned to {models.move_pin(role, commit)} (raycourse/models.toml)")
                return 0
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
                print(f"  {role:<10}{spec.hub_id} @ {spec.revision}  {len(spec.files)} files, "
                      f"{size / 1e9:.2f} GB" + (f" ({'; '.join(note)})" if note else ""))
                print(f"  {'':<10}licence: {spec.licence}")
            print(f"  {'total':<10}{total / 1e9:.2f} GB in the Hugging Face cache after `make prefetch`"
                  + (f", plus {', '.join(unrecorded)}" if unrecorded else ""))
        elif args.command == "prefetch":
            for role, where in models.prefetch(args.roles or None).items():
                print(f"  {role:<10}{where}")
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
