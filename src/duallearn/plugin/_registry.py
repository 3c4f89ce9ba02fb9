"""Backend plugins, found through the ``duallearn.backends`` entry-point group.

Listing plugins reads package metadata only; a plugin (and its framework) is imported the first
time it is used.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import TYPE_CHECKING

from ..errors import BackendError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from ._base import Backend

GROUP = "duallearn.backends"

_loaded: dict[str, Backend] = {}
_lock = threading.RLock()


def _entry_points() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points  # ~10 ms: only when backends are listed

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def registered_backends() -> list[str]:
    """Names of every registered backend plugin, installed framework or not."""
    return sorted(_entry_points())


# Reference backends (the numpy oracle): registered and selectable by name, but slow, so
# never the default and left out of :func:`available_backends` (the lists that test suites
# and harnesses parametrize over) unless asked for. Known by name: listing imports nothing.
REFERENCE_BACKENDS = frozenset({"numpy"})


def available_backends(include_reference: bool = False) -> list[str]:
    """Names of the registered backends whose framework is installed. Imports no framework.

    Reference backends (``numpy``) are listed only with ``include_reference=True``."""
    names = []
    for name, ep in sorted(_entry_points().items()):
        if name in REFERENCE_BACKENDS and not include_reference:
            continue
        module = ep.value.split(":")[0].split(".")[0]
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue
        framework = _FRAMEWORK_MODULES.get(name, None)
        if framework is None or importlib.util.find_spec(framework) is not None:
            names.append(name)
    return names


# The framework module each built-in plugin needs; third-party plugins report their own
# missing framework when loaded.
_FRAMEWORK_MODULES = {"torch": "torch", "tensorflow": "tensorflow"}
_INSTALL_HINTS = {
    "torch": "pip install 'duallearn[torch]'  (or: pip install torch)",
    "tensorflow": "pip install 'duallearn[tensorflow]'  (or: pip install tensorflow-cpu)",
}


def unknown_backend(name: object, where: str = "") -> BackendError:
    """The error for a backend name no plugin registers: what is installed, and the fix.

    ``where`` says where the name came from (e.g. "DUALLEARN_BACKEND='jax'")."""
    installed = available_backends()
    reference = sorted(set(available_backends(include_reference=True)) - set(installed))
    listed = ", ".join(installed) or "none"
    if reference:
        listed += f" (and the slow float64 reference: {', '.join(reference)})"
    source = f" (from {where})" if where else ""
    first = "torch" if "torch" in installed or not installed else installed[0]
    unset = ", unset DUALLEARN_BACKEND for the default" if "DUALLEARN_BACKEND" in where else ""
    return BackendError(
        f"Unknown backend {name!r}{source}. Installed backends: {listed}. Fix: set "
        f"DUALLEARN_BACKEND (or call dl.set_backend / dl.use_backend) to one of them, e.g. "
        f"{first!r}{unset}, or install the plugin that provides {name!r}."
    )


def get_backend(name: str) -> Backend:
    """Return the loaded backend ``name``, importing its plugin on first use."""
    with _lock:
        if name in _loaded:
            return _loaded[name]
        eps = _entry_points()
        if name not in eps:
            raise unknown_backend(name)
        framework = _FRAMEWORK_MODULES.get(name)
        if framework is not None and importlib.util.find_spec(framework) is None:
            raise BackendError(
                f"The {name!r} backend needs the {framework!r} package, which is not installed. "
                f"Fix: {_INSTALL_HINTS[name]}"
            )
        cls = eps[name].load()
        backend = cls()
        _loaded[name] = backend
        return backend
