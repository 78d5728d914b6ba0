"""Build the course website into _site/ (`make site`), offline, from the notebooks as they are stored.

Run with the website's own venv (`.venv-site`, pinned in website/requirements.txt; `make site` makes it):

    .venv-site/bin/python tools/build_site.py [--out _site]

1. Stages the site's sources in build/site-src/: README.md as the home page (with the navigation: lessons, labs,
   solutions, the guides by reader), notebooks/, labs/ and solutions/ (each with every file beside the notebooks,
   such as notebooks/figures/), docs/*.md, CONTRIBUTING.md, CHANGELOG.md and data/README.md, at the same relative paths
   as in the repository, so that every relative link and image between them works as it does on GitHub.
   A solved lab's title gets "(solved)", so it is not taken for the lab. A link to a file that is not a page
   (raycourse/checks/lab03.py, .github/workflows) points at the repository (SITE_REPOSITORY_URL at SITE_REF,
   set by the Pages workflow) or, where none is known, becomes its text.
2. Runs Sphinx with MyST-NB (website/conf.py): no notebook is executed; warnings are errors (a broken link
   between pages, a missing image, a missing heading anchor fail the build).
3. Copies the files beside the notebooks (figures) into the site as well, so that a raw HTML ``<img src=...>``
   in a markdown cell finds its file too.

tests/docs/test_site.py builds it and checks every page in Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the course to build (--root: another checkout, as the tests do)
CONF = ROOT / "website"  # website/conf.py of this checkout
NOTEBOOK_DIRS = ("notebooks", "labs", "solutions")
PAGES = ("CONTRIBUTING.md", "CHANGELOG.md", "data/README.md")  # besides README.md and docs/*.md
# docs/ in the site's navigation, by reader: learner, instructor, GPUs and clusters, author (CONTRIBUTING.md follows)
GUIDE_ORDER = (
    "learner",
    "profiles",
    "instructor",
    "workshop",
    "grading",
    "security",
    "metrics",
    "gpu",
    "measured",
    "verify-gpu",
    "gpu-status",
    "authoring",
    "checks",
    "testing",
    "bench",
)
SKIP = {"outputs", ".ipynb_checkpoints", "__pycache__", "my-work"}
# [text](target) and ![alt](target), and src="..."/href="..." in raw HTML
MD_LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\])\(([^()\s]+)(\s+\"[^\"]*\")?\)")
HTML_LINK = re.compile(r"""((?:src|href)=)(["'])([^"']+)\2""")


def repository_url() -> str:
    """Where a file that is not a page is linked to: SITE_REPOSITORY_URL at SITE_REF (default main), or nowhere."""
    repo = os.environ.get("SITE_REPOSITORY_URL", "").rstrip("/")
    return f"{repo}/{{kind}}/{os.environ.get('SITE_REF') or 'main'}" if repo else ""


def _is_external(target: str) -> bool:
    return "://" in target or target.startswith(("#", "mailto:", "data:"))


def rewrite_links(text: str, source: Path, staged: set[Path]) -> str:
    """Links from ``source`` (a repository path) to repository files that are not in the site: to the repository."""
    repo = repository_url()

    def outside(target: str) -> Path | None:
        if _is_external(target):
            return None
        path = (ROOT / source.parent / target.split("#")[0]).resolve()
        if path in staged or not str(path).startswith(str(ROOT)) or not path.exists():
            return None  # a page or a file of the site, or a missing file (the build then fails on it)
        return path

    def home(target: str) -> str | None:  # README.md is the site's index.md
        if _is_external(target) or (ROOT / source.parent / target.split("#")[0]).resolve() != ROOT / "README.md":
            return None
        return re.sub(r"README\.md(?=#|$)", "index.md", target)

    def markdown(match: re.Match) -> str:
        label, target, title = match.group(1), match.group(2), match.group(3) or ""
        if home(target):
            return f"{label}({home(target)}{title})"
        path = outside(target)
        if path is None:
            return match.group(0)
        rel = path.relative_to(ROOT).as_posix()
        if repo:
            return f"{label}({repo.format(kind='tree' if path.is_dir() else 'blob')}/{rel}{title})"
        return label[2:-1] if label.startswith("!") else label[1:-1]

    def html(match: re.Match) -> str:
        path = outside(match.group(3))
        if path is None or not repo:
            return match.group(0)
        url = f"{repo.format(kind='tree' if path.is_dir() else 'blob')}/{path.relative_to(ROOT).as_posix()}"
        return f"{match.group(1)}{match.group(2)}{url}{match.group(2)}"

    return HTML_LINK.sub(html, MD_LINK.sub(markdown, text))


def _title(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    first = "".join(cells[0]["source"]).strip().splitlines()[0] if cells else notebook.stem
    return first.lstrip("#").strip()


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIP & set(path.relative_to(ROOT).parts):
            yield path


def stage() -> dict[str, list[str]]:
    """Copy the site's sources into build/site-src; returns the notebooks per folder (repository-relative, no
    suffix)."""
    STAGE = ROOT / "build" / "site-src"
    if STAGE.exists():
        shutil.rmtree(STAGE)
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *(ROOT / p for p in PAGES)]
    sources += [p for p in _files(ROOT / "docs") if p.suffix != ".md"]  # README's pictures (docs/figures/home/)
    for folder in NOTEBOOK_DIRS:
        sources += list(_files(ROOT / folder))
    staged = {p.resolve() for p in sources}
    notebooks: dict[str, list[str]] = {folder: [] for folder in NOTEBOOK_DIRS}
    for path in sources:
        rel = path.relative_to(ROOT)
        target = STAGE / ("index.md" if rel.as_posix() == "README.md" else rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            target.write_text(rewrite_links(path.read_text(), rel, staged))
        elif path.suffix == ".ipynb":
            nb = json.loads(path.read_text())
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = rewrite_links("".join(cell["source"]), rel, staged)
            if rel.parts[0] == "solutions" and nb["cells"] and nb["cells"][0]["cell_type"] == "markdown":
                first = nb["cells"][0]["source"]
                heading = first.splitlines()[0] if first else ""
                if heading.startswith("# "):
                    nb["cells"][0]["source"] = heading + " (solved)" + first[len(heading) :]
            target.write_text(json.dumps(nb, indent=1, ensure_ascii=False))
            if len(rel.parts) == 2:
                notebooks[rel.parts[0]].append(rel.with_suffix("").as_posix())
        else:
            shutil.copy2(path, target)
    index = ROOT / "build" / "site-src" / "index.md"
    index.write_text(index.read_text() + _navigation(notebooks))
    return notebooks


def _navigation(notebooks: dict[str, list[str]]) -> str:
    def toctree(caption: str, entries: list[str]) -> str:
        return "\n```{toctree}\n:hidden:\n:maxdepth: 1\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n"

    solved = [f"{_title(ROOT / (name + '.ipynb'))} (solved) <{name}>" for name in notebooks["solutions"]]
    # The guides by reader (learner, instructor, GPUs and clusters, author), each page under its own title; a page of
    # docs/ not named here comes after them, so that every page of docs/ is in the navigation.
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    ordered = [stem for stem in GUIDE_ORDER if stem in pages] + sorted(pages - set(GUIDE_ORDER))
    guides = [
        *(f"docs/{stem}" for stem in ordered),
        "Contributing <CONTRIBUTING>",
        "Sample data <data/README>",
        "Changelog <CHANGELOG>",
    ]
    return (
        "\n"
        + toctree("Lessons", notebooks["notebooks"])
        + toctree("Labs", notebooks["labs"])
        + toctree("Solved labs", solved)
        + toctree("Guides", guides)
    )


def build(out: Path, jobs: str) -> None:
    # Sphinx writes into build/ (MyST-NB puts its jupyter_execute/ beside the output folder), then the site moves
    html = ROOT / "build" / "site-html"
    for folder in (html, out):
        if folder.exists():
            shutil.rmtree(folder)
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-W",
        "--keep-going",
        "-j",
        jobs,
        "-E",
        "-c",
        str(CONF),
        "-d",
        str(ROOT / "build" / "site-doctrees"),
        str(ROOT / "build" / "site-src"),
        str(html),
    ]
    if subprocess.run(command).returncode:
        sys.exit(
            "build_site: Sphinx reported the problems above (warnings are errors: a broken link, image or "
            "anchor fails the build)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(html, out)
    for folder in NOTEBOOK_DIRS:  # figures beside the notebooks, for raw <img> tags
        for path in _files(ROOT / folder):
            if path.suffix != ".ipynb":
                target = out / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _images/ as they are


def main(argv: list[str] | None = None) -> int:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site", help="output folder (default: _site)")
    parser.add_argument("--jobs", default="1", help="Sphinx's parallel jobs (default 1: 2 cores shared with Ray)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course checkout to build (default: this one)")
    args = parser.parse_args(argv)
    ROOT = args.root.resolve()
    out = args.out.resolve()
    start = time.monotonic()
    notebooks = stage()
    build(out, args.jobs)
    pages = sum(1 for _ in out.rglob("*.html"))
    print(
        f"build_site: {sum(map(len, notebooks.values()))} notebooks, {pages} pages in {args.out} "
        f"({time.monotonic() - start:.0f} s); open {args.out / 'index.html'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
