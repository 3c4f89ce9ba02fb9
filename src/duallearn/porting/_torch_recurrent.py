"""``from_torch``: the converters of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (one duallearn
layer per torch layer, ``Bidirectional`` for two directions, both biases kept) and
``nn.MultiheadAttention``; registered in ``_torch_modules.MODULES``."""

from __future__ import annotations

from typing import Any

from ._torch_graph import Ctx, Refused, Stacked, Val, identity
from ._torch_modules import _no_extra, module, tensor_arg

# ---- recurrent ---------------------------------------------------------------------------------


@module("RNN", "LSTM", "GRU")
def _rnn(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    from .. import layers as L

    kind = type(mod).__name__
    _no_extra(ctx, args, kwargs)
    if getattr(mod, "proj_size", 0):
        raise ctx.error(f"proj_size={mod.proj_size}", "use proj_size=0")
    x = tensor_arg(ctx, args)
    if x.rank != 3:
        raise ctx.error(f"an input of rank {x.rank} (unbatched sequences)",
                        "feed it (batch, time, features) tensors")  # fmt: skip
    x = ctx.permute(x, identity(3) if mod.batch_first else (1, 0, 2))
    cls = {"RNN": L.SimpleRNN, "LSTM": L.LSTM, "GRU": L.GRU}[kind]
    common: dict[str, Any] = {
        "return_sequences": True,
        "return_state": True,
        "use_bias": bool(mod.bias),
    }
    if kind == "RNN":
        common.update(activation=mod.nonlinearity, use_recurrent_bias=bool(mod.bias))
    elif kind == "LSTM":
        common.update(unit_forget_bias=False, use_recurrent_bias=bool(mod.bias))
    else:
        common.update(reset_after=True)
    n_states = 2 if kind == "LSTM" else 1
    seq = x.t
    per_direction: list[list[Any]] = []
    for k in range(mod.num_layers):
        if k and mod.dropout:
            drop = ctx.module_layer(f"dropout{k}", lambda n: L.Dropout(float(mod.dropout), name=n))
            seq = drop(seq)

        def make(n: str) -> Any:
            cell = cls(mod.hidden_size, name=n, **common)
            return L.Bidirectional(cell, name=n) if mod.bidirectional else cell

        outs = ctx.module_layer("" if k == 0 else f"l{k}", make)(seq)
        seq = outs[0]
        per_direction.append(list(outs[1 : 1 + n_states]))
        if mod.bidirectional:
            per_direction.append(list(outs[1 + n_states :]))
    out = Val(seq, x.perm)
    h = Stacked([s[0] for s in per_direction], ctx.place)
    if kind == "LSTM":
        return (out, (h, Stacked([s[1] for s in per_direction], ctx.place)))
    return (out, h)


# ---- attention ---------------------------------------------------------------------------------

_MHA_ARGS = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
             "average_attn_weights", "is_causal")  # fmt: skip


@module("MultiheadAttention")
def _mha(ctx: Ctx, mod: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    from ..layers import MultiHeadAttention

    bound = dict(zip(_MHA_ARGS, args, strict=False))
    bound.update(kwargs)
    for name in ("key_padding_mask", "attn_mask"):
        if bound.get(name) is not None:
            raise ctx.error(f"a {name}", f"call it without {name} (Keras masks differ)")
    if bound.get("is_causal"):
        raise ctx.error("is_causal=True", "build the causal mask in duallearn instead")
    if mod.bias_k is not None or mod.add_zero_attn:
        raise ctx.error("add_bias_kv / add_zero_attn", "build it without them")
    order = identity(3) if mod.batch_first else (1, 0, 2)
    q, k, v = (ctx.permute(tensor_arg(ctx, [bound.get(n)], 0, n), order)
               for n in ("query", "key", "value"))  # fmt: skip
    head = mod.head_dim
    layer = ctx.module_layer(
        "",
        lambda n: MultiHeadAttention(
            mod.num_heads,
            head,
            value_dim=head,
            dropout=float(mod.dropout),
            use_bias=mod.in_proj_bias is not None,
            name=n,
        ),
    )
    out = layer(q.t, value=v.t, key=k.t)
    return (Val(out, q.perm), Refused(f"{ctx.place}'s attention weights"))
