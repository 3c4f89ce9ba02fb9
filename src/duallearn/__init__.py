"""duallearn: one Keras-style API, two engines (PyTorch and TensorFlow), parity proven.

``import duallearn`` imports neither torch nor tensorflow; the selected framework is imported
the first time a model runs.
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import activations as activations
from . import callbacks as callbacks
from . import config as config
from . import data as data
from . import errors as errors
from . import initializers as initializers
from . import layers as layers
from . import losses as losses
from . import metrics as metrics
from . import mixed_precision as mixed_precision
from . import ops as ops
from . import optimizers as optimizers
from . import random as random
from . import saving as saving
from ._seed import set_random_seed as set_random_seed
from .errors import DuallearnError as DuallearnError
from .layers import Input as Input
from .models import Model as Model
from .models import Sequential as Sequential
from .plugin import available_backends as available_backends
from .plugin import backend_name as backend
from .plugin import set_backend as set_backend
from .plugin import use_backend as use_backend
from .saving import load_model as load_model

__all__ = [
    "DuallearnError",
    "Input",
    "Model",
    "Sequential",
    "__version__",
    "activations",
    "available_backends",
    "backend",
    "callbacks",
    "config",
    "data",
    "errors",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "mixed_precision",
    "ops",
    "optimizers",
    "random",
    "saving",
    "set_backend",
    "set_random_seed",
    "use_backend",
]
