"""Screenshots of the Ray dashboard during a real run: ``notebooks/figures/dashboard_*.png``.

``make screenshots`` runs it. It starts a Ray of its own (``ray.init(address="local", include_dashboard=True)``,
8 logical CPUs and 2 logical GPUs, as the course's ``tiny`` Ray declares) with the Prometheus that ``make lab``
starts beside Ray (``raycourse/session/prometheus.py``: the Ray Data view reads its rows and bytes there), runs
lesson 10's own pipeline (its code cells up to the one that writes the day's embeddings: ``Validate``, then a
``TextEmbedder`` actor pool with one GPU per actor), and while it runs, a headless Chromium (Debian's chromium and
chromedriver: ``bash tools/install_browser.sh``) opens the dashboard's pages and saves:

- ``dashboard_jobs.png``: the Jobs page, with this script's job;
- ``dashboard_actors.png``: the Actors page, with the pool's ``MapWorker(MapBatches(TextEmbedder))`` actors and
  what each holds;
- ``dashboard_data.png``: the job's page at its Ray Data overview: the lesson's dataset, ``daily_reviews``, and its
  operators, with the rows that Prometheus holds for them;
- ``dashboard_train.png``: the Actors page, filtered to a ``TorchTrainer``'s actors (two ``RayTrainWorker``, a
  ``TrainController``) while it runs;
- ``dashboard_serve.png``: the Serve page, with an application of two replicas (``@serve.batch``), started
  after the pipeline with ``serve.start(proxy_location="HeadOnly")``.

A real run never draws the same bytes twice, so the tests (tests/docs/test_figures.py) hold the screenshots to
existing, being small and being shown by a lesson; this script is their source. They are saved as palette PNGs,
scaled to ``WIDTH`` pixels.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from raycourse.testing.browser import INSTALL, start_chromium, system_browser

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "notebooks" / "figures"
WINDOW = (1280, 800)
WIDTH = 1100  # pixels of the stored PNG
LESSON = ROOT / "notebooks" / "10_observe_and_size_a_pipeline.ipynb"  # whose pipeline the Ray Data view shows
DATASET, MODEL_STAGE = "daily_reviews", "MapBatches(TextEmbedder)"  # its dataset's name (set_name) and model stage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the dashboard did not answer at {url} within {timeout:.0f} s")
        time.sleep(1)


def browser():
    found = system_browser()
    if found is None:
        raise SystemExit(f"no chromium/chromedriver here: {INSTALL}")
    return start_chromium(*found, Path(tempfile.mkdtemp(prefix="capture-dashboard-")), window=WINDOW)


def save(driver, path: Path) -> None:
    from PIL import Image

    raw = path.with_suffix(".raw.png")
    driver.save_screenshot(str(raw))
    with Image.open(raw) as image:
        image = image.convert("RGB")
        image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
        image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    raw.unlink()
    print(f"{path} ({path.stat().st_size // 1024} kB)")


def show(driver, url: str, settle: float, text: str | None = None, timeout: float = 30) -> None:
    """Open ``url`` and wait until the page shows ``text`` (then ``settle`` seconds more for its tables)."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    deadline = time.monotonic() + timeout
    while text and text not in driver.find_element(By.TAG_NAME, "body").text:
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not show {text!r} within {timeout:.0f} s")
        time.sleep(0.5)
    time.sleep(settle)


def element(driver, text: str, timeout: float = 30):
    """The first element of the page whose own text is ``text``, once the page shows one."""
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while True:
        try:
            return driver.find_element(By.XPATH, f"//*[normalize-space(text())='{text}']")
        except NoSuchElementException:
            if time.monotonic() > deadline:
                raise SystemExit(f"the page showed no {text!r} within {timeout:.0f} s") from None
            time.sleep(0.5)


def wait_until_gone(driver, text: str, timeout: float) -> None:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while text in driver.find_element(By.TAG_NAME, "body").text and time.monotonic() < deadline:
        time.sleep(1)


