"""Ray's token authentication, on for every Ray the course starts.

Ray 2.60 can require a token from everything that talks to a cluster: its own processes, drivers (notebook
kernels), the Ray Client, the dashboard and its job API. ``ray start`` and ``ray.init()`` read the mode from
``RAY_AUTH_MODE`` (``token`` or ``disabled``) and the token from, in this order, ``RAY_AUTH_TOKEN`` (the token
itself), ``RAY_AUTH_TOKEN_PATH`` (a file holding it) or ``~/.ray/auth_token`` (Ray's default file, which
``ray get-auth-token --generate`` writes). Without a token anyone who can reach a Ray port can run code as the
learner; the course turns it on wherever it starts Ray (``make lab``, a notebook's own Ray, a test run) and hands
the token to the processes that join: ``make lab`` passes the mode and the file's path to JupyterLab, so to every
kernel; Ray's workers inherit them from the node that starts them.

The token is the user's Ray token (Ray's default file), made on first use, readable by its owner only (Ray itself
writes it with the default umask). ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH``, where set, name another (an
instructor's cluster token); ``RAY_AUTH_MODE=disabled`` turns authentication off, as in Ray.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
AUTH_ENV = (MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV)


def default_token_path(env=None) -> Path:
    """Ray's own default token file, ``~/.ray/auth_token`` (``ray._private.authentication.authentication_token_setup``),
    in ``env``'s home folder (default: this process's)."""
    home = (os.environ if env is None else env).get("HOME")
    return (Path(home) if home else Path.home()) / ".ray" / "auth_token"


def disabled(env=None) -> bool:
    """Whether authentication was turned off on purpose (``RAY_AUTH_MODE=disabled``)."""
    env = os.environ if env is None else env
    return env.get(MODE_ENV, "").strip().lower() == "disabled"


def token_path(env=None) -> Path:
    """The file Ray reads the token from: ``RAY_AUTH_TOKEN_PATH``, else Ray's default."""
    env = os.environ if env is None else env
    named = env.get(TOKEN_PATH_ENV, "").strip()
    return Path(named).expanduser() if named else default_token_path(env)


def has_token(env=None) -> bool:
    """Whether Ray would find a token in ``env`` (default: this process's environment)."""
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV, "").strip():
        return True
    path = token_path(env)
    return path.is_file() and bool(path.read_text().strip())


def ensure_token(path: Path) -> str:
    """The token in ``path``, made there (readable by its owner only) if the file is missing or empty.

    Made by writing a new file and linking it into place, so that two processes starting Ray at once (the test
    run's two) end with one token, not each with its own."""
    path = Path(path)
    if not (path.is_file() and path.read_text().strip()):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))  # what Ray's own generator makes: 256 bits
        try:
            os.link(fresh, path)  # fails if another process made it meanwhile: theirs is kept
        except FileExistsError:
            if not path.read_text().strip():  # an empty file: replaced
                os.replace(fresh, path)
        finally:
            fresh.unlink(missing_ok=True)
    _owner_only(path)
    return path.read_text().strip()


def _owner_only(path: Path) -> None:
    """A token file that other users of the machine can read is made the owner's alone (if it is ours)."""
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(0o600)
    except OSError:
        pass


def server_env(env=None) -> dict:
    """What a Ray the course starts needs in its environment: token mode and where the token is (made if
    missing). Empty where ``RAY_AUTH_MODE`` says otherwise (``disabled``, or another mode of Ray's)."""
    env = os.environ if env is None else env
    if env.get(MODE_ENV, "").strip().lower() not in ("", "token"):  # disabled, or a mode of Ray's other than token
        return {}
    if env.get(TOKEN_ENV, "").strip():
        return {MODE_ENV: "token"}
    path = token_path(env)
    ensure_token(path)
    return {MODE_ENV: "token", TOKEN_PATH_ENV: str(path)}


def client_env(env=None) -> dict:
    """What a process that joins a Ray needs, without making a token: token mode where a token is found (as Ray
    does itself for a Ray it finds on this machine, but not for an address it is given); the mode already set,
    if any, is kept."""
    env = os.environ if env is None else env
    if env.get(MODE_ENV, "").strip() or not has_token(env):
        return {}
    found = {MODE_ENV: "token"}
    if not env.get(TOKEN_ENV, "").strip():
        found[TOKEN_PATH_ENV] = str(token_path(env))
    return found


def where(env=None) -> str:
    """Where the token is, for a person: ``RAY_AUTH_TOKEN``, or the file (``~`` for the home folder)."""
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV, "").strip():
        return TOKEN_ENV
    path = token_path(env)
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def http_headers(env=None) -> dict:
    """The header that the dashboard and its job API want from a client (none where authentication is off)."""
    env = os.environ if env is None else env
    if disabled(env) or not has_token(env):
        return {}
    token = env.get(TOKEN_ENV, "").strip() or token_path(env).read_text().strip()
    return {"Authorization": f"Bearer {token}"}


def refresh_ray_config() -> None:
    """Make this process's Ray read ``RAY_AUTH_MODE`` and the token again.

    Ray reads the mode once, when ``ray._raylet`` is imported, and keeps the token it loaded: a process that
    imported Ray before the course set them (a notebook whose first cell is ``import ray``, a test process)
    would otherwise connect without a token. Ray does the same when it turns authentication on for a Ray that
    ``ray.init()`` starts (``authentication_token_setup._enable_token_auth``). Only while this process is not
    connected to a Ray (private API: where it changes, a process started with the variables set still works)."""
    import sys

    if "ray._raylet" not in sys.modules:
        return  # the first import reads them
    if sys.modules["ray"].is_initialized():
        return  # connected: its settings stay for the connection
    try:
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):
        pass
