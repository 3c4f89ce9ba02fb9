"""``Embedding``: integer ids → rows of a (input_dim, output_dim) table (Keras 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import initializers as _init
from ..errors import IndexRangeError, ShapeError
from ._layer import REGISTRY, Layer, positive_int
from ._normalization import keras_defaults_only
from ._weight_options import attach, constraint, options_config, regularizer


def _initializer(identifier: object) -> _init.Initializer:
    # Keras's "uniform" alias: RandomUniform(-0.05, 0.05).
    if identifier == "uniform":
        return _init.RandomUniform(-0.05, 0.05)
    return _init.get(identifier)


@REGISTRY.register()
class Embedding(Layer):
    """Looks up rows of ``embeddings``: ``y[..., :] = embeddings[ids[...], :]`` for integer
    ``ids`` of any shape (floats are truncated to int, as Keras casts them); output shape
    ``ids.shape + (output_dim,)``. The gradient reaches the looked-up rows only
    (``dE[i] = Σ_{ids == i} dy``); the ids have none.

    ``mask_zero=True``: id 0 is padding; the layer produces the Keras mask ``ids != 0``
    that the layers after it consume (RNNs, pooling, attention). ``input_dim`` must then
    count the padding id (vocabulary + 1).

    Weights (canonical = Keras = PyTorch): ``embeddings`` (input_dim, output_dim), initialized
    ``U(-0.05, 0.05)`` ("uniform"); ``embeddings_regularizer`` penalizes the whole table
    (every row, looked up or not, as Keras), ``embeddings_constraint`` projects it after each
    update.

    Differs from PyTorch (``nn.Embedding``): PyTorch initializes N(0, 1) and expresses padding
    by ``padding_idx`` (a zero, frozen row) instead of a mask; ``max_norm`` renormalization
    has no Keras equivalent.

    Ids must lie in ``[0, input_dim)`` (floats: after truncation). Out-of-range ids raise
    :class:`~duallearn.errors.IndexRangeError` naming the layer, ``input_dim`` and the id:
    for a model input feeding an Embedding, ``fit``/``evaluate``/``predict``/``model(x)``
    check the ids on the host before they reach the framework (once per call for arrays, once
    per batch for other data sources; :func:`check_model_ids`), so a GPU, where a lookup
    would not raise (TensorFlow) or would abort the process (CUDA), never sees them; ids
    computed inside a model are checked by the framework's own lookup, and its failure is
    reported as the same error (torch; eager TensorFlow; a compiled TensorFlow step on CPU,
    whose ``InvalidArgumentError`` is translated by the backend, the failed step having
    updated nothing). On a GPU, TensorFlow's lookup does not check computed ids (zeros).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: object = "uniform",
        mask_zero: bool = False,
        embeddings_regularizer: object = None,
        embeddings_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("input_length", None)  # Keras 2 argument, ignored by Keras 3
        keras_defaults_only(
            "Embedding",
            kwargs,
            {
                "weights": None,
                "lora_rank": None,
                "lora_alpha": None,
            },
        )
        super().__init__(**kwargs)
        self.embeddings_regularizer = regularizer(
            self, "embeddings_regularizer", embeddings_regularizer
        )
        self.embeddings_constraint = constraint(
            self, "embeddings_constraint", embeddings_constraint
        )
        self.input_dim = positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.mask_zero = bool(mask_zero)
        self.produces_mask = self.mask_zero

    def build(self, input_shape: Any) -> None:
        if len(input_shape) < 1:
            raise ShapeError(
                f"Layer {self.name!r} (Embedding) expects integer ids of shape (batch, ...). "
                f"Received input shape {tuple(input_shape)}."
            )
        attach(
            self.add_weight(
                "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer
            ),
            self.embeddings_regularizer,
            self.embeddings_constraint,
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape, self.output_dim)

    def check_ids(self, ids: Any, where: str = "") -> None:
        """Raise :class:`~duallearn.errors.IndexRangeError` unless every id (a numpy array;
        floats truncate toward zero, as the lookup casts them) is in ``[0, input_dim)``.

        The fast path is one vectorized reduction for integers (the max of the ids seen as
        unsigned, where a negative id is huge), min and max for floats; the offending
        position is searched for only when an id is out of range."""
        ids = np.asarray(ids)
        kind = ids.dtype.kind
        if ids.size == 0 or kind not in "biuf":
            return
        if kind in "biu":
            if ids.view(f"u{ids.dtype.itemsize}").max() < self.input_dim:
                return
        elif ids.min() > -1 and ids.max() < self.input_dim:  # NaN fails both
            return
        lo, hi = ids.min(), ids.max()
        with np.errstate(invalid="ignore"):
            bad = ~(((ids > -1) if kind == "f" else (ids >= 0)) & (ids < self.input_dim))
        pos = tuple(int(i) for i in np.argwhere(bad)[0])
        show = int if kind in "biu" else float
        raise IndexRangeError(
            f"Layer {self.name!r} (Embedding, input_dim={self.input_dim}) received id "
            f"{show(ids[pos])!r} at index {pos}{where}. Expected ids in [0, {self.input_dim}) "
            f"(integers 0..{self.input_dim - 1}); {int(bad.sum())} of {ids.size} ids are out "
            f"of range (smallest {show(lo)!r}, largest {show(hi)!r}). Fix: give the layer "
            "input_dim larger than the largest id (vocabulary size, plus 1 for padding id 0 with "
            f"mask_zero), or map unknown tokens to an out-of-vocabulary id below {self.input_dim}."
        )

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Numpy mask of the output: ``ids != 0`` with ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        ids = np.asarray(x).astype(np.int64)
        return np.asarray(weights[0])[ids]

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        ids = np.asarray(x).astype(np.int64)
        dw = np.zeros(np.asarray(weights[0]).shape, dtype=np.asarray(dy).dtype)
        np.add.at(dw, ids.reshape(-1), np.asarray(dy).reshape(-1, self.output_dim))
        return np.zeros(np.shape(x)), [dw] if self.trainable else []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _init.serialize(self.embeddings_initializer),
            "mask_zero": self.mask_zero,
            **options_config(self, "embeddings"),
        }


