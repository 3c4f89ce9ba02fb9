"""BatchNormalization, LayerNormalization and GroupNormalization on TensorFlow
(``tf.nn.moments`` + ``tf.nn.batch_normalization``; moving statistics assigned in the step)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


class _Named(TFLayer):
    def _get(self, name: str) -> Any:
        """The weight read through its attribute (the runtime may swap a trainable weight for
        its cast to the compute dtype there, for mixed precision); None when absent."""
        if not any(w.name == name for w in self.spec.weights):
            return None
        return getattr(self, name)

    def _bcast(self, v: Any, shape: list[int], dtype: Any) -> tf.Tensor | None:
        return None if v is None else tf.cast(tf.reshape(v, shape), dtype)


@implements("BatchNormalization")
class TFBatchNormalization(_Named):
    """Batch moments (biased) when training and trainable, moving ones otherwise; the moving
    statistics are assigned inside the (traced) step with Keras's momentum."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axis = layer.channel_axis
        self.rank = len(layer.input_shape)
        self.bshape = [1] * self.rank
        self.bshape[self.axis] = int(layer.input_shape[self.axis])
        self.red = [i for i in range(self.rank) if i != self.axis]

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec = self.spec
        gamma = self._bcast(self._get("gamma"), self.bshape, x.dtype)
        beta = self._bcast(self._get("beta"), self.bshape, x.dtype)
        mm, mv = self._get("moving_mean"), self._get("moving_variance")
        assert mm is not None and mv is not None
        if spec.uses_batch_statistics(training):
            if mask is not None:  # Keras's masked moments
                w = tf.broadcast_to(tf.cast(tf.expand_dims(mask, -1), x.dtype), tf.shape(x))
                count = tf.reduce_sum(w, axis=self.red, keepdims=True)
                denom = count + tf.constant(spec.MASK_EPSILON, x.dtype)
                mean = tf.reduce_sum(w * x, axis=self.red, keepdims=True) / denom
                d = x - mean
                var = tf.reduce_sum(w * d * d, axis=self.red, keepdims=True) / denom
                n = tf.reshape(count, [-1])
            else:
                mean, var = tf.nn.moments(x, axes=self.red, keepdims=True)
                n = tf.cast(tf.size(x) // tf.shape(x)[self.axis], x.dtype)
            bv = tf.stop_gradient(tf.reshape(var, [-1]))
            if spec.unbiased_moving_variance:
                one = tf.constant(1.0, x.dtype)
                bv = bv * n / tf.maximum(n - one, one)
            # the statistics keep the variables' dtype (float32 under mixed precision)
            bm = tf.cast(tf.stop_gradient(tf.reshape(mean, [-1])), mm.dtype)
            bv = tf.cast(bv, mv.dtype)
            m = tf.constant(spec.momentum, mm.dtype)
            one_m = tf.constant(1.0 - spec.momentum, mm.dtype)
            mm.assign(mm * m + bm * one_m)
            mv.assign(mv * m + bv * one_m)
        else:
            mean = tf.cast(tf.reshape(mm, self.bshape), x.dtype)
            var = tf.cast(tf.reshape(mv, self.bshape), x.dtype)
        return tf.nn.batch_normalization(
            x, mean, var, beta, gamma, tf.constant(spec.epsilon, x.dtype)
        )


@implements("LayerNormalization")
class TFLayerNormalization(_Named):
    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axes = list(layer.axes)
        rank = len(layer.input_shape)
        self.bshape = layer.param_broadcast_shape(rank, [d or 1 for d in layer.input_shape])

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        mean, var = tf.nn.moments(x, axes=self.axes, keepdims=True)
        return tf.nn.batch_normalization(
            x,
            mean,
            var,
            self._bcast(self._get("beta"), self.bshape, x.dtype),
            self._bcast(self._get("gamma"), self.bshape, x.dtype),
            tf.constant(self.spec.epsilon, x.dtype),
        )


@implements("GroupNormalization")
class TFGroupNormalization(_Named):
    """Reshape to (B, ..., G, C/G, ...), moments per sample and group, reshape back."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axis = a = layer.channel_axis
        self.groups = layer.num_groups
        rank = len(layer.input_shape)
        c = int(layer.input_shape[a])
        self.red = [i for i in range(1, rank + 1) if i != a]
        self.bshape = [1] * rank
        self.bshape[a] = c

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        a, g = self.axis, self.groups
        dyn = tf.shape(x)
        dims = [dyn[i] if d is None else int(d) for i, d in enumerate(x.shape)]
        c = int(x.shape[a])
        xg = tf.reshape(x, tf.stack([*dims[:a], g, c // g, *dims[a + 1 :]]))
        mean, var = tf.nn.moments(xg, axes=self.red, keepdims=True)
        xhat = (xg - mean) * tf.math.rsqrt(var + tf.constant(self.spec.epsilon, x.dtype))
        y = tf.reshape(xhat, dyn)
        gamma = self._bcast(self._get("gamma"), self.bshape, x.dtype)
        beta = self._bcast(self._get("beta"), self.bshape, x.dtype)
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y


@implements("UnitNormalization")
class TFUnitNormalization(TFLayer):
    """``x · rsqrt(max(Σ_A x², ε²))`` = ``x · min(rsqrt(Σ_A x²), 1/ε)`` (Keras's
    ``ops.normalize``), clamped before the rsqrt as the torch engine: the gradient at an
    all-zero vector is 1/ε per entry."""

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        s = tf.reduce_sum(tf.square(x), axis=list(self.spec.axes), keepdims=True)
        return x * tf.math.rsqrt(tf.maximum(s, tf.constant(self.spec.epsilon**2, x.dtype)))
