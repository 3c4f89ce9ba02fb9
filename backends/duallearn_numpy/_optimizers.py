"""Optimizer state and updates from the optimizer's numpy reference (``reference_apply``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from duallearn.errors import SerializationError
from duallearn.ops import numpy_mode

Array = np.ndarray


class NumpyOptimizer:
    """Slots of one optimizer spec over the trained variables' holders, keyed by variable
    path; ``apply(grads, lr)`` is one Keras ``apply`` call (``Optimizer.reference_apply``:
    accumulation, clipping, weight decay, the update rule and EMA; then the variables'
    constraints). Built by ``duallearn.plugin.optimizer_for``."""

    def __init__(
        self,
        spec: Any,
        params: Sequence[Any],
        to_canonical: Sequence[Callable[[Array], Array]] | None = None,
        to_native: Sequence[Callable[[Array], Array]] | None = None,
        names: Sequence[str] | None = None,
        keys: Sequence[str] | None = None,
        variables: Sequence[Any] | None = None,
    ) -> None:
        self.spec = spec
        self.params = list(params)  # Holders (the numpy layout is the canonical one)
        self.keys = list(keys) if keys is not None else [str(i) for i in range(len(params))]
        # the front-end variables of ``params`` (their ``constraint``); not ``variables``,
        # which tf.Module reserves. None: a test driving the optimizer directly.
        self.dl_variables = list(variables) if variables is not None else None
        self.names = list(names) if names is not None else [""] * len(self.params)
        self.slots: list[dict[str, Array]] = [
            {
                s: np.asarray(spec.init_slot(s, p.value.copy()), np.float64)
                for s in spec.slot_names()
            }
            for p in self.params
        ]
        self.iterations = 0

    def apply(self, grads: Sequence[Array], lr: float) -> None:
        if not self.params:
            self.iterations += 1
            return
        weights = [p.value for p in self.params]
        new, self.slots = self.spec.reference_apply(
            weights,
            [np.asarray(g, np.float64) for g in grads],
            self.slots,
            self.iterations,
            float(lr),
            self.names,
        )
        for p, w in zip(self.params, new, strict=True):
            p.value[...] = w
        self._constrain()
        self.iterations += 1

    def _constrain(self) -> None:
        """Keras 3, after every apply: ``v ← v.constraint(v)`` (numpy ops; the holders keep
        the canonical layout)."""
        for v, p in zip(self.dl_variables or [], self.params, strict=False):
            if v.constraint is not None:
                with numpy_mode():
                    p.value[...] = np.asarray(v.constraint(p.value), np.float64)

    def finalize(self) -> None:
        """Keras's ``finalize_variable_values``: with EMA, weights take their average."""
        if getattr(self.spec, "use_ema", False) and self.iterations:
            for p, s in zip(self.params, self.slots, strict=True):
                p.value[...] = s["average"]

    def state(self) -> dict[str, Array]:
        out: dict[str, Array] = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name in self.spec.slot_names():
            for k, s in zip(self.keys, self.slots, strict=True):
                out[f"{name}/{k}"] = np.array(s[name])
        return out

    def load(self, state: dict[str, Array]) -> None:
        for name in self.spec.slot_names():
            for k, s in zip(self.keys, self.slots, strict=True):
                key = f"{name}/{k}"
                if key not in state:
                    raise SerializationError(
                        f"Optimizer state lacks {key!r} (the {type(self.spec).__name__} "
                        f"configuration needs slots {list(self.spec.slot_names())}). Received "
                        f"keys: {sorted(state)[:8]}..."
                    )
                value = np.asarray(state[key], np.float64)
                if value.shape != s[name].shape:
                    raise SerializationError(
                        f"Optimizer slot {key!r} has shape {value.shape}, expected {s[name].shape}."
                    )
                s[name] = value.copy()
        self.iterations = int(np.asarray(state.get("iterations", 0)))
