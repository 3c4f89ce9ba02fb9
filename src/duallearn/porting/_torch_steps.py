"""``to_torch``: what each duallearn layer computes, written with torch ops on duallearn's
layout (channels-last), reading its parameters from torch modules registered under torch's
names. One function per layer family; each gets the root module, the :class:`Step` and the
input tensors, and returns the list of outputs. Torch is imported inside the functions (the
front-end imports no framework at module level)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One node of the duallearn graph: ``kind`` (the layer class), its config, the torch
    module path and recurrent layer index, and the tensor numbers it reads and writes."""

    kind: str
    cfg: dict[str, Any]
    path: str
    index: int
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)


Run = Callable[[Any, Step, list[Any]], list[Any]]
STEPS: dict[str, Run] = {}


def step(*kinds: str) -> Callable[[Run], Run]:
    def register(fn: Run) -> Run:
        for k in kinds:
            STEPS[k] = fn
        return fn

    return register


# ---- shared helpers ----------------------------------------------------------------------------


def same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow 'SAME' padding of one axis: ``(before, after)``."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def activate(name: str, x: Any) -> Any:
    """A duallearn activation (by canonical name) with torch ops."""
    import torch
    import torch.nn.functional as F

    table: dict[str, Callable[[Any], Any]] = {
        "linear": lambda v: v,
        "relu": F.relu,
        "relu6": F.relu6,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "softmax": lambda v: F.softmax(v, dim=-1),
        "log_softmax": lambda v: F.log_softmax(v, dim=-1),
        "gelu": F.gelu,
        "elu": F.elu,
        "celu": F.celu,
        "selu": F.selu,
        "softplus": F.softplus,
        "softsign": F.softsign,
        "silu": F.silu,
        "hard_sigmoid": F.hardsigmoid,
        "hard_silu": F.hardswish,
        "leaky_relu": lambda v: F.leaky_relu(v, 0.2),
        "exponential": torch.exp,
        "mish": F.mish,
        "log_sigmoid": F.logsigmoid,
        "hard_tanh": F.hardtanh,
        "tanh_shrink": F.tanhshrink,
        "soft_shrink": F.softshrink,
        "hard_shrink": F.hardshrink,
    }
    return table[name](x)


ACTIVATION_NAMES = (
    "linear", "relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "gelu", "elu",
    "celu", "selu", "softplus", "softsign", "silu", "hard_sigmoid", "hard_silu", "leaky_relu",
    "exponential", "mish", "log_sigmoid", "hard_tanh", "tanh_shrink", "soft_shrink",
    "hard_shrink",
)  # fmt: skip


def _to_first(x: Any, cfg: dict[str, Any]) -> Any:
    return x if cfg.get("data_format") == "channels_first" else x.movedim(-1, 1)


def _from_first(y: Any, cfg: dict[str, Any]) -> Any:
    return y if cfg.get("data_format") == "channels_first" else y.movedim(1, -1)


def _pad_arg(pads: Sequence[tuple[int, int]]) -> list[int]:
    """``F.pad``'s argument for ``(before, after)`` on the trailing axes (first axis first)."""
    out: list[int] = []
    for before, after in reversed(list(pads)):
        out += [before, after]
    return out


# ---- core layers -------------------------------------------------------------------------------


