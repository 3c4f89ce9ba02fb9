"""Independent oracles for every loss and every metric (issue 19): our loss called on each
engine's native tensors (torch, TensorFlow) against real ``keras.losses`` (value, and gradient
w.r.t. ``y_pred`` through ``tf.GradientTape``) for every reduction, with and without sample
weights, and, where PyTorch has the loss, against ``torch.nn.functional`` with
``torch.autograd`` (torch gives the per-element formula; Keras's reduction is applied to it
here). Every metric is streamed over 2-3 drawn batches on each engine and compared with the
same ``keras.metrics`` object streamed over the same batches. float64 throughout (Keras given
``dtype="float64"``); hypothesis draws the options, shapes and values (probabilities at 0 and 1
exactly, large logits, single-element batches, zero sample weights).

Judging: a loss value by the ``forward`` row with the absolute term scaled by at least 1 (a loss
that cancels to 0, such as the cosine of orthogonal vectors, is exactly 0 in one framework and a
rounding residue in another); gradients by the ``gradient`` row scaled by the largest gradient
or cotangent; metric results by the ``forward`` row (the ``float32`` row where Keras keeps the
metric's state or result in float32, named per case).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import both
from ._keras_compare import keras_floatx

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

pytestmark = both()
BACKENDS = ["torch", "tensorflow"]
EPS = 1e-7  # Keras's fuzz factor: the clip of probability inputs
REDUCTIONS = ["sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none"]

UNIT = st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False).map(
    lambda v: 0.0 if v < 1e-100 else v  # TF flushes subnormals (shared/PARITY.md §10)
)
REAL = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False).map(
    lambda v: 0.0 if abs(v) < 1e-100 else v
)


def keras():
    import keras as k

    return k


# ---- losses -----------------------------------------------------------------------------------

# name -> (keras/duallearn class, target kind, prediction kind, torch has it)
LOSSES = {
    "mse": ("MeanSquaredError", "real", "real", True),
    "mae": ("MeanAbsoluteError", "real", "real", True),
    "mape": ("MeanAbsolutePercentageError", "real", "real", False),
    "msle": ("MeanSquaredLogarithmicError", "positive", "positive", False),
    "huber": ("Huber", "real", "real", True),
    "log_cosh": ("LogCosh", "real", "real", False),
    "cosine": ("CosineSimilarity", "real", "real", True),
    "hinge": ("Hinge", "binary", "real", False),
    "squared_hinge": ("SquaredHinge", "pm1", "real", False),
    "categorical_hinge": ("CategoricalHinge", "onehot", "real", False),
    "bce": ("BinaryCrossentropy", "binary", "unit", True),
    "cce": ("CategoricalCrossentropy", "onehot", "probs", True),
    "scce": ("SparseCategoricalCrossentropy", "sparse", "probs", True),
    "binary_focal": ("BinaryFocalCrossentropy", "binary", "unit", False),
    "categorical_focal": ("CategoricalFocalCrossentropy", "onehot", "probs", False),
    "kld": ("KLDivergence", "probs", "probs", True),
    "poisson": ("Poisson", "positive", "positive", True),
}
# Keras builds log(2) through float32 in LogCosh even for float64 (as tests/parity/test_losses
# records): judged by the float32 rows.
KERAS_F32 = {"log_cosh"}


def loss_options(draw: st.DrawFn, name: str) -> dict:
    logits = {"from_logits": draw(st.booleans())}
    smooth = {"label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.4]))}
    if name == "huber":
        return {"delta": draw(st.sampled_from([0.1, 1.0, 2.5]))}
    if name in ("bce", "cce"):
        return {**logits, **smooth}
    if name == "scce":
        return {**logits, "ignore_class": draw(st.sampled_from([None, 0]))}
    if name == "binary_focal":
        return {**logits, **smooth, "apply_class_balancing": draw(st.booleans()),
                "alpha": draw(st.sampled_from([0.25, 0.6])),
                "gamma": draw(st.sampled_from([0.0, 1.5, 2.0]))}  # fmt: skip
    if name == "categorical_focal":
        return {**logits, **smooth, "alpha": draw(st.sampled_from([0.25, 1.0])),
                "gamma": draw(st.sampled_from([0.0, 2.0]))}  # fmt: skip
    return {}


def draw_array(draw: st.DrawFn, shape: tuple[int, ...], kind: str, width: int) -> np.ndarray:
    if kind == "real":
        scale = draw(st.sampled_from([1.0, 1e-2, 1e2]))
        return draw(hnp.arrays(np.float64, shape, elements=REAL)) * scale
    if kind == "positive":
        return draw(hnp.arrays(np.float64, shape, elements=UNIT)) * draw(
            st.sampled_from([1.0, 30.0])
        )
    if kind == "unit":
        return draw(hnp.arrays(np.float64, shape, elements=UNIT))
    if kind == "binary":
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0])))
    if kind == "pm1":
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
    if kind == "onehot":
        ids = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, width - 1)))
        return np.eye(width)[ids]
    if kind == "sparse":
        return draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, width - 1)))
    # probabilities: positive rows (Keras divides by the row sum), normalized or not
    p = draw(hnp.arrays(np.float64, shape, elements=st.floats(1e-3, 1.0)))
    return p / p.sum(-1, keepdims=True) if draw(st.booleans()) else p


@st.composite
def loss_cases(draw, name: str):
    _, ky, kp, _ = LOSSES[name]
    # Keras squeezes a trailing axis of 1 off y_pred before its sparse cross-entropy (then
    # refuses the shapes): sparse labels get two classes at least
    width = draw(st.integers(2 if name == "scce" else 1, 4))
    shape = (draw(st.integers(1, 4)),) + ((draw(st.integers(1, 3)),) if draw(st.booleans()) else ())
    shape += (width,)
    opts = loss_options(draw, name)
    y = draw_array(draw, shape, ky, width)
    p = draw_array(draw, shape, "real" if opts.get("from_logits") else kp, width)
    # kink rule: at a clip bound (p = ε or 1 − ε exactly) Keras's clip passes no gradient and
    # the engines' max/clamp pass it (one-sided derivatives of a kink); such entries move to
    # 2ε / 1 − 2ε
    p = np.where(p == EPS, 2 * EPS, np.where(p == 1 - EPS, 1 - 2 * EPS, p))
    if name == "cosine":
        # a zero y_pred vector is test_cosine_of_a_zero_vector's case: its entries become 0.5
        p = np.where(np.all(p == 0, axis=-1, keepdims=True), 0.5, p)
    if name == "binary_focal" and opts["gamma"] == 0.0:
        # γ = 0 with a certain prediction (p_t = 1): Keras's (1 − p_t)^γ has the gradient
        # 0·∞ = nan there (test_binary_focal_gamma_zero_at_a_certain_prediction)
        q = 1 / (1 + np.exp(-p)) if opts["from_logits"] else p
        ys = y * (1 - opts["label_smoothing"]) + 0.5 * opts["label_smoothing"]
        assume(bool(np.all(ys * q + (1 - ys) * (1 - q) < 1)))
    weighted = draw(st.booleans())
    # one weight per sample, or per time step for a sequence (Keras broadcasts a (batch,) weight
    # only over a rank-1 value)
    sw_shape = shape[:-1]
    sw = draw(hnp.arrays(np.float64, sw_shape, elements=UNIT)) * 2 if weighted else None
    reduction = draw(st.sampled_from(REDUCTIONS))
    if reduction == "mean_with_sample_weight" and sw is not None:
        # Σw = 0: Keras divides with divide_no_nan (test_zero_weight_sum)
        assume(float(np.sum(np.broadcast_to(sw, p.shape[:-1]))) > 0)
    return opts, y, p, sw, reduction, draw(st.integers(0, 2**16))


def ours_loss(backend: str, name: str, opts: dict, y, p, sw, reduction: str, cot):
    """Our loss on the engine's native tensors: (value, d value / d y_pred)."""
    spec = getattr(dl.losses, LOSSES[name][0])(reduction=reduction, **opts)
    if backend == "torch":
        import torch

        pt = torch.tensor(p, requires_grad=True)
        v = spec(torch.tensor(y), pt, None if sw is None else torch.tensor(sw))
        s = (v * torch.tensor(cot)).sum() if reduction == "none" else v
        (g,) = torch.autograd.grad(s, pt)
        return v.detach().numpy(), g.numpy()
    import tensorflow as tf

    pt = tf.constant(p)
    with tf.GradientTape() as tape:
        tape.watch(pt)
        v = spec(tf.constant(y), pt, None if sw is None else tf.constant(sw))
        s = tf.reduce_sum(v * tf.constant(cot)) if reduction == "none" else v
    return np.asarray(v), tape.gradient(s, pt).numpy()


