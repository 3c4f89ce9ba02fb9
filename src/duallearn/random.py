"""``dl.random``: random tensors drawn identically on every backend (``keras.random``'s API).

Every draw is made with numpy from a seed (a ``Philox`` generator keyed by it) and then
converted to the active implementation's tensor, so ``normal((3,), seed=7)`` holds the same
numbers on torch, TensorFlow and numpy. ``seed`` is, as in Keras 3:

* an ``int``: the same seed always gives the same values (also inside a layer's ``call``);
* a :class:`SeedGenerator`: its state advances by one per draw, so each call gives new values
  and ``SeedGenerator(1337)`` gives the same sequence on every run and every backend;
* ``None``: a fresh seed drawn from ``dl.utils.set_random_seed``'s stream of the calling
  thread or asyncio task (docs/training.md, "Randomness and threads"); inside a traced
  TensorFlow function, of the context that traced it.

Results are native tensors of the implementation running the call: the active backend
(``dl.use_backend``), the model's backend inside a custom layer's ``call`` or a custom train
step, numpy in ``dl.ops.numpy_mode()``. Arguments may be native tensors (``dropout(x, 0.5)``,
``shuffle(x)``, ``categorical(logits, 1)``), and a shape may hold a native scalar
(``normal((ops.shape(x)[0], 4))``). Inside a traced TensorFlow function the draw runs on the
host at each execution (``tf.numpy_function``), so it is not frozen into the trace.

Differs from ``keras.random``: the values are not Keras's (Keras draws with each framework's
own RNG, which differs per backend and cannot be matched across frameworks: shared/PARITY.md
§4); shapes, dtypes, ranges, distributions and argument checks are Keras's. A
``SeedGenerator``'s state is a plain host counter, not a variable saved in checkpoints, and a
layer's ``seed=`` argument stays an int (Keras's ``Dropout(seed=SeedGenerator)`` is refused
too). Under ``jit_compile=True`` on TensorFlow (XLA) a host draw cannot be compiled.

Example:
    >>> import duallearn as dl
    >>> gen = dl.random.SeedGenerator(1337)
    >>> with dl.ops.numpy_mode():
    ...     a = dl.random.normal((2,), seed=gen)
    ...     b = dl.random.normal((2,), seed=gen)
    >>> bool((a != b).all())
    True
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from . import _naming, _seed, _trace, config
from . import ops as _ops
from .errors import ConfigError
from .ops import _dispatch

_INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


class SeedGenerator:
    """A seed whose state advances by one at each draw (``keras.random.SeedGenerator``).

    ``seed`` is an int, or None for one drawn from ``dl.utils.set_random_seed``'s stream (so
    a seeded program still repeats). Pass the generator as ``seed=`` to any ``dl.random``
    function; draw ``k`` uses the Philox generator keyed by ``seed`` at counter ``k``.

    Example:
        >>> import duallearn as dl
        >>> g = dl.random.SeedGenerator(42)
        >>> g.state.tolist()
        [42, 0]
        >>> _ = g.next()
        >>> g.state.tolist()
        [42, 1]
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(
                f"SeedGenerator got unrecognized keyword arguments: {kwargs}. Expected: seed, "
                "name. Fix: remove them."
            )
        self.name = name or _naming.unique_name("seed_generator")
        self._initial_seed = seed
        if seed is None:
            seed = _seed.draw_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(
                f"Argument `seed` must be an integer. Received: seed={seed!r}. "
                "Fix: pass an int such as 1337, or None."
            )
        self._seed = int(seed)
        self._counter = 0

    @property
    def state(self) -> np.ndarray:
        """``[seed, number of draws so far]`` (int64), as Keras's state variable."""
        return np.array([self._seed, self._counter], dtype=np.int64)

    def next(self, ordered: bool = True) -> np.ndarray:
        """The state for this draw; advances the state by one."""
        state = self.state
        self._counter += 1
        return state

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedGenerator:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator name={self.name} state={self.state.tolist()}>"


Seed = int | SeedGenerator | None


# ---- helpers ------------------------------------------------------------------------------
def _check_seed(seed: Any) -> None:
    if seed is None or isinstance(seed, SeedGenerator):
        return
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(
            "Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
            f"Received: seed={seed!r} (of type {type(seed)}). Fix: pass an int, "
            "dl.random.SeedGenerator(...), or None."
        )


_PROBING: contextvars.ContextVar[bool] = contextvars.ContextVar("dl_random_probe", default=False)


