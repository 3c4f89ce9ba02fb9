"""Whole-model parity: same seed -> bit-identical weights on every backend; training
trajectories agree with each other and with the numpy reference; files cross backends."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn import config
from duallearn.testing import assert_close, reference

from ..conftest import both
from . import _draw
from ._draw import SEEDS

pytestmark = both()
BACKENDS = ("torch", "tensorflow")


def build(backend, d, hidden, out, activation, dropout=0.0, seed=0):
    dl.set_random_seed(seed)
    layers = [dl.layers.Input((d,)), dl.layers.Dense(hidden, activation=activation)]
    if dropout:
        layers.append(dl.layers.Dropout(dropout))
    layers.append(dl.layers.Dense(out))
    return dl.Sequential(layers, backend=backend)


OPTIMIZERS = [
    lambda: dl.optimizers.SGD(0.05),
    lambda: dl.optimizers.SGD(0.05, momentum=0.9),
    lambda: dl.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    lambda: dl.optimizers.SGD(0.05, momentum=0.9, formula="torch"),
    lambda: dl.optimizers.Adam(0.01),
    lambda: dl.optimizers.Adam(0.01, amsgrad=True),
    lambda: dl.optimizers.Adam(0.01, epsilon=1e-8, formula="torch"),
    lambda: dl.optimizers.AdamW(0.01, weight_decay=0.01, global_clipnorm=1.0),
    lambda: dl.optimizers.RMSprop(0.005, centered=True, momentum=0.5, clipvalue=0.5),
    lambda: dl.optimizers.Nadam(0.01, use_ema=True, ema_momentum=0.9),
    lambda: dl.optimizers.Adagrad(0.05, clipnorm=0.5),
    lambda: dl.optimizers.Lion(0.001, weight_decay=0.1),
    lambda: dl.optimizers.SGD(0.05, momentum=0.9, weight_decay=0.01, gradient_accumulation_steps=2),
]
LOSSES = [
    ("sparse", lambda: dl.losses.SparseCategoricalCrossentropy(from_logits=True)),
    ("onehot", lambda: dl.losses.CategoricalCrossentropy(from_logits=True)),
    ("mse", lambda: dl.losses.MeanSquaredError()),
    ("mae", lambda: dl.losses.MeanAbsoluteError()),
    ("bce", lambda: dl.losses.BinaryCrossentropy(from_logits=True)),
]


def data(kind, n, d, out, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    if kind == "sparse":
        y = rng.integers(0, out, n)
    elif kind == "onehot":
        y = np.eye(out)[rng.integers(0, out, n)]
    elif kind == "bce":
        y = rng.integers(0, 2, (n, out)).astype(np.float64)
    else:
        y = rng.standard_normal((n, out))
    return x, y


def drawn_data(draw, kind, n, d, out):
    """Hypothesis-drawn inputs and targets (tests/parity/_draw.py): magnitudes 1 and 1e-2
    (larger inputs make SGD diverge within the 24 steps on both engines alike, comparing nan),
    exact zeros, repeated rows, every label equal."""
    x = _draw.values(draw, (n, d), (1.0, 1e-2))
    if kind == "sparse":
        y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, out - 1)))
    elif kind == "onehot":
        y = np.eye(out)[draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, out - 1)))]
    elif kind == "bce":
        y = draw(hnp.arrays(np.float64, (n, out), elements=st.sampled_from([0.0, 1.0])))
    else:
        y = _draw.values(draw, (n, out), (1.0,))
    return x, y


def test_same_seed_bit_identical_initial_weights():
    weights = {b: build(b, 5, 7, 3, "relu", seed=42).get_weights() for b in BACKENDS}
    assert len(weights["torch"]) == 4
    for a, b in zip(weights["torch"], weights["tensorflow"], strict=True):
        assert a.dtype == b.dtype == np.float32
        assert a.tobytes() == b.tobytes()
    other = build("torch", 5, 7, 3, "relu", seed=43).get_weights()
    assert other[0].tobytes() != weights["torch"][0].tobytes()


@given(
    opt=st.integers(0, len(OPTIMIZERS) - 1),
    loss=st.sampled_from(LOSSES),
    activation=st.sampled_from(["tanh", "sigmoid", "gelu", "softplus", "elu", "silu"]),
    d=st.integers(1, 6),
    hidden=st.integers(1, 9),
    out=st.integers(2, 4),
    batch=st.integers(1, 7),
    data_=st.data(),
    seed=SEEDS,
)
def test_float64_trajectory_matches_numpy_and_across_backends(
    opt, loss, activation, d, hidden, out, batch, data_, seed
):
    kind, make_loss = loss
    steps = 24
    x, y = drawn_data(data_.draw, kind, batch * steps, d, out)
    config.set_floatx("float64")
    finals = {}
    for b in BACKENDS:
        model = build(b, d, hidden, out, activation, seed=seed)
        init = model.get_weights()
        model.compile(optimizer=OPTIMIZERS[opt](), loss=make_loss())
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
        finals[b] = model.get_weights()
    batches = [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)]
    ref, _ = reference.train_steps(model, init, OPTIMIZERS[opt](), make_loss(), batches)
    for i, (wt, wf, wr) in enumerate(zip(finals["torch"], finals["tensorflow"], ref, strict=True)):
        assert_close(
            f"torch weight {i} after {steps} steps vs numpy", wt, wr, "float64", "params_100"
        )
        assert_close(
            f"tensorflow weight {i} after {steps} steps vs numpy", wf, wr, "float64", "params_100"
        )
        assert_close(f"tensorflow vs torch weight {i}", wf, wt, "float64", "params_100")


@given(opt=st.integers(0, len(OPTIMIZERS) - 1), data_=st.data(), seed=SEEDS)
def test_float32_ten_steps_with_deterministic_dropout(opt, data_, seed):
    # 20 drawn samples, 4 times over (80 drawn rows would be hypothesis's smallest example too)
    x, y = (np.concatenate([a] * 4) for a in drawn_data(data_.draw, "sparse", 20, 6, 3))
    config.set_deterministic(True)
    finals, losses = {}, {}
    for b in BACKENDS:
        model = build(b, 6, 12, 3, "relu", dropout=0.3, seed=seed)
        model.compile(
            optimizer=OPTIMIZERS[opt](),
            loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        dl.set_random_seed(seed + 1)  # same shuffle and mask streams on both
        hist = model.fit(x.astype("float32"), y, batch_size=8, epochs=1, verbose=0)
        finals[b] = model.get_weights()
        losses[b] = hist.history["loss"][0]
    for i, (a, b) in enumerate(zip(finals["torch"], finals["tensorflow"], strict=True)):
        assert_close(f"weight {i} after 10 float32 steps", b, a, "float32", "params_10")
    assert_close("epoch loss tensorflow vs torch", losses["tensorflow"], losses["torch"], "float32",
                 "loss")  # fmt: skip


def test_deterministic_dropout_matches_numpy_reference():
    """The masks the front-end draws are the ones both backends apply: one step by hand."""
    config.set_floatx("float64")
    config.set_deterministic(True)
    x, y = data("mse", 4, 3, 2, 0)
    grads = {}
    for b in BACKENDS:
        model = build(b, 3, 5, 2, "tanh", dropout=0.5, seed=3)
        model.compile(optimizer=dl.optimizers.SGD(0.1), loss="mse")
        model._ensure_train_spec([y])
        model._noise_stream = 99
        noise = model._draw_noise(4)
        loss, g = model._get_runtime().gradients([x], [y], [None], True, noise)
        grads[b] = (loss, g, noise)
    ref_loss, ref_g = reference.loss_and_grads(
        model,
        model.get_weights(),
        [x],
        [y],
        [dl.losses.MeanSquaredError()],
        noise=grads["torch"][2].masks,
    )
    assert 1 in grads["torch"][2].masks and grads["torch"][2].masks[1].shape == (4, 5)
    for b in BACKENDS:
        assert_close(f"{b} loss with dropout mask", grads[b][0], ref_loss, "float64", "loss")
        for i, (g, r) in enumerate(zip(grads[b][1], ref_g, strict=True)):
            assert_close(f"{b} grad {i} with dropout mask", g, r, "float64", "gradient")


def test_save_on_one_backend_load_on_the_other(tmp_path):
    x, y = data("sparse", 96, 6, 3, 1)
    x = x.astype("float32")
    for src, dst in [("torch", "tensorflow"), ("tensorflow", "torch")]:
        model = build(src, 6, 10, 3, "relu", seed=5)
        model.compile(
            optimizer=dl.optimizers.Adam(0.01),
            loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        path = tmp_path / f"{src}.dlm"
        model.save(str(path))
        with dl.use_backend(dst):
            clone = dl.load_model(str(path))
        assert clone.backend_name == dst
        assert_close(
            f"{dst} predictions of a {src} file",
            clone.predict(x, verbose=0),
            model.predict(x, verbose=0),
            "float32",
            "forward",
        )
        # optimizer state and step continue the same trajectory on the other engine
        assert clone.optimizer.iterations == model.optimizer.iterations == 12
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        clone.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        for i, (a, b) in enumerate(zip(model.get_weights(), clone.get_weights(), strict=True)):
            assert_close(f"{src}->{dst} weight {i} after resuming", b, a, "float32", "params_10")


def test_figures_for_the_record():
    """Max errors of a 3-layer MLP forward, float32 and float64, each backend vs numpy."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 20))
    for dtype in ["float64", "float32"]:
        config.set_floatx(dtype)
        outs = {}
        for b in BACKENDS:
            model = build(b, 20, 32, 10, "gelu", seed=9)
            outs[b] = model.predict(x.astype(dtype), verbose=0)
        ref, _ = reference.forward(model, [w.astype(np.float64) for w in model.get_weights()], [x])
        for b in BACKENDS:
            assert_close(f"{b} MLP {dtype} vs numpy", outs[b], ref[0], dtype, "layer")
        assert_close(f"MLP {dtype} torch vs tensorflow", outs["torch"], outs["tensorflow"], dtype,
                     "layer")  # fmt: skip
