"""The fast paths of issue 20 ("no Python per batch that the engine could do") give the
numbers of the paths they replace.

- TensorFlow SimpleRNN, GRU (``reset_after`` True and False) and LSTM run every call as one
  ``tf.while_loop`` whose step does the input and recurrent GEMMs over all gates (formerly:
  the per-gate cell in a ``tf.scan`` for SimpleRNN and GRU, and for LSTM under a Keras mask or
  recurrent dropout). Checked on both backends against real Keras 3 (TensorFlow backend)
  holding the same weights: outputs and the gradients of ``sum(y·cot)`` for the input and
  every weight, float32 rows of the tolerance table, with Keras masks, ``go_backwards``,
  ``return_sequences``/``return_state`` and initial states; and against the float64 numpy
  reference (``layer`` row) with input and recurrent dropout masks, alone and under a Keras
  mask.
- torch ``Runtime.predict_many`` (inputs converted once, outputs concatenated as tensors and
  read back once) equals one ``Runtime.predict`` per batch bit for bit.
"""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

import duallearn as dl
from duallearn import config
from duallearn.testing import assert_close, build_single, check_layer

from ..conftest import BACKENDS
from .test_predict_grouped import MODELS, _data

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
L = dl.layers
KINDS = ["SimpleRNN", "GRU", "GRU_before", "LSTM"]


def _ours(kind, units, **kw):
    if kind == "GRU_before":
        return L.GRU(units, reset_after=False, **kw)
    return getattr(L, kind)(units, **kw)


def _keras_layer(keras, kind, units, **kw):
    if kind == "GRU_before":
        return keras.layers.GRU(units, reset_after=False, **kw)
    return getattr(keras.layers, kind)(units, **kw)


def _native_pass(backend, make, xs, mask, cots, training=False, noise=None):
    """The native layer of ``make()`` on ``backend`` called with ``xs`` (the sequence, then any
    initial states), an explicit Keras ``mask`` (or None) and dropout ``noise`` (or None):
    ``(outputs, d(inputs), d(weights) canonical, weights)`` for ``sum(Σ y·cot)``."""
    dl.set_random_seed(0)
    model = build_single(make, xs, backend)
    mod = next(m for m in model._get_runtime().net.layers_ if getattr(m, "dl_vars", None))
    kw = {} if mask is None else {"mask": mask}
    x_arg = lambda ts: ts if len(ts) > 1 else ts[0]  # noqa: E731
    if backend == "torch":
        import torch

        ts = [torch.tensor(a, requires_grad=True) for a in xs]
        kw = {k: torch.tensor(v) for k, v in kw.items()}
        nt = None if noise is None else torch.tensor(noise)
        out = mod.forward(x_arg(ts), training, nt, **kw)
        outs = out if isinstance(out, list) else [out]
        s = sum((o * torch.tensor(c)).sum() for o, c in zip(outs, cots, strict=True))
        grads = [g.numpy() for g in torch.autograd.grad(s, [*ts, *mod.dl_vars])]
        outs = [o.detach().numpy() for o in outs]
    else:
        import tensorflow as tf

        ts = [tf.constant(a) for a in xs]
        kw = {k: tf.constant(v) for k, v in kw.items()}
        with tf.GradientTape() as tape:
            tape.watch(ts)
            nt = None if noise is None else tf.constant(noise)
            out = mod.forward(x_arg(ts), training, nt, **kw)
            outs = out if isinstance(out, list) else [out]
            s = tf.add_n(
                [tf.reduce_sum(o * tf.constant(c)) for o, c in zip(outs, cots, strict=True)]
            )
        grads = [g.numpy() for g in tape.gradient(s, [*ts, *mod.dl_vars])]
        outs = [o.numpy() for o in outs]
    n = len(xs)
    dw = [mod.to_canonical(i, g) for i, g in enumerate(grads[n:])]
    return outs, grads[:n], dw, model.get_weights()


def _keras_pass(layer, xs, mask, cots):
    import tensorflow as tf

    ts = [tf.constant(a) for a in xs]
    kw = {} if mask is None else {"mask": tf.constant(mask)}
    with tf.GradientTape() as tape:
        tape.watch(ts)
        if len(ts) > 1:
            out = layer(ts[0], initial_state=ts[1:], **kw)
        else:
            out = layer(ts[0], **kw)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        s = tf.add_n([tf.reduce_sum(o * tf.constant(c)) for o, c in zip(outs, cots, strict=True)])
    grads = tape.gradient(s, [*ts, *layer.trainable_weights])
    return [np.asarray(o) for o in outs], [np.asarray(g) for g in grads]


