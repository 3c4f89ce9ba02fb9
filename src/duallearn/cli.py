"""The ``duallearn`` command line (docs/cli.md).

``duallearn info | inspect MODEL | parity MODEL [--data FILE.npz] | export MODEL --format F
--output PATH | port FILE [-o OUT] [--check] | notebook NOTEBOOK [--backends B,B] [--out DIR]
[--seed N]``. A user mistake (missing file, hostile or corrupt file, unknown format, missing
framework) prints one ``duallearn: error: ...`` line on stderr and exits with status 2; a
parity or export check above its tolerance, ``port --check`` with names left to port by hand,
and a notebook whose cells differ between backends exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage dump
        sys.stderr.write(f"duallearn: error: {message} (see: duallearn --help)\n")
        raise SystemExit(EXIT_USAGE)


def _import_frameworks_in_order() -> None:
    """torch must be imported before tensorflow in one process on this platform."""
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401


# ---- info ------------------------------------------------------------------------------------
def cmd_info(args: argparse.Namespace) -> int:
    """``duallearn info``: print the installed backends, their versions and devices.

    Args:
        args: the parsed command line (no option of its own).

    Returns:
        ``EXIT_OK``. Raises ``BackendError`` (exit 2 via :func:`main`) when
        ``DUALLEARN_BACKEND`` names no installed backend.
    """
    import duallearn as dl
    from duallearn.plugin import get_backend, registered_backends, selection

    name, reason = selection()  # an unknown DUALLEARN_BACKEND is an error before any output
    print(f"duallearn {dl.__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    from duallearn.plugin import available_backends

    installed = available_backends(include_reference=True)  # numpy: the reference
    print("backends:")
    _import_frameworks_in_order()
    for name in registered_backends():
        if name not in installed:
            print(f"  {name}: not installed (framework missing)")
            continue
        try:
            backend = get_backend(name)
            versions = ", ".join(f"{k} {v}" for k, v in backend.versions().items())
            devices = ", ".join(backend.devices())
            print(f"  {name}: {versions}; devices: {devices}")
        except Exception as exc:  # a broken install is reported, not raised
            print(f"  {name}: cannot be loaded: {type(exc).__name__}: {exc}")
    extras = []
    for mod in ("onnx", "onnxruntime", "onnxscript", "safetensors"):
        import importlib.util

        extras.append(f"{mod} {'yes' if importlib.util.find_spec(mod) else 'no'}")
    print(f"export tools: {', '.join(extras)}")
    print(f"active backend: {name} ({reason})")
    return EXIT_OK


# ---- inspect ---------------------------------------------------------------------------------
def cmd_inspect(args: argparse.Namespace) -> int:
    """``duallearn inspect MODEL``: format version, layers, parameters and digests of a file.

    Args:
        args: the parsed command line; ``args.model`` is the ``.dlm`` path.

    Returns:
        ``EXIT_OK``, or ``EXIT_CHECK_FAILED`` when a member's SHA-256 digest does not match.
    """
    from duallearn.saving import inspect_model_file

    info = inspect_model_file(args.model)
    meta = info["metadata"]
    print(f"file: {args.model}")
    print(f"format version: {info['format_version']}")
    print(f"model: {info['name']} ({info['model_class']})")
    if meta:
        print(
            f"written by: duallearn {meta.get('duallearn_version')} on backend "
            f"{meta.get('backend')} {meta.get('framework_versions') or ''}".rstrip()
        )
        print(f"dtype: {meta.get('dtype')}")
    print(f"compiled: {info['compiled']}, optimizer state: {info['optimizer_state']}")
    rows = [(str(l["name"]), str(l["class_name"]), str(l["params"])) for l in info["layers"]]
    _table(["layer", "class", "params"], rows)
    print(f"total params: {info['total_params']}")
    bad = [n for n, ok in info["digests"].items() if not ok]
    for name, ok in sorted(info["digests"].items()):
        print(f"digest {name}: {'OK' if ok else 'MISMATCH'}")
    if bad:
        print(f"digests: FAILED ({', '.join(bad)}): the file is corrupt or was modified")
        return EXIT_CHECK_FAILED
    print("digests: OK")
    return EXIT_OK


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in
              enumerate(header)]  # fmt: skip
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


# ---- parity ----------------------------------------------------------------------------------
def _load_inputs(path: str, model: Any) -> list[np.ndarray]:
    from duallearn.errors import ConfigError

    fix = "Fix: save the inputs with np.savez(path, x=array) (or one array per input name)."
    arrays: dict[str, Any] | None = None
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder, not a .npz data file. {fix}")
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block np.load
        raise ConfigError(f"{path} is not a regular file, so it is not a .npz data file.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):  # a .npy file holds one array, no names
            with loaded as data:
                arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise ConfigError(f"No such data file: {path}.") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{path} is not a readable .npz file: {reason}. {fix}") from None
    if arrays is None:
        raise ConfigError(
            f"{path} is a .npy file (one unnamed array); --data takes a .npz file of named "
            f"arrays. {fix}"
        )
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            kind = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise ConfigError(
                f"{path}: array {key!r} holds {kind}; model inputs are numbers (bool, integer "
                f"or float arrays). {fix}"
            )
    names = list(model.input_names)
    if all(n in arrays for n in names):
        return [arrays[n] for n in names]
    for key in ("x", "inputs"):
        if key in arrays and len(names) == 1:
            return [arrays[key]]
    if len(arrays) == len(names):
        return [arrays[k] for k in sorted(arrays)]
    raise ConfigError(
        f"{path} holds arrays {sorted(arrays)}; the model takes inputs {names}. Fix: store "
        f"the inputs under those names (or as 'x' for a one-input model)."
    )


def parity_table(path: str, inputs: list[np.ndarray] | None) -> tuple[list[Any], bool, str]:
    """Load ``path`` on every installed backend, run every layer's output, compare each
    backend with the first: rows ``(layer, class, backend, max abs, max rel, ok)``."""
    import duallearn as dl
    from duallearn.errors import BackendError
    from duallearn.models import Model
    from duallearn.testing._tolerances import max_errors, tolerance

    dl.saving.read_model_file(path)  # a bad file fails here, before any framework loads
    _import_frameworks_in_order()
    backends = dl.available_backends()
    if not backends:
        raise BackendError("No backend is installed. Fix: pip install 'duallearn[torch]'.")
    outputs: dict[str, list[np.ndarray]] = {}
    labels: list[tuple[str, str]] = []
    dtype = "float32"
    for name in backends:
        model = dl.load_model(path, compile=False, backend=name)
        dtype = model._dtype()
        if inputs is None:
            from duallearn.export import probe_inputs

            inputs = probe_inputs(model)
        graph = model.graph
        taps = [t for node in graph.nodes for t in node.outputs]
        labels = [
            (node.layer.name, type(node.layer).__name__)
            for node in graph.nodes
            for _ in node.outputs
        ]
        probe = Model(graph.inputs if len(graph.inputs) > 1 else graph.inputs[0], taps,
                      name="parity_probe", backend=name)  # fmt: skip
        res = probe.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        outputs[name] = [np.asarray(r) for r in (res if isinstance(res, list) else [res])]
    tol = tolerance("forward", dtype if dtype in ("float32", "float64") else "float32")
    ref_name = backends[0]
    rows = []
    ok_all = True
    for other in backends[1:]:
        for (lname, cls), a, ref in zip(labels, outputs[other], outputs[ref_name], strict=True):
            err, rel = max_errors(a, ref)
            ok = rel <= tol.rtol + tol.atol_s
            ok_all &= ok
            rows.append((lname, cls, f"{other} vs {ref_name}", err, rel, ok))
    note = f"tolerance: max rel error <= {tol.rtol + tol.atol_s:g} ({dtype}, 'forward')"
    return rows, ok_all, note


def cmd_parity(args: argparse.Namespace) -> int:
    """``duallearn parity MODEL [--data FILE.npz] [--against FILE [--train N]]``: per-layer
    differences between backends, or (``--against``) with the Keras / torch model MODEL was
    ported from (:func:`duallearn.porting.layer_report`).

    Args:
        args: the parsed command line; ``args.model`` (a ``.dlm`` path) and ``args.data``
            (an ``.npz`` of inputs, or ``None`` for seeded random inputs).

    Returns:
        ``EXIT_OK`` when every layer agrees within its tolerance (or one backend only is
        installed), else ``EXIT_CHECK_FAILED``.
    """
    import duallearn as dl
    from duallearn.errors import ConfigError

    inputs = None
    if args.train < 0 or (args.train and args.against is None):
        raise ConfigError(
            f"--train takes a number of steps >= 0 and needs --against FILE. Received: "
            f"--train {args.train}{'' if args.against else ' without --against'}. Fix: e.g. "
            "duallearn parity model.keras --against original.pt2 --train 5."
        )
    if args.data is not None or args.against is not None:
        _import_frameworks_in_order()
        model = dl.load_model(args.model, compile=False)
        if args.data is not None:
            inputs = _load_inputs(args.data, model)
        if args.against is not None:
            report = dl.porting.layer_report(model, args.against, inputs, train=args.train)
            print(report)
            return EXIT_OK if report.ok else EXIT_CHECK_FAILED
    rows, ok, note = parity_table(args.model, inputs)
    if not rows:
        print("only one backend is installed: nothing to compare")
        return EXIT_OK
    _table(
        ["layer", "class", "backends", "max abs", "max rel", "ok"],
        [(r[0], r[1], r[2], f"{r[3]:.3e}", f"{r[4]:.3e}", "yes" if r[5] else "NO") for r in rows],
    )
    print(note)
    print("parity: OK" if ok else "parity: FAILED")
    return EXIT_OK if ok else EXIT_CHECK_FAILED


# ---- export ----------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    """``duallearn export MODEL --format F --output PATH``: export, then verify the artifact.

    Args:
        args: the parsed command line; ``args.model``, ``args.format`` (one of
            ``duallearn.export.FORMATS``), ``args.output`` and ``args.data`` (optional probes).

    Returns:
        ``EXIT_OK`` when the exported artifact reproduces the model, else
        ``EXIT_CHECK_FAILED`` (the verification table is printed either way).
    """
    import duallearn as dl
    from duallearn.export import ExportError, check_target, export_model

    model = dl.load_model(args.model, compile=False)
    inputs = _load_inputs(args.data, model) if args.data else None
    check_target(args.output, args.format)  # user mistakes first, frameworks after
    _import_frameworks_in_order()
    try:
        result = export_model(model, args.output, format=args.format, inputs=inputs)
    except ExportError as exc:
        if exc.result is None:
            raise
        print(exc.result.summary())
        sys.stderr.write(f"duallearn: error: {exc}\n")
        return EXIT_CHECK_FAILED
    print(result.summary())
    return EXIT_OK


# ---- port ------------------------------------------------------------------------------------
def cmd_port(args: argparse.Namespace) -> int:
    """``duallearn port FILE [-o OUT] [--check]``: rewrite Keras imports to duallearn.

    Args:
        args: the parsed command line; ``args.file`` (a ``.py`` or ``.ipynb``), ``args.output``
            (where to write the ported file, or None to write nothing) and ``args.check``.

    Returns:
        ``EXIT_OK``; ``EXIT_CHECK_FAILED`` with ``--check`` when some Keras or TensorFlow name
        could not be mapped (the findings are printed either way).
    """
    from duallearn.porting._notebook_port import port_file

    report = port_file(args.file, out=args.output)
    print(report.summary())
    return EXIT_CHECK_FAILED if args.check and report.unmapped else EXIT_OK


# ---- notebook --------------------------------------------------------------------------------
def cmd_notebook(args: argparse.Namespace) -> int:
    """``duallearn notebook NOTEBOOK [--backends torch,tensorflow] [--out DIR] [--seed N]``:
    run the notebook once per backend and compare every cell's outputs.

    Args:
        args: the parsed command line; ``args.notebook``, ``args.backends`` (comma-separated),
            ``args.out`` (folder for the executed copies and the report) and ``args.seed``.

    Returns:
        ``EXIT_OK`` when every cell agrees, else ``EXIT_CHECK_FAILED`` (the first cell that
        differs is printed).
    """
    from duallearn.porting._notebook_run import run_notebook_on_backends

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    report = run_notebook_on_backends(
        args.notebook, backends=backends, seed=args.seed, out_dir=args.out
    )
    print(report.text())
    print(f"report: {report.report_json}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


# ---- launch ----------------------------------------------------------------------------------
def cmd_launch(args: argparse.Namespace) -> int:
    """``duallearn launch --nproc N SCRIPT [ARGS]``: run SCRIPT as N local processes of one
    data-parallel run (docs/distributed.md): torchrun's rendezvous variables and a
    ``TF_CONFIG`` per process, output prefixed with ``[rank R]``, signals forwarded.

    Args:
        args: the parsed command line; ``args.nproc``, ``args.script``, ``args.args`` (the
            script's own arguments) and ``args.grace_period`` (seconds).

    Returns:
        0 when every process succeeded, else the first non-zero exit status (``128 + N``
        for a process ended by signal N).
    """
    from duallearn.distribution._launch import launch

    return launch(args.nproc, args.script, args.args, grace=args.grace_period)


def build_parser() -> argparse.ArgumentParser:
    """The ``duallearn`` argument parser: subcommands ``info``, ``inspect``, ``parity``,
    ``export``, ``port``, ``notebook``, ``launch``.

    Returns:
        An :class:`argparse.ArgumentParser`; each subcommand sets ``fn`` to its ``cmd_*``.
    """
    from duallearn.export import FORMATS

    parser = _Parser(prog="duallearn", description="duallearn model files: info, inspect, "
                     "cross-backend parity, verified export.")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("info", help="installed backends, versions, devices, active backend")
    p.set_defaults(fn=cmd_info)
    p = sub.add_parser("inspect", help="format version, layers, parameters, digests of a file")
    p.add_argument("model", help="a .dlm file")
    p.set_defaults(fn=cmd_inspect)
    p = sub.add_parser("parity", help="per-layer differences between installed backends")
    p.add_argument("model", help="a .dlm file")
    p.add_argument("--data", help=".npz with the inputs (by input name, or 'x')")
    p.add_argument(
        "--against",
        metavar="FILE",
        help="compare with the Keras (.keras, .h5) or torch.export (.pt2) model it was ported "
        "from, layer by layer, instead of between backends",
    )
    p.add_argument(
        "--train",
        type=int,
        default=0,
        metavar="N",
        help="with --against: also compare the weights after N SGD steps",
    )
    p.set_defaults(fn=cmd_parity)
    p = sub.add_parser("export", help="export and verify against the loaded model")
    p.add_argument("model", help="a .dlm file")
    p.add_argument("--format", required=True, choices=sorted(FORMATS))
    p.add_argument("--output", required=True, help="artifact path (a folder for saved_model)")
    p.add_argument("--data", help=".npz with probe inputs (default: seeded random)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("port", help="rewrite keras / tf.keras imports in a .py or .ipynb file")
    p.add_argument("file", help="a .py script or a .ipynb notebook")
    p.add_argument("-o", "--output", help="write the ported file here (default: write nothing)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when some Keras/TensorFlow name cannot be mapped")  # fmt: skip
    p.set_defaults(fn=cmd_port)
    p = sub.add_parser("notebook", help="run a notebook on each backend and compare the cells")
    p.add_argument("notebook", help="a .ipynb notebook")
    p.add_argument("--backends", default="torch,tensorflow", help="comma-separated, the "
                   "first is the reference (default: torch,tensorflow)")  # fmt: skip
    p.add_argument("--out", help="folder for the executed copies and the report "
                   "(default: the notebook's folder)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed of every run (default: 0)")
    p.set_defaults(fn=cmd_notebook)
    p = sub.add_parser("launch", help="run a training script as N local data-parallel processes")
    p.add_argument("--nproc", type=int, required=True, help="number of processes")
    p.add_argument("--grace-period", type=float, default=30.0, metavar="S", help="seconds the "
                   "others have to stop after one process failed (default: 30)")  # fmt: skip
    p.add_argument("script", help="the Python script each process runs")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    p.set_defaults(fn=cmd_launch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``duallearn`` command.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 OK, 1 a check failed (digests, parity, export verification, names
        left to port with ``port --check``, a notebook cell that differs), 2 a usage error (a
        ``DuallearnError`` or an ``OSError``, printed as one line), 130 interrupted.

    Example:
        >>> from duallearn.cli import main
        >>> main(["info"])  # doctest: +SKIP
        0
    """
    from duallearn.errors import DuallearnError

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except DuallearnError as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"duallearn: error: {message}\n")
        return EXIT_USAGE
    except OSError as exc:  # the file system said no (permissions, a full disk...)
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"duallearn: error: {exc.strerror or exc}{where}.\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("duallearn: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
