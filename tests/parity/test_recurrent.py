"""SimpleRNN, LSTM, GRU and Bidirectional: forward, input and weight gradients (BPTT) against
the numpy reference and across backends, Keras masks, deterministic dropout masks, and real
Keras 3 through set_weights."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn import config
from duallearn.errors import ConfigError, ShapeError
from duallearn.testing import assert_close, check_layer, set_keras_weights_and_compare

from ..conftest import BACKENDS
from . import _draw
from ._draw import DTYPES, SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers
KINDS = ["SimpleRNN", "LSTM", "GRU", "GRU_before"]


def make_rnn(kind: str, units: int, **kw):
    if kind == "GRU_before":
        return L.GRU(units, reset_after=False, **kw)
    return getattr(L, kind)(units, **kw)


# Drawn inputs (tests/parity/_draw.py): magnitudes 1, 1e-2 and 10, exact zeros and repeats,
# batches and sequences of one. Natural-scale rule: at 1e3 every gate saturates, and an output
# such as 1 − z of a gate z within eps of 1 is a rounding residue judged against the layer's
# largest output; 10 already drives the gates to saturation without that cancellation.
RNN_SCALES = (1.0, 1e-2, 10.0)


def _x(draw, shape, dtype="float64"):
    return _draw.values(draw, shape, RNN_SCALES, dtype=dtype)


def _noise(make, shape, seed):
    layer = make()
    layer._ensure_built((None, *shape[1:]))
    ns = layer.noise_shape_for(shape)
    return None if ns is None else layer.draw_noise(np.random.default_rng(seed), ns)


@given(
    kind=st.sampled_from(KINDS),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 4)),
    units=st.integers(1, 5),
    return_sequences=st.booleans(),
    return_state=st.booleans(),
    go_backwards=st.booleans(),
    use_bias=st.booleans(),
    activation=st.sampled_from(["tanh", "tanh", "relu", "sigmoid"]),
    dtype=DTYPES,
    data=st.data(),
    seed=SEEDS,
)
def test_rnn_forward_and_bptt(
    kind, shape, units, return_sequences, return_state, go_backwards, use_bias, activation,
    dtype, data, seed,
):  # fmt: skip
    x = _x(data.draw, shape, dtype)

    def make():
        return make_rnn(
            kind,
            units,
            activation=activation,
            use_bias=use_bias,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            bias_initializer="random_normal",
        )

    check_layer(make, x, dtype=dtype, kind="forward", seed=seed)


@given(
    kind=st.sampled_from(KINDS),
    dropout=st.sampled_from([0.0, 0.3]),
    recurrent_dropout=st.sampled_from([0.0, 0.4]),
    return_sequences=st.booleans(),
    go_backwards=st.booleans(),
    training=st.booleans(),
    x=_draw.arrays(st.tuples(st.integers(1, 3), st.integers(1, 4), st.just(3)), RNN_SCALES),
    seed=SEEDS,
)
def test_rnn_deterministic_dropout_masks(
    kind, dropout, recurrent_dropout, return_sequences, go_backwards, training, x, seed
):
    """Keras's per-sequence dropout masks (per gate with recurrent dropout), drawn by the
    front-end and applied identically by every backend; identity in inference."""

    def make():
        return make_rnn(
            kind,
            3,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            return_sequences=return_sequences,
            go_backwards=go_backwards,
        )

    noise = _noise(make, x.shape, seed)
    check_layer(
        make, x, training=training, noise=None if noise is None else {0: noise}, kind="forward"
    )


def test_dropout_noise_layout():
    lstm = L.LSTM(3, dropout=0.5)
    lstm._ensure_built((None, 4, 2))
    n = lstm.draw_noise(np.random.default_rng(0), lstm.noise_shape_for((64, 4, 2)))
    assert n.shape == (64, 4, 5)
    assert set(np.unique(n[..., :2])) == {0.0, 2.0}
    assert np.all(n[:, 0, :2] == n[:, 3, :2])  # one input mask shared by the gates
    assert np.all(n[..., 2:] == 1.0)
    gru = L.GRU(3, dropout=0.5, recurrent_dropout=0.25)
    gru._ensure_built((None, 4, 2))
    n = gru.draw_noise(np.random.default_rng(0), gru.noise_shape_for((64, 4, 2)))
    assert n.shape == (64, 3, 5)
    assert not np.all(n[:, 0, :2] == n[:, 1, :2])  # per-gate masks (Keras implementation 1)
    assert set(np.unique(n[..., 2:])) == {0.0, 1 / 0.75}
    assert L.SimpleRNN(2).noise_shape_for((4, 3, 2)) is None


def test_fast_mode_dropout_runs_natively(backend):
    x = np.ones((256, 3, 4), np.float32)
    model = dl.Sequential([L.Input((3, 4)), L.LSTM(2, dropout=0.5, recurrent_dropout=0.5)])
    rt = model._get_runtime()
    a = rt.forward([x], training=True)[0]
    b = rt.forward([x], training=False)[0]
    assert a.shape == b.shape == (256, 2)
    assert np.std(a[:, 0]) > 1e-3  # masks differ across the batch
    # inference: no mask, every row the same computation on the same input (the layer row)
    assert_close("inference rows", b, np.broadcast_to(b[:1], b.shape), "float32", "layer")


@pytest.mark.parametrize("which", ["dropout", "recurrent_dropout"])
def test_fast_mode_masks_are_per_sequence_with_the_right_rate(backend, which):
    """Native RNG masks (fast mode): kept fraction 1 - rate, scale 1/(1 - rate), and one mask
    per sequence reused at every step. SimpleRNN(linear) with kernel = recurrent = I and
    inputs [1, 0, 0]: h_3 = m_rec² (recurrent dropout) or m_in (input dropout)."""
    rate, n = 0.3, 4000
    layer = L.SimpleRNN(1, activation="linear", use_bias=False, **{which: rate})
    model = dl.Sequential([L.Input((3, 1)), layer])
    model.set_weights([np.ones((1, 1)), np.ones((1, 1))])
    x = np.zeros((n, 3, 1), np.float32)
    x[:, 0] = 1.0
    h = model._get_runtime().forward([x], training=True)[0][:, 0]
    keep = 1 / (1 - rate)
    expected = keep**2 if which == "recurrent_dropout" else keep
    # one or two float32 multiplications by 1/(1 − rate): the activation row
    assert_close("h_3 values", np.unique(h), [0.0, expected], "float32", "activation")
    assert abs((h > 0).mean() - (1 - rate)) < 0.03


@given(
    kind=st.sampled_from(KINDS),
    merge_mode=st.sampled_from(["concat", "sum", "mul", "ave", None]),
    return_sequences=st.booleans(),
    return_state=st.booleans(),
    dtype=DTYPES,
    data=st.data(),
    seed=SEEDS,
)
def test_bidirectional(kind, merge_mode, return_sequences, return_state, dtype, data, seed):
    x = _x(data.draw, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), 3), dtype)

    def make():
        inner = make_rnn(kind, 3, return_sequences=return_sequences, return_state=return_state)
        return L.Bidirectional(inner, merge_mode=merge_mode)

    check_layer(make, x, dtype=dtype, kind="forward", seed=seed)


def test_bidirectional_dropout_masks():
    x = np.random.default_rng(3).standard_normal((3, 4, 2))

    def make():
        return L.Bidirectional(L.GRU(3, dropout=0.3, recurrent_dropout=0.3, return_sequences=True))

    noise = _noise(make, x.shape, 5)
    assert noise.shape == (3, 2, 3, 5)
    check_layer(make, x, training=True, noise={0: noise}, kind="forward")


# ---- Keras masks ----------------------------------------------------------------------------


def _native_with_mask(backend, make, x, mask, cot, training=False, noise=None):
    """Run the native layer of ``make()`` with an explicit Keras mask; return outputs and the
    VJP (dx, dw canonical) for cotangents ``cot``."""
    from duallearn.testing import build_single

    dl.set_random_seed(0)
    model = build_single(make, [x], backend)
    rt = model._get_runtime()
    mod = next(m for m in rt.net.layers_ if getattr(m, "dl_vars", None))
    if backend == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        kw = {"mask": torch.tensor(mask)}
        nt = None if noise is None else torch.tensor(noise)
        out = mod.forward(xt, training, nt, **kw)
        outs = out if isinstance(out, list) else [out]
        s = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, cot, strict=True))
        grads = torch.autograd.grad(s, [xt, *mod.dl_vars])
        dw = [mod.to_canonical(i, g.numpy()) for i, g in enumerate(grads[1:])]
        return [o.detach().numpy() for o in outs], grads[0].numpy(), dw, rt.get_weights()
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = mod.forward(xt, training, None if noise is None else tf.constant(noise),
                          mask=tf.constant(mask))  # fmt: skip
        outs = out if isinstance(out, list) else [out]
        s = tf.add_n([tf.reduce_sum(o * tf.constant(c)) for o, c in zip(outs, cot, strict=True)])
    grads = tape.gradient(s, [xt, *mod.dl_vars])
    dw = [mod.to_canonical(i, g.numpy()) for i, g in enumerate(grads[1:])]
    return [o.numpy() for o in outs], grads[0].numpy(), dw, rt.get_weights()


@given(
    kind=st.sampled_from(KINDS + ["Bi"]),
    return_sequences=st.booleans(),
    return_state=st.booleans(),
    go_backwards=st.booleans(),
    x=_draw.arrays((3, 5, 2), RNN_SCALES),
    rows=hnp.arrays(np.bool_, (2, 5)),
    seed=SEEDS,
)
def test_masked_steps_carry_state(
    kind, return_sequences, return_state, go_backwards, x, rows, seed
):
    """Drawn masks: rows of all zeros included (Keras gives the initial state / zeros)."""
    rng = np.random.default_rng(seed)
    mask = np.concatenate([[[True, False, True, False, False]], rows])
    # row 0: masked steps in the middle and at the end (the check after the loop reads it)

    def make():
        if kind == "Bi":
            return L.Bidirectional(L.LSTM(3, return_sequences=return_sequences))
        return make_rnn(
            kind,
            3,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
        )

    from duallearn.testing import build_single

    dl.config.set_floatx("float64")
    for backend in BACKENDS:
        dl.set_random_seed(0)
        model = build_single(make, [x], backend)
        spec = model.layers[-1]
        weights = [np.asarray(w, np.float64) for w in model.get_weights()]
        ref = spec.reference(weights, x, False, None, mask=mask)
        refs = ref if isinstance(ref, list) else [ref]
        cot = [rng.standard_normal(r.shape) for r in refs]
        rdx, rdw = spec.reference_backward(
            weights, x, ref, cot if isinstance(ref, list) else cot[0], False, None, mask=mask
        )
        outs, dx, dw, _ = _native_with_mask(backend, make, x, mask, cot)
        for o, r in zip(outs, refs, strict=True):
            assert_close(f"{backend} masked output", o, r, "float64", "forward")
        assert_close(f"{backend} masked dx", dx, rdx, "float64", "gradient")
        for g, r in zip(dw, rdw, strict=True):
            assert_close(f"{backend} masked dw", g, r, "float64", "gradient")
    if kind != "Bi" and not return_sequences and not go_backwards:
        # masked steps are skipped: the result equals running the kept steps (0 and 2) only
        short = spec.reference(weights, x[:1, [0, 2]], False, None)
        full = spec.reference(weights, x[:1], False, None, mask=mask[:1])
        assert_close(
            "masked steps skipped (reference)",
            full[0] if return_state else full,
            short[0] if return_state else short,
            "float64",
            "forward",
        )


# ---- real Keras 3 -----------------------------------------------------------------------------

keras = importlib.import_module("keras")


def _keras_layer(kind, units, **kw):
    if kind == "GRU_before":
        return keras.layers.GRU(units, reset_after=False, **kw)
    return getattr(keras.layers, kind)(units, **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "kw",
    [{}, {"return_sequences": True, "go_backwards": True}, {"return_state": True}],
    ids=["last", "seq-backwards", "state"],
)
def test_matches_keras(backend, kind, kw):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)
    kl = _keras_layer(kind, 5, bias_initializer="random_normal", **kw)
    kin = keras.Input((6, 3))
    kout = kl(kin)
    km = keras.Model(kin, list(kout) if isinstance(kout, (list, tuple)) else kout)
    din = L.Input((6, 3))
    dout = make_rnn(kind, 5, **kw)(din)
    dm = dl.Model(din, dout)
    set_keras_weights_and_compare(dm, km, x)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_keras(backend, merge_mode):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    kin = keras.Input((5, 2))
    kout = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=True, bias_initializer="random_normal"),
        merge_mode=merge_mode,
    )(kin)
    km = keras.Model(kin, list(kout) if isinstance(kout, (list, tuple)) else kout)
    din = L.Input((5, 2))
    dm = dl.Model(
        din, L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode=merge_mode)(din)
    )
    set_keras_weights_and_compare(dm, km, x)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "GRU_before", "SimpleRNN", "Bi"])
def test_masks_match_keras(kind):
    """Keras masks: the numpy reference (which both backends match above) equals Keras."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    kin, kmask = keras.Input((5, 2)), keras.Input((5,), dtype="bool")
    if kind == "Bi":
        kl = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True))
        ours = L.Bidirectional(L.GRU(3, return_sequences=True))
    else:
        kl = _keras_layer(kind, 3, return_sequences=True, bias_initializer="random_normal")
        ours = make_rnn(kind, 3, return_sequences=True)
    km = keras.Model([kin, kmask], kl(kin, mask=kmask))
    theirs = km.predict([x, mask], verbose=0)
    ours._ensure_built((None, 5, 2))
    w = [np.asarray(a, np.float64) for a in km.get_weights()]
    ref = ours.reference(w, x.astype(np.float64), False, None, mask=mask)
    assert_close("reference vs Keras with mask", ref, theirs, "float32", "forward")


