"""``raycourse.init()``: one call at the top of every notebook. It starts Ray (or connects to ``RAY_ADDRESS``),
applies the clean-output and small-machine settings, and prints a short summary. It is safe to run twice."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass, field

from .. import config
from ..errors import CourseError
from .ray_output import (  # re-exported: runtime.RAY_NOTICES_ENV and the rest
    DROPPED_LINES as DROPPED_LINES,
    RAY_NOTICES_ENV as RAY_NOTICES_ENV,
    RETRY_NOTICE as RETRY_NOTICE,
    SERVE_SHUTDOWN_NOTICE as SERVE_SHUTDOWN_NOTICE,
    WORKER_POOL_WARNING as WORKER_POOL_WARNING,
    _quiet_fd2,
    _serve_shutdown_notice as _serve_shutdown_notice,
    drop_worker_pool_warning,
    quiet_serve_driver_log,
)

# Environment for a quiet, offline, small-machine run. Set before Ray starts so
# that the Ray processes inherit it.
QUIET_ENV = {
    "RAY_BACKEND_LOG_LEVEL": "fatal",  # C++ core-worker log lines would land in notebook cells
    "RAY_DEDUP_LOGS": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "DIFFUSERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    # Ray's own deprecation notices, and diffusers' notice on every float16 SDXL decode (below): -W syntax,
    # action:message:category:module, where message is a literal that the warning's text must start with.
    "PYTHONWARNINGS": "ignore::DeprecationWarning:ray,ignore::FutureWarning:ray,"
    "ignore:`upcast_vae` is deprecated:FutureWarning,"
    "ignore:The given NumPy array is not writable:UserWarning",
}
# sdxl-turbo's VAE overflows in float16 (its config says force_upcast: true), so diffusers 0.42's SDXL pipeline
# moves it to float32 for every decode of a float16 run, by calling its own upcast_vae(), which it has deprecated:
# every image drawn on a GPU would print "FutureWarning: `upcast_vae` is deprecated ..." into the cell. The upcast
# is right (the images need it) and is not the learner's code, so exactly that notice is dropped, in the notebook
# (apply_environment) and in Ray's workers (PYTHONWARNINGS above, which travels to them); other FutureWarnings
# still show.
UPCAST_VAE_NOTICE = "`upcast_vae` is deprecated"
# Ray Data hands `iter_torch_batches` NumPy arrays straight from its object store, read-only, and turns them into
# tensors inside `warnings.catch_warnings()` + `simplefilter("ignore")` (ray/data/util/torch_utils.py), meaning to
# drop torch's "The given NumPy array is not writable ..." UserWarning. With prefetch_batches that runs in several
# threads at once, and catch_warnings is not thread-safe: one thread leaving its block restores the filters while
# another is still converting, and the warning escapes into a cell now and then (lesson 07's accuracy loop in one
# CI run of three). The course keeps Ray's intent with a filter of its own that every saved state includes: exactly
# that message, in the notebook and, through PYTHONWARNINGS, in Ray's workers (Ray Train's loops).
NONWRITABLE_NOTICE = "The given NumPy array is not writable"
# Offline: nothing in the tiny profile may touch the network.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_EVALUATE_OFFLINE": "1",
}
# Small machines: Ray starts new worker processes for shuffles (joins, groupby);
# letting it keep more of them around made a first small join 10x faster here.
# Every new worker costs seconds of CPU (`import ray` alone is 2.7 s on 2 cores), and
# by default Ray starts as many at once as it has logical CPUs (8): they fight for the
# cores, and more of them get started than the work needs. Two at a time took module
# 05 from 168 s to 128 s here, with the same 8 logical CPUs.
# Ray 2.60's parquet reader (datasource V2) starts RAY_DATA_PARQUET_FOOTER_NUM_ACTORS actors (32)
# for every read_parquet to read the files' footers; on 2 cores, 4 small files took 20-29 s to
# list that way (each actor a new process) and 1 s with one actor.
# Ray 2.60 lists a read's files with 8 threads (RAY_DATA_LIST_FILES_THREADED_NUM_WORKERS), in the driver and in its
# ListFiles tasks; the thread that ends the listing can lose a race with the reader (ray/data/_internal/
# dynamic_work_queue.py, _signal_completion: its queue is closed before it has told every thread to stop) and print
# "Exception in thread pool-0/completion-signaler ... InterruptedError" into the cell after a complete listing (lesson
# 10's read_parquet, in one CI run of many). One thread lists sequentially, with no such race, and a course's folders
# of a few files list as fast.
# Ray Train's controller looks at its workers every 2 s, so it notices a started or finished run up to
# 2 s late, more than once per fit(); every 0.5 s took a one-step fit from 15 s to 11-12 s here.
# Ray Serve's router asks each replica how many requests it holds before it sends one, and gives it 0.1 s to answer;
# on 2 busy cores replicas answer later, and every miss printed "Failed to get queue length from Replica(...) within
# 0.1s" into the cell (16 lines for 64 requests in module 08). Serve's own ceiling for that wait, 1 s, was still
# missed 33 times in one cell of lesson 08 with the test suite's load at about 30: 2 s (a start above the ceiling
# raises it too).
SERVE_QUEUE_DEADLINE_ENV = "RAY_SERVE_QUEUE_LENGTH_RESPONSE_DEADLINE_S"
SMALL_MACHINE_ENV = {
    "RAY_num_workers_soft_limit": "16",
    "RAY_worker_maximum_startup_concurrency": "2",
    "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "1",
    "RAY_DATA_LIST_FILES_THREADED_NUM_WORKERS": "1",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
    SERVE_QUEUE_DEADLINE_ENV: "2",
}
# One Ray for a whole workshop day (make lab): Ray Data 2.60 shares a cluster's CPUs and GPUs out among the
# datasets running on it, through one coordinator actor that every driver registers with; a running dataset renews
# its registration at most every 10 s, and one that ends cancels it. A kernel killed mid-pipeline (a crash, Kernel >
# Restart, a closed laptop) never cancels: its registration stayed 180 s, and meanwhile every new dataset in the
# session got half the CPUs and GPUs (measured by `make soak`: 4 of 8 CPUs, 1 of 2 GPUs). 30 s is still three
# renewals. Read by each notebook's driver when its first dataset runs, so raycourse.init() sets it.
SHARED_RAY_ENV = {"RAY_DATA_AUTOSCALING_REQUEST_EXPIRE_TIME_S": "30"}
TEST_ENV_FLAG = "RAYCOURSE_TEST"  # set by `make test`: no progress bars, no widgets
# The environment of a test run (root conftest.py; the Makefile's TEST_ENV is the same for the shell) and,
# without its profile, of a graded notebook (raycourse.grading): the tiny profile, offline, quiet.
TEST_ENV = {
    TEST_ENV_FLAG: "1",
    "RAYCOURSE_PROFILE": "tiny",
    **OFFLINE_ENV,
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    "RAY_DATA_LOG_LEVEL": "ERROR",
    "RAY_LOG_TO_DRIVER": "0",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "MPLBACKEND": "agg",
}
# A local Ray gets at least this many logical CPUs. Every actor of a Ray Data pool
# reserves one CPU, GPU actors included, unless told otherwise: with 4 logical CPUs,
# module 04's shape (2 actors at num_gpus=0.6 + 2 at 0.4, plus read tasks) waited
# forever; with 8 it finishes. Logical CPUs are a scheduling budget, not cores.
MIN_LOCAL_CPUS = 8
# Logical GPUs of a local Ray in the tiny profile on a machine without one: the
# original workshop's two-GPU cluster. Ray only schedules them; torch still sees
# no CUDA inside the actors, so model code runs on the CPU.
TINY_LOGICAL_GPUS = 2
# Where stand-ins run on a machine with real GPUs (a GPU runner's tiny smoke test, the rehearsal),
# the GPUs are hidden from them: their random weights are meant for float32 on a CPU, and the
# course's model code would put them on CUDA in float16. Ray still grants its logical GPUs
# (get_assigned_resources() shows each actor's share) but, told not to, leaves CUDA_VISIBLE_DEVICES
# empty, so get_accelerator_ids() has no device ids to report there.
HIDE_GPUS_ENV = {"CUDA_VISIBLE_DEVICES": "", "RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}


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
    dashboard: str | None = None
    prometheus: str | None = None  # where Ray's metrics can be queried (PromQL), if a Prometheus runs
    scrape_seconds: float | None = None  # how often it scrapes now (less often late in a long session)
    logical_gpus: bool = False  # GPUs that Ray schedules but that no process can compute on
    notes: list = field(default_factory=list)

    def __str__(self) -> str:
        from .prometheus import REPORT_SECONDS as REPORT, SCRAPE_SECONDS as SCRAPE

        every = f"Prometheus, scraping every {self.scrape_seconds or SCRAPE:g} s; Ray reports every {REPORT} s"
        gpus = f"{self.gpus:g} GPUs" + (
            " (logical: Ray schedules them, models run on the CPU)" if self.logical_gpus and self.gpus else ""
        )
        lines = [
            f"Profile   {self.profile}",
            f"Ray       {self.ray_version} ({self.address}): {self.cpus:g} CPUs, {gpus}",
            f"Dashboard {self.dashboard or 'off'}",
            *([f"Metrics   {self.prometheus} ({every})"] if self.prometheus else []),
            "Models",
        ]
        lines += [f"  {role:<10}{desc}" for role, desc in self.models.items()]
        lines.append(f"Data      {self.data_root}")
        lines += [f"Note      {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):  # IPython shows the summary, not the dataclass
        p.text(str(self))


_session: Session | None = None


def testing() -> bool:
    return os.environ.get(TEST_ENV_FLAG, "") not in ("", "0")


def log_to_driver() -> bool:
    """Whether Ray forwards its workers' output to this driver: yes, unless RAY_LOG_TO_DRIVER=0 (a test run)."""
    return os.environ.get("RAY_LOG_TO_DRIVER", "1").strip().lower() not in ("0", "false", "")


