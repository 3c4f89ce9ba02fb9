"""Activation layers: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``Softmax`` (Keras 3's names,
arguments, defaults and formulas).

Each layer's formula is written once, in :meth:`apply`, against the ``dl.ops`` names of an
ops namespace: the backends run it with their native ops (``duallearn.plugin.FormulaLayer``),
so a layer is the same few native kernels on every engine; ``reference`` /
``reference_backward`` are independent numpy versions (the test oracle).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import initializers as _init
from ..activations import relu_formula
from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer
from ._weight_options import attach, constraint, options_config, regularizer


def _number(layer: str, name: str, value: object, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"{name} of a {layer} layer must be a number >= 0. Received: {name}={value!r}. "
            f"Fix: e.g. {name}=0.1."
        )
    if value < 0:
        raise ConfigError(
            f"{name} of a {layer} layer cannot be a negative value. Expected: a number >= 0. "
            f"Received: {name}={value}. Fix: pass {name}={abs(float(value))} or 0."
        )
    return float(value)


class _Elementwise(Layer):
    """An activation layer: same output shape, Keras masks passed through."""

    supports_masking = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        """The formula over ops namespace ``o`` (``dl.ops`` names) with the layer's
        weights, in its canonical layout."""
        raise NotImplementedError


@REGISTRY.register()
class ReLU(_Elementwise):
    """Rectified linear unit with Keras 3's options::

        y = max_value            if x >= max_value
        y = x                    if threshold <= x < max_value
        y = negative_slope · (x − threshold)   otherwise

    ``ReLU()`` is ``max(x, 0)``; ``ReLU(6.0)`` is ``relu6``; ``ReLU(negative_slope=a)`` is a
    leaky ReLU (as ``keras.layers.ReLU``; torch: ``nn.ReLU``/``nn.ReLU6``/``nn.LeakyReLU``,
    ``nn.Threshold`` differs: it replaces values ≤ threshold by a constant).
    """

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_value = _number("ReLU", "max_value", max_value, allow_none=True)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope)
        self.threshold = _number("ReLU", "threshold", threshold)

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        return relu_formula(o, x, self.negative_slope, self.max_value, self.threshold)  # type: ignore[arg-type]

    def _parts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        up = x > self.threshold  # type: ignore[operator]
        top = x if self.max_value is None else np.minimum(x, self.max_value)
        inside = up if self.max_value is None else up & (x < self.max_value)
        return np.where(up, top, 0.0), inside

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        y, _ = self._parts(x)
        return y - self.negative_slope * np.maximum(self.threshold - x, 0.0)  # type: ignore[operator]

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        _, inside = self._parts(x)
        below = x < self.threshold  # type: ignore[operator]
        return dy * (inside + self.negative_slope * below), []  # type: ignore[operator]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


@REGISTRY.register()
class LeakyReLU(_Elementwise):
    """``y = x if x > 0 else negative_slope · x``; default slope 0.3 (Keras's layer;
    ``keras.activations.leaky_relu`` and ``tf.nn.leaky_relu`` use 0.2, torch's
    ``nn.LeakyReLU`` 0.01). ``alpha=`` is Keras's deprecated spelling of the slope."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "Argument `alpha` is deprecated. Use `negative_slope` instead.",
                UserWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        return o.leaky_relu(x, self.negative_slope)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return np.where(x > 0, x, self.negative_slope * x)  # type: ignore[operator]

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy * np.where(x > 0, 1.0, self.negative_slope), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


@REGISTRY.register()
class ELU(_Elementwise):
    """``y = x if x > 0 else alpha · (exp(x) − 1)`` (``keras.layers.ELU``; torch ``nn.ELU``)."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
            raise ConfigError(
                f"alpha of an ELU layer must be a number. Received: alpha={alpha!r}. "
                "Fix: e.g. alpha=1.0."
            )
        self.alpha = float(alpha)

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        return o.elu(x, self.alpha)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0.0)))

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return dy * np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0.0))), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


@REGISTRY.register()
class PReLU(_Elementwise):
    """Parametric ReLU: ``y = max(x, 0) − alpha · max(−x, 0)`` with a learned ``alpha`` of
    shape ``input_shape[1:]``, size 1 along ``shared_axes`` (Keras 3's formula and layout;
    ``shared_axes=[1, 2]`` after a Conv2D gives one alpha per channel). Default initializer
    ``"zeros"`` (Keras's; torch's ``nn.PReLU`` starts at 0.25 and shares one alpha unless
    ``num_parameters`` is given)."""

    def __init__(
        self,
        alpha_initializer: object = "zeros",
        alpha_regularizer: object = None,
        alpha_constraint: object = None,
        shared_axes: int | list[int] | tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = _init.get(alpha_initializer)
        self.alpha_regularizer = regularizer(self, "alpha_regularizer", alpha_regularizer)
        self.alpha_constraint = constraint(self, "alpha_constraint", alpha_constraint)
        if shared_axes is None:
            self.shared_axes: list[int] | None = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def build(self, input_shape: Any) -> None:
        shape = list(input_shape[1:])
        rank = len(input_shape)
        for a in self.shared_axes or []:
            if not 1 <= a < rank:
                raise ConfigError(
                    f"Layer {self.name!r} (PReLU): shared_axes holds axes of the input "
                    f"counted from 1 (the batch axis 0 is always shared). Expected values in "
                    f"[1, {rank - 1}]. Received: shared_axes={self.shared_axes}. Fix: e.g. "
                    "shared_axes=[1, 2] for (batch, height, width, channels)."
                )
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ShapeError(
                f"Layer {self.name!r} (PReLU) needs every non-shared axis of its input known "
                f"to size alpha. Received input shape {tuple(input_shape)}. Fix: give Input a "
                "full shape, or list the unknown axes in shared_axes."
            )
        self.alpha = attach(
            self.add_weight(shape=tuple(shape), initializer=self.alpha_initializer, name="alpha"),
            self.alpha_regularizer,
            self.alpha_constraint,
        )

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        neg = o.multiply(o.negative(weights[0]), o.relu(o.negative(x)))
        return o.add(o.relu(x), neg)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return np.maximum(x, 0.0) - weights[0] * np.maximum(-x, 0.0)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        alpha = weights[0]
        dx = dy * np.where(x > 0, 1.0, alpha)
        full = -dy * np.maximum(-x, 0.0)
        axes = (0, *(i + 1 for i, d in enumerate(alpha.shape) if d == 1 and x.shape[i + 1] != 1))
        dalpha = full.sum(axis=axes, keepdims=True)[0]
        return dx, [dalpha.reshape(alpha.shape)]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "alpha_initializer": _init.serialize(self.alpha_initializer),
            **options_config(self, "alpha"),
            "shared_axes": self.shared_axes,
        }


def _large_negative(dtype: Any) -> float:
    """Keras's masked-softmax fill: −3e4 in float16, −1e9 otherwise."""
    return -3e4 if str(dtype).endswith("float16") else -1e9


