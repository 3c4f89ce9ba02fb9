"""Data-parallel training in real processes (``duallearn launch --nproc 2``) against the
one-process run of the same script (tests/distributed/_worker.py), on each installed engine
(torch: gloo process group; TensorFlow: MultiWorkerMirroredStrategy from ``TF_CONFIG``, and
MirroredStrategy over two logical CPU devices of one process): a model with
BatchNormalization and deterministic-mode Dropout, global batch 11 (shards of 6 and 5 rows, a
last batch of 1 row that each process takes whole), validation_split, Adam.

* synchronized BatchNormalization: weights, History, evaluate() and predict() of 2 processes
  equal those of 1 process (float32 table), and the two replicas hold bitwise the same weights;
* ``sync_batch_norm=False``: the replicas still agree bitwise, the numbers change (documented);
* a worker killed by SIGKILL, or one that stops answering, ends the run with a TrainingError on
  the other process in bounded time; only process 0 wrote checkpoints, none half-written;
* a run killed mid-epoch and resumed from BackupAndRestore ends with the weights of the
  uninterrupted 2-process run, bitwise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from duallearn.testing import assert_close

from ..conftest import BACKENDS

WORKER = os.path.join(os.path.dirname(__file__), "_worker.py")
ENV = {
    k: v
    for k, v in os.environ.items()
    if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TF_CONFIG", "MASTER_ADDR", "MASTER_PORT")
}

ENGINES = [b for b in ("torch", "tensorflow") if b in BACKENDS]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request):
    """The backend the worker processes run on."""
    return request.param


def _launch(
    engine: str, out: str, mode: str, grace: float = 30.0
) -> tuple[subprocess.CompletedProcess, float]:
    """Run the worker script in 2 processes: the launcher's result, and the seconds from the
    moment process 1 stopped ("kill", "hang": it prints the time) to the launcher's exit
    (otherwise from the launcher's start), so that process start-up on a busy machine does
    not count."""
    cmd = [sys.executable, "-m", "duallearn.cli", "launch", "--nproc", "2"]
    cmd += ["--grace-period", str(grace), WORKER, engine, out, mode]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=400)
    stops = re.findall(r"^\[rank 1\] stopping at ([0-9.]+)$", proc.stdout, re.M)
    return proc, time.time() - (float(stops[0]) if stops else t0)


def _run_one(engine: str, out: str, mode: str) -> dict:
    """One process of the worker script (no launcher): its results."""
    proc = subprocess.run(
        [sys.executable, WORKER, engine, out, mode], capture_output=True, text=True, env=ENV,
        timeout=400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as f:
        return dict(f)


@pytest.fixture(scope="module")
def single(tmp_path_factory, engine):
    """The one-process run: final weights, History, evaluate() and predict()."""
    return _run_one(engine, str(tmp_path_factory.mktemp("single") / "single.npz"), "single")


def _replicas(engine: str, tmp_path, mode: str) -> tuple[dict, dict]:
    out = str(tmp_path / f"{mode}.npz")
    proc, _ = _launch(engine, out, mode)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with np.load(out) as f0, np.load(f"{out}.rank1.npz") as f1:
        return dict(f0), dict(f1)


@pytest.fixture(scope="module")
def synced(tmp_path_factory, engine):
    """The 2-process run with synchronized BatchNormalization: process 0's and 1's results."""
    return _replicas(engine, tmp_path_factory.mktemp("sync"), "sync")


def _same_as_one_process(got: dict, single: dict) -> None:
    """Weights (10 Adam steps), History, evaluate() and predict() of a data-parallel run
    equal those of the one-process run (float32 table); accuracies exactly."""
    weights = sorted(k for k in single if k.startswith("w"))
    assert len(weights) == 7  # kernel; gamma, beta, moving mean, moving variance; kernel, bias
    for k in weights:  # 10 Adam steps
        assert_close(f"weight {k}", got[k], single[k], "float32", "params_10")
    history = sorted(k for k in single if k.startswith("h_"))
    assert history == ["h_accuracy", "h_loss", "h_val_accuracy", "h_val_loss"]
    for k in ("h_loss", "h_val_loss"):
        assert_close(f"History {k[2:]}", got[k], single[k], "float32", "loss")
    for k in ("h_accuracy", "h_val_accuracy"):
        np.testing.assert_array_equal(got[k], single[k], err_msg=k)
    assert_close("evaluate loss", got["e_loss"], single["e_loss"], "float32", "loss")
    assert got["e_accuracy"] == single["e_accuracy"]
    assert got["pred"].shape == single["pred"].shape == (50, 2)
    assert_close("predict", got["pred"], single["pred"], "float32", "forward")
    # a generator of 7-row batches, the last of 1 row (process 1 has none of it)
    assert_close("evaluate(generator)", got["s_loss"], single["s_loss"], "float32", "loss")
    assert_close("evaluate(generator) vs arrays", got["s_loss"], got["e_loss"], "float32", "loss")
    assert got["s_accuracy"] == single["s_accuracy"] == got["e_accuracy"]
    assert_close("predict(generator)", got["pred_source"], single["pred"], "float32", "forward")


def test_two_processes_train_as_one(synced, single):
    got, other = synced
    _same_as_one_process(got, single)
    for k in (k for k in single if k.startswith("w")):
        np.testing.assert_array_equal(other[k], got[k], err_msg=f"replicas differ: {k}")


@pytest.mark.parametrize("engine", [e for e in ENGINES if e == "tensorflow"], indirect=True)
def test_two_devices_of_one_process_train_as_one(engine, single, tmp_path):
    """TensorFlow's MirroredStrategy over 2 logical CPU devices (torch runs one replica per
    process: test_distribution_api.py checks that it says so)."""
    _same_as_one_process(_run_one(engine, str(tmp_path / "mirrored.npz"), "mirrored"), single)
    got = _run_one(engine, str(tmp_path / "mirrored-replica.npz"), "mirrored-replica")
    err = np.max(np.abs(got["w3"] - single["w3"])) / np.max(np.abs(single["w3"]))
    assert err > 1e-3, "per-replica statistics should not reproduce the global ones"


def test_a_sum_reduction_loss_sums_over_processes(engine, tmp_path):
    single = _run_one(engine, str(tmp_path / "single-sum.npz"), "single-sum")
    got, _ = _replicas(engine, tmp_path, "sync-sum")
    for k in (k for k in single if k.startswith("w")):
        assert_close(f"weight {k}", got[k], single[k], "float32", "params_10")
    for k in ("h_loss", "h_val_loss", "e_loss"):
        assert_close(k, got[k], single[k], "float32", "loss")


def test_per_replica_batch_norm_changes_the_numbers(engine, tmp_path, single):
    got, other = _replicas(engine, tmp_path, "replica")
    for k in (k for k in single if k.startswith("w")):
        np.testing.assert_array_equal(other[k], got[k], err_msg=f"replicas differ: {k}")
    # the moving mean (weight 3) comes from per-process batches of 6 and 5 rows, averaged
    err = np.max(np.abs(got["w3"] - single["w3"])) / np.max(np.abs(single["w3"]))
    assert err > 1e-3, "per-replica statistics should not reproduce the global ones"


def _checkpoints(tmp_path) -> list[str]:
    folder = tmp_path / "ckpt"
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.fixture(scope="module")
def killed(tmp_path_factory, engine):
    """One 2-process run whose process 1 SIGKILLs itself in epoch 2, process 0 writing a
    checkpoint and a backup after every batch (one run for the two tests that need a kill):
    the launcher's result, the seconds from the kill to the end, the run's folder."""
    folder = tmp_path_factory.mktemp("killed")
    proc, elapsed = _launch(engine, str(folder / "kill.npz"), "kill")
    return proc, elapsed, folder


def test_a_killed_worker_stops_the_run(engine, killed):
    import duallearn as dl

    proc, elapsed, tmp_path = killed
    assert proc.returncode == 137, proc.stderr[-3000:]  # process 1: SIGKILL
    assert "[rank 1] stopping at " in proc.stdout
    assert elapsed < 60  # from the kill to the end of the run
    assert "duallearn launch: process 1 exited with status 137" in proc.stderr
    # (torch's own traceback adds "[rank0]: " to each line)
    assert re.search(
        r"^\[rank 0\] (\[rank0\]: )?duallearn\.errors\.TrainingError: Process 0 of 2: the ",
        proc.stderr,
        re.M,
    ), proc.stderr[-3000:]
    assert "another process stopped (crashed, was killed) or hangs" in proc.stderr
    files = _checkpoints(tmp_path)
    assert files == ["written-by-0-epoch-1.dlm", "written-by-0-epoch-2.dlm"]  # no temp file
    for name in files:
        m = dl.load_model(str(tmp_path / "ckpt" / name), backend=engine)
        assert len(m.get_weights()) == 7


def test_a_hung_worker_times_out(engine, tmp_path):
    proc, elapsed = _launch(engine, str(tmp_path / "hang.npz"), "hang", grace=2.0)
    # process 0's collectives wait 5 s (DataParallel(timeout=5)), then it stops with status 1;
    # process 1, still asleep, is terminated after the grace period
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "[rank 1] stopping at " in proc.stdout
    assert elapsed < 45  # from the hang to the end: the 5 s timeout, the 2 s grace, exits
    assert "duallearn launch: process 0 exited with status 1" in proc.stderr
    assert "Process 0 of 2: the " in proc.stderr and "within timeout=5s" in proc.stderr
    assert _checkpoints(tmp_path)[0] == "written-by-0-epoch-1.dlm"
    assert all(f.startswith("written-by-0-") and f.endswith(".dlm") for f in _checkpoints(tmp_path))


def test_resume_after_a_kill_equals_the_uninterrupted_run(engine, killed, synced):
    proc, _, tmp_path = killed
    assert proc.returncode == 137, proc.stderr[-3000:]
    assert os.listdir(tmp_path / "backup") == ["latest.dlm"]  # written by process 0 only
    got, other = _replicas(engine, tmp_path, "resume")
    assert not os.path.exists(tmp_path / "backup" / "latest.dlm")  # deleted at the end
    for k in (k for k in synced[0] if k.startswith("w")):
        np.testing.assert_array_equal(got[k], synced[0][k], err_msg=f"resumed run: {k}")
        np.testing.assert_array_equal(other[k], got[k], err_msg=f"replicas differ: {k}")
    np.testing.assert_array_equal(got["pred"], synced[0]["pred"])
