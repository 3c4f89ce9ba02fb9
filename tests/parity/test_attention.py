"""MultiHeadAttention and Attention: forward, input and weight gradients vs the numpy
reference and across backends, Keras masks, causal masks, deterministic dropout, real Keras 3."""

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
from duallearn.plugin import StepNoise
from duallearn.testing import (
    assert_close,
    build_single,
    check_layer,
    reference,
    set_keras_weights_and_compare,
    tolerance,
)

from ..conftest import BACKENDS
from . import _draw
from ._draw import DTYPES, SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers


def check_with_zero_grads(make, inputs, dtype="float64", training=False, noise=None, seed=0):
    """``check_layer`` for the forward; gradients compared here because MultiHeadAttention's
    key bias has an identically zero gradient (softmax is shift-invariant per query row): it
    is checked against a bound scaled by the largest weight gradient instead of by itself."""
    errs = check_layer(
        make, inputs, dtype=dtype, training=training, noise=noise, kind="forward", grad=False,
        seed=seed,
    )  # fmt: skip
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in map(np.asarray, inputs)]
    previous = config.floatx()
    config.set_floatx(dtype)
    try:
        results = {}
        for name in BACKENDS:
            dl.set_random_seed(seed)
            model = build_single(make, arrays, name)
            w64 = [np.asarray(w, np.float64) for w in model.get_weights()]
            x64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
            ref_out, _ = reference.forward(model, w64, x64, training, noise)
            rng = np.random.default_rng(seed + 1)
            cot = [rng.standard_normal(o.shape) for o in ref_out]
            rdx, rdw = reference.backward(model, w64, x64, cot, training, noise)
            step = StepNoise(dict(noise)) if noise else None
            dx, dw = model._get_runtime().input_gradients(
                arrays, [c.astype(dtype) for c in cot], training, step
            )
            # an input gradient that is identically zero (one key: softmax = 1, so the query
            # has no gradient) is judged against the layer's largest gradient, as check_layer
            scale = max(float(np.max(np.abs(r))) for r in rdw)
            for i, (g, r) in enumerate(zip(dx, rdx, strict=True)):
                if arrays[i].dtype.kind == "f":
                    gs = max(scale, float(np.max(np.abs(r))) if r.size else 0.0)
                    assert_close(f"{name} d(input {i})", g, r, dtype, "gradient", scale=gs)
            names = [w.name for w in model.layers[-1].trainable_weights]
            for wname, g, r in zip(names, dw, rdw, strict=True):
                if wname == "key_bias":
                    bound = 10 * config_tol(dtype) * scale
                    assert np.max(np.abs(g)) <= bound, (name, wname, np.max(np.abs(g)))
                else:
                    assert_close(f"{name} d({wname})", g, r, dtype, "gradient", scale=scale)
            results[name] = dw
            errs[f"{name}/dw"] = max(
                float(np.max(np.abs(g - r))) / (float(np.max(np.abs(r))) or 1.0)
                for wname, g, r in zip(names, dw, rdw, strict=True)
                if wname != "key_bias"
            )
    finally:
        config.set_floatx(previous)
    return errs


def config_tol(dtype):
    return tolerance("gradient", dtype).atol_s


def _x(rng, *shape):
    return rng.standard_normal(shape)


# Drawn inputs (tests/parity/_draw.py) at magnitudes 1 and 1e-2: at 1e3 the scores saturate the
# softmax and a gradient is a cancellation of 1e6-size terms (test_oracle_layers.py's attention
# rule); exact zeros, repeated entries (tied scores), batches of one, masks with rows of zeros.
ATT_SCALES = (1.0, 1e-2)


def _v(draw, shape, dtype):
    return _draw.values(draw, shape, ATT_SCALES, dtype=dtype)


@given(
    heads=st.integers(1, 3),
    key_dim=st.integers(1, 4),
    value_dim=st.sampled_from([None, 3]),
    output_shape=st.sampled_from([None, 5]),
    shape=st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 5)),
    separate_key=st.booleans(),
    causal=st.booleans(),
    scores=st.booleans(),
    with_mask=st.booleans(),
    use_bias=st.booleans(),
    dtype=DTYPES,
    data=st.data(),
    seed=SEEDS,
)
def test_multi_head_attention(
    heads, key_dim, value_dim, output_shape, shape, separate_key, causal, scores, with_mask,
    use_bias, dtype, data, seed,
):  # fmt: skip
    b, tq, tv = shape
    q, v = _v(data.draw, (b, tq, 3), dtype), _v(data.draw, (b, tv, 4), dtype)
    inputs = [q, v, _v(data.draw, (b, tv, 2), dtype) if separate_key else v]
    if with_mask:
        am = data.draw(hnp.arrays(np.int32, (b, tq, tv), elements=st.integers(0, 1)))
        am[0, 0] = 0  # a fully masked row always: uniform weights, as in Keras
        inputs.append(am)

    def make():
        return L.MultiHeadAttention(
            heads, key_dim, value_dim=value_dim, output_shape=output_shape, use_bias=use_bias,
            use_causal_mask=causal, return_attention_scores=scores,
            bias_initializer="random_normal",
        )  # fmt: skip

    check_with_zero_grads(make, inputs, dtype=dtype, seed=seed)


