"""One harness for any layer: forward and gradients on every backend against the numpy
reference and against each other (the Keras ``run_layer_test`` idea, with parity)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import config
from ..errors import ConfigError
from ..plugin import StepNoise, available_backends
from . import _reference
from ._tolerances import assert_close, max_errors


def build_single(
    make_layer: Callable[[], Any],
    inputs: Sequence[np.ndarray],
    backend: str,
    input_dtypes: Sequence[str] | None = None,
) -> Any:
    """``Model(Input(s), make_layer()(Input(s)))`` on ``backend``."""
    from ..layers import Input
    from ..models import Model

    dtypes = input_dtypes or [
        config.floatx() if a.dtype.kind == "f" else str(a.dtype) for a in inputs
    ]
    syms = [Input(a.shape[1:], dtype=dt) for a, dt in zip(inputs, dtypes, strict=True)]
    layer = make_layer()
    out = layer(syms if len(syms) > 1 else syms[0])
    return Model(syms if len(syms) > 1 else syms[0], out, backend=backend)


def check_layer(
    make_layer: Callable[[], Any],
    inputs: np.ndarray | Sequence[np.ndarray],
    dtype: str = "float64",
    training: bool = False,
    noise: dict[int, np.ndarray] | None = None,
    kind: str = "layer",
    grad: bool = True,
    backends: Sequence[str] | None = None,
    seed: int = 0,
    float32_gain: float = 1.0,
) -> dict[str, float]:
    """Assert forward outputs (and input/weight gradients) of one layer agree with the numpy
    reference on every backend, and across backends. Returns the max errors measured.

    ``inputs`` are cast to ``dtype`` when floating; integer inputs stay integers.

    ``float32_gain`` (>= 1) is how much the layer amplifies the rounding of its own float32
    arithmetic relative to its outputs: at float32 the absolute term of every comparison is
    judged against ``float32_gain`` times its usual scale (max|ref|, or the largest gradient).
    A normalization subtracts the mean of a group before dividing by √(var + ε): the float32
    rounding of ``x − mean`` (``eps·|x|``) is amplified by 1/√(var + ε), so a group that is nearly
    constant next to its magnitude gives ``max|x| / √(var + ε)``. float64 checks ignore it
    (the table's float64 rows stay as they are).
    """
    if float32_gain < 1.0:
        raise ConfigError(
            f"check_layer: float32_gain must be >= 1 (a factor on the table's tolerance, never "
            f"below it). Received: float32_gain={float32_gain}. Pass 1.0 for a layer that does "
            "not amplify its rounding."
        )
    from .._seed import set_random_seed

    arrays = [np.asarray(a) for a in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]
    names = list(backends or available_backends())
    errors: dict[str, float] = {}
    previous = config.floatx()
    config.set_floatx(dtype)
    gain = float32_gain if str(np.dtype(dtype)) == "float32" else 1.0
    try:
        weights = None
        results: dict[str, tuple[list[np.ndarray], Any]] = {}
        ref_out = ref_grads = None
        cot = None
        gscale = 0.0
        for name in names:
            set_random_seed(seed)
            model = build_single(make_layer, arrays, name)
            if weights is None:
                weights = model.get_weights()
            else:
                model.set_weights(weights)
            runtime = model._get_runtime()
            step_noise = StepNoise(dict(noise)) if noise else None
            out = runtime.forward(arrays, training, step_noise)
            if ref_out is None:
                w64 = [np.asarray(w, np.float64) for w in weights]
                x64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays]
                ref_out, _ = _reference.forward(model, w64, x64, training, noise)
                rng = np.random.default_rng(seed + 1)
                cot = [rng.standard_normal(o.shape) for o in ref_out]
                if grad:
                    ref_grads = _reference.backward(model, w64, x64, cot, training, noise)
            for i, (o, r) in enumerate(zip(out, ref_out, strict=True)):
                own = float(np.max(np.abs(r))) if r.size else 0.0
                assert_close(f"{name} output {i} vs numpy", o, r, dtype, kind, scale=gain * own)
                errors[f"{name}/forward"] = max(
                    errors.get(f"{name}/forward", 0.0), max_errors(o, r)[1]
                )
            grads = None
            if grad:
                assert cot is not None and ref_grads is not None
                dx, dw = runtime.input_gradients(
                    arrays, [c.astype(dtype) for c in cot], training, step_noise
                )
                # absolute errors are judged against the largest gradient of the layer: an entry
                # summed over batch and time from terms that cancel keeps their rounding error
                gscale = max(
                    [
                        float(np.max(np.abs(r)))
                        for r in [*ref_grads[0], *ref_grads[1]]
                        if r is not None and r.size
                    ]
                    or [0.0]
                )
                for i, (g, r) in enumerate(zip(dx, ref_grads[0], strict=True)):
                    if arrays[i].dtype.kind == "f":
                        assert_close(
                            f"{name} d(input {i}) vs numpy",
                            g,
                            r,
                            dtype,
                            "gradient",
                            scale=gain * gscale,
                        )
                        errors[f"{name}/dx"] = max(
                            errors.get(f"{name}/dx", 0.0), max_errors(g, r)[1]
                        )
                for i, (g, r) in enumerate(zip(dw, ref_grads[1], strict=True)):
                    assert_close(
                        f"{name} d(weight {i}) vs numpy",
                        g,
                        r,
                        dtype,
                        "gradient",
                        scale=gain * gscale,
                    )
                    errors[f"{name}/dw"] = max(errors.get(f"{name}/dw", 0.0), max_errors(g, r)[1])
                grads = (dx, dw)
            results[name] = (out, grads)
        if len(names) > 1:
            first = names[0]
            for other in names[1:]:
                for i, (a, b) in enumerate(zip(results[first][0], results[other][0], strict=True)):
                    own = float(np.max(np.abs(a))) if a.size else 0.0
                    assert_close(
                        f"{other} vs {first} output {i}", b, a, dtype, kind, scale=gain * own
                    )
                    errors[f"{other}~{first}/forward"] = max_errors(b, a)[1]
                ga, gb = results[first][1], results[other][1]
                if ga is not None and gb is not None:
                    for i, (a, b) in enumerate(zip(ga[1], gb[1], strict=True)):
                        assert_close(
                            f"{other} vs {first} d(weight {i})",
                            b,
                            a,
                            dtype,
                            "gradient",
                            scale=gain * gscale,
                        )
    finally:
        config.set_floatx(previous)
    return errors


def set_keras_weights_and_compare(
    dl_model: Any, keras_model: Any, x: Any, dtype: str = "float32", kind: str = "forward"
) -> float:
    """Copy Keras weights into a duallearn model and compare predictions; returns max error."""
    dl_model.set_weights(keras_model.get_weights())
    ours = dl_model.predict(x, verbose=0)
    theirs = keras_model.predict(x, verbose=0)
    ours_l = ours if isinstance(ours, list) else [ours]
    theirs_l = theirs if isinstance(theirs, list) else [theirs]
    worst = 0.0
    for i, (a, b) in enumerate(zip(ours_l, theirs_l, strict=True)):
        assert_close(f"duallearn ({dl_model.backend_name}) vs Keras output {i}", a, b, dtype, kind)
        worst = max(worst, max_errors(a, b)[1])
    return worst
