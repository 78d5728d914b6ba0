"""Many small datasets on one make-lab Ray with the course's Prometheus, to watch the metrics agent grow slow and the
scrape interval follow it (docs/metrics.md). Every 30 s it records Prometheus's scrape of each target, `up`, the
interval, the agent's CPU since the last sample and, every fifth sample, the lines each target renders.

    .venv/bin/python tools/metrics_soak.py MINUTES DATASETS OUT.json    # docs/metrics.md: 22 1200

Run it on a quiet machine: it starts a Ray of its own (4 CPUs, no GPU) and stops it at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request

import psutil

from raycourse.session import cluster, prometheus


def _same(batch):
    return batch


def _lines(target: str) -> list:
    started = time.monotonic()
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=120) as response:
        return [sum(1 for _ in response), round(time.monotonic() - started, 2)]


def main(minutes: float, datasets: int, out: str) -> None:
    said, started = [], time.monotonic()
    cluster._say = lambda line: said.append([round(time.monotonic() - started), line])  # what make lab would print
    lab = cluster.start(dashboard=True, dashboard_port=cluster.free_port(), num_cpus=4, num_gpus=0, metrics=True)
    started = time.monotonic()
    os.environ.update(lab.client_env())
    import ray

    import raycourse

    raycourse.init(quiet=True)
    groups = json.loads((lab.session_dir() / prometheus.TARGETS).read_text())
    targets = [target for group in groups for target in group["targets"]]
    agent = next(p for p in psutil.process_iter(["cmdline"]) if "DashboardAgent" in " ".join(p.info["cmdline"] or []))
    rows, run, sampled, cpu = [], 0, started, sum(agent.cpu_times()[:2])
    while time.monotonic() - started < minutes * 60:
        if run < datasets:
            ray.data.range(64, override_num_blocks=2).map_batches(_same).map_batches(_same, batch_size=8).materialize()
            run += 1
        time.sleep(max(0.0, started + run - time.monotonic()))
        if time.monotonic() - sampled < 30:
            continue
        now, used = time.monotonic(), sum(agent.cpu_times()[:2])
        ask = lambda q: {s["instance"]: round(v, 2) for s, v in prometheus.query(lab.prometheus.url, q)}  # noqa: E731
        rows.append(
            dict(
                t=round(now - started),
                datasets=run,
                agent_cpu_percent=round(100 * (used - cpu) / (now - sampled)),
                lines={t: _lines(t) for t in targets} if len(rows) % 5 == 0 else {},
                scrape=ask("scrape_duration_seconds"),
                up=ask("up"),
                interval=lab.prometheus.seconds,
            )
        )
        sampled, cpu = now, used
        print(rows[-1], flush=True)
        with open(out, "w") as f:
            json.dump(dict(rows=rows, said=said), f, indent=1)
    ray.shutdown()
    lab.stop()


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
