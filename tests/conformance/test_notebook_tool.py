"""The notebook porting tools: ``port_source`` / ``port_file`` (``duallearn port``) and
``run_notebook_on_backends`` (``duallearn notebook``).

- each import form ports to the exact text expected; the original runs on real Keras 3 (one
  subprocess, TensorFlow backend) and the ported text runs on duallearn;
- findings name the line (and the cell), the name and the suggestion; a Keras name duallearn
  lacks is found by looking it up, checked against real Keras;
- ``.ipynb`` files go through nbformat and back with markdown, outputs and metadata kept;
- the command line's exit codes, through the real console script;
- ``duallearn notebook`` runs a Keras-style notebook and one ported from a PyTorch tutorial
  (both in examples/notebooks/) to exit 0 on both engines, and a notebook that prints
  engine-dependent numbers (tests/data/notebook_diverging.ipynb) to exit 1 naming its cell.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import BackendError, ConfigError
from duallearn.porting import port_file, port_source, run_notebook_on_backends
from duallearn.porting._notebook_run import compare_outputs, sanitize
from duallearn.testing import tolerance

from ..conftest import both

nbformat = importlib.import_module("nbformat")
importlib.import_module("nbclient")
importlib.import_module("ipykernel")

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "examples" / "notebooks"
DIVERGING = REPO / "tests" / "data" / "notebook_diverging.ipynb"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("duallearn", path=os.path.dirname(sys.executable))
    cmd = [exe] if exe else [sys.executable, "-m", "duallearn.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("DUALLEARN_BACKEND", None)
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env
    )


# ---- port_source: every import form, exact text ---------------------------------------------
# (id, Keras source, expected duallearn source, runs on real Keras, runs on duallearn)
CASES = [
    (
        "import-keras",
        "import keras\nmodel = keras.Sequential([keras.layers.Dense(2)])\n",
        "import duallearn as keras\nmodel = keras.Sequential([keras.layers.Dense(2)])\n",
        True,
        True,
    ),
    (
        "import-keras-as",
        "import keras as K  # short name\nlayer = K.layers.Dense(2)\n",
        "import duallearn as K  # short name\nlayer = K.layers.Dense(2)\n",
        True,
        True,
    ),
    (
        "from-keras-import",
        "from keras import layers, ops\nlayer = layers.Dense(2)\n",
        "from duallearn import layers, ops\nlayer = layers.Dense(2)\n",
        True,
        True,
    ),
    (
        "from-tensorflow-import-keras",
        "from tensorflow import keras\nlayer = keras.layers.Dense(2)\n",
        "import duallearn as keras\nlayer = keras.layers.Dense(2)\n",
        True,
        True,
    ),
    (
        "from-tensorflow-keras-layers",
        "from tensorflow.keras.layers import Dense, Dropout as Drop\nlayer = Dense(2)\n",
        "from duallearn.layers import Dense, Dropout as Drop\nlayer = Dense(2)\n",
        True,
        True,
    ),
    (
        "tf-keras-attributes",
        "import tensorflow as tf\n\nmodel = tf.keras.Sequential(\n"
        "    [tf.keras.Input((3,)), tf.keras.layers.Dense(2)]  # two outputs\n)\n",
        "import duallearn as dl\n\nmodel = dl.Sequential(\n"
        "    [dl.Input((3,)), dl.layers.Dense(2)]  # two outputs\n)\n",
        True,
        True,
    ),
    (
        "tf-kept-beside-duallearn",
        "import tensorflow as tf\nlayer = tf.keras.layers.Dense(2)\nx = tf.constant([1.0])\n",
        "import tensorflow as tf\nimport duallearn as dl\nlayer = dl.layers.Dense(2)\n"
        "x = tf.constant([1.0])\n",
        True,
        False,  # imports tensorflow
    ),
    (
        "import-tensorflow-keras",
        "import tensorflow.keras\nlayer = tensorflow.keras.layers.Dense(2)\n",
        "import duallearn as dl\nlayer = dl.layers.Dense(2)\n",
        True,
        True,
    ),
    (
        "keras-backend-environ",
        'import os\n\nos.environ["KERAS_BACKEND"] = "jax"\nimport keras\n',
        'import os\n\nos.environ["DUALLEARN_BACKEND"] = "torch"\nimport duallearn as keras\n',
        False,  # sets the process's environment
        False,
    ),
    (
        "keras-backend-setdefault",
        "import os\nos.environ.setdefault('KERAS_BACKEND', 'tensorflow')\n",
        "import os\nos.environ.setdefault('DUALLEARN_BACKEND', 'tensorflow')\n",
        False,
        False,
    ),
    (
        "magics-untouched",
        "%matplotlib inline\n!pip install -q keras\n%env KERAS_BACKEND=tensorflow\n"
        "import keras  # the API\nkeras.layers.Dense?\n",
        "%matplotlib inline\n!pip install -q keras\n%env DUALLEARN_BACKEND=tensorflow\n"
        "import duallearn as keras  # the API\nkeras.layers.Dense?\n",
        False,  # IPython syntax
        False,
    ),
    (
        "parenthesized-with-comments",
        "from keras.layers import (\n    Dense,  # the workhorse\n    Flatten,\n)\n",
        "from duallearn.layers import (\n    Dense,  # the workhorse\n    Flatten,\n)\n",
        True,
        True,
    ),
    (
        "submodules",
        "import keras.layers as L\nfrom keras.optimizers import schedules\n",
        "from duallearn import layers as L\nfrom duallearn.optimizers import schedules\n",
        True,
        True,
    ),
    (
        "mixed-import",
        "import numpy as np, keras\n",
        "import numpy as np, duallearn as keras\n",
        True,
        True,
    ),
    (
        "mixed-from-tensorflow",
        "from tensorflow import keras, data\n",
        "from tensorflow import data\nimport duallearn as keras\n",
        True,
        False,  # imports tensorflow
    ),
    (
        "indented",
        "def build():\n    import keras\n    return keras.layers.Dense(2)\n\nlayer = build()\n",
        "def build():\n    import duallearn as keras\n    return keras.layers.Dense(2)\n\n"
        "layer = build()\n",
        True,
        True,
    ),
    (
        "no-keras",
        "import numpy as np\nx = np.zeros(3)  # nothing to port\n",
        "import numpy as np\nx = np.zeros(3)  # nothing to port\n",
        True,
        True,
    ),
]


@pytest.mark.parametrize("source, expected", [c[1:3] for c in CASES], ids=[c[0] for c in CASES])
def test_port_source_exact_text(source, expected):
    new, findings = port_source(source)
    assert new == expected
    assert [f for f in findings if f.blocking] == [] or "tf.constant" in source
    again, _ = port_source(new)
    assert again == new  # porting twice changes nothing more


def _origin(value: object) -> str:
    if isinstance(value, types.ModuleType):
        return value.__name__
    return value.__module__ if isinstance(value, type) else type(value).__module__


def test_ported_sources_run_on_duallearn():
    for name, _, ported, _, runs in CASES:
        if not runs:
            continue
        scope: dict = {}
        exec(compile(ported, f"<{name}>", "exec"), scope)
        origins = {_origin(v) for k, v in scope.items() if k != "__builtins__"}
        assert not {o for o in origins if o.startswith(("keras", "tensorflow"))}, name
        if name != "no-keras":
            assert {o for o in origins if o.startswith("duallearn")}, (name, origins)


def _real_keras(script: str) -> dict:
    """Run ``script`` under real Keras 3 (TensorFlow backend) without duallearn; it prints JSON."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONPATH", None)
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


