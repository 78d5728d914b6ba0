"""Ray Data progress bars as Jupyter widgets, readable at a glance.

Ray Data 2.60 shows tqdm progress bars only when stdout is a terminal; in a Jupyter
kernel (never a terminal) it falls back to a log line every ten seconds. The course
wants learners to *see* a long pipeline move, so in a notebook we hand Ray Data a
progress manager of our own that draws through ``tqdm.notebook`` (ipywidgets).

Ray's own tqdm manager, drawn as widgets, buries a result under its bars: every
Dataset run (even a ``count()`` of 24 rows) draws a bar per operator and per shuffle
sub-step, and each bar's description ("Tasks: 0; Actors: 0; Queued blocks: 0 (0.0B);
Resources: ...") wraps over two lines. This manager draws:

- nothing for a step that finishes within ``DELAY_S`` (tqdm's ``delay``): a quick
  ``count()`` shows its answer and no bars;
- for a longer step, one bar for the whole run, named after its operators, plus one bar
  per actor-pool stage (a model stage: the one a learner watches) with how many of its
  actors run; shuffle sub-steps and task operators have no bars of their own;
- descriptions cut to ``MAX_DESC`` characters, so no bar wraps.

Ray Data's other bars (file metadata, sort and parquet sampling) draw through the
same delayed widget. Test runs turn progress bars off instead (``RAYCOURSE_TEST=1``),
and nothing here runs outside a notebook. The manager plugs into Ray Data's internal
progress API (``ray.data._internal.progress``), which Ray may change: tests/notebooks/test_progress.py
runs it in a real kernel against the pinned Ray.
"""

from __future__ import annotations

from typing import Optional

DELAY_S = 1.0  # a step shorter than this draws no bar
MAX_DESC = 48  # characters: a bar's description fits one line beside its bar

_installed = False


def short(text: str, limit: int = MAX_DESC) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bar_class():
    from tqdm.notebook import tqdm as notebook_tqdm

    class DelayedBar(notebook_tqdm):
        """A widget bar that stays hidden until it has run ``delay`` seconds.

        tqdm's notebook bar honours ``delay`` in ``update()`` but shows itself on any
        ``refresh()``, which Ray Data calls on every scheduling step; this one waits.
        """

        def display(self, *args, check_delay=True, **kwargs):
            if check_delay and not self.displayed and self._time() - self.start_t < self.delay:
                return None
            return super().display(*args, check_delay=check_delay, **kwargs)

        def set_description(self, desc=None, refresh=True):
            super().set_description(short(desc) if desc else desc, refresh)

    return DelayedBar


def new_bar(desc: str, total: Optional[int], delay: Optional[float] = None):
    """A widget bar with a one-line description, hidden for its first ``delay`` (default DELAY_S) seconds."""
    return _bar_class()(
        total=total or None,
        desc=short(desc),
        unit=" row",
        unit_scale=True,
        delay=DELAY_S if delay is None else delay,
        dynamic_ncols=True,
        leave=True,
    )


class _Bar:
    """The interface Ray Data's operators call (BaseProgressBar) over one delayed widget."""

    def __init__(self, desc: str, total: Optional[int]):
        self._bar = new_bar(desc, total)
        self._desc = self._bar.desc

    def set_description(self, name: str) -> None:
        name = short(name)
        if self._bar is not None and name != self._desc:
            self._desc = name
            self._bar.set_description_str(name, refresh=False)

    def get_description(self) -> str:
        return self._desc

    def update(self, increment: int = 0, total: Optional[int] = None) -> None:
        if self._bar is None:
            return
        if total is not None and total != self._bar.total:
            self._bar.total = total
        if increment:
            self._bar.update(increment)
        if self._bar.total is not None and self._bar.n > self._bar.total:
            self._bar.total = self._bar.n

    def update_absolute(self, completed: int, total: Optional[int] = None) -> None:
        if self._bar is not None:
            self.update(completed - self._bar.n, total)

    def refresh(self) -> None:
        if self._bar is not None:
            self._bar.refresh()

    def close(self, success: bool = True) -> None:
        if self._bar is None:
            return
        if success and self._bar.total is not None and self._bar.n != self._bar.total:
            self._bar.total = self._bar.n  # estimates were off: a finished run is full
        self._bar.close()
        self._bar = None


