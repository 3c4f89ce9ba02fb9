"""Image preprocessing and augmentation layers: ``Rescaling``, ``Normalization``,
``Resizing``, ``CenterCrop``, ``RandomFlip``, ``RandomCrop``, ``RandomContrast``,
``RandomBrightness``, ``RandomRotation``, ``RandomZoom``, ``RandomTranslation`` (Keras 3's
names, arguments, defaults and formulas; channels-last images ``(batch, height, width,
channels)``).

Each layer's formula is written once, in :meth:`apply`, over an ops namespace (the backends
run it with their native ops; ``reference`` runs it with the numpy reference). A random
layer's parameters (flip choices, angles, zooms, offsets...) are drawn on the host by numpy
from the layer's ``dl.random.SeedGenerator(seed)`` (as Keras's layers hold a
``SeedGenerator``), one draw per call, so the same seed gives bit-identical augmented batches
on torch and TensorFlow. In inference (``training=False``) the random layers are the identity
(cast to the layer's dtype), as Keras's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..errors import ConfigError, ShapeError
from ..ops import _dispatch
from . import _image_formulas as img
from ._layer import REGISTRY, Layer
from ._tf_data import graph_tensor, run_formula

EPSILON = 1e-7  # keras.backend.epsilon(), Normalization's floor on the standard deviation
FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("bilinear", "nearest")


# ---- argument checks --------------------------------------------------------------------------
def _is_number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))


def _size(layer: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(
            f"{layer}: `{name}` must be a positive integer (pixels). Received: "
            f"{name}={value!r}. Fix: e.g. {layer}({name}=224, ...)."
        )
    return int(value)


def _choice(layer: str, name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(
            f"{layer}: unknown `{name}`. Expected one of {tuple(choices)}. Received: "
            f"{name}={value!r}. Fix: pass one of them, e.g. {name}={choices[0]!r}."
        )
    return str(value)


def _data_format(layer: str, value: object) -> str:
    if value not in (None, "channels_last"):
        raise ConfigError(
            f"{layer}: only data_format='channels_last' is supported (duallearn's canonical "
            f"image layout). Received: data_format={value!r}. Fix: pass images as (batch, "
            "height, width, channels) and leave data_format unset."
        )
    return "channels_last"


def _fill_value(layer: str, value: object) -> float:
    if not _is_number(value):
        raise ConfigError(
            f"{layer}: `fill_value` must be a number. Received: fill_value={value!r}. "
            "Fix: e.g. fill_value=0.0."
        )
    return float(value)  # type: ignore[arg-type]


def _factor(
    layer: str, name: str, value: object, low: float, high: float, low_open: bool = False
) -> tuple[float, float]:
    """Keras's ``factor`` rule: a number ``f`` means ``(-|f|, |f|)`` (clipped to the range),
    a pair ``(a, b)`` means ``(min, max)``; every number must lie in the range."""
    bracket = "(" if low_open else "["
    msg = (
        f"{layer}: `{name}` must be a number or a list of two numbers in the range "
        f"{bracket}{low}, {high}]. Received: {name}={value!r}. Fix: e.g. {name}=0.2 or "
        f"{name}=(-0.1, 0.2)."
    )

    def ok(v: object) -> bool:
        if not _is_number(v):
            return False
        f = float(v)  # type: ignore[arg-type]
        return (f > low if low_open else f >= low) and f <= high

    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(ok(v) for v in value):
            raise ConfigError(msg)
        lo, hi = sorted(float(v) for v in value)
        return lo, hi
    if not ok(value):
        raise ConfigError(msg)
    f = abs(float(value))  # type: ignore[arg-type]
    return max(-f, low), f


def _value_range(layer: str, value: object) -> tuple[float, float]:
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(_is_number(v) for v in value)
    ):
        raise ConfigError(
            f"{layer}: `value_range` must be a list of two numbers (the images' lowest and "
            f"highest value). Received: value_range={value!r}. Fix: e.g. value_range=(0, 255) "
            "or (0, 1)."
        )
    return float(value[0]), float(value[1])


def _seed_arg(layer: str, seed: object) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ConfigError(
            f"{layer}: `seed` must be an integer or None. Received: seed={seed!r}. "
            "Fix: e.g. seed=1337."
        )
    return None if seed is None else int(seed)


# ---- base classes -----------------------------------------------------------------------------
class _ImagePreprocessing(Layer):
    """A preprocessing layer written once over an ops namespace (:meth:`apply`)."""

    random = False  # draws parameters in training (identity in inference)
    image_rank = True  # needs (batch, height, width, channels) input

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Keras's rules on arrays: a random layer called without ``training`` runs in
        training mode (it augments); a single image ``(height, width, channels)`` is
        accepted and returned unbatched."""
        from ._input import SymbolicTensor

        x = args[0] if args else kwargs.get("inputs")
        if isinstance(x, SymbolicTensor) or _dispatch.in_native_call() or len(args) != 1:
            return super().__call__(*args, **kwargs)
        if self.random and kwargs.get("training") is None:
            kwargs["training"] = True
        if graph_tensor(x):  # inside tf.data's map: the formula on TensorFlow's ops
            return run_formula(self, x, bool(kwargs.get("training")))
        arr: Any = x if hasattr(x, "shape") else np.asarray(x)
        if self.image_rank and len(arr.shape) == 3:
            out = super().__call__(np.asarray(arr)[None], **kwargs)
            return out[0]
        return super().__call__(arr, **kwargs)

    def build(self, input_shape: Any) -> None:
        if self.image_rank and len(input_shape) != 4:
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) expects images of shape (batch, "
                f"height, width, channels). Received input shape {tuple(input_shape)}. Fix: "
                "batch the images (a single image (h, w, c) is accepted when calling the "
                "layer on an array)."
            )
        if self.image_rank and (input_shape[1] is None or input_shape[2] is None):
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) needs a known height and width. "
                f"Received input shape {tuple(input_shape)}. Fix: give the Input its image "
                "size, e.g. dl.Input((224, 224, 3)), or put a Resizing layer first."
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        """The layer's formula over ops namespace ``o`` (``dl.ops`` names)."""
        raise NotImplementedError

    def _in(self, o: Any, x: Any) -> Any:
        """The input in the layer's dtype (Keras casts to the compute dtype)."""
        return o.cast(x, self.dtype)

    def _const(self, o: Any, value: Any) -> Any:
        return o.cast(o.convert_to_tensor(np.array(value, np.float64)), self.dtype)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        from ..ops import _numpy

        with _dispatch.native_call(_numpy):
            return np.asarray(self.apply(_numpy, np.asarray(x), bool(training), *weights))

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        raise NotImplementedError(f"{type(self).__name__} has no numpy backward")


