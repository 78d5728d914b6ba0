"""raycourse: the helper package of the "Ray Data AI Pipelines" course.

Typical first cell of a notebook::

    import raycourse
    raycourse.init()

Then ``raycourse.model_id(role)`` says what to load with ``from_pretrained``,
``raycourse.data_path(role)`` where to read data, ``raycourse.output_dir(name)``
where a notebook writes, and ``raycourse.show_images(...)`` draws an image grid.
``raycourse.gpu_budget()`` is the GPUs a learner may use (every GPU of the cluster unless
the instructor of a room sharing one sets ``RAYCOURSE_GPUS_PER_LEARNER``).
"""

import importlib
import importlib.util

#: What a notebook calls, and where it lives. Imported on first use (PEP 562), so that ``import raycourse.checks`` or
#: ``raycourse.world`` in a Ray worker does not import the session's start-up code.
_EXPORTS: dict[str, str] = {
    "CourseError": ".errors",
    "MODEL_ROLES": ".config",
    "PROFILES": ".config",
    "profile": ".config",
    "data_path": ".data",
    "data_root": ".data",
    "show_images": ".display",
    "stats_table": ".display",
    "load_metric": ".metrics",
    "ensure_standins": ".models",
    "model_id": ".models",
    "prefetch": ".models",
    "output_dir": ".outputs",
    "serve_port": ".session.cluster",
    "gpu_budget": ".session.room",
    "init": ".session.runtime",
    "prometheus_url": ".session.prometheus",
}

#: The package's parts, by concern (``raycourse.models.describe(role)`` works after ``import raycourse``).
SUBPACKAGES = ("session", "models", "world", "data", "checks", "grading", "authoring", "fullsize", "testing")


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif name in SUBPACKAGES or (not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}")):
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(SUBPACKAGES))


__version__ = "0.1.0"

__all__ = [
    "CourseError",
    "MODEL_ROLES",
    "PROFILES",
    "data_path",
    "data_root",
    "ensure_standins",
    "gpu_budget",
    "init",
    "load_metric",
    "model_id",
    "output_dir",
    "prefetch",
    "profile",
    "serve_port",
    "show_images",
    "stats_table",
]
