"""What every native runtime does the same way, written once (backends subclass it).

:class:`NativeRuntime` holds the parts of a runtime that read the same on every engine: the
trainable set chosen at compile (by variable), the optimizer state keyed by variable path,
loss assembly (per-output losses, loss weights, Keras masks folded into sample weights),
the metric weights, and the optimizer-state entry points. A backend provides only the
framework calls, as small hooks:

* ``backend_name``; ``optimizer_class`` (its ``XOptimizer(spec, params, to_canonical,
  to_native, names=, keys=)`` with ``state()`` / ``load()`` / ``finalize()``);
* ``loss_fn_class`` (its ``LossFn(loss)``, callable ``(y, p, sample_weight) -> scalar``);
* ``metric_delta`` (``staticmethod``: a metric's additive state change on one batch) and
  ``_detach(t)`` (outputs as metrics read them; default: unchanged);
* ``_mask_weight(sw, mask, dtype)``: Keras's ``apply_mask`` in native ops, for the metric
  weights (the losses fold an output's mask in themselves: ``LossFn(y, p, sw, mask)``);
* ``_zero_loss(p)``: a zero scalar of ``p``'s dtype;
* ``_to_numpy(t)``: a native tensor (gradient) as numpy.

:class:`WalkedNet` gives a backend's whole-graph module the mask bookkeeping of the shared
graph walk (:class:`~duallearn.plugin.GraphWalk`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import SerializationError, ShapeError
from ..ops import native_call
from ._base import Runtime, TrainSpec, optimizer_for
from ._penalties import backend_ops, constrained, weight_penalties


class WalkedNet:
    """Mixin for a backend's graph module that runs a ``GraphWalk`` in ``self._walk``."""

    _walk: Any

    @property
    def _masking(self) -> bool:
        return bool(self._walk.masking)

    @property
    def output_masks(self) -> list[Any] | None:
        """Keras masks of the outputs from the last run (masked graphs only)."""
        return self._walk.output_masks  # type: ignore[no-any-return]


