"""``duallearn launch --nproc N SCRIPT [ARGS]``: N local processes of one data-parallel run.

Each process gets the rendezvous variables of both engines: torchrun's ``MASTER_ADDR``,
``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` (one free
loopback port) and a ``TF_CONFIG`` naming N free loopback ports, its own as ``task.index``;
unless set already, ``OMP_NUM_THREADS`` is the machine's cores divided among the processes
(as torchrun limits it), so N processes do not oversubscribe the cores.
Output lines are prefixed with ``[rank R]``; SIGINT / SIGTERM / SIGHUP given to the launcher
are forwarded to every process. When a process fails, the others have ``grace`` seconds to
stop by themselves (their collectives fail at once when a peer is gone) before they are
terminated. The exit status is the first non-zero one (``128 + signal`` for a process killed
by a signal), else 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

from ..errors import ConfigError

DEFAULT_GRACE = 30.0
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free on ``host`` now (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def process_env(rank: int, nproc: int, master_port: int, tf_ports: Sequence[int]) -> dict[str, str]:
    """The environment variables of process ``rank`` of ``nproc`` on this machine."""
    threads = (
        {}
        if os.environ.get("OMP_NUM_THREADS")
        else {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc))}
    )
    return {
        **threads,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(master_port),
        "RANK": str(rank),
        "WORLD_SIZE": str(nproc),
        "LOCAL_RANK": str(rank),
        "LOCAL_WORLD_SIZE": str(nproc),
        "GROUP_RANK": "0",
        "TF_CONFIG": json.dumps(
            {
                "cluster": {"worker": [f"127.0.0.1:{p}" for p in tf_ports]},
                "task": {"type": "worker", "index": rank},
            }
        ),
        "PYTHONUNBUFFERED": "1",
    }


def _pump(stream: IO[bytes], out: IO[str], prefix: str, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        with lock:
            out.write(f"{prefix}{line}\n")
            out.flush()
    stream.close()


def exit_status(code: int) -> int:
    """A process's exit code as a shell reports it (``128 + signal`` when killed)."""
    return 128 - code if code < 0 else code


@contextlib.contextmanager
def _forward_signals(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """While the processes run, a signal given to the launcher goes to each of them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def forward(signum: int, frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(OSError):
                    p.send_signal(signum)

    for name in FORWARDED:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, forward)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def launch(
    nproc: int,
    script: str,
    args: Sequence[str] = (),
    *,
    grace: float = DEFAULT_GRACE,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``python SCRIPT ARGS`` as ``nproc`` local processes of one distributed run.

    Args:
        nproc: the number of processes (>= 1).
        script: the Python script every process runs.
        args: its command-line arguments.
        grace: seconds the other processes have to stop by themselves after one failed,
            before they are sent SIGTERM (then SIGKILL 5 s later).
        stdout, stderr: where the prefixed output goes (default: the launcher's own).

    Returns:
        0 when every process exited with 0, else the first non-zero exit status (``128 +
        signal`` for a process ended by a signal).

    Raises:
        ConfigError: ``nproc`` < 1, ``grace`` < 0, or ``script`` is not a file.

    Example:
        >>> from duallearn.distribution._launch import launch
        >>> launch(2, "train.py", ["--epochs", "3"])  # doctest: +SKIP
        0
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(
            f"launch: --nproc must be an integer >= 1. Received: {nproc!r}. Fix: e.g. "
            "duallearn launch --nproc 2 train.py."
        )
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        raise ConfigError(f"launch: grace must be a number of seconds >= 0. Received: {grace!r}.")
    if not os.path.isfile(script):
        raise ConfigError(
            f"launch: no such script: {script!r}. Expected: a Python file every process runs. "
            "Fix: give the path of the training script, e.g. duallearn launch --nproc 2 train.py."
        )
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    master, *tf_ports = free_ports(nproc + 1)
    lock = threading.Lock()
    procs: list[subprocess.Popen[bytes]] = []
    pumps: list[threading.Thread] = []
    with _forward_signals(procs):
        for rank in range(nproc):
            env = {**os.environ, **process_env(rank, nproc, master, tf_ports)}
            p = subprocess.Popen(
                [sys.executable, script, *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            procs.append(p)
            for stream, sink in ((p.stdout, out), (p.stderr, err)):
                assert stream is not None
                t = threading.Thread(
                    target=_pump, args=(stream, sink, f"[rank {rank}] ", lock), daemon=True
                )
                t.start()
                pumps.append(t)
        status = _wait(procs, grace, err, lock)
    for t in pumps:
        t.join(timeout=5.0)
    return status


def _wait(
    procs: list[subprocess.Popen[bytes]], grace: float, err: IO[str], lock: threading.Lock
) -> int:
    first: tuple[int, int] | None = None  # (rank, status) of the first failure
    failed_at = 0.0
    terminated = killed = False
    while True:
        running = False
        for rank, p in enumerate(procs):
            code = p.poll()
            if code is None:
                running = True
            elif code != 0 and first is None:
                first, failed_at = (rank, exit_status(code)), time.monotonic()
                with lock:
                    err.write(
                        f"duallearn launch: process {rank} exited with status "
                        f"{exit_status(code)}; the others have {grace:g}s to stop.\n"
                    )
                    err.flush()
        if not running:
            break
        if first is not None:
            waited = time.monotonic() - failed_at
            if waited > grace and not terminated:
                terminated = True
                _signal_all(procs, signal.SIGTERM)
            elif waited > grace + 5.0 and not killed:
                killed = True
                _signal_all(procs, signal.SIGKILL)
        time.sleep(0.05)
    return 0 if first is None else first[1]


def _signal_all(procs: list[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                p.send_signal(sig)
