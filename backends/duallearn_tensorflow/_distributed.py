"""Data-parallel training on ``tf.distribute`` (docs/distributed.md).

* Several processes: ``tf.distribute.MultiWorkerMirroredStrategy`` over the workers of
  ``TF_CONFIG`` (written by ``duallearn launch``). TensorFlow configures its collective ops
  only before its first operation, so the strategy is created when this backend loads in a
  process whose ``TF_CONFIG`` lists two or more tasks (:func:`startup`: it waits there for
  every worker).
* Several devices of one process: ``tf.distribute.MirroredStrategy`` (GPUs, or logical CPU
  devices made with ``tf.config.set_logical_device_configuration`` at program start).

Every replica trains on its rows of the front-end's global batch (a process splits its rows
over its devices as ``np.array_split`` does). The train step runs ``strategy.run``: each
replica differentiates its share of the global loss (``NativeRuntime._share``), the
gradients are summed by the strategy's all-reduce (``ReplicaContext.all_reduce``, ring
collectives across processes), and the update is applied once per process outside the
replicas, to the same weights on every process. BatchNormalization (``sync_batch_norm``, the
default) normalizes with the moments of the whole global batch (differentiable all-reduces
of ``Σx``, the counts and ``Σ(x − μ)²``); per replica, the moving statistics are updated with
the replicas' average moments instead. Metric and loss accumulators are summed over the
processes at each logging read. Every collective waits at most the distribution's
``timeout``; a failure becomes a ``TrainingError`` naming this process and what it waited for.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.distribution import _env
from duallearn.distribution._replicas import collective_failure
from duallearn.errors import BackendError, ConfigError

from ._normalization import TFBatchNormalization

STARTUP_TIMEOUT = 600  # seconds the backend's import waits for every worker of TF_CONFIG
SUM = tf.distribute.ReduceOp.SUM

_startup: dict[str, Any] = {"strategy": None, "error": None, "workers": 0}


def startup() -> None:
    """When ``TF_CONFIG`` lists two or more tasks: create the multi-worker strategy now, at
    program start, as TensorFlow requires (it waits up to ``STARTUP_TIMEOUT`` seconds for
    every worker). A failure is kept and reported by the first data-parallel ``fit``."""
    config = _env._tf_config() if os.environ.get("TF_CONFIG") else None
    workers = len(_env._tf_workers(config)) if config else 0
    if workers < 2:
        return
    _startup["workers"] = workers
    from tensorflow.python.distribute import collective_all_reduce_strategy as cars

    cars.CollectiveAllReduceExtended._check_health_initial_timeout = STARTUP_TIMEOUT
    ring = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING
    )
    try:
        _startup["strategy"] = tf.distribute.MultiWorkerMirroredStrategy(communication_options=ring)
    except (RuntimeError, ValueError, tf.errors.OpError) as exc:
        _startup["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _tf_device(name: str) -> str:
    kind, _, index = name.partition(":")
    return f"/{'GPU' if kind in ('gpu', 'cuda') else 'CPU'}:{index or 0}"


_mirrored: dict[tuple[str, ...], Any] = {}


def strategy_for(plan: Any) -> Any:
    """The strategy of ``plan``: multi-worker across processes, mirrored across the devices
    of one process."""
    if plan.num_processes > 1:
        strategy = _startup["strategy"]
        if strategy is None:
            why = _startup["error"] or (
                "TF_CONFIG did not list the run's workers when the tensorflow backend loaded"
            )
            raise BackendError(
                f"Data-parallel training over {plan.num_processes} processes on TensorFlow "
                "needs tf.distribute.MultiWorkerMirroredStrategy, created when the backend "
                f"loads from TF_CONFIG; it is not available ({why}). Fix: start the processes "
                "with `duallearn launch --nproc N script.py` (it writes TF_CONFIG), and let "
                "duallearn load TensorFlow before anything else runs a TensorFlow operation."
            )
        if _startup["workers"] != plan.num_processes:
            raise BackendError(
                f"TF_CONFIG lists {_startup['workers']} workers but the run has "
                f"{plan.num_processes} processes (WORLD_SIZE). Fix: give both the same count "
                "(duallearn launch does)."
            )
        if plan.local_replicas > 1:
            raise ConfigError(
                f"Across processes the TensorFlow backend uses every device of each process "
                f"(MultiWorkerMirroredStrategy chooses them). Received: {plan!r}. Fix: "
                "leave devices=None."
            )
        return strategy
    names = tuple(_tf_device(d) for d in plan.devices)
    have = {d.name.split("device:")[-1] for d in tf.config.list_logical_devices()}
    missing = [d for d in names if d.lstrip("/") not in have]
    if missing:
        raise ConfigError(
            f"DataParallel(devices={plan.devices}): TensorFlow has no device "
            f"{', '.join(d.lstrip('/') for d in missing)} (it has {sorted(have)}). Fix: use "
            "names from dl.distribution.list_devices(); for several CPU replicas, call "
            "tf.config.set_logical_device_configuration(tf.config.list_physical_devices("
            "'CPU')[0], [tf.config.LogicalDeviceConfiguration()] * N) before any TensorFlow "
            "operation runs."
        )
    if names not in _mirrored:
        _mirrored[names] = tf.distribute.MirroredStrategy(devices=list(names))
    return _mirrored[names]


class TFGroup:
    """The processes of the run as the front-end sees them: rank, size and collectives on
    numpy values, each bounded by ``timeout`` and raising ``TrainingError``."""

    def __init__(self, strategy: Any, size: int, rank: int, timeout: float) -> None:
        self.strategy = strategy
        self.size, self.rank = size, rank
        self.timeout = timeout
        self.local = len(strategy.extended.worker_devices)
        self.options = tf.distribute.experimental.CommunicationOptions(
            timeout_seconds=timeout,
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
        )
        self._sum = tf.function(  # one trace: every value travels as a float64 vector
            self._sum_replicas,
            input_signature=[tf.TensorSpec([None], tf.float64)],
            autograph=False,
        )

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """A failed collective (a peer gone, the timeout passed) as a ``TrainingError``."""
        try:
            yield
        except tf.errors.OpError as exc:
            reason = f"{type(exc).__name__}: {' '.join(str(exc.message).split())[:300]}"
            raise collective_failure(self.rank, self.size, what, self.timeout, reason) from exc

    def _sum_replicas(self, t: tf.Tensor) -> Any:
        def replica(v: tf.Tensor) -> tf.Tensor:
            ctx = tf.distribute.get_replica_context()
            first = tf.cast(ctx.replica_id_in_sync_group % self.local == 0, v.dtype)
            return ctx.all_reduce(SUM, v * first, options=self.options)  # once per process

        return self.strategy.run(replica, args=(t,))

    def reduce_gradients(self, grads: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Σ over replicas of each tensor: the train step's gradient all-reduce on its own
        (benchmarks/distributed.py times it)."""
        fn = self.__dict__.get("_reduce_fn")
        if fn is None:

            def reduce(gs: Any) -> Any:
                def replica(*g: tf.Tensor) -> Any:
                    ctx = tf.distribute.get_replica_context()
                    # (copies made in the replica: a captured tensor has no replica device)
                    return ctx.all_reduce(SUM, [tf.identity(t) for t in g], options=self.options)

                return self.strategy.run(replica, args=tuple(gs))

            fn = self.__dict__["_reduce_fn"] = tf.function(reduce, autograph=False)
        with self.guard("gradient all-reduce"):
            out = fn(list(grads))
        return list(self.strategy.experimental_local_results(out)[0])

    def all_reduce(self, array: np.ndarray, what: str = "sum") -> np.ndarray:
        """Σ over processes of ``array`` (same shape and dtype on every process), summed in
        float64 (integers exact below 2**53)."""
        a = np.asarray(array)
        if self.size == 1:
            return a.copy()
        with self.guard(what):
            flat = tf.constant(a.astype(np.float64).ravel())
            out = self.strategy.experimental_local_results(self._sum(flat))[0]
            return out.numpy().reshape(a.shape).astype(a.dtype)

    def _exchange(self, payload: bytes | None, what: str) -> list[bytes]:
        """Every process's bytes (None: nothing), through two sums."""
        sizes = np.zeros(self.size, np.int64)
        sizes[self.rank] = -1 if payload is None else len(payload)
        sizes = self.all_reduce(sizes, what)
        rows = np.zeros((self.size, max(1, int(sizes.max()))), np.int32)
        if payload:
            rows[self.rank, : len(payload)] = np.frombuffer(payload, np.uint8)
        rows = self.all_reduce(rows, what)
        return [rows[r, : max(0, int(n))].astype(np.uint8).tobytes() for r, n in enumerate(sizes)]

    def all_gather(self, obj: Any) -> list[Any]:
        """``obj`` of every process, in process order (pickled, as torch's collectives)."""
        if self.size == 1:
            return [obj]
        return [pickle.loads(b) for b in self._exchange(pickle.dumps(obj), "gather of results")]

    def broadcast(self, obj: Any) -> Any:
        """Process 0's ``obj``."""
        if self.size == 1:
            return obj
        mine = pickle.dumps(obj) if self.rank == 0 else None
        return pickle.loads(self._exchange(mine, "broadcast from process 0")[0])

    def barrier(self) -> None:
        """Wait until every process is here."""
        self.all_reduce(np.zeros(1, np.float32), "barrier")