def keras_loss(name: str, opts: dict, y, p, sw, reduction: str, cot):
    import tensorflow as tf

    with keras_floatx("float64"):
        loss = getattr(keras().losses, LOSSES[name][0])(
            reduction=reduction, dtype="float64", **opts
        )
        pt = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(pt)
            v = loss(tf.constant(y), pt, sample_weight=None if sw is None else tf.constant(sw))
            s = tf.reduce_sum(v * tf.constant(cot)) if reduction == "none" else v
        return np.asarray(v), tape.gradient(s, pt).numpy()


def keras_reduce(values, sw, reduction: str):
    """Keras's reductions written out (losses/loss.py): weights broadcast over the values;
    sum_over_batch_size and mean divide by the count, mean_with_sample_weight by Σw."""
    import torch

    if sw is not None:
        w = torch.tensor(sw)
        values = values * w
    if reduction == "none":
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and sw is not None:
        return values.sum() / torch.broadcast_to(w, values.shape).sum()
    return values.sum() / values.numel()


def torch_values(name: str, opts: dict, y, p):
    """Per-sample values from torch.nn.functional, or None where its definition differs from
    Keras's on these inputs (outside the [ε, 1 − ε] clip Keras applies, tiny norms)."""
    import torch
    import torch.nn.functional as F

    ls = opts.get("label_smoothing", 0.0)
    logits = opts.get("from_logits", False)

    def clipped(q):  # Keras clips probabilities to [ε, 1 − ε]: equal where that is a no-op
        return bool(np.all((q >= EPS) & (q <= 1 - EPS)))

    if name == "mse":
        return lambda yt, pt: F.mse_loss(pt, yt, reduction="none").mean(-1)
    if name == "mae":
        return lambda yt, pt: F.l1_loss(pt, yt, reduction="none").mean(-1)
    if name == "huber":
        return lambda yt, pt: F.huber_loss(pt, yt, reduction="none", delta=opts["delta"]).mean(-1)
    if name == "cosine":
        if min(np.min(np.linalg.norm(y, axis=-1)), np.min(np.linalg.norm(p, axis=-1))) < 1e-3:
            return None
        return lambda yt, pt: -F.cosine_similarity(yt, pt, dim=-1)
    if name == "poisson":
        return lambda yt, pt: F.poisson_nll_loss(pt, yt, log_input=False, eps=EPS,
                                                 reduction="none").mean(-1)  # fmt: skip
    if name == "bce":
        ys = y * (1 - ls) + 0.5 * ls
        if logits:
            return lambda yt, pt: F.binary_cross_entropy_with_logits(
                pt, torch.tensor(ys), reduction="none"
            ).mean(-1)
        if not clipped(p):
            return None
        return lambda yt, pt: F.binary_cross_entropy(pt, torch.tensor(ys), reduction="none").mean(
            -1
        )
    if name in ("cce", "scce"):
        # Keras's categorical loss clips p/Σp, its sparse one the raw p (then softmax(log p))
        if not logits and not clipped(p / p.sum(-1, keepdims=True) if name == "cce" else p):
            return None
        if name == "scce" and opts.get("ignore_class") is not None:
            return None

        def ce(yt, pt):
            # log(p / Σp) as logits: softmax(log q) = q, so this is −Σ y·log q
            z = pt if logits else torch.log(pt / pt.sum(-1, keepdim=True))
            target = yt.long() if name == "scce" else yt.movedim(-1, 1)
            kw = {"label_smoothing": ls} if name == "cce" else {}
            return F.cross_entropy(z.movedim(-1, 1), target, reduction="none", **kw)

        return ce
    if name == "kld":
        if not (np.all(y >= EPS) and np.all(p >= EPS) and np.all(y <= 1) and np.all(p <= 1)):
            return None
        return lambda yt, pt: F.kl_div(torch.log(pt), yt, reduction="none").sum(-1)
    raise AssertionError(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(LOSSES))
