"""Model configs as plain JSON, and their safe reconstruction.

Only classes in duallearn's registries (plus those a user registered) can be named in a
config; nothing is imported or evaluated from a file.
"""

from __future__ import annotations

from typing import Any

from ..errors import SerializationError
from ..layers._input import CallArgs, Input
from ..layers._layer import REGISTRY, Layer
from ._registration import known_objects


def layer_config(layer: Layer) -> dict[str, Any]:
    return {"class_name": registered_name(layer), "config": layer.get_config()}


def registered_name(obj: Any) -> str:
    name = getattr(type(obj), "_registered_name", type(obj).__name__)
    if known_objects().get(name) is type(obj):  # dl.saving.get_custom_objects() / a scope
        return str(name)
    if name not in REGISTRY or REGISTRY.get(name) is not type(obj):
        raise SerializationError(
            f"Layer class {type(obj).__name__} is not registered, so a saved model could not "
            "be loaded again. Fix: decorate it with "
            "@dl.saving.register_serializable(package='my_pkg')."
        )
    return name


def layer_from_config(cfg: Any, custom_objects: dict[str, Any] | None = None) -> Layer:
    if (
        not isinstance(cfg, dict)
        or not isinstance(cfg.get("class_name"), str)
        or not isinstance(cfg.get("config", {}), dict)
    ):
        raise SerializationError(
            f"A layer config must be {{class_name, config}}. Received: {cfg!r}"[:300]
        )
    name = cfg["class_name"]
    if custom_objects and name in custom_objects:
        cls = custom_objects[name]
    elif name in REGISTRY:
        cls = REGISTRY.get(name)
    else:
        raise SerializationError(
            f"Unknown layer class {name!r} in the model config. Only duallearn's layers and "
            "registered classes can be loaded. Fix: register the class with "
            "@dl.saving.register_serializable, or pass it in custom_objects={...}."
        )
    try:
        if getattr(cls, "_needs_custom_objects", False):  # Lambda, TorchModule, TFModule
            return cls.from_config(dict(cfg.get("config", {})), custom_objects=custom_objects)  # type: ignore[no-any-return]
        return cls.from_config(dict(cfg.get("config", {})))  # type: ignore[no-any-return]
    except SerializationError:
        raise
    except (TypeError, ValueError) as exc:
        raise SerializationError(f"Cannot build layer {name!r} from its config: {exc}") from None


def sequential_config(model: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"name": model.name, "layers": [layer_config(l) for l in model.layers]}
    if model._input is not None:
        cfg["input"] = {"shape": list(model._input.shape[1:]), "dtype": model._input.dtype}
    return cfg


