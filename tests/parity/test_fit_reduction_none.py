"""``reduction="none"`` in ``fit``/``evaluate``: the train step needs a scalar, so every
backend reduces the loss as ``"sum_over_batch_size"`` (ignore_class's mask rescaled by
total/valid, the mean over the kept labels), the numpy reference included. Keras has no one
answer to copy: on TensorFlow it differentiates the sum of the per-sample values and logs
their mean over every label (ignored ones too); on torch its fit raises (``backward`` of a
non-scalar). So ours is checked against Keras's ``"sum_over_batch_size"`` run."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS

keras = importlib.import_module("keras")


def _model(lib):
    inp = lib.Input((4,))
    return lib.Model(inp, lib.layers.Dense(3)(inp))


def _run(lib, model, loss, x, y, sw):
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss)
    h = model.fit(x, y, sample_weight=sw, batch_size=4, epochs=2, shuffle=False, verbose=0)
    e = model.evaluate(x, y, sample_weight=sw, batch_size=4, verbose=0)
    return np.array([*h.history["loss"], e]), model.get_weights()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_class", [None, 1])
@pytest.mark.parametrize("backend", [*BACKENDS, "numpy"])
def test_none_in_fit_is_the_mean_over_kept_labels_on_every_backend(backend, ignore_class, weighted):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype("float32")
    y = rng.integers(0, 3, (8,))
    sw = rng.uniform(0.5, 2.0, (8,)).astype("float32") if weighted else None
    km = _model(keras)
    w0 = km.get_weights()
    want, want_w = _run(
        keras,
        km,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_class),
        x,
        y,
        sw,
    )
    with dl.use_backend(backend):
        ours = _model(dl)
        ours.set_weights(w0)
        loss = dl.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=ignore_class, reduction="none"
        )
        got, got_w = _run(dl, ours, loss, x, y, sw)
    label = f"reduction='none' in fit, ignore_class={ignore_class}, weighted={weighted}, {backend}"
    assert_close(f"{label}: History and evaluate vs Keras's mean", got, want, "float32", "forward")
    for i, (a, b) in enumerate(zip(got_w, want_w, strict=True)):
        assert_close(f"{label}: weight {i} after 2 epochs", a, b, "float32", "params_10")
