"""``dl.GradientTape``: gradients of a custom training step, written once for both engines.

Inside ``Model.train_step`` (or any code running on a backend's tensors)::

    with dl.GradientTape() as tape:
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
    grads = tape.gradient(loss, self.trainable_weights)
    self.optimizer.apply(grads, self.trainable_weights)

On torch the tape enables autograd and ``gradient`` is ``torch.autograd.grad``; on
TensorFlow it is a ``tf.GradientTape``. Sources may be ``dl.Variable`` objects (their native
storage is differentiated) or native tensors. ``gradient`` returns native tensors in the
variables' native layout, the form ``optimizer.apply`` takes; a source the target does not
depend on gets ``None`` (as ``tf.GradientTape``). The numpy reference backend has no
automatic differentiation: a tape there is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import BackendError
from .ops import _dispatch


class GradientTape:
    """Record the operations of a block to differentiate them (see the module docstring).

    A tape is used once: ``gradient`` may be called once per ``with`` block."""

    def __init__(self) -> None:
        self._impl: Any = None

    def __enter__(self) -> GradientTape:
        ops = _dispatch.current()
        make = getattr(ops, "GradientTape", None)
        if make is None:
            raise BackendError(
                f"dl.GradientTape needs automatic differentiation; the {ops.NAME!r} "
                "implementation has none. Expected: a torch or tensorflow model (or "
                "dl.use_backend('torch'/'tensorflow')). Fix: run the step on one of them."
            )
        self._impl = make()
        self._impl.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._impl.__exit__(*exc)

    def gradient(self, target: Any, sources: Sequence[Any]) -> list[Any]:
        """``d target / d source`` for each source (None where ``target`` does not depend
        on it), as native tensors."""
        if self._impl is None:
            raise BackendError(
                "GradientTape.gradient was called outside its `with` block's recording. "
                "Fix: compute the loss inside `with dl.GradientTape() as tape:`."
            )
        natives = [native_of(s) for s in sources]
        return list(self._impl.gradient(target, natives))


def native_of(source: Any) -> Any:
    """The native tensor of a ``dl.Variable`` (its storage), or ``source`` itself."""
    binding = getattr(source, "binding", None)
    if binding is not None:
        return binding.native
    if hasattr(source, "_owner") and hasattr(source, "path"):  # an unbound Variable
        raise BackendError(
            f"Variable {source.path!r} has no native storage yet: its layer has not run on "
            "a backend. Fix: call the model (or fit/build it) before differentiating it."
        )
    return source