# ---- configuration and errors -----------------------------------------------------------------


def test_weight_shapes_and_defaults_follow_keras():
    lstm = L.LSTM(4)
    lstm._ensure_built((None, 3, 2))
    assert [w.shape for w in lstm.weights] == [(2, 16), (4, 16), (16,)]
    np.testing.assert_array_equal(
        lstm.weights[2].value, np.r_[np.zeros(4), np.ones(4), np.zeros(8)]
    )
    gru = L.GRU(4)
    gru._ensure_built((None, 3, 2))
    assert [w.shape for w in gru.weights] == [(2, 12), (4, 12), (2, 12)]
    gru2 = L.GRU(4, reset_after=False)
    gru2._ensure_built((None, 3, 2))
    assert gru2.weights[2].shape == (12,)
    bi = L.Bidirectional(L.SimpleRNN(2, return_sequences=True, return_state=True), merge_mode=None)
    bi._ensure_built((None, 3, 5))
    assert len(bi.get_weights()) == 6
    assert bi.compute_output_shape((None, 3, 5)) == [(None, 3, 2)] * 2 + [(None, 2)] * 2
    assert L.LSTM(3, return_state=True).compute_output_shape((None, 7, 2)) == [
        (None, 3),
        (None, 3),
        (None, 3),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer = make_rnn(kind, 3, dropout=0.1, return_sequences=True, go_backwards=True)
    cfg = layer.get_config()
    again = type(layer).from_config(cfg)
    assert again.get_config() == cfg
    bi = L.Bidirectional(layer, merge_mode="sum")
    assert L.Bidirectional.from_config(bi.get_config()).get_config() == bi.get_config()


def test_bad_input_rank_names_layer():
    inp = L.Input((8,))
    with pytest.raises(ShapeError, match=r"'my_lstm' \(LSTM\) expects input of shape.*\(None, 8\)"):
        L.LSTM(3, name="my_lstm")(inp)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.LSTM(0), "units must be a positive integer"),
        (lambda: L.GRU(3, dropout=1.5), r"dropout must be a number in \[0, 1\)"),
        (lambda: L.SimpleRNN(3, recurrent_dropout=-0.1), "recurrent_dropout must be"),
        (lambda: L.LSTM(3, activation="nope"), "nope"),
        (lambda: L.LSTM(3, stateful=True), "stateful=True is not supported"),
        (lambda: L.Bidirectional(L.Dense(3)), "wraps a SimpleRNN, LSTM or GRU"),
        (lambda: L.Bidirectional(L.LSTM(3), merge_mode="max"), "merge_mode must be one of"),
    ],
)
def test_bad_configs(make, message):
    with pytest.raises(dl.errors.DuallearnError, match=message):
        make()
    assert issubclass(ConfigError, dl.errors.DuallearnError)