def lesson_pipeline() -> None:
    """Lesson 10's code cells, as a learner runs them, up to the one that runs its pipeline (it writes Parquet), in
    this process: its ``raycourse.init(metrics=True)`` finds this script's Ray and Prometheus and uses them."""
    import json

    cells = ["".join(c["source"]) for c in json.loads(LESSON.read_text())["cells"] if c["cell_type"] == "code"]
    last = next(i for i, source in enumerate(cells) if ".write_parquet(" in source)
    namespace = {"__name__": "__main__"}
    for source in cells[: last + 1]:
        exec(compile(source, str(LESSON), "exec"), namespace)  # noqa: S102 (the course's own lesson)


def embed_rows(base: str, job_id: str, timeout: float) -> float:
    """The rows the model stage has output, as the dashboard's Ray Data view reads them from Prometheus, once
    there are some."""
    import json

    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{base}/api/data/datasets/{job_id}", timeout=10) as response:
            datasets = json.load(response)["datasets"]
        rows = [
            float(op["ray_data_output_rows"]["max"])
            for d in datasets
            for op in d["operators"]
            if MODEL_STAGE in op["operator"]
        ]
        if rows and max(rows) > 0:
            return max(rows)
        if time.monotonic() > deadline:
            raise SystemExit(f"the Ray Data view read no rows for the model stage within {timeout:.0f} s: {datasets}")
        time.sleep(2)


serve_started = [False]


