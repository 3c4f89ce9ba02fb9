"""``TimeDistributed``: one layer applied to every time step (Keras 3's wrapper)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, Weight


@REGISTRY.register()
class TimeDistributed(Layer):
    """Applies ``layer`` to every temporal slice of an input ``(batch, time, ...)``::

        y[:, t] = layer(x[:, t])   for every t

    The same ``layer`` (the same weights) serves every step; its weights are the
    wrapper's weights (Keras's order and names), so ``TimeDistributed(Dense(8))`` has a
    kernel ``(features, 8)`` and ``TimeDistributed(Conv2D(...))`` a conv kernel. Each backend
    runs the inner layer once on the steps merged into the batch, ``(batch·time, ...)``,
    which is what Keras's per-step loop computes for any layer whose samples are
    independent. A layer that mixes samples in training (``BatchNormalization``) is refused;
    a Keras mask ``(batch, time)`` passes through to the output, the inner layer does not
    receive it.

    torch has no equivalent module: ``x.flatten(0, 1)``, the layer, then ``unflatten``.
    """

    supports_masking = True

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        if isinstance(layer, dict):
            layer = REGISTRY.get(layer["class_name"]).from_config(layer["config"])
        if not isinstance(layer, Layer):
            raise ConfigError(
                "Please initialize `TimeDistributed` layer with a layer instance. Expected: a "
                f"dl.layers layer. Received: layer={layer!r}. Fix: e.g. "
                "TimeDistributed(dl.layers.Dense(8))."
            )
        if hasattr(layer, "uses_batch_statistics"):
            raise ConfigError(
                f"TimeDistributed cannot wrap {type(layer).__name__}: in training Keras "
                "normalizes each time step with its own batch statistics, which the merged "
                f"(batch·time) run does not reproduce. Received: layer={layer.name!r}. Fix: "
                f"apply {type(layer).__name__} to the (batch, time, ...) tensor directly "
                "(its axis=-1 statistics then cover every step)."
            )
        super().__init__(**kwargs)
        self.layer = layer
        if not self.trainable:
            layer.trainable = False

    # ---- weights are the inner layer's -----------------------------------------------------
    @property
    def weights(self) -> list[Weight]:
        return self.layer.weights

    @property
    def trainable_weights(self) -> list[Weight]:
        return self.layer.trainable_weights if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return self.layer.non_trainable_weights if self.trainable else self.layer.weights

    def count_params(self) -> int:
        return self.layer.count_params()

    # ---- shapes ------------------------------------------------------------------------------
    def _child_shape(self, input_shape: Any) -> tuple[Any, ...]:
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ShapeError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                f"dimensions (batch, time, ...). Received: {input_shape}. Fix: add a time "
                "axis, e.g. Input((steps, features))."
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Any) -> None:
        child = self._child_shape(input_shape)
        self.layer._ensure_built(child)
        if isinstance(self.layer.output_shape, list):
            raise ConfigError(
                f"TimeDistributed wraps a layer with one output. Received: "
                f"{type(self.layer).__name__} {self.layer.name!r} with "
                f"{len(self.layer.output_shape)} outputs. Fix: wrap a single-output layer."
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        out = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (out[0], input_shape[1], *out[1:])

    # ---- noise: the inner layer's, for the merged (batch·time) input -------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        return self.layer.noise_shape_for(_merged(input_shape))

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        return self.layer.draw_noise(rng, input_shape)

    # ---- numpy reference -------------------------------------------------------------------
    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        x = np.asarray(x)
        y = self.layer.reference(weights, x.reshape(_merged(x.shape)), training, noise)
        return np.asarray(y).reshape(*x.shape[:2], *np.shape(y)[1:])

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        x, dy = np.asarray(x), np.asarray(dy)
        y2 = None if y is None else np.asarray(y).reshape(_merged(np.shape(y)))
        dx, dws = self.layer.reference_backward(
            weights, x.reshape(_merged(x.shape)), y2, dy.reshape(_merged(dy.shape)), training, noise
        )
        return np.asarray(dx).reshape(x.shape), list(dws)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()},
        }


def _merged(shape: Any) -> tuple[int, ...]:
    return (int(shape[0]) * int(shape[1]), *shape[2:])
