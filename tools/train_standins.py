"""Train the course's trained stand-ins anew and write them to ``raycourse/models/trained/`` (what the course ships).

    python tools/train_standins.py                  # all of them: image_gen, llm, clip, speech
    python tools/train_standins.py image_gen        # one

image_gen, llm and clip take about a minute and a half together; speech about 25 minutes (one thread), and it needs the
``espeak-ng`` program (``apt-get install espeak-ng``), which speaks its training sentences. Run it after changing
``raycourse/world/__init__.py`` or, in ``raycourse/models/``, ``training.py``, ``bpe.py``, ``standins.py`` or a builder
in ``builders.py`` (all of them), or ``models/speech_training.py``, ``world/speech.py`` or ``data/text/reviews.jsonl``
(speech), and commit the folder it rewrites. Deterministic: the same code gives the same files, byte for byte, on the
same kind of CPU (``make test-standins`` checks the shipped files against a fresh training: byte for byte on such a CPU,
else by what the stand-ins do; ``make test`` that each one's ``standin.json`` names today's sources).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raycourse.models import standins  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roles", nargs="*", metavar="ROLE", help=f"any of {', '.join(standins.TRAINED)} (default: all)")
    roles = parser.parse_args(argv).roles or list(standins.TRAINED)
    unknown = sorted(set(roles) - set(standins.TRAINED))
    if unknown:
        parser.error(f"not a trained stand-in: {', '.join(unknown)} (the trained ones: {', '.join(standins.TRAINED)})")
    with tempfile.TemporaryDirectory() as scratch:
        for role in roles:
            start = time.perf_counter()
            built = standins.build_standin(role, Path(scratch) / role, train=True)
            target = standins.TRAINED_DIR / role
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(built, target)
            size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
            print(f"{role:<10} trained in {time.perf_counter() - start:.1f} s -> {target} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