# ---- initial_state ---------------------------------------------------------------------------


@given(
    kind=st.sampled_from(KINDS),
    go_backwards=st.booleans(),
    return_state=st.booleans(),
    dtype=DTYPES,
    data=st.data(),
    seed=SEEDS,
)
def test_initial_state(kind, go_backwards, return_state, dtype, data, seed):
    """Gradients flow to the initial states too (fused kernels and cell loops)."""
    batch = data.draw(st.integers(1, 2))
    x = _x(data.draw, (batch, 3, 2), dtype)
    n_states = 2 if kind == "LSTM" else 1
    states = [_x(data.draw, (batch, 4), dtype) for _ in range(n_states)]

    def make():
        return make_rnn(kind, 4, go_backwards=go_backwards, return_state=return_state)

    check_layer(make, [x, *states], dtype=dtype, kind="forward", seed=seed)


def test_seq2seq_initial_state_matches_keras(backend):
    rng = np.random.default_rng(2)
    enc = rng.standard_normal((3, 5, 4)).astype(np.float32)
    dec = rng.standard_normal((3, 6, 2)).astype(np.float32)
    ke, kd = keras.Input((5, 4)), keras.Input((6, 2))
    _, kh, kc = keras.layers.LSTM(3, return_state=True)(ke)
    kout = keras.layers.LSTM(3, return_sequences=True)(kd, initial_state=[kh, kc])
    km = keras.Model([ke, kd], kout)
    km.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32)
                    for w in km.get_weights()])  # fmt: skip
    de, dd = L.Input((5, 4)), L.Input((6, 2))
    _, dh, dc = L.LSTM(3, return_state=True)(de)
    dm = dl.Model([de, dd], L.LSTM(3, return_sequences=True)(dd, initial_state=[dh, dc]))
    set_keras_weights_and_compare(dm, km, [enc, dec])


