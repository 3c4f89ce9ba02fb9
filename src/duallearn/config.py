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


# ---- devices ---------------------------------------------------------------------------------
DEVICE_ENV = "DUALLEARN_DEVICE"
_device: str | None = None


def set_device(device: str | None) -> None:
    """Device for models built afterwards: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``
    (``None`` = back to ``DUALLEARN_DEVICE`` / auto). Checked against the hardware when a
    model builds its runtime."""
    global _device
    if device is not None:
        _parse_device(device)
    _device = device


def _parse_device(device: str) -> tuple[str, int | None]:
    text = str(device).strip().lower()
    kind, _, index = text.partition(":")
    if kind == "gpu":
        kind = "cuda"
    ok = kind in ("cpu", "cuda", "auto") and (index == "" or (kind == "cuda" and index.isdigit()))
    if not ok:
        raise ConfigError(
            f"Unknown device {device!r}. Expected 'cpu', 'cuda', 'cuda:N' or 'auto'. "
            "Fix: e.g. dl.config.set_device('cuda:0') or DUALLEARN_DEVICE=cpu."
        )
    return kind, int(index) if index else None


def resolve_device(requested: str | None = None, gpu_count: int = 0) -> str:
    """The device to run on: the first of ``requested``, :func:`set_device`, the
    ``DUALLEARN_DEVICE`` variable, else ``"auto"`` (the first GPU when one is present,
    otherwise the CPU). Returns ``"cpu"`` or ``"cuda:N"``."""
    import os

    choice = requested or _device or os.environ.get(DEVICE_ENV) or "auto"
    kind, index = _parse_device(choice)
    if kind == "auto":
        return "cuda:0" if gpu_count > 0 else "cpu"
    if kind == "cpu":
        return "cpu"
    index = index or 0
    if index >= gpu_count:
        have = f"{gpu_count} GPU(s) (cuda:0..cuda:{gpu_count - 1})" if gpu_count else "no GPU"
        raise ConfigError(
            f"Device {choice!r} was requested but this machine has {have}. Fix: choose "
            "another device, or unset DUALLEARN_DEVICE / dl.config.set_device(None) to use "
            "the default."
        )
    return f"cuda:{index}"


def gpu_count(backend: str) -> int:
    """GPUs visible to ``backend``'s framework (imports it: call only when it runs)."""
    if backend == "torch":
        import torch

        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    return 0


def apply_backend_flags(backend: str) -> None:
    """Framework switches of duallearn's modes (shared/PARITY.md §9-10); called when a
    model's runtime is ready. Deterministic mode: TF32 off for matmul and convolutions,
    deterministic kernels (torch ``use_deterministic_algorithms``, TF op determinism)."""
    import sys

    if not _deterministic:
        return
    if backend == "torch" and "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif backend == "tensorflow" and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        tf.config.experimental.enable_tensor_float_32_execution(False)


def tf32_enabled(backend: str) -> bool:
    """Whether the framework would use TF32 for matmuls now (for tests and diagnostics)."""
    import sys

    if backend == "torch" and "torch" in sys.modules:
        return bool(sys.modules["torch"].backends.cuda.matmul.allow_tf32)
    if backend == "tensorflow" and "tensorflow" in sys.modules:
        return bool(
            sys.modules["tensorflow"].config.experimental.tensor_float_32_execution_enabled()
        )
    return False


# ---- dtype policy (keras.config names) -------------------------------------------------------
def set_dtype_policy(policy: object) -> None:
    """Same as ``dl.mixed_precision.set_global_policy`` (Keras 3's ``keras.config`` name)."""
    from .mixed_precision import set_global_policy

    set_global_policy(policy)  # type: ignore[arg-type]


def dtype_policy() -> object:
    """The global dtype policy (``dl.mixed_precision.global_policy()``)."""
    from .mixed_precision import global_policy

    return global_policy()


# ---- more keras.config names -----------------------------------------------------------------
_traceback_filtering = True


def enable_traceback_filtering() -> None:
    """Keep Keras's flag on. duallearn does not filter tracebacks (its errors carry the
    layer, shape and backend in the message instead), so the flag changes nothing."""
    global _traceback_filtering
    _traceback_filtering = True


def disable_traceback_filtering() -> None:
    """Turn Keras's flag off (duallearn never filters tracebacks: nothing else changes)."""
    global _traceback_filtering
    _traceback_filtering = False


def is_traceback_filtering_enabled() -> bool:
    """The flag kept by :func:`enable_traceback_filtering`/:func:`disable_traceback_filtering`
    (``True`` by default, as Keras); duallearn's tracebacks are never filtered either way."""
    return _traceback_filtering


def backend() -> str:
    """The active backend's name (``dl.backend()``; Keras's ``keras.config.backend()``)."""
    from .plugin import backend_name

    return backend_name()


def set_backend(name: str) -> None:
    """Select the backend (``dl.set_backend``). Unlike Keras's, nothing is reloaded: models
    built before keep the backend they were built on."""
    from .plugin import set_backend as select

    select(name)


def epsilon() -> float:
    """Keras's fuzz factor, 1e-7 (``dl.backend.epsilon()``)."""
    from ._backend_api import backend as api

    return api.epsilon()


def set_epsilon(value: float) -> None:
    """Only 1e-7 is accepted (``dl.backend.set_epsilon``: the losses' clip is fixed)."""
    from ._backend_api import backend as api

    api.set_epsilon(value)


def image_data_format() -> str:
    """``"channels_last"`` (``dl.backend.image_data_format()``)."""
    from ._backend_api import backend as api

    return api.image_data_format()


def set_image_data_format(data_format: str) -> None:
    """Only ``"channels_last"`` is accepted (``dl.backend.set_image_data_format``)."""
    from ._backend_api import backend as api

    api.set_image_data_format(data_format)


def is_nnx_enabled() -> bool:
    """``False``: Flax NNX is a JAX feature and duallearn has no JAX backend."""
    return False
