"""``keras.applications.resnet50``: :func:`ResNet50` and its preprocessing, as in
:mod:`duallearn.applications.resnet`."""

from __future__ import annotations

from .resnet import ResNet50 as ResNet50
from .resnet import decode_predictions as decode_predictions
from .resnet import preprocess_input as preprocess_input

__all__ = ["ResNet50", "decode_predictions", "preprocess_input"]
