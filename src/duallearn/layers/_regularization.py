"""Regularization layers: ``Dropout`` (with ``noise_shape``), ``SpatialDropout1D/2D`` and
``GaussianNoise``. Active in training only; identity in inference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer


def _noise_shape_arg(noise_shape: object) -> tuple[int | None, ...] | None:
    if noise_shape is None:
        return None
    if not isinstance(noise_shape, (tuple, list)) or not all(
        d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
        for d in noise_shape
    ):
        raise ConfigError(
            "Dropout: noise_shape must be a tuple of positive ints or None (None = the input's "
            f"size on that axis), batch axis included. Received: noise_shape={noise_shape!r}. "
            "Fix: e.g. noise_shape=(None, 1, None) to share the mask over axis 1."
        )
    return tuple(None if d is None else int(d) for d in noise_shape)


@REGISTRY.register()
class Dropout(Layer):
    """Inverted dropout, in training only: ``y = x · m`` with ``m = 1/(1-rate)`` kept with
    probability ``1 - rate`` and 0 otherwise. Identity in inference.

    ``noise_shape`` (Keras): the mask's shape in the canonical channels-last layout, batch
    axis included; a ``None`` entry takes the input's size, an entry of 1 shares the mask
    along that axis (broadcast), e.g. ``(None, 1, None)`` on (B, T, F) drops whole features
    for every time step.

    In deterministic mode (``dl.config.set_deterministic()``) the mask is drawn by the
    front-end (Philox keyed by seed, step and layer) so every backend applies the same mask;
    otherwise each backend uses its native RNG (same distribution, different draws).

    Differs from PyTorch: ``nn.Dropout`` has no ``noise_shape`` (``nn.Dropout1d/2d`` drop
    channels of channels-first data; here ``SpatialDropout1D/2D`` do it channels-last).
    """

    supports_masking = True

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ConfigError(
                f"{type(self).__name__} rate must be a number in [0, 1). Received: "
                f"rate={rate!r}. Fix: e.g. {type(self).__name__}(0.2)."
            )
        self.rate = float(rate)
        self.noise_shape = _noise_shape_arg(noise_shape)
        self.seed = seed

    def build(self, input_shape: Any) -> None:
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape):
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}): noise_shape "
                f"{self.noise_shape} must have one entry per input axis. Received input shape "
                f"{tuple(input_shape)}. Fix: e.g. noise_shape=(None, 1, None) for rank 3."
            )
        if self.noise_shape is not None:
            for d, n in zip(input_shape, self.noise_shape, strict=True):
                if n is not None and n != 1 and d is not None and n != d:
                    raise ShapeError(
                        f"Layer {self.name!r} ({type(self).__name__}): noise_shape "
                        f"{self.noise_shape} does not broadcast to input shape "
                        f"{tuple(input_shape)}. Fix: each entry must be None, 1 or the input's "
                        "size on that axis."
                    )

    def resolve_noise_shape(self, input_shape: Sequence[Any]) -> tuple[Any, ...]:
        """The mask's shape for an input of ``input_shape`` (None → input size). Entries of
        ``input_shape`` are passed through untouched, so backends may give symbolic sizes."""
        if self.noise_shape is None:
            return tuple(input_shape)
        return tuple(
            d if n is None else n for d, n in zip(input_shape, self.noise_shape, strict=True)
        )

    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        if self.rate == 0:
            return None
        return tuple(int(d) for d in self.resolve_noise_shape(input_shape))

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        keep = rng.random(input_shape) >= self.rate
        return keep / (1.0 - self.rate)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        if not training or noise is None:
            return x
        return x * noise.astype(x.dtype)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        if not training or noise is None:
            return dy, []
        m = noise.astype(dy.dtype)
        return dy * m, []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
            "seed": self.seed,
        }


class _SpatialDropout(Dropout):
    rank = 3

    def __init__(
        self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(rate, seed=seed, **kwargs)
        fmt = data_format or "channels_last"
        if fmt not in ("channels_last", "channels_first"):
            raise ConfigError(
                f"{type(self).__name__}: data_format must be 'channels_last' or "
                f"'channels_first'. Received: data_format={data_format!r}."
            )
        self.data_format = fmt

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != self.rank:
            want = "(batch, steps, channels)" if self.rank == 3 else "(batch, h, w, channels)"
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) expects a rank-{self.rank} input "
                f"{want}. Received input shape {tuple(input_shape)}."
            )

    def resolve_noise_shape(self, input_shape: Sequence[Any]) -> tuple[Any, ...]:
        b = input_shape[0]
        if self.data_format == "channels_first":
            return (b, input_shape[1]) + (1,) * (self.rank - 2)
        return (b,) + (1,) * (self.rank - 2) + (input_shape[-1],)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("noise_shape")
        return {**cfg, "data_format": self.data_format}


@REGISTRY.register()
class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole channels of (B, T, C) sequences: one mask of shape (B, 1, C) shared
    over the time axis, ``y = x · m``, ``m ∈ {0, 1/(1-rate)}``; training only.

    Differs from PyTorch: ``nn.Dropout1d`` takes channels-first (B, C, T) data.
    """

    rank = 3

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, **kwargs)


@REGISTRY.register()
class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps of (B, H, W, C) images: one mask of shape (B, 1, 1, C)
    (``data_format="channels_first"``: (B, C, 1, 1)), ``y = x · m``; training only.

    Differs from PyTorch: ``nn.Dropout2d`` takes channels-first (B, C, H, W) data.
    """

    rank = 4


@REGISTRY.register()
class GaussianNoise(Layer):
    """Additive zero-mean Gaussian noise, in training only: ``y = x + n``,
    ``n ~ N(0, stddev²)`` elementwise; identity in inference (Keras).

    In deterministic mode the front-end draws ``n`` (so both backends add the same values);
    otherwise each backend draws it natively. PyTorch has no such layer.
    """

    supports_masking = True

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or not 0 <= stddev <= 1:
            raise ConfigError(
                f"GaussianNoise stddev must be a number in [0, 1] (Keras). Received: "
                f"stddev={stddev!r}. Fix: e.g. GaussianNoise(0.1)."
            )
        self.stddev = float(stddev)
        self.seed = seed

    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        return tuple(input_shape) if self.stddev > 0 else None

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        return rng.normal(0.0, self.stddev, input_shape)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        if not training or noise is None:
            return x
        return x + noise.astype(x.dtype)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy, []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}
