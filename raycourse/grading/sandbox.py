"""A sandbox for a graded notebook's kernel (Linux): its own process tree, files read-only, no network.

``python -m raycourse grade`` starts each graded kernel through :func:`command`: util-linux's ``unshare`` puts
it in new Linux namespaces, as an ordinary user may (user namespaces), and this module, run inside them
(``python -m raycourse.grading.sandbox``), finishes the set-up, gives up every privilege, and then becomes the kernel:

* a PID namespace whose first process is the kernel: when the kernel ends, the Linux kernel kills every
  process left in it, ``setsid`` and double-forked ones included (``--kill-child`` ends the kernel when
  the grader's handle on it, the ``unshare`` process, is killed); an IPC namespace of its own (System V shared
  memory and message queues end with it);
* a mount namespace in which every file system is read-only except the folders given with ``--rw`` (where the
  kernel's sockets to the grader are) and its private memory (below);
* private memory: one ``tmpfs`` of its own (``--size`` bytes at most), mounted as its ``/tmp``, its ``/dev/shm``
  (Ray's object store) and over the folders given with ``--private`` (its ``HOME``, temporary and working
  folders): what it writes there is memory the grader counts (:func:`private_bytes`), gone with the namespace;
* no host path where sockets live: ``/run`` (``/var/run``), ``/var/tmp`` and the user's runtime folder show an
  empty read-only folder, the host's ``/tmp`` and ``/dev/shm`` are hidden by its own, and each Unix socket the
  host listens on elsewhere (``--hide``, read from ``/proc/net/unix`` by :func:`command`) is covered;
* then util-linux's ``setpriv`` drops every capability (none left to keep, none to gain back: an empty bounding
  set, root's special treatment locked off) and sets ``no_new_privs``, so that nothing in it can undo a mount
  (``mount -o remount,rw`` is refused) or gain privileges through a set-user-ID program;
* with ``--no-network``, a network namespace with only its own loopback (brought up here): the kernel
  and its Ray talk over it, and nothing outside can be reached (abstract Unix sockets included);
* with ``--ray``, a Ray started inside before the kernel, which the kernel joins, stopped after it.

Where ``unshare`` or ``setpriv`` is missing or refused (macOS, a container without user namespaces),
:func:`unavailable` says why and the grader runs kernels without a sandbox, with a warning.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

UNSHARE = ("--user", "--map-root-user", "--pid", "--ipc", "--mount", "--fork", "--kill-child", "--mount-proc")
# What setpriv takes away before the kernel starts: every capability (inheritable, ambient, the bounding set, so
# that no program run later gets one back), root's special treatment (securebits, locked), and new privileges.
SETPRIV = (
    "--no-new-privs",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked",
)
# Mounts left as they are: the kernel's own processes (``--mount-proc``).
_KEPT = ("/proc",)
# Host folders where services put their Unix sockets: an empty, read-only folder is shown in their place.
_HIDDEN = ("/run", "/var/run", "/var/tmp", "/var/lib/systemd", "/run/user")
_NAME = "raycourse-sandbox"  # the private tmpfs's source name in /proc/<pid>/mountinfo
_INODES = 100_000  # files the private tmpfs may hold (each costs kernel memory that its size does not count)


@functools.lru_cache(maxsize=None)
def unavailable() -> str:
    """Why kernels cannot run in a sandbox here ("" when they can): probed once, with the grader's own options."""
    if not sys.platform.startswith("linux"):
        return f"no Linux namespaces on {sys.platform}"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"util-linux's `{tool}` is not installed"
    probe = command(["true"], [], size=64 << 20)
    try:
        run = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`unshare` failed: {exc}"
    if run.returncode != 0:
        return f"`unshare` failed: {(run.stderr.strip().splitlines() or ['exit ' + str(run.returncode)])[-1]}"
    return ""


def command(
    argv: list[str],
    writable: list[str],
    network: bool = False,
    ray: bool = False,
    watch: str | None = None,
    *,
    metrics: bool = False,
    private: list[str] = (),
    readable: list[str] = (),
    size: int = 1 << 30,
) -> list[str]:
    """``argv`` run in a sandbox in which only ``writable`` folders can be written (``network``: keep the network;
    ``ray``: with a Ray of its own inside, in ``RAY_ADDRESS``; ``watch``: a FIFO the caller holds open for writing,
    and whose end, when the caller dies, ends the sandbox, with ``ray``; ``metrics``: that Ray with its dashboard and
    a Prometheus, for a module whose notebooks read its metrics), with ``size`` bytes of private memory
    for its ``/tmp``, ``/dev/shm`` and the ``private`` folders (each shown empty and writable in it). ``readable``:
    folders it reads that may lie where the sandbox hides the host's (``/tmp``): shown, read-only, as they are (this
    Python's and the course's own are added).

    A kernel in it cannot join a Ray outside: Ray refuses a driver from another PID namespace ("Failed to connect
    to Ray cluster").
    """
    options = [o for w in writable for o in ("--rw", str(w))] + [o for p in private for o in ("--private", str(p))]
    here = [
        sys.prefix,
        sys.base_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        str(Path(__file__).parents[1]),
        # the course's data and notebooks beside the package (a checkout under /tmp, as a CI's clone, is hidden)
        *[str(Path(__file__).parents[2] / name) for name in _BESIDE if (Path(__file__).parents[2] / name).is_dir()],
    ]
    options += [o for r in [*here, *readable] for o in ("--ro", os.path.realpath(r))]
    options += [o for s in host_sockets() for o in ("--hide", s)]
    options += ["--size", str(int(size))] + (["--ray"] if ray else []) + (["--metrics"] if metrics else [])
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


