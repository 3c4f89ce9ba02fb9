"""Export on TensorFlow: SavedModel (with a ``serving_default`` signature) and TF Lite
(docs/export.md).

The TF runtime is built from the front-end graph and canonical weights (so the model may have
been trained on torch), the artifact is written, loaded back the way deployment loads it
(``tf.saved_model.load`` / the TF Lite interpreter), run on the probe inputs, and its outputs
are returned for comparison.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from duallearn.errors import BackendError
from duallearn.plugin import GraphSpec

from ._runtime import TFRuntime

FORMATS = ("saved_model", "tflite")


def _key(name: str, i: int, prefix: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if clean and clean[0].isalpha() else f"{prefix}_{i}"


class Serving(tf.Module):
    """The graph in inference mode behind one ``tf.function`` with an open batch dimension."""

    def __init__(
        self,
        net: tf.Module,
        probe: Sequence[np.ndarray],
        input_names: Sequence[str],
        output_names: Sequence[str],
        fixed_batch: bool = False,
    ) -> None:
        super().__init__(name="duallearn_serving")
        self.net = net
        ins = [_key(n, i, "input") for i, n in enumerate(input_names)]
        outs = [_key(n, i, "output") for i, n in enumerate(output_names)]
        if len(set(outs)) != len(outs):
            outs = [f"output_{i}" for i in range(len(outs))]
        self.input_keys, self.output_keys = ins, outs
        specs = [
            tf.TensorSpec(
                (a.shape[0] if fixed_batch else None, *a.shape[1:]), tf.as_dtype(a.dtype), name=k
            )  # fmt: skip
            for a, k in zip(probe, ins, strict=True)
        ]

        def serve(*xs: tf.Tensor) -> dict[str, tf.Tensor]:
            res = self.net(list(xs), False, None)
            return dict(zip(outs, res, strict=True))

        self.serve = tf.function(serve, input_signature=specs, autograph=False)


def export(
    graph: GraphSpec,
    path: str,
    fmt: str,
    probe: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> list[np.ndarray]:
    """Write ``fmt`` to ``path`` and return the artifact's outputs on ``probe``. Called
    under ``duallearn.variables.detached()``: the modules hold copies of the weights."""
    runtime = TFRuntime(graph)
    if fmt == "tflite":
        _unfuse(runtime.net)
    # TF Lite: a fixed batch (the probe's) lets the converter lower the recurrent layers'
    # TensorList loops to builtin ops; the interpreter's resize_tensor_input changes it.
    module = Serving(runtime.net, probe, input_names, output_names, fmt == "tflite")
    if fmt == "saved_model":
        return _saved_model(module, path, probe)
    if fmt == "tflite":
        return _tflite(module, path, probe)
    raise BackendError(f"The tensorflow backend cannot export {fmt!r}; it exports {FORMATS}.")


def _never(dtype: Any) -> bool:
    return False


def _unfuse(net: tf.Module) -> None:
    """Make recurrent layers run their plain per-gate scanned cell, the form that converts
    to TF Lite's WHILE without Flex ops."""
    for layer in getattr(net, "layers_", []):
        for mod in [layer, *layer.submodules]:
            if hasattr(mod, "fusable"):
                object.__setattr__(mod, "fusable", _never)


def _write_saved_model(module: Serving, path: str) -> None:
    concrete = module.serve.get_concrete_function()
    tf.saved_model.save(module, path, signatures={"serving_default": concrete})


def _saved_model(module: Serving, path: str, probe: Sequence[np.ndarray]) -> list[np.ndarray]:
    if os.path.isdir(path):
        shutil.rmtree(path)
    _write_saved_model(module, path)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]
    res = fn(**{k: tf.constant(a) for k, a in zip(module.input_keys, probe, strict=True)})
    return [res[k].numpy() for k in module.output_keys]


def _convert(module: Serving) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        _write_saved_model(module, tmp)
        errors: list[str] = []
        for ops in (
            [tf.lite.OpsSet.TFLITE_BUILTINS],
            [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS],
        ):
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            converter.target_spec.supported_ops = ops
            try:
                return bytes(converter.convert())
            except Exception as exc:  # converter errors are many types; try the next op set
                errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    raise BackendError(f"TF Lite conversion failed: {'; '.join(errors)}")


def _interpreter(content: bytes) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_content=content)


def _tflite(module: Serving, path: str, probe: Sequence[np.ndarray]) -> list[np.ndarray]:
    content = _convert(module)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with open(path, "rb") as f:
        interpreter = _interpreter(f.read())
    runner = interpreter.get_signature_runner("serving_default")
    res = runner(**{k: a for k, a in zip(module.input_keys, probe, strict=True)})
    return [np.asarray(res[k]) for k in module.output_keys]