def sequential_from_config(
    cfg: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Any:
    Sequential = REGISTRY.get("Sequential")

    layers: list[Any] = []
    inp = cfg.get("input")
    if inp is not None:
        layers.append(Input(tuple(inp["shape"]), dtype=inp.get("dtype")))
    layers += [layer_from_config(c, custom_objects) for c in cfg.get("layers", [])]
    return Sequential(layers, name=cfg.get("name"))


def functional_config(model: Any) -> dict[str, Any]:
    structure = graph_structure(model)
    return {
        "name": model.name,
        "layers": [layer_config(layer) for layer in model.graph.layers],
        **structure,
    }


def graph_structure(model: Any) -> dict[str, Any]:
    """The wiring of a functional model: its inputs, its nodes (which layer, by name, is
    called on which tensor numbers), its outputs. ``functional_config`` adds the layers'
    configs; ``clone_model`` replays it on new layers (no registration needed)."""
    graph = model.graph
    names = [layer.name for layer in graph.layers]
    if len(set(names)) != len(names):
        raise SerializationError(f"Layer names in model {model.name!r} must be unique: {names}.")
    spec = graph.spec(model._dtype())
    return {
        "inputs": [
            {"name": n, "shape": list(t.shape[1:]), "dtype": t.dtype}
            for n, t in zip(model.input_names, graph.inputs, strict=True)
        ],
        "nodes": [
            {"layer": names[n.layer], "inputs": list(n.inputs), "list_input": n.list_input}
            | ({"call_args": n.call_args} if n.call_args else {})
            for n in spec.nodes
        ],
        "outputs": list(spec.outputs),
        "output_names": list(model.output_names),
        "dict_inputs": isinstance(model._input_struct, dict),
        "dict_outputs": isinstance(model._output_struct, dict),
    }


def functional_from_config(
    cfg: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> Any:
    try:
        names = [c["config"]["name"] for c in cfg["layers"]]
        if len(set(names)) != len(names):
            raise SerializationError(f"The functional model config repeats layer names: {names}.")
        layers = {c["config"]["name"]: layer_from_config(c, custom_objects) for c in cfg["layers"]}
    except (KeyError, IndexError, TypeError) as exc:
        raise SerializationError(f"The functional model config is malformed: {exc!r}.") from None
    return replay_functional(cfg, layers)


def replay_functional(
    cfg: dict[str, Any],
    layers: dict[str, Layer],
    inputs: list[Any] | None = None,
    call: Any = None,
) -> Any:
    """Build a functional model by replaying the nodes of ``cfg`` (from
    :func:`functional_config`) on ``layers`` (keyed by the layer names in ``cfg``).

    ``inputs``: symbolic tensors to build on (default: new ``Input``s as in ``cfg``);
    ``call(layer, x)``: how each node calls its layer (default: ``layer(x)``). Used by
    loading and by ``dl.models.clone_model``."""
    Model = REGISTRY.get("Model")

    def at(tensors: list[Any], i: Any) -> Any:
        # Tensor numbers are indices into what exists so far: no negatives, no forward refs.
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(tensors):
            raise SerializationError(
                f"The functional model config refers to tensor {i!r}; only 0..{len(tensors) - 1}"
                " exist at that point."
            )
        return tensors[i]

    try:
        tensors: list[Any] = (
            list(inputs)
            if inputs is not None
            else [
                Input(tuple(i["shape"]), dtype=i.get("dtype"), name=i["name"])
                for i in cfg["inputs"]
            ]
        )
        n_inputs = len(tensors)
        nodes = [(layers[node["layer"]], node) for node in cfg["nodes"]]
    except (KeyError, IndexError, TypeError) as exc:
        raise SerializationError(f"The functional model config is malformed: {exc!r}.") from None
    for layer, node in nodes:
        try:
            args = [at(tensors, i) for i in node["inputs"]]
            x = args if node["list_input"] else args[0]
            if node.get("call_args"):  # layer(a, b, key=c): the call's own arguments
                c = CallArgs.rebuild(node["call_args"], args)
                pos, kw = list(c.args), c.kwargs
            else:
                pos, kw = [x], {}
            out = layer(*pos, **kw) if call is None else None
        except (KeyError, IndexError, TypeError) as exc:
            raise SerializationError(
                f"The functional model config is malformed: {exc!r}."
            ) from None
        if call is not None:  # a user's function: its errors are its own
            out = call(layer, *pos, **kw)
        tensors.extend(out if isinstance(out, list) else [out])
    try:
        outputs = [at(tensors, i) for i in cfg["outputs"]]
        ins: Any = (
            {i["name"]: t for i, t in zip(cfg["inputs"], tensors[:n_inputs], strict=True)}
            if cfg.get("dict_inputs")
            else (tensors[:n_inputs] if n_inputs > 1 else tensors[0])
        )
        outs: Any = (
            dict(zip(cfg["output_names"], outputs, strict=True))
            if cfg.get("dict_outputs")
            else (outputs if len(outputs) > 1 else outputs[0])
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SerializationError(f"The functional model config is malformed: {exc!r}.") from None
    return Model(ins, outs, name=cfg.get("name"))


def model_from_config(cfg: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    custom_objects = known_objects(custom_objects)  # + the registered objects
    if isinstance(cfg, dict) and _is_subclassed_model(cfg.get("class_name"), custom_objects):
        return layer_from_config(cfg, custom_objects)  # a registered subclassed dl.Model
    if not isinstance(cfg, dict) or cfg.get("class_name") not in (
        "Sequential",
        "Model",
        "Functional",
    ):
        raise SerializationError(
            "The model config must name class Sequential or Model. Received: "
            f"{(cfg or {}).get('class_name') if isinstance(cfg, dict) else type(cfg).__name__!r}."
        )
    inner = cfg.get("config")
    if not isinstance(inner, dict):
        raise SerializationError("The model config lacks its 'config' object.")
    if cfg["class_name"] == "Sequential":
        return sequential_from_config(inner, custom_objects)
    return functional_from_config(inner, custom_objects)


def _is_subclassed_model(name: Any, custom_objects: dict[str, Any] | None) -> bool:
    Model = REGISTRY.get("Model")

    if not isinstance(name, str) or name in ("Sequential", "Model", "Functional"):
        return False
    cls = (custom_objects or {}).get(name) or (REGISTRY.get(name) if name in REGISTRY else None)
    return isinstance(cls, type) and issubclass(cls, Model)
