"""Eager updates: which backend owns the values given to ``update_state``, and the context in
which a user-defined metric's methods run (``dl.ops`` on the right implementation, the metric's
variables usable in it). See :mod:`duallearn.metrics._metric`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np


def shape_of(x: Any) -> tuple[int, ...]:
    s = getattr(x, "shape", None)
    if s is None or callable(s):
        return tuple(np.shape(x))
    return tuple(int(d) for d in s)


def plain(x: Any) -> Any:
    """A ``dl.Variable`` as its numpy value; anything else unchanged."""
    from ..variables import Variable

    return x.numpy() if isinstance(x, Variable) else x


def native_of(*values: Any) -> Any:
    """The backend's :class:`~duallearn.plugin._metrics.NativeMetrics` owning native tensors
    among ``values``, or None (numpy / Python values only)."""
    if all(v is None or isinstance(v, (np.ndarray, np.generic, int, float)) for v in values):
        return None
    from ..plugin._metrics import native_metrics

    return native_metrics(*values)


class _Scope(Mapping[int, Any]):
    """The bindings of a user metric's methods: its variables stand for their current value
    as native tensors (``convert``: on the device of the call's tensors; read when used, so
    an ``assign`` is seen at once); any other weight is looked up in ``outer`` (the bindings
    of the enclosing native call)."""

    def __init__(
        self, outer: Mapping[int, Any] | None, variables: list[Any], convert: Callable[..., Any]
    ) -> None:
        self._outer = outer
        self._vars = {id(v): v for v in variables}
        self._convert = convert

    def __getitem__(self, key: int) -> Any:
        v = self._vars.get(key)
        if v is not None:
            return self._convert(v.numpy())
        if self._outer is None:
            raise KeyError(key)
        return self._outer[key]

    def get(self, key: int, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[int]:
        yield from self._vars
        if self._outer is not None:
            yield from (k for k in self._outer if k not in self._vars)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def scoped(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a user metric's method with ``dl.ops`` on the right implementation: the enclosing
    native call's (a custom train step), else the backend of native tensors among the
    arguments, else the numpy reference; the metric's variables usable in ``dl.ops``."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        from ..ops import _dispatch, _numpy, native_call

        values = (*args, *kwargs.values())
        nm = native_of(*values) if values else None
        impl = _dispatch._impl.get() or (_numpy if nm is None else nm.ops)
        if getattr(impl, "NAME", "") == "numpy":
            with native_call(_numpy, _dispatch._bindings.get()):
                return method(self, *args, **kwargs)
        convert = impl.convert_to_tensor
        if nm is not None and nm.ops is impl:  # the variables on the tensors' device
            like = next(a for a in values if isinstance(a, nm.tensor_types))
            convert = functools.partial(nm.as_tensor, like=like)
        scope = _Scope(_dispatch._bindings.get(), self.variables, convert)
        with native_call(impl, scope, _dispatch._submodules.get(), _dispatch._training.get()):
            return method(self, *args, **kwargs)

    run._dl_scoped = True  # type: ignore[attr-defined]
    return run
