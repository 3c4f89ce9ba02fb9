"""Porting between duallearn, PyTorch and Keras 3 (docs/porting.md).

- :func:`from_torch` / :func:`to_torch`: an ``nn.Module`` (``nn.Sequential`` or anything
  ``torch.fx`` traces over common layers) to a functional model with the same weights and the
  same training behaviour, and back to a plain ``nn.Module`` with torch's ``state_dict`` names.
- :func:`load_torch_weights`: a ``state_dict``, ``.pt`` or ``.safetensors`` checkpoint by name.
- :func:`from_keras` / :func:`to_keras`: live Keras 3 models both ways (real ``.keras`` and
  ``.weights.h5`` files are read and written by ``dl.load_model`` / ``model.save``).
- :func:`port_source` / :func:`port_file`: rewrite Keras imports in ``.py`` / ``.ipynb`` files.
- :func:`run_notebook_on_backends`: execute a notebook once per engine and compare the cells.

Importing this package imports no framework; each function imports the one it needs.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "from_torch": "._from_torch",
    "to_torch": "._to_torch",
    "load_torch_weights": "._torch_weights",
    "torch_state_dict": "._torch_weights",
    "from_keras": "._keras_live",
    "to_keras": "._keras_live",
    "port_source": "._notebook_port",
    "port_file": "._notebook_port",
    "run_notebook_on_backends": "._notebook_run",
    "layer_report": "._layer_report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'duallearn.porting' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
