"""Keras's customizable training steps: ``train_step`` / ``test_step`` / ``predict_step``,
``compute_loss``, ``compute_metrics`` and the ``metrics`` property.

``fit`` / ``evaluate`` / ``predict`` call these methods when a subclass overrides them (or
when ``compile(run_eagerly=True)``): each batch is handed to the step as native tensors of the
model's backend (``x``, ``(x, y)`` or ``(x, y, sample_weight)``, as Keras), and the step runs
eagerly, in Python, with ``dl.ops`` dispatching to that backend. Callbacks, the progress bar,
History, ``steps_per_epoch`` and validation are unchanged. Without an override, the runtime's
compiled step runs instead (same numbers; docs/custom_training.md).

A step is written either once for both engines::

    def train_step(self, data):
        x, y = data
        with dl.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply(grads, self.trainable_weights)
        ...

or in the native style of keras.io's backend guides (``loss.backward()`` and
``v.value.grad`` on torch; ``tf.GradientTape`` and ``apply_gradients`` on TensorFlow).

Inside a step, ``model(x, training=...)`` runs the model's native forward (differentiable),
drawing its training noise as ``fit`` does: keyed by the optimizer's iteration count for the
model being fit, by a fresh seed for any other model called in the step (a GAN's generator).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _seed, _trace, config
from .._tape import GradientTape
from ..distribution import _replicas
from ..errors import BackendError, ConfigError, TrainingError
from ..ops import native_call
from ..optimizers._optimizer import guarded
from ..plugin import Runtime, get_backend
from ..utils._packing import unpack_x_y_sample_weight

if TYPE_CHECKING:
    from ._model import Model

_ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("duallearn_step", default=None)
STEP_METHODS = {"train": "train_step", "test": "test_step", "predict": "predict_step"}


@contextlib.contextmanager
def step_context(model: Model) -> Iterator[None]:
    """Run a step of ``model``: ``dl.ops`` on its backend, model calls native."""
    ops = get_backend(model.backend_name).ops
    token = _ACTIVE.set(model)
    try:
        with native_call(ops):
            yield
    finally:
        _ACTIVE.reset(token)


def active_model() -> Any:
    """The model whose step is running (None outside ``train_step``/``test_step``/...)."""
    return _ACTIVE.get()


def overrides(model: Model, kind: str) -> bool:
    """Whether ``model``'s class overrides the ``kind`` step ("train", "test", "predict")."""
    from ._model import Model

    name = STEP_METHODS[kind]
    return getattr(type(model), name) is not getattr(Model, name)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _first_tensor(x: Any) -> Any:
    for t in _as_list(x):
        if t is not None:
            return t
    return x


class _CompileMetrics:
    """The metrics given to ``compile`` as one metric (Keras's ``CompileMetrics``, named
    "compile_metrics"): ``update_state(y, y_pred, sample_weight)`` updates each output's
    metrics (sample weights for ``weighted_metrics`` only, the output's Keras mask always,
    as the compiled step does); ``result()`` is a dict named as ``fit``'s logs."""

    name = "compile_metrics"

    def __init__(self, model: Model) -> None:
        self.model = model

    def _specs(self) -> list[list[Any]]:
        spec = self.model._train_spec
        return [] if spec is None else spec.metrics

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        model = self.model
        ys, ps = _as_list(y_true), _as_list(y_pred)
        sws = _per_output(sample_weight, len(ps))
        runtime = model._runtime
        for o, ms in enumerate(self._specs()):
            for m in ms:
                sw = sws[o] if getattr(m, "weighted", False) else None
                if runtime is not None:  # Runtime.metric_weight: identity without a mask
                    sw = runtime.metric_weight(sw, o, ps[o])  # the output's Keras mask
                m.update_state(ys[o], ps[o], sw)

    def result(self) -> dict[str, Any]:
        model = self.model
        out: dict[str, Any] = {}
        for key, m in model._metric_keys():
            out[key] = m.result()
        return out

    def reset_state(self) -> None:
        for ms in self._specs():
            for m in ms:
                m.reset_state()


