"""The data adapter: what ``fit`` / ``evaluate`` / ``predict`` hand their data to, once.

Keras's ``EpochIterator`` idea: a :class:`DataAdapter` takes ``x``, ``y``, ``sample_weight``,
``class_weight`` (and, through :meth:`DataAdapter.split` / :meth:`DataAdapter.for_validation`,
the validation arguments) and owns everything between the user's objects and a ready batch:

1. **checking**, before anything reaches a framework (:func:`leaf`, :func:`batch_size`,
   :func:`check_class_weight`): strings, ragged lists, complex numbers, wrong structures,
   mismatched lengths and bad hyper-parameters are :class:`~duallearn.errors.DataError` /
   :class:`~duallearn.errors.ConfigError` naming what was expected, what was received and
   the fix. A rejected call leaves the model as it was: no seed drawn, no trace built;
2. **casting** inputs to the model's dtypes (float inputs to its float dtype, token ids stay
   integers, Embedding ids range-checked on the host) and targets/weights to its dtype;
3. **validation split** (Keras's rule: the *last* fraction, before shuffling);
4. **the seeded order** of every epoch (``Philox(shuffle_seed, epoch, iterations)`` for arrays
   and for a :class:`~duallearn.utils.PyDataset`'s batch order), a pure function of state saved
   in checkpoints;
5. **batching** and the **resume position** (:meth:`DataAdapter.batches` starts at batch
   ``skip`` of an epoch without re-reading array data), and under a distribution the
   **shard**: each process keeps its rows ``[lo, hi)`` of every global batch
   (``duallearn.distribution``), so the global batch is exactly the one-process batch;
6. producing batches of other sources (``dl.data``, torch ``DataLoader``, ``tf.data``,
   generators, ``PyDataset``) ahead in a background thread (``dl.data._dataset.prefetched``),
   turning a failure in the user's data code into an error naming the batch.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _seed, config
from ..data._dataset import prefetched
from ..errors import ConfigError, DataError, DuallearnError, ShapeError, TrainingError
from ..layers._embedding import check_model_ids
from . import _data

if TYPE_CHECKING:
    from ..distribution._replicas import Shard
    from ._model import Model

DEFAULT_BATCH_SIZE = 32
PREFETCH = 2

Batch = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray | None]]


# ---- checks at the boundary ------------------------------------------------------------------
def positive(name: str, value: Any, allow_zero: bool = False) -> int:
    """``value`` as an int ``>= 1`` (``>= 0`` with ``allow_zero``), else a ConfigError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < (0 if allow_zero else 1)
    ):
        kind = "non-negative" if allow_zero else "positive"
        raise ConfigError(
            f"{name} must be a {kind} integer. Received: {name}={value!r}. "
            f"Fix: pass e.g. {name}={0 if allow_zero else 1} or more."
        )
    return int(value)


def batch_size(value: Any, name: str = "batch_size") -> int:
    """Keras's rule: None means 32; anything else must be a positive integer (0 is refused,
    not read as "unset")."""
    return DEFAULT_BATCH_SIZE if value is None else positive(name, value)


def leaf(value: Any, what: str, allow_strings: bool = False) -> np.ndarray:
    """One array of the user's data as numpy, refusing what no engine can train on: ragged
    nested lists, strings (unless the model takes them), objects and complex numbers."""
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # numpy: "inhomogeneous shape"
        raise DataError(
            f"The data given as {what} is a ragged nested list (its rows have different "
            f"lengths): {exc} "
            "Expected: a rectangular array. Fix: pad the rows to one length "
            "(dl.utils.pad_sequences) or pass a numpy array."
        ) from None
    kind = arr.dtype.kind
    if kind in "USO" and not allow_strings:
        sample = arr.reshape(-1)[:1].tolist() if arr.size else []
        raise DataError(
            f"The data given as {what} holds {'strings' if kind in 'US' else 'Python objects'} "
            f"(dtype={arr.dtype}, first value {sample}). Expected: numbers (float or integer "
            "arrays). Fix: convert them to numbers first, e.g. class names to ids with "
            "np.unique(labels, return_inverse=True), or text with dl.layers.StringLookup / "
            "TextVectorization."
        )
    if kind == "c":
        raise DataError(
            f"The data given as {what} holds complex numbers (dtype={arr.dtype}). Expected: "
            "real numbers. Fix: pass the real and imaginary parts as separate features."
        )
    if kind == "V" or kind == "M" or kind == "m":
        raise DataError(
            f"The data given as {what} has dtype {arr.dtype}, which cannot be trained on. "
            "Expected: a float or integer array. Fix: convert it with "
            "np.asarray(..., dtype='float32')."
        )
    return arr


