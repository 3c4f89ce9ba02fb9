# mypy: disable-error-code="misc"
"""The training loop: ``fit``, ``evaluate`` and ``predict`` over numpy data.

The front-end owns the data order (seeded shuffling), the learning-rate value of each step,
deterministic-mode masks and the callbacks; the backend runtime runs each step natively and
keeps losses and metrics on the device until a logging point reads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _seed, config
from ..callbacks import Callback, CallbackList, History
from ..errors import ConfigError, ShapeError, TrainingError
from ..plugin import StepNoise
from . import _data
from ._progress import EpochPrinter

if TYPE_CHECKING:
    from ._model import Model

DEFAULT_BATCH_SIZE = 32


class TrainingMixin:
    """fit / evaluate / predict for :class:`~duallearn.Model`."""

    history: History | None
    _noise_stream: int | None

    # ---- data ----------------------------------------------------------------------------
    def _build_from(self: Model, arrays: list[np.ndarray]) -> None:
        """Deferred build from data (Sequential without an Input)."""
        if self._graph is None:
            self.build((None, *arrays[0].shape[1:]))

    def _cast_x(self: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
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

    def _prepare_y(self: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
        dtype = self._dtype()
        return [
            np.ascontiguousarray(a, dtype=dtype) if a.dtype.kind == "f" else np.ascontiguousarray(a)
            for a in arrays
        ]

    def _sample_weights(
        self: Model, sample_weight: Any, class_weight: Any, ys: list[np.ndarray]
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

    def _draw_noise(self: Model, batch: int) -> StepNoise | None:
        if not config.is_deterministic():
            return None
        graph = self.graph
        masks = {}
        step = self.optimizer.iterations if self.optimizer is not None else 0
        if self._noise_stream is None:
            self._noise_stream = _seed.draw_seed()
        assert self._noise_stream is not None
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
                    cbs.on_train_batch_end(b, self._logs(runtime.results(reset=False)))
                if self.stop_training:
                    break
            logs = self._logs(runtime.results())
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

    def _input_names_for(self: Model, x: Any) -> list[str]:
        if self._graph is None:
            return ["input"]
        return self.input_names

    def _unpack_validation(self: Model, data: Any) -> tuple[list[Any], list[Any], list[Any]]:
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
        self: Model,
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
        return self._logs(runtime.results())

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
        self: Model,
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

    def predict_on_batch(self: Model, x: Any) -> Any:
        return self.predict(
            x,
            batch_size=len(np.asarray(x if not isinstance(x, (list, dict)) else list(x)[0])),
            verbose=0,
        )


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
