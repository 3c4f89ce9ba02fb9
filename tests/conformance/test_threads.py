"""Models trained at once in threads (or asyncio tasks) of one process give exactly the numbers
each gives alone: the seed stream and the automatic layer names are context-local, and each
runtime's native fast-mode generator is its own (docs/training.md, "Randomness and threads")."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn import _naming, _seed
from duallearn.testing import assert_close

from ..conftest import need_backends

Result = tuple[list[str], list[np.ndarray], dict[str, list[float]], list[np.ndarray]]


def _data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    shape = (64, 8) if kind == "mlp" else (64, 6, 6, 2)
    x = rng.normal(size=shape).astype("float32")
    y = (x.reshape(64, -1)[:, :3].sum(axis=1) > 0).astype("int64")
    return x, y


def _build(kind: str, backend: str) -> dl.Model:
    if kind == "mlp":
        layers = [
            dl.Input((8,)),
            dl.layers.Dense(16, activation="relu"),
            dl.layers.Dropout(0.3),
            dl.layers.Dense(2),
        ]
    else:
        layers = [
            dl.Input((6, 6, 2)),
            dl.layers.Conv2D(4, 3, activation="relu"),
            dl.layers.Flatten(),
            dl.layers.Dropout(0.25),
            dl.layers.Dense(2),
        ]
    model = dl.Sequential(layers, backend=backend)
    model.compile(
        dl.optimizers.Adam(0.01),
        dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _train(kind: str, backend: str, start: Callable[[], Any] = _naming.reset_names) -> Result:
    """Seed, build, record the initial weights, train (shuffled, with dropout). ``start``:
    fresh layer names in the main thread; a new thread has its own names already."""
    dl.set_random_seed(0)
    start()  # threads: wait here until all are seeded, then race through build and fit
    model = _build(kind, backend)
    initial = model.get_weights()
    x, y = _data(kind)
    hist = model.fit(x, y, batch_size=16, epochs=3, shuffle=True, verbose=0)
    names = [v.path for v in model.weights]
    return names, initial, hist.history, model.get_weights()


def _same(label: str, got: Result, want: Result) -> None:
    names, initial, history, final = got
    bad = []
    if not all(np.array_equal(a, b) for a, b in zip(initial, want[1], strict=True)):
        bad.append("initial weights")
    if history != want[2]:
        bad.append("History")
    if not all(np.array_equal(a, b) for a, b in zip(final, want[3], strict=True)):
        bad.append("trained weights")
    if names != want[0]:
        bad.append(f"variable paths ({names} != {want[0]})")
    assert not bad, f"{label}: differs from the model trained alone in: {', '.join(bad)}"


JOBS = [(k, b) for b in ("torch", "tensorflow") for k in ("mlp", "cnn")]


@pytest.fixture(scope="module")
def alone() -> list[Result]:
    """The four models trained one after another in the main thread."""
    results = [_train(k, b) for k, b in JOBS]
    _naming.reset_names()
    return results


@need_backends("torch", "tensorflow")
@pytest.mark.parametrize("run", range(3))
def test_threads_train_as_alone(alone, run):
    barrier = threading.Barrier(len(JOBS))
    results: list[Any] = [None] * len(JOBS)

    def work(i: int, kind: str, backend: str) -> None:
        try:
            results[i] = _train(kind, backend, barrier.wait)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            barrier.abort()
            results[i] = exc

    threads = [
        threading.Thread(target=work, args=(i, k, b), name=f"train-{k}-{b}")
        for i, (k, b) in enumerate(JOBS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (kind, backend), got, want in zip(JOBS, results, alone, strict=True):
        if isinstance(got, BaseException):
            raise got
        _same(f"run {run}, {kind} on {backend}", got, want)


@need_backends("torch", "tensorflow")
def test_asyncio_tasks_train_as_alone(alone):
    """Each task seeds its own copy of the context; tasks interleave between epochs."""

    async def task(kind: str, backend: str) -> Result:
        dl.set_random_seed(0)
        _naming.reset_names()
        await asyncio.sleep(0)  # every task is seeded before any builds
        model = _build(kind, backend)
        initial = model.get_weights()
        await asyncio.sleep(0)  # the others build in between
        x, y = _data(kind)
        history: dict[str, list[float]] = {}
        for epoch in range(3):  # fit one epoch at a time, letting the others run between
            h = model.fit(
                x,
                y,
                batch_size=16,
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=True,
                verbose=0,
            )
            for key, values in h.history.items():
                history.setdefault(key, []).extend(values)
            await asyncio.sleep(0)
        return [v.path for v in model.weights], initial, history, model.get_weights()

    async def main() -> list[Result]:
        return await asyncio.gather(*(task(k, b) for k, b in JOBS))

    for (kind, backend), got, want in zip(JOBS, asyncio.run(main()), alone, strict=True):
        _same(f"asyncio, {kind} on {backend}", got, want)


class Jitter(dl.layers.Layer):
    """Adds N(0, 0.1²) noise drawn with ``seed=None`` in training: from the seed stream of
    whoever runs the fit (inside a traced TensorFlow step the draw runs on a TensorFlow thread
    at each execution)."""

    def call(self, x, training=None):
        if not training:
            return x
        return x + dl.random.normal(dl.ops.shape(x), stddev=0.1)


def _jitter_fit(backend: str) -> list[np.ndarray]:
    dl.set_random_seed(0)
    x, y = _data("mlp")
    model = dl.Sequential([dl.Input((8,)), Jitter(), dl.layers.Dense(2)], backend=backend)
    model.compile(dl.optimizers.SGD(0.1), dl.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()


@need_backends("torch", "tensorflow")
def test_unseeded_draws_in_a_traced_step_come_from_the_fitting_thread():
    """On TensorFlow the draw runs on a TensorFlow thread at each step, yet it advances the
    stream of the thread that runs the fit: the same weights twice, in another thread, and
    (to float tolerance) on torch, whose eager step draws on the fitting thread itself."""
    results = {}
    for backend in ("torch", "tensorflow"):
        want = _jitter_fit(backend)
        again = _jitter_fit(backend)
        got: list[Any] = []
        t = threading.Thread(target=lambda b=backend, out=got: out.append(_jitter_fit(b)))
        t.start()
        t.join()
        for a, b, c in zip(want, again, got[0], strict=True):
            assert np.array_equal(a, b) and np.array_equal(a, c), backend
        results[backend] = want
    for k, (a, b) in enumerate(zip(results["torch"], results["tensorflow"], strict=True)):
        assert_close(f"weight {k}, tensorflow vs torch after 8 steps", b, a, "float32", "params_10")


def test_a_sequence_source_draws_from_the_fitting_context():
    """A data source runs on the prefetch thread on behalf of the fit: its unseeded draws
    continue the fitting context's stream (new values every epoch)."""
    drawn: list[float] = []

    class Noisy:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
            with dl.ops.numpy_mode():
                drawn.append(float(np.asarray(dl.random.normal((1,)))[0]))
            return np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")

    dl.set_random_seed(0)
    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(Noisy(), epochs=2, verbose=0)
    assert len(set(drawn)) == 4