def test_initial_state_errors():
    with pytest.raises(ConfigError, match=r"takes 2 initial state tensor\(s\) \(\[h, c\]\)"):
        L.LSTM(3)(L.Input((4, 2)), initial_state=[L.Input((3,))])
    with pytest.raises(ShapeError, match=r"initial states of shape \(batch, 3\)"):
        L.GRU(3)(L.Input((4, 2)), initial_state=L.Input((5,)))
    with pytest.raises(ConfigError, match="initial states are not supported"):
        L.Bidirectional(L.GRU(3))([L.Input((4, 2)), L.Input((3,)), L.Input((3,))])


# ---- in models: deterministic training and masks from Embedding --------------------------------


@pytest.mark.skipif(len(BACKENDS) < 2, reason="needs both backends")
def test_deterministic_training_with_rnn_dropout_is_identical_across_backends():
    dl.config.set_floatx("float64")
    dl.config.set_deterministic(True)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 5, 3)), rng.integers(0, 3, 16)
    weights = {}
    for backend in BACKENDS:
        dl.set_random_seed(0)
        model = dl.Sequential(
            [
                L.Input((5, 3)),
                L.Bidirectional(
                    L.LSTM(4, dropout=0.3, recurrent_dropout=0.2, return_sequences=True)
                ),
                L.GRU(3, dropout=0.2),
                L.Dense(3),
            ],
            backend=backend,
        )
        model.compile(optimizer="adam", loss=dl.losses.SparseCategoricalCrossentropy(True))
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        weights[backend] = model.get_weights()
    first, *others = BACKENDS
    for other in others:
        for a, b in zip(weights[first], weights[other], strict=True):
            assert_close(f"{other} vs {first} weights", b, a, "float64", "params_10")


