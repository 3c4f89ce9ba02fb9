"""Mutation testing of the backends' formula modules (issue 19): how many planted bugs do the
tests catch?

Usage::

    nice -n 15 .venv/bin/python tools/mutation.py                  # every module, 40 mutants each
    .venv/bin/python tools/mutation.py --list torch/_losses         # the mutants, no test run
    nice -n 15 .venv/bin/python tools/mutation.py torch/_losses tensorflow/_losses --jobs 2
    .venv/bin/python tools/mutation.py --show torch/_losses:17      # one mutant's diff

How it works (docs/mutation.md has the rules):

1. The working tree (``git ls-files -co --exclude-standard``) is copied to ``--workdir``; the
   tests import that copy (its ``src`` and ``backends`` come first on ``sys.path``), never the
   checkout, so others may edit it meanwhile.
2. Each module's ``ast`` is walked and every applicable operator gives one mutant (one change
   in one place): arithmetic swaps, comparison flips, ``and``/``or``, a dropped unary minus or
   ``not``, constants (0↔1, ε×10, others ×2), ``True``↔``False``, min/max-like call swaps, a
   dropped keyword argument, a ``return a ∘ b`` reduced to ``return a``, a deleted call
   statement (the in-place updates of the optimizers), a negated ``if``. Docstrings,
   annotations, strings and ``raise``/``assert`` statements are not mutated.
3. When a module has more than ``--max`` mutants, ``--max`` of them are drawn with
   ``random.Random(f"{seed}:{module}")`` (the seed and the module's name: the same sample on
   every run of the same source).
4. One parent process imports torch, TensorFlow, Keras, numpy, pytest and hypothesis once
   (no op runs there); each run is a ``fork`` of it that imports the mutated module from the
   mutant's code object (a meta-path finder, nothing is written to disk) and runs
   ``pytest -x`` on the module's test selection (``SELECTIONS``), with the tests that are
   parametrized for the *other* engine deselected (a ``backend``/``backend_name``/``engine``
   parameter equal to it). Hypothesis runs the ``ci`` profile (``derandomize``, what CI runs)
   with no example database, so every mutant sees the same examples.
5. The clean (unmutated) run must pass; each mutant gets ``--timeout-factor`` × its time.
   A mutant is *killed* when a test fails or errors (an import failure included), times out or
   crashes the process; *survived* when the selection passes.

Results go to ``--out`` (docs/mutation_results.json), merged module by module with what is
there; hand-written ``dispositions`` (why a survivor is equivalent, or which new test kills
it) are kept. ``tools/parity_report.py`` renders the file in docs/parity.md.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("torch", "tensorflow")
FAMILIES = ("_activations", "_losses", "_optimizers", "_normalization", "_recurrent", "_conv")
MODULES = [f"{e}/{f}" for e in ENGINES for f in FAMILIES]
OWN_TEST = "tests/parity/test_mutation_kills.py"  # one class per family: TestLosses...

# The tests that target each family (paths under tests/parity, an optional -k expression).
SELECTIONS: dict[str, list[str]] = {
    "_activations": [
        "tests/parity/test_activation_layers.py",
        "tests/parity/test_keras_oracle.py",
        "tests/parity/test_oracle_layers.py::test_dense",
        "tests/parity/test_oracle_layers.py::test_selu_gradient_at_zero",
        f"{OWN_TEST}::TestActivations",
    ],
    "_losses": [
        "tests/parity/test_losses.py",
        "tests/parity/test_oracle_losses_metrics.py",
        "tests/parity/test_masked_loss.py",
        f"{OWN_TEST}::TestLosses",
    ],
    "_optimizers": [  # (the 200-step float64 trajectories take minutes: not per mutant)
        "tests/parity/test_optimizers.py::test_every_optimizer_float32_10_steps",
        "tests/parity/test_optimizers.py::test_torch_fused_adam_kernel_gives_the_foreach_numbers",
        "tests/parity/test_optimizers.py::test_ema_weights_at_end_of_fit",
        "tests/parity/test_oracle_optimizers.py",
        f"{OWN_TEST}::TestOptimizers",
    ],
    "_normalization": [
        "tests/parity/test_normalization.py",
        "tests/parity/test_oracle_layers.py",
        f"{OWN_TEST}::TestNormalization",
        "-k", "normalization or batch_norm or group_of or batchnorm or Normalization",
    ],
    "_recurrent": [
        "tests/parity/test_recurrent.py",
        "tests/parity/test_oracle_layers.py::test_recurrent",
        f"{OWN_TEST}::TestRecurrent",
    ],
    "_conv": [
        "tests/parity/test_conv.py",
        "tests/parity/test_oracle_layers.py",
        f"{OWN_TEST}::TestConv",
        "-k", "conv or Conv",
    ],
}

# call names swapped with their opposite (attribute or bare name)
SWAPS = {
    "min": "max", "max": "min", "amin": "amax", "amax": "amin",
    "minimum": "maximum", "maximum": "minimum", "minimum_": "maximum_", "maximum_": "minimum_",
    "_foreach_minimum_": "_foreach_maximum_", "_foreach_maximum_": "_foreach_minimum_",
    "reduce_min": "reduce_max", "reduce_max": "reduce_min",
    "reduce_sum": "reduce_mean", "reduce_mean": "reduce_sum", "sum": "mean", "mean": "sum",
    "sqrt": "rsqrt", "rsqrt": "sqrt", "exp": "log", "log": "exp",
    "sigmoid": "tanh", "tanh": "sigmoid", "relu": "abs", "abs": "relu",
    "floor": "ceil", "ceil": "floor", "add": "subtract", "subtract": "add",
    "multiply": "divide", "divide": "multiply", "square": "abs",
    "_foreach_add_": "_foreach_sub_", "_foreach_sub_": "_foreach_add_",
    "_foreach_mul_": "_foreach_div_", "_foreach_div_": "_foreach_mul_",
    "_foreach_addcdiv_": "_foreach_addcmul_", "_foreach_addcmul_": "_foreach_addcdiv_",
    "assign_add": "assign_sub", "assign_sub": "assign_add",
}
BINOPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.Pow: ast.Mult, ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv,
}
CMPOPS: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
OTHER_ENGINE_PARAMS = ("backend", "backend_name", "engine")


# ---- mutants ---------------------------------------------------------------------------------
@dataclass
class Mutant:
    index: int
    line: int
    col: int
    op: str
    before: str
    after: str
    path: tuple[Any, ...] = field(repr=False, default=())  # where in the tree, how to change

    @property
    def key(self) -> str:
        """Stable across runs of the same source (dispositions are keyed by it)."""
        return f"L{self.line}:C{self.col}:{self.op}:{self.after}"


def _skip_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, raise/assert statements."""
    skip: set[int] = set()

    def all_ids(n: ast.AST | None) -> None:
        if n is not None:
            skip.update(id(m) for m in ast.walk(n))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant
        ) and isinstance(body[0].value.value, str):
            all_ids(body[0])
        if isinstance(node, (ast.Raise, ast.Assert, ast.Import, ast.ImportFrom, ast.Global)):
            all_ids(node)
        if isinstance(node, ast.AnnAssign):
            all_ids(node.annotation)
        if isinstance(node, ast.arg):
            all_ids(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            all_ids(node.returns)
            for d in node.decorator_list:
                all_ids(d)
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list:
                all_ids(d)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and (
            node.test.id == "TYPE_CHECKING"
        ):
            all_ids(node)
    return skip


def _const_mutation(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return {0: 1, 1: 0}.get(v, v + 1)
    if isinstance(v, float):
        if v == 0.0:
            return 1.0
        if v == 1.0:
            return 0.0
        if abs(v) < 1e-2:
            return v * 10
        return v * 2
    return None


def _candidates(tree: ast.Module) -> Iterator[tuple[ast.AST, str, Any]]:
    """(node, operator, argument) for every mutation point, in a fixed walk order."""
    skip = _skip_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
            yield node, "binop", None
        elif isinstance(node, ast.AugAssign) and type(node.op) in BINOPS:
            yield node, "augassign", None
        elif isinstance(node, ast.Compare):
            for i, o in enumerate(node.ops):
                if type(o) in CMPOPS:
                    yield node, "compare", i
                if isinstance(o, (ast.Lt, ast.Gt, ast.LtE, ast.GtE)):
                    yield node, "compare_reverse", i
        elif isinstance(node, ast.BoolOp):
            yield node, "boolop", None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            yield node, "unary_drop", None
        elif isinstance(node, ast.Constant) and _const_mutation(node.value) is not None:
            yield node, "constant", None
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
            if name in SWAPS:
                yield node, "call_swap", None
            for i, _ in enumerate(node.keywords):
                if node.keywords[i].arg is not None:
                    yield node, "drop_keyword", i
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.BinOp):
            yield node, "return_operand", None
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield node, "delete_call", None
        elif isinstance(node, ast.If):
            yield node, "negate_if", None


def _apply(node: ast.AST, op: str, arg: Any) -> ast.AST:
    """The mutated copy of ``node`` (the caller swaps it into a copy of the tree)."""
    n = copy.deepcopy(node)
    if op in ("binop", "augassign"):
        n.op = BINOPS[type(n.op)]()  # type: ignore[attr-defined]
    elif op == "compare":
        n.ops[arg] = CMPOPS[type(n.ops[arg])]()  # type: ignore[attr-defined]
    elif op == "compare_reverse":
        rev = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
        n.ops[arg] = rev[type(n.ops[arg])]()  # type: ignore[attr-defined]
    elif op == "boolop":
        n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()  # type: ignore[attr-defined]
    elif op == "unary_drop":
        return n.operand  # type: ignore[attr-defined,no-any-return]
    elif op == "constant":
        n.value = _const_mutation(n.value)  # type: ignore[attr-defined]
    elif op == "call_swap":
        f = n.func  # type: ignore[attr-defined]
        if isinstance(f, ast.Attribute):
            f.attr = SWAPS[f.attr]
        else:
            f.id = SWAPS[f.id]
    elif op == "drop_keyword":
        del n.keywords[arg]  # type: ignore[attr-defined]
    elif op == "return_operand":
        n.value = n.value.left  # type: ignore[attr-defined]
    elif op == "delete_call":
        return ast.Pass()
    elif op == "negate_if":
        n.test = ast.UnaryOp(op=ast.Not(), operand=n.test)  # type: ignore[attr-defined]
    return n


def enumerate_mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    out = []
    for node, op, arg in _candidates(tree):
        new = _apply(node, op, arg)
        before = ast.get_source_segment(source, node) or ast.unparse(node)
        after = "pass" if isinstance(new, ast.Pass) else ast.unparse(new)
        if op == "drop_keyword":
            kw = node.keywords[arg]  # type: ignore[attr-defined]
            after = f"(without {kw.arg}=)"
        if after == ast.unparse(node) and op != "drop_keyword":
            continue
        first = " ".join(before.split())[:140]
        out.append(Mutant(len(out), node.lineno, node.col_offset, op, first,
                          " ".join(after.split())[:140], (op, arg)))
    return out


def mutated_code(source: str, filename: str, m: Mutant) -> Any:
    """The code object of ``source`` with mutant ``m`` applied (found again by walk order)."""
    tree = ast.parse(source)
    kept = (c for c in _candidates(tree) if _keep(source, c))
    for i, (node, op, arg) in enumerate(kept):
        if i == m.index:
            assert (node.lineno, node.col_offset, op) == (m.line, m.col, m.op), (m, node)
            new = _apply(node, op, arg)
            parent_swap(tree, node, new)
            ast.fix_missing_locations(tree)
            return compile(tree, filename, "exec", dont_inherit=True)
    raise LookupError(m)


def _keep(source: str, cand: tuple[ast.AST, str, Any]) -> bool:
    node, op, arg = cand
    if op == "drop_keyword":
        return True
    return ast.unparse(_apply(node, op, arg)) != ast.unparse(node)


def parent_swap(tree: ast.AST, target: ast.AST, new: ast.AST) -> None:
    """Replace ``target`` by ``new`` in place, in whichever field of its parent holds it."""
    ast.copy_location(new, target)
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if v is target:
                        value[i] = new
                        return
    raise LookupError(target)


# ---- sampling --------------------------------------------------------------------------------
def sample(mutants: list[Mutant], module: str, k: int, seed: int) -> list[Mutant]:
    if k <= 0 or len(mutants) <= k:
        return list(mutants)
    picked = random.Random(f"{seed}:{module}").sample(range(len(mutants)), k)
    return [mutants[i] for i in sorted(picked)]


# ---- running ---------------------------------------------------------------------------------
class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, path: str, code: Any) -> None:
        self.name, self.path, self.code = name, path, code

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path,
                                                      loader=_CodeLoader(self.code))


