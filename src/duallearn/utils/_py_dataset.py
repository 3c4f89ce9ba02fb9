"""``dl.utils.PyDataset`` (alias ``Sequence``): batches produced by Python code, Keras 3's
class.

A subclass implements ``__getitem__(index)`` returning one batch (``x``, ``(x, y)`` or ``(x, y,
sample_weight)``) and ``__len__`` (or the ``num_batches`` property; ``None`` for an endless
data set), and may implement ``on_epoch_begin`` / ``on_epoch_end``. ``fit`` reads the batches
in an order drawn from the front-end's seed when ``shuffle=True`` (Keras shuffles a
PyDataset's batch order too: the same seed gives the same order on both backends, and a
resumed run the same order as an uninterrupted one); ``evaluate`` and ``predict`` read them in
order.

``workers > 1`` fetches that many batches at once in threads (or, with
``use_multiprocessing=True``, in worker processes: the data set is pickled to them at the
start of every epoch, so a change made by ``on_epoch_end`` reaches them, as in Keras);
``max_queue_size`` bounds how many batches are fetched ahead. Results arrive in batch order
whatever the number of workers, so the numbers never depend on it.
"""

from __future__ import annotations

import concurrent.futures as futures
import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError


class PyDataset:
    """Base class for Python data sets of batches (``keras.utils.PyDataset``).

    Args:
        workers: how many batches are fetched at once (threads, or processes with
            ``use_multiprocessing=True``). Default 1: fetched one by one in a background
            thread while the engine trains.
        use_multiprocessing: fetch in worker processes instead of threads (for
            ``__getitem__`` code that holds the GIL). The data set must be picklable.
        max_queue_size: at most this many batches are fetched ahead.

    Example:
        >>> class Batches(dl.utils.PyDataset):
        ...     def __init__(self, x, y, batch_size, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return -(-len(self.x) // self.batch_size)
        ...     def __getitem__(self, i):
        ...         s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> model.fit(Batches(x, y, 32, workers=2), epochs=3)
    """

    def __init__(
        self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10
    ) -> None:
        for name, value in (("workers", workers), ("max_queue_size", max_queue_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(
                    f"PyDataset {name} must be a positive integer. Received: {name}={value!r}. "
                    f"Fix: e.g. {name}={1 if name == 'workers' else 10}."
                )
        if not isinstance(use_multiprocessing, bool):
            raise ConfigError(
                "PyDataset use_multiprocessing must be True or False. Received: "
                f"{use_multiprocessing!r}."
            )
        self._workers = int(workers)
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = value

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        """The batch at position ``index``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement __getitem__(self, index) returning a batch."
        )

    @property
    def num_batches(self) -> int | None:
        """Number of batches (``len(self)``), or None for an endless data set."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ or the num_batches property."
        )

    def __iter__(self) -> Iterator[Any]:
        n = self.num_batches
        for i in range(n) if n is not None else itertools.count():
            yield self[i]

    def on_epoch_begin(self) -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""


def _fetch(dataset: Any, index: int) -> Any:
    return dataset[index]


_WORKER_DATASET: Any = None


def _init_worker(dataset: Any) -> None:
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _fetch_in_worker(index: int) -> Any:
    return _WORKER_DATASET[index]


def fetch_in_order(dataset: Any, indices: Sequence[int] | Iterator[int]) -> Iterator[Any]:
    """``dataset[i]`` for each ``i`` in order, ``workers`` at a time and at most
    ``max_queue_size`` ahead (threads, or processes with ``use_multiprocessing``)."""
    workers = int(getattr(dataset, "workers", 1) or 1)
    if workers <= 1:
        for i in indices:
            yield dataset[i]
        return
    ahead = max(workers, int(getattr(dataset, "max_queue_size", 10) or 10))
    if getattr(dataset, "use_multiprocessing", False):
        pool: futures.Executor = futures.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(dataset,),
        )
        submit = lambda i: pool.submit(_fetch_in_worker, i)  # noqa: E731
    else:
        pool = futures.ThreadPoolExecutor(workers, thread_name_prefix="dl-pydataset")
        submit = lambda i: pool.submit(_fetch, dataset, i)  # noqa: E731
    pending: deque[futures.Future[Any]] = deque()
    it = iter(indices)
    try:
        for i in itertools.islice(it, ahead):
            pending.append(submit(i))
        while pending:
            result = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(submit(nxt))
            yield result
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