def leaves(
    data: Any, names: list[str], what: str, allow_strings: bool | list[bool] = False
) -> list[Any]:
    """Arrays for each named model input/output from an array, list/tuple or dict;
    ``allow_strings``: for all of them, or per name (the model's string inputs)."""
    if data is None:
        raise DataError(f"No {what} given. Expected: numpy arrays. Fix: pass {what}.")
    if isinstance(data, dict):
        missing = [n for n in names if n not in data]
        if missing:
            raise DataError(
                f"The {what} dict lacks keys {missing}. Expected keys: {list(names)}. "
                f"Received keys: {sorted(map(str, data))}. Fix: name the arrays after the "
                "model's inputs/outputs."
            )
        arrays = [data[n] for n in names]
    elif isinstance(data, (list, tuple)) and len(names) > 1:
        arrays = list(data)
    else:
        arrays = [data]
    if len(arrays) != len(names):
        raise DataError(
            f"The model has {len(names)} {what} ({', '.join(names)}). Received "
            f"{len(arrays)} arrays. Fix: pass one array per model {what.rstrip('s')}."
        )
    allow = allow_strings if isinstance(allow_strings, list) else [allow_strings] * len(arrays)
    return [leaf(a, what, ok) for a, ok in zip(arrays, allow, strict=True)]


def check_class_weight(class_weight: Any) -> None:
    if class_weight is None:
        return
    if not isinstance(class_weight, dict) or not class_weight:
        raise ConfigError(
            "class_weight must be a non-empty dict {class index: weight}. Received: "
            f"{type(class_weight).__name__} {class_weight!r}. Fix: e.g. class_weight={{0: 1.0, "
            "1: 5.0}}."
        )
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ConfigError(
                f"class_weight keys must be integer class indices. Received key {k!r}. "
                "Fix: map class names to their indices first."
            )
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ConfigError(
                f"class_weight[{k}] must be a number. Received: {v!r}. Fix: e.g. 1.0."
            )
        if not math.isfinite(float(v)) or v < 0:
            raise ConfigError(f"class_weight[{k}] must be a finite number >= 0. Received: {v!r}.")


def check_fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(
            f"validation_split must be a number in [0, 1). Received: {value!r}. "
            "Fix: e.g. validation_split=0.2."
        )
    if not 0 <= value < 1:
        raise ConfigError(
            f"validation_split must be in [0, 1). Received: validation_split={value}. "
            "Fix: e.g. validation_split=0.2."
        )
    return float(value)


# ---- preparing a model's arrays --------------------------------------------------------------
def build_from(model: Model, arrays: list[np.ndarray]) -> None:
    model._build_from(arrays)


def string_inputs(model: Model) -> bool | list[bool]:
    """Which model inputs take strings (``dl.Input(..., dtype="string")``, feeding host-side
    preprocessing layers): the only data where strings are allowed."""
    if model._graph is None:
        return False
    return [t.dtype == "string" for t in model.inputs]


def host_per_batch(model: Model) -> bool:
    """Whether the model's host prefix must run batch by batch (an output whose shape
    depends on the batch, e.g. TextVectorization padding to the batch's longest text);
    otherwise it runs once over in-memory arrays (its rows are independent)."""
    prefix = None if model._graphless() else model._host_prefix()
    return prefix is not None and not prefix.static


