"""Global settings: default float type and deterministic mode (as ``keras.config``)."""

from __future__ import annotations

from .errors import ConfigError

FLOAT_TYPES = ("float16", "bfloat16", "float32", "float64")
_floatx = "float32"
_deterministic = False


def floatx() -> str:
    """Default dtype of weights and computations (``"float32"`` unless changed)."""
    return _floatx


def set_floatx(dtype: str) -> None:
    """Set the default float dtype used by layers created afterwards."""
    global _floatx
    if dtype not in FLOAT_TYPES:
        raise ConfigError(
            f"Unknown float type. Expected one of {FLOAT_TYPES}. Received: {dtype!r}. "
            "Fix: dl.config.set_floatx('float32')."
        )
    _floatx = dtype


def is_deterministic() -> bool:
    """Whether dropout masks come from the front-end's counter-based generator."""
    return _deterministic


def set_deterministic(enabled: bool = True) -> None:
    """Deterministic mode: dropout/noise masks are drawn by the front-end (numpy, Philox keyed
    by seed, step and layer) and fed to the backend, so every backend applies identical masks.
    Slower than the native RNGs used otherwise; meant for parity checks and exact resume."""
    global _deterministic
    _deterministic = bool(enabled)
