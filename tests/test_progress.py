"""In a notebook kernel a learner sees Ray Data's progress bars as widgets."""

from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET = "application/vnd.jupyter.widget-view+json"


def test_progress_bars_render_as_widgets_outside_tests(tmp_path, monkeypatch):
    nb = new_notebook(cells=[
        new_code_cell("import ray, raycourse\nraycourse.init(quiet=True)"),
        new_code_cell("ray.data.range(20, override_num_blocks=4).map_batches(lambda b: b).count()"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    for key in ("RAYCOURSE_TEST", "RAY_DATA_DISABLE_PROGRESS_BARS"):  # as in a learner's JupyterLab
        monkeypatch.delenv(key, raising=False)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    assert any(WIDGET in out.get("data", {}) for out in outputs), outputs
    assert not any(out.get("name") == "stderr" for out in outputs), outputs
    assert outputs[-1]["data"]["text/plain"] == "20"
