"""Running a :class:`GraphSpec` node by node over native tensors: the one graph walk that every
backend's model module delegates to (it never touches a framework itself)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._base import GraphSpec


class GraphWalk:
    """Calls each node's native layer (``forward(x, training, noise[, mask=])``) in order.

    Keras masks are carried only when some layer ``produces_mask``: then a layer receives
    ``mask=`` when its input has one and its forward takes it, and ``compute_mask`` gives the
    mask of its output; :attr:`output_masks` holds the outputs' masks of the last run.
    """

    def __init__(self, graph: GraphSpec, modules: Sequence[Any]) -> None:
        self.graph = graph
        self.n_tensors = 1 + max([*graph.inputs, *(o for n in graph.nodes for o in n.outputs)])
        self.plan = [(modules[n.layer], n.inputs, n.outputs, n.list_input) for n in graph.nodes]
        self.masking = any(getattr(layer, "produces_mask", False) for layer in graph.layers)
        self.output_masks: list[Any] | None = None

    def run(
        self, inputs: Sequence[Any], training: bool, noise: Mapping[int, Any] | None
    ) -> list[Any]:
        vals: list[Any] = [None] * self.n_tensors
        for i, t in zip(self.graph.inputs, inputs, strict=True):
            vals[i] = t
        if self.masking:
            return self._run_masked(vals, training, noise)
        for k, (mod, ins, outs, list_input) in enumerate(self.plan):
            arg = [vals[i] for i in ins] if list_input else vals[ins[0]]
            out = mod.forward(arg, training, noise.get(k) if noise else None)
            if len(outs) == 1:
                vals[outs[0]] = out
            else:
                for i, o in zip(outs, out, strict=True):
                    vals[i] = o
        return [vals[i] for i in self.graph.outputs]

    def _run_masked(self, vals: list[Any], training: bool, noise: Any) -> list[Any]:
        masks: list[Any] = [None] * self.n_tensors
        for k, (mod, ins, outs, list_input) in enumerate(self.plan):
            arg = [vals[i] for i in ins] if list_input else vals[ins[0]]
            m_in = [masks[i] for i in ins] if list_input else masks[ins[0]]
            has = any(m is not None for m in m_in) if list_input else m_in is not None
            kw = {"mask": m_in} if has and mod.takes_mask else {}
            out = mod.forward(arg, training, noise.get(k) if noise else None, **kw)
            m_out = mod.compute_mask(arg, m_in if has else None)
            if len(outs) == 1:
                vals[outs[0]], masks[outs[0]] = out, m_out
            else:
                m_outs = m_out if isinstance(m_out, (list, tuple)) else [m_out] * len(outs)
                for i, o, m in zip(outs, out, m_outs, strict=True):
                    vals[i], masks[i] = o, m
        self.output_masks = [masks[i] for i in self.graph.outputs]
        return [vals[i] for i in self.graph.outputs]
