"""``dl.random``: random tensors drawn identically on every backend.

Every draw is made with numpy from an explicit integer ``seed`` (a ``Philox`` generator keyed
by it) and then converted to the active implementation's tensor, so ``normal((3,), seed=7)``
holds the same numbers on torch, TensorFlow and numpy. The same seed always gives the same
values (also inside a layer's ``call``: vary the seed yourself for fresh noise). ``seed=None``
draws a fresh seed from ``dl.set_random_seed``'s stream.

Differs from ``keras.random``: no ``SeedGenerator`` state and no native RNG, by design
(native RNG streams cannot be matched across frameworks, shared/PARITY.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _seed, config
from . import ops as _ops
from .errors import ConfigError


def _gen(seed: int | None) -> np.random.Generator:
    if seed is None:
        seed = _seed.draw_seed()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int or None. Received: seed={seed!r}.")
    return _seed.philox(int(seed))


def _shape(shape: Sequence[int] | int) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def _out(values: np.ndarray, dtype: str | None) -> Any:
    return _ops.convert_to_tensor(values.astype(dtype or config.floatx()))


def normal(
    shape: Sequence[int] | int,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: str | None = None,
    seed: int | None = None,
) -> Any:
    """Samples of N(mean, stddev²), drawn in float64 and cast once."""
    return _out(mean + stddev * _gen(seed).standard_normal(_shape(shape)), dtype)


def uniform(
    shape: Sequence[int] | int,
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: str | None = None,
    seed: int | None = None,
) -> Any:
    """Samples of U[minval, maxval)."""
    return _out(_gen(seed).uniform(minval, maxval, _shape(shape)), dtype)


def truncated_normal(
    shape: Sequence[int] | int,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: str | None = None,
    seed: int | None = None,
) -> Any:
    """N(mean, stddev²) redrawn outside ±2·stddev (Keras's rule)."""
    rng = _gen(seed)
    out = rng.standard_normal(_shape(shape))
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return _out(mean + stddev * out, dtype)


def randint(
    shape: Sequence[int] | int,
    minval: int,
    maxval: int,
    dtype: str = "int64",
    seed: int | None = None,
) -> Any:
    """Integers uniform in [minval, maxval)."""
    return _ops.convert_to_tensor(_gen(seed).integers(minval, maxval, _shape(shape)).astype(dtype))


def dropout(
    inputs: Any, rate: float, noise_shape: Sequence[int] | None = None, seed: int | None = None
) -> Any:
    """Inverted dropout: ``inputs · mask / (1 − rate)`` with a Bernoulli(1 − rate) mask of
    ``noise_shape`` (default: the input's shape) drawn from ``seed``."""
    if not 0 <= rate < 1:
        raise ConfigError(f"dropout rate must be in [0, 1). Received: rate={rate!r}.")
    shape = tuple(noise_shape) if noise_shape is not None else _ops.shape(inputs)
    keep = (_gen(seed).uniform(size=shape) >= rate).astype(np.float64) / (1.0 - rate)
    return _ops.multiply(inputs, _ops.cast(_ops.convert_to_tensor(keep), _ops.dtype(inputs)))


def shuffle(x: Any, axis: int = 0, seed: int | None = None) -> Any:
    """``x`` with its entries permuted along ``axis``."""
    n = _ops.shape(x)[axis]
    perm = _gen(seed).permutation(n).astype(np.int64)
    return _ops.take(x, _ops.convert_to_tensor(perm), axis=axis)


__all__ = ["dropout", "normal", "randint", "shuffle", "truncated_normal", "uniform"]
