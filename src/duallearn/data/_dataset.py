"""``dl.data.Dataset``: arrays → shuffle (seeded) → map → batch → prefetch, in numpy.

The order of every epoch is a pure function of the shuffle seed and the epoch index
(``Philox(key=seed, counter=epoch)``), so the same seed gives the same batches on every
backend, and a resumed run sees the same order as an uninterrupted one.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import _seed
from ..errors import ConfigError


def _tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, v) for v in tree)
    return fn(tree)


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [x for v in tree.values() for x in _leaves(v)]
    if isinstance(tree, (list, tuple)):
        return [x for v in tree for x in _leaves(v)]
    return [tree]


def _stack(elements: list[Any]) -> Any:
    first = elements[0]
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_stack([e[i] for e in elements]) for i in range(len(first)))
    return np.stack([np.asarray(e) for e in elements])


class Dataset:
    """A re-iterable pipeline over in-memory arrays (``tf.data``'s names, numpy inside).

    Example:
        >>> ds = dl.data.Dataset.from_tensor_slices((x, y)).shuffle(seed=0).batch(32)
        >>> model.fit(ds, epochs=3)

    Elements are nested structures (tuples, lists, dicts) of numpy arrays. ``shuffle`` draws a
    full permutation per epoch (the ``buffer_size`` argument is accepted for ``tf.data``
    compatibility and ignored: a full shuffle is what a finite buffer approximates).
    Differs from ``tf.data``: operations run in numpy in Python; ``map`` receives numpy.
    """

    def __init__(self, data: Any, n: int, ops: tuple[tuple[str, Any], ...] = ()) -> None:
        self._data, self._n, self._ops = data, n, ops
        self._epoch = 0

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, data: Any) -> Dataset:
        """Slices along the first axis of every array in ``data`` (array, tuple, dict)."""
        arrays = _tree_map(np.asarray, data)
        sizes = {a.shape[0] if a.ndim else None for a in _leaves(arrays)}
        if len(sizes) != 1 or None in sizes:
            raise ConfigError(
                "Dataset.from_tensor_slices needs arrays with the same first dimension. "
                f"Received first dimensions {sorted(s for s in sizes if s is not None)}"
                f"{' and a scalar' if None in sizes else ''}."
            )
        (n,) = sizes
        return cls(arrays, int(n or 0))

    def _with(self, op: str, arg: Any) -> Dataset:
        return Dataset(self._data, self._n, (*self._ops, (op, arg)))

    def shuffle(
        self,
        buffer_size: int | None = None,
        seed: int | None = None,
        reshuffle_each_iteration: bool = True,
    ) -> Dataset:
        """Shuffle the elements; epoch ``e`` uses ``Philox(seed, e)`` (or epoch 0 always
        when ``reshuffle_each_iteration=False``). ``seed=None`` draws one from
        ``dl.set_random_seed``'s stream now."""
        if any(op != "map" for op, _ in self._ops):
            raise ConfigError(
                "Dataset.shuffle must come before batch/take/prefetch in duallearn. "
                "Fix: call .shuffle(...) first, e.g. from_tensor_slices(...).shuffle().batch(32)."
            )
        s = _seed.draw_seed() if seed is None else int(seed)
        return self._with("shuffle", (s, bool(reshuffle_each_iteration)))

    def map(self, fn: Callable[..., Any]) -> Dataset:
        """Apply ``fn`` to each element (a tuple element is unpacked into arguments)."""
        return self._with("map", fn)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer. Received: {batch_size!r}.")
        return self._with("batch", (batch_size, bool(drop_remainder)))

    def take(self, count: int) -> Dataset:
        return self._with("take", int(count))

    def prefetch(self, buffer_size: int = 2) -> Dataset:
        """Produce elements in a background thread, ``buffer_size`` ahead."""
        return self._with("prefetch", max(1, int(buffer_size)))

    # ---- iteration -----------------------------------------------------------------------
    def cardinality(self) -> int:
        """Number of elements per epoch."""
        n = self._n
        for op, arg in self._ops:
            if op == "batch":
                size, drop = arg
                n = n // size if drop else -(-n // size)
            elif op == "take":
                n = min(n, arg) if arg >= 0 else n
        return n

    def __len__(self) -> int:
        return self.cardinality()

    def iterate(self, epoch: int = 0) -> Iterator[Any]:
        """The elements of epoch ``epoch`` (a pure function of the seed and ``epoch``)."""
        order = np.arange(self._n)
        ops = list(self._ops)
        if any(op == "shuffle" for op, _ in ops):
            seed, reshuffle = next(arg for op, arg in ops if op == "shuffle")
            order = _seed.philox(seed, epoch if reshuffle else 0).permutation(self._n)
        it: Iterator[Any] = (_tree_map(_Index(int(i)), self._data) for i in order)
        for op, arg in ops:
            if op == "map":
                it = _mapped(it, arg)
            elif op == "batch":
                it = _batched(it, *arg)
            elif op == "take":
                it = _taken(it, arg)
            elif op == "prefetch":
                it = prefetched(it, arg)
        return it

    def __iter__(self) -> Iterator[Any]:
        epoch, self._epoch = self._epoch, self._epoch + 1
        return self.iterate(epoch)

    def as_numpy_iterator(self) -> Iterator[Any]:
        return iter(self)

    def __repr__(self) -> str:
        ops = " → ".join(op for op, _ in self._ops) or "slices"
        return f"<dl.data.Dataset n={self._n} {ops}>"


class _Index:
    def __init__(self, i: int) -> None:
        self.i = i

    def __call__(self, a: np.ndarray) -> Any:
        return a[self.i]


def _mapped(it: Iterator[Any], fn: Callable[..., Any]) -> Iterator[Any]:
    for e in it:
        yield fn(*e) if isinstance(e, tuple) else fn(e)


def _batched(it: Iterator[Any], size: int, drop: bool) -> Iterator[Any]:
    buf: list[Any] = []
    for e in it:
        buf.append(e)
        if len(buf) == size:
            yield _stack(buf)
            buf = []
    if buf and not drop:
        yield _stack(buf)


def _taken(it: Iterator[Any], count: int) -> Iterator[Any]:
    for i, e in enumerate(it):
        if 0 <= count <= i:
            return
        yield e


_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetched(it: Iterator[Any], size: int = 2) -> Iterator[Any]:
    """Run ``it`` in a daemon thread, ``size`` elements ahead; exceptions re-raise here.

    Closing the returned generator (or dropping it) stops the thread at its next element.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        try:
            for e in it:
                while not stop.is_set():
                    try:
                        q.put(e, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: Any = _DONE
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            item = _Failure(exc)
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # the producer runs in a copy of the caller's context: the seed stream and the backend
    # of the fit that reads it (a data source's own dl.random draws advance that stream)
    ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(work,), name="duallearn-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            e = q.get()
            if e is _DONE:
                return
            if isinstance(e, _Failure):
                raise e.exc
            yield e
    finally:
        stop.set()
