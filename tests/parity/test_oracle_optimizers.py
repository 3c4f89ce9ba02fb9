"""Independent oracles for every optimizer (issue 19): our optimizer on each engine
(``TorchOptimizer`` on torch tensors, ``TFOptimizer`` on ``tf.Variable``, driven with given
gradients) over 5-6 steps against ``keras.optimizers.X`` (``formula="keras"``, float64 variables)
and, where ``torch.optim`` has the optimizer, against it (``formula="torch"``, float64 tensors).
Hypothesis draws the hyperparameters, the number and shapes of the variables, their values and
every step's gradients (magnitudes 1e-6 to 1e3), weight decay and gradient clipping.

Keras stores hyperparameters (learning rate included) in float32 variables even for float64
weights (shared/PARITY.md §7): the drawn hyperparameters are therefore exact in float32
(dyadic: 2^-k learning rates, betas 1 − 2^-k), so Keras and duallearn use the same numbers and
the float64 ``params_10`` row judges the weights after the last step.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import both

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

pytestmark = both()
BACKENDS = ["torch", "tensorflow"]
NAMES = ["SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Lion",
         "Ftrl"]  # fmt: skip
TORCH_NAMES = {"SGD": "SGD", "Adam": "Adam", "AdamW": "AdamW", "Adamax": "Adamax",
               "Nadam": "NAdam", "RMSprop": "RMSprop", "Adagrad": "Adagrad",
               "Adadelta": "Adadelta"}  # fmt: skip

LR = st.sampled_from([2.0**-4, 2.0**-7, 2.0**-10])
BETA = st.sampled_from([0.5, 0.75, 0.875, 0.9375])
BETA2 = st.sampled_from([0.875, 0.984375, 0.9990234375])
EPSILON = st.sampled_from([2.0**-24, 2.0**-30, 2.0**-14])
DECAY = st.sampled_from([0.0, 2.0**-3, 2.0**-6])
FLOATS = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False).map(
    lambda v: 0.0 if abs(v) < 1e-100 else v
)


def hyper(draw: st.DrawFn, name: str, formula: str) -> dict:
    """Hyperparameters in duallearn's (Keras's) names, exact in float32."""
    d = draw
    lr = {"learning_rate": d(LR)}
    betas = {"beta_1": d(BETA), "beta_2": d(BETA2), "epsilon": d(EPSILON)}
    kw = {
        "SGD": lambda: {**lr, "momentum": d(st.sampled_from([0.0, 0.5, 0.875])),
                        "nesterov": d(st.booleans()),
                        **({"dampening": d(st.sampled_from([0.0, 0.25]))}
                           if formula == "torch" else {})},
        "Adam": lambda: {**lr, **betas, "amsgrad": d(st.booleans())},
        "AdamW": lambda: {**lr, **betas, "amsgrad": d(st.booleans()),
                          "weight_decay": d(st.sampled_from([2.0**-3, 2.0**-6]))},
        "Adamax": lambda: {**lr, **betas},
        "Nadam": lambda: {**lr, **betas},
        "RMSprop": lambda: {**lr, "rho": d(BETA), "epsilon": d(EPSILON),
                            "momentum": d(st.sampled_from([0.0, 0.5])),
                            "centered": d(st.booleans())},
        "Adagrad": lambda: {**lr, "epsilon": d(EPSILON),
                            "initial_accumulator_value": d(st.sampled_from([0.0, 0.125, 0.5]))
                            if formula == "torch" else d(st.sampled_from([0.125, 0.5]))},
        "Adadelta": lambda: {"learning_rate": d(st.sampled_from([1.0, 0.5])), "rho": d(BETA),
                             "epsilon": d(EPSILON)},
        "Lion": lambda: {**lr, "beta_1": d(BETA), "beta_2": d(BETA2)},
        "Ftrl": lambda: {"learning_rate": d(st.sampled_from([0.125, 0.5])),
                         "learning_rate_power": d(st.sampled_from([-0.5, -0.25])),
                         "initial_accumulator_value": d(st.sampled_from([0.125, 0.5])),
                         "l1_regularization_strength": d(st.sampled_from([0.0, 2.0**-9])),
                         "l2_regularization_strength": d(st.sampled_from([0.0, 2.0**-4])),
                         "l2_shrinkage_regularization_strength": d(st.sampled_from(
                             [0.0, 2.0**-5])),
                         "beta": d(st.sampled_from([0.0, 0.25]))},
    }[name]()  # fmt: skip
    if name == "SGD" and kw["nesterov"]:
        # Nesterov needs a momentum (and, in torch, no dampening)
        kw["momentum"] = kw["momentum"] or 0.5
        kw.pop("dampening", None)
    if name != "AdamW":
        wd = d(DECAY)
        if wd:
            kw["weight_decay"] = wd
    return kw


@st.composite
def problems(draw, name: str, formula: str):
    kw = hyper(draw, name, formula)
    clip = draw(st.sampled_from([None, "clipnorm", "global_clipnorm", "clipvalue"]))
    if formula == "keras" and clip:
        kw[clip] = draw(st.sampled_from([0.25, 1.0, 4.0]))
    shapes = draw(st.lists(st.sampled_from([(3,), (2, 3), (1, 2, 2), (1,)]), min_size=1,
                           max_size=3))  # fmt: skip
    w0 = [draw(hnp.arrays(np.float64, s, elements=FLOATS)) for s in shapes]
    steps = draw(st.integers(5, 6))
    scale = draw(st.sampled_from([1.0, 1e-6, 1e-2, 1e3]))
    grads = [[draw(hnp.arrays(np.float64, s, elements=FLOATS)) * scale for s in shapes]
             for _ in range(steps)]  # fmt: skip
    return kw, w0, grads


def run_ours(backend: str, spec, w0, grads) -> list[np.ndarray]:
    if backend == "torch":
        import torch
        from duallearn_torch._optimizers import TorchOptimizer

        ps = [torch.tensor(w.copy()) for w in w0]
        opt = TorchOptimizer(spec, ps)
        for it, gs in enumerate(grads):
            opt.apply([torch.tensor(g) for g in gs], spec.current_learning_rate(it))
        return [p.numpy() for p in ps]
    import tensorflow as tf
    from duallearn_tensorflow._optimizers import TFOptimizer

    vs = [tf.Variable(w.copy()) for w in w0]
    opt = TFOptimizer(spec, vs)
    for it, gs in enumerate(grads):
        opt.apply([tf.constant(g) for g in gs], spec.current_learning_rate(it))
    return [v.numpy() for v in vs]


def run_keras(name: str, kw: dict, w0, grads) -> list[np.ndarray]:
    import keras

    opt = getattr(keras.optimizers, name)(**kw)
    vs = [keras.Variable(w.copy(), dtype="float64") for w in w0]
    for gs in grads:
        opt.apply([keras.ops.convert_to_tensor(g) for g in gs], vs)
    return [np.asarray(v.numpy()) for v in vs]


def run_torch(name: str, kw: dict, w0, grads) -> list[np.ndarray]:
    """torch.optim.X with the same hyperparameters in torch's names (float64 default dtype:
    NAdam keeps its mu product in it)."""
    import torch

    t = {"lr": kw["learning_rate"]}
    if "beta_1" in kw:
        t["betas"] = (kw["beta_1"], kw["beta_2"])
    for ours, theirs in [("epsilon", "eps"), ("amsgrad", "amsgrad"), ("momentum", "momentum"),
                         ("nesterov", "nesterov"), ("dampening", "dampening"),
                         ("centered", "centered"), ("weight_decay", "weight_decay"),
                         ("initial_accumulator_value", "initial_accumulator_value")]:  # fmt: skip
        if ours in kw:
            t[theirs] = kw[ours]
    if name == "RMSprop":
        t["alpha"] = kw["rho"]
    if name == "Adadelta":
        t["rho"] = kw["rho"]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ps = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
        opt = getattr(torch.optim, TORCH_NAMES[name])(ps, **t)
        for gs in grads:
            for p, g in zip(ps, gs, strict=True):
                p.grad = torch.tensor(g)
            opt.step()
    finally:
        torch.set_default_dtype(old)
    return [p.detach().numpy() for p in ps]


def judge(label: str, got, want, dtype: str = "float64") -> None:
    """Weights after the steps within ``params_10``; the absolute term is scaled by at least 1,
    the magnitude of the drawn weights and accumulators: an update built from near-cancelling
    terms (Ftrl's σ = (√n_new − √n_old)/lr under a 1e-6 gradient) carries rounding of that
    size even when the weight it produces is 1e-7."""
    assert len(got) == len(want), label
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert_close(f"{label} weight {i}", a, b, dtype, "params_10", scale=1.0)


# Keras builds Nadam's 0.96 through float32 (decay = ops.cast(0.96, dtype); recorded in
# tests/parity/test_optimizers.py): Nadam is judged by the float32 row.
KERAS_F32 = {"Nadam"}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_keras_formula(backend, name, data):
    """formula="keras" on the engine vs keras.optimizers.X (weight decay, clipping drawn)."""
    kw, w0, grads = data.draw(problems(name, "keras"))
    ours = run_ours(backend, getattr(dl.optimizers, name)(**kw), w0, grads)
    theirs = run_keras(name, kw, w0, grads)
    judge(f"{name}{kw} on {backend}, {len(grads)} steps, vs Keras", ours, theirs,
          "float32" if name in KERAS_F32 else "float64")  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(TORCH_NAMES))
@given(data=st.data())
def test_torch_formula(backend, name, data):
    """formula="torch" on the engine vs torch.optim.X (coupled weight decay, torch's epsilon
    placement, SGD dampening, Adagrad's initial accumulator)."""
    kw, w0, grads = data.draw(problems(name, "torch"))
    ours = run_ours(backend, getattr(dl.optimizers, name)(formula="torch", **kw), w0, grads)
    theirs = run_torch(name, kw, w0, grads)
    judge(f"{name}{kw} formula=torch on {backend}, {len(grads)} steps, vs torch.optim", ours,
          theirs)  # fmt: skip
