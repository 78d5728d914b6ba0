"""A one-machine Ray on loopback: the setting that keeps it there and the test for a loopback address.

Below both :mod:`raycourse.session.cluster` (which starts the course's Ray) and :mod:`raycourse.session.runtime` (whose
``init()`` starts or joins one): each uses it, neither through the other.
"""

from __future__ import annotations

import os
import sys

# A one-machine Ray listens on loopback only. Ray binds its GCS, raylet, agents and client server to the node's IP,
# but replaces 127.0.0.1 by the machine's outward IP wherever it meets it: in `ray start --node-ip-address` (then
# the GCS and raylet listened on every interface, `*`, the agents on 0.0.0.0 and that IP) and in every address a
# client is given (ray.init(address=...), the state API: services.canonicalize_bootstrap_address), where a
# loopback-only Ray does not listen. Ray keeps loopback where it runs without clusters (ray_constants.
# ENABLE_RAY_CLUSTER, off by default on macOS and Windows only, to spare a firewall prompt): LOOPBACK_ENV turns
# that on for the head node, and keep_loopback() for a process that joins it; LocalRay.client_env() carries it
# to the notebooks' kernels. Measured with `ss -ltnp` (tests/platform/test_cluster.py): every port of the lab's Ray on
# 127.0.0.1.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
LOOPBACK = "127.0.0.1"


def is_loopback(address: str | None) -> bool:
    """Whether a Ray address (host:port) is on this machine's loopback interface."""
    host = (address or "").rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def keep_loopback() -> None:
    """Make this process reach a Ray on 127.0.0.1 at 127.0.0.1 (and a Ray it starts listen there): Ray's setting
    for the processes it starts, and the constant that Ray read from it when this process imported it
    (private: where Ray moves it, a process started with LOOPBACK_ENV set still does)."""
    os.environ.update(LOOPBACK_ENV)
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False
