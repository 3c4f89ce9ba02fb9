"""``dl.from_torch``: a ``torch.nn.Module`` to a duallearn functional model with the same
weights and the same training behaviour (docs/porting_torch.md)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, DuallearnError
from . import _torch_recurrent  # noqa: F401 - registers the RNN and attention converters
from ._torch_functions import lookup, supported_functions
from ._torch_graph import Ctx, NotSupported, Refused, Stacked, Val, batch_first, channels_last
from ._torch_modules import MODULES, supported_modules

# modules that fix an input's layout (channels-first maps kept channels-last) ...
_SPATIAL = (
    "Conv", "ConvTranspose", "BatchNorm", "MaxPool", "AvgPool", "AdaptiveAvgPool",
    "AdaptiveMaxPool", "GroupNorm", "Dropout1d", "Dropout2d",
)  # fmt: skip
# ... and those the walk looks through to find one
_THROUGH = {
    "Linear", "Embedding", "Dropout", "Identity", "LayerNorm", "ReLU", "ReLU6", "GELU", "Tanh",
    "Sigmoid", "SiLU", "ELU", "LeakyReLU", "SELU", "Mish", "Hardswish", "Hardsigmoid",
}  # fmt: skip
_THROUGH_FN = {
    "F.relu", "torch.relu", "method.relu", "torch.gelu", "torch.tanh", "torch.sigmoid", "F.silu",
    "F.dropout", "operator.add", "operator.mul", "torch.add", "method.contiguous", "F.elu",
    "F.leaky_relu",
}  # fmt: skip


def from_torch(module: Any, input_shape: Any = None, *, name: str | None = None) -> Any:
    """A duallearn functional model computing ``module``, with its weights, training as it
    does in PyTorch (BatchNorm momentum ``1 - m``, its epsilon and unbiased running variance;
    both RNN biases kept; GRU gates reordered).

    ``module`` is an ``nn.Sequential`` or any module ``torch.fx.symbolic_trace`` can trace,
    built from the supported ``torch.nn`` modules and functions (docs/porting_torch.md). Each
    duallearn layer is named after its torch module path (``features.0``), so
    :func:`~duallearn.porting.torch_state_dict`, :func:`~duallearn.porting.load_torch_weights`
    and :func:`~duallearn.porting.to_torch` map back by name.

    Layout rule: the model takes and returns **channels-last** tensors wherever torch has
    channels-first feature maps (an input that feeds a convolution, pooling or BatchNorm:
    ``(N, C, H, W)`` in torch is ``(N, H, W, C)`` here); every other input keeps torch's axis
    order with the batch first (a ``batch_first=False`` module's ``(T, N, F)`` is ``(N, T, F)``
    here). Nothing else moves: a ``Permute`` goes before ``Flatten`` so the next ``Linear``
    sees torch's order.

    Args:
        module: the ``torch.nn.Module`` (its current weights are copied).
        input_shape: torch's shape of one input **without the batch axis** (``(3, 32, 32)``
            for NCHW images, ``(T, F)`` for sequences, ``None`` for an unknown size), or a
            list of them for several inputs. Default: read from the first layer where it can
            be (``Linear``, ``Conv*d``, ``Embedding``, RNNs); give it when a ``Flatten``
            needs the spatial sizes.
        name: the model's name (default: the module's class name in snake case).

    Returns:
        A functional :class:`~duallearn.Model`, not compiled.

    Raises:
        ConfigError: ``module`` is not a module, cannot be traced, or uses a module or op
            that is not supported (the message names it and its place in the module tree,
            e.g. ``features.3 (nn.PixelShuffle) is not supported: ...``).

    Example:
        >>> import torch, duallearn as dl
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        >>> model = dl.from_torch(net)
        >>> [layer.name for layer in model.layers[1:]]
        ['0', '1', '2']
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ConfigError(
            f"from_torch expects a torch.nn.Module. Received: {type(module).__name__}. "
            "Fix: pass the module itself (e.g. from_torch(net), not net.state_dict())."
        )
    gm = _trace(module)
    graph = gm.graph
    live = _live(graph)
    placeholders = [n for n in graph.nodes if n.op == "placeholder" and not n.args]
    shapes = _input_shapes(input_shape, placeholders, gm)
    ctx = Ctx()
    env: dict[Any, Any] = {}
    inputs, in_perms = [], []
    from ..layers import Input

    for node in graph.nodes:
        if node.op == "placeholder" and node.args:  # an argument with a default value
            env[node] = node.args[0]
    for node, shape in zip(placeholders, shapes, strict=True):
        layout, dtype = _input_layout(node, gm)
        rank = len(shape) + 1
        if (layout == "channels_last" and rank < 3) or rank < 2:
            layout = "identity"
        perm = {
            "channels_last": channels_last(rank),
            "time_first": (1, 0, *range(2, rank)),
            "identity": tuple(range(rank)),
        }[layout]
        full = [None, *shape] if perm[0] == 0 else [shape[0], None, *shape[1:]]
        dl_shape = tuple(full[p] for p in perm[1:])
        t = Input(dl_shape, dtype=dtype, name=ctx.unique(node.name))
        env[node] = Val(t, perm)
        inputs.append(t)
        in_perms.append(perm)
    output_node = next(n for n in graph.nodes if n.op == "output")
    for node in graph.nodes:
        if node.op in ("placeholder", "output") or node not in live:
            continue
        env[node] = _convert(ctx, gm, node, env)
    outputs, out_perms = _outputs(ctx, output_node.args[0], env)
    from ..models import Model

    model_name = name or _snake(type(module).__name__)
    model = Model(inputs if len(inputs) != 1 else inputs[0],
                  outputs if len(outputs) != 1 else outputs[0], name=model_name)  # fmt: skip
    _copy_weights(model, module)
    # to_torch's boundary: torch input layout → ours, ours → torch output layout
    model._torch_layouts = {"inputs": in_perms, "outputs": out_perms}  # type: ignore[attr-defined]
    return model


