"""The backend contract: what every engine plugin implements.

The front-end hands a backend a :class:`GraphSpec` (layers in Keras order, the nodes that call
them, which tensors are inputs and outputs) plus the canonical weights, and gets back a
:class:`Runtime`: a native model with a native, compiled train step. Everything crossing this
boundary is numpy in the canonical layout (docs/design.md); each backend converts at its edge.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..variables import Binding


@dataclass(frozen=True)
class Node:
    """One call of a layer inside a graph.

    ``layer`` indexes :attr:`GraphSpec.layers`; ``inputs``/``outputs`` are tensor ids. When
    ``list_input`` is true the layer receives a list of tensors (merge layers), otherwise one.
    ``call_args``: for a call with several tensors or keywords (``layer(targets, logits)``),
    its arguments with tensor slots (``{"__tensor__": i}`` for ``inputs[i]``); the layer then
    receives ``CallArgs.rebuild(call_args, tensors)`` (:class:`GraphWalk` does it).
    """

    layer: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    list_input: bool = False
    call_args: Any = field(default=None, compare=False)


@dataclass
class GraphSpec:
    """A model as the backend sees it: front-end layer objects and the call graph."""

    layers: list[Any]
    nodes: list[Node]
    inputs: list[int]
    outputs: list[int]
    dtype: str = "float32"
    # Shapes of the model inputs and outputs, batch dimension first (None = any size).
    input_shapes: list[tuple[int | None, ...]] = field(default_factory=list)
    output_shapes: list[tuple[int | None, ...]] = field(default_factory=list)
    # The model's variables (``duallearn.Variable``, Keras order, each once) and those that
    # train until the first compile. Native layers bind each variable to one native storage
    # (or reuse the one it has: a layer shared between models): the runtime copies nothing.
    weights: list[Any] = field(default_factory=list)
    trainable: list[Any] = field(default_factory=list)


@dataclass
class TrainSpec:
    """What ``compile`` chose: one loss (and its weight) and metrics per model output."""

    optimizer: Any
    losses: list[Any]
    loss_weights: list[float]
    metrics: list[list[Any]] = field(default_factory=list)
    # compile(jit_compile=...): True (torch.compile / XLA), False, or "auto" (the backend
    # compiles where it measurably helps; docs/benchmarks.md)
    jit_compile: Any = "auto"
    # The variables that train: the model's trainable weights when ``compile`` ran (Keras's
    # rule: a change of ``trainable`` takes effect at the next compile). Optimizer slots are
    # keyed by their ``path``. None: the runtime keeps its current set.
    trainable: list[Any] | None = None


@dataclass
class StepNoise:
    """Per-step randomness fixed by the front-end.

    ``masks`` (deterministic mode) maps a layer index to the multiplicative mask (values 0 or
    1/(1-rate)) or additive noise that the layer applies in training. In fast mode it is empty
    and ``seed`` is set instead: the backend reseeds its native generator with it before the
    step, so native masks are a function of (noise stream, step) and survive a resume.
    """

    masks: dict[int, np.ndarray] = field(default_factory=dict)
    seed: int | None = None


class Runtime(ABC):
    """A built model on one backend: native weights, compiled steps, device-side metrics.

    Optional, for data-parallel training (``duallearn.distribution``; a runtime without them
    refuses a distribution with a clear error): ``distribute(plan) -> group`` (join the run's
    processes; ``group`` has ``rank``, ``size`` and numpy collectives ``all_reduce``,
    ``all_gather``, ``broadcast``, ``barrier``), ``undistribute()``,
    ``broadcast_state(optimizer)`` (process 0's weights and optimizer state everywhere) and
    ``set_global_batch(n)`` (the global rows of the next step)."""

    @abstractmethod
    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Forward pass in inference mode; returns every model output as numpy."""

    def set_batch_size(self, kind: str, batch_size: int | None) -> None:
        """The batch size that the coming ``kind`` calls ("train", "test", "predict") mostly
        have, from the call's arguments (None: unknown). A backend may specialise its compiled
        step to it; the choice must not depend on the order of earlier calls, so that a
        resumed run computes exactly what the uninterrupted one did. Default: ignored."""
        return None

    def predict_many(self, inputs: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """:meth:`predict` of each ``batch_size`` slice of ``inputs`` in order, concatenated
        (the same per-batch forward; a backend may run the loop natively in one call)."""
        n = len(inputs[0])
        chunks = [
            self.predict([a[i : i + batch_size] for a in inputs]) for i in range(0, n, batch_size)
        ]
        return [np.concatenate([c[k] for c in chunks]) for k in range(len(chunks[0]))]

    @abstractmethod
    def forward(
        self, inputs: Sequence[np.ndarray], training: bool, noise: StepNoise | None = None
    ) -> list[np.ndarray]:
        """Forward pass in the given mode (uncompiled; for tests and layer probes)."""

    @abstractmethod
    def compile(self, spec: TrainSpec) -> None:
        """Prepare the native optimizer state, loss and metric accumulators."""

    @abstractmethod
    def train_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        learning_rate: float,
        noise: StepNoise | None = None,
    ) -> None:
        """One optimizer step. Accumulates loss and metrics on the device; no host sync."""

    def train_many(
        self,
        batches: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[Any]]],
        learning_rates: Sequence[float],
        seeds: Sequence[int] | None = None,
    ) -> None:
        """:meth:`train_batch` of each ``(inputs, targets, sample_weights)`` in order, with its
        learning rate and, for a model with step noise (fast mode), its step's seed
        (``StepNoise.seed``; None: no step noise); the batches have equal shapes
        (``compile(steps_per_execution=k)``). A backend may run them in one native call: the
        numbers must be those of one call per step, the native draws included. Default: one
        ``train_batch`` each."""
        noises: list[StepNoise | None] = (
            [None] * len(batches) if seeds is None else [StepNoise(seed=s) for s in seeds]
        )
        for (x, y, w), lr, noise in zip(batches, learning_rates, noises, strict=True):
            self.train_batch(x, y, w, lr, noise)

    def test_many(
        self, batches: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[Any]]]
    ) -> None:
        """:meth:`test_batch` of each batch in order (equal shapes); a backend may run them in
        one native call, with the numbers of one call per batch. Default: one call each."""
        for x, y, w in batches:
            self.test_batch(x, y, w)

    @abstractmethod
    def test_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
    ) -> None:
        """Accumulate loss and metrics on one batch in inference mode."""

    @abstractmethod
    def results(self, reset: bool = True) -> np.ndarray:
        """Read the float64 accumulator vector (one host sync) and optionally zero it.

        Layout: ``[Σ loss·batch, Σ batch]`` for the total loss, the same pair per output when
        the model has several outputs, then each metric's additive state
        (``metric.state_size()`` entries, ``TrainSpec.metrics`` order, output by output).
        """

    @abstractmethod
    def gradients(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        training: bool = True,
        noise: StepNoise | None = None,
    ) -> tuple[float, list[np.ndarray]]:
        """Loss and its gradient for every trainable weight, canonical layout, no update."""

    @abstractmethod
    def input_gradients(
        self,
        inputs: Sequence[np.ndarray],
        output_grads: Sequence[np.ndarray],
        training: bool = False,
        noise: StepNoise | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Vector-Jacobian product of the outputs: ``(dL/dinputs, dL/dtrainable weights)``
        for the given ``dL/doutputs`` (canonical layout; for parity tests)."""

    graph: GraphSpec

    def get_weights(self) -> list[np.ndarray]:
        """Every weight in Keras order and canonical layout (read from the variables)."""
        return [w.numpy() for w in self.graph.weights]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Assign canonical weights (same order and shapes as :meth:`get_weights`)."""
        for w, v in zip(self.graph.weights, weights, strict=True):
            w.assign(v)

    @abstractmethod
    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Optimizer slots in canonical layout, keyed ``"<slot>/<variable path>"``, plus
        ``"iterations"``."""

    @abstractmethod
    def load_optimizer_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` returned (from either backend)."""

    @abstractmethod
    def set_precision(self, compute_dtype: str | None, loss_scale: bool = False) -> None:
        """Mixed precision (the model's dtype policy): run forwards in ``compute_dtype``
        ("float16", "bfloat16"; None: the variables' dtype) with the variables kept in
        theirs; ``loss_scale``: Keras's dynamic loss scaling (docs/training.md)."""

    @abstractmethod
    def to_device(self, device: str) -> None:
        """Run on ``device`` ("cpu", "cuda:N"): variables, optimizer slots, accumulators
        and each batch's tensors live there."""

    @abstractmethod
    def finalize_optimizer(self) -> None:
        """End of ``fit``: Keras's ``finalize_variable_values`` (with ``use_ema``, every
        trained variable takes its moving average)."""

    @property
    def native(self) -> Any:
        """The framework object the backend built (``torch.nn.Module`` / ``tf.Module``)."""
        raise NotImplementedError

    # ---- the non-finite guard of ``fit`` (docs/training.md, "Non-finite values") -------------
    def nonfinite_step(self) -> tuple[int, bool] | None:
        """The first training step, since :meth:`clear_nonfinite`, whose loss or gradients held
        a NaN or an infinity: ``(iteration, loss_finite)``, or None when there was none.

        ``iteration`` is the optimizer's ``iterations`` before that step (the front-end maps
        it to the epoch and batch); ``loss_finite`` is False when the loss itself was not
        finite, True when only a gradient was not (a NaN the forward hid, e.g. a fused
        ReLU mapping NaN to 0). One host read of a flag kept on the device; ``fit`` calls it
        at its logging points only, never per step.

        What ``train_batch`` must do for it: check ``isfinite(loss) & all(isfinite(grads))``
        inside its compiled step, on the device (no host sync per step). When the check
        fails, skip the update: the weights, the optimizer slots and ``iterations`` stay
        those before the step, and the flag records the step. While the flag is set, every
        later ``train_batch`` skips its update too (its loss and metrics still accumulate),
        so the weights stay those before the first bad step until the flag is read. Under
        mixed-precision loss scaling a non-finite gradient is the scaler's business (halve the
        scale, skip the step: normal, not recorded); a non-finite loss is recorded.

        Default: None (a runtime without the guard; ``fit`` then stops on a non-finite
        epoch loss only)."""
        return None

    def clear_nonfinite(self) -> None:
        """Forget the recorded step: later ``train_batch`` calls update again (``fit`` calls
        it when it starts and once it has read a recorded step)."""
        return None

    # ---- custom training steps (``Model.train_step`` overrides, models/_steps.py) ----------
    def to_native(self, arrays: Sequence[np.ndarray]) -> list[Any]:
        """numpy arrays as native tensors on the runtime's device (a custom step's data)."""
        raise NotImplementedError

    def call(
        self, inputs: Sequence[Any], training: bool, noise: StepNoise | None = None
    ) -> list[Any]:
        """The model's forward on native tensors, differentiable (``model(x, training=...)``
        inside a custom step), outputs in the model's dtype."""
        raise NotImplementedError

    def native_loss(
        self, targets: Sequence[Any], outputs: Sequence[Any], sample_weights: Sequence[Any]
    ) -> Any:
        """The loss of the last forward's ``outputs`` on native tensors: the compiled loss
        (masks, sample weights and loss weights as the compiled step) plus the losses the
        forward added and the weight penalties; None when there is none of them."""
        raise NotImplementedError

    def metric_weight(self, sample_weight: Any, output: int, prediction: Any) -> Any:
        """``sample_weight`` with output ``output``'s Keras mask from the last forward folded
        in (as the compiled step weighs metrics); unchanged when the output has no mask."""
        return sample_weight


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def bind_variable(
    variable: Any,
    backend: str,
    create: Callable[[np.ndarray], Any],
    to_numpy: Callable[[Any], np.ndarray],
    assign: Callable[[Any, np.ndarray], None],
    to_native: Callable[[np.ndarray], np.ndarray] = _identity,
    to_canonical: Callable[[np.ndarray], np.ndarray] = _identity,
    existing: Any = None,
) -> Any:
    """The native storage of front-end ``variable`` on ``backend``: the one it is bound to
    (its layer is in another model too), else ``existing`` (the user's own tensor) or
    ``create(native-layout value)``, bound now with the variable's current value. Every
    native module built for the variable's layer, in any model, shares it.

    ``to_numpy(native)`` / ``assign(native, array)`` read and write the native layout;
    ``to_native`` / ``to_canonical`` convert between the layouts (identity by default)."""
    native = variable.native_for(backend)
    if native is not None:
        return native
    store = existing if existing is not None else create(to_native(variable.numpy()))

    def read() -> np.ndarray:
        return np.array(to_canonical(to_numpy(store)))

    def write(a: np.ndarray) -> None:
        assign(store, np.asarray(to_native(np.asarray(a)), order="C"))

    same = to_native is _identity and to_canonical is _identity
    variable.bind(Binding(backend, store, read, write, to_native, to_canonical, same))
    return store


def optimizer_for(
    current: Any, optimizer: Any, variables: Sequence[Any], params: Sequence[Any], make: Any
) -> Any:
    """The native optimizer state for ``optimizer`` over ``variables`` (their native storage
    ``params``): ``current`` when it already is, else ``make(optimizer, params,
    to_canonical, to_native, names=, keys=, variables=)`` (``variables``: the front-end
    variables, for their ``constraint``). Slots are keyed by variable path; when the same
    optimizer is recompiled over other variables (some frozen), the slots of the variables
    it keeps carry over, as in Keras. Backends call it from ``Runtime.compile``."""
    keys = [v.path for v in variables]
    same = current is not None and current.spec is optimizer
    if same and current.keys == keys:
        return current
    new = make(
        optimizer,
        list(params),
        [v.binding.to_canonical for v in variables],
        [v.binding.to_native for v in variables],
        names=[v.name for v in variables],
        keys=keys,
        variables=list(variables),
    )
    if same:
        new.load(current.state())
    return new


class Backend(ABC):
    """An engine plugin. Constructed once, lazily; may import its framework in ``__init__``."""

    name: str = ""
    # the backend's ``dl.ops`` implementation (a module: duallearn/ops, docs/ops.md)
    ops: Any = None
    # the native optimizer class (``XOptimizer(spec, params, ...)``, see optimizer_for)
    optimizer_class: Any = None

    def native_optimizer(self, optimizer: Any, variables: Sequence[Any]) -> Any:
        """The native state of front-end ``optimizer`` over ``variables`` (bound here), for
        ``optimizer.apply`` in a custom step. It is the state ``fit`` uses too: one set of
        slots per optimizer, keyed by variable path (``optimizer_for``)."""
        if self.optimizer_class is None:
            from ..errors import BackendError

            raise BackendError(
                f"The {self.name} backend has no native optimizer, so optimizer.apply cannot "
                "run on it. Fix: train on the torch or tensorflow backend."
            )
        current = getattr(optimizer, "_dl_native", None)
        if current is not None and not isinstance(current, self.optimizer_class):
            current = None
        params = [v.native_for(self.name) for v in variables]
        native = optimizer_for(current, optimizer, variables, params, self.optimizer_class)
        optimizer._dl_native = native
        return native

    # whether compile_step runs the step's Python only when it traces (tf.function): the
    # front-end then records and replays the step's host effects (duallearn/_trace.py)
    python_runs_once = True

    def compile_step(self, fn: Any, jit_compile: bool) -> Any:
        """``fn`` (a custom ``train_step`` / ``test_step`` / ``predict_step`` call) compiled
        by the engine, as Keras compiles an overridden step: ``tf.function`` (XLA with
        ``jit_compile``) on TensorFlow, ``torch.compile`` on torch. None: the engine runs
        steps eagerly only (the numpy reference)."""
        return None

    @abstractmethod
    def build(self, graph: GraphSpec, device: str | None = None) -> Runtime:
        """Build the native model for ``graph``. Each native layer binds its front-end
        variables (``GraphSpec.weights``) to native storage created on ``device`` ("cpu",
        "cuda:N"; None: the framework's default), or reuses the storage a variable already
        has (the layer is in another model too): see ``duallearn.variables``."""

    @abstractmethod
    def versions(self) -> dict[str, str]:
        """Framework name → version, for ``duallearn info`` and file metadata."""

    def devices(self) -> list[str]:
        """Devices this backend can run on."""
        return ["cpu"]