class _RandomImage(_ImagePreprocessing):
    """An augmentation layer: parameters drawn per call from ``self.generator``."""

    random = True
    n_params = 1  # parameters per image
    per_batch = False  # one parameter row for the whole batch (RandomCrop)

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = _seed_arg(type(self).__name__, seed)
        self.generator = _random.SeedGenerator(self.seed)

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """The ``(batch, n_params)`` parameters of one call, drawn by numpy from ``rng``."""
        raise NotImplementedError

    def draw(self, o: Any, x: Any) -> Any:
        """This call's parameters as a float32 tensor of ``o``: drawn on the host from the
        layer's generator (advanced by one), at each execution inside a traced function."""
        rows = 1 if self.per_batch else o.shape(x)[0]

        def fn(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
            return self.parameters(g, int(shape[0]))

        with _dispatch.native_call(o):
            return _random._emit(fn, [rows, self.n_params], "float32", self.generator)

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        """The augmentation with given ``params`` (``x`` already in the layer's dtype)."""
        raise NotImplementedError

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        x = self._in(o, x)
        if not training:
            return x
        return self.transform(o, x, self.draw(o, x))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


# ---- deterministic layers ---------------------------------------------------------------------
@REGISTRY.register()
class Rescaling(_ImagePreprocessing):
    """``y = cast(x) · scale + offset`` (Keras 3), in training and inference; ``scale`` and
    ``offset`` are numbers or per-channel lists. Any input rank; integer inputs give floats.

    Example: ``Rescaling(1/255)`` maps [0, 255] to [0, 1]; ``Rescaling(1/127.5, offset=-1)``
    to [-1, 1].
    """

    supports_masking = True
    image_rank = False

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, v in (("scale", scale), ("offset", offset)):
            arr = np.asarray(v, dtype=object)
            if arr.size == 0 or not all(_is_number(e) for e in arr.ravel()):
                raise ConfigError(
                    f"Rescaling: `{name}` must be a number or a list of numbers (one per "
                    f"channel). Received: {name}={v!r}. Fix: e.g. Rescaling(scale=1/255)."
                )
        self.scale = scale.tolist() if isinstance(scale, np.ndarray) else scale
        self.offset = offset.tolist() if isinstance(offset, np.ndarray) else offset

    def build(self, input_shape: Any) -> None:
        return None

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        return self._in(o, x) * self._const(o, self.scale) + self._const(o, self.offset)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@REGISTRY.register()
class Normalization(_ImagePreprocessing):
    """Feature-wise standardization (Keras 3)::

        y = (x − mean) / max(√variance, ε)        (invert=False)
        y = mean + x · max(√variance, ε)          (invert=True),   ε = 1e-7

    ``mean`` and ``variance`` are kept per position of ``axis`` (default -1: per feature /
    channel; ``axis=None``: one scalar) and broadcast over the other axes. Give them as
    arguments, or compute them from data with :meth:`adapt` (stored as the non-trainable
    weights ``mean``, ``variance``, ``count``, saved with the model; as in Keras 3,
    ``count`` stays 0).
    """

    supports_masking = True
    image_rank = False

    def __init__(
        self,
        axis: int | Sequence[int] | None = -1,
        mean: Any = None,
        variance: Any = None,
        invert: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if axis is None:
            axes: tuple[int, ...] = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axes = (int(axis),)
        elif isinstance(axis, (tuple, list)) and all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis
        ):
            axes = tuple(int(a) for a in axis)
        else:
            raise ConfigError(
                f"Normalization: `axis` must be an int, a list of ints or None. Received: "
                f"axis={axis!r}. Fix: e.g. axis=-1 (per channel) or axis=None (one scalar)."
            )
        self.axis = axes
        if (mean is None) != (variance is None):
            raise ConfigError(
                "Normalization: when setting values directly, both `mean` and `variance` must "
                f"be set. Received: mean={mean!r} and variance={variance!r}. Fix: pass both, or "
                "neither and call adapt(data)."
            )
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ConfigError(
                    "Normalization: `mean` and `variance` must have the same shape. Received: "
                    f"mean shape {np.shape(mean)} and variance shape {np.shape(variance)}."
                )
            if len(np.shape(mean)) > len(self.axis):
                raise ConfigError(
                    "Normalization: the rank of `mean` must be <= the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(mean)} for axis "
                    f"{self.axis}. Fix: pass one value per position of `axis`."
                )
        self.input_mean = None if mean is None else np.asarray(mean, np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)
        self.invert = bool(invert)
        self._keep: tuple[int, ...] = ()
        self._broadcast: list[int] = []

    def build(self, input_shape: Any) -> None:
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ShapeError(
                f"Layer {self.name!r} (Normalization): all `axis` values must be in the range "
                f"[-ndim, ndim). Received inputs with ndim={ndim}, while axis={self.axis}."
            )
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep:
            if input_shape[d] is None:
                raise ShapeError(
                    f"Layer {self.name!r} (Normalization): every kept axis must have a known "
                    f"size. Received axis={self.axis}, input shape {tuple(input_shape)}."
                )
        self._broadcast = [input_shape[d] if d in self._keep else 1 for d in range(ndim)]
        self._build_shape = tuple(input_shape)
        if self.input_mean is None:
            shape = tuple(int(input_shape[d]) for d in self._keep)
            self.adapt_mean = self.add_weight(
                shape=shape, initializer="zeros", trainable=False, name="mean"
            )
            self.adapt_variance = self.add_weight(
                shape=shape, initializer="ones", trainable=False, name="variance"
            )
            self.count = self.add_weight(
                shape=(), dtype="int64", initializer="zeros", trainable=False, name="count"
            )

    def _stats(self, o: Any, weights: Sequence[Any]) -> tuple[Any, Any]:
        if self.input_mean is None:
            mean, var = weights[0], weights[1]
            return (
                o.reshape(o.cast(mean, self.dtype), self._broadcast),
                o.reshape(o.cast(var, self.dtype), self._broadcast),
            )
        mean_a, var_a = self.input_mean, self.input_variance
        assert var_a is not None
        if mean_a.ndim:
            expanded = [1] * len(self._broadcast)
            for i in range(1, mean_a.ndim + 1):
                expanded[self._keep[-i]] = mean_a.shape[-i]
            mean_a, var_a = mean_a.reshape(expanded), var_a.reshape(expanded)
        bshape = tuple(int(d) for d in self._broadcast)
        return (
            self._const(o, np.broadcast_to(mean_a, bshape)),
            self._const(o, np.broadcast_to(var_a, bshape)),
        )

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        mean, var = self._stats(o, weights)
        std = o.maximum(o.sqrt(var), self._const(o, EPSILON))
        x = self._in(o, x)
        if self.invert:
            return mean + x * std
        return (x - mean) / std

    def adapt(self, data: Any) -> None:
        """Set ``mean`` and ``variance`` from ``data``: an array (or native tensor) whose
        first axis is the batch, or an iterable of such batches (combined exactly, Keras's
        running formula). Builds the layer from the data's shape when needed."""
        batches: Iterable[Any]
        if hasattr(data, "shape") and hasattr(data, "dtype"):
            batches = [data]
        elif isinstance(data, Iterable):
            batches = data
        else:
            raise ConfigError(
                f"Normalization.adapt: unsupported data of type {type(data).__name__}. "
                "Expected: a numpy array, a tensor, or an iterable of batches. Fix: pass "
                "e.g. layer.adapt(x_train)."
            )
        if self.input_mean is not None:
            raise ConfigError(
                "Normalization.adapt: this layer was given `mean` and `variance`. Fix: create "
                "Normalization(axis=...) without them to adapt it to data."
            )
        total_mean: np.ndarray | None = None
        total_var: np.ndarray | None = None
        total = 0
        for batch in batches:
            b = batch[0] if isinstance(batch, tuple) else batch
            arr = np.asarray(b.numpy() if hasattr(b, "numpy") else b, np.float64)
            if not self.built:
                self._ensure_built((None, *arr.shape[1:]))
            if arr.ndim != len(self._broadcast) or any(
                arr.shape[d] != self._broadcast[d] for d in self._keep
            ):
                raise ShapeError(
                    f"Layer {self.name!r} (Normalization) was built for input shape "
                    f"{self._build_shape}; adapt() received data of shape {arr.shape}. Fix: "
                    "adapt on data shaped like the model's input."
                )
            reduce = tuple(d for d in range(arr.ndim) if d not in self._keep)
            b_mean, b_var = arr.mean(axis=reduce), arr.var(axis=reduce)
            count = math.prod(arr.shape[d] for d in reduce) if reduce else 1
            if total_mean is None or total_var is None:
                total_mean, total_var, total = b_mean, b_var, count
                continue
            total += count
            w_new = count / total
            w_old = 1.0 - w_new
            new_mean = total_mean * w_old + b_mean * w_new
            total_var = (total_var + (total_mean - new_mean) ** 2) * w_old + (
                b_var + (b_mean - new_mean) ** 2
            ) * w_new
            total_mean = new_mean
        if total_mean is None or total_var is None:
            raise ConfigError(
                "Normalization.adapt received no batches. Expected at least one array. Fix: "
                "pass the data, e.g. layer.adapt(x_train)."
            )
        self.adapt_mean.assign(total_mean.astype(self.adapt_mean.dtype))
        self.adapt_variance.assign(total_var.astype(self.adapt_variance.dtype))

    @property
    def mean(self) -> np.ndarray | None:
        """The mean broadcast to the input's rank (Keras's ``layer.mean``), None before
        build."""
        if not self.built:
            return None
        m = self.input_mean if self.input_mean is not None else self.adapt_mean.numpy()
        return np.asarray(m, np.float64).reshape(self._expanded(m)).astype(self.dtype)

    @property
    def variance(self) -> np.ndarray | None:
        if not self.built:
            return None
        v = self.input_variance if self.input_variance is not None else self.adapt_variance.numpy()
        return np.asarray(v, np.float64).reshape(self._expanded(v)).astype(self.dtype)

    def _expanded(self, a: Any) -> list[int]:
        shape = [1] * len(self._broadcast)
        for i in range(1, np.ndim(a) + 1):
            shape[self._keep[-i]] = np.shape(a)[-i]
        return shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "invert": self.invert,
            "mean": None if self.input_mean is None else self.input_mean.tolist(),
            "variance": None if self.input_variance is None else self.input_variance.tolist(),
        }


