"""``get`` / ``serialize`` / ``deserialize`` / ``register`` for one kind of configurable callable
(regularizers, constraints): Keras 3's identifier rules, written once."""

from __future__ import annotations

import inspect
from typing import Any

from ._registry import Registry
from .errors import ConfigError, SerializationError


class Catalog:
    """The objects of one ``kind`` whose classes derive from ``base``, by registered name."""

    def __init__(self, kind: str, registry: Registry, base: type[Any], example: str) -> None:
        self.kind, self.registry, self.example = kind, registry, example
        self.base: type[Any] = base

    def _fix(self) -> str:
        module = f"dl.{self.kind}s"
        return f"subclass {module}.{self.base.__name__} (with get_config), or use a built-in one"

    def serialize(self, obj: Any) -> dict[str, Any] | None:
        """``{"class_name", "config"}`` of an instance of ``base`` (None stays None)."""
        if obj is None:
            return None
        if not isinstance(obj, self.base):
            raise SerializationError(
                f"Cannot serialize the {self.kind} {obj!r}: only {self.base.__name__} objects "
                f"have a config. Expected: a {self.base.__name__} instance. Fix: {self._fix()}."
            )
        name = getattr(type(obj), "_registered_name", type(obj).__name__)
        return {"class_name": str(name), "config": obj.get_config()}

    def deserialize(
        self, config: dict[str, Any], custom_objects: dict[str, Any] | None = None
    ) -> Any:
        """The object a :meth:`serialize` dict (or a Keras 3 one) describes."""
        if not isinstance(config, dict) or "class_name" not in config:
            raise SerializationError(
                f"A {self.kind} config is a dict with 'class_name' and 'config'. Received: "
                f"{config!r}."
            )
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or self.registry.get(name)
        return cls.from_config(dict(config.get("config") or {}))

    def get(self, identifier: Any) -> Any:
        """From a name, a config dict, a class, an instance or a callable (None stays None)."""
        if identifier is None:
            return None
        if isinstance(identifier, str):
            return self.registry.get(identifier)()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if inspect.isclass(identifier):
            return identifier()
        if callable(identifier):
            return identifier
        raise ConfigError(
            f"Cannot interpret {identifier!r} as a {self.kind}. Expected: a name such as "
            f"{self.example}, a config dict, a {self.base.__name__} or a callable. Fix: pass "
            "one of these."
        )

    def register(self, cls: type) -> type:
        """Register a custom subclass by its class name, so that configs naming it load."""
        self.registry.add(cls.__name__, cls)
        return cls
