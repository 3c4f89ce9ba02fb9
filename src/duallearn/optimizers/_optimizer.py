"""The Optimizer base class: hyperparameters, validation, and the numpy reference step.

An optimizer's meaning is its ``reference_update`` (one variable, one update) wrapped by
``reference_apply`` (all variables, one call: Keras 3's ``BaseOptimizer.apply``); each backend
implements the same update natively for the whole list of variables at once.
``formula="keras"`` (default) gives Keras 3's update rule and defaults; ``formula="torch"`` gives
``torch.optim``'s rule for the same class (see each class's docstring for the difference).

One call of ``apply(grads, lr)`` (``r`` = calls so far, including this one)::

    if gradient_accumulation_steps = k:               (Keras)
        r mod k ≠ 0:  acc ← acc + g; no update (EMA still runs)
        r mod k = 0:  g ← (g + acc)/k; acc ← 0; update with step t = r/k
    else t = r
    g ← clip(g)        clipnorm (per variable): g·c / max(‖g‖, c)
                       global_clipnorm:  keras: g·c·min(1/N, 1/c)   N = √Σ‖g‖²
                                         torch: g·min(c/(N + 1e-6), 1)  (clip_grad_norm_)
                       clipvalue: clip(g, −c, c)
    weight decay λ     keras: w ← w − w·λ·lr (decoupled, every optimizer)
                       torch: g ← g + λ·w (coupled L2; AdamW: w ← w·(1 − lr·λ))
                       skipped for variables whose name matches exclude_from_weight_decay
    w, slots ← update(w, g, slots, lr, t)
    use_ema:  μ = 0 on the first call (Keras: accumulated iterations = 0), else ema_momentum
              avg ← μ·avg + (1 − μ)·w; every ema_overwrite_frequency updates w ← avg;
              at the end of fit, w ← avg (``finalize_variable_values``)

The learning rate is evaluated by the front-end in float64 once per call (schedules see the
real call count, as Keras) and passed to the backend step as a scalar.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _trace
from .._naming import snake_case
from .._registry import Registry
from ..errors import ConfigError

# set while fit runs a custom train_step (models/_steps.py): optimizer.apply is guarded then
_GUARDED: contextvars.ContextVar[bool] = contextvars.ContextVar("duallearn_guard", default=False)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Guard every ``optimizer.apply`` in this block against non-finite gradients (fit)."""
    token = _GUARDED.set(True)
    try:
        yield
    finally:
        _GUARDED.reset(token)


REGISTRY = Registry("optimizer")
FORMULAS = ("keras", "torch")
EMA_SLOT = "average"
ACCUMULATOR_SLOT = "gradient_accumulator"
TORCH_CLIP_EPS = 1e-6


