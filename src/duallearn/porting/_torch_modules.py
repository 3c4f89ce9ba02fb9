"""``from_torch``: one converter per ``torch.nn`` module class (the "from PyTorch" half of the
mapping table in docs/porting_torch.md). Each takes the walk's :class:`Ctx`, the module and
its converted arguments, and returns what the module returns (:class:`Val`, tuples of them,
:class:`Stacked` RNN states). Weights are not touched here: ``from_torch`` loads the module's
``state_dict`` afterwards through the same table ``torch_state_dict`` uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._torch_graph import Ctx, NotSupported, Val

Converter = Callable[[Ctx, Any, list[Any], dict[str, Any]], Any]
MODULES: dict[str, Converter] = {}


def module(*names: str) -> Callable[[Converter], Converter]:
    def register(fn: Converter) -> Converter:
        for n in names:
            MODULES[n] = fn
        return fn

    return register


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * n


def tensor_arg(ctx: Ctx, args: Sequence[Any], i: int = 0, what: str = "input") -> Val:
    v = args[i] if len(args) > i else None
    if not isinstance(v, Val):
        raise ctx.error(f"its {what} is {type(v).__name__}, not a tensor", "pass a tensor")
    return v


def _no_extra(ctx: Ctx, args: Sequence[Any], kwargs: dict[str, Any], n: int = 1) -> None:
    extra = [a for a in args[n:] if a is not None] + [k for k, v in kwargs.items() if v is not None]
    if extra:
        raise ctx.error(
            f"it is called with {len(extra)} extra argument(s) (initial states, output sizes)",
            "call it on the input tensor only",
        )


# ---- dense, embedding, dropout -----------------------------------------------------------------


@module("Linear")
def _linear(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import Dense

    x = ctx.last_axis_kept(tensor_arg(ctx, args))
    layer = ctx.module_layer(
        "", lambda n: Dense(mod.out_features, use_bias=mod.bias is not None, name=n)
    )
    return Val(layer(x.t), x.perm)


@module("Identity")
def _identity(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    return args[0]


@module("Embedding")
def _embedding(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import Embedding

    if mod.padding_idx is not None:
        raise ctx.error(
            f"padding_idx={mod.padding_idx} (torch never updates that row; duallearn's "
            "Embedding trains every row, so training would differ)",
            "build the module with padding_idx=None; the row keeps its current values",
        )
    if mod.max_norm is not None:
        raise ctx.error(f"max_norm={mod.max_norm} (rows renormalized in the forward pass)",
                        "build the module with max_norm=None")  # fmt: skip
    x = tensor_arg(ctx, args)
    layer = ctx.module_layer("", lambda n: Embedding(mod.num_embeddings, mod.embedding_dim, name=n))
    return Val(layer(x.t), (*x.perm, x.rank))


@module("Dropout", "AlphaDropout")
def _dropout(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import Dropout

    if type(mod).__name__ == "AlphaDropout":
        raise ctx.error("AlphaDropout keeps SELU statistics with its own noise",
                        "use nn.Dropout")  # fmt: skip
    x = tensor_arg(ctx, args)
    layer = ctx.module_layer("", lambda n: Dropout(float(mod.p), name=n))
    return Val(layer(x.t), x.perm)


@module("Dropout1d", "Dropout2d")
def _spatial_dropout(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import SpatialDropout1D, SpatialDropout2D

    cls = SpatialDropout1D if type(mod).__name__ == "Dropout1d" else SpatialDropout2D
    x = tensor_arg(ctx, args)
    if x.rank != (3 if cls is SpatialDropout1D else 4):
        raise ctx.error(f"an input of rank {x.rank}", "feed it batched channels-first maps")
    x = ctx.to_channels_last(x, type(mod).__name__)
    layer = ctx.module_layer("", lambda n: cls(float(mod.p), name=n))
    return Val(layer(x.t), x.perm)


# ---- activations -------------------------------------------------------------------------------

ACTIVATIONS = {  # torch module class → duallearn activation name
    "ReLU": "relu",
    "ReLU6": "relu6",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "SiLU": "silu",
    "SELU": "selu",
    "Softsign": "softsign",
    "Mish": "mish",
    "Hardsigmoid": "hard_sigmoid",
    "Hardswish": "hard_silu",
    "LogSigmoid": "log_sigmoid",
    "Tanhshrink": "tanh_shrink",
}


def activation(ctx: Ctx, x: Val, name: str, part: str = "") -> Val:
    """An elementwise activation layer (a module's own layer, or a function call's)."""
    from ..layers import Activation

    layer = ctx.module_layer(part, lambda n: Activation(name, name=n))
    return Val(layer(x.t), x.perm)


@module(*ACTIVATIONS)
def _activation(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return activation(ctx, tensor_arg(ctx, args), ACTIVATIONS[type(mod).__name__])


def gelu(ctx: Ctx, x: Val, approximate: str) -> Val:
    if approximate == "none":
        return activation(ctx, x, "gelu")
    if approximate != "tanh":
        raise ctx.error(f"GELU approximate={approximate!r}", "use 'none' or 'tanh'")
    from .. import ops

    return Val(ctx.rename(ops.gelu(x.t, approximate=True), "gelu"), x.perm)


@module("GELU")
def _gelu(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return gelu(ctx, tensor_arg(ctx, args), mod.approximate)


def leaky_relu(ctx: Ctx, x: Val, slope: float) -> Val:
    from ..layers import LeakyReLU

    layer = ctx.module_layer("", lambda n: LeakyReLU(negative_slope=float(slope), name=n))
    return Val(layer(x.t), x.perm)


@module("LeakyReLU")
def _leaky(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return leaky_relu(ctx, tensor_arg(ctx, args), mod.negative_slope)


def elu(ctx: Ctx, x: Val, alpha: float) -> Val:
    from ..layers import ELU

    layer = ctx.module_layer("", lambda n: ELU(alpha=float(alpha), name=n))
    return Val(layer(x.t), x.perm)


@module("ELU")
def _elu(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return elu(ctx, tensor_arg(ctx, args), mod.alpha)


@module("CELU", "Softplus", "Softshrink", "Hardshrink")
def _with_default(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    kind = type(mod).__name__
    attr, default, name = {
        "CELU": ("alpha", 1.0, "celu"),
        "Softplus": ("beta", 1.0, "softplus"),
        "Softshrink": ("lambd", 0.5, "soft_shrink"),
        "Hardshrink": ("lambd", 0.5, "hard_shrink"),
    }[kind]
    if float(getattr(mod, attr)) != default:
        raise ctx.error(f"{attr}={getattr(mod, attr)}", f"use {attr}={default}")
    return activation(ctx, tensor_arg(ctx, args), name)


@module("Hardtanh")
def _hardtanh(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = tensor_arg(ctx, args)
    if (mod.min_val, mod.max_val) == (-1.0, 1.0):
        return activation(ctx, x, "hard_tanh")
    from .. import ops

    t = ops.clip(x.t, float(mod.min_val), float(mod.max_val))
    return Val(ctx.rename(t, "clip"), x.perm)


def softmax(ctx: Ctx, x: Val, dim: Any, log: bool = False) -> Val:
    if dim is None:
        raise ctx.error("softmax without dim (torch then guesses the axis)", "pass dim=...")
    d = int(dim) % x.rank
    axis = x.perm.index(d)
    if axis == 0:
        raise ctx.error("softmax over the batch axis", "normalize over a feature axis")
    if log:
        if axis == x.rank - 1:
            return activation(ctx, x, "log_softmax")
        from .. import ops

        return Val(ctx.rename(ops.log_softmax(x.t, axis=axis), "log_softmax"), x.perm)
    from ..layers import Softmax

    layer = ctx.module_layer("", lambda n: Softmax(axis=axis if axis != x.rank - 1 else -1, name=n))
    return Val(layer(x.t), x.perm)


@module("Softmax", "LogSoftmax")
def _softmax(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return softmax(ctx, tensor_arg(ctx, args), mod.dim, type(mod).__name__ == "LogSoftmax")


@module("PReLU")
def _prelu(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import PReLU

    x = tensor_arg(ctx, args)
    n = mod.num_parameters
    if x.rank >= 2 and n != 1:
        x = ctx.to_channels_last(x, "PReLU")
        shared = list(range(1, x.rank - 1)) or None
    else:
        shared = list(range(1, x.rank))
    layer = ctx.module_layer("", lambda nm: PReLU(shared_axes=shared, name=nm))
    return Val(layer(x.t), x.perm)


# ---- convolutions ----------------------------------------------------------------------------


def zero_pad(
    ctx: Ctx, x: Val, pads: Sequence[tuple[int, int]], part: str, value: float = 0.0
) -> Val:
    """Pad the spatial axes of a channels-last ``x`` (``(before, after)`` per axis)."""
    if value == 0.0 and len(pads) in (1, 2):
        from ..layers import ZeroPadding1D, ZeroPadding2D

        layer = ctx.module_layer(
            part,
            lambda n: (
                ZeroPadding1D(tuple(pads[0]), name=n)
                if len(pads) == 1
                else ZeroPadding2D(tuple(tuple(p) for p in pads), name=n)
            ),
        )
        return Val(layer(x.t), x.perm)
    from .. import ops

    widths = [[0, 0], *[list(p) for p in pads], [0, 0]]
    t = ops.pad(x.t, widths, constant_values=value)
    return Val(ctx.rename(t, part), x.perm)


def crop(ctx: Ctx, x: Val, crops: Sequence[tuple[int, int]], part: str) -> Val:
    """Crop the spatial axes of a channels-last ``x``."""
    if len(crops) in (1, 2):
        from ..layers import Cropping1D, Cropping2D

        layer = ctx.module_layer(
            part,
            lambda n: (
                Cropping1D(tuple(crops[0]), name=n)
                if len(crops) == 1
                else Cropping2D(tuple(tuple(c) for c in crops), name=n)
            ),
        )
        return Val(layer(x.t), x.perm)
    index = (slice(None), *[slice(a, -b if b else None) for a, b in crops], slice(None))
    return Val(ctx.rename(x.t[index], part), x.perm)


def _spatial(ctx: Ctx, x: Val, rank: int, what: str) -> Val:
    if x.rank != rank + 2:
        raise ctx.error(
            f"{what} on an input of rank {x.rank} (unbatched inputs are not supported)",
            f"feed it (batch, channels, {', '.join(['size'] * rank)}) tensors",
        )
    return ctx.to_channels_last(x, what)


@module("Conv1d", "Conv2d", "Conv3d")
def _conv(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from .. import layers as L

    r = len(mod.kernel_size)
    x = _spatial(ctx, tensor_arg(ctx, args), r, type(mod).__name__)
    if mod.padding_mode != "zeros":
        raise ctx.error(f"padding_mode={mod.padding_mode!r}", "use padding_mode='zeros'")
    k, s, d = mod.kernel_size, _tuple(mod.stride, r), _tuple(mod.dilation, r)
    if isinstance(mod.padding, str):
        padding = mod.padding
    else:
        p = _tuple(mod.padding, r)
        if not any(p):
            padding = "valid"
        elif all(si == 1 for si in s) and all(
            2 * pi == di * (ki - 1) for pi, di, ki in zip(p, d, k, strict=False)
        ):
            padding = "same"  # stride 1, symmetric: TF 'same' pads exactly (p, p)
        else:
            x = zero_pad(ctx, x, [(pi, pi) for pi in p], "pad")
            padding = "valid"
    cls = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[r]
    layer = ctx.module_layer(
        "",
        lambda n: cls(
            mod.out_channels,
            tuple(k),
            strides=s,
            padding=padding,
            dilation_rate=d,
            groups=mod.groups,
            use_bias=mod.bias is not None,
            name=n,
        ),
    )
    return Val(layer(x.t), x.perm)


@module("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
def _conv_transpose(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from .. import layers as L

    _no_extra(ctx, args, kwargs)
    r = len(mod.kernel_size)
    x = _spatial(ctx, tensor_arg(ctx, args), r, type(mod).__name__)
    if mod.groups != 1:
        raise ctx.error(f"groups={mod.groups}", "use groups=1 for transposed convolutions")
    if mod.padding_mode != "zeros":
        raise ctx.error(f"padding_mode={mod.padding_mode!r}", "use padding_mode='zeros'")
    p = _tuple(mod.padding, r)
    cls = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[r]
    layer = ctx.module_layer(
        "",
        lambda n: cls(
            mod.out_channels,
            tuple(mod.kernel_size),
            strides=_tuple(mod.stride, r),
            padding="valid",
            output_padding=_tuple(mod.output_padding, r),
            dilation_rate=_tuple(mod.dilation, r),
            use_bias=mod.bias is not None,
            name=n,
        ),
    )
    y = Val(layer(x.t), x.perm)
    if any(p):
        y = crop(ctx, y, [(pi, pi) for pi in p], "crop")
    return y


# ---- normalization -----------------------------------------------------------------------------


@module("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
def _batch_norm(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import BatchNormalization

    if not mod.track_running_stats:
        raise ctx.error("track_running_stats=False (batch statistics at inference too)",
                        "use track_running_stats=True")  # fmt: skip
    if mod.momentum is None:
        raise ctx.error("momentum=None (a cumulative average of the batches)",
                        "pass a number, e.g. momentum=0.1")  # fmt: skip
    x = tensor_arg(ctx, args)
    x = ctx.to_channels_last(x, type(mod).__name__) if x.rank >= 3 else x
    layer = ctx.module_layer(
        "",
        lambda n: BatchNormalization(
            axis=-1,
            momentum=1.0 - float(mod.momentum),
            epsilon=float(mod.eps),
            center=bool(mod.affine),
            scale=bool(mod.affine),
            unbiased_moving_variance=True,
            name=n,
        ),
    )
    return Val(layer(x.t), x.perm)


@module("LayerNorm")
def _layer_norm(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import LayerNormalization

    x = tensor_arg(ctx, args)
    nd = len(mod.normalized_shape)
    if nd == 1:
        x, axis = ctx.last_axis_kept(x), -1
    else:
        x = ctx.to_identity(x)
        if x.batch_axis >= x.rank - nd:
            raise ctx.error("normalizing over the batch axis", "keep the batch first")
        axis = list(range(x.rank - nd, x.rank))  # type: ignore[assignment]
    affine = bool(mod.elementwise_affine)
    bias = affine and getattr(mod, "bias", None) is not None
    layer = ctx.module_layer(
        "",
        lambda n: LayerNormalization(
            axis=axis, epsilon=float(mod.eps), center=bias, scale=affine, name=n
        ),
    )
    return Val(layer(x.t), x.perm)


@module("GroupNorm")
def _group_norm(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import GroupNormalization

    x = tensor_arg(ctx, args)
    x = ctx.to_channels_last(x, "GroupNorm") if x.rank >= 3 else x
    layer = ctx.module_layer(
        "",
        lambda n: GroupNormalization(
            groups=mod.num_groups,
            axis=-1,
            epsilon=float(mod.eps),
            center=bool(mod.affine),
            scale=bool(mod.affine),
            name=n,
        ),
    )
    return Val(layer(x.t), x.perm)


# ---- pooling -----------------------------------------------------------------------------------


def pool(
    ctx: Ctx,
    x: Val,
    kind: str,
    r: int,
    kernel: Any,
    stride: Any,
    padding: Any,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    dilation: Any = 1,
    divisor: Any = None,
    part: str = "",
) -> Val:
    """``MaxPool{r}d`` / ``AvgPool{r}d`` with torch's arguments."""
    from .. import layers as L

    x = _spatial(ctx, x, r, f"{kind}Pool{r}d")
    k = _tuple(kernel, r)
    s = k if stride is None or stride == [] else _tuple(stride, r)
    p = _tuple(padding, r)
    if ceil_mode:
        raise ctx.error("ceil_mode=True (no Keras padding gives the same windows)",
                        "use ceil_mode=False, or pad the input explicitly")  # fmt: skip
    if any(d != 1 for d in _tuple(dilation, r)):
        raise ctx.error("dilation > 1 in pooling", "use dilation=1")
    if divisor is not None:
        raise ctx.error("divisor_override", "remove divisor_override")
    symmetric = all(2 * pi == ki - 1 for pi, ki in zip(p, k, strict=True))
    stride1_same = all(si == 1 for si in s) and symmetric
    padding_mode = "valid"
    if any(p):
        if stride1_same and (kind == "Max" or not count_include_pad):
            padding_mode = "same"  # stride 1: TF pads (p, p) with -inf / divides by the count
        elif kind == "Max":
            x = zero_pad(ctx, x, [(pi, pi) for pi in p], f"{part}pad" if part else "pad",
                         value=float("-inf"))  # fmt: skip
        elif count_include_pad:
            x = zero_pad(ctx, x, [(pi, pi) for pi in p], f"{part}pad" if part else "pad")
        else:
            raise ctx.error(
                "count_include_pad=False with padding at stride > 1 (the divisor changes at "
                "the borders in a way no Keras padding reproduces)",
                "use count_include_pad=True, or stride 1 with padding (kernel - 1) / 2",
            )
    cls = getattr(L, f"{'MaxPooling' if kind == 'Max' else 'AveragePooling'}{r}D")
    layer = ctx.module_layer(part, lambda n: cls(k, strides=s, padding=padding_mode, name=n))
    return Val(layer(x.t), x.perm)


