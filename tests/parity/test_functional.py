"""Functional graphs (residual, two-input two-output, nested) against the same Keras 3 model
through set_weights, and across backends through training; merge layers vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.testing import assert_close, check_layer

from ..conftest import BACKENDS, both
from . import _draw
from ._draw import DTYPES, SEEDS

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"]


@given(
    name=st.sampled_from(MERGES),
    batch=st.integers(1, 3),
    dtype=DTYPES,
    broadcast=st.booleans(),
    normalize=st.booleans(),
    data=st.data(),
    seed=SEEDS,
)
def test_merge_layers(name, batch, dtype, broadcast, normalize, data, seed):
    """Drawn inputs (tests/parity/_draw.py): magnitudes 1, 1e-2, 1e3, exact zeros, batches of
    one. Maximum/Minimum read a maximum: the two inputs never tie (the tie rule)."""
    a = _draw.values(data.draw, (batch, 5), dtype=dtype)
    b = _draw.values(data.draw, (batch, 1 if broadcast and name not in ("Concatenate", "Dot") else 5),
                     dtype=dtype)  # fmt: skip
    if name in ("Maximum", "Minimum"):
        assume(bool(np.all(a.astype(dtype) != b.astype(dtype))))
    if name == "Dot" and normalize:
        # the norm of an all-zero row has no gradient (the square root at 0): not drawn
        assume(bool(np.all(np.any(a != 0, -1) & np.any(b != 0, -1))))
    if name == "Dot":
        make = lambda: dl.layers.Dot(axes=1, normalize=normalize)  # noqa: E731
    else:
        make = getattr(dl.layers, name)
    check_layer(make, [a, b], dtype=dtype, seed=seed)


def _keras():
    import keras

    return keras


def _graphs(lib, Input, Model):  # noqa: N803
    """The three graphs of the issue, built with the same code on keras or duallearn."""
    L = lib.layers
    # residual
    x = Input((6,))
    h = L.Dense(6, activation="relu", name="r1")(x)
    h = L.Dense(6, name="r2")(h)
    res = Model(x, L.Dense(3, name="r_out")(L.Add()([x, h])), name="residual")
    # two inputs, two outputs
    a, b = Input((5,), name="a"), Input((4,), name="b")
    ha = L.Dense(4, activation="tanh", name="ha")(a)
    hb = L.Dense(4, name="hb")(b)
    m = L.Concatenate(name="cat")([ha, hb, L.Multiply()([ha, hb])])
    two = Model([a, b], [L.Dense(2, name="o1")(m), L.Dense(1, name="o2")(L.Subtract()([ha, hb]))])
    # nested
    z = Input((6,))
    inner = Model(z, L.Dense(4, activation="tanh", name="inner_d")(z), name="inner")
    w = Input((6,))
    nested = Model(w, L.Dense(2, name="top")(L.Average()([inner(w), L.Dense(4, name="side")(w)])))
    return res, two, nested


def _dl_graphs(backend):
    with dl.use_backend(backend):
        return _graphs(dl, dl.Input, dl.Model)


def test_layers_order_and_weights_match_keras_3():
    keras = _keras()
    ours = _dl_graphs(BACKENDS[0])
    theirs = _graphs(keras, keras.Input, keras.Model)
    rng = np.random.default_rng(0)
    for o, t in zip(ours, theirs, strict=True):
        assert [type(l).__name__.replace("Functional", "Model") for l in t.layers] == [
            type(l).__name__ for l in o.layers
        ]
        assert [w.shape for w in o.get_weights()] == [tuple(w.shape) for w in t.get_weights()]
        xs = [rng.standard_normal((4, *i.shape[1:])).astype("float32") for i in o.inputs]
        for be in BACKENDS:
            with dl.use_backend(be):
                mine = _dl_graphs(be)[ours.index(o)]
            mine.set_weights(t.get_weights())
            a = mine.predict(xs if len(xs) > 1 else xs[0], verbose=0)
            b = t.predict(xs if len(xs) > 1 else xs[0], verbose=0)
            for p, q in zip(
                a if isinstance(a, list) else [a], b if isinstance(b, list) else [b], strict=True
            ):
                assert_close(f"{o.name} {be} vs keras", p, q, "float32", "forward")


@both()
def test_graphs_train_identically_on_both_backends():
    rng = np.random.default_rng(1)
    dl.config.set_floatx("float64")
    runs = {}
    for be in BACKENDS:
        dl.set_random_seed(3)
        res, two, nested = _dl_graphs(be)
        out = []
        for m in (res, two, nested):
            xs = [np.random.default_rng(5).standard_normal((16, *i.shape[1:])) for i in m.inputs]
            ys = [np.random.default_rng(6).standard_normal((16, *o.shape[1:])) for o in m.outputs]
            multi = len(ys) > 1
            m.compile(
                dl.optimizers.Adam(0.01),
                loss=["mse", "mae"] if multi else "mse",
                loss_weights=[1.0, 0.5] if multi else None,
                metrics=None if multi else ["mae"],
            )
            m.fit(
                xs if len(xs) > 1 else xs[0],
                ys if len(ys) > 1 else ys[0],
                batch_size=4,
                epochs=2,
                verbose=0,
            )
            out.append(m.get_weights())
        runs[be] = out
    for wa, wb in zip(runs[BACKENDS[0]], runs[BACKENDS[1]], strict=True):
        for a, b in zip(wa, wb, strict=True):
            assert_close("weights after 8 steps", b, a, "float64", "params_10")
    del rng


def test_dict_io_intermediate_outputs_summary_and_save(tmp_path):
    a, b = dl.Input((3,), name="a"), dl.Input((2,), name="b")
    h = dl.layers.Dense(4, name="x")(dl.layers.Concatenate()([a, b]))
    m = dl.Model(
        {"a": a, "b": b},
        {"y": dl.layers.Dense(1, name="y")(h), "z": dl.layers.Dense(2, name="z")(h)},
    )
    x = {"a": np.ones((8, 3), "float32"), "b": np.ones((8, 2), "float32")}
    m.compile("sgd", loss={"y": "mse", "z": "mse"}, loss_weights={"y": 1.0, "z": 0.1})
    m.fit(x, {"y": np.zeros((8, 1)), "z": np.zeros((8, 2))}, epochs=1, verbose=0)
    sub = dl.Model(m.inputs, m.get_layer("x").output)
    assert sub.predict(x, verbose=0).shape == (8, 4)
    lines = []
    m.summary(print_fn=lines.append)
    assert "(None, 4)" in lines[0] and "Total params: 39" in lines[0]
    assert "concatenate[0][0]" in lines[0] and "Connected to" in lines[0]
    m.save(tmp_path / "m.dlm")
    again = dl.load_model(tmp_path / "m.dlm")
    got, ref = again.predict(x, verbose=0), m.predict(x, verbose=0)
    assert_close("reloaded z", got["z"], ref["z"], "float32", "layer")  # same weights, float32
    assert m.native is not None


@given(
    plan=st.lists(
        st.tuples(
            st.integers(0, 99), st.integers(0, 99), st.sampled_from(["dense", "add", "shared"])
        ),
        min_size=2,
        max_size=7,
    ),
    n_out=st.integers(1, 2),
    x=st.tuples(_draw.arrays((3, 4), (1.0, 1e-2)), _draw.arrays((3, 4), (1.0, 1e-2))),
)
def test_random_graphs_order_layers_as_keras(plan, n_out, x):
    """Random DAGs (two inputs, shared layers, merges): the same code in Keras and duallearn
    gives the same model.layers order, weight shapes, and outputs after set_weights."""
    keras = _keras()

    def build(lib, Input, Model):  # noqa: N803
        tensors = [Input((4,), name="in0"), Input((4,), name="in1")]
        denses = []
        for k, (p, q, kind) in enumerate(plan):
            a, b = tensors[p % len(tensors)], tensors[q % len(tensors)]
            if kind == "add" and a is not b:
                tensors.append(lib.layers.Add(name=f"add{k}")([a, b]))
            elif kind == "shared" and denses:
                tensors.append(denses[q % len(denses)](a))
            else:
                denses.append(lib.layers.Dense(4, activation="tanh", name=f"dense{k}"))
                tensors.append(denses[-1](a))
        outs = tensors[-n_out:] if len(tensors) - n_out >= 2 else tensors[-1:]
        return Model(tensors[:2], outs if len(outs) > 1 else outs[0])

    theirs = build(keras, keras.Input, keras.Model)
    ours = build(dl, dl.Input, dl.Model)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    x = [a.astype("float32") for a in x]  # drawn (magnitudes 1, 1e-2: tanh layers saturate above)
    ours.set_weights(theirs.get_weights())
    a, b = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    for p, q in zip(
        a if isinstance(a, list) else [a], b if isinstance(b, list) else [b], strict=True
    ):
        assert_close("random graph vs keras", p, q, "float32", "forward")


@pytest.mark.parametrize("name", MERGES + ["Dot_normalize", "Dot_3d", "Concatenate_axis1"])
def test_merge_layers_match_keras(name):
    keras = _keras()
    rng = np.random.default_rng(0)
    shapes = [(4, 5), (4, 1) if name in ("Add", "Multiply", "Maximum") else (4, 5)]
    if name == "Dot_3d":
        shapes = [(4, 3, 5), (4, 2, 5)]
    if name == "Concatenate_axis1":
        shapes = [(4, 2, 3), (4, 1, 3)]
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]

    def make(lib):
        if name.startswith("Dot"):
            return lib.layers.Dot(axes=(2, 2) if name == "Dot_3d" else 1, normalize="norm" in name)
        if name == "Concatenate_axis1":
            return lib.layers.Concatenate(axis=1)
        return getattr(lib.layers, name)()

    ki = [keras.Input(s[1:]) for s in shapes]
    km = keras.Model(ki, make(keras)(ki))
    di = [dl.Input(s[1:]) for s in shapes]
    dm = dl.Model(di, make(dl)(di))
    assert dm.outputs[0].shape == tuple(km.outputs[0].shape)
    assert_close(
        f"{name} vs keras", dm.predict(xs, verbose=0), km.predict(xs, verbose=0), "float32", "layer"
    )


@both()
def test_frozen_nested_model_does_not_train():
    dl.config.set_floatx("float64")
    ws = {}
    for be in BACKENDS:
        dl.set_random_seed(8)
        with dl.use_backend(be):
            z = dl.Input((3,))
            inner = dl.Model(z, dl.layers.Dense(3, name="frozen")(z))
            inner.trainable = False
            w = dl.Input((3,))
            m = dl.Model(w, dl.layers.Dense(1)(inner(w)))
        before = m.get_weights()
        assert len(m.trainable_weights) == 2 and len(m.weights) == 4
        x = np.random.default_rng(0).standard_normal((8, 3))
        m.compile("sgd", loss="mse")
        m.fit(x, np.ones((8, 1)), epochs=2, batch_size=4, verbose=0)
        after = m.get_weights()
        np.testing.assert_array_equal(after[0], before[0])
        assert not np.allclose(after[2], before[2])
        ws[be] = after
    for a, b in zip(ws[BACKENDS[0]], ws[BACKENDS[1]], strict=True):
        assert_close("frozen nested", b, a, "float64", "params_10")


@both()
def test_dropout_inside_a_nested_model_is_identical_in_deterministic_mode():
    dl.config.set_floatx("float64")
    dl.config.set_deterministic(True)
    ws = {}
    for be in BACKENDS:
        dl.set_random_seed(9)
        with dl.use_backend(be):
            z = dl.Input((6,))
            h = dl.layers.Dropout(0.5)(dl.layers.Dense(6, activation="relu")(z))
            inner = dl.Model(z, dl.layers.Dropout(0.3)(dl.layers.Dense(4)(h)))
            w = dl.Input((6,))
            m = dl.Model(w, dl.layers.Dense(1)(inner(w)))
        x = np.random.default_rng(0).standard_normal((16, 6))
        m.compile(dl.optimizers.Adam(0.01), loss="mse")
        m.fit(x, np.ones((16, 1)), epochs=2, batch_size=4, verbose=0)
        ws[be] = m.get_weights()
        assert [k for k, _ in inner._noise_plan] == [1, 3]  # both inner dropouts got masks
    for a, b in zip(ws[BACKENDS[0]], ws[BACKENDS[1]], strict=True):
        assert_close("nested dropout, deterministic", b, a, "float64", "params_10")


def test_an_output_without_a_loss_trains_the_others():
    for be in BACKENDS:
        a = dl.Input((3,))
        h = dl.layers.Dense(2, name="h")(a)
        m = dl.Model(a, [dl.layers.Dense(1, name="y")(h), h], backend=be)
        m.compile("sgd", loss=["mse", None])
        hist = m.fit(np.ones((8, 3)), [np.zeros((8, 1)), np.zeros((8, 2))], epochs=1, verbose=0)
        assert np.isfinite(hist.history["loss"][0]) and hist.history["h_loss"][0] == 0.0
