"""``dl.distribution``: Keras 3's names and semantics, the process environment, the shard rule,
process-0-only writing of the callbacks, and the clear refusals (framework-free parts run in
this process; Keras's own ``keras.distribution`` runs beside us in a subprocess)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import duallearn as dl
from duallearn.distribution import _data_parallel, _env
from duallearn.distribution._replicas import Shard
from duallearn.errors import BackendError, ConfigError

from ..conftest import need_backends

RUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture(autouse=True)
def _one_process(monkeypatch):
    """Each test starts as a lone process without a distribution, and ends without one."""
    for name in RUN_ENV:
        monkeypatch.delenv(name, raising=False)
    dl.distribution.set_distribution(None)
    yield
    dl.distribution.set_distribution(None)


# ---- Keras 3's names and values ----------------------------------------------------------------
KERAS_PROBE = """
import json, keras
dp = keras.distribution.DataParallel(devices=["cpu:0"])
before = keras.distribution.distribution()
keras.distribution.set_distribution(dp)
print(json.dumps({
    "names": sorted(n for n in ("DataParallel", "distribution", "list_devices",
                                "set_distribution") if hasattr(keras.distribution, n)),
    "cpu": keras.distribution.list_devices("cpu"),
    "num_processes": dp.num_processes, "data_shard_id": dp.data_shard_id,
    "num_model_replicas": dp.num_model_replicas, "batch_dim_name": dp.batch_dim_name,
    "before": before is None, "after": keras.distribution.distribution() is dp,
}))
"""


@need_backends("tensorflow")
def test_names_and_values_match_keras():
    env = {k: v for k, v in os.environ.items() if k not in RUN_ENV}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_PROBE], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    keras = json.loads(proc.stdout.strip().splitlines()[-1])
    assert keras["names"] == ["DataParallel", "distribution", "list_devices", "set_distribution"]
    for name in keras["names"]:
        assert callable(getattr(dl.distribution, name)), name
    with dl.use_backend("tensorflow"):
        assert dl.distribution.list_devices("cpu") == keras["cpu"] == ["cpu:0"]
    dp = dl.distribution.DataParallel(devices=["cpu:0"])
    before = dl.distribution.distribution()
    dl.distribution.set_distribution(dp)
    ours = {
        "num_processes": dp.num_processes,
        "data_shard_id": dp.data_shard_id,
        "num_model_replicas": dp.num_model_replicas,
        "batch_dim_name": dp.batch_dim_name,
        "before": before is None,
        "after": dl.distribution.distribution() is dp,
    }
    assert ours == {k: keras[k] for k in ours}


def test_scope_sets_and_restores():
    outer = dl.distribution.DataParallel()
    inner = dl.distribution.DataParallel(sync_batch_norm=False)
    dl.distribution.set_distribution(outer)
    with inner.scope() as got:
        assert got is inner and dl.distribution.distribution() is inner
    assert dl.distribution.distribution() is outer
    assert repr(inner) == "DataParallel(devices=None, sync_batch_norm=False, timeout=300)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"devices": "cpu:0"}, "devices must be a list of device names. Received: 'cpu:0'"),
        ({"devices": ["tpu-3"]}, "must look like 'cpu:0' or 'gpu:1'. Received: ['tpu-3']"),
        ({"devices": []}, "must look like 'cpu:0' or 'gpu:1'. Received: []"),
        ({"devices": ["gpu:0", "GPU:0"]}, "a device is listed twice"),
        ({"auto_shard_dataset": False}, "auto_shard_dataset=False (each process reads its own"),
        ({"timeout": 0}, "timeout must be a number of seconds > 0. Received: timeout=0"),
        ({"timeout": math.nan}, "Received: timeout=nan"),
        ({"timeout": True}, "Received: timeout=True"),
        ({"sync_batch_norm": 1}, "sync_batch_norm must be True or False. Received: 1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError) as info:
        dl.distribution.DataParallel(**kwargs)
    assert message in str(info.value)
    assert "Fix:" in str(info.value) or "Received" in str(info.value)


def test_set_distribution_refuses_other_objects():
    with pytest.raises(ConfigError, match="expects a dl.distribution.DataParallel or None. "
                       "Received: str"):  # fmt: skip
        dl.distribution.set_distribution("data_parallel")
    with pytest.raises(ConfigError, match="device_type must be 'cpu', 'gpu' or None"):
        dl.distribution.list_devices("npu")


# ---- where this process sits -------------------------------------------------------------------
def test_process_from_torchrun_variables(monkeypatch):
    assert (dl.distribution.num_processes(), dl.distribution.process_index()) == (1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert (dl.distribution.num_processes(), dl.distribution.process_index()) == (4, 2)
    assert dl.distribution.DataParallel().num_model_replicas == 4
    assert _env.local_process_index() == 0


def test_process_from_tf_config(monkeypatch):
    cluster = {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker",
                                                                             "index": 1}}))  # fmt: skip
    assert (dl.distribution.num_processes(), dl.distribution.process_index()) == (3, 2)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief"}}))
    assert dl.distribution.process_index() == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer >= 1. Received: WORLD_SIZE='two'"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be an integer >= 1. Received: WORLD_SIZE='0'"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK must be an integer >= 0"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "must be below the number of processes (2). Received"),
        ({"TF_CONFIG": "{cluster"}, "TF_CONFIG is not valid JSON"),
        ({"TF_CONFIG": "[1]"}, "TF_CONFIG must be a JSON object. Received: list"),
        ({"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"index": "0"}}'},
         "TF_CONFIG task index must be an integer >= 0. Received: '0'"),
    ],
)  # fmt: skip
def test_bad_process_variables(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        dl.distribution.process_index()
    assert message in str(info.value)


# ---- the shard rule ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_shards_are_array_split(size):
    for n in range(0, 23):
        expected = np.array_split(np.arange(n), size)
        got = [Shard(r, size).bounds(n) for r in range(size)]
        assert [np.arange(n)[lo:hi].tolist() for lo, hi in got] == [e.tolist() for e in expected]


def test_predict_blocks_are_whole_batches():
    # 23 rows in batches of 4: 6 batches, 3 per process; the last batch is short
    assert [Shard(r, 2).blocks(23, 4) for r in range(2)] == [(0, 12), (12, 23)]
    # fewer batches than processes: the last process has no rows
    assert [Shard(r, 3).blocks(5, 4) for r in range(3)] == [(0, 4), (4, 5), (5, 5)]


# ---- process 0 writes --------------------------------------------------------------------------
def _writers(folder):
    return [
        ("ModelCheckpoint", dl.callbacks.ModelCheckpoint(str(folder / "m-{epoch}.dlm")), "m-1.dlm"),
        ("BackupAndRestore", dl.callbacks.BackupAndRestore(str(folder / "backup"),
                                                           delete_checkpoint=False),
         os.path.join("backup", "latest.dlm")),
        ("CSVLogger", dl.callbacks.CSVLogger(str(folder / "log.csv")), "log.csv"),
        ("TensorBoard", dl.callbacks.TensorBoard(str(folder / "tb")), "tb"),
    ]  # fmt: skip


@need_backends("torch")
@pytest.mark.parametrize("rank", [0, 1])
def test_only_process_0_writes(monkeypatch, tmp_path, rank):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    model = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)], backend="torch")
    model.compile("sgd", "mse")
    dl.distribution.set_distribution(dl.distribution.DataParallel())
    for name, cb, path in _writers(tmp_path):
        cb.set_model(model)
        cb.on_train_begin({})
        cb.on_epoch_end(0, {"loss": 0.5, "val_loss": 0.25})
        cb.on_train_end({})
        assert os.path.exists(tmp_path / path) == (rank == 0), (name, rank)
    assert sorted(os.listdir(tmp_path)) == ([] if rank else ["backup", "log.csv", "m-1.dlm", "tb"])


# ---- what cannot run data-parallel says so -----------------------------------------------------
def _toy(backend):
    m = dl.Sequential([dl.Input((3,)), dl.layers.Dense(2)], backend=backend)
    m.compile("sgd", "mse")
    return m, np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")


@need_backends("tensorflow")
def test_tensorflow_without_tf_config_at_load_says_how_to_start(monkeypatch):
    # TensorFlow configures collectives only at program start: this process loaded the
    # backend without TF_CONFIG, so it cannot join 2 workers now
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    plan = dl.distribution.DataParallel()
    dl.distribution.set_distribution(plan)
    m, x, y = _toy("tensorflow")
    before = [w.copy() for w in m.get_weights()]
    with pytest.raises(BackendError) as info:
        m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    text = str(info.value)
    assert text.startswith(
        "Data-parallel training over 2 processes on TensorFlow needs "
        "tf.distribute.MultiWorkerMirroredStrategy, created when the backend loads from "
        "TF_CONFIG; it is not available (TF_CONFIG did not list the run's workers when the "
        "tensorflow backend loaded)."
    ), text
    assert "Fix: start the processes with `duallearn launch --nproc N script.py`" in text
    for a, b in zip(m.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # nothing trained on one replica


@need_backends("tensorflow")
def test_tensorflow_names_a_missing_device():
    dl.distribution.set_distribution(dl.distribution.DataParallel(devices=["cpu:0", "cpu:1"]))
    m, x, y = _toy("tensorflow")
    with pytest.raises(ConfigError) as info:
        m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    text = str(info.value)
    assert text.startswith(
        "DataParallel(devices=['cpu:0', 'cpu:1']): TensorFlow has no device CPU:1 (it has "
        "['CPU:0'])."
    ), text
    assert "tf.config.set_logical_device_configuration(" in text


@need_backends("torch")
def test_torch_refuses_several_devices_in_one_process():
    dl.distribution.set_distribution(dl.distribution.DataParallel(devices=["cpu:0", "gpu:0"]))
    m, x, y = _toy("torch")
    with pytest.raises(ConfigError, match="The torch backend runs one replica per process"):
        m.fit(x, y, batch_size=4, epochs=1, verbose=0)


@need_backends("torch")
def test_torch_without_rendezvous_says_how_to_start(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    dl.distribution.set_distribution(dl.distribution.DataParallel())
    m, x, y = _toy("torch")
    with pytest.raises(BackendError) as info:
        m.evaluate(x, y, verbose=0)
    assert "missing: MASTER_ADDR, MASTER_PORT" in str(info.value)
    assert "duallearn launch --nproc N script.py" in str(info.value)


@need_backends("torch")
def test_custom_train_step_is_refused(monkeypatch):
    class Custom(dl.Model):
        def train_step(self, data):
            return super().train_step(data)

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    inputs = dl.Input((3,))
    m = Custom(inputs, dl.layers.Dense(2)(inputs), backend="torch")
    m.compile("sgd", "mse")
    dl.distribution.set_distribution(dl.distribution.DataParallel())
    with pytest.raises(ConfigError, match="trains through its own train_step"):
        m.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)


def test_importing_and_configuring_imports_no_framework():
    code = (
        "import sys, duallearn as dl\n"
        "dp = dl.distribution.DataParallel(devices=['gpu:0'], timeout=5)\n"
        "dl.distribution.set_distribution(dp)\n"
        "assert dl.distribution.num_processes() == 1 and dp.num_model_replicas == 1\n"
        "bad = [m for m in ('torch', 'tensorflow') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_writes_files_rule(monkeypatch):
    assert _data_parallel.writes_files()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert _data_parallel.writes_files()  # no distribution: every process is its own run
    dl.distribution.set_distribution(dl.distribution.DataParallel())
    assert not _data_parallel.writes_files()
