"""Symbolic tensors, ``Input`` and ``InputLayer``: the entry points of a functional graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _naming, config
from ..errors import ConfigError
from ..ops._operators import TensorOperators
from ._layer import REGISTRY, Layer, Shape


@dataclass(eq=False)
class FNode:
    """One call of ``layer`` on symbolic ``inputs``, producing ``outputs``.

    ``call_args``: for a call with several tensor arguments (``layer(a, b, mask=m)``), the
    arguments as :func:`encode_call` wrote them; ``inputs`` then lists every tensor they hold,
    in order (Keras's node arguments), and :class:`CallArgs` rebuilds the call."""

    layer: Layer
    inputs: list[SymbolicTensor]
    outputs: list[SymbolicTensor]
    list_input: bool
    kwargs: dict[str, Any] = field(default_factory=dict)
    call_args: dict[str, Any] | None = None


@dataclass
class CallArgs:
    """The arguments of one call of a layer whose ``call`` takes several tensors (or keyword
    arguments): ``layer.call(*args, **kwargs)``. Graph walks rebuild it from a node's
    ``call_args`` and its input tensors (:meth:`rebuild`); native layers receive it as their
    input."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    @classmethod
    def rebuild(cls, template: dict[str, Any], tensors: Sequence[Any]) -> CallArgs:
        """The call recorded as ``template`` with its tensor slots filled from ``tensors``."""
        return cls(
            tuple(decode_call(a, tensors) for a in template["args"]),
            {k: decode_call(v, tensors) for k, v in template["kwargs"].items()},
        )

    def map(self, fn: Any, is_leaf: Any) -> CallArgs:
        """A copy with every leaf for which ``is_leaf`` holds replaced by ``fn(leaf)``."""
        return CallArgs(
            tuple(_map(a, fn, is_leaf) for a in self.args),
            {k: _map(v, fn, is_leaf) for k, v in self.kwargs.items()},
        )

    def leaves(self, is_leaf: Any) -> list[Any]:
        """The leaves for which ``is_leaf`` holds, in argument order."""
        found: list[Any] = []

        def keep(v: Any) -> Any:
            found.append(v)
            return v

        self.map(keep, is_leaf)
        return found


def _map(value: Any, fn: Any, is_leaf: Any) -> Any:
    if is_leaf(value):
        return fn(value)
    if isinstance(value, tuple):
        return tuple(_map(v, fn, is_leaf) for v in value)
    if isinstance(value, list):
        return [_map(v, fn, is_leaf) for v in value]
    if isinstance(value, dict):
        return {k: _map(v, fn, is_leaf) for k, v in value.items()}
    return value


def encode_call(value: Any, tensors: list[SymbolicTensor], who: str) -> Any:
    """``value`` (a call argument) as JSON, each symbolic tensor replaced by its index in
    ``tensors`` (appended); constants (numbers, strings, None, numpy arrays) kept."""
    if isinstance(value, SymbolicTensor):
        tensors.append(value)
        return {"__tensor__": len(tensors) - 1}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_call(v, tensors, who) for v in value]}
    if isinstance(value, list):
        return [encode_call(v, tensors, who) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode_call(v, tensors, who) for k, v in value.items()}}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(
        f"{who} was called on symbolic tensors with an argument of type "
        f"{type(value).__name__}. Expected: tensors, numbers, strings, None, numpy arrays, "
        "and lists, tuples or dicts of them (a functional graph stores the call). Fix: pass "
        "the value to the layer's constructor instead."
    )


def decode_call(value: Any, tensors: Sequence[Any]) -> Any:
    """The inverse of :func:`encode_call`, with ``tensors`` in the slots."""
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__tuple__" in value:
            return tuple(decode_call(v, tensors) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: decode_call(v, tensors) for k, v in value["__dict__"].items()}
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=value["dtype"])
    if isinstance(value, list):
        return [decode_call(v, tensors) for v in value]
    return value


class SymbolicTensor(TensorOperators):
    """A placeholder for data of a given shape (batch dimension ``None``) in a graph.
    Python operators (``a + b``, ``x @ w``) record ``dl.ops`` calls in the graph."""

    def __init__(self, shape: Shape, dtype: str, name: str, node: FNode | None = None) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = name
        self.node = node  # the call that produced it (None for model inputs)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} name={self.name}>"


def _shape_arg(shape: object, who: str) -> tuple[int | None, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        s is None or (isinstance(s, int) and not isinstance(s, bool) and s > 0) for s in shape
    ):
        raise ConfigError(
            f"{who}: shape must be a tuple of positive ints (or None), without the batch "
            f"dimension. Received: shape={shape!r}. Fix: e.g. shape=(64,) or (28, 28, 1)."
        )
    return tuple(shape)


INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


@REGISTRY.register()
class InputLayer(Layer):
    """Marks the input of a model: ``shape`` excludes the batch dimension."""

    def __init__(
        self,
        shape: Sequence[int | None] | None = None,
        batch_size: int | None = None,
        dtype: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if shape is None and "batch_shape" in kwargs:
            batch_shape = kwargs.pop("batch_shape")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        kwargs.pop("sparse", None)
        # token ids, masks, and strings (which only host-side preprocessing layers take)
        int_dtype = dtype if dtype in (*INT_TYPES, "bool", "string") else None
        super().__init__(
            name=name or _naming.unique_name("input_layer"),
            dtype=None if int_dtype else dtype,
            **kwargs,
        )
        if int_dtype:
            self.dtype = int_dtype
        if shape is None:
            raise ConfigError("InputLayer needs shape=. Received: shape=None.")
        self.shape = _shape_arg(shape, "InputLayer")
        self.batch_size = batch_size
        self.built = True
        self.output_shape = (batch_size, *self.shape)
        self.tensor = SymbolicTensor(self.output_shape, self.dtype, self.name)
        self.tensor.node = FNode(self, [], [self.tensor], False)
        self._inbound_nodes.append(self.tensor.node)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return x

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": [self.batch_size, *self.shape],
            "dtype": self.dtype,
            "name": self.name,
        }


def Input(  # noqa: N802 (Keras's name)
    shape: Sequence[int | None] | int | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    name: str | None = None,
) -> SymbolicTensor:
    """A symbolic model input (``keras.Input``): ``shape`` excludes the batch dimension.

    ``dtype="string"`` declares text: such an input may only feed host-side preprocessing
    layers (``TextVectorization``, ``StringLookup``, ``Hashing``, ...), which the model runs
    on the host, per batch, before its native part (docs/text_preprocessing.md)."""
    if shape is None:
        raise ConfigError("Input needs a shape, without the batch dimension, e.g. Input((64,)).")
    layer = InputLayer(
        shape=_shape_arg(shape, "Input"),
        batch_size=batch_size,
        dtype=dtype or config.floatx(),
        name=name,
    )
    return layer.tensor


def call_symbolic(layer: Layer, inputs: Any, **kwargs: Any) -> Any:
    """Record ``layer(inputs)`` in the graph and return symbolic outputs. ``inputs`` may be
    a :class:`CallArgs` (a call with several tensor arguments): every tensor it holds becomes
    an input of the node, and the call's structure is kept in ``FNode.call_args``."""
    if isinstance(inputs, CallArgs):
        flat: list[SymbolicTensor] = []
        template = {
            "args": [encode_call(a, flat, repr(layer)) for a in inputs.args],
            "kwargs": {k: encode_call(v, flat, repr(layer)) for k, v in inputs.kwargs.items()},
        }
        from ._custom import build_for_call

        build_for_call(layer, template, flat)
        node = FNode(layer, flat, [], True, dict(kwargs), call_args=template)
        return _outputs(layer, node)
    list_input = isinstance(inputs, (list, tuple))
    flat = list(inputs) if list_input else [inputs]
    in_shape: Any = [t.shape for t in flat] if list_input else flat[0].shape
    layer._ensure_built(in_shape)
    node = FNode(layer, flat, [], list_input, dict(kwargs))
    return _outputs(layer, node)


def _outputs(layer: Layer, node: FNode) -> Any:
    out_shape = layer.output_shape
    multi = isinstance(out_shape, list)
    shapes = out_shape if multi else [out_shape]
    outs = [
        SymbolicTensor(
            s,  # type: ignore[arg-type]
            layer.dtype,
            f"{layer.name}/out{i}" if multi else layer.name,
            node,
        )
        for i, s in enumerate(shapes)  # type: ignore[arg-type]
    ]
    node.outputs = outs
    layer._inbound_nodes.append(node)
    return outs if multi else outs[0]
