"""Regenerate docs/parity.md: measured max errors per layer, dtype and backend pair.

Usage: .venv/bin/python tools/parity_report.py [--out docs/parity.md]

Each row runs ``duallearn.testing.check_layer`` (which also asserts the tolerance table) on one
representative configuration: forward outputs and input/weight gradients of every installed
backend against the numpy float64 reference, and the backends against each other. Figures are
max |a - ref| / max |ref|.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch  # noqa: F401  (import torch before tensorflow in one process)

import duallearn as dl
from duallearn.testing import check_layer

L = dl.layers
R = np.random.default_rng(0)


def x(*shape: int) -> np.ndarray:
    return R.standard_normal(shape)


def ids(*shape: int, vocab: int = 10) -> np.ndarray:
    return R.integers(0, vocab, shape).astype("int32")


def dropout_mask(shape: tuple[int, ...], rate: float) -> np.ndarray:
    return (R.random(shape) >= rate) / (1 - rate)


# name, factory, inputs, training, noise, gradients
CASES: list[tuple[str, Callable[[], Any], Any, bool, Any, bool]] = [
    ("Dense(7, gelu)", lambda: L.Dense(7, activation="gelu"), x(4, 9), False, None, True),
    ("Activation(softmax)", lambda: L.Activation("softmax"), x(4, 9), False, None, True),
    ("Dropout(0.4), training", lambda: L.Dropout(0.4), x(4, 6), True,
     {0: dropout_mask((4, 6), 0.4)}, True),
    ("Conv1D(4, 3, strides=2, same)", lambda: L.Conv1D(4, 3, strides=2, padding="same"),
     x(2, 9, 3), False, None, True),
    ("Conv1D(4, 2, causal, dilation 2)",
     lambda: L.Conv1D(4, 2, padding="causal", dilation_rate=2), x(2, 9, 3), False, None, True),
    ("Conv2D(4, 4, strides=2, same)", lambda: L.Conv2D(4, 4, strides=2, padding="same"),
     x(2, 7, 7, 3), False, None, True),
    ("Conv2D(4, 3, dilation 2, groups 3)",
     lambda: L.Conv2D(6, 3, dilation_rate=2, groups=3), x(2, 8, 8, 3), False, None, True),
    ("Conv2DTranspose(3, 3, strides=2, same)",
     lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same"), x(2, 5, 5, 2), False, None, True),
    ("DepthwiseConv2D(3, multiplier 2)", lambda: L.DepthwiseConv2D(3, depth_multiplier=2),
     x(2, 6, 6, 3), False, None, True),
    ("SeparableConv2D(4, 3, same)", lambda: L.SeparableConv2D(4, 3, padding="same"),
     x(2, 7, 7, 3), False, None, True),
    ("MaxPooling2D(2, same)", lambda: L.MaxPooling2D(2, padding="same"), x(2, 7, 7, 3), False,
     None, True),
    ("AveragePooling2D(3, strides=2, same)",
     lambda: L.AveragePooling2D(3, strides=2, padding="same"), x(2, 8, 8, 3), False, None, True),
    ("MaxPooling1D(3, strides=2)", lambda: L.MaxPooling1D(3, strides=2), x(2, 9, 3), False,
     None, True),
    ("AveragePooling1D(2, same)", lambda: L.AveragePooling1D(2, padding="same"), x(2, 9, 3),
     False, None, True),
    ("GlobalAveragePooling2D", lambda: L.GlobalAveragePooling2D(), x(2, 5, 5, 3), False, None,
     True),
    ("GlobalMaxPooling1D", lambda: L.GlobalMaxPooling1D(), x(2, 7, 3), False, None, True),
    ("BatchNormalization, training", lambda: L.BatchNormalization(), x(6, 5), True, None, True),
    ("BatchNormalization, inference", lambda: L.BatchNormalization(), x(6, 5), False, None, True),
    ("LayerNormalization", lambda: L.LayerNormalization(), x(3, 4, 6), False, None, True),
    ("GroupNormalization(2)", lambda: L.GroupNormalization(2), x(3, 5, 4), False, None, True),
    ("Embedding(10, 4)", lambda: L.Embedding(10, 4), ids(3, 5), False, None, True),
    ("Reshape((3, 4))", lambda: L.Reshape((3, 4)), x(2, 12), False, None, True),
    ("Permute((2, 1))", lambda: L.Permute((2, 1)), x(2, 3, 4), False, None, True),
    ("ZeroPadding2D(1)", lambda: L.ZeroPadding2D(1), x(2, 3, 3, 2), False, None, True),
    ("UpSampling2D(2)", lambda: L.UpSampling2D(2), x(2, 3, 3, 2), False, None, True),
    ("SimpleRNN(5)", lambda: L.SimpleRNN(5), x(2, 6, 3), False, None, True),
    ("LSTM(5, return_sequences)", lambda: L.LSTM(5, return_sequences=True), x(2, 6, 3), False,
     None, True),
    ("GRU(5)", lambda: L.GRU(5), x(2, 6, 3), False, None, True),
    ("GRU(5, reset_after=False)", lambda: L.GRU(5, reset_after=False), x(2, 6, 3), False, None,
     True),
    ("Bidirectional(LSTM(4))", lambda: L.Bidirectional(L.LSTM(4)), x(2, 5, 3), False, None, True),
    # MultiHeadAttention's key bias has an identically zero gradient (softmax is shift
    # invariant), so its gradients are checked in tests/parity/test_attention.py instead.
    ("MultiHeadAttention(2, 3)", lambda: L.MultiHeadAttention(2, 3), [x(2, 4, 6), x(2, 5, 6)],
     False, None, False),
    ("Attention()", lambda: L.Attention(), [x(2, 4, 6), x(2, 5, 6)], False, None, True),
    ("Concatenate()", lambda: L.Concatenate(), [x(2, 3), x(2, 4)], False, None, True),
    ("Add()", lambda: L.Add(), [x(2, 3), x(2, 3)], False, None, True),
]


OWN_TEST = "tests/parity/test_mutation_kills.py"
MUTATION_RESULTS = Path(__file__).resolve().parent.parent / "docs" / "mutation_results.json"


def mutation_section(path: Path = MUTATION_RESULTS) -> list[str]:
    """The mutation-testing table from docs/mutation_results.json (written by
    tools/mutation.py; the dispositions of the survivors are written there by hand)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    disp: dict[str, dict[str, str]] = data.get("dispositions", {})
    st = data.get("settings", {})
    lines = [
        "## Mutation testing",
        "",
        "How strong are the tests of the backends' formula modules? `tools/mutation.py` plants "
        "one small bug at a time (an operator, a comparison, a constant, a dropped keyword "
        "argument or call...) in a copy of the module and runs the module's tests "
        "([rules](mutation.md)); a mutant is killed when a test fails, errors or times out. "
        "Each module is measured on a sample of its mutants (column *sampled/all*; the budget "
        f"of a run sets the size), drawn with seed {st.get('seed', '?')} "
        f"(`{st.get('sample_rule', '')}`): the rates are the sample's, not every mutant's. "
        "Hypothesis profile: "
        f"{st.get('hypothesis_profile', '?')}. Survivors are listed under the table with "
        "their disposition: *equivalent* (no input the engine can reach tells it apart; not "
        "counted), *killed* (by a suite test outside the module's selection, named) or "
        "*open* (a gap, with the reason). *Killed by new tests* counts the mutants "
        "killed by tests/parity/test_mutation_kills.py (written for the survivors of earlier "
        "runs: in the module's selection since, or on a rerun of the survivor) plus the "
        "*killed* dispositions.",
        "",
        "| module | mutants (sampled/all) | killed | killed by new tests | open | "
        "equivalent | kill rate | source | seconds (clean run, all) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    survivors: list[str] = []
    for mod, e in data.get("modules", {}).items():
        rows = e["mutants"]
        killed = new = equiv = open_ = 0
        for r in rows:
            if r["status"] in ("killed", "timeout", "crashed"):
                if (r.get("killed_by") or "").startswith(OWN_TEST):
                    new += 1  # by a test written for the survivors of an earlier run
                else:
                    killed += 1
                continue
            d = disp.get(f"{mod}#{r['key']}", {})
            kind = d.get("status", "open")
            equiv += kind == "equivalent"
            new += kind == "killed"  # by a test outside the selection (named in the reason)
            open_ += kind == "open"
            survivors.append(
                f"| {mod} | {r['line']} | {r['op']} | `{r['before'][:70]}` → "
                f"`{r['after'][:70]}` | {kind} | {d.get('reason', '')} |"
            )
        counted = len(rows) - equiv
        rate = (killed + new) / counted if counted else 1.0
        wall = f"{e['wall_seconds']:.0f}" if e.get("wall_seconds") else "—"
        partial = f" ({e['partial']})" if e.get("partial") else ""
        lines.append(
            f"| {e['module']} | {len(rows)}/{e['total_mutants']}{partial} | {killed} | {new} | "
            f"{open_} | {equiv} | **{100 * rate:.0f}%** | {e['source_rev']}, {e['run']} | "
            f"{e['clean_seconds']:.0f}, {wall} |"
        )
    lines += [
        "",
        "Kill rate = (killed + killed by new tests) / (sampled − equivalent). Seconds: the "
        "clean run of the module's tests, and the whole module (two mutants at a time, on a "
        "shared 2-core machine under `nice -n 15`).",
        "",
    ]
    if survivors:
        lines += [
            "Survivors:",
            "",
            "| module | line | operator | change | disposition | why |",
            "|---|---|---|---|---|---|",
            *survivors,
            "",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/parity.md")
    args = parser.parse_args()
    backends = dl.available_backends()
    rows = []
    t0 = time.time()
    for name, make, inputs, training, noise, grads in CASES:
        for dtype in ("float64", "float32"):
            try:
                errs = check_layer(make, inputs, dtype=dtype, training=training, noise=noise,
                                   kind="forward", grad=grads)
                status = "ok"
            except AssertionError as exc:  # record, never hide
                errs, status = {}, f"FAIL: {str(exc)[:120]}"
            rows.append((name, dtype, errs, status))
            print(f"{name:40s} {dtype}  {status}", flush=True)

    def cell(errs: dict[str, float], key: str) -> str:
        return f"{errs[key]:.1e}" if key in errs else "—"

    pair = f"{backends[-1]}~{backends[0]}/forward" if len(backends) > 1 else ""
    lines = [
        "# Measured parity",
        "",
        "Generated by `tools/parity_report.py` (rerun it to refresh). Each row is one layer "
        "configuration; figures are max |a − ref| / max |ref| of forward outputs (fwd), input "
        "gradients (dx) and weight gradients (dw), each backend against the numpy float64 "
        "reference, and the two backends against each other (fwd, same dtype). Every row also "
        "passed the tolerance table of `duallearn.testing` (shared/PARITY.md §11) unless its "
        "status says otherwise.",
        "",
        f"Run: {time.strftime('%Y-%m-%d')}, {platform.machine()} CPU, Python "
        f"{platform.python_version()}, backends {', '.join(backends)}, "
        f"{time.time() - t0:.0f} s.",
        "",
        "| layer | dtype | " + " | ".join(f"{b} fwd | {b} dx | {b} dw" for b in backends)
        + (" | backends fwd" if pair else "") + " | status |",
        "|---|---|" + "---|---|---|" * len(backends) + ("---|" if pair else "") + "---|",
    ]
    for name, dtype, errs, status in rows:
        cells = []
        for b in backends:
            cells += [cell(errs, f"{b}/forward"), cell(errs, f"{b}/dx"), cell(errs, f"{b}/dw")]
        if pair:
            cells.append(cell(errs, pair))
        lines.append(f"| {name} | {dtype} | " + " | ".join(cells) + f" | {status} |")
    lines += [
        "",
        "Optimizer trajectories, losses and metrics: see docs/optimizers.md. Whole-model "
        "trajectories: tests/parity/test_training_parity.py (24 float64 steps agree with the "
        "numpy oracle and across backends within 1e-9).",
        "",
        "Independent oracles (real Keras 3 with `tf.GradientTape`, `torch.nn` with "
        "`torch.autograd`, `keras.optimizers`, `torch.optim`) for every family, forward and "
        "gradient, on drawn configurations: [parity_oracles](parity_oracles.md), with the "
        "defects they found.",
        "",
        *mutation_section(),
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
