"""Symbolic tensors, ``Input`` and ``InputLayer``: the entry points of a functional graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _naming, config
from ..errors import ConfigError
from ..ops._operators import TensorOperators
from ._layer import REGISTRY, Layer, Shape


@dataclass(eq=False)
class FNode:
    """One call of ``layer`` on symbolic ``inputs``, producing ``outputs``."""

    layer: Layer
    inputs: list[SymbolicTensor]
    outputs: list[SymbolicTensor]
    list_input: bool
    kwargs: dict[str, Any] = field(default_factory=dict)


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
        int_dtype = dtype if dtype in INT_TYPES else None  # token ids (Embedding)
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
    """A symbolic model input (``keras.Input``): ``shape`` excludes the batch dimension."""
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
    """Record ``layer(inputs)`` in the graph and return symbolic outputs."""
    list_input = isinstance(inputs, (list, tuple))
    flat: list[SymbolicTensor] = list(inputs) if list_input else [inputs]
    in_shape: Any = [t.shape for t in flat] if list_input else flat[0].shape
    layer._ensure_built(in_shape)
    out_shape = layer.output_shape
    multi = isinstance(out_shape, list)
    shapes = out_shape if multi else [out_shape]
    node = FNode(layer, flat, [], list_input, dict(kwargs))
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
