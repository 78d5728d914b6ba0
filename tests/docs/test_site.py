"""The course website (`make site`): built offline from the stored notebooks, and read in a real browser.

- `make site SITE_OUT=...` builds it as a developer and the Pages workflow do (the site's own venv, .venv-site,
  installed from website/requirements.txt on first use). Where those tools cannot be installed (no package
  index) the tests skip and say so; in CI (`CI` set, as .ci/run has it) they fail instead.
- A crawler reads every page: every href and src that points into the site names a file that is there, every
  ``#anchor`` exists on its page, and nothing is loaded from the internet (the site must read offline).
- Every lesson, lab and solved lab has its page, with the outputs it is stored with; a lab's page holds no
  solution.
- Chromium (Debian's chromium and chromedriver, as tests/notebooks/test_browser.py) opens every page from a local HTTP
  server: no console error (a missing file, a script error), every image decoded; the search finds a lesson.
- A small course of its own, built with ``--root``: a figure beside the notebooks shows as a markdown image and
  as a raw ``<img>``, from a lesson and from a lab; a link to README lands on the home page; a broken link fails
  the build.
"""

from __future__ import annotations

import functools
import html.parser
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow("builds the website (make site) and reads every page in Chromium")

ROOT = Path(__file__).resolve().parents[2]
SITE_PYTHON = ROOT / ".venv-site" / "bin" / "python"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
LINKING = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src", "source": "src"}