@given(data=st.data())
def test_loss(backend, name, data):
    """Value and d/d y_pred of every loss, every reduction, with and without sample weights."""
    opts, y, p, sw, reduction, seed = data.draw(loss_cases(name))
    cot = np.random.default_rng(seed).standard_normal(p.shape[:-1])
    label = f"{name}{opts} reduction={reduction} weighted={sw is not None} on {backend}"
    v, g = ours_loss(backend, name, opts, y, p, sw, reduction, cot)
    kv, kg = keras_loss(name, opts, y, p, sw, reduction, cot)
    rows = "float32" if name in KERAS_F32 else "float64"
    gscale = 0.0
    if name == "cosine":
        # d(p/‖p‖)/dp has entries of 1/‖p‖ that cancel along p (to exactly 0 for one class):
        # the rounding residue of the gradient follows max|cot|/‖p‖
        gscale = float(np.max(np.abs(cot))) / float(np.min(np.linalg.norm(p, axis=-1)))
    judge(f"{label} vs Keras", (v, g), (kv, kg), rows, cot, gscale)
    if LOSSES[name][3]:
        fn = torch_values(name, opts, y, p)
        if fn is not None:
            import torch

            pt = torch.tensor(p, requires_grad=True)
            tv = keras_reduce(fn(torch.tensor(y), pt), sw, reduction)
            s = (tv * torch.tensor(cot)).sum() if reduction == "none" else tv
            (tg,) = torch.autograd.grad(s, pt)
            judge(f"{label} vs torch", (v, g), (tv.detach().numpy(), tg.numpy()), "float64", cot,
                  gscale)  # fmt: skip