def train_page(driver, base: str, out: Path) -> None:
    """A TorchTrainer with two workers, and the Actors page filtered to Ray Train's actors while it runs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer

    def train_func():
        time.sleep(25)  # stands for the training loop: the workers only have to be there for the screenshot

    trainer = TorchTrainer(train_func, scaling_config=ScalingConfig(num_workers=2, use_gpu=False))
    fit = threading.Thread(target=trainer.fit, daemon=True)
    fit.start()
    show(driver, f"{base}/#/actors", settle=1, text=MODEL_STAGE)
    box = driver.find_element(By.XPATH, "//label[normalize-space(text())='Class']/following::input[1]")
    box.send_keys("Train", Keys.ENTER)
    deadline = time.monotonic() + 90
    text = ""
    while time.monotonic() < deadline:
        text = driver.execute_script("return document.body.innerText")
        if text.count("RayTrainWorker") >= 2 and "TrainController" in text and "PENDING_CREATION" not in text:
            break
        time.sleep(1)
    else:
        raise SystemExit(f"the Actors page did not show Ray Train's actors within 90 s: {text[-500:]!r}")
    time.sleep(2)
    save(driver, out / "dashboard_train.png")
    fit.join(timeout=120)


def serve_page(driver, base: str, out: Path) -> None:
    """Ray Serve with two replicas of a small deployment, a few requests, and the dashboard's Serve page."""
    import urllib.request

    from ray import serve

    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    serve_started[0] = True

    @serve.deployment(num_replicas=2, max_ongoing_requests=8)
    class Enhancer:
        @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)
        async def enhance(self, prompts: list[str]) -> list[str]:
            return [f"{p}, in spring" for p in prompts]

        async def __call__(self, request) -> str:
            return await self.enhance((await request.json())["prompt"])

    serve.run(Enhancer.bind(), name="enhancer", route_prefix="/enhance")
    for i in range(8):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/enhance",
            data=b'{"prompt": "a fox"}',
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=30).read()
    show(driver, f"{base}/#/serve", settle=1, text="enhancer")
    element(driver, "enhancer")
    deadline = time.monotonic() + 30
    while "HEALTHY" not in driver.execute_script("return document.body.innerText") and time.monotonic() < deadline:
        time.sleep(1)
    time.sleep(2)
    save(driver, out / "dashboard_serve.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder for the PNGs (default {OUT})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("RAY_ADDRESS", None)  # a Ray of this script's own, never the course's shared one
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAYCOURSE_PROFILE", "tiny")  # the lesson on the stand-ins, offline, unless told otherwise
    # Ray 2.60 turns token authentication on by default; this Ray listens on 127.0.0.1 only and lives for the
    # minute of the capture, so it runs without, and the browser opens its pages as they look once signed in.
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # If the pipeline's thread outlives this script's Ray (a failed capture shuts it down under the thread), it
    # must not connect to another Ray on this machine: no automatic ray.init().
    os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
    from raycourse.session.cluster import keep_loopback

    # Ray would otherwise listen on the machine's outward address too (raycourse.session.cluster says why)
    keep_loopback()

    import ray
    from selenium.webdriver.common.by import By

    from raycourse.session import prometheus

    # Prometheus beside this Ray, as make lab starts one, so that the Ray Data view shows its rows and bytes
    prometheus.before_own_ray()
    port = free_port()
    context = ray.init(
        address="local",
        include_dashboard=True,
        dashboard_host="127.0.0.1",
        dashboard_port=port,
        num_cpus=8,
        num_gpus=2,
        log_to_driver=False,
    )
    prometheus.after_own_ray(context)
    if prometheus.own_url() is None:
        raise SystemExit(f"no Prometheus beside this Ray: the Ray Data view would read 0 ({prometheus.MISSING})")
    base = f"http://127.0.0.1:{port}"
    driver = None
    try:
        wait_for(f"{base}/api/version")
        job_id = ray.get_runtime_context().get_job_id()

        driver = browser()  # before the lesson: its pipeline runs for seconds in tiny
        run = threading.Thread(target=lesson_pipeline, daemon=True)
        run.start()
        # The actors first, while the lesson's pool is alive; then the Ray Data overview (the pipeline may have
        # finished by then, and the view still holds its rows) and the job list.
        alive_row = (
            "return [...document.querySelectorAll('tr')].some(r => r.textContent.includes(arguments[0])"
            " && r.textContent.includes('ALIVE'));"
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            driver.get(f"{base}/#/actors")
            time.sleep(1.5)
            if driver.execute_script(alive_row, MODEL_STAGE):
                break
        else:
            raise SystemExit(f"the Actors page showed no live {MODEL_STAGE} actor within 90 s")
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});",
            driver.find_element(By.XPATH, f"//*[contains(text(), '{MODEL_STAGE}')]"),
        )
        time.sleep(0.5)
        save(driver, args.out / "dashboard_actors.png")
        show(driver, f"{base}/#/jobs/{job_id}", settle=2, text="Ray Data Overview", timeout=45)
        element(driver, "Ray Core Overview").click()  # folded, so that the Ray Data overview fills the page
        overview = element(driver, "Ray Data Overview")
        overview.click()
        element(driver, "Dataset / Operator Name")
        time.sleep(3)
        driver.execute_script(
            """
            const cell = [...document.querySelectorAll('td')].find(td => td.textContent.startsWith(arguments[0]));
            const row = cell && cell.closest('tr');
            const button = row && row.querySelector('button, svg');
            if (button) button.dispatchEvent(new MouseEvent('click', {bubbles: true}));""",
            DATASET,
        )
        element(driver, MODEL_STAGE)  # the operators, unfolded
        deadline = time.monotonic() + 60  # until the model stage has output blocks to show (the page refreshes)
        while time.monotonic() < deadline and not re.search(
            r"\b[1-9]\d* / \d+",
            driver.execute_script(
                "const c = [...document.querySelectorAll('td')].find(td => td.textContent === arguments[0]);"
                "return c ? c.closest('tr').textContent : '';",
                MODEL_STAGE,
            ),
        ):
            time.sleep(1)
        rows = embed_rows(base, job_id, timeout=60)  # and until Prometheus has its rows (the page shows them)
        print(f"the Ray Data view: {MODEL_STAGE} has output {rows:.0f} rows so far")
        time.sleep(3)
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -110);",
            element(driver, "Dataset / Operator Name"),
        )
        time.sleep(1)
        save(driver, args.out / "dashboard_data.png")
        show(driver, f"{base}/#/jobs", settle=3, text=job_id)
        save(driver, args.out / "dashboard_jobs.png")
        if run.is_alive():
            print("the pipeline was still running when the last screenshot was taken (as it should be)")
        run.join(timeout=120)
        train_page(driver, base, args.out)
        serve_page(driver, base, args.out)
    finally:
        if driver is not None:
            driver.quit()
        if serve_started[0]:
            from ray import serve

            serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