MISSING_CANDIDATES = ("EinsumDense", "MelSpectrogram", "STFTSpectrogram", "ConvLSTM2D")


@pytest.fixture(scope="module")
def keras_facts() -> dict:
    originals = {c[0]: c[1] for c in CASES if c[3]}
    script = textwrap.dedent(
        f"""
        import json, sys
        import keras
        originals = {originals!r}
        ran = {{}}
        for name, source in originals.items():
            exec(compile(source, name, "exec"), {{}})
            ran[name] = True
        have = [n for n in {MISSING_CANDIDATES!r} if hasattr(keras.layers, n)]
        print(json.dumps({{"ran": ran, "layers": have, "duallearn": "duallearn" in sys.modules,
                           "GradientTape": hasattr(__import__("tensorflow"), "GradientTape")}}))
        """
    )
    return _real_keras(script)


def test_originals_are_real_keras(keras_facts):
    assert keras_facts["duallearn"] is False
    assert sorted(keras_facts["ran"]) == sorted(c[0] for c in CASES if c[3])


# ---- findings ----------------------------------------------------------------------------
FINDINGS_SOURCE = """\
import tensorflow as tf
import keras
from keras import layers

dataset = tf.data.Dataset.from_tensor_slices([1.0, 2.0])
with tf.GradientTape() as tape:
    y = tf.reduce_mean(tf.constant([1.0]))
model = keras.Sequential([layers.Densse(2)])
x = tf.float32
import keras_hub
"""


