"""``Model``: a functional graph of layers with Keras's ``compile``/``fit``/``evaluate``/
``predict``. The model owns the meaning and the data order; its backend runtime does the math.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import config
from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..callbacks import History
from ..errors import ConfigError, NotBuiltError, ShapeError
from ..layers._input import SymbolicTensor
from ..layers._layer import REGISTRY, Layer, Weight
from ..plugin import Runtime, TrainSpec, backend_name, check_portable, get_backend
from ._adapter import positive
from ._functional import Graph, trace
from ._host import HostPrefix, is_host
from ._host import split as split_host
from ._on_batch import OnBatchMixin
from ._steps import StepsMixin, _CompileMetrics, active_model
from ._training import TrainingMixin


@REGISTRY.register()
class Model(OnBatchMixin, StepsMixin, TrainingMixin, Layer):
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
        pending = kwargs.pop("build_input_shape", None)  # subclassed models (saved configs)
        saved_names = kwargs.pop("layer_names", None)
        super().__init__(name=name, **kwargs)
        self._pending_build_shape = pending
        self._saved_layer_names = saved_names
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
        graph = trace(ins, outs)
        self._host_split = (graph, split_host(graph))  # refuses misplaced host layers first
        self._graph = graph
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
        if self._graph is None and getattr(self, "_pending_build_shape", None) is not None:
            self.build(self._pending_build_shape)
        if self._graph is None:
            raise NotBuiltError(
                f"Model {self.name!r} is not built: its input shape is unknown. Fix: start it "
                "with dl.layers.Input(shape), call model.build(input_shape), or fit it on data."
            )
        return self._graph

    def _host_prefix(self) -> HostPrefix | None:
        """The host-side preprocessing layers the inputs feed (``models/_host.py``), run
        per batch on the host; None when the model has none."""
        if self._graph is None and getattr(self, "_pending_build_shape", None) is None:
            return None
        graph = self.graph
        cached = getattr(self, "_host_split", None)
        if cached is None or cached[0] is not graph:
            self._host_split = cached = (graph, split_host(graph))
        return cached[1]

    def _runtime_graph(self) -> Graph:
        """The graph the backend runtime runs: the whole graph, or, after a host prefix,
        the rest of it."""
        prefix = self._host_prefix()
        return self.graph if prefix is None else prefix.core

    @property
    def layers(self) -> list[Layer]:
        """Keras 3's order: ``InputLayer``s included, ``dl.ops`` calls excluded. A model
        without a graph (a GAN holding sub-models) lists the layers held as attributes."""
        if self._graphless():
            return self._sublayers()
        graph = self.graph
        return [
            layer
            for layer in (graph.all_layers or graph.layers)
            if not getattr(layer, "_is_op", False)
        ]

    @staticmethod
    def call_layer_eagerly(layer: Layer, inputs: Any, **kwargs: Any) -> Any:
        """``layer(x)`` on arrays (Keras's eager call): run ``layer`` alone on the active
        backend; returns numpy. The layer's variables are bound there, as in any model."""
        from ._eager import call_eager

        return call_eager(layer, inputs, **kwargs)

    def _sublayers(self) -> list[Layer]:
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return [layer for layer in graph.layers if not getattr(layer, "_is_op", False)]
        stack = getattr(self, "_stack", None)
        return list(stack) if stack is not None else super()._sublayers()

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
    def weights(self) -> list[Weight]:  # type: ignore[override]
        """Every variable, layer by layer in ``model.layers`` order (Keras 3's order), each
        once (a layer also reached through a nested model counts once)."""
        return _unique(w for layer in self.layers for w in layer.weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        if not self.trainable:  # a frozen model (e.g. nested as a layer): nothing trains
            return []
        return _unique(w for layer in self.layers for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return list(self.weights)
        train = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in train]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    # ---- deterministic noise of a model nested as a layer ---------------------------------
    def noise_shape_for(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """Nested models: the masks of every noisy inner node, side by side, as one
        ``(batch, total)`` array (the backend splits it back); None when none is noisy."""
        batch = int(input_shape[0])
        plan = []
        for k, node in enumerate(self._runtime_graph().nodes):
            if not node.inputs:
                continue
            shape = node.inputs[0].shape
            full = (batch, *(int(d) for d in shape[1:] if d is not None))
            ns = node.layer.noise_shape_for(full)
            if ns is None:
                continue
            if not ns or ns[0] != batch:
                return None  # a mask without a leading batch axis: native RNG instead
            plan.append((k, tuple(int(d) for d in ns[1:])))
        self._noise_plan = plan
        if not plan:
            return None
        return (batch, sum(int(np.prod(rest)) for _, rest in plan))

    def draw_noise(self, rng: np.random.Generator, input_shape: tuple[int, ...]) -> np.ndarray:
        batch = int(input_shape[0])
        parts = []
        for k, rest in self._noise_plan:
            layer = self._runtime_graph().nodes[k].layer
            parts.append(np.asarray(layer.draw_noise(rng, (batch, *rest))).reshape(batch, -1))
        return np.concatenate(parts, axis=1)

    # ---- runtime -------------------------------------------------------------------------
    def _get_runtime(self) -> Runtime:
        if self._runtime is None:
            graph = self._runtime_graph()
            backend = get_backend(self.backend_name)
            # variables are created on the model's device (set_device / DUALLEARN_DEVICE)
            self._device = config.resolve_device(
                self._device_request, config.gpu_count(self.backend_name)
            )
            spec = graph.spec(self._dtype())
            spec.weights = self.weights
            spec.trainable = self.trainable_weights
            self._check_backend(spec.weights)
            self._runtime = backend.build(spec, self._device)
            if self._train_spec is not None:
                self._runtime.compile(self._train_spec)
        return self._runtime

    def _check_backend(self, variables: list[Weight]) -> None:
        """A layer's variables live on one backend: say so before building on another
        (before any native layer binds anything, so the model stays usable elsewhere)."""
        for layer in self._runtime_graph().layers:
            check_portable(layer, self.backend_name)
        for w in variables:
            w.native_for(self.backend_name, f", and model {self.name!r} runs on it")

    def _dtype(self) -> str:
        if self._graphless():
            return config.floatx()
        # the first native layer's (host-side layers' dtypes name what they return)
        layers = [layer for layer in self.graph.layers if not is_host(layer)]
        return layers[0].dtype if layers else config.floatx()

    @property
    def native(self) -> Any:
        """The native ``torch.nn.Module`` / ``tf.Module`` built by the backend."""
        return self._get_runtime().native

    def get_weights(self) -> list[np.ndarray]:
        """Every weight in Keras 3's order, shapes and layout (numpy): the layers'
        variables, shared with every other model that contains the same layers."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Load weights in :meth:`get_weights` order (e.g. ``keras_model.get_weights()``)."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ShapeError(
                f"Model {self.name!r} has {len(mine)} weight arrays. Received {len(weights)}. "
                "Fix: pass the list from get_weights() of a model with the same layers."
            )
        for w, v in zip(mine, weights, strict=True):
            if np.shape(v) != w.shape:
                layer = getattr(w._owner, "name", "?")
                raise ShapeError(
                    f"Layer {layer!r} weight {w.name!r} has shape {w.shape}. Received an "
                    f"array of shape {np.shape(v)}. Fix: use the canonical (Keras) layout."
                )
            kind = np.asarray(v).dtype.kind
            if kind not in "biuf":
                layer = getattr(w._owner, "name", "?")
                raise ShapeError(
                    f"Layer {layer!r} weight {w.name!r} takes real numbers. Received an array "
                    f"of dtype {np.asarray(v).dtype}. Fix: pass float arrays (get_weights() of "
                    "a model with the same layers)."
                )
        for w, v in zip(mine, weights, strict=True):  # all checked: nothing half-assigned
            w.assign(v)

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
        """Choose the optimizer, loss(es) and metrics (Keras's arguments).

        ``loss`` may be omitted when the model's ``train_step``/``test_step`` compute their
        own loss (Keras); the default steps then refuse to run. ``run_eagerly=True`` runs
        the Python ``train_step``/``test_step`` (debuggable) instead of the compiled step.
        ``jit_compile=True`` compiles the default step with XLA (TensorFlow) or
        ``torch.compile`` (torch), and an overridden step too, as Keras does
        (docs/custom_training.md); with ``run_eagerly=True`` it is disabled, with Keras's
        warning. ``steps_per_execution=k``: the callbacks' batch hooks run once per ``k``
        steps, at the batches Keras 3 (TensorFlow) calls them (``models/_execution.py``);
        the numbers are those of ``k=1``."""
        steps_per_execution = positive("steps_per_execution", steps_per_execution)
        optimizer = _optimizers.get(optimizer)
        _check_compile_names(loss, metrics, weighted_metrics)  # before anything changes
        if jit_compile is True and run_eagerly:  # Keras's rule and warning
            warnings.warn(
                "If `run_eagerly` is True, then `jit_compile` cannot also be True. "
                "Disabling `jit_compile`.",
                UserWarning,
                stacklevel=2,
            )
            jit_compile = False
        self.optimizer = optimizer
        self._compile_args = {
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
            "jit_compile": jit_compile,
            "run_eagerly": bool(run_eagerly),
            "steps_per_execution": steps_per_execution,
        }
        self._train_spec = None
        self._trainable_warned = False
        self._loss_tracker = _metrics.Mean(name="loss")
        self._compile_metrics = _CompileMetrics(self) if metrics or weighted_metrics else None
        self.compiled = True

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

    def _metrics_per_output(
        self, raw: Any, targets: list[np.ndarray] | None, weighted: bool
    ) -> list[list[Any]]:
        raw = raw or []
        if isinstance(raw, dict):
            per_out = [raw.get(n, []) for n in self.output_names]
        elif len(self.output_names) > 1 and raw and all(isinstance(m, (list, tuple)) for m in raw):
            per_out = list(raw)
        else:
            per_out = [raw] * len(self.output_names)
        ys: list[Any] = list(targets) if targets is not None else [None] * len(self.outputs)
        out_lists = []
        for out, ms, y in zip(self.outputs, per_out, ys, strict=True):
            ms = ms if isinstance(ms, (list, tuple)) else [ms]
            objs = [
                _metrics.get(m, None if y is None else y.shape, out.shape)
                for m in ms
                if m is not None
            ]
            for m in objs:
                m.weighted = weighted
            out_lists.append(objs)
        return out_lists

    def _ensure_train_spec(self, targets: list[np.ndarray] | None) -> TrainSpec:
        if self._compile_args is None or self.optimizer is None:
            raise ConfigError(
                f"Model {self.name!r} must be compiled before training or evaluation. "
                "Fix: call model.compile(optimizer=..., loss=...)."
            )
        if self._train_spec is not None:
            _losses.check_targets(self._train_spec.losses, targets, [o.shape for o in self.outputs])
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
        # Keras: `metrics` ignore sample and class weights, `weighted_metrics` use them.
        unweighted = self._metrics_per_output(args["metrics"], targets, weighted=False)
        weighted = self._metrics_per_output(args.get("weighted_metrics"), targets, weighted=True)
        metrics = [u + w for u, w in zip(unweighted, weighted, strict=True)]
        trainable = self.trainable_weights
        _claim_optimizer(self.optimizer, self, trainable)
        self._train_spec = TrainSpec(
            self.optimizer,
            losses,
            lw,
            metrics,
            jit_compile=args.get("jit_compile", "auto"),
            trainable=trainable,
        )
        _losses.check_targets(losses, targets, [o.shape for o in self.outputs])
        if self._runtime is not None:
            self._runtime.compile(self._train_spec)
        return self._train_spec

    def _logs(self, state: np.ndarray) -> dict[str, float]:
        """Decode the runtime's accumulator vector into Keras-named logs."""
        spec = self._train_spec
        assert spec is not None
        multi = len(self.output_names) > 1
        pairs = state[: 2 * (1 + (len(spec.losses) if multi else 0))].reshape(-1, 2)
        values = [float(t / c) if c else 0.0 for t, c in pairs]
        logs = {"loss": values[0]}
        if multi:
            for name, v in zip(self.output_names, values[1:], strict=True):
                logs[f"{name}_loss"] = v
        pos = 2 * len(values)
        for key, m in self._metric_keys(taken=set(logs)):
            n = m.state_size()
            logs[key] = m.result_from_state(state[pos : pos + n])
            pos += n
        return logs

    def _metric_keys(self, taken: set[str] | None = None) -> list[tuple[str, Any]]:
        """(log name, metric) of each compiled metric, output by output (Keras's names:
        ``<output>_<metric>`` for several outputs; a weighted metric whose name is taken
        becomes ``weighted_<metric>``)."""
        spec = self._train_spec
        if spec is None:
            return []
        multi = len(self.output_names) > 1
        seen = set(taken or ())
        if not taken:
            seen.add("loss")
            if multi:
                seen.update(f"{n}_loss" for n in self.output_names)
        out = []
        for name, ms in zip(self.output_names, spec.metrics, strict=True):
            for m in ms:
                key = f"{name}_{m.name}" if multi else m.name
                if key in seen and getattr(m, "weighted", False):  # Keras's rename
                    key = f"{name}_weighted_{m.name}" if multi else f"weighted_{m.name}"
                seen.add(key)
                out.append((key, m))
        return out

    @property
    def input(self) -> Any:
        """Keras's ``Functional.input``: the inputs the model is built on (a tensor, list or
        dict); a model without a graph yet falls back to ``Layer.input``."""
        if self._graph is None and getattr(self, "_pending_build_shape", None) is None:
            return super().input
        self.graph  # noqa: B018 (builds a subclassed model from its saved input shape)
        return self._input_struct

    @property
    def output(self) -> Any:
        """Keras's ``Functional.output``: the model's outputs (a tensor, list or dict)."""
        if self._graph is None and getattr(self, "_pending_build_shape", None) is None:
            return super().output
        self.graph  # noqa: B018
        return self._output_struct

    def to_json(self, **kwargs: Any) -> str:
        """The architecture (and compile config) as a JSON string; ``kwargs`` go to
        ``json.dumps``. Rebuild it with ``dl.models.model_from_json`` (Keras's pair)."""
        from ._json import model_to_json

        return model_to_json(self, **kwargs)

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

    def to_torch(self) -> Any:
        """A plain ``torch.nn.Module`` computing this model, whose ``state_dict()`` has torch's
        names and layouts (``dl.porting.to_torch``; docs/porting.md)."""
        from ..porting import to_torch

        return to_torch(self)

    def to_keras(self) -> Any:
        """A real Keras 3 model with this model's config and weights (``dl.porting.to_keras``)."""
        from ..porting import to_keras

        return to_keras(self)

    def export(self, filepath: str, format: str = "saved_model", **kwargs: Any) -> Any:
        """Export for deployment ("onnx", "saved_model", "tflite", "torchscript",
        "torch_export"), run the artifact on probe inputs and compare with this model; returns
        an ``ExportResult`` with the measured error (docs/export.md)."""
        from ..export import export_model

        return export_model(self, filepath, format=format, **kwargs)

    def _input_names_for(self, x: Any) -> list[str]:
        if self._graphless() and isinstance(x, dict):
            return list(x)
        graphless = self._graphless() or hasattr(type(self), "call")
        if self._graph is None and graphless and isinstance(x, (list, tuple)):
            return [f"input_{i}" for i in range(len(x))]  # subclassed, several inputs
        return super()._input_names_for(x)  # type: ignore[misc, no-any-return]

    def _build_from(self, arrays: list[np.ndarray]) -> None:
        if self._graph is None and hasattr(type(self), "call") and len(arrays) > 1:
            self.build([(None, *a.shape[1:]) for a in arrays])
            return
        super()._build_from(arrays)  # type: ignore[misc]

    def build(self, input_shape: Any) -> None:
        """Subclassed models: trace ``call`` on symbolic inputs of ``input_shape`` (batch
        dimension included; a list of shapes for several inputs) into a graph."""
        if self._graph is not None:
            return
        if not hasattr(type(self), "call"):
            raise NotBuiltError(f"Model {self.name!r} has no graph to build.")
        from ..layers._input import Input
        from ._functional import reorder_like_attributes

        many = (
            isinstance(input_shape, list)
            and bool(input_shape)
            and isinstance(input_shape[0], (list, tuple))
        )
        shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
        ins = [Input(s[1:], dtype=self.dtype) for s in shapes]
        outs = self.call(ins if many else ins[0])  # type: ignore[attr-defined]
        self._set_graph(ins if many else ins[0], list(outs) if isinstance(outs, tuple) else outs)
        assert self._graph is not None
        reorder_like_attributes(self._graph, self)
        names = getattr(self, "_saved_layer_names", None)
        if names and len(names) == len(self._graph.layers):  # loaded: the saved layer names
            for layer, n in zip(self._graph.layers, names, strict=True):
                layer.name = n
        self._pending_build_shape = [list(s) for s in shapes] if many else list(shapes[0])

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def get_config(self) -> dict[str, Any]:
        if hasattr(type(self), "call"):  # subclassed: constructor arguments + input shape
            cfg = Layer.get_config(self)
            if self._pending_build_shape is not None:
                cfg["build_input_shape"] = self._pending_build_shape
                cfg["layer_names"] = [layer.name for layer in self.graph.layers]
            return cfg
        from ..saving._config import functional_config

        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        if hasattr(cls, "call"):
            return cls(**config)
        from ..saving._config import functional_from_config

        return functional_from_config(config)

    def _pack_inputs(self, xs: list[Any], keys: list[Any] | None = None) -> Any:
        """Model inputs as the user gave them to the step: one tensor, a dict (given as a
        dict with ``keys``, or a model built on a dict), or a tuple."""
        if keys is not None and self._graphless():
            return dict(zip(keys, xs, strict=True))
        if keys is not None or isinstance(getattr(self, "_input_struct", None), dict):
            return dict(zip(self.input_names, xs, strict=True))
        return xs[0] if len(xs) == 1 else tuple(xs)

    def _pack_targets(self, ys: list[Any]) -> Any:
        if isinstance(getattr(self, "_output_struct", None), dict):
            return dict(zip(self.output_names, ys, strict=True))
        return ys[0] if len(ys) == 1 else tuple(ys)

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        if active_model() is not None and not _symbolic(inputs):  # inside a custom step
            return self._native_call(inputs, bool(kwargs.get("training", False)))
        if isinstance(inputs, SymbolicTensor) or (
            isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], SymbolicTensor)
        ):
            from ..layers._input import call_symbolic

            return call_symbolic(self, inputs, **kwargs)
        if kwargs.get("training"):
            return self._training_call(inputs)
        return self.predict(inputs, verbose=0)


def _symbolic(inputs: Any) -> bool:
    first = inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs
    return isinstance(first, SymbolicTensor)


def _unique(weights: Any) -> list[Weight]:
    seen: set[int] = set()
    out = []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _claim_optimizer(optimizer: Any, model: Model, trainable: list[Weight]) -> None:
    """Keras's rule: an optimizer keeps slots for the variables it was first used with; a
    later compile may train a subset of them (freezing keeps the others' slots), but not a
    variable it has no slot for, and its slots belong to one model."""
    owner = getattr(optimizer, "_dl_model", None)
    built = getattr(optimizer, "_dl_paths", None)
    if owner is None or built is None:
        optimizer._dl_model = weakref.ref(model)
        optimizer._dl_paths = {id(w): w.path for w in trainable}
        return
    if owner() is not model:
        raise ConfigError(
            f"This {type(optimizer).__name__} already holds the slots of model "
            f"{getattr(owner(), 'name', '?')!r}; model {model.name!r} cannot share it "
            "(Keras 3 refuses it too: its slots are per variable). Fix: give each model its "
            "own optimizer instance, e.g. compile(optimizer=dl.optimizers.Adam(...))."
        )
    unknown = [w.path for w in trainable if id(w) not in built]
    if unknown:
        raise ConfigError(
            f"Unknown variables for this {type(optimizer).__name__}: {unknown}. An optimizer "
            "can only train the variables it was first used with (Keras 3 raises the same "
            "error): they became trainable after it was built. Fix: compile with a new "
            "optimizer instance (the fine-tuning recipe: model.compile(optimizer="
            "dl.optimizers.Adam(1e-5), ...))."
        )


def _compile_leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _compile_leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _compile_leaves(v)]
    return [value]


def _check_compile_names(loss: Any, metrics: Any, weighted_metrics: Any) -> None:
    """``compile``'s names resolved once, so a misspelled loss or metric fails here (as in
    Keras), not at the first ``fit``; nothing of the model has changed yet."""
    for leaf in _compile_leaves(loss):
        if leaf is not None:
            _losses.get(leaf)
    for what, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
        if value is None:
            continue
        if not isinstance(value, (list, tuple, dict)):
            raise ConfigError(
                f"Expected the {what} argument to be a list, tuple, or dict. Received: "
                f"{what}={value!r} of type {type(value).__name__}. Fix: wrap it in a list, "
                f"e.g. {what}=[{value!r}]."
            )
        for leaf in _compile_leaves(value):
            if leaf is not None:
                _metrics.get(leaf)