@given(
    use_scale=st.booleans(),
    score_mode=st.sampled_from(["dot", "concat"]),
    shape=st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 5)),
    separate_key=st.booleans(),
    causal=st.booleans(),
    scores=st.booleans(),
    dtype=DTYPES,
    data=st.data(),
    seed=SEEDS,
)
def test_attention(use_scale, score_mode, shape, separate_key, causal, scores, dtype, data, seed):
    b, tq, tv = shape
    q, v = _v(data.draw, (b, tq, 3), dtype), _v(data.draw, (b, tv, 5), dtype)
    key = _v(data.draw, (b, tv, 3), dtype)
    inputs = [q, v, key] if separate_key else [q, key]

    def make():
        return L.Attention(
            use_scale=use_scale, score_mode=score_mode, use_causal_mask=causal,
            return_attention_scores=scores,
        )  # fmt: skip

    check_layer(make, inputs, dtype=dtype, kind="forward", seed=seed)


@pytest.mark.parametrize("training", [True, False])
def test_deterministic_dropout(training):
    rng = np.random.default_rng(4)
    q, v = _x(rng, 2, 3, 4), _x(rng, 2, 5, 4)
    mha = L.MultiHeadAttention(2, 3, dropout=0.4)
    mha(L.Input((3, 4)), L.Input((5, 4)))
    noise = mha.draw_noise(rng, mha.noise_shape_for((2, 3, 4)))
    assert noise.shape == (2, 2, 3, 5)
    check_with_zero_grads(
        lambda: L.MultiHeadAttention(2, 3, dropout=0.4), [q, v], training=training,
        noise={0: noise},
    )  # fmt: skip
    att = L.Attention(dropout=0.3)
    att([L.Input((3, 4)), L.Input((5, 4))])
    noise = att.draw_noise(rng, att.noise_shape_for((2, 3, 4)))
    check_layer(lambda: L.Attention(dropout=0.3), [q, v], training=training, noise={0: noise})


# ---- Keras masks (query/value/key masks from Embedding(mask_zero=True)) --------------------


def _native(backend, make, inputs, masks, cot):
    dl.set_random_seed(0)
    model = build_single(make, inputs, backend)
    mod = next(m for m in model._get_runtime().net.layers_ if type(m).__name__.endswith("ion"))
    if backend == "torch":
        import torch

        xs = [torch.tensor(a, requires_grad=True) for a in inputs]
        out = mod.forward(xs, False, None, mask=[torch.tensor(m) for m in masks])
        outs = out if isinstance(out, list) else [out]
        s = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, cot, strict=True))
        g = torch.autograd.grad(s, xs)
        return model, [o.detach().numpy() for o in outs], [a.numpy() for a in g]
    import tensorflow as tf

    xs = [tf.constant(a) for a in inputs]
    with tf.GradientTape() as tape:
        for x in xs:
            tape.watch(x)
        out = mod.forward(xs, False, None, mask=[tf.constant(m) for m in masks])
        outs = out if isinstance(out, list) else [out]
        s = tf.add_n([tf.reduce_sum(o * tf.constant(c)) for o, c in zip(outs, cot, strict=True)])
    g = tape.gradient(s, xs)
    return model, [o.numpy() for o in outs], [a.numpy() for a in g]


