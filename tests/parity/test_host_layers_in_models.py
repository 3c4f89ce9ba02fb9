"""Host-side preprocessing layers inside models (``models/_host.py``): ``TextVectorization``,
``StringLookup``, ``Discretization`` and ``CategoryEncoding`` right after a model's Input,
trained with ``fit`` against the same model in real Keras 3 (weights, history and
predictions within the float32 ``params_10`` tolerance), torch against TensorFlow, through
``save``/``load_model`` (also on the other backend), ``clone_model`` and JSON; misplaced
host layers, string data for numeric inputs and exports refused with their messages."""

from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DataError
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

keras = importlib.import_module("keras")  # the oracle
L, KL = dl.layers, keras.layers
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")

TEXTS = [
    "The cat sat on the mat.",
    "A dog ran after the cat!",
    "the dog sat",
    "Cats and dogs, dogs and cats.",
    "a mat",
    "The end of it all, now and then",
    "dog",
    "cat cat cat on a mat",
    "ran, sat, ran",
    "then the dog ate",
    "a cat and a dog",
]
LABELS = np.array([0, 1, 2, 0, 1, 2, 1, 0, 2, 1, 0])
WORDS = np.array(
    [["red", "green", "blue"], ["blue", "blue", "cyan"], ["green", "pink", "red"],
     ["red", "red", "red"], ["cyan", "blue", "green"], ["pink", "grey", "red"],
     ["blue", "green", "grey"]]
)  # fmt: skip
Y_WORDS = np.array([[0.5], [1.0], [-1.0], [2.0], [0.0], [0.3], [-0.4]], "float32")
EPOCHS, BATCH = 3, 4


def _train(model, x, y, loss, lr=0.1, **fit):
    model.compile(optimizer=dl.optimizers.SGD(lr), loss=loss)
    hist = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, **fit)
    return hist.history, model.get_weights(), model.predict(x, verbose=0)


def _strings(x):
    """String data as Keras's array adapter takes it (a TensorFlow string tensor)."""
    import tensorflow as tf

    return tf.constant(np.asarray(x)) if np.asarray(x).dtype.kind == "U" else x


def _train_keras(model, weights, x, y, loss, lr=0.1, **fit):
    x = _strings(x)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=loss)
    hist = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, **fit)
    return hist.history, model.get_weights(), np.asarray(model.predict(x, verbose=0))


def _same_run(label, ours, theirs):
    (h, w, p), (kh, kw, kp) = ours, theirs
    assert set(h) == set(kh), f"{label}: history keys {sorted(h)} vs {sorted(kh)}"
    for key in h:
        assert_close(f"{label} history {key}", h[key], kh[key], "float32", "params_10")
    assert len(w) == len(kw), f"{label}: {len(w)} weights vs Keras {len(kw)}"
    for i, (a, b) in enumerate(zip(w, kw, strict=True)):
        assert_close(f"{label} weight {i}", a, b, "float32", "params_10")
    assert_close(f"{label} predictions", p, kp, "float32", "params_10")


# ---- the models, in both libraries ------------------------------------------------------------
def text_classifier(lib, seq_len=None):
    """TextVectorization (adapted) → Embedding → GlobalAveragePooling1D → Dense."""
    layers = lib.layers
    tv = layers.TextVectorization(max_tokens=24, output_sequence_length=seq_len)
    tv.adapt(TEXTS)
    inp = lib.Input(shape=(1,), dtype="string")
    x = layers.Embedding(24, 8)(tv(inp))
    x = layers.GlobalAveragePooling1D()(x)
    return lib.Model(inp, layers.Dense(3, activation="softmax")(x)), tv


def lookup_regressor(lib):
    """StringLookup (adapted) → Embedding → Flatten → Dense."""
    layers = lib.layers
    sl = layers.StringLookup()
    sl.adapt(WORDS)
    inp = lib.Input(shape=(3,), dtype="string")
    x = layers.Flatten()(layers.Embedding(sl.vocabulary_size(), 4)(sl(inp)))
    return lib.Model(inp, layers.Dense(1)(x)), sl


def bucket_model(lib):
    """Discretization → CategoryEncoding(count) → Dense, next to the raw numbers (a model
    input that a native layer takes directly)."""
    layers = lib.layers
    inp = lib.Input(shape=(3,))
    ids = layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5])(inp)
    counts = layers.CategoryEncoding(num_tokens=4, output_mode="count")(ids)
    x = layers.Concatenate()([layers.Dense(4, activation="tanh")(counts), inp])
    return lib.Model(inp, layers.Dense(2)(x))


X_NUM = np.random.default_rng(0).standard_normal((10, 3)).astype("float32")
Y_NUM = np.random.default_rng(1).standard_normal((10, 2)).astype("float32")


