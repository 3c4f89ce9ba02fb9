"""ResNet50, ResNet101, ResNet152 (``keras.applications.resnet``), and the builder that
ResNetV2 shares.

He et al., *Deep Residual Learning for Image Recognition* (2015). Keras 3's architecture and
layer names (``conv1_pad``, ``conv2_block1_0_conv``, ..., ``predictions``), so Keras's ImageNet
files load by name. Inputs: ``caffe``-preprocessed images (:func:`preprocess_input`).
"""

from __future__ import annotations

from collections.abc import Callable
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

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
WEIGHTS_HASHES = {  # (with the classifier, without): Keras's md5s
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}
_EPS = 1.001e-5  # Keras's BatchNormalization epsilon in every ResNet


def weights_file(weights_name: str, include_top: bool) -> tuple[str, str, str]:
    """``(file_name, origin, md5)`` of Keras's ImageNet file for one ResNet."""
    suffix = "" if include_top else "_notop"
    file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return (
        file_name,
        BASE_WEIGHTS_PATH + file_name,
        WEIGHTS_HASHES[weights_name][0 if include_top else 1],
    )


def ResNet(  # noqa: N802 - Keras's name
    stack_fn: Callable[[Any], Any],
    preact: bool,
    use_bias: bool,
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet",
    weights_name: str | None = None,
) -> Any:
    """Keras's ``resnet.ResNet`` builder: stem, ``stack_fn``'s residual stacks, top.

    ``preact``: ResNetV2 (pre-activation; no BN/ReLU after ``conv1``, ``post_bn`` at the end).
    ``use_bias``: biases in ``conv1_conv``.
    """
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
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = stack_fn(x)
    if preact:
        x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, "avg_pool", "max_pool")
    model = make_model(inputs, x, name)
    if weights == "imagenet" and weights_name in WEIGHTS_HASHES:
        file_name, origin, file_hash = weights_file(weights_name, include_top)
        load_weights(model, weights, file_name=file_name, origin=origin, file_hash=file_hash)
    elif weights is not None and weights != "imagenet":
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def residual_block_v1(
    x: Any,
    filters: int,
    kernel_size: int = 3,
    stride: int = 1,
    conv_shortcut: bool = True,
    name: str | None = None,
) -> Any:
    """A ResNet v1 bottleneck block: 1×1, k×k, 1×1 (×4 filters) convolutions, each with BN,
    added to the (projected) shortcut, then ReLU."""
    from .. import layers

    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stack_residual_blocks_v1(
    x: Any, filters: int, blocks: int, stride1: int = 2, name: str | None = None
) -> Any:
    """``blocks`` v1 blocks; the first projects the shortcut and strides by ``stride1``."""
    x = residual_block_v1(x, filters, stride=stride1, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = residual_block_v1(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def residual_block_v2(
    x: Any,
    filters: int,
    kernel_size: int = 3,
    stride: int = 1,
    conv_shortcut: bool = False,
    name: str | None = None,
) -> Any:
    """A ResNet v2 (pre-activation) bottleneck block: BN-ReLU first, the stride on the k×k
    convolution, an unnamed 1×1 max pool as the strided identity shortcut (as Keras)."""
    from .. import layers

    preact = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(
        x
    )
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def stack_residual_blocks_v2(
    x: Any, filters: int, blocks: int, stride1: int = 2, name: str | None = None
) -> Any:
    """``blocks`` v2 blocks: the first projects the shortcut, the last strides by ``stride1``."""
    x = residual_block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = residual_block_v2(x, filters, name=f"{name}_block{i}")
    return residual_block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _v1(blocks: tuple[int, int, int, int]) -> Callable[[Any], Any]:
    def stack_fn(x: Any) -> Any:
        x = stack_residual_blocks_v1(x, 64, blocks[0], stride1=1, name="conv2")
        x = stack_residual_blocks_v1(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v1(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v1(x, 512, blocks[3], name="conv5")

    return stack_fn


def ResNet50(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet50",
) -> Any:
    """ResNet50 (``keras.applications.ResNet50``): 3, 4, 6, 3 bottleneck blocks.

    Args:
        include_top: Add the global average pool and the ``classes``-way Dense classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once into
            ``$DUALLEARN_HOME/models``) or the path of a weights file.
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
        >>> model = dl.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    """
    return ResNet(
        _v1((3, 4, 6, 3)), False, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet50",
    )  # fmt: skip


def ResNet101(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet101",
) -> Any:
    """ResNet101 (``keras.applications.ResNet101``): 3, 4, 23, 3 blocks; arguments as
    :func:`ResNet50`."""
    return ResNet(
        _v1((3, 4, 23, 3)), False, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet101",
    )  # fmt: skip


def ResNet152(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet152",
) -> Any:
    """ResNet152 (``keras.applications.ResNet152``): 3, 8, 36, 3 blocks; arguments as
    :func:`ResNet50`."""
    return ResNet(
        _v1((3, 8, 36, 3)), False, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet152",
    )  # fmt: skip


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """ResNet's preprocessing: ``imagenet_utils.preprocess_input(x, mode="caffe")`` (RGB→BGR,
    minus the ImageNet mean pixel, no scaling)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
