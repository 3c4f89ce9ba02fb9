"""Mean intersection-over-union."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._metric import REGISTRY, Metric

EPSILON = 1e-7


@REGISTRY.register("MeanIoU", "mean_iou")
class MeanIoU(Metric):
    """Mean over classes of ``tp / (row + col − tp)`` from a weighted C×C confusion matrix
    (rows: true class, columns: predicted class). Classes whose denominator is 0 are left out;
    labels outside [0, C) and ``ignore_class`` are dropped. ``sparse_y_true`` /
    ``sparse_y_pred``: whether targets / predictions are class ids (else argmax of the last
    axis). The state is the matrix (C² numbers), summed on the device."""

    fn = "mean_iou"

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(
                f"MeanIoU: num_classes must be a positive integer. Received: {num_classes!r}."
            )
        if axis != -1:
            raise ConfigError(f"MeanIoU: only axis=-1 is supported. Received: axis={axis!r}.")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = axis
        super().__init__(name, dtype)

    def state_size(self) -> int:
        return self.num_classes * self.num_classes

    def check_inputs(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        n_true = math.prod(y_true if self.sparse_y_true else y_true[:-1])
        n_pred = math.prod(y_pred if self.sparse_y_pred else y_pred[:-1])
        n_w = None if sample_weight is None else math.prod(sample_weight)
        if n_true != n_pred or n_w not in (None, 1, n_true):
            raise ShapeError(
                f"{type(self).__name__} {self.name!r}: expected one true label per predicted "
                "label (and one sample weight per label, or a scalar); labels are the values "
                "of a sparse input, else the argmax of its last axis. Received: "
                f"y_true.shape={y_true}, y_pred.shape={y_pred}, sample_weight.shape="
                f"{sample_weight}. Fix: check sparse_y_true/sparse_y_pred and the shapes."
            )

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        y = np.asarray(y_true)
        p = np.asarray(y_pred)
        y = (np.argmax(y, -1) if not self.sparse_y_true else y).reshape(-1).astype(np.int64)
        p = (np.argmax(p, -1) if not self.sparse_y_pred else p).reshape(-1).astype(np.int64)
        c = self.num_classes
        w = (
            np.ones(y.shape)
            if sample_weight is None
            else np.broadcast_to(np.asarray(sample_weight, np.float64).reshape(-1), y.shape)
        )
        ok = (y >= 0) & (y < c) & (p >= 0) & (p < c)
        if self.ignore_class is not None:
            ok &= y != self.ignore_class
        cm = np.zeros((c, c))
        np.add.at(cm, (y[ok], p[ok]), w[ok])
        return cm.ravel()

    def result_from_state(self, state: np.ndarray) -> Any:
        c = self.num_classes
        cm = state.reshape(c, c)
        tp = np.diag(cm)
        denom = cm.sum(0) + cm.sum(1) - tp
        valid = denom > 1e-9
        iou = np.where(valid, tp / (denom + EPSILON), 0.0)
        return float(iou.sum() / (valid.sum() + EPSILON))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true,
            "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }
