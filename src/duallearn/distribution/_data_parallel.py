"""``DataParallel`` and the global distribution (Keras 3's ``keras.distribution`` names).

With a distribution set, ``fit`` / ``evaluate`` / ``predict`` run data-parallel: every process
holds the whole model, takes its rows of each global batch (``batch_size`` is the global
batch, as in Keras), and the processes combine gradients, BatchNormalization statistics,
metrics and predictions so that the numbers are those of one process training on the whole
batch (docs/distributed.md says exactly what that covers).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import ConfigError
from . import _env

DEFAULT_TIMEOUT = 300.0
_DEVICE = re.compile(r"^(cpu|gpu|cuda|tpu)(:\d+)?$")


def list_devices(device_type: str | None = None) -> list[str]:
    """The devices this process's backend can run on, Keras-style (``"cpu:0"``,
    ``"gpu:1"``). Imports the selected backend's framework.

    Args:
        device_type: ``"cpu"`` or ``"gpu"``; None: the GPUs when there are any, else the CPU.

    Returns:
        A list of device names, never mixing types.

    Raises:
        ConfigError: ``device_type`` is not ``"cpu"``, ``"gpu"`` or None.

    Example:
        >>> import duallearn as dl
        >>> "cpu:0" in dl.distribution.list_devices("cpu")
        True
    """
    from ..plugin import current_backend

    if device_type is not None and str(device_type).lower() not in ("cpu", "gpu"):
        raise ConfigError(
            f"list_devices: device_type must be 'cpu', 'gpu' or None. Received: "
            f"{device_type!r}. Fix: e.g. list_devices('gpu')."
        )
    found = current_backend().devices()
    gpus = [f"gpu:{d.partition(':')[2] or 0}" for d in found if d.startswith(("cuda", "gpu"))]
    cpus = [d if ":" in d else f"{d}:0" for d in found if d.startswith("cpu")] or ["cpu:0"]
    kind = None if device_type is None else str(device_type).lower()
    if kind == "gpu":
        return gpus
    if kind == "cpu":
        return cpus
    return gpus or cpus


def _check_devices(devices: Any) -> list[str] | None:
    if devices is None:
        return None
    if isinstance(devices, str) or not isinstance(devices, Sequence):
        raise ConfigError(
            f"DataParallel: devices must be a list of device names. Received: {devices!r}. "
            "Fix: e.g. devices=['gpu:0', 'gpu:1'], or leave it None for every device."
        )
    names = [str(d).strip().lower() for d in devices]
    bad = [d for d in names if not _DEVICE.match(d)]
    if bad or not names:
        raise ConfigError(
            f"DataParallel: device names must look like 'cpu:0' or 'gpu:1'. Received: "
            f"{list(devices)!r}. Fix: use names from dl.distribution.list_devices()."
        )
    if len(set(names)) != len(names):
        raise ConfigError(
            f"DataParallel: a device is listed twice. Received: {list(devices)!r}. "
            "Fix: list each device once."
        )
    return names


class DataParallel:
    """Data parallelism: each replica holds all the weights and trains on its rows of
    every global batch (Keras 3's ``keras.distribution.DataParallel``).

    Start the processes with ``duallearn launch --nproc N script.py`` (or ``torchrun`` on
    torch). On torch each process is one replica; on TensorFlow the processes join a
    ``MultiWorkerMirroredStrategy`` (from ``TF_CONFIG``) and the devices of one process can be
    replicas too (``MirroredStrategy``). Gradients are summed by an all-reduce of
    ``(rows_r / B) · ∇loss_r`` over replicas ``r``, which is the gradient of the mean loss
    over the whole global batch ``B`` (shards may differ in size by one row).

    Args:
        devices: the devices of this process's replicas (``"cpu:0"``, ``"gpu:1"``; None:
            the process's own device). torch runs one replica per process; TensorFlow
            runs one per device listed (one process only).
        auto_shard_dataset: as Keras: every process is given the whole data and takes its
            shard of each batch. Only True is supported.
        sync_batch_norm: BatchNormalization layers normalize with the statistics of the
            whole global batch (all processes), as one process would. False keeps them per
            process (one collective less per layer and step): the outputs, gradients and
            moving statistics then change (moving statistics are averaged over processes
            after each step, as ``tf.distribute`` does).
        timeout: seconds a collective waits for the other processes before this process
            stops with a :class:`~duallearn.errors.TrainingError` (a dead or stuck peer).

    Raises:
        ConfigError: a bad device list, ``auto_shard_dataset=False`` or a timeout <= 0.

    Example:
        >>> import duallearn as dl
        >>> dp = dl.distribution.DataParallel()
        >>> dp.num_processes, dp.process_index, dp.sync_batch_norm
        (1, 0, True)
    """

    def __init__(
        self,
        devices: Sequence[str] | None = None,
        auto_shard_dataset: bool = True,
        *,
        sync_batch_norm: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._devices = _check_devices(devices)
        if auto_shard_dataset is not True:
            raise ConfigError(
                "DataParallel: auto_shard_dataset=False (each process reads its own data) is "
                f"not supported. Received: auto_shard_dataset={auto_shard_dataset!r}. Fix: "
                "give every process the same, whole data; each takes its rows of every batch."
            )
        if not isinstance(sync_batch_norm, bool):
            raise ConfigError(
                f"DataParallel: sync_batch_norm must be True or False. Received: "
                f"{sync_batch_norm!r}."
            )
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ConfigError(
                f"DataParallel: timeout must be a number of seconds > 0. Received: "
                f"timeout={timeout!r}. Fix: e.g. timeout=300."
            )
        self.auto_shard_dataset = True
        self.sync_batch_norm = sync_batch_norm
        self.timeout = float(timeout)
        self.batch_dim_name = "batch"

    @property
    def devices(self) -> list[str]:
        """This process's replica devices (resolved from :func:`list_devices` when not given)."""
        if self._devices is None:
            return list_devices()[:1]
        return list(self._devices)

    @property
    def local_replicas(self) -> int:
        """Replicas in this process: the devices given (1 when left to the backend)."""
        return 1 if self._devices is None else len(self._devices)

    @property
    def num_processes(self) -> int:
        """Processes of the run (:func:`num_processes`)."""
        return _env.num_processes()

    @property
    def process_index(self) -> int:
        """This process's index (:func:`process_index`)."""
        return _env.process_index()

    @property
    def data_shard_id(self) -> int:
        """Keras's name: the shard of each batch this process trains on."""
        return self.process_index

    @property
    def num_model_replicas(self) -> int:
        """Replicas over all processes."""
        return self.num_processes * self.local_replicas

    @contextlib.contextmanager
    def scope(self) -> Iterator[DataParallel]:
        """Make this the current distribution inside a ``with`` block (Keras's ``scope``)."""
        before = distribution()
        set_distribution(self)
        try:
            yield self
        finally:
            set_distribution(before)

    def __repr__(self) -> str:
        devices = "None" if self._devices is None else repr(self._devices)
        return (
            f"DataParallel(devices={devices}, sync_batch_norm={self.sync_batch_norm}, "
            f"timeout={self.timeout:g})"
        )


_current: DataParallel | None = None


def distribution() -> DataParallel | None:
    """The distribution ``fit`` / ``evaluate`` / ``predict`` run under (None: one replica).

    Returns:
        The value last given to :func:`set_distribution`, or None.

    Example:
        >>> import duallearn as dl
        >>> dl.distribution.distribution() is None
        True
    """
    return _current


def set_distribution(value: DataParallel | None) -> None:
    """Set the global distribution (None: back to one replica), as Keras's
    ``keras.distribution.set_distribution``.

    Args:
        value: a :class:`DataParallel`, or None.

    Raises:
        ConfigError: ``value`` is neither.

    Example:
        >>> import duallearn as dl
        >>> dl.distribution.set_distribution(dl.distribution.DataParallel())
        >>> dl.distribution.set_distribution(None)
    """
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise ConfigError(
            f"set_distribution expects a dl.distribution.DataParallel or None. Received: "
            f"{type(value).__name__}. Fix: set_distribution(dl.distribution.DataParallel())."
        )
    _current = value


def writes_files() -> bool:
    """Whether this process writes checkpoints, TensorBoard files and progress: always
    without a distribution, process 0 only with one."""
    return _current is None or _env.process_index() == 0
