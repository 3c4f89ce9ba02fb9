"""A custom layer written once with dl.ops, inside a functional model with a residual
connection, trained on scikit-learn's digits on either backend.

    python examples/custom_layer.py --backend torch
    python examples/custom_layer.py --backend tensorflow
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits

import duallearn as dl
from duallearn import ops


@dl.saving.register_serializable(package="examples")
class GatedDense(dl.layers.Layer):
    """``y = (x·W + b) · sigmoid(x·G)``: a gated linear unit (weights in the canonical
    layout, drawn by the front-end, so both backends start from the same numbers)."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d = input_shape[-1]
        self.w = self.add_weight(shape=(d, self.units), initializer="glorot_uniform", name="w")
        self.g = self.add_weight(shape=(d, self.units), initializer="glorot_uniform", name="g")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs, training=None):
        return (ops.matmul(inputs, self.w) + self.b) * ops.sigmoid(inputs @ self.g)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def main(backend: str, epochs: int = 5) -> float:
    dl.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    with dl.use_backend(backend):
        inp = dl.Input((64,))
        h = dl.layers.Dense(32, activation="relu")(inp)
        h = dl.layers.Add()([h, GatedDense(32)(h)])  # residual around the custom layer
        out = dl.layers.Dense(10)(h)
        model = dl.Model(inp, out)
    model.compile(
        dl.optimizers.Adam(1e-2),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.summary()
    model.fit(x[:1500], y[:1500], batch_size=64, epochs=epochs, verbose=0)
    logs = model.evaluate(x[1500:], y[1500:], verbose=0, return_dict=True)
    print(f"{backend}: test accuracy {logs['accuracy']:.3f}")
    return float(logs["accuracy"])


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--backend", default=dl.backend())
    p.add_argument("--epochs", type=int, default=5)
    a = p.parse_args()
    acc = main(a.backend, a.epochs)
    assert np.isfinite(acc)
