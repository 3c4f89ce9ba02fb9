"""The image preprocessing and augmentation layers on TensorFlow: each layer's ``apply``
(its formula, written once in ``duallearn/layers/_preprocessing_image.py``) over tf ops,
with its random parameters drawn on the host from the layer's seed (``tf.numpy_function``
inside a traced step, so each execution draws anew)."""

from __future__ import annotations

from typing import Any

from duallearn.plugin import IMAGE_LAYERS

from . import _ops
from ._layers import TFLayer, implements


@implements(*IMAGE_LAYERS)
class TFImagePreprocessing(TFLayer):
    """``spec.apply(ops, x, training, *weights)``."""

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return self.spec.apply(_ops, x, bool(training), *self.dl_vars)
