"""In a notebook kernel a learner sees Ray Data's progress as widgets, readable at a glance.

One real kernel (nbclient) runs without the test-only switches that turn progress bars off,
as in a learner's JupyterLab; the tests read what the notebook would show: each cell's
outputs and the widgets' stored state (the bars' descriptions).
"""

import json

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from raycourse.session import progress

pytestmark = [
    pytest.mark.slow("runs notebook cells in a kernel of its own"),
    pytest.mark.tiny_only("progress bars, with stand-in stages"),
]

WIDGET = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"

SETUP = "import time, ray, raycourse\nfrom raycourse.session import progress\nraycourse.init(quiet=True)"
SLOW = """
class Slow:
    def __call__(self, batch):
        time.sleep(0.5)
        return batch

ray.data.range(40, override_num_blocks=4).map_batches(
    Slow, batch_size=10, compute=ray.data.ActorPoolStrategy(size=2)).count()
"""
LONG, SHORT, OWN_BARS = 1, 3, 6  # indexes of the cells the tests read


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress")
    cells = [
        SETUP,
        SLOW,  # LONG: 4 batches of 0.5 s, well past the delay
        "progress.DELAY_S = 60",  # a delay no busy machine can reach: the same step is "short"
        SLOW,  # SHORT
        "progress.DELAY_S = 0",
        f"ray.data.range(30).write_parquet({json.dumps(str(folder / 'p'))})",
        f"ray.data.read_parquet({json.dumps(str(folder / 'p'))}).count()",  # OWN_BARS
    ]
    nb = new_notebook(
        cells=[new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    with pytest.MonkeyPatch.context() as mp:
        for key in ("RAYCOURSE_TEST", "RAY_DATA_DISABLE_PROGRESS_BARS"):  # as in a learner's JupyterLab
            mp.delenv(key, raising=False)
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def widgets(cell) -> int:
    return sum(WIDGET in out.get("data", {}) for out in cell.outputs)


def descriptions(nb) -> list[str]:
    """The left-hand text of every progress bar drawn in the notebook, without its ": 100%"."""
    state = nb.metadata.get("widgets", {}).get(STATE, {}).get("state", {})
    left = [
        m["state"]["children"][0].removeprefix("IPY_MODEL_")
        for m in state.values()
        if m.get("model_name") == "HBoxModel" and len(m["state"].get("children", [])) == 3
    ]
    return [state[key]["state"]["value"].replace("\u2007", " ").rsplit(": ", 1)[0] for key in left]


def test_no_cell_writes_text_on_stderr(notebook):
    stderr = [o for cell in notebook.cells for o in cell.outputs if o.get("name") == "stderr"]
    assert not stderr, f"a learner would see text on stderr: {stderr}"


def test_a_step_longer_than_the_delay_draws_a_bar_for_the_run_and_its_actor_stage(notebook):
    cell = notebook.cells[LONG]
    # One bar for the run and one for the actor stage; none for ReadRange, Project, Aggregate.
    assert widgets(cell) == 2, cell.outputs
    assert cell.outputs[-1]["data"]["text/plain"] == "40"
    texts = descriptions(notebook)
    assert "MapBatches(Slow) · 2 actors" in texts, texts  # the pool's size, not the last one to stop
    assert any(t.startswith("ReadRange → MapBatches(Slow)") for t in texts), texts
    assert all(len(t) <= progress.MAX_DESC and "\n" not in t for t in texts), texts
    assert not any("Queued blocks" in t or "Resources" in t for t in texts), texts


def test_a_step_shorter_than_the_delay_shows_its_answer_and_no_bars(notebook):
    cell = notebook.cells[SHORT]
    assert widgets(cell) == 0, cell.outputs
    assert [o["data"]["text/plain"] for o in cell.outputs] == ["40"]


def test_ray_datas_own_bars_draw_as_widgets_not_text(notebook):
    # Parquet sampling draws through Ray Data's ProgressBar (terminal tqdm by default); with
    # no delay it shows, and as a widget (test_no_cell_writes_text_on_stderr: never as text).
    cell = notebook.cells[OWN_BARS]
    assert widgets(cell) >= 1, cell.outputs
    assert cell.outputs[-1]["data"]["text/plain"] == "30"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ReadCSV", "ReadCSV"),
        ("a   b\nc", "a b c"),
        ("x" * 100, "x" * (progress.MAX_DESC - 1) + "…"),
    ],
)
def test_descriptions_are_one_short_line(text, expected):
    assert progress.short(text) == expected