@step("Dense")
def _dense(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    return [activate(st.extra["activation"], F.linear(xs[0], m.weight, m.bias))]


@step("Embedding")
def _embedding(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    return [F.embedding(xs[0].long(), m.weight)]


@step("Activation")
def _activation(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    return [activate(st.extra["activation"], xs[0])]


@step("ReLU")
def _relu(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    x, c = xs[0], st.cfg
    slope, top, thr = c["negative_slope"], c["max_value"], c["threshold"]
    y = torch.where(x > thr, x, torch.zeros_like(x)) if thr else torch.relu(x)
    if top is not None:
        y = torch.clamp(y, max=float(top))
    if slope:
        y = y - slope * torch.relu(thr - x)
    return [y]


@step("LeakyReLU")
def _leaky(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    return [F.leaky_relu(xs[0], st.cfg["negative_slope"])]


@step("ELU")
def _elu(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    return [F.elu(xs[0], st.cfg["alpha"])]


@step("Softmax")
def _softmax(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    axis = st.cfg["axis"]
    axes = axis if isinstance(axis, list) else [axis]
    x = xs[0]
    if len(axes) == 1:
        return [torch.softmax(x, dim=axes[0])]
    return [torch.exp(x - torch.logsumexp(x, dim=axes, keepdim=True))]


@step("PReLU")
def _prelu(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    x = xs[0]
    alpha = root.get_submodule(st.path).weight.reshape(st.extra["alpha_shape"])
    return [torch.relu(x) - alpha * torch.relu(-x)]


@step("Dropout")
def _dropout(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    return [F.dropout(xs[0], st.cfg["rate"], root.training)]


@step("SpatialDropout1D", "SpatialDropout2D")
def _spatial_dropout(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    fn = F.dropout1d if st.kind.endswith("1D") else F.dropout2d
    x = _to_first(xs[0], st.cfg)
    return [_from_first(fn(x, st.cfg["rate"], root.training), st.cfg)]


# ---- shapes ------------------------------------------------------------------------------------


@step("Flatten")
def _flatten(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    x = xs[0]
    if st.cfg.get("data_format") == "channels_first" and x.dim() >= 3:
        x = x.movedim(1, -1)
    return [x.reshape(x.shape[0], -1)]


@step("Reshape")
def _reshape(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    return [xs[0].reshape(xs[0].shape[0], *st.cfg["target_shape"])]


@step("Permute")
def _permute(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    return [xs[0].permute(0, *st.cfg["dims"])]


@step("ZeroPadding1D", "ZeroPadding2D")
def _zero_pad(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    pads = st.cfg["padding"]
    pads = [pads] if st.kind == "ZeroPadding1D" else pads
    x = _to_first(xs[0], st.cfg) if st.kind == "ZeroPadding2D" else xs[0].movedim(-1, 1)
    y = F.pad(x, _pad_arg([tuple(p) for p in pads]))
    return [_from_first(y, st.cfg) if st.kind == "ZeroPadding2D" else y.movedim(1, -1)]


@step("Cropping1D", "Cropping2D")
def _crop(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    crops = st.cfg["cropping"]
    crops = [crops] if st.kind == "Cropping1D" else crops
    first = st.kind == "Cropping2D" and st.cfg.get("data_format") == "channels_first"
    index: list[Any] = [slice(None), slice(None)] if first else [slice(None)]
    for a, b in crops:
        index.append(slice(a, -b if b else None))
    return [xs[0][tuple(index)]]


# ---- merging -----------------------------------------------------------------------------------


@step("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
def _merge(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    if st.kind == "Concatenate":
        return [torch.cat(xs, dim=st.cfg["axis"])]
    if st.kind == "Subtract":
        return [xs[0] - xs[1]]
    y = xs[0]
    for x in xs[1:]:
        if st.kind in ("Add", "Average"):
            y = y + x
        elif st.kind == "Multiply":
            y = y * x
        elif st.kind == "Maximum":
            y = torch.maximum(y, x)
        else:
            y = torch.minimum(y, x)
    return [y / len(xs) if st.kind == "Average" else y]


# ---- convolutions ------------------------------------------------------------------------------


def _conv_pads(kind: str, cfg: dict[str, Any], spatial: Sequence[int]) -> list[tuple[int, int]]:
    k, s, d = cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"]
    if cfg["padding"] == "valid":
        return [(0, 0)] * len(k)
    if cfg["padding"] == "causal":
        return [((k[0] - 1) * d[0], 0)]
    return [same_pads(n, ki, si, di) for n, ki, si, di in zip(spatial, k, s, d, strict=False)]


@step("Conv1D", "Conv2D", "Conv3D")
def _conv(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    x = _to_first(xs[0], st.cfg)
    pads = _conv_pads(st.kind, st.cfg, x.shape[2:])
    if any(any(p) for p in pads):
        x = F.pad(x, _pad_arg(pads))
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[x.dim() - 2]
    y = fn(x, m.weight, m.bias, tuple(st.cfg["strides"]), 0, tuple(st.cfg["dilation_rate"]),
           st.cfg["groups"])  # fmt: skip
    return [activate(st.extra["activation"], _from_first(y, st.cfg))]


def transpose_length(cfg: dict[str, Any], n: int, axis: int) -> tuple[int, int]:
    """``(before, length)``: duallearn's transposed-conv output is ``full[before:before+len]``
    of the unpadded transposed convolution (zero-extended at the end)."""
    k, s, d = cfg["kernel_size"][axis], cfg["strides"][axis], cfg["dilation_rate"][axis]
    keff = (k - 1) * d + 1
    same = cfg["padding"] == "same"
    op = cfg.get("output_padding")
    if op is not None:
        length = (n - 1) * s + (keff % 2 if same else keff) + op[axis]
    else:
        length = n * s if same else n * s + max(keff - s, 0)
    before = same_pads(length, k, s, d)[0] if same else 0
    return before, length


@step("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    x = _to_first(xs[0], st.cfg)
    r = x.dim() - 2
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[r]
    y = fn(x, m.weight, None, tuple(st.cfg["strides"]), 0, 0, 1, tuple(st.cfg["dilation_rate"]))
    index: list[Any] = [slice(None), slice(None)]
    extend: list[tuple[int, int]] = []
    for a in range(r):
        before, length = transpose_length(st.cfg, x.shape[2 + a], a)
        extend.append((0, max(before + length - y.shape[2 + a], 0)))
        index.append(slice(before, before + length))
    if any(e for _, e in extend):
        y = F.pad(y, _pad_arg(extend))
    y = y[tuple(index)]
    if m.bias is not None:
        y = y + m.bias.reshape(1, -1, *[1] * r)
    return [activate(st.extra["activation"], _from_first(y, st.cfg))]


# ---- pooling -----------------------------------------------------------------------------------


@step("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
      "AveragePooling3D")  # fmt: skip
def _pool(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch
    import torch.nn.functional as F

    x = _to_first(xs[0], st.cfg)
    r = x.dim() - 2
    k, s = tuple(st.cfg["pool_size"]), tuple(st.cfg["strides"])
    is_max = st.kind.startswith("Max")
    fn = getattr(F, f"{'max' if is_max else 'avg'}_pool{r}d")
    if st.cfg["padding"] == "valid":
        return [_from_first(fn(x, k, s), st.cfg)]
    pads = _pad_arg([same_pads(n, ki, si) for n, ki, si in zip(x.shape[2:], k, s, strict=False)])
    if is_max:
        return [_from_first(fn(F.pad(x, pads, value=-math.inf), k, s), st.cfg)]
    total = fn(F.pad(x, pads), k, s)
    count = fn(F.pad(torch.ones_like(x[:1, :1]), pads), k, s)
    return [_from_first(total / count, st.cfg)]


@step("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
      "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")  # fmt: skip
def _global_pool(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    x = xs[0]
    first = st.cfg.get("data_format") == "channels_first"
    axes = tuple(range(2, x.dim())) if first else tuple(range(1, x.dim() - 1))
    keep = bool(st.cfg.get("keepdims"))
    if "Max" in st.kind:
        return [x.amax(dim=axes, keepdim=keep)]
    return [x.mean(dim=axes, keepdim=keep)]


# ---- normalization -----------------------------------------------------------------------------


@step("BatchNormalization")
def _batch_norm(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    x = xs[0]
    axis = st.cfg["axis"] % x.dim()
    xc = x.movedim(axis, 1) if axis != 1 else x
    train = root.training and st.cfg["trainable"]
    eps, mom = st.cfg["epsilon"], 1.0 - st.cfg["momentum"]
    if train:
        m.num_batches_tracked.add_(1)
    if not train or st.cfg["unbiased_moving_variance"]:
        y = F.batch_norm(xc, m.running_mean, m.running_var, m.weight, m.bias, train, mom, eps)
    else:  # Keras's biased moving variance
        dims = [d for d in range(xc.dim()) if d != 1]
        mean = xc.mean(dim=dims)
        var = xc.var(dim=dims, unbiased=False)
        shape = [1, -1] + [1] * (xc.dim() - 2)
        y = (xc - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
        if m.weight is not None:
            y = y * m.weight.reshape(shape) + m.bias.reshape(shape)
        with torch.no_grad():
            m.running_mean.mul_(1 - mom).add_(mom * mean)
            m.running_var.mul_(1 - mom).add_(mom * var)
    return [y.movedim(1, axis) if axis != 1 else y]


@step("LayerNormalization")
def _layer_norm(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    x = xs[0]
    raw = st.cfg["axis"] if isinstance(st.cfg["axis"], list) else [st.cfg["axis"]]
    axes = sorted(a % x.dim() for a in raw)
    n = len(axes)
    trailing = axes == list(range(x.dim() - n, x.dim()))
    xm = x if trailing else x.movedim(axes, list(range(x.dim() - n, x.dim())))
    y = F.layer_norm(xm, tuple(xm.shape[-n:]), m.weight, m.bias, st.cfg["epsilon"])
    return [y if trailing else y.movedim(list(range(x.dim() - n, x.dim())), axes)]


@step("GroupNormalization")
def _group_norm(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch.nn.functional as F

    m = root.get_submodule(st.path)
    x = xs[0]
    axis = st.cfg["axis"] % x.dim()
    xc = x.movedim(axis, 1)
    y = F.group_norm(xc, m.num_groups, m.weight, m.bias, st.cfg["epsilon"])
    return [y.movedim(1, axis)]


# ---- dl.ops calls ------------------------------------------------------------------------------


def _decode(value: Any, tensors: Sequence[Any]) -> Any:
    if isinstance(value, dict):
        if "__tensor__" in value:
            return tensors[value["__tensor__"]]
        if "__slice__" in value:
            return slice(*value["__slice__"])
        if "__tuple__" in value:
            return tuple(_decode(v, tensors) for v in value["__tuple__"])
        if "__ellipsis__" in value:
            return Ellipsis
        return {k: _decode(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    return value


def _gelu_mode(approximate: bool) -> str:
    return "tanh" if approximate else "none"


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


OPS: dict[str, Callable[..., Any]] = {}


def _ops_table() -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as F

    if not OPS:
        OPS.update(
            getitem=lambda x, key: x[key],
            add=lambda a, b: a + b,
            subtract=lambda a, b: a - b,
            multiply=lambda a, b: a * b,
            divide=lambda a, b: a / b,
            negative=lambda x: -x,
            gelu=lambda x, approximate=True: F.gelu(x, approximate=_gelu_mode(approximate)),
            mean=lambda x, axis=None, keepdims=False: x.mean(dim=_axis(axis), keepdim=keepdims),
            clip=lambda x, lo, hi: torch.clamp(x, lo, hi),
            log_softmax=lambda x, axis=-1: F.log_softmax(x, dim=axis),
            pad=lambda x, pad_width, mode="constant", constant_values=None: F.pad(
                x, _pad_arg([tuple(p) for p in pad_width])[: 2 * len(pad_width)],
                value=0.0 if constant_values is None else float(constant_values),
            ),
        )  # fmt: skip
    return OPS


OP_NAMES = ("getitem", "add", "subtract", "multiply", "divide", "negative", "gelu", "mean",
            "clip", "log_softmax", "pad")  # fmt: skip


@step("OpLayer")
def _op(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    fn = _ops_table()[st.cfg["op"]]
    args = [_decode(a, xs) for a in st.cfg["args"]]
    kwargs = {k: _decode(v, xs) for k, v in st.cfg["kwargs"].items()}
    return [fn(*args, **kwargs)]
