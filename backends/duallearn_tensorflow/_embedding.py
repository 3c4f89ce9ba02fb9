"""Embedding on TensorFlow: ``tf.gather``; mask ``ids != 0`` with mask_zero."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


@implements("Embedding")
class TFEmbedding(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        ids = x if x.dtype in (tf.int32, tf.int64) else tf.cast(x, tf.int64)
        # the attribute (not dl_vars): mixed precision swaps it for its compute-dtype cast
        if not tf.executing_eagerly():
            return tf.gather(self.embeddings, ids)
        try:
            return tf.gather(self.embeddings, ids)
        except tf.errors.InvalidArgumentError:  # ids computed in the model, run eagerly
            self.spec.check_ids(ids.numpy(), " (computed inside the model)")
            raise

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return tf.not_equal(x, tf.zeros((), x.dtype)) if self.spec.mask_zero else None