@contextlib.contextmanager
def shape_probe() -> Iterator[None]:
    """Draws in this block leave every state alone (no SeedGenerator advances, the global
    stream is not read): the numpy run that finds a custom layer's output shape is no call
    (Keras's symbolic build does not advance a generator either)."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)


def _gen(seed: Seed, stream: np.random.Generator, probing: bool) -> np.random.Generator:
    """The generator of one draw (a SeedGenerator advances here). ``stream`` and ``probing``
    are the caller's, read when the draw was set up: inside a traced TensorFlow function the
    draw runs on one of TensorFlow's threads, whose context is not the caller's."""
    if probing:
        return _seed.philox(0)
    if isinstance(seed, SeedGenerator):
        key, counter = (int(v) for v in seed.next())
        return _seed.philox(key, counter, 1)
    if seed is None:
        return _seed.philox(_seed.draw_seed(stream))
    return _seed.philox(int(seed))


def _is_symbolic(x: Any) -> bool:
    from .layers._input import SymbolicTensor

    return isinstance(x, SymbolicTensor)


def _no_symbolic(fn: str, *values: Any) -> None:
    if any(_is_symbolic(v) for v in values):
        raise ConfigError(
            f"dl.random.{fn} runs on tensors, not on symbolic model inputs. Received a "
            "SymbolicTensor. Fix: call it inside a custom layer's call(), or use a layer "
            "(dl.layers.Dropout, dl.layers.GaussianNoise)."
        )


def _dims(shape: Any, fn: str) -> list[Any]:
    """A shape argument as a list of ints, or native scalars where not known yet (a traced
    function's batch size)."""
    if _is_symbolic(shape):
        _no_symbolic(fn, shape)
    entries = [shape] if isinstance(shape, (int, np.integer)) else shape
    try:
        entries = list(entries)
    except TypeError:
        entries = None
    if entries is None:
        raise ConfigError(
            f"dl.random.{fn}: shape must be a tuple of ints. Received: shape={shape!r}. "
            "Fix: e.g. shape=(2, 3), or (ops.shape(x)[0], 3)."
        )
    dims: list[Any] = []
    for d in entries:
        if isinstance(d, bool) or d is None or isinstance(d, (float, str)):
            raise ConfigError(
                f"dl.random.{fn}: shape must be a tuple of ints. Received: shape={shape!r}. "
                "Fix: give every dimension (use ops.shape(x)[0] for a batch size)."
            )
        if _is_symbolic(d):
            _no_symbolic(fn, d)
        if not isinstance(d, (int, np.integer)):
            try:
                d = int(d)  # a concrete native scalar
            except (TypeError, ValueError):  # a traced one: resolved when the draw runs
                dims.append(d)
                continue
        if d < 0:
            raise ConfigError(
                f"dl.random.{fn}: shape dimensions must be >= 0. Received: shape={shape!r}."
            )
        dims.append(int(d))
    return dims


def _float_dtype(dtype: str | None, fn: str) -> str:
    dt = dtype or config.floatx()
    if dt not in config.FLOAT_TYPES:
        raise ConfigError(
            f"`dl.random.{fn}` requires a floating point `dtype`. Received: dtype={dt}. "
            f"Expected one of {config.FLOAT_TYPES}."
        )
    return dt


def _host_dtype(dtype: str) -> str:
    return "float32" if dtype == "bfloat16" else dtype  # numpy has no bfloat16


def _is_host(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, np.ndarray, np.generic, list, tuple))


def _emit(
    draw: Callable[..., np.ndarray], dims: list[Any], dtype: str, seed: Seed, *params: Any
) -> Any:
    """Run ``draw(rng, shape, *param_arrays)`` on the host and return the result as a tensor
    of the current implementation. Native tensors among ``params`` reach ``draw`` as numpy.
    An implementation with ``host_draw(fn, dims, dtype, inputs)`` (TensorFlow) decides when
    the draw runs: now when eager, at each execution inside a traced function."""
    impl = _dispatch.current()
    natives = [p for p in params if not _is_host(p)]
    host_dt = _host_dtype(dtype)
    stream, probing = _seed.global_rng(), _PROBING.get()  # this context's, for every run

    def run(shape: tuple[int, ...], *arrays: Any) -> np.ndarray:
        it = iter(arrays)
        vals = [np.asarray(p if _is_host(p) else next(it), np.float64) for p in params]
        return np.asarray(draw(_gen(seed, stream, probing), shape, *vals)).astype(host_dt)

    hook = getattr(impl, "host_draw", None)
    trace = _trace.active()
    if trace is not None:  # a compiled custom step: XLA cannot hold a host draw
        trace.host_draws += 1
    if hook is not None:
        out = hook(run, dims, host_dt, natives)
    else:
        arrays = [impl.convert_to_numpy(p) for p in natives]
        out = impl.convert_to_tensor(run(tuple(int(d) for d in dims), *arrays))
    return out if host_dt == dtype else impl.cast(out, dtype)


