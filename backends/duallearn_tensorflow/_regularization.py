"""Dropout, SpatialDropout1D/2D and GaussianNoise on TensorFlow: the front-end's mask/noise in
deterministic mode, the runtime's stateless keys (``_rng``) otherwise."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from . import _rng
from ._layers import TFLayer, implements


@implements("Dropout", "SpatialDropout1D", "SpatialDropout2D")
class TFDropout(TFLayer):
    """``x · m``; the native mask has the layer's (broadcast) noise shape."""

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        rate = self.spec.rate
        if not training or rate == 0:
            return x
        if noise is not None:
            return x * tf.cast(noise, x.dtype)
        spec = self.spec
        if spec.noise_shape is None and type(spec).__name__ == "Dropout":
            return _rng.dropout(self, x, rate)
        dyn = tf.shape(x)
        static = x.shape
        sym = [dyn[i] if static[i] is None else int(static[i]) for i in range(static.rank)]
        shape = spec.resolve_noise_shape(sym)  # symbolic sizes pass through
        return _rng.dropout(self, x, rate, tf.stack(shape))


@implements("GaussianNoise")
class TFGaussianNoise(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        if not training or self.spec.stddev == 0:
            return x
        if noise is not None:
            return x + tf.cast(noise, x.dtype)
        return x + _rng.normal(self, tf.shape(x), x.dtype, self.spec.stddev)
