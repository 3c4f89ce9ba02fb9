"""Learning-rate schedules: callables of the step (0-based), evaluated by the front-end."""

from __future__ import annotations

from typing import Any

from ._registry import Registry
from .errors import SerializationError

REGISTRY = Registry("learning rate schedule")


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


def serialize(schedule: Any) -> dict[str, Any]:
    if not isinstance(schedule, LearningRateSchedule):
        raise SerializationError(
            f"A plain callable learning rate ({schedule!r}) cannot be saved. Fix: use a "
            "dl.optimizers.schedules class, or pass custom_objects when loading."
        )
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    return REGISTRY.get(config["class_name"]).from_config(config.get("config", {}))  # type: ignore[no-any-return]
