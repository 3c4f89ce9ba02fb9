"""Optimizers (Keras 3 formulas and defaults; ``formula="torch"`` for torch.optim's)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from . import schedules as schedules
from ._adam import Adam as Adam
from ._adam import Adamax as Adamax
from ._adam import AdamW as AdamW
from ._adam import Nadam as Nadam
from ._ftrl import Ftrl as Ftrl
from ._optimizer import REGISTRY as REGISTRY
from ._optimizer import Optimizer as Optimizer
from ._rmsprop import Adadelta as Adadelta
from ._rmsprop import Adagrad as Adagrad
from ._rmsprop import Lion as Lion
from ._rmsprop import RMSprop as RMSprop
from ._sgd import SGD as SGD


def get(identifier: Any) -> Optimizer:
    """Resolve ``"adam"``, ``"sgd"``..., a config dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.get(identifier)()  # type: ignore[no-any-return]
    if isinstance(identifier, dict) and "class_name" in identifier:
        return REGISTRY.get(identifier["class_name"]).from_config(identifier.get("config", {}))  # type: ignore[no-any-return]
    raise ConfigError(
        f"Cannot interpret {identifier!r} as an optimizer. Expected a name such as 'adam' "
        "or a dl.optimizers.Optimizer instance."
    )


def serialize(opt: Optimizer) -> dict[str, Any]:
    """The JSON-able form of an optimizer (Keras's ``keras.optimizers.serialize``).

    Args:
        opt: an :class:`Optimizer`.

    Returns:
        ``{"class_name": ..., "config": opt.get_config()}`` (hyper-parameters, not the slots);
        :func:`deserialize` reads it back.
    """
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config: dict[str, Any]) -> Optimizer:
    """The optimizer a :func:`serialize` dict describes (Keras's ``keras.optimizers.deserialize``).

    Args:
        config: ``{"class_name": ..., "config": {...}}``.

    Returns:
        A new :class:`Optimizer` (fresh slots).

    Raises:
        UnknownNameError: ``class_name`` is no registered optimizer.
    """
    return get(config)


__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lion",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "deserialize",
    "get",
    "schedules",
    "serialize",
]