def apply_environment() -> None:
    """Set the quiet/offline environment variables (without overriding explicit ones)."""
    env = dict(QUIET_ENV, **SHARED_RAY_ENV)
    if config.profile() == "tiny":
        env.update(OFFLINE_ENV)
    if testing():
        env.update(RAY_DATA_DISABLE_PROGRESS_BARS="1", RAY_LOG_TO_DRIVER="0", RAY_DATA_LOG_LEVEL="ERROR")
    for key, value in env.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\.|$)")
    warnings.filterwarnings("ignore", message=re.escape(UPCAST_VAE_NOTICE), category=FutureWarning)
    warnings.filterwarnings("ignore", message=re.escape(NONWRITABLE_NOTICE), category=UserWarning)
    for name in ("transformers", "diffusers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if testing():
        quiet_serve_driver_log()


# Variables a job on an existing Ray cluster passes to its workers (runtime_env), so that actors resolve the same
# profile, models, data and output folders, and stay as quiet and offline, as the notebook: the course's own
# settings, by name, and nothing else. A job's runtime_env is shown to anyone who can reach the cluster's dashboard
# (its Jobs page and job API), so a token or password never travels this way (HF_TOKEN, HUGGING_FACE_HUB_TOKEN, a
# cloud key): a cluster that needs one for gated models has it set on its nodes. SECRET_WORDS guards the list.
PROPAGATED_KEYS = (
    "RAYCOURSE_PROFILE",
    "RAYCOURSE_DATA",
    "RAYCOURSE_OUTPUTS",
    "RAYCOURSE_CACHE",
    "RAYCOURSE_REHEARSAL",
    "RAYCOURSE_TEST",
    "RAYCOURSE_STANDIN_THREADS",
    "RAYCOURSE_GPUS_PER_LEARNER",
    "RAYCOURSE_GPU_DATA",
    *(role.override_env for role in config.MODEL_ROLES.values()),
    "HF_HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_ENDPOINT",
    *OFFLINE_ENV,
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "HF_HUB_DISABLE_TELEMETRY",
    "TRANSFORMERS_VERBOSITY",
    "DIFFUSERS_VERBOSITY",
    "TOKENIZERS_PARALLELISM",
    "PYTHONWARNINGS",
)
SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "CREDENTIAL")
# The course's, read by the process that starts Ray or by the notebook's only
DRIVER_ONLY_KEYS = ("RAYCOURSE_RAY_ENV", "RAYCOURSE_RAY_NOTICES", "RAYCOURSE_PROMETHEUS")


