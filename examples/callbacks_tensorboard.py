"""Callbacks, TensorBoard and a native input pipeline on scikit-learn's digits (nothing is
downloaded): an MLP fed by a ``torch.utils.data.DataLoader`` on the torch engine or a
``tf.data.Dataset`` on the TensorFlow engine, with early stopping, the best checkpoint,
learning-rate reduction on plateaus, a CSV log, TensorBoard event files and a backup that
lets a killed run resume exactly where it stopped.

Run on either engine:  DUALLEARN_BACKEND=torch python examples/callbacks_tensorboard.py
                       DUALLEARN_BACKEND=tensorflow python examples/callbacks_tensorboard.py
Output folder:         python examples/callbacks_tensorboard.py runs/digits  (default: a temp dir)
Fewer epochs:          EXAMPLE_EPOCHS=5 python examples/callbacks_tensorboard.py
Then:                  tensorboard --logdir runs/digits/tensorboard
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import duallearn as dl


def input_pipeline(x: np.ndarray, y: np.ndarray, batch: int, train: bool):
    """The engine's own pipeline: any of them (or numpy arrays, or dl.data.Dataset) works."""
    if dl.backend() == "torch":
        import torch

        ds = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        gen = torch.Generator().manual_seed(0)
        return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=train, generator=gen)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if train:
        ds = ds.shuffle(len(x), seed=0)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def main(out_dir: str | None = None, epochs: int = 40) -> dict[str, float]:
    out_dir = out_dir or tempfile.mkdtemp(prefix="duallearn-digits-")
    dl.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target.astype("int64"), test_size=0.25, random_state=0, stratify=digits.target
    )
    model = dl.Sequential([
        dl.layers.Input((64,)),
        dl.layers.Dense(64, activation="relu"),
        dl.layers.Dropout(0.2),
        dl.layers.Dense(10),
    ])  # fmt: skip
    model.compile(
        optimizer=dl.optimizers.Adam(1e-3),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    best = os.path.join(out_dir, "best.dlm")
    callbacks = [
        dl.callbacks.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True),
        dl.callbacks.ModelCheckpoint(best, monitor="val_accuracy", save_best_only=True),
        dl.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
        dl.callbacks.CSVLogger(os.path.join(out_dir, "history.csv")),
        dl.callbacks.TensorBoard(os.path.join(out_dir, "tensorboard"), histogram_freq=5),
        dl.callbacks.BackupAndRestore(os.path.join(out_dir, "backup")),
    ]
    history = model.fit(
        input_pipeline(x_train, y_train, 32, train=True),
        validation_data=input_pipeline(x_val, y_val, 256, train=False),
        epochs=epochs,
        callbacks=callbacks,
        verbose=2,
    )
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    best_accuracy = dl.load_model(best).evaluate(x_val, y_val, verbose=0)[1]
    print(
        f"{dl.backend()}: {len(history.epoch)} epochs, final learning rate "
        f"{model.optimizer.learning_rate:g}, held-out accuracy {accuracy:.4f} "
        f"(best checkpoint {best_accuracy:.4f}); logs in {out_dir}"
    )
    return {"epochs": len(history.epoch), "accuracy": accuracy, "best_accuracy": best_accuracy}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, int(os.environ.get("EXAMPLE_EPOCHS", "40")))