class NativeRuntime(Runtime):
    """Base of the torch and TensorFlow runtimes (see the module docstring)."""

    backend_name: str = ""
    optimizer_class: Any = None
    loss_fn_class: Any = None
    metric_delta: Any = None  # staticmethod(delta(metric, y, p, sample_weight))
    net: Any
    _opt: Any = None

    # ---- the trainable set -----------------------------------------------------------------
    def _use_trainable(self, variables: Sequence[Any]) -> None:
        """The variables that steps differentiate and update (the model's trainable weights
        when it was compiled: Keras's rule), and their native storage ``self.params``."""
        self._trainable_vars = list(variables)
        self.params = [v.native_for(self.backend_name) for v in self._trainable_vars]

    def _compile_common(self, spec: TrainSpec) -> None:
        """Losses, loss weights, metrics, the trainable set and the optimizer state of
        ``compile``; the backend then lays out its accumulators and compiled steps."""
        self._losses = [None if l is None else self.loss_fn_class(l) for l in spec.losses]
        self._loss_weights = spec.loss_weights
        self._metric_specs = [(o, m) for o, ms in enumerate(spec.metrics) for m in ms]
        n_out = len(spec.losses)
        self._n_loss_slots = 1 + (n_out if n_out > 1 else 0)
        if spec.trainable is not None:
            self._use_trainable(spec.trainable)
        current = self._opt
        shared = getattr(spec.optimizer, "_dl_native", None)  # optimizer.apply's state
        if current is None and isinstance(shared, self.optimizer_class):
            current = shared
        self._opt = optimizer_for(
            current, spec.optimizer, self._trainable_vars, self.params, self.optimizer_class
        )
        spec.optimizer._dl_native = self._opt  # one set of slots for fit and optimizer.apply

    def _canonical(self, variables: Sequence[Any], grads: Sequence[Any]) -> list[np.ndarray]:
        """Native gradients of ``variables`` in the canonical layout (zeros where None)."""
        return [
            np.zeros(v.shape) if g is None else np.array(v.binding.to_canonical(self._to_numpy(g)))
            for v, g in zip(variables, grads, strict=True)
        ]

    # ---- loss assembly ---------------------------------------------------------------------
    def _output_mask(self, o: int) -> Any:
        """The Keras mask of output ``o`` from the forward just run (None if unmasked)."""
        masks = self.net.output_masks if self.net._masking else None
        return None if masks is None else masks[o]

    def _metric_weight(self, sw: Any, o: int, dtype: Any) -> Any:
        mask = self._output_mask(o)
        return sw if mask is None else self._mask_weight(sw, mask, dtype)

    def _loss(self, ys: list[Any], outs: list[Any], sws: list[Any]) -> tuple[Any, list[Any]]:
        """``Σ weight_o · loss_o(y_o, p_o, sw_o) + Σ added losses + Σ weight penalties`` (the
        total, Keras 3's ``compute_loss``) and the per-output losses; an output without a
        loss gives a zero slot (the log layout stays fixed)."""
        parts = []
        total: Any = None
        for fn, w, y, p, sw in zip(self._losses, self._loss_weights, ys, outs, sws, strict=True):
            if fn is None:
                parts.append(self._zero_loss(p))
                continue
            # Keras: masked entries weigh 0, the mean is over the valid ones. The loss folds
            # the output's mask in, together with its own (ignore_class): one mask, one
            # total/valid rescale (divide_no_nan), as Keras's Loss.__call__
            l = fn(y, p, sw, self._output_mask(len(parts)))
            parts.append(l)
            term = l if w == 1.0 else w * l
            total = term if total is None else total + term
        return self._with_penalties(total), parts

    def _state_tensors(self, optimizer: bool) -> list[Any]:
        """Every native variable of the graph once and, with ``optimizer``, the optimizer's
        slots: what every process of a data-parallel run takes from process 0."""
        seen: dict[int, Any] = {}
        for w in self.graph.weights:
            t = w.native_for(self.backend_name)
            if t is not None:
                seen.setdefault(id(t), t)
        if optimizer and self._opt is not None:
            for ts in self._opt.slots.values():
                for t in ts:
                    seen.setdefault(id(t), t)
        return list(seen.values())

    def _share(
        self, loss: Any, parts: list[Any], share: Any, copies: Any = 1
    ) -> tuple[Any, Any, list[Any]]:
        """One replica's part of a data-parallel step (duallearn.distribution). The replica
        holds ``share = rows / B`` of the global batch ``B``, every row being held by
        ``copies`` replicas (a batch with fewer rows than replicas is given whole to each).

        Returns ``(objective, logged, logged_parts)``: the objective to differentiate,
        ``(share·loss + Σ_sum w_o·(1 − share)·loss_o) / copies`` (a ``reduction="sum"``
        output's loss counted whole), whose sum over the replicas is the loss of the whole
        global batch; and the values a replica holding the first copy of its rows adds to
        the logs (weighted by its rows: ``Σ rows·logged = B · global loss``)."""
        summed = [fn is not None and fn.reduction == "sum" for fn in self._losses]
        objective = loss * share
        for w, p, is_sum in zip(self._loss_weights, parts, summed, strict=True):
            if is_sum:  # the global "sum" loss is the plain sum over replicas
                objective = objective + (w * (1.0 - share)) * p
        logged, logged_parts = loss, parts
        if any(summed):
            logged = objective / share
            logged_parts = [p / share if s else p for p, s in zip(parts, summed, strict=True)]
        if not (isinstance(copies, int) and copies == 1):
            objective = objective / copies
        return objective, logged, logged_parts

    def _with_penalties(self, total: Any) -> Any:
        """``total`` plus the losses the forward just run added (``add_loss``, activity
        regularization) and ``regularizer(w)`` of each trained variable that has one, each
        summed to a scalar and cast to the loss dtype (Keras 3's ``self.losses`` in
        ``compute_loss``), in native ops so that gradients flow."""
        walk = getattr(self.net, "_walk", None)
        added = [v for _, v, _ in walk.added_losses] if walk is not None else []
        ops = backend_ops(self.backend_name)
        added += weight_penalties(self, self._trainable_vars, self.params, ops)
        if not added:
            return total
        dtype = config.floatx() if total is None else ops.dtype(total)
        with native_call(ops):
            for v in added:
                term = ops.cast(ops.sum(v), dtype)
                total = term if total is None else total + term
        return total

    def _metric_deltas(self, ys: list[Any], outs: list[Any], sws: list[Any]) -> list[Any]:
        """Each compiled metric's additive state change on this batch (``metric_delta``:
        the backend's native delta function), masks and sample weights applied as Keras."""
        return [
            self.metric_delta(
                m,
                ys[o],
                self._detach(outs[o]),
                self._metric_weight(
                    sws[o] if getattr(m, "weighted", False) else None, o, outs[o].dtype
                ),
            )
            for o, m in self._metric_specs
        ]

    # ---- custom steps (models/_steps.py) ---------------------------------------------------
    def native_loss(
        self, targets: Sequence[Any], outputs: Sequence[Any], sample_weights: Sequence[Any]
    ) -> Any:
        if not any(fn is not None for fn in getattr(self, "_losses", ())):
            return self._with_penalties(None)  # no compiled loss: the added losses alone
        return self._loss(list(targets), list(outputs), list(sample_weights))[0]

    def metric_weight(self, sample_weight: Any, output: int, prediction: Any) -> Any:
        return self._metric_weight(sample_weight, output, prediction.dtype)

    # ---- optimizer state -------------------------------------------------------------------
    def optimizer_state(self) -> dict[str, np.ndarray]:
        return {} if self._opt is None else self._opt.state()  # type: ignore[no-any-return]

    def finalize_optimizer(self) -> None:
        """End of fit: Keras's ``finalize_variable_values`` (EMA weights, when enabled)."""
        if self._opt is not None:
            self._opt.finalize()

    def load_optimizer_state(self, state: Mapping[str, np.ndarray]) -> None:
        if self._opt is None:
            raise ShapeError("Compile the model before loading optimizer state.")
        self._opt.load(dict(state))

    # ---- the non-finite guard (Runtime.nonfinite_step): the optimizer keeps the flag, so that
    # fit's compiled step and optimizer.apply in a custom step share it -----------------------
    def nonfinite_step(self) -> tuple[int, bool] | None:
        return None if self._opt is None else self._opt.nonfinite_step()  # type: ignore[no-any-return]

    def clear_nonfinite(self) -> None:
        if self._opt is not None:
            self._opt.clear_nonfinite()

    # ---- hooks -----------------------------------------------------------------------------
    def _mask_weight(self, sw: Any, mask: Any, dtype: Any) -> Any:
        raise NotImplementedError

    def _zero_loss(self, p: Any) -> Any:
        raise NotImplementedError

    def _detach(self, t: Any) -> Any:
        return t

    def _to_numpy(self, t: Any) -> np.ndarray:
        raise NotImplementedError


