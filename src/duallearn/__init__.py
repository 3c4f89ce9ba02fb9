"""duallearn: one Keras-style API, two engines (PyTorch and TensorFlow), parity proven.

``import duallearn`` imports neither torch nor tensorflow; the selected framework is imported
the first time a model runs. Submodules and top-level names load on first access (PEP 562), so
the import itself costs almost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBMODULES = frozenset({
    "activations", "applications", "callbacks", "config", "constraints", "data", "datasets",
    "distribution", "errors", "initializers",
    "layers", "losses", "metrics", "mixed_precision", "ops", "optimizers", "preprocessing",
    "porting", "random", "regularizers", "saving", "utils",
    # reachable as attributes too, though not in __all__
    "models", "plugin", "schedules", "export", "testing",
})  # fmt: skip
_NAMES = {
    "set_random_seed": ("._seed", "set_random_seed"),
    "DuallearnError": (".errors", "DuallearnError"),
    "GradientTape": ("._tape", "GradientTape"),
    "Variable": (".variables", "Variable"),
    "Input": (".layers", "Input"),
    "Model": (".models", "Model"),
    "Sequential": (".models", "Sequential"),
    "available_backends": (".plugin", "available_backends"),
    "backend": ("._backend_api", "backend"),
    "set_backend": (".plugin", "set_backend"),
    "use_backend": (".plugin", "use_backend"),
    "load_model": (".saving", "load_model"),
    "from_torch": (".porting", "from_torch"),
    "from_keras": (".porting", "from_keras"),
}

if TYPE_CHECKING:  # what static tools see; at run time names load lazily below
    from . import activations as activations
    from . import applications as applications
    from . import callbacks as callbacks
    from . import config as config
    from . import constraints as constraints
    from . import data as data
    from . import datasets as datasets
    from . import distribution as distribution
    from . import errors as errors
    from . import initializers as initializers
    from . import layers as layers
    from . import losses as losses
    from . import metrics as metrics
    from . import mixed_precision as mixed_precision
    from . import ops as ops
    from . import optimizers as optimizers
    from . import porting as porting
    from . import random as random
    from . import regularizers as regularizers
    from . import saving as saving
    from ._backend_api import backend as backend
    from ._seed import set_random_seed as set_random_seed
    from ._tape import GradientTape as GradientTape
    from .errors import DuallearnError as DuallearnError
    from .layers import Input as Input
    from .models import Model as Model
    from .models import Sequential as Sequential
    from .plugin import available_backends as available_backends
    from .plugin import set_backend as set_backend
    from .plugin import use_backend as use_backend
    from .porting import from_keras as from_keras
    from .porting import from_torch as from_torch
    from .saving import load_model as load_model
    from .variables import Variable as Variable


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value: Any = importlib.import_module(f".{name}", __name__)
    elif name in _NAMES:
        module, attr = _NAMES[name]
        value = getattr(importlib.import_module(module, __name__), attr)
    else:
        raise AttributeError(f"module 'duallearn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "DuallearnError",
    "GradientTape",
    "Input",
    "Model",
    "Sequential",
    "__version__",
    "activations",
    "applications",
    "available_backends",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "data",
    "datasets",
    "distribution",
    "errors",
    "from_keras",
    "from_torch",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "mixed_precision",
    "ops",
    "optimizers",
    "porting",
    "preprocessing",
    "random",
    "regularizers",
    "saving",
    "set_backend",
    "set_random_seed",
    "use_backend",
    "utils",
    "Variable",
]
