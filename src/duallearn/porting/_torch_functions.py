"""``from_torch``: the function and tensor-method calls that ``torch.fx`` records
(``F.relu``, ``torch.cat``, ``x + y``, ``x.view(x.size(0), -1)``, ``out[:, -1]``...)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

from ._torch_graph import BATCH, Ctx, Refused, Stacked, TorchShape, Val, renumber
from ._torch_modules import activation, adaptive_pool, elu, gelu, leaky_relu, pool, softmax

Fn = Callable[[Ctx, list[Any], dict[str, Any]], Any]
FUNCTIONS: dict[str, Fn] = {}  # keyed by "torch.cat", "F.relu", "operator.add", "method.view"


def _key(target: Any) -> str:
    """The table key of an fx ``call_function`` target or ``call_method`` name."""
    if isinstance(target, str):
        return f"method.{target}"
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    if mod == "builtins":
        return f"builtins.{name}"
    if mod.startswith("torch.nn.functional"):
        return f"F.{name}"
    if mod.startswith("torch") or mod == "" or getattr(target, "__self__", None) is not None:
        return f"torch.{name}"  # torch's C functions (torch.cat, F.gelu) have no module
    return f"{mod}.{name}"


def lookup(target: Any) -> tuple[str, Fn | None]:
    key = _key(target)
    return key, FUNCTIONS.get(key)


def fn(*keys: str) -> Callable[[Fn], Fn]:
    def register(f: Fn) -> Fn:
        for k in keys:
            FUNCTIONS[k] = f
        return f

    return register


def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[i] if len(args) > i else default


def _val(ctx: Ctx, v: Any, what: str = "input") -> Val:
    if isinstance(v, Refused):
        raise ctx.error(f"it uses {v.why}", "use only the attention output ([0])")
    if not isinstance(v, Val):
        raise ctx.error(f"its {what} is {type(v).__name__}, not a tensor", "pass a tensor")
    return v


def _dims(args: Sequence[Any], start: int) -> list[Any]:
    """``x.view(a, b)`` or ``x.view((a, b))`` / ``x.permute([..])``: the dims as a list."""
    rest = list(args[start:])
    if len(rest) == 1 and isinstance(rest[0], (tuple, list, TorchShape)):
        inner = rest[0]
        return list(inner.dims if isinstance(inner, TorchShape) else inner)
    return rest


def _is_const(v: Any) -> bool:
    return isinstance(v, (int, float, bool)) and not isinstance(v, Val)


# ---- activations -------------------------------------------------------------------------------

_SIMPLE_ACTS = {
    "relu": "relu", "relu_": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh",
    "silu": "silu", "selu": "selu", "softsign": "softsign", "mish": "mish",
    "hardsigmoid": "hard_sigmoid", "hardswish": "hard_silu", "logsigmoid": "log_sigmoid",
    "tanhshrink": "tanh_shrink",
}  # fmt: skip


def _simple_activation(name: str) -> Fn:
    def run(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
        return activation(ctx, _val(ctx, args[0]), name)

    return run


for _name, _act in _SIMPLE_ACTS.items():
    for _prefix in ("F", "torch", "method"):
        FUNCTIONS[f"{_prefix}.{_name}"] = _simple_activation(_act)


@fn("F.gelu", "torch.gelu", "method.gelu")
def _gelu(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return gelu(ctx, _val(ctx, args[0]), _arg(args, kwargs, 1, "approximate", "none"))


@fn("F.leaky_relu", "method.leaky_relu")
def _leaky(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return leaky_relu(ctx, _val(ctx, args[0]), _arg(args, kwargs, 1, "negative_slope", 0.01))


@fn("F.elu", "method.elu")
def _elu(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return elu(ctx, _val(ctx, args[0]), _arg(args, kwargs, 1, "alpha", 1.0))


@fn("F.softmax", "torch.softmax", "method.softmax")
def _softmax(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return softmax(ctx, _val(ctx, args[0]), _arg(args, kwargs, 1, "dim", None))


@fn("F.log_softmax", "torch.log_softmax", "method.log_softmax")
def _log_softmax(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return softmax(ctx, _val(ctx, args[0]), _arg(args, kwargs, 1, "dim", None), log=True)


@fn("F.dropout")
def _dropout(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import Dropout

    x = _val(ctx, args[0])
    p = float(_arg(args, kwargs, 1, "p", 0.5))
    layer = ctx.module_layer("", lambda n: Dropout(p, name=n))
    return Val(layer(x.t), x.perm)


# ---- pooling as functions ----------------------------------------------------------------------


def _pool_fn(kind: str, r: int) -> Fn:
    def run(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
        names = ["input", "kernel_size", "stride", "padding"]
        if kind == "Max":
            names += ["dilation", "ceil_mode", "return_indices"]
        else:
            names += ["ceil_mode", "count_include_pad", "divisor_override"]
        b = {n: _arg(args, kwargs, i, n, None) for i, n in enumerate(names)}
        if b.get("return_indices"):
            raise ctx.error("return_indices=True", "use return_indices=False")
        return pool(
            ctx, _val(ctx, b["input"]), kind, r, b["kernel_size"], b["stride"],
            b["padding"] or 0, bool(b["ceil_mode"]),
            True if b.get("count_include_pad") is None else bool(b["count_include_pad"]),
            dilation=b.get("dilation") or 1, divisor=b.get("divisor_override"),
        )  # fmt: skip

    return run


def _adaptive_fn(kind: str, r: int) -> Fn:
    def run(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
        size = _arg(args, kwargs, 1, "output_size", None)
        return adaptive_pool(ctx, _val(ctx, args[0]), kind, r, size)

    return run


for _r in (1, 2, 3):
    FUNCTIONS[f"F.max_pool{_r}d"] = _pool_fn("Max", _r)
    FUNCTIONS[f"torch.max_pool{_r}d"] = _pool_fn("Max", _r)
    FUNCTIONS[f"F.avg_pool{_r}d"] = _pool_fn("Avg", _r)
    FUNCTIONS[f"torch.avg_pool{_r}d"] = _pool_fn("Avg", _r)
    FUNCTIONS[f"F.adaptive_avg_pool{_r}d"] = _adaptive_fn("Avg", _r)
    FUNCTIONS[f"torch.adaptive_avg_pool{_r}d"] = _adaptive_fn("Avg", _r)
    FUNCTIONS[f"F.adaptive_max_pool{_r}d"] = _adaptive_fn("Max", _r)
# F.max_pool2d is a boolean_dispatch wrapper named "fn"; fx records the wrapper itself
FUNCTIONS["F._max_pool2d"] = FUNCTIONS["F.max_pool2d"]


# ---- shapes: flatten, view / reshape, permute, squeeze -----------------------------------------


def flatten(ctx: Ctx, x: Val, start: int = 1, end: int = -1) -> Val:
    """``torch.flatten(x, start, end)`` for ``start >= 1`` (the batch stays)."""
    r = x.rank
    start, end = start % r, end % r
    if start == 0 or x.batch_axis != 0:
        raise ctx.error(
            "flattening the batch axis into the features",
            "flatten from dim 1: torch.flatten(x, 1) or x.view(x.size(0), -1)",
        )
    if start >= end:
        return x
    x = ctx.row_major(x)
    dims = x.torch_shape()
    merged = dims[start : end + 1]
    size = None if any(d is None for d in merged) else math.prod(merged)  # type: ignore[arg-type]
    target = [*dims[1:start], size, *dims[end + 1 :]]
    return ctx.reshape(x, target, tuple(range(len(target) + 1)))


@fn("torch.flatten", "method.flatten")
def _flatten(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    return flatten(
        ctx, x, _arg(args, kwargs, 1, "start_dim", 0), _arg(args, kwargs, 2, "end_dim", -1)
    )


def reshape(ctx: Ctx, x: Val, dims: list[Any]) -> Val:
    """``x.view(*dims)`` where one entry is the batch (``x.size(0)`` or a leading ``-1``)."""
    batch = [i for i, d in enumerate(dims) if d is BATCH]
    if not batch and dims and dims[0] == -1 and -1 not in dims[1:]:
        batch = [0]
    if batch != [0] or x.batch_axis != 0:
        raise ctx.error(
            f"a reshape to {tuple(dims)} whose batch axis is not clear",
            "keep the batch first: x.view(x.size(0), ...) or x.reshape(-1, n)",
        )
    rest = [int(d) for d in dims[1:]]
    if rest.count(-1) > 1:
        raise ctx.error(f"a reshape to {tuple(dims)}", "use at most one -1")
    x = ctx.row_major(x)
    known = x.torch_shape()[1:]
    if -1 in rest and all(d is not None for d in known):
        fixed = math.prod(d for d in rest if d != -1)
        rest[rest.index(-1)] = math.prod(known) // max(fixed, 1)  # type: ignore[arg-type]
    target: list[int | None] = [None if d == -1 else d for d in rest]
    return ctx.reshape(x, target, tuple(range(len(dims))))


@fn("method.view", "method.reshape", "torch.reshape")
def _view(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    dims = _dims(args, 1) if len(args) > 1 else list(kwargs.get("shape", ()))
    return reshape(ctx, x, dims)


@fn("method.permute", "torch.permute")
def _permute(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    p = [int(d) % x.rank for d in (_dims(args, 1) if len(args) > 1 else kwargs["dims"])]
    return Val(x.t, tuple(p.index(a) for a in x.perm))


@fn("method.transpose", "torch.transpose")
def _transpose(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    a = int(_arg(args, kwargs, 1, "dim0", 0)) % x.rank
    b = int(_arg(args, kwargs, 2, "dim1", 1)) % x.rank
    p = list(range(x.rank))
    p[a], p[b] = p[b], p[a]
    return Val(x.t, tuple(p.index(q) for q in x.perm))


@fn("method.contiguous", "method.float", "torch.clone", "method.clone")
def _same(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    return _val(ctx, args[0])


@fn("method.squeeze", "torch.squeeze")
def _squeeze(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    dim = _arg(args, kwargs, 1, "dim", None)
    shape = x.torch_shape()
    if dim is None:
        drop = [i for i, s in enumerate(shape) if s == 1 and i != x.batch_axis]
    else:
        dims = dim if isinstance(dim, (tuple, list)) else [dim]
        drop = [int(d) % x.rank for d in dims if shape[int(d) % x.rank] == 1]
    if x.batch_axis in drop:
        raise ctx.error("squeezing the batch axis", "squeeze feature axes only")
    if not drop:
        return x
    keep = [i for i, p in enumerate(x.perm) if p not in drop]
    target = [x.t.shape[i] for i in keep[1:]]
    return ctx.reshape(x, target, renumber([x.perm[i] for i in keep]))


@fn("method.unsqueeze", "torch.unsqueeze")
def _unsqueeze(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    x = _val(ctx, args[0])
    d = int(_arg(args, kwargs, 1, "dim", 0)) % (x.rank + 1)
    perm = tuple(p + (p >= d) for p in x.perm) + (d,)
    return ctx.reshape(x, [*x.t.shape[1:], 1], perm)


def _shape(x: Val) -> TorchShape:
    return TorchShape(
        tuple(BATCH if i == x.batch_axis else d for i, d in enumerate(x.torch_shape()))
    )


@fn("method.size")
def _size(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = _val(ctx, args[0])
    shape = _shape(x)
    dim = _arg(args, kwargs, 1, "dim", None)
    if dim is None:
        return shape
    d = shape.dims[int(dim) % x.rank]
    if d is None:
        raise ctx.error("reading an unknown size", "pass input_shape with every size known")
    return d


@fn("builtins.getattr")
def _getattr(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
    x = _val(ctx, args[0])
    if args[1] != "shape":
        raise ctx.error(f"reading the attribute {args[1]!r}", "use tensors and x.shape only")
    return _shape(x)


@fn("method.dim")
def _dim(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> int:
    return _val(ctx, args[0]).rank


# ---- merging: cat, +, *, ... -------------------------------------------------------------------


def _aligned(ctx: Ctx, vals: list[Val]) -> list[Val]:
    """Every value in the first one's axis order (same rank required)."""
    first = vals[0]
    out = [first]
    for v in vals[1:]:
        if v.rank != first.rank:
            raise ctx.error(
                f"combining tensors of rank {first.rank} and {v.rank} (broadcasting across ranks)",
                "reshape them to the same rank first",
            )
        out.append(ctx.permute(v, first.perm) if v.batch_axis == first.batch_axis else v)
    return out