def _number(
    cls: str,
    name: str,
    value: object,
    low: float,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(v) and (
            (v > low if low_open else v >= low)
            and (high is None or (v < high if high_open else v <= high))
        )
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(
            f"{cls}: {name} must be a number in {lo}{low}, {high if high is not None else 'inf'}"
            f"{hi}. Received: {name}={value!r}. Fix: pass a value in that range (see "
            "docs/optimizers.md for the defaults)."
        )
    return float(value)  # type: ignore[arg-type]


def _optional(cls: str, name: str, value: object, low_open: bool = True) -> float | None:
    if value is None:
        return None
    return _number(cls, name, value, 0.0, low_open=low_open)


class Optimizer:
    """Base class. ``slots`` names the per-variable state of the update rule (Keras's names);
    ``slot_names()`` adds ``average`` (EMA) and ``gradient_accumulator`` when enabled."""

    slots: tuple[str, ...] = ()
    default_weight_decay: float | None = None

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        exclude_from_weight_decay: list[str] | tuple[str, ...] | None = None,
        formula: str = "keras",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        cls = type(self).__name__
        if kwargs:
            hint = " (Keras 3 spells it learning_rate)" if "lr" in kwargs else ""
            raise ConfigError(
                f"{cls}: argument(s) not recognized: {sorted(kwargs)}{hint}. Expected the "
                f"arguments of {cls} (see docs/optimizers.md). Fix: remove or rename them."
            )
        if formula not in FORMULAS:
            raise ConfigError(
                f"{cls}: formula must be one of {FORMULAS}. Received: formula={formula!r}."
            )
        self.formula = formula
        self.name = name or snake_case(cls)
        if callable(learning_rate):
            self.learning_rate: Any = learning_rate
        else:
            self.learning_rate = _number(cls, "learning_rate", learning_rate, 0.0)
        self.weight_decay = _optional(cls, "weight_decay", weight_decay, low_open=False)
        self.clipnorm = _optional(cls, "clipnorm", clipnorm)
        self.clipvalue = _optional(cls, "clipvalue", clipvalue)
        self.global_clipnorm = _optional(cls, "global_clipnorm", global_clipnorm)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ConfigError(
                f"{cls}: only one of clipnorm and global_clipnorm can be set. Received: "
                f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}."
            )
        self.use_ema = bool(use_ema)
        self.ema_momentum = _number(cls, "ema_momentum", ema_momentum, 0.0, 1.0, high_open=False)
        if ema_overwrite_frequency is not None and (
            isinstance(ema_overwrite_frequency, bool)
            or not isinstance(ema_overwrite_frequency, (int, np.integer))
            or ema_overwrite_frequency < 1
        ):
            raise ConfigError(
                f"{cls}: ema_overwrite_frequency must be None or a positive integer. "
                f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}."
            )
        self.ema_overwrite_frequency = (
            None if ema_overwrite_frequency is None else int(ema_overwrite_frequency)
        )
        if loss_scale_factor is not None:
            raise ConfigError(
                f"{cls}: loss_scale_factor is not supported (duallearn has no mixed-precision "
                f"loss scaling). Received: loss_scale_factor={loss_scale_factor!r}. Fix: leave "
                "it None."
            )
        if gradient_accumulation_steps is not None and (
            isinstance(gradient_accumulation_steps, bool)
            or not isinstance(gradient_accumulation_steps, (int, np.integer))
            or gradient_accumulation_steps < 2
        ):
            raise ConfigError(
                f"{cls}: gradient_accumulation_steps must be None or an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}."
            )
        self.gradient_accumulation_steps = (
            None if gradient_accumulation_steps is None else int(gradient_accumulation_steps)
        )
        self.exclude_from_weight_decay_names: list[str] = list(exclude_from_weight_decay or [])
        self.iterations = 0

    # ---- Keras API -----------------------------------------------------------------------
    def exclude_from_weight_decay(
        self, var_list: Any = None, var_names: list[str] | None = None
    ) -> None:
        """Exclude weights whose name matches one of ``var_names`` (``re.search``, as Keras).
        ``var_list`` may hold :class:`~duallearn.layers.Weight` objects (matched by name)."""
        names = list(var_names or [])
        for v in var_list or []:
            names.append("^" + re.escape(getattr(v, "name", str(v))) + "$")
        self.exclude_from_weight_decay_names = names

    def uses_weight_decay(self, var_name: str | None) -> bool:
        """Whether weight decay applies to the weight called ``var_name``."""
        if not self.weight_decay:
            return False
        if var_name is None or not self.exclude_from_weight_decay_names:
            return True
        pattern = "|".join(self.exclude_from_weight_decay_names)
        return re.search(pattern, var_name) is None

    def current_learning_rate(self, step: int | None = None) -> float:
        """The learning rate at ``step`` (default: the next step), as a float64 scalar."""
        step = self.iterations if step is None else step
        lr = self.learning_rate
        return float(lr(step)) if callable(lr) else float(lr)

    # ---- custom training steps -------------------------------------------------------------
    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        """Keras 3's ``optimizer.apply``: one update of ``trainable_variables`` (``dl.Variable``
        objects, e.g. ``model.trainable_weights``) with ``grads`` (native tensors in the same
        order, as ``dl.GradientTape.gradient``, ``tf.GradientTape.gradient`` or torch's
        ``v.value.grad`` give them). The learning rate is the schedule's value at
        ``iterations``; ``iterations`` then grows by one. The slots are the ones ``fit``
        uses for the same variables (keyed by variable path), so a custom step and the
        compiled step continue each other's state.

        Differs from Keras: a ``None`` gradient is an error (Keras skips that variable with
        a warning), so that a variable the loss does not reach is never silently frozen.
        Inside a ``train_step`` run by ``fit``, the update is guarded as fit's compiled step
        is (docs/training.md, "Non-finite values"): when a gradient is NaN or infinite, or an
        earlier guarded call of this optimizer was, the variables and slots stay as they
        are, and ``fit`` stops at its next logging point naming the batch."""
        from ..errors import ConfigError, TrainingError
        from ..plugin import get_backend

        if trainable_variables is None:
            raise ConfigError(
                f"{type(self).__name__}.apply needs the variables to update. Received: "
                "trainable_variables=None. Fix: optimizer.apply(grads, "
                "model.trainable_weights)."
            )
        variables = list(trainable_variables)
        grads = list(grads)
        if len(grads) != len(variables):
            raise ConfigError(
                f"{type(self).__name__}.apply got {len(grads)} gradients for "
                f"{len(variables)} variables. Expected one gradient per variable, in order."
            )
        if not variables:
            return
        missing = [
            getattr(v, "path", str(v)) for v, g in zip(variables, grads, strict=True) if g is None
        ]
        if missing:
            raise TrainingError(
                f"No gradient for variables {missing}: the loss does not depend on them. "
                "Expected a gradient for every variable given to optimizer.apply. Fix: pass "
                "only the variables the loss reaches (e.g. a sub-model's trainable_weights)."
            )
        backends = {getattr(v, "backend", None) for v in variables}
        if len(backends) != 1 or None in backends:
            raise ConfigError(
                f"{type(self).__name__}.apply updates dl.Variable objects bound on one "
                f"backend. Received variables on {sorted(map(str, backends))}. Fix: pass the "
                "model's trainable_weights after the model has run (fit, build or a call)."
            )
        native = get_backend(str(backends.pop())).native_optimizer(self, variables)
        check = bool(_GUARDED.get() and hasattr(native, "nonfinite_step"))  # fit's guard
        trace = _trace.active()
        if trace is not None:  # a traced step: lr is its input; iterations bumped after it
            native.apply(grads, trace.learning_rate(self), check=check)
            trace.count_apply(self)
            return
        # a backend may trace the update for calls from eager code (``apply_eager``)
        apply = getattr(native, "apply_eager", native.apply)
        apply(grads, self.current_learning_rate(), check=check)
        self.iterations += 1

    def apply_gradients(self, grads_and_vars: Any) -> None:
        """``apply`` from ``(gradient, variable)`` pairs (Keras's ``apply_gradients``)."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def hyper(self) -> dict[str, Any]:
        """Everything the update rule reads, for backends."""
        return {}

    def update_slots(self) -> tuple[str, ...]:
        """Slots of the update rule itself."""
        return self.slots

    def slot_names(self) -> tuple[str, ...]:
        out = self.update_slots()
        if self.use_ema:
            out = (*out, EMA_SLOT)
        if self.gradient_accumulation_steps:
            out = (*out, ACCUMULATOR_SLOT)
        return out

    def init_slot(self, slot: str, value: np.ndarray) -> np.ndarray:
        """Initial value of a slot for a variable (zeros unless the rule says otherwise)."""
        return np.zeros_like(value)

    def update_step_of(self, iterations: int) -> int:
        """The 1-based update count of the call after ``iterations`` calls (Keras's
        ``iterations + 1`` with gradient accumulation counting updates)."""
        k = self.gradient_accumulation_steps
        return (iterations + 1) // k if k else iterations + 1

    def reference_update(
        self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], lr: float, step: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One update of one variable in numpy (no clipping/decay/EMA). ``step`` counts from
        1. Returns the new weight and the state dict (all keys, updated ones replaced)."""
        raise NotImplementedError

    def decoupled_torch_decay(self) -> bool:
        """``formula="torch"``: whether weight decay is decoupled (AdamW) instead of L2."""
        return False

    # ---- the whole Keras apply(), in numpy -------------------------------------------------
    def reference_clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm:
            c = self.clipnorm
            out = []
            for g in grads:
                n = math.sqrt(float(np.sum(g * g)))
                out.append(g * c / max(n, c))
            return out
        if self.global_clipnorm:
            c = self.global_clipnorm
            if self.formula == "torch":
                norms = np.array([np.linalg.norm(g.ravel()) for g in grads])
                total = float(np.linalg.norm(norms))
                coef = min(c / (total + TORCH_CLIP_EPS), 1.0)
            else:
                total = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
                coef = c * min(1.0 / total if total else math.inf, 1.0 / c)
            return [g * coef for g in grads]
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def reference_apply(
        self,
        weights: list[np.ndarray],
        grads: list[np.ndarray],
        slots: list[dict[str, np.ndarray]],
        iterations: int,
        lr: float,
        names: list[str] | None = None,
    ) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
        """One ``apply`` call (``iterations`` calls done before it) for all variables."""
        ws = [np.array(w) for w in weights]
        ss = [dict(s) for s in slots]
        names_ = names or [None] * len(ws)  # type: ignore[list-item]
        k = self.gradient_accumulation_steps
        update = True
        gs = [np.asarray(g) for g in grads]
        if k:
            if (iterations + 1) % k != 0:
                update = False
                for s, g in zip(ss, gs, strict=True):
                    s[ACCUMULATOR_SLOT] = s[ACCUMULATOR_SLOT] + g
            else:
                gs = [(g + s[ACCUMULATOR_SLOT]) / k for s, g in zip(ss, gs, strict=True)]
                for s in ss:
                    s[ACCUMULATOR_SLOT] = np.zeros_like(s[ACCUMULATOR_SLOT])
        if update:
            step = self.update_step_of(iterations)
            gs = self.reference_clip(gs)
            lam = self.weight_decay
            for i, name in enumerate(names_):
                if lam and self.uses_weight_decay(name):
                    if self.formula == "keras":
                        ws[i] = ws[i] - ws[i] * lam * lr
                    elif self.decoupled_torch_decay():
                        ws[i] = ws[i] * (1 - lr * lam)
                    else:
                        gs[i] = gs[i] + lam * ws[i]
                ws[i], ss[i] = self.reference_update(ws[i], gs[i], ss[i], lr, step)
        if self.use_ema:
            done = iterations // k if k else iterations
            mu = self.ema_momentum if done != 0 else 0.0
            for i, s in enumerate(ss):
                s[EMA_SLOT] = mu * s[EMA_SLOT] + (1 - mu) * ws[i]
            f = self.ema_overwrite_frequency
            if f and (done + 1) % f == 0:
                ws = [s[EMA_SLOT].copy() for s in ss]
        return ws, ss

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        if callable(lr):
            from .schedules import serialize as serialize_schedule

            lr = serialize_schedule(lr)
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": None,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "exclude_from_weight_decay": list(self.exclude_from_weight_decay_names),
            "formula": self.formula,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        cfg = dict(config)
        if isinstance(cfg.get("learning_rate"), dict):
            from .schedules import deserialize as deserialize_schedule

            cfg["learning_rate"] = deserialize_schedule(cfg["learning_rate"])
        return cls(**cfg)
