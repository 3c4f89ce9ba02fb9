"""Confusion-count metrics: Precision, Recall, AUC, F1Score (Keras 3 formulas).

Their state is weighted confusion counts, which add across batches: a batch contributes
``tp[t] = Σ w·[y ≠ 0]·[p > θ_t]`` (and fp, tn, fn likewise) for each threshold θ_t, with the
sample weight broadcast to every prediction (Keras's ``update_confusion_matrix_variables``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ._metric import REGISTRY, Metric

EPSILON = 1e-7
NEG_INF = -1e10


def _weights(sample_weight: np.ndarray | None, p: np.ndarray) -> np.ndarray:
    if sample_weight is None:
        return np.ones_like(p)
    w = np.asarray(sample_weight, np.float64)
    while w.ndim > p.ndim and w.shape[-1] == 1:
        w = w[..., 0]
    w = w.reshape(w.shape + (1,) * (p.ndim - w.ndim))
    return np.broadcast_to(w, p.shape)


def confusion_counts(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sample_weight: np.ndarray | None,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, fp, tn, fn)``, each of ``len(thresholds)`` (numpy reference)."""
    p = np.asarray(y_pred, np.float64)
    y = np.asarray(y_true, np.float64)
    if y.ndim == p.ndim - 1:
        y = y[..., None]
    y = np.broadcast_to(y.reshape(y.shape), p.shape) if y.shape != p.shape else y
    w = _weights(sample_weight, p).ravel()
    lab = (y != 0).ravel()
    pos = p.ravel()[None, :] > np.asarray(thresholds, np.float64)[:, None]
    return (
        (w * (lab & pos)).sum(1),
        (w * (~lab & pos)).sum(1),
        (w * (~lab & ~pos)).sum(1),
        (w * (lab & ~pos)).sum(1),
    )


def _top_k_filter(p: np.ndarray, k: int) -> np.ndarray:
    idx = np.argsort(-p, axis=-1, kind="stable")[..., :k]
    mask = np.zeros_like(p, dtype=bool)
    np.put_along_axis(mask, idx, True, axis=-1)
    return np.where(mask, p, NEG_INF)


class _ThresholdMetric(Metric):
    target_rule = "labels"

    def __init__(
        self,
        thresholds: float | list[float] | None = None,
        top_k: int | None = None,
        class_id: int | None = None,
        name: str | None = None,
        dtype: str | None = None,
    ) -> None:
        cls = type(self).__name__
        default = 0.5 if top_k is None else NEG_INF
        ts = [default] if thresholds is None else thresholds
        ts = list(ts) if isinstance(ts, (list, tuple)) else [ts]
        for t in ts:
            if (
                isinstance(t, bool)
                or not isinstance(t, (int, float))
                or (not (0.0 <= t <= 1.0) and t != NEG_INF)
            ):
                raise ConfigError(
                    f"{cls}: thresholds must be numbers in [0, 1]. Received: thresholds="
                    f"{thresholds!r}."
                )
        self.thresholds = [float(t) for t in ts]
        self._scalar = thresholds is None or not isinstance(thresholds, (list, tuple))
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ConfigError(f"{cls}: top_k must be a positive integer. Received: {top_k!r}.")
        self.top_k = top_k
        self.class_id = class_id
        self.init_thresholds = thresholds
        super().__init__(name, dtype)

    def select(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(y_pred, np.float64)
        y = np.asarray(y_true, np.float64)
        if y.ndim == p.ndim - 1:
            y = y[..., None]
        if self.top_k is not None:
            p = _top_k_filter(p, self.top_k)
        if self.class_id is not None:
            y, p = y[..., self.class_id, None], p[..., self.class_id, None]
        return y, p

    def state_size(self) -> int:
        return 2 * len(self.thresholds)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }

    def _result(self, a: np.ndarray, b: np.ndarray) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(a + b > 0, a / (a + b), 0.0)
        return float(r[0]) if self._scalar else [float(v) for v in r]


