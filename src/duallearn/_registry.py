"""Name → class registries for configs: only duallearn's own classes and the ones a user
registered can ever be built from a file."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import unknown_name

T = TypeVar("T")


class Registry:
    """A table of constructible names for one kind of object (layer, loss, optimizer...)."""

    def __init__(self, kind: str, providers: tuple[str, ...] = ()) -> None:
        """``providers``: modules that register more names of this kind (imported on the
        first miss), so that a package can find classes of a package it must not import,
        e.g. ``saving`` finds ``Sequential`` without importing ``models``."""
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._providers = list(providers)

    def _load_providers(self) -> None:
        while self._providers:
            importlib.import_module(self._providers.pop(0))

    def register(self, *names: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            for name in names or (obj.__name__,):  # type: ignore[attr-defined]
                self._items[name] = obj
            return obj

        return wrap

    def add(self, name: str, obj: Any) -> None:
        self._items[name] = obj

    def get(self, name: str) -> Any:
        if name not in self._items:
            self._load_providers()
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.kind, name, self._items) from None

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._load_providers()
        return name in self._items

    def names(self) -> list[str]:
        self._load_providers()
        return sorted(self._items)
