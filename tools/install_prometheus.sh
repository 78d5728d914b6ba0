#!/usr/bin/env bash
# Debian's prometheus, which make lab and raycourse.init() start beside Ray so that the dashboard's metrics (its Ray
# Data view) are not 0 (raycourse/session/prometheus.py). Nothing starts it as a service: the course runs it per Ray.
# .ci/run calls this before `make test`; pinned to the version the course was tested with (Debian 12).
set -uo pipefail
cd "$(dirname "$0")"
bash install_debian.sh install_prometheus \
    "tests/platform/test_prometheus.py will skip its runs of a Prometheus, and the dashboard's metrics read 0" \
    prometheus=2.42.0+ds-5+deb12u1
