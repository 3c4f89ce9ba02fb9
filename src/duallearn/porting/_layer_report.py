"""A per-layer comparison of a duallearn model with the Keras or PyTorch model it was ported
from (``duallearn parity MODEL --against FILE``; docs/porting.md).

Both models run on the same inputs; every layer of ours is matched by name with a Keras layer
(``get_layer``) or a torch module (its path in ``named_modules``, dots read as ``_``), and the
outputs are compared after aligning the layout (torch's channels-first and time-first outputs
are moved to duallearn's channels-last, batch-first layout). A row is ``ok`` when the largest
error relative to ``max|reference|`` is within the float32 ``forward`` tolerance of the table
(``duallearn.testing``); the report names the first layer that is not. With ``train=N`` both
models then take ``N`` plain SGD steps on a mean-squared-error loss against the same random
targets, and their weights are compared (``params_10`` / ``params_100`` rows of the table):
by layer and weight index against Keras, by ``state_dict`` key against torch.

Both models are left as they were: the training steps run on copies.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..testing._tolerances import max_errors, tolerance


@dataclass
class LayerRow:
    """One compared tensor: a layer's output, or one weight after training."""

    name: str
    cls: str
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


@dataclass
class LayerReport:
    """What :func:`layer_report` found; ``str(report)`` is the CLI's table."""

    against: str  # "keras" or "torch"
    tolerance: float
    rows: list[LayerRow] = field(default_factory=list)
    train_steps: int = 0
    train_tolerance: float = 0.0
    train_rows: list[LayerRow] = field(default_factory=list)

    @property
    def first_divergent(self) -> str | None:
        """The first layer (in graph order) beyond the tolerance, or None."""
        return next((r.name for r in self.rows if not r.ok), None)

    @property
    def first_divergent_weight(self) -> str | None:
        return next((r.name for r in self.train_rows if not r.ok), None)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and all(r.ok for r in self.train_rows)

    def to_dict(self) -> dict[str, Any]:
        def rows(rs: list[LayerRow]) -> list[dict[str, Any]]:
            return [vars(r).copy() for r in rs]

        return {
            "against": self.against,
            "tolerance": self.tolerance,
            "layers": rows(self.rows),
            "first_divergent": self.first_divergent,
            "train_steps": self.train_steps,
            "train_tolerance": self.train_tolerance,
            "weights_after_training": rows(self.train_rows),
            "first_divergent_weight": self.first_divergent_weight,
            "ok": self.ok,
        }

    def __str__(self) -> str:
        lines = [_table(self.rows, "layer")]
        lines.append(f"tolerance: max rel error <= {self.tolerance:g} (float32, 'forward')")
        first = self.first_divergent
        lines.append(f"first layer beyond it: {first}" if first else "every layer agrees")
        if self.train_steps:
            lines.append(f"\nweights after {self.train_steps} SGD steps (mse):")
            lines.append(_table(self.train_rows, "weight"))
            lines.append(f"tolerance: max rel error <= {self.train_tolerance:g}")
            w = self.first_divergent_weight
            lines.append(f"first weight beyond it: {w}" if w else "every weight agrees")
        lines.append(f"parity against {self.against}: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)


def _table(rows: list[LayerRow], what: str) -> str:
    cells = [(r.name, r.cls, f"{r.max_abs:.3e}", f"{r.max_rel:.3e}", "yes" if r.ok else "NO",
              r.note) for r in rows]  # fmt: skip
    header = (what, "class", "max abs", "max rel", "ok", "note")
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip()
            for cell in cells]  # fmt: skip
    return "\n".join(out)


def _key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()


def _candidates(theirs: np.ndarray) -> list[np.ndarray]:
    """``theirs`` as is, channels-first → channels-last, and time-first → batch-first."""
    out = [theirs]
    if theirs.ndim >= 3:
        out += [np.moveaxis(theirs, 1, -1), np.swapaxes(theirs, 0, 1)]
    return out


