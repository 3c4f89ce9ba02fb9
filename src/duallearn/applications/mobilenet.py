"""MobileNet (``keras.applications.mobilenet``).

Howard et al., *MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
Applications* (2017). Keras 3's architecture and layer names (``conv1``, ``conv_dw_1``,
``conv_pw_1_bn``, ..., ``conv_preds``, ``reshape_2``, ``predictions``), so Keras's ImageNet
files load. Inputs: ``tf``-preprocessed images (:func:`preprocess_input`: pixels to
``[-1, 1]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import imagenet_utils
from ._blocks_mobile import square_default_size
from ._common import (
    check_common,
    image_input,
    make_model,
    obtain_input_shape,
    pooled,
    validate_activation,
)
from ._weights import load_weights

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
IMAGENET_ALPHAS = (0.25, 0.50, 0.75, 1.0)
IMAGENET_SIZES = (128, 160, 192, 224)
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.50: "5_0", 0.25: "2_5"}
# (pointwise filters, stride) of the 13 depthwise-separable blocks, block_id 1..13
_BLOCKS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
    (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip


def MobileNet(  # noqa: N802 - Keras's name
    input_shape: Sequence[int | None] | None = None,
    alpha: float = 1.0,
    depth_multiplier: int = 1,
    dropout: float = 1e-3,
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Any:
    """MobileNet (``keras.applications.MobileNet``): a 3×3 stem, 13 depthwise-separable blocks
    (3×3 depthwise, 1×1 pointwise; BN and ReLU6 after each); the top is a 1×1 conv classifier.

    Args:
        input_shape: ``(h, w, 3)``, sides ≥ 32; ``(224, 224, 3)`` by default. With ImageNet
            weights Keras publishes square sides 128, 160, 192 and 224 (other shapes load the
            224 file, with a warning).
        alpha: Width multiplier (every layer's filters × ``alpha``); with ImageNet weights one
            of 0.25, 0.5, 0.75, 1.0.
        depth_multiplier: Depthwise channel multiplier (1 with ImageNet weights).
        dropout: Dropout rate before the classifier.
        include_top: Add the global average pool, dropout and the ``classes``-way classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once) or a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        pooling: Without the classifier: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name; ``f"mobilenet_{alpha:0.2f}_{rows}"`` by default.

    Returns:
        A ``dl.Model``.

    Example:
        >>> model = dl.applications.MobileNet(weights=None, input_shape=(32, 32, 3), classes=10)
    """
    from .. import layers

    check_common(weights, include_top, classes, pooling)
    default_size = square_default_size(input_shape, None, IMAGENET_SIZES)
    shape = obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = shape[0], shape[1]
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ConfigError(
                "If imagenet weights are being loaded, depth multiplier must be 1. Received: "
                f"depth_multiplier={depth_multiplier!r}. Fix: pass depth_multiplier=1, or "
                "weights=None."
            )
        if alpha not in IMAGENET_ALPHAS:
            raise ConfigError(
                "If imagenet weights are being loaded, alpha can be one of 0.25, 0.50, 0.75 "
                f"or 1.0 only. Received: alpha={alpha!r}. Fix: pass one of these, or "
                "weights=None to train another width."
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in "
                "[128, 160, 192, 224]. Weights for input shape (224, 224) will be loaded "
                "as the default.",
                stacklevel=2,
            )
    img_input, inputs = image_input(input_tensor, shape)

    x = _conv_block(img_input, 32, alpha, strides=(2, 2))
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_conv_block(
            x, filters, alpha, depth_multiplier, strides=(stride, stride), block_id=block_id
        )
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, None, None)
    model = make_model(inputs, x, name if name is not None else f"mobilenet_{alpha:0.2f}_{rows}")
    if weights == "imagenet":
        suffix = "" if include_top else "_no_top"
        file_name = f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf{suffix}.h5"
        load_weights(
            model, weights, file_name=file_name, origin=BASE_WEIGHT_PATH + file_name, file_hash=None
        )
    elif weights is not None:
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def _conv_block(
    inputs: Any,
    filters: int,
    alpha: float,
    kernel: tuple[int, int] = (3, 3),
    strides: tuple[int, int] = (1, 1),
) -> Any:
    """The stem: a ``'same'`` conv (``filters`` × ``alpha``), BN, ReLU6."""
    from .. import layers

    x = layers.Conv2D(
        int(filters * alpha), kernel, padding="same", use_bias=False, strides=strides, name="conv1"
    )(inputs)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    return layers.ReLU(6.0, name="conv1_relu")(x)


def _depthwise_conv_block(
    inputs: Any,
    pointwise_conv_filters: int,
    alpha: float,
    depth_multiplier: int = 1,
    strides: tuple[int, int] = (1, 1),
    block_id: int = 1,
) -> Any:
    """3×3 depthwise (stride 2: pad bottom/right by one, then ``'valid'``), BN, ReLU6, 1×1
    pointwise conv (``pointwise_conv_filters`` × ``alpha``), BN, ReLU6."""
    from .. import layers

    filters = int(pointwise_conv_filters * alpha)
    if strides == (1, 1):
        x = inputs
    else:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(inputs)
    x = layers.DepthwiseConv2D(
        (3, 3), padding="same" if strides == (1, 1) else "valid",
        depth_multiplier=depth_multiplier, strides=strides, use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(
        filters, (1, 1), padding="same", use_bias=False, strides=(1, 1), name=f"conv_pw_{block_id}"
    )(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """MobileNet's preprocessing: ``imagenet_utils.preprocess_input(x, mode="tf")``
    (``x / 127.5 − 1``: pixels to ``[-1, 1]``)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
