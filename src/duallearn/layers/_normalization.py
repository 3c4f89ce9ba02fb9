"""Normalization layers: ``BatchNormalization``, ``LayerNormalization``,
``GroupNormalization`` (Keras 3 names, arguments, defaults and weight layout)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import initializers as _init
from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY, Layer, positive_int
from ._weight_options import attach, constraint, options_config, regularizer


def _number(layer: str, name: str, value: object, lo: float, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise ConfigError(f"{layer}: {name} must be a number. Received: {name}={value!r}.")
    v = float(value)
    if v < lo or (hi is not None and v > hi) or not math.isfinite(v):
        rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ConfigError(f"{layer}: {name} must be in {rng}. Received: {name}={value!r}.")
    return v


def keras_defaults_only(layer: str, kwargs: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Accept (and drop) Keras arguments duallearn does not implement when they have their
    default value; any other value is a ConfigError naming the argument."""
    for key, default in defaults.items():
        if key in kwargs:
            value = kwargs.pop(key)
            if value != default:
                raise ConfigError(
                    f"{layer}: {key}={value!r} is not supported by duallearn (only the Keras "
                    f"default {default!r}). Fix: remove the argument."
                )


# Keras's per-weight options of the affine weights (dl.regularizers, dl.constraints)
_OPTIONS = ("beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint")


def _pop_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.pop(k, None) for k in _OPTIONS}


def _axis_arg(layer: str, axis: object) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ConfigError(
            f"{layer}: axis must be an integer. Received: axis={axis!r}. Fix: e.g. axis=-1."
        )
    return int(axis)


def _resolve_axis(layer: Layer, axis: int, input_shape: Any, min_rank: int = 2) -> int:
    rank = len(input_shape)
    if rank < min_rank:
        raise ShapeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects an input of rank >= "
            f"{min_rank}. Received input shape {tuple(input_shape)}. Fix: add a batch/feature "
            "dimension (e.g. Reshape)."
        )
    if not -rank <= axis < rank:
        raise ShapeError(
            f"Layer {layer.name!r} ({type(layer).__name__}): axis {axis} is out of bounds for "
            f"input shape {tuple(input_shape)} (rank {rank}). Fix: pass an axis in "
            f"[{-rank}, {rank - 1}]."
        )
    a = axis % rank
    if a == 0:
        raise ShapeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot normalize over the batch "
            f"axis 0. Received axis={axis} for input shape {tuple(input_shape)}. Fix: e.g. "
            "axis=-1 (channels-last features)."
        )
    if input_shape[a] is None:
        raise ShapeError(
            f"Layer {layer.name!r} ({type(layer).__name__}) needs a known size on axis {axis}. "
            f"Received input shape {tuple(input_shape)}. Fix: give Input a full shape."
        )
    return a


def _normalize_moments_backward(
    dxhat: np.ndarray, xhat: np.ndarray, inv: np.ndarray, axes: tuple[int, ...]
) -> np.ndarray:
    """VJP of ``xhat = (x - mean(x)) * inv`` with ``inv = 1/sqrt(var(x) + eps)`` (biased
    variance), both statistics over ``axes`` of ``x``."""
    m1 = dxhat.mean(axis=axes, keepdims=True)
    m2 = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv * (dxhat - m1 - xhat * m2)