def _per_output(sample_weight: Any, n: int) -> list[Any]:
    if isinstance(sample_weight, (list, tuple)):
        return list(sample_weight)
    if isinstance(sample_weight, dict):
        return list(sample_weight.values())
    return [sample_weight] * max(n, 1)


class StepsMixin:
    """The step methods of :class:`~duallearn.Model` (see the module docstring)."""

    _compile_args: dict[str, Any] | None
    _loss_tracker: Any = None
    _compile_metrics: Any = None
    compiled: bool = False

    # ---- the steps ---------------------------------------------------------------------------
    def train_step(self: Any, data: Any) -> dict[str, Any]:
        """One training step on ``data`` (Keras's default, written once for both backends):
        forward in training mode, :meth:`compute_loss`, gradients by ``dl.GradientTape``,
        ``optimizer.apply``, then :meth:`compute_metrics`. Returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss_compat(x, y, y_pred, sample_weight, True)
        self._loss_tracker.update_state(loss, sample_weight=_batch_of(self, x))
        weights = self.trainable_weights
        if weights:
            self.optimizer.apply(tape.gradient(loss, weights), weights)
        else:
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]

    def test_step(self: Any, data: Any) -> dict[str, Any]:
        """One evaluation step (Keras's default): forward in inference mode, loss and
        metrics updated; returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self._compute_loss_compat(x, y, y_pred, sample_weight, False)
        self._loss_tracker.update_state(loss, sample_weight=_batch_of(self, x))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)  # type: ignore[no-any-return]

    def predict_step(self: Any, data: Any) -> Any:
        """One prediction step (Keras's default): ``self(x, training=False)``."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # ---- loss and metrics ----------------------------------------------------------------------
    def compute_loss(
        self: Any,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        """Keras's ``compute_loss``: the compiled loss (``Σ loss_weight·loss`` over the
        outputs, masks and sample weights applied; regularization and ``add_loss`` terms
        included) of ``y_pred`` against ``y``, as a native scalar tensor."""
        del x, training  # the default does not use them (Keras)
        runtime = self._step_runtime("compute_loss")
        loss = runtime.native_loss(
            _as_list(y), _as_list(y_pred), _per_output(sample_weight, len(_as_list(y_pred)))
        )
        if loss is None:
            raise ConfigError(
                f"No loss to compute for model {self.name!r}. Expected: compile(loss=...) or "
                "losses added by its layers (add_loss, regularizers). Received: compile() "
                "without a loss, and no added loss. Fix: e.g. compile(loss='mse'), or compute "
                "the loss yourself in a train_step override."
            )
        return loss

    def _compute_loss_compat(
        self: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool
    ) -> Any:
        """``compute_loss`` with ``training`` only when an override accepts it (Keras)."""
        params = inspect.signature(self.compute_loss).parameters
        if "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        return self.compute_loss(x, y, y_pred, sample_weight)

    def compute_metrics(
        self: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> dict[str, Any]:
        """Update the compiled metrics with this batch; return :meth:`get_metrics_result`."""
        del x
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()  # type: ignore[no-any-return]

    # ---- Keras 2 spellings (deprecated in Keras 3, which keeps them as shims) --------------
    @property
    def compiled_metrics(self: Any) -> Any:
        """Keras 3's deprecated shim: ``compiled_metrics.update_state(y, y_pred,
        sample_weight)`` updates every metric of :attr:`metrics` (a ``Mean`` among them,
        such as the loss tracker, with ``y_pred`` alone: Keras's rule), with Keras's
        warning. Prefer :meth:`compute_metrics`."""
        model = self

        class DeprecatedCompiledMetric:
            def update_state(self, y: Any, y_pred: Any, sample_weight: Any = None) -> None:
                model._compiled_metrics_update_state(y, y_pred, sample_weight)

        return DeprecatedCompiledMetric()

    def _compiled_metrics_update_state(
        self: Any, y: Any, y_pred: Any, sample_weight: Any = None
    ) -> None:
        from ..metrics import Mean

        warnings.warn(
            "`model.compiled_metrics()` is deprecated. Instead, use e.g.: for metric in "
            "self.metrics: metric.update_state(y, y_pred)",
            UserWarning,
            stacklevel=3,
        )
        for metric in self.metrics:
            if isinstance(metric, Mean):
                metric.update_state(y_pred, sample_weight=sample_weight)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

    def compiled_loss(
        self: Any, y: Any, y_pred: Any, sample_weight: Any = None, regularization_losses: Any = None
    ) -> Any:
        """Keras 3's deprecated shim: ``compute_loss(x=None, y, y_pred, sample_weight)``,
        with Keras's warning."""
        del regularization_losses  # (Keras ignores it too)
        warnings.warn(
            "`model.compiled_loss()` is deprecated. Instead, use "
            "`model.compute_loss(x, y, y_pred, sample_weight, training)`.",
            UserWarning,
            stacklevel=2,
        )
        return self.compute_loss(x=None, y=y, y_pred=y_pred, sample_weight=sample_weight)

    @property
    def metrics(self: Any) -> list[Any]:
        """The metrics ``fit`` resets each epoch (Keras's order): the loss tracker and the
        compiled metrics once compiled, then metrics held as attributes of the model.
        Subclasses may override it (keras.io's custom ``train_step`` pattern)."""
        from ..metrics import Metric

        out: list[Any] = []
        if self.compiled:
            out.append(self._loss_tracker)
            if self._compile_metrics is not None:
                out.append(self._compile_metrics)
        for value in vars(self).values():
            if isinstance(value, Metric) and all(value is not m for m in out):
                out.append(value)
        return out

    @property
    def metrics_names(self: Any) -> list[str]:
        """``[m.name for m in self.metrics]`` (Keras 3: "loss", "compile_metrics", ...)."""
        return [m.name for m in self.metrics]

    def reset_metrics(self: Any) -> None:
        for m in self.metrics:
            m.reset_state()
        self.__dict__.pop("_on_batch", None)  # train_on_batch's running logs start afresh

    def get_metrics_result(self: Any) -> dict[str, Any]:
        """Each metric's result by name; a metric whose result is a dict (the compiled
        metrics) contributes its entries (Keras)."""
        out: dict[str, Any] = {}
        for m in self.metrics:
            r = m.result()
            if isinstance(r, dict):
                out.update(r)
            else:
                out[m.name] = r
        return out

    # ---- torch-style helpers -------------------------------------------------------------------
    def zero_grad(self: Any) -> None:
        """``torch.nn.Module.zero_grad`` for the torch-style step: clear the ``.grad`` of every
        trainable variable's native tensor (torch only)."""
        if self.backend_name != "torch":
            raise BackendError(
                f"zero_grad() clears torch gradients; model {self.name!r} runs on "
                f"{self.backend_name}. Fix: use dl.GradientTape (both backends) or "
                "tf.GradientTape on TensorFlow."
            )
        for v in self.trainable_weights:
            if v.binding is not None:
                v.binding.native.grad = None

    @property
    def trainable_variables(self: Any) -> list[Any]:
        return list(self.trainable_weights)

    @property
    def non_trainable_variables(self: Any) -> list[Any]:
        return list(self.non_trainable_weights)

    @property
    def variables(self: Any) -> list[Any]:
        return list(self.weights)

    # ---- calls inside a step -------------------------------------------------------------------
    def _step_runtime(self: Any, what: str) -> Any:
        if self._graph is None and getattr(self, "_pending_build_shape", None) is None:
            raise ConfigError(
                f"{what} needs the model's graph; model {self.name!r} has none (no call() "
                "and no inputs). Fix: compute it yourself in the step, e.g. with the "
                "sub-models' outputs and a dl.losses object."
            )
        return self._ready_runtime()

    def _native_call(self: Any, inputs: Any, training: bool) -> Any:
        """``model(x, training=...)`` inside a step: the native, differentiable forward of
        this model's runtime, outputs in the model's output structure."""
        runtime = self._step_runtime("Calling the model")
        if isinstance(inputs, dict):
            xs = [inputs[n] for n in self.input_names]
        else:
            xs = _as_list(inputs) if len(self.input_names) > 1 else [inputs]
        xs = [runtime.to_native([x])[0] if isinstance(x, np.ndarray) else x for x in xs]
        noise = None
        if training:
            batch = _batch_of(self, xs[0])
            noise = self._draw_noise(batch, fresh=active_model() is not self)
        outs = runtime.call(xs, bool(training), noise)
        if isinstance(getattr(self, "_output_struct", None), dict):
            return dict(zip(self.output_names, outs, strict=True))
        return outs[0] if len(outs) == 1 else list(outs)


def _batch_of(model: Any, x: Any) -> int:
    return int(get_backend(model.backend_name).ops.shape(_first_tensor(x))[0])


# what a guarded step found not finite (models/_nonfinite.py words the error)
LOSS = "the loss was NaN or infinite"
GRADIENT = (
    "a gradient was NaN or infinite while the loss was finite (the forward hid a NaN, e.g. "
    "ReLU mapped it to 0, or the backward made one, e.g. sqrt at 0)"
)
APPLIED = "a gradient given to optimizer.apply was NaN or infinite"


class CompiledSteps:
    """The default path: the runtime's compiled steps and device-side accumulators."""

    x_keys: list[Any] | None = None
    # set by a logging read when the runtime's guard recorded a non-finite step: (train calls
    # made since that step, what was not finite); fit stops on it (models/_nonfinite.py)
    nonfinite: tuple[int, str] | None = None

    def __init__(self, model: Model, kind: str) -> None:
        self.model, self.kind = model, kind
        self.runtime: Any = None
        self.pending: list[tuple[Any, Any, Any]] = []

    def begin(self, targets: Any, static_batch: int | None) -> None:
        m = self.model
        if self.runtime is None:
            if targets is not None or self.kind != "predict":
                m._ensure_train_spec(targets)
            self.runtime = m._ready_runtime()
            if self.kind != "predict":
                self.runtime.results(reset=True)
            if self.kind == "train":
                self.runtime.clear_nonfinite()
            self.runtime.set_batch_size(self.kind, static_batch)

    # compile(steps_per_execution=k): the batches of an execution wait here until fit (or
    # evaluate) closes it (flush), then run as one Runtime.train_many / test_many call. With
    # k = 1, fit and evaluate set ``auto_group`` when no callback watches batches: up to that
    # many batches wait, for a runtime whose *_many is native (one call instead of one per
    # batch; the same numbers).
    auto_group = 1

    def train(self, bx: Any, by: Any, bw: Any) -> None:
        m = self.model
        assert m.optimizer is not None
        if self._waits((bx, by, bw)):
            return
        self.flush()
        lr = m.optimizer.current_learning_rate()
        self.runtime.train_batch(bx, by, bw, lr, m._draw_noise(len(bx[0])))
        m.optimizer.iterations += 1

    def _waits(self, batch: tuple[Any, Any, Any]) -> bool:
        """Add ``batch`` to the open execution if it can join one (k > 1 or auto grouping,
        one process, no host-drawn masks); a different shape (or sample weights present) first
        runs the batches waiting, a full auto group runs at once. False: run it alone now."""
        m, k, auto = self.model, self._k(), self._auto()
        if max(k, auto) == 1 or _replicas.plan_for(m) is not None:
            return False
        if self.kind == "train" and config.is_deterministic():  # (host-drawn masks per step)
            return False
        if self.pending and _shapes(self.pending[0]) != _shapes(batch):
            self.flush()
        self.pending.append(batch)
        if k == 1 and len(self.pending) >= auto:
            self.flush()
        return True

    def _auto(self) -> int:
        """``auto_group`` where the runtime runs several batches in one native call."""
        name = "train_many" if self.kind == "train" else "test_many"
        native = getattr(type(self.runtime), name) is not getattr(Runtime, name)
        return self.auto_group if native else 1

    def _k(self) -> int:
        return int((self.model._compile_args or {}).get("steps_per_execution", 1))

    def flush(self) -> None:
        """Run the waiting batches (one runtime call); a no-op when none wait."""
        batches, self.pending = self.pending, []
        if not batches:
            return
        if self.kind == "test":  # (one batch too: every batch of a grouping call alike)
            self.runtime.test_many(batches)
            return
        opt = self.model.optimizer
        assert opt is not None
        lrs, seeds = [], []
        for b in batches:  # each step's rate and seed (functions of the iterations)
            lrs.append(opt.current_learning_rate())
            noise = self.model._draw_noise(len(b[0][0]))  # fast mode: None or a seed
            seeds.append(None if noise is None else noise.seed)
            opt.iterations += 1
        try:  # (one batch too: all alike in this call); seeds only for a noisy model
            if seeds[0] is None:
                self.runtime.train_many(batches, lrs)
            else:
                self.runtime.train_many(batches, lrs, seeds)
        except BaseException:
            opt.iterations -= len(batches)
            raise

    def waiting(self) -> int:
        """How many batches of the open execution are not trained yet."""
        return len(self.pending)

    def test(self, bx: Any, by: Any, bw: Any) -> None:
        if self._waits((bx, by, bw)):
            return
        self.flush()
        self.runtime.test_batch(bx, by, bw)

    def logs(self, reset: bool = True) -> dict[str, float]:
        self.flush()
        logs = self.model._logs(self.runtime.results(reset=reset))
        if self.kind == "train" and self.nonfinite is None:
            self._read_nonfinite()
        return logs  # type: ignore[no-any-return]

    def batch_logs(self) -> dict[str, float]:
        return self.logs(reset=False)

    def _read_nonfinite(self) -> None:
        """At a logging read: the runtime's guard flag (one host read), mapped to calls."""
        found = self.runtime.nonfinite_step()
        if found is None:
            return
        self.runtime.clear_nonfinite()
        iteration, loss_finite = found
        opt = self.model.optimizer
        assert opt is not None
        calls_ago = max(0, opt.iterations - 1 - iteration)
        opt.iterations = iteration  # the skipped calls did not count
        self.nonfinite = (calls_ago, GRADIENT if loss_finite else LOSS)


class CustomSteps:
    """``fit``/``evaluate``/``predict`` through the model's (overridden) step methods."""

    x_keys: list[Any] | None = None  # x was a dict with these keys: the step gets one

    nonfinite: tuple[int, str] | None = None  # as CompiledSteps.nonfinite

    def __init__(self, model: Model, kind: str) -> None:
        self.model, self.kind = model, kind
        self.runtime: Any = None
        self.last: Any = None
        self._ops = get_backend(model.backend_name).ops
        self._started = False
        # fit's guard: the model's optimizers, and their iterations before each train call
        # since the last logging read (to map a flagged iteration to its call)
        self._optimizers: list[Any] = []
        self._starts: list[list[int]] = []

    def begin(self, targets: Any, static_batch: int | None) -> None:
        if self._started:
            return
        self._started = True
        m = self.model
        if self.kind == "train":
            self._optimizers = _optimizers_of(m)
            for o in self._optimizers:
                native: Any = getattr(o, "_dl_native", None)
                if hasattr(native, "clear_nonfinite"):
                    native.clear_nonfinite()
        if m._graph is not None or getattr(m, "_pending_build_shape", None) is not None:
            args = m._compile_args or {}
            if self.kind != "predict" and (
                args.get("loss") is not None or args.get("metrics") or args.get("weighted_metrics")
            ):
                m._ensure_train_spec(targets)
            self.runtime = m._ready_runtime()
        if self.kind != "predict":
            m.reset_metrics()

    def _native(self, arrays: list[Any]) -> list[Any]:
        if self.runtime is not None:
            return list(self.runtime.to_native(arrays))
        return [self._ops.convert_to_tensor(a) for a in arrays]

    def _data(self, bx: list[Any], by: list[Any], bw: list[Any]) -> Any:
        m = self.model
        xs = self._native(bx)
        x = m._pack_inputs(xs, self.x_keys)
        if not by:
            return x
        y = m._pack_targets(self._native(by))
        present = [w for w in bw if w is not None]
        if not present:
            return (x, y)
        ws = [None if w is None else self._native([w])[0] for w in bw]
        return (x, y, ws[0] if len(ws) == 1 else tuple(ws))

    def train(self, bx: Any, by: Any, bw: Any) -> None:
        m = self.model
        if m.optimizer is None:
            raise ConfigError(
                f"Model {m.name!r} must be compiled before training. Fix: call "
                "model.compile(optimizer=...) (a custom compile must call super().compile())."
            )
        self._starts.append([o.iterations for o in self._optimizers])
        with step_context(m), guarded():  # optimizer.apply checks its gradients (fit's guard)
            self.last = self._step(self._data(bx, by, bw))

    def test(self, bx: Any, by: Any, bw: Any) -> None:
        with step_context(self.model):
            self.last = self._step(self._data(bx, by, bw))

    def predict(self, bx: Any) -> list[np.ndarray]:
        with step_context(self.model):
            out = self._step(self._data(bx, [], []))
        return [self._numpy(o) for o in _as_list(out)]

    def _step(self, data: Any) -> Any:
        """The model's step method of this kind on one batch (eagerly)."""
        return getattr(self.model, STEP_METHODS[self.kind])(data)

    def _numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value
        if hasattr(value, "binding") and hasattr(value, "numpy"):  # a dl.Variable
            return np.asarray(value.numpy())
        return np.asarray(self._ops.convert_to_numpy(value))

    def _python(self, logs: Any) -> dict[str, Any]:
        """Step logs as Python floats (arrays stay arrays); nested dicts are flattened."""
        if not isinstance(logs, dict):
            raise TrainingError(
                f"{STEP_METHODS[self.kind]} must return a dict of logs (name -> value). "
                f"Received: {type(logs).__name__}. Fix: return e.g. "
                "{m.name: m.result() for m in self.metrics}."
            )
        out: dict[str, Any] = {}
        for k, v in logs.items():
            if isinstance(v, dict):
                out.update(self._python(v))
                continue
            a = v if isinstance(v, (int, float)) else self._numpy(v)
            out[k] = float(a) if np.ndim(a) == 0 else a
        return out

    def batch_logs(self) -> dict[str, Any]:
        if self.kind == "train" and self.nonfinite is None:
            self._read_nonfinite()
        return self._python(self.last if self.last is not None else {})

    def _read_nonfinite(self) -> None:
        """At a logging read: each optimizer's guard flag (one host read each); the earliest
        flagged call wins. Each optimizer guards its own variables only."""
        found = []
        for k, o in enumerate(self._optimizers):
            native: Any = getattr(o, "_dl_native", None)
            got = native.nonfinite_step() if hasattr(native, "nonfinite_step") else None
            if got is None:
                continue
            native.clear_nonfinite()
            iteration = got[0]
            call = max((i for i, st in enumerate(self._starts) if st[k] <= iteration), default=0)
            found.append(len(self._starts) - 1 - call)
            o.iterations = iteration  # the skipped calls did not count
        self._starts = []
        if found:
            self.nonfinite = (max(found), APPLIED)

    def logs(self, reset: bool = True) -> dict[str, Any]:
        """Keras's ``_get_metrics_result_or_logs``: the metrics' results when the step's
        logs have the same keys, else the last step's logs."""
        m = self.model
        with step_context(m):
            metric_logs = self._python(m.get_metrics_result())
            last = self.batch_logs()
            if reset and self.kind != "predict":
                m.reset_metrics()
        return metric_logs if set(last) == set(metric_logs) else last


class TracedSteps(CustomSteps):
    """An overridden step compiled by the engine (``compile(jit_compile=True)``, as Keras):
    ``tf.function(jit_compile=True)`` on TensorFlow, ``torch.compile`` on torch.

    On TensorFlow the step's Python runs once per trace, so the host effects of the eager step
    are recorded while tracing (``duallearn/_trace.py``) and replayed on every call: learning
    rates and training-mode seeds go in as inputs, metric deltas come out as outputs and are
    added on the host, ``iterations`` grows by the recorded ``apply`` calls. torch.compile
    keeps the step's Python effects itself. Either way the numbers are the eager step's."""

    def __init__(self, model: Model, kind: str) -> None:
        super().__init__(model, kind)
        self._backend = get_backend(model.backend_name)
        # one compiled function per model, step kind and compile() call: evaluate and each
        # epoch's validation reuse the traces of the first
        cache = model.__dict__.setdefault("_traced_steps", {})
        entry = cache.get(kind)
        if entry is None or entry[0] is not model._compile_args:
            entry = cache[kind] = (model._compile_args, [None], [], _optimizers_of(model))
        _, self._fn_box, self._records, self._all_optimizers = entry

    def _compiled(self) -> Any:
        if self._fn_box[0] is not None:
            return self._fn_box[0]
        method = getattr(self.model, STEP_METHODS[self.kind])
        if not self._backend.python_runs_once:
            fn = self._backend.compile_step(method, True)
        else:
            fn = self._backend.compile_step(self._traced_body(method), True)
        if fn is None:
            raise ConfigError(
                f"compile(jit_compile=True) asks the {self.model.backend_name} backend to "
                f"compile model {self.model.name!r}'s {STEP_METHODS[self.kind]}, which it cannot."
                " Fix: compile(jit_compile=False) to run the step eagerly."
            )
        self._fn_box[0] = fn
        return fn

    def _traced_body(self, method: Any) -> Any:
        opts, ops, records = self._all_optimizers, self._ops, self._records

        def body(data: Any, lrs: Any, seeds: Any) -> Any:
            trace = _trace.StepTrace(
                lrs={id(o): lr for o, lr in zip(opts, lrs, strict=True)},
                optimizers=opts,
                seeds=seeds,
            )
            token = _trace.activate(trace)
            try:
                logs = method(data)
            finally:
                _trace.deactivate(token)
            trace.structure, leaves = _split_logs(logs)
            records.append(trace)
            deltas = [d for _, _, d in trace.deltas]
            return ops.convert_to_tensor(len(records) - 1, "int32"), leaves, deltas

        return body

    def _seeds(self) -> Any:
        """The seeds the eager step would draw, in the order of the last trace's draws."""
        values = [0] * _trace.MAX_SEEDS
        for k, draw in enumerate(self._records[-1].draws if self._records else []):
            m = draw.model
            if draw.own:
                if m._noise_stream is None:
                    m._noise_stream = _seed.draw_seed()
                step = (m.optimizer.iterations if m.optimizer is not None else 0) + draw.applied
                values[k] = _seed.step_seed(m._noise_stream, step)
            else:
                values[k] = _seed.step_seed(_seed.draw_seed(), 0)
        return self._ops.convert_to_tensor(np.array(values, np.int64))

    def _step(self, data: Any) -> Any:
        """The step compiled: called, then its recorded host effects replayed."""
        fn = self._compiled()
        if not self._backend.python_runs_once:
            return fn(data)
        lrs = [
            self._ops.convert_to_tensor(np.float64(o.current_learning_rate()))
            for o in self._all_optimizers
        ]
        if not self._records:
            # trace first: the seeds of a call follow the draws its trace records
            fn.get_concrete_function(data, lrs, self._seeds())
            if self._records[-1].host_draws:
                draws = self._records[-1].host_draws
                self._records.clear()  # start afresh if the step is run again
                self._fn_box[0] = None
                raise ConfigError(
                    f"model {self.model.name!r}: its {STEP_METHODS[self.kind]} draws with "
                    f"dl.random ({draws} draws), which run on the host "
                    "at each step and which XLA (compile(jit_compile=True) on TensorFlow) "
                    "cannot compile. Fix: compile(jit_compile=False) to run the step eagerly, "
                    "or pass the random values in as data."
                )
        draws_used = self._records[-1].draws if self._records else []
        index, leaves, deltas = fn(data, lrs, self._seeds())
        record = self._records[int(index)]
        if [(d.model, d.own, d.applied) for d in record.draws] != [
            (d.model, d.own, d.applied) for d in draws_used
        ]:
            raise TrainingError(
                f"model {self.model.name!r}: a retrace of the compiled "
                f"{STEP_METHODS[self.kind]} made different training-mode calls than the "
                "trace its seeds were drawn for. Fix: compile(jit_compile=False) for this step."
            )
        for (metric, nm, _), delta in zip(record.deltas, deltas, strict=True):
            metric._add_native(nm, delta)
        for o in self._all_optimizers:
            o.iterations += record.applied.get(id(o), 0)
        return _join_logs(record.structure, list(leaves))

    def _python(self, logs: Any) -> dict[str, Any]:
        return super()._python(_resolve(logs))


_LEAF = "__duallearn_leaf__"


def _split_logs(logs: Any) -> tuple[Any, list[Any]]:
    """``logs`` with each native tensor replaced by its index in ``leaves`` (returned by the
    traced step); ``Deferred`` metric results and Python numbers stay as they are."""
    leaves: list[Any] = []

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(walk(x) for x in v)
        if v is None or isinstance(v, (_trace.Deferred, int, float, str)):
            return v
        if hasattr(v, "binding") and hasattr(v, "numpy"):  # a dl.Variable: read its value
            v = v.value
        leaves.append(v)
        return {_LEAF: len(leaves) - 1}

    return walk(logs), leaves


def _join_logs(structure: Any, leaves: list[Any]) -> Any:
    if isinstance(structure, dict):
        if set(structure) == {_LEAF}:
            return leaves[structure[_LEAF]]
        return {k: _join_logs(x, leaves) for k, x in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_join_logs(x, leaves) for x in structure)
    return structure


def _resolve(logs: Any) -> Any:
    """Deferred metric results read now, on the host."""
    if isinstance(logs, dict):
        return {k: _resolve(v) for k, v in logs.items()}
    if isinstance(logs, _trace.Deferred):
        return logs.metric.result()
    return logs


def _optimizers_of(model: Model) -> list[Any]:
    """The model's optimizer and any other one it holds (a GAN's two), each once."""
    from ..optimizers import Optimizer

    found: list[Any] = []
    for o in [model.optimizer, *vars(model).values()]:
        if isinstance(o, Optimizer) and all(o is not f for f in found):
            found.append(o)
    return found


def steps_for(model: Model, kind: str) -> CompiledSteps | CustomSteps:
    """The Python steps when the model overrides the step, was compiled with
    ``run_eagerly=True`` or without a loss (``add_loss`` alone), or has a compiled metric
    the compiled step cannot run (a user ``Metric`` subclass with its own
    ``update_state``); else the compiled runtime."""
    model.__dict__.pop("_on_batch", None)  # fit / evaluate reset the metrics (Keras)
    if overrides(model, kind):
        if (model._compile_args or {}).get("jit_compile") is True:
            return TracedSteps(model, kind)
        return CustomSteps(model, kind)
    args = model._compile_args
    if kind != "predict" and args is not None:
        # compiled without a loss: Keras's default step minimises the added losses alone
        if args.get("run_eagerly") or args.get("loss") is None or _eager_metrics(args):
            return CustomSteps(model, kind)
    return CompiledSteps(model, kind)


def _eager_metrics(args: dict[str, Any]) -> bool:
    from ..metrics import Metric, needs_eager_update

    def flat(v: Any) -> list[Any]:
        if isinstance(v, dict):
            return [m for x in v.values() for m in flat(x)]
        if isinstance(v, (list, tuple)):
            return [m for x in v for m in flat(x)]
        return [] if v is None else [v]

    found = flat(args.get("metrics")) + flat(args.get("weighted_metrics"))
    return any(isinstance(m, Metric) and needs_eager_update(m) for m in found)


def _shapes(batch: tuple[Any, Any, Any]) -> list[Any]:
    """The shapes of a batch's arrays (None for an absent sample weight)."""
    return [[None if a is None else a.shape for a in part] for part in batch]