class _CodeLoader(importlib.abc.Loader):
    def __init__(self, code: Any) -> None:
        self.code = code

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        exec(self.code, module.__dict__)


class _Plugin:
    """Deselects the other engine's parametrizations; loads the ci profile without a database;
    records the first failing test and checks that the copy is what the tests import."""

    def __init__(self, other: str, report: str, copy_root: str, module: str) -> None:
        self.other, self.report, self.copy_root, self.module = other, report, copy_root, module
        self.failed: str | None = None

    def pytest_configure(self, config: Any) -> None:
        from hypothesis import settings

        settings.register_profile("mutation", parent=settings.get_profile("ci"), database=None)
        settings.load_profile("mutation")

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        keep, drop = [], []
        for it in items:
            params = getattr(getattr(it, "callspec", None), "params", {})
            other = any(params.get(p) == self.other for p in OTHER_ENGINE_PARAMS)
            (drop if other else keep).append(it)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid
            with open(self.report, "w") as f:
                f.write(report.nodeid)

    def pytest_sessionfinish(self, session: Any) -> None:
        mod = sys.modules.get(self.module)
        where = getattr(mod, "__file__", None) or ""
        pkg = sys.modules.get(self.module.rsplit(".", 1)[0])
        pkg_file = getattr(pkg, "__file__", "") or ""
        if mod is None or not where.startswith(self.copy_root) or not pkg_file.startswith(
            self.copy_root
        ):
            with open(self.report + ".notloaded", "w") as f:
                f.write(f"{self.module}: {where} / {pkg_file}")