class _Affine:
    """Mixin: unpack gamma/beta/moving weights by name from a reference weight list."""

    def _named(self, weights: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        return {w.name: np.asarray(v) for w, v in zip(self.weights, weights, strict=True)}  # type: ignore[attr-defined]


@REGISTRY.register()
class BatchNormalization(_Affine, Layer):
    """Batch normalization over every axis but ``axis`` (Keras 3 meaning and defaults).

    Formula, with ``R`` every axis except ``axis`` and ``N`` the number of reduced elements::

        training (and trainable):  μ = mean_R(x),  σ² = mean_R((x − μ)²)   (biased)
                                   moving_mean ← m·moving_mean + (1 − m)·μ
                                   moving_var  ← m·moving_var  + (1 − m)·v,
                                   v = σ² (default) or σ²·N/(N − 1) if unbiased_moving_variance
        inference (or trainable=False):  μ = moving_mean, σ² = moving_var
        y = γ · (x − μ) / sqrt(σ² + ε) + β

    Weights (canonical = Keras): ``gamma`` (C,) if ``scale``, ``beta`` (C,) if ``center``
    (trainable), then ``moving_mean`` and ``moving_variance`` (C,) (non-trainable), with
    ``C = input_shape[axis]``.

    Differs from PyTorch (``nn.BatchNorm*d``): ``momentum`` is Keras's (weight of the *old*
    value, default 0.99; PyTorch's 0.1 is ``1 − momentum`` here), ``epsilon`` 1e-3 (PyTorch
    1e-5), and the moving variance is the biased batch variance; pass
    ``unbiased_moving_variance=True`` for PyTorch's ``running_var`` (normalization in training
    still uses the biased variance, as both frameworks do). As Keras, a non-trainable layer
    always uses its moving statistics (PyTorch only looks at ``module.training``).

    Masks (Keras): a mask of rank ``input rank - 1`` (e.g. from ``Embedding(mask_zero=True)``)
    weights the batch moments in training, ``w = mask[..., None]``,
    ``μ = Σ w·x / (Σ w + 1e-7)``, ``σ² = Σ w·(x − μ)² / (Σ w + 1e-7)`` (the moving statistics
    too), and is passed on unchanged. The numpy oracle covers the masked forward
    (``reference_masked``); masked gradients are checked across backends.
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: object = "zeros",
        gamma_initializer: object = "ones",
        moving_mean_initializer: object = "zeros",
        moving_variance_initializer: object = "ones",
        unbiased_moving_variance: bool = False,
        **kwargs: Any,
    ) -> None:
        options = _pop_options(kwargs)
        keras_defaults_only(
            "BatchNormalization",
            kwargs,
            {
                "renorm": False,
                "renorm_clipping": None,
                "renorm_momentum": 0.99,
                "synchronized": False,
            },
        )
        super().__init__(**kwargs)
        self.beta_regularizer = regularizer(self, "beta_regularizer", options["beta_regularizer"])
        self.gamma_regularizer = regularizer(
            self, "gamma_regularizer", options["gamma_regularizer"]
        )
        self.beta_constraint = constraint(self, "beta_constraint", options["beta_constraint"])
        self.gamma_constraint = constraint(self, "gamma_constraint", options["gamma_constraint"])
        self.axis = _axis_arg("BatchNormalization", axis)
        self.momentum = _number("BatchNormalization", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _number("BatchNormalization", "epsilon", epsilon, 0.0)
        if self.epsilon <= 0:
            raise ConfigError(
                f"BatchNormalization: epsilon must be > 0. Received: epsilon={epsilon!r}."
            )
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _init.get(beta_initializer)
        self.gamma_initializer = _init.get(gamma_initializer)
        self.moving_mean_initializer = _init.get(moving_mean_initializer)
        self.moving_variance_initializer = _init.get(moving_variance_initializer)
        self.unbiased_moving_variance = bool(unbiased_moving_variance)
        self._axis: int | None = None

    def build(self, input_shape: Any) -> None:
        self._axis = _resolve_axis(self, self.axis, input_shape)
        shape = (int(input_shape[self._axis]),)
        if self.scale:
            attach(
                self.add_weight("gamma", shape, self.gamma_initializer),
                self.gamma_regularizer,
                self.gamma_constraint,
            )
        if self.center:
            attach(
                self.add_weight("beta", shape, self.beta_initializer),
                self.beta_regularizer,
                self.beta_constraint,
            )
        self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", shape, self.moving_variance_initializer, trainable=False)

    @property
    def channel_axis(self) -> int:
        """The normalized axis as a non-negative index (after build)."""
        self._require_built()
        assert self._axis is not None
        return self._axis

    def reduction_axes(self, rank: int) -> tuple[int, ...]:
        return tuple(i for i in range(rank) if i != self.channel_axis)

    def uses_batch_statistics(self, training: bool) -> bool:
        """Keras: batch statistics only when ``training and trainable``."""
        return bool(training and self.trainable)

    def _bshape(self, x: np.ndarray) -> list[int]:
        shape = [1] * x.ndim
        shape[self.channel_axis] = x.shape[self.channel_axis]
        return shape

    def _stats(self, w: dict[str, np.ndarray], x: np.ndarray, training: bool) -> Any:
        if self.uses_batch_statistics(training):
            axes = self.reduction_axes(x.ndim)
            mean = x.mean(axis=axes, keepdims=True)
            var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
            return mean, var
        bs = self._bshape(x)
        return w["moving_mean"].reshape(bs), w["moving_variance"].reshape(bs)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        mean, var = self._stats(w, x, training)
        y = (x - mean) / np.sqrt(var + self.epsilon)
        bs = self._bshape(x)
        if self.scale:
            y = y * w["gamma"].reshape(bs)
        if self.center:
            y = y + w["beta"].reshape(bs)
        return y

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        mean, var = self._stats(w, x, training)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (x - mean) * inv
        bs = self._bshape(x)
        axes = self.reduction_axes(x.ndim)
        dxhat = dy * w["gamma"].reshape(bs) if self.scale else dy
        if self.uses_batch_statistics(training):
            dx = _normalize_moments_backward(dxhat, xhat, inv, axes)
        else:
            dx = dxhat * inv
        grads = []
        if self.trainable:
            if self.scale:
                grads.append((dy * xhat).sum(axis=axes))
            if self.center:
                grads.append(dy.sum(axis=axes))
        return dx, grads

    MASK_EPSILON = 1e-7  # Keras's backend.epsilon() in the masked moments

    def masked_moments(
        self, x: np.ndarray, mask: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Keras's masked batch moments (keepdims) and the per-channel weight sums."""
        axes = self.reduction_axes(x.ndim)
        w = np.broadcast_to(np.asarray(mask, bool)[..., None], x.shape).astype(x.dtype)
        count = w.sum(axis=axes, keepdims=True)
        mean = (w * x).sum(axis=axes, keepdims=True) / (count + self.MASK_EPSILON)
        var = (w * (x - mean) ** 2).sum(axis=axes, keepdims=True) / (count + self.MASK_EPSILON)
        return mean, var, count

    def reference_masked(
        self, weights: Sequence[np.ndarray], x: np.ndarray, mask: np.ndarray, training: bool
    ) -> np.ndarray:
        """Numpy forward with a Keras mask (rank ``x.ndim - 1``)."""
        if not self.uses_batch_statistics(training):
            return self.reference(weights, x, training)  # type: ignore[no-any-return]
        w = self._named(weights)
        mean, var, _ = self.masked_moments(x, mask)
        y = (x - mean) / np.sqrt(var + self.epsilon)
        bs = self._bshape(x)
        if self.scale:
            y = y * w["gamma"].reshape(bs)
        if self.center:
            y = y + w["beta"].reshape(bs)
        return y

    def reference_moving_update(
        self, weights: Sequence[np.ndarray], x: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """New ``(moving_mean, moving_variance)`` after one training call on ``x`` (numpy),
        optionally with a Keras mask. Unchanged when the layer is not trainable (Keras)."""
        w = self._named(weights)
        if not self.trainable:
            return w["moving_mean"].copy(), w["moving_variance"].copy()
        axes = self.reduction_axes(x.ndim)
        if mask is not None:
            mean_k, var_k, count = self.masked_moments(x, mask)
            mean, var = mean_k.reshape(-1), var_k.reshape(-1)
            if self.unbiased_moving_variance:
                n = count.reshape(-1)
                var = var * n / np.maximum(n - 1, 1)
        else:
            mean = x.mean(axis=axes)
            var = ((x - mean.reshape(self._bshape(x))) ** 2).mean(axis=axes)
            if self.unbiased_moving_variance:
                n = x.size // x.shape[self.channel_axis]
                var = var * n / max(n - 1, 1)
        m = self.momentum
        return (
            m * w["moving_mean"] + (1 - m) * mean,
            m * w["moving_variance"] + (1 - m) * var,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _init.serialize(self.beta_initializer),
            "gamma_initializer": _init.serialize(self.gamma_initializer),
            "moving_mean_initializer": _init.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": _init.serialize(self.moving_variance_initializer),
            "unbiased_moving_variance": self.unbiased_moving_variance,
            **options_config(self, "beta", "gamma"),
        }


@REGISTRY.register()
class LayerNormalization(_Affine, Layer):
    """Layer normalization over ``axis`` (an int or a list of axes; Keras 3 defaults).

    Formula, with ``A`` the normalized axes (sorted, as Keras)::

        μ = mean_A(x),  σ² = mean_A((x − μ)²)   (biased)
        y = γ · (x − μ) / sqrt(σ² + ε) + β

    Weights (canonical = Keras): ``gamma`` then ``beta``, each of shape
    ``tuple(input_shape[a] for a in A)``, broadcast on those axes.

    Differs from PyTorch (``nn.LayerNorm``): epsilon 1e-3 (PyTorch 1e-5; pass ``epsilon``),
    and the axes are any list (PyTorch: trailing dims only). With ``axis=[-3, -2, -1]`` on
    (B, H, W, C) data, gamma is (H, W, C) channels-last, not PyTorch's (C, H, W).
    """

    supports_masking = True

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: object = "zeros",
        gamma_initializer: object = "ones",
        **kwargs: Any,
    ) -> None:
        options = _pop_options(kwargs)
        keras_defaults_only("LayerNormalization", kwargs, {"rms_scaling": False})
        super().__init__(**kwargs)
        self.beta_regularizer = regularizer(self, "beta_regularizer", options["beta_regularizer"])
        self.gamma_regularizer = regularizer(
            self, "gamma_regularizer", options["gamma_regularizer"]
        )
        self.beta_constraint = constraint(self, "beta_constraint", options["beta_constraint"])
        self.gamma_constraint = constraint(self, "gamma_constraint", options["gamma_constraint"])
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ConfigError(
                    "LayerNormalization: axis must not be empty. Received: axis=[]. "
                    "Fix: e.g. axis=-1."
                )
            self.axis: int | list[int] = [_axis_arg("LayerNormalization", a) for a in axis]
        else:
            self.axis = _axis_arg("LayerNormalization", axis)
        self.epsilon = _number("LayerNormalization", "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _init.get(beta_initializer)
        self.gamma_initializer = _init.get(gamma_initializer)
        self._axes: tuple[int, ...] = ()

    def build(self, input_shape: Any) -> None:
        raw = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = sorted({_resolve_axis(self, a, input_shape) for a in raw})
        if len(axes) != len(raw):
            raise ConfigError(
                f"Layer {self.name!r} (LayerNormalization): axis {self.axis} names the same "
                f"axis twice for input shape {tuple(input_shape)}."
            )
        self._axes = tuple(axes)
        shape = tuple(int(input_shape[a]) for a in self._axes)
        if self.scale:
            attach(
                self.add_weight("gamma", shape, self.gamma_initializer),
                self.gamma_regularizer,
                self.gamma_constraint,
            )
        if self.center:
            attach(
                self.add_weight("beta", shape, self.beta_initializer),
                self.beta_regularizer,
                self.beta_constraint,
            )

    @property
    def axes(self) -> tuple[int, ...]:
        """The normalized axes, sorted and non-negative (after build)."""
        self._require_built()
        return self._axes

    def param_broadcast_shape(self, rank: int, input_shape: Sequence[int]) -> list[int]:
        shape = [1] * rank
        for a in self.axes:
            shape[a] = int(input_shape[a])
        return shape

    def _xhat(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = x.mean(axis=self.axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=self.axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        return (x - mean) * inv, inv

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        y, _ = self._xhat(x)
        bs = self.param_broadcast_shape(x.ndim, x.shape)
        if self.scale:
            y = y * w["gamma"].reshape(bs)
        if self.center:
            y = y + w["beta"].reshape(bs)
        return y

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        xhat, inv = self._xhat(x)
        bs = self.param_broadcast_shape(x.ndim, x.shape)
        dxhat = dy * w["gamma"].reshape(bs) if self.scale else dy
        dx = _normalize_moments_backward(dxhat, xhat, inv, self.axes)
        other = tuple(i for i in range(x.ndim) if i not in self.axes)
        grads = []
        if self.scale:
            grads.append((dy * xhat).sum(axis=other).reshape(w["gamma"].shape))
        if self.center:
            grads.append(dy.sum(axis=other).reshape(w["beta"].shape))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _init.serialize(self.beta_initializer),
            "gamma_initializer": _init.serialize(self.gamma_initializer),
            **options_config(self, "beta", "gamma"),
        }


@REGISTRY.register()
class GroupNormalization(_Affine, Layer):
    """Group normalization: the ``C`` channels on ``axis`` split into ``groups`` consecutive
    groups of ``C/groups``; each sample is normalized per group over the group's channels and
    every non-batch axis (``groups=-1``: one group per channel, instance normalization).

    Formula (x reshaped to (B, ..., G, C/G, ...), ``R`` = every axis but batch and group)::

        μ = mean_R(x),  σ² = mean_R((x − μ)²),  y = γ_c · (x − μ) / sqrt(σ² + ε) + β_c

    Weights (canonical = Keras): ``gamma`` (C,), ``beta`` (C,).

    Differs from PyTorch (``nn.GroupNorm``): epsilon 1e-3 (PyTorch 1e-5; pass ``epsilon``),
    default ``groups=32``, channels on the last axis (PyTorch: dim 1). The grouping of
    channels is the same (consecutive).
    """

    supports_masking = True

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: object = "zeros",
        gamma_initializer: object = "ones",
        **kwargs: Any,
    ) -> None:
        options = _pop_options(kwargs)
        super().__init__(**kwargs)
        self.beta_regularizer = regularizer(self, "beta_regularizer", options["beta_regularizer"])
        self.gamma_regularizer = regularizer(
            self, "gamma_regularizer", options["gamma_regularizer"]
        )
        self.beta_constraint = constraint(self, "beta_constraint", options["beta_constraint"])
        self.gamma_constraint = constraint(self, "gamma_constraint", options["gamma_constraint"])
        if groups != -1:
            positive_int("GroupNormalization", "groups", groups)
        self.groups = int(groups)
        self.axis = _axis_arg("GroupNormalization", axis)
        self.epsilon = _number("GroupNormalization", "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = _init.get(beta_initializer)
        self.gamma_initializer = _init.get(gamma_initializer)
        self._axis: int | None = None
        self._groups = self.groups

    def build(self, input_shape: Any) -> None:
        self._axis = _resolve_axis(self, self.axis, input_shape)
        c = int(input_shape[self._axis])
        g = c if self.groups == -1 else self.groups
        if c % g != 0:
            raise ShapeError(
                f"Layer {self.name!r} (GroupNormalization): the {c} channels of input shape "
                f"{tuple(input_shape)} (axis {self.axis}) cannot be split into groups={g}. "
                "Fix: use a number of groups that divides the channel count."
            )
        self._groups = g
        if self.scale:
            attach(
                self.add_weight("gamma", (c,), self.gamma_initializer),
                self.gamma_regularizer,
                self.gamma_constraint,
            )
        if self.center:
            attach(
                self.add_weight("beta", (c,), self.beta_initializer),
                self.beta_regularizer,
                self.beta_constraint,
            )

    @property
    def channel_axis(self) -> int:
        self._require_built()
        assert self._axis is not None
        return self._axis

    @property
    def num_groups(self) -> int:
        self._require_built()
        return self._groups

    def _grouped(self, x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        a = self.channel_axis
        g = self.num_groups
        shape = (*x.shape[:a], g, x.shape[a] // g, *x.shape[a + 1 :])
        axes = tuple(i for i in range(1, len(shape)) if i != a)
        return x.reshape(shape), axes

    def _xhat(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        xg, axes = self._grouped(x)
        mean = xg.mean(axis=axes, keepdims=True)
        var = ((xg - mean) ** 2).mean(axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.epsilon)
        return (xg - mean) * inv, inv, axes

    def _bshape(self, x: np.ndarray) -> list[int]:
        shape = [1] * x.ndim
        shape[self.channel_axis] = x.shape[self.channel_axis]
        return shape

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        xhat, _, _ = self._xhat(x)
        y = xhat.reshape(x.shape)
        bs = self._bshape(x)
        if self.scale:
            y = y * w["gamma"].reshape(bs)
        if self.center:
            y = y + w["beta"].reshape(bs)
        return y

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        w = self._named(weights)
        xhat_g, inv, axes = self._xhat(x)
        bs = self._bshape(x)
        dxhat = dy * w["gamma"].reshape(bs) if self.scale else dy
        dxhat_g, _ = self._grouped(dxhat)
        dx = _normalize_moments_backward(dxhat_g, xhat_g, inv, axes).reshape(x.shape)
        xhat = xhat_g.reshape(x.shape)
        other = tuple(i for i in range(x.ndim) if i != self.channel_axis)
        grads = []
        if self.scale:
            grads.append((dy * xhat).sum(axis=other))
        if self.center:
            grads.append(dy.sum(axis=other))
        return dx, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _init.serialize(self.beta_initializer),
            "gamma_initializer": _init.serialize(self.gamma_initializer),
            **options_config(self, "beta", "gamma"),
        }


@REGISTRY.register()
class UnitNormalization(Layer):
    """Scale each input vector to unit L2 norm over ``axis`` (an int or a list of axes;
    Keras 3's ``UnitNormalization``, ``ops.normalize(order=2, epsilon=1e-12)``)::

        s = Σ_A x²,   y = x · min(1/√s, 1/ε),   ε = 1e-12

    No weights. Differs from PyTorch: ``F.normalize(p=2, eps=1e-12)`` divides by
    ``max(√s, ε)``, the same value except that Keras (and duallearn) multiply by a clipped
    reciprocal square root.
    """

    supports_masking = True
    epsilon = 1e-12

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ConfigError(
                    "UnitNormalization: axis must not be empty. Received: axis=[]. "
                    "Fix: e.g. axis=-1."
                )
            self.axis: int | list[int] = [_axis_arg("UnitNormalization", a) for a in axis]
        else:
            self.axis = _axis_arg("UnitNormalization", axis)
        self._axes: tuple[int, ...] = ()

    def _resolve(self, input_shape: Any) -> tuple[int, ...]:
        raw = self.axis if isinstance(self.axis, list) else [self.axis]
        return tuple(sorted({_resolve_axis(self, a, input_shape, min_rank=1) for a in raw}))

    def build(self, input_shape: Any) -> None:
        self._axes = self._resolve(input_shape)

    @property
    def axes(self) -> tuple[int, ...]:
        """The normalized axes, sorted and non-negative (after build)."""
        self._require_built()
        return self._axes

    def compute_output_shape(self, input_shape: Any) -> Any:
        self._resolve(input_shape)
        return tuple(input_shape)

    def _inv(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(min(1/√s, 1/ε), whether the clip is inactive)``."""
        s = (x * x).sum(axis=self.axes, keepdims=True)
        with np.errstate(divide="ignore"):
            r = 1.0 / np.sqrt(s)
        free = r < 1.0 / self.epsilon
        return np.where(free, r, 1.0 / self.epsilon).astype(x.dtype), free

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x * self._inv(x)[0]

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        inv, free = self._inv(x)
        proj = (dy * x).sum(axis=self.axes, keepdims=True)
        return dy * inv - np.where(free, x * inv**3 * proj, 0.0), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