@REGISTRY.register("Precision", "precision")
class Precision(_ThresholdMetric):
    """``tp / (tp + fp)`` per threshold (0 when empty); threshold 0.5, or −∞ with ``top_k``;
    ``class_id`` restricts to one column; ``top_k`` keeps the k largest predictions."""

    fn = "precision"

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        y, p = self.select(y_true, y_pred)
        tp, fp, _, _ = confusion_counts(y, p, sample_weight, np.array(self.thresholds))
        return np.concatenate([tp, fp])

    def result_from_state(self, state: np.ndarray) -> Any:
        t = len(self.thresholds)
        return self._result(state[:t], state[t:])


@REGISTRY.register("Recall", "recall")
class Recall(_ThresholdMetric):
    """``tp / (tp + fn)`` per threshold (0 when empty); options as :class:`Precision`."""

    fn = "recall"

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        y, p = self.select(y_true, y_pred)
        tp, _, _, fn = confusion_counts(y, p, sample_weight, np.array(self.thresholds))
        return np.concatenate([tp, fn])

    def result_from_state(self, state: np.ndarray) -> Any:
        t = len(self.thresholds)
        return self._result(state[:t], state[t:])


@REGISTRY.register("AUC", "auc")
class AUC(Metric):
    """Area under the ROC or PR curve from confusion counts at ``num_thresholds`` thresholds
    ``[−ε, 1/(n−1), …, (n−2)/(n−1), 1 + ε]`` (predictions clipped to [0, 1]; sigmoid first
    with ``from_logits``). ``summation_method``: ``"interpolation"`` (trapezoids; for PR,
    Davis & Goadrich's interpolation as Keras), ``"minoring"``, ``"majoring"``.
    ``multi_label=True`` and ``label_weights`` are not supported."""

    fn = "auc"
    target_rule = "labels"

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str | None = None,
        dtype: str | None = None,
        thresholds: list[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: Any = None,
        from_logits: bool = False,
    ) -> None:
        if curve not in ("ROC", "PR"):
            raise ConfigError(f"AUC: curve must be 'ROC' or 'PR'. Received: curve={curve!r}.")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ConfigError(
                "AUC: summation_method must be 'interpolation', 'minoring' or 'majoring'. "
                f"Received: summation_method={summation_method!r}."
            )
        if multi_label or label_weights is not None:
            raise ConfigError(
                "AUC: multi_label and label_weights are not supported by duallearn. "
                f"Received: multi_label={multi_label!r}, label_weights={label_weights!r}."
            )
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            self.num_thresholds = len(inner) + 2
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ConfigError(
                    "AUC: num_thresholds must be an integer > 1. "
                    f"Received: num_thresholds={num_thresholds!r}."
                )
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        self.init_thresholds = thresholds
        self.curve = curve
        self.summation_method = summation_method
        self.from_logits = bool(from_logits)
        super().__init__(name, dtype)

    def state_size(self) -> int:
        return 4 * self.num_thresholds

    def prepare_pred(self, y_pred: np.ndarray) -> np.ndarray:
        p = np.asarray(y_pred, np.float64)
        if self.from_logits:
            p = 1.0 / (1.0 + np.exp(-p))
        return np.clip(p, 0.0, 1.0)

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        p = self.prepare_pred(y_pred)
        return np.concatenate(confusion_counts(y_true, p, sample_weight, self.thresholds))

    def result_from_state(self, state: np.ndarray) -> Any:
        n = self.num_thresholds
        tp, fp, tn, fn = (state[i * n : (i + 1) * n] for i in range(4))

        def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)

        if self.curve == "PR" and self.summation_method == "interpolation":
            dtp = tp[:-1] - tp[1:]
            p = tp + fp
            dp = p[:-1] - p[1:]
            slope = div(dtp, np.maximum(dp, 0))
            intercept = tp[1:] - slope * p[1:]
            ratio = np.where((p[:-1] > 0) & (p[1:] > 0), div(p[:-1], np.maximum(p[1:], 0)), 1.0)
            inc = div(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
            return float(np.sum(inc))
        recall = div(tp, tp + fn)
        if self.curve == "ROC":
            x, y = div(fp, fp + tn), recall
        else:
            x, y = recall, div(tp, tp + fp)
        if self.summation_method == "interpolation":
            h = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            h = np.minimum(y[:-1], y[1:])
        else:
            h = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * h))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "thresholds": self.init_thresholds,
            "from_logits": self.from_logits,
        }


