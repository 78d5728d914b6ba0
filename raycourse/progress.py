"""Ray Data progress bars as Jupyter widgets.

Ray Data 2.60 shows tqdm progress bars only when stdout is a terminal; in a Jupyter
kernel (never a terminal) it falls back to a log line every ten seconds. The
course wants learners to *see* a long pipeline move, so in a notebook we hand Ray
Data its own tqdm progress manager, which draws through ``tqdm.auto`` and so
renders as ipywidgets in JupyterLab. Test runs turn progress bars off instead
(``RAYCOURSE_TEST=1``), and nothing here runs outside a notebook.
"""

from __future__ import annotations

_installed = False


def use_notebook_progress_bars() -> None:
    """Make Ray Data draw widget progress bars in this notebook kernel (idempotent)."""
    global _installed
    if _installed:
        return
    from ray.data._internal.execution import streaming_executor
    from ray.data._internal.progress.tqdm_progress import TqdmExecutionProgressManager

    original = streaming_executor.get_progress_manager

    def get_progress_manager(ctx, dataset_id, topology, verbose_progress):
        if not ctx.enable_progress_bars:
            return original(ctx, dataset_id, topology, verbose_progress)
        return TqdmExecutionProgressManager(
            dataset_id, topology, ctx.enable_operator_progress_bars, verbose_progress
        )

    streaming_executor.get_progress_manager = get_progress_manager
    _installed = True
