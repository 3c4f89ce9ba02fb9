"""Optimizers: 200-step float64 trajectories vs the numpy reference and across backends,
10-step float32 trajectories, with schedules, clipping, weight decay, EMA and gradient
accumulation; external oracles (keras.optimizers.X, torch.optim.X); state save/restore across
backends; schedules vs keras; bad hyperparameters.

The backend optimizers are driven directly with given gradients (``TorchOptimizer`` /
``TFOptimizer`` built on plain tensors/variables, identity conversions).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import BACKENDS
from . import _draw
from ._draw import SEEDS

O = dl.optimizers
S = dl.optimizers.schedules
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no backend installed")
NAMES = [
    "SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Lion", "Ftrl",
]  # fmt: skip
WEIGHT_NAMES = ["kernel", "bias", "gamma"]


def draw_hyper(name: str, formula: str, r: np.random.Generator) -> dict:
    def u(a, b):
        return float(r.uniform(a, b))

    lr = 10 ** u(-3, -1.3)
    betas = {"beta_1": u(0.5, 0.95), "beta_2": u(0.9, 0.9999), "epsilon": 10 ** u(-8, -4)}
    kw: dict = {
        "SGD": {
            "learning_rate": lr,
            "momentum": 0.0 if r.uniform() < 0.25 else u(0.1, 0.95),
            "nesterov": bool(r.integers(2)),
            **({"dampening": u(0, 0.5)} if formula == "torch" else {}),
        },
        "Adam": {"learning_rate": lr, **betas, "amsgrad": bool(r.integers(2))},
        "AdamW": {"learning_rate": lr, **betas, "weight_decay": u(0.001, 0.1)},
        "Adamax": {"learning_rate": lr, **betas},
        "Nadam": {"learning_rate": lr, **betas},
        "RMSprop": {
            "learning_rate": lr,
            "rho": u(0.5, 0.99),
            "momentum": 0.0 if r.uniform() < 0.5 else u(0.1, 0.9),
            "epsilon": 10 ** u(-7, -4),
            "centered": bool(r.integers(2)),
        },
        "Adagrad": {
            "learning_rate": lr,
            "initial_accumulator_value": u(0.0, 0.5),
            "epsilon": 10 ** u(-7, -4),
        },
        "Adadelta": {"learning_rate": u(0.1, 1.0), "rho": u(0.5, 0.99), "epsilon": 10 ** u(-7, -4)},
        "Lion": {"learning_rate": lr * 0.1, "beta_1": u(0.5, 0.95), "beta_2": u(0.9, 0.999)},
        "Ftrl": {
            "learning_rate": u(0.05, 0.5),
            "learning_rate_power": -u(0.3, 0.7),
            "initial_accumulator_value": u(0.05, 0.5),
            "l1_regularization_strength": u(0.0, 0.01),
            "l2_regularization_strength": u(0.0, 0.1),
            "l2_shrinkage_regularization_strength": u(0.0, 0.1),
            "beta": u(0.0, 0.5),
        },
    }[name]
    return kw


def draw_features(r: np.random.Generator, on: bool | None = None) -> dict:
    """Schedule, clipping, weight decay (with an exclusion), EMA, accumulation."""
    pick = (lambda p: on) if on is not None else (lambda p: bool(r.uniform() < p))
    f: dict = {}
    if pick(0.5):
        f["weight_decay"] = float(r.uniform(0.01, 0.2))
        f["exclude_from_weight_decay"] = ["bias"]
    clip = int(r.integers(0, 4)) if on is None else int(r.integers(1, 4))
    if clip == 1:
        f["clipnorm"] = float(r.uniform(0.2, 2.0))
    elif clip == 2:
        f["global_clipnorm"] = float(r.uniform(0.2, 2.0))
    elif clip == 3:
        f["clipvalue"] = float(r.uniform(0.1, 1.0))
    if pick(0.5):
        f["use_ema"] = True
        f["ema_momentum"] = float(r.uniform(0.5, 0.99))
        f["ema_overwrite_frequency"] = int(r.integers(3, 20)) if r.uniform() < 0.5 else None
    if pick(0.3):
        f["gradient_accumulation_steps"] = int(r.integers(2, 4))
    return f


def make(name, formula, hyper, features, schedule):
    kw = {**hyper, **features}
    if name == "AdamW" and "weight_decay" in features:
        kw["weight_decay"] = features["weight_decay"]
    if schedule:
        lr0 = kw["learning_rate"]
        kw["learning_rate"] = S.CosineDecay(
            lr0, 120, alpha=0.1, warmup_target=2 * lr0, warmup_steps=7
        )
    return getattr(O, name)(formula=formula, **kw)


def reference(spec, w0, grads, names):
    ws = [np.array(w, np.float64) for w in w0]
    slots = [{s: spec.init_slot(s, w) for s in spec.slot_names()} for w in ws]
    for it, gs in enumerate(grads):
        lr = spec.current_learning_rate(it)
        ws, slots = spec.reference_apply(
            ws, [g.astype(np.float64) for g in gs], slots, it, lr, names
        )
    return ws, slots


def run_torch(spec, w0, grads, names, dtype, state=None):
    import torch
    from duallearn_torch._optimizers import TorchOptimizer

    ps = [torch.tensor(np.asarray(w, dtype)) for w in w0]
    opt = TorchOptimizer(spec, ps, names=names)
    start = 0
    if state is not None:
        opt.load(state)
        start = int(state["iterations"])
    for it, gs in enumerate(grads, start=start):
        opt.apply([torch.tensor(g.astype(dtype)) for g in gs], spec.current_learning_rate(it))
    return [p.numpy() for p in ps], opt.state()


def run_tf(spec, w0, grads, names, dtype, state=None):
    import tensorflow as tf
    from duallearn_tensorflow._optimizers import TFOptimizer

    vs = [tf.Variable(np.asarray(w, dtype)) for w in w0]
    opt = TFOptimizer(spec, vs, names=names)
    start = 0
    if state is not None:
        opt.load(state)
        start = int(state["iterations"])
    fn = tf.function(lambda g, lr: opt.apply(list(g), lr), autograph=False)
    for it, gs in enumerate(grads, start=start):
        fn(
            tuple(tf.constant(g.astype(dtype)) for g in gs),
            tf.constant(spec.current_learning_rate(it), tf.float64),
        )
    return [v.numpy() for v in vs], opt.state()


RUN = {"torch": run_torch, "tensorflow": run_tf}


def problem(seed: int, steps: int):
    r = np.random.default_rng(seed)
    shapes = [(3, 5), (5,), (1, 3, 2)][: int(r.integers(1, 4))]
    w0 = [r.standard_normal(s) for s in shapes]
    scale = 10 ** r.uniform(-2, 0.5)
    grads = [[r.standard_normal(s) * scale for s in shapes] for _ in range(steps)]
    return r, w0, grads, WEIGHT_NAMES[: len(shapes)]


class _Drawn:
    """The numpy Generator methods draw_hyper/draw_features use, answered by hypothesis: each
    hyperparameter and feature switch is drawn (and shrinks toward its range's low end)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def uniform(self, lo: float = 0.0, hi: float = 1.0) -> float:
        return self.draw(st.floats(lo, hi, exclude_max=hi > lo))

    def integers(self, lo: int, hi: int | None = None) -> int:
        lo, hi = (0, lo) if hi is None else (lo, hi)
        return self.draw(st.integers(lo, hi - 1))


@st.composite
def drawn_problems(draw, steps: int):
    """Hypothesis-drawn weights (magnitudes 1, 1e-2, 1e3, exact zeros) and the first gradients
    (exact zeros, 1e-6 to 1e3: where ε, clipping and the accumulators' first updates matter);
    the later steps' gradients come from numpy (a drawn seed): 200 steps of drawn arrays would
    not fit hypothesis's buffer."""
    n = draw(st.integers(1, 3))
    shapes = [(3, 5), (5,), (1, 3, 2)][:n]
    w0 = [_draw.values(draw, s) for s in shapes]
    first = [[_draw.values(draw, s, (1e-6, 1.0, 1e3)) for s in shapes] for _ in range(3)]
    r = np.random.default_rng(draw(SEEDS))
    scale = 10 ** r.uniform(-2, 0.5)
    rest = [[r.standard_normal(s) * scale for s in shapes] for _ in range(steps - len(first))]
    return w0, first + rest, WEIGHT_NAMES[:n]


def fixed_run(name, formula, dtype):
    """``(seed, steps)`` of the fixed float64 and float32 trajectories (the rows of
    docs/optimizers.md §1.4, printed by tools/optimizer_table.py)."""
    if dtype == "float64":
        return NAMES.index(name) * 7 + len(formula), 200
    return 100 + NAMES.index(name), 10


def run_trajectory(name, formula, seed, dtype, steps, features_on=None, schedule=None, drawn=None):
    """One trajectory: from a numpy seed, or ``drawn = (draw, (w0, grads, names))`` where
    hypothesis draws the problem, the hyperparameters and the features. Returns a label of
    the draw, the reference's weights and slots, and ``{backend: (weights, slots)}``."""
    if drawn is None:
        r, w0, grads, names = problem(seed, steps)
    else:
        r, (w0, grads, names) = _Drawn(drawn[0]), drawn[1]
    hyper = draw_hyper(name, formula, r)
    feats = draw_features(r, features_on)
    sched = bool(r.integers(2)) if schedule is None else schedule
    spec = make(name, formula, hyper, feats, sched)
    ref_w, ref_s = reference(spec, w0, grads, names)
    runs = {b: RUN[b](spec, w0, grads, names, dtype) for b in BACKENDS}
    return f"{feats} sched={sched}", ref_w, ref_s, runs


def check_trajectory(
    name, formula, seed, dtype, steps, features_on=None, schedule=None, drawn=None
):
    """:func:`run_trajectory`, every backend's weights (float64: and slots) against the
    reference, and the backends against each other."""
    tag, ref_w, ref_s, runs = run_trajectory(
        name, formula, seed, dtype, steps, features_on, schedule, drawn
    )
    kind = "params_100" if steps >= 100 else "params_10"
    for b, (ws, st_) in runs.items():
        label = f"{name}/{formula} {b} {dtype} {tag}"
        for i, (a, e) in enumerate(zip(ws, ref_w, strict=True)):
            assert_close(f"{label} weight {i}", a, e, dtype, kind)
        if dtype == "float64":
            for i, s in enumerate(ref_s):
                for k, v in s.items():
                    assert_close(f"{label} slot {k}/{i}", st_[f"{k}/{i}"], v, dtype, kind)
    if len(runs) == 2:
        for a, e in zip(runs["torch"][0], runs["tensorflow"][0], strict=True):
            assert_close(f"{name}/{formula} torch vs tf", a, e, dtype, kind)


@pytest.mark.parametrize("formula", ["keras", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_float64_200_steps_all_features(name, formula):
    """Schedule + clipping + weight decay + EMA + accumulation on: 1e-9 relative."""
    seed, steps = fixed_run(name, formula, "float64")
    check_trajectory(name, formula, seed=seed, dtype="float64", steps=steps, features_on=True,
                     schedule=True)  # fmt: skip


@pytest.mark.parametrize("formula", ["keras", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_float32_10_steps(name, formula):
    seed, steps = fixed_run(name, formula, "float32")
    check_trajectory(name, formula, seed=seed, dtype="float32", steps=steps, features_on=True,
                     schedule=True)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@given(formula=st.sampled_from(["keras", "torch"]), problem_=drawn_problems(24), data=st.data())
def test_drawn_optimizer_float64_24_steps(name, formula, problem_, data):
    """Drawn hyperparameters, shapes, weights, gradients and feature subsets, each optimizer on
    its own examples (docs/testing_profiles.md: a planted Adam bug took 32 derandomized
    examples when the 10 optimizers shared one test). 24 steps keep an example cheap; the
    200-step trajectories are test_every_optimizer_float64_200_steps_all_features'."""
    check_trajectory(name, formula, 0, "float64", 24, drawn=(data.draw, problem_))


@pytest.mark.parametrize("name", ["Nadam", "RMSprop", "SGD"])
def test_state_restores_on_the_other_backend(name):
    """100 steps on one backend, state() → load() on the other, 100 more: equals 200 steps
    of the reference (canonical keys: iterations, '<slot>/<i>')."""
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    r, w0, grads, names = problem(41, 200)
    spec = make(name, "keras", draw_hyper(name, "keras", r),
                {"use_ema": True, "gradient_accumulation_steps": 2, "clipnorm": 1.0}, True)  # fmt: skip
    ref_w, _ = reference(spec, w0, grads, names)
    for first, second in [("torch", "tensorflow"), ("tensorflow", "torch")]:
        ws, state = RUN[first](spec, w0, grads[:100], names, "float64")
        assert set(state) == {"iterations"} | {
            f"{s}/{i}" for s in spec.slot_names() for i in range(len(w0))
        }
        ws2, _ = RUN[second](spec, ws, grads[100:], names, "float64", state=state)
        for a, e in zip(ws2, ref_w, strict=True):
            assert_close(f"{name} {first}->{second}", a, e, "float64", "params_100")


# ---- external oracles ------------------------------------------------------------------------

# float32-exact hyperparameters: Keras casts Python floats through float32 (PARITY.md §7)
KB = {"beta_1": 0.875, "beta_2": 0.9990234375, "epsilon": 2.0**-24}
KERAS_CASES = {
    "SGD": ({"momentum": 0.875, "nesterov": True}, {}),
    "Adam": ({**KB, "amsgrad": True}, {}),
    "AdamW": ({**KB, "weight_decay": 0.25}, {}),
    "Adamax": (KB, {}),
    "Nadam": (KB, {}),
    "RMSprop": ({"rho": 0.875, "momentum": 0.5, "centered": True, "epsilon": 2.0**-24}, {}),
    "Adagrad": ({"initial_accumulator_value": 0.125, "epsilon": 2.0**-24}, {}),
    "Adadelta": ({"rho": 0.9375, "epsilon": 2.0**-24}, {}),
    "Lion": ({"beta_1": 0.875, "beta_2": 0.984375}, {}),
    "Ftrl": (
        {
            "learning_rate_power": -0.5,
            "initial_accumulator_value": 0.125,
            "l1_regularization_strength": 0.001953125,
            "l2_regularization_strength": 0.0625,
            "l2_shrinkage_regularization_strength": 0.03125,
            "beta": 0.25,
        },
        {},
    ),
    "Adam+features": (
        KB,
        {
            "weight_decay": 0.25,
            "global_clipnorm": 0.5,
            "use_ema": True,
            "ema_momentum": 0.875,
            "ema_overwrite_frequency": 5,
            "gradient_accumulation_steps": 3,
        },
    ),  # fmt: skip
    "SGD+clipnorm": ({"momentum": 0.5}, {"clipnorm": 0.125, "weight_decay": 0.5}),
    "RMSprop+clipvalue": ({}, {"clipvalue": 0.0625, "use_ema": True, "ema_momentum": 0.75}),
}
# Recorded: Keras's Nadam builds 0.96 through float32 (decay = ops.cast(0.96, dtype)) even for
# float64 variables: judged by the table's float32_constant row, not the float64 params_100 row.
FLOAT32_CONSTANT = {"Nadam"}


def run_keras(kopt, w0, grads):
    import keras

    vs = [keras.Variable(np.array(w), dtype="float64") for w in w0]
    for gs in grads:
        kopt.apply([keras.ops.convert_to_tensor(g) for g in gs], vs)
    return [np.asarray(v.numpy()) for v in vs]


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_oracle(case):
    keras = importlib.import_module("keras")
    name = case.split("+")[0]
    hyper, feats = KERAS_CASES[case]
    lr = {"Adadelta": 1.0, "Ftrl": 0.125}.get(name, 2.0**-7)
    r = np.random.default_rng(3)
    w0 = [r.standard_normal((3, 4)), r.standard_normal((4,))]
    grads = [[r.standard_normal(w.shape) * 0.1 for w in w0] for _ in range(200)]
    ours, _ = reference(getattr(O, name)(learning_rate=lr, **hyper, **feats), w0, grads, None)
    theirs = run_keras(
        getattr(keras.optimizers, name)(learning_rate=lr, **hyper, **feats), w0, grads
    )
    # float64 on both sides, 200 steps: the params_100 row, or float32_constant (FLOAT32_CONSTANT)
    row = "float32_constant" if name in FLOAT32_CONSTANT else "params_100"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(f"{case} weight {i} vs keras.optimizers", a, b, "float64", row)


@pytest.mark.parametrize("name", NAMES)
def test_keras_oracle_defaults(name):
    """Keras defaults (0.9, 0.999, 1e-7... are rounded through float32 inside Keras even for
    float64 variables): the table's float32_defaults row after 200 steps."""
    keras = importlib.import_module("keras")
    r = np.random.default_rng(4)
    w0 = [r.standard_normal((3, 4)), r.standard_normal((4,))]
    grads = [[r.standard_normal(w.shape) * 0.1 for w in w0] for _ in range(200)]
    ours, _ = reference(getattr(O, name)(), w0, grads, None)
    theirs = run_keras(getattr(keras.optimizers, name)(), w0, grads)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(f"{name} weight {i} vs keras.optimizers", a, b, "float64", "float32_defaults")


TORCH_CASES = {
    "SGD": ("SGD", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
            {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, None),
    "SGD-dampening-clip": ("SGD", {"learning_rate": 0.01, "momentum": 0.9, "dampening": 0.3,
                                   "global_clipnorm": 0.3},
                           {"lr": 0.01, "momentum": 0.9, "dampening": 0.3}, 0.3),
    "Adam": ("Adam", {"learning_rate": 1e-3, "epsilon": 1e-8, "amsgrad": True, "weight_decay": 0.1},
             {"lr": 1e-3, "amsgrad": True, "weight_decay": 0.1}, None),
    "AdamW": ("AdamW", {"learning_rate": 1e-3, "weight_decay": 0.01, "epsilon": 1e-8},
              {"lr": 1e-3}, None),
    "Adamax": ("Adamax", {"learning_rate": 2e-3, "epsilon": 1e-8, "weight_decay": 0.1},
               {"lr": 2e-3, "weight_decay": 0.1}, None),
    "NAdam": ("Nadam", {"learning_rate": 2e-3, "epsilon": 1e-8, "weight_decay": 0.1},
              {"lr": 2e-3, "weight_decay": 0.1}, None),
    "RMSprop": ("RMSprop", {"learning_rate": 1e-2, "rho": 0.99, "epsilon": 1e-8, "momentum": 0.5,
                            "centered": True},
                {"lr": 1e-2, "momentum": 0.5, "centered": True}, None),
    "Adagrad": ("Adagrad", {"learning_rate": 1e-2, "initial_accumulator_value": 0.0,
                            "epsilon": 1e-10},
                {"lr": 1e-2}, None),
    "Adadelta": ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6,
                              "weight_decay": 0.1},
                 {"lr": 1.0, "weight_decay": 0.1}, None),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_torch_oracle(case):
    """formula="torch" (with torch's defaults passed explicitly) == torch.optim.X."""
    torch = pytest.importorskip("torch")
    ours_name, kw, tkw, clip = TORCH_CASES[case]
    tname = case.split("-")[0]
    r = np.random.default_rng(5)
    w0 = [r.standard_normal((3, 4)), r.standard_normal((4,))]
    grads = [[r.standard_normal(w.shape) * 0.1 for w in w0] for _ in range(200)]
    ours, _ = reference(getattr(O, ours_name)(formula="torch", **kw), w0, grads, None)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps NAdam's mu_product in this dtype
    try:
        ps = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
        opt = getattr(torch.optim, tname)(ps, **tkw)
        for gs in grads:
            for p, g in zip(ps, gs, strict=True):
                p.grad = torch.tensor(g)
            if clip:
                torch.nn.utils.clip_grad_norm_(ps, clip)
            opt.step()
    finally:
        torch.set_default_dtype(old)
    for i, (a, b) in enumerate(zip(ours, [p.detach().numpy() for p in ps], strict=True)):
        # float64 on both sides, 200 steps: the params_100 row
        assert_close(f"{case} weight {i} vs torch.optim", a, b, "float64", "params_100")


# ---- schedules, EMA in fit, bad input --------------------------------------------------------

SCHEDULES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}),
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5,
                          "staircase": True}),
    ("PiecewiseConstantDecay", {"boundaries": [5, 20], "values": [0.1, 0.05, 0.01]}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 30, "power": 2.0}),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 13, "cycle": True}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 40, "alpha": 0.1}),
    ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 40, "warmup_target": 0.1,
                     "warmup_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10}),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10,
                             "t_mul": 1.0, "m_mul": 0.5, "alpha": 0.05}),
]  # fmt: skip


