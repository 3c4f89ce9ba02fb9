"""``dl.porting.to_torch`` / ``model.to_torch()``: a plain ``torch.nn.Module`` computing a
duallearn model, whose ``state_dict()`` has torch's names and layouts."""

from __future__ import annotations

import functools
from typing import Any

from ..errors import ConfigError
from . import _torch_steps_rnn  # noqa: F401 - registers the recurrent and attention steps
from ._torch_map import layer_to_torch, module_path
from ._torch_steps import ACTIVATION_NAMES, OP_NAMES, STEPS, Step

_SPATIAL = (
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "SpatialDropout1D",
    "SpatialDropout2D",
)  # fmt: skip
_AGNOSTIC = (
    "Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "Add", "Subtract", "Multiply",
    "Average", "Maximum", "Minimum", "BatchNormalization", "GroupNormalization", "PReLU",
)  # fmt: skip


def to_torch(model: Any) -> Any:
    """A plain ``torch.nn.Module`` that computes ``model``, with its current weights.

    Its ``state_dict()`` has torch's names and layouts (the mapping table of
    :func:`~duallearn.porting.torch_state_dict`), so for a model made by
    :func:`~duallearn.from_torch` it loads into the original class with
    ``load_state_dict(sd, strict=True)``. Each weighted layer becomes a real torch module
    (``nn.Linear``, ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.LSTM`` holding every stacked
    layer, ``nn.MultiheadAttention``...) at its module path; the forward pass follows the
    duallearn graph (channels-last inside) and trains as duallearn does: dropout and
    BatchNorm follow ``module.train()`` / ``eval()``, Keras-style BatchNorm keeps its biased
    moving variance, a Keras LSTM's ``bias_hh`` stays frozen at zero.

    Inputs and outputs use torch's layout: channels-first for image-like tensors (those a
    convolution, pooling or padding layer reads or writes), otherwise duallearn's order; a
    model from ``from_torch`` takes exactly what the original module took.

    Args:
        model: a built duallearn model (functional or Sequential).

    Returns:
        A ``torch.nn.Module`` (a copy: later changes on either side do not propagate).

    Raises:
        ConfigError: a layer (or a setting: Keras RNN dropout, masks, attention masks) has no
            torch equivalent; the message names the layer.

    Example:
        >>> import duallearn as dl, torch
        >>> m = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2, name="fc")])
        >>> net = dl.porting.to_torch(m)
        >>> sorted(net.state_dict())
        ['fc.bias', 'fc.weight']
    """
    from ._torch_weights import _require_built

    _require_built(model)
    cls = _module_class()
    return cls(model)


def __getattr__(name: str) -> Any:
    """``TorchGraphModule``: built on first use (so that pickle finds the class)."""
    if name == "TorchGraphModule":
        return _module_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- the plan: steps and containers ------------------------------------------------------------


def _kind(layer: Any) -> str:
    return type(layer).__name__


def _activation_name(layer: Any, value: Any) -> str:
    from .. import activations

    name = activations.canonical_name(value)
    if name not in ACTIVATION_NAMES:
        raise ConfigError(
            f"Layer {layer.name!r} uses the activation {name!r}, which to_torch does not "
            f"write. Supported: {', '.join(ACTIVATION_NAMES)}. Fix: use one of them."
        )
    return name


def _check_rnn(layer: Any, owner: str) -> None:
    kind = _kind(layer)
    problems = []
    if layer.dropout or layer.recurrent_dropout:
        problems.append("Keras's per-sequence dropout / recurrent_dropout (nn.LSTM has none)")
    from .. import activations

    act = activations.canonical_name(layer.activation)
    rec = activations.canonical_name(getattr(layer, "recurrent_activation", "sigmoid"))
    if kind == "SimpleRNN" and act not in ("tanh", "relu"):
        problems.append(f"activation {act!r} (nn.RNN has tanh or relu)")
    if kind != "SimpleRNN" and (act != "tanh" or rec != "sigmoid"):
        problems.append(f"activations {act!r}/{rec!r} (torch fixes tanh/sigmoid)")
    if kind == "GRU" and not layer.reset_after:
        problems.append("reset_after=False (nn.GRU computes reset_after=True)")
    if problems:
        raise ConfigError(
            f"Layer {owner!r} ({kind}) has no torch equivalent: {'; '.join(problems)}. Fix: "
            "rebuild it without them, or port that layer by hand."
        )


