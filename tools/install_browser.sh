#!/usr/bin/env bash
# The browser of tests/notebooks/test_browser.py: Debian's chromium and its chromedriver, and an emoji font (the lab
# checks' verdicts start with one), all from Debian's packages: nothing downloads a browser build of its own.
# .ci/run calls this before `make test`; run it yourself for the browser test on a Debian machine. Pinned to the
# versions the course was tested with (Debian 12); tools/install_debian.sh installs and logs them, or says why not.
set -uo pipefail
cd "$(dirname "$0")"
bash install_debian.sh install_browser \
    "tests/notebooks/test_browser.py will skip without chromium and chromedriver" \
    chromium=156.0.8078.79-1~deb12u1 chromium-driver=156.0.8078.79-1~deb12u1 fonts-noto-color-emoji=2.042-0+deb12u1
echo "install_browser: $(chromium --version 2>/dev/null | head -n1); $(chromedriver --version 2>/dev/null | head -n1)"
