"""Argument rules and building blocks shared by every ``dl.applications`` architecture.

Keras 3's ``imagenet_utils.obtain_input_shape`` / ``validate_activation`` and the checks each
``keras.applications`` function makes on ``weights``, ``classes``, ``input_tensor`` and
``pooling``, raising duallearn errors whose messages name what was expected, what was
received and the fix. Only ``channels_last`` images are built (duallearn's
``image_data_format()``).

Differs from Keras 3: a ``pooling`` other than ``None``, ``"avg"`` or ``"max"`` is a
``ConfigError`` (Keras ignores it); ``input_tensor`` must be a symbolic tensor
(``dl.layers.Input`` or a layer's output; Keras also wraps a backend tensor).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, ShapeError

Shape = tuple[int | None, ...]


def check_weights(weights: object) -> None:
    """``weights`` is ``None``, ``"imagenet"`` or the path of an existing file (Keras's rule)."""
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return
    if isinstance(weights, (str, os.PathLike)) and os.path.exists(weights):
        return
    raise ConfigError(
        "The `weights` argument should be either None (random initialization), 'imagenet' "
        "(pre-training on ImageNet), or the path to the weights file to be loaded. "
        f"Received: weights={weights!r}. Fix: pass one of these (a path must exist)."
    )


def check_classes(weights: object, include_top: bool, classes: int) -> None:
    """ImageNet weights with the classifier need ``classes=1000``."""
    if weights == "imagenet" and include_top and classes != 1000:
        raise ConfigError(
            "If using weights='imagenet' with include_top=True, `classes` should be 1000. "
            f"Received: classes={classes}. Fix: pass classes=1000, or include_top=False "
            "and add your own classifier, or weights=None."
        )


def check_pooling(pooling: object) -> None:
    if pooling not in (None, "avg", "max"):
        raise ConfigError(
            f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}. "
            "Fix: pass one of these (it applies when include_top=False)."
        )


def obtain_input_shape(
    input_shape: Sequence[int | None] | None,
    default_size: int,
    min_size: int,
    data_format: str,
    require_flatten: bool,
    weights: object = None,
) -> Shape:
    """The model's input shape (batch excluded) from the user's ``input_shape`` (Keras's
    ``obtain_input_shape``): the default ``(default_size, default_size, 3)`` when it is
    ``None`` and a classifier is built; ``(None, None, 3)`` without one; ImageNet weights with
    the classifier fix the shape to the default; sides below ``min_size`` are refused."""
    shape: Shape | None = tuple(input_shape) if input_shape is not None else None
    first = data_format == "channels_first"
    if weights != "imagenet" and shape and len(shape) == 3:
        channels = shape[0] if first else shape[-1]
        if channels not in {1, 3}:
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed "
                f"an input_shape with {channels} input channels.",
                stacklevel=3,
            )
        default_shape: Shape = (
            (shape[0], default_size, default_size)
            if first
            else (default_size, default_size, shape[-1])
        )
    else:
        default_shape = (
            (3, default_size, default_size) if first else (default_size, default_size, 3)
        )
    if weights == "imagenet" and require_flatten:
        if shape is not None and shape != default_shape:
            raise ShapeError(
                "When setting include_top=True and loading 'imagenet' weights, `input_shape` "
                f"should be {default_shape}. Received: input_shape={shape}. Fix: resize the "
                f"images to {default_shape}, or pass include_top=False to take other sizes."
            )
        return default_shape
    if shape:
        if len(shape) != 3:
            raise ShapeError(
                "`input_shape` must be a tuple of three integers (height, width, channels). "
                f"Received: input_shape={shape}."
            )
        channels = shape[0] if first else shape[-1]
        sides = shape[1:] if first else shape[:2]
        if channels != 3 and weights == "imagenet":
            raise ShapeError(
                f"The input must have 3 channels with 'imagenet' weights. Received: "
                f"input_shape={shape}. Fix: pass RGB images, or weights=None."
            )
        if any(s is not None and s < min_size for s in sides):
            raise ShapeError(
                f"Input size must be at least {min_size}x{min_size}. Received: "
                f"input_shape={shape}. Fix: upsample the images, or use larger ones."
            )
    elif require_flatten:
        shape = default_shape
    else:
        shape = (3, None, None) if first else (None, None, 3)
    if require_flatten and None in shape:
        raise ShapeError(
            "If include_top is True, you should specify a static `input_shape`. Received: "
            f"input_shape={shape}. Fix: give every side, or pass include_top=False."
        )
    return shape


def validate_activation(classifier_activation: object, weights: object) -> None:
    """Pretrained weights allow only ``None`` / ``"linear"`` or ``"softmax"`` on top."""
    if weights is None:
        return
    from .. import activations

    try:
        name = str(activations.get(classifier_activation))
    except Exception:  # noqa: BLE001 - a custom callable is not one of the two
        name = repr(classifier_activation)
    if name not in ("softmax", "linear"):
        raise ConfigError(
            "Only None and 'softmax' activations are allowed for the `classifier_activation` "
            "argument when using pretrained weights, with include_top=True. Received: "
            f"classifier_activation={classifier_activation!r}. Fix: pass None (logits) or "
            "'softmax', or weights=None."
        )


def image_input(input_tensor: Any, input_shape: Shape) -> tuple[Any, Any]:
    """``(img_input, model_inputs)``: a new ``Input(input_shape)``, or ``input_tensor`` and the
    model inputs it descends from (Keras's ``get_source_inputs``)."""
    from ..layers import Input
    from ..layers._input import SymbolicTensor

    if input_tensor is None:
        img = Input(shape=input_shape)
        return img, img
    if not isinstance(input_tensor, SymbolicTensor):
        raise ConfigError(
            "`input_tensor` must be a symbolic tensor (dl.layers.Input(...) or a layer's "
            f"output). Received: {type(input_tensor).__name__}. Fix: pass "
            "dl.layers.Input(shape=...), or input_shape= instead."
        )
    sources = source_inputs(input_tensor)
    return input_tensor, sources[0] if len(sources) == 1 else sources


def source_inputs(tensor: Any) -> list[Any]:
    """The model inputs (tensors no layer produced) ``tensor`` is computed from, in order."""
    found: list[Any] = []
    seen: set[int] = set()
    stack = [tensor]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.node is None or type(t.node.layer).__name__ == "InputLayer":
            found.append(t)
        else:
            stack.extend(reversed(t.node.inputs))
    return found


def pooled(x: Any, pooling: str | None, avg_name: str | None, max_name: str | None) -> Any:
    """The headless model's output: ``x``, or its global average / max pool."""
    from .. import layers

    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def make_model(inputs: Any, outputs: Any, name: str) -> Any:
    """The functional ``dl.Model`` of an architecture."""
    from ..models import Model

    return Model(inputs, outputs, name=name)


def check_common(weights: object, include_top: bool, classes: int, pooling: object) -> None:
    """The checks every architecture makes before building, in Keras's order."""
    check_weights(weights)
    check_classes(weights, include_top, classes)
    check_pooling(pooling)
