"""Cross-entropy losses (Keras 3 formulas, including its clipping of probabilities).

With ``from_logits=False`` Keras clips probabilities to ``[ε, 1-ε]``, ε = 1e-7, before the
log (torch's ``BCELoss`` clamps the log at -100 instead, and ``nll_loss`` does not clip).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import reference as act
from ..errors import ConfigError, ShapeError
from ._loss import REGISTRY, Loss

EPSILON = 1e-7


def _smoothing(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(
            f"label_smoothing must be a number in [0, 1]. Received: label_smoothing={value!r}."
        )
    return float(value)


@REGISTRY.register("BinaryCrossentropy", "binary_crossentropy", "bce")
class BinaryCrossentropy(Loss):
    """``l = -mean_last(y·log p + (1-y)·log(1-p))``, p = sigmoid(z) if ``from_logits`` else
    clip(p, ε, 1-ε); label smoothing ``y ← y(1-s) + s/2``."""

    fn = "binary_crossentropy"

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.label_smoothing = _smoothing(label_smoothing)
        self.axis = axis

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing}

    def _smooth(self, y: np.ndarray) -> np.ndarray:
        s = self.label_smoothing
        return y * (1.0 - s) + 0.5 * s if s else y

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        if self.from_logits:
            z = y_pred
            v = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            v = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        return v.mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        d = dl[..., None] / y_pred.shape[-1]
        if self.from_logits:
            return d * (act("sigmoid", y_pred) - y)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        return d * (-(y / p) + (1 - y) / (1 - p)) * inside

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


@REGISTRY.register("CategoricalCrossentropy", "categorical_crossentropy", "cce")
class CategoricalCrossentropy(BinaryCrossentropy):
    """``l = -Σ_last y·log p`` with p = softmax(z) if ``from_logits``, else
    clip(p / Σp, ε, 1-ε); label smoothing ``y ← y(1-s) + s/C``."""

    fn = "categorical_crossentropy"

    def _smooth(self, y: np.ndarray) -> np.ndarray:
        s = self.label_smoothing
        return y * (1.0 - s) + s / y.shape[-1] if s else y

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        if self.from_logits:
            z = y_pred - y_pred.max(axis=-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        else:
            logp = np.log(
                np.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
            )
        return -(y * logp).sum(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        d = dl[..., None]
        if self.from_logits:
            return d * (act("softmax", y_pred) * y.sum(axis=-1, keepdims=True) - y)
        s = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / s
        inside = (q >= EPSILON) & (q <= 1 - EPSILON)
        dq = -(y / np.clip(q, EPSILON, 1 - EPSILON)) * inside
        # q = p / s: dq_i/dp_j = δij/s - p_i/s²
        return d * (dq / s - (dq * y_pred).sum(axis=-1, keepdims=True) / (s * s))


@REGISTRY.register("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Loss):
    """``l = −log softmax(z)[label]`` with z the logits if ``from_logits``, else
    z = log clip(p, ε, 1 − ε) (Keras's: the raw probabilities clipped, then normalized by the
    softmax, ``l = −log c[label] + log Σc``, c = clip(p); the categorical loss normalizes
    first, clip(p/Σp)). Labels are integers in ``[0, C)`` of shape (B,) or (B, 1). With
    ``ignore_class=k``, samples labelled k get loss 0 and are masked out of the reduction
    (Keras): the mean reductions divide by the number of labels kept."""

    fn = "sparse_categorical_crossentropy"

    def __init__(
        self,
        from_logits: bool = False,
        ignore_class: int | None = None,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)
        self.ignore_class = ignore_class
        self.axis = axis

    def options(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "ignore_class": self.ignore_class}

    def prepare(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        y = np.asarray(y_true)
        self.check_targets(y, y_pred.shape)
        if y.ndim == y_pred.ndim and y.shape[-1] == 1:
            y = y[..., 0]
        return y.astype(np.int64)

    def check_targets(self, y_true: np.ndarray, y_pred_shape: tuple[int | None, ...]) -> None:
        y = np.asarray(y_true)
        ps = tuple(y_pred_shape)
        if y.ndim == len(ps) and y.ndim and y.shape[-1] == 1:
            y = y[..., 0]
        if y.ndim != len(ps) - 1 or any(
            p is not None and a != p for a, p in zip(y.shape[1:], ps[1:-1], strict=True)
        ):
            raise ShapeError(
                f"SparseCategoricalCrossentropy expects integer labels of shape "
                f"{ps[:-1]} (or with a trailing 1) for predictions of shape {ps}. "
                f"Received: y_true.shape={np.asarray(y_true).shape}. Fix: for one-hot targets "
                "use categorical_crossentropy."
            )
        if y.dtype.kind == "f" and y.size and not np.all(np.floor(y) == y):
            raise ShapeError(
                "SparseCategoricalCrossentropy expects integer class labels. Received "
                f"non-integer values such as {y[np.floor(y) != y].flat[0]!r}. Fix: use "
                "categorical_crossentropy for probability targets."
            )
        n = ps[-1]
        if n is None or not y.size:
            return
        labels = y.astype(np.int64)
        valid = labels != (self.ignore_class if self.ignore_class is not None else -(2**62))
        bad = labels[valid][(labels[valid] < 0) | (labels[valid] >= n)]
        if bad.size:
            raise ShapeError(
                f"SparseCategoricalCrossentropy: labels must be in [0, {n}) for predictions "
                f"of shape {ps}. Received a label {int(bad[0])} "
                f"(labels range over [{int(labels.min())}, {int(labels.max())}]). Fix: give "
                f"the output layer one unit per class (at least {int(labels.max()) + 1}) or "
                "set ignore_class for padding labels."
            )

    def _keep(self, y_true: np.ndarray) -> np.ndarray:
        if self.ignore_class is None:
            return np.ones(y_true.shape, bool)
        return np.asarray(y_true != self.ignore_class)

    def reference_mask(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray | None:
        return None if self.ignore_class is None else self._keep(y_true)

    def _onehot(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.eye(y_pred.shape[-1], dtype=y_pred.dtype)[np.where(self._keep(y_true), y_true, 0)]

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        onehot = self._onehot(y_true, y_pred)
        if self.from_logits:
            v = CategoricalCrossentropy(from_logits=True).reference_values(onehot, y_pred)
        else:
            c = np.clip(y_pred, EPSILON, 1 - EPSILON)
            v = np.log(c.sum(axis=-1)) - np.log((onehot * c).sum(axis=-1))
        return np.where(self._keep(y_true), v, 0.0)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        onehot = self._onehot(y_true, y_pred)
        d = (dl * self._keep(y_true))[..., None]
        if self.from_logits:
            return d * (act("softmax", y_pred) - onehot)
        # d/dp_j (log Σc − log c_label) = (1/Σc − [j = label]/c_j), 0 where the clip is active
        c = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
        return d * (1.0 / c.sum(axis=-1, keepdims=True) - onehot / c) * inside

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "ignore_class": self.ignore_class,
            "axis": self.axis,
        }


def _number(cls: str, name: str, v: object, low: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < low:
        raise ConfigError(f"{cls}: {name} must be a number >= {low}. Received: {name}={v!r}.")
    return float(v)


@REGISTRY.register("BinaryFocalCrossentropy", "binary_focal_crossentropy")
class BinaryFocalCrossentropy(BinaryCrossentropy):
    """``l = mean_last(w·(1 − pₜ)^γ·bce)`` with p = sigmoid(z) if ``from_logits``,
    pₜ = y·p + (1 − y)(1 − p) (unclipped), bce on clip(p, ε, 1 − ε) (from logits: the BCE of
    the logits, ``max(z, 0) − z·y + log(1 + e^−|z|)``, unclipped, as Keras), label smoothing
    y ← y(1 − s) + s/2, and w = y·α + (1 − y)(1 − α) if ``apply_class_balancing`` else 1.
    The derivative of (1 − pₜ)^γ is TensorFlow's γ·(1 − pₜ)^(γ−1), also for γ = 0: at a
    certain prediction (pₜ = 1) that is 0·∞ = nan, as Keras. Differs from torchvision's
    ``sigmoid_focal_loss``: that one always balances with α."""

    fn = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(from_logits, label_smoothing, axis, **kwargs)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _number("BinaryFocalCrossentropy", "alpha", alpha)
        self.gamma = _number("BinaryFocalCrossentropy", "gamma", gamma)

    def options(self) -> dict[str, Any]:
        return {
            **super().options(),
            "alpha": self.alpha,
            "gamma": self.gamma,
            "apply_class_balancing": self.apply_class_balancing,
        }

    def _parts(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        if self.from_logits:
            z = y_pred
            p = act("sigmoid", z)
            q = p
            bce = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        else:
            p = y_pred
            q = np.clip(p, EPSILON, 1 - EPSILON)
            bce = -(y * np.log(q) + (1 - y) * np.log(1 - q))
        pt = y * p + (1 - y) * (1 - p)
        w = y * self.alpha + (1 - y) * (1 - self.alpha) if self.apply_class_balancing else 1.0
        return y, p, q, bce, pt, w

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y, p, q, bce, pt, w = self._parts(y_true, y_pred)
        return (w * np.power(1.0 - pt, self.gamma) * bce).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y, p, q, bce, pt, w = self._parts(y_true, y_pred)
        g = self.gamma
        f = np.power(1.0 - pt, g)
        with np.errstate(divide="ignore", invalid="ignore"):  # 0·∞ = nan at pₜ = 1, γ < 1
            df = -g * np.power(1.0 - pt, g - 1) * (2 * y - 1)
            if self.from_logits:  # d/dz: dp/dz = p(1 − p), d bce/dz = p − y
                d = w * (df * bce * p * (1 - p) + f * (p - y))
            else:
                inside = (p >= EPSILON) & (p <= 1 - EPSILON)
                dbce = (-(y / q) + (1 - y) / (1 - q)) * inside
                d = w * (df * bce + f * dbce)
        return dl[..., None] * d / y_pred.shape[-1]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


@REGISTRY.register("CategoricalFocalCrossentropy", "categorical_focal_crossentropy")
class CategoricalFocalCrossentropy(CategoricalCrossentropy):
    """``l = Σ_last α·(1 − q)^γ·(−y·log q)`` with q = clip(p/Σp, ε, 1 − ε),
    p = softmax(z) if ``from_logits``; label smoothing y ← y(1 − s) + s/C."""

    fn = "categorical_focal_crossentropy"

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(from_logits, label_smoothing, axis, **kwargs)
        self.alpha = _number("CategoricalFocalCrossentropy", "alpha", alpha)
        self.gamma = _number("CategoricalFocalCrossentropy", "gamma", gamma)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "alpha": self.alpha, "gamma": self.gamma}

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        p = act("softmax", y_pred) if self.from_logits else y_pred
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
        return np.sum(self.alpha * np.power(1.0 - q, self.gamma) * (-y * np.log(q)), axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = self._smooth(y_true)
        p = act("softmax", y_pred) if self.from_logits else y_pred
        s = p.sum(axis=-1, keepdims=True)
        o = p / s
        q = np.clip(o, EPSILON, 1 - EPSILON)
        g, a = self.gamma, self.alpha
        dq = a * (
            (g * np.power(1.0 - q, g - 1) * y * np.log(q) if g else 0.0)
            - np.power(1.0 - q, g) * y / q
        )
        do = dq * ((o >= EPSILON) & (o <= 1 - EPSILON))
        dp = do / s - (do * p).sum(axis=-1, keepdims=True) / (s * s)
        if self.from_logits:
            dp = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
        return dl[..., None] * dp

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}


@REGISTRY.register("KLDivergence", "kl_divergence", "kld", "KLD")
class KLDivergence(Loss):
    """``l = Σ_last y·log(y/p)`` with y, p clipped to [ε, 1]. Differs from torch's
    ``KLDivLoss``: that one takes log-probabilities and does not clip."""

    fn = "kl_divergence"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        y = np.clip(y_true, EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        return np.sum(y * np.log(y / p), axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        y = np.clip(y_true, EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        return dl[..., None] * (-y / p) * ((y_pred >= EPSILON) & (y_pred <= 1))


@REGISTRY.register("Poisson", "poisson")
class Poisson(Loss):
    """``l = mean_last(p − y·log(p + ε))``. Differs from torch's ``PoissonNLLLoss``
    (default log_input=True: exp(z) − y·z; with log_input=False its ε is 1e-8)."""

    fn = "poisson"

    def reference_values(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        return (y_pred - y_true * np.log(y_pred + EPSILON)).mean(axis=-1)

    def reference_values_grad(self, y_true, y_pred, dl):  # type: ignore[no-untyped-def]
        return dl[..., None] * (1.0 - y_true / (y_pred + EPSILON)) / y_pred.shape[-1]
