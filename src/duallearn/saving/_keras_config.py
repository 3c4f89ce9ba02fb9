"""Keras 3 model configs (``config.json`` of a ``.keras`` file) to duallearn models, and back.

Reading is a translation, never an execution: every ``module`` a Keras config names must be a
Keras module (or that of an object the caller registered), and is never imported; every class
resolves against duallearn's registries; ``Lambda`` and other code-carrying objects are
refused. Layer arguments keep Keras's names (duallearn's layers use them); a Keras argument
duallearn lacks is dropped only at its Keras default (:data:`KERAS_DEFAULTS`), otherwise the
file is refused with the argument named. Writing is the mirror image: a duallearn-only
argument is dropped at its default (:data:`DUALLEARN_ONLY`), otherwise refused.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import SerializationError
from ..layers._input import Input
from ..layers._layer import REGISTRY
from ._config import layer_from_config

# Keras arguments duallearn's layers do not take, dropped when they hold Keras's default.
KERAS_DEFAULTS: dict[str, Any] = {
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "activity_regularizer": None,
    "renorm": False,
    "renorm_clipping": None,
    "rms_scaling": False,
    "use_gate": False,
    "sliding_window": None,
    "data_format": "channels_last",
    "sparse": False,
    "ragged": False,
    "optional": False,
    "input_axes": None,
    "output_axes": None,
}
# Dropped whatever they hold: no effect on one device (synchronized BatchNormalization), or
# meaningful only with an argument refused above (renorm_momentum).
KERAS_IGNORED = frozenset({"synchronized", "renorm_momentum"})

# duallearn-only layer arguments (no Keras equivalent): written only at these defaults.
DUALLEARN_ONLY: dict[str, dict[str, Any]] = {
    "BatchNormalization": {"unbiased_moving_variance": False},
    "LSTM": {"use_recurrent_bias": False},
    "SimpleRNN": {"use_recurrent_bias": False},
    "GRU": {"use_recurrent_bias": False},
    "Attention": {"use_causal_mask": False, "return_attention_scores": False},
    "MultiHeadAttention": {"use_causal_mask": False, "return_attention_scores": False},
    "SpatialDropout1D": {"data_format": "channels_last", "trainable": True},
    "SpatialDropout2D": {"trainable": True},
    "SpatialDropout3D": {"trainable": True},
    "Discretization": {"trainable": True},
}

# Registered duallearn layers that are not Keras layers, or hold code / native modules.
NOT_KERAS = frozenset(
    {"OpLayer", "TorchModule", "TFModule", "TorchModuleWrapper", "Lambda", "Model", "Sequential"}
)
MODEL_CLASSES = ("Sequential", "Functional", "Model")
OBJECT_KEYS = frozenset({"module", "class_name", "config", "registered_name", "shared_object_id"})
LAYER_KEYS = OBJECT_KEYS | {"build_config", "name", "inbound_nodes", "compile_config"}
SEQUENTIAL_KEYS = frozenset({"name", "trainable", "dtype", "layers", "build_input_shape"})
FUNCTIONAL_KEYS = frozenset(
    {"name", "trainable", "dtype", "layers", "input_layers", "output_layers"}
)
VOCABULARY_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization")
POLICIES = ("DTypePolicy", "FloatDTypePolicy")
MAX_NESTING = 32


def lambda_error(where: str) -> SerializationError:
    return SerializationError(
        f"{where} is a Keras Lambda layer (or lambda function): its code is stored as Python "
        "bytecode, which loading would execute, so duallearn refuses it and never runs code "
        "from a file. Fix: replace the Lambda by a registered custom layer "
        "(@dl.saving.register_serializable) and pass it in custom_objects={...}, or rebuild "
        "that part of the model in duallearn."
    )


def check_module(obj: dict[str, Any], where: str, custom_objects: dict[str, Any]) -> None:
    """A Keras object's ``module`` must be Keras's own (never imported either way), unless
    the object is one the caller registered or passed."""
    module = obj.get("module")
    if (
        module is None
        or module == "keras"
        or (isinstance(module, str) and module.startswith("keras."))
    ):
        return
    registered = obj.get("registered_name") or obj.get("class_name")
    if isinstance(registered, str) and registered in custom_objects:
        return
    raise SerializationError(
        f"{where} names module {module!r} for class {obj.get('class_name')!r}. Expected: a "
        "Keras module (keras, keras.layers, ...) or a class passed in custom_objects. "
        "duallearn never imports modules a file names. Fix: register the class "
        "(@dl.saving.register_serializable) and pass it in custom_objects={...}."
    )


def _check_keys(obj: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in obj if k not in allowed)
    if unknown:
        raise SerializationError(
            f"{where} holds unknown key(s) {unknown[:4]}. Expected only: "
            f"{', '.join(sorted(allowed))}. The file was edited or written by a newer Keras."
        )


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SerializationError(
            f"{where} must be a JSON object. Received: {type(value).__name__}."
        )
    return value


def plain(value: Any, where: str, custom_objects: dict[str, Any], depth: int = 0) -> Any:
    """A Keras-serialized value as duallearn's configs hold it: ``__tuple__`` and
    ``__numpy__`` as lists, a dtype policy as its name, a Keras function as its name,
    ``{"module", "class_name", "config", "registered_name"}`` objects as
    ``{"class_name", "config"}`` with Keras-only default arguments dropped."""
    if depth > MAX_NESTING:
        raise SerializationError(f"{where} nests objects deeper than {MAX_NESTING} levels.")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [plain(v, where, custom_objects, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise SerializationError(f"{where} holds a {type(value).__name__}, not JSON.")
    if "class_name" not in value:
        return {str(k): plain(v, where, custom_objects, depth + 1) for k, v in value.items()}
    _check_keys(value, OBJECT_KEYS | {"build_config"}, f"{where}: object {value['class_name']!r}")
    check_module(value, where, custom_objects)
    name, config = value["class_name"], value.get("config")
    if name in ("__tuple__", "__numpy__", "__tensor__"):
        return plain(_dict(config, where).get("value"), where, custom_objects, depth + 1)
    if name == "__lambda__" or name == "Lambda":
        raise lambda_error(where)
    if name in ("__bytes__", "__slice__", "__ellipsis__", "__typespec__", "__keras_tensor__"):
        raise SerializationError(f"{where} holds a Keras {name} object, which duallearn reads "
                                 "nowhere but in a functional model's nodes.")  # fmt: skip
    if name == "function":
        if not isinstance(config, str):
            raise SerializationError(f"{where}: a Keras function config must be its name.")
        return config
    if name in POLICIES:
        policy = _dict(config, where).get("name")
        if not isinstance(policy, str) or policy.startswith("mixed_"):
            raise SerializationError(
                f"{where} has dtype policy {policy!r}. Expected: a plain dtype such as "
                "float32 (mixed precision policies are not read from Keras files). Fix: in "
                "Keras, set the policy to float32 before saving, or save weights only."
            )
        return policy
    if not isinstance(name, str):
        raise SerializationError(f"{where}: class_name must be a string. Received: {name!r}.")
    inner = plain(
        _dict(config if config is not None else {}, where), where, custom_objects, depth + 1
    )
    inner = {k: v for k, v in inner.items() if not (k in KERAS_DEFAULTS and KERAS_DEFAULTS[k] == v)}
    registered = value.get("registered_name")
    if isinstance(registered, str) and registered in custom_objects:
        name = registered
    return {"class_name": name, "config": inner}


# ---- Keras → duallearn: layers ------------------------------------------------------------
def _accepted(cls: type) -> set[str]:
    """Keyword arguments ``cls`` takes: its ``__init__`` and those its ``**kwargs`` reach."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - builtins
            break
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params) or klass.__name__ == "Layer":
            break
    return names - {"self"}


def layer_to_dl(obj: Any, where: str, custom_objects: dict[str, Any]) -> dict[str, Any]:
    """A Keras layer config as a duallearn ``{class_name, config}``."""
    obj = _dict(obj, where)
    _check_keys(obj, LAYER_KEYS, where)
    check_module(obj, where, custom_objects)
    name = obj.get("class_name")
    cfg = _dict(obj.get("config", {}), f"{where} config")
    label = f"{where} (layer {cfg.get('name')!r}, class {name!r})"
    if name == "Lambda":
        raise lambda_error(label)
    registered = obj.get("registered_name")
    custom = next(
        (n for n in (registered, name) if isinstance(n, str) and n in custom_objects), None
    )
    if custom is None:
        if not isinstance(name, str) or name in NOT_KERAS or name not in REGISTRY:
            raise SerializationError(
                f"{label}: Keras layer class {name!r} has no duallearn equivalent, and no "
                "class of that name was registered or passed in custom_objects. Fix: pass it "
                "in custom_objects={...}, or rebuild that layer in duallearn."
            )
        if name in VOCABULARY_LAYERS and cfg.get("vocabulary") is None:
            raise SerializationError(
                f"{label} keeps its vocabulary in the file's assets, which duallearn does not "
                "read. Fix: pass the vocabulary to the layer's constructor in Keras before "
                "saving, or rebuild that layer in duallearn and adapt it."
            )
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            out[key] = layer_to_dl(value, f"{label} {key}", custom_objects)
        else:
            out[key] = plain(value, f"{label} argument {key!r}", custom_objects)
    if custom is not None:
        return {"class_name": custom, "config": out}
    # Keras-only arguments at their defaults are dropped unless the layer names them itself;
    # any other argument goes to the layer, which refuses what it does not know (named).
    accepted = _accepted(REGISTRY.get(name))
    for key in list(out):
        if key not in accepted and (
            key in KERAS_IGNORED or (key in KERAS_DEFAULTS and out[key] == KERAS_DEFAULTS[key])
        ):
            del out[key]
    return {"class_name": name, "config": out}


# ---- Keras → duallearn: models ------------------------------------------------------------
def model_from_keras(obj: Any, custom_objects: dict[str, Any], where: str = "config.json") -> Any:
    """Build the duallearn model a Keras model config describes (weights: initial ones)."""
    obj = _dict(obj, where)
    _check_keys(obj, LAYER_KEYS, where)
    check_module(obj, where, custom_objects)
    name = obj.get("class_name")
    if name not in MODEL_CLASSES:
        raise SerializationError(
            f"{where}: the model class is {name!r}. Expected: Sequential or Functional "
            "(subclassed Keras models carry Python code and are not read)."
        )
    cfg = _dict(obj.get("config"), f"{where} config")
    if name == "Sequential":
        model = _sequential(cfg, custom_objects, where)
    else:
        model = _functional(cfg, custom_objects, where)
    if cfg.get("trainable") is False:
        model.trainable = False
    return model


def _input_layer(obj: dict[str, Any], where: str) -> Any:
    cfg = _dict(obj.get("config"), where)
    allowed = frozenset({"batch_shape", "batch_input_shape", "shape", "batch_size", "dtype",
                         "sparse", "ragged", "name", "optional", "input_tensor"})  # fmt: skip
    _check_keys(cfg, allowed, where)
    for flag in ("sparse", "ragged", "optional"):
        if cfg.get(flag):
            raise SerializationError(
                f"{where}: InputLayer {cfg.get('name')!r} has {flag}=True, which duallearn "
                "does not support. Fix: use a dense input."
            )
    batch_shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if batch_shape is None and cfg.get("shape") is not None:
        batch_shape = [cfg.get("batch_size"), *cfg["shape"]]
    if not isinstance(batch_shape, list) or not batch_shape:
        raise SerializationError(f"{where}: InputLayer needs batch_shape. Received: {cfg!r}"[:300])
    dtype = plain(cfg.get("dtype"), where, {})
    return Input(tuple(batch_shape[1:]), batch_size=batch_shape[0], dtype=dtype,
                 name=cfg.get("name"))  # fmt: skip


