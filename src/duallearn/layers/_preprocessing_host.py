"""Host-side preprocessing layers: ``CategoryEncoding``, ``Hashing``, ``Discretization``,
and the base class the text and lookup layers share (``layers/_preprocessing_lookup.py``,
``layers/_preprocessing_text.py``).

Strings cannot enter a torch tensor, so these layers run on the host, in numpy, identically
on every backend. ``layer(x)`` on arrays, lists or native tensors returns numpy (as every
built-in layer called on arrays does). In a model, a host-side layer is marked by
``host_side = True``: the model applies ``host_call(batch)`` (pure numpy, deterministic) to
each batch before the native step, and reads the result's shape from
``compute_output_shape`` and its dtype from ``output_dtype``.

Categorical encoding (Keras 3's ``encode_categorical_inputs``), for integer ``x`` and
``depth``:

* ``"one_hot"``: a last axis of size 1 is dropped first (rank > 1), then
  ``y[..., k] = (x[...] == k)``; a value outside ``[0, depth)`` gives a row of zeros;
* ``"multi_hot"``: ``y[..., k] = 1 if k occurs in the sample``; ``"count"``:
  ``y[..., k] = Σ_t w_t · [x_t == k]`` (``w = 1`` without ``count_weights``). The sample axis
  is axis 1 (axis 0 for a rank-1 input, which is one sample; a scalar is a sample of one),
  as Keras; values ``≥ depth`` are dropped, negative values raise ``IndexRangeError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import ConfigError, IndexRangeError, ShapeError
from ._layer import REGISTRY, Layer
from ._string_hash import hash_bucket
from ._tf_data import graph_tensor, run_host

_INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
ENCODE_MODES = ("one_hot", "multi_hot", "count")


def as_host_array(x: Any) -> np.ndarray:
    """``x`` (a list, numpy array, torch or TensorFlow tensor) as a numpy array; byte
    strings are decoded as UTF-8 to ``str``."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach"):  # torch
            x = x.detach().cpu()
        if hasattr(x, "numpy") and not isinstance(x, (list, tuple)):
            x = x.numpy()
    arr = np.asarray(x)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(object).astype(str)
    if arr.dtype.kind == "O":
        flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.reshape(-1)]
        if all(isinstance(v, str) for v in flat):
            return np.array(flat, dtype=str).reshape(arr.shape) if flat else arr.astype(str)
    return arr


def check_choice(layer: str, name: str, value: object, choices: Sequence[object]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{layer}: invalid {name}. Expected one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}. Fix: pass one of these."
        )


def encode(
    indices: np.ndarray,
    mode: str,
    depth: int,
    dtype: str,
    count_weights: np.ndarray | None = None,
    who: str = "layer",
) -> np.ndarray:
    """Keras 3's categorical encoding of integer ``indices`` (module docstring)."""
    x = np.asarray(indices)
    if mode == "int":
        return x.astype(dtype)
    if x.ndim == 0:
        x = x[None]
        count_weights = None if count_weights is None else np.asarray(count_weights)[None]
    if mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x[..., 0]
        return (x[..., None] == np.arange(depth)).astype(dtype)
    if x.size and int(x.min()) < 0:
        raise IndexRangeError(
            f"{who}: output_mode={mode!r} counts values in [0, {depth}). Received a "
            f"negative value {int(x.min())}. Fix: map the inputs to non-negative ids first "
            "(IntegerLookup or StringLookup)."
        )
    rows = x[None] if x.ndim == 1 else np.moveaxis(x, 1, -1)
    lead, steps = rows.shape[:-1], rows.shape[-1]
    flat = rows.reshape(-1, steps).astype(np.int64)
    n = flat.shape[0]
    keep = flat < depth
    where = (np.arange(n)[:, None] * depth + flat)[keep]
    weights = None
    if count_weights is not None:
        w = np.asarray(count_weights)
        w = w[None] if w.ndim == 1 else np.moveaxis(w, 1, -1)
        weights = w.reshape(-1, steps)[keep].astype(np.float64)
    out: np.ndarray = np.bincount(where, weights=weights, minlength=n * depth)
    if mode == "multi_hot":
        out = out > 0
    out = out.reshape(*lead, depth)
    return (out[0] if x.ndim == 1 else out).astype(dtype)


