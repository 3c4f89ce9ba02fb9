"""EfficientNetB0 … B7 (``keras.applications.efficientnet``).

Tan & Le, *EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks* (ICML
2019). Keras 3's architecture and layer names (``rescaling``, ``normalization``,
``stem_conv``, ``block1a_dwconv``, ``block2b_se_excite``, ..., ``top_activation``,
``predictions``), so Keras's ImageNet files load. The preprocessing is inside the model
(``Rescaling(1/255)``, then ``Normalization`` with the ImageNet mean and variance held as
weights; with ImageNet weights a ``Rescaling(1/√std)`` after it, as Keras): feed pixels in
``[0, 255]``; :func:`preprocess_input` is the identity.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from . import imagenet_utils
from ._blocks_mobile import correct_pad
from ._common import (
    check_common,
    image_input,
    make_model,
    obtain_input_shape,
    pooled,
    validate_activation,
)
from ._weights import load_weights

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
WEIGHTS_HASHES = {  # (with the classifier, without): Keras's md5s
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}


def _args(
    kernel_size: int, repeats: int, f_in: int, f_out: int, expand: int, strides: int
) -> dict[str, Any]:
    return {
        "kernel_size": kernel_size, "repeats": repeats, "filters_in": f_in,
        "filters_out": f_out, "expand_ratio": expand, "id_skip": True,
        "strides": strides, "se_ratio": 0.25,
    }  # fmt: skip


DEFAULT_BLOCKS_ARGS = [
    _args(3, 1, 32, 16, 1, 1),
    _args(3, 2, 16, 24, 6, 2),
    _args(5, 2, 24, 40, 6, 2),
    _args(3, 3, 40, 80, 6, 2),
    _args(5, 3, 80, 112, 6, 1),
    _args(5, 4, 112, 192, 6, 2),
    _args(3, 1, 192, 320, 6, 1),
]
CONV_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"},
}
DENSE_KERNEL_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"},
}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def EfficientNet(  # noqa: N802 - Keras's name
    width_coefficient: float,
    depth_coefficient: float,
    default_size: int,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    depth_divisor: int = 8,
    activation: Any = "swish",
    blocks_args: Any = "default",
    name: str = "efficientnet",
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    weights_name: str | None = None,
) -> Any:
    """Keras's ``efficientnet.EfficientNet`` builder: filters scaled by ``width_coefficient``
    (rounded to ``depth_divisor``), block repeats by ``depth_coefficient`` (rounded up),
    stochastic depth rising linearly to ``drop_connect_rate`` over the blocks (a ``Dropout``
    with ``noise_shape=(None, 1, 1, 1)``: a whole sample's residual branch is dropped)."""
    from .. import layers
    from ..errors import ConfigError

    if isinstance(blocks_args, str) and blocks_args == "default":
        blocks_args = DEFAULT_BLOCKS_ARGS
    check_common(weights, include_top, classes, pooling)
    shape = obtain_input_shape(
        input_shape,
        default_size=default_size,
        min_size=32,
        data_format="channels_last",
        require_flatten=include_top,
        weights=weights,
    )
    img_input, inputs = image_input(input_tensor, shape)
    bn_axis = 3

    def round_filters(filters: float, divisor: int = depth_divisor) -> int:
        filters *= width_coefficient
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats: int) -> int:
        return int(math.ceil(depth_coefficient * repeats))

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=bn_axis)(x)
    if weights == "imagenet":
        # Keras's files hold the ImageNet variance as std (the 1/√std rescale fixes that)
        x = layers.Rescaling([1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB])(x)
    x = layers.ZeroPadding2D(padding=correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(
        round_filters(32), 3, strides=2, padding="valid", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(axis=bn_axis, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    blocks_args = copy.deepcopy(blocks_args)
    b = 0
    blocks = float(sum(round_repeats(args["repeats"]) for args in blocks_args))
    for i, args in enumerate(blocks_args):
        if args["repeats"] <= 0:
            raise ConfigError(
                "The number of repeats in `EfficientNet` must be > 0. Received: "
                f"repeats={args['repeats']} (blocks_args[{i}]). Fix: give every stage at "
                "least one block."
            )
        args["filters_in"] = round_filters(args["filters_in"])
        args["filters_out"] = round_filters(args["filters_out"])
        for j in range(round_repeats(args.pop("repeats"))):
            if j > 0:  # only the stage's first block strides and changes the width
                args["strides"] = 1
                args["filters_in"] = args["filters_out"]
            x = block(
                x,
                activation,
                drop_connect_rate * b / blocks,
                name=f"block{i + 1}{chr(j + 97)}_",
                **args,
            )
            b += 1

    x = layers.Conv2D(
        round_filters(1280), 1, padding="same", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name="top_conv",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(axis=bn_axis, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        validate_activation(classifier_activation, weights)
        x = layers.Dense(
            classes, activation=classifier_activation,
            kernel_initializer=DENSE_KERNEL_INITIALIZER, name="predictions",
        )(x)  # fmt: skip
    else:
        x = pooled(x, pooling, "avg_pool", "max_pool")
    model = make_model(inputs, x, name)
    if weights == "imagenet" and weights_name in WEIGHTS_HASHES:
        file_name = name + (".h5" if include_top else "_notop.h5")
        load_weights(
            model, weights, file_name=file_name, origin=BASE_WEIGHTS_PATH + file_name,
            file_hash=WEIGHTS_HASHES[weights_name][0 if include_top else 1],
        )  # fmt: skip
    elif weights is not None and weights != "imagenet":
        load_weights(model, weights, file_name="", origin="", file_hash=None)
    return model


def block(
    inputs: Any,
    activation: Any = "swish",
    drop_rate: float = 0.0,
    name: str = "",
    filters_in: int = 32,
    filters_out: int = 16,
    kernel_size: int = 3,
    strides: int = 1,
    expand_ratio: int = 1,
    se_ratio: float = 0.0,
    id_skip: bool = True,
) -> Any:
    """An inverted residual (MBConv) block: 1×1 expand, k×k depthwise, squeeze-and-excite
    (``x · sigmoid(W₂ act(W₁ mean(x)))``), linear 1×1 project; stochastic depth then the
    residual ``add`` when the shapes agree."""
    from .. import layers

    bn_axis = 3
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(
            filters, 1, padding="same", use_bias=False,
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}expand_conv",
        )(inputs)  # fmt: skip
        x = layers.BatchNormalization(axis=bn_axis, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = layers.ZeroPadding2D(padding=correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding=conv_pad, use_bias=False,
        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = layers.Conv2D(
            filters_se, 1, padding="same", activation=activation,
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_reduce",
        )(se)  # fmt: skip
        se = layers.Conv2D(
            filters, 1, padding="same", activation="sigmoid",
            kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}se_expand",
        )(se)  # fmt: skip
        x = layers.multiply([x, se], name=f"{name}se_excite")
    x = layers.Conv2D(
        filters_out, 1, padding="same", use_bias=False,
        kernel_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}project_conv",
    )(x)  # fmt: skip
    x = layers.BatchNormalization(axis=bn_axis, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.add([x, inputs], name=f"{name}add")
    return x


def EfficientNetB0(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb0",
) -> Any:
    """EfficientNetB0 (``keras.applications.EfficientNetB0``): width 1.0, depth 1.0, 224×224,
    top dropout 0.2.

    Args:
        include_top: Add the global average pool, dropout and the ``classes``-way classifier.
        weights: ``None``, ``"imagenet"`` (Keras's file, fetched once) or a weights file.
        input_tensor: A symbolic tensor to use as the image input.
        input_shape: ``(h, w, 3)``, sides ≥ 32; ``(224, 224, 3)`` with ImageNet weights and
            the classifier.
        pooling: Without the classifier: ``None`` (4-D features), ``"avg"`` or ``"max"``.
        classes: Classifier width (1000 with ImageNet weights).
        classifier_activation: Activation of ``predictions`` (``None`` for logits).
        name: The model's name.

    Returns:
        A ``dl.Model`` taking pixels in ``[0, 255]``.

    Example:
        >>> model = dl.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3))
    """
    return EfficientNet(
        1.0, 1.0, 224, 0.2, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b0",
    )  # fmt: skip


def EfficientNetB1(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb1",
) -> Any:
    """EfficientNetB1 (``keras.applications.EfficientNetB1``): width 1.0, depth 1.1,
    240×240, top dropout 0.2; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.0, 1.1, 240, 0.2, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b1",
    )  # fmt: skip


def EfficientNetB2(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb2",
) -> Any:
    """EfficientNetB2 (``keras.applications.EfficientNetB2``): width 1.1, depth 1.2,
    260×260, top dropout 0.3; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.1, 1.2, 260, 0.3, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b2",
    )  # fmt: skip


def EfficientNetB3(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb3",
) -> Any:
    """EfficientNetB3 (``keras.applications.EfficientNetB3``): width 1.2, depth 1.4,
    300×300, top dropout 0.3; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.2, 1.4, 300, 0.3, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b3",
    )  # fmt: skip


def EfficientNetB4(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb4",
) -> Any:
    """EfficientNetB4 (``keras.applications.EfficientNetB4``): width 1.4, depth 1.8,
    380×380, top dropout 0.4; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.4, 1.8, 380, 0.4, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b4",
    )  # fmt: skip


def EfficientNetB5(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb5",
) -> Any:
    """EfficientNetB5 (``keras.applications.EfficientNetB5``): width 1.6, depth 2.2,
    456×456, top dropout 0.4; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.6, 2.2, 456, 0.4, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b5",
    )  # fmt: skip


def EfficientNetB6(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb6",
) -> Any:
    """EfficientNetB6 (``keras.applications.EfficientNetB6``): width 1.8, depth 2.6,
    528×528, top dropout 0.5; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        1.8, 2.6, 528, 0.5, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b6",
    )  # fmt: skip


def EfficientNetB7(  # noqa: N802 - Keras's name
    include_top: bool = True,
    weights: str | None = "imagenet",
    input_tensor: Any = None,
    input_shape: tuple[int | None, ...] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str = "efficientnetb7",
) -> Any:
    """EfficientNetB7 (``keras.applications.EfficientNetB7``): width 2.0, depth 3.1,
    600×600, top dropout 0.5; arguments as :func:`EfficientNetB0`."""
    return EfficientNet(
        2.0, 3.1, 600, 0.5, name=name, include_top=include_top, weights=weights,
        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, weights_name="b7",
    )  # fmt: skip


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """The identity (Keras 3 keeps it for compatibility): EfficientNet's preprocessing is in
    the model (``Rescaling`` and ``Normalization`` layers); feed pixels in ``[0, 255]``."""
    return x


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """``imagenet_utils.decode_predictions``: the ``top`` ImageNet classes per sample."""
    return imagenet_utils.decode_predictions(preds, top=top)