# ---- distributions -------------------------------------------------------------------------
def normal(
    shape: Sequence[Any] | int,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: str | None = None,
    seed: Seed = None,
) -> Any:
    """Samples of N(mean, stddev²), drawn in float64 and cast once (float dtypes only)."""
    _check_seed(seed)
    dt = _float_dtype(dtype, "normal")
    dims = _dims(shape, "normal")
    return _emit(lambda g, s: mean + stddev * g.standard_normal(s), dims, dt, seed)


def uniform(
    shape: Sequence[Any] | int,
    minval: float = 0.0,
    maxval: float = 1.0,
    dtype: str | None = None,
    seed: Seed = None,
) -> Any:
    """Samples of U[minval, maxval) (float dtypes only)."""
    _check_seed(seed)
    if dtype and dtype not in config.FLOAT_TYPES:
        raise ConfigError(
            f"`dl.random.uniform` requires a floating point `dtype`. Received: dtype={dtype}. "
            "Fix: use dl.random.randint for integers."
        )
    dt = _float_dtype(dtype, "uniform")
    dims = _dims(shape, "uniform")
    return _emit(lambda g, s: g.uniform(minval, maxval, s), dims, dt, seed)


def truncated_normal(
    shape: Sequence[Any] | int,
    mean: float = 0.0,
    stddev: float = 1.0,
    dtype: str | None = None,
    seed: Seed = None,
) -> Any:
    """N(mean, stddev²) with values beyond ±2·stddev redrawn (Keras's rule): every value lies
    in ``[mean − 2·stddev, mean + 2·stddev]``."""
    _check_seed(seed)
    dt = _float_dtype(dtype, "truncated_normal")
    dims = _dims(shape, "truncated_normal")

    def draw(g: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        out = g.standard_normal(s)
        bad = np.abs(out) > 2.0
        while bad.any():
            out[bad] = g.standard_normal(int(bad.sum()))
            bad = np.abs(out) > 2.0
        return mean + stddev * out

    return _emit(draw, dims, dt, seed)


def randint(
    shape: Sequence[Any] | int,
    minval: int,
    maxval: int,
    dtype: str = "int32",
    seed: Seed = None,
) -> Any:
    """Integers uniform in ``[minval, maxval)`` (integer dtypes only; Keras's default int32)."""
    _check_seed(seed)
    if dtype not in _INT_TYPES:
        raise ConfigError(
            f"`dl.random.randint` requires an integer `dtype`. Received: dtype={dtype}. "
            f"Expected one of {_INT_TYPES}."
        )
    if int(minval) >= int(maxval):
        raise ConfigError(
            f"dl.random.randint needs minval < maxval. Received: minval={minval}, maxval={maxval}."
        )
    dims = _dims(shape, "randint")
    return _emit(lambda g, s: g.integers(int(minval), int(maxval), s), dims, dtype, seed)


def categorical(logits: Any, num_samples: int, dtype: str = "int32", seed: Seed = None) -> Any:
    """``num_samples`` class indices per row of ``logits`` (``(batch, num_classes)``,
    unnormalized log-probabilities): ``P(k) = softmax(logits)[k]``; returns
    ``(batch, num_samples)``. A row's ``-inf`` entries are never drawn."""
    _check_seed(seed)
    _no_symbolic("categorical", logits)
    shape = _ops.shape(logits)
    if len(shape) != 2:
        raise ConfigError(
            "`logits` should be a 2-D tensor with shape [batch_size, num_classes]. "
            f"Received: logits of shape {tuple(shape)}."
        )
    n = int(num_samples)
    dims = _dims((shape[0], n), "categorical")

    def draw(g: np.random.Generator, s: tuple[int, ...], lg: np.ndarray) -> np.ndarray:
        z = lg - lg.max(axis=1, keepdims=True)
        p = np.exp(z)
        cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        u = g.uniform(size=s)
        idx = np.array(
            [np.searchsorted(c, row, side="right") for c, row in zip(cdf, u, strict=True)]
        )
        return np.minimum(idx.reshape(s), lg.shape[1] - 1)

    return _emit(draw, dims, dtype, seed, logits)


def gamma(
    shape: Sequence[Any] | int, alpha: Any, dtype: str | None = None, seed: Seed = None
) -> Any:
    """Samples of Gamma(alpha, 1): density ``x^(alpha−1) e^(−x) / Γ(alpha)``, mean alpha."""
    _check_seed(seed)
    dt = _float_dtype(dtype, "gamma")
    dims = _dims(shape, "gamma")
    return _emit(lambda g, s, a: g.standard_gamma(a, s), dims, dt, seed, alpha)


def binomial(
    shape: Sequence[Any] | int,
    counts: Any,
    probabilities: Any,
    dtype: str | None = None,
    seed: Seed = None,
) -> Any:
    """Successes in ``counts`` trials of probability ``probabilities`` (numbers or arrays
    broadcastable to ``shape``); dtype default floatx (ints allowed, as Keras)."""
    _check_seed(seed)
    dt = dtype or config.floatx()
    dims = _dims(shape, "binomial")

    def draw(g: np.random.Generator, s: tuple[int, ...], n: Any, p: Any) -> np.ndarray:
        return g.binomial(np.asarray(n).astype(np.int64), p, s)

    return _emit(draw, dims, dt, seed, counts, probabilities)


def beta(
    shape: Sequence[Any] | int,
    alpha: Any,
    beta: Any,
    dtype: str | None = None,
    seed: Seed = None,
) -> Any:
    """Samples of Beta(alpha, beta) in [0, 1], mean ``alpha / (alpha + beta)``."""
    _check_seed(seed)
    dt = _float_dtype(dtype, "beta")
    dims = _dims(shape, "beta")
    return _emit(lambda g, s, a, b: g.beta(a, b, s), dims, dt, seed, alpha, beta)


# ---- on tensors ----------------------------------------------------------------------------
def dropout(
    inputs: Any, rate: float, noise_shape: Sequence[Any] | None = None, seed: Seed = None
) -> Any:
    """Inverted dropout: ``inputs · mask / (1 − rate)`` with a Bernoulli(1 − rate) mask of
    ``noise_shape`` (default: the input's shape; None entries take the input's size)
    broadcast over ``inputs``; gradients flow through ``inputs``."""
    _check_seed(seed)
    _no_symbolic("dropout", inputs)
    try:
        r = float(rate)
    except (TypeError, ValueError):
        r = -1.0
    if not 0 <= r < 1:
        raise ConfigError(
            "`rate` must be a scalar tensor or a float in the range [0, 1). "
            f"Received: rate={rate!r}."
        )
    dt = _ops.dtype(inputs)
    if dt not in config.FLOAT_TYPES:
        raise ConfigError(
            "`x.dtype` must be a floating point tensor as `x` will be scaled. "
            f"Received: x_dtype={dt}. Fix: cast it first (dl.ops.cast(x, 'float32'))."
        )
    in_shape = list(_ops.shape(inputs))
    if noise_shape is None:
        shape: list[Any] = in_shape
    else:
        shape = list(noise_shape)
        if len(shape) != len(in_shape):
            raise ConfigError(
                f"dl.random.dropout: noise_shape must have the rank of inputs "
                f"({len(in_shape)}). Received: noise_shape={tuple(noise_shape)}."
            )
        shape = [i if n is None else n for n, i in zip(shape, in_shape, strict=True)]
    dims = _dims(shape, "dropout")

    def draw(g: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
        return (g.uniform(size=s) >= r).astype(np.float64) / (1.0 - r)

    keep = _emit(draw, dims, dt, seed)
    return _ops.multiply(inputs, keep)


def shuffle(x: Any, axis: int = 0, seed: Seed = None) -> Any:
    """``x`` with its entries permuted along ``axis`` (one permutation per call)."""
    _check_seed(seed)
    _no_symbolic("shuffle", x)
    shape = _ops.shape(x)
    rank = len(shape)
    if (
        isinstance(axis, bool)
        or not isinstance(axis, (int, np.integer))
        or not -rank <= axis < rank
    ):
        raise ConfigError(
            f"dl.random.shuffle: axis must be an int in [{-rank}, {rank}) for an input of rank "
            f"{rank}. Received: axis={axis!r}."
        )
    ax = int(axis) % rank
    dims = _dims((shape[ax],), "shuffle")
    perm = _emit(lambda g, s: g.permutation(s[0]), dims, "int64", seed)
    return _ops.take(x, perm, axis=ax)


__all__ = [
    "SeedGenerator",
    "beta",
    "binomial",
    "categorical",
    "dropout",
    "gamma",
    "normal",
    "randint",
    "shuffle",
    "truncated_normal",
    "uniform",
]
