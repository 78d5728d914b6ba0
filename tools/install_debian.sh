#!/usr/bin/env bash
# Debian packages the tests use, pinned, installed with apt-get and logged: `install_debian.sh NAME WHAT PIN...`, where
# NAME prefixes the log lines, WHAT says what goes without them, and each PIN is package=version.
# tools/install_browser.sh (chromium for the browser test) and tools/install_prometheus.sh call it; .ci/run calls those.
# Where it cannot install them (not root and no passwordless sudo, no apt-get, no package mirror) it says so and exits
# 0: the tests that need them then skip and say what to install.
#
# Debian replaces some packages (chromium) with every security release and its mirrors keep only the newest, so where
# a pinned version is gone this installs the mirror's current one instead and says so. Either way it logs the
# versions installed.
set -uo pipefail

NAME=$1 WHAT=$2
shift 2
PINS=("$@")

log() { echo "$NAME: $*"; }
versions() {
    for pin in "${PINS[@]}"; do
        log "Debian package ${pin%%=*} $(dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null) (pinned ${pin#*=})"
    done
}
skip() {
    log "$1: not installing ${missing[*]%%=*}; $WHAT (as root: apt-get install ${missing[*]%%=*})" >&2
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
