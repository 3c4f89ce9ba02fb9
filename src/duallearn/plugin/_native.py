"""The native-layer base and registry, written once for every backend.

A backend's native layer class combines :class:`NativeLayer` with its framework's module
class (``class TorchLayer(NativeLayer, nn.Module)``), names the backend's
:class:`NativeRegistry` (its name, dtypes, ``bind`` and layer classes) and supplies the one
framework call left: ``_track`` (attach a weight's storage to the module). Everything else,
the weight bookkeeping, layout conversion by index, masks and the per-node resolution of a
front-end layer to its native class, reads the same in every backend and lives here.

Nothing here runs per step: the backends' ``forward`` methods are the hot path.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from ..errors import BackendError
from ._base import bind_variable

L = TypeVar("L")

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def dtype_table(framework: Any) -> dict[str, Any]:
    """Front-end float dtype name → ``framework``'s dtype object (``torch.float16``, ...)."""
    return {name: getattr(framework, name) for name in FLOAT_DTYPES}


def variable_binder(
    backend: str,
    create: Callable[[np.ndarray, Any], Any],
    to_numpy: Callable[[Any], np.ndarray],
    assign: Callable[[Any, np.ndarray], None],
) -> Callable[..., Any]:
    """The backend's ``bind(variable, to_native=None, to_canonical=None, existing=None)``:
    :func:`bind_variable` on ``backend`` with its framework calls, ``create(native-layout
    value, variable)`` making new storage."""

    def bind(
        variable: Any, to_native: Any = None, to_canonical: Any = None, existing: Any = None
    ) -> Any:
        conv = {} if to_native is None else {"to_native": to_native, "to_canonical": to_canonical}
        return bind_variable(
            variable,
            backend,
            lambda v: create(v, variable),
            to_numpy,
            assign,
            existing=existing,
            **conv,
        )

    return bind


# The layer families every backend implements, one module each (``_conv.py``, ...):
# importing them registers their native layers.
FAMILIES = (
    "_activations",
    "_attention",
    "_conv",
    "_core",
    "_custom",
    "_embedding",
    "_merging",
    "_normalization",
    "_ops",
    "_pooling",
    "_recurrent",
    "_regularization",
    "_reshaping",
    "_time_distributed",
)


def load_families(package: str, names: Iterable[str] = FAMILIES) -> None:
    """Import the family modules of backend ``package``, which registers their layers."""
    for name in names:
        importlib.import_module(f"{package}.{name}")


class NativeRegistry(Generic[L]):
    """A backend's native-layer classes by front-end class name, with what its native
    layers need to know of it (name, dtypes, ``bind``).

    ``implements("Conv2D")`` registers a class; ``native_layer(layer)`` builds the native
    layer for a front-end layer: the first registered class in its MRO, or the ``"__ops__"``
    fallback (a layer whose ``call()`` is user code)."""

    def __init__(self, backend: str, dtypes: Mapping[str, Any], bind: Callable[..., Any]) -> None:
        self.backend = backend
        self.dtypes = dtypes  # front-end dtype name → framework dtype
        self.bind = bind  # the backend's ``bind`` (:func:`variable_binder`)
        self.impls: dict[str, type[L]] = {}

    def implements(self, *names: str) -> Callable[[type[L]], type[L]]:
        """Register a native layer class as the implementation of front-end classes."""

        def wrap(cls: type[L]) -> type[L]:
            for n in names:
                self.impls[n] = cls
            return cls

        return wrap

    def native_layer(self, layer: Any) -> L:
        """The native layer for a front-end layer: the first registered class in its MRO."""
        call = getattr(type(layer), "call", None)
        user_call = call is not None and not call.__module__.startswith("duallearn.")
        for cls in type(layer).__mro__:
            if user_call and not hasattr(layer, "_set_graph"):
                break  # a user subclass overriding call(): run its code (models keep their graph)
            impl = self.impls.get(cls.__name__)
            if impl is not None and cls.__module__.startswith("duallearn."):
                return impl(layer)  # type: ignore[call-arg]
        fallback = self.impls.get("__ops__")
        if fallback is not None:
            return fallback(layer)  # type: ignore[call-arg]
        raise BackendError(
            f"The {self.backend} backend has no implementation of layer "
            f"{type(layer).__name__} ({layer.name!r}). Fix: use a built-in layer, or write "
            "call() with dl.ops."
        )


class NativeLayer:
    """What every native layer provides, whatever its framework.

    ``spec`` is the front-end layer, ``dtype`` the framework dtype, ``dl_vars`` the native
    storage of the layer's weights in the front-end's canonical order; ``to_native`` /
    ``to_canonical`` convert weight ``index`` between the canonical and the module's layout
    (identity unless the native kernel wants another); ``forward(x, training, noise)`` runs
    the layer in framework ops; ``compute_mask`` gives the output's Keras mask.
    """

    registry: ClassVar[NativeRegistry[Any]]  # the backend's: its name, dtypes, ``bind``

    spec: Any
    dtype: Any
    dl_vars: list[Any]
    takes_mask: bool

    def _track(self, name: str, native: Any) -> None:
        """Attach weight storage ``native`` to this module as attribute ``name``."""
        raise NotImplementedError

    def _init_native(self, layer: Any) -> None:
        """The built-in layers' set-up (after the framework module's ``__init__``): bind
        each of ``layer``'s weights, converted by this class's ``to_native``/``to_canonical``."""
        # Keras passes ``mask=`` only to layers whose call() takes it.
        self.takes_mask = "mask" in inspect.signature(self.forward).parameters
        self.spec = layer
        self.dtype = self.registry.dtypes[layer.dtype]
        self.dl_vars = []
        for i, w in enumerate(layer.weights):
            v = self.registry.bind(
                w,
                lambda a, i=i: self.to_native(i, a),
                lambda a, i=i: self.to_canonical(i, a),
            )
            self._track(w.name.replace(".", "_"), v)
            self.dl_vars.append(v)

    def to_native(self, index: int, value: np.ndarray) -> np.ndarray:
        """Canonical layout → this module's layout for weight ``index``."""
        return value

    def to_canonical(self, index: int, value: np.ndarray) -> np.ndarray:
        """This module's layout → canonical layout for weight ``index``."""
        return value

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The output's Keras mask: passed through by layers that support masking (the
        front-end's ``supports_masking``), dropped by the others."""
        return mask if self.spec.supports_masking else None

    def forward(self, x: Any, training: bool, noise: Any = None) -> Any:
        raise NotImplementedError
