"""``duallearn launch``: the rendezvous variables of both engines, rank-prefixed output, the
first non-zero exit status, the grace period and signal forwarding, run on small
framework-free scripts through the real command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from duallearn.distribution._launch import exit_status, free_ports

CLI = [sys.executable, "-m", "duallearn.cli", "launch"]


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def _run(args, timeout=60):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    t0 = time.monotonic()
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.monotonic() - t0


def test_each_process_gets_its_rendezvous_variables(tmp_path):
    script = _script(
        tmp_path,
        """
        import json, os, sys
        keys = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                "MASTER_PORT", "TF_CONFIG", "OMP_NUM_THREADS"]
        print(json.dumps({k: os.environ[k] for k in keys} | {"argv": sys.argv[1:]}))
        print("to stderr", file=sys.stderr)
        """,
    )
    proc, _ = _run(["--nproc", "3", script, "--epochs", "2", "-x"])
    assert proc.returncode == 0, proc.stderr
    seen = {}
    for line in proc.stdout.splitlines():
        prefix, _, text = line.partition("] ")
        seen[int(prefix.removeprefix("[rank "))] = json.loads(text)
    assert sorted(seen) == [0, 1, 2]
    assert sorted(proc.stderr.splitlines()) == [f"[rank {r}] to stderr" for r in range(3)]
    ports = {v["MASTER_PORT"] for v in seen.values()}
    assert len(ports) == 1  # one rendezvous
    workers = json.loads(seen[0]["TF_CONFIG"])["cluster"]["worker"]
    assert len(set(workers)) == 3 and all(w.startswith("127.0.0.1:") for w in workers)
    assert f"127.0.0.1:{ports.pop()}" not in workers
    for rank, env in seen.items():
        assert env["argv"] == ["--epochs", "2", "-x"]
        assert (env["RANK"], env["LOCAL_RANK"], env["WORLD_SIZE"]) == (str(rank), str(rank), "3")
        assert env["LOCAL_WORLD_SIZE"] == "3" and env["MASTER_ADDR"] == "127.0.0.1"
        assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 3))
        tf = json.loads(env["TF_CONFIG"])
        assert tf == {"cluster": {"worker": workers}, "task": {"type": "worker", "index": rank}}


def test_status_is_the_first_non_zero_one(tmp_path):
    script = _script(
        tmp_path,
        """
        import os, sys, time
        rank = int(os.environ["RANK"])
        if rank == 0:
            sys.exit(0)
        time.sleep(0.5 * rank)   # process 1 fails first (status 5), process 2 later (7)
        sys.exit({1: 5, 2: 7}[rank])
        """,
    )
    proc, _ = _run(["--nproc", "3", script])
    assert proc.returncode == 5
    assert "duallearn launch: process 1 exited with status 5" in proc.stderr


def test_others_are_stopped_after_the_grace_period(tmp_path):
    script = _script(
        tmp_path,
        """
        import os, sys, time
        if os.environ["RANK"] == "0":
            sys.exit(3)
        time.sleep(120)
        """,
    )
    proc, elapsed = _run(["--nproc", "2", "--grace-period", "1", script])
    assert proc.returncode == 3
    assert "the others have 1s to stop" in proc.stderr
    assert elapsed < 30  # SIGTERM after 1 s, not the 120 s sleep


def test_a_process_killed_by_a_signal_reports_128_plus_n(tmp_path):
    script = _script(
        tmp_path,
        """
        import os, signal, time
        if os.environ["RANK"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.5)
        """,
    )
    proc, _ = _run(["--nproc", "2", script])
    assert proc.returncode == 128 + signal.SIGKILL == exit_status(-signal.SIGKILL)


def test_signals_are_forwarded(tmp_path):
    script = _script(
        tmp_path,
        """
        import os, signal, sys, time
        rank = os.environ["RANK"]
        def bye(signum, frame):
            print(f"rank {rank} got signal {signum}", flush=True)
            sys.exit(4)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    proc = subprocess.Popen(
        [*CLI, "--nproc", "2", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    ready = [proc.stdout.readline() for _ in range(2)]
    assert sorted(ready) == ["[rank 0] ready\n", "[rank 1] ready\n"]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 4, err
    assert sorted(out.splitlines()) == [
        f"[rank {r}] rank {r} got signal {int(signal.SIGTERM)}" for r in range(2)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nproc", "0", "x.py"], "launch: --nproc must be an integer >= 1. Received: 0"),
        (["--nproc", "2", "no/such/script.py"], "launch: no such script: 'no/such/script.py'"),
        (["--nproc", "2", "--grace-period", "-1", __file__], "grace must be a number of seconds"),
    ],
)
def test_bad_calls_are_one_line_errors(args, message):
    proc, _ = _run(args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("duallearn: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_free_ports_are_distinct_and_bindable():
    import socket

    ports = free_ports(4)
    assert len(set(ports)) == 4
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_benchmark_reports_both_process_counts(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "rows.json"
    bench = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "distributed.py")
    proc = subprocess.run(
        [sys.executable, bench, "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [r["processes"] for r in rows] == [1, 2]
    assert all(r["samples_per_s"] > 0 and r["step_ms"] > 0 for r in rows)
    assert rows[0]["allreduce_ms"] == 0.0 < rows[1]["allreduce_ms"]  # one process: no collective
    assert "2 processes / 1: " in proc.stdout and "all-reduce ms/step" in proc.stdout
