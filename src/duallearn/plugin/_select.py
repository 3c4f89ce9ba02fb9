"""Which backend is active.

Precedence, first that applies wins:

1. the innermost ``with dl.use_backend(name):`` block (context-local: threads and asyncio
   tasks each see their own);
2. ``dl.set_backend(name)`` (process-wide);
3. the ``DUALLEARN_BACKEND`` environment variable, read (and checked against the registered
   plugins) at first use, and again whenever its value changes;
4. the default: ``torch`` if installed, else ``tensorflow``.

A model keeps the backend it was built with, whatever is selected later.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import BackendError
from ._registry import available_backends, get_backend, registered_backends, unknown_backend

if TYPE_CHECKING:
    from ._base import Backend

DEFAULT_ORDER = ("torch", "tensorflow")
_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "duallearn_backend", default=None
)
_process: str | None = None
_env_checked: str | None = None  # the DUALLEARN_BACKEND value already found registered


def _validate(name: object) -> str:
    if not isinstance(name, str):
        raise BackendError(
            f"A backend name must be a string. Received: {name!r} "
            f"({type(name).__name__}). Installed: {', '.join(available_backends()) or 'none'}."
        )
    if name not in registered_backends():
        raise unknown_backend(name)
    return name


def _from_env(value: str) -> str:
    """``DUALLEARN_BACKEND``'s value, once checked (listing plugins reads package metadata:
    done once per distinct value, not at every ``dl.backend()``)."""
    global _env_checked
    if value != _env_checked:
        if value not in registered_backends():
            raise unknown_backend(value, f"DUALLEARN_BACKEND={value!r}")
        _env_checked = value
    return value


def set_backend(name: str) -> None:
    """Select the process-wide backend (overridden inside ``use_backend`` blocks)."""
    global _process
    _process = _validate(name)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Select ``name`` inside a ``with`` block only; yields the backend object."""
    token = _context.set(_validate(name))
    try:
        yield get_backend(name)
    finally:
        _context.reset(token)


def backend_name() -> str:
    """The name of the active backend, and nothing imported to find it."""
    name, _ = selection()
    return name


def selection() -> tuple[str, str]:
    """``(name, reason)``: the active backend and which rule picked it."""
    ctx = _context.get()
    if ctx is not None:
        return ctx, "use_backend() block"
    if _process is not None:
        return _process, "dl.set_backend()"
    env = os.environ.get("DUALLEARN_BACKEND")
    if env:
        return _from_env(env), "DUALLEARN_BACKEND environment variable"
    installed = available_backends()
    for name in DEFAULT_ORDER:
        if name in installed:
            return name, "default (first installed of torch, tensorflow)"
    if installed:
        return installed[0], "default (only installed backend)"
    raise BackendError(
        "No backend is installed. Fix: pip install 'duallearn[torch]' or "
        "pip install 'duallearn[tensorflow]'."
    )


def current_backend() -> Backend:
    """The active backend object (imports its framework on first use)."""
    return get_backend(backend_name())