@pytest.mark.parametrize("i", range(len(SCHEDULES)))
def test_schedule_vs_keras(i):
    """duallearn evaluates in float64, Keras in float32: recorded bound 1e-6 relative to the
    schedule's scale (float32 cancellation in 1 + cos near the end of a cosine period)."""
    keras = importlib.import_module("keras")
    name, kw = SCHEDULES[i]
    ours = getattr(S, name)(**kw)
    theirs = getattr(keras.optimizers.schedules, name)(**kw)
    steps = [0, 1, 3, 5, 6, 7, 10, 19, 20, 21, 33, 49, 50, 80]
    a = np.array([ours(step) for step in steps])
    b = np.array([float(theirs(step)) for step in steps])
    # Keras in float32: the layer row, its absolute term scaled by the schedule's largest value
    assert_close(f"{name} {kw} at steps {steps}", a, b, "float32", "layer")
    again = S.deserialize(S.serialize(ours))
    assert [again(s) for s in range(30)] == [ours(s) for s in range(30)]
    opt = O.get(O.serialize(O.SGD(learning_rate=ours)))
    assert opt.current_learning_rate(9) == ours(9)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_ema_weights_at_end_of_fit(backend_name):
    """use_ema: fit ends with the weights overwritten by their moving average (Keras)."""
    dl.config.set_floatx("float64")
    r = np.random.default_rng(2)
    x, y = r.standard_normal((16, 3)), r.standard_normal((16, 2))
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((3,)), dl.layers.Dense(2)])
        model.compile(optimizer=O.SGD(0.1, momentum=0.5, use_ema=True, ema_momentum=0.8),
                      loss="mse")  # fmt: skip
        w0 = model.get_weights()
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        state = model._runtime.optimizer_state()
        w = model.get_weights()
        paths = [v.path for v in model.weights]  # slots are keyed by variable path
    for i in range(2):
        np.testing.assert_array_equal(w[i], state[f"average/{paths[i]}"])
    assert not np.allclose(w[0], w0[0])


