"""duallearn models to Keras 3 model configs (the ``config.json`` of a ``.keras`` file), in
the form ``keras.saving.load_model`` reads without duallearn: Keras's class names and
``module`` s, Keras-serialized nested objects, a functional model's ``inbound_nodes`` with
``keras_history`` triples and its layers in Keras's order. A duallearn-only argument is
written only at its default (:data:`._keras_config.DUALLEARN_ONLY`); otherwise, and for
layers that are not Keras layers, the save is refused with the fix (``.dlm``)."""

from __future__ import annotations

from typing import Any

from ..errors import SerializationError
from ..layers._layer import REGISTRY
from ._keras_config import DUALLEARN_ONLY, NOT_KERAS

_MODULES = (
    ("_initializer", "keras.initializers"),
    ("_regularizer", "keras.regularizers"),
    ("_constraint", "keras.constraints"),
)


def _refuse(layer: Any, why: str) -> SerializationError:
    return SerializationError(
        f"Layer {layer.name!r} ({type(layer).__name__}) cannot be written to a Keras file: "
        f"{why}. Fix: save as .dlm (duallearn's format keeps it), e.g. model.save('m.dlm')."
    )


def keras_object(obj: Any, module: str) -> Any:
    """A duallearn ``{class_name, config}`` as Keras serializes it."""
    if isinstance(obj, dict) and "class_name" in obj and "config" in obj:
        return {"module": module, "class_name": obj["class_name"],
                "config": obj["config"], "registered_name": None}  # fmt: skip
    return obj


def layer_to_keras(layer: Any) -> dict[str, Any]:
    """The Keras config of a duallearn layer (a nested model: its model config)."""
    cls = type(layer).__name__
    if cls in ("Sequential", "Model", "Functional") or hasattr(layer, "fit"):
        return model_to_keras(layer)
    registered = getattr(type(layer), "_registered_name", cls)
    if cls in NOT_KERAS or registered != cls or REGISTRY.get(cls) is not type(layer):
        raise _refuse(layer, "it is not a Keras layer (custom, Lambda or native-module layers "
                      "need their Python class, which a Keras file cannot carry)")  # fmt: skip
    return {"module": "keras.layers", "class_name": cls,
            "config": _layer_config_to_keras(layer, cls, layer.get_config()),
            "registered_name": None}  # fmt: skip


def _layer_config_to_keras(layer: Any, cls: str, cfg: dict[str, Any]) -> dict[str, Any]:
    only = DUALLEARN_ONLY.get(cls, {})
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in only:
            if value != only[key]:
                raise _refuse(layer, f"argument {key}={value!r} has no Keras equivalent")
            continue
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            sub = getattr(layer, "forward_layer" if key == "layer" else key, None)
            sub = sub if sub is not None else getattr(layer, "layer", None)
            inner_cls = str(value.get("class_name"))
            out[key] = {"module": "keras.layers", "class_name": inner_cls,
                        "config": _layer_config_to_keras(sub, inner_cls, value["config"]),
                        "registered_name": None}  # fmt: skip
            continue
        module = next((m for suffix, m in _MODULES if key.endswith(suffix)), "keras")
        out[key] = keras_object(value, module)
    return out


def _input_config(tensor: Any) -> dict[str, Any]:
    layer = tensor.node.layer if tensor.node is not None else None
    name = layer.name if layer is not None else tensor.name
    batch = getattr(layer, "batch_size", None) if layer is not None else None
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": [batch, *tensor.shape[1:]], "dtype": tensor.dtype,
                       "name": name},
            "registered_name": None}  # fmt: skip


