"""A headless Chromium driven by Selenium, for the browser tests and the dashboard screenshots.

Debian's ``chromium`` and ``chromedriver`` (``tools/install_browser.sh``), never a browser that Selenium Manager
would download: the machines the course is tested on reach only a package index.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# As root, without a screen, on a machine whose only network is a package index: no sandbox, no GPU, and none
# of Chromium's background connections (each would be refused).
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)
INSTALL = "run `bash tools/install_browser.sh` (Debian, as root)"


def system_browser() -> tuple[str, str] | None:
    """``(chromium, chromedriver)`` paths of the system's browser, or None when either is missing."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chromium, chromedriver) if chromium and chromedriver else None


def _no_downloads(*args, **kwargs):
    raise RuntimeError("Selenium Manager would download a browser; give Selenium the system chromedriver")


def start_chromium(
    chromium: str, chromedriver: str, profile: Path, *, window: tuple[int, int], log: Path | None = None
):
    """A Selenium driver for a fresh headless Chromium with its own profile folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROMIUM_ARGS, f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.unhandled_prompt_behavior = "accept"  # "leave the page?" when the next notebook opens
    original, SeleniumManager.binary_paths = SeleniumManager.binary_paths, _no_downloads
    try:
        service = Service(executable_path=chromedriver, log_output=str(log) if log else None)
        return webdriver.Chrome(service=service, options=options)
    finally:
        SeleniumManager.binary_paths = original
