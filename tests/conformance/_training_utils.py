"""Small models and data shared by the training-experience tests (callbacks, data, resume)."""

from __future__ import annotations

import numpy as np

import duallearn as dl


def data(n: int = 48, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    return x, y


def model(d: int = 4, dropout: float = 0.0, lr: float = 0.01, optimizer: str = "adam") -> dl.Model:
    layers = [dl.Input((d,), name="features"), dl.layers.Dense(8, activation="relu")]
    if dropout:
        layers.append(dl.layers.Dropout(dropout))
    layers.append(dl.layers.Dense(2))
    m = dl.Sequential(layers)
    opt = dl.optimizers.Adam(lr) if optimizer == "adam" else dl.optimizers.SGD(lr)
    m.compile(opt, dl.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return m


class Script(dl.callbacks.Callback):
    """Overwrites a log entry with scripted values (put it before the callback under test)."""

    def __init__(self, key: str, values: list[float]) -> None:
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(dl.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []
        self.lrs: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())
        self.lrs.append(float(self.model.optimizer.learning_rate))