CASES = {
    "seq": {"return_sequences": True},
    "backwards-last": {"go_backwards": True},
    "mask-seq-state": {"return_sequences": True, "return_state": True, "mask": True},
    "mask-backwards-last": {"go_backwards": True, "mask": True},
    "initial-state-mask": {"return_sequences": True, "init": True, "mask": True},
    # Bidirectional's sublayers: zeros out at masked steps (and as the last output)
    "mask-zero-output-seq": {"return_sequences": True, "zero_output_for_mask": True, "mask": True},
    "mask-zero-output-last": {"zero_output_for_mask": True, "mask": True},
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_matches_keras_forward_and_gradients(backend, kind, case):
    keras = importlib.import_module("keras")
    # the oracle is Keras 3 on TensorFlow (the suite sets KERAS_BACKEND before importing it)
    assert keras.backend.backend() == "tensorflow"
    kw = dict(CASES[case])
    use_mask, use_init = kw.pop("mask", False), kw.pop("init", False)
    rng = np.random.default_rng(len(kind) * 31 + len(case))
    b, t, f, u = 4, 7, 3, 5
    x = rng.standard_normal((b, t, f)).astype(np.float32)
    xs = [x]
    if use_init:
        n_states = 2 if kind == "LSTM" else 1
        xs += [rng.standard_normal((b, u)).astype(np.float32) for _ in range(n_states)]
    mask = None
    if use_mask:
        mask = rng.random((b, t)) > 0.35
        mask[0] = [True, False, True, True, False, False, False]  # padded tail, gap
        mask[1] = True
        if use_init:
            # Keras outputs zeros (not the initial h) at masked steps before the first kept
            # one; duallearn's reference and both backends output the carried h there
            mask[:, 0] = True

    def make():
        return _ours(kind, u, bias_initializer="random_normal", **kw)

    dl.set_random_seed(0)
    probe = build_single(make, xs, backend)
    y = probe.layers[-1].compute_output_shape([a.shape for a in xs] if use_init else x.shape)
    shapes = y if isinstance(y, list) else [y]
    cots = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    outs, dx, dw, weights = _native_pass(backend, make, xs, mask, cots)
    klayer = _keras_layer(keras, kind, u, **kw)
    klayer.build(x.shape)
    klayer.set_weights(weights)
    kouts, kgrads = _keras_pass(klayer, xs, mask, cots)
    label = f"{kind} {case} {backend}"
    assert len(outs) == len(kouts)
    for i, (a, r) in enumerate(zip(outs, kouts, strict=True)):
        assert_close(f"{label} output {i} vs Keras", a, r, "float32", "forward")
    scale = max(float(np.max(np.abs(g))) for g in kgrads)
    for i, (a, r) in enumerate(zip([*dx, *dw], kgrads, strict=True)):
        assert_close(f"{label} gradient {i} vs Keras", a, r, "float32", "gradient", scale=scale)


def _noise(make, shape, seed):
    layer = make()
    layer._ensure_built((None, *shape[1:]))
    return layer.draw_noise(np.random.default_rng(seed), layer.noise_shape_for(shape))


@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)], ids=str)
@pytest.mark.parametrize("kind", KINDS)
def test_dropout_masks_match_the_float64_reference(kind, rates):
    """Input dropout (one mask for every gate, or one per gate with recurrent dropout) and
    recurrent dropout per gate: the float64 numpy reference, ``layer`` row, every backend."""
    x = np.random.default_rng(5).standard_normal((3, 6, 4))

    def make():
        return _ours(kind, 3, dropout=rates[0], recurrent_dropout=rates[1],
                     return_sequences=True, bias_initializer="random_normal")  # fmt: skip

    noise = _noise(make, x.shape, 6)
    check_layer(make, x, dtype="float64", training=True, noise={0: noise}, kind="layer")


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_under_a_keras_mask_matches_the_float64_reference(kind):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 6, 2))
    mask = rng.random((3, 6)) > 0.4
    mask[0, 3:] = False

    def make():
        return _ours(kind, 3, dropout=0.25, recurrent_dropout=0.3, go_backwards=True,
                     return_sequences=True, bias_initializer="random_normal")  # fmt: skip

    noise = _noise(make, x.shape, 12)
    config.set_floatx("float64")
    for backend in BACKENDS:
        spec = build_single(make, [x], backend).layers[-1]
        cot = [rng.standard_normal((3, 6, 3))]
        outs, dx, dw, weights = _native_pass(backend, make, [x], mask, cot, True, noise)
        w = [np.asarray(a, np.float64) for a in weights]
        ref = spec.reference(w, x, True, noise, mask=mask)
        rdx, rdw = spec.reference_backward(w, x, ref, cot[0], True, noise, mask=mask)
        assert_close(f"{kind} {backend} output", outs[0], ref, "float64", "layer")
        assert_close(f"{kind} {backend} dx", dx[0], rdx, "float64", "layer")
        for i, (g, r) in enumerate(zip(dw, rdw, strict=True)):
            assert_close(f"{kind} {backend} dw {i}", g, r, "float64", "layer")


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow backend not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_tensorflow_recurrent_layers_run_the_while_loop(kind, monkeypatch):
    """Every call (no mask, mask, recurrent dropout) goes through ``TFRNN._run``."""
    rnn = importlib.import_module("duallearn_tensorflow._recurrent")
    calls = []
    real = rnn.TFRNN._run
    monkeypatch.setattr(rnn.TFRNN, "_run", lambda self, *a: calls.append(1) or real(self, *a))
    ids = np.array([[3, 4, 0, 0], [1, 2, 3, 4]])
    for layers in (
        [L.Input((4, 2)), _ours(kind, 3)],
        [L.Input((4,), dtype="int64"), L.Embedding(5, 2, mask_zero=True), _ours(kind, 3)],
        [L.Input((4, 2)), _ours(kind, 3, recurrent_dropout=0.5)],
    ):
        with dl.use_backend("tensorflow"):
            model = dl.Sequential(layers)
        x = ids if len(layers) == 3 else np.ones((2, 4, 2), np.float32)
        model._get_runtime().forward([x], training=True)
    assert len(calls) == 3


