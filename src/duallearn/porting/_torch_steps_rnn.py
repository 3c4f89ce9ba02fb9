"""``to_torch``: the recurrent layers (run with the parameters of the ``nn.LSTM`` / ``nn.GRU``
/ ``nn.RNN`` that holds every stacked layer and direction, through ``torch.func.
functional_call`` on a one-layer template) and ``MultiHeadAttention``; registered in
``_torch_steps.STEPS``."""

from __future__ import annotations

from typing import Any

from ._torch_steps import Step, step

# ---- recurrent ---------------------------------------------------------------------------------


def _direction(root: Any, st: Step, cfg: dict[str, Any], x: Any, suffix: str, init: Any) -> Any:
    """Run one direction of one recurrent layer with the container's parameters."""
    import torch

    cont = root.get_submodule(st.path)
    kind = st.extra["torch_kind"]
    key = (st.path, st.index, suffix, int(x.shape[-1]))
    template = root._templates.get(key)
    if template is None:
        cls = getattr(torch.nn, kind)
        extra = {"nonlinearity": cfg["activation"]} if kind == "RNN" else {}
        template = cls(int(x.shape[-1]), cfg["units"], 1, bias=cfg["use_bias"],
                       batch_first=True, **extra)  # fmt: skip
        root._templates[key] = template
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if cfg["use_bias"] else [])
    params = {f"{n}_l0": getattr(cont, f"{n}_l{st.index}{suffix}") for n in names}
    if cfg["go_backwards"]:
        x = x.flip(1)
    if init is not None:
        init = tuple(s.unsqueeze(0) for s in init) if kind == "LSTM" else init[0].unsqueeze(0)
    out, state = torch.func.functional_call(template, params, (x, init))
    states = [s[0] for s in state] if kind == "LSTM" else [state[0]]
    y = out if cfg["return_sequences"] else out[:, -1]
    return y, states


@step("SimpleRNN", "LSTM", "GRU")
def _rnn(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    init = xs[1:] or None
    y, states = _direction(root, st, st.cfg, xs[0], "", init)
    return [y, *states] if st.cfg["return_state"] else [y]


@step("Bidirectional")
def _bidirectional(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    fcfg, bcfg = st.extra["forward"], st.extra["backward"]
    yf, sf = _direction(root, st, fcfg, xs[0], "", None)
    yb, sb = _direction(root, st, bcfg, xs[0], "_reverse", None)
    if fcfg["return_sequences"]:
        yb = yb.flip(1)
    mode = st.cfg["merge_mode"]
    if mode == "concat":
        outs = [torch.cat([yf, yb], dim=-1)]
    elif mode == "sum":
        outs = [yf + yb]
    elif mode == "mul":
        outs = [yf * yb]
    elif mode == "ave":
        outs = [(yf + yb) / 2]
    else:
        outs = [yf, yb]
    return outs + sf + sb if fcfg["return_state"] else outs


# ---- attention ---------------------------------------------------------------------------------


@step("MultiHeadAttention")
def _mha(root: Any, st: Step, xs: list[Any]) -> list[Any]:
    import torch

    m = root.get_submodule(st.path)
    q, v, k = xs[0], xs[1], xs[2]
    mask = None
    if st.cfg.get("use_causal_mask"):
        t, s = q.shape[1], k.shape[1]
        mask = torch.ones(t, s, dtype=torch.bool, device=q.device).triu(1)
    out, _ = m(q, k, v, need_weights=False, attn_mask=mask)
    return [out]