# ---- against Keras 3 --------------------------------------------------------------------------
@pytest.mark.parametrize("seq_len", [None, 7])
def test_text_classifier_trains_as_keras(backend, seq_len):
    model, tv = text_classifier(dl, seq_len)
    kmodel, ktv = text_classifier(keras, seq_len)
    assert tv.get_vocabulary() == list(ktv.get_vocabulary())
    w0 = model.get_weights()
    ours = _train(model, TEXTS, LABELS, "sparse_categorical_crossentropy")
    theirs = _train_keras(
        kmodel, w0, np.array(TEXTS)[:, None], LABELS, "sparse_categorical_crossentropy"
    )
    _same_run(f"text classifier (output_sequence_length={seq_len}) on {backend}", ours, theirs)
    assert ours[2].shape == (len(TEXTS), 3) and ours[2].dtype == np.float32


def test_text_classifier_validation_and_evaluate_as_keras(backend):
    model, _ = text_classifier(dl)
    kmodel, _ = text_classifier(keras)
    w0 = model.get_weights()
    ours = _train(model, TEXTS, LABELS, "sparse_categorical_crossentropy", validation_split=0.3)
    theirs = _train_keras(
        kmodel,
        w0,
        np.array(TEXTS)[:, None],
        LABELS,
        "sparse_categorical_crossentropy",
        validation_split=0.3,
    )
    _same_run(f"text classifier with validation on {backend}", ours, theirs)
    loss = model.evaluate(TEXTS, LABELS, batch_size=BATCH, verbose=0)
    kloss = kmodel.evaluate(_strings(np.array(TEXTS)[:, None]), LABELS, batch_size=BATCH, verbose=0)
    assert_close("evaluate", loss, kloss, "float32", "params_10")


def test_string_lookup_model_trains_as_keras(backend):
    model, sl = lookup_regressor(dl)
    kmodel, ksl = lookup_regressor(keras)
    assert sl.get_vocabulary() == list(ksl.get_vocabulary())
    w0 = model.get_weights()
    ours = _train(model, WORDS, Y_WORDS, "mse")
    theirs = _train_keras(kmodel, w0, WORDS, Y_WORDS, "mse")
    _same_run(f"StringLookup → Embedding on {backend}", ours, theirs)


def test_discretization_and_category_encoding_train_as_keras(backend):
    model, kmodel = bucket_model(dl), bucket_model(keras)
    w0 = model.get_weights()
    ours = _train(model, X_NUM, Y_NUM, "mse")
    theirs = _train_keras(kmodel, w0, X_NUM, Y_NUM, "mse")
    _same_run(f"Discretization → CategoryEncoding → Dense on {backend}", ours, theirs)


def test_sequential_with_a_string_input(backend):
    tv = L.TextVectorization(max_tokens=24, output_sequence_length=5)
    tv.adapt(TEXTS)
    ktv = KL.TextVectorization(max_tokens=24, output_sequence_length=5)
    ktv.adapt(TEXTS)
    model = dl.Sequential(
        [dl.Input(shape=(), dtype="string"), tv, L.Embedding(24, 4), L.Flatten(), L.Dense(3)]
    )
    kmodel = keras.Sequential(
        [keras.Input(shape=(), dtype="string"), ktv, KL.Embedding(24, 4), KL.Flatten(),
         KL.Dense(3)]
    )  # fmt: skip
    w0 = model.get_weights()
    loss = dl.losses.SparseCategoricalCrossentropy(from_logits=True)
    kloss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ours = _train(model, np.array(TEXTS), LABELS, loss)
    theirs = _train_keras(kmodel, w0, np.array(TEXTS), LABELS, kloss)
    _same_run(f"Sequential text model on {backend}", ours, theirs)
    text = []
    model.summary(print_fn=text.append)
    assert "text_vectorization (TextVectorization)" in text[0] and "(None, 5)" in text[0]


# ---- across backends ---------------------------------------------------------------------------
@both()
def test_torch_and_tensorflow_agree():
    runs = {}
    for be in ("torch", "tensorflow"):
        with dl.use_backend(be):
            dl.set_random_seed(7)
            text, _ = text_classifier(dl)
            lookup, _ = lookup_regressor(dl)
            buckets = bucket_model(dl)
            runs[be] = [
                _train(text, TEXTS, LABELS, "sparse_categorical_crossentropy"),
                _train(lookup, WORDS, Y_WORDS, "mse"),
                _train(buckets, X_NUM, Y_NUM, "mse"),
            ]
    for name, a, b in zip(
        ("text", "lookup", "buckets"), runs["torch"], runs["tensorflow"], strict=True
    ):
        _same_run(f"{name}: torch vs tensorflow", a, b)


@both()
def test_host_prefix_gives_identical_inputs_on_both_backends():
    arrays = {}
    for be in ("torch", "tensorflow"):
        with dl.use_backend(be):
            model, _ = text_classifier(dl, 6)
            arrays[be] = model._cast_x([np.array(TEXTS)[:, None]])
    np.testing.assert_array_equal(arrays["torch"][0], arrays["tensorflow"][0])
    assert arrays["torch"][0].dtype == np.int64  # ids feeding an Embedding stay integers


