"""Train a small LSTM on scikit-learn's digits read as sequences: each 8×8 image is 8 time
steps (rows) of 8 features (pixels). Shipped with scikit-learn: nothing is downloaded. Prints
the held-out accuracy.

Run on either engine:  DUALLEARN_BACKEND=torch python examples/lstm_digits.py
                       DUALLEARN_BACKEND=tensorflow python examples/lstm_digits.py
Fewer epochs:          python examples/lstm_digits.py 3   (or LSTM_DIGITS_EPOCHS=3)

About 10-15 s on a 2-core CPU. The model is tiny: on a busy machine torch's intra-op threads
only contend (measured here under load 8: 113 s with 2 threads, 11 s with OMP_NUM_THREADS=1).

The LSTM is Keras 3's (gate order i|f|c|o, one bias, forget-gate bias initialized to 1); the
torch backend runs it with ``nn.LSTM``'s fused kernel, TensorFlow with ``BlockLSTMV2``. The
same model written with ``keras.layers`` and given these weights gives the same predictions.
"""

from __future__ import annotations

import os
import sys

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import duallearn as dl


def build_model() -> dl.Model:
    return dl.Sequential([
        dl.layers.Input((8, 8)),  # (timesteps, features)
        dl.layers.LSTM(48),
        dl.layers.Dense(10),
    ])  # fmt: skip


def main(epochs: int = 20) -> float:
    dl.set_random_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")  # (1797, 8, 8): 8 rows of 8 pixels
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )

    model = build_model()
    model.compile(
        optimizer=dl.optimizers.Adam(learning_rate=1e-2),
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
    n = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("LSTM_DIGITS_EPOCHS", "20")
    main(int(n))
