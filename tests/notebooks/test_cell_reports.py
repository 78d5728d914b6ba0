"""What the root conftest.py adds to a notebook cell's failure report: a cell that wrote to stderr fails nbval's
comparison with only "Unexpected output fields: {'stderr'}"; the report must say what was written."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root_conftest(request):
    """The root conftest.py as pytest loaded it (tests/ has a conftest.py of its own)."""
    for plugin in request.config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", "") or "").resolve() == ROOT / "conftest.py":
            return plugin
    pytest.fail("the root conftest.py is not loaded")


def _report(conftest, item, failed=True, when="call"):
    wrapper = conftest.pytest_runtest_makereport(item, SimpleNamespace(when=when))
    next(wrapper)
    report = SimpleNamespace(failed=failed, sections=[])
    with pytest.raises(StopIteration) as done:
        wrapper.send(report)
    return done.value.value


def _cell(*outputs):
    return SimpleNamespace(cell={"source": "x"}, test_outputs=list(outputs))


def test_a_failed_cells_report_holds_what_it_wrote_to_stderr(root_conftest):
    item = _cell(
        {"output_type": "stream", "name": "stdout", "text": "fine\n"},
        {"output_type": "stream", "name": "stderr", "text": "[core_worker.cc] a warning under load\n"},
    )
    sections = dict(_report(root_conftest, item).sections)
    assert sections == {"what the cell wrote to stderr": "[core_worker.cc] a warning under load\n"}


def test_nothing_is_added_to_a_pass_a_setup_or_a_cell_without_stderr(root_conftest):
    noisy = _cell({"output_type": "stream", "name": "stderr", "text": "warned\n"})
    assert _report(root_conftest, noisy, failed=False).sections == []
    assert _report(root_conftest, noisy, when="setup").sections == []
    quiet = _cell({"output_type": "stream", "name": "stdout", "text": "fine\n"})
    assert _report(root_conftest, quiet).sections == []
    assert _report(root_conftest, SimpleNamespace(test_outputs=None)).sections == []  # not a notebook cell