def test_embedding_mask_reaches_rnn_like_keras(backend):
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 9, (4, 6))
    ids[0, 3:] = 0
    ids[2, 1:] = 0
    kin = keras.Input((6,), dtype="int32")
    kx = keras.layers.Embedding(9, 3, mask_zero=True)(kin)
    kx = keras.layers.GRU(4, return_sequences=True, bias_initializer="random_normal")(kx)
    km = keras.Model(kin, keras.layers.LSTM(2)(kx))
    din = L.Input((6,), dtype="int32")
    dx = L.Embedding(9, 3, mask_zero=True)(din)
    dm = dl.Model(din, L.LSTM(2)(L.GRU(4, return_sequences=True)(dx)))
    set_keras_weights_and_compare(dm, km, ids)


def test_embedding_mask_reaches_bidirectional_like_keras(backend):
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 9, (4, 6))
    ids[1, 2:] = 0
    ids[3, 4:] = 0
    kin = keras.Input((6,), dtype="int32")
    kx = keras.layers.Embedding(9, 3, mask_zero=True)(kin)
    kx = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True))(kx)
    km = keras.Model(kin, keras.layers.Bidirectional(keras.layers.GRU(2), merge_mode="sum")(kx))
    din = L.Input((6,), dtype="int32")
    dx = L.Embedding(9, 3, mask_zero=True)(din)
    dx = L.Bidirectional(L.LSTM(3, return_sequences=True))(dx)
    dm = dl.Model(din, L.Bidirectional(L.GRU(2), merge_mode="sum")(dx))
    set_keras_weights_and_compare(dm, km, ids)