# ---- tracing -----------------------------------------------------------------------------------


def _trace(module: Any) -> Any:
    import torch.fx

    is_leaf = module.__class__.__module__.startswith("torch.nn") and not isinstance(
        module, torch.nn.Sequential
    )
    if is_leaf:
        kind = type(module).__name__
        raise ConfigError(
            f"from_torch received a single nn.{kind}, which torch.fx cannot trace by itself. "
            f"Fix: wrap it, from_torch(torch.nn.Sequential(module)) (its weights are then "
            "named '0.weight'...)."
        )
    try:
        return torch.fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - fx raises many types; report the reason
        raise ConfigError(
            f"from_torch could not trace {type(module).__name__} with torch.fx: "
            f"{type(exc).__name__}: {exc}. Expected: a forward without data-dependent control "
            "flow. Fix: move branches on tensor values out of forward(), or wrap the module "
            "with torch.fx.wrap-friendly code."
        ) from None


def _live(graph: Any) -> set[Any]:
    """The nodes the output depends on (unused results, e.g. attention weights, are dropped)."""
    out = next(n for n in graph.nodes if n.op == "output")
    live, stack = set(), [out]
    while stack:
        n = stack.pop()
        if n in live:
            continue
        live.add(n)
        stack.extend(n.all_input_nodes)
    return live


def _snake(name: str) -> str:
    from .._naming import snake_case

    return snake_case(name)


def _torch_kind(mod: Any) -> str:
    cls = type(mod)
    return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__qualname__


# ---- inputs ------------------------------------------------------------------------------------


