"""``Model``: a functional graph of layers with Keras's ``compile``/``fit``/``evaluate``/
``predict``. The model owns the meaning and the data order; its backend runtime does the math.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _seed, config
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..callbacks import Callback, CallbackList, History
from ..errors import ConfigError, NotBuiltError, ShapeError, TrainingError
from ..layers._input import SymbolicTensor
from ..layers._layer import REGISTRY, Layer, Weight
from ..plugin import Runtime, StepNoise, TrainSpec, backend_name, get_backend
from . import _data
from ._functional import Graph, trace
from ._progress import EpochPrinter

DEFAULT_BATCH_SIZE = 32


@REGISTRY.register()
class Model(Layer):
    """A model: ``Model(inputs, outputs)`` for graphs, or the base of ``Sequential``.

    ``backend`` pins the engine (default: the backend active when the model is created); the
    model keeps it whatever is selected later.
    """

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        backend: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.backend_name = backend or backend_name()
        self._graph: Graph | None = None
        self._runtime: Runtime | None = None
        self._train_spec: TrainSpec | None = None
        self._compile_args: dict[str, Any] | None = None
        self.optimizer: _optimizers.Optimizer | None = None
        self.stop_training = False
        self.history: History | None = None
        self._noise_stream: int | None = None
        if inputs is not None or outputs is not None:
            self._set_graph(inputs, outputs)

    # ---- graph ---------------------------------------------------------------------------
    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        self._input_struct = inputs
        self._output_struct = outputs
        ins = (
            list(inputs.values())
            if isinstance(inputs, dict)
            else (list(inputs) if isinstance(inputs, (list, tuple)) else [inputs])
        )
        outs = (
            list(outputs.values())
            if isinstance(outputs, dict)
            else (list(outputs) if isinstance(outputs, (list, tuple)) else [outputs])
        )
        self._graph = trace(ins, outs)
        self.input_names = list(inputs) if isinstance(inputs, dict) else [t.name for t in ins]
        self.output_names = (
            list(outputs)
            if isinstance(outputs, dict)
            else [t.node.layer.name if t.node is not None else t.name for t in outs]
        )
        self.built = True
        self.inputs, self.outputs = ins, outs

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            raise NotBuiltError(
                f"Model {self.name!r} is not built: its input shape is unknown. Fix: start it "
                "with dl.layers.Input(shape), call model.build(input_shape), or fit it on data."
            )
        return self._graph

    @property
    def layers(self) -> list[Layer]:
        return list(self.graph.layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError(
            f"No layer named {name!r} in model {self.name!r}. "
            f"Layers: {[layer.name for layer in self.layers]}."
        )

    @property
    def _weights_list(self) -> list[Weight]:
        return [w for layer in self.layers for w in layer.weights]

    @property
    def weights(self) -> list[Weight]:  # type: ignore[override]
        return self._weights_list

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    # ---- runtime -------------------------------------------------------------------------
    def _get_runtime(self) -> Runtime:
        if self._runtime is None:
            graph = self.graph
            backend = get_backend(self.backend_name)
            self._runtime = backend.build(
                graph.spec(self._dtype()), [w.value for w in self.weights]
            )
            offset = 0
            for layer in graph.layers:
                if layer._owner is None:
                    layer._owner, layer._owner_offset = self, offset
                offset += len(layer.weights)
            if self._train_spec is not None:
                self._runtime.compile(self._train_spec)
        return self._runtime

    def _dtype(self) -> str:
        layers = self.graph.layers
        return layers[0].dtype if layers else config.floatx()

    @property
    def native(self) -> Any:
        """The native ``torch.nn.Module`` / ``tf.Module`` built by the backend."""
        return self._get_runtime().native

    def _pull_weights(self) -> None:
        if self._runtime is not None:
            for w, v in zip(self.weights, self._runtime.get_weights(), strict=True):
                w.value = v

    def _push_weights(self) -> None:
        if self._runtime is not None:
            self._runtime.set_weights([w.value for w in self.weights])

    def get_weights(self) -> list[np.ndarray]:
        """Every weight in Keras 3's order, shapes and layout (numpy)."""
        if self._runtime is not None:
            return self._runtime.get_weights()
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load weights in :meth:`get_weights` order (e.g. ``keras_model.get_weights()``)."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ShapeError(
                f"Model {self.name!r} has {len(mine)} weight arrays. Received {len(weights)}. "
                "Fix: pass the list from get_weights() of a model with the same layers."
            )
        owners = [(layer, w) for layer in self.layers for w in layer.weights]
        for (layer, w), v in zip(owners, weights, strict=True):
            if np.shape(v) != w.shape:
                raise ShapeError(
                    f"Layer {layer.name!r} weight {w.name!r} has shape {w.shape}. Received an "
                    f"array of shape {np.shape(v)}. Fix: use the canonical (Keras) layout."
                )
        for w, v in zip(mine, weights, strict=True):
            w.value = np.array(v, dtype=w.dtype)
        self._push_weights()

    # ---- compile -------------------------------------------------------------------------
    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
    ) -> None:
        """Choose the optimizer, loss(es) and metrics (Keras's arguments)."""
        self.optimizer = _optimizers.get(optimizer)
        if loss is None:
            raise ConfigError(
                "compile() needs a loss. Received: loss=None. Fix: e.g. "
                "loss='sparse_categorical_crossentropy' or dl.losses.MeanSquaredError()."
            )
        self._compile_args = {
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "jit_compile": jit_compile,
        }
        self._train_spec = None

    def _per_output(self, value: Any, what: str) -> list[Any]:
        names = self.output_names
        if isinstance(value, dict):
            return [value.get(n) for n in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ConfigError(
                    f"compile(): {what} has {len(value)} entries for {len(names)} outputs "
                    f"({names})."
                )
            return list(value)
        return [value] * len(names)

    def _ensure_train_spec(self, targets: list[np.ndarray] | None) -> TrainSpec:
        if self._compile_args is None or self.optimizer is None:
            raise ConfigError(
                f"Model {self.name!r} must be compiled before training or evaluation. "
                "Fix: call model.compile(optimizer=..., loss=...)."
            )
        if self._train_spec is not None:
            return self._train_spec
        args = self._compile_args
        losses = [
            _losses.get(v) if v is not None else None
            for v in self._per_output(args["loss"], "loss")
        ]
        weights = args["loss_weights"]
        lw = (
            [1.0] * len(losses)
            if weights is None
            else [1.0 if v is None else float(v) for v in self._per_output(weights, "loss_weights")]
        )
        raw = args["metrics"] or []
        if isinstance(raw, dict):
            per_out = [raw.get(n, []) for n in self.output_names]
        elif len(self.output_names) > 1 and raw and all(isinstance(m, (list, tuple)) for m in raw):
            per_out = list(raw)
        else:
            per_out = [raw] * len(self.output_names)
        metrics = []
        ys: list[Any] = list(targets) if targets is not None else [None] * len(self.outputs)
        for out, ms, y in zip(self.outputs, per_out, ys, strict=True):
            ms = ms if isinstance(ms, (list, tuple)) else [ms]
            metrics.append(
                [
                    _metrics.get(m, None if y is None else y.shape, out.shape)
                    for m in ms
                    if m is not None
                ]
            )
        self._train_spec = TrainSpec(self.optimizer, losses, lw, metrics)
        if self._runtime is not None:
            self._runtime.compile(self._train_spec)
        return self._train_spec

    def _log_names(self) -> list[str]:
        spec = self._train_spec
        assert spec is not None
        names = ["loss"]
        multi = len(self.output_names) > 1
        if multi:
            names += [
                f"{n}_loss"
                for n, loss in zip(self.output_names, spec.losses, strict=True)
                if loss is not None
            ]
        for n, ms in zip(self.output_names, spec.metrics, strict=True):
            names += [f"{n}_{m.name}" if multi else m.name for m in ms]
        return names

    # ---- data ----------------------------------------------------------------------------
    def _build_from(self, arrays: list[np.ndarray]) -> None:
        """Deferred build from data (Sequential without an Input)."""
        if self._graph is None:
            self.build((None, *arrays[0].shape[1:]))

    def _cast_x(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        for i, (a, t) in enumerate(zip(arrays, self.inputs, strict=True)):
            expected = t.shape[1:]
            received = a.shape[1:]
            if len(expected) != len(received) or any(
                e is not None and e != r for e, r in zip(expected, received, strict=True)
            ):
                consumer = next((n.layer for n in self.graph.nodes if t in n.inputs), None)
                who = f"layer {consumer.name!r} ({type(consumer).__name__})" if consumer else "it"
                raise ShapeError(
                    f"Model {self.name!r} input {self.input_names[i]!r} feeds {who}, which "
                    f"expects input shape {(None, *expected)}. Received: {(None, *received)}. "
                    "Fix: reshape the data or build the model for this shape."
                )
        return _data.cast_inputs(arrays, [t.dtype for t in self.inputs])

    def _prepare_y(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        dtype = self._dtype()
        return [
            np.ascontiguousarray(a, dtype=dtype) if a.dtype.kind == "f" else np.ascontiguousarray(a)
            for a in arrays
        ]

    def _sample_weights(
        self, sample_weight: Any, class_weight: Any, ys: list[np.ndarray]
    ) -> list[np.ndarray | None]:
        n_out = len(self.output_names)
        if sample_weight is None:
            sws: list[np.ndarray | None] = [None] * n_out
        elif isinstance(sample_weight, dict):
            sws = [
                None if sample_weight.get(k) is None else np.asarray(sample_weight[k])
                for k in self.output_names
            ]
        elif isinstance(sample_weight, (list, tuple)) and n_out > 1:
            sws = [None if s is None else np.asarray(s) for s in sample_weight]
        else:
            sws = [np.asarray(sample_weight)] * n_out
        if class_weight is not None:
            if n_out > 1:
                raise ConfigError("class_weight is only supported for single-output models.")
            y = ys[0]
            labels = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
            labels = labels.astype(np.int64)
            missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
            if missing:
                raise ConfigError(
                    f"class_weight has no entry for classes {missing} found in y. "
                    f"Received keys: {sorted(class_weight)}. Fix: give a weight for every class."
                )
            cw = np.array([class_weight[int(c)] for c in labels], dtype=np.float64)
            sws = [cw if sws[0] is None else sws[0] * cw]
        return [None if s is None else np.ascontiguousarray(s, dtype=self._dtype()) for s in sws]

    def _draw_noise(self, batch: int) -> StepNoise | None:
        if not config.is_deterministic():
            return None
        graph = self.graph
        masks = {}
        step = self.optimizer.iterations if self.optimizer is not None else 0
        if self._noise_stream is None:
            self._noise_stream = _seed.draw_seed()
        for i, node in enumerate(graph.nodes):
            shape = node.inputs[0].shape if node.inputs else None
            if shape is None:
                continue
            full = (batch, *(int(d) for d in shape[1:] if d is not None))
            ns = node.layer.noise_shape_for(full)
            if ns is not None:
                rng = _seed.philox(self._noise_stream, step, i)
                masks[i] = node.layer.draw_noise(rng, ns).astype(node.layer.dtype)
        return StepNoise(masks)

    # ---- fit -----------------------------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
    ) -> History:
        """Train for ``epochs`` epochs; returns a :class:`History` (Keras's arguments)."""
        batch_size = _positive("batch_size", batch_size or DEFAULT_BATCH_SIZE)
        _positive("epochs", epochs, allow_zero=True)
        xs0 = _data.as_list(x, self._input_names_for(x), "inputs")
        self._build_from(xs0)
        xs: list[Any] = self._cast_x(xs0)
        ys: list[Any] = self._prepare_y(_data.as_list(y, self.output_names, "targets"))
        sws: list[Any] = self._sample_weights(sample_weight, class_weight, ys)
        n = _data.check_lengths([xs, ys, sws], ["x", "y", "sample_weight"])
        val: Any = None
        if validation_data is not None:
            val = self._unpack_validation(validation_data)
        elif validation_split:
            (xs, ys, sws), val_groups, n = _data.split_validation(
                [xs, ys, sws], validation_split, n
            )
            val = tuple(val_groups)
        self._ensure_train_spec(ys)
        runtime = self._get_runtime()
        assert self.optimizer is not None
        rng = np.random.default_rng(_seed.draw_seed())
        history = History()
        self.history = history
        steps = math.ceil(n / batch_size) if steps_per_epoch is None else steps_per_epoch
        cbs = CallbackList(
            [*(callbacks or []), history],
            self,
            {"epochs": epochs, "steps": steps, "verbose": verbose},
        )
        printer = EpochPrinter(epochs, _verbosity(verbose))
        batch_logs = cbs.wants_batch_logs("on_train_batch_end")
        names = self._log_names()
        self.stop_training = False
        cbs.on_train_begin({})
        logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            printer.start()
            for b, idx in enumerate(_data.batch_indices(n, batch_size, shuffle, rng)):
                if b >= steps:
                    break
                cbs.on_train_batch_begin(b, {})
                lr = self.optimizer.current_learning_rate()
                runtime.train_batch(
                    [a[idx] for a in xs],
                    [a[idx] for a in ys],
                    [None if s is None else s[idx] for s in sws],
                    lr,
                    self._draw_noise(len(idx)),
                )
                self.optimizer.iterations += 1
                if batch_logs:
                    cbs.on_train_batch_end(
                        b, dict(zip(names, runtime.results(reset=False), strict=True))
                    )
                if self.stop_training:
                    break
            logs = dict(zip(names, runtime.results(), strict=True))
            if not math.isfinite(logs["loss"]):
                self._pull_weights()
                raise TrainingError(
                    f"The training loss became {logs['loss']} in epoch {epoch + 1}; training "
                    "stopped. Fix: lower the learning rate, check the data for NaN/inf, or use "
                    "from_logits=True losses on raw outputs."
                )
            if val is not None and (epoch + 1) % validation_freq == 0:
                vx, vy, vsw = val
                vlogs = self._evaluate_arrays(vx, vy, vsw, validation_batch_size or batch_size)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            printer.end(epoch, logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return history

    def _input_names_for(self, x: Any) -> list[str]:
        if self._graph is None:
            return ["input"]
        return self.input_names

    def _unpack_validation(self, data: Any) -> tuple[list[Any], list[Any], list[Any]]:
        if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
            raise ConfigError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight). Received: {type(data).__name__}."
            )
        vx = self._cast_x(_data.as_list(data[0], self.input_names, "validation inputs"))
        vy = self._prepare_y(_data.as_list(data[1], self.output_names, "validation targets"))
        vsw = self._sample_weights(data[2] if len(data) == 3 else None, None, vy)
        _data.check_lengths([vx, vy, vsw], ["x_val", "y_val", "val sample_weight"])
        return vx, vy, vsw

    def _evaluate_arrays(
        self,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        sws: list[np.ndarray | None],
        batch_size: int,
    ) -> dict[str, float]:
        runtime = self._get_runtime()
        n = xs[0].shape[0]
        runtime.results(reset=True)
        for idx in _data.batch_indices(n, batch_size, False, None):
            runtime.test_batch(
                [a[idx] for a in xs],
                [a[idx] for a in ys],
                [None if s is None else s[idx] for s in sws],
            )
        return dict(zip(self._log_names(), runtime.results(), strict=True))

    # ---- evaluate / predict --------------------------------------------------------------
    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = "auto",
        sample_weight: Any = None,
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
    ) -> Any:
        """Loss and metrics on the data: a float (loss only), a list, or a dict."""
        batch_size = _positive("batch_size", batch_size or DEFAULT_BATCH_SIZE)
        xs0 = _data.as_list(x, self._input_names_for(x), "inputs")
        self._build_from(xs0)
        xs = self._cast_x(xs0)
        ys = self._prepare_y(_data.as_list(y, self.output_names, "targets"))
        sws = self._sample_weights(sample_weight, None, ys)
        _data.check_lengths([xs, ys, sws], ["x", "y", "sample_weight"])
        self._ensure_train_spec(ys)
        logs = self._evaluate_arrays(xs, ys, sws, batch_size)
        if _verbosity(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> Any:
        """Outputs for ``x`` in inference mode (numpy; a list for several outputs)."""
        batch_size = _positive("batch_size", batch_size or DEFAULT_BATCH_SIZE)
        xs0 = _data.as_list(x, self._input_names_for(x), "inputs")
        self._build_from(xs0)
        xs = self._cast_x(xs0)
        n = _data.check_lengths([xs], ["x"])
        runtime = self._get_runtime()
        chunks: list[list[np.ndarray]] = []
        for idx in _data.batch_indices(n, batch_size, False, None):
            sl = slice(int(idx[0]), int(idx[-1]) + 1)
            chunks.append(runtime.predict([a[sl] for a in xs]))
        outs = [np.concatenate([c[i] for c in chunks]) for i in range(len(self.outputs))]
        if isinstance(getattr(self, "_output_struct", None), dict):
            return dict(zip(self.output_names, outs, strict=True))
        return outs if len(outs) > 1 else outs[0]

    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(
            x,
            batch_size=len(np.asarray(x if not isinstance(x, (list, dict)) else list(x)[0])),
            verbose=0,
        )

    # ---- misc ----------------------------------------------------------------------------
    def summary(self, print_fn: Any = None) -> None:
        """Print layers, output shapes and parameter counts."""
        from ._summary import summary_text

        (print_fn or print)(summary_text(self))

    def save(self, filepath: str, overwrite: bool = True) -> None:
        """Write the model (config, weights, optimizer state) to one ``.dlm`` file."""
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        from ..saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str, **kwargs: Any) -> None:
        from ..saving import load_weights

        load_weights(self, filepath, **kwargs)

    def build(self, input_shape: Any) -> None:
        if self._graph is None:
            raise NotBuiltError(f"Model {self.name!r} has no graph to build.")

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_config(self) -> dict[str, Any]:
        from ..saving._config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        from ..saving._config import functional_from_config

        return functional_from_config(config)

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, SymbolicTensor) or (
            isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], SymbolicTensor)
        ):
            raise ConfigError("Using a model as a layer in another graph is not supported yet.")
        out = self.predict(inputs, verbose=0)
        return out


def _positive(name: str, value: Any, allow_zero: bool = False) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < (0 if allow_zero else 1)
    ):
        raise ConfigError(f"{name} must be a positive integer. Received: {name}={value!r}.")
    return int(value)


def _verbosity(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2):
        return int(verbose)
    raise ConfigError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}.")
