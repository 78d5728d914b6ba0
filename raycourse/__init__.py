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

from .config import MODEL_ROLES, PROFILES, profile
from .data import data_path, data_root
from .display import show_images, stats_table
from .errors import CourseError
from .metrics import load_metric
from .models import ensure_standins, model_id, prefetch
from .outputs import output_dir
from .cluster import serve_port
from .room import gpu_budget
from .runtime import init

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