def model_to_keras(model: Any) -> dict[str, Any]:
    """The Keras config of a duallearn Sequential or functional model (no compile config)."""
    if type(model).__name__ == "Sequential":
        layers = []
        inp = model._input
        if inp is not None:
            layers.append(_input_config(inp))
        layers += [layer_to_keras(layer) for layer in model.layers]
        cfg: dict[str, Any] = {"name": model.name, "trainable": model.trainable, "layers": layers}
        shape = [None, *inp.shape[1:]] if inp is not None else None
        if shape is not None:
            cfg["build_input_shape"] = shape
        return {"module": "keras", "class_name": "Sequential", "config": cfg,
                "registered_name": None, "build_config": {"input_shape": shape}}  # fmt: skip
    graph = getattr(model, "graph", None)
    if graph is None or type(model).__name__ != "Model":
        raise SerializationError(
            f"Model {model.name!r} ({type(model).__name__}) is a subclassed model; Keras files "
            "hold Sequential and functional models only. Fix: save as .dlm."
        )
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": _functional_to_keras(model, graph), "registered_name": "Functional",
            "build_config": {"input_shape": None}}  # fmt: skip


def _functional_to_keras(model: Any, graph: Any) -> dict[str, Any]:
    where: dict[int, list[Any]] = {}  # id(tensor) -> [layer name, node index, tensor index]
    for t in graph.inputs:
        layer = t.node.layer if t.node is not None else None
        where[id(t)] = [layer.name if layer is not None else t.name, 0, 0]
    inbound: dict[int, list[dict[str, Any]]] = {}
    for n in graph.nodes:
        nodes = inbound.setdefault(id(n.layer), [])
        k = len(nodes)
        for j, t in enumerate(n.outputs):
            where[id(t)] = [n.layer.name, k, j]
        nodes.append(_node_to_keras(n, where))
    layers = []
    for layer in graph.all_layers:
        if type(layer).__name__ == "InputLayer":
            entry = _input_config(layer.tensor)
            entry["inbound_nodes"] = []
        else:
            entry = layer_to_keras(layer)
            entry["inbound_nodes"] = inbound.get(id(layer), [])
        entry["name"] = layer.name
        layers.append(entry)

    functional = {layer.name for layer in graph.all_layers if _is_functional(layer)}

    def struct(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: struct(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [struct(x) for x in v]
        name, node, index = where[id(v)]
        # Keras counts a nested functional model's calls from 1 in input/output_layers only
        return [name, node + (1 if name in functional else 0), index]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": struct(model._input_struct),
            "output_layers": struct(model._output_struct)}  # fmt: skip


def _is_functional(layer: Any) -> bool:
    return type(layer).__name__ == "Model" and getattr(layer, "graph", None) is not None


def _keras_tensor(t: Any, where: dict[int, list[Any]]) -> dict[str, Any]:
    config = {"shape": list(t.shape), "dtype": t.dtype, "keras_history": where[id(t)]}
    return {"class_name": "__keras_tensor__", "config": config}


def _node_to_keras(n: Any, where: dict[int, list[Any]]) -> dict[str, Any]:
    ts = [_keras_tensor(t, where) for t in n.inputs]
    if n.call_args:
        return {"args": _call_value(n.call_args["args"], ts),
                "kwargs": _call_value(n.call_args["kwargs"], ts)}  # fmt: skip
    if type(n.layer).__name__ == "MultiHeadAttention" and n.list_input:
        kwargs = {}
        if len(n.inputs) > 2 and n.inputs[2] is not n.inputs[1]:
            kwargs["key"] = ts[2]
        return {"args": ts[:2], "kwargs": kwargs}
    return {"args": [ts] if n.list_input else ts[:1], "kwargs": {}}


def _call_value(v: Any, ts: list[dict[str, Any]]) -> Any:
    if isinstance(v, dict):
        if "__tensor__" in v:
            return ts[v["__tensor__"]]
        if "__tuple__" in v:
            return [_call_value(x, ts) for x in v["__tuple__"]]
        if "__dict__" in v:
            return {k: _call_value(x, ts) for k, x in v["__dict__"].items()}
        if "__array__" in v:
            return {"class_name": "__numpy__",
                    "config": {"value": v["__array__"], "dtype": v["dtype"]}}  # fmt: skip
        return {k: _call_value(x, ts) for k, x in v.items()}
    if isinstance(v, list):
        return [_call_value(x, ts) for x in v]
    return v