def _is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS) and upper != "TOKENIZERS_PARALLELISM"


_dashboard_url: str | None = None
_owns_ray = False  # True when init() started a local Ray for this process alone


# Set by whoever starts the course's own Ray (``make lab``, a test run) for the notebooks that join it:
# a digest of the course settings that Ray's processes were started with. A notebook whose settings
# match needs no runtime_env, and without one Ray starts each worker directly; with one, every worker
# goes through Ray's setup_worker first, which cost 10-30 s of CPU per notebook on 2 cores.
RAY_ENV_DIGEST = "RAYCOURSE_RAY_ENV"


def _propagated_env(env=None) -> dict:
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k in PROPAGATED_KEYS and not _is_secret(k)}


def env_digest(env=None) -> str:
    """A digest of the course settings in ``env`` (default: this process) that travel to Ray's workers."""
    import hashlib

    return hashlib.sha256(repr(sorted(_propagated_env(env).items())).encode()).hexdigest()[:16]


def find_running_ray() -> str | None:
    """The address of a Ray started with ``ray start`` on this machine (``make lab``) by this user, if it is alive.

    Ray notes the latest ``ray start`` in its temp dir's ``ray_current_cluster``: ``make lab``'s in this user's
    own (``cluster.private_temp_dir()``), one started by hand in /tmp/ray, whoever ran it (``ray.init()`` joins
    that). A notebook joins only a Ray whose processes are its own user's: another user's Ray would run this
    learner's code as that user (and with token authentication, refuse it); a Ray of someone else's is joined only
    when named in ``RAY_ADDRESS``."""
    try:
        from ray._private import services

        from . import cluster

        for temp_dir in (cluster.private_temp_dir(), None):
            bootstrap = services.find_bootstrap_address(temp_dir)
            if bootstrap and bootstrap in _own_gcs_addresses():
                return bootstrap
    except Exception:  # private API: on any change, just start a local Ray
        return None
    return None