def judge(label: str, got, want, dtype: str, cot, grad_scale: float = 0.0) -> None:
    (v, g), (wv, wg) = got, want
    assert_close(f"{label} value", v, wv, dtype, "forward", scale=1.0)
    scale = max(float(np.max(np.abs(wg), initial=0.0)), float(np.max(np.abs(cot), initial=1.0)))
    scale = max(scale, grad_scale)
    assert_close(f"{label} d(y_pred)", g, wg, dtype, "gradient", scale=scale)


# ---- recorded differences ---------------------------------------------------------------------


def _on(backend: str, name: str, opts: dict, y, p, reduction: str = "sum_over_batch_size"):
    cot = np.ones(p.shape[:-1])
    return ours_loss(backend, name, opts, y, p, None, reduction, cot), keras_loss(
        name, opts, y, p, None, reduction, cot
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosine_of_a_zero_vector(backend):
    """Was a parity bug: the torch engine normalized with x·clamp(rsqrt(Σx²), max=1/ε), whose
    gradient at an all-zero y_pred is 0·inf = nan; both engines now clamp Σx² at ε² before
    the rsqrt (the same function), whose gradient is Keras's finite one."""
    y, p = np.array([[0.3, -1.0], [1.0, 2.0]]), np.array([[0.0, 0.0], [0.5, -0.25]])
    got, want = _on(backend, "cosine", {}, y, p)
    judge(f"cosine of a zero vector on {backend}", got, want, "float64", np.ones(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_focal_gamma_zero_at_a_certain_prediction(backend):
    """With gamma=0 and a certain prediction (p_t = 1) Keras returns a nan gradient
    ((1 − p_t)^γ differentiated by TensorFlow's Pow: 0·0⁻¹ = 0·∞); was 0 on the torch engine
    (torch's pow backward special-cases a zero exponent), now nan as Keras on both engines."""
    opts = {"from_logits": False, "label_smoothing": 0.0, "apply_class_balancing": False,
            "alpha": 0.25, "gamma": 0.0}  # fmt: skip
    y, p = np.array([[1.0, 0.0]]), np.array([[1.0, 0.3]])
    (v, g), (kv, kg) = _on(backend, "binary_focal", opts, y, p)
    assert np.array_equal(np.isnan(g), np.isnan(kg)), (g, kg)
    judge(f"binary focal gamma=0 on {backend}", (v, np.nan_to_num(g)), (kv, np.nan_to_num(kg)),
          "float64", np.ones(1))  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_focal_of_large_logits(backend):
    """Was a parity bug (both engines): from logits, Keras's binary focal cross-entropy takes
    the BCE of the logits (unclipped: z = −100 with y = 1 gives 100); duallearn clipped σ(z)
    to [ε, 1 − ε] first (16.12)."""
    opts = {"from_logits": True, "label_smoothing": 0.0, "apply_class_balancing": False,
            "alpha": 0.25, "gamma": 2.0}  # fmt: skip
    y, p = np.array([[1.0, 0.0]]), np.array([[-100.0, 0.3]])
    got, want = _on(backend, "binary_focal", opts, y, p)
    judge(f"binary focal of large logits on {backend}", got, want, "float64", np.ones(1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_ignore_class_divisor(backend):
    """Was a parity bug (both engines and the numpy reference): with ignore_class, Keras masks
    the ignored labels, so sum_over_batch_size, mean and mean_with_sample_weight divide by the
    count of labels kept (y = [0, 1], ignore_class=0: 0.693); duallearn divided by the batch
    size (0.347)."""
    y, p = np.array([0, 1]), np.array([[0.5, 0.5], [0.2, 0.8]])
    got, want = _on(backend, "scce", {"from_logits": False, "ignore_class": 0}, y, p)
    judge(f"scce ignore_class divisor on {backend}", got, want, "float64", np.ones(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_crossentropy_of_unclipped_probabilities(backend):
    """Was a parity bug (both engines): Keras's sparse categorical cross-entropy from
    probabilities clips the raw p to [ε, 1 − ε] and takes softmax(log p) (so p = [2, 1] gives
    log 2); duallearn normalized first, then clipped (−log(2/3)), as its categorical one does."""
    y, p = np.array([0, 1]), np.array([[2.0, 1.0], [1.0, 1.0]])
    got, want = _on(backend, "scce", {"from_logits": False, "ignore_class": None}, y, p)
    judge(f"scce of unclipped probabilities on {backend}", got, want, "float64", np.ones(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_weight_sum(backend):
    """mean_with_sample_weight with every weight 0: 0 and a 0 gradient (Keras's divide_no_nan;
    was 0/0 = nan)."""
    y, p = np.array([[0.5, 1.0], [0.0, 2.0]]), np.array([[0.25, 0.0], [1.0, 1.5]])
    cot = np.ones(2)
    sw = np.zeros(2)
    got = ours_loss(backend, "mse", {}, y, p, sw, "mean_with_sample_weight", cot)
    want = keras_loss("mse", {}, y, p, sw, "mean_with_sample_weight", cot)
    judge(f"mse with zero weights on {backend}", got, want, "float64", cot)


# ---- metrics ----------------------------------------------------------------------------------

F32 = "float32"  # Keras keeps this metric's state or result in float32 whatever its dtype
F64 = "float64"


# Where Keras runs in float32, every number a comparison reads is exact in float32 in both
# frameworks: predictions and targets are rounded to float32 before either sees them, and
# thresholds, constraint values and sample weights are dyadic (num_thresholds - 1 a power of
# 2), so p > t and precision ≥ value compare the same numbers on both sides.
NUM_THRESHOLDS = st.sampled_from([3, 5, 9, 17])
VALUES = st.sampled_from([0.25, 0.5, 0.75])
WEIGHTS = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0])


def _thresholds(draw: st.DrawFn):
    return draw(st.sampled_from([None, 0.5, 0.25, [0.25, 0.5, 0.875]]))


def _class_id(draw: st.DrawFn, c: int):
    return draw(st.sampled_from([None, *range(c)]))


# name -> (kwargs(draw, classes), data kind, rows judging Keras)
METRICS = {
    "Accuracy": (lambda d, c: {}, "equal", F64),
    "BinaryAccuracy": (lambda d, c: {"threshold": d(st.sampled_from([0.3, 0.5, 0.7]))}, "binary",
                       F64),
    "CategoricalAccuracy": (lambda d, c: {}, "onehot", F64),
    "SparseCategoricalAccuracy": (lambda d, c: {}, "sparse", F64),
    "TopKCategoricalAccuracy": (lambda d, c: {"k": d(st.integers(1, c))}, "onehot", F32),
    "SparseTopKCategoricalAccuracy": (lambda d, c: {"k": d(st.integers(1, c))}, "sparse", F32),
    "Precision": (lambda d, c: d(st.sampled_from([
        {"thresholds": _thresholds(d)}, {"top_k": d(st.integers(1, c))},
        {"class_id": _class_id(d, c)}])), "multihot", F32),
    "Recall": (lambda d, c: d(st.sampled_from([
        {"thresholds": _thresholds(d)}, {"top_k": d(st.integers(1, c))},
        {"class_id": _class_id(d, c)}])), "multihot", F32),
    "AUC": (lambda d, c: {"num_thresholds": d(NUM_THRESHOLDS),
                          "curve": d(st.sampled_from(["ROC", "PR"])),
                          "summation_method": d(st.sampled_from(
                              ["interpolation", "minoring", "majoring"])),
                          "from_logits": d(st.booleans())}, "binary_or_logits", F32),
    "TruePositives": (lambda d, c: {"thresholds": _thresholds(d)}, "binary", F32),
    "FalsePositives": (lambda d, c: {"thresholds": _thresholds(d)}, "binary", F32),
    "TrueNegatives": (lambda d, c: {"thresholds": _thresholds(d)}, "binary", F32),
    "FalseNegatives": (lambda d, c: {"thresholds": _thresholds(d)}, "binary", F32),
    "PrecisionAtRecall": (lambda d, c: {"recall": d(VALUES),
                                        "num_thresholds": d(NUM_THRESHOLDS),
                                        "class_id": _class_id(d, c)}, "binary", F32),
    "RecallAtPrecision": (lambda d, c: {"precision": d(VALUES),
                                        "num_thresholds": d(NUM_THRESHOLDS),
                                        "class_id": _class_id(d, c)}, "binary", F32),
    "SensitivityAtSpecificity": (lambda d, c: {
        "specificity": d(VALUES), "num_thresholds": d(NUM_THRESHOLDS),
        "class_id": _class_id(d, c)}, "binary",
        F32),
    "SpecificityAtSensitivity": (lambda d, c: {
        "sensitivity": d(VALUES), "num_thresholds": d(NUM_THRESHOLDS),
        "class_id": _class_id(d, c)}, "binary",
        F32),
    "F1Score": (lambda d, c: {"average": d(st.sampled_from([None, "micro", "macro", "weighted"])),
                              "threshold": d(st.sampled_from([None, 0.5]))}, "multihot", F32),
    "FBetaScore": (lambda d, c: {"average": d(st.sampled_from([None, "micro", "macro",
                                                               "weighted"])),
                                 "beta": d(st.sampled_from([0.5, 2.0])),
                                 "threshold": d(st.sampled_from([None, 0.375]))}, "multihot", F32),
    "MeanSquaredError": (lambda d, c: {}, "real", F64),
    "MeanAbsoluteError": (lambda d, c: {}, "real", F64),
    "RootMeanSquaredError": (lambda d, c: {}, "real", F64),
    "MeanAbsolutePercentageError": (lambda d, c: {}, "real", F64),
    "MeanSquaredLogarithmicError": (lambda d, c: {}, "positive", F64),
    "LogCoshError": (lambda d, c: {}, "real", F32),  # log(2) built through float32 by Keras
    "Poisson": (lambda d, c: {}, "positive", F64),
    "KLDivergence": (lambda d, c: {}, "probs", F64),
    "Hinge": (lambda d, c: {}, "hinge", F64),
    "SquaredHinge": (lambda d, c: {}, "hinge", F64),
    "CategoricalHinge": (lambda d, c: {}, "onehot", F64),
    "CosineSimilarity": (lambda d, c: {}, "real_nonzero", F64),
    "BinaryCrossentropy": (lambda d, c: {"from_logits": d(st.booleans()),
                                         "label_smoothing": d(st.sampled_from([0.0, 0.2]))},
                           "binary", F64),
    "CategoricalCrossentropy": (lambda d, c: {"from_logits": d(st.booleans()),
                                              "label_smoothing": d(st.sampled_from([0.0, 0.2]))},
                                "onehot", F64),
    # scores at 0 included: Keras clips the raw p (test_sparse_crossentropy_of_unclipped_...)
    "SparseCategoricalCrossentropy": (lambda d, c: {"from_logits": d(st.booleans())},
                                      "sparse", F64),
    "R2Score": (lambda d, c: {"class_aggregation": d(st.sampled_from(
        [None, "uniform_average", "variance_weighted_average"])),
        "num_regressors": d(st.integers(0, 1))}, "real", F32),
    "IoU": (lambda d, c: {"num_classes": c, "target_class_ids": d(st.lists(
        st.integers(0, c - 1), min_size=1, max_size=c, unique=True))}, "ids", F32),
    "MeanIoU": (lambda d, c: {"num_classes": c}, "ids", F32),
    "BinaryIoU": (lambda d, c: {"target_class_ids": d(st.sampled_from([[0, 1], [0], [1]])),
                                "threshold": d(st.sampled_from([0.25, 0.5]))}, "binary_flat", F32),
    "OneHotIoU": (lambda d, c: {"num_classes": c, "target_class_ids": d(st.lists(
        st.integers(0, c - 1), min_size=1, max_size=c, unique=True))}, "onehot", F32),
    "OneHotMeanIoU": (lambda d, c: {"num_classes": c}, "onehot", F32),
    "PearsonCorrelation": (lambda d, c: {}, "real", F64),
    "ConcordanceCorrelation": (lambda d, c: {}, "real", F64),
    "Mean": (lambda d, c: {}, "values", F64),
    "Sum": (lambda d, c: {}, "values", F64),
}  # fmt: skip
# Keras's in_top_k takes float32 scores only: the top-k metrics give Keras float32 scores
KERAS_F32_SCORES = {"TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy"}


def distinct_rows(draw: st.DrawFn, b: int, c: int) -> np.ndarray:
    """Scores in [0, 1] without ties in a row (argmax and top-k have no tie rule to compare):
    a drawn permutation of the classes, spaced 1/c, plus a drawn offset below 1/(2c)."""
    perm = np.array([draw(st.permutations(range(c))) for _ in range(b)], np.float64)
    jitter = draw(hnp.arrays(np.float64, (b, c), elements=UNIT)) * 0.4
    return (perm + jitter) / c


def metric_batch(draw: st.DrawFn, kind: str, b: int, c: int):
    if kind == "values":
        return draw(hnp.arrays(np.float64, (b, c), elements=REAL)) * 10, None
    if kind == "equal":
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0, 2.0])))
        p = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0, 2.0])))
        return y, p
    if kind in ("binary", "binary_flat", "binary_or_logits"):
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0])))
        return y, draw(hnp.arrays(np.float64, (b, c), elements=UNIT))
    if kind == "hinge":
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([-1.0, 1.0])))
        return y, draw(hnp.arrays(np.float64, (b, c), elements=REAL)) * 2
    if kind == "multihot":
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.sampled_from([0.0, 1.0])))
        return y, distinct_rows(draw, b, c)
    if kind in ("onehot", "sparse", "ids"):
        labels = draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, c - 1)))
        if kind == "ids":
            return labels, draw(hnp.arrays(np.int64, (b,), elements=st.integers(0, c - 1)))
        return (np.eye(c)[labels] if kind == "onehot" else labels), distinct_rows(draw, b, c)
    if kind == "positive":
        return (draw(hnp.arrays(np.float64, (b, c), elements=UNIT)) * 5,
                draw(hnp.arrays(np.float64, (b, c), elements=UNIT)) * 5)  # fmt: skip
    if kind == "probs":
        y = draw(hnp.arrays(np.float64, (b, c), elements=st.floats(1e-3, 1.0)))
        p = draw(hnp.arrays(np.float64, (b, c), elements=st.floats(1e-3, 1.0)))
        return y / y.sum(-1, keepdims=True), p / p.sum(-1, keepdims=True)
    y = draw(hnp.arrays(np.float64, (b, c), elements=REAL)) * draw(st.sampled_from([1.0, 1e2]))
    p = draw(hnp.arrays(np.float64, (b, c), elements=REAL)) * draw(st.sampled_from([1.0, 1e2]))
    if kind == "real_nonzero":  # a zero vector's cosine: Keras's l2 floor (see the losses)
        p = np.where(np.all(p == 0, axis=-1, keepdims=True), 0.5, p)
        y = np.where(np.all(y == 0, axis=-1, keepdims=True), 0.5, y)
    return y, p


