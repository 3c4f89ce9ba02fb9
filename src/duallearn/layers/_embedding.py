"""``Embedding``: integer ids → rows of a (input_dim, output_dim) table (Keras 3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers as _init
from ..errors import ShapeError
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
    has no Keras equivalent. Out-of-range ids raise on both backends (CPU).
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
