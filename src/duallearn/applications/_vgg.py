"""The VGG builder shared by :mod:`.vgg16` and :mod:`.vgg19` (Keras 3's architecture and layer
names: ``block1_conv1`` ... ``block5_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``)."""

from __future__ import annotations

from typing import Any

from ._common import (
    check_common,
    image_input,
    make_model,
    obtain_input_shape,
    pooled,
    validate_activation,
)
from ._weights import load_weights

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


def vgg(
    convs: tuple[int, int, int, int, int],
    family: str,
    hashes: tuple[str, str],
    include_top: bool,
    weights: str | None,
    input_tensor: Any,
    input_shape: tuple[int | None, ...] | None,
    pooling: str | None,
    classes: int,
    classifier_activation: Any,
    name: str,
) -> Any:
    """Five blocks of 3×3 same-padded ReLU convolutions (64, 128, 256, 512, 512 filters;
    ``convs[i]`` of them in block ``i+1``), each closed by a 2×2 max pool; then
    Flatten-4096-4096-``classes`` or a global pool."""
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
    x = img_input
    for block, (n, filters) in enumerate(zip(convs, (64, 128, 256, 512, 512), strict=True), 1):
        for i in range(1, n + 1):
            x = layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = pooled(x, pooling, None, None)  # unnamed in Keras: global_average_pooling2d...
    model = make_model(inputs, x, name)
    suffix = "" if include_top else "_notop"
    file_name = f"{family}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    load_weights(
        model,
        weights,
        file_name=file_name,
        origin=f"{_BASE}{family}/{file_name}",
        file_hash=hashes[0 if include_top else 1],
    )
    return model