def as_float32(a: np.ndarray) -> np.ndarray:
    """``a`` rounded to float32 values (float64 storage); entries below 1e-18 become 0: their
    squares (R², correlations) underflow in float32, and TF flushes float32 subnormals."""
    if a.dtype.kind != "f":
        return a
    a = a.astype(np.float32).astype(np.float64)
    return np.where(np.abs(a) < 1e-18, 0.0, a)


@st.composite
def metric_cases(draw, name: str):
    make_kw, kind, _ = METRICS[name]
    c = draw(st.integers(2, 4))
    kw = make_kw(draw, c)
    batches = []
    for _ in range(draw(st.integers(2, 3))):
        b = draw(st.integers(1, 4))
        y, p = metric_batch(draw, kind, b, c)
        if kind == "binary_or_logits" and kw["from_logits"]:
            # logits on a 1/64 grid: σ(z) is then never within float32 rounding of a
            # threshold (z = 0 gives 0.5 exactly in both)
            p = np.round((p - 0.5) * 256) / 64
        if METRICS[name][2] == F32:
            y, p = as_float32(y), as_float32(p)
        w = None
        if draw(st.booleans()):
            shape = (b, c) if kind == "binary_flat" else (b,)
            w = draw(hnp.arrays(np.float64, shape, elements=WEIGHTS))
        batches.append((y, p, w))
    return kw, batches


