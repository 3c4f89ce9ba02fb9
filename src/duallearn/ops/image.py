"""``dl.ops.image``: Keras's ``ops.image`` names (channels-last images).

Example:
    >>> import numpy as np
    >>> import duallearn as dl
    >>> with dl.ops.numpy_mode():
    ...     dl.ops.image.extract_patches(np.zeros((2, 20, 20, 3)), (5, 5)).shape
    (2, 4, 4, 75)
    >>> with dl.ops.numpy_mode():
    ...     dl.ops.image.resize(np.zeros((2, 20, 30, 3)), (10, 12)).shape
    (2, 10, 12, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from . import extract_patches as extract_patches

__all__ = ["extract_patches", "resize"]

INTERPOLATIONS = ("bilinear", "nearest")


def _check_resize(
    size: Any,
    interpolation: str,
    antialias: bool,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    fill_mode: str,
    data_format: str | None,
) -> tuple[int, int]:
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(
            f"ops.image.resize: unsupported interpolation. Expected one of {INTERPOLATIONS}. "
            f"Received: interpolation={interpolation!r}. Fix: use 'bilinear' or 'nearest' "
            "(Keras's 'bicubic', 'area' and 'lanczos' kernels are not in duallearn yet)."
        )
    if antialias:
        raise ConfigError(
            "ops.image.resize: antialias=True is not supported by duallearn yet. Received: "
            "antialias=True. Fix: antialias=False (Keras's default)."
        )
    if fill_mode != "constant":
        raise ConfigError(
            f"ops.image.resize: only fill_mode='constant' is supported (as Keras). Received: "
            f"fill_mode={fill_mode!r}. Fix: fill_mode='constant'."
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ConfigError(
            "ops.image.resize: only one of pad_to_aspect_ratio and crop_to_aspect_ratio can "
            "be True. Received: both True. Fix: pick one."
        )
    if data_format not in (None, "channels_last", "channels_first"):
        raise ConfigError(
            f"ops.image.resize: unknown data_format {data_format!r}. Expected 'channels_last' "
            "or 'channels_first'. Fix: pass one of these or None (channels_last)."
        )
    ok = isinstance(size, (tuple, list)) and len(size) == 2
    if not ok or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in size):
        raise ConfigError(
            "ops.image.resize: size must be a tuple of two positive ints (height, width). "
            f"Received: size={size!r}. Fix: e.g. size=(224, 224)."
        )
    return int(size[0]), int(size[1])


def resize(
    images: Any,
    size: Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    fill_mode: str = "constant",
    fill_value: float = 0.0,
    data_format: str | None = None,
) -> Any:
    """Resize images ((batch,) height, width, channels) to ``size`` = (height, width)
    (Keras's ``ops.image.resize``, TensorFlow's ``tf.image.resize`` formulas with half-pixel
    centres). Bilinear: ``src = (i + 0.5)·(in/out) − 0.5``, interpolated between
    ``max(⌊src⌋, 0)`` and ``min(⌈src⌉, in − 1)``; nearest: ``min(⌊(i + 0.5)·(in/out)⌋, in − 1)``.
    ``crop_to_aspect_ratio`` first crops the largest centred window of the target aspect
    ratio; ``pad_to_aspect_ratio`` first pads the short axis with ``fill_value`` bands on both
    sides. Integer images are interpolated in float32, then rounded half to even, clipped to
    their dtype's range and cast back (as Keras).

    Differs from Keras: ``antialias=True`` and the bicubic/area/lanczos kernels raise.
    """
    height, width = _check_resize(
        size,
        interpolation,
        antialias,
        crop_to_aspect_ratio,
        pad_to_aspect_ratio,
        fill_mode,
        data_format,
    )
    from . import _has_symbolic

    kwargs = {
        "interpolation": interpolation,
        "crop_to_aspect_ratio": bool(crop_to_aspect_ratio),
        "pad_to_aspect_ratio": bool(pad_to_aspect_ratio),
        "fill_value": float(fill_value),
        "data_format": data_format,
    }
    if _has_symbolic([images], {}):
        from ._symbolic import symbolic_call

        return symbolic_call("image.resize", [images, [height, width]], kwargs)
    return _resize(images, height, width, **kwargs)  # type: ignore[arg-type]


def _resize(
    images: Any,
    height: int,
    width: int,
    interpolation: str,
    crop_to_aspect_ratio: bool,
    pad_to_aspect_ratio: bool,
    fill_value: float,
    data_format: str | None,
) -> Any:
    """The formula, over ``dl.ops`` (so it runs on whichever implementation is active)."""
    from .. import ops as o
    from ..layers import _image_formulas as img

    x = o.convert_to_tensor(images)
    rank = len(o.shape(x))
    if rank not in (3, 4):
        raise ShapeError(
            "ops.image.resize expects rank 3 (one image) or rank 4 (a batch of images). "
            f"Received input shape {tuple(o.shape(x))}. Fix: reshape the images."
        )
    if rank == 3:
        x = o.expand_dims(x, 0)
    if data_format == "channels_first":
        x = o.transpose(x, (0, 2, 3, 1))
    in_dtype = o.dtype(x)
    integer = not in_dtype.startswith(("float", "bfloat"))
    if interpolation != "nearest" and integer:
        x = o.cast(x, "float32")
    if crop_to_aspect_ratio:
        y = img.smart_resize(o, x, height, width, interpolation)
    else:
        if pad_to_aspect_ratio:
            x = img.pad_to_aspect(o, x, height, width, fill_value)
        y = img.resize(o, x, height, width, interpolation)
    if integer and o.dtype(y) != in_dtype:  # Keras: round half to even, saturate, cast back
        info = np.iinfo(in_dtype)
        y = o.cast(o.clip(o.round(y), float(info.min), float(info.max)), in_dtype)
    if data_format == "channels_first":
        y = o.transpose(y, (0, 3, 1, 2))
    return o.squeeze(y, 0) if rank == 3 else y