def host_sockets() -> list[str]:
    """The paths of the Unix sockets this machine listens on (``/proc/net/unix``), outside the folders the sandbox
    hides anyway; a path with a space or newline is left out (the file cannot tell where it ends)."""
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return []
    found = set()
    for row in rows:
        fields = row.split()
        if len(fields) == 8 and fields[7].startswith("/"):  # abstract ones start with "@": the net namespace's
            path = fields[7]
            if not any(path == h or path.startswith(h.rstrip("/") + "/") for h in (*_HIDDEN, "/tmp", "/dev/shm")):
                found.add(path)
    return sorted(found)


def private_bytes(launcher: int) -> int:
    """The bytes held in the private memory of the sandbox that ``launcher`` (the ``unshare`` process) started:
    its files in ``/tmp``, ``/dev/shm`` and the private folders; 0 before it is mounted or once it is gone."""
    import psutil

    try:
        first = psutil.Process(launcher).children()
    except psutil.Error:
        return 0
    for proc in first:
        try:
            with open(f"/proc/{proc.pid}/mountinfo", encoding="utf-8") as info:
                if not any(line.split(" - ")[-1].split()[1:2] == [_NAME] for line in info):
                    continue
            stat = os.statvfs(f"/proc/{proc.pid}/root/dev/shm")
        except OSError:
            continue
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize
    return 0


# What a copy of the course package brings along from beside it (as links): the course's data and notebooks.
_BESIDE = ("data", "notebooks", "labs", "solutions")


