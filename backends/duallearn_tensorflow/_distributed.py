"""Data-parallel training on TensorFlow: not implemented yet, refused clearly.

``tf.distribute.MirroredStrategy`` (several devices of one process) and
``MultiWorkerMirroredStrategy`` (processes joined through ``TF_CONFIG``) would have to carry
the gradient all-reduce, the synchronized BatchNormalization moments and the metric reduction
of duallearn's compiled step, none of which runs inside a strategy today. Rather than train
one replica while the user believes several do, a distribution on this backend is an error
naming what is missing and the fix (docs/distributed.md, "What is not done").
"""

from __future__ import annotations

import os
from typing import Any

from duallearn.errors import BackendError


def unsupported(plan: Any) -> BackendError:
    """The error for ``plan`` (a ``DataParallel``) on the tensorflow backend."""
    tf_config = "set" if os.environ.get("TF_CONFIG") else "unset"
    where = (
        f"{plan.num_processes} processes (TF_CONFIG {tf_config})"
        if plan.num_processes > 1
        else f"{plan.local_replicas} devices in one process"
    )
    return BackendError(
        "Data-parallel training is not implemented on the tensorflow backend: it needs "
        "tf.distribute.MirroredStrategy (devices of one process) or "
        "MultiWorkerMirroredStrategy (processes joined by TF_CONFIG) to carry the gradient "
        "all-reduce, the synchronized BatchNormalization and the metric reduction of the "
        f"compiled step, which duallearn does not build yet. Received: {plan!r} over {where}. "
        "Fix: run the same script on the torch backend (dl.set_backend('torch') or "
        "DUALLEARN_BACKEND=torch), or dl.distribution.set_distribution(None) to train one "
        "replica per process."
    )
