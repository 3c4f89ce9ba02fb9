"""Small helpers shared by the mobile architectures (MobileNet, MobileNetV2, EfficientNet):
Keras's ``correct_pad`` and ``_make_divisible``, and the model-size rules their ``weights``
and ``input_shape`` checks share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def correct_pad(x: Any, kernel_size: int | Sequence[int]) -> tuple[tuple[int, int], ...]:
    """The zero padding before a stride-2 ``'valid'`` convolution that centres the kernel as
    TensorFlow's ``'same'`` does (Keras's ``imagenet_utils.correct_pad``): one row / column
    less on top / left when that side is even (or unknown)."""
    size = tuple(x.shape[1:3])
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (k[0] // 2, k[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """``v`` rounded to the nearest multiple of ``divisor`` (at least ``min_value``), never
    more than 10% below ``v`` (Keras's ``mobilenet_v2._make_divisible``)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def square_default_size(
    input_shape: Sequence[int | None] | None, input_tensor: Any, sizes: Sequence[int]
) -> int:
    """Keras's MobileNet rule for ``default_size``: the input's side when the input is square
    and its side is one of ``sizes`` (the sizes Keras publishes weights for), else 224."""
    if input_shape is not None:
        rows, cols = tuple(input_shape)[:2]
    elif input_tensor is not None and hasattr(input_tensor, "shape"):
        rows, cols = tuple(input_tensor.shape)[1:3]
    else:
        return 224
    return int(rows) if rows == cols and rows in sizes else 224  # type: ignore[arg-type]