def _child(copy_root: Path, module: str, code: Any, args: list[str], report: str,
           log: str) -> None:
    os.setpgid(0, 0)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(copy_root)
    import pytest

    engine = module.split(".")[0].removeprefix("duallearn_")
    other = "tensorflow" if engine == "torch" else "torch"
    path = str(copy_root / "backends" / (module.replace(".", "/") + ".py"))
    if code is not None:
        sys.meta_path.insert(0, _MutantFinder(module, path, code))
    # a selection may name a file that this tree does not have yet (test_mutation_kills.py)
    args = [x for x in args if not x.startswith(OWN_TEST) or _has(copy_root, x)]
    rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o",
                      "addopts=", *args],
                     plugins=[_Plugin(other, report, str(copy_root), module)])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(rc))


def _has(root: Path, nodeid: str) -> bool:
    """Whether ``path::Class`` exists in ``root`` (a class not written yet is left out)."""
    path, _, cls = nodeid.partition("::")
    f = root / path
    return f.exists() and (not cls or f"class {cls}" in f.read_text())


@dataclass
class Run:
    status: str  # killed | survived | timeout | crashed | error
    seconds: float
    killed_by: str | None
    rc: int | None


def run_one(copy_root: Path, module: str, code: Any, args: list[str], timeout: float,
            logdir: Path, tag: str) -> Any:
    """Start one forked run; returns a handle for :func:`wait_one`."""
    report = str(logdir / f"{tag}.failed")
    log = str(logdir / f"{tag}.log")
    for p in (report, report + ".notloaded"):
        if os.path.exists(p):
            os.remove(p)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            _child(copy_root, module, code, args, report, log)
        finally:
            os._exit(70)
    return pid, time.monotonic(), timeout, report, log


