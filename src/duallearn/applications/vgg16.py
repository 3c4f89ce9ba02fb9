"""VGG16 (``keras.applications.vgg16``).

Simonyan & Zisserman, *Very Deep Convolutional Networks for Large-Scale Image Recognition*
(2014). Keras 3's architecture and layer names. Inputs: ``caffe``-preprocessed images.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import imagenet_utils
from ._vgg import vgg

WEIGHTS_HASHES = (
    "64373286793e3c8b2b4e3219cbf3544b",
    "6d6bbae143d832006294945121d1f1fc",
)  # with / without the classifier: Keras's md5s


def VGG16(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "vgg16",
) -> Any:
    """VGG16 (``keras.applications.VGG16``): 2+2+3+3+3 = 13 convolutions, three Dense layers.

    Args:
        include_top: Add Flatten, ``fc1``, ``fc2`` (4096 ReLU units each) and the
            ``classes``-way ``predictions`` layer (a fixed input size then).
        weights: ``None``, ``"imagenet"`` or the path of a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        input_shape: ``(h, w, 3)``, sides ≥ 32.
        pooling: Without the classifier: ``None``, ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name.

    Returns:
        A ``dl.Model``.

    Example:
        >>> model = dl.applications.VGG16(weights=None, include_top=False, pooling="max")
    """
    return vgg(
        (2, 2, 3, 3, 3), "vgg16", WEIGHTS_HASHES, include_top, weights, input_tensor,
        input_shape, pooling, classes, classifier_activation, name,
    )  # fmt: skip


def preprocess_input(x: Any, data_format: str | None = None) -> np.ndarray:
    """VGG's preprocessing: ``imagenet_utils.preprocess_input(x, mode="caffe")``."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
