# mypy: disable-error-code="misc"
"""The training loop: ``fit``, ``evaluate`` and ``predict`` over any data source.

The front-end owns the data order (seeded shuffling), the learning-rate value of each step,
deterministic-mode masks and the callbacks; the backend runtime runs each step natively and
keeps losses and metrics on the device until a logging point reads them.

The data (arrays, ``dl.data.Dataset``, ``PyDataset``, torch ``DataLoader``, ``tf.data``,
generators) is handed once to a :class:`~duallearn.models._adapter.DataAdapter`, which checks
it, casts it, splits validation data off, orders it (``Philox(shuffle_seed, epoch,
iterations)``: a pure function of state saved in checkpoints, so a resumed run sees the same
batches) and yields ready batches; this module runs the epochs, callbacks and progress.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _seed, _trace, config
from ..callbacks import Callback, CallbackList, History
from ..distribution import _replicas
from ..errors import ConfigError, DataError, TrainingError
from ..plugin import StepNoise
from . import _adapter, _nonfinite
from ._execution import Executions
from ._progress import Progress, resolve_verbose
from ._steps import CompiledSteps, CustomSteps, steps_for

if TYPE_CHECKING:
    from ._model import Model

PREDICT_GROUP_BYTES = 64 << 20  # inputs per predict_many call (array data, no batch hooks)


class TrainingMixin:
    """fit / evaluate / predict for :class:`~duallearn.Model`."""

    history: History | None
    _noise_stream: int | None
    _noisy_graph: tuple[Any, bool]
    _shuffle_seed: int | None = None
    _resume_epoch: int | None = None
    _epochs_done: int = 0
    _batches_done: int = 0  # batches finished in the current, unfinished epoch
    _epoch_start_iterations: int = 0
    _resume_batch: int = 0
    _pending_optimizer_state: Any = None
    _dtype_policy_name: str | None = None
    _policy_applied_to: Any = None
    _device_request: str | None = None
    _device: str | None = None
    # data-parallel (duallearn.distribution): the process group the runtime joined, and the
    # ``(global rows, lo, hi)`` of the training step being run
    _dist_group: Any = None
    _dist_step: tuple[int, int, int] | None = None

    # ---- data (checked, cast and batched by models/_adapter.py) -------------------------
    def _build_from(self: Model, arrays: list[np.ndarray]) -> None:
        """Deferred build from data (Sequential without an Input)."""
        if self._graph is None and not self._graphless():
            self.build((None, *arrays[0].shape[1:]))

    def _custom_steps(self: Model) -> bool:
        """Whether fit or evaluate run the model's own Python steps."""
        return any(isinstance(steps_for(self, k), CustomSteps) for k in ("train", "test"))

    def _graphless(self: Model) -> bool:
        """A model with neither a graph nor ``call`` (a GAN holding sub-models, trained by
        its own ``train_step``): its data goes to the step as given."""
        return (
            self._graph is None
            and not hasattr(type(self), "call")
            and getattr(self, "_pending_build_shape", None) is None
            and getattr(self, "_stack", None) is None
        )

    def _cast_x(self: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return _adapter.cast_x(self, arrays)

    def _noisy_nodes(self: Model, batch: int) -> list[tuple[int, Any, tuple[int, ...]]]:
        """(node index, layer, noise shape) of every node that draws noise in training."""
        out = []
        for i, node in enumerate(self._runtime_graph().nodes):
            shape = node.inputs[0].shape if node.inputs else None
            if shape is None:
                continue
            full = (batch, *(int(d) for d in shape[1:] if d is not None))
            ns = node.layer.noise_shape_for(full)
            if ns is not None:
                out.append((i, node.layer, ns))
        return out

    def _draw_noise(self: Model, batch: int, fresh: bool = False) -> StepNoise | None:
        """The step's randomness: front-end masks ``philox(stream, step, node)`` in
        deterministic mode; in fast mode the native generator's seed ``step_seed(stream,
        step)`` (None when no layer is noisy). Either way a function of (stream, step).
        ``fresh``: a training-mode call outside ``fit``, keyed by a new seed of the global
        stream instead (new noise on every call, the same on both backends)."""
        fast = not config.is_deterministic()
        if fast:
            graph = self._runtime_graph()
            if getattr(self, "_noisy_graph", (None,))[0] is not graph:
                self._noisy_graph = (graph, bool(self._noisy_nodes(1)))
            if not self._noisy_graph[1]:
                return None
        trace = _trace.active()
        if trace is not None:  # a traced step: the seed is its input, drawn per call
            if not fast:
                raise ConfigError(
                    "dl.config.enable_deterministic() draws dropout masks on the host, which a "
                    "compiled custom step cannot take per call. Fix: compile(jit_compile=False) "
                    "for this model, or leave deterministic mode."
                )
            return StepNoise(seed=trace.seed(self, own=not fresh))
        if fresh:
            stream, step = _seed.draw_seed(), 0
        else:
            step = self.optimizer.iterations if self.optimizer is not None else 0
            if self._noise_stream is None:
                self._noise_stream = _seed.draw_seed()
            stream = self._noise_stream
        shard = None if fresh else self._dist_step
        if shard is not None and shard[2] - shard[1] != batch:
            shard = None  # not fit's step (a call of another size)
        if fast:
            seed = _seed.step_seed(stream, step)
            if shard is not None and shard[1] > 0:  # other native masks on each process
                seed = _seed.step_seed(seed, shard[1])
            return StepNoise(seed=seed)
        # data-parallel: the one-process masks of the global batch, this process's rows
        full, lo, hi = (batch, 0, batch) if shard is None else shard
        masks = {}
        for i, layer, ns in self._noisy_nodes(full):
            rng = _seed.philox(stream, step, i)
            mask = layer.draw_noise(rng, ns).astype(layer.dtype)
            if shard is not None and mask.ndim and mask.shape[0] == full:
                mask = np.ascontiguousarray(mask[lo:hi])
            masks[i] = mask
        return StepNoise(masks)

    # ---- training state (saved with checkpoints for exact resume) ------------------------
    def _training_state(self: Model) -> dict[str, Any]:
        """What a resumed ``fit`` needs besides weights and optimizer state."""
        return {
            "shuffle_seed": self._shuffle_seed,
            "noise_stream": self._noise_stream,
            "epoch": self._epochs_done,
            "batch": self._batches_done,
            "epoch_start_iterations": self._epoch_start_iterations,
        }

    def _restore_training_state(self: Model, state: dict[str, Any]) -> None:
        """Inverse of :meth:`_training_state`; rejects values that are not integers >= 0."""
        for key, attr in (
            ("shuffle_seed", "_shuffle_seed"),
            ("noise_stream", "_noise_stream"),
            ("epoch", "_epochs_done"),
            ("batch", "_batches_done"),
            ("epoch_start_iterations", "_epoch_start_iterations"),
        ):
            value = state.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"training state {key!r} must be an integer >= 0: {value!r}.")
            setattr(self, attr, value)

    def _ready_runtime(self: Model) -> Any:
        """The runtime, with the dtype policy, mode flags and restored optimizer state applied
        (once per runtime)."""
        runtime = self._get_runtime()
        if getattr(self, "_policy_applied_to", None) is not runtime:
            self._policy_applied_to = runtime
            policy = self.dtype_policy
            if policy.is_mixed:
                runtime.set_precision(policy.compute_dtype, policy.loss_scaling)
            config.apply_backend_flags(self.backend_name)
            assert self._device is not None  # resolved when the runtime was built
            self._device = _replicas.replica_device(self, self._device)
            runtime.to_device(self._device)
        self._apply_pending_optimizer_state()
        self._dist_group = _replicas.attach(self, runtime)
        return runtime

    @property
    def device(self: Model) -> str:
        """Where the model runs: ``"cpu"`` or ``"cuda:N"``, resolved when its runtime is built
        from ``model.set_device(...)``, ``dl.config.set_device``, ``DUALLEARN_DEVICE``, else the
        first GPU when one is present (``dl.config.resolve_device``)."""
        return self._device or self._device_request or "auto"

    def set_device(self: Model, device: str | None) -> None:
        """Request a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``) for this model;
        takes effect when its runtime is built (before the first fit/evaluate/predict)."""
        if device is not None:
            config._parse_device(device)
        self._device_request = device

    @property
    def dtype_policy(self: Model) -> Any:
        """The model's dtype policy: the global one when its runtime was first built (a mixed
        policy applies only to models whose variables are in its variable dtype)."""
        from ..mixed_precision import Policy, global_policy

        name = getattr(self, "_dtype_policy_name", None)
        if name is None:
            policy = global_policy()
            if self._graph is not None and policy.variable_dtype != self._dtype():
                policy = Policy(self._dtype())
            self._dtype_policy_name = name = policy.name
        return Policy(name)

    def _apply_pending_optimizer_state(self: Model) -> None:
        """Load optimizer slots restored from a checkpoint once the runtime exists."""
        state, self._pending_optimizer_state = self._pending_optimizer_state, None
        if state is not None and self.optimizer is not None:
            self._get_runtime().load_optimizer_state(state)
            self.optimizer.iterations = int(np.asarray(state.get("iterations", 0)))

    # ---- fit -----------------------------------------------------------------------------
    def fit(
        self: Model,
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
        """Train for ``epochs`` epochs; returns a :class:`History` (Keras's arguments).

        ``x`` may be arrays, a ``dl.data.Dataset``, a torch ``DataLoader``, a ``tf.data``
        dataset, a generator or a ``Sequence``; non-array sources yield ``(x, y)`` or
        ``(x, y, sample_weight)`` batches and take ``batch_size`` from themselves.
        """
        batch_size = _adapter.batch_size(batch_size)
        val_batch = batch_size
        if validation_batch_size is not None:
            val_batch = _adapter.positive("validation_batch_size", validation_batch_size)
        _adapter.positive("epochs", epochs, allow_zero=True)
        _adapter.positive("initial_epoch", initial_epoch, allow_zero=True)
        _adapter.positive("validation_freq", validation_freq)
        for name, value in (
            ("steps_per_epoch", steps_per_epoch),
            ("validation_steps", validation_steps),
        ):
            if value is not None:
                _adapter.positive(name, value)
        verbosity = resolve_verbose(verbose)
        _check_callbacks(callbacks)
        plan = _replicas.plan_for(self)
        if plan is not None and not _replicas.is_first(plan):
            verbosity = 0  # process 0 shows the progress
        feed = _adapter.DataAdapter.create(
            self, x, y, sample_weight, class_weight, batch_size=batch_size, shuffle=shuffle
        )
        val: _adapter.DataAdapter | None = None
        if validation_data is not None:
            val = _adapter.DataAdapter.for_validation(self, validation_data, val_batch)
        elif _adapter.check_fraction(validation_split):
            feed, val = feed.split(validation_split, val_batch)
        steps_impl = steps_for(self, "train")
        steps_impl.x_keys = feed.x_keys
        if plan is not None:
            custom = isinstance(steps_impl, CustomSteps) or (
                val is not None and isinstance(steps_for(self, "test"), CustomSteps)
            )
            _replicas.check_supported(self, plan, custom)
            self._check_built_for(feed, "fit")
            feed.shard = _replicas.shard_of(plan)
            feed.whole_small_batches = True
            if val is not None:
                val.shard = feed.shard
        if feed.arrays is not None and isinstance(steps_impl, CompiledSteps):
            self._ensure_train_spec(feed.arrays[1])
        self._warn_if_trainable_changed()
        if getattr(self, "_shuffle_seed", None) is None:
            self._shuffle_seed = _seed.draw_seed()
        history = History()
        self.history = history
        steps = steps_per_epoch if steps_per_epoch is not None else feed.steps
        cbs = CallbackList(
            [*(callbacks or []), history],
            self,
            {"epochs": epochs, "steps": steps, "verbose": verbosity},
        )
        progress = Progress("train", verbosity, steps, epochs)
        batch_logs = cbs.wants_batch_logs("on_train_batch_end")
        # a running read is a collective under a distribution: every process reads at the
        # same batches (those a callback wants), never on the progress bar's timer
        bar_logs = None if plan is not None else steps_impl.batch_logs
        if isinstance(steps_impl, CompiledSteps):
            total = steps * max(0, epochs - initial_epoch) if steps is not None else None
            steps_impl.auto_group = _auto_group(self, cbs, feed, plan, total)
        stops_on_nan = any(getattr(cb, "_stops_on_nan", False) for cb in cbs.callbacks)
        self.stop_training = False
        self._resume_epoch, self._resume_batch = None, 0
        cbs.on_train_begin({})
        started = False
        if plan is not None:  # join the processes; process 0's weights, state and position
            steps_impl.begin(feed.arrays[1] if feed.arrays is not None else None, feed.static_batch)
            started = True
            _replicas.start(self, steps_impl.runtime, self._dist_group, optimizer=True)
        skip, start_iterations = 0, None
        if self._resume_epoch is not None:  # set by BackupAndRestore
            if self._resume_epoch >= initial_epoch:
                initial_epoch = self._resume_epoch
                skip = self._resume_batch
                start_iterations = self._epoch_start_iterations if skip else None
            self._resume_epoch, self._resume_batch = None, 0
        logs: dict[str, float] = {}
        try:
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch, {})
                progress.start_epoch(epoch)
                if start_iterations is None:
                    start_iterations = self.optimizer_iterations()
                self._epoch_start_iterations, self._batches_done = start_iterations, 0
                key = (int(self._shuffle_seed or 0), epoch, start_iterations)
                start_iterations = None
                with closing(
                    feed.batches(
                        epoch,
                        "training",
                        key=key,
                        steps=steps,
                        user_steps=steps_per_epoch is not None,
                        skip=skip,
                    )
                ) as batches:
                    self._batches_done = skip  # resuming inside this epoch: these were trained
                    runs = self._executions()
                    for b, (bx, by, bw) in batches:
                        if not started:
                            steps_impl.begin(by, feed.static_batch)
                            started = True
                        if runs.begins(b):
                            cbs.on_train_batch_begin(runs.start, {})
                        if plan is not None:
                            _replicas.before_step(self, steps_impl.runtime, feed.last_shard)
                        steps_impl.train(bx, by, bw)
                        end = runs.ends(b)
                        if end is not None and runs.k > 1:
                            _flush(steps_impl)  # the execution's batches, one runtime call
                        self._batches_done = b + 1 - _waiting(steps_impl)
                        if batch_logs and end is not None:
                            blogs = steps_impl.batch_logs()
                            cbs.on_train_batch_end(end, blogs)
                            progress.step(b, lambda blogs=blogs: blogs)
                        else:
                            progress.step(b, bar_logs)
                        # a logging read found a non-finite step: raise, or stop (TerminateOnNaN)
                        _nonfinite.check(
                            self, steps_impl, epoch, b, feed, key, stops_on_nan, (b, (bx, by, bw))
                        )
                        if self.stop_training:
                            break
                    end = runs.close()  # a shorter last execution
                    waited = _waiting(steps_impl)
                    _flush(steps_impl)
                    self._batches_done += waited
                    if batch_logs and end is not None:
                        cbs.on_train_batch_end(end, steps_impl.batch_logs())
                skip = 0
                if not started:  # resumed after the epoch's last batch: nothing left
                    steps_impl.begin(None, feed.static_batch)
                    started = True
                logs = steps_impl.logs()
                _nonfinite.check(
                    self, steps_impl, epoch, self._batches_done - 1, feed, key, stops_on_nan
                )
                loss = logs.get("loss", 0.0)
                if np.ndim(loss) == 0 and not math.isfinite(loss) and not stops_on_nan:
                    raise TrainingError(
                        f"The training loss became {loss} in epoch {epoch + 1}; "
                        "training stopped. Fix: lower the learning rate, check the data for "
                        "NaN/inf, use from_logits=True losses on raw outputs, or add "
                        "dl.callbacks.TerminateOnNaN() to stop without an error."
                    )
                if val is not None and (epoch + 1) % validation_freq == 0:
                    # the callbacks' test hooks run during validation, as in Keras's fit
                    cbs.on_test_begin({})
                    vlogs = self._run_test(
                        val, validation_steps, cbs, "validation", epoch, finish=False
                    )
                    cbs.on_test_end(vlogs)
                    logs.update({f"val_{k}": v for k, v in vlogs.items()})
                self._epochs_done, self._batches_done = epoch + 1, 0
                progress.end_epoch(epoch, logs)
                cbs.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            self._dist_step = None
            progress.close()
            feed.finish()
            if val is not None:
                val.finish()
        if getattr(self.optimizer, "use_ema", False) and started:
            # Keras's finalize_variable_values: weights <- their EMA at the end of fit.
            native = getattr(self.optimizer, "_dl_native", None)
            if isinstance(steps_impl, CompiledSteps):
                self._get_runtime().finalize_optimizer()
            elif native is not None:
                native.finalize()
        cbs.on_train_end(logs)
        return history

    def _check_built_for(self: Model, feed: _adapter.DataAdapter, what: str) -> None:
        """Under a distribution the processes join before the first batch is read, so a
        model fed by a data source must be built already."""
        if feed.arrays is None and self._graph is None and not self._graphless():
            raise DataError(
                f"{what} under a distribution needs model {self.name!r} built before it reads "
                f"its data source ({feed.kind}). Received: a model without an input shape. "
                "Fix: start it with dl.Input(shape=...) or call model.build(input_shape)."
            )

    def _warn_if_trainable_changed(self: Model) -> None:
        """Keras's rule: ``trainable`` changes take effect at the next ``compile()``. Say so
        (once per compile) when ``fit`` finds the flags changed since then."""
        spec = self._train_spec
        if spec is None or spec.trainable is None or getattr(self, "_trainable_warned", None):
            return
        now = self.trainable_weights
        if [id(w) for w in now] != [id(w) for w in spec.trainable]:
            self._trainable_warned = True
            warnings.warn(
                f"Model {self.name!r}: trainable flags changed since compile() (it trains "
                f"{len(spec.trainable)} variables, the flags now say {len(now)}). As in "
                "Keras, the change takes effect at the next compile(); this fit trains the "
                "compiled set. Fix: call model.compile(...) after setting layer.trainable.",
                UserWarning,
                stacklevel=3,
            )

    def _training_call(self: Model, x: Any) -> Any:
        """``model(x, training=True)`` on arrays: one training-mode forward of the whole input
        (Keras's eager call: dropout active, BatchNormalization on batch statistics), with
        fresh noise (:meth:`_draw_noise`). Returns numpy, one array per output."""
        xs0 = _adapter.leaves(x, self._input_names_for(x), "inputs", _adapter.string_inputs(self))
        self._build_from(xs0)
        xs = self._cast_x(xs0)
        runtime = self._ready_runtime()
        outs = runtime.forward(xs, True, self._draw_noise(len(xs[0]), fresh=True))
        return outs if len(outs) > 1 else outs[0]

    def _executions(self: Model) -> Executions:
        """Where the batch hooks run: once per ``compile(steps_per_execution=k)`` steps."""
        return Executions(
            int((getattr(self, "_compile_args", None) or {}).get("steps_per_execution", 1))
        )

    def optimizer_iterations(self: Model) -> int:
        return 0 if self.optimizer is None else int(self.optimizer.iterations)

    def _input_names_for(self: Model, x: Any) -> list[str]:
        if self._graph is None:
            return ["input"]
        return self.input_names

    def _run_test(
        self: Model,
        feed: _adapter.DataAdapter,
        steps: int | None,
        cbs: CallbackList | None,
        what: str,
        epoch: int = 0,
        progress: Progress | None = None,
        finish: bool = True,
    ) -> dict[str, float]:
        steps_impl = steps_for(self, "test")
        steps_impl.x_keys = feed.x_keys
        if self._runtime is not None or isinstance(steps_impl, CustomSteps):
            steps_impl.begin(None, feed.static_batch)
        want = cbs is not None and cbs.wants_batch_logs("on_test_batch_end")
        if isinstance(steps_impl, CompiledSteps):
            watched = cbs is not None and (want or cbs.wants_batch_logs("on_test_batch_begin"))
            n = steps or feed.steps
            small = n is None or n < AUTO_GROUP_MIN_STEPS
            steps_impl.auto_group = 1 if watched or small or feed.shard is not None else (
                _group_size(feed))  # fmt: skip
        # under a distribution a running read is a collective: never on the bar's timer
        bar_logs = None if _replicas.plan_for(self) is not None else steps_impl.batch_logs
        try:
            with closing(
                feed.batches(epoch, what, steps=steps or feed.steps, user_steps=steps is not None)
            ) as batches:
                runs = self._executions()
                for b, (bx, by, bw) in batches:
                    steps_impl.begin(by, feed.static_batch)  # once (a no-op afterwards)
                    if runs.begins(b) and cbs is not None:
                        cbs.on_test_batch_begin(runs.start, {})
                    if feed.shard is not None:  # the global batch (for "sum" losses)
                        _replicas.before_step(None, steps_impl.runtime, feed.last_shard)
                    steps_impl.test(bx, by, bw)
                    end = runs.ends(b)
                    if end is not None and runs.k > 1:
                        _flush(steps_impl)
                    if want and cbs is not None and end is not None:
                        cbs.on_test_batch_end(end, steps_impl.batch_logs())
                    if progress is not None:
                        progress.step(b, bar_logs)
                end = runs.close()
                _flush(steps_impl)
                if want and cbs is not None and end is not None:
                    cbs.on_test_batch_end(end, steps_impl.batch_logs())
        finally:
            if finish:  # a one-shot validation generator stays open until fit ends
                feed.finish()
        return steps_impl.logs()

    # ---- evaluate / predict --------------------------------------------------------------
    def evaluate(
        self: Model,
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
        batch_size = _adapter.batch_size(batch_size)
        if steps is not None:
            _adapter.positive("steps", steps)
        verbosity = resolve_verbose(verbose)
        _check_callbacks(callbacks)
        plan = _replicas.plan_for(self)
        if plan is not None and not _replicas.is_first(plan):
            verbosity = 0
        feed = _adapter.DataAdapter.create(
            self, x, y, sample_weight, batch_size=batch_size, shuffle=False
        )
        if feed.arrays is not None and isinstance(steps_for(self, "test"), CompiledSteps):
            self._ensure_train_spec(feed.arrays[1])
        if plan is not None:
            _replicas.check_supported(self, plan, isinstance(steps_for(self, "test"), CustomSteps))
            self._check_built_for(feed, "evaluate")
            self._ensure_train_spec(feed.arrays[1] if feed.arrays is not None else None)
            self._ready_runtime().broadcast_state(False)  # process 0's weights
            feed.shard = _replicas.shard_of(plan)
        cbs = CallbackList(callbacks or [], self, {"steps": steps or feed.steps, "verbose": 0})
        progress = Progress("evaluate", verbosity, steps or feed.steps, None)
        cbs.on_test_begin({})
        progress.start_epoch(0)
        logs: dict[str, float] | None = None
        try:
            logs = self._run_test(feed, steps, cbs, "evaluation", progress=progress)
        finally:
            progress.end_epoch(0, logs)
            progress.close()
        if verbosity and not progress.bar_used:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(
        self: Model,
        x: Any,
        batch_size: int | None = None,
        verbose: Any = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> Any:
        """Outputs for ``x`` in inference mode (numpy; a list for several outputs)."""
        batch_size = _adapter.batch_size(batch_size)
        if steps is not None:
            _adapter.positive("steps", steps)
        verbosity = resolve_verbose(verbose)
        _check_callbacks(callbacks)
        plan = _replicas.plan_for(self)
        if plan is not None and not _replicas.is_first(plan):
            verbosity = 0
        feed = _adapter.DataAdapter.create(self, x, batch_size=batch_size, with_y=False)
        group = shard = None
        if plan is not None:
            _replicas.check_supported(
                self, plan, isinstance(steps_for(self, "predict"), CustomSteps)
            )
            self._check_built_for(feed, "predict")
            self._ready_runtime().broadcast_state(False)  # process 0's weights
            group, shard = self._dist_group, _replicas.shard_of(plan)
        cbs = CallbackList(callbacks or [], self, {"steps": steps or feed.steps, "verbose": 0})
        want = cbs.wants_batch_logs("on_predict_batch_end")
        progress = Progress("predict", verbosity, steps or feed.steps, None)
        cbs.on_predict_begin({})
        progress.start_epoch(0)
        chunks: list[list[np.ndarray]] = []
        runtime: Any = None
        custom = steps_for(self, "predict")
        custom.x_keys = feed.x_keys
        # in-memory arrays and no per-batch hooks: many batches per runtime call
        grouped = (
            isinstance(custom, CompiledSteps)
            and feed.arrays is not None
            and not feed.host_per_batch
            and steps is None
            and not want
            and not cbs.wants_batch_logs("on_predict_batch_begin")
        )
        try:
            if grouped and shard is not None:  # a run of whole batches per process
                assert feed.arrays is not None
                xs = feed.arrays[0]
                lo, hi = shard.blocks(len(xs[0]), batch_size)
                own = self._predict_grouped([a[lo:hi] for a in xs], batch_size, progress)
                mine = (
                    [np.concatenate([c[i] for c in own]) for i in range(len(own[0]))]
                    if own
                    else None  # no rows here
                )
                chunks = [_replicas.gather_rows(group, mine)]
            elif grouped:
                assert feed.arrays is not None
                chunks = self._predict_grouped(feed.arrays[0], batch_size, progress)
            elif shard is not None:
                feed.shard = shard
            batches = closing(
                _adapter.no_batches()
                if grouped
                else feed.batches(
                    0, "prediction", steps=steps or feed.steps, user_steps=steps is not None
                )
            )
            runs = self._executions()
            run_outs: list[list[np.ndarray]] = []  # the outputs of the open execution
            with batches as each:
                for b, (bx, _, _) in each:
                    if shard is not None and not len(bx[0]):
                        chunks.append(None)  # type: ignore[arg-type]  # no rows here
                        continue
                    if runtime is None:
                        custom.begin(None, feed.static_batch)
                        runtime = custom.runtime
                    if runs.begins(b):
                        cbs.on_predict_batch_begin(runs.start, {})
                    if isinstance(custom, CustomSteps):
                        out = custom.predict(bx)
                    else:
                        out = runtime.predict(bx)
                    chunks.append(out)
                    run_outs.append(out)
                    end = runs.ends(b)
                    if end is not None:
                        if want:  # Keras: the outputs of the execution, in the model's structure
                            cbs.on_predict_batch_end(end, self._outputs_log(run_outs))
                        run_outs = []
                    progress.step(b, None)
            end = runs.close()
            if want and end is not None:
                cbs.on_predict_batch_end(end, self._outputs_log(run_outs))
        finally:
            feed.finish()
            progress.end_epoch(0, None)
            progress.close()
        if group is not None and not grouped:
            chunks = _replicas.gather_batches(group, chunks)
        cbs.on_predict_end({})
        if not chunks:
            raise ConfigError("predict() received no data. Fix: pass at least one sample.")
        return self._structured(_joined(chunks))

    def _outputs_log(self: Model, chunks: list[list[np.ndarray]]) -> dict[str, Any]:
        return {"outputs": self._structured(_joined(chunks))}

    def _structured(self: Model, outs: list[np.ndarray]) -> Any:
        """Outputs in the model's structure: an array for one output, a dict or a list."""
        if isinstance(getattr(self, "_output_struct", None), dict):
            return dict(zip(self.output_names, outs, strict=True))
        return outs if len(outs) > 1 else outs[0]

    def _predict_grouped(
        self: Model, xs: list[np.ndarray], batch_size: int, progress: Progress
    ) -> list[list[np.ndarray]]:
        """Outputs of every ``batch_size`` batch, computed a group of batches (at most
        ``PREDICT_GROUP_BYTES`` of inputs) per :meth:`Runtime.predict_many` call: the same
        per-batch forward as one call per batch, without the per-batch round trip."""
        n = len(xs[0])
        row_bytes = max(1, sum(a[:1].nbytes for a in xs))
        group = max(1, PREDICT_GROUP_BYTES // (row_bytes * batch_size)) * batch_size
        chunks = []
        runtime = None
        for start in range(0, n, group):
            runtime = runtime or self._ready_runtime()
            part = [a[start : start + group] for a in xs]
            chunks.append(runtime.predict_many(part, batch_size))
            done = math.ceil(min(n, start + group) / batch_size)
            progress.step(done - 1, None, n=done - start // batch_size)
        return chunks

    def predict_on_batch(self: Model, x: Any) -> Any:
        """Outputs for one batch ``x`` (all of it at once), as Keras."""
        first = next(iter(x.values())) if isinstance(x, dict) else x
        if isinstance(first, (list, tuple)) and first and not np.isscalar(first[0]):
            first = first[0]
        return self.predict(
            x, batch_size=max(1, len(_adapter.leaf(first, "inputs", True))), verbose=0
        )


AUTO_GROUP_BYTES = 8 << 20  # inputs of the batches one native call trains, at most
AUTO_GROUP_STEPS = 16
# grouping saves ~0.8-1 ms per step (a tf.function call) and tracing the loop costs ~0.05-0.1 s
# more than tracing the single step, once: a fresh model's first fit or evaluate is as fast
# either way at ~64 steps (docs/benchmarks.md, "Grouped training steps"); a call with fewer
# steps keeps one call per batch
AUTO_GROUP_MIN_STEPS = 64


def _auto_group(model: Model, cbs: CallbackList, feed: Any, plan: Any, total: int | None) -> int:
    """How many batches one runtime call may train when ``steps_per_execution`` is 1: up to
    16 (and 8 MiB of inputs) when nothing watches single batches (no callback overrides a
    train batch hook, one process, in-memory arrays) and the call trains at least 64 steps;
    else 1. CompiledSteps groups only for a runtime whose ``train_many`` is native."""
    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    watched = any(cbs.wants_batch_logs(h) for h in hooks)
    if watched or plan is not None or total is None or total < AUTO_GROUP_MIN_STEPS:
        return 1
    return _group_size(feed)


def _group_size(feed: Any) -> int:
    """Batches per native call for in-memory arrays (1 for other sources)."""
    if feed.arrays is None:
        return 1
    row = sum(a[:1].nbytes for a in feed.arrays[0])
    return max(1, min(AUTO_GROUP_STEPS, AUTO_GROUP_BYTES // max(1, row * feed.batch_size)))


def _flush(steps: Any) -> None:
    """Train the batches ``compile(steps_per_execution=k)`` kept waiting (CompiledSteps)."""
    if hasattr(steps, "flush"):
        steps.flush()


def _waiting(steps: Any) -> int:
    return steps.waiting() if hasattr(steps, "waiting") else 0


def _joined(chunks: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Batches' outputs (one list per batch) joined along the batch, one array per output."""
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


def _check_callbacks(callbacks: Any) -> None:
    if callbacks is None:
        return
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise ConfigError(
            f"callbacks must be a list of dl.callbacks.Callback. Received: "
            f"{type(callbacks).__name__}. Fix: wrap it in a list: callbacks=[...]."
        )
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ConfigError(
                f"callbacks must hold dl.callbacks.Callback instances. Received an element "
                f"of type {type(cb).__name__}. Fix: pass instances, e.g. "
                "callbacks=[dl.callbacks.EarlyStopping()] (not the class)."
            )
