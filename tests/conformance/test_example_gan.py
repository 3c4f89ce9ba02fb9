"""The GAN example (two models, two optimizers, one ``train_step`` written with ``dl.ops``)
trains on both backends with the same numbers, and its generator learns the data's mean
brightness (the gap shrinks from epoch 1 to epoch 4: 0.17 -> 0.02 when measured)."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import duallearn as dl
from duallearn.testing import assert_close

from ..conftest import BACKENDS, both

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gan_digits.py"

importlib.import_module("sklearn")


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("gan_digits", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", BACKENDS)
def test_gan_learns_the_data_brightness(name: str) -> None:
    gan = _example()
    with dl.use_backend(name):
        early, late = gan.main(1), gan.main(4)
    # A GAN's two losses have no target value (they chase each other): finiteness is the
    # property on one engine; their numbers are checked against the other engine below.
    for r in (early, late):
        assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]), r
    assert late["mean_pixel_gap"] < 0.5 * early["mean_pixel_gap"], (early, late)


@both()
def test_gan_trains_identically_on_both_backends() -> None:
    gan = _example()
    results = {}
    for name in ("torch", "tensorflow"):
        with dl.use_backend(name):
            results[name] = gan.main(2)
    for key in ("d_loss", "g_loss", "mean_pixel_gap"):
        assert_close(
            f"GAN {key}",
            np.array(results["torch"][key]),
            np.array(results["tensorflow"][key]),
            "float32",
            "params_10",
        )
