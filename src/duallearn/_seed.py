"""The front-end owns all randomness: initial weights, shuffling and dropout masks.

Everything is drawn with numpy from one seeded stream, so the same seed gives bit-identical
weights and batch orders on every backend. Backends never draw from this stream on their own.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

_seed: int | None = None
_rng: np.random.Generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed every random draw duallearn makes (weights, shuffling, dropout masks).

    Example:
        >>> import duallearn as dl
        >>> dl.set_random_seed(0)
    """
    global _seed, _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            f"set_random_seed expects a non-negative integer. Received: seed={seed!r}. "
            "Fix: pass an int such as 0 or 1234."
        )
    _seed = int(seed)
    _rng = np.random.default_rng(_seed)


def global_rng() -> np.random.Generator:
    """The front-end's seeded generator (initializers without their own seed draw from it)."""
    return _rng


def draw_seed() -> int:
    """A fresh 63-bit seed drawn from the global stream (for shuffling and mask streams)."""
    return int(_rng.integers(0, 2**63 - 1))


def get_random_seed() -> int | None:
    """The last seed given to :func:`set_random_seed`, or None."""
    return _seed


def philox(key: int, *counter: int) -> np.random.Generator:
    """A counter-based generator keyed by ``key`` and positioned by ``counter``.

    Used for deterministic dropout masks: the mask of layer ``l`` at step ``s`` is drawn from
    ``philox(stream, s, l)``, so it depends only on (stream, step, layer), not on history.
    """
    if len(counter) > 3:
        raise ValueError("philox takes at most 3 counter words")
    mask = 2**64 - 1
    key_words = np.array([int(key) & mask, 0], dtype=np.uint64)
    ctr = [int(c) & mask for c in counter] + [0] * (4 - len(counter))
    bitgen = np.random.Philox(counter=np.array(ctr, dtype=np.uint64), key=key_words)
    return np.random.Generator(bitgen)


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def step_seed(stream: int, step: int) -> int:
    """The 63-bit seed of the native (fast-mode) RNG for training step ``step``:
    ``splitmix64(splitmix64(stream) ^ step) >> 1``.

    Backends reseed their generator with it before each step, so the native dropout masks of a
    step depend only on (stream, step): a resumed run draws the same masks as an uninterrupted
    one without saving any generator state.
    """
    return _splitmix64(_splitmix64(int(stream)) ^ int(step)) >> 1