def native(backend: str, a):
    if a is None:
        return None
    if backend == "torch":
        import torch

        return torch.tensor(a)
    import tensorflow as tf

    return tf.constant(a)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(METRICS))
@given(data=st.data())
def test_metric(backend, name, data):
    """Streamed over the batches: our metric updated with the engine's native tensors (the
    engine computes each batch's state) vs the same keras.metrics object."""
    kw, batches = data.draw(metric_cases(name))
    _, kind, rows = METRICS[name]
    ours = getattr(dl.metrics, name)(**kw)
    # A metric Keras keeps in float32 runs in float32 there entirely: in float64 Keras would
    # compare float64 statistics with constants it rounded through float32 (measured:
    # SensitivityAtSpecificity(0.2) with specificity exactly 1/5 is infeasible in float64 mode)
    kdtype = "float32" if rows == F32 else "float64"
    with keras_floatx(kdtype):
        theirs = getattr(keras().metrics, name)(**kw, dtype=kdtype)
        for y, p, w in batches:
            if kind == "values":
                ours.update_state(native(backend, y), sample_weight=native(backend, w))
                theirs.update_state(y, sample_weight=w)
                continue
            ours.update_state(native(backend, y), native(backend, p), native(backend, w))
            kp = p.astype(np.float32) if name in KERAS_F32_SCORES else p
            theirs.update_state(y, kp, sample_weight=w)
        want = np.asarray(theirs.result(), np.float64)
    # R2Score's 0/0 warns in numpy (test_r2_score_of_constant_targets_is_silent records it)
    with np.errstate(invalid="ignore", divide="ignore"):
        got = np.asarray(ours.result(), np.float64)
    # an undefined result (a constant target's correlation or R²: 0/0) must be nan in both
    assert np.array_equal(np.isnan(got), np.isnan(want)), (name, kw, got, want)
    got, want = np.nan_to_num(got), np.nan_to_num(want)
    assert_close(f"{name}{kw} on {backend} vs Keras over {len(batches)} batches", got, want,
                 rows, "forward", scale=1.0)  # fmt: skip


