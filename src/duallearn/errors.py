"""The error hierarchy: every error duallearn raises derives from :class:`DuallearnError`.

Subclasses also inherit the builtin they refine, so ``except ValueError`` keeps working.
Messages say what was expected, what was received, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable


class DuallearnError(Exception):
    """Root of all duallearn errors."""


class ConfigError(DuallearnError, ValueError):
    """An argument or configuration value is invalid."""


class DataError(ConfigError):
    """The data given to ``fit`` / ``evaluate`` / ``predict`` (or a data source's batches) is
    not what the model can take: strings, ragged lists, a wrong structure or length."""


class UnknownNameError(DuallearnError, ValueError):
    """A string name (optimizer, loss, activation, initializer, class) is not known."""


class ShapeError(DuallearnError, ValueError):
    """An array has a shape that a layer, loss or model cannot take."""


class IndexRangeError(ShapeError, IndexError):
    """An integer index in the data (an ``Embedding`` id) is outside the range a layer can
    look up: a ``ShapeError`` (as sparse labels outside ``[0, C)``) and an ``IndexError`` (as
    torch raises it)."""


class BackendError(DuallearnError, RuntimeError):
    """A backend is unknown, not installed, or used where it cannot be."""


class TrainingError(DuallearnError, RuntimeError):
    """Training cannot go on (for example the loss became NaN or infinite)."""


class SerializationError(DuallearnError, ValueError):
    """A model file or config cannot be written or read safely."""


class NotBuiltError(DuallearnError, RuntimeError):
    """A model or layer was used before its input shape was known."""


def unknown_name(kind: str, received: object, valid: Iterable[str]) -> UnknownNameError:
    """Build the standard 'unknown name' error listing every valid choice."""
    choices = ", ".join(sorted(valid))
    return UnknownNameError(
        f"Unknown {kind}: {received!r}. Expected one of: {choices}. "
        f"Fix: pass one of these names, or an instance of the {kind} class."
    )


def check(condition: bool, message: str, error: type[DuallearnError] = ConfigError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds."""
    if not condition:
        raise error(message)
