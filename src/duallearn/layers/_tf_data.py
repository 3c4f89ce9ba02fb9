"""Preprocessing layers inside ``tf.data`` pipelines (``dataset.map(layer)``, as Keras allows).

``tf.data.Dataset.map`` traces its function: the layer receives a symbolic TensorFlow tensor.
An image layer then runs its formula (``apply``, written once over ``dl.ops`` names) on the
TensorFlow backend's ops, so the pipeline stays native (its random parameters are drawn on the
host at each execution, through the backend's ``host_draw`` hook, from the layer's seed); a
host-side layer (text, lookups, hashing, discretization) runs its numpy ``host_call`` through
the same hook (``tf.numpy_function``). Nothing here imports TensorFlow: the tensor's type is
recognised by its module, and TensorFlow is already loaded when such a tensor exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import _dispatch


def graph_tensor(x: Any) -> bool:
    """Whether ``x`` is a symbolic (traced) TensorFlow tensor, as ``tf.data.map`` gives."""
    t = type(x)
    return (t.__module__ or "").startswith("tensorflow") and t.__name__ != "EagerTensor"


def _tf_ops() -> Any:
    from ..plugin import get_backend

    return get_backend("tensorflow").ops


def run_formula(layer: Any, x: Any, training: bool) -> Any:
    """``layer.apply`` over TensorFlow's ops on a traced tensor (an image layer)."""
    o = _tf_ops()
    shape = tuple(None if d is None else int(d) for d in x.shape)
    if not layer.built:
        layer._ensure_built(shape)
    weights = [o.convert_to_tensor(np.asarray(w)) for w in layer.get_weights()]
    with _dispatch.native_call(o):
        return layer.apply(o, x, bool(training), *weights)


def run_host(layer: Any, x: Any, **kwargs: Any) -> Any:
    """``layer.host_call`` on a traced tensor, run at each execution on the host."""
    o = _tf_ops()
    dtype = layer.output_dtype
    if dtype == "string":
        from ..errors import ConfigError

        raise ConfigError(
            f"Layer {layer.name!r} ({type(layer).__name__}) returns strings, which it cannot "
            "return inside a tf.data pipeline. Expected: a layer returning numbers. Fix: "
            "apply it to numpy arrays outside the pipeline."
        )
    shape = tuple(None if d is None else int(d) for d in x.shape)
    out_shape = tuple(layer.compute_output_shape(shape))
    batch = o.shape(x)[0] if shape and shape[0] is None else None
    dims = [
        d if isinstance(d, int) else (batch if i == 0 and batch is not None else o.zeros(()))
        for i, d in enumerate(out_shape)
    ]

    from ._preprocessing_host import as_host_array

    def run(_: tuple[int, ...], arr: np.ndarray) -> np.ndarray:  # tf.string arrives as bytes
        return np.asarray(layer.host_call(as_host_array(arr), **kwargs), dtype=dtype)

    return o.host_draw(run, dims, dtype, [x])