def _own_gcs_addresses() -> set:
    """GCS addresses that this user's Ray processes on this machine name (``--gcs-address=...``, as Ray's own
    ``services.find_gcs_addresses`` reads them from every process)."""
    import psutil

    found = set()
    for proc in psutil.process_iter(["cmdline", "uids"]):
        try:
            if proc.info["uids"] is None or proc.info["uids"].real != os.getuid():
                continue
            for arg in " ".join(proc.info["cmdline"] or []).split():  # setproctitle may join them (Ray's note)
                if arg.startswith("--gcs-address="):
                    found.add(arg.split("=", 1)[1])
        except psutil.Error:
            continue
    return found


def _serve_router_deadline() -> None:
    """Serve reads SERVE_QUEUE_DEADLINE_ENV when ``ray.serve`` is imported, and a notebook imports it before
    raycourse.init() sets the variable: a router class imported already gets the value here (private API; where
    Serve moves it, the variable still reaches every process started after init)."""
    module = sys.modules.get("ray.serve._private.request_router.request_router")
    router = getattr(module, "RequestRouter", None)
    value = os.environ.get(SERVE_QUEUE_DEADLINE_ENV)
    if router is not None and value and hasattr(router, "queue_len_response_deadline_s"):
        router.queue_len_response_deadline_s = max(router.queue_len_response_deadline_s, float(value))


def _start_ray(num_cpus: int | None, ray_address: str | None, *, hide_gpus: bool = False, metrics: bool = False):
    global _dashboard_url, _owns_ray
    from . import loopback, prometheus

    drop_worker_pool_warning()
    job_env = dict(HIDE_GPUS_ENV) if hide_gpus else {}
    kwargs = _ray_init_kwargs(num_cpus, ray_address, job_env, metrics=metrics)
    _serve_router_deadline()
    hidden = _raylet_sees_all_gpus() if hide_gpus and not ray_address else contextlib.nullcontext()
    if not ray_address or loopback.is_loopback(ray_address):
        loopback.keep_loopback()  # else Ray would look for this machine's Ray on its outward IP (loopback.py)
    metrics = not ray_address and kwargs.get("include_dashboard") is not False
    if metrics:
        prometheus.before_own_ray()
    with _quiet_fd2(), hidden:
        context = _ray_init(kwargs, num_cpus, ray_address)
    if metrics:  # a notebook's own Ray with its dashboard: Prometheus beside it (raycourse/session/prometheus.py)
        prometheus.after_own_ray(context)
    _owns_ray = not ray_address
    if hide_gpus:
        os.environ.update(CUDA_VISIBLE_DEVICES="")  # the notebook's own process too (module 00 loads models)
    url = getattr(context, "dashboard_url", None)
    _dashboard_url = (url if url.startswith("http") else f"http://{url}") if url else None