@REGISTRY.register()
class Resizing(_ImagePreprocessing):
    """Resize images to ``(height, width)`` (Keras 3, ``tf.image.resize`` with half-pixel
    centres). Bilinear: ``src = (i + ½)·in/out − ½``, ``t = src − ⌊src⌋``,
    ``y = a + (b − a)·t`` along width then height, neighbours clamped to the image; nearest:
    ``src = min(⌊(i + ½)·in/out⌋, in − 1)``. ``crop_to_aspect_ratio=True`` first crops the
    largest centred window of the target aspect ratio; ``pad_to_aspect_ratio=True`` first pads
    ``fill_value`` bands on both sides of the short axis. Applied in training and inference.
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation: str = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        fill_mode: str = "constant",
        fill_value: float = 0.0,
        antialias: bool = False,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.height = _size("Resizing", "height", height)
        self.width = _size("Resizing", "width", width)
        self.interpolation = _choice("Resizing", "interpolation", interpolation, INTERPOLATIONS)
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ConfigError(
                "Resizing: only one of `pad_to_aspect_ratio` and `crop_to_aspect_ratio` can be "
                "True. Received: both True. Fix: pick one."
            )
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = _choice("Resizing", "fill_mode", fill_mode, ("constant",))
        self.fill_value = _fill_value("Resizing", fill_value)
        if antialias:
            raise ConfigError(
                "Resizing: antialias=True is not supported by duallearn yet. Received: "
                "antialias=True. Fix: antialias=False (Keras's default)."
            )
        self.antialias = False
        self.data_format = _data_format("Resizing", data_format)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.height, self.width, input_shape[3])

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        x = self._in(o, x)
        if self.crop_to_aspect_ratio:
            return img.smart_resize(o, x, self.height, self.width, self.interpolation)
        if self.pad_to_aspect_ratio:
            x = img.pad_to_aspect(o, x, self.height, self.width, self.fill_value)
        return img.resize(o, x, self.height, self.width, self.interpolation)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
            "data_format": self.data_format,
        }


@REGISTRY.register()
class CenterCrop(_ImagePreprocessing):
    """The centred ``height × width`` window: rows ``⌊(H − height)/2⌋ …``, columns
    ``⌊(W − width)/2⌋ …`` (Keras 3). An image smaller than the target on either side is
    instead cropped to the target aspect ratio and resized (bilinear; Keras's
    ``smart_resize``). Applied in training and inference."""

    def __init__(
        self, height: int, width: int, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.height = _size("CenterCrop", "height", height)
        self.width = _size("CenterCrop", "width", width)
        self.data_format = _data_format("CenterCrop", data_format)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.height, self.width, input_shape[3])

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        x = self._in(o, x)
        _, h, w, _ = o.shape(x)
        dh, dw = int(h) - self.height, int(w) - self.width
        if dh >= 0 and dw >= 0:
            top, left = dh // 2, dw // 2
            return x[:, top : top + self.height, left : left + self.width, :]
        return img.smart_resize(o, x, self.height, self.width)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }


# ---- random layers: flips, crops, colour ----------------------------------------------------
@REGISTRY.register()
class RandomFlip(_RandomImage):
    """Flip each image with probability ½ (Keras 3): ``u ~ U[0, 1)`` per image, flipped when
    ``u ≤ 0.5``; ``"horizontal"`` reverses the width axis, ``"vertical"`` the height axis,
    ``"horizontal_and_vertical"`` (default) both, with the same ``u``. Identity in inference.
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(
        self,
        mode: str = "horizontal_and_vertical",
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, self.MODES)
        self.data_format = _data_format("RandomFlip", data_format)

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """``1.0`` where the image flips (``u ≤ 0.5``), else ``0.0``."""
        return (rng.uniform(0.0, 1.0, (batch, 1)) <= 0.5).astype(np.float64)

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        flips = o.reshape(params > 0.5, (-1, 1, 1, 1))
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = o.where(flips, o.flip(x, axis=2), x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = o.where(flips, o.flip(x, axis=1), x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "data_format": self.data_format}


@REGISTRY.register()
class RandomCrop(_RandomImage):
    """A random ``height × width`` window, one offset for the whole batch (Keras 3):
    ``top = ⌊u₁·(H − height + 1)⌋``, ``left = ⌊u₂·(W − width + 1)⌋``, ``u ~ U[0, 1)``.
    When the image is not larger than the target on both sides, and in inference, the
    largest centred window of the target aspect ratio is resized to ``height × width``
    (bilinear), so the output always has the declared shape.
    """

    n_params = 2
    per_batch = True

    def __init__(
        self,
        height: int,
        width: int,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.height = _size("RandomCrop", "height", height)
        self.width = _size("RandomCrop", "width", width)
        self.data_format = _data_format("RandomCrop", data_format)
        self._in_hw = (0, 0)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._in_hw = (int(input_shape[1]), int(input_shape[2]))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], self.height, self.width, input_shape[3])

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """``[[top, left]]`` (float32-exact integers)."""
        h, w = self._in_hw
        u = rng.uniform(0.0, 1.0, 2)
        top = np.floor(np.float32(u[0] * (h - self.height + 1)))
        left = np.floor(np.float32(u[1] * (w - self.width + 1)))
        return np.array([[top, left]], np.float64)

    def apply(self, o: Any, x: Any, training: bool, *weights: Any) -> Any:
        x = self._in(o, x)
        _, h, w, _ = o.shape(x)
        if training and int(h) > self.height and int(w) > self.width:
            return self.transform(o, x, self.draw(o, x))
        return img.smart_resize(o, x, self.height, self.width)

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        start = o.cast(params[0], "int32")
        rows = start[0] + o.arange(self.height, dtype="int32")
        cols = start[1] + o.arange(self.width, dtype="int32")
        return o.take(o.take(x, rows, axis=1), cols, axis=2)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height": self.height,
            "width": self.width,
            "data_format": self.data_format,
        }


