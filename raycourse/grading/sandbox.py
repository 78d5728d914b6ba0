"""A sandbox for a graded notebook's kernel (Linux): its own process tree, files read-only, no network.

``python -m raycourse grade`` starts each graded kernel through :func:`command`: util-linux's ``unshare`` puts
it in new Linux namespaces, as an ordinary user may (user namespaces), and this module, run inside them
(``python -m raycourse.grading.sandbox``), finishes the set-up and then becomes the kernel:

* a PID namespace whose first process is the kernel: when the kernel ends, the Linux kernel kills every
  process left in it, ``setsid`` and double-forked ones included (``--kill-child`` ends the kernel when
  the grader's handle on it, the ``unshare`` process, is killed);
* a mount namespace in which every file system is read-only except the folders given with ``--rw`` (the
  graded copy's scratch folder) and ``/dev`` (Ray's shared memory is in ``/dev/shm``);
* with ``--no-network``, a network namespace with only its own loopback (brought up here): the kernel
  and its Ray talk over it, and nothing outside can be reached;
* with ``--ray``, a Ray started inside before the kernel, which the kernel joins, stopped after it.

Where ``unshare`` is missing or refused (macOS, a container without user namespaces), :func:`unavailable`
says why and the grader runs kernels without a sandbox, with a warning.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

UNSHARE = ("--user", "--map-root-user", "--pid", "--mount", "--fork", "--kill-child", "--mount-proc")
# Mounts left as they are: pseudo file systems, and /dev (its /dev/shm is Ray's object store).
_KEPT = ("/proc", "/sys", "/dev")


@functools.lru_cache(maxsize=None)
def unavailable() -> str:
    """Why kernels cannot run in a sandbox here ("" when they can): probed once, with the grader's own options."""
    if not sys.platform.startswith("linux"):
        return f"no Linux namespaces on {sys.platform}"
    unshare = shutil.which("unshare")
    if unshare is None:
        return "util-linux's `unshare` is not installed"
    probe = [
        unshare,
        *UNSHARE,
        "--net",
        sys.executable,
        "-m",
        "raycourse.grading.sandbox",
        "--no-network",
        "--",
        "true",
    ]
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare` failed: {exc}"
    if run.returncode != 0:
        return f"`unshare` failed: {(run.stderr.strip().splitlines() or ['exit ' + str(run.returncode)])[-1]}"
    return ""


def command(
    argv: list[str], writable: list[str], network: bool = False, ray: bool = False, watch: str | None = None
) -> list[str]:
    """``argv`` run in a sandbox in which only ``writable`` folders can be written (``network``: keep the network;
    ``ray``: with a Ray of its own inside, in ``RAY_ADDRESS``; ``watch``: a FIFO the caller holds open for writing,
    and whose end, when the caller dies, ends the sandbox, with ``ray``).

    A kernel in it cannot join a Ray outside: Ray refuses a driver from another PID namespace ("Failed to connect
    to Ray cluster").
    """
    options = [o for w in writable for o in ("--rw", str(w))] + (["--ray"] if ray else [])
    options += ["--watch", str(watch)] if watch else []
    return [
        shutil.which("unshare") or "unshare",
        *UNSHARE,
        *([] if network else ["--net"]),
        sys.executable,
        "-m",
        "raycourse.grading.sandbox",
        *options,
        *([] if network else ["--no-network"]),
        "--",
        *argv,
    ]


def _loopback_up() -> None:
    """Bring up ``lo`` in a new network namespace (it starts down); Ray and the kernel listen on 127.0.0.1."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack("16sH", fcntl.ioctl(s, siocgifflags, struct.pack("16sH", b"lo", 0)))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


def _mounts() -> list[tuple[str, str]]:
    """(mount point, its per-mount options) of every mount, parents first (/proc/self/mountinfo)."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # "\040" for a space
            found.append((point, fields[5]))
    return found


def _read_only(writable: list[str]) -> list[str]:
    """Remount every file system read-only except ``writable`` (bound onto themselves first); return failures."""
    for folder in writable:
        subprocess.run(["mount", "--bind", folder, folder], check=True)
    failed = []
    for point, options in _mounts():
        if point in writable or any(point == k or point.startswith(k + "/") for k in _KEPT):
            continue
        # A user namespace may not clear the flags the mount already has (nosuid, nodev, noexec): keep them.
        keep = [o for o in options.split(",") if o in ("nosuid", "nodev", "noexec")]
        run = subprocess.run(
            ["mount", "-o", ",".join(["remount", "bind", "ro", *keep]), point, point], capture_output=True, text=True
        )
        if run.returncode != 0 and not options.startswith("ro"):
            failed.append(point)
    return failed


def main(args: list[str]) -> None:
    split = args.index("--")
    options, argv = args[:split], args[split + 1 :]
    writable = [os.path.realpath(options[i + 1]) for i, o in enumerate(options) if o == "--rw"]
    if "--no-network" in options:
        _loopback_up()
    failed = _read_only(writable)
    if failed:
        print(f"raycourse.grading.sandbox: could not make read-only: {', '.join(failed)}", file=sys.stderr, flush=True)
    if "--ray" not in options:
        os.execvp(argv[0], argv)
    sys.exit(_with_ray(argv, options[options.index("--watch") + 1] if "--watch" in options else None))


def _with_ray(argv: list[str], watch: str | None) -> int:
    """Start a Ray inside (``ray start``, as ``make lab`` does: it waits for a busy machine longer than
    ``ray.init()``'s 30 s), run ``argv`` joined to it, stop it when ``argv`` ends; ``argv``'s exit status."""
    import signal
    import threading

    from .. import cluster

    if watch:  # the caller gone (even killed), everything here goes: this process is the namespace's first

        def wait_for_caller():
            with open(watch, "rb") as fifo:
                fifo.read()
            os._exit(1)

        threading.Thread(target=wait_for_caller, daemon=True).start()
    # The grader's time limit covers this start; on a machine loaded well past its cores it took over 2 minutes.
    ray = cluster.start(dashboard=False, temp_dir=os.path.join(os.environ.get("TMPDIR") or "/tmp", "ray"), timeout=600)
    try:
        # No JPY_PARENT_PID: ipykernel would take this process (PID 1 here) for init and end itself.
        env = {k: v for k, v in os.environ.items() if k != "JPY_PARENT_PID"}
        # Its stdout too goes where its stderr goes (the grader's kernel log), not into the grader's own output.
        child = subprocess.Popen(argv, env=dict(env, **ray.client_env()), stdout=sys.stderr)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # an interrupt is the kernel's
            signal.signal(signum, lambda s, frame: child.send_signal(s))
        return child.wait()
    finally:
        ray.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