def _sequential(cfg: dict[str, Any], custom_objects: dict[str, Any], where: str) -> Any:
    _check_keys(cfg, SEQUENTIAL_KEYS, f"{where} config")
    layers_cfg = cfg.get("layers")
    if not isinstance(layers_cfg, list):
        raise SerializationError(f"{where}: a Sequential config needs a list of layers.")
    layers: list[Any] = []
    for i, lc in enumerate(layers_cfg):
        at = f"{where} layers[{i}]"
        lc = _dict(lc, at)
        if lc.get("class_name") == "InputLayer" and i == 0:
            check_module(lc, at, custom_objects)
            layers.append(_input_layer(lc, at))
        elif lc.get("class_name") in MODEL_CLASSES:
            layers.append(model_from_keras(lc, custom_objects, at))
        else:
            layers.append(layer_from_config(layer_to_dl(lc, at, custom_objects), custom_objects))
    shape = cfg.get("build_input_shape")
    if (not layers_cfg or _dict(layers_cfg[0], where).get("class_name") != "InputLayer") and (
        isinstance(shape, list) and shape
    ):
        layers.insert(0, Input(tuple(shape[1:])))
    return REGISTRY.get("Sequential")(layers, name=cfg.get("name"))


def _is_leaf(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) == 3
        and isinstance(v[0], str)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in v[1:])
    )


class _NotReady(Exception):
    """A node's input tensor does not exist yet (its producer is processed later)."""


def _functional(cfg: dict[str, Any], custom_objects: dict[str, Any], where: str) -> Any:
    _check_keys(cfg, FUNCTIONAL_KEYS, f"{where} config")
    layers_cfg = cfg.get("layers")
    if not isinstance(layers_cfg, list):
        raise SerializationError(f"{where}: a Functional config needs a list of layers.")
    created: dict[str, Any] = {}
    is_functional: dict[str, bool] = {}
    produced: dict[tuple[str, int], list[Any]] = {}
    pending: list[tuple[str, list[Any]]] = []
    for i, lc in enumerate(layers_cfg):
        at = f"{where} layers[{i}]"
        lc = _dict(lc, at)
        lname = lc.get("name")
        if not isinstance(lname, str) or lname in created:
            raise SerializationError(f"{at}: layer name {lname!r} is missing or repeated.")
        nodes = lc.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise SerializationError(f"{at}: inbound_nodes must be a list.")
        if lc.get("class_name") == "InputLayer":
            check_module(lc, at, custom_objects)
            _check_keys(lc, LAYER_KEYS, at)
            created[lname] = None
            produced[(lname, 0)] = [_input_layer(lc, at)]
            continue
        if _is_op(lc):
            created[lname] = _keras_op(lc, at, custom_objects)
            pending.append((lname, list(nodes)))
            continue
        if lc.get("class_name") in MODEL_CLASSES:
            layer = model_from_keras({k: v for k, v in lc.items() if k not in
                                      ("name", "inbound_nodes")}, custom_objects, at)  # fmt: skip
            is_functional[lname] = lc.get("class_name") != "Sequential"
        else:
            layer = layer_from_config(layer_to_dl(lc, at, custom_objects), custom_objects)
        if layer.name != lname:
            raise SerializationError(
                f"{at}: the layer is named {lname!r} but its config says {layer.name!r}."
            )
        created[lname] = layer
        pending.append((lname, list(nodes)))

    def tensor(v: Any) -> Any:
        """A node argument with each Keras tensor replaced by the one built."""
        if isinstance(v, list):
            return [tensor(x) for x in v]
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            history: Any = _dict(v.get("config"), where).get("keras_history")
            if not _is_leaf(history):
                raise SerializationError(f"{where}: malformed keras_history {history!r}.")
            lname, node, index = history
            if lname not in created:
                raise SerializationError(f"{where}: a node refers to unknown layer {lname!r}.")
            if (lname, node) not in produced:
                raise _NotReady
            outs = produced[(lname, node)]
            if not 0 <= index < len(outs):
                raise SerializationError(
                    f"{where}: a node uses output {index} of {lname!r}, which has {len(outs)}."
                )
            return outs[index]
        if isinstance(v, dict) and "class_name" not in v:
            return {k: tensor(x) for k, x in v.items()}
        return plain(v, where, custom_objects)

    done: dict[str, int] = {}
    while pending:
        progress = False
        rest = []
        for lname, nodes in pending:
            while nodes:
                node = _dict(nodes[0], f"{where} node of {lname!r}")
                _check_keys(node, frozenset({"args", "kwargs"}), f"{where} node of {lname!r}")
                try:
                    args = tensor(node.get("args", []))
                    kwargs = tensor(node.get("kwargs", {}))
                except _NotReady:
                    break
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise SerializationError(f"{where}: node of {lname!r} is malformed.")
                # Keras records training=False and the mask it computed (an op node) in
                # each call; duallearn's model mode decides training, and masks propagate
                kwargs = {k: v for k, v in kwargs.items()
                          if v is not None and not (k == "training" and v is False)}  # fmt: skip
                out = _call(created[lname], args, kwargs, f"{where} node of {lname!r}")
                k = done.get(lname, 0)
                produced[(lname, k)] = out
                done[lname] = k + 1
                nodes.pop(0)
                progress = True
            if nodes:
                rest.append((lname, nodes))
        pending = rest
        if pending and not progress:
            raise SerializationError(
                f"{where}: the functional graph has a cycle or a node whose inputs never "
                f"exist (layers {[n for n, _ in pending][:5]})."
            )

    def struct(v: Any, what: str) -> Any:
        if _is_leaf(v):
            lname, node, index = v
            if is_functional.get(lname):
                node -= 1  # Keras counts a nested functional model's calls from 1 here only
            outs = produced.get((lname, node))
            if outs is None or not 0 <= index < len(outs):
                raise SerializationError(f"{where}: {what} refers to missing tensor {v!r}.")
            return outs[index]
        if isinstance(v, list):
            return [struct(x, what) for x in v]
        if isinstance(v, dict):
            return {str(k): struct(x, what) for k, x in v.items()}
        raise SerializationError(f"{where}: {what} is malformed: {v!r}"[:300])

    ins = struct(cfg.get("input_layers"), "input_layers")
    outs = struct(cfg.get("output_layers"), "output_layers")
    return REGISTRY.get("Model")(ins, outs, name=cfg.get("name"))


