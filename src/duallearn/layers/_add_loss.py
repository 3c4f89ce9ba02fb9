"""``Layer.add_loss`` and ``Layer.losses`` bookkeeping (Keras 3 semantics).

During one forward of a model (a train or test step, an eager call), the runtime's graph walk
opens a *collection* (:func:`begin` / :func:`end`): ``self.add_loss(x)`` in a custom layer's
``call`` and each ``activity_regularizer`` penalty record ``(layer, native scalar)`` into it,
and the runtime adds them to the step's loss, natively, so gradients flow. A nested model or a
sublayer joins the collection of the forward that runs it.

After the forward, the collected values are *published* on the layers the forward reached
(:func:`publish`): ``layer.losses`` then holds the values of the layer's last call, as in
Keras 3 (Keras clears every reached layer's losses when a call starts). Weight regularization
penalties are recomputed when ``losses`` is read, on the weights' current values.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BackendError

Entry = tuple[Any, Any, Any]  # (layer, value, the dl.ops implementation that computed it)

_COLLECTOR: contextvars.ContextVar[list[Entry] | None] = contextvars.ContextVar(
    "duallearn_added_losses", default=None
)
_UNAVAILABLE = "unavailable"  # the last call ran in a compiled (traced) function


def begin() -> contextvars.Token[list[Entry] | None] | None:
    """Open a collection for one forward (None: one is open already, the caller joins it)."""
    if _COLLECTOR.get() is not None:
        return None
    return _COLLECTOR.set([])


def end(token: contextvars.Token[list[Entry] | None]) -> list[Entry]:
    """Close the collection opened by :func:`begin`; its entries in the order recorded."""
    out = _COLLECTOR.get() or []
    _COLLECTOR.reset(token)
    return out


def collecting() -> bool:
    return _COLLECTOR.get() is not None


def record(layer: Any, value: Any) -> bool:
    """Record ``value`` (a native scalar) as a loss added by ``layer`` in the open collection;
    False when none is open."""
    entries = _COLLECTOR.get()
    if entries is None:
        return False
    from ..ops import _dispatch

    entries.append((layer, value, _dispatch._impl.get()))
    return True


def add(layer: Any, loss: Any) -> None:
    """``layer.add_loss(loss)``: ``loss`` (a scalar tensor, or a list of them; a non-scalar
    is summed when the loss is assembled) joins the open collection. Outside any call it is
    kept on the layer until its next call (Keras's eager ``add_loss``); inside a numpy probe
    (shape inference) it is dropped."""
    from ..ops import _dispatch

    for value in loss if isinstance(loss, (list, tuple)) else [loss]:
        if record(layer, value):
            continue
        if _dispatch.in_native_call():
            continue  # a probe run (output-shape inference): no loss is being assembled
        own = layer.__dict__.get("_call_losses")
        own = list(own) if isinstance(own, list) else []
        layer._call_losses = [*own, (value, None)]


def flatten_layers(layers: Sequence[Any]) -> list[Any]:
    """``layers`` and, depth first, every layer they contain (nested models' layers, custom
    layers' tracked sublayers), each once."""
    out: list[Any] = []
    seen: set[int] = set()
    stack = list(reversed(layers))
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        subs = layer._sublayers() if hasattr(layer, "_sublayers") else []
        stack.extend(reversed(subs))
    return out


def _concrete(value: Any) -> bool:
    """Whether ``value`` holds a number now (not a graph tensor of a function being traced)."""
    return isinstance(value, (np.ndarray, np.generic, float, int)) or hasattr(value, "numpy")


def publish(layers: Sequence[Any], entries: Sequence[Entry]) -> None:
    """Set each of ``layers``' losses of its last call from ``entries`` (empty for a layer
    that added none). Values from a traced function (TensorFlow's compiled predict or train
    step) have no number: the layers that added them are marked so that reading ``losses``
    says so instead of returning stale values."""
    concrete = all(_concrete(v) for _, v, _ in entries)
    mine: dict[int, list[tuple[Any, Any]]] = {}
    for layer, value, impl in entries:
        mine.setdefault(id(layer), []).append((value, impl))
    for layer in layers:
        new: Any = mine.get(id(layer), [])
        if new and not concrete:
            new = _UNAVAILABLE
        if new or layer.__dict__.get("_call_losses"):
            layer._call_losses = new


def _as_numpy(value: Any, impl: Any) -> np.ndarray:
    if isinstance(value, (np.ndarray, np.generic, float, int)):
        return np.asarray(value)
    if impl is not None:
        return np.asarray(impl.convert_to_numpy(value))
    from .. import ops

    return np.asarray(ops.convert_to_numpy(value))


def call_losses(layer: Any) -> list[np.ndarray]:
    """The losses ``layer`` and its sublayers added in their last call, as numpy."""
    out: list[np.ndarray] = []
    for sub in flatten_layers([layer]):
        own = sub.__dict__.get("_call_losses")
        if own == _UNAVAILABLE:
            raise BackendError(
                f"Layer {sub.name!r} ({type(sub).__name__}) last ran inside a compiled "
                "TensorFlow function (predict, fit or evaluate), so the losses it added "
                "(add_loss, activity_regularizer) have no value to read. Expected: an eager "
                "last call. Fix: read losses after an eager call, layer(x) on arrays or "
                "model(x, training=True) (on tensorflow, model(x) runs the compiled predict), "
                "or use the torch backend, where every call is eager."
            )
        for value, impl in own or []:
            out.append(_as_numpy(value, impl))
    return out


def regularization_losses(layer: Any) -> list[np.ndarray]:
    """``regularizer(w)`` of each of ``layer.trainable_weights`` that has one, on its current
    value (computed with the numpy reference ops, in the weight's dtype)."""
    from ..ops import numpy_mode

    out: list[np.ndarray] = []
    for w in layer.trainable_weights:
        if w.regularizer is None:
            continue
        with numpy_mode():
            value = w.regularizer(w.numpy())
        out.append(np.asarray(value, dtype=w.dtype))
    return out