# ---- PyTorch behaviour by explicit argument: two biases ----------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "SimpleRNN"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_recurrent_bias_parity(kind, dtype):
    x = np.random.default_rng(3).standard_normal((2, 4, 3))

    def make():
        return getattr(L, kind)(
            3, use_recurrent_bias=True, bias_initializer="random_normal", return_sequences=True
        )

    check_layer(make, x, dtype=dtype, kind="forward")


@pytest.mark.skipif("torch" not in BACKENDS, reason="needs torch")
@pytest.mark.parametrize("kind", ["LSTM", "SimpleRNN", "GRU"])
def test_imported_torch_rnn_matches_pytorch(kind):
    """nn.LSTM / nn.RNN / nn.GRU weights mapped per docs give PyTorch's outputs and
    gradients (two trainable biases via use_recurrent_bias; GRU's bias rows)."""
    import torch

    config.set_floatx("float64")
    torch.manual_seed(0)
    mod = {"LSTM": torch.nn.LSTM, "SimpleRNN": torch.nn.RNN, "GRU": torch.nn.GRU}[kind](
        3, 4, batch_first=True, dtype=torch.float64
    )
    p = {n: t.detach().numpy() for n, t in mod.named_parameters()}
    perm = (
        (lambda a: np.concatenate([a[4:8], a[0:4], a[8:]], axis=0))
        if kind == "GRU"
        else (lambda a: a)
    )  # fmt: skip  (torch r|z|n -> Keras z|r|h)
    weights = [perm(p["weight_ih_l0"]).T, perm(p["weight_hh_l0"]).T]
    if kind == "GRU":
        weights.append(np.stack([perm(p["bias_ih_l0"]), perm(p["bias_hh_l0"])]))
        layer = L.GRU(4, return_sequences=True)
    else:
        weights += [p["bias_ih_l0"], p["bias_hh_l0"]]
        layer = getattr(L, kind)(4, return_sequences=True, use_recurrent_bias=True)
    inp = L.Input((5, 3))
    model = dl.Model(inp, layer(inp), backend="torch")
    model.set_weights(weights)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    theirs, _ = mod(torch.tensor(x))
    assert_close("vs PyTorch", model.predict(x, verbose=0), theirs.detach().numpy(), "float64")
    cot = np.random.default_rng(1).standard_normal((2, 5, 4))
    (theirs * torch.tensor(cot)).sum().backward()
    _, dw = model._get_runtime().input_gradients([x], [cot])
    g = {n: t.grad.numpy() for n, t in mod.named_parameters()}
    expected = [perm(g["weight_ih_l0"]).T, perm(g["weight_hh_l0"]).T]
    if kind == "GRU":
        expected.append(np.stack([perm(g["bias_ih_l0"]), perm(g["bias_hh_l0"])]))
    else:
        expected += [g["bias_ih_l0"], g["bias_hh_l0"]]
    for a, b in zip(dw, expected, strict=True):
        assert_close("gradient vs PyTorch", a, b, "float64", "gradient")


# ---- initial state and a Keras mask together ------------------------------------------------