def _manager_class():
    from ray.data._internal.execution.operators.input_data_buffer import InputDataBuffer
    from ray.data._internal.execution.operators.sub_progress import SubProgressBarMixin
    from ray.data._internal.progress.base_progress import (
        BaseExecutionProgressManager,
        BaseProgressBar,
        NoopSubProgressBar,
    )

    class SubStepBar(NoopSubProgressBar):
        """Shuffle and sort sub-steps: counted by their operator's bar, not drawn."""

    class OperatorBar(_Bar, BaseProgressBar):
        pass

    class CourseProgressManager(BaseExecutionProgressManager):
        """One bar per Dataset run and one per actor-pool stage, shown only for runs longer than DELAY_S."""

        def __init__(self, dataset_id, topology, show_op_progress, verbose_progress):
            ops = [(state, state.op) for state in topology.values() if not isinstance(state.op, InputDataBuffer)]
            self._name = " → ".join(op.name for _, op in ops) or "Dataset"
            self._total = OperatorBar(self._name, None)
            self._ops = {
                state: OperatorBar(op.name, op.num_output_rows_total())
                for state, op in ops
                if show_op_progress and _is_actor_pool(op)
            }
            self._actors = {}  # the most actors seen running, per actor-pool stage
            for _, op in ops:
                _hide_sub_steps(op, SubStepBar, SubProgressBarMixin)

        def start(self) -> None:
            pass

        def refresh(self) -> None:
            self._total.refresh()
            for bar in self._ops.values():
                bar.refresh()

        def close_with_finishing_description(self, desc: str, success: bool) -> None:
            for bar in self._ops.values():
                bar.close(success)
            self._total.close(success)

        def update_total_progress(self, new_rows: int, total_rows: Optional[int]) -> None:
            self._total.update(new_rows, total_rows)

        def update_total_resource_status(self, resource_status: str) -> None:
            pass  # "Active & requested resources: ..." is what made bars wrap; the dashboard has it

        def update_operator_progress(self, opstate, resource_manager) -> None:
            _update_operator_bar(self._ops.get(opstate), opstate, self._actors)

    return CourseProgressManager


def _update_operator_bar(bar, opstate, actors: dict) -> None:
    """An actor-pool stage's bar (``None``: the stage has none): its rows, and the most actors that ran in it
    (``actors``, per stage, kept here)."""
    if bar is None:
        return
    op = opstate.op
    bar.update_absolute(op.metrics.row_outputs_taken, op.num_output_rows_total())
    running = max(_running_actors(op), actors.get(opstate, 0))
    if running:  # the most that ran stays on the bar while the pool shuts down
        actors[opstate] = running
        bar.set_description(f"{op.name} · {running} actor{'s' if running > 1 else ''}")


def _hide_sub_steps(op, bar_class, mixin) -> None:
    """An operator's sub-steps (shuffle, sort) get bars that are counted by its own bar, not drawn."""
    if isinstance(op, mixin):
        for name in op.get_sub_progress_bar_names() or []:
            op.set_sub_progress_bar(name, bar_class(name=name, max_name_length=MAX_DESC))


def _is_actor_pool(op) -> bool:
    from ray.data._internal.execution.operators.actor_pool_map_operator import ActorPoolMapOperator

    return isinstance(op, ActorPoolMapOperator)


def _running_actors(op) -> int:
    try:
        info = op.get_actor_info()
        return int(getattr(info, "running", 0) or 0)
    except Exception:  # task operators have no actors
        return 0


def use_notebook_progress_bars() -> None:
    """Make Ray Data draw the course's widget progress bars in this notebook kernel (idempotent)."""
    global _installed
    if _installed:
        return
    import types

    from ray.data._internal.execution import streaming_executor
    from ray.data._internal.progress import progress_bar

    manager = _manager_class()
    original = streaming_executor.get_progress_manager

    def get_progress_manager(ctx, dataset_id, topology, verbose_progress):
        if not ctx.enable_progress_bars:
            return original(ctx, dataset_id, topology, verbose_progress)
        return manager(dataset_id, topology, ctx.enable_operator_progress_bars, verbose_progress)

    streaming_executor.get_progress_manager = get_progress_manager

    def delayed_tqdm(*, total=None, position=0, dynamic_ncols=True, unit="", unit_scale=True, **_):
        return new_bar("", total)

    # Ray Data's own ProgressBar (file metadata, sort and parquet sampling) draws with the
    # terminal tqdm, which a notebook shows as text on stderr: give it the delayed widget.
    progress_bar.tqdm = types.SimpleNamespace(tqdm=delayed_tqdm)
    _installed = True
