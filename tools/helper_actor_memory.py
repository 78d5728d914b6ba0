"""How much memory Ray Data's detached helper actors hold as a long-lived Ray runs many datasets.

A workshop keeps one Ray for the day (``make lab``, or one cluster for a room): Ray Data keeps a few detached actors
in it (its stats actor, its autoscaling coordinator, the actor location tracker, the usage collector) that live as
long as the Ray does. This starts a Ray of its own (as ``make lab`` does, without the dashboard), runs ``--datasets``
small datasets one after the other in one driver (three operators each, and every tenth a fourth on an actor pool,
as the lessons' pipelines are), and prints each helper actor's resident memory every ``--every`` datasets, as JSON
lines (``--out`` writes them all as one JSON list too). docs/measured.md quotes one run.

    .venv/bin/python tools/helper_actor_memory.py --datasets 2500 --out outputs/helper-actor-memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class Identity:
    def __call__(self, batch):
        return batch


def helper_memory(ray, state) -> dict:
    """Resident memory (MiB) of every live actor of the Ray that is not a map worker of a dataset."""
    import psutil

    found = {}
    for actor in state.actors().values():
        if actor["State"] != "ALIVE" or "MapWorker" in actor["ActorClassName"]:
            continue
        try:
            found[actor["ActorClassName"]] = round(psutil.Process(actor["Pid"]).memory_info().rss / 2**20, 1)
        except psutil.Error as error:  # it ended between the two looks
            found[actor["ActorClassName"]] = f"gone ({type(error).__name__})"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=2500, help="how many datasets to run (default 2500)")
    parser.add_argument("--every", type=int, default=100, help="measure every N datasets (default 100)")
    parser.add_argument("--out", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args()

    from raycourse.session import auth, cluster

    temp_dir = tempfile.mkdtemp(prefix="rc-mem-", dir="/tmp")  # short: Ray's socket paths must fit
    head = cluster.start(dashboard=False, temp_dir=temp_dir)
    rows = []
    try:
        os.environ.update(head.client_env())
        cluster.keep_loopback()
        auth.refresh_ray_config()
        import ray
        from ray._private import state  # the GCS's actor table, with each actor's pid: no dashboard needed

        ray.init(address=head.address, log_to_driver=False)
        started = time.monotonic()
        for number in range(1, args.datasets + 1):
            ds = ray.data.range(64, override_num_blocks=4).map_batches(lambda batch: batch).map(lambda row: row)
            if number % 10 == 0:
                ds = ds.map_batches(Identity, compute=ray.data.ActorPoolStrategy(size=1))
            ds.materialize()
            if number == 1 or number % args.every == 0:
                row = {"datasets": number, "seconds": round(time.monotonic() - started), **helper_memory(ray, state)}
                rows.append(row)
                print(json.dumps(row), flush=True)
        ray.shutdown()
    finally:
        head.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