def test_findings_name_line_and_suggestion():
    new, findings = port_source(FINDINGS_SOURCE)
    assert [str(f) for f in findings] == [
        "line 5: tf.data -> keep: runs only on the tensorflow engine",
        "line 6: tf.GradientTape -> dl.GradientTape",
        "line 7: tf.reduce_mean -> dl.ops.mean",
        "line 7: tf.constant -> dl.ops.convert_to_tensor",
        "line 8: layers.Densse -> not in duallearn: closest duallearn.layers.Dense",
        'line 9: tf.float32 -> "float32" (dtypes are strings in duallearn)',
        "line 10: keras_hub -> not in duallearn: keras_hub builds on Keras itself",
    ]
    assert [f.kind for f in findings] == [
        "tensorflow", "manual", "manual", "manual", "missing", "manual", "missing",
    ]  # fmt: skip
    # tf stays (tf.data and friends use it); keras is duallearn now
    assert new.splitlines()[:3] == ["import tensorflow as tf", "import duallearn as keras",
                                    "from duallearn import layers"]  # fmt: skip


def test_keras_name_duallearn_lacks_is_found(keras_facts):
    lacking = [n for n in keras_facts["layers"] if not hasattr(dl.layers, n)]
    assert lacking, (
        f"duallearn now has every one of {MISSING_CANDIDATES} (Keras has {keras_facts['layers']}): "
        "add a Keras layer that duallearn lacks to MISSING_CANDIDATES"
    )
    name = lacking[0]
    _, findings = port_source(f"import keras\nlayer = keras.layers.{name}\n")
    assert len(findings) == 1
    f = findings[0]
    assert (f.line, f.name, f.kind) == (2, f"keras.layers.{name}", "missing")
    assert f.suggestion.startswith("not in duallearn")
    assert keras_facts["GradientTape"]  # the suggestion's TensorFlow name is real


def test_private_keras_imports_stay_and_are_reported():
    source = "from keras.src.layers import Dense\nimport keras\nx = keras.src.utils.nothing_here\n"
    new, findings = port_source(source)
    assert new == source.replace("import keras\n", "import duallearn as keras\n")
    private = "not in duallearn: keras.src is Keras's private package"
    assert [str(f) for f in findings] == [
        f"line 1: keras.src.layers.Dense -> {private}; use duallearn.layers.Dense",
        f"line 3: keras.src.utils.nothing_here -> {private}; use the public name",
    ]


def test_keras_backend_jax_is_a_note_not_a_problem():
    _, findings = port_source('import os\nos.environ["KERAS_BACKEND"] = "jax"\n')
    assert [(f.line, f.kind, f.blocking) for f in findings] == [(2, "note", False)]
    assert "no 'jax' engine: 'torch' chosen" in findings[0].suggestion