# ---- function wrappers ------------------------------------------------------------------------

WRAPPED = ["mean_squared_error", "mean_absolute_error", "mean_squared_logarithmic_error",
           "poisson", "log_cosh"]  # fmt: skip


@st.composite
def wrapper_cases(draw):
    fn = draw(st.sampled_from(WRAPPED))
    batches = []
    for _ in range(draw(st.integers(2, 3))):
        shape = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
        y = draw_array(draw, shape, "positive", shape[-1])
        p = draw_array(draw, shape, "positive", shape[-1])
        w = (
            draw(hnp.arrays(np.float64, shape[:1], elements=WEIGHTS))
            if draw(st.booleans())
            else None
        )
        batches.append((y, p, w))
    return fn, draw(st.sampled_from(REDUCTIONS)), batches


@pytest.mark.parametrize("backend", BACKENDS)
@given(case=wrapper_cases())
def test_function_wrappers(backend, case):
    """LossFunctionWrapper(fn, reduction) (value and gradient, first batch) and
    MeanMetricWrapper(fn) (streamed) around the loss functions vs Keras's wrappers."""
    fn, reduction, batches = case
    rows = "float32" if fn == "log_cosh" else "float64"  # Keras's log(2) (see LOSSES)
    y, p, w = batches[0]
    if reduction == "mean_with_sample_weight" and w is not None:
        assume(float(w.sum()) > 0)  # test_zero_weight_sum
    cot = np.random.default_rng(0).standard_normal(p.shape[:-1])
    spec = dl.losses.LossFunctionWrapper(getattr(dl.losses, fn), reduction=reduction)
    if backend == "torch":
        import torch

        pt = torch.tensor(p, requires_grad=True)
        v = spec(torch.tensor(y), pt, None if w is None else torch.tensor(w))
        (g,) = torch.autograd.grad((v * torch.tensor(cot)).sum() if reduction == "none" else v, pt)
        got = (v.detach().numpy(), g.numpy())
    else:
        import tensorflow as tf

        pt = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(pt)
            v = spec(tf.constant(y), pt, None if w is None else tf.constant(w))
            s = tf.reduce_sum(v * tf.constant(cot)) if reduction == "none" else v
        got = (np.asarray(v), tape.gradient(s, pt).numpy())
    import tensorflow as tf

    with keras_floatx("float64"):
        # Keras does not export its LossFunctionWrapper (every keras.losses class derives it)
        from keras.src.losses.losses import LossFunctionWrapper

        kspec = LossFunctionWrapper(getattr(keras().losses, fn), reduction=reduction,
                                    dtype="float64")  # fmt: skip
        pk = tf.constant(p)
        with tf.GradientTape() as tape:
            tape.watch(pk)
            kv = kspec(tf.constant(y), pk, sample_weight=w)
            s = tf.reduce_sum(kv * tf.constant(cot)) if reduction == "none" else kv
        want = (np.asarray(kv), tape.gradient(s, pk).numpy())
        judge(f"LossFunctionWrapper({fn}, {reduction}) on {backend} vs Keras", got, want, rows,
              cot)  # fmt: skip
        ours = dl.metrics.MeanMetricWrapper(getattr(dl.losses, fn))
        theirs = keras().metrics.MeanMetricWrapper(getattr(keras().losses, fn), dtype="float64")
        for y, p, w in batches:
            ours.update_state(native(backend, y), native(backend, p), native(backend, w))
            theirs.update_state(y, p, sample_weight=w)
        assert_close(f"MeanMetricWrapper({fn}) on {backend} vs Keras", ours.result(),
                     np.asarray(theirs.result()), rows, "forward", scale=1.0)  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_r2_score_of_constant_targets_is_silent(backend):
    """Constant targets: nan without a numpy warning, as Keras (was a 0/0 RuntimeWarning)."""
    import warnings

    m = dl.metrics.R2Score(class_aggregation="variance_weighted_average")
    m.update_state(native(backend, np.zeros((2, 2))), native(backend, np.ones((2, 2))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = np.asarray(m.result(), np.float64)
    theirs = keras().metrics.R2Score(class_aggregation="variance_weighted_average")
    theirs.update_state(np.zeros((2, 2)), np.ones((2, 2)))
    want = np.asarray(theirs.result(), np.float64)
    assert np.isnan(got) and np.isnan(want), (got, want)
