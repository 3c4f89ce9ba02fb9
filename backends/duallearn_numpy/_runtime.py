"""The numpy runtime: the GraphSpec walked node by node through each layer's numpy
``reference`` (forward) and ``reference_backward`` (VJP), float64 throughout."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from duallearn.errors import BackendError, ShapeError
from duallearn.layers import Layer
from duallearn.ops import numpy_mode
from duallearn.plugin import (
    GraphSpec,
    Runtime,
    StepNoise,
    TrainSpec,
    bind_variable,
    optimizer_for,
)

from ._optimizers import NumpyOptimizer

NAME = "numpy"


def check_device(device: str) -> None:
    if device != "cpu":
        raise BackendError(
            f"The numpy reference backend runs on the CPU only. Received device={device!r}. "
            "Fix: use device='cpu', or the torch/tensorflow backend for GPUs."
        )


class Holder:
    """A variable's numpy storage: one float64 array (the variable's dtype for non-float
    variables), updated in place and shared by every model containing the layer."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Holder(shape={self.value.shape}, dtype={self.value.dtype})"


def _storage(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return np.array(a, dtype=np.float64 if a.dtype.kind == "f" else a.dtype, order="C")


def _assign(h: Holder, a: np.ndarray) -> None:
    h.value[...] = a


def bind(variable: Any) -> Holder:
    """The holder of front-end ``variable`` (``duallearn.plugin.bind_variable``)."""
    dtype = variable.dtype

    def to_numpy(h: Holder) -> np.ndarray:
        return h.value.astype(dtype)

    holder: Holder = bind_variable(variable, NAME, lambda v: Holder(_storage(v)), to_numpy, _assign)
    return holder


def _f64(a: Any) -> np.ndarray:
    arr: np.ndarray = np.asarray(a)
    return arr.astype(np.float64) if arr.dtype.kind == "f" else arr


def _check_layer(layer: Any) -> None:
    if getattr(layer, "native_backend", ""):
        raise BackendError(
            f"Layer {layer.name!r} ({type(layer).__name__}) wraps native "
            f"{layer.native_backend} code; the numpy reference backend cannot run it."
        )
    if type(layer).reference is Layer.reference:
        raise BackendError(
            f"The numpy reference backend has no implementation of layer "
            f"{type(layer).__name__} ({layer.name!r}): it defines no numpy reference. Fix: "
            "use the torch or tensorflow backend for this model."
        )
    call = getattr(type(layer), "call", None)
    if call is not None and not call.__module__.startswith("duallearn."):
        raise BackendError(
            f"Layer {layer.name!r} ({type(layer).__name__}) overrides call(); the numpy "
            "reference backend runs only the built-in layers' numpy references."
        )


def _penalty(reg: Any, x: np.ndarray) -> float:
    """A regularizer's value on ``x`` (the numpy ops, float64)."""
    with numpy_mode():
        return float(np.sum(np.asarray(reg(x), np.float64)))


def _penalty_grad(reg: Any, x: np.ndarray) -> np.ndarray:
    """d penalty / dx from the regularizer's numpy ``reference_grad``."""
    fn = getattr(reg, "reference_grad", None)
    try:
        if fn is None:
            raise NotImplementedError
        return np.asarray(fn(np.asarray(x, np.float64)), np.float64)
    except NotImplementedError:
        raise BackendError(
            f"The numpy reference backend cannot differentiate the regularizer {reg!r}: it "
            "has no numpy gradient. Expected: a dl.regularizers class with reference_grad "
            "(L1, L2, L1L2, OrthogonalRegularizer). Fix: use the torch or tensorflow "
            "backend, or give the regularizer a reference_grad(x) method."
        ) from None


class NumpyRuntime(Runtime):
    def __init__(self, graph: GraphSpec) -> None:
        self.graph = graph
        for layer in graph.layers:
            _check_layer(layer)
        if any(getattr(layer, "produces_mask", False) for layer in graph.layers):
            raise BackendError(
                "The numpy reference backend does not carry Keras masks (a layer of this "
                "model produces one, e.g. Embedding(mask_zero=True)). Fix: use the torch or "
                "tensorflow backend for masked models."
            )
        # every layer's variables bound (or reused: a layer shared with another model)
        for v in [*graph.weights, *(w for layer in graph.layers for w in layer.weights)]:
            bind(v)
        self._use_trainable(graph.trainable)
        self._spec: TrainSpec | None = None
        self._opt: NumpyOptimizer | None = None
        self._acc = np.zeros(0)
        self._count = 0.0
        self._n_loss_slots = 1
        self._rng = np.random.default_rng()  # training-mode noise with no step seed

    def _use_trainable(self, variables: Sequence[Any]) -> None:
        self._trainable_vars = list(variables)
        self.params = [v.native_for(NAME) for v in self._trainable_vars]

    @property
    def native(self) -> Any:
        """The numpy storage: one :class:`Holder` per model weight (Keras order)."""
        return [w.native_for(NAME) for w in self.graph.weights]

    # ---- the graph walk ------------------------------------------------------------------
    def _layer_weights(self, layer: Any) -> list[np.ndarray]:
        return [v.native_for(NAME).value for v in layer.weights]

    def _node_noise(
        self, k: int, layer: Any, x: Any, training: bool, noise: StepNoise | None
    ) -> np.ndarray | None:
        if not training:
            return None
        if noise is not None and noise.masks:
            m = noise.masks.get(k)
            return None if m is None else _f64(m)
        if isinstance(x, list):
            return None
        shape = layer.noise_shape_for(tuple(int(d) for d in np.shape(x)))
        if shape is None:
            return None
        rng = (
            np.random.default_rng([int(noise.seed), k])
            if noise is not None and noise.seed is not None
            else self._rng
        )
        return _f64(layer.draw_noise(rng, shape))

    def _forward(
        self, inputs: Sequence[np.ndarray], training: bool, noise: StepNoise | None
    ) -> tuple[list[np.ndarray], dict[int, Any], dict[int, Any]]:
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise ShapeError(
                f"The model has {len(g.inputs)} input(s). Received {len(inputs)} array(s)."
            )
        vals: dict[int, Any] = {i: _f64(a) for i, a in zip(g.inputs, inputs, strict=True)}
        used: dict[int, Any] = {}
        for k, node in enumerate(g.nodes):
            layer = g.layers[node.layer]
            arg = [vals[i] for i in node.inputs] if node.list_input else vals[node.inputs[0]]
            nz = self._node_noise(k, layer, arg, training, noise)
            used[k] = nz
            out = layer.reference(self._layer_weights(layer), arg, training, nz)
            if training and hasattr(layer, "reference_moving_update"):
                self._moving_update(layer, arg)
            outs = out if len(node.outputs) > 1 else [out]
            for i, o in zip(node.outputs, outs, strict=True):
                vals[i] = o
        return [vals[i] for i in g.outputs], vals, used

    def _moving_update(self, layer: Any, x: Any) -> None:
        """BatchNormalization in training: the moving statistics, updated in place (as the
        native layers do during the forward)."""
        if not layer.uses_batch_statistics(True):
            return
        mean, var = layer.reference_moving_update(self._layer_weights(layer), x)
        named = {v.name: v.native_for(NAME) for v in layer.weights}
        named["moving_mean"].value[...] = mean
        named["moving_variance"].value[...] = var

    def _backward(
        self,
        vals: dict[int, Any],
        used: dict[int, Any],
        weights: dict[int, list[np.ndarray]],
        output_grads: Sequence[np.ndarray],
        training: bool,
        extra: Mapping[int, np.ndarray] | None = None,
    ) -> tuple[dict[int, Any], list[np.ndarray]]:
        """VJP through the nodes in reverse: gradients of every tensor and of the runtime's
        trainable variables (zeros for those the loss does not reach). ``extra``: more
        gradient on inner tensors (activity regularization penalties)."""
        g = self.graph
        grads: dict[int, Any] = {}
        for i, d in [*zip(g.outputs, output_grads, strict=True), *(extra or {}).items()]:
            d = np.asarray(d, np.float64)
            grads[i] = grads[i] + d if i in grads else d
        wgrads: dict[int, np.ndarray] = {}  # id(variable) -> gradient
        for k in reversed(range(len(g.nodes))):
            node = g.nodes[k]
            if not any(o in grads for o in node.outputs):
                continue
            layer = g.layers[node.layer]
            dy = [grads.get(o, np.zeros_like(vals[o])) for o in node.outputs]
            y = [vals[o] for o in node.outputs]
            arg = [vals[i] for i in node.inputs] if node.list_input else vals[node.inputs[0]]
            try:
                dx, dws = layer.reference_backward(
                    weights[node.layer],
                    arg,
                    y if len(y) > 1 else y[0],
                    dy if len(dy) > 1 else dy[0],
                    training,
                    used.get(k),
                )
            except NotImplementedError as e:
                raise BackendError(
                    f"The numpy reference backend cannot differentiate layer "
                    f"{type(layer).__name__} ({layer.name!r}): {e}."
                ) from None
            for v, dw in zip(layer.trainable_weights, dws, strict=True):
                prev = wgrads.get(id(v))
                wgrads[id(v)] = np.asarray(dw) if prev is None else prev + dw
            dxs = dx if node.list_input else [dx]
            for i, d in zip(node.inputs, dxs, strict=True):
                if d is None:
                    continue
                grads[i] = grads[i] + d if i in grads else np.asarray(d)
        return grads, [
            wgrads.get(id(v), np.zeros(v.shape, np.float64)) for v in self._trainable_vars
        ]

    def _snapshot(self) -> dict[int, list[np.ndarray]]:
        """Each layer's weights before a step (the backward reads the values the forward
        used, whatever the forward updated in place)."""
        return {
            i: [a.copy() for a in self._layer_weights(layer)]
            for i, layer in enumerate(self.graph.layers)
        }

    def _cast_out(self, outs: list[np.ndarray]) -> list[np.ndarray]:
        dt = np.dtype(self.graph.dtype) if self.graph.dtype else np.dtype(np.float64)
        return [
            np.asarray(o).astype(dt) if np.asarray(o).dtype.kind == "f" else np.asarray(o)
            for o in outs
        ]

    # ---- forward ---------------------------------------------------------------------------
    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        outs, _, _ = self._forward(inputs, False, None)
        return self._cast_out(outs)

    def forward(
        self, inputs: Sequence[np.ndarray], training: bool, noise: StepNoise | None = None
    ) -> list[np.ndarray]:
        outs, _, _ = self._forward(inputs, training, noise)
        return self._cast_out(outs)

    # ---- training ----------------------------------------------------------------------------
    def compile(self, spec: TrainSpec) -> None:
        self._spec = spec
        self._metric_specs = [(o, m) for o, ms in enumerate(spec.metrics) for m in ms]
        n_out = len(spec.losses)
        self._n_loss_slots = 1 + (n_out if n_out > 1 else 0)
        self._acc = np.zeros(
            2 * self._n_loss_slots + sum(m.state_size() for _, m in self._metric_specs)
        )
        self._count = 0.0
        if spec.trainable is not None:
            self._use_trainable(spec.trainable)
        self._opt = optimizer_for(
            self._opt, spec.optimizer, self._trainable_vars, self.params, NumpyOptimizer
        )

    def _loss(
        self,
        ys: Sequence[np.ndarray],
        outs: list[np.ndarray],
        sws: Sequence[np.ndarray | None],
    ) -> tuple[float, list[float], list[np.ndarray]]:
        """Total loss, each output's loss, and d(total)/d(each output)."""
        assert self._spec is not None
        spec = self._spec
        total, parts, dys = 0.0, [], []
        for fn, w, y, p, sw in zip(spec.losses, spec.loss_weights, ys, outs, sws, strict=True):
            if fn is None:
                parts.append(0.0)
                dys.append(np.zeros_like(p))
                continue
            sw = None if sw is None else _f64(sw)
            if fn.reduction == "none":
                # as the native losses (plugin LossFn): "sum_over_batch_size", so a mask
                # (ignore_class) gives the mean over the kept labels, not over all of them
                fn = copy.copy(fn)
                fn.reduction = "sum_over_batch_size"
            values = np.asarray(fn.reference(np.asarray(y), p, sw), np.float64)
            grad = np.asarray(fn.reference_grad(np.asarray(y), p, sw), np.float64)
            l = float(values)
            parts.append(l)
            total += w * l
            dys.append(w * grad)
        return total, parts, dys

    def _accumulate(
        self,
        loss: float,
        parts: list[float],
        ys: Sequence[np.ndarray],
        outs: list[np.ndarray],
        sws: Sequence[np.ndarray | None],
        batch: int,
    ) -> None:
        n = self._n_loss_slots
        self._count += float(batch)
        losses = [loss, *parts] if n > 1 else [loss]
        for j, l in enumerate(losses):
            self._acc[2 * j] += l * batch
        k = 2 * n
        for o, m in self._metric_specs:
            sw = sws[o] if getattr(m, "weighted", False) else None
            delta = np.asarray(
                m.reference_delta(
                    np.asarray(ys[o]), outs[o], None if sw is None else np.asarray(sw)
                ),
                np.float64,
            ).reshape(-1)
            self._acc[k : k + delta.size] += delta
            k += delta.size

    def _penalties(self, vals: Mapping[int, Any]) -> tuple[float, dict[int, np.ndarray]]:
        """Keras 3's extra loss terms: each ``activity_regularizer(y) / batch`` on the outputs
        ``y`` of the layers that have one, and ``regularizer(w)`` of each trained variable
        that has one. Returns their sum and the activity terms' gradients by tensor id (the
        weight terms' gradients: :meth:`_weight_penalty_grads`)."""
        total, seeds = 0.0, {}
        for node in self.graph.nodes:
            reg = getattr(self.graph.layers[node.layer], "activity_regularizer", None)
            if reg is None:
                continue
            for i in node.outputs:
                y = np.asarray(vals[i], np.float64)
                batch = float(max(y.shape[0], 1)) if y.ndim else 1.0
                total += _penalty(reg, y) / batch
                d = _penalty_grad(reg, y) / batch
                seeds[i] = seeds[i] + d if i in seeds else d
        for v, h in zip(self._trainable_vars, self.params, strict=True):
            if v.regularizer is not None:
                total += _penalty(v.regularizer, h.value)
        return total, seeds

    def _weight_penalty_grads(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        return [
            g if v.regularizer is None else g + _penalty_grad(v.regularizer, h.value)
            for g, v, h in zip(grads, self._trainable_vars, self.params, strict=True)
        ]

    def _step(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        training: bool,
        noise: StepNoise | None,
    ) -> tuple[float, list[float], list[np.ndarray], list[np.ndarray]]:
        if self._spec is None:
            raise BackendError("Compile the model before training or evaluating it.")
        weights = self._snapshot()
        outs, vals, used = self._forward(inputs, training, noise)
        loss, parts, dys = self._loss(targets, outs, sample_weights)
        extra, seeds = self._penalties(vals)  # before the update: the forward's values
        _, grads = self._backward(vals, used, weights, dys, training, seeds)
        return loss + extra, parts, outs, self._weight_penalty_grads(grads)

    def train_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        learning_rate: float,
        noise: StepNoise | None = None,
    ) -> None:
        assert self._opt is not None or self._spec is None
        loss, parts, outs, grads = self._step(inputs, targets, sample_weights, True, noise)
        assert self._opt is not None
        # fit's guard (Runtime.nonfinite_step), checked on the host: the reference runs there
        if self._nonfinite is None:
            if np.isfinite(loss) and all(np.isfinite(g).all() for g in grads):
                self._opt.apply(grads, learning_rate)
            else:
                self._nonfinite = (self._opt.iterations, bool(np.isfinite(loss)))
        self._accumulate(loss, parts, targets, outs, sample_weights, len(inputs[0]))

    def test_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
    ) -> None:
        if self._spec is None:
            raise BackendError("Compile the model before evaluating it.")
        outs, vals, _ = self._forward(inputs, False, None)
        loss, parts, _ = self._loss(targets, outs, sample_weights)
        loss += self._penalties(vals)[0]
        self._accumulate(loss, parts, targets, outs, sample_weights, len(inputs[0]))

    def results(self, reset: bool = True) -> np.ndarray:
        n = self._n_loss_slots
        out = self._acc.copy()
        out[1 : 2 * n : 2] = self._count
        if reset:
            self._acc[:] = 0.0
            self._count = 0.0
        return out

    def gradients(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        training: bool = True,
        noise: StepNoise | None = None,
    ) -> tuple[float, list[np.ndarray]]:
        loss, _, _, grads = self._step(inputs, targets, sample_weights, training, noise)
        return loss, [np.array(g) for g in grads]

    def input_gradients(
        self,
        inputs: Sequence[np.ndarray],
        output_grads: Sequence[np.ndarray],
        training: bool = False,
        noise: StepNoise | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights = self._snapshot()
        _, vals, used = self._forward(inputs, training, noise)
        grads, wgrads = self._backward(vals, used, weights, output_grads, training)
        dx = [
            np.zeros(np.shape(a)) if i not in grads else np.asarray(grads[i])
            for i, a in zip(self.graph.inputs, inputs, strict=True)
        ]
        return dx, wgrads

    _nonfinite: tuple[int, bool] | None = None

    def nonfinite_step(self) -> tuple[int, bool] | None:
        return self._nonfinite

    def clear_nonfinite(self) -> None:
        self._nonfinite = None

    # ---- optimizer state -------------------------------------------------------------------
    def optimizer_state(self) -> dict[str, np.ndarray]:
        return {} if self._opt is None else self._opt.state()

    def load_optimizer_state(self, state: Mapping[str, np.ndarray]) -> None:
        if self._opt is None:
            raise ShapeError("Compile the model before loading optimizer state.")
        self._opt.load(dict(state))

    def finalize_optimizer(self) -> None:
        if self._opt is not None:
            self._opt.finalize()

    # ---- precision and devices -----------------------------------------------------------
    def set_precision(self, compute_dtype: str | None, loss_scale: bool = False) -> None:
        if compute_dtype is not None or loss_scale:
            raise BackendError(
                "the numpy reference backend runs float64 only: mixed precision "
                f"(compute_dtype={compute_dtype!r}, loss_scale={loss_scale}) is not supported. "
                "Fix: use a float32/float64 dtype policy, or the torch/tensorflow backend."
            )

    def to_device(self, device: str) -> None:
        check_device(device)