@module("MaxPool1d", "MaxPool2d", "MaxPool3d")
def _max_pool(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    if mod.return_indices:
        raise ctx.error("return_indices=True", "use return_indices=False")
    r = int(type(mod).__name__[-2])
    return pool(ctx, tensor_arg(ctx, args), "Max", r, mod.kernel_size, mod.stride, mod.padding,
                mod.ceil_mode, dilation=mod.dilation)  # fmt: skip


@module("AvgPool1d", "AvgPool2d", "AvgPool3d")
def _avg_pool(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    r = int(type(mod).__name__[-2])
    return pool(ctx, tensor_arg(ctx, args), "Avg", r, mod.kernel_size, mod.stride, mod.padding,
                mod.ceil_mode, mod.count_include_pad,
                divisor=getattr(mod, "divisor_override", None))  # fmt: skip


def adaptive_pool(ctx: Ctx, x: Val, kind: str, r: int, size: Any, part: str = "") -> Val:
    """``AdaptiveAvgPool{r}d`` / ``AdaptiveMaxPool{r}d``: a global pool (output size 1) or,
    when the input size is a multiple of the output size, a plain pool."""
    from .. import layers as L

    x = _spatial(ctx, x, r, f"Adaptive{kind}Pool{r}d")
    sizes = list(size) if isinstance(size, (tuple, list)) else [size] * r
    spatial = list(x.t.shape[1:-1])
    out = [spatial[i] if s is None else int(s) for i, s in enumerate(sizes)]
    name = "Average" if kind == "Avg" else "Max"
    if all(o == 1 for o in out):
        cls = getattr(L, f"Global{name}Pooling{r}D")
        layer = ctx.module_layer(part, lambda n: cls(keepdims=True, name=n))
        return Val(layer(x.t), x.perm)
    if any(n is None or o is None or n % o for n, o in zip(spatial, out, strict=False)):
        raise ctx.error(
            f"an adaptive pool from size {tuple(spatial)} to {tuple(out)} (only global pools "
            "and exact divisions map to Keras pools)",
            "pass input_shape so the sizes are known, or use output size 1",
        )
    win = tuple(n // o for n, o in zip(spatial, out, strict=False))  # type: ignore[operator]
    cls = getattr(L, f"{'MaxPooling' if kind == 'Max' else 'AveragePooling'}{r}D")
    layer = ctx.module_layer(part, lambda n: cls(win, strides=win, padding="valid", name=n))
    return Val(layer(x.t), x.perm)


@module("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d")  # fmt: skip
def _adaptive(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    name = type(mod).__name__
    if getattr(mod, "return_indices", False):
        raise ctx.error("return_indices=True", "use return_indices=False")
    kind = "Max" if "Max" in name else "Avg"
    return adaptive_pool(ctx, tensor_arg(ctx, args), kind, int(name[-2]), mod.output_size)


@module("Flatten")
def _flatten(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ._torch_functions import flatten

    return flatten(ctx, tensor_arg(ctx, args), mod.start_dim, mod.end_dim)


def supported_modules() -> list[str]:
    """Every supported ``torch.nn`` class name (recurrent and attention ones included)."""
    from . import _torch_recurrent  # noqa: F401 - registers RNN, LSTM, GRU, MultiheadAttention

    return sorted(MODULES)


__all__ = ["MODULES", "NotSupported", "supported_modules"]
