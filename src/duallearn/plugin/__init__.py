"""Backend selection and the plugin contract (public: plugins import from here)."""

from ._base import Backend as Backend
from ._base import GraphSpec as GraphSpec
from ._base import Node as Node
from ._base import Runtime as Runtime
from ._base import StepNoise as StepNoise
from ._base import TrainSpec as TrainSpec
from ._base import bind_variable as bind_variable
from ._base import optimizer_for as optimizer_for
from ._registry import available_backends as available_backends
from ._registry import get_backend as get_backend
from ._registry import registered_backends as registered_backends
from ._select import backend_name as backend_name
from ._select import current_backend as current_backend
from ._select import selection as selection
from ._select import set_backend as set_backend
from ._select import use_backend as use_backend
from ._walk import GraphWalk as GraphWalk

__all__ = [
    "Backend",
    "GraphSpec",
    "GraphWalk",
    "Node",
    "Runtime",
    "StepNoise",
    "TrainSpec",
    "available_backends",
    "bind_variable",
    "backend_name",
    "current_backend",
    "get_backend",
    "optimizer_for",
    "registered_backends",
    "selection",
    "set_backend",
    "use_backend",
]
