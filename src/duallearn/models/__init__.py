"""Models: ``Model`` (functional) and ``Sequential``."""

from ._model import Model as Model
from ._sequential import Sequential as Sequential

__all__ = ["Model", "Sequential"]
