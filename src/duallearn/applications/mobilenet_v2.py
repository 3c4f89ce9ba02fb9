"""MobileNetV2 (``keras.applications.mobilenet_v2``).

Sandler et al., *MobileNetV2: Inverted Residuals and Linear Bottlenecks* (CVPR 2018). Keras 3's
architecture and layer names (``Conv1``, ``expanded_conv_depthwise``, ``block_1_expand``, ...,
``out_relu``, ``predictions``), so Keras's ImageNet files load. Inputs: ``tf``-preprocessed
images (:func:`preprocess_input`: pixels to ``[-1, 1]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import imagenet_utils
from ._blocks_mobile import correct_pad, make_divisible, square_default_size
from ._common import (
    check_common,
    image_input,
    make_model,
    obtain_input_shape,
    pooled,
    validate_activation,
)
from ._weights import load_weights

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
IMAGENET_ALPHAS = (0.35, 0.50, 0.75, 1.0, 1.3, 1.4)
IMAGENET_SIZES = (96, 128, 160, 192, 224)
# (filters, stride, expansion) of the 17 inverted residual blocks, block_id 0..16
_BLOCKS = (
    (16, 1, 1),
    (24, 2, 6), (24, 1, 6),
    (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6),
    (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6),
    (320, 1, 6),
)  # fmt: skip


def MobileNetV2(  # noqa: N802 - Keras's name
    input_shape: Sequence[int | None] | None = None,
    alpha: float = 1.0,
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
) -> Any:
    """MobileNetV2 (``keras.applications.MobileNetV2``): a 3×3 stem, 17 inverted residual
    blocks (1×1 expand, 3×3 depthwise, linear 1×1 project; ReLU6), a 1×1 conv to 1280.

    Args:
        input_shape: ``(h, w, 3)``, sides ≥ 32; ``(224, 224, 3)`` by default. With ImageNet
            weights Keras publishes square sides 96, 128, 160, 192 and 224 (other shapes load
            the 224 file, with a warning).
        alpha: Width multiplier: every block's filters × ``alpha`` (rounded to multiples of
            8); with ImageNet weights one of 0.35, 0.5, 0.75, 1.0, 1.3, 1.4.
        include_top: Add the global average pool and the ``classes``-way Dense classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once) or a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        pooling: Without the classifier: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name; ``f"mobilenetv2_{alpha:0.2f}_{rows}"`` by default.

    Returns:
        A ``dl.Model``.

    Example:
        >>> model = dl.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10)
    """
    from .. import layers

    check_common(weights, include_top, classes, pooling)
    default_size = square_default_size(input_shape, input_tensor, IMAGENET_SIZES)
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
        if alpha not in IMAGENET_ALPHAS:
            raise ConfigError(
                "If imagenet weights are being loaded, alpha must be one of 0.35, 0.50, 0.75, "
                f"1.0, 1.3 or 1.4 only. Received: alpha={alpha!r}. Fix: pass one of these, or "
                "weights=None to train another width."
            )
        if rows != cols or rows not in IMAGENET_SIZES:
            rows = 224
            warnings.warn(
                "`input_shape` is undefined or non-square, or `rows` is not in "
                "[96, 128, 160, 192, 224]. Weights for input shape (224, 224) will be "
                "loaded as the default.",
                stacklevel=2,
            )
    img_input, inputs = image_input(input_tensor, shape)

    x = layers.Conv2D(
        make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same",
        use_bias=False, name="Conv1",
    )(img_input)  # fmt: skip
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    # no alpha on the last conv below 1.0 (the paper): only wider networks widen it
    last_block_filters = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_block_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, None, None)
    model = make_model(inputs, x, name if name is not None else f"mobilenetv2_{alpha:0.2f}_{rows}")
    if weights == "imagenet":
        suffix = "" if include_top else "_no_top"
        file_name = (
            f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}.h5"
        )
        load_weights(
            model, weights, file_name=file_name, origin=BASE_WEIGHT_PATH + file_name, file_hash=None
        )
    elif weights is not None:
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def inverted_res_block(
    inputs: Any, expansion: int, stride: int, alpha: float, filters: int, block_id: int
) -> Any:
    """Keras's ``_inverted_res_block``: 1×1 expand (not in block 0), 3×3 depthwise (stride-2:
    explicit ``correct_pad`` then ``'valid'``), linear 1×1 project, each with BN; a residual
    ``Add`` when the shapes agree."""
    from .. import layers

    in_channels = inputs.shape[-1]
    pointwise_filters = make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = layers.Conv2D(
            expansion * in_channels, kernel_size=1, padding="same", use_bias=False,
            activation=None, name=f"{prefix}expand",
        )(x)  # fmt: skip
        x = layers.BatchNormalization(
            axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}expand_BN"
        )(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size=3, strides=stride, activation=None, use_bias=False,
        padding="same" if stride == 1 else "valid", name=f"{prefix}depthwise",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(
        axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}depthwise_BN"
    )(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(
        pointwise_filters, kernel_size=1, padding="same", use_bias=False, activation=None,
        name=f"{prefix}project",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(
        axis=-1, epsilon=1e-3, momentum=0.999, name=f"{prefix}project_BN"
    )(x)
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """MobileNetV2's preprocessing: ``imagenet_utils.preprocess_input(x, mode="tf")``
    (``x / 127.5 − 1``: pixels to ``[-1, 1]``)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
