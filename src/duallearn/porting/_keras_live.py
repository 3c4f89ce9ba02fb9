"""Live Keras 3 models to duallearn models and back: config, weights, compile config and
optimizer slots, through the same translation tables as ``.keras`` files
(``duallearn.saving._keras_config``, ``_keras_compile``). Keras is imported inside the
functions only, so importing this module imports no framework."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import ConfigError, SerializationError
from ..saving._keras_compile import (
    compile_from_keras,
    compile_to_keras,
    load_optimizer_vars,
    optimizer_vars_to_keras,
)
from ..saving._keras_config import model_from_keras
from ..saving._keras_writer import model_to_keras
from ..saving._registration import known_objects


def _keras() -> Any:
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - keras is installed where tests run
        raise ConfigError(
            "Converting to or from Keras needs the keras package (Keras 3). Fix: pip install keras"
        ) from exc
    return keras


def from_keras(
    keras_model: Any,
    custom_objects: dict[str, Any] | None = None,
    compile: bool = True,
    backend: str | None = None,
) -> Any:
    """A duallearn model with the architecture, weights and (``compile=True``) training setup
    of a live Keras 3 model.

    The Keras model's config is translated exactly as ``dl.load_model`` translates a
    ``.keras`` file (Sequential and functional models of the layers duallearn has; ``Lambda``
    and unregistered classes refused), then each layer's ``get_weights()`` is copied into the
    layer of the same name (duallearn keeps Keras's weight order and layouts). A compiled
    model's optimizer, losses and metrics are restored where duallearn has them, and the
    optimizer's slots for SGD, Adam, AdamW, RMSprop and Adagrad.

    Args:
        keras_model: a ``keras.Model`` (Sequential or functional), built.
        custom_objects: name → class or function for registered custom objects.
        compile: restore the training setup.
        backend: run the duallearn model on this backend (default: the active one).

    Returns:
        The duallearn model.

    Raises:
        ConfigError: ``keras_model`` is not a Keras model.
        SerializationError: a layer or argument duallearn does not have (named).

    Example:
        >>> import keras
        >>> kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> model = dl.from_keras(kmodel)
        >>> x = np.ones((1, 4), "float32")
        >>> bool(np.allclose(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), atol=1e-6))
        True
    """
    keras = _keras()
    if not isinstance(keras_model, keras.Model):
        raise ConfigError(
            "from_keras takes a keras.Model (Sequential or functional). Received: "
            f"{type(keras_model).__name__}. Fix: for a file, use dl.load_model(path)."
        )
    objects = known_objects(custom_objects)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(keras_model)))
    compile_config = config.pop("compile_config", None)
    model = model_from_keras(config, objects, f"Keras model {keras_model.name!r}")
    if backend is not None:
        model.backend_name = backend
    for klayer in keras_model.layers:
        values = [np.asarray(w) for w in klayer.get_weights()]
        if not values:
            continue
        layer = _layer(model, klayer.name)
        layer.set_weights(values)
    if compile and compile_config and getattr(keras_model, "optimizer", None) is not None:
        label = f"Keras model {keras_model.name!r}"
        if compile_from_keras(model, compile_config, objects, label):
            tensors = {
                f"optimizer/vars/{i}": np.asarray(v)
                for i, v in enumerate(keras_model.optimizer.variables)
            }
            load_optimizer_vars(model, tensors, label)
    return model


def _layer(model: Any, name: str) -> Any:
    for layer in model.layers:
        if layer.name == name:
            return layer
    raise SerializationError(f"Layer {name!r} of the Keras model has no counterpart.")


def to_keras(model: Any) -> Any:
    """A real Keras 3 model with ``model``'s config, weights and (if compiled) compile config
    and optimizer slots, built by Keras's own deserializer from the config duallearn writes
    into ``.keras`` files, on Keras's configured backend.

    Args:
        model: a duallearn Sequential or functional model of Keras layers.

    Returns:
        The ``keras.Model``.

    Raises:
        SerializationError: a layer or argument Keras does not have (named; ``.dlm`` keeps
            it).

    Example:
        >>> model = dl.Sequential([dl.Input((4,)), dl.layers.Dense(2)])
        >>> kmodel = dl.porting.to_keras(model)   # or model.to_keras()
        >>> [w.shape for w in kmodel.get_weights()]
        [(4, 2), (2,)]
    """
    keras = _keras()
    config = json.loads(json.dumps(model_to_keras(model)))
    kmodel = keras.saving.deserialize_keras_object(config)
    for layer in model.layers:
        values = layer.get_weights()
        if values:
            kmodel.get_layer(layer.name).set_weights(values)
    compile_config = compile_to_keras(model)
    if compile_config is not None:
        kmodel.compile_from_config(json.loads(json.dumps(compile_config)))
        slots = optimizer_vars_to_keras(model)
        variables = kmodel.optimizer.variables
        if slots and len(slots) == len(variables):
            for i, var in enumerate(variables):
                var.assign(slots[f"optimizer/vars/{i}"])
    return kmodel