@pytest.mark.parametrize("layer", ["mha", "attention"])
@pytest.mark.parametrize("causal", [False, True])
@given(
    qvk=st.tuples(*(_draw.arrays(s, ATT_SCALES) for s in [(2, 4, 3), (2, 5, 3), (2, 5, 3)])),
    masks=st.tuples(*(hnp.arrays(np.bool_, s) for s in [(2, 4), (2, 5), (2, 5)])),
    seed=SEEDS,
)
def test_keras_masks(layer, causal, qvk, masks, seed):
    """Drawn query/value/key masks: rows of zeros included (every key masked: uniform
    weights over the keys, as Keras; a masked query: its output is not masked, as Keras)."""
    rng = np.random.default_rng(seed)
    q, v, k = qvk
    masks = list(masks)

    def make():
        if layer == "mha":
            return L.MultiHeadAttention(2, 2, use_causal_mask=causal)
        return L.Attention(use_scale=True, use_causal_mask=causal)

    config.set_floatx("float64")
    for backend in BACKENDS:
        dl.set_random_seed(0)
        model = build_single(make, [q, v, k], backend)
        spec = model.layers[-1]
        w = [np.asarray(a) for a in model.get_weights()]
        ref = spec.reference(w, [q, v, k], False, None, mask=masks)
        cot = [rng.standard_normal(ref.shape)]
        rdx, _ = spec.reference_backward(w, [q, v, k], ref, cot[0], False, None, mask=masks)
        _, outs, dx = _native(backend, make, [q, v, k], masks, cot)
        assert_close(f"{backend} masked output", outs[0], ref, "float64", "forward")
        for g, r in zip(dx, rdx, strict=True):
            assert_close(f"{backend} masked d(input)", g, r, "float64", "gradient")


# ---- real Keras 3 -----------------------------------------------------------------------------

keras = importlib.import_module("keras")


@pytest.mark.parametrize(
    "kw",
    [{}, {"use_causal_mask": True}, {"return_attention_scores": True}, {"attention_mask": True}],
    ids=["plain", "causal", "scores", "attention_mask"],
)
def test_multi_head_attention_matches_keras(backend, kw):
    rng = np.random.default_rng(5)
    q = rng.standard_normal((3, 4, 6)).astype(np.float32)
    v = rng.standard_normal((3, 5, 4)).astype(np.float32)
    k = rng.standard_normal((3, 5, 2)).astype(np.float32)
    am = (rng.random((3, 4, 5)) > 0.3).astype(np.float32)
    call = {key: val for key, val in kw.items() if key != "attention_mask"}
    kq, kv, kk, kam = (
        keras.Input((4, 6)),
        keras.Input((5, 4)),
        keras.Input((5, 2)),
        keras.Input((4, 5)),
    )
    kl = keras.layers.MultiHeadAttention(3, 2, value_dim=3, bias_initializer="random_normal")
    kins = [kq, kv, kk] + ([kam] if "attention_mask" in kw else [])
    kout = kl(kq, kv, key=kk, attention_mask=kam if "attention_mask" in kw else None, **call)
    km = keras.Model(kins, list(kout) if isinstance(kout, (list, tuple)) else kout)
    dq, dv, dk, dam = L.Input((4, 6)), L.Input((5, 4)), L.Input((5, 2)), L.Input((4, 5))
    dins = [dq, dv, dk] + ([dam] if "attention_mask" in kw else [])
    dout = L.MultiHeadAttention(3, 2, value_dim=3)(
        dq, dv, key=dk, attention_mask=dam if "attention_mask" in kw else None, **call
    )
    dm = dl.Model(dins, dout)
    assert [w.shape for w in dm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    xs = [q, v, k] + ([am] if "attention_mask" in kw else [])
    set_keras_weights_and_compare(dm, km, xs)


@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
def test_attention_matches_keras(backend, score_mode, use_scale):
    rng = np.random.default_rng(6)
    q = rng.standard_normal((3, 4, 3)).astype(np.float32)
    v = rng.standard_normal((3, 5, 2)).astype(np.float32)
    k = rng.standard_normal((3, 5, 3)).astype(np.float32)
    kq, kv, kk = keras.Input((4, 3)), keras.Input((5, 2)), keras.Input((5, 3))
    kl = keras.layers.Attention(use_scale=use_scale, score_mode=score_mode)
    km = keras.Model([kq, kv, kk], kl([kq, kv, kk], use_causal_mask=True))
    if use_scale:
        km.set_weights([np.array(0.7, np.float32)] + [np.array(1.3, np.float32)] * (
            score_mode == "concat"))  # fmt: skip
    dq, dv, dk = L.Input((4, 3)), L.Input((5, 2)), L.Input((5, 3))
    dm = dl.Model(
        [dq, dv, dk],
        L.Attention(use_scale=use_scale, score_mode=score_mode)([dq, dv, dk], use_causal_mask=True),
    )
    set_keras_weights_and_compare(dm, km, [q, v, k])


@pytest.mark.parametrize("layer", ["mha", "attention"])
def test_keras_masks_match_reference(layer):
    rng = np.random.default_rng(12)
    q = rng.standard_normal((2, 4, 3)).astype(np.float32)
    v = rng.standard_normal((2, 5, 3)).astype(np.float32)
    qm = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
    vm = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 1, 1]], bool)
    q, v = q * qm[..., None], v * vm[..., None]  # masked steps are zero (Masking below)
    if layer == "mha":
        # Keras's MultiHeadAttention reads the query mask from the query's Keras mask only
        # (an explicit query_mask argument is overwritten), so the masks come from Masking.
        kl = keras.layers.MultiHeadAttention(2, 2, bias_initializer="random_normal")
        masking = keras.layers.Masking(0.0)
        theirs = np.asarray(kl(masking(q), masking(v)))
        ours = L.MultiHeadAttention(2, 2)
        ours(L.Input((4, 3)), L.Input((5, 3)))
    else:
        kl = keras.layers.Attention(use_scale=True)
        theirs = np.asarray(kl([q, v], mask=[qm, vm]))
        ours = L.Attention(use_scale=True)
        ours([L.Input((4, 3)), L.Input((5, 3))])
    w = [np.asarray(a, np.float64) for a in kl.get_weights()]
    ref = ours.reference(w, [q.astype(np.float64), v.astype(np.float64), v], mask=[qm, vm, vm])
    assert_close("reference vs Keras with masks", ref, theirs, "float32", "forward")