def _embeddings_fed_by(graph: Any, tensor: Any) -> list[Embedding]:
    """The Embedding layers that look up ``tensor`` (a graph input) directly, also inside a
    nested model it feeds."""
    found: list[Embedding] = []
    for node in getattr(graph, "nodes", []):
        for j, t in enumerate(node.inputs):
            if t is not tensor:
                continue
            inner = getattr(node.layer, "_graph", None)
            if isinstance(node.layer, Embedding):
                found.append(node.layer)
            elif inner is not None and j < len(getattr(inner, "inputs", [])):
                found.extend(_embeddings_fed_by(inner, inner.inputs[j]))
    return found


def embedding_feeds(graph: Any) -> list[tuple[int, list[Embedding]]]:
    """``(model input index, Embeddings it feeds)`` for every input of ``graph`` that feeds
    an Embedding; cached on the graph (a traced graph does not change)."""
    cached = getattr(graph, "_embedding_feeds", None)
    if cached is None:
        cached = [
            (i, layers)
            for i, t in enumerate(getattr(graph, "inputs", []))
            if (layers := _embeddings_fed_by(graph, t))
        ]
        try:
            graph._embedding_feeds = cached
        except AttributeError:  # a graph object that takes no attributes: recompute
            pass
    return cached  # type: ignore[no-any-return]


def check_model_ids(graph: Any, arrays: Sequence[np.ndarray], names: Sequence[str]) -> None:
    """Check the ids of every model input that feeds an Embedding (``Embedding.check_ids``):
    the front-end's host-side check, run where data enters a model."""
    for i, layers in embedding_feeds(graph):
        for layer in layers:
            layer.check_ids(arrays[i], f" of model input {names[i]!r}")
