"""IoU, BinaryIoU, OneHotIoU, OneHotMeanIoU (Keras 3): the weighted C×C confusion matrix of
:class:`~duallearn.metrics.MeanIoU` (rows: true class, columns: predicted class), read for the
classes in ``target_class_ids``::

    iou_c = tp_c / (row_c + col_c − tp_c + ε),  result = Σ_{c valid} iou_c / (#valid + ε)

over the target classes whose denominator is > 0 (ε = 1e-7, as Keras).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._iou import EPSILON, MeanIoU
from ._metric import REGISTRY


def _check(cls: str, num_classes: Any, target_class_ids: Any, axis: Any) -> list[int]:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(
            f"{cls}: expected num_classes as a positive integer. Received: "
            f"num_classes={num_classes!r}. Fix: pass the number of classes, e.g. num_classes=3."
        )
    if axis != -1:
        raise ConfigError(
            f"{cls}: expected axis=-1 (the class axis last; the only one duallearn supports). "
            f"Received: axis={axis!r}. Fix: move the class axis last."
        )
    ids = list(target_class_ids) if isinstance(target_class_ids, (list, tuple)) else None
    if not ids or not all(
        isinstance(i, (int, np.integer)) and not isinstance(i, bool) and 0 <= i < num_classes
        for i in ids
    ):
        raise ConfigError(
            f"{cls}: expected target_class_ids as a non-empty list of class ids in "
            f"[0, {num_classes}). Received: target_class_ids={target_class_ids!r}. Fix: pass "
            "e.g. target_class_ids=[0]."
        )
    return [int(i) for i in ids]


def iou_of(state: np.ndarray, num_classes: int, target_class_ids: list[int]) -> float:
    """The mean IoU of ``target_class_ids`` from the flattened confusion matrix."""
    cm = state.reshape(num_classes, num_classes)
    tp = np.diag(cm)
    denom = (cm.sum(0) + cm.sum(1) - tp)[target_class_ids]
    tp = tp[target_class_ids]
    valid = denom > 1e-9
    iou = np.where(valid, tp / (denom + EPSILON), 0.0)
    return float(iou.sum() / (valid.sum() + EPSILON))


@REGISTRY.register("IoU", "io_u", "iou")
class IoU(MeanIoU):
    """Mean IoU of the classes ``target_class_ids`` (one id: that class's IoU). Arguments
    and the confusion matrix as :class:`MeanIoU` (``sparse_y_true`` / ``sparse_y_pred``:
    class ids, else the argmax of the last axis; ``ignore_class`` and labels outside
    ``[0, num_classes)`` are dropped).

    >>> import duallearn as dl
    >>> m = dl.metrics.IoU(num_classes=2, target_class_ids=[0])
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    >>> round(m.result(), 6)
    0.333333
    """

    def __init__(
        self,
        num_classes: int,
        target_class_ids: list[int] | tuple[int, ...],
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_true: bool = True,
        sparse_y_pred: bool = True,
        axis: int = -1,
    ) -> None:
        ids = _check(type(self).__name__, num_classes, target_class_ids, axis)
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred)
        self.target_class_ids = ids

    def result_from_state(self, state: np.ndarray) -> Any:
        return iou_of(state, self.num_classes, self.target_class_ids)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_class_ids": self.target_class_ids}


@REGISTRY.register("BinaryIoU", "binary_io_u", "binary_iou")
class BinaryIoU(IoU):
    """IoU of two classes: predictions become class 1 where ``p ≥ threshold`` (compared in
    float32, as Keras), else 0; targets are class ids (0/1). ``target_class_ids``: ``[0]``,
    ``[1]`` or ``[0, 1]`` (the mean of both)."""

    fn = "binary_iou"

    def __init__(
        self,
        target_class_ids: list[int] | tuple[int, ...] = (0, 1),
        threshold: float = 0.5,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
            raise ConfigError(
                "BinaryIoU: expected threshold as a number. Received: "
                f"threshold={threshold!r}. Fix: pass e.g. threshold=0.5."
            )
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = float(threshold)

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        p = np.asarray(y_pred).astype(np.float32) >= np.float32(self.threshold)
        return super().reference_delta(y_true, p.astype(np.int64), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype,
        }


@REGISTRY.register("OneHotIoU", "one_hot_io_u", "one_hot_iou")
class OneHotIoU(IoU):
    """:class:`IoU` for one-hot targets (their argmax is the class;
    ``sparse_y_pred=False``: the predictions' argmax too)."""

    def __init__(
        self,
        num_classes: int,
        target_class_ids: list[int] | tuple[int, ...],
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        super().__init__(
            num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis
        )

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("sparse_y_true")
        return cfg


@REGISTRY.register("OneHotMeanIoU", "one_hot_mean_io_u", "one_hot_mean_iou")
class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` for one-hot targets (their argmax is the class;
    ``sparse_y_pred=False``: the predictions' argmax too)."""

    def __init__(
        self,
        num_classes: int,
        name: str | None = None,
        dtype: str | None = None,
        ignore_class: int | None = None,
        sparse_y_pred: bool = False,
        axis: int = -1,
    ) -> None:
        _check(type(self).__name__, num_classes, [0], axis)
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("sparse_y_true")
        return cfg
