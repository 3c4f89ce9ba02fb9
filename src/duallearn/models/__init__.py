"""Models: ``Model``, ``Sequential``; ``clone_model``, ``model_from_json``, ``load_model``."""

from ..saving import load_model as load_model  # keras.models.load_model's spelling
from ._cloning import clone_model as clone_model
from ._json import model_from_json as model_from_json
from ._model import Model as Model
from ._sequential import Sequential as Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json"]
