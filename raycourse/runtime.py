"""``raycourse.init()``: one call at the top of every notebook.

It starts Ray (or connects to ``RAY_ADDRESS``), applies the clean-output and
small-machine settings, and prints a short summary. It is safe to run twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field

from . import config
from .errors import CourseError

# Environment for a quiet, offline, small-machine run. Set before Ray starts so
# that the Ray processes inherit it.
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",  # Ray 2.60 warns about token auth otherwise (local cluster only)
    "RAY_BACKEND_LOG_LEVEL": "fatal",  # C++ core-worker log lines would land in notebook cells
    "RAY_DEDUP_LOGS": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore::DeprecationWarning:ray,ignore::FutureWarning:ray",
}
# Offline: nothing in the tiny profile may touch the network.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1"}
# Small machines: Ray starts new worker processes for shuffles (joins, groupby);
# letting it keep more of them around made a first small join 10x faster here.
SMALL_MACHINE_ENV = {"RAY_num_workers_soft_limit": "16"}
TEST_ENV_FLAG = "RAYCOURSE_TEST"  # set by `make test`: no progress bars, no widgets
# A local Ray gets at least this many logical CPUs. Every actor of a Ray Data pool
# reserves one CPU, GPU actors included, unless told otherwise: with 4 logical CPUs,
# module 04's shape (2 actors at num_gpus=0.6 + 2 at 0.4, plus read tasks) waited
# forever; with 8 it finishes. Logical CPUs are a scheduling budget, not cores.
MIN_LOCAL_CPUS = 8
# Logical GPUs of a local Ray in the tiny profile on a machine without one: the
# original workshop's two-GPU cluster. Ray only schedules them; torch still sees
# no CUDA inside the actors, so model code runs on the CPU.
TINY_LOGICAL_GPUS = 2


@dataclass
class Session:
    """What :func:`init` found; ``print(session)`` gives the summary again."""

    profile: str
    ray_version: str
    address: str
    cpus: float
    gpus: float
    models: dict = field(default_factory=dict)
    data_root: str = ""

    def __str__(self) -> str:
        lines = [
            f"Profile   {self.profile}",
            f"Ray       {self.ray_version} ({self.address}): {self.cpus:g} CPUs, {self.gpus:g} GPUs",
            "Models",
        ]
        lines += [f"  {role:<10}{desc}" for role, desc in self.models.items()]
        lines.append(f"Data      {self.data_root}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython shows the summary, not the dataclass
        p.text(str(self))


_session: Session | None = None


def testing() -> bool:
    return os.environ.get(TEST_ENV_FLAG, "") not in ("", "0")


def apply_environment() -> None:
    """Set the quiet/offline environment variables (without overriding explicit ones)."""
    env = dict(QUIET_ENV)
    if config.profile() == "tiny":
        env.update(OFFLINE_ENV)
    if testing():
        env.update(RAY_DATA_DISABLE_PROGRESS_BARS="1", RAY_LOG_TO_DRIVER="0")
    for key, value in env.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\.|$)")
    for name in ("transformers", "diffusers"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def _quiet_fd2():
    """Keep what Ray's C++ core writes to file descriptor 2 while it starts out of the cell.

    In Jupyter, fd 2 is forwarded into the cell, and Ray prints a log-level line there at
    start-up. Python-level errors still arrive as exceptions.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _start_ray(num_cpus: int | None, ray_address: str | None):
    import ray

    kwargs = dict(
        log_to_driver=os.environ.get("RAY_LOG_TO_DRIVER", "0") not in ("0", ""),
        logging_level=logging.ERROR,
        include_dashboard=False,
        ignore_reinit_error=True,
    )
    if ray_address:
        kwargs["address"] = ray_address
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    else:
        for key, value in SMALL_MACHINE_ENV.items():
            os.environ.setdefault(key, value)
        kwargs["num_cpus"] = num_cpus or max(MIN_LOCAL_CPUS, os.cpu_count() or 1)
        kwargs["num_gpus"] = local_gpus()
    with _quiet_fd2():
        try:
            ray.init(**kwargs)
        except ValueError as exc:
            if ray_address and "num_cpus" in str(exc):
                raise CourseError(
                    f"The Ray cluster at RAY_ADDRESS={ray_address} was started with its own resources "
                    f"and rejects num_cpus={num_cpus}.",
                    "Call raycourse.init() without num_cpus, or unset RAY_ADDRESS to start a local Ray.",
                ) from exc
            raise
        except ConnectionError as exc:
            raise CourseError(
                f"Could not connect to the Ray cluster at RAY_ADDRESS={ray_address}.",
                "Start the cluster (`ray start --head`), fix the address, or unset RAY_ADDRESS "
                "to let raycourse start a local Ray.",
            ) from exc
        except Exception as exc:
            ray.shutdown()  # a half-started local Ray leaves processes behind otherwise
            if "timed out during startup" in str(exc):
                raise CourseError(
                    "Ray did not start in time: this machine is too busy (every open notebook runs "
                    "its own Ray).",
                    "Shut down the kernels of notebooks you are not using (Kernel > Shut Down Kernel), "
                    "then restart this kernel and run the cell again.",
                ) from exc
            raise


