#!/usr/bin/env bash
# The browser of tests/notebooks/test_browser.py: Debian's chromium and its chromedriver, and an emoji font (the lab
# checks' verdicts start with one), all from Debian's packages: nothing downloads a browser build of its own.
# .ci/run calls this before `make test`; run it yourself for the browser test on a Debian machine. Where it
# cannot install them (not root and no passwordless sudo, no apt-get, no package mirror) it says so and exits 0:
# the browser test then skips and says what to install.
#
# Pinned to the versions the course was tested with (Debian 12). Debian replaces chromium with every security
# release and its mirrors keep only the newest, so where a pinned version is gone this installs the mirror's
# current one instead and says so. Either way it logs the versions that the browser test will run with.
set -uo pipefail

PINS=(chromium=156.0.8078.79-1~deb12u1 chromium-driver=156.0.8078.79-1~deb12u1 fonts-noto-color-emoji=2.042-0+deb12u1)

log() { echo "install_browser: $*"; }
versions() {
    log "$(chromium --version 2>/dev/null | head -n1); $(chromedriver --version 2>/dev/null | head -n1)"
    for pin in "${PINS[@]}"; do
        log "Debian package ${pin%%=*} $(dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null) (pinned ${pin#*=})"
    done
}
skip() {
    log "$1: not installing ${missing[*]%%=*}; tests/notebooks/test_browser.py will skip without chromium and" \
        "chromedriver (as root: apt-get install chromium chromium-driver fonts-noto-color-emoji)" >&2
    exit 0
}

missing=()
for pin in "${PINS[@]}"; do
    dpkg-query -W -f='${Status}' "${pin%%=*}" 2>/dev/null | grep -q "ok installed" || missing+=("$pin")
done
if [ ${#missing[@]} = 0 ]; then
    versions
    exit 0
fi
command -v apt-get >/dev/null || skip "no apt-get here"
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    skip "not root and no passwordless sudo"
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0)
LOG=$(mktemp)
log "installing ${missing[*]}"
"${APT[@]}" update >"$LOG" 2>&1 || { tail -n 5 "$LOG" >&2; skip "apt-get update failed"; }
if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
    log "a pinned version is not on this machine's Debian mirror; installing the mirror's current versions" >&2
    "${APT[@]}" install -y --no-install-recommends "${missing[@]%%=*}" >>"$LOG" 2>&1 \
        || { tail -n 5 "$LOG" >&2; skip "apt-get install failed"; }
fi
rm -f "$LOG"
versions