def encoded_shape(input_shape: Sequence[int | None], mode: str, depth: int | None) -> Any:
    """The shape :func:`encode` gives for inputs of ``input_shape``."""
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if len(shape) == 0:
        shape = (1,)
    if mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            shape = shape[:-1]
        return (*shape, depth)
    if len(shape) == 1:
        return (depth,)
    return (shape[0], *shape[2:], depth)


class HostLayer(Layer):
    """Base of the host-side preprocessing layers: numpy in, numpy out, on every backend.

    ``host_side = True``; ``host_call(x: np.ndarray) -> np.ndarray`` computes the layer;
    ``output_dtype`` names the dtype of what it returns; ``compute_output_shape`` its shape.
    """

    host_side = True

    def __init__(self, *, dtype: str | None = None, **kwargs: Any) -> None:
        super().__init__(dtype=dtype if dtype in config.FLOAT_TYPES else None, **kwargs)
        if dtype is not None and dtype not in config.FLOAT_TYPES:
            check_choice(type(self).__name__, "dtype", dtype, config.FLOAT_TYPES + _INT_TYPES)
            self.dtype = str(dtype)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from ._input import SymbolicTensor

        inputs = args[0] if len(args) == 1 else None
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if flat and all(isinstance(t, SymbolicTensor) for t in flat):
            out = super().__call__(*args, **kwargs)
            for t in out if isinstance(out, list) else [out]:
                if isinstance(t, SymbolicTensor):
                    t.dtype = self.output_dtype  # what host_call returns (Keras's dtype)
            return out
        if len(args) != 1:
            raise ConfigError(
                f"Layer {self.name!r} ({type(self).__name__}) takes one input. Received "
                f"{len(args)} positional arguments. Fix: layer(x)."
            )
        kwargs.pop("training", None)
        if graph_tensor(inputs):  # inside tf.data's map: host_call at each execution
            return run_host(self, inputs, **kwargs)
        return self.host_call(as_host_array(inputs), **kwargs)

    @property
    def output_dtype(self) -> str:
        """The dtype of ``host_call``'s result."""
        return self.dtype

    def host_call(self, x: np.ndarray) -> np.ndarray:
        """The layer on one batch, in numpy."""
        raise NotImplementedError

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return self.host_call(as_host_array(x))


def _int_array(layer: Layer, x: np.ndarray, what: str = "integer ids") -> np.ndarray:
    if x.dtype.kind in "iub":
        return x.astype(np.int64)
    if x.dtype.kind == "f":
        return x.astype(np.int64)
    raise ConfigError(
        f"Layer {layer.name!r} ({type(layer).__name__}) takes {what}. Received an array of "
        f"dtype {x.dtype}. Fix: pass integers (use StringLookup or Hashing for strings)."
    )