def _align(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray | None:
    """``theirs`` in our layout: the candidate layout of our shape closest to ``ours`` (two
    layouts can share a shape, e.g. a 4×4 image with 4 channels); None when none fits."""
    fits = [c for c in _candidates(theirs) if c.shape == ours.shape]
    if not fits:
        return None
    return min(fits, key=lambda c: max_errors(ours, c)[0])


def _row(name: str, cls: str, ours: np.ndarray, theirs: Any, limit: float) -> LayerRow:
    if theirs is None:
        return LayerRow(name, cls, float("nan"), float("nan"), False, "no counterpart")
    aligned = _align(np.asarray(ours), np.asarray(theirs))
    if aligned is None:
        note = f"shapes {tuple(np.shape(ours))} vs {tuple(np.shape(theirs))}"
        return LayerRow(name, cls, float("nan"), float("nan"), False, note)
    err, rel = max_errors(np.asarray(ours), aligned)
    return LayerRow(name, cls, err, rel, rel <= limit)


# ---- our side ------------------------------------------------------------------------------
def _our_taps(model: Any, inputs: list[np.ndarray]) -> list[tuple[str, str, np.ndarray]]:
    from ..models import Model

    graph = model.graph
    # each call's first output (a recurrent layer's sequence, not its returned states)
    nodes = [n for n in graph.nodes if n.outputs]
    taps = [n.outputs[0] for n in nodes]
    labels = [(n.layer.name, type(n.layer).__name__) for n in nodes]
    probe = Model(graph.inputs if len(graph.inputs) > 1 else graph.inputs[0], taps,
                  name="layer_report_probe", backend=model.backend_name)  # fmt: skip
    res = probe.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outs = res if isinstance(res, list) else [res]
    return [(n, c, np.asarray(o)) for (n, c), o in zip(labels, outs, strict=True)]


# ---- the other side ------------------------------------------------------------------------
def _load_against(against: Any) -> tuple[str, Any]:
    if not isinstance(against, (str, os.PathLike)):
        kind = _kind_of(against)
        if kind is None:
            raise ConfigError(
                "layer_report compares with a Keras 3 model or a torch.nn.Module. Received: "
                f"{type(against).__name__}. Fix: pass a keras.Model, an nn.Module, or a "
                ".keras / .pt2 (torch.export) file."
            )
        return kind, against
    path = os.fspath(against)
    if not os.path.isfile(path):
        raise ConfigError(f"No such file: {path!r} (the model to compare against).")
    if path.endswith((".keras", ".h5")):
        import keras

        return "keras", keras.saving.load_model(path, compile=False, safe_mode=True)
    if path.endswith(".pt2"):
        import torch

        # unflattened: the module tree (and its paths) of the exported module, for the hooks
        return "torch", torch.export.unflatten(torch.export.load(path))
    raise ConfigError(
        f"{path!r}: expected a Keras 3 file (.keras, .h5) or a torch.export file (.pt2: "
        "torch.export.save(torch.export.export(module, args), path)). Received a file with "
        f"another name. Fix: save the model to compare against in one of those formats."
    )


def _kind_of(obj: Any) -> str | None:
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if module.startswith("torch.nn") and cls.__name__ == "Module":
            return "torch"
        if module.startswith("keras") and cls.__name__ in ("Model", "Layer"):
            return "keras"
    return None


def _keras_taps(kmodel: Any, names: list[str], inputs: list[np.ndarray]) -> dict[str, Any]:
    import keras

    by_key = {_key(layer.name): layer for layer in kmodel.layers}
    found = {n: by_key[_key(n)] for n in names if _key(n) in by_key}
    found = {
        n: layer for n, layer in found.items() if not isinstance(layer, keras.layers.InputLayer)
    }
    if not found:
        return {}
    probe = keras.Model(kmodel.inputs, [layer.output for layer in found.values()])
    outs = probe.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return {n: np.asarray(o) for n, o in zip(found, outs, strict=True)}


def _first_tensor(value: Any) -> Any:
    while isinstance(value, (tuple, list)):
        value = value[0]
    return value


def _perms(model: Any) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Per input and output of ``model``: the permutation from torch's layout to ours (the
    one ``from_torch`` recorded, or ``to_torch``'s rule)."""
    from ._to_torch import _io_perms

    return _io_perms(model, model.graph)


def _torch_call(module: Any, inputs: list[np.ndarray], perms: list[tuple[int, ...]]) -> Any:
    """Call ``module`` on our inputs moved to torch's layout."""
    import torch

    moved = [np.ascontiguousarray(np.transpose(a, np.argsort(p))) if len(p) == a.ndim else a
             for a, p in zip(inputs, perms, strict=True)]  # fmt: skip
    return module(*[torch.as_tensor(a) for a in moved])


def _torch_taps(module: Any, names: list[str], inputs: list[np.ndarray],
                perms: list[tuple[int, ...]]) -> dict[str, Any]:  # fmt: skip
    import torch

    wanted = {_key(n.split("@", 1)[0]): n.split("@", 1)[0] for n in names}
    got: dict[str, Any] = {}
    hooks = []
    for path, sub in module.named_modules():
        name = wanted.get(_key(path)) if path else None
        if name is None:
            continue

        def hook(_m: Any, _i: Any, out: Any, name: str = name) -> None:
            got[name] = _first_tensor(out).detach().cpu().numpy()

        hooks.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            _torch_call(module, inputs, perms)
    finally:
        for h in hooks:
            h.remove()
    return got


# ---- training ------------------------------------------------------------------------------
def _train_keras(model: Any, kmodel: Any, inputs: list[np.ndarray], target: np.ndarray,
                 steps: int, lr: float) -> list[tuple[str, str, np.ndarray, Any]]:  # fmt: skip
    import keras

    from .. import optimizers

    kmodel.compile(keras.optimizers.SGD(lr), "mse")
    model.compile(optimizers.SGD(lr), "mse")
    x = inputs if len(inputs) > 1 else inputs[0]
    n = len(target)
    for _ in range(steps):
        model.fit(x, target, batch_size=n, epochs=1, shuffle=False, verbose=0)
        kmodel.train_on_batch(x, target)
    by_key = {_key(layer.name): layer for layer in kmodel.layers}
    out = []
    for layer in model.layers:
        theirs = by_key.get(_key(layer.name))
        ws = theirs.get_weights() if theirs is not None else []
        for i, w in enumerate(layer.get_weights()):
            out.append((f"{layer.name}[{i}]", type(layer).__name__, w,
                        ws[i] if i < len(ws) else None))  # fmt: skip
    return out


def _train_torch(model: Any, module: Any, inputs: list[np.ndarray], target: np.ndarray,
                 steps: int, lr: float) -> list[tuple[str, str, np.ndarray, Any]]:  # fmt: skip
    import torch

    from .. import optimizers
    from ._torch_weights import torch_state_dict

    model.compile(optimizers.SGD(lr), "mse")
    opt = torch.optim.SGD(module.parameters(), lr=lr)
    module.train()
    in_perms, out_perms = _perms(model)
    x = inputs if len(inputs) > 1 else inputs[0]
    for _ in range(steps):
        model.fit(x, target, batch_size=len(target), epochs=1, shuffle=False, verbose=0)
        opt.zero_grad()
        out = _first_tensor(_torch_call(module, inputs, in_perms))
        perm = out_perms[0]
        ours_layout = out.permute(*perm) if len(perm) == out.dim() else out
        loss = torch.mean((ours_layout - torch.as_tensor(target)) ** 2)
        loss.backward()
        opt.step()
    module.eval()
    theirs = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    ours = torch_state_dict(model)
    # BatchNorm's step counter: duallearn's momentum is explicit, so it does not count steps
    return [(k, "state_dict", v, theirs.get(k)) for k, v in ours.items()
            if not k.endswith("num_batches_tracked")]  # fmt: skip


def layer_report(
    model: Any,
    against: Any,
    inputs: Any = None,
    *,
    train: int = 0,
    learning_rate: float = 0.01,
    seed: int = 0,
) -> LayerReport:
    """Compare ``model`` layer by layer with the Keras or torch model it was ported from.

    Formula: for each layer, ``max|ours − theirs| / max|theirs|`` on the same inputs, against
    the float32 ``forward`` tolerance; with ``train=N``, the same for every weight after
    ``N`` SGD steps (``learning_rate``) on ``mean((y − target)²)`` with seeded random targets.

    Args:
        model: a duallearn model, or a file ``dl.load_model`` reads.
        against: a ``keras.Model``, a ``torch.nn.Module``, a ``.keras`` file (loaded by real
            Keras with ``safe_mode=True``) or a ``.pt2`` file (``torch.export``).
        inputs: an array or list of arrays (duallearn's layout); default: seeded probe inputs.
        train: training steps to compare after the forward pass (0: none).
        learning_rate: the SGD learning rate of those steps.
        seed: the seed of the probe inputs and targets.

    Returns:
        A :class:`LayerReport` (``str()`` is a table; ``.first_divergent`` names the first
        layer beyond the tolerance; ``.ok``).

    Raises:
        ConfigError: ``against`` is neither a Keras nor a torch model (or such a file).

    Example:
        >>> import torch
        >>> import duallearn as dl
        >>> net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(),
        ...                           torch.nn.Linear(4, 2))
        >>> report = dl.porting.layer_report(dl.from_torch(net, input_shape=(8,)), net)
        >>> report.ok, report.first_divergent
        (True, None)
    """
    from .. import saving
    from ..export import probe_inputs

    if isinstance(model, (str, os.PathLike)):
        model = saving.load_model(os.fspath(model), compile=False)
    kind, other = _load_against(against)
    if train and isinstance(against, (str, os.PathLike)) and os.fspath(against).endswith(".pt2"):
        raise ConfigError(
            f"train={train} against a torch.export file: an exported program fixed the "
            "module's mode (BatchNorm, Dropout) when it was exported, so its training steps "
            "are not the module's. Fix: compare training against the live module in Python, "
            "dl.porting.layer_report(model, module, train=N), or compare the forward only."
        )
    if inputs is None:
        xs = probe_inputs(model, seed=seed)
    else:
        xs = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    ours = _our_taps(model, xs)
    names = [n for n, _, _ in ours]
    if kind == "keras":
        taps = _keras_taps(other, names, xs)
    else:
        taps = _torch_taps(other, names, xs, _perms(model)[0])
    limit = _limit("forward")
    report = LayerReport(kind, limit)
    # torch: a module's output is that of the last layer from_torch made of it (a stacked
    # LSTM's "rnn@l1", a padded conv's "conv" after "conv@pad"); "@add" came from a function
    last_of = {}
    for name, _, _ in ours:
        last_of[name.split("@", 1)[0]] = name
    for name, cls, out in ours:
        if cls == "InputLayer":
            continue
        module = name.split("@", 1)[0]
        if kind == "torch" and (not module or last_of[module] != name):
            where = f"inside {module}" if module else "a function call"
            report.rows.append(LayerRow(name, cls, float("nan"), float("nan"), True, where))
            continue
        report.rows.append(_row(name, cls, out, taps.get(module if kind == "torch" else name),
                                limit))  # fmt: skip
    if train:
        report.train_steps = int(train)
        report.train_tolerance = _limit("params_10" if train <= 10 else "params_100")
        _train_and_compare(report, model, other, kind, xs, seed, learning_rate)
    return report


def _limit(kind: str) -> float:
    tol = tolerance(kind, "float32")
    return tol.rtol + tol.atol_s


def _train_and_compare(report: LayerReport, model: Any, other: Any, kind: str,
                       xs: list[np.ndarray], seed: int, lr: float) -> None:  # fmt: skip
    """Train copies of both models (the originals stay as they were) and compare weights."""
    import copy

    from ..models import clone_model

    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    out = out[0] if isinstance(out, list) else out
    target = np.random.default_rng(seed + 1).standard_normal(np.shape(out)).astype("float32")
    ours = clone_model(model)
    ours.set_weights(model.get_weights())
    if kind == "keras":
        import keras

        theirs = keras.models.clone_model(other)
        theirs.set_weights(other.get_weights())
        pairs = _train_keras(ours, theirs, xs, target, report.train_steps, lr)
    else:
        pairs = _train_torch(ours, copy.deepcopy(other), xs, target, report.train_steps, lr)
    for name, cls, a, b in pairs:
        report.train_rows.append(_row(name, cls, a, b, report.train_tolerance))
