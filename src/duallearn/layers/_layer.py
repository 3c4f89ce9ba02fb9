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

import inspect
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _naming, config
from .. import constraints as _constraints
from .. import initializers as _init
from .. import regularizers as _regularizers
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
        activity_regularizer: Any = None,
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
        # Keras 3: every layer takes one; its penalty on each output (÷ batch size) joins the
        # loss (dl.regularizers; layers/_add_loss.py)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
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
        *args: Any,
        shape: Sequence[int] | None = None,
        initializer: object = None,
        dtype: str | None = None,
        trainable: bool = True,
        autocast: bool = True,
        regularizer: object = None,
        constraint: object = None,
        aggregation: str | None = "none",
        overwrite_with_gradient: bool = False,
        name: str | None = None,
    ) -> Weight:
        """Create a weight (canonical layout), drawn now from the seeded stream (Keras 3's
        signature): ``add_weight((3, 4), "random_normal")`` or
        ``add_weight(shape=(3, 4), initializer="zeros", name="b", trainable=False)``.

        ``shape`` defaults to ``()``; ``initializer`` to ``"glorot_uniform"`` for float dtypes
        and ``"zeros"`` otherwise; ``dtype`` to the layer's; ``name`` to ``"variable"``,
        ``"variable_1"``... (Keras's automatic names). ``regularizer`` and ``constraint`` are
        resolved (``dl.regularizers.get``, ``dl.constraints.get``) and stored on the variable
        (``variable.regularizer``, ``variable.constraint``), as are ``autocast``,
        ``aggregation`` and ``overwrite_with_gradient``.
        duallearn's earlier name-first form ``add_weight("kernel", shape, initializer,
        trainable, dtype)`` is still accepted (Keras 3 refuses a positional name).
        """
        given: dict[str, Any] = {"shape": shape, "initializer": initializer, "dtype": dtype}
        if args and isinstance(args[0], str):  # add_weight(name, shape, init, trainable, dtype)
            order: tuple[str, ...] = ("name", "shape", "initializer", "trainable", "dtype")
            given["name"] = name
        else:
            order = ("shape", "initializer", "dtype")
        if len(args) > len(order):
            raise ConfigError(
                f"add_weight() takes at most {len(order)} positional arguments "
                f"({', '.join(order)}) but {len(args)} were given. Fix: pass the others by "
                "keyword, e.g. add_weight(shape=(3, 4), initializer='zeros', trainable=False)."
            )
        for key, value in zip(order, args, strict=False):
            if key == "trainable":
                trainable = value
                continue
            if given[key] is not None:
                raise ConfigError(
                    f"add_weight(): `{key}` was passed both positionally and as a keyword "
                    "argument. Fix: pass it once."
                )
            given[key] = value
        shape, initializer, dtype = given["shape"], given["initializer"], given["dtype"]
        name = given.get("name", name)
        dims = _weight_shape(self, shape)
        dt = self.dtype if dtype is None else _weight_dtype(self, dtype)
        if initializer is None:
            initializer = "glorot_uniform" if "float" in dt else "zeros"
        if aggregation not in _AGGREGATIONS:
            raise ConfigError(
                "Invalid value for argument `aggregation`. Expected one of `None`, `'none'`, "
                f"`'mean'`, `'sum'`, `'only_first_replica'`. Received: aggregation={aggregation!r}."
            )
        w = Variable(
            name or _naming.unique_name("variable"),
            dims,
            dt,
            _init.get(initializer),
            bool(trainable),
            owner=self,
        )
        w.regularizer = _regularizers.get(regularizer)
        w.constraint = _constraints.get(constraint)
        attrs = {
            "autocast": bool(autocast),
            "aggregation": aggregation or "none",
            "overwrite_with_gradient": bool(overwrite_with_gradient),
        }
        for key, value in attrs.items():
            setattr(w, key, value)
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
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``layer(x)``, ``layer([a, b])``, or, when ``call`` takes them, several tensors and
        keyword arguments (``layer(targets, logits)``, ``layer(x, mask=m)``), as Keras 3.
        ``training`` reaches ``call`` only when ``call`` names it; in a model, the model's
        mode decides it (Keras 3's functional rule)."""
        from ..ops import _dispatch
        from ._input import CallArgs, SymbolicTensor, call_symbolic

        inputs = _call_inputs(self, args, kwargs)
        if isinstance(inputs, CallArgs):
            kwargs = {k: v for k, v in kwargs.items() if k == "training"}
        if _dispatch.in_native_call():  # a sublayer inside a custom layer's call()
            return _dispatch.call_sublayer(self, inputs, kwargs)
        if isinstance(inputs, CallArgs):
            if inputs.leaves(lambda v: isinstance(v, SymbolicTensor)):
                return call_symbolic(self, inputs, **kwargs)
            return REGISTRY.get("Model").call_layer_eagerly(self, inputs, **kwargs)

        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if flat and all(isinstance(t, SymbolicTensor) for t in flat):
            return call_symbolic(self, inputs, **kwargs)
        # on arrays: a one-layer model runs it (the Model class comes from the registry:
        # layers never import models)
        return REGISTRY.get("Model").call_layer_eagerly(self, inputs, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    # ---- added losses (Keras 3's add_loss / losses; layers/_add_loss.py) -------------------
    def add_loss(self, loss: Any) -> None:
        """Inside ``call()``: add the scalar ``loss`` (a ``dl.ops`` tensor; a list of them, a
        non-scalar one summed) to the loss of this forward. The model's training loss is
        ``compiled loss + Σ added losses + Σ weight penalties`` (Keras 3), computed natively
        in the step."""
        from ._add_loss import add

        add(self, loss)

    @property
    def losses(self) -> list[np.ndarray]:
        """Keras 3's ``layer.losses``: the losses this layer and its sublayers added in their
        last call (``add_loss``, ``activity_regularizer``), then the penalty
        ``regularizer(w)`` of each trainable weight that has one, recomputed on its current
        value. Numpy scalars."""
        from ._add_loss import call_losses, regularization_losses

        return call_losses(self) + regularization_losses(self)

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
        if getattr(self, "activity_regularizer", None) is not None:  # Keras: only when set
            cfg["activity_regularizer"] = _regularizers.serialize(self.activity_regularizer)
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


_AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")


def _call_inputs(layer: Layer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What ``layer(*args, **kwargs)`` calls on: ``args[0]`` for the one-input form, or a
    :class:`CallArgs` when a custom layer's ``call`` gets several arguments or keywords other
    than ``training`` (checked against ``call``'s signature, as Keras binds them)."""
    from ._custom import user_call
    from ._input import CallArgs

    extra = [k for k in kwargs if k != "training"]
    custom = user_call(layer)
    if len(args) == 1 and not (extra and custom):
        if custom:
            _bind(layer, args, {})
        return args[0]
    if not custom or not (args or extra):
        what = "no input" if not args else f"{len(args)} positional arguments"
        raise ConfigError(
            f"Layer {layer.name!r} ({type(layer).__name__}) takes one input: a tensor, or a "
            f"list of tensors. Received: {what}. Fix: layer(x), or layer([a, b]) for a layer "
            "of several inputs."
        )
    call = CallArgs(tuple(args), {k: kwargs[k] for k in extra})
    _bind(layer, call.args, call.kwargs)
    return call


def _bind(layer: Layer, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """Raise a ConfigError (Keras: TypeError) when ``call`` cannot take these arguments."""
    sig = inspect.signature(layer.call)  # type: ignore[attr-defined]
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"Layer {layer.name!r} ({type(layer).__name__}) cannot be called with these "
            f"arguments: {exc}. Expected: the arguments of its call{sig}. Fix: pass what "
            "call() takes (training and mask only when call names them)."
        ) from None


def _weight_dtype(layer: Layer, dtype: object) -> str:
    """``add_weight``'s dtype as a name (``"float32"``, ``"int32"``, ``"bfloat16"``)."""
    if str(dtype) == "bfloat16":
        return "bfloat16"
    try:
        return np.dtype(dtype).name  # type: ignore[call-overload,no-any-return]
    except TypeError:
        raise ConfigError(
            f"Layer {layer.name!r}: add_weight got an unknown dtype. Received: dtype={dtype!r}. "
            "Fix: e.g. dtype='float32' or 'int32'."
        ) from None


def _weight_shape(layer: Layer, shape: object) -> tuple[int, ...]:
    """``add_weight``'s shape as a tuple of ints >= 0 (None: a scalar)."""
    if shape is None:
        return ()
    bad = isinstance(shape, (str, int, float)) or not hasattr(shape, "__iter__")
    dims: list[int] = []
    if not bad:
        for d in shape:  # type: ignore[attr-defined]
            if d is None or isinstance(d, (bool, str, float)):
                bad = True
                break
            try:
                dims.append(int(d))
            except (TypeError, ValueError):
                bad = True
                break
            if dims[-1] < 0:
                bad = True
                break
    if bad:
        raise ConfigError(
            f"Layer {layer.name!r}: add_weight needs a fully defined shape (a tuple of ints "
            f">= 0). Received: shape={shape!r}. Fix: e.g. shape=(input_shape[-1], units), "
            "or shape=(n,) for a vector."
        )
    return tuple(dims)


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
