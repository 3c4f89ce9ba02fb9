"""Shared fixtures: backends under test, hypothesis profiles, fresh global state."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import duallearn as dl
from duallearn import _naming, config

# Under pytest-xdist (CI: two workers on two cores) each worker's frameworks run one
# intra-op thread (TensorFlow also one inter-op thread): two thread pools per worker spinning
# against the other worker's cost 18% of the run's time (179 s -> 146 s on a 600-test slice).
# OMP_NUM_THREADS is set before torch starts its pool (the subprocesses that tests start inherit
# it, as the notebook runner and `duallearn launch` set it for theirs); TensorFlow's counts are
# set in this process only, so subprocesses run TensorFlow as a user's process does.
_XDIST = bool(os.environ.get("PYTEST_XDIST_WORKER"))
if _XDIST:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Import torch before tensorflow in one process (shared/PARITY.md, the brief).
try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - torch missing
    pass
if _XDIST:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow missing
        pass
    else:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)

settings.register_profile(
    "dev",
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Long runs (docs/testing_profiles.md): 20x the CI examples, new random examples on every run
# (no derandomize), failures kept in the example database and replayed first next time.
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

BACKENDS = dl.available_backends()


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with default floatx, fast mode and fresh layer names."""
    _naming.reset_names()
    config.set_floatx("float32")
    config.set_deterministic(False)
    dl.set_random_seed(1234)
    yield
    config.set_floatx("float32")
    config.set_deterministic(False)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each installed backend in turn, selected with use_backend()."""
    with dl.use_backend(request.param):
        yield request.param


def need_backends(*names: str):
    missing = [n for n in names if n not in BACKENDS]
    return pytest.mark.skipif(bool(missing), reason=f"backends not installed: {missing}")


def both():
    return need_backends("torch", "tensorflow")


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