def _step_for(layer: Any, node: Any, ids: dict[int, int]) -> Step:
    kind = _kind(layer)
    ins = tuple(ids[id(t)] for t in node.inputs)
    outs = tuple(ids[id(t)] for t in node.outputs)
    path, index = module_path(layer.name)
    cfg = layer.get_config()
    extra: dict[str, Any] = {}
    if kind not in STEPS:
        raise ConfigError(
            f"Layer {layer.name!r} ({kind}) is not supported by to_torch: supported layers "
            f"are {', '.join(sorted(STEPS))}. Fix: replace it, or port it by hand."
        )
    if kind in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
                "Conv3DTranspose", "Activation"):  # fmt: skip
        extra["activation"] = _activation_name(layer, layer.activation)
    if kind == "OpLayer" and cfg["op"] not in OP_NAMES:
        raise ConfigError(
            f"Layer {layer.name!r} calls dl.ops.{cfg['op']}, which to_torch does not write. "
            f"Supported ops: {', '.join(OP_NAMES)}. Fix: use a layer instead."
        )
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        _check_rnn(layer, layer.name)
        extra["torch_kind"] = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[kind]
        cfg["activation"] = "relu" if "relu" in str(cfg["activation"]) else "tanh"
    if kind == "Bidirectional":
        for sub in (layer.forward_layer, layer.backward_layer):
            _check_rnn(sub, layer.name)
        inner = _kind(layer.forward_layer)
        extra["torch_kind"] = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[inner]
        for key, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            c = sub.get_config()
            c["activation"] = "relu" if "relu" in str(c["activation"]) else "tanh"
            extra[key] = c
        if len(node.inputs) > 1:
            raise ConfigError(f"Layer {layer.name!r}: initial states are not supported.")
    if kind == "MultiHeadAttention":
        if len(node.inputs) > 3 or cfg.get("return_attention_scores"):
            raise ConfigError(
                f"Layer {layer.name!r} (MultiHeadAttention) is called with an attention_mask "
                "or returns its scores, which to_torch does not write. Fix: call it on "
                "(query, value[, key]) only, or use use_causal_mask=True."
            )
    if kind == "PReLU":
        extra["alpha_shape"] = tuple(layer.weights[0].shape)
    if kind == "Embedding" and cfg.get("mask_zero"):
        raise ConfigError(
            f"Layer {layer.name!r} (Embedding) has mask_zero=True; torch modules carry no "
            "Keras masks. Fix: build it with mask_zero=False."
        )
    if kind == "Dropout" and cfg.get("noise_shape") is not None:
        raise ConfigError(f"Layer {layer.name!r}: Dropout noise_shape is not supported.")
    return Step(kind, cfg, path, index, ins, outs, extra)


def _rnn_container(torch: Any, layers: list[Any]) -> Any:
    first = layers[0]
    bi = _kind(first) == "Bidirectional"
    cell = first.forward_layer if bi else first
    kind = {"SimpleRNN": "RNN", "LSTM": "LSTM", "GRU": "GRU"}[_kind(cell)]
    extra = {}
    if kind == "RNN":
        from .. import activations

        extra["nonlinearity"] = activations.canonical_name(cell.activation)
    in_size = int(cell.weights[0].shape[0])
    return getattr(torch.nn, kind)(
        in_size, cell.units, num_layers=len(layers), bias=cell.use_bias, batch_first=True,
        bidirectional=bi, **extra,
    )  # fmt: skip


