"""A Keras ``compile_config`` and the optimizer's variables (``optimizer/vars/N`` of the
weights file), to and from a duallearn model.

Optimizer variables follow Keras's build order: ``iterations``, ``learning_rate``, then the
slots, one group of ``add_optimizer_variables`` after the other, each group interleaving its
slot names per trainable variable (Adam: momentum₀, velocity₀, momentum₁, ...; then
velocity_hat₀... with amsgrad). They are carried for SGD, Adam, AdamW, RMSprop and Adagrad
with a constant learning rate and no EMA or gradient accumulation (:func:`slot_groups`);
for any other optimizer the compile config is carried and the slots start fresh.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..errors import DuallearnError, SerializationError
from ._keras_config import plain
from ._keras_h5 import model_paths
from ._keras_writer import keras_object

COMPILE_KEYS = frozenset(
    {"optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
     "steps_per_execution", "jit_compile", "auto_scale_loss"}
)  # fmt: skip
# duallearn optimizer arguments Keras lacks, written only at these values
OPTIMIZER_ONLY = {"formula": "keras", "exclude_from_weight_decay": [], "dampening": 0.0,
                  "momentum_decay": 0.004}  # fmt: skip


class CompileSkipped(UserWarning):
    """A compile config (or optimizer state) that could not be carried between Keras and
    duallearn; the model loads, or the file is written, without it."""


def _warn(message: str) -> None:
    warnings.warn(message, CompileSkipped, stacklevel=4)


# ---- Keras → duallearn --------------------------------------------------------------------
def compile_from_keras(model: Any, cc: Any, custom_objects: dict[str, Any], label: str) -> bool:
    """Compile ``model`` as a Keras ``compile_config`` says. Returns whether it did: an
    optimizer, loss or metric duallearn does not have leaves the model uncompiled with a
    :class:`CompileSkipped` warning; a ``module`` outside Keras is a SerializationError."""
    if not cc:
        return False
    if not isinstance(cc, dict):
        raise SerializationError(f"{label}: compile_config must be a JSON object.")
    unknown = sorted(k for k in cc if k not in COMPILE_KEYS)
    if unknown:
        raise SerializationError(f"{label}: compile_config holds unknown keys {unknown[:4]}.")
    where = f"{label}: compile_config"
    opt = plain(cc.get("optimizer"), where, custom_objects)
    loss = plain(cc.get("loss"), where, custom_objects)
    metrics = plain(cc.get("metrics"), where, custom_objects)
    weighted = plain(cc.get("weighted_metrics"), where, custom_objects)
    loss_weights = plain(cc.get("loss_weights"), where, custom_objects)
    try:
        optimizer = _optimizers.get(opt if opt is not None else "rmsprop")
        model.compile(
            optimizer=optimizer,
            loss=_leaves(loss, lambda x: _losses.get(x, custom_objects)),
            loss_weights=loss_weights,
            metrics=_leaves(metrics, lambda x: _metrics.get(x, custom_objects=custom_objects)),
            weighted_metrics=_leaves(
                weighted, lambda x: _metrics.get(x, custom_objects=custom_objects)
            ),
            steps_per_execution=cc.get("steps_per_execution", 1),
        )
    except (DuallearnError, TypeError, ValueError, KeyError) as exc:
        model.optimizer = None
        model._compile_args = None
        _warn(
            f"{label}: the model was loaded uncompiled, because its Keras compile config "
            f"names something duallearn lacks: {exc} Fix: call model.compile(...) yourself."
        )
        return False
    return True


def _leaves(value: Any, resolve: Any) -> Any:
    """Config dicts (``{"class_name", "config"}``) resolved; names kept for ``compile``
    (which picks e.g. the right accuracy from the shapes)."""
    if isinstance(value, dict) and "class_name" in value:
        return resolve(value)
    if isinstance(value, dict):
        return {k: _leaves(v, resolve) for k, v in value.items()}
    if isinstance(value, list):
        return [_leaves(v, resolve) for v in value]
    return value


def slot_groups(optimizer: Any) -> list[tuple[str, ...]] | None:
    """Keras's slot groups of ``optimizer`` in build order, or None where its variables are
    not carried (see the module docstring)."""
    if (
        optimizer is None
        or optimizer.use_ema
        or optimizer.gradient_accumulation_steps
        or callable(optimizer.learning_rate)
        or getattr(optimizer, "formula", "keras") != "keras"
    ):
        return None
    name = type(optimizer).__name__
    if name in ("Adam", "AdamW"):
        return [("momentum", "velocity")] + ([("velocity_hat",)] if optimizer.amsgrad else [])
    if name == "SGD":
        return [("momentum",)] if optimizer.momentum > 0 else []
    if name == "RMSprop":
        groups: list[tuple[str, ...]] = [("velocity",)]
        if optimizer.momentum > 0:
            groups.append(("momentum",))
        if optimizer.centered:
            groups.append(("average_gradient",))
        return groups
    if name == "Adagrad":
        return [("accumulator",)]
    return None


def _trainable_paths(model: Any) -> list[str] | None:
    """Paths of the variables Keras's optimizer holds slots for, in its order: the trainable
    weights in Keras's layer order. None when duallearn trains another set (a layer frozen
    or unfrozen since compile)."""
    spec = model._train_spec
    if spec is None:
        return None
    trainable = {id(w) for w in spec.trainable}
    entries = model_paths(model)
    ordered = [var for _, _, var in entries if id(var) in trainable]
    keras_side = {id(w) for w in model.trainable_weights} if model.trainable else set()
    keras_view = [var for _, _, var in entries if id(var) in keras_side]
    if len(ordered) != len(trainable) or [id(v) for v in ordered] != [id(v) for v in keras_view]:
        return None
    return [var.path for var in ordered]


def load_optimizer_vars(model: Any, tensors: dict[str, np.ndarray], label: str) -> None:
    """Assign ``optimizer/vars/N`` of a Keras weights file to ``model``'s optimizer slots
    (compiled just before); a layout that does not fit warns and keeps fresh slots."""
    stored = {k[len("optimizer/vars/") :]: v for k, v in tensors.items()
              if k.startswith("optimizer/vars/")}  # fmt: skip
    if not stored:
        return
    if len(stored) <= 2:  # iterations and learning rate only: Keras never built the slots
        if "0" in stored:
            model.optimizer.iterations = int(np.asarray(stored["0"]))
        return
    groups = slot_groups(model.optimizer)
    try:
        model._ensure_train_spec(None)
    except DuallearnError as exc:
        raise SerializationError(f"{label}: the compile config is invalid: {exc}") from None
    paths = _trainable_paths(model)
    if groups is None or paths is None:
        _warn(
            f"{label}: the optimizer state was not loaded ({type(model.optimizer).__name__} "
            "with this configuration keeps its slots differently in Keras); training resumes "
            "with fresh slots."
        )
        return
    keys = [f"{slot}/{p}" for group in groups for p in paths for slot in group]
    if sorted(stored, key=lambda s: int(s) if s.isdigit() else -1) != [
        str(i) for i in range(len(keys) + 2)
    ]:
        _warn(
            f"{label}: the file holds {len(stored)} optimizer variables; this model's "
            f"{type(model.optimizer).__name__} has {len(keys) + 2}. Training resumes with "
            "fresh optimizer slots."
        )
        return
    runtime = model._get_runtime()
    fresh = runtime.optimizer_state()
    state = {"iterations": np.asarray(stored["0"]).astype(fresh["iterations"].dtype)}
    for i, key in enumerate(keys):
        value = stored[str(i + 2)]
        if key not in fresh or fresh[key].shape != value.shape:
            raise SerializationError(
                f"{label}: optimizer variable {i + 2} has shape {value.shape}; the model's "
                f"slot {key!r} needs {None if key not in fresh else fresh[key].shape}."
            )
        state[key] = value.astype(fresh[key].dtype)
    if set(state) != set(fresh):
        _warn(f"{label}: the optimizer state does not match this optimizer; fresh slots kept.")
        return
    runtime.load_optimizer_state(state)
    model.optimizer.iterations = int(state["iterations"])


# ---- duallearn → Keras --------------------------------------------------------------------
def compile_to_keras(model: Any) -> dict[str, Any] | None:
    """The Keras ``compile_config`` of a compiled ``model`` (None if not compiled); what
    Keras cannot express is left out with a :class:`CompileSkipped` warning."""
    args = model._compile_args
    if model.optimizer is None or args is None:
        return None
    try:
        return {
            "optimizer": _optimizer_to_keras(model.optimizer),
            "loss": _to_keras(args.get("loss"), _losses.serialize, "keras.losses"),
            "loss_weights": args.get("loss_weights"),
            "metrics": _to_keras(args.get("metrics"), _metrics.serialize, "keras.metrics"),
            "weighted_metrics": _to_keras(
                args.get("weighted_metrics"), _metrics.serialize, "keras.metrics"
            ),
            "run_eagerly": False,
            "steps_per_execution": args.get("steps_per_execution", 1),
            "jit_compile": False,
        }
    except _Inexpressible as exc:
        _warn(
            f"Model {model.name!r}: the Keras file holds no compile config, because {exc}; "
            "Keras loads the model uncompiled. Fix: save as .dlm to keep the training setup."
        )
        return None


class _Inexpressible(Exception):
    pass


def _optimizer_to_keras(opt: Any) -> dict[str, Any]:
    cfg = dict(opt.get_config())
    name = type(opt).__name__
    for key, default in OPTIMIZER_ONLY.items():
        if key in cfg:
            value = cfg.pop(key)
            if value != default and not (key == "exclude_from_weight_decay" and not value):
                raise _Inexpressible(f"the optimizer's {key}={value!r} has no Keras equivalent")
    if isinstance(cfg.get("learning_rate"), dict):
        cfg["learning_rate"] = keras_object(cfg["learning_rate"], "keras.optimizers.schedules")
    cfg["name"] = name.lower()
    return {"module": "keras.optimizers", "class_name": name, "config": cfg,
            "registered_name": None}  # fmt: skip


def _to_keras(value: Any, serialize: Any, module: str) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _to_keras(v, serialize, module) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_keras(v, serialize, module) for v in value]
    if isinstance(value, type):
        value = value()
    try:
        cfg = serialize(value)
    except (DuallearnError, AttributeError, TypeError) as exc:
        raise _Inexpressible(f"{value!r} cannot be serialized ({exc})") from None
    name = cfg.get("class_name")
    registered = getattr(type(value), "_registered_name", name)
    if name in ("LossFunctionWrapper", "MeanMetricWrapper") or registered != name:
        raise _Inexpressible(f"{value!r} is a custom function or class, which Keras cannot load")
    return keras_object(cfg, module)


def optimizer_vars_to_keras(model: Any) -> dict[str, np.ndarray]:
    """``optimizer/vars/N`` for the weights file (empty when the slots are not carried, or
    the model has not trained)."""
    if model._runtime is None or model._train_spec is None:
        return {}
    groups = slot_groups(model.optimizer)
    paths = _trainable_paths(model)
    if groups is None or paths is None:
        return {}
    state = model._runtime.optimizer_state()
    keys = [f"{slot}/{p}" for group in groups for p in paths for slot in group]
    if any(k not in state for k in keys):
        return {}
    out = {
        "optimizer/vars/0": np.asarray(state.get("iterations", 0), dtype="int64"),
        "optimizer/vars/1": np.asarray(model.optimizer.learning_rate, dtype="float32"),
    }
    for i, key in enumerate(keys):
        out[f"optimizer/vars/{i + 2}"] = np.asarray(state[key])
    return out