def package_copy(folder: Path) -> Path:
    """A read-only copy of the course package as it is now, in ``folder`` (compiled, so that importing it writes
    nothing), with links to the course's data and notebooks beside it; return ``folder``, for ``PYTHONPATH``.

    Graded kernels import the course from it: a notebook cannot change the code that later notebooks, or the
    grader's own commands, run (in the sandbox it is read-only like every file; without one, only its modes say so).
    """
    import compileall

    import raycourse

    source = Path(raycourse.__file__).resolve().parent
    shutil.copytree(source, folder / "raycourse", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in _BESIDE:
        if (source.parent / name).exists():
            (folder / name).symlink_to(source.parent / name)
    compileall.compile_dir(folder / "raycourse", quiet=1)
    for path, dirs, files in os.walk(folder / "raycourse"):
        for name in files:
            os.chmod(os.path.join(path, name), 0o444)
        os.chmod(path, 0o555)
    return folder


def remove(folder: Path) -> None:
    """Remove ``folder`` and everything in it, read-only folders (:func:`package_copy`) included."""
    for path, dirs, _ in os.walk(folder):
        for name in dirs:
            with contextlib.suppress(OSError):
                if not os.path.islink(os.path.join(path, name)):
                    os.chmod(os.path.join(path, name), 0o700)
    shutil.rmtree(folder, ignore_errors=True)


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


def _mount(*args: str, fds: tuple[int, ...] = ()) -> None:
    subprocess.run(["mount", *args], check=True, pass_fds=fds)


def _private(size: int, writable: list[str], readable: list[str], private: list[str], hidden: list[str]) -> list[str]:
    """Mount the private tmpfs (``/tmp``, ``/dev/shm``, each of ``private``), hide the host's socket folders and
    ``hidden`` sockets, bind each ``writable`` folder where it was, and each ``readable`` one that the tmpfs or an
    empty folder hides; return the mount points to keep writable."""
    covers = ["/tmp", "/dev/shm", *_HIDDEN, os.environ.get("XDG_RUNTIME_DIR") or "/run"]
    readable = [r for r in readable if os.path.isdir(r) and any(r == c or r.startswith(c + "/") for c in covers)]
    # Held open, parents first: the tmpfs on /tmp hides those under it, and they are bound back from these.
    held = {f: os.open(f, os.O_PATH | os.O_DIRECTORY) for f in sorted({*writable, *readable}, key=len)}
    # The tmpfs's root at /dev/shm while it is set up (its own `shm` folder covers it at the end).
    _mount("-t", "tmpfs", "-o", f"size={size},nr_inodes={_INODES},mode=755,nosuid,nodev", _NAME, "/dev/shm")
    folders = [("tmp", 0o1777), ("shm", 0o1777), ("empty", 0o555)] + [
        (f"private-{i}", 0o700) for i in range(len(private))
    ]
    for name, mode in folders:
        os.mkdir(f"/dev/shm/{name}")
        os.chmod(f"/dev/shm/{name}", mode)  # past the umask
    covered = set()
    for folder in [*_HIDDEN, os.environ.get("XDG_RUNTIME_DIR", "")]:
        real = os.path.realpath(folder) if folder else ""
        if real and os.path.isdir(real) and real not in covered and real not in ("/", "/tmp", "/dev", "/dev/shm"):
            _mount("--bind", "/dev/shm/empty", real)
            covered.add(real)
    _mount("--bind", "/dev/shm/tmp", "/tmp")
    for sock in hidden:
        if os.path.exists(sock) and not os.path.isdir(sock):
            _mount("--bind", "/dev/null", sock)
    for folder, fd in held.items():
        os.makedirs(folder, exist_ok=True)  # under /tmp or a hidden folder: made again in the tmpfs
        # as given: canonicalised, the path would name the folder just made
        _mount("--no-canonicalize", "--bind", f"/proc/self/fd/{fd}", folder, fds=(fd,))
        os.close(fd)
    for index, folder in enumerate(private):  # after the writable folders: a private one may be inside one
        os.makedirs(folder, exist_ok=True)
        _mount("--bind", f"/dev/shm/private-{index}", folder)
    _mount("--bind", "/dev/shm/shm", "/dev/shm")
    return [*writable, *private, "/tmp", "/dev/shm"]


def _read_only(keep: list[str]) -> list[str]:
    """Remount every file system read-only except the mounts at ``keep``; return those that could not be."""
    failed = []
    for point, options in _mounts():
        if point in keep or any(point == k or point.startswith(k + "/") for k in _KEPT):
            continue
        # A user namespace may not clear the flags the mount already has (nosuid, nodev, noexec): keep them.
        flags = [o for o in options.split(",") if o in ("nosuid", "nodev", "noexec")]
        run = subprocess.run(
            ["mount", "-o", ",".join(["remount", "bind", "ro", *flags]), point, point], capture_output=True, text=True
        )
        if run.returncode != 0 and not options.startswith("ro"):
            failed.append(point)
    return failed


def _values(options: list[str], name: str) -> list[str]:
    return [options[i + 1] for i, o in enumerate(options) if o == name]


def main(args: list[str]) -> None:
    split = args.index("--")
    options, argv = args[:split], args[split + 1 :]
    if "--unprivileged" not in options:  # inside the new namespaces, with every capability in them: set up
        here = os.getcwd()
        writable = [os.path.realpath(w) for w in _values(options, "--rw")]
        private = [os.path.realpath(p) for p in _values(options, "--private")]
        if "--no-network" in options:
            _loopback_up()
        size = int((_values(options, "--size") or [1 << 30])[-1])
        readable = [os.path.realpath(r) for r in _values(options, "--ro")]
        keep = _private(size, writable, readable, private, _values(options, "--hide"))
        failed = _read_only(keep)
        if failed:
            print(
                f"raycourse.grading.sandbox: could not make read-only: {', '.join(failed)}", file=sys.stderr, flush=True
            )
        os.chdir(here)  # the same path, now through the mounts above (a private working folder)
        # Every privilege given up, then this module again for the rest (it stays the namespace's first process).
        setpriv = shutil.which("setpriv") or "setpriv"
        again = [sys.executable, "-m", "raycourse.grading.sandbox", "--unprivileged", *options, "--", *argv]
        os.execv(setpriv, [setpriv, *SETPRIV, "--", *again])
    if "--ray" not in options:
        os.execvp(argv[0], argv)
    watch = options[options.index("--watch") + 1] if "--watch" in options else None
    sys.exit(_with_ray(argv, watch, metrics="--metrics" in options))


def _with_ray(argv: list[str], watch: str | None, metrics: bool = False) -> int:
    """Start a Ray inside (``ray start``, as ``make lab`` does: it waits for a busy machine longer than
    ``ray.init()``'s 30 s), run ``argv`` joined to it, stop it when ``argv`` ends; ``argv``'s exit status."""
    import signal
    import threading

    from ..session import cluster

    if watch:  # the caller gone (even killed), everything here goes: this process is the namespace's first

        def wait_for_caller():
            with open(watch, "rb") as fifo:
                fifo.read()
            os._exit(1)

        threading.Thread(target=wait_for_caller, daemon=True).start()
    # The grader's time limit covers this start; on a machine loaded well past its cores it took over 2 minutes.
    temp_dir = os.path.join(os.environ.get("TMPDIR") or "/tmp", "ray")
    try:
        ray = cluster.start(dashboard=metrics, metrics=metrics, temp_dir=temp_dir, timeout=600)
    except Exception:  # its log is in the sandbox's memory, gone with it: its end goes to the kernel's log
        for log in sorted(Path(temp_dir).glob("raycourse-ray-*.log")):
            print(f"{log.name}:", *log.read_text(errors="replace").splitlines()[-15:], sep="\n", file=sys.stderr)
        raise
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
