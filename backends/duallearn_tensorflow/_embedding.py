"""Embedding on TensorFlow: ``tf.gather``; mask ``ids != 0`` with mask_zero."""

from __future__ import annotations

import re
import weakref
from typing import Any

import tensorflow as tf

from duallearn.errors import IndexRangeError

from ._layers import TFLayer, implements

# the lookups of traced steps, by the name scope their gather runs under
_LOOKUPS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_SCOPE = re.compile(r"dl_embedding_(\d+)")
_BAD = re.compile(r"indices\[([\d,\s]*)\] = (-?\d+) is not in \[0, (\d+)\)")


def lookup_error(exc: BaseException) -> IndexRangeError | None:
    """The :class:`~duallearn.errors.IndexRangeError` for TensorFlow's ``InvalidArgumentError``
    of an out-of-range id in a traced step's Embedding lookup (ids computed inside the model:
    model inputs are checked on the host), naming the layer, ``input_dim``, the id and its
    position; None for any other error. The failed step changed nothing: the lookup precedes
    every update."""
    msg = str(exc)
    scope, bad = _SCOPE.search(msg), _BAD.search(msg)
    spec = _LOOKUPS.get(int(scope.group(1))) if scope else None
    if spec is None or bad is None:
        return None
    pos = tuple(int(i) for i in bad.group(1).replace(" ", "").split(",") if i)
    dim = spec.input_dim
    return IndexRangeError(
        f"Layer {spec.name!r} (Embedding, input_dim={dim}) received id {bad.group(2)} at "
        f"index {pos} (computed inside the model, in a compiled TensorFlow step). Expected "
        f"ids in [0, {dim}) (integers 0..{dim - 1}). Fix: give the layer input_dim larger "
        "than the largest id the model computes, or clip the computed ids. The step "
        "changed nothing (the lookup precedes every update)."
    )


class Placed:
    """Where a runtime's native calls run (``tf.device(scope)``, or as they are), with
    :func:`lookup_error`'s translation: a plain context manager, cheap per batch."""

    __slots__ = ("_device",)

    def __init__(self, scope: str | None) -> None:
        self._device = None if scope is None else tf.device(scope)

    def __enter__(self) -> None:
        if self._device is not None:
            self._device.__enter__()

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if self._device is not None:
            self._device.__exit__(kind, exc, tb)
        if kind is not None and issubclass(kind, tf.errors.InvalidArgumentError):
            err = lookup_error(exc)
            if err is not None:
                raise err from None
        return False


@implements("Embedding")
class TFEmbedding(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        ids = x if x.dtype in (tf.int32, tf.int64) else tf.cast(x, tf.int64)
        # the attribute (not dl_vars): mixed precision swaps it for its compute-dtype cast
        if not tf.executing_eagerly():  # a traced step: errors named by Placed
            _LOOKUPS[id(self.spec)] = self.spec
            with tf.name_scope(f"dl_embedding_{id(self.spec)}"):
                return tf.gather(self.embeddings, ids)
        try:
            return tf.gather(self.embeddings, ids)
        except tf.errors.InvalidArgumentError:  # ids computed in the model, run eagerly
            self.spec.check_ids(ids.numpy(), " (computed inside the model)")
            raise

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return tf.not_equal(x, tf.zeros((), x.dtype)) if self.spec.mask_zero else None