def test_unparsable_source_is_left_alone_and_reported():
    source = "import keras\ndef broken(:\n"
    new, findings = port_source(source)
    assert new == source
    assert [(f.line, f.kind) for f in findings] == [(1, "unparsed")]
    assert "invalid syntax" in findings[0].suggestion


def test_port_source_rejects_bytes():
    with pytest.raises(ConfigError, match="Received: bytes"):
        port_source(b"import keras\n")


def test_porting_imports_no_framework():
    code = (
        "import sys\nfrom duallearn.porting import port_source\n"
        f"new, found = port_source({FINDINGS_SOURCE!r})\n"
        "assert len(found) == 7, found\n"
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"


# ---- .ipynb round trip ---------------------------------------------------------------------
def _keras_notebook(path: Path) -> None:
    v4 = nbformat.v4
    nb = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                  "display_name": "Python 3"}})  # fmt: skip
    nb.cells = [
        v4.new_markdown_cell("# A Keras notebook\n`import keras` stays in markdown."),
        v4.new_code_cell("%pip install -q keras\nimport keras\nfrom keras import layers"),
        v4.new_code_cell(
            "import tensorflow as tf\nds = tf.data.Dataset.range(3)\n"
            "model = tf.keras.Sequential([layers.Dense(1)])",
            outputs=[v4.new_output("stream", name="stdout", text="kept output\n")],
            execution_count=2,
        ),
        v4.new_code_cell("%%bash\necho import keras"),
        v4.new_code_cell("with tf.GradientTape() as tape:\n    pass", metadata={"tags": ["x"]}),
    ]
    nbformat.write(nb, str(path))


def test_ipynb_round_trip_through_nbformat(tmp_path):
    src, out = tmp_path / "keras.ipynb", tmp_path / "ported.ipynb"
    _keras_notebook(src)
    report = port_file(src, out=out)
    assert report.out == str(out)
    nb = nbformat.read(str(out), as_version=4)
    nbformat.validate(nb)
    before = nbformat.read(str(src), as_version=4)
    assert [c.source for c in nb.cells] == [
        "# A Keras notebook\n`import keras` stays in markdown.",
        "%pip install -q keras\nimport duallearn as keras\nfrom duallearn import layers",
        "import tensorflow as tf\nimport duallearn as dl\nds = tf.data.Dataset.range(3)\n"
        "model = dl.Sequential([layers.Dense(1)])",
        "%%bash\necho import keras",
        "with tf.GradientTape() as tape:\n    pass",
    ]
    assert nb.cells[2].outputs == before.cells[2].outputs
    assert nb.cells[2].execution_count == 2
    assert nb.cells[4].metadata == {"tags": ["x"]}
    assert [c.get("id") for c in nb.cells] == [c.get("id") for c in before.cells]
    assert nb.metadata == before.metadata
    assert [str(f) for f in report.findings] == [
        "cell 3, line 2: tf.data -> keep: runs only on the tensorflow engine",
        "cell 5, line 1: tf.GradientTape -> dl.GradientTape",
    ]
    assert [str(c) for c in report.changes] == [
        "cell 2, line 2: import keras -> import duallearn as keras",
        "cell 2, line 3: from keras import layers -> from duallearn import layers",
        "cell 3, line 1: + import duallearn as dl",
        "cell 3, line 3: model = tf.keras.Sequential([layers.Dense(1)]) -> "
        "model = dl.Sequential([layers.Dense(1)])",
    ]


def test_port_file_writes_nothing_without_out(tmp_path):
    src = tmp_path / "train.py"
    src.write_text("import keras\n")
    report = port_file(src)
    assert report.out is None and report.text == "import duallearn as keras\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert src.read_text() == "import keras\n"


