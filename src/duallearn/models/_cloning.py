"""``clone_model``: the same architecture on new layers, with new, freshly initialised
variables (Keras 3's ``keras.models.clone_model``).

A Sequential model is rebuilt from its list of layers, a functional model by replaying its
graph's wiring (``saving._config.graph_structure``) on the new layers, a subclassed model from
its config. Each layer goes through ``clone_function`` once (a layer used twice stays one
layer), so a function that returns the layer itself shares it, and its variables, with the
original.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, DuallearnError
from ..layers._custom import Lambda, _NativeModule
from ..layers._input import Input, SymbolicTensor
from ..layers._layer import Layer
from ._model import Model
from ._sequential import Sequential

CloneFunction = Callable[[Layer], Layer]


def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: CloneFunction | None = None,
    call_function: Callable[..., Any] | None = None,
    recursive: bool = False,
) -> Model:
    """A copy of ``model``'s architecture on new layers (new variables, freshly initialised).

    Arguments (Keras 3's):

    * ``input_tensors``: symbolic tensors to build the copy on (default: new ``Input`` layers like
      the model's), one per model input (a dict for a model with dict inputs).
    * ``clone_function(layer) -> layer``: makes each layer's copy (default:
      ``type(layer).from_config(layer.get_config())``). Return ``layer`` itself to share it
      (and its variables) with the original.
    * ``call_function(layer, x) -> y``: calls each copied layer (functional models only), e.g.
      to insert a layer after some of them.
    * ``recursive``: clone nested Sequential/functional models with ``clone_function`` too
      (otherwise ``clone_function`` receives the nested model; the default clones it).

    The copy runs on the backend active now (so cloning under ``dl.use_backend(...)`` gives a
    copy for another engine), has the model's name, and is compiled like the model if the
    model is compiled (a new optimizer of the same config). As in Keras, a Sequential copy
    keeps ``model.trainable``, a functional one is trainable. Subclassed models are rebuilt
    from ``get_config()`` and take no ``input_tensors``, ``clone_function`` or
    ``call_function``. ``dl.ops`` calls in a graph are always copied from their config.

    >>> import duallearn as dl
    >>> model = dl.Sequential([dl.Input((4,)), dl.layers.Dense(2)])
    >>> twin = dl.models.clone_model(model)
    >>> twin.get_config() == model.get_config(), twin.weights[0] is model.weights[0]
    (True, False)
    """
    return _clone(model, input_tensors, clone_function, call_function, recursive, {})


def _clone(
    model: Any,
    input_tensors: Any,
    clone_function: CloneFunction | None,
    call_function: Callable[..., Any] | None,
    recursive: bool,
    cache: dict[int, Layer],
) -> Model:
    if not isinstance(model, Model):
        raise ConfigError(
            "clone_model expects a dl.Model (Sequential, functional or subclassed). "
            f"Received: {type(model).__name__}. Fix: to copy one layer, use "
            "type(layer).from_config(layer.get_config())."
        )
    for name, fn in (("clone_function", clone_function), ("call_function", call_function)):
        if fn is not None and not callable(fn):
            raise ConfigError(
                f"clone_model: {name} must be a callable. Received: {name}={fn!r}. "
                "Fix: pass a function, e.g. clone_function=lambda layer: layer."
            )
    if _subclassed(model):
        if input_tensors is not None or clone_function is not None or call_function is not None:
            raise ConfigError(
                f"clone_model: model {model.name!r} is a subclassed {type(model).__name__}, "
                "whose layers are made by its own code. Expected: no input_tensors, "
                "clone_function or call_function. Fix: drop them, or clone a Sequential or "
                "functional model."
            )
        clone = _from_config(model)
    else:
        make = _memoised(clone_function, call_function, recursive, cache)
        if isinstance(model, Sequential):
            if call_function is not None:
                raise ConfigError(
                    f"clone_model: call_function applies to functional models only; model "
                    f"{model.name!r} is Sequential, whose layers are listed, not called. "
                    "Fix: drop call_function, or clone a functional model."
                )
            clone = _clone_sequential(model, make, input_tensors)
        else:
            clone = _clone_functional(model, make, input_tensors, call_function, cache)
    if model._compile_args is not None and model.optimizer is not None:
        from .. import losses as _losses
        from ..saving import _compile_config, _restore_compile

        own = _losses.custom_objects_of(model._per_output(model._compile_args["loss"], "loss"))
        _restore_compile(
            clone, _compile_config(model), None, f"clone_model({model.name!r})", custom_objects=own
        )
    return clone


def _memoised(
    clone_function: CloneFunction | None,
    call_function: Callable[..., Any] | None,
    recursive: bool,
    cache: dict[int, Layer],
) -> CloneFunction:
    """``clone_function`` called once per layer (Keras's cache: a shared layer stays shared),
    nested models handled as ``recursive`` says, the result checked."""

    def make(layer: Layer) -> Layer:
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, Model) and not _subclassed(layer):
            calls = None if isinstance(layer, Sequential) else call_function
            new: Any = _clone(layer, None, clone_function, calls, True, cache)
        elif clone_function is None:
            new = _default_clone(layer, cache)
        else:
            new = clone_function(layer)
        if not isinstance(new, Layer):
            raise ConfigError(
                f"clone_model: clone_function must return a layer. Received: {new!r} for "
                f"layer {layer.name!r}. Fix: return a dl.layers.Layer (the layer itself to "
                "share it)."
            )
        cache[id(layer)] = new
        return new

    return make


def _default_clone(layer: Layer, cache: dict[int, Layer]) -> Layer:
    """Keras's default: ``type(layer).from_config(layer.get_config())``; a nested model is
    cloned (its layers fresh too), a Lambda keeps its function, a native module is copied."""
    if isinstance(layer, Model) and not _subclassed(layer):
        return _clone(layer, None, None, None, False, cache)
    cls = type(layer)
    cfg = layer.get_config()
    try:
        if isinstance(layer, Lambda):
            return cls.from_config(cfg, custom_objects={cfg["function"]: layer.function})  # type: ignore[call-arg]
        if isinstance(layer, _NativeModule):
            module = copy.deepcopy(layer.module)
            return cls.from_config(cfg, custom_objects={layer.name: module})  # type: ignore[call-arg]
        return cls.from_config(cfg)
    except DuallearnError:
        raise
    except Exception as exc:  # a user's get_config/from_config (or a module's deepcopy)
        raise ConfigError(
            f"clone_model cannot rebuild layer {layer.name!r} ({cls.__name__}) from its "
            f"config: {type(exc).__name__}: {exc}. Expected: get_config() to return the "
            "constructor's arguments. Fix: override get_config/from_config, or pass "
            "clone_function= that builds the copy (or returns the layer to share it)."
        ) from exc


def _clone_sequential(model: Sequential, make: CloneFunction, input_tensors: Any) -> Model:
    layers: list[Any] = [make(layer) for layer in model.layers]
    if input_tensors is not None:
        t = input_tensors
        if isinstance(t, (list, tuple)) and len(t) == 1:
            t = t[0]
        if not isinstance(t, SymbolicTensor):
            raise ConfigError(
                "clone_model: a Sequential model takes one symbolic tensor as input_tensors. "
                f"Received: {input_tensors!r}. Fix: e.g. input_tensors=dl.Input((64,))."
            )
        layers.insert(0, t)
    elif model._input is not None:
        src = model._input
        layers.insert(
            0, Input(src.shape[1:], batch_size=src.shape[0], dtype=src.dtype, name=src.name)
        )
    return Sequential(layers, name=model.name, trainable=model.trainable)


def _clone_functional(
    model: Model,
    make: CloneFunction,
    input_tensors: Any,
    call_function: Callable[..., Any] | None,
    cache: dict[int, Layer],
) -> Model:
    from ..saving._config import graph_structure, replay_functional

    structure = graph_structure(model)
    layers = {
        layer.name: _default_clone(layer, cache) if getattr(layer, "_is_op", False) else make(layer)
        for layer in model.graph.layers
    }
    inputs = None if input_tensors is None else _flat_inputs(model, input_tensors)
    clone: Model = replay_functional(
        {"name": model.name, **structure}, layers, inputs, call_function
    )
    return clone


def _flat_inputs(model: Model, input_tensors: Any) -> list[SymbolicTensor]:
    names = model.input_names
    if isinstance(input_tensors, dict):
        missing = sorted(set(names) - set(input_tensors))
        if missing or len(input_tensors) != len(names):
            raise ConfigError(
                f"clone_model: model {model.name!r} has inputs {names}. Received "
                f"input_tensors for {sorted(input_tensors)}. Fix: pass one tensor per input."
            )
        flat = [input_tensors[n] for n in names]
    elif isinstance(input_tensors, (list, tuple)):
        flat = list(input_tensors)
    else:
        flat = [input_tensors]
    if len(flat) != len(names) or not all(isinstance(t, SymbolicTensor) for t in flat):
        raise ConfigError(
            f"clone_model: model {model.name!r} has {len(names)} input(s) {names}. Expected "
            f"as many symbolic tensors in input_tensors. Received: {input_tensors!r}. "
            "Fix: e.g. input_tensors=[dl.Input(shape) for each input]."
        )
    return flat


def _subclassed(model: Model) -> bool:
    return hasattr(type(model), "call")


def _from_config(model: Model) -> Model:
    try:
        return type(model).from_config(model.get_config())
    except DuallearnError:
        raise
    except Exception as exc:  # the subclass's own constructor
        raise ConfigError(
            f"clone_model cannot rebuild subclassed model {model.name!r} "
            f"({type(model).__name__}) from its config: {type(exc).__name__}: {exc}. "
            "Expected: get_config() to return the constructor's arguments. Fix: override "
            "get_config() (and from_config() if needed)."
        ) from exc
