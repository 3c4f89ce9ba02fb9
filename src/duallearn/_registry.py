"""Name → class registries for configs: only duallearn's own classes and the ones a user
registered can ever be built from a file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import unknown_name

T = TypeVar("T")


class Registry:
    """A table of constructible names for one kind of object (layer, loss, optimizer...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            for name in names or (obj.__name__,):  # type: ignore[attr-defined]
                self._items[name] = obj
            return obj

        return wrap

    def add(self, name: str, obj: Any) -> None:
        self._items[name] = obj

    def get(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._items) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return sorted(self._items)
