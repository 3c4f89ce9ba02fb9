"""``dl.ops`` on symbolic tensors: each call becomes an ``OpLayer`` node of the graph, and
output shapes come from running the numpy reference on small zero arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import ConfigError, ShapeError


def _probe(shape: Sequence[int | None], batch: int, dtype: str) -> np.ndarray:
    return np.zeros(tuple(batch if d is None else d for d in shape), dtype=dtype)


def _shapes_of(out: Any) -> Any:
    if isinstance(out, (list, tuple)):
        return [tuple(np.shape(o)) for o in out]
    return tuple(np.shape(out))


def infer_output_shape(fn: Any, input_shape: Any, dtypes: Sequence[str] | None = None) -> Any:
    """Output shape(s) of ``fn(inputs)`` (run with the numpy ops) for ``input_shape``
    (batch ``None``): probed with batch sizes 2 and 3; axes that follow the batch become None."""
    from . import numpy_mode

    many = isinstance(input_shape, list)
    shapes = input_shape if many else [input_shape]
    dts = list(dtypes) if dtypes else [config.floatx()] * len(shapes)
    results = []
    for batch in (2, 3):
        xs = [_probe(s, batch, dt) for s, dt in zip(shapes, dts, strict=True)]
        with numpy_mode():
            try:
                out = fn(xs if many else xs[0])
            except Exception as exc:  # report which layer/op could not run on that shape
                raise ShapeError(
                    f"Cannot infer the output shape for input shape {input_shape}: running it "
                    f"with the numpy reference raised {type(exc).__name__}: {exc}. Fix: check "
                    "the input shape, or define compute_output_shape()."
                ) from None
        results.append(_shapes_of(out))
    a, b = results

    def merge(s1: tuple[int, ...], s2: tuple[int, ...]) -> tuple[int | None, ...]:
        return tuple(None if x != y else x for x, y in zip(s1, s2, strict=True))

    if isinstance(a, list):
        return [merge(x, y) for x, y in zip(a, b, strict=True)]
    return merge(a, b)


def _encode(value: Any, tensors: list[Any], sym: type) -> Any:
    if isinstance(value, sym):
        tensors.append(value)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, sym) for v in value]}
    if isinstance(value, list):
        return [_encode(v, tensors, sym) for v in value]
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, slice):
        return {"__slice__": [value.start, value.stop, value.step]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, np.generic):
        return value.item()
    raise ConfigError(
        f"dl.ops on symbolic tensors takes tensors, numbers, strings, lists and numpy arrays. "
        f"Received {type(value).__name__}. Fix: wrap the computation in a custom layer."
    )


def decode(value: Any, tensors: Sequence[Any]) -> Any:
    if isinstance(value, dict) and "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if isinstance(value, dict) and "__slice__" in value:
        return slice(*value["__slice__"])
    if isinstance(value, dict) and "__ellipsis__" in value:
        return Ellipsis
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(decode(v, tensors) for v in value["__tuple__"])
    if isinstance(value, dict) and "__array__" in value:
        return np.asarray(value["__array__"], dtype=value["dtype"])
    if isinstance(value, list):
        return [decode(v, tensors) for v in value]
    return value


def symbolic_call(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    from ..layers._custom import OpLayer
    from ..layers._input import SymbolicTensor

    tensors: list[Any] = []
    enc_args = [_encode(a, tensors, SymbolicTensor) for a in args]
    enc_kwargs = {k: _encode(v, tensors, SymbolicTensor) for k, v in kwargs.items()}
    layer = OpLayer(name, enc_args, enc_kwargs, input_dtypes=[t.dtype for t in tensors])
    return layer(list(tensors))
