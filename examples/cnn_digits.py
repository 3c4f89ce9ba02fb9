"""Train a small CNN on scikit-learn's digits as 8×8×1 images (shipped with scikit-learn:
nothing is downloaded), and print the held-out accuracy.

Run on either engine:  DUALLEARN_BACKEND=torch python examples/cnn_digits.py
                       DUALLEARN_BACKEND=tensorflow python examples/cnn_digits.py
Fewer epochs:          python examples/cnn_digits.py 3   (or CNN_DIGITS_EPOCHS=3)

The layers are Keras 3's (channels-last NHWC data, TensorFlow's SAME padding), so the same
model written with ``keras.layers`` and given these weights gives the same predictions.
"""

from __future__ import annotations

import os
import sys

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import duallearn as dl


def build_model() -> dl.Model:
    return dl.Sequential([
        dl.layers.Input((8, 8, 1)),
        dl.layers.Conv2D(16, 3, padding="same", activation="relu"),
        dl.layers.MaxPooling2D(2),  # 8x8 -> 4x4
        dl.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),  # -> 2x2
        dl.layers.GlobalAveragePooling2D(),
        dl.layers.Dense(10),
    ])  # fmt: skip


def main(epochs: int = 25) -> float:
    dl.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]  # (1797, 8, 8, 1), channels-last
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )

    model = build_model()
    model.compile(
        optimizer=dl.optimizers.Adam(learning_rate=3e-3),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"backend: {dl.backend()}")
    model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=2)

    logits = model.predict(x_test, verbose=0)
    accuracy = float((logits.argmax(axis=-1) == y_test).mean())
    print(f"held-out accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    n = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CNN_DIGITS_EPOCHS", "25")
    main(int(n))
