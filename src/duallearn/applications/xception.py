"""Xception (``keras.applications.xception``).

Chollet, *Xception: Deep Learning with Depthwise Separable Convolutions* (CVPR 2017). Keras 3's
architecture and layer names (``block1_conv1``, ``block2_sepconv1``, ..., ``predictions``; the
residual projections, their batch norms and the ``add`` layers unnamed, as in Keras: Keras's
ImageNet files load by the order of the weighted layers). Inputs: ``tf``-preprocessed images
(:func:`preprocess_input`: pixels to ``[-1, 1]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import imagenet_utils
from ._common import (
    check_common,
    image_input,
    make_model,
    obtain_input_shape,
    pooled,
    validate_activation,
)
from ._weights import load_weights

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/xception/"
WEIGHTS_PATH = _BASE + "xception_weights_tf_dim_ordering_tf_kernels.h5"
WEIGHTS_PATH_NO_TOP = _BASE + "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
_HASHES = ("0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97")


def Xception(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "xception",
) -> Any:
    """Xception (``keras.applications.Xception``): entry flow (two convs, three separable
    blocks with strided 1×1 projection shortcuts), middle flow (eight residual blocks of three
    728-filter separable convs), exit flow.

    Args:
        include_top: Add the global average pool and the ``classes``-way Dense classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once) or a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        input_shape: ``(h, w, 3)``, sides ≥ 71; ``(299, 299, 3)`` with ImageNet weights and
            the classifier.
        pooling: Without the classifier: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name.

    Returns:
        A ``dl.Model``.

    Example:
        >>> model = dl.applications.Xception(weights=None, input_shape=(71, 71, 3))
    """
    from .. import layers

    check_common(weights, include_top, classes, pooling)
    shape = obtain_input_shape(
        input_shape,
        default_size=299,
        min_size=71,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    img_input, inputs = image_input(input_tensor, shape)

    def bn(name: str | None = None) -> Any:
        return layers.BatchNormalization(axis=-1, name=name)

    def sep(filters: int, name: str) -> Any:
        return layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)

    def shortcut(x: Any, filters: int) -> Any:
        r = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
        return layers.BatchNormalization(axis=-1)(r)

    def pool(name: str) -> Any:
        return layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=name)

    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(img_input)
    x = bn("block1_conv1_bn")(x)
    x = layers.Activation("relu", name="block1_conv1_act")(x)
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = bn("block1_conv2_bn")(x)
    x = layers.Activation("relu", name="block1_conv2_act")(x)

    residual = shortcut(x, 128)
    x = sep(128, "block2_sepconv1")(x)
    x = bn("block2_sepconv1_bn")(x)
    x = layers.Activation("relu", name="block2_sepconv2_act")(x)
    x = sep(128, "block2_sepconv2")(x)
    x = bn("block2_sepconv2_bn")(x)
    x = pool("block2_pool")(x)
    x = layers.add([x, residual])

    for block, filters in ((3, 256), (4, 728)):
        residual = shortcut(x, filters)
        x = layers.Activation("relu", name=f"block{block}_sepconv1_act")(x)
        x = sep(filters, f"block{block}_sepconv1")(x)
        x = bn(f"block{block}_sepconv1_bn")(x)
        x = layers.Activation("relu", name=f"block{block}_sepconv2_act")(x)
        x = sep(filters, f"block{block}_sepconv2")(x)
        x = bn(f"block{block}_sepconv2_bn")(x)
        x = pool(f"block{block}_pool")(x)
        x = layers.add([x, residual])

    for i in range(8):
        residual = x
        prefix = f"block{i + 5}"
        for k in (1, 2, 3):
            x = layers.Activation("relu", name=f"{prefix}_sepconv{k}_act")(x)
            x = sep(728, f"{prefix}_sepconv{k}")(x)
            x = bn(f"{prefix}_sepconv{k}_bn")(x)
        x = layers.add([x, residual])

    residual = shortcut(x, 1024)
    x = layers.Activation("relu", name="block13_sepconv1_act")(x)
    x = sep(728, "block13_sepconv1")(x)
    x = bn("block13_sepconv1_bn")(x)
    x = layers.Activation("relu", name="block13_sepconv2_act")(x)
    x = sep(1024, "block13_sepconv2")(x)
    x = bn("block13_sepconv2_bn")(x)
    x = pool("block13_pool")(x)
    x = layers.add([x, residual])

    x = sep(1536, "block14_sepconv1")(x)
    x = bn("block14_sepconv1_bn")(x)
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = sep(2048, "block14_sepconv2")(x)
    x = bn("block14_sepconv2_bn")(x)
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, None, None)
    model = make_model(inputs, x, name)
    if weights == "imagenet":
        origin = WEIGHTS_PATH if include_top else WEIGHTS_PATH_NO_TOP
        load_weights(
            model, weights, file_name=origin.rsplit("/", 1)[1], origin=origin,
            file_hash=_HASHES[0 if include_top else 1],
        )  # fmt: skip
    elif weights is not None:
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """Xception's preprocessing: ``imagenet_utils.preprocess_input(x, mode="tf")``
    (``x / 127.5 − 1``: pixels to ``[-1, 1]``)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
