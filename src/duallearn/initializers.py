"""Weight initializers, drawn with numpy in float64 from the front-end's seeded stream (the
calling thread's or asyncio task's: ``_seed``) and cast once to the weight's dtype, so every
backend starts from bit-identical weights.

Formulas are Keras 3's (``keras/src/initializers``). With ``n`` = fan_in, fan_out or their
mean (``mode``), VarianceScaling draws ``U(-sqrt(3 s / n), +sqrt(3 s / n))`` ("uniform") or a
normal truncated at two standard deviations with ``stddev = sqrt(s / n) / 0.8796...``
("truncated_normal"). Fans of a shape: rank 2 ``(in, out)``; conv kernels
``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _seed
from ._registry import Registry
from .errors import ConfigError

REGISTRY = Registry("initializer")
TRUNCATED_STDDEV_FACTOR = 0.87962566103423978  # stddev of N(0,1) truncated to [-2, 2]


def compute_fans(
    shape: tuple[int, ...],
    input_axes: Sequence[int] | None = None,
    output_axes: Sequence[int] | None = None,
) -> tuple[float, float]:
    """Keras's fan computation for a canonical weight shape: with both ``input_axes`` and
    ``output_axes``, ``fan_in = Π shape[input_axes]`` and ``fan_out = Π shape[output_axes]``;
    otherwise by rank (a kernel ``(..., in, out)``: ``in·receptive``, ``out·receptive``)."""
    if input_axes is not None and output_axes is not None:
        return (
            float(math.prod(shape[a] for a in input_axes)),
            float(math.prod(shape[a] for a in output_axes)),
        )
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


class Initializer:
    """Base class: ``init(shape, dtype)`` returns a numpy array."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f"seed must be an int or None. Received: seed={seed!r}.")
        self.seed = seed
        self._calls = 0

    def _rng(self) -> np.random.Generator:
        if self.seed is None:
            return _seed.global_rng()  # the stream of whoever creates the weight
        # A seeded initializer gives the same values for the same seed (as Keras does the first
        # time); reusing the object for several weights draws a new stream each call.
        rng = np.random.default_rng([self.seed, self._calls])
        self._calls += 1
        return rng

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        return np.asarray(self.draw(shape, self._rng()), dtype=np.float64).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _truncated_normal(
    rng: np.random.Generator, shape: tuple[int, ...], stddev: float
) -> np.ndarray:
    """N(0, stddev) truncated to ±2 stddev by redrawing the values outside."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


@REGISTRY.register("Zeros", "zeros")
class Zeros(Initializer):
    """All zeros."""

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return np.zeros(shape)

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        return np.zeros(tuple(int(s) for s in shape), dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {}


@REGISTRY.register("Ones", "ones")
class Ones(Zeros):
    """All ones."""

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        return np.ones(tuple(int(s) for s in shape), dtype=dtype)


@REGISTRY.register("Constant", "constant")
class Constant(Initializer):
    """Every element equals ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.value = float(value)

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return np.full(shape, self.value)

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        return np.full(tuple(int(s) for s in shape), self.value, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


@REGISTRY.register("RandomNormal", "random_normal", "normal")
class RandomNormal(Initializer):
    """``N(mean, stddev)``; defaults mean 0, stddev 0.05."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return self.mean + self.stddev * rng.standard_normal(shape)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@REGISTRY.register("TruncatedNormal", "truncated_normal")
class TruncatedNormal(RandomNormal):
    """``N(mean, stddev)`` with values beyond two stddev redrawn."""

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return self.mean + _truncated_normal(rng, shape, self.stddev)


@REGISTRY.register("RandomUniform", "random_uniform", "uniform")
class RandomUniform(Initializer):
    """``U(minval, maxval)``; defaults -0.05, 0.05."""

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        super().__init__(seed)
        if maxval < minval:
            raise ConfigError(
                f"RandomUniform needs minval <= maxval. Received: minval={minval}, maxval={maxval}."
            )
        self.minval, self.maxval = float(minval), float(maxval)

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@REGISTRY.register("VarianceScaling", "variance_scaling")
class VarianceScaling(Initializer):
    """Scale-aware uniform or truncated-normal draws (see module docstring)."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        super().__init__(seed)
        self.input_axes = _axes("input_axes", input_axes)
        self.output_axes = _axes("output_axes", output_axes)
        if scale <= 0:
            raise ConfigError(f"VarianceScaling needs scale > 0. Received: scale={scale}.")
        if mode not in self.MODES:
            raise ConfigError(f"mode must be one of {self.MODES}. Received: mode={mode!r}.")
        if distribution not in self.DISTRIBUTIONS:
            raise ConfigError(
                f"distribution must be one of {self.DISTRIBUTIONS}. "
                f"Received: distribution={distribution!r}."
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, math.sqrt(scale) / TRUNCATED_STDDEV_FACTOR)
        if self.distribution == "untruncated_normal":
            return math.sqrt(scale) * rng.standard_normal(shape)
        limit = math.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "seed": self.seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


def _axes(name: str, axes: Sequence[int] | None) -> list[int] | None:
    if axes is None:
        return None
    if isinstance(axes, (str, bytes)) or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in axes
    ):
        raise ConfigError(
            f"{name} must be a list of axis integers or None. Received: {name}={axes!r}. "
            f"Fix: e.g. {name}=[0]."
        )
    return list(axes)


