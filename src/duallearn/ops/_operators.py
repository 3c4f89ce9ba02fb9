"""Python operators for values that stand for tensors in ``call`` (layer weights and
symbolic tensors): ``w + x``, ``x @ w``, ``w[0]``... each is the matching ``dl.ops`` call."""

from __future__ import annotations

from typing import Any


def _ops() -> Any:
    from .. import ops

    return ops


class TensorOperators:
    """Mixin: arithmetic, matmul, comparison-free operators routed through ``dl.ops``.

    ``==`` keeps Python identity semantics (weights are compared by identity in lists)."""

    __array_ufunc__ = None  # numpy arrays defer to our reflected operators

    def __add__(self, o: Any) -> Any:
        return _ops().add(self, o)

    def __radd__(self, o: Any) -> Any:
        return _ops().add(o, self)

    def __sub__(self, o: Any) -> Any:
        return _ops().subtract(self, o)

    def __rsub__(self, o: Any) -> Any:
        return _ops().subtract(o, self)

    def __mul__(self, o: Any) -> Any:
        return _ops().multiply(self, o)

    def __rmul__(self, o: Any) -> Any:
        return _ops().multiply(o, self)

    def __truediv__(self, o: Any) -> Any:
        return _ops().divide(self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return _ops().divide(o, self)

    def __matmul__(self, o: Any) -> Any:
        return _ops().matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return _ops().matmul(o, self)

    def __pow__(self, o: Any) -> Any:
        return _ops().power(self, o)

    def __rpow__(self, o: Any) -> Any:
        return _ops().power(o, self)

    def __neg__(self) -> Any:
        return _ops().negative(self)

    def __getitem__(self, key: Any) -> Any:
        return _ops().getitem(self, key)
