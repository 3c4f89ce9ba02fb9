"""The TensorFlow runtime: native modules, a ``tf.function`` train step (per input structure,
one trace with the batch dimension of ``set_batch_size`` and one with it open), device-side
metric accumulators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.plugin import GraphSpec, GraphWalk, NativeRuntime, StepNoise, TrainSpec, WalkedNet

from . import _distributed, _losses, _metrics
from ._embedding import Placed
from ._layers import DTYPES, TFLayer, native_layer
from ._optimizers import TFOptimizer
from ._rng import TFRng


class Net(WalkedNet, tf.Module):
    """The whole graph as one ``tf.Module`` (what ``model.native`` returns)."""

    def __init__(self, graph: GraphSpec) -> None:
        super().__init__(name="duallearn_model")
        self.graph = graph
        self.layers_ = [native_layer(layer) for layer in graph.layers]
        self._walk = GraphWalk(graph, self.layers_)

    def __call__(
        self,
        inputs: Sequence[tf.Tensor],
        training: bool = False,
        noise: Mapping[int, tf.Tensor] | None = None,
    ) -> list[tf.Tensor]:
        return self._walk.run(inputs, training, noise)


# layers whose graphs XLA speeds up on CPU (matmul + elementwise, no RNG)
_XLA_LAYERS = frozenset({"InputLayer", "Dense", "Activation", "Flatten", "Reshape"})


def _spec(
    a: np.ndarray, shape: tuple[int | None, ...] | None = None, batch: int | None = None
) -> tf.TensorSpec:
    """A signature for batches like ``a``: the batch dimension ``batch`` (None: open), and any
    dimension the model declares as None (variable-length sequences) open."""
    dims: list[int | None] = [batch, *a.shape[1:]]
    if shape is not None and len(shape) == a.ndim:
        rest = zip(shape[1:], a.shape[1:], strict=True)
        dims = [batch] + [None if s is None else d for s, d in rest]
    return tf.TensorSpec(dims, tf.as_dtype(a.dtype))


def _stacked(batches: Sequence[tuple[Sequence[Any], ...]]) -> list[tuple[np.ndarray, ...]]:
    """Inputs, targets and the present sample weights of equal-shape batches, each stacked on
    a new first axis (a view for one batch)."""
    first = batches[0]
    return [
        tuple((a[None] if len(batches) == 1 else np.stack([b[p][i] for b in batches]))
              for i, a in enumerate(part) if a is not None)
        for p, part in enumerate(first)
    ]  # fmt: skip


def _scope(device: str) -> str:
    """duallearn device name → TensorFlow device ("cpu" → /CPU:0, "cuda:N" → /GPU:N)."""
    return "/CPU:0" if device == "cpu" else f"/GPU:{device.split(':')[1] if ':' in device else 0}"


class TFRuntime(NativeRuntime):
    backend_name = "tensorflow"
    optimizer_class = TFOptimizer
    loss_fn_class = _losses.LossFn
    metric_delta = staticmethod(_metrics.delta)

    def __init__(self, graph: GraphSpec, device: str | None = None) -> None:
        # every variable (weights, optimizer slots, accumulators, RNG seed) is created under
        # the requested device; None leaves placement to TensorFlow (the first GPU if any)
        self._scope = None if device is None else _scope(device)
        with self._placed():
            self._build(graph)

    def _build(self, graph: GraphSpec) -> None:
        self.graph = graph
        # the native modules bind (or reuse) the layers' variables: no weight is copied
        self.net = Net(graph)
        self._use_trainable(graph.trainable)
        self._opt: TFOptimizer | None = None
        self._fns: dict[Any, Any] = {}
        self._batch_sizes: dict[str, int | None] = {}  # set_batch_size: kind -> static size
        self._jit: Any = "auto"  # compile(jit_compile=...): True, False or "auto"
        self.rng = TFRng()
        # every native layer (nested models' too) keys its fast-mode draws by its index here
        layers = [m for m in self.net.submodules if isinstance(m, TFLayer)]
        for k, m in enumerate(layers):
            m.rng, m.rng_id = self.rng, k

    def _seed_step(self, noise: StepNoise | None, training: bool) -> None:
        """Fast mode: key this call's native draws by the step's seed (a fresh key for a
        training-mode call without one)."""
        if noise is not None and noise.seed is not None:
            self.rng.reseed(noise.seed)
        elif training:
            self.rng.advance()

    @property
    def native(self) -> tf.Module:
        return self.net

    # ---- compiled functions ----------------------------------------------------------------
    def _function(
        self,
        kind: str,
        xs: Sequence[np.ndarray],
        ys: Sequence[np.ndarray] = (),
        sws: Sequence[np.ndarray | None] = (),
        noise: StepNoise | None = None,
    ) -> Any:
        present = tuple(s is not None for s in sws)
        mask_keys = tuple(sorted(noise.masks)) if noise is not None and noise.masks else ()
        # Batches of the size given by set_batch_size get a trace with a static batch dimension
        # (grappler and oneDNN plan better: LSTM train step 1.1x); any other size (the last
        # partial batch, other sources) shares one trace with the batch dimension open. The
        # two can round differently (CNN, GRU: 1 ulp), so the choice depends on the call's
        # arguments only, never on which size came first.
        n = len(xs[0]) if xs else None
        static = self._batch_sizes.get(kind.split("_")[0])  # (train_many: train)
        batch = static if static is not None and static == n else None
        key = (kind, present, mask_keys, batch)
        fn = self._fns.get(key)
        if fn is not None:
            return fn
        in_shapes = self.graph.input_shapes or [None] * len(xs)
        out_shapes = self.graph.output_shapes or [None] * len(ys)
        x_spec = tuple(_spec(a, s, batch) for a, s in zip(xs, in_shapes, strict=True))
        if kind == "predict":
            fn = tf.function(
                lambda x: self._mp_forward(list(x), False, None),
                input_signature=[x_spec],
                autograph=False,
                jit_compile=self._xla(kind),
            )
        elif kind == "predict_many":
            fn = tf.function(
                self._predict_loop,
                input_signature=[x_spec, tf.TensorSpec((), tf.int32)],
                autograph=False,
            )
        else:
            y_spec = tuple(_spec(a, s, batch) for a, s in zip(ys, out_shapes, strict=True))
            w_spec = tuple(_spec(s, None, batch) for s in sws if s is not None)
            m_spec = tuple(_spec(noise.masks[k]) for k in mask_keys) if noise else ()

            def expand(ws: Sequence[tf.Tensor]) -> list[tf.Tensor | None]:
                it = iter(ws)
                return [next(it) if p else None for p in present]

            if kind in ("train_many", "train_many_seeded", "test_many"):  # batches stacked
                k_spec = [tuple(tf.TensorSpec([None, *t.shape], t.dtype) for t in spec)
                          for spec in (x_spec, y_spec, w_spec)]  # fmt: skip
                train = kind != "test_many"
                seeded = kind == "train_many_seeded"

                def steps(x: Any, y: Any, w: Any, *per_step: tf.Tensor) -> None:
                    """per_step: the steps' learning rates (train), then their seeds (seeded)."""

                    def body(i: tf.Tensor) -> tf.Tensor:
                        at = [[t[i] for t in part] for part in (x, y, w)]
                        if seeded:  # the step's seed, read by its native draws
                            self.rng.reseed(per_step[1][i])
                        if train:
                            self._train_step(at[0], at[1], expand(at[2]), per_step[0][i], None)
                        else:
                            self._test_step(at[0], at[1], expand(at[2]))
                        return i + 1

                    n = tf.shape(x[0])[0]
                    tf.while_loop(lambda i: i < n, body, (tf.constant(0),),
                                  parallel_iterations=1)  # fmt: skip

                step_spec = [tf.TensorSpec((None,), tf.float64)] if train else []
                if seeded:
                    step_spec.append(tf.TensorSpec((None,), tf.int64))
                fn = tf.function(
                    steps,
                    input_signature=[*k_spec, *step_spec],
                    autograph=False,
                    jit_compile=self._xla("train" if train else "test"),
                )
            elif kind == "train":

                def step(x: Any, y: Any, w: Any, lr: tf.Tensor, masks: Any) -> None:
                    self._train_step(
                        list(x),
                        list(y),
                        expand(w),
                        lr,
                        dict(zip(mask_keys, masks, strict=True)) or None,
                    )

                fn = tf.function(
                    step,
                    input_signature=[x_spec, y_spec, w_spec, tf.TensorSpec((), tf.float64), m_spec],
                    autograph=False,
                    jit_compile=self._xla(kind),
                )
            else:

                def test(x: Any, y: Any, w: Any) -> None:
                    self._test_step(list(x), list(y), expand(w))

                fn = tf.function(
                    test,
                    input_signature=[x_spec, y_spec, w_spec],
                    autograph=False,
                    jit_compile=self._xla(kind),
                )
        self._fns[key] = fn
        return fn

    def to_device(self, device: str) -> None:
        """Run the compiled steps under ``tf.device`` ("cpu" -> /CPU:0, "cuda:N" -> /GPU:N).
        Variables stay where they were created: on the device given to the constructor
        (``Model.set_device`` before the first fit/evaluate/predict)."""
        self._scope = _scope(device)

    def _placed(self) -> Placed:
        """Where the model's native calls run (its device), with an out-of-range id of a
        compiled step's Embedding lookup reported as an ``IndexRangeError``."""
        return Placed(self._scope)

    # ---- forward -------------------------------------------------------------------------
    def predict(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with self._placed():
            outs = self._function("predict", inputs)(tuple(inputs))
        return [o.numpy() for o in outs]

    def set_batch_size(self, kind: str, batch_size: int | None) -> None:
        self._batch_sizes[kind] = batch_size

    def predict_many(self, inputs: Sequence[np.ndarray], batch_size: int) -> list[np.ndarray]:
        """Every ``batch_size`` slice through the predict forward in one ``tf.function`` call
        (an in-graph loop: no Python round trip and no tensor conversion per batch). One
        batch goes through :meth:`predict` (the loop traces the forward twice: a large model's
        first small predict took 8.0 s instead of 3.1 s)."""
        if len(inputs[0]) <= batch_size:
            return self.predict(inputs)
        with self._placed():
            outs = self._function("predict_many", inputs)(
                tuple(inputs), tf.constant(batch_size, tf.int32)
            )
        return [o.numpy() for o in outs]

    def _predict_loop(self, x: Sequence[tf.Tensor], bs: tf.Tensor) -> list[tf.Tensor]:
        """``concat([forward(x[i·bs : (i+1)·bs]) for i])`` as a ``tf.while_loop``; the first
        batch runs before the loop to give the outputs' dtypes and shapes."""
        steps = (tf.shape(x[0])[0] + bs - 1) // bs
        first = self._mp_forward([a[:bs] for a in x], False, None)
        tas = [
            tf.TensorArray(o.dtype, size=steps, infer_shape=False, element_shape=o.shape).write(
                0, o
            )
            for o in first
        ]

        def body(i: tf.Tensor, *tas: tf.TensorArray) -> tuple[Any, ...]:
            outs = self._mp_forward([a[i * bs : (i + 1) * bs] for a in x], False, None)
            return (i + 1, *[ta.write(i, o) for ta, o in zip(tas, outs, strict=True)])

        done = tf.while_loop(
            lambda i, *_: i < steps, body, (tf.constant(1), *tas), parallel_iterations=1
        )
        return [ta.concat() for ta in done[1:]]

    def forward(
        self, inputs: Sequence[np.ndarray], training: bool, noise: StepNoise | None = None
    ) -> list[np.ndarray]:
        masks = {k: tf.constant(v) for k, v in noise.masks.items()} if noise else None
        self._seed_step(noise, training)
        return [o.numpy() for o in self.net([tf.constant(a) for a in inputs], training, masks)]

    # ---- custom steps (duallearn.plugin.Runtime) -----------------------------------------
    def to_native(self, arrays: Sequence[np.ndarray]) -> list[tf.Tensor]:
        with self._placed():
            return [tf.constant(a) for a in arrays]

    def call(
        self, inputs: Sequence[Any], training: bool, noise: StepNoise | None = None
    ) -> list[tf.Tensor]:
        masks = {k: tf.constant(v) for k, v in noise.masks.items()} if noise else None
        self._seed_step(noise, training)  # eagerly: the traced forward reads the seed
        xs = tuple(tf.convert_to_tensor(x) for x in inputs)
        with self._placed():
            if not self._forward_traceable():
                return self._mp_forward(list(xs), training, masks or None)
            fns = self.__dict__.setdefault("_call_fns", {})
            fn = fns.get(bool(training))
            if fn is None:  # one traced forward per mode: a custom step's tape sees one op

                def forward(x: Any, m: Any, training: bool = bool(training)) -> Any:
                    return self._mp_forward(list(x), training, dict(m) or None)

                fn = fns[bool(training)] = tf.function(
                    forward, autograph=False, reduce_retracing=True
                )
            return list(fn(xs, masks or {}))

    def native_loss(
        self, targets: Sequence[Any], outputs: Sequence[Any], sample_weights: Sequence[Any]
    ) -> Any:
        """As the base, traced once (one op on a custom step's tape) when the forward is."""
        losses = self.__dict__.get("_losses") or ()
        if not self._forward_traceable() or not any(fn is not None for fn in losses):
            return super().native_loss(targets, outputs, sample_weights)
        fn = self.__dict__.get("_loss_fn")
        if fn is None:

            def loss(ys: Any, outs: Any, sws: Any) -> Any:
                return self._loss(list(ys), list(outs), list(sws))[0]

            fn = self.__dict__["_loss_fn"] = tf.function(
                loss, autograph=False, reduce_retracing=True
            )
        conv = [None if t is None else tf.convert_to_tensor(t) for t in sample_weights]
        ys = tuple(tf.convert_to_tensor(t) for t in targets)
        return fn(ys, tuple(tf.convert_to_tensor(t) for t in outputs), tuple(conv))

    def _forward_traceable(self) -> bool:
        """Whether ``call`` may run the forward as one ``tf.function``: nothing it computes
        must outlive it besides the outputs (no Keras output masks, no layer that can add a
        loss: custom ``call()`` layers or activity regularizers)."""
        ok = self.__dict__.get("_traceable")
        if ok is None:
            layers = self.net._walk.reached  # every layer, nested ones included
            ok = not self.net._masking and all(
                type(layer).__module__.startswith("duallearn.")
                and getattr(layer, "activity_regularizer", None) is None
                for layer in layers
            )
            self.__dict__["_traceable"] = ok
        return bool(ok)

    # ---- training ------------------------------------------------------------------------
    def compile(self, spec: TrainSpec) -> None:
        with self._placed():  # optimizer slots and accumulators beside the weights
            self._compile(spec)

    def _compile(self, spec: TrainSpec) -> None:
        self._compile_common(spec)
        size = 2 * self._n_loss_slots + sum(m.state_size() for _, m in self._metric_specs)
        self._acc = tf.Variable(tf.zeros(size, dtype=tf.float64), trainable=False)
        jit = getattr(spec, "jit_compile", "auto")
        keep_predict = jit == self._jit
        self._jit = jit
        self._fns = {k: f for k, f in self._fns.items() if k[0] == "predict" and keep_predict}

    def _xla(self, kind: str) -> bool:
        """XLA (``jit_compile``) for a step: as compiled, or by default ("auto") only where it
        measurably helps on the benchmarks (docs/benchmarks.md): the train step of float32
        graphs made only of matmul and elementwise layers with >= 64k weights (MLP: 1.45x).
        XLA makes convolutions ~2x slower on CPU and the LSTM loop ~1.1x slower."""
        if self._jit is True or self._jit is False:
            return bool(self._jit)
        return (
            kind == "train"
            and all(
                type(layer).__name__ in _XLA_LAYERS and layer.dtype == "float32"
                for layer in self.graph.layers
            )
            and sum(int(np.prod(v.shape)) for v in self.params) >= 65536
        )

    def _mask_weight(self, sw: Any, mask: Any, dtype: Any) -> tf.Tensor:
        """Keras's ``apply_mask`` for metrics: an output's mask folded into the sample
        weights (the losses fold and rescale it themselves)."""
        m = tf.cast(mask, dtype)
        if sw is None:
            return m
        w = tf.cast(sw, dtype)
        while w.shape.rank > m.shape.rank and w.shape[-1] == 1:
            w = tf.squeeze(w, -1)
        while w.shape.rank < m.shape.rank:
            w = w[..., None]
        return w * m

    def _zero_loss(self, p: Any) -> tf.Tensor:
        return tf.zeros((), dtype=p.dtype)

    def _to_numpy(self, t: Any) -> np.ndarray:
        return tf.convert_to_tensor(t).numpy()  # IndexedSlices (Embedding) too

    def _acc_delta(
        self,
        loss: tf.Tensor,
        parts: list[tf.Tensor],
        ys: list[tf.Tensor],
        outs: list[tf.Tensor],
        sws: list[tf.Tensor | None],
    ) -> tf.Tensor:
        """What one batch adds to the accumulators: ``loss·rows, rows`` (and each output's),
        then the metrics' state changes (float64)."""
        batch = tf.cast(tf.shape(outs[0])[0], tf.float64)
        vals = [tf.cast(loss, tf.float64) * batch, batch]
        if self._n_loss_slots > 1:
            for p in parts:
                vals += [tf.cast(p, tf.float64) * batch, batch]
        pieces = [tf.stack(vals), *self._metric_deltas(ys, outs, sws)]
        return tf.concat(pieces, axis=0) if len(pieces) > 1 else pieces[0]

    def _accumulate(
        self,
        loss: tf.Tensor,
        parts: list[tf.Tensor],
        ys: list[tf.Tensor],
        outs: list[tf.Tensor],
        sws: list[tf.Tensor | None],
    ) -> None:
        self._acc.assign_add(self._acc_delta(loss, parts, ys, outs, sws))

    def _train_step(
        self,
        xs: list[tf.Tensor],
        ys: list[tf.Tensor],
        sws: list[tf.Tensor | None],
        lr: tf.Tensor,
        masks: dict[int, tf.Tensor] | None,
    ) -> None:
        assert self._opt is not None
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self.params)  # the compiled trainable set, whatever tf's flags say
            outs = self._mp_forward(xs, True, masks)
            loss, parts = self._loss(ys, outs, sws)
            scaled = loss if self._ls is None else loss * tf.cast(self._ls[0], loss.dtype)
        grads = tape.gradient(scaled, self.params)
        if self._ls is None:
            self._opt.apply(grads, lr, loss, check=True, masked=self._xla("train"))  # fit's guard
        else:
            self._scaled_apply(grads, lr, loss)
        self._accumulate(loss, parts, ys, outs, sws)

    # ---- mixed precision (dtype policy of the front-end; models/_training.py) -------------
    _compute: Any = None
    _ls: Any = None

    def set_precision(self, compute_dtype: str | None, loss_scale: bool = False) -> None:
        """Compute in ``compute_dtype`` with float variables: inside the step, inputs, masks and
        every trainable weight a layer holds as an attribute are cast to the compute dtype
        (gradients flow to the float variables through the cast); outputs return in the
        variable dtype for the loss. Non-trainable state (BatchNormalization statistics)
        stays in the variable dtype. ``loss_scale``: dynamic loss scaling as Keras's
        LossScaleOptimizer (2**15; halve and skip on inf/NaN; double after 2000 steps)."""
        self._compute = None if compute_dtype is None else DTYPES[compute_dtype]
        with self._placed():
            self._ls = (
                (
                    tf.Variable(2.0**15, dtype=tf.float32, trainable=False),
                    tf.Variable(0, dtype=tf.int64, trainable=False),
                )
                if loss_scale
                else None
            )
        self._fns = {}

    def _mp_forward(self, xs: list[Any], training: bool, masks: Any) -> list[Any]:
        ct = self._compute
        if ct is None:
            return self.net(xs, training, masks)
        xs = [tf.cast(x, ct) if x.dtype.is_floating else x for x in xs]
        masks = {k: tf.cast(v, ct) for k, v in masks.items()} if masks else masks
        swapped = []
        for m in self.net.layers_:
            for w, v in zip(m.spec.weights, m.dl_vars, strict=True):
                name = w.name.replace(".", "_")
                if v.trainable and v.dtype.is_floating and getattr(m, name, None) is v:
                    swapped.append((m, name, v))
                    setattr(m, name, tf.cast(v, ct))
        try:
            outs = self.net(xs, training, masks)
        finally:
            for m, name, v in swapped:
                setattr(m, name, v)
        vt = DTYPES[self.graph.dtype]
        return [tf.cast(o, vt) if o.dtype.is_floating else o for o in outs]

    def _scaled_apply(self, grads: list[Any], lr: tf.Tensor, loss: tf.Tensor) -> None:
        """The loss-scaled update, under fit's guard for the loss only: a non-finite gradient
        is the scaler's (halve the scale, skip), a non-finite loss is recorded."""
        assert self._opt is not None
        self._opt.guard(tf.math.is_finite(loss), lambda: self._scaled_update(grads, lr), loss)

    def _scaled_update(self, grads: list[Any], lr: tf.Tensor) -> None:
        assert self._opt is not None
        scale, good = self._ls
        s = tf.identity(scale)
        n = tf.identity(good)
        grads = [g / tf.cast(s, g.dtype) for g in grads]
        finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads]))

        def ok() -> tf.Tensor:
            self._opt.apply(grads, lr)  # type: ignore[union-attr]
            grow = n + 1 >= 2000
            scale.assign(tf.where(grow, s * 2.0, s))
            good.assign(tf.where(grow, tf.constant(0, tf.int64), n + 1))
            return tf.constant(True)

        def skip() -> tf.Tensor:
            scale.assign(s / 2.0)
            good.assign(tf.constant(0, tf.int64))
            return tf.constant(False)

        tf.cond(finite, ok, skip)

    def _test_step(
        self, xs: list[tf.Tensor], ys: list[tf.Tensor], sws: list[tf.Tensor | None]
    ) -> None:
        outs = self._mp_forward(xs, False, None)
        loss, parts = self._loss(ys, outs, sws)
        self._accumulate(loss, parts, ys, outs, sws)

    def train_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        learning_rate: float,
        noise: StepNoise | None = None,
    ) -> None:
        if self._group is not None:
            self._seed_step(noise, training=False)
            with self._placed():
                _distributed.train_batch(
                    self, inputs, targets, sample_weights, learning_rate,
                    dict(noise.masks) if noise and noise.masks else {},
                )  # fmt: skip
            return
        fn = self._function("train", inputs, targets, sample_weights, noise)
        masks = tuple(noise.masks[k] for k in sorted(noise.masks)) if noise and noise.masks else ()
        self._seed_step(noise, training=False)  # no seed: a noiseless model, nothing to key
        with self._placed():
            fn(
                tuple(inputs),
                tuple(targets),
                tuple(s for s in sample_weights if s is not None),
                tf.constant(learning_rate, tf.float64),
                masks,
            )

    def train_many(
        self,
        batches: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[Any]]],
        learning_rates: Sequence[float],
        seeds: Sequence[int] | None = None,
    ) -> None:
        """The steps in one ``tf.function`` call: the batches stacked on a new first axis and a
        ``tf.while_loop`` of the train step over them (XLA as the single step); ``seeds``
        (step noise): each step reseeds the generator in the loop, as ``train_batch`` does
        before its call, so the masks are those of one call per step. One batch runs the loop
        once: a call that groups runs every batch through the loop (a loop body may round a
        batch's loss an ulp apart from the single-step graph: grappler optimizes it apart),
        and tracing the loop costs ~0.05-0.1 s more than the single step."""
        if self._group is not None:
            super().train_many(batches, learning_rates, seeds)
            return
        kind = "train_many" if seeds is None else "train_many_seeded"
        fn = self._function(kind, *batches[0])
        per_step = [tf.constant(np.asarray(learning_rates, np.float64))]
        if seeds is not None:
            per_step.append(tf.constant(np.asarray(seeds, np.int64)))
        with self._placed():
            fn(*_stacked(batches), *per_step)
        if seeds is not None:  # the eager key base, as after the last step's reseed
            self.rng.reseed(int(seeds[-1]))

    def test_many(
        self, batches: Sequence[tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[Any]]]
    ) -> None:
        """The test steps in one ``tf.function`` call, as :meth:`train_many`."""
        if self._group is not None:
            super().test_many(batches)
            return
        fn = self._function("test_many", *batches[0])
        with self._placed():
            fn(*_stacked(batches))

    def test_batch(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
    ) -> None:
        if self._group is not None:
            with self._placed():
                _distributed.test_batch(self, inputs, targets, sample_weights)
            return
        fn = self._function("test", inputs, targets, sample_weights)
        with self._placed():
            fn(tuple(inputs), tuple(targets), tuple(s for s in sample_weights if s is not None))

    # ---- data-parallel (duallearn.distribution; _distributed.py) ------------------------
    _group: _distributed.TFGroup | None = None
    _global_batch: int | None = None

    def distribute(self, plan: Any) -> _distributed.TFGroup:
        """Make the steps data-parallel under ``plan``'s strategy (multi-worker across the
        processes of ``TF_CONFIG``, mirrored across devices of one process); BatchNormalization
        synchronized unless ``plan.sync_batch_norm`` is False."""
        group = _distributed.join(plan)
        self._group = group
        _distributed.sync_batch_norm(self.net, plan.sync_batch_norm)
        self._fns = {}
        return group

    def undistribute(self) -> None:
        """Back to one replica."""
        _distributed.sync_batch_norm(self.net, None)
        self._group, self._global_batch, self._fns = None, None, {}

    def set_global_batch(self, n: int) -> None:
        """Rows of the global batch of the next step (all processes together)."""
        self._global_batch = int(n)

    def broadcast_state(self, optimizer: bool = True) -> None:
        """Process 0's weights and (``optimizer``) optimizer state on every process."""
        if self._group is not None:
            with self._placed():
                _distributed.broadcast_state(self, optimizer)

    def results(self, reset: bool = True) -> np.ndarray:
        out = self._acc.numpy().copy()
        if self._group is not None:  # sums over every process's rows
            out = self._group.all_reduce(out, "sum of the logs")
        if reset:
            self._acc.assign(tf.zeros_like(self._acc))
        return out

    def gradients(
        self,
        inputs: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        sample_weights: Sequence[np.ndarray | None],
        training: bool = True,
        noise: StepNoise | None = None,
    ) -> tuple[float, list[np.ndarray]]:
        masks = (
            {k: tf.constant(v) for k, v in noise.masks.items()} if noise and noise.masks else None
        )
        self._seed_step(noise, training)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self.params)
            outs = self.net([tf.constant(a) for a in inputs], training, masks)
            loss, _ = self._loss(
                [tf.constant(a) for a in targets],
                outs,
                [None if s is None else tf.constant(s) for s in sample_weights],
            )
        grads = tape.gradient(loss, self.params)
        return float(loss.numpy()), self._canonical(self._trainable_vars, grads)

    def input_gradients(
        self,
        inputs: Sequence[np.ndarray],
        output_grads: Sequence[np.ndarray],
        training: bool = False,
        noise: StepNoise | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        masks = (
            {k: tf.constant(v) for k, v in noise.masks.items()} if noise and noise.masks else None
        )
        xs = [tf.constant(a) for a in inputs]
        self._seed_step(noise, training)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(self.params)
            for x in xs:
                if x.dtype.is_floating:
                    tape.watch(x)
            outs = self.net(xs, training, masks)
            s = tf.add_n(
                [tf.reduce_sum(o * tf.constant(g)) for o, g in zip(outs, output_grads, strict=True)]
            )
        grads = tape.gradient(s, xs + self.params)
        dx = [
            np.zeros_like(a) if g is None else g.numpy()
            for a, g in zip(inputs, grads, strict=False)
        ]
        return dx, self._canonical(self._trainable_vars, grads[len(xs) :])