def _make(*args: str, timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def _site_tools_or_skip() -> None:
    if shutil.which("make") is None:
        pytest.skip("no make here")
    setup = _make("site-setup", timeout=600)
    if setup.returncode:
        why = (
            "the website's tools (website/requirements.txt, into .venv-site) could not be installed: "
            f"`make site-setup` said\n{(setup.stdout + setup.stderr)[-2000:]}"
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # CI has the package index: there the site must be built and tested
        pytest.skip(why)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _site_tools_or_skip()
    out = tmp_path_factory.mktemp("site") / "_site"
    start = time.monotonic()
    built = _make("site", f"SITE_OUT={out}", timeout=600)
    assert built.returncode == 0, f"make site failed:\n{built.stdout[-3000:]}\n{built.stderr[-5000:]}"
    print(f"\nmake site: {time.monotonic() - start:.1f} s; {built.stdout.strip().splitlines()[-1]}")
    return out


# --- the crawler -------------------------------------------------------------------------------------------


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag, value)
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.imgs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        if tag == "img":
            self.imgs += 1
        value = attrs.get(LINKING.get(tag, ""))
        if value is not None and not (tag == "link" and "preconnect" in (attrs.get("rel") or "")):
            self.links.append((tag, value))

    def handle_data(self, data):
        self.text.append(data)


@functools.cache
def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages(site: Path) -> list[Path]:
    """The site's pages (not the theme's Jinja macro files that Sphinx copies into _static/ as they are)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def broken_links(site: Path) -> list[str]:
    """Every href/src of every page that does not resolve: a missing file, a missing anchor, an internet load."""
    found = []
    for page in _pages(site):
        name = page.relative_to(site).as_posix()
        for tag, value in _parse(page).links:
            parts = urllib.parse.urlsplit(value)
            if parts.scheme in ("mailto", "javascript", "data"):
                continue
            if parts.scheme or value.startswith("//"):
                if tag != "a":  # a script, stylesheet or image from the internet: the site would not read offline
                    found.append(f"{name}: <{tag}> loads {value} from the internet")
                continue
            target = page if not parts.path else (page.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or site.resolve() not in (target.resolve(), *target.resolve().parents):
                found.append(f"{name}: <{tag}> {value}: no such file in the site")
                continue
            fragment = urllib.parse.unquote(parts.fragment)
            if fragment and target.suffix == ".html" and fragment not in _parse(target).ids:
                found.append(f"{name}: <{tag}> {value}: no #{fragment} on {target.relative_to(site.resolve())}")
    return found


def test_every_link_image_and_anchor_resolves_and_nothing_loads_from_the_internet(site):
    pages = _pages(site)
    assert len(pages) > 25, [p.name for p in pages]
    assert broken_links(site) == []


def test_the_crawler_finds_a_broken_link_image_and_anchor(site, tmp_path):
    """The check above cannot pass vacuously: the same crawler on a copy with one of each broken."""
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    page = copy / "notebooks" / "01_ingest_and_transform.html"
    page.write_text(
        page.read_text().replace(
            "</body>",
            '<a href="02_joins_and_prompts.html#no-such-heading">x</a><img src="figures/none.svg">'
            '<a href="../labs/99_missing_lab.html">y</a><script src="https://cdn.example/x.js"></script>'
            "</body>",
        )
    )
    _parse.cache_clear()
    found = "\n".join(broken_links(copy))
    for expected in (
        "no #no-such-heading on notebooks/02_joins_and_prompts.html",
        "figures/none.svg: no such file",
        "99_missing_lab.html: no such file",
        "loads https://cdn.example/x.js from the internet",
    ):
        assert expected in found, found


def _stored_text_outputs(notebook: Path) -> list[str]:
    texts = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain")
            # a table's text/plain is its fallback for text/html, a figure's ("<Figure ...>") for its picture
            if text and not {"text/html", "image/png", "image/jpeg"} & set(out.get("data", {})):
                texts.append(" ".join(ANSI.sub("", "".join(text)).split()))
    return texts


def _stored_images(notebook: Path) -> int:
    return sum(
        1
        for cell in json.loads(notebook.read_text())["cells"]
        for out in cell.get("outputs", [])
        if {"image/png", "image/svg+xml", "image/jpeg"} & set(out.get("data", {}))
    )


@pytest.mark.parametrize("folder", ["notebooks", "labs", "solutions"])
def test_every_notebook_has_its_page_with_its_stored_outputs(site, folder):
    notebooks = sorted((ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    home = _parse(site / "index.html")
    for notebook in notebooks:
        page = site / folder / f"{notebook.stem}.html"
        assert page.is_file(), f"{notebook.relative_to(ROOT)} has no page"
        assert ("a", f"{folder}/{notebook.stem}.html") in home.links, f"no link to {page.name} in the navigation"
        parsed = _parse(page)
        text = " ".join("".join(parsed.text).split())
        for output in _stored_text_outputs(notebook):
            assert output[:200] in text, f"{page.name} lacks the stored output {output[:80]!r}"
        assert parsed.imgs >= _stored_images(notebook), f"{page.name} shows fewer images than the notebook stores"
        if folder == "labs":
            assert "SOLUTION" not in text, f"{page.name} shows a solution marker"
        if folder == "solutions":
            assert "(solved)" in text, f"{page.name}'s title does not say it is the solved lab"


# --- in Chromium -------------------------------------------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    from test_browser import _browser_or_skip, _start_browser

    chromium, chromedriver = _browser_or_skip()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    logs = tmp_path_factory.mktemp("site-browser")
    from selenium.webdriver import ChromeOptions

    original = ChromeOptions.to_capabilities

    def with_console(self):  # the browser's console log, for driver.get_log("browser")
        caps = original(self)
        caps["goog:loggingPrefs"] = {"browser": "ALL"}
        return caps

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ChromeOptions, "to_capabilities", with_console)
        driver = _start_browser(chromium, chromedriver, logs / "profile", logs / "chromedriver.log")
    driver.base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield driver
    finally:
        driver.quit()
        server.shutdown()


IMAGES_JS = """
for (const img of document.images) img.loading = 'eager';
return [...document.images].map(img => [img.getAttribute('src'), img.complete, img.naturalWidth]);
"""


def _load(driver, path: str) -> list[str]:
    """Open one page; what went wrong there: console errors, images that did not decode."""
    driver.get(driver.base + path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        images = driver.execute_script(IMAGES_JS)
        if driver.execute_script("return document.readyState") == "complete" and all(done for _, done, _ in images):
            break
        time.sleep(0.2)
    problems = [
        f"{path}: console {e['level']}: {e['message']}" for e in driver.get_log("browser") if e["level"] == "SEVERE"
    ]
    problems += [f"{path}: image {src} did not load" for src, done, width in images if not (done and width)]
    return problems


def test_chromium_loads_every_page_without_a_console_error_or_a_broken_image(site, browser):
    pages = [p.relative_to(site).as_posix() for p in _pages(site)]
    problems = [problem for page in pages for problem in _load(browser, page)]
    assert problems == [], "\n".join(problems)
    assert browser.title and "Ray Data AI Pipelines" in browser.title


HOME_JS = """
return {
  headings: [...document.querySelectorAll('section > h2')].map(h => h.textContent.replace('#', '').trim()),
  images: [...document.images].map(img => [img.getAttribute('src'), img.complete && img.naturalWidth > 0]),
  columns: [...document.querySelectorAll('th')].map(th => th.textContent.trim()),
  code: [...document.querySelectorAll('pre')].map(pre => pre.textContent).join('\\n'),
};
"""


def test_the_site_opens_on_what_a_learner_will_build(site, browser):
    """The home page (README): first the lessons' own pictures, each shown, then the two commands, then the modules
    with their minutes and GPUs."""
    from test_browser import _wait

    from raycourse.authoring import gallery

    browser.get(browser.base)  # the site's address itself
    _wait(lambda: browser.execute_script("return document.readyState") == "complete", 20, "the home page")
    for img in browser.find_elements("tag name", "img"):
        browser.execute_script("arguments[0].loading = 'eager'", img)
    home = _wait(
        lambda: (lambda h: h if all(ok for _, ok in h["images"]) else None)(browser.execute_script(HOME_JS)),
        20,
        "the home page's pictures to decode",
    )
    assert [h.rstrip("¶") for h in home["headings"][:3]] == ["What you will build", "Start here", "The modules"]
    shown = [src.rsplit("/", 1)[-1] for src, _ in home["images"]]
    for path in gallery.files(ROOT):
        assert path.name in shown, f"the home page does not show {path.name}: {shown}"
    assert {"lesson + lab", "GPUs", "you learn"} <= set(home["columns"]), home["columns"]
    assert "make lab" in home["code"] and "make test" in home["code"]


def test_the_search_finds_a_lesson_offline(site, browser):
    assert _load(browser, "search.html?q=join") == []
    deadline = time.monotonic() + 30
    titles = []
    while time.monotonic() < deadline and not titles:
        titles = browser.execute_script(
            "return [...document.querySelectorAll('#search-results li a')].map(a => a.textContent)"
        )
        time.sleep(0.3)
    assert any("Joins and prompt" in t for t in titles), titles


def test_chromium_reports_a_missing_file(site, browser, tmp_path):
    """The console check is not vacuous: a page whose image is missing is reported."""
    page = site / "zz-broken.html"
    page.write_text('<html><head><title>x</title></head><body><img src="_images/none.png"></body></html>')
    try:
        problems = "\n".join(_load(browser, "zz-broken.html"))
    finally:
        page.unlink()
    assert "404" in problems and "_images/none.png did not load" in problems, problems


# --- a small course of its own -----------------------------------------------------------------------------

FIGURE = '<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><rect width="60" height="20"/></svg>'


def _notebook(*cells) -> str:
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "cells": list(cells),
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
        }
    )


def _md(text: str, n: int) -> dict:
    return {"cell_type": "markdown", "id": f"m{n}", "metadata": {}, "source": text}


def _small_course(root: Path) -> None:
    for folder in ("notebooks/figures", "labs", "solutions", "docs", "data", "raycourse"):
        (root / folder).mkdir(parents=True)
    (root / "notebooks" / "figures" / "blocks.svg").write_text(FIGURE)
    (root / "raycourse" / "helper.py").write_text("")
    (root / "README.md").write_text(
        "# A course\n\n## Start here\n\n[lesson](notebooks/01_a.ipynb), "
        "[the helper](raycourse/helper.py), [guide](docs/instructor.md#night)\n"
    )
    (root / "docs" / "instructor.md").write_text("# Guide\n\n## Night\n\n[home](../README.md#start-here)\n")
    for page in ("CONTRIBUTING.md", "CHANGELOG.md", "data/README.md"):
        (root / page).write_text(f"# {page}\n")
    output = {
        "cell_type": "code",
        "id": "c1",
        "metadata": {},
        "execution_count": None,
        "source": "print(6 * 7)",
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "forty-two: 42\n"}],
    }
    (root / "notebooks" / "01_a.ipynb").write_text(
        _notebook(
            _md('# 01 · A\n\n![blocks](figures/blocks.svg)\n\n<img src="figures/blocks.svg" alt="raw">', 1), output
        )
    )
    lab = _notebook(
        _md("# Lab 01 · A\n\n![blocks](../notebooks/figures/blocks.svg) [lesson](../notebooks/01_a.ipynb)", 1)
    )
    (root / "labs" / "01_a_lab.ipynb").write_text(lab)
    (root / "solutions" / "01_a_lab.ipynb").write_text(lab)


def _build(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SITE_PYTHON), str(ROOT / "tools" / "build_site.py"), "--root", str(root), "--out", str(root / "_site")],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_figures_beside_the_notebooks_show_and_a_broken_link_fails_the_build(site, browser, tmp_path):
    _small_course(tmp_path)
    built = _build(tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    out = tmp_path / "_site"
    _parse.cache_clear()
    assert broken_links(out) == []
    assert _parse(out / "notebooks" / "01_a.html").imgs == 2 and _parse(out / "labs" / "01_a_lab.html").imgs == 1
    assert "forty-two: 42" in "".join(_parse(out / "notebooks" / "01_a.html").text)
    assert "Lab 01 · A (solved)" in "".join(_parse(out / "solutions" / "01_a_lab.html").text)
    home = _parse(out / "index.html")
    assert ("a", "docs/instructor.html#night") in home.links
    assert not any("helper.py" in value for _, value in home.links), "a file that is not a page is unlinked here"
    guide = _parse(out / "docs" / "instructor.html")
    assert ("a", "../index.html#start-here") in guide.links
    # in the browser too, from the small course's own server
    browser.get(f"file://{out / 'notebooks' / '01_a.html'}")
    sizes = browser.execute_script("return [...document.images].map(i => i.naturalWidth)")
    assert sizes == [60, 60], sizes

    (tmp_path / "docs" / "instructor.md").write_text(
        "# Guide\n\n[gone](../notebooks/02_gone.ipynb)\n[no heading](../README.md#no-such-heading)\n"
    )
    broken = _build(tmp_path)
    assert broken.returncode != 0
    said = broken.stdout + broken.stderr
    assert "02_gone.ipynb" in said and "no-such-heading" in said and "warnings are errors" in said, said