def _configure_data_context() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.default_hash_shuffle_parallelism = 4
    ctx.print_on_execution_start = False  # its message names a temporary log folder
    ctx.enable_progress_bars = not testing() and os.environ.get("RAY_DATA_DISABLE_PROGRESS_BARS", "0") in ("0", "")
    ctx.enable_operator_progress_bars = ctx.enable_progress_bars
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    if ctx.enable_progress_bars and _in_notebook():
        from .progress import use_notebook_progress_bars

        use_notebook_progress_bars()


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and ip.__class__.__name__ == "ZMQInteractiveShell"


def local_gpus() -> int:
    """GPUs a local Ray declares: the real ones, or the tiny profile's logical ones without any."""
    real = config.gpu_count()
    if real == 0 and config.profile() == "tiny":
        return TINY_LOGICAL_GPUS
    return real


def cluster_gpus() -> float:
    """GPUs that Ray can schedule on (the local GPU count before Ray starts)."""
    import ray

    if ray.is_initialized():
        return float(ray.cluster_resources().get("GPU", 0))
    return float(config.gpu_count())


def init(num_cpus: int | None = None, *, quiet: bool = False) -> Session:
    """Start (or reuse) Ray with the course settings and print a summary.

    ``num_cpus`` is the number of logical CPUs for a *local* Ray (default: at least
    4, so small pipelines with actor stages never starve). Leave it out when
    ``RAY_ADDRESS`` points to an existing cluster. Safe to call twice: the second call
    reuses the running Ray and prints the summary again.
    """
    global _session
    import ray

    from . import data, models

    profile = config.profile()  # validates RAYCOURSE_PROFILE first
    apply_environment()
    if not ray.is_initialized():
        _start_ray(num_cpus, os.environ.get("RAY_ADDRESS") or None)
    _configure_data_context()
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    if profile == "gpu" and gpus == 0:
        raise CourseError(
            "The 'gpu' profile needs a GPU, but Ray sees none.",
            "Run on a GPU machine, or use the laptop profile: set RAYCOURSE_PROFILE=tiny "
            "(or unset it) and restart the kernel.",
        )
    _session = Session(
        profile=profile,
        ray_version=ray.__version__,
        address="local" if not os.environ.get("RAY_ADDRESS") else os.environ["RAY_ADDRESS"],
        cpus=float(resources.get("CPU", 0)),
        gpus=gpus,
        models={role: models.describe(role) for role in config.MODEL_ROLES},
        data_root=str(data.data_root()),
    )
    if not quiet:
        print(_session)
    return _session


def resources(gpus: float = 1.0, *, cpus: float = 1.0, actors: int | None = None) -> dict:
    """The ``map_batches`` resource arguments for one stage, for this profile and hardware.

    With GPUs in the cluster (``gpu`` profile) the stage asks for ``gpus`` GPUs per
    worker -- a fraction such as 0.5 lets two models share one GPU. Without a GPU it
    asks for ``cpus`` CPUs instead, so no pipeline ever waits for a GPU that is not
    there. ``actors`` adds ``compute=ActorPoolStrategy(size=...)``, capped at what the
    cluster can run at once.

    >>> ds.map_batches(ImageGen, batch_size=8, **raycourse.resources(gpus=0.4, actors=2))
    """
    import ray.data

    if gpus < 0 or cpus <= 0 or (actors is not None and actors < 1):
        raise ValueError("gpus must be >= 0, cpus > 0 and actors >= 1")
    use_gpu = gpus > 0 and config.profile() == "gpu" and cluster_gpus() > 0
    args: dict = {"num_gpus": gpus} if use_gpu else {"num_cpus": cpus}
    if actors is not None:
        if use_gpu:
            capacity = int(cluster_gpus() / gpus + 1e-9) or 1  # 2 GPUs / 0.4 = 5 actors
        else:
            import ray as _ray

            total = _ray.cluster_resources().get("CPU", 1) if _ray.is_initialized() else (os.cpu_count() or 1)
            # keep one CPU free for the read and map tasks that feed the actors
            capacity = int((total - 1) / cpus + 1e-9) or 1
        args["compute"] = ray.data.ActorPoolStrategy(size=min(actors, capacity))
    return args
