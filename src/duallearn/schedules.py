"""Learning-rate schedules (moved to :mod:`duallearn.optimizers.schedules`, Keras's path)."""

from .optimizers.schedules import *  # noqa: F403
from .optimizers.schedules import REGISTRY as REGISTRY
from .optimizers.schedules import __all__ as __all__