def _first_module(node: Any, gm: Any) -> Any:
    """The first module that consumes ``node`` (looking through layout-free ops)."""
    seen, queue = set(), [node]
    while queue:
        n = queue.pop(0)
        for user in n.users:
            if user in seen:
                continue
            seen.add(user)
            if user.op == "call_module":
                mod = gm.get_submodule(user.target)
                kind = type(mod).__name__
                if kind in _THROUGH - {"Linear", "Embedding", "LayerNorm"}:
                    queue.append(user)
                    continue
                return mod
            key, _ = lookup(user.target)
            if key in _THROUGH_FN:
                queue.append(user)
    return None


def _input_layout(node: Any, gm: Any) -> tuple[str, str]:
    """``(layout, dtype)`` of an input: ``channels_last`` when it reaches a convolution,
    pooling or BatchNorm, ``time_first`` when it reaches a ``batch_first=False`` RNN or
    attention, ``identity`` otherwise; ``int32`` when an Embedding reads it."""
    dtype = "float32"
    direct = [gm.get_submodule(u.target) for u in node.users if u.op == "call_module"]
    if any(type(m).__name__ == "Embedding" for m in direct) or any(
        lookup(u.target)[0] == "F.embedding" for u in node.users if u.op == "call_function"
    ):
        dtype = "int32"
    seen, queue = set(), [node]
    while queue:
        n = queue.pop(0)
        for user in n.users:
            if user in seen:
                continue
            seen.add(user)
            if user.op == "call_module":
                mod = gm.get_submodule(user.target)
                kind = type(mod).__name__
                if kind.startswith(_SPATIAL):
                    return "channels_last", dtype
                if kind in ("RNN", "LSTM", "GRU", "MultiheadAttention"):
                    return ("identity" if mod.batch_first else "time_first"), dtype
                if kind in _THROUGH:
                    queue.append(user)
                    continue
                return "identity", dtype
            if user.op in ("call_function", "call_method"):
                key, _ = lookup(user.target)
                if (
                    key.split(".", 1)[1]
                    .lstrip("_")
                    .startswith(("max_pool", "avg_pool", "adaptive"))
                ):
                    return "channels_last", dtype
                if key in _THROUGH_FN:
                    queue.append(user)
                    continue
                return "identity", dtype
    return "identity", dtype


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value
    )


def _input_shapes(input_shape: Any, placeholders: list[Any], gm: Any) -> list[tuple[Any, ...]]:
    n = len(placeholders)
    if input_shape is None:
        return [_guess_shape(p, gm) for p in placeholders]
    if _is_shape(input_shape) and n == 1:
        return [tuple(input_shape)]
    if isinstance(input_shape, (list, tuple)) and all(_is_shape(s) for s in input_shape):
        if len(input_shape) == n:
            return [tuple(s) for s in input_shape]
    raise ConfigError(
        f"from_torch: input_shape must be one shape without the batch axis (a tuple of ints "
        f"or None) per input of forward(); this module takes {n} input(s) "
        f"({', '.join(p.name for p in placeholders)}). Received: input_shape={input_shape!r}. "
        "Fix: e.g. input_shape=(3, 32, 32) for one NCHW image input, or a list of shapes."
    )


def _guess_shape(node: Any, gm: Any) -> tuple[Any, ...]:
    mod = _first_module(node, gm)
    kind = type(mod).__name__ if mod is not None else None
    if kind == "Linear":
        return (mod.in_features,)
    if kind in (
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
    ):
        return (mod.in_channels, *[None] * len(mod.kernel_size))
    if kind == "Embedding":
        return (None,)
    if kind in ("RNN", "LSTM", "GRU"):
        return (None, mod.input_size)
    if kind == "MultiheadAttention":
        return (None, mod.embed_dim)
    if kind == "BatchNorm1d":
        return (mod.num_features,)
    raise ConfigError(
        f"from_torch cannot tell the shape of input {node.name!r} (it first reaches "
        f"{kind or 'no module'}). Fix: pass input_shape, torch's shape without the batch axis, "
        "e.g. input_shape=(3, 32, 32)."
    )


# ---- the walk ----------------------------------------------------------------------------------


