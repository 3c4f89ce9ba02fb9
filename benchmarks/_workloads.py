"""Workloads and the systems that train them, shared by the benchmark processes.

The workloads, data and hand-written native loops are those of the anchors
(``shared/anchors/throughput.py``): seeded numpy data, Adam lr 1e-3, sparse softmax
cross-entropy from logits, no shuffling, final partial batch included.

Every ``build_*`` returns ``(epoch, predict)``: two callables that run one training epoch and
one predict pass over all the samples (``predict`` is None where a system has none).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

THREADS = 2
# name: (samples, batch, input shape (channels-last)); --quick divides the samples
CFG: dict[str, tuple[int, int, tuple[int, ...]]] = {
    "mlp": (60000, 128, (784,)),
    "cnn": (10000, 64, (32, 32, 3)),
    "lstm": (5000, 64, (50, 32)),
}
QUICK_SAMPLES = {"mlp": 1024, "cnn": 256, "lstm": 256}
PRED_BS = 128
# duallearn layers each workload needs (the benchmark skips a workload until they land)
NEEDS = {
    "mlp": ["Dense"],
    "cnn": ["Conv2D", "MaxPooling2D", "Flatten", "Dense"],
    "lstm": ["LSTM", "Dense"],
}
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

Fns = tuple[Callable[[], Any], Callable[[], Any] | None]


class Data:
    def __init__(self, workload: str, quick: bool, scale: float = 1.0) -> None:
        n, self.bs, self.shape = CFG[workload]
        self.n = QUICK_SAMPLES[workload] if quick else max(self.bs, int(n * scale))
        self.workload = workload
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((self.n, *self.shape), dtype=np.float32)
        self.y = rng.integers(0, 10, self.n).astype(np.int64)


def set_threads_torch() -> None:
    import torch

    torch.set_num_threads(THREADS)
    try:
        torch.set_num_interop_threads(THREADS)
    except RuntimeError:  # already set in this process
        pass


def set_threads_tf() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    except RuntimeError:  # TF context already initialised
        pass


def native_for(engine: str) -> tuple[str, Callable[..., Fns]]:
    """Load ``engine`` (torch or tensorflow) with the benchmark's threads; the native loop's
    system name ("torch" / "tf") and its builder."""
    if engine == "torch":
        import torch  # noqa: F401

        set_threads_torch()
        return "torch", build_torch
    import tensorflow  # noqa: F401

    set_threads_tf()
    return "tf", build_tf


def missing_layers(workload: str) -> list[str]:
    """duallearn layers the workload needs that are not in ``dl.layers`` yet."""
    import duallearn as dl

    return [name for name in NEEDS[workload] if not hasattr(dl.layers, name)]


# ----------------------------------------------------------------------------- duallearn
def build_duallearn(d: Data, backend: str, jit_compile: Any = "auto") -> Fns:
    import duallearn as dl

    dl.set_random_seed(0)
    L = dl.layers
    if d.workload == "mlp":
        layers = [L.Dense(256, activation="relu"), L.Dense(256, activation="relu"), L.Dense(10)]
    elif d.workload == "cnn":
        layers = [
            L.Conv2D(32, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10),
        ]
    else:
        layers = [L.LSTM(128), L.Dense(10)]
    with dl.use_backend(backend):
        model = dl.Sequential([L.Input(d.shape), *layers])
    kw = {} if jit_compile == "auto" else {"jit_compile": jit_compile}
    model.compile(
        optimizer=dl.optimizers.Adam(1e-3),
        loss=dl.losses.SparseCategoricalCrossentropy(from_logits=True),
        **kw,
    )

    def epoch() -> None:
        model.fit(d.x, d.y, batch_size=d.bs, epochs=1, shuffle=False, verbose=0)

    def predict() -> Any:
        return model.predict(d.x, batch_size=PRED_BS, verbose=0)

    return epoch, predict


# --------------------------------------------------------------------------------- torch
def build_torch(d: Data, compile_: bool = False, bf16: bool = False) -> Fns:
    """nn + optim, eager (the anchors' hand-written loop); ``bf16``: forward and loss under
    CPU bfloat16 autocast (the mixed-bfloat16 table)."""
    import torch
    from torch import nn

    set_threads_torch()
    torch.manual_seed(0)
    x = d.x
    model: nn.Module
    if d.workload == "mlp":
        model = nn.Sequential(
            nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
        )
    elif d.workload == "cnn":
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 8 * 8, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # NCHW, once, untimed
    else:

        class LSTMNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm, self.fc = nn.LSTM(32, 128, batch_first=True), nn.Linear(128, 10)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.fc(self.lstm(x)[1][0][-1])

        model = LSTMNet()
    fwd = torch.compile(model) if compile_ else model
    bs = d.bs
    batches = [
        (torch.from_numpy(x[i : i + bs]), torch.from_numpy(d.y[i : i + bs]))
        for i in range(0, d.n, bs)
    ]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss = lossf(fwd(xb), yb)
            loss.backward()
            opt.step()
        loss.item()

    def epoch_bf16() -> None:
        model.train()
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = lossf(fwd(xb), yb)
            loss.backward()
            opt.step()
        loss.item()

    pbatches = [torch.from_numpy(x[i : i + PRED_BS]) for i in range(0, d.n, PRED_BS)]

    def predict() -> Any:
        model.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return np.concatenate([fwd(xb).float().numpy() for xb in pbatches])

    return (epoch_bf16 if bf16 else epoch), predict


# ---------------------------------------------------------------------------- tensorflow
def build_tf(d: Data, xla: bool = False, bf16: bool = False) -> Fns:
    """tf.Module variables, GradientTape, hand-written Adam, one tf.function per step;
    ``bf16``: the batch and the float32 variables cast to bfloat16 inside the step, the
    logits cast back (the mixed-bfloat16 table)."""
    import tensorflow as tf

    set_threads_tf()
    init = np.random.default_rng(1)
    workload, shape = d.workload, d.shape

    def var(*shape: int) -> tf.Variable:  # glorot-uniform weight
        lim = np.sqrt(6.0 / (shape[-2] * int(np.prod(shape[:-2] or [1])) + shape[-1]))
        return tf.Variable(init.uniform(-lim, lim, shape).astype(np.float32))

    def zeros(n: int) -> tf.Variable:
        return tf.Variable(tf.zeros([n]))

    class Net(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            if workload == "mlp":
                self.p = [
                    var(784, 256),
                    zeros(256),
                    var(256, 256),
                    zeros(256),
                    var(256, 10),
                    zeros(10),
                ]
            elif workload == "cnn":
                self.p = [
                    var(3, 3, 3, 32),
                    zeros(32),
                    var(3, 3, 32, 64),
                    zeros(64),
                    var(4096, 128),
                    zeros(128),
                    var(128, 10),
                    zeros(10),
                ]
            else:  # LSTM: W (in, 4H), U (H, 4H), b, then dense
                self.p = [var(32, 512), var(128, 512), zeros(512), var(128, 10), zeros(10)]

        def __call__(self, x: tf.Tensor) -> tf.Tensor:
            if not bf16:
                return self.run(x, self.p)
            out = self.run(tf.cast(x, tf.bfloat16), [tf.cast(v, tf.bfloat16) for v in self.p])
            return tf.cast(out, tf.float32)

        def run(self, x: tf.Tensor, p: list[Any]) -> tf.Tensor:
            if workload == "mlp":
                h = tf.nn.relu(x @ p[0] + p[1])
                h = tf.nn.relu(h @ p[2] + p[3])
                return h @ p[4] + p[5]
            if workload == "cnn":
                h = tf.nn.max_pool2d(
                    tf.nn.relu(tf.nn.conv2d(x, p[0], 1, "SAME") + p[1]), 2, 2, "VALID"
                )
                h = tf.nn.max_pool2d(
                    tf.nn.relu(tf.nn.conv2d(h, p[2], 1, "SAME") + p[3]), 2, 2, "VALID"
                )
                h = tf.nn.relu(tf.reshape(h, [-1, 4096]) @ p[4] + p[5])
                return h @ p[6] + p[7]
            W, U, b = p[0], p[1], p[2]
            T = x.shape[1]
            xw = tf.reshape(tf.reshape(x, [-1, 32]) @ W, [-1, T, 512]) + b  # all steps at once
            h = c = tf.zeros([tf.shape(x)[0], 128], x.dtype)
            for t in range(T):  # unrolled in the graph
                i, f, g, o = tf.split(xw[:, t] + h @ U, 4, axis=1)
                c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                h = tf.sigmoid(o) * tf.tanh(c)
            return h @ p[3] + p[4]

    model = Net()
    vars_ = model.trainable_variables
    m = [tf.Variable(tf.zeros_like(v)) for v in vars_]
    s = [tf.Variable(tf.zeros_like(v)) for v in vars_]
    t = tf.Variable(0.0)
    b1, b2, eps, lr = 0.9, 0.999, 1e-7, 1e-3
    sig = [tf.TensorSpec((None, *shape), tf.float32), tf.TensorSpec((None,), tf.int64)]

    @tf.function(input_signature=sig, jit_compile=xla)
    def step(xb: tf.Tensor, yb: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, model(xb)))
        grads = tape.gradient(loss, vars_)
        t.assign_add(1.0)
        a = lr * tf.sqrt(1 - b2**t) / (1 - b1**t)
        for g, v, mm, ss in zip(grads, vars_, m, s, strict=True):  # hand-written Adam
            mm.assign(b1 * mm + (1 - b1) * g)
            ss.assign(b2 * ss + (1 - b2) * g * g)
            v.assign_sub(a * mm / (tf.sqrt(ss) + eps))
        return loss

    @tf.function(input_signature=sig[:1], jit_compile=xla)
    def fwd(xb: tf.Tensor) -> tf.Tensor:
        return model(xb)

    bs = d.bs
    batches = [
        (tf.constant(d.x[i : i + bs]), tf.constant(d.y[i : i + bs])) for i in range(0, d.n, bs)
    ]
    pbatches = [tf.constant(d.x[i : i + PRED_BS]) for i in range(0, d.n, PRED_BS)]

    def epoch() -> None:
        for xb, yb in batches:
            loss = step(xb, yb)
        float(loss)

    def predict() -> Any:
        return np.concatenate([fwd(xb).numpy() for xb in pbatches])

    return epoch, predict


# --------------------------------------------------------------------------------- keras
def build_keras(d: Data) -> Fns:
    """Keras 3 ``model.fit`` / ``model.predict`` on the backend of KERAS_BACKEND."""
    import keras

    # not keras.utils.set_random_seed: it imports TensorFlow even on the torch backend
    L = keras.layers
    if d.workload == "mlp":
        layers = [L.Dense(256, activation="relu"), L.Dense(256, activation="relu"), L.Dense(10)]
    elif d.workload == "cnn":
        layers = [
            L.Conv2D(32, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, padding="same", activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(10),
        ]
    else:
        layers = [L.LSTM(128), L.Dense(10)]
    model = keras.Sequential([keras.Input(d.shape), *layers])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def epoch() -> None:
        model.fit(d.x, d.y, batch_size=d.bs, epochs=1, shuffle=False, verbose=0)

    def predict() -> Any:
        return model.predict(d.x, batch_size=PRED_BS, verbose=0)

    return epoch, predict