@fn("torch.cat", "torch.concat", "torch.concatenate")
def _cat(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from ..layers import Concatenate

    items = [_val(ctx, v) for v in _arg(args, kwargs, 0, "tensors", [])]
    dim = int(_arg(args, kwargs, 1, "dim", 0))
    if len(items) == 1:
        return items[0]
    vals = _aligned(ctx, items)
    axis = vals[0].perm.index(dim % vals[0].rank)
    if axis == 0:
        raise ctx.error("concatenating along the batch axis", "concatenate feature axes")
    layer = ctx.module_layer("", lambda n: Concatenate(axis=axis, name=n))
    return Val(layer([v.t for v in vals]), vals[0].perm)


def _binary(layer_cls: str, op: str) -> Fn:
    def run(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
        a, b = args[0], _arg(args, kwargs, 1, "other", None)
        if kwargs.get("alpha", 1) != 1:
            raise ctx.error("alpha != 1", "scale the tensor explicitly")
        if _is_const(a) and _is_const(b):
            return getattr(operator, {"add": "add", "subtract": "sub", "multiply": "mul",
                                      "divide": "truediv"}[op])(a, b)  # fmt: skip
        from .. import layers as L
        from .. import ops

        if isinstance(a, Val) and isinstance(b, Val) and layer_cls:
            va, vb = _aligned(ctx, [a, b])
            layer = ctx.module_layer("", lambda n: getattr(L, layer_cls)(name=n))
            return Val(layer([va.t, vb.t]), va.perm)
        if isinstance(a, Val) and _is_const(b):
            return Val(ctx.rename(getattr(ops, op)(a.t, float(b)), op), a.perm)
        if isinstance(b, Val) and _is_const(a):
            return Val(ctx.rename(getattr(ops, op)(float(a), b.t), op), b.perm)
        if isinstance(a, Val) and isinstance(b, Val):
            va, vb = _aligned(ctx, [a, b])
            return Val(ctx.rename(getattr(ops, op)(va.t, vb.t), op), va.perm)
        raise ctx.error(f"{op} of {type(a).__name__} and {type(b).__name__}",
                        "combine tensors or numbers")  # fmt: skip

    return run


for _keys, _cls, _op in (
    (("operator.add", "operator.iadd", "torch.add", "method.add"), "Add", "add"),
    (("operator.sub", "operator.isub", "torch.sub", "method.sub"), "Subtract", "subtract"),
    (("operator.mul", "operator.imul", "torch.mul", "method.mul"), "Multiply", "multiply"),
    (("operator.truediv", "torch.div", "method.div"), "", "divide"),
):
    for _k in _keys:
        FUNCTIONS[_k] = _binary(_cls, _op)


@fn("operator.neg", "torch.neg", "method.neg")
def _neg(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
    from .. import ops

    x = args[0]
    if _is_const(x):
        return -x
    x = _val(ctx, x)
    return Val(ctx.rename(ops.negative(x.t), "negative"), x.perm)


@fn("operator.floordiv")
def _floordiv(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if _is_const(args[0]) and _is_const(args[1]):
        return args[0] // args[1]
    raise ctx.error("floor division of tensors", "compute sizes with numbers only")


@fn("torch.mean", "method.mean")
def _mean(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Val:
    from .. import layers as L
    from .. import ops

    x = _val(ctx, args[0])
    dim = _arg(args, kwargs, 1, "dim", None)
    keep = bool(_arg(args, kwargs, 2, "keepdim", False))
    if dim is None:
        raise ctx.error("a mean over every axis, the batch included", "pass dim=...")
    dims = sorted({int(d) % x.rank for d in (dim if isinstance(dim, (tuple, list)) else [dim])})
    if x.batch_axis in dims:
        raise ctx.error("a mean over the batch axis", "average feature axes only")
    r = x.rank
    if (
        x.batch_axis == 0
        and r >= 3
        and dims == list(range(2, r))
        and x.perm == (0, *range(2, r), 1)
    ):
        layer = ctx.module_layer(
            "", lambda n: getattr(L, f"GlobalAveragePooling{r - 2}D")(keepdims=keep, name=n)
        )
        return Val(layer(x.t), x.perm if keep else (0, 1))
    axes = [x.perm.index(d) for d in dims]
    t = ctx.rename(ops.mean(x.t, axis=axes, keepdims=keep), "mean")
    if keep:
        return Val(t, x.perm)
    return Val(t, renumber([p for p in x.perm if p not in dims]))


# ---- indexing ----------------------------------------------------------------------------------


@fn("operator.getitem")
def _getitem(ctx: Ctx, args: list[Any], kwargs: dict[str, Any]) -> Any:
    obj, index = args[0], args[1]
    if isinstance(obj, (tuple, list)):
        return obj[index]
    if isinstance(obj, TorchShape):
        return obj.dims[index]
    if isinstance(obj, Stacked):
        if not isinstance(index, int):
            raise ctx.error(
                f"indexing {obj.place}'s stacked final states with {index!r}",
                "take one layer's state, e.g. h_n[-1], or use the output sequence",
            )
        return Val(obj.states[index], (0, 1))
    if isinstance(obj, Refused):
        raise ctx.error(f"it uses {obj.why}", "use only the attention output ([0])")
    return slice_val(ctx, _val(ctx, obj), index)


def slice_val(ctx: Ctx, x: Val, index: Any) -> Val:
    """``x[index]`` with ints and slices on torch axes, as a duallearn getitem."""
    items = list(index) if isinstance(index, tuple) else [index]
    if any(i is None for i in items):
        raise ctx.error("indexing with None (new axes)", "use unsqueeze")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at : at + 1] = [slice(None)] * (x.rank - len(items) + 1)
    items += [slice(None)] * (x.rank - len(items))
    for it in items:
        if not isinstance(it, (int, slice)):
            raise ctx.error(f"indexing with {type(it).__name__}", "use ints and slices")
    b = items[x.batch_axis]
    if not (isinstance(b, slice) and b == slice(None)):
        raise ctx.error("indexing the batch axis", "index feature or time axes only")
    dl_index = tuple(items[p] for p in x.perm)
    while dl_index and dl_index[-1] == slice(None):
        dl_index = dl_index[:-1]
    if not dl_index:
        return x
    t = ctx.rename(x.t[dl_index if len(dl_index) > 1 else dl_index[0]], "getitem")
    kept = [p for p in x.perm if not isinstance(items[p], int)]
    return Val(t, renumber(kept))


def supported_functions() -> list[str]:
    """The supported function and method names (``cat``, ``relu``, ``view``...)."""
    return sorted({k.split(".", 1)[1] for k in FUNCTIONS if not k.startswith("F._")})
