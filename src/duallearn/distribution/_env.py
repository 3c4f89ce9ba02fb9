"""Where this process sits in a multi-process run, read from the engines' own variables.

A process started by ``torchrun`` or ``duallearn launch`` has ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a TensorFlow worker has ``TF_CONFIG``
(``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``). Reading them
imports no framework, so the data adapter can shard batches before any engine is loaded.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ConfigError

TORCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")


def _int_env(name: str, default: int, minimum: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(
            f"The environment variable {name} must be an integer >= {minimum}. Received: "
            f"{name}={text!r}. Fix: start the processes with `duallearn launch --nproc N "
            "script.py` or torchrun, which set it, or unset it."
        )
    return value


def _tf_config() -> dict[str, Any] | None:
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"TF_CONFIG is not valid JSON ({exc.msg} at position {exc.pos}). Expected: "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
            '"index": 0}}. Fix: let `duallearn launch` write it, or correct it.'
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"TF_CONFIG must be a JSON object. Received: {type(value).__name__}. Fix: "
            '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": 0}}.'
        )
    return value


def _tf_workers(config: dict[str, Any]) -> list[str]:
    cluster = config.get("cluster") or {}
    return [*(cluster.get("chief") or []), *(cluster.get("worker") or [])]


def _tf_index(config: dict[str, Any]) -> int:
    task = config.get("task") or {}
    kind, index = task.get("type", "worker"), task.get("index", 0)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ConfigError(
            f"TF_CONFIG task index must be an integer >= 0. Received: {index!r}. Fix: "
            '"task": {"type": "worker", "index": 0}.'
        )
    chiefs = len((config.get("cluster") or {}).get("chief") or [])
    return index if kind == "chief" else chiefs + index


def num_processes() -> int:
    """The number of processes of this run: ``WORLD_SIZE`` (torchrun, ``duallearn
    launch``), else the workers listed in ``TF_CONFIG``, else 1.

    Returns:
        An integer >= 1.

    Raises:
        ConfigError: a variable is set to something that is not a positive integer.

    Example:
        >>> import duallearn as dl
        >>> dl.distribution.num_processes() >= 1
        True
    """
    if os.environ.get("WORLD_SIZE"):
        return _int_env("WORLD_SIZE", 1, 1)
    config = _tf_config()
    if config is not None:
        return max(1, len(_tf_workers(config)))
    return 1


def process_index() -> int:
    """This process's index among :func:`num_processes` (0 writes checkpoints, logs and
    the progress bar): ``RANK``, else the task index of ``TF_CONFIG``, else 0.

    Returns:
        An integer in ``[0, num_processes())``.

    Raises:
        ConfigError: the variable is not an integer in that range.

    Example:
        >>> import duallearn as dl
        >>> dl.distribution.process_index()
        0
    """
    n = num_processes()
    if os.environ.get("RANK"):
        index = _int_env("RANK", 0, 0)
    else:
        config = _tf_config()
        index = _tf_index(config) if config is not None else 0
    if index >= n:
        raise ConfigError(
            f"This process's index must be below the number of processes ({n}). Received: "
            f"index {index}. Fix: set RANK (or the TF_CONFIG task index) to 0..{n - 1}."
        )
    return index


def local_process_index() -> int:
    """The index of this process on its machine (``LOCAL_RANK``, else 0): which GPU it
    drives."""
    return _int_env("LOCAL_RANK", 0, 0)


def is_first_process() -> bool:
    """Whether this process is process 0 (the one that writes files and progress)."""
    return process_index() == 0


def missing_torch_variables() -> list[str]:
    """The rendezvous variables torch needs that are not set (empty: ready to join)."""
    return [v for v in TORCH_VARIABLES if not os.environ.get(v)]
