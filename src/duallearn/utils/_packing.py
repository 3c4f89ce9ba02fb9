"""Keras's ``unpack_x_y_sample_weight`` / ``pack_x_y_sample_weight``: the batch structure a
custom ``train_step`` receives (``x``, ``(x, y)`` or ``(x, y, sample_weight)``)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """Keras's ``unpack_x_y_sample_weight``: ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` → ``(x, y, sample_weight)`` (None where absent)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ConfigError(
        "A data batch must be x, (x,), (x, y) or (x, y, sample_weight). "
        f"Received a tuple of {len(data)} items. Fix: group several inputs in a list or dict "
        "inside the first item, e.g. ((x1, x2), y)."
    )


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """Keras's ``pack_x_y_sample_weight``: the inverse of :func:`unpack_x_y_sample_weight`."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
