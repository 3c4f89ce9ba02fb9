"""Callbacks (Keras's hooks and names)."""

from ._callback import Callback as Callback
from ._callback import CallbackList as CallbackList
from ._history import History as History

__all__ = ["Callback", "CallbackList", "History"]