@REGISTRY.register()
class CategoryEncoding(HostLayer):
    """Encodes integer ids ``0 ≤ x < num_tokens`` as one-hot, multi-hot or count vectors.

    ``output_mode``: ``"one_hot"`` (a trailing axis of size 1 is replaced by ``num_tokens``,
    else one is appended), ``"multi_hot"`` (default: ``y[k] = 1`` if ``k`` occurs in the
    sample, the last axis being the sample for rank-2 input) or ``"count"`` (``y[k] = Σ w_t
    [x_t = k]``, ``w = count_weights`` or 1). Output dtype: the layer's ``dtype`` (float32),
    or that of ``count_weights``. ``sparse=True`` is refused (dense arrays only).

    >>> CategoryEncoding(num_tokens=4, output_mode="one_hot")([3, 2, 0, 1])[0].tolist()
    [0.0, 0.0, 0.0, 1.0]
    """

    def __init__(
        self,
        num_tokens: int | None = None,
        output_mode: str = "multi_hot",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        check_choice("CategoryEncoding", "output_mode", output_mode, ENCODE_MODES)
        if num_tokens is None or isinstance(num_tokens, bool) or not isinstance(num_tokens, int):
            raise ConfigError(
                "CategoryEncoding: num_tokens must be set to an int >= 1. Received: "
                f"num_tokens={num_tokens!r}. Fix: pass the number of ids, or use IntegerLookup "
                "when it is not known beforehand."
            )
        if num_tokens < 1:
            raise ConfigError(
                f"CategoryEncoding: num_tokens must be >= 1. Received: num_tokens={num_tokens}. "
                "Fix: pass the number of distinct ids."
            )
        _no_sparse("CategoryEncoding", sparse)
        self.num_tokens, self.output_mode, self.sparse = num_tokens, output_mode, False

    def compute_output_shape(self, input_shape: Any) -> Any:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def host_call(self, x: np.ndarray, count_weights: Any = None) -> np.ndarray:  # type: ignore[override]
        ids = _int_array(self, np.asarray(x))
        dtype = self.dtype
        if count_weights is not None:
            if self.output_mode != "count":
                raise ConfigError(
                    "CategoryEncoding: count_weights is only used when output_mode='count'. "
                    f"Received: output_mode={self.output_mode!r} with count_weights. Fix: drop "
                    "count_weights or set output_mode='count'."
                )
            count_weights = as_host_array(count_weights)
            if count_weights.shape != ids.shape:
                raise ShapeError(
                    f"CategoryEncoding: count_weights must have the inputs' shape {ids.shape}. "
                    f"Received: {count_weights.shape}. Fix: one weight per input value."
                )
            if count_weights.dtype.kind == "f":
                dtype = self.dtype if "float" in self.dtype else "float32"
        return encode(ids, self.output_mode, self.num_tokens, dtype, count_weights, self.name)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_tokens": self.num_tokens,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


def _no_sparse(layer: str, sparse: object) -> None:
    if sparse:
        raise ConfigError(
            f"{layer}: sparse=True is not supported (duallearn's preprocessing layers return "
            "dense numpy arrays). Received: sparse=True. Fix: leave sparse=False."
        )


def _salt(layer: str, salt: object) -> list[int] | None:
    if salt is None:
        return None
    if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(isinstance(s, int) for s in salt):
        return [int(salt[0]), int(salt[1])]
    if isinstance(salt, int) and not isinstance(salt, bool):
        return [salt, salt]
    raise ConfigError(
        f"{layer}: salt must be an int or a tuple of 2 ints. Received: salt={salt!r}. "
        "Fix: e.g. salt=133 or salt=(133, 137)."
    )


def hash_strings(values: np.ndarray, num_bins: int, salt: Sequence[int] | None) -> np.ndarray:
    """``fingerprint64(v) % num_bins`` (SipHash-2-4 under ``salt`` when given) of each
    value's string form: strings as UTF-8, integers in decimal (floats truncated to int64
    first), as Keras's ``tf.as_string``."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    uniq, inverse = np.unique(arr.reshape(-1), return_inverse=True)
    key = None if salt is None else (int(salt[0]), int(salt[1]))
    bins = np.array(
        [hash_bucket(str(v).encode("utf-8"), num_bins, key) for v in uniq.tolist()],
        dtype=np.int64,
    )
    return bins[inverse].reshape(arr.shape)


@REGISTRY.register()
class Hashing(HostLayer):
    """Hashes strings or integers into ``num_bins`` bins (Keras 3's results, exactly).

    ``bin = fingerprint64(s) % num_bins`` with ``s`` the value's string form (integers in
    decimal), FarmHash Fingerprint64 as TensorFlow's ``to_hash_bucket_fast``; with ``salt``
    (an int, or two): SipHash-2-4 keyed by the salt (``to_hash_bucket_strong``). With
    ``mask_value`` (and ``num_bins > 1``): the mask maps to 0 and the others to
    ``1 + hash % (num_bins − 1)``. ``output_mode`` ``"int"`` (int64) or
    ``"one_hot"``/``"multi_hot"``/``"count"`` (float32) over ``num_bins``.
    """

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: Any = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else config.floatx()
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins <= 0:
            raise ConfigError(
                f"Hashing: num_bins must be a positive int. Received: num_bins={num_bins!r}. "
                "Fix: e.g. num_bins=1000."
            )
        check_choice("Hashing", "output_mode", output_mode, ("int", *ENCODE_MODES))
        if output_mode == "int" and self.dtype not in ("int32", "int64"):
            raise ConfigError(
                "Hashing: with output_mode='int' the dtype must be 'int32' or 'int64'. "
                f"Received: dtype={self.dtype!r}. Fix: leave dtype unset."
            )
        _no_sparse("Hashing", sparse)
        self.num_bins, self.mask_value, self.output_mode = num_bins, mask_value, output_mode
        self.salt, self.sparse = _salt("Hashing", salt), False
        self.strong_hash = self.salt is not None

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_mode == "int":
            return tuple(input_shape)
        if len(input_shape) == 0:
            return (self.num_bins,)
        return (*tuple(input_shape)[:-1], self.num_bins)

    def host_call(self, x: np.ndarray) -> np.ndarray:
        values = np.asarray(x)
        if self.output_mode == "one_hot" and values.ndim and values.shape[-1] == 1:
            values = values[..., 0]
        bins, mask = self.num_bins, None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mask = values == self.mask_value
        out = hash_strings(values, bins, self.salt)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        return encode(out, self.output_mode, self.num_bins, self.dtype, who=self.name)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


@REGISTRY.register()
class Discretization(HostLayer):
    """Buckets numbers by ranges: ``y = i`` such that ``b[i−1] ≤ x < b[i]`` (``b[−1] = −∞``,
    ``b[n] = +∞``), computed in float32 as Keras (``np.digitize``, ``right=False``).

    Give ``bin_boundaries`` (sorted), or ``num_bins`` and call ``adapt(data)``: boundaries
    are Keras 3's approximate quantiles (its ``summarize``/``merge_summaries``/
    ``compress_summary`` in float32, with error tolerance ``epsilon``; the same numbers as
    Keras for the same data and batches). ``output_mode``: ``"int"`` (int32) or
    ``"one_hot"``/``"multi_hot"``/``"count"`` (the layer's float dtype) over
    ``len(bin_boundaries) + 1`` bins.
    """

    def __init__(
        self,
        bin_boundaries: Sequence[float] | None = None,
        num_bins: int | None = None,
        epsilon: float = 0.01,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _no_sparse("Discretization", sparse)
        check_choice("Discretization", "output_mode", output_mode, ("int", *ENCODE_MODES))
        if num_bins is not None and (isinstance(num_bins, bool) or int(num_bins) < 0):
            raise ConfigError(
                f"Discretization: num_bins must be >= 0. Received: num_bins={num_bins!r}. "
                "Fix: pass the number of bins to learn with adapt()."
            )
        if num_bins is not None and bin_boundaries is not None:
            raise ConfigError(
                "Discretization: set either num_bins (then adapt) or bin_boundaries, not both. "
                f"Received: num_bins={num_bins} and bin_boundaries={list(bin_boundaries)}. "
                "Fix: drop one."
            )
        if num_bins is None and bin_boundaries is None:
            raise ConfigError(
                "Discretization: you need to set either num_bins or bin_boundaries. Received "
                "neither. Fix: bin_boundaries=[0.0, 1.0], or num_bins=4 and call adapt(data)."
            )
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        self.num_bins, self.epsilon = num_bins, float(epsilon)
        self.output_mode, self.sparse = output_mode, False
        self.summary: np.ndarray | None = (
            None if self.bin_boundaries else np.array([[], []], dtype="float32")
        )

    @property
    def output_dtype(self) -> str:
        return "int32" if self.output_mode == "int" else self.dtype

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn ``num_bins`` quantile boundaries from ``data`` (an array, or an iterable of
        batches such as a ``dl.data.Dataset``; ``steps`` batches at most)."""
        if self.num_bins is None:
            raise ConfigError(
                "Discretization: cannot adapt a layer created with bin_boundaries. Expected "
                "num_bins. Received: num_bins=None. Fix: Discretization(num_bins=...) to learn "
                "the boundaries."
            )
        self.summary = np.array([[], []], dtype="float32")
        for batch in _batches(data, steps, numeric=True):
            self.update_state(batch)
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        values = np.array(as_host_array(data)).astype("float32")
        summary = _summarize(values, self.epsilon)
        self.summary = _merge_summaries(summary, self.summary, self.epsilon)

    def finalize_state(self) -> None:
        if self.num_bins is None or self.summary is None:
            return
        self.bin_boundaries = _compress_summary(self.summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def compute_output_shape(self, input_shape: Any) -> Any:
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        return encoded_shape(input_shape, self.output_mode, depth)

    def host_call(self, x: np.ndarray) -> np.ndarray:
        if self.bin_boundaries is None:
            raise ConfigError(
                f"Discretization {self.name!r} has no bin boundaries. Expected bin_boundaries "
                "at construction or a call to adapt(data) first. Received: "
                "bin_boundaries=None. Fix: call layer.adapt(data)."
            )
        values = np.asarray(x).astype(np.float32)
        bins = np.asarray(self.bin_boundaries, dtype=np.float32)
        ids = np.digitize(values, bins).astype(np.int64)
        depth = len(self.bin_boundaries) + 1
        return encode(ids, self.output_mode, depth, self.output_dtype, who=self.name)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "bin_boundaries": self.bin_boundaries,
            "num_bins": self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discretization:
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            bounds = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in bounds]
            return layer
        return cls(**config)


# Keras 3's quantile sketch (keras/src/layers/preprocessing/discretization.py), kept
# operation for operation so that adapt() gives Keras's boundaries.
def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    values = np.sort(np.reshape(values, [-1]))
    elements = np.size(values)
    num_buckets = 1.0 / epsilon
    increment = elements / num_buckets
    step = max(increment, 1)
    start = step - 1
    boundaries = values[int(start) :: int(step)]
    weights = np.ones_like(boundaries) * step
    return np.stack([boundaries, weights])


def _merge_summaries(prev: np.ndarray, nxt: np.ndarray | None, epsilon: float) -> np.ndarray:
    merged = np.concatenate((prev, nxt if nxt is not None else prev[:, :0]), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return _compress_summary(merged, epsilon)


def _compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def _batches(data: Any, steps: int | None, numeric: bool = False) -> Iterable[Any]:
    """``adapt``'s data as batches, Keras's rule: an array, list or tuple (or a tensor) is
    one batch; any other iterable (a ``dl.data.Dataset``, a generator) yields batches, at
    most ``steps`` of them. ``Discretization`` (``numeric``) iterates lists too, as Keras."""
    single = (np.ndarray,) if numeric else (np.ndarray, list, tuple)
    if isinstance(data, single) or hasattr(data, "shape"):
        yield data
        return
    if not hasattr(data, "__iter__"):
        raise ConfigError(
            "adapt() takes an array, a list, or an iterable of batches (a dl.data.Dataset). "
            f"Received: {type(data).__name__}. Fix: pass the data as a numpy array."
        )
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        yield batch