# ---- configuration and errors -----------------------------------------------------------------


def test_config_round_trip_and_shapes():
    mha = L.MultiHeadAttention(2, 3, value_dim=4, output_shape=7, dropout=0.1)
    out = mha(L.Input((5, 6)), L.Input((9, 8)), return_attention_scores=True)
    assert [t.shape for t in out] == [(None, 5, 7), (None, 2, 5, 9)]
    assert [w.shape for w in mha.weights] == [
        (6, 2, 3), (2, 3), (8, 2, 3), (2, 3), (8, 2, 4), (2, 4), (2, 4, 7), (7,),
    ]  # fmt: skip
    cfg = mha.get_config()
    assert L.MultiHeadAttention.from_config(cfg).get_config() == cfg
    att = L.Attention(use_scale=True, score_mode="concat")
    y = att([L.Input((5, 6)), L.Input((9, 2)), L.Input((9, 6))])
    assert y.shape == (None, 5, 2)
    assert [w.shape for w in att.weights] == [(), ()]
    assert L.Attention.from_config(att.get_config()).get_config() == att.get_config()


def test_errors():
    with pytest.raises(ShapeError, match=r"'mha' \(MultiHeadAttention\) expects query of shape"):
        L.MultiHeadAttention(2, 2, name="mha")(L.Input((4,)), L.Input((5, 3)))
    with pytest.raises(ShapeError, match="same last dimension"):
        L.Attention()([L.Input((4, 3)), L.Input((5, 2))])
    with pytest.raises(ConfigError, match="score_mode must be one of"):
        L.Attention(score_mode="add")
    with pytest.raises(ConfigError, match="num_heads must be a positive integer"):
        L.MultiHeadAttention(0, 2)
    with pytest.raises(ConfigError, match="needs a value input"):
        L.MultiHeadAttention(2, 2)(L.Input((4, 3)))
    with pytest.raises(ConfigError, match=r"dropout must be a number in \[0, 1\)"):
        L.Attention(dropout=1.0)


# ---- in models: a transformer block, gradients vs numpy, save and load ---------------------


def test_transformer_block_gradients_and_save_round_trip(backend, tmp_path):
    config.set_floatx("float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 8))
    inp = L.Input((5, 8))
    a = L.MultiHeadAttention(2, 4)(inp, inp, use_causal_mask=True)
    h = L.LayerNormalization()(L.Add()([inp, a]))
    h = L.Add()([h, L.Dense(8)(L.Dense(16, activation="gelu")(h))])
    out = L.Dense(2)(L.Bidirectional(L.GRU(3), merge_mode="ave")(h))
    model = dl.Model(inp, out)
    w = model.get_weights()
    ref, _ = reference.forward(model, w, [x])
    assert_close("block forward", model.predict(x, verbose=0), ref[0], "float64", "forward")
    cot = [rng.standard_normal(ref[0].shape)]
    rdx, rdw = reference.backward(model, w, [x], cot)
    dx, dw = model._get_runtime().input_gradients([x], cot)
    assert_close("block dx", dx[0], rdx[0], "float64", "gradient")
    scale = max(float(np.max(np.abs(r))) for r in rdw)
    names = [w.name for w in model.trainable_weights]
    for i, (name, g, r) in enumerate(zip(names, dw, rdw, strict=True)):
        if name == "key_bias":  # identically zero (check_with_zero_grads's bound)
            assert np.max(np.abs(g)) <= 10 * config_tol("float64") * scale, (i, name)
        else:
            assert_close(f"block d(weight {i})", g, r, "float64", "gradient")
    path = tmp_path / "block.dlm"
    model.save(path)
    again = dl.saving.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