# ---- saving, cloning, configs ------------------------------------------------------------------
@both()
@pytest.mark.parametrize("source", ["torch", "tensorflow"])
def test_save_and_load_on_either_backend(tmp_path, source):
    with dl.use_backend(source):
        model, tv = text_classifier(dl)
        _train(model, TEXTS, LABELS, "sparse_categorical_crossentropy")
        before = model.predict(TEXTS, verbose=0)
        path = os.path.join(tmp_path, "m.dlm")
        model.save(path)
    for be in ("torch", "tensorflow"):
        with dl.use_backend(be):
            loaded = dl.load_model(path)
            after = loaded.predict(TEXTS, verbose=0)
            twin = loaded.get_layer(tv.name)
            assert twin.get_vocabulary() == tv.get_vocabulary()  # the vocabulary travels
            assert loaded.inputs[0].dtype == "string"
            if be == source:
                np.testing.assert_array_equal(after, before)
            else:
                assert_close(f"reloaded on {be}", after, before, "float32", "params_10")
            # and it keeps training
            loaded.fit(TEXTS, LABELS, batch_size=BATCH, epochs=1, verbose=0)


def test_clone_json_and_config_round_trip(backend):
    model, _ = text_classifier(dl, 6)
    before = model.predict(TEXTS, verbose=0)
    clone = dl.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(TEXTS, verbose=0), before)
    again = dl.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(TEXTS, verbose=0), before)
    rebuilt = dl.Model.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    seq = dl.Sequential([dl.Input(shape=(3,), dtype="string"), L.StringLookup(vocabulary=["a"])])
    twin = dl.Sequential.from_config(seq.get_config())
    assert twin.inputs[0].dtype == "string"
    np.testing.assert_array_equal(twin.predict(np.array([["a", "b", "a"]]), verbose=0), [[1, 0, 1]])


def test_model_dtype_ignores_host_layers():
    inp = dl.Input(shape=(2,), dtype="string")
    hashed = L.Hashing(num_bins=5)(inp)  # Hashing's dtype is int64
    assert hashed.dtype == "int64"
    model = dl.Model(inp, L.Dense(1)(L.Flatten()(L.Embedding(5, 2)(hashed))))
    assert model._dtype() == "float32"
    out = model.predict(np.array([["a", "b"], ["c", "a"]]), verbose=0)
    assert out.dtype == np.float32 and out.shape == (2, 1)


# ---- refusals ----------------------------------------------------------------------------------
def test_host_layer_after_a_native_layer_is_refused():
    inp = dl.Input(shape=(3,))
    x = L.Dense(3, name="first_dense")(inp)
    x = L.Discretization(bin_boundaries=[0.0], name="late_buckets")(x)
    with pytest.raises(ConfigError) as err:
        dl.Model(inp, L.Dense(1)(x))
    msg = str(err.value)
    for words in (
        "'late_buckets' (Discretization)",
        "host-side preprocessing layer",
        "right after the model's Input",
        "'first_dense' (Dense)",
        "data pipeline",
    ):
        assert words in msg, (words, msg)
    with pytest.raises(ConfigError, match="right after the model's Input"):
        dl.Sequential([dl.Input((3,)), L.Dense(2), L.CategoryEncoding(num_tokens=3), L.Dense(1)])


def test_string_input_feeding_a_native_layer_is_refused():
    inp = dl.Input(shape=(2,), dtype="string")
    with pytest.raises(ConfigError, match="cannot take strings.*StringLookup"):
        dl.Model(inp, L.Dense(1)(inp))


def test_strings_for_a_model_without_string_inputs_are_refused(backend):
    model = dl.Sequential([dl.Input((1,)), L.Dense(1)])
    model.compile("sgd", "mse")
    strings = np.array([["a"], ["b"]])
    with pytest.raises(DataError, match="holds strings"):
        model.fit(strings, np.zeros((2, 1)), verbose=0)
    with pytest.raises(DataError, match="holds strings"):
        model.predict(strings, verbose=0)
    # a model with one string input still refuses strings in its numeric input
    text = dl.Input((1,), dtype="string", name="text")
    num = dl.Input((1,), name="num")
    sl = L.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    mixed = dl.Model([text, num], L.Dense(1)(L.Concatenate()([sl(text), num])))
    assert mixed.predict([strings, np.ones((2, 1))], verbose=0).shape == (2, 1)
    with pytest.raises(DataError, match="holds strings"):
        mixed.predict([strings, strings], verbose=0)


def test_export_of_a_model_with_host_layers_is_refused(tmp_path):
    model, _ = text_classifier(dl, 4)
    with pytest.raises(ConfigError, match="host-side preprocessing layers.*export the core"):
        model.export(os.path.join(tmp_path, "m.onnx"), format="onnx")
