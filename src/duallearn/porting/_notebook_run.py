"""Run a notebook once per engine and compare what every cell printed.

:func:`run_notebook_on_backends` executes the notebook in a Jupyter kernel (nbclient +
ipykernel, the ``python3`` kernel of this interpreter) once per backend, the runs side by
side. Each kernel gets ``DUALLEARN_BACKEND=<name>`` and ``PYTHONHASHSEED=<seed>``, and a first
cell, added for the run only, that calls ``dl.set_backend(name)``, ``dl.set_random_seed(seed)``,
``random.seed(seed)`` and ``np.random.seed(seed)``; a last one records the backend still active
(a notebook that picks its own backend would otherwise compare an engine with itself).

Each code cell's stdout, its result (``text/plain``), its displays and its error are cleaned
(:func:`sanitize`: colour codes, progress bars redrawn with ``\\r``/``\\b``, durations, rates,
memory addresses, ``<... at 0x...>`` object reprs; torch ``tensor(...)`` and TensorFlow
``<tf.Tensor ...>`` reprs both become ``tensor(values)``) and compared with the first backend's:
the text between numbers exactly (runs of spaces count as one), the numbers within the float32
tolerance of :mod:`duallearn.testing._tolerances` (``params_100`` by default: a notebook trains,
so its numbers are parameters after many steps). stderr is not compared: it carries each
framework's own log lines.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError, ConfigError

__all__ = ["NotebookReport", "compare_outputs", "run_notebook_on_backends", "sanitize"]

_INJECTED = "duallearn-run"
_CHECK = "__duallearn_backend__"
_FIX_INSTALL = "Fix: pip install nbclient nbformat ipykernel."

# ---- cleaning outputs ----------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_ADDRESS_REPR = re.compile(r"<[^<>\n]*? at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_CLOCK = re.compile(r"(?<![\w.:])\d+:\d{2}(?::\d{2})?(?:\.\d+)?(?![\w:])")
_RATE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:it/s|s/it|steps?/s|samples?/s)(?!\w)")
_DURATION = re.compile(
    r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|min|mins|minutes?)"
    r"(?:/(?:step|sample|epoch|it))?(?![\w])"
)
_BAR = re.compile(r"━+|\[[=>.]{3,}\]|\d+%\|[^|\n]*\|")
_SUMMARY_BACKEND = re.compile(r"\(backend: [\w.-]+\)")  # Model.summary()'s first line
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w])(?!\.\d)"
)


def _overwrite(text: str) -> str:
    """What a terminal shows: ``\\b`` erases a character, ``\\r`` returns to the line's start."""
    text = text.replace("\r\n", "\n")
    lines = []
    for line in text.split("\n"):
        if "\b" in line:
            kept: list[str] = []
            for ch in line:
                if ch == "\b":
                    if kept:
                        kept.pop()
                else:
                    kept.append(ch)
            line = "".join(kept)
        if "\r" in line:
            parts = [p for p in line.split("\r")]
            shown = ""
            for part in parts:  # each part overwrites the start of what was there
                shown = part + shown[len(part) :]
            line = shown
        lines.append(line)
    return "\n".join(lines)


def _closing(text: str, start: int, closer: str) -> int:
    """Index of the first ``closer`` after ``start`` outside brackets (or -1)."""
    depth = 0
    for i in range(start + 1, len(text)):
        ch = text[i]
        if depth == 0 and ch == closer:
            return i
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
    return -1


def _strip_array(inner: str) -> str:
    """``array([1., 2.], dtype=float32)`` -> ``[1., 2.]``; a bare value stays."""
    inner = inner.strip()
    if inner.startswith("array(") and inner.endswith(")"):
        inner = inner[len("array(") : -1]
    return _drop_keywords(inner)


def _drop_keywords(inner: str) -> str:
    """The first positional argument of a repr's argument list (``, dtype=...`` dropped)."""
    depth = 0
    for i, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0 and re.match(r",\s*\w+=", inner[i:]):
            return inner[:i].strip()
    return inner.strip()