class SlotState:
    """Mixin for a backend optimizer: its slots as canonical numpy keyed
    ``"<slot>/<variable path>"`` plus ``"iterations"`` (``state``), and back (``load``).

    The optimizer has ``spec``, ``keys`` (variable paths), ``slots`` (slot name -> native
    tensors in ``keys`` order), ``to_canonical`` / ``to_native`` per variable, ``params``,
    ``dl_variables`` and ``ops`` (for :meth:`_constrained`), and implements the hooks
    ``_slot_numpy(t)``, ``_slot_assign(t, array)``, ``_get_iterations()`` and
    ``_set_iterations(n)``."""

    spec: Any
    keys: list[str]
    slots: dict[str, list[Any]]
    to_canonical: list[Any]
    to_native: list[Any]
    params: list[Any]
    dl_variables: list[Any] | None = None  # the front-end variables of ``params`` (or None)
    ops: Any = None  # the backend's dl.ops implementation (constraints run in it)

    def _constrained(self) -> list[tuple[int, Any]]:
        """``(i, value)``: for each trained variable with a ``constraint``, the constrained
        value of ``params[i]`` in its native layout, computed natively on the canonical
        layout. Keras 3 assigns it after every ``apply`` (``v.assign(v.constraint(v))``);
        the backend optimizer assigns it at the end of its ``apply``."""
        return constrained(self, self.dl_variables, self.params, self.ops)

    def state(self) -> dict[str, np.ndarray]:
        out = {"iterations": np.array(self._get_iterations(), dtype=np.int64)}
        for name, ts in self.slots.items():
            for k, t, tc in zip(self.keys, ts, self.to_canonical, strict=True):
                out[f"{name}/{k}"] = np.array(tc(self._slot_numpy(t)))
        return out

    def load(self, state: Mapping[str, np.ndarray]) -> None:
        for name, ts in self.slots.items():
            for k, t, tn in zip(self.keys, ts, self.to_native, strict=True):
                key = f"{name}/{k}"
                if key not in state:
                    raise SerializationError(
                        f"Optimizer state lacks {key!r} (the {type(self.spec).__name__} "
                        f"configuration needs slots {list(self.slots)}). Received keys: "
                        f"{sorted(state)[:8]}..."
                    )
                value = np.asarray(tn(np.asarray(state[key])), order="C")
                if value.shape != tuple(t.shape):
                    raise SerializationError(
                        f"Optimizer slot {key!r} has shape {value.shape}, "
                        f"expected {tuple(t.shape)}."
                    )
                self._slot_assign(t, value)
        self._set_iterations(int(np.asarray(state.get("iterations", 0))))

    # ---- the non-finite guard ---------------------------------------------------------------
    # ``apply(grads, lr, loss=None, check=False)``: with ``check`` (fit's steps), the update
    # runs only when ``loss`` and every gradient are finite and no flagged step came before;
    # otherwise the optimizer changes nothing (slots, ``iterations``, weights) and the first
    # such step is recorded in a flag: ``-1`` (clear) or ``2·iteration + loss_finite``, kept
    # where the backend checks it (a device variable, or the host for host-side checks).
    def nonfinite_step(self) -> tuple[int, bool] | None:
        """``(iteration, loss_finite)`` of the first guarded step whose loss or gradients were
        not finite since :meth:`clear_nonfinite`, or None: one host read of the flag. The
        optimizer's ``iterations`` is then the one before that step (a backend that masked
        the update on the device but counted the step on the host is set back here)."""
        code = self._nonfinite_code()
        if code < 0:
            return None
        iteration = code // 2
        if self._get_iterations() != iteration:
            self._set_iterations(iteration)
        return iteration, bool(code % 2)

    def clear_nonfinite(self) -> None:
        """Clear the flag: guarded steps update again."""
        self._set_nonfinite_code(-1)

    def _nonfinite_code(self) -> int:
        return -1  # an optimizer without the guard never records a step

    def _set_nonfinite_code(self, code: int) -> None:
        return None

    def _slot_numpy(self, t: Any) -> np.ndarray:
        raise NotImplementedError

    def _slot_assign(self, t: Any, value: np.ndarray) -> None:
        raise NotImplementedError

    def _get_iterations(self) -> int:
        raise NotImplementedError

    def _set_iterations(self, n: int) -> None:
        raise NotImplementedError
