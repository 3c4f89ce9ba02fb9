"""``load_img`` / ``img_to_array`` / ``array_to_img`` / ``save_img`` (Keras 3's, with Pillow).

Pillow is imported on first use (``pip install duallearn[image]``); the arrays are numpy.
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any

import numpy as np

from ..errors import ConfigError, DuallearnError

_COLOR_MODES = ("grayscale", "rgb", "rgba")
_PIL_METHODS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")


class MissingDependencyError(DuallearnError, ImportError):
    """An optional package that a function needs is not installed."""


def pil_image() -> Any:
    """The ``PIL.Image`` module, or a :class:`MissingDependencyError` naming the install."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError(
            "Image loading and saving need Pillow, which is not installed. Fix: "
            "pip install pillow (or pip install duallearn[image])."
        ) from None
    return Image


def _data_format(data_format: str | None) -> str:
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ConfigError(
            "data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}."
        )
    return fmt


def _floatx(dtype: Any) -> Any:
    if dtype is not None:
        return dtype
    from ..config import floatx

    return floatx()


def array_to_img(
    x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None
) -> Any:
    """A PIL image from a ``(h, w, c)`` array (``c`` 1, 3 or 4).

    Args:
        x: The array (or anything ``np.asarray`` takes).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        scale: Rescale values to ``[0, 255]`` (``x - min``, divided by the max, times 255).
        dtype: The float dtype of the computation (default ``dl.config.floatx()``).

    Returns:
        A ``PIL.Image.Image``: mode ``"RGB"``, ``"RGBA"``, ``"L"`` (or ``"I"`` for one channel
        with values over 255), values cast to ``uint8`` by truncation as in Keras.

    Raises:
        ShapeError-like ConfigError: ``x`` is not rank 3 or has another channel count.

    Example:
        >>> array_to_img(np.zeros((4, 4, 3))).size
        (4, 4)
    """
    Image = pil_image()
    fmt = _data_format(data_format)
    x = np.array(x, dtype=_floatx(dtype))
    if x.ndim != 3:
        raise ConfigError(
            "array_to_img expects one image of rank 3 (height, width, channels). Received an "
            f"array of shape {x.shape}. Fix: index one image from a batch, e.g. x[0]."
        )
    if fmt == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ConfigError(
        f"array_to_img expects 1, 3 or 4 channels. Received {channels} channels (shape "
        f"{x.shape}). Fix: check data_format ({fmt!r}) or select the channels to show."
    )


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A float array ``(h, w, c)`` (or ``(c, h, w)``) from a PIL image.

    Args:
        img: A PIL image (or anything ``np.asarray`` takes).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dtype: Default ``dl.config.floatx()``.

    Returns:
        The array; a grayscale image gets a channel axis of 1.

    Raises:
        ConfigError: the image is not 2-D or 3-D.

    Example:
        >>> img_to_array(load_img("cat.png")).shape
        (32, 32, 3)
    """
    fmt = _data_format(data_format)
    x = np.asarray(img, dtype=_floatx(dtype))
    if x.ndim == 3:
        if fmt == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1, *x.shape) if fmt == "channels_first" else (*x.shape, 1))
    else:
        raise ConfigError(
            "img_to_array expects an image of 2 or 3 dimensions. Received shape "
            f"{x.shape}. Fix: pass one PIL image (load_img(...))."
        )
    return x


def save_img(
    path: Any,
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    """Write an array as an image file (format from the extension unless ``file_format``).

    Args:
        path: File path or file object.
        x: ``(h, w, c)`` array.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        file_format: e.g. ``"png"``, ``"jpeg"`` (``"jpg"`` accepted).
        scale: As :func:`array_to_img`.
        **kwargs: Passed to ``PIL.Image.Image.save``.

    Raises:
        ConfigError: as :func:`array_to_img`.

    Example:
        >>> save_img("out.png", np.zeros((8, 8, 3)))
    """
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    img.save(path, format=file_format or None, **kwargs)


def load_img(
    path: Any,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Any:
    """Load an image file as a PIL image (Keras 3's arguments and results).

    Args:
        path: A path (``str``, ``bytes``, ``pathlib.Path``) or an ``io.BytesIO``.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"`` (16-/32-bit grayscale kept).
        target_size: ``(height, width)`` to resize to; ``None`` keeps the size.
        interpolation: Pillow resampling: ``"nearest"``, ``"bilinear"``, ``"bicubic"``,
            ``"hamming"``, ``"box"``, ``"lanczos"``.
        keep_aspect_ratio: Crop the centre to the target aspect ratio before resizing.

    Returns:
        A ``PIL.Image.Image``.

    Raises:
        ConfigError: an unknown ``color_mode`` or ``interpolation``, or a bad ``path`` type.
        FileNotFoundError: the file does not exist.

    Example:
        >>> img = load_img("cat.jpg", target_size=(224, 224))
    """
    Image = pil_image()
    if color_mode not in _COLOR_MODES:
        raise ConfigError(
            f"load_img: color_mode must be one of {_COLOR_MODES}. Received: "
            f"color_mode={color_mode!r}."
        )
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str, os.PathLike)):
        if isinstance(path, pathlib.Path):
            path = str(path.resolve())
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise ConfigError(
            "load_img expects a file path (str, bytes, pathlib.Path) or an io.BytesIO. "
            f"Received: {type(path).__name__}. Fix: pass the image file's path."
        )
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is not None:
        size = (int(target_size[1]), int(target_size[0]))
        if img.size != size:
            if interpolation not in _PIL_METHODS:
                raise ConfigError(
                    f"load_img: interpolation must be one of {', '.join(_PIL_METHODS)}. "
                    f"Received: interpolation={interpolation!r}."
                )
            resample = getattr(Image.Resampling, interpolation.upper())
            if keep_aspect_ratio:
                width, height = img.size
                tw, th = size
                crop_h = min(height, width * th // tw)
                crop_w = min(width, height * tw // th)
                h0, w0 = (height - crop_h) // 2, (width - crop_w) // 2
                img = img.resize(size, resample, box=(w0, h0, w0 + crop_w, h0 + crop_h))
            else:
                img = img.resize(size, resample)
    return img