def join(plan: Any) -> TFGroup:
    """The group of ``plan``'s processes (its strategy chosen by :func:`strategy_for`)."""
    strategy = strategy_for(plan)
    return TFGroup(strategy, plan.num_processes, plan.process_index, plan.timeout)


# ---- the replica being traced ----------------------------------------------------------------
class _Replica(threading.local):
    """What a replica's trace needs to know (MirroredStrategy traces each in its thread):
    its context, whether it updates the shared moving statistics (one replica per process),
    the row multiplicity of the step, and the collectives' options."""

    ctx: Any = None
    leader: bool = True
    copies: Any = None
    options: Any = None


REPLICA = _Replica()


class SyncedBatchNormalization(TFBatchNormalization):
    """BatchNormalization inside a data-parallel step. ``sync``: the moments are those of the
    global batch, ``μ = Σ_r Σ x / N``, ``σ² = Σ_r Σ (x − μ)² / N`` (biased; masked: weights
    ``mask[..., None]``, ``N = Σ w + 1e-7``; sums over replicas divided by the rows'
    multiplicity); otherwise each replica normalizes with its own moments and the moving
    statistics take the replicas' average. One replica per process assigns them."""

    sync: bool = True

    def forward(self, x: tf.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        spec, ctx = self.spec, REPLICA.ctx
        if ctx is None or not spec.uses_batch_statistics(training):
            return super().forward(x, training, noise, mask)
        red, channels = self.red, int(x.shape[self.axis])
        w = None
        if mask is not None:
            w = tf.broadcast_to(tf.cast(tf.expand_dims(mask, -1), x.dtype), tf.shape(x))
        count = (
            tf.fill([channels], tf.cast(tf.size(x) // channels, x.dtype))
            if w is None
            else tf.reduce_sum(w, axis=red)
        )
        s1 = tf.reduce_sum(x if w is None else w * x, axis=red)
        copies = tf.cast(REPLICA.copies, x.dtype)
        if self.sync:
            total = ctx.all_reduce(SUM, tf.concat([s1, count], 0), options=REPLICA.options)
            total = total / copies
            n = total[channels:]
            denom = n if w is None else n + tf.constant(spec.MASK_EPSILON, x.dtype)
            mean = total[:channels] / denom
            d = x - tf.reshape(mean, self.bshape)
            sq = d * d if w is None else w * d * d
            s2 = ctx.all_reduce(SUM, tf.reduce_sum(sq, axis=red), options=REPLICA.options)
            var = s2 / copies / denom
            stat_mean, stat_var = tf.stop_gradient(mean), tf.stop_gradient(var)
        else:
            n = count
            denom = n if w is None else n + tf.constant(spec.MASK_EPSILON, x.dtype)
            mean = s1 / denom
            d = x - tf.reshape(mean, self.bshape)
            sq = d * d if w is None else w * d * d
            var = tf.reduce_sum(sq, axis=red) / denom
            both = tf.stop_gradient(tf.concat([mean, var], 0))
            avg = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, both, options=REPLICA.options)
            stat_mean, stat_var = avg[:channels], avg[channels:]
        y = d * tf.reshape(tf.math.rsqrt(var + tf.constant(spec.epsilon, x.dtype)), self.bshape)
        gamma, beta = self._get("gamma"), self._get("beta")
        if gamma is not None:
            y = y * self._bcast(gamma, self.bshape, x.dtype)
        if beta is not None:
            y = y + self._bcast(beta, self.bshape, x.dtype)
        if REPLICA.leader:
            mm, mv = self._get("moving_mean"), self._get("moving_variance")
            v = stat_var
            if spec.unbiased_moving_variance:
                one = tf.constant(1.0, x.dtype)
                nn = tf.stop_gradient(n)
                v = v * nn / tf.maximum(nn - one, one)
            m = tf.constant(spec.momentum, mm.dtype)
            one_m = tf.constant(1.0 - spec.momentum, mm.dtype)
            mm.assign(mm * m + tf.cast(stat_mean, mm.dtype) * one_m)
            mv.assign(mv * m + tf.cast(v, mv.dtype) * one_m)
        return y


def sync_batch_norm(net: tf.Module, sync: bool | None) -> None:
    """Make every BatchNormalization of ``net`` data-parallel (``sync``: global moments;
    False: per replica), or plain again (None)."""
    for m in net.submodules:
        if isinstance(m, TFBatchNormalization):
            if sync is None:
                m.__class__ = TFBatchNormalization
            else:
                m.__class__ = SyncedBatchNormalization
                m.sync = sync  # type: ignore[attr-defined]


# ---- the data-parallel train step ------------------------------------------------------------
def _split(n: int, local: int) -> list[tuple[int, int]]:
    """Rows ``[lo, hi)`` of each local replica (``np.array_split``); fewer rows than
    replicas: each takes them all."""
    if n < local:
        return [(0, n)] * local
    base, extra = divmod(n, local)
    out, lo = [], 0
    for r in range(local):
        hi = lo + base + (1 if r < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


def train_batch(
    rt: Any,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    sample_weights: Sequence[np.ndarray | None],
    learning_rate: float,
    noise_masks: dict[int, np.ndarray],
) -> None:
    """One data-parallel training step of runtime ``rt`` on this process's rows (``noise_masks``:
    deterministic-mode dropout masks of those rows, by layer)."""
    group: TFGroup = rt._group
    n = len(inputs[0])
    full = rt._global_batch or n
    rt._global_batch = None
    spread = n == full and group.size > 1  # every process holds the whole batch
    parts = _split(n, group.local)
    copies = (group.size if spread else 1) * (group.local if n < group.local else 1)
    present = tuple(s is not None for s in sample_weights)
    weights = [s for s in sample_weights if s is not None]
    mask_keys = tuple(sorted(noise_masks))
    masks = [noise_masks[k] for k in mask_keys]

    def values(ctx: Any) -> tuple[Any, ...]:
        r = ctx.replica_id_in_sync_group % group.local
        lo, hi = parts[r]
        first = (not spread or group.rank == 0) and (n >= group.local or r == 0)
        info = np.array([(hi - lo) / full, float(first)], np.float64)
        cut = lambda arrays: tuple(tf.constant(a[lo:hi]) for a in arrays)  # noqa: E731
        return cut(inputs), cut(targets), cut(weights), cut(masks), tf.constant(info)

    key = ("dp-train", present, mask_keys)
    fn = rt._fns.get(key)
    if fn is None:
        fn = rt._fns[key] = tf.function(
            lambda *a: _step(rt, present, mask_keys, *a), autograph=False, reduce_retracing=True
        )
    with group.guard("gradient all-reduce"):
        data = group.strategy.experimental_distribute_values_from_function(values)
        fn(data, tf.constant(learning_rate, tf.float64), tf.constant(float(copies), tf.float64))


def _step(
    rt: Any,
    present: tuple[bool, ...],
    mask_keys: tuple[int, ...],
    data: Any,
    lr: tf.Tensor,
    copies: tf.Tensor,
) -> None:
    """The traced step: ``strategy.run`` of each replica's share, then one update."""
    group: TFGroup = rt._group

    def replica(xs: Any, ys: Any, ws: Any, ms: Any, info: tf.Tensor) -> Any:
        ctx = tf.distribute.get_replica_context()
        REPLICA.ctx, REPLICA.copies, REPLICA.options = ctx, copies, group.options
        rid = tf.get_static_value(ctx.replica_id_in_sync_group)
        REPLICA.leader = group.local == 1 or (rid is not None and int(rid) % group.local == 0)
        it = iter(ws)
        sws = [next(it) if p else None for p in present]
        masks = dict(zip(mask_keys, ms, strict=True)) or None
        try:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(rt.params)
                outs = rt._mp_forward(list(xs), True, masks)
                loss, parts = rt._loss(list(ys), outs, sws)
                share = tf.cast(info[0], loss.dtype)
                objective, logged, logged_parts = rt._share(
                    loss, parts, share, tf.cast(copies, loss.dtype)
                )
            grads = tape.gradient(objective, rt.params)
        finally:
            REPLICA.ctx = None
        dense = [
            tf.zeros_like(p) if g is None else tf.convert_to_tensor(g)
            for p, g in zip(rt.params, grads, strict=True)
        ]
        summed = ctx.all_reduce(SUM, [*dense, objective], options=group.options)
        delta = rt._acc_delta(logged, logged_parts, list(ys), outs, sws) * info[1]
        return summed, delta

    results = group.strategy.experimental_local_results(group.strategy.run(replica, args=data))
    summed = results[0][0]
    rt._opt.apply(list(summed[:-1]), lr, summed[-1], check=True)
    deltas = [d for _, d in results]
    rt._acc.assign_add(tf.add_n(deltas) if len(deltas) > 1 else deltas[0])


def test_batch(
    rt: Any,
    inputs: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    sample_weights: Sequence[np.ndarray | None],
) -> None:
    """One evaluation step on this process's rows: no collective (inference); a
    ``reduction="sum"`` output's loss is logged as its share of the global batch's."""
    n = len(inputs[0])
    full = rt._global_batch or n
    rt._global_batch = None
    if n == 0:
        return
    present = tuple(s is not None for s in sample_weights)
    key = ("dp-test", present)
    fn = rt._fns.get(key)
    if fn is None:

        def step(xs: Any, ys: Any, ws: Any, share: tf.Tensor) -> None:
            it = iter(ws)
            sws = [next(it) if p else None for p in present]
            outs = rt._mp_forward(list(xs), False, None)
            loss, parts = rt._loss(list(ys), outs, sws)
            _, logged, logged_parts = rt._share(loss, parts, tf.cast(share, loss.dtype))
            rt._acc.assign_add(rt._acc_delta(logged, logged_parts, list(ys), outs, sws))

        fn = rt._fns[key] = tf.function(step, autograph=False, reduce_retracing=True)
    weights = tuple(s for s in sample_weights if s is not None)
    fn(tuple(inputs), tuple(targets), weights, tf.constant(n / full, tf.float64))


def broadcast_state(rt: Any, optimizer: bool) -> None:
    """Process 0's weights (every variable of the graph) and, with ``optimizer``, its
    optimizer slots and step counter, on every process (sums with zeros elsewhere: exact)."""
    group: TFGroup = rt._group
    if group.size == 1:
        return
    variables = rt._state_tensors(optimizer)
    by_dtype: dict[str, list[Any]] = {}
    for v in variables:
        by_dtype.setdefault(v.dtype.name, []).append(v)
    for vs in by_dtype.values():
        flat = np.concatenate([np.ravel(v.numpy()) for v in vs])
        if group.rank != 0:
            flat = np.zeros_like(flat)
        flat = group.all_reduce(flat, "broadcast of the weights")
        pos = 0
        for v in vs:
            size = int(np.prod(v.shape))
            v.assign(flat[pos : pos + size].reshape(v.shape))
            pos += size
    if optimizer and rt._opt is not None:
        rt._opt._set_iterations(int(group.broadcast(rt._opt._get_iterations())))
