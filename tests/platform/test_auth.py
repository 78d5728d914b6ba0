"""Ray's token authentication as the course turns it on (raycourse.session.auth): where the token is, who may read it,
and what a Ray the course starts and a process that joins it are given. No Ray here: tests/platform/test_cluster.py
starts make lab's Ray and is refused without the token."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from raycourse.session import auth, cluster


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder without a Ray token, and none of Ray's token settings."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for key in auth.AUTH_ENV:
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def test_a_ray_the_course_starts_gets_rays_default_token_file_made_for_its_owner_alone(home):
    env = auth.server_env()
    path = home / ".ray" / "auth_token"
    assert env == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}
    token = path.read_text()
    assert len(token) == 64 and int(token, 16)  # 256 bits, as Ray's own generator makes
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert auth.server_env() == env and path.read_text() == token  # the next start keeps it
    assert auth.http_headers(env) == {"Authorization": f"Bearer {token}"}
    assert auth.where(env) == "~/.ray/auth_token"


def test_a_token_file_others_can_read_is_made_private_and_kept(home):
    path = home / ".ray" / "auth_token"
    path.parent.mkdir()
    path.write_text("a" * 64 + "\n")  # as `ray get-auth-token --generate` leaves it: umask 022
    path.chmod(0o644)
    assert auth.ensure_token(path) == "a" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("\n")  # an empty one is no token: a new one takes its place
    assert len(auth.ensure_token(path)) == 64 and path.read_text() == auth.ensure_token(path)


def test_two_rays_starting_at_once_end_with_one_token(home):
    path = home / "run" / "auth_token"
    tokens = []
    threads = [threading.Thread(target=lambda: tokens.append(auth.ensure_token(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and path.read_text() == tokens[0]
    assert [p.name for p in path.parent.iterdir()] == ["auth_token"]  # no temporary file left


def test_a_token_or_mode_of_the_callers_own_is_used_as_it_is(home, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "b" * 64)  # an instructor's cluster token
    assert auth.server_env() == {"RAY_AUTH_MODE": "token"}
    assert auth.http_headers() == {"Authorization": "Bearer " + "b" * 64} and auth.where() == "RAY_AUTH_TOKEN"
    assert not (home / ".ray").exists()  # none made
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(home / "cluster-token"))
    assert auth.server_env()["RAY_AUTH_TOKEN_PATH"] == str(home / "cluster-token")
    assert (home / "cluster-token").is_file()
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # turned off on purpose, as Ray allows
    assert auth.server_env() == {} and auth.http_headers() == {}


def test_a_process_that_joins_gets_token_mode_only_where_a_token_is_found(home, monkeypatch):
    assert auth.client_env() == {}  # no token anywhere: none is made for a Ray someone else started
    assert not (home / ".ray").exists()
    auth.ensure_token(auth.default_token_path())
    assert auth.client_env() == {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(home / ".ray" / "auth_token")}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert auth.client_env() == {}  # the caller's choice stays


def test_the_course_rays_processes_get_token_mode_and_the_token_file(home):
    env = cluster.ray_environment({"HOME": str(home), "PATH": os.environ.get("PATH", "")})
    assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN_PATH"] == str(home / ".ray" / "auth_token")
    assert (home / ".ray" / "auth_token").is_file()
    assert cluster.is_loopback("127.0.0.1:6379") and cluster.is_loopback("localhost:1")
    assert not cluster.is_loopback("10.0.0.5:6379") and not cluster.is_loopback(None)


def test_a_notebook_sends_its_users_token_to_this_machines_ray_only(home, monkeypatch):
    """raycourse.init(): a Ray it starts gets the user's token (made); a Ray on loopback it joins gets the token
    found; a cluster elsewhere only what the caller set, as Ray does for an address it is given."""
    from raycourse.session import runtime

    monkeypatch.setattr(auth, "refresh_ray_config", lambda: None)  # this process's Ray stays as it is
    runtime._authenticate("10.0.0.5:6379")
    assert not any(key in os.environ for key in auth.AUTH_ENV) and not (home / ".ray").exists()
    runtime._authenticate(None)
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(home / ".ray" / "auth_token")
    for key in auth.AUTH_ENV:
        monkeypatch.delenv(key, raising=False)
    runtime._authenticate("127.0.0.1:6379")  # make lab's, found on this machine: the token there
    assert os.environ["RAY_AUTH_MODE"] == "token"
