"""The merge layers written once for every backend (formulas in duallearn/layers/_merging.py).

Each mixin holds a layer's ``forward`` (and ``compute_mask``) in Python operators plus a few
primitives that the backend's merge base class provides, as the stubs of
:class:`MergePrimitives` list. A backend registers ``(mixin, its merge base)`` for each entry
of :data:`MERGES`::

    class _TorchMerge(MergePrimitives, TorchLayer):
        logical_and = staticmethod(torch.logical_and)
        ...

    for name, mixin in MERGES.items():
        implements(name)(type(f"Torch{name}", (mixin, _TorchMerge), {}))
"""

from __future__ import annotations

from typing import Any

from ..layers._merging import dot_axes, dot_subscripts


class MergePrimitives:
    """The framework calls the merge layers use, and the default mask: the AND of the inputs'
    masks (inputs without one count as all-true)."""

    spec: Any

    def logical_and(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def concat(self, xs: list[Any], axis: int) -> Any:
        raise NotImplementedError

    def scalar(self, value: float, like: Any) -> Any:
        """``value`` as an operand of ``like``'s dtype (a Python number where the framework
        promotes one to the tensor's dtype)."""
        raise NotImplementedError

    def rank(self, a: Any) -> int:
        raise NotImplementedError

    def ones_mask(self, a: Any) -> Any:
        """An all-true bool mask of ``a``'s shape without its last axis."""
        raise NotImplementedError

    def rsqrt(self, a: Any) -> Any:
        raise NotImplementedError

    def sum_keepdims(self, a: Any, axis: int) -> Any:
        raise NotImplementedError

    def clamp_min(self, a: Any, lo: float) -> Any:
        raise NotImplementedError

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        raise NotImplementedError

    def expand_dims(self, a: Any, axis: int) -> Any:
        raise NotImplementedError

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        out = None
        for m in mask:
            if m is not None:
                out = m if out is None else self.logical_and(out, m)
        return out


class AddMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out


class SubtractMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        return x[0] - x[1]


class MultiplyMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        out = x[0]
        for a in x[1:]:
            out = out * a
        return out


class AverageMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        out = x[0]
        for a in x[1:]:
            out = out + a
        return out / self.scalar(len(x), out)


class MaximumMixin(MergePrimitives):
    """``where(a >= b, a, b)`` folded left: ties send the gradient to the earlier input."""

    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        out = x[0]
        for a in x[1:]:
            out = self.where(out >= a, out, a)
        return out


class MinimumMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        out = x[0]
        for a in x[1:]:
            out = self.where(out <= a, out, a)
        return out


class ConcatenateMixin(MergePrimitives):
    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        return self.concat(x, self.spec.axis)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        ms = [self.ones_mask(a) if m is None else m for a, m in zip(x, mask, strict=True)]
        rank = self.rank(x[0])
        if self.spec.axis % rank == rank - 1:
            out = ms[0]
            for m in ms[1:]:
                out = self.logical_and(out, m)
            return out
        return self.concat(ms, self.spec.axis)


class DotMixin(MergePrimitives):
    """Keras's batch dot; ``normalize`` divides by ``sqrt(max(sum(u²), 1e-14))`` first."""

    def forward(self, x: list[Any], training: bool, noise: Any = None, mask: Any = None) -> Any:
        u, v = x
        a1, a2 = dot_axes(self.spec.axes, self.rank(u), self.rank(v))
        if self.spec.normalize:
            u = u * self.rsqrt(self.clamp_min(self.sum_keepdims(u * u, a1), 1e-14))
            v = v * self.rsqrt(self.clamp_min(self.sum_keepdims(v * v, a2), 1e-14))
        out = self.einsum(dot_subscripts(self.rank(u), self.rank(v), a1, a2), u, v)
        return self.expand_dims(out, 1) if self.rank(out) == 1 else out

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return None


MERGES: dict[str, type[MergePrimitives]] = {
    "Add": AddMixin,
    "Subtract": SubtractMixin,
    "Multiply": MultiplyMixin,
    "Average": AverageMixin,
    "Maximum": MaximumMixin,
    "Minimum": MinimumMixin,
    "Concatenate": ConcatenateMixin,
    "Dot": DotMixin,
}