def _tensor_reprs(text: str) -> str:
    """torch ``tensor(...)`` and TensorFlow ``<tf.Tensor: ... numpy=...>`` /
    ``<tf.Variable ... numpy=...>`` reprs -> ``tensor(values)``."""
    out: list[str] = []
    i = 0
    pattern = re.compile(r"<tf\.(?:Tensor|Variable)\b|(?<![\w.])tensor\(")
    while True:
        match = pattern.search(text, i)
        if match is None:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : match.start()])
        if match.group().startswith("<"):
            end = _closing(text, match.start(), ">")
            body = text[match.start() : end + 1] if end >= 0 else ""
            at = body.find("numpy=")
            if end < 0 or at < 0:
                out.append(match.group())
                i = match.end()
                continue
            out.append(f"tensor({_strip_array(body[at + len('numpy=') : -1])})")
        else:
            start = match.end() - 1
            end = _closing(text, start, ")")
            if end < 0:
                out.append(match.group())
                i = match.end()
                continue
            out.append(f"tensor({_drop_keywords(text[start + 1 : end])})")
        i = end + 1


def sanitize(text: str) -> str:
    """Clean one cell output for comparison across engines.

    Removes colour codes; replays ``\\r`` and ``\\b`` as a terminal would (a progress bar
    keeps its last state); replaces durations (``3ms/step``, ``0.2 s``, ``0:00:01``), rates
    (``12.5it/s``), bar glyphs, ``<... at 0x...>`` object reprs, other addresses and the engine
    named by ``model.summary()`` (``(backend: torch)``) with placeholders; writes torch and
    TensorFlow tensor reprs as ``tensor(values)``; collapses runs of spaces and tabs to one and
    removes trailing spaces.

    Args:
        text: what the cell printed or returned (``text/plain``).

    Returns:
        The cleaned text.

    Example:
        >>> sanitize("8/8 ━━━━━━━━ 0s 3ms/step - loss: 0.6931\\n<tf.Tensor: shape=(), "
        ...          "dtype=float32, numpy=1.5> <object at 0x7f3a2b1c9d80>")
        '8/8 <bar> <time> <time> - loss: 0.6931\\ntensor(1.5) <object>'
    """
    text = _ANSI.sub("", text)
    text = _overwrite(text)
    text = _ADDRESS_REPR.sub("<object>", text)
    text = _SUMMARY_BACKEND.sub("(backend: <backend>)", text)
    text = _ADDRESS.sub("0x<addr>", text)
    text = _tensor_reprs(text)
    text = _BAR.sub("<bar>", text)
    text = _RATE.sub("<rate>", text)
    text = _CLOCK.sub("<time>", text)
    text = _DURATION.sub("<time>", text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"([\[({]) ", r"\1", text)
    text = re.sub(r" ([\])}])", r"\1", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")


# ---- comparing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Number:
    text: str
    value: float
    resolution: float  # one unit in the last printed digit (0 for an integer)
    group: int  # numbers of one bracketed repr (or one line) share a scale
    line: int


def _parse_number(text: str) -> tuple[float, float]:
    body = text.lstrip("+-").lower()
    if body in ("nan", "inf"):
        return float(text), 0.0
    mantissa, _, exponent = body.partition("e")
    if "." not in mantissa and not exponent:
        return float(text), 0.0
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return float(text), 10.0 ** (int(exponent or 0) - decimals)


def _tokens(text: str) -> tuple[list[str], list[_Number]]:
    """The text between numbers, and the numbers, of one cleaned output."""
    pieces: list[str] = []
    numbers: list[_Number] = []
    depth, group, line, last = 0, 0, 1, 0
    for match in _NUMBER.finditer(text):
        between = text[last : match.start()]
        for ch in between:
            if ch in "[({":
                if depth == 0:
                    group += 1
                depth += 1
            elif ch in "])}":
                depth = max(depth - 1, 0)
            elif ch == "\n":
                line += 1
                if depth == 0:
                    group += 1
        pieces.append(between)
        value, resolution = _parse_number(match.group())
        numbers.append(_Number(match.group(), value, resolution, group, line))
        last = match.end()
    pieces.append(text[last:])
    return pieces, numbers


def _line_of(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def compare_outputs(
    reference: str, other: str, kind: str = "params_100", dtype: str = "float32"
) -> str | None:
    """Compare two cleaned outputs (:func:`sanitize`): the text between numbers exactly, each
    number within the tolerance ``|a − b| ≤ atol_s·max|ref| + rtol·|ref| + unit``, where
    ``max|ref|`` runs over the numbers of the same bracketed repr (or line), ``unit`` is one
    unit in the last digit printed (the finer of the two; 0 for integers, which must be equal),
    and ``rtol``, ``atol_s`` come from the tolerance table (``kind``, ``dtype``).

    Args:
        reference: the first backend's output.
        other: another backend's output of the same cell.
        kind: a row of :data:`duallearn.testing._tolerances.TABLE`.
        dtype: ``"float32"`` (a notebook's numbers) or ``"float64"``.

    Returns:
        None when they agree, else one sentence saying where and how they differ.

    Example:
        >>> compare_outputs("loss 0.6931", "loss 0.6932") is None
        True
        >>> compare_outputs("torch", "tensorflow")
        "text differs at line 1: 'torch' vs 'tensorflow'"
    """
    from ..testing._tolerances import tolerance

    tol = tolerance(kind, dtype)
    ref_pieces, ref_numbers = _tokens(reference)
    pieces, numbers = _tokens(other)
    if len(ref_pieces) != len(pieces) or any(
        _same_text(a, b) is False for a, b in zip(ref_pieces, pieces, strict=True)
    ):
        ref_lines, lines = reference.split("\n"), other.split("\n")
        for k in range(max(len(ref_lines), len(lines))):
            ref_line = ref_lines[k] if k < len(ref_lines) else "<no line>"
            line = lines[k] if k < len(lines) else "<no line>"
            if _numbers_masked(ref_line) != _numbers_masked(line):
                shown = _around_difference(ref_line.strip(), line.strip())
                return f"text differs at line {k + 1}: {shown[0]!r} vs {shown[1]!r}"
        return "text differs"
    scale: dict[int, float] = {}
    for n in ref_numbers:
        if math.isfinite(n.value):
            scale[n.group] = max(scale.get(n.group, 0.0), abs(n.value))
    for a, b in zip(ref_numbers, numbers, strict=True):
        if math.isnan(a.value) or math.isnan(b.value) or math.isinf(a.value) or math.isinf(b.value):
            if not (a.text.lstrip("+") == b.text.lstrip("+")):
                return f"line {a.line}: {a.text} vs {b.text} ({_line_of(reference, a.line)!r})"
            continue
        allowed = (
            tol.atol_s * scale.get(a.group, 0.0)
            + tol.rtol * abs(a.value)
            + min(a.resolution, b.resolution)
        )
        if a.resolution == 0.0 and b.resolution == 0.0:
            allowed = 0.0  # integers: counts, shapes, epochs, classes
        diff = abs(a.value - b.value)
        if diff > allowed:
            context = _around_difference(_line_of(reference, a.line), _line_of(other, b.line))
            return (
                f"line {a.line}: {a.text} vs {b.text}, off by {diff:.3g} (allowed {allowed:.3g}: "
                f"float32 {kind!r} tolerance) in {context[0]!r} vs {context[1]!r}"
            )
    return None


def _same_text(a: str, b: str) -> bool:
    return a.split() == b.split() and (a.strip() == "") == (b.strip() == "")


def _around_difference(a: str, b: str, width: int = 60) -> tuple[str, str]:
    """The two lines cut to ``width`` characters around where they start to differ."""
    if len(a) <= width and len(b) <= width:
        return a, b
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    start = max(0, at - width // 3)

    def cut(text: str) -> str:
        piece = text[start : start + width]
        return ("..." if start else "") + piece + ("..." if start + width < len(text) else "")

    return cut(a), cut(b)


def _numbers_masked(line: str) -> str:
    return " ".join(_NUMBER.sub("#", line).split())


# ---- the report ------------------------------------------------------------------------------
@dataclass
class CellResult:
    """One cell across the runs: ``status`` is ``"same"``, ``"differs"``, ``"error"`` (it
    raised in some run) or ``"not run"`` (a run stopped before it)."""

    cell: int
    source: str
    status: str
    message: str = ""

    def describe(self) -> str:
        first = self.source.strip().split("\n", 1)[0][:60]
        return f"cell {self.cell} ({first!r}): {self.status}" + (
            f": {self.message}" if self.message else ""
        )


@dataclass
class NotebookReport:
    """What :func:`run_notebook_on_backends` found. ``ok``: every code cell printed the same
    on every backend and no run failed."""

    notebook: str
    backends: list[str]
    seed: int
    kind: str
    cells: list[CellResult] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    report_json: str | None = None
    report_text: str | None = None

    @property
    def first_difference(self) -> CellResult | None:
        """The first cell that differs, raised or did not run (None when all agree)."""
        return next((c for c in self.cells if c.status != "same"), None)

    @property
    def ok(self) -> bool:
        return self.first_difference is None and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        from ..testing._tolerances import tolerance

        tol = tolerance(self.kind, "float32")
        first = self.first_difference
        return {
            "notebook": self.notebook,
            "backends": self.backends,
            "seed": self.seed,
            "tolerance": {
                "kind": self.kind,
                "dtype": "float32",
                "rtol": tol.rtol,
                "atol_s": tol.atol_s,
            },
            "ok": self.ok,
            "first_difference": None if first is None else first.__dict__,
            "problems": self.problems,
            "cells": [c.__dict__ for c in self.cells],
            "runs": self.runs,
        }

    def text(self) -> str:
        """The report as lines of text (what ``duallearn notebook`` prints)."""
        lines = [
            f"notebook: {self.notebook}",
            f"backends: {', '.join(self.backends)} "
            f"(seed {self.seed}, float32 {self.kind!r} tolerance)",
        ]
        for name, run in self.runs.items():
            lines.append(f"{name}: {run['seconds']:.1f} s, executed copy {run['executed']}")
        lines += [f"problem: {p}" for p in self.problems]
        for cell in self.cells:
            lines.append(f"  {cell.describe()}")
        first = self.first_difference
        if first is not None:
            lines.append(f"first difference: {first.describe()}")
        lines.append("all cells agree" if self.ok else "notebook: FAILED")
        return "\n".join(lines)


# ---- running ---------------------------------------------------------------------------------
def _need(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"Running notebooks needs {module}, which is not installed. {_FIX_INSTALL}"
        ) from None


def _kernel_manager(kernel_dir: str) -> Any:
    """A ``python3`` kernel started with this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    spec_dir = os.path.join(kernel_dir, "python3")
    os.makedirs(spec_dir)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        + ["--log-level=ERROR"],
        "display_name": "Python 3 (duallearn run)",
        "language": "python",
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    ksm = KernelSpecManager(kernel_dirs=[kernel_dir], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ksm)


def _setup_source(backend: str, seed: int) -> str:
    return (
        "import random as _r, numpy as _np, duallearn as _dl\n"
        f"_dl.set_backend({backend!r}); _dl.set_random_seed({seed}); _r.seed({seed}); "
        f"_np.random.seed({seed})\n"
        "del _r, _np, _dl"
    )


_CHECK_SOURCE = f"import duallearn as _dl\nprint({_CHECK!r}, _dl.backend())\ndel _dl"


async def _execute(nb: Any, backend: str, seed: int, timeout: int, workdir: str) -> dict[str, Any]:
    """Run one copy of ``nb`` in a fresh kernel; the cells' outputs land in ``nb``."""
    nbclient = _need("nbclient")
    nbformat = _need("nbformat")
    setup = nbformat.v4.new_code_cell(_setup_source(backend, seed))
    check = nbformat.v4.new_code_cell(_CHECK_SOURCE)
    for cell in (setup, check):
        cell.metadata["tags"] = [_INJECTED]
    nb.cells.insert(0, setup)
    nb.cells.append(check)
    env = dict(os.environ)
    env["DUALLEARN_BACKEND"] = backend
    env["PYTHONHASHSEED"] = str(seed)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("OMP_NUM_THREADS", "1")  # two kernels side by side: no oversubscription
    current: dict[str, int] = {"index": 0}

    def on_start(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    error: str | None = None
    error_cell: int | None = None
    crashed = False
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as kernels:
        km = _kernel_manager(kernels)
        log_path = os.path.join(kernels, "kernel.log")  # the kernel process's own stderr
        log = open(log_path, "wb")  # noqa: SIM115 - closed below, after the kernel stops
        client = nbclient.NotebookClient(
            nb,
            km=km,
            timeout=timeout,
            startup_timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": workdir}},
            on_cell_start=on_start,
        )
        try:
            await client.async_execute(env=env, stdout=subprocess.DEVNULL, stderr=log)
        except nbclient.exceptions.CellExecutionError as exc:
            error, error_cell = _ANSI.sub("", f"{exc.ename}: {exc.evalue}"), current["index"]
        except (nbclient.exceptions.CellTimeoutError, nbclient.exceptions.DeadKernelError) as exc:
            error, error_cell = f"{type(exc).__name__}: {exc}".strip(), current["index"]
            crashed = True
        except RuntimeError as exc:  # the kernel did not start
            error, crashed = f"the kernel did not start: {exc}", True
        finally:
            if client.kc is not None:
                client.kc.stop_channels()
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
            log.close()
        if crashed:
            with open(log_path, "rb") as f:
                tail = f.read()[-1500:].decode("utf-8", errors="replace").strip()
            if tail and error:
                error += f" (kernel stderr: ...{tail})"
    seconds = time.perf_counter() - start
    used = _backend_printed(check.get("outputs", []))
    nb.cells.remove(setup)
    nb.cells.remove(check)
    return {
        "seconds": seconds,
        "error": error,
        "error_cell": error_cell,
        "backend_used": used,
    }


def _backend_printed(outputs: list[Any]) -> str | None:
    """The backend the check cell printed (None: it printed nothing). Its ``print`` may
    reach us as several stream messages (the kernel flushes on a timer, and a loaded machine
    splits one print), so the streams' joined text is read."""
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    if _CHECK not in text:
        return None
    return text.split(_CHECK, 1)[1].strip().split("\n", 1)[0].strip()


def _outputs(cell: Any) -> list[tuple[str, str]]:
    """A code cell's outputs as ``(channel, cleaned text)``: stdout (all of it), each result
    and display (``text/plain``), the error."""
    stdout = "".join(
        o.get("text", "")
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
    items = [("stdout", sanitize(stdout))] if stdout.strip() else []
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind in ("execute_result", "display_data"):
            plain = o.get("data", {}).get("text/plain", "")
            items.append(("result" if kind == "execute_result" else "display", sanitize(plain)))
        elif kind == "error":
            items.append(("error", sanitize(f"{o.get('ename')}: {o.get('evalue')}")))
    return items


def _compare_cell(
    ref_name: str, ref: list[tuple[str, str]], name: str, other: list[tuple[str, str]], kind: str
) -> str | None:
    ref_kinds, kinds = [k for k, _ in ref], [k for k, _ in other]
    if ref_kinds != kinds:
        return f"{ref_name} gave outputs {ref_kinds}, {name} gave {kinds}"
    for (channel, a), (_, b) in zip(ref, other, strict=True):
        message = compare_outputs(a, b, kind)
        if message:
            return f"{channel}, {ref_name} vs {name}: {message}"
    return None


def _check_args(path: Any, backends: Any, seed: Any, timeout: Any, kind: str) -> list[str]:
    from ..plugin import available_backends
    from ..testing._tolerances import TABLE

    if not str(path).lower().endswith(".ipynb"):
        raise ConfigError(
            f"run_notebook_on_backends runs a .ipynb notebook. Received: {path!r}. "
            "Fix: pass a notebook file (port a script with `duallearn port`)."
        )
    if not os.path.isfile(path):
        what = "a folder" if os.path.isdir(path) else "missing"
        raise ConfigError(f"Cannot run {path}: it is {what}. Fix: pass an existing notebook.")
    names = [b.strip() for b in backends.split(",")] if isinstance(backends, str) else backends
    if not isinstance(names, Sequence) or not names or not all(isinstance(b, str) for b in names):
        raise ConfigError(
            f"backends must be backend names such as ('torch', 'tensorflow'). "
            f"Received: {backends!r}."
        )
    installed = available_backends()
    for name in names:
        if name not in installed:
            raise BackendError(
                f"Unknown or uninstalled backend {name!r}. Installed: "
                f"{', '.join(installed) or 'none'}. Fix: choose among them, "
                "e.g. backends=('torch', 'tensorflow')."
            )
    if len(set(names)) != len(names):
        raise ConfigError(
            f"backends lists a backend twice. Received: {list(names)}. Fix: name each backend once."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(
            f"seed must be a non-negative integer. Received: seed={seed!r}. Fix: pass e.g. seed=0."
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(
            f"timeout is seconds per cell, a positive number. Received: "
            f"timeout={timeout!r}. Fix: pass e.g. timeout=600."
        )
    if kind not in TABLE:
        raise ConfigError(
            f"Unknown tolerance kind {kind!r}. Expected one of: "
            f"{', '.join(sorted(TABLE))}. Fix: pass one of them."
        )
    return list(names)


def run_notebook_on_backends(
    path: str | os.PathLike[str],
    backends: Sequence[str] | str = ("torch", "tensorflow"),
    seed: int = 0,
    out_dir: str | os.PathLike[str] | None = None,
    timeout: float = 600,
    kind: str = "params_100",
) -> NotebookReport:
    """Execute a notebook once per backend (same seed) and compare every cell's outputs.

    The runs go side by side, each in a fresh ``python3`` kernel of this interpreter started
    in the notebook's folder (see the module docstring for the seeding and what is compared).
    A run stops at the first cell that raises (a cell tagged ``raises-exception`` may raise).
    Written to ``out_dir``: the executed copies ``NAME.<backend>.ipynb`` and the report,
    ``NAME.report.json`` and ``NAME.report.txt`` (atomically).

    Args:
        path: the ``.ipynb`` notebook.
        backends: installed backends, the first the reference (a list or ``"torch,tensorflow"``).
        seed: the seed given to duallearn, ``random``, ``numpy.random`` and ``PYTHONHASHSEED``.
        out_dir: where the copies and the report go (default: the notebook's folder).
        timeout: seconds one cell may run.
        kind: the float32 tolerance row numbers are compared with (``"params_100"``; use
            ``"forward"`` for a notebook that only predicts).

    Returns:
        A :class:`NotebookReport`: ``ok``, ``first_difference`` (the first cell that differs,
        raised or did not run), ``cells``, ``runs`` (seconds, executed copy, error per backend).

    Raises:
        ConfigError: not a notebook, bad ``seed``/``timeout``/``kind``, nbclient missing.
        BackendError: a backend that is not installed.

    Example:
        >>> report = run_notebook_on_backends("examples/notebooks/pytorch_quickstart.ipynb",
        ...                                   out_dir="/tmp/runs")  # doctest: +SKIP
        >>> report.ok, report.first_difference  # doctest: +SKIP
        (True, None)
    """
    from ..saving._container import atomic_write

    path = os.fspath(path)
    names = _check_args(path, backends, seed, timeout, kind)
    nbformat = _need("nbformat")
    _need("nbclient")
    _need("ipykernel")
    from ._notebook_port import _read_notebook

    original = _read_notebook(path)
    out = os.fspath(out_dir) if out_dir is not None else os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(out):
        raise ConfigError(f"out_dir {out!r} is not an existing folder. Fix: create it first.")
    workdir = os.path.dirname(os.path.abspath(path))
    copies = {name: copy.deepcopy(original) for name in names}

    async def run_all() -> list[dict[str, Any]]:
        jobs = [_execute(copies[n], n, seed, int(math.ceil(timeout)), workdir) for n in names]
        return list(await asyncio.gather(*jobs))

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running here: the usual case
        results = asyncio.run(run_all())
    else:  # called from inside a running loop (a notebook): run the loop in a thread
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            results = pool.submit(asyncio.run, run_all()).result()
    stem = os.path.splitext(os.path.basename(path))[0]
    report = NotebookReport(path, names, seed, kind)
    for name, result in zip(names, results, strict=True):
        nb = copies[name]
        nb.metadata["duallearn"] = {"backend": name, "seed": seed}
        executed = os.path.join(out, f"{stem}.{name}.ipynb")
        atomic_write(executed, (nbformat.writes(nb) + "\n").encode("utf-8"))
        # the setup cell was index 0, so a cell's index there is its 1-based number here
        cell = result["error_cell"]
        result["executed"] = executed
        report.runs[name] = result
        if result["error"] and (cell is None or not 1 <= cell <= len(original.cells)):
            report.problems.append(f"{name}: {result['error']}")
        elif result["backend_used"] not in (None, name):
            report.problems.append(
                f"{name}: the notebook switched the backend to {result['backend_used']!r} "
                "itself (dl.set_backend / use_backend), so this run did not test "
                f"{name!r}. Fix: remove that call; `duallearn notebook` picks the backend."
            )
    _fill_cells(report, copies, names)
    base = os.path.join(out, f"{stem}.report")
    report.report_json, report.report_text = base + ".json", base + ".txt"
    atomic_write(report.report_json, (json.dumps(report.to_dict(), indent=1) + "\n").encode())
    atomic_write(report.report_text, (report.text() + "\n").encode("utf-8"))
    return report


def _fill_cells(report: NotebookReport, copies: dict[str, Any], names: list[str]) -> None:
    ref = names[0]
    stopped: dict[str, int | None] = {}
    for name in names:  # the notebook index (1-based, setup cell removed) where a run stopped
        run = report.runs[name]
        stopped[name] = run["error_cell"] if run["error"] else None
    for index, cell in enumerate(copies[ref].cells, start=1):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        result = CellResult(index, cell.source, "same")
        outputs = {name: _outputs(copies[name].cells[index - 1]) for name in names}
        not_run = [n for n in names if stopped[n] is not None and index > stopped[n]]  # type: ignore[operator]
        raised = [n for n in names if stopped[n] == index]
        if not_run:
            result.status = "not run"
            result.message = f"the {', '.join(not_run)} run stopped at an earlier cell"
        elif raised:
            result.status = "error"
            errors = [f"{n}: {report.runs[n]['error']}" for n in raised]
            result.message = "; ".join(errors)
        else:
            for name in names[1:]:
                message = _compare_cell(ref, outputs[ref], name, outputs[name], report.kind)
                if message:
                    result.status, result.message = "differs", message
                    break
        report.cells.append(result)