def _container(torch: Any, layer: Any) -> Any:
    """The torch module holding one layer's parameters under torch's names."""
    nn = torch.nn
    kind = _kind(layer)
    w = {v.name: v for v in layer._weights}
    if kind == "Dense":
        k = w["kernel"]
        return nn.Linear(k.shape[0], k.shape[1], bias="bias" in w)
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        k = w["kernel"]
        r = len(k.shape) - 2
        cls = getattr(nn, f"Conv{r}d")
        return cls(k.shape[-2] * layer.groups, k.shape[-1], tuple(k.shape[:r]), groups=layer.groups,
                   bias="bias" in w)  # fmt: skip
    if kind in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        k = w["kernel"]
        r = len(k.shape) - 2
        cls = getattr(nn, f"ConvTranspose{r}d")
        return cls(k.shape[-1], k.shape[-2], tuple(k.shape[:r]), bias="bias" in w)
    if kind == "BatchNormalization":
        c = w["moving_mean"].shape[0]
        affine = layer.center or layer.scale
        return nn.BatchNorm1d(c, eps=layer.epsilon, momentum=1 - layer.momentum, affine=affine)
    if kind == "LayerNormalization":
        shape = tuple(next(iter(w.values())).shape) if w else (1,)
        if layer.center and not layer.scale:
            raise ConfigError(
                f"Layer {layer.name!r} (LayerNormalization) has center=True, scale=False; "
                "nn.LayerNorm cannot have a bias without a weight. Fix: scale=True."
            )
        return nn.LayerNorm(shape, eps=layer.epsilon, elementwise_affine=layer.scale,
                            bias=layer.center)  # fmt: skip
    if kind == "GroupNormalization":
        c = next(iter(w.values())).shape[0]
        groups = c if layer.groups == -1 else layer.groups
        return nn.GroupNorm(groups, c, eps=layer.epsilon, affine=layer.center or layer.scale)
    if kind == "Embedding":
        e = w["embeddings"]
        return nn.Embedding(e.shape[0], e.shape[1])
    if kind == "MultiHeadAttention":
        q, kk, v = w["query_kernel"], w["key_kernel"], w["value_kernel"]
        e = q.shape[0]
        return nn.MultiheadAttention(
            e, layer.num_heads, dropout=layer.dropout, bias=layer.use_bias, kdim=kk.shape[0],
            vdim=v.shape[0], batch_first=True,
        )  # fmt: skip
    if kind == "PReLU":
        return nn.PReLU(int(w["alpha"].numpy().size))
    raise ConfigError(f"Layer {layer.name!r} ({kind}) has no torch module.")  # pragma: no cover


def _place(root: Any, path: str, module: Any) -> None:
    """Register ``module`` at the dotted ``path`` (creating empty parents)."""
    import torch

    parts = path.split(".")
    parent = root
    for p in parts[:-1]:
        if p not in parent._modules:
            parent.add_module(p, torch.nn.Module())
        parent = parent._modules[p]
    if parts[-1] in parent._modules:
        raise ConfigError(f"Two layers map to the torch module path {path!r}. Fix: rename one.")
    parent.add_module(parts[-1], module)


def _load(module: Any, layers: list[Any], torch: Any, prefix_rel: dict[str, Any]) -> None:
    sd = {k: torch.from_numpy(v.copy()) for k, v in prefix_rel.items()}
    have = module.state_dict()
    for key, value in have.items():  # affine parts Keras leaves out (center/scale False)
        if key not in sd:
            sd[key] = value
    module.load_state_dict(sd, strict=True)
    for layer in layers:
        for sub in ([layer.forward_layer, layer.backward_layer]
                    if _kind(layer) == "Bidirectional" else [layer]):  # fmt: skip
            _freeze(module, sub, layer, prefix_rel)


def _freeze(module: Any, cell: Any, layer: Any, rel: dict[str, Any]) -> None:
    """Parameters that do not train in duallearn do not train here either."""
    kind = _kind(cell)
    if kind in ("LSTM", "SimpleRNN") and cell.use_bias and not cell.use_recurrent_bias:
        _, index = module_path(layer.name)
        for name, p in module.named_parameters():
            if name.startswith(f"bias_hh_l{index}"):
                p.requires_grad_(False)
    if kind == "BatchNormalization" and module.weight is not None:
        if not cell.scale:
            module.weight.requires_grad_(False)
        if not cell.center:
            module.bias.requires_grad_(False)
    if not layer.trainable:
        for p in module.parameters():
            p.requires_grad_(False)


# ---- boundary layouts --------------------------------------------------------------------------