def test_example_notebook_is_the_port_of_its_keras_original(tmp_path):
    """examples/notebooks/keras_iris.ipynb is what `duallearn port` makes of the same notebook
    written for Keras: with the two imports put back, porting gives it back cell for cell."""
    ported = nbformat.read(str(NOTEBOOKS / "keras_iris.ipynb"), as_version=4)
    original = nbformat.read(str(NOTEBOOKS / "keras_iris.ipynb"), as_version=4)
    cell = next(c for c in original.cells if c.cell_type == "code")
    assert cell.source == "import duallearn as keras\nfrom duallearn import layers"
    cell.source = "import keras\nfrom keras import layers"
    nbformat.write(original, str(tmp_path / "keras_iris.ipynb"))
    report = port_file(tmp_path / "keras_iris.ipynb", out=tmp_path / "ported.ipynb")
    again = nbformat.read(str(tmp_path / "ported.ipynb"), as_version=4)
    assert [c.source for c in again.cells] == [c.source for c in ported.cells]
    assert report.findings == [] and len(report.changes) == 2


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.py", None, "it is missing"),
        ("notes.txt", "import keras", "reads a .py script or a .ipynb notebook"),
        ("broken.ipynb", "{not json", "is not a readable Jupyter notebook"),
    ],
)
def test_port_file_bad_input(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        port_file(path)


def test_port_file_out_must_keep_the_kind(tmp_path):
    (tmp_path / "a.py").write_text("import keras\n")
    with pytest.raises(ConfigError, match=r"keeps the input's kind \(\.py\).*out='.*a\.ipynb'"):
        port_file(tmp_path / "a.py", out=tmp_path / "a.ipynb")


# ---- sanitizing and comparing outputs (no kernel) ---------------------------------------------
def test_sanitize_progress_bars_durations_addresses():
    raw = (
        "Epoch 1/2\n\x1b[1m1/4\x1b[0m \x1b[32m━━━━━\x1b[0m 1s 20ms/step - loss: 0.9\r"
        "\x1b[1m4/4\x1b[0m \x1b[32m━━━━━━━━━━━━━━━━━━━━\x1b[0m 0s 4ms/step - loss: 0.5123\n"
        "abc\b\bxy\n"
        "Wall time: 1.23 s, ETA 0:00:01, 9.87it/s\n"
        "<duallearn.callbacks.History object at 0x7f3a2b1c9d80> id 0x7f3a2b1c9d80\n"
        'Model: "m"  (backend: tensorflow)'
    )
    assert sanitize(raw) == (
        "Epoch 1/2\n4/4 <bar> <time> <time> - loss: 0.5123\naxy\n"
        "Wall time: <time>, ETA <time>, <rate>\n<object> id 0x<addr>\n"
        'Model: "m" (backend: <backend>)'
    )


@both()
def test_torch_and_tensorflow_tensor_reprs_compare_equal():
    import tensorflow as tf
    import torch

    values = np.array([[0.25, -1.5], [3.0, 1e-3]], dtype="float32")
    as_torch = sanitize(repr(torch.tensor(values, requires_grad=True) * 1))
    as_tf = sanitize(repr(tf.constant(values)))
    assert as_torch.startswith("tensor([[") and as_tf.startswith("tensor([[")
    assert compare_outputs(as_torch, as_tf, "forward") is None
    other = sanitize(repr(tf.constant(values + np.float32(0.01))))
    message = compare_outputs(as_torch, other, "forward")
    assert message is not None and message.startswith("line 1: 2.5000e-01 vs 0.26, off by 0.01")


def test_compare_outputs_uses_the_tolerance_table():
    tol = tolerance("params_100", "float32")
    ref = 0.5
    scale_term = tol.atol_s * ref + tol.rtol * ref  # one number on its line: scale = |ref|
    inside = f"loss {ref + 0.9 * scale_term:.10f}"
    outside = f"loss {ref + 1.1 * scale_term + 1e-10:.10f}"
    reference = f"loss {ref:.10f}"
    assert compare_outputs(reference, inside) is None
    message = compare_outputs(reference, outside)
    assert message is not None and "allowed" in message and "'params_100'" in message
    # integers must be equal; printed precision adds one unit of its last digit
    assert compare_outputs("3 of 4 right", "3 of 4 right") is None
    assert compare_outputs("3 of 4 right", "2 of 4 right").startswith("line 1: 3 vs 2")
    assert compare_outputs("acc 0.1234", "acc 0.1235") is None
    assert compare_outputs("torch", "tensorflow") == (
        "text differs at line 1: 'torch' vs 'tensorflow'"
    )


# ---- the command line ----------------------------------------------------------------------
def test_cli_port_exit_codes(tmp_path):
    clean = tmp_path / "clean.py"
    clean.write_text("import keras\nfrom keras import layers\n")
    res = cli("port", str(clean), "--check", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2 line(s) changed, 0 name(s) to port by hand" in res.stdout
    assert "line 1: import keras -> import duallearn as keras" in res.stdout

    tf_script = tmp_path / "tf_script.py"
    tf_script.write_text("import tensorflow as tf\nds = tf.data.Dataset.range(3)\n")
    res = cli("port", str(tf_script), "--check", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "line 2: tf.data -> keep: runs only on the tensorflow engine" in res.stdout
    assert cli("port", str(tf_script), cwd=tmp_path).returncode == 0  # no --check: exit 0

    out = tmp_path / "ported.py"
    res = cli("port", str(clean), "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0 and f"written: {out}" in res.stdout
    assert out.read_text() == "import duallearn as keras\nfrom duallearn import layers\n"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["port", "missing.py"], "Cannot port missing.py: it is missing"),
        (["port", "notes.txt"], "reads a .py script or a .ipynb notebook"),
        (["notebook", "missing.ipynb"], "Cannot run missing.ipynb: it is missing"),
        (["notebook", str(DIVERGING), "--backends", "jax"], "Unknown or uninstalled backend 'jax'"),
        (["notebook", str(DIVERGING), "--seed", "-1"], "seed must be a non-negative integer"),
        (["notebook", str(DIVERGING), "--out", "no_such_dir"], "is not an existing folder"),
        (["notebook", str(DIVERGING), "--seed", "x"], "invalid int value"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path, args, fragment):
    (tmp_path / "notes.txt").write_text("import keras\n")
    res = cli(*args, cwd=tmp_path)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr[-2000:])
    lines = [l for l in res.stderr.splitlines() if l.startswith("duallearn:")]
    assert len(lines) == 1 and lines[0].startswith("duallearn: error: "), res.stderr
    assert fragment in lines[0]
    assert "Traceback" not in res.stderr


def test_api_bad_arguments(tmp_path):
    with pytest.raises(BackendError, match="Installed: "):
        run_notebook_on_backends(DIVERGING, backends=("jax",), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="lists a backend twice"):
        run_notebook_on_backends(DIVERGING, backends=("torch", "torch"), out_dir=tmp_path)
    with pytest.raises(ConfigError, match="Unknown tolerance kind 'loose'"):
        run_notebook_on_backends(DIVERGING, backends=("torch",), out_dir=tmp_path, kind="loose")
    with pytest.raises(ConfigError, match="runs a .ipynb notebook"):
        run_notebook_on_backends(REPO / "README.md", out_dir=tmp_path)


# ---- running notebooks on both engines ---------------------------------------------------------
def _notebook_cli(notebook: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    res = cli("notebook", str(notebook), "--out", str(out), cwd=out)
    report = json.loads((out / f"{notebook.stem}.report.json").read_text())
    return res, report


@pytest.mark.slow
@both()
@pytest.mark.parametrize("name", ["keras_iris", "pytorch_quickstart"])
def test_example_notebooks_agree_on_both_engines(tmp_path, name):
    res, report = _notebook_cli(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr[-3000:]
    assert "all cells agree" in res.stdout
    assert report["ok"] is True and report["first_difference"] is None
    assert report["backends"] == ["torch", "tensorflow"] and report["seed"] == 0
    source = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    code = [i for i, c in enumerate(source.cells, start=1) if c.cell_type == "code"]
    assert [c["cell"] for c in report["cells"]] == code
    assert {c["status"] for c in report["cells"]} == {"same"}
    for backend in ("torch", "tensorflow"):
        run = report["runs"][backend]
        assert run["error"] is None and run["backend_used"] == backend
        executed = nbformat.read(run["executed"], as_version=4)
        assert Path(run["executed"]).name == f"{name}.{backend}.ipynb"
        assert executed.metadata["duallearn"] == {"backend": backend, "seed": 0}
        assert [c.source for c in executed.cells] == [c.source for c in source.cells]
        assert all(c.outputs for c in executed.cells if c.cell_type == "code" and
                   c.source.strip().splitlines()[-1].startswith(("print", "model.summary")))  # fmt: skip


@both()
def test_diverging_notebook_exits_1_naming_its_cell(tmp_path):
    res, report = _notebook_cli(DIVERGING, tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr[-3000:]
    assert report["ok"] is False
    first = report["first_difference"]
    assert first["cell"] == 3 and first["status"] == "differs"
    assert first["message"].startswith("stdout, torch vs tensorflow: line 1: 0.25 vs 0.5")
    assert 'first difference: cell 3 (\'print("loss"' in res.stdout
    assert [(c["cell"], c["status"]) for c in report["cells"]] == [
        (2, "same"),  # 1e-7 apart, an address and a duration: all ignored
        (3, "differs"),
        (4, "differs"),
    ]
    assert report["cells"][2]["message"] == (
        "result, torch vs tensorflow: text differs at line 1: \"'torch'\" vs \"'tensorflow'\""
    )
    text = (tmp_path / "notebook_diverging.report.txt").read_text()
    assert "notebook: FAILED" in text


def _write(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


@both()
def test_a_cell_raising_on_one_engine_stops_that_run(tmp_path):
    path = _write(
        tmp_path / "raises.ipynb",
        "import duallearn as dl\nprint(1)",
        'if dl.backend() == "tensorflow":\n    raise ValueError("only here")',
        "print(2)",
    )
    report = run_notebook_on_backends(path, out_dir=tmp_path, seed=3)
    assert not report.ok
    assert [(c.cell, c.status) for c in report.cells] == [(1, "same"), (2, "error"),
                                                         (3, "not run")]  # fmt: skip
    assert report.cells[1].message == "tensorflow: ValueError: only here"
    assert report.runs["torch"]["error"] is None
    assert report.first_difference is report.cells[1]


@both()
def test_a_notebook_choosing_its_own_backend_is_reported(tmp_path):
    path = _write(tmp_path / "pins.ipynb", 'import duallearn as dl\ndl.set_backend("torch")')
    report = run_notebook_on_backends(path, out_dir=tmp_path)
    assert not report.ok and report.first_difference is None
    assert len(report.problems) == 1
    assert report.problems[0].startswith("tensorflow: the notebook switched the backend to 'torch'")


@both()
def test_seed_reaches_every_random_source(tmp_path):
    path = _write(
        tmp_path / "seeded.ipynb",
        "import os, random\nimport numpy as np\nfrom duallearn import _seed\n"
        "print(random.random(), np.random.rand(), _seed.get_random_seed(),"
        " os.environ['PYTHONHASHSEED'])",
    )
    report = run_notebook_on_backends(path, out_dir=tmp_path, seed=7)
    assert report.ok, report.text()
    executed = nbformat.read(report.runs["torch"]["executed"], as_version=4)
    printed = executed.cells[0].outputs[0]["text"].split()
    import random

    expected = [random.Random(7).random(), np.random.RandomState(7).rand()]
    assert printed == [repr(v) for v in expected] + ["7", "7"]


def test_the_backend_check_reads_a_print_split_across_stream_messages():
    """A loaded machine delivered the check cell's print as two messages ("marker", then
    " torch"): the tool read '' and failed the run (seen in CI)."""
    from duallearn.porting._notebook_run import _CHECK, _backend_printed

    def stream(text):
        return {"output_type": "stream", "name": "stdout", "text": text}

    assert _backend_printed([stream(f"{_CHECK} torch\n")]) == "torch"
    assert _backend_printed([stream(_CHECK), stream(" tensorflow"), stream("\n")]) == "tensorflow"
    assert _backend_printed([stream("other\n")]) is None
