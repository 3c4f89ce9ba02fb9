"""Running a :class:`GraphSpec` node by node over native tensors: the one graph walk that every
backend's model module delegates to (it never touches a framework itself)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..layers import _add_loss
from ..layers._input import CallArgs
from ._base import GraphSpec
from ._penalties import activity


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
        # nodes whose call took several tensors or keywords: their arguments' structure
        self.calls = {k: n.call_args for k, n in enumerate(graph.nodes) if n.call_args}
        self.masking = any(getattr(layer, "produces_mask", False) for layer in graph.layers)
        self.output_masks: list[Any] | None = None
        # (layer, native scalar, ops) added in the last top-level run; the layers it reaches
        self.added_losses: list[Any] = []
        self.reached = _add_loss.flatten_layers(graph.layers)

    def run(
        self, inputs: Sequence[Any], training: bool, noise: Mapping[int, Any] | None
    ) -> list[Any]:
        """The outputs of the graph on ``inputs``. A top-level run collects the losses its
        layers add (``add_loss``, activity regularization) in :attr:`added_losses` and
        publishes them as the layers' last-call losses; a nested model's run joins it."""
        token = _add_loss.begin()
        try:
            return self._run(inputs, training, noise)
        finally:
            if token is not None:
                self.added_losses = _add_loss.end(token)
                _add_loss.publish(self.reached, self.added_losses)

    def _run(
        self, inputs: Sequence[Any], training: bool, noise: Mapping[int, Any] | None
    ) -> list[Any]:
        vals: list[Any] = [None] * self.n_tensors
        for i, t in zip(self.graph.inputs, inputs, strict=True):
            vals[i] = t
        if self.masking:
            return self._run_masked(vals, training, noise)
        for k, (mod, ins, outs, list_input) in enumerate(self.plan):
            arg = self._arg(k, vals, ins, list_input)
            out = mod.forward(arg, training, noise.get(k) if noise else None)
            if getattr(mod.spec, "activity_regularizer", None) is not None:
                activity(mod, out)
            if len(outs) == 1:
                vals[outs[0]] = out
            else:
                for i, o in zip(outs, out, strict=True):
                    vals[i] = o
        return [vals[i] for i in self.graph.outputs]

    def _arg(self, k: int, vals: list[Any], ins: Sequence[int], list_input: bool) -> Any:
        """Node ``k``'s input: one tensor, a list, or the rebuilt arguments of a call with
        several (:class:`~duallearn.layers._input.CallArgs`)."""
        template = self.calls.get(k)
        if template is not None:
            return CallArgs.rebuild(template, [vals[i] for i in ins])
        return [vals[i] for i in ins] if list_input else vals[ins[0]]

    def _run_masked(self, vals: list[Any], training: bool, noise: Any) -> list[Any]:
        masks: list[Any] = [None] * self.n_tensors
        for k, (mod, ins, outs, list_input) in enumerate(self.plan):
            if k in self.calls:  # its masks are explicit arguments (layer(x, mask=m))
                nz = noise.get(k) if noise else None
                out = mod.forward(self._arg(k, vals, ins, list_input), training, nz)
                if getattr(mod.spec, "activity_regularizer", None) is not None:
                    activity(mod, out)
                for i, o in zip(outs, out if len(outs) > 1 else [out], strict=True):
                    vals[i], masks[i] = o, None
                continue
            arg = [vals[i] for i in ins] if list_input else vals[ins[0]]
            m_in = [masks[i] for i in ins] if list_input else masks[ins[0]]
            has = any(m is not None for m in m_in) if list_input else m_in is not None
            kw = {"mask": m_in} if has and mod.takes_mask else {}
            out = mod.forward(arg, training, noise.get(k) if noise else None, **kw)
            if getattr(mod.spec, "activity_regularizer", None) is not None:
                activity(mod, out)
            m_out = mod.compute_mask(arg, m_in if has else None)
            if len(outs) == 1:
                vals[outs[0]], masks[outs[0]] = out, m_out
            else:
                m_outs = m_out if isinstance(m_out, (list, tuple)) else [m_out] * len(outs)
                for i, o, m in zip(outs, out, m_outs, strict=True):
                    vals[i], masks[i] = o, m
        self.output_masks = [masks[i] for i in self.graph.outputs]
        return [vals[i] for i in self.graph.outputs]
