"""What flows through ``from_torch``'s walk of a ``torch.fx`` graph: each torch tensor is a
duallearn symbolic tensor plus the axis order that relates the two (:class:`Val`).

``Val.perm[i]`` is the torch axis that duallearn axis ``i`` holds: an NCHW feature map kept
channels-last has ``perm = (0, 2, 3, 1)``, a ``(T, N, F)`` sequence kept batch-first
``(1, 0, 2)``. Ops that do not care about the order (activations, ``+``) keep it; ops that
do ask for the order they need and :class:`Ctx` inserts a ``Permute`` only when the order
differs, so ``x.permute`` / ``x.transpose`` in torch code cost no layer at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ._torch_map import part_name


class NotSupported(ConfigError):
    """Raised inside the walk; :func:`from_torch` reports it with the node's place."""


@dataclass
class Val:
    """A torch tensor as a duallearn symbolic tensor ``t`` and the axis order ``perm``."""

    t: Any
    perm: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def batch_axis(self) -> int:
        """The torch axis that is the batch (duallearn's axis 0)."""
        return self.perm[0]

    def torch_shape(self) -> list[int | None]:
        """The torch shape (``None`` for the batch and unknown sizes)."""
        out: list[int | None] = [None] * self.rank
        for i, p in enumerate(self.perm):
            out[p] = self.t.shape[i] if i else None
        return out


class _Batch:
    """The batch size (``x.size(0)``, ``x.shape[0]``): only meaningful in a reshape."""

    def __repr__(self) -> str:
        return "BATCH"


BATCH = _Batch()


@dataclass
class TorchShape:
    """``x.shape`` / ``x.size()``: known sizes, ``BATCH`` on the batch axis."""

    dims: tuple[Any, ...]


@dataclass
class Stacked:
    """``h_n`` / ``c_n`` of a recurrent module: one ``(N, H)`` tensor per layer and
    direction, in torch's order (layer 0 forward, layer 0 backward, layer 1 ...)."""

    states: list[Any]
    place: str


@dataclass
class Refused:
    """An output that exists in torch but not here (MultiheadAttention's weights)."""

    why: str


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_last(rank: int) -> tuple[int, ...]:
    """``(0, 2, ..., rank-1, 1)``: torch's channels-first axes held channels-last."""
    return (0, *range(2, rank), 1) if rank >= 3 else identity(rank)


def batch_first(perm: Sequence[int]) -> tuple[int, ...]:
    """The batch axis first, every other torch axis in torch's order."""
    b = perm[0]
    return (b, *[i for i in range(len(perm)) if i != b])


def renumber(axes: Sequence[int]) -> tuple[int, ...]:
    """Torch axes that survived an op, renumbered 0..n-1 keeping their relative order."""
    order = sorted(axes)
    return tuple(order.index(a) for a in axes)


@dataclass
class Ctx:
    """The walk's state: layer names, the layers made for each module, the current place."""

    place: str = ""
    owner: str = "@model"
    names: set[str] = field(default_factory=set)
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    # ---- names and layers -------------------------------------------------------------------
    def unique(self, name: str) -> str:
        base, n = name, 0
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def helper_name(self, part: str) -> str:
        return self.unique(part_name(self.owner, part))

    def module_layer(self, part: str, make: Callable[[str], Any]) -> Any:
        """The layer for ``(current module, part)``, made once (a module called twice shares
        it, as torch shares the module's weights). ``part == ""``: the module's own layer,
        named after its path."""
        key = (self.owner, part)
        if key not in self.cache:
            name = self.owner if not part else part_name(self.owner, part)
            self.names.add(name)
            self.cache[key] = make(name)
        return self.cache[key]

    def error(self, why: str, fix: str) -> NotSupported:
        return NotSupported(f"{self.place} is not supported: {why}. Fix: {fix}")

    # ---- layouts -------------------------------------------------------------------------
    def permute(self, v: Val, perm: Sequence[int]) -> Val:
        """``v`` with duallearn axes in the order ``perm`` (a Permute layer when needed)."""
        perm = tuple(perm)
        if perm == v.perm:
            return v
        if perm[0] != v.perm[0]:
            raise self.error(
                f"it needs torch axis {perm[0]} as the batch axis, but the batch is torch axis "
                f"{v.perm[0]} here",
                "keep the batch on one axis through the model (batch_first=True helps)",
            )
        from ..layers import Permute

        dims = [v.perm.index(p) for p in perm[1:]]
        layer = Permute(dims, name=self.helper_name("permute"))
        return Val(layer(v.t), perm)

    def to_identity(self, v: Val) -> Val:
        """Torch's axis order with the batch first."""
        return self.permute(v, batch_first(v.perm))

    def to_channels_last(self, v: Val, what: str) -> Val:
        if v.batch_axis != 0:
            raise self.error(
                f"{what} needs the batch on torch axis 0, but it is on axis {v.batch_axis}",
                "feed it (batch, channels, ...) tensors",
            )
        return self.permute(v, channels_last(v.rank))

    def last_axis_kept(self, v: Val) -> Val:
        """Any order that keeps torch's last axis last (Dense, LayerNorm(last))."""
        if v.perm[-1] == v.rank - 1:
            return v
        return self.to_identity(v)

    def row_major(self, v: Val) -> Val:
        """``v`` whose non-batch elements, read in duallearn's row-major order, come in
        torch's order (size-1 axes may sit anywhere): what Flatten and Reshape need."""
        if v.batch_axis != 0:
            raise self.error(
                f"reshaping needs the batch on torch axis 0, but it is on axis {v.batch_axis}",
                "move the batch first (x.transpose(0, 1)) before reshaping",
            )
        shape = v.t.shape
        moving = [p for i, p in enumerate(v.perm[1:], 1) if shape[i] != 1]
        if moving == sorted(moving):
            return v
        return self.to_identity(v)

    def reshape(self, v: Val, target: Sequence[int | None], perm: Sequence[int]) -> Val:
        """Reshape the duallearn tensor to ``target`` (non-batch sizes, ``None`` unknown)."""
        from ..layers import Flatten, Reshape

        dims = [-1 if d is None else int(d) for d in target]
        if tuple(v.t.shape[1:]) == tuple(target):
            return Val(v.t, tuple(perm))
        if len(dims) == 1 and dims[0] in (-1, math.prod(d for d in v.t.shape[1:] if d)):
            return Val(Flatten(name=self.helper_name("flatten"))(v.t), tuple(perm))
        if dims.count(-1) > 1:
            raise self.error(
                f"reshaping to {tuple(target)} needs the sizes to be known, received an input "
                f"of shape {tuple(v.t.shape)}",
                "pass input_shape with every size known",
            )
        return Val(Reshape(dims, name=self.helper_name("reshape"))(v.t), tuple(perm))

    def rename(self, t: Any, part: str) -> Any:
        """Give the layer that produced ``t`` (an OpLayer from ``dl.ops``) a porting name."""
        t.node.layer.name = self.helper_name(part)
        return t
