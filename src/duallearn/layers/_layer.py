"""The Layer base class: a layer's meaning (config, weight layout, formula, numpy reference).

A layer never computes on a framework itself: a backend builds the native module for it.
Subclasses define

* ``build(input_shape)``: create weights with :meth:`Layer.add_weight` (canonical layout);
* ``compute_output_shape(input_shape)``;
* ``reference(weights, x, training, noise)``: the numpy forward, the test oracle;
* ``reference_backward(weights, x, y, dy, training, noise)``: its vector-Jacobian product;
* ``get_config()``: the JSON-serializable constructor arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _naming, config
from .. import initializers as _init
from .._registry import Registry
from ..errors import ConfigError, NotBuiltError, ShapeError
from ..variables import Variable

if TYPE_CHECKING:
    from ._input import SymbolicTensor

Shape = tuple[int | None, ...]
REGISTRY = Registry("layer", providers=("duallearn.models",))  # models are layers too


Weight = Variable  # the name used before variables had their own module


class Layer:
    """Base class of every layer (Keras 3 names and arguments).

    ``supports_masking``: the layer passes an incoming Keras mask through unchanged.
    ``produces_mask``: the layer can create a mask (e.g. ``Embedding(mask_zero=True)``);
    backends carry masks through a graph only when some layer produces one.
    """

    supports_masking = False
    produces_mask = False

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype: str | None = None,
        trainable: bool = True,
        input_shape: Sequence[int | None] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise ConfigError(
                f"{type(self).__name__} got unexpected keyword arguments: "
                f"{', '.join(sorted(kwargs))}. Fix: remove them or check their spelling."
            )
        if dtype is not None and dtype not in config.FLOAT_TYPES:
            raise ConfigError(
                f"{type(self).__name__}: dtype must be one of {config.FLOAT_TYPES}. "
                f"Received: dtype={dtype!r}."
            )
        self.name = name or _naming.unique_name(_naming.snake_case(type(self).__name__))
        self.dtype = dtype or config.floatx()
        self.trainable = bool(trainable)
        self.built = False
        self._weights: list[Weight] = []
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.input_shape: Shape | None = None
        self.output_shape: Shape | tuple[Shape, ...] | None = None
        self._inbound_nodes: list[Any] = []

    # ---- trainable -----------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """Whether the layer's weights train. Setting it sets every sublayer's flag too
        (a model's layers, a custom layer's tracked sublayers), as Keras 3 does, so a frozen
        base model's BatchNormalization runs on its moving statistics. Takes effect in a
        model at its next ``compile()``."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self) -> list[Layer]:
        """Layers this layer contains (their ``trainable`` follows this layer's)."""
        if "_weights" not in vars(self):  # still in __init__
            return []
        from ._custom import tracked_sublayers

        return tracked_sublayers(self)

    # ---- weights -------------------------------------------------------------------------
    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: object = "glorot_uniform",
        trainable: bool = True,
        dtype: str | None = None,
    ) -> Weight:
        """Create a weight (canonical layout), drawn now from the seeded stream."""
        w = Variable(
            name, tuple(shape), dtype or self.dtype, _init.get(initializer), trainable, owner=self
        )
        self._weights.append(w)
        return w

    @property
    def weights(self) -> list[Weight]:
        """All weights: trainable first, then non-trainable, each in creation order (Keras);
        a custom layer's sublayers' weights follow its own (Keras's tracking order)."""
        own = self._own_trainable() + self._own_non_trainable()
        return own + self._sublayer_weights()

    def _own_trainable(self) -> list[Weight]:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    def _own_non_trainable(self) -> list[Weight]:
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def _sublayer_weights(self) -> list[Weight]:
        from ._custom import tracked_sublayers, user_call

        if not user_call(self):
            return []
        return [w for layer in tracked_sublayers(self) for w in layer.weights]

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return []
        subs = self._sublayer_weights()
        mine = [w for w in subs if w.trainable and _trainable_in(w, self)]
        return self._own_trainable() + mine

    @property
    def non_trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return self._own_non_trainable() + self._sublayer_weights()
        train = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in train]

    def get_weights(self) -> list[np.ndarray]:
        """Current values, canonical layout: the layer's variables, which every model
        containing the layer shares."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load values in :meth:`get_weights` order; shapes must match exactly."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ShapeError(
                f"Layer {self.name!r} expects {len(mine)} weight arrays "
                f"({', '.join(w.name + str(w.shape) for w in mine)}). Received {len(weights)}."
            )
        for w, v in zip(mine, weights, strict=True):
            arr = np.asarray(v)
            if arr.shape != w.shape:
                raise ShapeError(
                    f"Layer {self.name!r} weight {w.name!r} has shape {w.shape}. "
                    f"Received an array of shape {arr.shape}. Fix: pass arrays in the canonical "
                    "(Keras) layout, e.g. from keras_model.get_weights()."
                )
        for w, v in zip(mine, weights, strict=True):
            w.assign(v)

    def count_params(self) -> int:
        return sum(math.prod(w.shape) for w in self._weights) + sum(
            math.prod(w.shape) for w in self._sublayer_weights()
        )

    # ---- building ------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create the weights for ``input_shape`` (batch dimension included, as None)."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Built-in layers override this; a custom layer's ``call`` written with ``dl.ops``
        is run with the numpy reference on small zero inputs to find it."""
        call = getattr(type(self), "call", None)
        if call is not None and not call.__module__.startswith("duallearn."):
            from ._custom import infer_shape

            return infer_shape(self, input_shape)
        return input_shape

    def _ensure_built(self, input_shape: Any) -> None:
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
        self.output_shape = self.compute_output_shape(input_shape)

    def check_input_shape(self, expected: Any, received: Any) -> None:
        """Raise a ShapeError naming this layer when ``received`` does not fit ``expected``."""
        if not _shape_fits(expected, received):
            raise ShapeError(
                f"Layer {self.name!r} ({type(self).__name__}) expects input shape {expected}. "
                f"Received: {received}. Fix: reshape the data, or rebuild the model for it."
            )

    # ---- calling -------------------------------------------------------------------------
    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        from ..ops import _dispatch
        from ._input import SymbolicTensor, call_symbolic

        if _dispatch.in_native_call():  # a sublayer inside a custom layer's call()
            return _dispatch.call_sublayer(self, inputs, kwargs)

        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if flat and all(isinstance(t, SymbolicTensor) for t in flat):
            return call_symbolic(self, inputs, **kwargs)
        # on arrays: a one-layer model runs it (the Model class comes from the registry:
        # layers never import models)
        return REGISTRY.get("Model").call_layer_eagerly(self, inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    # ---- numpy reference -----------------------------------------------------------------
    def reference(
        self,
        weights: Sequence[np.ndarray],
        x: Any,
        training: bool = False,
        noise: np.ndarray | None = None,
    ) -> Any:
        """Numpy forward pass: the formula in the docstring, used as the test oracle."""
        raise NotImplementedError(f"{type(self).__name__} has no numpy reference yet")

    def reference_backward(
        self,
        weights: Sequence[np.ndarray],
        x: Any,
        y: Any,
        dy: Any,
        training: bool = False,
        noise: np.ndarray | None = None,
    ) -> tuple[Any, list[np.ndarray]]:
        """Numpy vector-Jacobian product: ``(dL/dx, [dL/dw for w in trainable weights])``."""
        raise NotImplementedError(f"{type(self).__name__} has no numpy backward yet")

    # ---- randomness in training -----------------------------------------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """Shape of the per-step random mask this layer needs in training (None: no mask)."""
        return None

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"

    def _require_built(self) -> None:
        if not self.built:
            raise NotBuiltError(
                f"Layer {self.name!r} is not built yet: its input shape is unknown. "
                "Fix: call it on data or symbolic input first, or give the model an Input."
            )

    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call in a functional graph, as Keras's
        ``Layer.input``: one tensor, or a list when that call took several."""
        if not self._inbound_nodes:
            raise NotBuiltError(
                f"Layer {self.name!r} has never been called on symbolic input, so it has no "
                "input tensor. Expected: a call such as layer(dl.Input(shape)) (calls on "
                "arrays record none). Fix: use the layer in a model built from dl.Input first."
            )
        ins = self._inbound_nodes[0].inputs
        return ins[0] if len(ins) == 1 else list(ins)

    @property
    def output(self) -> SymbolicTensor:
        """The symbolic output of this layer's first call in a functional graph."""
        if not self._inbound_nodes:
            raise NotBuiltError(
                f"Layer {self.name!r} has not been called on symbolic input, so it has no "
                "output tensor. Fix: build the model with dl.Input first."
            )
        outs = self._inbound_nodes[0].outputs
        return outs[0] if len(outs) == 1 else outs  # type: ignore[no-any-return]


def _trainable_in(w: Weight, layer: Layer) -> bool:
    """Whether sublayer weight ``w`` is trainable within ``layer`` (its sublayer is)."""
    from ._custom import tracked_sublayers

    return any(any(w is t for t in sub.trainable_weights) for sub in tracked_sublayers(layer))


def _shape_fits(expected: Any, received: Any) -> bool:
    if expected is None:
        return True
    if len(expected) != len(received):
        return False
    return all(e is None or r is None or e == r for e, r in zip(expected, received, strict=True))


def positive_int(layer: str, name: str, value: object) -> int:
    """Validate a strictly positive integer hyperparameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(
            f"{layer}: {name} must be a positive integer. Received: {name}={value!r}. "
            f"Fix: pass an int >= 1."
        )
    return int(value)
