"""DenseNet121, DenseNet169, DenseNet201 (``keras.applications.densenet``).

Huang et al., *Densely Connected Convolutional Networks* (CVPR 2017). Keras 3's architecture
and layer names (``conv1_conv``, ``conv2_block1_0_bn``, ``pool2_conv``, ..., ``bn``,
``predictions``; the two stem paddings unnamed, as in Keras), so Keras's ImageNet files load.
Inputs: ``torch``-preprocessed images (:func:`preprocess_input`).
"""

from __future__ import annotations

from collections.abc import Sequence
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

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
WEIGHTS_HASHES: dict[tuple[int, ...], tuple[str, str, str]] = {  # blocks -> (name, md5s)
    (6, 12, 24, 16): (
        "densenet121", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"
    ),
    (6, 12, 32, 32): (
        "densenet169", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"
    ),
    (6, 12, 48, 32): (
        "densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"
    ),
}  # fmt: skip
_EPS = 1.001e-5  # Keras's BatchNormalization epsilon in every DenseNet


def dense_block(x: Any, blocks: int, name: str) -> Any:
    """``blocks`` conv blocks, each adding 32 feature maps to its input."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x: Any, reduction: float, name: str) -> Any:
    """BN-ReLU, a 1×1 conv to ``reduction`` × the channels, 2×2 average pool."""
    from .. import layers

    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x: Any, growth_rate: int, name: str) -> Any:
    """BN-ReLU-1×1 conv (4 × ``growth_rate``), BN-ReLU-3×3 conv (``growth_rate``), the result
    concatenated to the input."""
    from .. import layers

    x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(x)
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x1)
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def DenseNet(  # noqa: N802 - Keras's name
    blocks: Sequence[int],
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet",
) -> Any:
    """Keras's ``densenet.DenseNet`` builder: a 7×7/2 stem and 3×3/2 max pool, four dense
    blocks of ``blocks[i]`` conv blocks with transitions (halving channels and sides) between
    them, a final BN-ReLU, then the top."""
    from .. import layers

    check_common(weights, include_top, classes, pooling)
    shape = obtain_input_shape(
        input_shape,
        default_size=224,
        min_size=32,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    img_input, inputs = image_input(input_tensor, shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = dense_block(x, blocks[0], name="conv2")
    x = transition_block(x, 0.5, name="pool2")
    x = dense_block(x, blocks[1], name="conv3")
    x = transition_block(x, 0.5, name="pool3")
    x = dense_block(x, blocks[2], name="conv4")
    x = transition_block(x, 0.5, name="pool4")
    x = dense_block(x, blocks[3], name="conv5")
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "avg_pool", "max_pool")
    model = make_model(inputs, x, name)
    known = WEIGHTS_HASHES.get(tuple(blocks))
    if weights == "imagenet" and known is not None:
        suffix = "" if include_top else "_notop"
        file_name = f"{known[0]}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        load_weights(
            model, weights, file_name=file_name, origin=BASE_WEIGHTS_PATH + file_name,
            file_hash=known[1] if include_top else known[2],
        )  # fmt: skip
    elif weights is not None and weights != "imagenet":
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def DenseNet121(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet121",
) -> Any:
    """DenseNet121 (``keras.applications.DenseNet121``): dense blocks of 6, 12, 24, 16.

    Args:
        include_top: Add the global average pool and the ``classes``-way Dense classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once) or a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        input_shape: ``(h, w, 3)``, sides ≥ 32; ``(224, 224, 3)`` with ImageNet weights and
            the classifier.
        pooling: Without the classifier: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name.

    Returns:
        A ``dl.Model``.

    Example:
        >>> model = dl.applications.DenseNet121(weights=None, input_shape=(32, 32, 3))
    """
    return DenseNet(
        [6, 12, 24, 16], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def DenseNet169(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet169",
) -> Any:
    """DenseNet169 (``keras.applications.DenseNet169``): dense blocks of 6, 12, 32, 32;
    arguments as :func:`DenseNet121`."""
    return DenseNet(
        [6, 12, 32, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def DenseNet201(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "densenet201",
) -> Any:
    """DenseNet201 (``keras.applications.DenseNet201``): dense blocks of 6, 12, 48, 32;
    arguments as :func:`DenseNet121`."""
    return DenseNet(
        [6, 12, 48, 32], include_top, weights, input_tensor, input_shape, pooling, classes,
        classifier_activation, name=name,
    )  # fmt: skip


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """DenseNet's preprocessing: ``imagenet_utils.preprocess_input(x, mode="torch")``
    (``x / 255``, then minus the ImageNet mean, over its std, per RGB channel)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
