"""Custom layers called as Keras 3 calls them: several positional tensors and keyword tensors
(``LogisticEndpoint(name="predictions")(targets, logits)``), ``mask=`` / ``training=``
propagation, Keras's build/compute_output_shape alignment; and ``add_weight`` in Keras 3's
forms, checked against real Keras."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import duallearn as dl
from duallearn import ops
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")


def _keras():
    return importlib.import_module("keras")


# ---- the keras.io "Training & evaluation with the built-in methods" endpoint -----------------
def make_endpoint(lib, lib_ops):
    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)

        def call(self, targets, logits, sample_weights=None):
            # the training-time loss, added with add_loss; the prediction is returned
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            return lib_ops.softmax(logits)

    return LogisticEndpoint


def endpoint_model(lib, lib_ops, **kwargs):
    inputs = lib.Input(shape=(3,), name="inputs")
    targets = lib.Input(shape=(10,), name="targets")
    logits = lib.layers.Dense(10, name="logits")(inputs)
    predictions = make_endpoint(lib, lib_ops)(name="predictions")(targets, logits)
    return lib.Model(inputs=[inputs, targets], outputs=predictions, **kwargs)


def _endpoint_data(n=12):
    rng = np.random.default_rng(0)
    return {
        "inputs": rng.random((n, 3)).astype("float32"),
        "targets": rng.random((n, 10)).astype("float32"),
    }


def test_endpoint_graph_predicts_as_keras():
    keras = _keras()
    km = endpoint_model(keras, keras.ops)
    data = _endpoint_data()
    want = km.predict(data, verbose=0)
    for be in BACKENDS:
        m = endpoint_model(dl, ops, backend=be)
        assert [l.name for l in m.layers] == [l.name for l in km.layers]
        endpoint = m.get_layer("predictions")
        assert [t.name for t in endpoint.input] == ["targets", "logits"]  # both call tensors
        assert [w.shape for w in m.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
        m.set_weights(km.get_weights())
        assert_close(f"endpoint predict on {be}", m.predict(data, verbose=0), want, "float32")


def test_endpoint_trains_as_keras():
    """The layer's add_loss term plus a compiled loss, SGD on the same batches."""
    keras = _keras()
    data = _endpoint_data()
    y = np.random.default_rng(1).random((12, 10)).astype("float32")
    km = endpoint_model(keras, keras.ops)
    start = [w.copy() for w in km.get_weights()]
    km.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    km.fit(data, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for be in BACKENDS:
        m = endpoint_model(dl, ops, backend=be)
        m.set_weights(start)
        m.compile(optimizer=dl.optimizers.SGD(0.5), loss="mse")
        m.fit(data, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(m.get_weights(), km.get_weights(), strict=True):
            assert_close(f"endpoint weights after 6 steps on {be}", a, b, "float32", "params_10")
        assert_close(
            f"endpoint predict after training on {be}",
            m.predict(data, verbose=0),
            km.predict(data, verbose=0),
            "float32",
            "forward",
        )


def test_endpoint_trains_from_added_loss_alone_as_keras():
    """The guide's own recipe: ``compile(optimizer)`` with no loss, ``fit(data)`` with no y."""
    keras = _keras()
    data = _endpoint_data()
    km = endpoint_model(keras, keras.ops)
    start = [w.copy() for w in km.get_weights()]
    km.compile(optimizer=keras.optimizers.SGD(0.5))
    km.fit(data, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for be in BACKENDS:
        m = endpoint_model(dl, ops, backend=be)
        m.set_weights(start)
        m.compile(optimizer=dl.optimizers.SGD(0.5))
        m.fit(data, batch_size=4, epochs=2, shuffle=False, verbose=0)
        for a, b in zip(m.get_weights(), km.get_weights(), strict=True):
            assert_close(f"weights on {be}", a, b, "float32", "params_10")


# ---- several positional and keyword tensors ---------------------------------------------------
class Combine(dl.layers.Layer):
    """``a·W + b·scale (+ extra)``: two positional tensors, a constant and a keyword tensor."""

    def build(self, a_shape, b_shape):  # Keras's rule: one <argument>_shape per tensor
        self.w = self.add_weight(shape=(a_shape[-1], b_shape[-1]), initializer="ones")

    def call(self, a, b, scale=1.0, extra=None):
        out = ops.matmul(a, self.w) + b * scale
        return out if extra is None else out + extra


def _ab(n=4):
    rng = np.random.default_rng(2)
    return rng.standard_normal((n, 3)).astype("float32"), rng.standard_normal((n, 2)).astype(
        "float32"
    )


def test_several_positional_tensors_eagerly_on_arrays():
    a, b = _ab()
    want = a @ np.ones((3, 2), "float32") + b
    for be in BACKENDS:
        with dl.use_backend(be):
            layer = Combine()
            np.testing.assert_allclose(layer(a, b), want, rtol=1e-6)
            np.testing.assert_allclose(layer(a, b, scale=3.0, extra=b), want + 3 * b, rtol=1e-6)
            assert layer.w.shape == (3, 2)
            assert not layer._inbound_nodes  # eager calls record no node (Keras)
            np.testing.assert_allclose(layer(b=b, a=a), want, rtol=1e-6)  # all by keyword
    with pytest.raises(ConfigError, match="without any tensor argument"):
        Combine()(a=1.0, b=2.0)


def test_keyword_tensors_and_constants_in_a_functional_model(tmp_path):
    a, b = _ab()
    want = a @ np.ones((3, 2), "float32") + 3 * b + b
    for be in BACKENDS:
        ia, ib = dl.Input((3,), name="a"), dl.Input((2,), name="b")
        layer = Combine(name="comb")
        out = layer(ia, ib, scale=3.0, extra=ib)
        assert out.shape == (None, 2)  # no compute_output_shape: probed with numpy
        assert [t.name for t in layer.input] == ["a", "b", "b"]  # Keras: every call tensor
        m = dl.Model([ia, ib], out, backend=be)
        np.testing.assert_allclose(m.predict([a, b], verbose=0), want, rtol=1e-6)
        # the call's structure is saved with the graph, and replayed by clone_model
        clone = dl.models.clone_model(m)
        clone.set_weights(m.get_weights())
        np.testing.assert_allclose(clone.predict([a, b], verbose=0), want, rtol=1e-6)


@dl.saving.register_serializable(package="tests_calls")
class Gate(dl.layers.Layer):
    """``x · sigmoid(g·V)`` with ``compute_output_shape(x_shape, g_shape)``."""

    def build(self, x_shape, g_shape):
        self.v = self.add_weight(shape=(g_shape[-1], x_shape[-1]), initializer="glorot_uniform")

    def call(self, x, g):
        return x * ops.sigmoid(ops.matmul(g, self.v))

    def compute_output_shape(self, x_shape, g_shape):
        return x_shape


def test_saving_a_model_with_a_several_input_layer(tmp_path):
    x = np.random.default_rng(3).standard_normal((5, 4)).astype("float32")
    g = np.random.default_rng(4).standard_normal((5, 2)).astype("float32")
    for be in BACKENDS:
        ix, ig = dl.Input((4,)), dl.Input((2,))
        m = dl.Model([ix, ig], dl.layers.Dense(1)(Gate(name="gate")(ix, ig)), backend=be)
        m.save(tmp_path / f"{be}.dlm")
        for other in BACKENDS:
            again = dl.load_model(tmp_path / f"{be}.dlm", backend=other)
            np.testing.assert_allclose(
                again.predict([x, g], verbose=0), m.predict([x, g], verbose=0), rtol=1e-6
            )


class Masked(dl.layers.Layer):
    def call(self, x, mask=None, training=None):
        y = x * 2.0 if training else x
        return y if mask is None else y * ops.cast(mask, "float32")


class NoMask(dl.layers.Layer):
    def call(self, x):
        return x * 2.0


@pytest.mark.filterwarnings("ignore:Layer 'k_masked'")  # Keras: the mask is not carried on
def test_mask_and_training_reach_call_as_in_keras():
    keras = _keras()

    class KMasked(keras.layers.Layer):
        def call(self, x, mask=None, training=None):
            y = x * 2.0 if training else x
            return y if mask is None else y * keras.ops.cast(mask, "float32")

    x = np.arange(6, dtype="float32").reshape(2, 3)
    m = np.array([[True, False, True], [False, True, True]])
    ki, km_ = keras.Input((3,)), keras.Input((3,), dtype="bool")
    kmodel = keras.Model([ki, km_], KMasked()(ki, mask=km_, training=True))
    want = kmodel.predict([x, m], verbose=0)  # the model's mode wins (Keras 3)
    np.testing.assert_array_equal(want, x * m)
    for be in BACKENDS:
        i, mi = dl.Input((3,)), dl.Input((3,), dtype="bool")
        model = dl.Model([i, mi], Masked()(i, mask=mi, training=True), backend=be)
        np.testing.assert_array_equal(model.predict([x, m], verbose=0), want)
        with dl.use_backend(be):  # eagerly, training=True reaches call
            np.testing.assert_array_equal(Masked()(x, training=True), 2 * x)
            np.testing.assert_array_equal(Masked()(x, mask=m), x * m)
            np.testing.assert_array_equal(NoMask()(x, training=True), 2 * x)  # dropped
    with pytest.raises(ConfigError, match="got an unexpected keyword argument 'mask'"):
        NoMask()(dl.Input((3,)), mask=dl.Input((3,), dtype="bool"))
    with pytest.raises(ConfigError, match="missing a required argument: 'b'"):
        Combine()(dl.Input((3,)))
    with pytest.raises(ConfigError, match=r"takes one input.*Received: 2 positional"):
        dl.layers.Dense(2)(dl.Input((3,)), dl.Input((3,)))


class Pairwise(dl.layers.Layer):
    """Calls ``Combine`` (two positional tensors) inside its own ``call``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.comb = Combine()

    def call(self, x, training=None):
        return ops.tanh(self.comb(x, x[:, :2], scale=0.5))


@both()
def test_a_several_input_sublayer_inside_call_trains_identically():
    dl.config.set_floatx("float64")
    x = np.random.default_rng(5).standard_normal((16, 3))
    y = np.random.default_rng(6).standard_normal((16, 2))
    ws = {}
    for be in BACKENDS:
        i = dl.Input((3,))
        m = dl.Model(i, Pairwise()(i), backend=be)
        m.compile(dl.optimizers.Adam(0.05), loss="mse")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        ws[be] = m.get_weights()
    assert [w.shape for w in ws["torch"]] == [(3, 2)]
    assert_close("weights", ws["tensorflow"][0], ws["torch"][0], "float64", "params_10")


# ---- add_weight -------------------------------------------------------------------------------
def _weights_layer(base):
    class Weights(base):
        def build(self, input_shape):
            self.a = self.add_weight((input_shape[-1], 3), "random_normal")  # positional
            self.b = self.add_weight(shape=(3,), initializer="zeros")  # keywords, no name
            self.c = self.add_weight(shape=(3,), initializer="ones", name="c", trainable=False)
            self.d = self.add_weight((2,), dtype="int32", trainable=False)  # int: zeros
            self.e = self.add_weight()  # a scalar

        def call(self, x):
            return x

    return Weights


def test_add_weight_forms_match_keras():
    keras = _keras()
    from duallearn import _naming

    _naming.reset_names()
    keras.backend.clear_session()
    theirs = _weights_layer(keras.layers.Layer)(name="lay")
    theirs.build((None, 4))
    ours = _weights_layer(dl.layers.Layer)(name="lay")
    ours.build((None, 4))
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [w.name for w in ours.weights] == [
        "variable",
        "variable_1",
        "variable_3",
        "c",
        "variable_2",
    ]
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]
    assert [w.dtype for w in ours.weights] == [str(w.dtype) for w in theirs.weights]
    assert [v.shape for v in ours.get_weights()] == [v.shape for v in theirs.get_weights()]
    np.testing.assert_array_equal(ours.d.numpy(), np.zeros(2, "int32"))
    np.testing.assert_array_equal(ours.c.numpy(), np.ones(3, "float32"))
    ours.set_weights(theirs.get_weights())  # the same layout
    a = ours.a.numpy()
    assert abs(a.std() - 0.05) < 0.05 and ours.e.shape == ()  # random_normal: stddev 0.05


def test_add_weight_keeps_the_name_first_form_and_stores_options():
    layer = dl.layers.Layer(name="old")
    w = layer.add_weight("kernel", (2, 3), "ones", False, "float64")
    assert (w.path, w.shape, w.dtype, w.trainable) == ("old/kernel", (2, 3), "float64", False)
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 3)))
    v = layer.add_weight(
        shape=(2,), regularizer="l2", constraint="non_neg", aggregation="mean", autocast=False
    )
    assert (v.aggregation, v.autocast, v.overwrite_with_gradient) == ("mean", False, False)
    assert isinstance(v.regularizer, dl.regularizers.L2)  # resolved as Keras's get() does
    assert isinstance(v.constraint, dl.constraints.NonNeg)
    assert (w.regularizer, w.constraint) == (None, None)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda l: l.add_weight((2,), regularizer="no_such_reg"), "no_such_reg"),
        (lambda l: l.add_weight((2,), "zeros", "float32", True), "at most 3 positional"),
        (lambda l: l.add_weight((2,), shape=(3,)), "`shape` was passed both positionally"),
        (lambda l: l.add_weight((2,), "zeros", initializer="ones"), "`initializer` was passed"),
        (lambda l: l.add_weight("k", (2,), name="k"), "`name` was passed both"),
        (lambda l: l.add_weight(shape=(None, 2)), r"fully defined shape.*\(None, 2\)"),
        (lambda l: l.add_weight(shape=3), "fully defined shape"),
        (lambda l: l.add_weight(shape=(-1,)), "fully defined shape"),
        (
            lambda l: l.add_weight((2,), aggregation="max"),
            "Invalid value for argument `aggregation`",
        ),
        (lambda l: l.add_weight((2,), "no_such_init"), "no_such_init"),
    ],
)
def test_add_weight_errors(call, message):
    with pytest.raises(dl.errors.DuallearnError, match=message):
        call(dl.layers.Layer(name="l"))