def _io_perms(model: Any, graph: Any) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Per input and output: the permutation from torch's layout to duallearn's."""
    stored = getattr(model, "_torch_layouts", None)
    if stored:
        return [tuple(p) for p in stored["inputs"]], [tuple(p) for p in stored["outputs"]]
    consumers: dict[int, list[Any]] = {}
    producer: dict[int, Any] = {}
    for node in graph.nodes:
        for t in node.inputs:
            consumers.setdefault(id(t), []).append(node)
        for t in node.outputs:
            producer[id(t)] = node

    def spatial_down(t: Any) -> bool:
        queue, seen = [t], set()
        while queue:
            cur = queue.pop(0)
            for node in consumers.get(id(cur), []):
                if id(node) in seen:
                    continue
                seen.add(id(node))
                kind = _kind(node.layer)
                if kind in _SPATIAL:
                    return True
                if kind in _AGNOSTIC:
                    queue.extend(node.outputs)
        return False

    def spatial_up(t: Any) -> bool:
        node = producer.get(id(t))
        while node is not None:
            kind = _kind(node.layer)
            if kind in _SPATIAL:
                return "Global" not in kind or bool(node.layer.get_config().get("keepdims"))
            if kind not in _AGNOSTIC:
                return False
            node = producer.get(id(node.inputs[0]))
        return False

    def perm(t: Any, spatial: bool) -> tuple[int, ...]:
        r = len(t.shape)
        if spatial and r >= 3:
            return (0, *range(2, r), 1)
        return tuple(range(r))

    ins = [perm(t, spatial_down(t)) for t in graph.inputs]
    outs = [perm(t, spatial_up(t)) for t in graph.outputs]
    return ins, outs


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(perm.index(i) for i in range(len(perm)))


# ---- the module class --------------------------------------------------------------------------


@functools.cache
def _module_class() -> type:
    import torch

    class TorchGraphModule(torch.nn.Module):
        """A duallearn model as a torch module: torch-named parameters, duallearn's graph."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            graph = model.graph
            ids = graph.tensor_ids
            steps: list[Step] = []
            groups: dict[str, list[Any]] = {}
            order: list[str] = []
            for node in graph.nodes:
                layer = node.layer
                if hasattr(layer, "graph") and hasattr(layer, "layers"):
                    raise ConfigError(
                        f"Layer {layer.name!r} is a nested model, which to_torch does not "
                        "write yet. Fix: build one functional model from its layers."
                    )
                st = _step_for(layer, node, ids)
                steps.append(st)
                if layer.weights:
                    path = st.path
                    if path not in groups:
                        groups[path] = []
                        order.append(path)
                    if all(layer is not g for g in groups[path]):
                        groups[path].append(layer)
            for path in order:
                layers = sorted(groups[path], key=lambda l: module_path(l.name)[1])
                rnn = _kind(layers[0]) in ("SimpleRNN", "LSTM", "GRU", "Bidirectional")
                if not rnn and len(layers) > 1:
                    raise ConfigError(
                        f"Layers {', '.join(l.name for l in layers)} all map to the torch path "
                        f"{path!r}. Fix: give them distinct names."
                    )
                mod = _rnn_container(torch, layers) if rnn else _container(torch, layers[0])
                _place(self, path, mod)
                rel: dict[str, Any] = {}
                for layer in layers:
                    rel.update(layer_to_torch(layer))
                _load(mod, layers, torch, rel)
            self._steps = steps
            self._inputs = [ids[id(t)] for t in graph.inputs]
            self._outputs = [ids[id(t)] for t in graph.outputs]
            self._in_perms, self._out_perms = _io_perms(model, graph)
            self._templates: dict[Any, Any] = {}

        def forward(self, *inputs: Any) -> Any:
            if len(inputs) != len(self._inputs):
                raise ConfigError(
                    f"This module takes {len(self._inputs)} input(s). Received {len(inputs)}."
                )
            env = {}
            for i, x, perm in zip(self._inputs, inputs, self._in_perms, strict=True):
                env[i] = x.permute(perm) if perm != tuple(range(len(perm))) else x
            for st in self._steps:
                outs = STEPS[st.kind](self, st, [env[i] for i in st.ins])
                for i, y in zip(st.outs, outs, strict=True):
                    env[i] = y
            res = []
            for i, perm in zip(self._outputs, self._out_perms, strict=True):
                y = env[i]
                res.append(y.permute(_inverse(perm)) if perm != tuple(range(len(perm))) else y)
            return res[0] if len(res) == 1 else tuple(res)

    TorchGraphModule.__module__ = __name__
    TorchGraphModule.__qualname__ = "TorchGraphModule"
    return TorchGraphModule
