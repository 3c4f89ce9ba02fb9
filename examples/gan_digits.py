"""A GAN on scikit-learn's digits (8×8 images, shipped with scikit-learn: nothing is
downloaded): two models, two optimizers, and one ``train_step`` written once with ``dl.ops``
and ``dl.GradientTape``, so the same code trains on either engine.

Run on either engine:  DUALLEARN_BACKEND=torch python examples/gan_digits.py
                       DUALLEARN_BACKEND=tensorflow python examples/gan_digits.py
Fewer epochs:          python examples/gan_digits.py 3   (or GAN_DIGITS_EPOCHS=3)

The ``GAN`` model has no ``call``: ``fit`` hands each batch of real images to its
``train_step``, which trains the discriminator on real and generated images, then the
generator through the (fixed) discriminator, as keras.io's "GAN overriding train_step".
It prints the last epoch's losses and how far the generated images' mean pixel is from
the real images' (a crude check that the generator learnt the data's brightness).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

import duallearn as dl
from duallearn import ops

LATENT = 16


def discriminator() -> dl.Model:
    return dl.Sequential(
        [
            dl.layers.Input((64,)),
            dl.layers.Dense(64, activation="relu"),
            dl.layers.Dense(1),  # a logit: real (0) or generated (1)
        ],
        name="discriminator",
    )


def generator() -> dl.Model:
    return dl.Sequential(
        [
            dl.layers.Input((LATENT,)),
            dl.layers.Dense(64, activation="relu"),
            dl.layers.Dense(64, activation="sigmoid"),  # pixels in [0, 1]
        ],
        name="generator",
    )


class GAN(dl.Model):
    """Two sub-models trained against each other by one custom ``train_step``."""

    def __init__(self, disc: dl.Model, gen: dl.Model, latent_dim: int) -> None:
        super().__init__()
        self.discriminator = disc
        self.generator = gen
        self.latent_dim = latent_dim
        self.seed_generator = dl.random.SeedGenerator(1337)

    def compile(self, d_optimizer: Any, g_optimizer: Any, loss_fn: Any) -> None:  # type: ignore[override]
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = dl.metrics.Mean(name="d_loss")
        self.g_loss_metric = dl.metrics.Mean(name="g_loss")

    @property
    def metrics(self) -> list[Any]:
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real: Any) -> dict[str, Any]:
        batch = ops.shape(real)[0]
        # 1. the discriminator, on generated (label 1) and real (label 0) images
        z = dl.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        fake = self.generator(z)
        images = ops.concatenate([fake, real], axis=0)
        labels = ops.concatenate([ops.ones((batch, 1)), ops.zeros((batch, 1))], axis=0)
        labels = labels + 0.05 * dl.random.uniform((2 * batch, 1), seed=self.seed_generator)
        with dl.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(images, training=True))
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply(tape.gradient(d_loss, d_weights), d_weights)
        # 2. the generator, to make the discriminator say "real" (0)
        z = dl.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with dl.GradientTape() as tape:
            g_loss = self.loss_fn(ops.zeros((batch, 1)), self.discriminator(self.generator(z)))
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(g_loss, g_weights), g_weights)
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def main(epochs: int = 30) -> dict[str, float]:
    dl.set_random_seed(0)
    real = (load_digits().data / 16.0).astype("float32")  # (1797, 64) in [0, 1]
    gan = GAN(discriminator(), generator(), LATENT)
    gan.compile(
        d_optimizer=dl.optimizers.Adam(1e-3),
        g_optimizer=dl.optimizers.Adam(1e-3),
        loss_fn=dl.losses.BinaryCrossentropy(from_logits=True),
    )
    history = gan.fit(real, batch_size=64, epochs=epochs, verbose=0)
    z = np.random.default_rng(1).standard_normal((512, LATENT)).astype("float32")
    fake = gan.generator.predict(z, verbose=0)
    result = {
        "d_loss": history.history["d_loss"][-1],
        "g_loss": history.history["g_loss"][-1],
        "mean_pixel_gap": float(abs(fake.mean() - real.mean())),
    }
    print(f"backend {dl.backend()}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("GAN_DIGITS_EPOCHS", 30)))