def _ray_init_kwargs(num_cpus: int | None, ray_address: str | None, job_env: dict, *, metrics: bool = False) -> dict:
    """The arguments of ``ray.init``: joining ``ray_address`` (the course's settings travel to a cluster's workers
    unless its Ray was started with them), else a local Ray of this user's own, on loopback."""
    from . import cluster, loopback

    # A learner sees what Ray prints on any cluster: its workers' output (a print() inside a UDF, a worker's
    # warning) and its own warnings in the driver. A test run is quiet: RAY_LOG_TO_DRIVER=0 and only Ray's errors.
    kwargs = dict(
        log_to_driver=log_to_driver(),
        logging_level=logging.ERROR if testing() else logging.WARNING,
        ignore_reinit_error=True,
    )
    if ray_address:
        kwargs["address"] = ray_address
        if os.environ.get(RAY_ENV_DIGEST):  # the course's own Ray on this machine: the small-machine
            for key, value in SMALL_MACHINE_ENV.items():  # settings that Ray Data reads in the driver too
                os.environ.setdefault(key, value)
        if job_env or os.environ.get(RAY_ENV_DIGEST) != env_digest():  # a cluster: the settings travel
            kwargs["runtime_env"] = {"env_vars": {**_propagated_env(), **job_env}}
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    else:
        for key, value in SMALL_MACHINE_ENV.items():
            os.environ.setdefault(key, value)
        kwargs["address"] = "local"  # never Ray's guess from a stale /tmp/ray/ray_current_cluster
        kwargs["_temp_dir"] = cluster.private_temp_dir()  # its session folders: this user's only (cluster.py)
        kwargs["_node_ip_address"] = loopback.LOOPBACK  # a notebook's own Ray listens on loopback only, as make lab's
        kwargs["num_cpus"] = num_cpus or max(MIN_LOCAL_CPUS, os.cpu_count() or 1)
        kwargs["num_gpus"] = local_gpus()
        # A test run has no one to look at it, unless the notebook reads the metrics (module 10). Else Ray's default
        # (None): the dashboard where ray[default] is installed; True would refuse to start without it.
        kwargs["include_dashboard"] = False if testing() and not metrics else None
        if job_env:
            kwargs["runtime_env"] = {"env_vars": job_env}
    return kwargs


def _ray_init(kwargs: dict, num_cpus: int | None, ray_address: str | None):
    """``ray.init(**kwargs)``; a failure that the learner can fix (a cluster's own resources, no cluster at the
    address, a machine too busy to start Ray) as a :class:`CourseError` that says how. A local Ray that gave up
    waiting for its own agents (a busy machine: :data:`raycourse.session.cluster.SLOW_START`) is started again."""
    import ray

    from .cluster import SLOW_START, SLOW_START_WHY, START_ATTEMPTS

    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return ray.init(**kwargs)
        except Exception as exc:
            if ray_address or SLOW_START not in str(exc) or attempt == START_ATTEMPTS:
                error = _init_error(exc, ray, num_cpus, ray_address)
                if error is exc:
                    raise
                raise error from exc
            ray.shutdown()  # what the try left running
            print(f"Ray gave up while starting: {SLOW_START_WHY}. Starting it again ...", flush=True)


