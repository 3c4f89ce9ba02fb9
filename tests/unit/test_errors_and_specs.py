"""Bad input to the front-end: clear DuallearnError subclasses naming expected, received, fix."""

from __future__ import annotations

import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError, ShapeError, UnknownNameError


def test_error_hierarchy():
    for cls in (ConfigError, ShapeError, UnknownNameError):
        assert issubclass(cls, DuallearnError) and issubclass(cls, ValueError)


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (
            lambda: dl.layers.Dense(-3),
            ConfigError,
            r"units must be a positive integer\. Received: units=-3",
        ),
        (lambda: dl.layers.Dense(0), ConfigError, r"Received: units=0"),
        (lambda: dl.layers.Dense(2.5), ConfigError, r"Received: units=2\.5"),
        (
            lambda: dl.layers.Dropout(1.0),
            ConfigError,
            r"rate must be a number in \[0, 1\)\. Received: rate=1\.0",
        ),
        (lambda: dl.layers.Dropout(-0.1), ConfigError, r"Received: rate=-0\.1"),
        (
            lambda: dl.layers.Dense(3, activation="relux"),
            UnknownNameError,
            r"Unknown activation: 'relux'\. Expected one of: .*relu",
        ),
        (
            lambda: dl.layers.Dense(3, kernel_initializer="nope"),
            UnknownNameError,
            r"Unknown initializer: 'nope'",
        ),
        (lambda: dl.layers.Dense(3, unitz=4), ConfigError, r"unexpected keyword arguments: unitz"),
        (
            lambda: dl.optimizers.get("adamm"),
            UnknownNameError,
            r"Unknown optimizer: 'adamm'\. Expected one of: .*adam",
        ),
        (
            lambda: dl.losses.get("msee"),
            UnknownNameError,
            r"Unknown loss: 'msee'\. Expected one of: .*mse",
        ),
        (lambda: dl.metrics.get("acuracy"), UnknownNameError, r"Unknown metric: 'acuracy'"),
        (
            lambda: dl.optimizers.Adam(learning_rate=-1.0),
            ConfigError,
            r"learning_rate must be .*Received: learning_rate=-1\.0",
        ),
        (
            lambda: dl.optimizers.Adam(beta_1=1.0),
            ConfigError,
            r"beta_1 .*\[0\.0, 1\.0\)\. Received: beta_1=1\.0",
        ),
        (lambda: dl.optimizers.SGD(momentum=-0.5), ConfigError, r"Received: momentum=-0\.5"),
        (
            lambda: dl.losses.MeanSquaredError(reduction="avg"),
            ConfigError,
            r"Unknown loss reduction.*Received: reduction='avg'",
        ),
        (lambda: dl.layers.Input((0,)), ConfigError, r"shape must be a tuple of positive ints"),
        (
            lambda: dl.Sequential([dl.layers.Dense(2), "relu"]),
            ConfigError,
            r"Sequential takes Layer instances\. Received: 'relu'",
        ),
    ],
)
def test_construction_errors(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_dense_needs_known_last_dimension():
    with pytest.raises(
        ShapeError,
        match=r"Layer 'dense' \(Dense\) needs inputs of rank >= 2.*Received input shape \(None,\)",
    ):
        dl.layers.Dense(2)(dl.layers.SymbolicTensor((None,), "float32", "x"))


def test_fit_requires_a_loss_and_compile():
    import numpy as np

    model = dl.Sequential([dl.layers.Input((3,)), dl.layers.Dense(1)])
    with pytest.raises(ConfigError, match="must be compiled before training"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)
    model.compile(optimizer="adam")  # Keras: a loss may come from a custom train_step
    with pytest.raises(ConfigError, match="No loss to compute.*Fix: e.g. compile\\(loss="):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0)


def test_weights_are_keras_ordered_and_validated():
    model = dl.Sequential(
        [dl.layers.Input((3,)), dl.layers.Dense(4), dl.layers.Dense(2, use_bias=False)]
    )
    shapes = [w.shape for w in model.get_weights()]
    assert shapes == [(3, 4), (4,), (4, 2)]
    with pytest.raises(ShapeError, match=r"has 3 weight arrays\. Received 2"):
        model.set_weights(model.get_weights()[:2])
    bad = model.get_weights()
    bad[0] = bad[0].T
    with pytest.raises(
        ShapeError,
        match=r"Layer 'dense' weight 'kernel' has shape \(3, 4\)\. Received an array of shape \(4, 3\)",
    ):
        model.set_weights(bad)


def test_summary_counts_parameters(capsys):
    model = dl.Sequential(
        [
            dl.layers.Input((64,)),
            dl.layers.Dense(128, activation="relu"),
            dl.layers.Dropout(0.2),
            dl.layers.Dense(10),
        ]
    )
    model.summary()
    out = capsys.readouterr().out
    assert "dense (Dense)" in out and "(None, 128)" in out and "8,320" in out
    assert "Total params: 9,610" in out
