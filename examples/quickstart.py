"""Train an MLP on scikit-learn's digits (shipped with scikit-learn: nothing is downloaded).

Run on either engine:  DUALLEARN_BACKEND=torch python examples/quickstart.py
                       DUALLEARN_BACKEND=tensorflow python examples/quickstart.py
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import duallearn as dl


def main(epochs: int = 30) -> float:
    dl.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")  # 1797 images of 8x8 pixels, flattened to 64
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )

    model = dl.Sequential([
        dl.layers.Input((64,)),
        dl.layers.Dense(128, activation="relu"),
        dl.layers.Dropout(0.2),
        dl.layers.Dense(10),
    ])
    model.compile(
        optimizer=dl.optimizers.Adam(learning_rate=1e-3),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"backend: {dl.backend()}")
    model.summary()
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, validation_split=0.1, verbose=2)

    probs = model.predict(x_test, verbose=0)
    accuracy = float((probs.argmax(axis=-1) == y_test).mean())
    print(f"held-out accuracy: {accuracy:.4f}")

    # The file loads on any backend and gives the same predictions.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.dlm")
        model.save(path)
        again = dl.load_model(path)
        same = np.allclose(again.predict(x_test, verbose=0), probs, atol=1e-6)
        print(f"reloaded from {os.path.basename(path)}: same predictions = {same}")
    return accuracy


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
