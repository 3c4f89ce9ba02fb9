"""ResNet50V2, ResNet101V2, ResNet152V2 (``keras.applications.resnet_v2``).

He et al., *Identity Mappings in Deep Residual Networks* (2016): pre-activation blocks. Keras 3's
architecture and layer names. Inputs: ``tf``-preprocessed images (``x / 127.5 − 1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import imagenet_utils
from .resnet import ResNet, stack_residual_blocks_v2


def _v2(blocks: tuple[int, int, int, int]) -> Callable[[Any], Any]:
    def stack_fn(x: Any) -> Any:
        x = stack_residual_blocks_v2(x, 64, blocks[0], name="conv2")
        x = stack_residual_blocks_v2(x, 128, blocks[1], name="conv3")
        x = stack_residual_blocks_v2(x, 256, blocks[2], name="conv4")
        return stack_residual_blocks_v2(x, 512, blocks[3], stride1=1, name="conv5")

    return stack_fn


def ResNet50V2(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet50v2",
) -> Any:
    """ResNet50V2 (``keras.applications.ResNet50V2``): 3, 4, 6, 3 pre-activation blocks;
    arguments as :func:`duallearn.applications.ResNet50`.

    Example:
        >>> model = dl.applications.ResNet50V2(weights=None, include_top=False, pooling="avg")
    """
    return ResNet(
        _v2((3, 4, 6, 3)), True, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet50v2",
    )  # fmt: skip


def ResNet101V2(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet101v2",
) -> Any:
    """ResNet101V2 (``keras.applications.ResNet101V2``): 3, 4, 23, 3 blocks."""
    return ResNet(
        _v2((3, 4, 23, 3)), True, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet101v2",
    )  # fmt: skip


def ResNet152V2(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "resnet152v2",
) -> Any:
    """ResNet152V2 (``keras.applications.ResNet152V2``): 3, 8, 36, 3 blocks."""
    return ResNet(
        _v2((3, 8, 36, 3)), True, True, include_top, weights, input_tensor, input_shape,
        pooling, classes, classifier_activation, name=name, weights_name="resnet152v2",
    )  # fmt: skip


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """ResNetV2's preprocessing: ``imagenet_utils.preprocess_input(x, mode="tf")``
    (``x / 127.5 − 1``)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