def check_x(model: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Inputs checked against the model's input shapes. A string input gets Keras 3's rank
    adjustment: ``(n,)`` data for ``Input(shape=(1,))`` gains the last axis, ``(n, 1)``
    data for ``Input(shape=())`` loses it."""
    arrays = list(arrays)
    for i, (a, t) in enumerate(zip(arrays, model.inputs, strict=True)):
        if t.dtype == "string":
            if a.ndim == len(t.shape) - 1 and t.shape[-1] == 1:
                arrays[i] = a = a[..., None]
            elif a.ndim == len(t.shape) + 1 and a.ndim > 1 and a.shape[-1] == 1:
                arrays[i] = a = a[..., 0]
        expected = t.shape[1:]
        received = a.shape[1:]
        if len(expected) != len(received) or any(
            e is not None and e != r for e, r in zip(expected, received, strict=True)
        ):
            consumer = next((n.layer for n in model.graph.nodes if t in n.inputs), None)
            who = f"layer {consumer.name!r} ({type(consumer).__name__})" if consumer else "it"
            raise ShapeError(
                f"Model {model.name!r} input {model.input_names[i]!r} feeds {who}, which "
                f"expects input shape {(None, *expected)}. Received: {(None, *received)}. "
                "Fix: reshape the data or build the model for this shape."
            )
    return arrays


def cast_x(model: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Inputs checked against the model's input shapes, passed through its host prefix
    (``models/_host.py``: host-side preprocessing layers, in numpy) if it has one, and cast
    to the dtypes of the inputs of its native part."""
    if model._graphless():
        return _data.cast_inputs(arrays, [config.floatx()] * len(arrays))
    arrays = check_x(model, arrays)
    prefix = model._host_prefix()
    if prefix is not None:
        xs = _data.cast_inputs(prefix.run(arrays), prefix.dtypes(model._dtype()))
        check_model_ids(prefix.core, xs, prefix.names)  # Embedding ids, on the host
        return xs
    xs = _data.cast_inputs(arrays, [t.dtype for t in model.inputs])
    check_model_ids(model.graph, xs, model.input_names)  # Embedding ids, on the host
    return xs


def prepare_y(model: Model, arrays: list[np.ndarray]) -> list[np.ndarray]:
    dtype = config.floatx() if model._graphless() else model._dtype()
    return [
        np.ascontiguousarray(a, dtype=dtype) if a.dtype.kind == "f" else np.ascontiguousarray(a)
        for a in arrays
    ]


def output_names(model: Model, y: Any) -> list[str]:
    if not model._graphless():
        return list(model.output_names)
    if isinstance(y, dict):
        return list(y)
    return [f"output_{i}" for i in range(len(y))] if isinstance(y, (list, tuple)) else ["output"]


def sample_weights(
    model: Model, sample_weight: Any, class_weight: Any, ys: list[np.ndarray]
) -> list[np.ndarray | None]:
    """Per-output sample weights (Keras's forms: one array, a list, a dict), with
    ``class_weight`` folded in."""
    n_out = len(ys) if model._graphless() else len(model.output_names)
    if sample_weight is None:
        sws: list[np.ndarray | None] = [None] * n_out
    elif isinstance(sample_weight, dict):
        sws = [
            None if sample_weight.get(k) is None else leaf(sample_weight[k], "sample_weight")
            for k in output_names(model, ys)
        ]
    elif isinstance(sample_weight, (list, tuple)) and n_out > 1:
        sws = [None if s is None else leaf(s, "sample_weight") for s in sample_weight]
    else:
        sws = [leaf(sample_weight, "sample_weight")] * n_out
    for s in sws:
        if s is not None and s.dtype.kind not in "biuf":
            raise DataError(f"sample_weight must be numbers. Received dtype={s.dtype}.")
    if class_weight is not None:
        if n_out > 1:
            raise ConfigError(
                "class_weight is only supported for single-output models. Received a model "
                f"with {n_out} outputs. Fix: pass per-output sample_weight instead."
            )
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
    return [None if s is None else np.ascontiguousarray(s, dtype=model._dtype()) for s in sws]


def prepare_batch(model: Model, raw: Any, class_weight: Any, with_y: bool = True) -> Batch:
    """One batch from a data source → inputs, targets and sample weights of the model."""
    x, y, sw = _data.unpack_batch(raw)
    xs0 = leaves(x, model._input_names_for(x), "inputs", string_inputs(model))
    build_from(model, xs0)
    xs = cast_x(model, xs0)
    if not with_y or (y is None and sw is None and model._custom_steps()):
        return xs, [], []
    if y is None:
        raise DataError(
            "The data source yields inputs without targets. Expected: (x, y) or (x, y, "
            "sample_weight) tuples for fit/evaluate. Fix: yield targets too."
        )
    ys = prepare_y(model, leaves(y, output_names(model, y), "targets"))
    sws = sample_weights(model, sw, class_weight, ys)
    _data.check_lengths([xs, ys, sws], ["x", "y", "sample_weight"])
    return xs, ys, sws


# ---- the adapter -----------------------------------------------------------------------------
class DataAdapter:
    """Epochs of prepared batches ``(xs, ys, sws)`` (lists matching the model's inputs and
    outputs, cast to the model dtype) from any data source.

    Build one with :meth:`create` (training / evaluation / prediction data) or
    :meth:`for_validation`; iterate an epoch with :meth:`batches`.
    """

    x_keys: list[Any] | None = None  # the user gave x as a dict (custom steps get one)
    # data-parallel: this process's part of every global batch (None: the whole batch), and
    # ``(global rows, lo, hi)`` of the batch last yielded
    shard: Shard | None = None
    last_shard: tuple[int, int, int] | None = None
    # training: a batch with fewer rows than processes goes whole to each process (a step
    # must run on every process: no process may be left without rows)
    whole_small_batches: bool = False
    # array inputs kept as given (checked) and passed through the model's host prefix batch
    # by batch (models/_host.py)
    host_per_batch: bool = False

    def __init__(
        self,
        model: Model,
        kind: str,
        *,
        arrays: tuple[list[Any], list[Any], list[Any]] | None = None,
        source: _data.Source | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        shuffle: bool = False,
        class_weight: Any = None,
        with_y: bool = True,
    ) -> None:
        self.model, self.kind, self.arrays, self.source = model, kind, arrays, source
        self.batch_size, self.shuffle = batch_size, shuffle
        self.class_weight, self.with_y = class_weight, with_y
        self._persistent: Iterator[Any] | None = None
        if arrays is not None:
            self.n = _data.check_lengths(list(arrays), ["x", "y", "sample_weight"])
            self.steps: int | None = math.ceil(self.n / batch_size)
        else:
            assert source is not None
            self.n = -1
            self.steps = source.steps

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        model: Model,
        x: Any,
        y: Any = None,
        sample_weight: Any = None,
        class_weight: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        shuffle: bool = False,
        with_y: bool = True,
    ) -> DataAdapter:
        """Check and adapt the user's data once; nothing of the model changes on error (a
        Sequential without an Input is built from ``x``'s shape only once ``x`` passed its
        checks)."""
        if not isinstance(shuffle, (bool, np.bool_)):
            raise ConfigError(
                f"shuffle must be True or False. Received: shuffle={shuffle!r}. "
                "Fix: pass shuffle=True to reshuffle the samples every epoch."
            )
        check_class_weight(class_weight)
        kind = _data.source_kind(x)
        if kind == "arrays":
            adapter = cls._from_arrays(
                model, x, y, sample_weight, class_weight, batch_size, bool(shuffle), with_y
            )
        else:
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ConfigError(
                        f"{name} must be None when x is a {kind} source (it yields x, y and "
                        f"sample_weight itself). Received {name} of type "
                        f"{type(value).__name__}. Fix: put {name} in the source's batches."
                    )
            source = _data.Source(x, kind, shuffle=bool(shuffle))
            adapter = cls(model, kind, source=source, class_weight=class_weight, with_y=with_y)
        adapter.x_keys = list(x) if isinstance(x, dict) else None
        return adapter

    @classmethod
    def _from_arrays(
        cls,
        model: Model,
        x: Any,
        y: Any,
        sample_weight: Any,
        class_weight: Any,
        batch_size: int,
        shuffle: bool,
        with_y: bool,
    ) -> DataAdapter:
        xs0 = leaves(x, model._input_names_for(x), "inputs", string_inputs(model))
        takes_x_alone = y is None and sample_weight is None and model._custom_steps()
        wants_y = with_y and not takes_x_alone
        if wants_y and model._graph is None and not model._graphless():
            # not built yet (its outputs are unknown): check y's arrays before building
            if isinstance(y, (dict, tuple)):
                for a in y.values() if isinstance(y, dict) else y:
                    leaf(a, "targets")
            elif y is not None and isinstance(y, list):
                try:
                    leaf(y, "targets")
                except DataError:  # a list of per-output arrays
                    for a in y:
                        leaf(a, "targets")
            else:
                _data.check_lengths([xs0, [leaf(y, "targets")]], ["x", "y"])
        ys0: list[np.ndarray] | None = None  # y's arrays, once its outputs are known
        if wants_y and (model._graph is not None or model._graphless()):
            ys0 = leaves(y, output_names(model, y), "targets")
            _data.check_lengths([xs0, ys0], ["x", "y"])
        build_from(model, xs0)
        per_batch = host_per_batch(model)
        xs = check_x(model, xs0) if per_batch else cast_x(model, xs0)
        if not wants_y:  # Keras: a custom train_step may take x alone
            adapter = cls(
                model, "arrays", arrays=(xs, [], []), batch_size=batch_size, shuffle=shuffle
            )
        else:
            if ys0 is None:  # the model was built from x just now
                ys0 = leaves(y, output_names(model, y), "targets")
            ys = prepare_y(model, ys0)
            sws = sample_weights(model, sample_weight, class_weight, ys)
            adapter = cls(
                model, "arrays", arrays=(xs, ys, sws), batch_size=batch_size, shuffle=shuffle
            )
        adapter.host_per_batch = per_batch
        return adapter

    @classmethod
    def for_validation(cls, model: Model, data: Any, batch_size: int) -> DataAdapter:
        """``validation_data``: ``(x_val, y_val)``, ``(x_val, y_val, sample_weight)`` or a
        data source."""
        if _data.source_kind(data) != "arrays":
            return cls.create(model, data, batch_size=batch_size)
        if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
            raise ConfigError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight), or a data source. Received: {type(data).__name__}"
                f"{f' of length {len(data)}' if isinstance(data, (list, tuple)) else ''}. "
                "Fix: pass validation_data=(x_val, y_val)."
            )
        vx0 = leaves(
            data[0], model._input_names_for(data[0]), "validation inputs", string_inputs(model)
        )
        per_batch = host_per_batch(model)
        vx = check_x(model, vx0) if per_batch else cast_x(model, vx0)
        vy = prepare_y(model, leaves(data[1], output_names(model, data[1]), "validation targets"))
        vsw = sample_weights(model, data[2] if len(data) == 3 else None, None, vy)
        _data.check_lengths([vx, vy, vsw], ["x_val", "y_val", "val sample_weight"])
        adapter = cls(model, "arrays", arrays=(vx, vy, vsw), batch_size=batch_size)
        adapter.host_per_batch = per_batch
        adapter.x_keys = list(data[0]) if isinstance(data[0], dict) else None
        return adapter

    def split(self, fraction: Any, val_batch_size: int) -> tuple[DataAdapter, DataAdapter]:
        """Keras's ``validation_split``: the *last* ``fraction`` of samples, before shuffling."""
        fraction = check_fraction(fraction)
        if self.arrays is None:
            raise ConfigError(
                f"validation_split is only supported for array data; x is a {self.kind} "
                "source. Fix: pass validation_data=... instead."
            )
        (xs, ys, sws), val_groups, _ = _data.split_validation([*self.arrays], fraction, self.n)
        train = DataAdapter(
            self.model,
            "arrays",
            arrays=(xs, ys, sws),
            batch_size=self.batch_size,
            shuffle=self.shuffle,
        )
        val = DataAdapter(
            self.model,
            "arrays",
            arrays=tuple(val_groups),  # type: ignore[arg-type]
            batch_size=val_batch_size,
        )
        train.x_keys = val.x_keys = self.x_keys
        train.shard = val.shard = self.shard
        train.host_per_batch = val.host_per_batch = self.host_per_batch
        return train, val

    # -- iteration -----------------------------------------------------------------------------
    @property
    def static_batch(self) -> int | None:
        """The batch size of almost every batch (in-memory arrays: ``batch_size``; other
        sources: unknown): what ``Runtime.set_batch_size`` may specialise a step to."""
        return self.batch_size if self.arrays is not None else None

    def _array_batches(self, key: tuple[int, ...], skip: int = 0) -> Iterator[Batch]:
        assert self.arrays is not None
        xs, ys, sws = self.arrays
        n = self.n
        order = _seed.philox(*key).permutation(n) if self.shuffle else None
        shard = self.shard
        for start in range(skip * self.batch_size, n, self.batch_size):
            first, stop = start, min(start + self.batch_size, n)
            if shard is not None:  # this process's rows of the global batch [start, stop)
                lo, hi = self._bounds(stop - start)
                self.last_shard = (stop - start, lo, hi)
                first, stop = start + lo, start + hi
            if order is None:
                idx: Any = slice(first, stop)
            else:
                idx = order[first:stop]
            bx = [a[idx] for a in xs]
            yield (
                cast_x(self.model, bx) if self.host_per_batch else bx,
                [a[idx] for a in ys],
                [None if s is None else s[idx] for s in sws],
            )

    def _source_batches(self, epoch: int, key: tuple[int, ...]) -> Iterator[Batch]:
        assert self.source is not None
        for raw in self.source.epoch(epoch, key):
            yield prepare_batch(self.model, raw, self.class_weight, self.with_y)

    def epoch(self, epoch: int, key: tuple[int, ...] = (), skip: int = 0) -> Iterator[Batch]:
        """The prepared batches of ``epoch`` (from batch ``skip`` for array data); other
        sources are produced ahead in a background thread, and a one-shot generator is read
        through one iterator across epochs.

        In-memory arrays are sliced on the caller's thread: a batch is a view (or one gather
        when shuffled), cheaper than a thread hand-off, and on a 2-core machine a producer
        thread would compete with the engine's own compute threads (measured: predict of
        the benchmark MLP 0.82-0.85x native with the thread)."""
        if self.arrays is not None:
            return self._array_batches(key, skip)
        assert self.source is not None
        if not self.source.reiterable:
            if self._persistent is None:
                self._persistent = prefetched(self._source_batches(epoch, key), PREFETCH)
            return self._persistent
        return prefetched(self._source_batches(epoch, key), PREFETCH)

    def batches(
        self,
        epoch: int,
        what: str,
        *,
        key: tuple[int, ...] = (),
        steps: int | None = None,
        user_steps: bool = False,
        skip: int = 0,
    ) -> Generator[tuple[int, Batch], None, None]:
        """``(index, batch)`` of ``epoch`` up to ``steps`` batches, from batch ``skip`` (the
        resume position): array data starts there directly, other sources are read past the
        trained batches. Failures of the user's data code name the batch; the epoch's
        iterator is closed when this generator is."""
        it = self.epoch(epoch, key, skip if self.arrays is not None else 0)
        b = skip if self.arrays is not None else 0
        try:
            while steps is None or b < steps:
                try:
                    batch = next(it)
                except StopIteration:
                    self._ran_out(b, epoch, what, steps, user_steps)
                    return
                except DuallearnError:
                    raise
                except Exception as exc:
                    raise TrainingError(
                        f"The {what} data ({self.kind}) raised {type(exc).__name__} while "
                        f"producing batch {b} (0-based) of epoch {epoch + 1}: {exc}"
                    ) from exc
                if b >= skip:
                    if self.shard is not None and self.arrays is None:
                        batch = self._own_rows(batch)
                    yield b, batch
                b += 1
        finally:
            if it is not self._persistent and hasattr(it, "close"):
                it.close()

    def _bounds(self, n: int) -> tuple[int, int]:
        assert self.shard is not None
        if self.whole_small_batches and n < self.shard.size:
            return 0, n
        return self.shard.bounds(n)

    def _own_rows(self, batch: Batch) -> Batch:
        """This process's rows of a global batch from a data source."""
        assert self.shard is not None
        xs, ys, sws = batch
        n = len(xs[0]) if xs else 0
        lo, hi = self._bounds(n)
        self.last_shard = (n, lo, hi)
        return (
            [a[lo:hi] for a in xs],
            [a[lo:hi] for a in ys],
            [None if s is None else s[lo:hi] for s in sws],
        )

    def _ran_out(self, b: int, epoch: int, what: str, steps: int | None, user_steps: bool) -> None:
        if b == 0:
            raise DataError(
                f"The {what} data ({self.kind}) produced no batches in epoch {epoch + 1}: it "
                "is empty or exhausted (a generator can be read only once). Fix: pass a "
                "re-iterable source (a PyDataset, dl.data.Dataset, DataLoader), or an "
                "infinite generator with steps_per_epoch."
            )
        if user_steps and steps is not None:
            raise DataError(
                f"The {what} data ({self.kind}) ran out after {b} batches in epoch "
                f"{epoch + 1}, but steps={steps} were requested. Fix: lower steps_per_epoch / "
                "validation_steps / steps, or give more (or repeating) data."
            )

    def finish(self) -> None:
        """End of fit/evaluate/predict: stop a one-shot source's producer thread."""
        if self._persistent is not None and hasattr(self._persistent, "close"):
            self._persistent.close()  # type: ignore[attr-defined]
        self._persistent = None


def no_batches() -> Generator[tuple[int, Batch], None, None]:
    """An epoch without batches (predict computes array data in groups instead)."""
    yield from ()