@REGISTRY.register("FBetaScore", "fbeta_score")
class FBetaScore(Metric):
    """F-beta per class from weighted tp/fp/fn (Keras)::

        ŷ = [p ≥ max_last p and |p| > 1e-9] (threshold None) or [p > threshold]
        P = tp/(tp + fp + ε), R = tp/(tp + fn + ε), F = (1 + β²)·P·R/(β²P + R + ε)

    ``average``: None (per class), ``"micro"`` (counts pooled), ``"macro"`` (mean),
    ``"weighted"`` (weighted by Σ w·y per class).
    """

    fn = "fbeta_score"
    target_rule = "same_size"

    def __init__(
        self,
        average: str | None = None,
        beta: float = 1.0,
        threshold: float | None = None,
        name: str = "fbeta_score",
        dtype: str | None = None,
    ) -> None:
        cls = type(self).__name__
        if average not in (None, "micro", "macro", "weighted"):
            raise ConfigError(
                f"{cls}: average must be one of None, 'micro', 'macro', 'weighted'. "
                f"Received: average={average!r}."
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta <= 0:
            raise ConfigError(f"{cls}: beta must be a number > 0. Received: beta={beta!r}.")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 < threshold <= 1
        ):
            raise ConfigError(
                f"{cls}: threshold must be None or in (0, 1]. Received: threshold={threshold!r}."
            )
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        self.width = 1
        super().__init__(name, dtype)

    def needs_shapes(self) -> bool:
        return True

    def build_shapes(self, y_true_shape, y_pred_shape):  # type: ignore[no-untyped-def]
        if y_pred_shape is not None and y_pred_shape[-1] is not None:
            self.width = int(y_pred_shape[-1])
        self._built_shapes = True

    def _n(self) -> int:
        return 1 if self.average == "micro" else self.width

    def state_size(self) -> int:
        return 4 * self._n()

    def binarize(self, y_pred: np.ndarray) -> np.ndarray:
        p = np.asarray(y_pred, np.float64)
        if self.threshold is None:
            return ((p >= p.max(axis=-1, keepdims=True)) & (np.abs(p) > 1e-9)).astype(float)
        return (p > self.threshold).astype(np.float64)

    def reference_delta(self, y_true, y_pred, sample_weight):  # type: ignore[no-untyped-def]
        yp = self.binarize(y_pred)
        y = np.asarray(y_true, np.float64).reshape(yp.shape)
        w = 1.0 if sample_weight is None else np.asarray(sample_weight, np.float64)[:, None]
        axis = None if self.average == "micro" else 0

        def s(v: np.ndarray) -> np.ndarray:
            return np.atleast_1d(np.sum(v * w, axis=axis))

        return np.concatenate([s(yp * y), s(yp * (1 - y)), s((1 - yp) * y), s(y)])

    def result_from_state(self, state: np.ndarray) -> Any:
        n = self._n()
        tp, fp, fn, iw = (state[i * n : (i + 1) * n] for i in range(4))
        prec = tp / (tp + fp + EPSILON)
        rec = tp / (tp + fn + EPSILON)
        b2 = self.beta**2
        f = prec * rec / (b2 * prec + rec + EPSILON) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(f * iw / (np.sum(iw) + EPSILON)))
        if self.average is not None:
            return float(np.mean(f))
        return f

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


@REGISTRY.register("F1Score", "f1_score")
class F1Score(FBetaScore):
    """F1 = F-beta with β = 1 (see :class:`FBetaScore`)."""

    def __init__(
        self,
        average: str | None = None,
        threshold: float | None = None,
        name: str = "f1_score",
        dtype: str | None = None,
    ) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.pop("beta")
        return cfg
