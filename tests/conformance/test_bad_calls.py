"""Every bad call is a clear error, and the model it was made on is left untouched.

One table of bad calls across ``fit``, ``evaluate``, ``predict``, ``compile``, layer
constructors, optimizers, ``set_weights``, ``load_model``, ``save``, the CLI and data sources.
Each row names the ``DuallearnError`` subclass and words of its message (what was expected,
what was received, the fix). Each row runs on both backends on a model that has already
trained one epoch (so a compiled TensorFlow step exists and could be poisoned); after the
rejected call the model trains another epoch, evaluates and predicts, and must equal,
bit for bit, its twin that never saw the bad call (the same seed, the same data).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import (
    ConfigError,
    DataError,
    DuallearnError,
    SerializationError,
    ShapeError,
    TrainingError,
    UnknownNameError,
)

from ..conftest import BACKENDS

RNG = np.random.default_rng(0)
X = RNG.normal(size=(16, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int64")


def _make() -> dl.Model:
    m = dl.Sequential([
        dl.Input((4,)), dl.layers.Dense(6, activation="relu"), dl.layers.Dense(2)
    ])  # fmt: skip
    m.compile(
        dl.optimizers.Adam(0.01),
        dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return m


def _train(m: dl.Model) -> dict[str, Any]:
    """One more epoch, an evaluation and a prediction, from a fixed seed."""
    dl.set_random_seed(7)
    h = m.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    return {
        "history": h.history,
        "eval": m.evaluate(X, Y, batch_size=8, verbose=0),
        "predict": m.predict(X, batch_size=8, verbose=0),
        "weights": m.get_weights(),
    }


def _fresh() -> dl.Model:
    dl.set_random_seed(3)
    m = _make()
    dl.set_random_seed(5)
    m.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    return m


_TWINS: dict[str, dict[str, Any]] = {}


def _twin(backend: str) -> dict[str, Any]:
    if backend not in _TWINS:
        _TWINS[backend] = _train(_fresh())
    return _TWINS[backend]


def _gen(batches: list[Any]) -> Any:
    yield from batches


def _raising_gen() -> Any:
    raise ValueError("the disk went away")
    yield  # a generator


class _BadPy(dl.utils.PyDataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        if i == 0:
            raise KeyError("no such shard")
        return X[:8], Y[:8]


def _set_weights_extra(m: dl.Model) -> None:
    m.set_weights([*m.get_weights(), np.zeros(3, "float32")])


def _set_weights_shape(m: dl.Model) -> None:
    w = m.get_weights()
    m.set_weights([np.zeros((5, 6), "float32"), *w[1:]])


def _set_weights_strings(m: dl.Model) -> None:
    w = m.get_weights()
    m.set_weights([np.full(w[0].shape, "a"), *w[1:]])


def _load(tmp: Any, content: bytes, name: str) -> None:
    p = tmp / name
    p.write_bytes(content)
    dl.load_model(p)


def _cli(tmp: Any, *args: str) -> None:
    """Run the CLI in-process; exit status 2 with one line on stderr becomes a ConfigError
    holding that line (so the table can check its words)."""
    import contextlib
    import io

    from duallearn import cli

    np.save(tmp / "x.npy", X)
    _fresh().save(tmp / "m.dlm")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main([a.replace("{tmp}", str(tmp)) for a in args])
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    lines = err.getvalue().strip().splitlines()
    if code == 2 and len(lines) == 1:
        raise ConfigError(lines[0])
    raise AssertionError(f"CLI exit code {code}, stderr {lines!r}; expected 2 and one line")


def _save_into_missing_folder(m: dl.Model, tmp: Any) -> None:
    m.save(tmp / "no" / "such" / "folder" / "m.dlm")


# (id, call(model, tmp_path), error type, words of the message)
Case = tuple[str, Callable[[dl.Model, Any], Any], type[DuallearnError], str]
# fmt: off
CASES: list[Case] = [
    # ---- fit: hyper-parameters ---------------------------------------------------------------
    ("fit-batch0", lambda m, t: m.fit(X, Y, batch_size=0), ConfigError, r"batch_size must be a positive integer\. Received: batch_size=0"),
    ("fit-batch-neg", lambda m, t: m.fit(X, Y, batch_size=-3), ConfigError, r"batch_size=-3"),
    ("fit-batch-float", lambda m, t: m.fit(X, Y, batch_size=2.5), ConfigError, r"batch_size=2\.5"),
    ("fit-batch-str", lambda m, t: m.fit(X, Y, batch_size="32"), ConfigError, r"batch_size='32'"),
    ("fit-epochs-neg", lambda m, t: m.fit(X, Y, epochs=-1), ConfigError, r"epochs must be a non-negative integer"),
    ("fit-epochs-float", lambda m, t: m.fit(X, Y, epochs=1.5), ConfigError, r"epochs must be a non-negative integer\. Received: epochs=1\.5"),
    ("fit-initial-epoch", lambda m, t: m.fit(X, Y, initial_epoch=-1), ConfigError, r"initial_epoch must be a non-negative"),
    ("fit-steps0", lambda m, t: m.fit(X, Y, steps_per_epoch=0), ConfigError, r"steps_per_epoch must be a positive integer"),
    ("fit-val-steps0", lambda m, t: m.fit(X, Y, validation_data=(X, Y), validation_steps=0), ConfigError, r"validation_steps must be a positive"),
    ("fit-val-batch0", lambda m, t: m.fit(X, Y, validation_split=0.25, validation_batch_size=0), ConfigError, r"validation_batch_size must be a positive"),
    ("fit-val-freq0", lambda m, t: m.fit(X, Y, validation_freq=0), ConfigError, r"validation_freq must be a positive"),
    ("fit-split-1", lambda m, t: m.fit(X, Y, validation_split=1.0), ConfigError, r"validation_split must be in \[0, 1\)\. Received: validation_split=1\.0"),
    ("fit-split-neg", lambda m, t: m.fit(X, Y, validation_split=-0.1), ConfigError, r"validation_split must be in \[0, 1\)"),
    ("fit-split-str", lambda m, t: m.fit(X, Y, validation_split="0.2"), ConfigError, r"validation_split must be a number"),
    ("fit-split-tiny", lambda m, t: m.fit(X[:1], Y[:1], validation_split=0.5), ConfigError, r"leaves no training or no validation samples out of 1"),
    ("fit-shuffle-str", lambda m, t: m.fit(X, Y, shuffle="yes"), ConfigError, r"shuffle must be True or False"),
    ("fit-verbose", lambda m, t: m.fit(X, Y, verbose=5), ConfigError, r"verbose must be 0, 1, 2 or 'auto'"),
    ("fit-callbacks-single", lambda m, t: m.fit(X, Y, callbacks=dl.callbacks.EarlyStopping()), ConfigError, r"callbacks must be a list.*wrap it in a list"),
    ("fit-callbacks-class", lambda m, t: m.fit(X, Y, callbacks=[dl.callbacks.EarlyStopping]), ConfigError, r"Received an element of type type.*not the class"),
    ("fit-class-weight-list", lambda m, t: m.fit(X, Y, class_weight=[1.0, 2.0]), ConfigError, r"class_weight must be a non-empty dict"),
    ("fit-class-weight-missing", lambda m, t: m.fit(X, Y, class_weight={0: 1.0}), ConfigError, r"class_weight has no entry for classes \[1\]"),
    ("fit-class-weight-key", lambda m, t: m.fit(X, Y, class_weight={"a": 1.0}), ConfigError, r"class_weight keys must be integer class indices"),
    ("fit-class-weight-neg", lambda m, t: m.fit(X, Y, class_weight={0: -1.0, 1: 1.0}), ConfigError, r"class_weight\[0\] must be a finite number >= 0"),
    # ---- fit: data -------------------------------------------------------------------------
    ("fit-x-strings", lambda m, t: m.fit(np.full((16, 4), "a"), Y), DataError, r"inputs holds strings.*Expected: numbers.*Fix"),
    ("fit-y-strings", lambda m, t: m.fit(X, np.array(["cat", "dog"] * 8)), DataError, r"targets holds strings.*StringLookup"),
    ("fit-x-ragged", lambda m, t: m.fit([[1.0, 2.0, 3.0, 4.0], [1.0]], Y[:2]), DataError, r"ragged nested list.*pad_sequences"),
    ("fit-x-complex", lambda m, t: m.fit(X.astype(complex), Y), DataError, r"complex numbers"),
    ("fit-x-object", lambda m, t: m.fit(np.array([object()] * 16), Y), DataError, r"holds Python objects"),
    ("fit-x-datetime", lambda m, t: m.fit(np.zeros((16, 4), "datetime64[s]"), Y), DataError, r"dtype datetime64\[s\], which cannot be trained on"),
    ("fit-x-features", lambda m, t: m.fit(X[:, :3], Y), ShapeError, r"expects input shape \(None, 4\)\. Received: \(None, 3\)"),
    ("fit-x-y-lengths", lambda m, t: m.fit(X, Y[:10]), ShapeError, r"y has 10 samples but x has 16"),
    ("fit-x-none", lambda m, t: m.fit(None, Y), DataError, r"No inputs given"),
    ("fit-y-none", lambda m, t: m.fit(X), DataError, r"No targets given"),
    ("fit-x-scalar", lambda m, t: m.fit(3.0, Y), ShapeError, r"must have a batch dimension"),
    ("fit-x-dict-key", lambda m, t: m.fit({"wrong": X}, Y), DataError, r"dict lacks keys"),
    ("fit-labels-range", lambda m, t: m.fit(X, np.full(16, 5)), ShapeError, r"labels must be in \[0, 2\).*Received a label 5"),
    ("fit-sw-length", lambda m, t: m.fit(X, Y, sample_weight=np.ones(5)), ShapeError, r"sample_weight has 5 samples but x has 16"),
    ("fit-sw-strings", lambda m, t: m.fit(X, Y, sample_weight=np.full(16, "w")), DataError, r"sample_weight holds strings"),
    ("fit-nan-input", lambda m, t: m.fit(np.where(np.arange(16)[:, None] == 3, np.nan, X), Y, batch_size=8, shuffle=False), TrainingError, r"batch 0 \(0-based\).*non-finite|NaN"),
    ("fit-val-tuple1", lambda m, t: m.fit(X, Y, validation_data=(X,)), ConfigError, r"validation_data must be a tuple \(x_val, y_val\).*of length 1"),
    ("fit-val-array", lambda m, t: m.fit(X, Y, validation_data=X), ConfigError, r"validation_data must be a tuple"),
    ("fit-val-features", lambda m, t: m.fit(X, Y, validation_data=(X[:, :2], Y)), ShapeError, r"Received: \(None, 2\)"),
    ("fit-val-strings", lambda m, t: m.fit(X, Y, validation_data=(X, np.full(16, "y"))), DataError, r"validation targets holds strings"),
    # ---- data sources ----------------------------------------------------------------------
    ("source-y-with-dataset", lambda m, t: m.fit(dl.data.Dataset.from_tensor_slices((X, Y)).batch(8), Y), ConfigError, r"y must be None when x is a dl\.data source"),
    ("source-raising-generator", lambda m, t: m.fit(_raising_gen(), steps_per_epoch=2), TrainingError, r"raised ValueError while producing batch 0 \(0-based\) of epoch 1: the disk went away"),
    ("source-empty-generator", lambda m, t: m.fit(_gen([])), DataError, r"produced no batches in epoch 1"),
    ("source-bad-first-batch", lambda m, t: m.fit(_gen([(X[:8, :2], Y[:8]), (X[:8], Y[:8])]), steps_per_epoch=2), ShapeError, r"Received: \(None, 2\)"),
    ("source-strings-batch", lambda m, t: m.fit(_gen([(np.full((8, 4), "s"), Y[:8])]), steps_per_epoch=1), DataError, r"inputs holds strings"),
    ("source-no-targets", lambda m, t: m.fit(_gen([X[:8]]), steps_per_epoch=1), DataError, r"yields inputs without targets"),
    ("source-pydataset-raises", lambda m, t: m.fit(_BadPy()), TrainingError, r"raised KeyError while producing batch"),
    ("source-unknown-type", lambda m, t: m.fit(object(), Y), ConfigError, r"Unsupported data type object"),
    # ---- evaluate / predict ----------------------------------------------------------------
    ("evaluate-batch0", lambda m, t: m.evaluate(X, Y, batch_size=0), ConfigError, r"batch_size must be a positive integer"),
    ("evaluate-steps0", lambda m, t: m.evaluate(X, Y, steps=0), ConfigError, r"steps must be a positive integer"),
    ("evaluate-strings", lambda m, t: m.evaluate(np.full((4, 4), "x"), Y[:4]), DataError, r"inputs holds strings"),
    ("evaluate-lengths", lambda m, t: m.evaluate(X, Y[:3]), ShapeError, r"y has 3 samples but x has 16"),
    ("evaluate-callbacks", lambda m, t: m.evaluate(X, Y, callbacks="none"), ConfigError, r"callbacks must be a list"),
    ("predict-batch0", lambda m, t: m.predict(X, batch_size=0), ConfigError, r"batch_size must be a positive integer"),
    ("predict-strings", lambda m, t: m.predict(np.full((4, 4), "x")), DataError, r"inputs holds strings"),
    ("predict-features", lambda m, t: m.predict(X[:, :1]), ShapeError, r"expects input shape \(None, 4\)"),
    ("predict-verbose", lambda m, t: m.predict(X, verbose="loud"), ConfigError, r"verbose must be 0, 1, 2 or 'auto'"),
    ("predict-empty", lambda m, t: m.predict(X[:0]), ConfigError, r"received no data"),
    # ---- compile ---------------------------------------------------------------------------
    ("compile-loss-name", lambda m, t: m.compile("adam", "mean_squared_erorr"), UnknownNameError, r"Unknown loss: 'mean_squared_erorr'"),
    ("compile-optimizer-name", lambda m, t: m.compile("adamm", "mse"), UnknownNameError, r"Unknown optimizer: 'adamm'"),
    ("compile-metric-name", lambda m, t: m.compile("adam", "mse", metrics=["acuracy"]), UnknownNameError, r"Unknown metric: 'acuracy'"),
    ("compile-loss-number", lambda m, t: m.compile("adam", loss=5), ConfigError, r"Cannot interpret 5 as a loss.*Received: int"),
    # ---- layer constructors ----------------------------------------------------------------
    ("layer-dense-units0", lambda m, t: dl.layers.Dense(0), ConfigError, r"Dense: units must be a positive integer\. Received: units=0"),
    ("layer-dense-activation", lambda m, t: dl.layers.Dense(4, activation="relux"), UnknownNameError, r"Unknown activation: 'relux'\. Expected one of: .*relu"),
    ("layer-conv-padding", lambda m, t: dl.layers.Conv2D(8, 3, padding="full"), ConfigError, r"Conv2D: unknown padding 'full'\. Expected one of: 'valid', 'same'"),
    ("layer-dropout-rate", lambda m, t: dl.layers.Dropout(1.5), ConfigError, r"Dropout rate must be a number in \[0, 1\)\. Received: rate=1\.5"),
    ("layer-embedding-dim", lambda m, t: dl.layers.Embedding(0, 4), ConfigError, r"Embedding: input_dim must be a positive integer\. Received: input_dim=0"),
    ("layer-lstm-units", lambda m, t: dl.layers.LSTM(0), ConfigError, r"LSTM: units must be a positive integer"),
    # ---- optimizers ------------------------------------------------------------------------
    ("optimizer-negative-lr", lambda m, t: dl.optimizers.Adam(learning_rate=-1.0), ConfigError, r"learning_rate.*Received: learning_rate=-1\.0"),
    ("optimizer-unknown-kwarg", lambda m, t: dl.optimizers.Adam(foo=1), ConfigError, r"Adam: argument\(s\) not recognized: \['foo'\]"),
    ("optimizer-beta", lambda m, t: dl.optimizers.Adam(beta_1=1.5), ConfigError, r"Adam: beta_1 must be a number in \[0\.0, 1\.0\)\. Received: beta_1=1\.5\. Fix"),
    # ---- set_weights / save / load ---------------------------------------------------------
    ("set-weights-count", lambda m, t: _set_weights_extra(m), ShapeError, r"has 4 weight arrays\. Received 5"),
    ("set-weights-shape", lambda m, t: _set_weights_shape(m), ShapeError, r"weight 'kernel' has shape \(4, 6\)\. Received an array of shape \(5, 6\)"),
    ("set-weights-strings", lambda m, t: _set_weights_strings(m), ShapeError, r"takes real numbers\. Received an array of dtype <U1"),
    ("load-missing", lambda m, t: dl.load_model(t / "nothing.dlm"), SerializationError, r"No such model file: .*nothing\.dlm\. Expected: an existing file\. Fix"),
    ("load-text-file", lambda m, t: _load(t, b"hello", "m.dlm"), SerializationError, r"m\.dlm is not a duallearn model file"),
    ("load-json-as-model", lambda m, t: _load(t, json.dumps({"a": 1}).encode(), "m.keras"), SerializationError, r"m\.keras is not a duallearn model file"),
    ("save-missing-folder", _save_into_missing_folder, SerializationError, r"the folder .*folder does not exist\. Fix: create it first"),
    # ---- the CLI ---------------------------------------------------------------------------
    ("cli-parity-npy", lambda m, t: _cli(t, "parity", "{tmp}/m.dlm", "--data", "{tmp}/x.npy"), ConfigError, r"^duallearn: error: .*x\.npy.*npz"),
]
# fmt: on


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_call_is_clear_and_leaves_the_model_untouched(case, backend_name, tmp_path, capsys):
    _, call, error, words = case
    with dl.use_backend(backend_name):
        twin = _twin(backend_name)
        m = _fresh()
        with pytest.raises(error, match=words):
            call(m, tmp_path)
        got = _train(m)
    capsys.readouterr()
    assert got["history"] == twin["history"]
    assert got["eval"] == twin["eval"]
    np.testing.assert_array_equal(got["predict"], twin["predict"])
    for a, b in zip(got["weights"], twin["weights"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_table_is_large_enough():
    assert len(CASES) >= 60