def _preset(name: str, alias: str, scale: float, mode: str, dist: str, doc: str) -> type:
    def __init__(
        self: VarianceScaling,
        seed: int | None = None,
        input_axes: Sequence[int] | None = None,
        output_axes: Sequence[int] | None = None,
    ) -> None:
        VarianceScaling.__init__(self, scale, mode, dist, seed, input_axes, output_axes)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}

    cls = type(
        name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc}
    )
    REGISTRY.add(name, cls)
    REGISTRY.add(alias, cls)
    return cls


GlorotUniform = _preset(
    "GlorotUniform",
    "glorot_uniform",
    1.0,
    "fan_avg",
    "uniform",
    "U(±sqrt(6 / (fan_in + fan_out))).",
)
GlorotNormal = _preset(
    "GlorotNormal",
    "glorot_normal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / 0.8796.",
)
HeUniform = _preset("HeUniform", "he_uniform", 2.0, "fan_in", "uniform", "U(±sqrt(6 / fan_in)).")
HeNormal = _preset(
    "HeNormal",
    "he_normal",
    2.0,
    "fan_in",
    "truncated_normal",
    "Truncated normal, stddev sqrt(2 / fan_in) / 0.8796.",
)
LecunUniform = _preset(
    "LecunUniform", "lecun_uniform", 1.0, "fan_in", "uniform", "U(±sqrt(3 / fan_in))."
)
LecunNormal = _preset(
    "LecunNormal",
    "lecun_normal",
    1.0,
    "fan_in",
    "truncated_normal",
    "Truncated normal, stddev sqrt(1 / fan_in) / 0.8796.",
)


@REGISTRY.register("Orthogonal", "orthogonal")
class Orthogonal(Initializer):
    """``gain * Q`` from the QR decomposition of a normal matrix, signs fixed by diag(R);
    a weight of shape ``(..., cols)`` is treated as a ``(prod(...), cols)`` matrix."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = float(gain)

    def draw(self, shape, rng):  # type: ignore[no-untyped-def]
        if len(shape) < 2:
            raise ConfigError(
                f"The Orthogonal initializer needs a weight of rank >= 2. Received shape {shape}."
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


def get(identifier: object) -> Initializer:
    """Resolve a name, ``{"class_name", "config"}`` dict or instance to an initializer."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return REGISTRY.get(identifier)()  # type: ignore[no-any-return]
    if isinstance(identifier, dict) and "class_name" in identifier:
        return REGISTRY.get(identifier["class_name"])(**identifier.get("config", {}))  # type: ignore[no-any-return]
    raise ConfigError(
        f"Cannot interpret {identifier!r} as an initializer. Expected a name such as "
        f"'glorot_uniform', a config dict or an Initializer instance."
    )


def serialize(init: Initializer) -> dict[str, Any]:
    """The JSON-able form of an initializer (Keras's ``keras.initializers.serialize``).

    Args:
        init: an :class:`Initializer`.

    Returns:
        ``{"class_name": ..., "config": init.get_config()}``; :func:`get` reads it back.

    Example:
        >>> from duallearn import initializers
        >>> initializers.serialize(initializers.Constant(0.5))
        {'class_name': 'Constant', 'config': {'value': 0.5}}
    """
    return {"class_name": type(init).__name__, "config": init.get_config()}