def _with_state_native(backend, kind, kw, x, init, mask, weights, cot):
    """Output and VJP ``(y, [dx, *d_init], dw canonical)`` of the native layer on
    ``[x, *init]`` with an explicit Keras mask, weights ``weights`` (Keras's layout)."""
    from duallearn.testing import build_single

    model = build_single(lambda: make_rnn(kind, 3, **kw), [x], backend)
    model.set_weights(weights)
    mod = next(m for m in model._get_runtime().net.layers_ if getattr(m, "dl_vars", None))
    if backend == "torch":
        import torch

        ins = [torch.tensor(a, requires_grad=True) for a in [x, *init]]
        y = mod.forward(ins, False, None, mask=torch.tensor(mask))
        grads = torch.autograd.grad((y * torch.tensor(cot)).sum(), [*ins, *mod.dl_vars])
        dw = [mod.to_canonical(i, g.numpy()) for i, g in enumerate(grads[len(ins) :])]
        return y.detach().numpy(), [g.numpy() for g in grads[: len(ins)]], dw
    import tensorflow as tf

    ins = [tf.constant(a) for a in [x, *init]]
    with tf.GradientTape() as tape:
        tape.watch(ins)
        y = mod.forward(ins, False, None, mask=tf.constant(mask))
        s = tf.reduce_sum(y * tf.constant(cot))
    grads = tape.gradient(s, [*ins, *mod.dl_vars])
    dw = [mod.to_canonical(i, np.asarray(g)) for i, g in enumerate(grads[len(ins) :])]
    return np.asarray(y), [np.asarray(g) for g in grads[: len(ins)]], dw


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "kw",
    [{"return_sequences": True}, {"return_sequences": True, "go_backwards": True}, {}],
    ids=["seq", "seq-backwards", "last"],
)
@pytest.mark.parametrize("backend", [*BACKENDS, "numpy reference"])
def test_initial_state_with_a_mask_matches_keras(backend, kind, kw):
    """With an initial state and a Keras mask, a masked step before the first kept one
    outputs zeros, not the initial h (Keras outputs the previous output, zeros at the
    start: zero_output_for_mask=False); a row with no kept step outputs zeros while its
    states stay the initial ones. Output and gradients (input, initial states, weights) vs
    Keras 3 in float64."""
    import tensorflow as tf

    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5, 2))
    n_states = 2 if kind == "LSTM" else 1
    init = [rng.standard_normal((3, 3)) for _ in range(n_states)]
    mask = np.array([[0, 0, 1, 1, 0], [1, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)
    kl = _keras_layer(kind, 3, bias_initializer="random_normal", dtype="float64", **kw)
    ins = [tf.constant(a) for a in [x, *init]]
    with tf.GradientTape() as tape:
        tape.watch(ins)
        ky = kl(ins[0], mask=tf.constant(mask), initial_state=ins[1:])
        cot = rng.standard_normal(ky.shape)
        s = tf.reduce_sum(ky * tf.constant(cot))
    kgrads = tape.gradient(s, [*ins, *kl.trainable_weights])
    ky = np.asarray(ky)
    if kw.get("return_sequences"):  # the behaviour in question (outputs in processing order)
        lead = 1 if kw.get("go_backwards") else 2  # row 0's masked steps before its first kept
        assert np.all(ky[2] == 0.0) and np.all(ky[0, :lead] == 0.0) and np.all(ky[0, lead] != 0)
    weights = [np.asarray(w) for w in kl.get_weights()]
    dl.config.set_floatx("float64")
    if backend == "numpy reference":
        spec = make_rnn(kind, 3, **kw)
        spec._ensure_built((None, 5, 2))
        y = spec.reference(weights, [x, *init], False, None, mask=mask)
        d_in, dw = spec.reference_backward(weights, [x, *init], y, cot, False, None, mask=mask)
    else:
        y, d_in, dw = _with_state_native(backend, kind, kw, x, init, mask, weights, cot)
    label = f"{kind} {kw} with initial state and mask, {backend} vs Keras"
    assert_close(f"{label}: output", y, ky, "float64", "forward")
    for i, (a, b) in enumerate(zip(d_in, kgrads[: len(ins)], strict=True)):
        assert_close(f"{label}: d(input {i})", a, np.asarray(b), "float64", "gradient")
    assert len(dw) == len(kgrads) - len(ins)
    for i, (a, b) in enumerate(zip(dw, kgrads[len(ins) :], strict=True)):
        assert_close(f"{label}: d(weight {i})", a, np.asarray(b), "float64", "gradient")
