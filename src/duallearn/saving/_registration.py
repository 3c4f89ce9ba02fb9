"""Keras's object registration: ``register_keras_serializable``, ``get_registered_name``,
``get_registered_object``, ``get_custom_objects`` and ``custom_object_scope``.

A registered object is found by ``load_model`` (and every other config loader) without
``custom_objects=``: under its ``"package>name"`` key and, for the losses, metrics and
functions that duallearn's configs name by their Python name, under that name too (unless
another registered object or a built-in has it). An entry of ``custom_objects=`` wins over a
registered object of the same name; a ``custom_object_scope`` wins over both.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ConfigError
from ..layers._layer import REGISTRY as LAYERS
from ..layers._layer import Layer

T = TypeVar("T")

_GLOBAL_CUSTOM_OBJECTS: dict[str, Any] = {}
_GLOBAL_CUSTOM_NAMES: dict[Any, str] = {}
_SCOPE: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "duallearn_custom_object_scope", default=None
)


def register_keras_serializable(
    package: str = "Custom", name: str | None = None
) -> Callable[[T], T]:
    """Register a class or function under ``"package>name"`` (``name`` defaults to its
    ``__name__``) so that saved models naming it load without ``custom_objects``
    (``keras.saving.register_keras_serializable``). A class must have ``get_config``.

    Example:
        >>> import duallearn as dl
        >>> @dl.saving.register_keras_serializable(package="doc_pkg")
        ... class Scale(dl.layers.Layer):
        ...     def call(self, x):
        ...         return 2.0 * x
        >>> dl.saving.get_registered_name(Scale)
        'doc_pkg>Scale'
    """

    def decorator(arg: T) -> T:
        class_name = name if name is not None else arg.__name__  # type: ignore[attr-defined]
        key = f"{package}>{class_name}"
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ConfigError(
                "Cannot register a class that does not have a get_config() method. "
                f"Received: {arg.__name__}. Fix: define get_config() returning the arguments "
                "of __init__."
            )
        _GLOBAL_CUSTOM_OBJECTS[key] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = key
        if inspect.isclass(arg) and issubclass(arg, Layer):  # layers and models: by key
            LAYERS.add(key, arg)
            arg._registered_name = key  # type: ignore[attr-defined]
        return arg

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` is registered under (``"package>name"``), else its ``__name__``."""
    if obj in _GLOBAL_CUSTOM_NAMES:
        return _GLOBAL_CUSTOM_NAMES[obj]
    return str(obj.__name__)


def get_registered_object(
    name: str,
    custom_objects: dict[str, Any] | None = None,
    module_objects: dict[str, Any] | None = None,
) -> Any:
    """The object registered under ``name``, looked up (as Keras) in the active
    ``custom_object_scope``, the registered objects, ``custom_objects`` then
    ``module_objects``; None when none has it."""
    scope = _SCOPE.get() or {}
    if name in scope:
        return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def get_custom_objects() -> dict[str, Any]:
    """The live dictionary of registered objects (``{"package>name": obj}``); an entry
    added to it directly is found by loaders as a registered one is."""
    return _GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """``with dl.saving.CustomObjectScope({"name": obj}):`` makes ``obj`` known to loaders
    inside the block (``keras.saving.CustomObjectScope``; ``custom_object_scope`` is the
    same class). Scopes do not nest: the inner one replaces the outer one, as in Keras."""

    def __init__(self, custom_objects: dict[str, Any] | None = None) -> None:
        self.custom_objects = dict(custom_objects or {})
        self._tokens: list[contextvars.Token[dict[str, Any] | None]] = []

    def __enter__(self) -> CustomObjectScope:
        self._tokens.append(_SCOPE.set(dict(self.custom_objects)))
        return self

    def __exit__(self, *exc: object) -> None:
        _SCOPE.reset(self._tokens.pop())


custom_object_scope = CustomObjectScope


def known_objects(custom_objects: dict[str, Any] | None = None) -> dict[str, Any]:
    """``custom_objects`` completed with the registered objects, as loaders use it: each
    registered object by its key and, for a function or a non-layer class, by its
    ``__name__`` (what duallearn's loss/metric configs record) unless that name is ambiguous or
    a built-in one; then ``custom_objects``; then the active scope."""
    from .. import losses, metrics

    by_short: dict[str, Any] = {}
    clashes: set[str] = set()
    for obj in _GLOBAL_CUSTOM_OBJECTS.values():
        short = getattr(obj, "__name__", None)
        if (
            not isinstance(short, str)
            or (inspect.isclass(obj) and issubclass(obj, Layer))  # layers are saved by key
            or short in LAYERS
            or short in losses.REGISTRY
            or short in metrics.REGISTRY  # a built-in name is never shadowed
        ):
            continue
        if short in by_short and by_short[short] is not obj:
            clashes.add(short)
        by_short[short] = obj
    for short in clashes:
        del by_short[short]
    return {**by_short, **_GLOBAL_CUSTOM_OBJECTS, **(custom_objects or {}), **(_SCOPE.get() or {})}
