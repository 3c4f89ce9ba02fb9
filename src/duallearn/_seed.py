"""The front-end owns all randomness: initial weights, shuffling and dropout masks.

Everything is drawn with numpy from one seeded stream, so the same seed gives bit-identical
weights and batch orders on every backend. Backends never draw from this stream on their own.

The stream belongs to whoever asked for it (docs/training.md, "Randomness and threads"):

* ``set_random_seed(s)`` starts a new stream seeded with ``s`` and gives it to the *calling
  context* (a ``contextvars`` value, as ``dl.use_backend``'s) and to the calling thread. Each
  thread and each asyncio task that calls it draws from its own stream, so models built and
  trained at once in several threads give exactly the numbers each gives alone. A context
  copied from a seeded one (an asyncio task, ``contextvars.copy_context().run``,
  ``asyncio.to_thread``) shares that stream until it calls ``set_random_seed`` itself.
* A context with no stream of its own (one created before the seed was set, e.g. by a
  notebook kernel that does not carry context values from cell to cell) draws from its
  thread's: the stream the thread seeded last. A thread that never called
  ``set_random_seed`` gets a stream of its own at its first draw, as if it had called it with
  the seed last given anywhere in the process (OS entropy when none was): deterministic, and
  untouched by what other threads draw.
"""

from __future__ import annotations

import contextvars
import threading

import numpy as np

from .errors import ConfigError


class _Stream:
    """One seeded generator and the seed it started from."""

    __slots__ = ("rng", "seed")

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)


_stream: contextvars.ContextVar[_Stream | None] = contextvars.ContextVar(
    "duallearn_random_stream", default=None
)
_thread = threading.local()  # .stream: for this thread's contexts that have none
_last_seed: int | None = None  # process-wide: where an unseeded thread's stream starts


def set_random_seed(seed: int) -> None:
    """Seed every random draw duallearn makes in this thread or asyncio task (weights,
    shuffling, dropout masks, ``dl.random`` without a seed).

    In single-threaded code this is Keras's ``set_random_seed``. Other threads keep their own
    streams; a thread that never calls it starts from the last seed given (see the module
    docstring).

    Example:
        >>> import duallearn as dl
        >>> dl.set_random_seed(0)
    """
    global _last_seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(
            f"set_random_seed expects a non-negative integer. Received: seed={seed!r}. "
            "Fix: pass an int such as 0 or 1234."
        )
    _last_seed = int(seed)
    stream = _Stream(_last_seed)
    _stream.set(stream)
    _thread.stream = stream


def _current() -> _Stream:
    """The stream of this context, else this thread's own (started on first use)."""
    stream = _stream.get()
    if stream is None:
        stream = getattr(_thread, "stream", None)
        if stream is None:
            stream = _thread.stream = _Stream(_last_seed)
    return stream


def global_rng() -> np.random.Generator:
    """The seeded generator of this context (initializers without their own seed draw from
    it)."""
    return _current().rng


def draw_seed(rng: np.random.Generator | None = None) -> int:
    """A fresh 63-bit seed drawn from this context's stream (for shuffling and mask
    streams), or from ``rng``: a stream :func:`global_rng` returned earlier, for a draw that
    runs on another thread on the caller's behalf."""
    return int((_current().rng if rng is None else rng).integers(0, 2**63 - 1))


def get_random_seed() -> int | None:
    """The seed this context's stream started from (None: OS entropy)."""
    return _current().seed


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
