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
        # the model's own input shapes (None where it takes any size), the probe's dtypes
        graph = getattr(net, "graph", None)
        shapes = getattr(graph, "input_shapes", None) or [(None, *a.shape[1:]) for a in probe]
        specs = [
            tf.TensorSpec(
                (a.shape[0] if fixed_batch else None, *shape[1:]), tf.as_dtype(a.dtype), name=k
            )  # fmt: skip
            for a, shape, k in zip(probe, shapes, ins, strict=True)
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
    if fmt == "saved_model":
        return _saved_model(Serving(runtime.net, probe, input_names, output_names), path, probe)
    if fmt == "tflite":
        _tflite_loops(runtime.net)
        return _tflite(runtime.net, path, probe, input_names, output_names)
    raise BackendError(f"The tensorflow backend cannot export {fmt!r}; it exports {FORMATS}.")


def _never(dtype: Any) -> bool:
    return False


def _recurrent_modules(net: tf.Module) -> list[Any]:
    return [
        mod
        for layer in getattr(net, "layers_", [])
        for mod in [layer, *layer.submodules]
        if hasattr(mod, "fusable") and hasattr(mod, "step")
    ]


def _tflite_loops(net: tf.Module) -> None:
    """Make recurrent layers run their per-gate cell in a ``tf.while_loop`` that carries the
    states and the outputs so far as tensors (inputs read with a gather): TF Lite lowers it to
    builtin ``WHILE``/``GATHER``/``CONCATENATION`` with open batch and time dimensions, where
    the fused op and the ``tf.scan`` of the training graph keep TensorLists of
    ``(batch, units)`` elements that TF Lite lowers only with a fixed batch."""
    for mod in _recurrent_modules(net):
        object.__setattr__(mod, "fusable", _never)
        object.__setattr__(mod, "_loop", _gathered_loop(mod))


def _gathered_loop(native: Any) -> Any:
    """The cell loop of ``_recurrent.TFRNN._loop`` (same formula, masks and outputs), written
    without TensorLists."""

    def loop(
        x: tf.Tensor, dm: list[Any], rm: list[Any], mask: Any, init: Any = None
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        spec, units = native.spec, native.units
        init = native._begin(x, init)
        b, steps = tf.shape(x)[0], tf.shape(x)[1]
        zeros = tf.zeros(tf.stack([b, units]), x.dtype)
        start = list(init) if init is not None else [zeros] * spec.n_states
        seq = spec.return_sequences

        def body(t: tf.Tensor, out: tf.Tensor, *old: tf.Tensor) -> tuple[Any, ...]:
            x_t = tf.gather(x, t, axis=1)
            states = list(old)
            new = native.step(
                [x_t if m is None else x_t * m for m in dm],
                [states[0] if m is None else states[0] * m for m in rm],
                states,
            )
            if mask is None:
                states, y = new, new[0]
            else:
                m_t = tf.cast(tf.gather(mask, t, axis=1), tf.bool)[:, None]
                states = [tf.where(m_t, a, o) for a, o in zip(new, states, strict=True)]
                y = tf.where(m_t, states[0], zeros) if spec.zero_output_for_mask else states[0]
            out = tf.concat([out, y[:, None, :]], axis=1) if seq else y[:, None, :]
            return (t + 1, out, *states)

        state_shape = tf.TensorShape([None, units])
        res = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), tf.zeros(tf.stack([b, 0, units]), x.dtype), *start),
            shape_invariants=(
                tf.TensorShape([]),
                tf.TensorShape([None, None, units]),
                *[state_shape] * len(start),
            ),
        )
        return res[1], list(res[2:])

    return loop


def _write_saved_model(module: Serving, path: str) -> None:
    concrete = module.serve.get_concrete_function()
    tf.saved_model.save(module, path, signatures={"serving_default": concrete})


def _saved_model(module: Serving, path: str, probe: Sequence[np.ndarray]) -> list[np.ndarray]:
    if os.path.isdir(path) and os.listdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):  # never delete files
            raise BackendError(f"{path} is a folder that holds no SavedModel; not replacing it.")
        shutil.rmtree(path)
    _write_saved_model(module, path)
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]
    res = fn(**{k: tf.constant(a) for k, a in zip(module.input_keys, probe, strict=True)})
    return [res[k].numpy() for k in module.output_keys]


def _convert(
    net: tf.Module,
    probe: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> tuple[bytes, Serving]:
    """TF Lite bytes with an open batch dimension (as a Keras export), so that
    ``interpreter.resize_tensor_input`` takes any batch. Fallback, should the converter fail
    to lower a graph that way with builtin ops: the probe's batch, then Select TF ops."""
    errors: list[str] = []
    for fixed, ops in (
        (False, [tf.lite.OpsSet.TFLITE_BUILTINS]),
        (True, [tf.lite.OpsSet.TFLITE_BUILTINS]),
        (True, [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]),
    ):
        module = Serving(net, probe, input_names, output_names, fixed)
        with tempfile.TemporaryDirectory() as tmp:
            _write_saved_model(module, tmp)
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            converter.target_spec.supported_ops = ops
            try:
                return bytes(converter.convert()), module
            except Exception as exc:  # converter errors are many types; try the next way
                errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    raise BackendError(f"TF Lite conversion failed: {'; '.join(errors)}")


def _interpreter(content: bytes) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_content=content)


def _tflite(
    net: tf.Module,
    path: str,
    probe: Sequence[np.ndarray],
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> list[np.ndarray]:
    content, module = _convert(net, probe, input_names, output_names)
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