def _place(node: Any, gm: Any) -> str:
    if node.op == "call_module":
        return f"{node.target} ({_torch_kind(gm.get_submodule(node.target))})"
    what = (
        node.target
        if isinstance(node.target, str)
        else getattr(node.target, "__name__", node.target)
    )
    kind = (
        "method"
        if node.op == "call_method"
        else "function"
        if node.op == "call_function"
        else node.op
    )
    stack = node.meta.get("nn_module_stack") or {}
    inside = list(stack)[-1] if stack else ""
    where = f" in {inside}" if inside else ""
    return f"{node.name} ({kind} {what}{where})"


def _convert(ctx: Ctx, gm: Any, node: Any, env: dict[Any, Any]) -> Any:
    from torch.fx.node import map_arg

    args = list(map_arg(node.args, lambda n: env[n]))
    kwargs = dict(map_arg(node.kwargs, lambda n: env[n]))
    ctx.place = _place(node, gm)
    ctx.owner = node.target if node.op == "call_module" else f"@{node.name}"
    try:
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            conv = (
                MODULES.get(type(mod).__name__)
                if type(mod).__module__.startswith("torch.nn")
                else None
            )
            if conv is None:
                raise NotSupported(
                    f"{ctx.place} is not supported: supported modules are "
                    f"{', '.join('nn.' + m for m in supported_modules())}. Fix: replace it with "
                    "supported modules, or port that part by hand."
                )
            return conv(ctx, mod, args, kwargs)
        if node.op in ("call_function", "call_method"):
            key, fn = lookup(node.target)
            if fn is None:
                raise NotSupported(
                    f"{ctx.place} is not supported: supported functions and tensor methods "
                    f"are {', '.join(supported_functions())}. Fix: use a supported op or "
                    "module, or port that part by hand."
                )
            return fn(ctx, args, kwargs)
        raise NotSupported(
            f"{ctx.place} is not supported: the forward reads a parameter or buffer "
            f"({node.target}) directly. Fix: keep weights inside supported modules."
        )
    except NotSupported:
        raise
    except DuallearnError as exc:
        raise type(exc)(f"{ctx.place} could not be converted: {exc}") from None


def _outputs(ctx: Ctx, value: Any, env: dict[Any, Any]) -> tuple[list[Any], list[tuple[int, ...]]]:
    from torch.fx.node import map_arg

    value = map_arg(value, lambda n: env[n])
    flat = list(value) if isinstance(value, (tuple, list)) else [value]
    ctx.owner, ctx.place = "@output", "the module's output"
    outs, perms = [], []
    for v in flat:
        if isinstance(v, (Stacked, Refused)) or not isinstance(v, Val):
            raise ctx.error(
                f"it returns {type(v).__name__} (only tensors, or tuples of tensors, can be "
                "model outputs)",
                "return tensors, e.g. the RNN output or h_n[-1]",
            )
        if not (v.rank >= 3 and v.perm == channels_last(v.rank)):
            v = ctx.permute(v, batch_first(v.perm))
        outs.append(v.t)
        perms.append(v.perm)
    return outs, perms


def _copy_weights(model: Any, module: Any) -> None:
    from ._torch_weights import assign_torch_tensors, read_torch_source

    state = module.state_dict()
    _check_tied(module)
    assign_torch_tensors(model, read_torch_source(state), strict=False)


def _check_tied(module: Any) -> None:
    """Two modules sharing one parameter train it once in torch; here they would not."""
    owners: dict[int, tuple[Any, str]] = {}
    for mod_name, mod in module.named_modules():
        for p_name, p in mod.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            first = owners.setdefault(id(p), (mod, full))
            if first[0] is not mod:
                raise ConfigError(
                    f"from_torch: {full} and {first[1]} are one shared parameter (tied "
                    "weights), which two duallearn layers cannot share. Fix: untie them, or "
                    "port that part by hand."
                )