@REGISTRY.register()
class RandomContrast(_RandomImage):
    """Per image, ``c ~ U[1 − lower, 1 + upper)`` and, per channel,
    ``y = clip((x − mean) · c + mean, *value_range)``, ``mean`` over height and width
    (Keras 3). ``factor``: a number ``f`` gives ``(lower, upper) = (0, f)`` (Keras 3.15's rule,
    bounds ``[0, 1]``), a pair gives it directly. Identity in inference. The means are summed
    by a fixed pairwise tree (``exact_mean``), so both backends give the same bits."""

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor("RandomContrast", "factor", factor, 0.0, 1.0)
        self._factor_arg = list(factor) if isinstance(factor, (tuple, list)) else factor
        self.value_range = _value_range("RandomContrast", value_range)

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """The contrast factor of each image."""
        lo, hi = 1.0 - self.factor[0], 1.0 + self.factor[1]
        return lo + (hi - lo) * rng.uniform(0.0, 1.0, (batch, 1))

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        c = o.reshape(o.cast(params, self.dtype), (-1, 1, 1, 1))
        mean = img.exact_mean(o, img.exact_mean(o, x, 1), 2)
        return o.clip((x - mean) * c + mean, self.value_range[0], self.value_range[1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "factor": self._factor_arg,
            "value_range": list(self.value_range),
        }


@REGISTRY.register()
class RandomBrightness(_RandomImage):
    """Per image, ``δ ~ U[lower, upper) · (high − low)`` and
    ``y = clip(x + δ, low, high)`` with ``(low, high) = value_range`` (Keras 3). ``factor``
    in ``[-1, 1]``: a number ``f`` gives ``(−f, f)``. Identity in inference."""

    def __init__(
        self,
        factor: Any,
        value_range: Sequence[float] = (0, 255),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor("RandomBrightness", "factor", factor, -1.0, 1.0)
        self._factor_arg = list(factor) if isinstance(factor, (tuple, list)) else factor
        self.value_range = tuple(sorted(_value_range("RandomBrightness", value_range)))

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """The additive brightness shift of each image."""
        lo, hi = self.factor
        u = lo + (hi - lo) * rng.uniform(0.0, 1.0, (batch, 1))
        return u * (self.value_range[1] - self.value_range[0])

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        delta = o.reshape(o.cast(params, self.dtype), (-1, 1, 1, 1))
        return o.clip(x + delta, self.value_range[0], self.value_range[1])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "factor": self._factor_arg,
            "value_range": list(self.value_range),
        }


# ---- random affine layers -----------------------------------------------------------------
class _RandomAffine(_RandomImage):
    """An augmentation resampled by :func:`affine_transform` (fill_mode, interpolation,
    fill_value as Keras's ``ops.image.affine_transform``)."""

    n_params = 8

    def __init__(
        self,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        name = type(self).__name__
        self.fill_mode = _choice(name, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = _choice(name, "interpolation", interpolation, INTERPOLATIONS)
        self.fill_value = _fill_value(name, fill_value)
        self.data_format = _data_format(name, data_format)
        self._in_hw = (0, 0)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._in_hw = (int(input_shape[1]), int(input_shape[2]))

    def transform(self, o: Any, x: Any, params: Any) -> Any:
        return img.affine_transform(
            o, x, params, self.interpolation, self.fill_mode, self.fill_value
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
            "data_format": self.data_format,
        }


def rotation_matrix(angles_deg: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keras's ``_compute_affine_matrix`` for a rotation by ``angle`` degrees about the image
    centre ``(cx, cy) = ((W − 1)/2, (H − 1)/2)``: rows ``[cos, −sin, cx − cx·cos + cy·sin,
    sin, cos, cy − cx·sin − cy·cos, 0, 0]`` (float32)."""
    a = np.asarray(angles_deg, np.float32) * np.float32(math.pi / 180.0)
    cos, sin = np.cos(a), np.sin(a)
    cx, cy = np.float32(0.5) * np.float32(width - 1), np.float32(0.5) * np.float32(height - 1)
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - cx * a0 - cy * a1
    b2 = cy - cx * b0 - cy * b1
    zeros = np.zeros_like(a)
    return np.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1).astype(np.float32)


@REGISTRY.register()
class RandomRotation(_RandomAffine):
    """Rotate each image by ``θ ~ U[lower, upper) · 360°`` about its centre (Keras 3;
    ``factor`` in ``[-1, 1]``, a number ``f`` gives ``(−f, f)``): output pixel ``(x, y)``
    reads input ``(a0·x + a1·y + a2, b0·x + b1·y + b2)`` with
    ``a0 = cos θ, a1 = −sin θ, b0 = sin θ, b1 = cos θ`` and the offsets that keep the centre
    fixed (:func:`rotation_matrix`). Identity in inference."""

    def __init__(
        self,
        factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor("RandomRotation", "factor", factor, -1.0, 1.0)
        self._factor_arg = list(factor) if isinstance(factor, (tuple, list)) else factor

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        lo, hi = self.factor[0] * 360.0, self.factor[1] * 360.0
        angles = lo + (hi - lo) * rng.uniform(0.0, 1.0, batch)
        return rotation_matrix(angles, *self._in_hw).astype(np.float64)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self._factor_arg}


def zoom_matrix(zooms: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keras's zoom matrix from ``zooms`` (B, 2) ``[width zoom, height zoom]``:
    ``[zx, 0, (W − 1)/2·(1 − zx), 0, zy, (H − 1)/2·(1 − zy), 0, 0]`` (float32)."""
    z = np.asarray(zooms, np.float32)
    zx, zy = z[:, 0], z[:, 1]
    x_off = ((np.float32(width) - np.float32(1.0)) / np.float32(2.0)) * (np.float32(1.0) - zx)
    y_off = ((np.float32(height) - np.float32(1.0)) / np.float32(2.0)) * (np.float32(1.0) - zy)
    zeros = np.zeros_like(zx)
    return np.stack([zx, zeros, x_off, zeros, zy, y_off, zeros, zeros], axis=1)


def _zoom_factor(name: str, value: Any) -> tuple[float, float]:
    return _factor("RandomZoom", name, value, -1.0, 1.0, low_open=True)


@REGISTRY.register()
class RandomZoom(_RandomAffine):
    """Zoom each image about its centre (Keras 3): ``z_y ~ U[1 + lower, 1 + upper)`` from
    ``height_factor`` (in ``(-1, 1]``; a number ``f`` gives ``(−f, f)``; negative zooms in),
    ``z_x`` likewise from ``width_factor`` (None: ``z_x = z_y``, the same draw); output pixel
    ``(x, y)`` reads input ``(z_x·x + (W − 1)/2·(1 − z_x), z_y·y + (H − 1)/2·(1 − z_y))``.
    Identity in inference."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any = None,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _plain(height_factor)
        self.width_factor = _plain(width_factor)
        self.height_lower, self.height_upper = _zoom_factor("height_factor", height_factor)
        self.width_lower, self.width_upper = (
            (0.0, 0.0) if width_factor is None else _zoom_factor("width_factor", width_factor)
        )

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        u = rng.uniform(0.0, 1.0, (batch, 2))
        zy = 1.0 + self.height_lower + (self.height_upper - self.height_lower) * u[:, 0]
        if self.width_factor is None:
            zx = zy
        else:
            zx = 1.0 + self.width_lower + (self.width_upper - self.width_lower) * u[:, 1]
        return zoom_matrix(np.stack([zx, zy], axis=1), *self._in_hw).astype(np.float64)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


def translation_matrix(translations: np.ndarray) -> np.ndarray:
    """Keras's translation matrix from ``translations`` (B, 2) ``[dx, dy]`` in pixels:
    ``[1, 0, −dx, 0, 1, −dy, 0, 0]`` (float32)."""
    t = np.asarray(translations, np.float32)
    ones, zeros = np.ones(len(t), np.float32), np.zeros(len(t), np.float32)
    return np.stack([ones, zeros, -t[:, 0], zeros, ones, -t[:, 1], zeros, zeros], axis=1)


@REGISTRY.register()
class RandomTranslation(_RandomAffine):
    """Shift each image by ``dy = U[lower, upper)·H`` rows and ``dx = U[lower, upper)·W``
    columns (Keras 3; factors in ``[-1, 1]``, a number ``f`` gives ``(−f, f)``; positive
    shifts move the content down / right): output pixel ``(x, y)`` reads input
    ``(x − dx, y − dy)``. Identity in inference."""

    def __init__(
        self,
        height_factor: Any,
        width_factor: Any,
        fill_mode: str = "reflect",
        interpolation: str = "bilinear",
        seed: int | None = None,
        fill_value: float = 0.0,
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = _plain(height_factor)
        self.width_factor = _plain(width_factor)
        self.height_lower, self.height_upper = _factor(
            "RandomTranslation", "height_factor", height_factor, -1.0, 1.0
        )
        self.width_lower, self.width_upper = _factor(
            "RandomTranslation", "width_factor", width_factor, -1.0, 1.0
        )

    def parameters(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        h, w = self._in_hw
        u = rng.uniform(0.0, 1.0, (batch, 2))
        dy = (self.height_lower + (self.height_upper - self.height_lower) * u[:, 0]) * h
        dx = (self.width_lower + (self.width_upper - self.width_lower) * u[:, 1]) * w
        return translation_matrix(np.stack([dx, dy], axis=1)).astype(np.float64)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "height_factor": self.height_factor,
            "width_factor": self.width_factor,
        }


def _plain(v: Any) -> Any:
    """A factor argument as JSON (tuples → lists)."""
    return list(v) if isinstance(v, (tuple, list)) else v


# the classes every backend runs through their ``apply`` (backends/*/_preprocessing.py)
IMAGE_LAYERS = tuple(
    cls.__name__
    for cls in (
        Rescaling, Normalization, Resizing, CenterCrop, RandomFlip, RandomCrop, RandomContrast,
        RandomBrightness, RandomRotation, RandomZoom, RandomTranslation,
    )
)  # fmt: skip
