"""The GPU paths of data-parallel training: torch's nccl process group (one process per GPU)
and TensorFlow's MirroredStrategy over the GPUs of one process, each against one process on
one GPU (the worker script of test_data_parallel.py). They need two CUDA devices; on a
machine without them they are skipped with that reason (this project's CI machine has none).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from .test_data_parallel import _launch, _run_one, _same_as_one_process


def _cuda_devices(engine: str) -> int:
    if importlib.util.find_spec(engine) is None:
        return 0
    if engine == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def _need_two(engine: str):
    return pytest.mark.skipif(
        _cuda_devices(engine) < 2,
        reason=f"needs 2 CUDA devices visible to {engine} (found "
        f"{_cuda_devices(engine)}; one GPU per replica)",
    )


@_need_two("torch")
def test_nccl_processes_train_as_one_gpu(tmp_path):
    single = _run_one("torch", str(tmp_path / "single.npz"), "single")
    out = str(tmp_path / "sync.npz")
    proc, _ = _launch("torch", out, "sync")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f0, np.load(f"{out}.rank1.npz") as f1:
        got, other = dict(f0), dict(f1)
    _same_as_one_process(got, single)
    for k in (k for k in single if k.startswith("w")):
        np.testing.assert_array_equal(other[k], got[k], err_msg=f"replicas differ: {k}")


@_need_two("tensorflow")
def test_tensorflow_mirrored_gpus_train_as_one_gpu(tmp_path):
    single = _run_one("tensorflow", str(tmp_path / "single.npz"), "single")
    _same_as_one_process(_run_one("tensorflow", str(tmp_path / "gpus.npz"), "mirrored-gpu"), single)