def _is_op(obj: dict[str, Any]) -> bool:
    module = obj.get("module")
    return isinstance(module, str) and module.startswith("keras.src.ops.")


class _KerasOp:
    """A ``keras.ops`` call recorded in a functional graph (``NotEqual`` for a mask, ``Add``
    for ``a + b`` on Keras tensors): replayed as the ``dl.ops`` function of the same name,
    which records an ``OpLayer``. Only ``dl.ops`` names can be reached."""

    def __init__(self, fn: Any, kwargs: dict[str, Any]) -> None:
        self.fn, self.kwargs = fn, kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **{**self.kwargs, **kwargs})


def _keras_op(obj: dict[str, Any], where: str, custom_objects: dict[str, Any]) -> _KerasOp:
    from .. import _naming, ops

    _check_keys(obj, LAYER_KEYS, where)
    name = obj.get("class_name")
    fn = _naming.snake_case(name) if isinstance(name, str) else ""
    if fn not in ops.NAMES:
        raise SerializationError(
            f"{where}: the graph calls Keras op {name!r}, which has no dl.ops counterpart. "
            "Fix: rebuild that part of the model with duallearn layers or dl.ops."
        )
    cfg = plain(_dict(obj.get("config", {}), where), where, custom_objects)
    cfg.pop("name", None)
    return _KerasOp(getattr(ops, fn), cfg)


def _call(layer: Any, args: list[Any], kwargs: dict[str, Any], where: str) -> list[Any]:
    try:
        out = layer(*args, **kwargs)
    except (TypeError, ValueError) as exc:  # (a DuallearnError keeps its own type)
        if isinstance(exc, SerializationError):
            raise
        raise SerializationError(f"{where}: the layer cannot be called so: {exc}") from None
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]