@pytest.mark.parametrize(
    "make_bad, match",
    [
        (lambda: O.Adam(learning_rate=-1e-3), "learning_rate"),
        (lambda: O.Adam(beta_1=1.0), "beta_1"),
        (lambda: O.Nadam(beta_2=-0.1), "beta_2"),
        (lambda: O.Adamax(epsilon=-1.0), "epsilon"),
        (lambda: O.RMSprop(rho=1.5), "rho"),
        (lambda: O.SGD(momentum=2.0), "momentum"),
        (lambda: O.Lion(beta_1=0.0), "beta_1"),
        (lambda: O.SGD(clipnorm=1.0, global_clipnorm=1.0), "only one of clipnorm"),
        (lambda: O.SGD(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
        (lambda: O.SGD(use_ema=True, ema_momentum=1.5), "ema_momentum"),
        (lambda: O.SGD(formula="pytorch"), "formula"),
        (lambda: O.AdamW(weight_decay=None), "weight_decay"),
        (lambda: O.SGD(learning_rate=float("nan")), "learning_rate"),
        (lambda: O.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
        (lambda: S.PiecewiseConstantDecay([1, 2], [0.1]), "boundaries"),
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
    ],
)
def test_bad_hyperparameters(make_bad, match):
    with pytest.raises(ConfigError, match=match):
        make_bad()


def test_exports_and_aliases():
    for alias, cls in [("sgd", O.SGD), ("adam", O.Adam), ("adamw", O.AdamW), ("adamax", O.Adamax),
                       ("nadam", O.Nadam), ("rmsprop", O.RMSprop), ("adagrad", O.Adagrad),
                       ("adadelta", O.Adadelta), ("lion", O.Lion), ("ftrl", O.Ftrl)]:  # fmt: skip
        assert type(O.get(alias)) is cls
        opt = cls(formula="torch", weight_decay=0.01, use_ema=True, clipvalue=1.0)
        again = O.get(O.serialize(opt))
        assert again.get_config() == opt.get_config()
    import duallearn.schedules as legacy_path

    assert legacy_path.CosineDecay is S.CosineDecay
    assert math.isclose(S.CosineDecay(1.0, 10)(5), 0.5)


def test_saved_optimizer_state_continues_on_the_other_backend(tmp_path):
    """fit on one engine, save (.dlm), load on the other, fit more: the same weights as
    continuing on the first engine (weight decay with exclusion, EMA, accumulation on)."""
    if len(BACKENDS) < 2:
        pytest.skip("needs both backends")
    dl.config.set_floatx("float64")
    r = np.random.default_rng(8)
    x, y = r.standard_normal((12, 3)), r.standard_normal((12, 2))
    results = {}
    for first, second in [("torch", "tensorflow"), ("tensorflow", "torch")]:
        dl.set_random_seed(7)
        with dl.use_backend(first):
            model = dl.Sequential([dl.layers.Input((3,)), dl.layers.Dense(2)])
            opt = O.Nadam(0.05, weight_decay=0.1, exclude_from_weight_decay=["bias"],
                          use_ema=True, gradient_accumulation_steps=2)  # fmt: skip
            model.compile(optimizer=opt, loss="mse")
            model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
            path = str(tmp_path / f"{first}.dlm")
            model.save(path)
            model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
            same = model.get_weights()
        other = dl.saving.load_model(path, backend=second)
        assert other.optimizer.iterations == 6
        other.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        for a, e in zip(other.get_weights(), same, strict=True):
            assert_close(f"{first}->{second}", a, e, "float64", "params_10")
        results[first] = same
    for a, e in zip(results["torch"], results["tensorflow"], strict=True):
        assert_close("torch vs tensorflow", a, e, "float64", "params_10")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_exclude_from_weight_decay_by_weight_name(backend_name):
    """Zero gradients: only decoupled decay acts, on the kernel and not on the bias."""
    dl.config.set_floatx("float64")
    x = np.random.default_rng(0).standard_normal((4, 3))
    with dl.use_backend(backend_name):
        model = dl.Sequential([dl.layers.Input((3,)), dl.layers.Dense(2, bias_initializer="ones")])
        opt = O.SGD(0.5, weight_decay=0.1)
        opt.exclude_from_weight_decay(var_names=["bias"])
        model.compile(optimizer=opt, loss="mse")
        k0, b0 = model.get_weights()
        model.fit(x, model.predict(x, verbose=0), batch_size=4, epochs=1, verbose=0)
        k1, b1 = model.get_weights()
    assert_close("kernel after one decay step", k1, k0 * (1 - 0.1 * 0.5), "float64", "step", lr=0.5)
    np.testing.assert_array_equal(b1, b0)


@pytest.mark.parametrize("formula", ["keras", "torch"])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_torch_fused_adam_kernel_gives_the_foreach_numbers(formula: str, amsgrad: bool) -> None:
    """The torch backend runs Adam/AdamW through torch's fused kernel; the step-by-step
    ``_foreach`` path it replaced (and that torch.compile traces) is the reference (float32
    table, 20 steps)."""
    import torch

    topt = importlib.import_module("duallearn_torch._optimizers")
    rng = np.random.default_rng(3)
    shapes = [(7, 5), (5,), (5, 3)]
    start = [rng.standard_normal(s).astype("float32") for s in shapes]
    grads = [[rng.standard_normal(s).astype("float32") for s in shapes] for _ in range(20)]
    spec = dl.optimizers.Adam(1e-2, amsgrad=amsgrad, formula=formula)
    real = topt._fusable
    runs = []
    for fused in (True, False):
        params = [torch.tensor(a) for a in start]
        slots = {n: [torch.zeros_like(p) for p in params]
                 for n in ("momentum", "velocity", "velocity_hat")}  # fmt: skip
        assert real(params, params) is True
        topt._fusable = real if fused else (lambda *a: False)
        try:
            for step, gs in enumerate(grads, start=1):
                topt.adam(spec, params, [torch.tensor(g) for g in gs], slots, 1e-2, step)
        finally:
            topt._fusable = real
        runs.append([p.numpy() for p in params])
    for k, (a, b) in enumerate(zip(*runs, strict=True)):
        assert_close(f"fused vs foreach [{k}]", a, b, "float32", "params_10")
    assert np.abs(runs[0][0] - start[0]).max() > 1e-2  # it moved


@pytest.mark.parametrize("nesterov, dampening", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_torch_fused_sgd_kernel_gives_torch_optim_numbers(nesterov: bool, dampening: float) -> None:
    """SGD with momentum under ``formula="torch"`` runs torch's fused SGD kernel on the torch
    backend; torch.optim.SGD's own for-loop (an independent oracle) and the ``_foreach`` path
    it replaced give the same parameters over 15 steps (float32 table), first step included
    (the buffer starts as the gradient)."""
    import torch

    topt = importlib.import_module("duallearn_torch._optimizers")
    rng = np.random.default_rng(5)
    shapes = [(6, 4), (4,)]
    start = [rng.standard_normal(s).astype("float32") for s in shapes]
    grads = [[rng.standard_normal(s).astype("float32") for s in shapes] for _ in range(15)]
    spec = dl.optimizers.SGD(
        0.05, momentum=0.9, nesterov=nesterov, dampening=dampening, formula="torch"
    )
    real, kernel, calls = topt._fusable, torch._fused_sgd_, []
    runs = []
    for fused in (True, False):
        params = [torch.tensor(a) for a in start]
        slots = {"momentum": [torch.zeros_like(p) for p in params]}
        topt._fusable = real if fused else (lambda *a: False)
        torch._fused_sgd_ = lambda *a, **k: (calls.append(k["is_first_step"]), kernel(*a, **k))
        try:
            for step, gs in enumerate(grads, start=1):
                topt.sgd(spec, params, [torch.tensor(g) for g in gs], slots, 0.05, step)
        finally:
            topt._fusable, torch._fused_sgd_ = real, kernel
        runs.append([p.numpy() for p in params])
    assert calls == [True] + [False] * 14  # the fused run went through the kernel, once a step
    ref = [torch.nn.Parameter(torch.tensor(a)) for a in start]
    opt = torch.optim.SGD(ref, lr=0.05, momentum=0.9, nesterov=nesterov, dampening=dampening)
    for gs in grads:
        for p, g in zip(ref, gs, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    for k in range(len(shapes)):
        want = ref[k].detach().numpy()
        assert_close(f"fused vs torch.optim [{k}]", runs[0][k], want, "float32", "params_10")
        assert_close(f"foreach vs torch.optim [{k}]", runs[1][k], want, "float32", "params_10")
    assert np.abs(runs[0][0] - start[0]).max() > 1e-2  # it moved
