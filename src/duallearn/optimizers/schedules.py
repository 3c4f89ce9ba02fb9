"""Learning-rate schedules (Keras 3 formulas): callables of the 0-based step, evaluated by the
front-end in float64 once per step, so every backend sees the same value.

Differs from Keras: Keras evaluates schedules in float32 (the learning-rate variable's dtype);
duallearn in float64. A plain Python callable ``f(step) -> float`` also works as a learning
rate (it cannot be saved unless registered).
"""

from __future__ import annotations

import math
from typing import Any

from .._registry import Registry
from ..errors import ConfigError, SerializationError

REGISTRY = Registry("learning rate schedule")


def _pos(cls: str, name: str, v: Any, allow_zero: bool = False) -> Any:
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    if not ok or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(
            f"{cls}: {name} must be a {'non-negative' if allow_zero else 'positive'} number. "
            f"Received: {name}={v!r}."
        )
    return v


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


@REGISTRY.register("ExponentialDecay")
class ExponentialDecay(LearningRateSchedule):
    """``lr₀ · rate^(step/decay_steps)`` (``staircase``: the exponent floored)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        self.initial_learning_rate = _pos(
            name, "initial_learning_rate", initial_learning_rate, True
        )
        self.decay_steps = _pos(name, "decay_steps", decay_steps)
        self.decay_rate = _pos(name, "decay_rate", decay_rate, True)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step: int) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) * float(self.decay_rate) ** p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


@REGISTRY.register("PiecewiseConstantDecay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for step ≤ b₀, ``values[i]`` for b_{i−1} < step ≤ b_i, ``values[-1]``
    after the last boundary."""

    def __init__(
        self, boundaries: list[int], values: list[float], name: str = "PiecewiseConstant"
    ) -> None:
        if len(boundaries) != len(values) - 1:
            raise ConfigError(
                "PiecewiseConstantDecay: the length of boundaries should be 1 less than the "
                f"length of values. Received: boundaries={boundaries} of length "
                f"{len(boundaries)}, values={values} of length {len(values)}."
            )
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values, strict=False):
            if step <= b:
                return float(v)
        return float(self.values[-1])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


@REGISTRY.register("PolynomialDecay")
class PolynomialDecay(LearningRateSchedule):
    """``(lr₀ − lr_end)·(1 − s/D)^power + lr_end`` with s = min(step, D); ``cycle``:
    D ← D·max(1, ⌈step/D⌉)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        name: str = "PolynomialDecay",
    ) -> None:
        self.initial_learning_rate = _pos(
            name, "initial_learning_rate", initial_learning_rate, True
        )
        self.decay_steps = _pos(name, "decay_steps", decay_steps)
        self.end_learning_rate = _pos(name, "end_learning_rate", end_learning_rate, True)
        self.power = power
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step: int) -> float:
        s = float(step)
        d = float(self.decay_steps)
        if self.cycle:
            d = d * (1.0 if s == 0 else math.ceil(s / self.decay_steps))
        else:
            s = min(s, d)
        p = s / d
        lr0, end = float(self.initial_learning_rate), float(self.end_learning_rate)
        return (lr0 - end) * (1 - p) ** self.power + end

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


@REGISTRY.register("InverseTimeDecay")
class InverseTimeDecay(LearningRateSchedule):
    """``lr₀ / (1 + rate·step/decay_steps)`` (``staircase``: the ratio floored)."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        self.initial_learning_rate = _pos(
            name, "initial_learning_rate", initial_learning_rate, True
        )
        self.decay_steps = _pos(name, "decay_steps", decay_steps)
        self.decay_rate = _pos(name, "decay_rate", decay_rate, True)
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step: int) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) / (1.0 + float(self.decay_rate) * p)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


@REGISTRY.register("CosineDecay")
class CosineDecay(LearningRateSchedule):
    """Without warmup: ``lr₀·((1 − α)·½(1 + cos(π·s/D)) + α)``, s = min(step, D).
    With ``warmup_target`` T and W warmup steps: linear lr₀ → T over W steps, then the cosine
    decay from T over D steps (s = min(step, D + W))."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        self.initial_learning_rate = _pos(
            name, "initial_learning_rate", initial_learning_rate, True
        )
        self.decay_steps = _pos(name, "decay_steps", decay_steps)
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = _pos(name, "warmup_steps", warmup_steps, True)

    def _decay(self, s: float, d: float, lr: float) -> float:
        cos = 0.5 * (1.0 + math.cos(math.pi * (s / d)))
        return lr * ((1 - self.alpha) * cos + self.alpha)

    def __call__(self, step: int) -> float:
        s, d = float(step), float(self.decay_steps)
        lr0 = float(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decay(min(s, d), d, lr0)
        w, target = float(self.warmup_steps), float(self.warmup_target)
        s = min(s, d + w)
        if s < w:
            return (target - lr0) * (s / w) + lr0
        return self._decay(s - w, d, target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


@REGISTRY.register("CosineDecayRestarts")
class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: period i lasts D·t_mulⁱ steps and peaks at lr₀·m_mulⁱ;
    ``lr₀·m_mulⁱ·((1 − α)·½(1 + cos(π·f)) + α)`` with f the fraction of the current period."""

    def __init__(
        self,
        initial_learning_rate: float,
        first_decay_steps: int,
        t_mul: float = 2.0,
        m_mul: float = 1.0,
        alpha: float = 0.0,
        name: str = "SGDRDecay",
    ) -> None:
        self.initial_learning_rate = _pos(
            name, "initial_learning_rate", initial_learning_rate, True
        )
        self.first_decay_steps = _pos(name, "first_decay_steps", first_decay_steps)
        self.t_mul = _pos(name, "t_mul", t_mul)
        self.m_mul = _pos(name, "m_mul", m_mul, True)
        self.alpha = alpha
        self.name = name

    def __call__(self, step: int) -> float:
        frac = float(step) / float(self.first_decay_steps)
        t_mul, m_mul = float(self.t_mul), float(self.m_mul)
        if t_mul == 1.0:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1.0 - frac * (1.0 - t_mul)) / math.log(t_mul))
            sum_r = (1.0 - t_mul**i) / (1.0 - t_mul)
            frac = (frac - sum_r) / t_mul**i
        cos = 0.5 * m_mul**i * (1.0 + math.cos(math.pi * frac))
        return float(self.initial_learning_rate) * ((1 - self.alpha) * cos + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


def serialize(schedule: Any) -> dict[str, Any]:
    """The JSON-able form of a learning-rate schedule (``keras.optimizers.schedules.serialize``).

    Args:
        schedule: a :class:`LearningRateSchedule`.

    Returns:
        ``{"class_name": ..., "config": schedule.get_config()}``.

    Raises:
        SerializationError: ``schedule`` is a plain callable, which cannot be saved.
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise SerializationError(
            f"A plain callable learning rate ({schedule!r}) cannot be saved. Fix: use a "
            "dl.optimizers.schedules class, or pass custom_objects when loading."
        )
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """The schedule a :func:`serialize` dict describes (``keras.optimizers.schedules.deserialize``).

    Args:
        config: ``{"class_name": ..., "config": {...}}``.

    Returns:
        A new :class:`LearningRateSchedule`.
    """
    return REGISTRY.get(config["class_name"]).from_config(config.get("config", {}))  # type: ignore[no-any-return]


__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "serialize",
]