def test_unseeded_thread_starts_from_last_seed():
    """A thread that never calls set_random_seed draws as if it had called it with the seed
    last given in the process, whatever other threads draw meanwhile."""
    dl.set_random_seed(5)
    want = [_seed.draw_seed() for _ in range(3)]
    _seed.draw_seed()  # the main thread's stream moves on; a new thread's does not
    got: list[int] = []
    t = threading.Thread(target=lambda: got.extend(_seed.draw_seed() for _ in range(3)))
    t.start()
    t.join()
    assert got == want


def test_names_are_per_thread():
    _naming.reset_names()
    main = [_naming.unique_name("dense") for _ in range(2)]
    other: list[str] = []
    t = threading.Thread(
        target=lambda: other.extend(_naming.unique_name("dense") for _ in range(2))
    )
    t.start()
    t.join()
    assert main == other == ["dense", "dense_1"]
    assert _naming.unique_name("dense") == "dense_2"


@need_backends("torch", "tensorflow")
def test_fast_mode_masks_ignore_the_frameworks_global_generators():
    """Fast-mode dropout draws from each runtime's own generator (torch) or stateless keys
    (TensorFlow), reseeded at every step from the front-end seed: the frameworks' global seeds
    change nothing, and torch's default generator is never drawn from."""
    import tensorflow as tf
    import torch

    x, y = _data("mlp")
    for backend in ("torch", "tensorflow"):
        runs = []
        for native_seed in (1, 2):
            torch.manual_seed(native_seed)
            tf.random.set_seed(native_seed)
            state = torch.get_rng_state()
            dl.set_random_seed(0)
            model = _build("mlp", backend)
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)
            runs.append([*model.get_weights(), model(x[:4], training=True)])
            assert torch.equal(torch.get_rng_state(), state), backend
        for a, b in zip(*runs, strict=True):
            assert np.array_equal(a, b), backend
