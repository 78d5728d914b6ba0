"""Sphinx configuration of the course website (`make site`; tools/build_site.py stages the sources it reads).

Sphinx with MyST-NB (the engine of Jupyter Book 1) and the Sphinx Book Theme: the notebooks are rendered with
the outputs they are stored with (`nb_execution_mode = "off"`: nothing runs at build time), and nothing on a page
loads from the internet (no CDN scripts), so the site builds and reads offline.
"""

import os

project = "Ray Data AI Pipelines"
author = "the raycourse authors"
copyright = "the raycourse authors; code Apache-2.0, sample data CC0-1.0"

extensions = ["myst_nb"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["**/outputs/**", "**/.ipynb_checkpoints/**", "_build"]

# Stored outputs only: the course's notebooks need Ray, the models and minutes each; the website shows what they
# were recorded with (`make record`).
nb_execution_mode = "off"
nb_merge_streams = True
# No ipywidgets JavaScript from a CDN (the stored notebooks keep no widget state to render).
nb_ipywidgets_js = {}
# Markdown: GitHub-style anchors for headings, so README's and the guides' `file.md#heading` links work here too.
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence", "deflist", "html_image"]
# A notebook's first heading is its title; lessons skip from `#` to `###` in places, which is fine to read.
# A page outside the navigation (a README beside the figures, say) is built and linked to, not an error.
suppress_warnings = ["myst.header", "toc.not_included"]

html_theme = "sphinx_book_theme"
html_title = project
# A page icon of our own (else every browser asks for /favicon.ico, which is not there), and the theme's light/dark
# mode set for a first visit (unset, the theme logs "Got invalid theme mode" to the console on every first visit).
html_favicon = "favicon.svg"
html_context = {"default_mode": "auto"}
html_copy_source = True  # the download button offers each page's .ipynb or .md
html_show_sourcelink = False
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    "use_download_button": True,
}
repository = os.environ.get("SITE_REPOSITORY_URL", "")
if repository:
    html_theme_options.update({"repository_url": repository, "use_repository_button": True})
