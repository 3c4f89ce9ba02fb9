"""Shape layers on TensorFlow (channels-last data, canonical order)."""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ._layers import TFLayer, implements


@implements("Flatten")
class TFFlatten(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return tf.reshape(x, [tf.shape(x)[0], -1])


@implements("Reshape")
class TFReshape(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        target = self.spec.resolved_shape
        if -1 not in target:
            return tf.reshape(x, [-1, *target])
        return tf.reshape(x, tf.concat([tf.shape(x)[:1], tf.constant(target, tf.int32)], 0))


@implements("Permute")
class TFPermute(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return tf.transpose(x, [0, *self.spec.dims])


@implements("RepeatVector")
class TFRepeatVector(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return tf.tile(tf.expand_dims(x, 1), [1, self.spec.n, 1])


@implements("ZeroPadding1D", "ZeroPadding2D")
class TFZeroPadding(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return tf.pad(x, [list(p) for p in self.spec.full_pads(x.shape.rank)])


@implements("Cropping1D", "Cropping2D")
class TFCropping(TFLayer):
    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        idx = [slice(None)] * x.shape.rank
        for a, (lo, hi) in zip(self.spec.spatial_axes, self.spec.crops, strict=True):
            idx[a] = slice(lo, (x.shape[a] if x.shape[a] is not None else tf.shape(x)[a]) - hi)
        return x[tuple(idx)]


@implements("UpSampling1D", "UpSampling2D")
class TFUpSampling(TFLayer):
    """Nearest: ``tf.repeat``. Bilinear: the interpolation matrices applied with ``einsum``
    in the input dtype (``tf.image.resize`` returns float32 for float64 input)."""

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        if getattr(self.spec, "interpolation", "nearest") == "bilinear":
            mh, mw = (tf.constant(m, x.dtype) for m in self.spec.matrices(x.shape))
            if self.spec.data_format == "channels_last":
                return tf.einsum("hH,wW,bHWc->bhwc", mh, mw, x)
            return tf.einsum("hH,wW,bcHW->bchw", mh, mw, x)
        for a, s in zip(self.spec.spatial_axes, self.spec.sizes, strict=True):
            if s != 1:
                x = tf.repeat(x, s, axis=a)
        return x