@pytest.mark.skipif("tensorflow" not in BACKENDS, reason="tensorflow backend not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_tensorflow_recurrent_layers_train_under_xla(kind):
    """``compile(jit_compile=True)``: XLA differentiates the loop (it needs the loop's bound)
    and gives the eager-graph numbers: predictions, then the weights after two Adam steps."""
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 20, (32, 6))
    ids[:, 4:] = 0  # a Keras mask
    y = rng.integers(0, 3, 32)
    models = []
    for jit in (False, True):
        dl.set_random_seed(0)
        with dl.use_backend("tensorflow"):
            model = dl.Sequential(
                [
                    L.Input((6,), dtype="int64"),
                    L.Embedding(20, 4, mask_zero=True),
                    _ours(kind, 5, return_sequences=True),
                    _ours(kind, 5, go_backwards=True),
                    L.Dense(3),
                ]
            )
        model.compile(
            optimizer=dl.optimizers.Adam(1e-2),
            loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    eager, xla = (m.predict(ids, batch_size=16, verbose=0) for m in models)
    assert_close(f"{kind} XLA predict", xla, eager, "float32", "forward")
    for m in models:
        m.fit(ids, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for i, (a, r) in enumerate(zip(models[1].get_weights(), models[0].get_weights(), strict=True)):
        assert_close(f"{kind} XLA weight {i} after 2 steps", a, r, "float32", "params_10")


# ---- torch predict_many -------------------------------------------------------------------------


@pytest.mark.skipif("torch" not in BACKENDS, reason="torch backend not installed")
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("name", list(MODELS))
def test_torch_predict_many_equals_per_batch_predict_bitwise(name, policy, monkeypatch):
    n = 23
    x = _data(name, n, np.random.default_rng(0))
    xs = x if isinstance(x, list) else [x]
    config.set_dtype_policy(policy)
    try:  # the runtime takes the policy that is global when it is built
        with dl.use_backend("torch"):
            model = MODELS[name]()
        model.predict(x, batch_size=5, verbose=0)
    finally:
        config.set_dtype_policy("float32")
    assert model.dtype_policy.name == policy
    rt = model._get_runtime()
    mod = importlib.import_module("duallearn_torch._runtime")
    converted = []
    real = mod.torch.from_numpy
    monkeypatch.setattr(mod.torch, "from_numpy", lambda a: converted.append(1) or real(a))
    # several batches with a partial last one; one batch; a batch larger than the data
    for bs in (5, 23, 64):
        per_batch = [rt.predict([a[i : i + bs] for a in xs]) for i in range(0, n, bs)]
        refs = [np.concatenate([c[k] for c in per_batch]) for k in range(len(per_batch[0]))]
        converted.clear()
        outs = rt.predict_many(xs, bs)
        assert len(converted) == len(xs)  # each input converted once, not once per batch
        assert len(outs) == len(refs)
        for o, r in zip(outs, refs, strict=True):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_array_equal(o, r)


def test_torch_sparse_cross_entropy_from_logits_is_the_gather_formula_bitwise():
    """SparseCategoricalCrossentropy(from_logits=True) on rank-2 logits runs torch's fused
    F.cross_entropy; its values and weighted gradient equal −log_softmax(z)[label] exactly
    (float32 and float64, small and large logits)."""
    import torch

    with dl.use_backend("torch"):
        loss = dl.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
        rng = np.random.default_rng(4)
        for dtype, scale in [("float32", 1.0), ("float32", 300.0), ("float64", 30.0)]:
            z = torch.tensor(rng.normal(size=(33, 7)) * scale, dtype=getattr(torch, dtype))
            z.requires_grad_(True)
            y = torch.tensor(rng.integers(0, 7, size=33))
            w = torch.tensor(rng.uniform(0, 2, size=33), dtype=z.dtype)
            ours = loss(y, z)
            (g_ours,) = torch.autograd.grad((ours * w).sum(), z)
            ref = -torch.gather(torch.log_softmax(z, -1), -1, y[:, None])[:, 0]
            (g_ref,) = torch.autograd.grad((ref * w).sum(), z)
            assert torch.equal(ours, ref), dtype
            assert torch.equal(g_ours, g_ref), dtype
