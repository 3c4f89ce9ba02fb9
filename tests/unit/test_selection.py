"""Backend selection: precedence, context-locality and errors (no framework needed)."""

import threading

import pytest

import duallearn as dl
from duallearn.errors import BackendError
from duallearn.plugin import _select


@pytest.fixture(autouse=True)
def _reset(monkeypatch):
    monkeypatch.delenv("DUALLEARN_BACKEND", raising=False)
    monkeypatch.setattr(_select, "_process", None)


def installed():
    names = dl.available_backends()
    if not names:
        pytest.skip("no backend installed")
    return names


def test_default_prefers_torch_then_tensorflow():
    names = installed()
    expected = "torch" if "torch" in names else names[0]
    assert dl.backend() == expected
    assert _select.selection()[1].startswith("default")


def test_env_then_set_backend_then_context(monkeypatch):
    names = installed()
    first, last = names[0], names[-1]
    monkeypatch.setenv("DUALLEARN_BACKEND", first)
    assert _select.selection() == (first, "DUALLEARN_BACKEND environment variable")
    dl.set_backend(last)
    assert _select.selection() == (last, "dl.set_backend()")
    with dl.use_backend(first):
        assert _select.selection() == (first, "use_backend() block")
    assert dl.backend() == last


def test_use_backend_is_context_local():
    names = installed()
    seen = {}

    def worker():
        seen["thread"] = dl.backend()

    with dl.use_backend(names[-1]):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert dl.backend() == names[-1]
    default = "torch" if "torch" in names else names[0]
    assert seen["thread"] == default


def test_unknown_backend_lists_installed():
    with pytest.raises(BackendError, match=r"Unknown backend 'jax'\. Installed backends: .*Fix"):
        dl.set_backend("jax")
    with pytest.raises(BackendError, match="must be a string"):
        dl.set_backend(3)  # type: ignore[arg-type]


def test_missing_framework_gives_pip_command(monkeypatch):
    from duallearn.plugin import _registry

    real = _registry.importlib.util.find_spec
    monkeypatch.setattr(
        _registry.importlib.util,
        "find_spec",
        lambda name: None if name == "tensorflow" else real(name),
    )
    monkeypatch.setattr(_registry, "_loaded", {})
    with pytest.raises(BackendError, match=r"needs the 'tensorflow' package.*pip install"):
        _registry.get_backend("tensorflow")
    assert "tensorflow" not in _registry.available_backends()


def test_model_keeps_its_backend():
    names = installed()
    with dl.use_backend(names[-1]):
        m = dl.Sequential([dl.layers.Input((2,)), dl.layers.Dense(1)])
    assert m.backend_name == names[-1]
    m2 = dl.Sequential([dl.layers.Input((2,)), dl.layers.Dense(1)], backend=names[0])
    assert m2.backend_name == names[0]