@REGISTRY.register()
class Softmax(_Elementwise):
    """``y = exp(x − max) / Σ exp(x − max)`` along ``axis`` (an int, or a list of axes:
    ``exp(x − logsumexp(x, axis))``), as ``keras.layers.Softmax``.

    ``mask`` (Keras's call argument, broadcastable to ``x``; True or > 0.5 keeps): masked
    logits are set to −1e9 (−3e4 in float16) before the softmax, and masked outputs to 0
    after it. Pass it at the call, ``Softmax()(scores, mask=m)``, or let a Keras mask flow in
    from ``Embedding(mask_zero=True)``. torch: ``nn.Softmax(dim)`` (always give ``dim``).
    """

    def __init__(self, axis: int | list[int] | tuple[int, ...] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: int | list[int] = [int(a) for a in axis]
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            raise ConfigError(
                f"axis of a Softmax layer must be an int or a list of ints. Received: "
                f"axis={axis!r}. Fix: e.g. axis=-1."
            )

    def __call__(self, inputs: Any, *args: Any, mask: Any = None, **kwargs: Any) -> Any:
        if mask is not None:
            return super().__call__([inputs, mask], *args, **kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape: Any) -> None:
        if isinstance(input_shape, list):
            x_shape, m_shape = input_shape
            if len(m_shape) > len(x_shape) or any(
                m not in (None, 1) and i is not None and m != i
                for m, i in zip(m_shape[::-1], x_shape[::-1], strict=False)
            ):
                raise ShapeError(
                    f"Layer {self.name!r} (Softmax): the `mask` must be broadcastable to "
                    f"`inputs` and must not have more dimensions. Received: "
                    f"inputs.shape={tuple(x_shape)}, mask.shape={tuple(m_shape)}. Fix: give "
                    "the mask size 1 or the input's size on each axis (from the right)."
                )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0] if isinstance(input_shape, list) else input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None if isinstance(inputs, list) else mask

    def _axes(self) -> tuple[int, ...]:
        return tuple(self.axis) if isinstance(self.axis, list) else (self.axis,)

    def apply(self, o: Any, x: Any, *weights: Any, mask: Any = None) -> Any:
        if isinstance(x, (list, tuple)):
            x, mask = x
        keep = None
        if mask is not None:
            keep = mask if o.dtype(mask) == "bool" else o.greater(mask, 0.5)
            x = o.where(keep, x, o.full_like(x, _large_negative(o.dtype(x))))
        axes = self._axes()
        if len(axes) > 1:
            out = o.exp(o.subtract(x, o.logsumexp(x, axes, True)))
        else:
            out = o.softmax(x, axes[0])
        return out if keep is None else o.where(keep, out, o.zeros_like(out))

    def _keep(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(x, (list, tuple)):
            a, m = np.asarray(x[0]), np.asarray(x[1])
            return a, np.broadcast_to(m if m.dtype == bool else m > 0.5, a.shape)
        return np.asarray(x), None

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        a, keep = self._keep(x)
        if keep is not None:
            a = np.where(keep, a, _large_negative(a.dtype))
        ax = self._axes()
        e = np.exp(a - a.max(axis=ax, keepdims=True))
        s = e / e.sum(axis=ax, keepdims=True)
        return s if keep is None else np.where(keep, s, 0.0)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        a, keep = self._keep(x)
        ax = self._axes()
        s = self.reference(weights, a if keep is None else [a, keep], training)
        g = dy if keep is None else np.where(keep, dy, 0.0)
        dx = s * (g - (g * s).sum(axis=ax, keepdims=True))
        if keep is None:
            return dx, []
        return [np.where(keep, dx, 0.0), np.zeros(np.shape(x[1]))], []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