def poll_one(handle: Any) -> Run | None:
    pid, t0, timeout, report, log = handle
    done, status = os.waitpid(pid, os.WNOHANG)
    elapsed = time.monotonic() - t0
    if done == 0:
        if elapsed <= timeout:
            return None
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        return Run("timeout", elapsed, None, None)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 1) and os.path.exists(
        report + ".notloaded"
    ):
        raise RuntimeError(f"the tests did not import the copy: {Path(report + '.notloaded')}")
    killed_by = Path(report).read_text() if os.path.exists(report) else None
    if os.WIFSIGNALED(status):
        return Run("crashed", elapsed, killed_by, -os.WTERMSIG(status))
    rc = os.WEXITSTATUS(status)
    kind = {0: "survived", 1: "killed", 2: "killed"}.get(rc, "error")
    if rc == 2 and killed_by is None:
        killed_by = "(collection or import error)"
    return Run(kind, elapsed, killed_by, rc)


def snapshot(workdir: Path, rev: str | None) -> tuple[Path, str]:
    """Copy the working tree (tracked and untracked, not ignored), or commit ``rev`` plus this
    tool's own test file from the working tree, to ``workdir/tree``."""
    dest = workdir / "tree"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    git = ["git", "-C", str(ROOT)]
    if rev:
        archive = subprocess.run([*git, "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        files = [OWN_TEST.encode()]
    else:
        files = subprocess.run([*git, "ls-files", "-co", "--exclude-standard", "-z"],
                               check=True, capture_output=True).stdout.split(b"\0")
    for f in files:
        src = ROOT / os.fsdecode(f)
        if f and src.is_file():
            (dest / os.fsdecode(f)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(f))
    head = subprocess.run([*git, "rev-parse", "--short", rev or "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    if rev:
        return dest, head
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "backends", "src", "tests"],
                           capture_output=True, text=True).stdout.strip()
    return dest, head + ("+worktree" if dirty else "")


def _module_name(mod: str) -> str:
    engine, fam = mod.split("/")
    return f"duallearn_{engine}.{fam}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", default=MODULES,
                    help="engine/_family, e.g. torch/_losses (default: all 12)")
    ap.add_argument("--max", type=int, default=40, help="mutants per module (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    ap.add_argument("--timeout-factor", type=float, default=4.0)
    ap.add_argument("--timeout", type=float,
                    help="seconds per mutant, skipping the clean run (to rerun chosen mutants)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "mut", "run"))
    ap.add_argument("--rev", help="test this commit (plus tests/parity/test_mutation_kills.py "
                    "from the working tree) instead of the working tree")
    ap.add_argument("--reuse-copy", action="store_true",
                    help="use the copy already in --workdir instead of a fresh snapshot")
    ap.add_argument("--out", default=str(ROOT / "docs" / "mutation_results.json"))
    ap.add_argument("--list", action="store_true", help="list the (sampled) mutants and stop")
    ap.add_argument("--show", help="module:index - print that mutant's change and stop")
    ap.add_argument("--only", help="comma-separated mutant indexes to run (with one module)")
    ap.add_argument("--tests", help="run these pytest arguments instead of the module's "
                    "selection (space-separated): with --only, a survivor rerun on the tests "
                    "written for it (saved); without, a probe (printed, not saved)")
    a = ap.parse_args()
    bad = [m for m in a.modules if m not in MODULES]
    if bad:
        ap.error(f"unknown modules {bad}; choose from {MODULES}")

    if a.show:
        mod, idx = a.show.rsplit(":", 1)
        src = (ROOT / "backends" / f"duallearn_{mod}.py").read_text()
        m = enumerate_mutants(src)[int(idx)]
        print(f"{mod}.py:{m.line}:{m.col} [{m.op}]\n- {m.before}\n+ {m.after}")
        return

    workdir = Path(a.workdir)
    if a.reuse_copy and (workdir / "tree").exists():
        tree_root = workdir / "tree"
        rev = (workdir / "REV").read_text() if (workdir / "REV").exists() else "?"
    elif a.list:
        tree_root, rev = ROOT, "checkout"
    else:
        tree_root, rev = snapshot(workdir, a.rev)
        (workdir / "REV").write_text(rev)

    plan: dict[str, tuple[str, list[Mutant], int]] = {}
    for mod in a.modules:
        src = (tree_root / "backends" / f"duallearn_{mod}.py").read_text()
        every = enumerate_mutants(src)
        chosen = sample(every, mod, a.max, a.seed)
        if a.only:
            want = {int(i) for i in a.only.split(",")}
            chosen = [m for m in every if m.index in want]
        plan[mod] = (src, chosen, len(every))
        if a.list:
            print(f"== {mod}: {len(every)} mutants, {len(chosen)} sampled")
            for m in chosen:
                print(f"  #{m.index:3d} L{m.line}:{m.col} [{m.op}] {m.before!r} -> {m.after!r}")
    if a.list:
        return

    # the heavy imports, once, in the parent (no op runs here: the children fork from it)
    sys.path[:0] = [str(tree_root / "src"), str(tree_root / "backends")]
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(tree_root / "src"), str(tree_root / "backends"), os.environ.get("PYTHONPATH", "")]
    )
    os.environ.pop("CI", None)
    os.environ["HYPOTHESIS_PROFILE"] = "ci"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for heavy in ("torch", "tensorflow", "keras", "numpy", "pytest", "hypothesis"):
        importlib.import_module(heavy)  # torch before tensorflow in one process

    logdir = workdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    results = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else {}
    results.setdefault("modules", {})
    results.setdefault("dispositions", {})

    for mod, (src, chosen, total) in plan.items():
        name = _module_name(mod)
        fam = mod.split("/")[1]
        args = a.tests.split() if a.tests else SELECTIONS[fam]
        filename = str(tree_root / "backends" / f"duallearn_{mod}.py")
        tag = mod.replace("/", "_")
        t_mod = time.monotonic()
        if a.timeout:  # a rerun of chosen mutants: the timeout given, no clean run
            clean = Run("survived", a.timeout / a.timeout_factor, None, 0)
        else:
            clean_h = run_one(tree_root, name, None, args, 3600, logdir, f"{tag}-clean")
            while (clean := poll_one(clean_h)) is None:
                time.sleep(0.5)
        print(f"== {mod}: clean run {clean.status} in {clean.seconds:.0f} s "
              f"({len(chosen)} of {total} mutants)", flush=True)
        if clean.status != "survived":
            raise SystemExit(f"the clean run of {mod} fails ({clean.killed_by}); see "
                             f"{logdir / (tag + '-clean.log')}")
        timeout = a.timeout_factor * clean.seconds
        pending = list(chosen)
        running: list[tuple[Mutant, Any]] = []
        rows: list[dict[str, Any]] = []
        while pending or running:
            while pending and len(running) < a.jobs:
                m = pending.pop(0)
                code = mutated_code(src, filename, m)
                running.append((m, run_one(tree_root, name, code, args, timeout, logdir,
                                           f"{tag}-{m.index}")))
            time.sleep(0.3)
            for item in list(running):
                m, h = item
                r = poll_one(h)
                if r is None:
                    continue
                running.remove(item)
                rows.append({"index": m.index, "key": m.key, "line": m.line, "op": m.op,
                             "before": m.before, "after": m.after, "status": r.status,
                             "killed_by": r.killed_by, "seconds": round(r.seconds, 1)})
                print(f"  #{m.index:3d} L{m.line} [{m.op}] {r.status:8s} {r.seconds:5.0f} s "
                      f"{m.before!r} -> {m.after!r}  {r.killed_by or ''}", flush=True)
        rows.sort(key=lambda r: r["index"])
        if a.tests and not a.only:  # a probe of other tests: printed, not saved
            continue
        killed = sum(r["status"] in ("killed", "timeout", "crashed") for r in rows)
        entry = {
            "module": f"backends/duallearn_{mod}.py",
            "source_rev": rev,
            "run": time.strftime("%Y-%m-%d"),
            "tests": args,
            "total_mutants": total,
            "sampled": len(rows),
            "killed": killed,
            "survived": sum(r["status"] == "survived" for r in rows),
            "errors": sum(r["status"] == "error" for r in rows),
            "clean_seconds": round(clean.seconds, 1),
            "timeout_seconds": round(timeout, 1),
            "wall_seconds": round(time.monotonic() - t_mod, 1),
            "mutants": rows,
        }
        if Path(a.out).exists():  # another run may have written other modules meanwhile
            fresh = json.loads(Path(a.out).read_text())
            results["modules"] = {**fresh.get("modules", {}), **{
                k: v for k, v in results["modules"].items() if k == mod}}
            results["dispositions"] = fresh.get("dispositions", results["dispositions"])
        if a.only and mod in results["modules"]:  # a partial rerun updates rows in place
            old = results["modules"][mod]
            by_idx = {r["index"]: r for r in old["mutants"]}
            by_idx.update({r["index"]: r for r in rows})
            old["mutants"] = sorted(by_idx.values(), key=lambda r: r["index"])
            old["killed"] = sum(r["status"] in ("killed", "timeout", "crashed")
                                for r in old["mutants"])
            old["survived"] = sum(r["status"] == "survived" for r in old["mutants"])
            old["errors"] = sum(r["status"] == "error" for r in old["mutants"])
            old["sampled"] = len(old["mutants"])
        else:
            results["modules"][mod] = entry
        results["settings"] = {
            "max_per_module": a.max, "seed": a.seed, "timeout_factor": a.timeout_factor,
            "hypothesis_profile": "ci (derandomize, no database)",
            "sample_rule": "random.Random(f'{seed}:{module}').sample(range(n), max), in "
                           "enumeration order; all mutants when n <= max",
        }
        results["modules"] = dict(sorted(results["modules"].items()))
        Path(a.out).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        print(f"== {mod}: {killed}/{len(rows)} killed in {time.monotonic() - t_mod:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