def _init_error(exc: Exception, ray, num_cpus: int | None, ray_address: str | None) -> Exception:
    """What :func:`_ray_init` raises for ``exc``: a :class:`CourseError` that says what to do, or ``exc`` itself."""
    from .cluster import SLOW_START

    if isinstance(exc, ValueError) and ray_address and "num_cpus" in str(exc):
        return CourseError(
            f"The Ray cluster at {ray_address} was started with its own resources and rejects num_cpus={num_cpus}.",
            "Call raycourse.init() without num_cpus, or unset RAY_ADDRESS to start a local Ray.",
        )
    if isinstance(exc, ConnectionError):
        return CourseError(
            f"Could not connect to the Ray cluster at {ray_address}.",
            "Start the cluster (`make lab` or `ray start --head`), fix RAY_ADDRESS, or unset it "
            "to let raycourse start a local Ray. A cluster with token authentication needs its token here: "
            "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, or the token in ~/.ray/auth_token "
            "(`ray get-auth-token` on its head node prints it).",
        )
    if not isinstance(exc, ValueError):
        ray.shutdown()  # a half-started local Ray leaves processes behind otherwise
    if SLOW_START not in str(exc):
        return exc
    return CourseError(
        "Ray did not start in time: this machine is too busy (every notebook outside `make lab` runs its own Ray).",
        "Shut down the kernels of notebooks you are not using (Kernel > Shut Down Kernel), or start the course with "
        "`make lab` (one Ray for all notebooks), then run the cell again.",
    )


def _authenticate(address: str | None) -> None:
    """Token authentication (raycourse.session.auth): a Ray this notebook starts requires the user's token (made if
    there is none, as ``make lab`` does); a Ray of this machine that it joins gets the user's token where there is one
    (``make lab`` passes it to its kernels already). A cluster elsewhere gets what the caller set, as Ray does for
    an address it is given: the user's own token is not sent to someone else's cluster. What the caller set
    (``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``) stays."""
    from . import auth, loopback

    if not address:
        settings = auth.server_env()
    else:
        settings = auth.client_env() if loopback.is_loopback(address) else {}
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    auth.refresh_ray_config()


def _configure_data_context() -> None:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.default_hash_shuffle_parallelism = 4
    ctx.print_on_execution_start = False  # its message names a temporary log folder
    ctx.enable_progress_bars = not testing() and os.environ.get("RAY_DATA_DISABLE_PROGRESS_BARS", "0") in ("0", "")
    ctx.enable_operator_progress_bars = ctx.enable_progress_bars
    _ray_data_console_at(logging.WARNING)
    if ctx.enable_progress_bars and _in_notebook():
        from .progress import use_notebook_progress_bars

        use_notebook_progress_bars()


def _ray_data_console_at(level: int) -> None:
    """Show Ray Data's warnings in the cell (its deprecation notices, such as `concurrency=` on a transform), not
    its INFO lines about every execution; its log file keeps every level. Where RAY_DATA_LOG_LEVEL is set (a test
    run: ERROR), Ray applies it to the whole `ray.data` logger itself and this changes nothing."""
    if os.environ.get("RAY_DATA_LOG_LEVEL"):
        return
    for handler in logging.getLogger("ray.data").handlers:
        if handler.name == "console":
            handler.setLevel(level)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and ip.__class__.__name__ == "ZMQInteractiveShell"


def has_real_gpus(resources: dict) -> bool:
    """Whether a cluster's GPUs are hardware: Ray labels detected GPUs ``accelerator_type:<model>``.

    GPUs declared by hand (``ray start --num-gpus=2`` on a CPU machine, the tiny profile's
    logical ones) carry no such label.
    """
    return resources.get("GPU", 0) > 0 and any(k.startswith("accelerator_type:") for k in resources)


def local_gpus() -> int:
    """GPUs a local Ray declares: the machine's in the gpu profile, 2 logical ones for stand-ins."""
    return TINY_LOGICAL_GPUS if config.uses_standins() else config.gpu_count()


def hide_real_gpus() -> bool:
    """Whether stand-ins would otherwise run on this machine's real GPUs (see HIDE_GPUS_ENV)."""
    return config.uses_standins() and config.gpu_count() > 0


@contextlib.contextmanager
def _raylet_sees_all_gpus():
    """Start a local Ray with 2 logical GPUs even where CUDA_VISIBLE_DEVICES lists fewer (Ray would refuse)."""
    saved = os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved


def _dashboard_with_token() -> str | None:
    """The dashboard's address, and where its sign-in token is when Ray asks for one (raycourse.session.auth)."""
    from . import auth

    if not _dashboard_url or os.environ.get(auth.MODE_ENV, "").strip().lower() != "token" or not auth.has_token():
        return _dashboard_url
    return f"{_dashboard_url} (sign in with the token in {auth.where()})"


def _connect(num_cpus: int | None, metrics: bool = False) -> None:
    """Join ``RAY_ADDRESS`` or this machine's running Ray, else start a local one (see :func:`init`)."""
    import ray

    address = os.environ.get("RAY_ADDRESS") or find_running_ray()
    _authenticate(address)
    _start_ray(num_cpus, address, hide_gpus=hide_real_gpus(), metrics=metrics)
    if address and config.uses_standins() and not hide_real_gpus() and has_real_gpus(ray.cluster_resources()):
        ray.shutdown()  # a cluster's GPU workers behind a head without one: hide them from the stand-ins
        _start_ray(num_cpus, address, hide_gpus=True, metrics=metrics)


def _profile_for(profile: str, chosen: bool, resources: dict, gpus: float) -> str:
    """The session's profile: the default follows the cluster's GPUs; the ``gpu`` profile without a GPU is an
    error that says what to do."""
    if not chosen and profile == "tiny" and has_real_gpus(resources):
        # The default follows the cluster, not the driver: a head node without a GPU
        # in front of GPU workers still runs the real models.
        profile = "gpu"
        os.environ[config.PROFILE_ENV] = profile
    if profile == "gpu" and gpus == 0:
        raise CourseError(
            "The 'gpu' profile needs a GPU, but Ray sees none.",
            "Run on a GPU machine, or use the laptop profile: set RAYCOURSE_PROFILE=tiny "
            "(or unset it) and restart the kernel.",
        )
    return profile


def init(num_cpus: int | None = None, *, quiet: bool = False, metrics: bool = False) -> Session:
    """Connect to the session's Ray, or start one, with the course settings; print a summary.

    Where it connects, in order: ``RAY_ADDRESS`` (a cluster, or the Ray that ``make lab``
    started), else a Ray started with ``ray start`` on this machine, else it starts a
    local Ray for this notebook alone. ``num_cpus`` sets the logical CPUs of that local
    Ray (default: at least 8, so that no course pipeline waits for a CPU). Safe to call
    twice: the second call reuses the running Ray and prints the summary again. ``metrics``: the notebook reads
    Ray's metrics (module 10), so a test run's own Ray starts its dashboard and Prometheus too (else it has none).
    """
    global _session
    import ray

    from .. import data, models

    profile = config.profile()  # validates RAYCOURSE_PROFILE first
    chosen = bool(os.environ.get(config.PROFILE_ENV, "").strip())
    apply_environment()
    if not ray.is_initialized():
        _connect(num_cpus, metrics)
    _configure_data_context()
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    profile = _profile_for(profile, chosen, resources, gpus)
    notes = []
    if gpus == 0:
        notes.append(
            "Ray has no GPUs: stages with num_gpus= (modules 03 on) would wait forever. Start "
            "the cluster with GPUs (`ray start --head --num-gpus=2` gives logical ones)."
        )
    from . import prometheus, room

    notes += room.session_notes()  # a GPU budget where the room shares one cluster
    room.watch_cells()  # a GPU stage that waits says who holds the GPUs
    where, prometheus_at = ray.get_runtime_context().gcs_address, prometheus.prometheus_url()
    _session = Session(
        profile=profile,
        ray_version=ray.__version__,
        address=f"{where}, started by this notebook" if _owns_ray else f"{where}, shared",
        cpus=float(resources.get("CPU", 0)),
        gpus=gpus,
        models={role: models.describe(role) for role in config.MODEL_ROLES},
        data_root=str(data.data_root()),
        dashboard=_dashboard_with_token(),
        prometheus=prometheus_at,
        scrape_seconds=prometheus.scrape_seconds(prometheus_at) if prometheus_at else None,
        logical_gpus=config.uses_standins() or not has_real_gpus(resources),
        notes=notes,
    )
    if not quiet:
        print(_session)
    return _session
