"""Native layers whose formula the front-end writes once, for every backend.

:class:`FormulaLayer` runs a built-in layer's ``apply(ops, x, *weights, mask=None)`` (the
activation layers: ``layers/_activations.py``) with the backend's ops module, so each call is
the backend's native kernels (``F.leaky_relu``, ``tf.nn.softmax``...) and the formula is not
written again per backend. A backend combines it with its native layer base and names its
ops module: ``class TorchFormulaLayer(FormulaLayer, TorchLayer): ops = _ops``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .. import activations
from ._native import NativeLayer


class FormulaLayer(NativeLayer):
    """``forward`` = the front-end layer's ``apply`` over this backend's ops, with the
    layer's weights (canonical layout = native layout) in ``dl_vars`` order."""

    ops: ClassVar[Any]  # the backend's dl.ops implementation

    def forward(self, x: Any, training: bool, noise: Any = None, mask: Any = None) -> Any:
        return self.spec.apply(self.ops, x, *self.dl_vars, mask=mask)


def activation_getter(
    kernels: Mapping[str, Callable[[Any], Any]], ops: Any
) -> Callable[[str], Callable[[Any], Any]]:
    """A backend's ``get(name)`` for ``activation=`` names: its hand-written kernel from
    ``kernels`` when it has one, else the formula of ``duallearn.activations.NATIVE`` over
    its ops module ``ops``."""

    def get(name: str) -> Callable[[Any], Any]:
        fn = kernels.get(name)
        return fn if fn is not None else functools.partial(activations.native(name), ops)

    return get
