"""``Sequential``: a linear stack of layers, built as a functional graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..layers._input import Input, InputLayer, SymbolicTensor
from ..layers._layer import REGISTRY, Layer
from ._model import Model


@REGISTRY.register()
class Sequential(Model):
    """``Sequential([Input((64,)), Dense(128, activation="relu"), Dense(10)])``.

    The input shape comes from a leading ``Input``/``InputLayer``, a first layer's
    ``input_shape=`` argument, ``model.build(input_shape)``, or the first data seen.
    """

    def __init__(
        self,
        layers: Sequence[Any] | None = None,
        name: str | None = None,
        backend: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, backend=backend, **kwargs)
        self._stack: list[Layer] = []
        self._input: SymbolicTensor | None = None
        for layer in layers or []:
            self.add(layer, rebuild=False)
        if self._input is not None and self._stack:
            self._trace()  # once, as Keras: each layer's first call is in the model's graph

    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append a layer (an ``Input`` only as the first element); ``rebuild=False`` defers
        tracing the graph (Keras's argument)."""
        if isinstance(layer, SymbolicTensor) or isinstance(layer, InputLayer):
            if self._stack or self._input is not None:
                raise ConfigError("An Input can only be the first element of a Sequential model.")
            self._input = layer if isinstance(layer, SymbolicTensor) else layer.tensor
            return
        if not isinstance(layer, Layer):
            raise ConfigError(
                f"Sequential takes Layer instances. Received: {layer!r} "
                f"({type(layer).__name__}). Fix: e.g. dl.layers.Dense(10)."
            )
        if not self._stack and self._input is None and layer._input_shape_arg is not None:
            self._input = Input(layer._input_shape_arg, dtype=layer.dtype)
        if any(existing is layer for existing in self._stack):
            raise ConfigError(f"Layer {layer.name!r} is already in this model.")
        self._stack.append(layer)
        self._graph = None
        if self._runtime is not None:
            raise ConfigError("Cannot add layers to a model that has already been run.")
        if rebuild and self._input is not None:
            self._trace()

    def _trace(self) -> None:
        assert self._input is not None
        x: Any = self._input
        for layer in self._stack:
            x = layer(x)
        self._set_graph(self._input, x)

    def build(self, input_shape: Any = None) -> None:
        """Build for ``input_shape`` (batch dimension included, e.g. ``(None, 64)``)."""
        if self._graph is not None:
            return
        if input_shape is None:
            raise ConfigError("Sequential.build needs an input shape such as (None, 64).")
        dtype = self._stack[0].dtype if self._stack else None
        self._input = Input(tuple(input_shape)[1:], dtype=dtype)
        self._trace()

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def pop(self) -> Layer:
        if self._runtime is not None:
            raise ConfigError("Cannot pop layers from a model that has already been run.")
        layer = self._stack.pop()
        self._graph = None
        if self._input is not None and self._stack:
            self._trace()
        return layer

    def get_config(self) -> dict[str, Any]:
        from ..saving._config import sequential_config

        return sequential_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        from ..saving._config import sequential_from_config

        return sequential_from_config(config)
