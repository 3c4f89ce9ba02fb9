"""``to_torch`` / ``torch_state_dict`` / ``load_torch_weights`` on both engines: a model from
``from_torch`` goes back into the original class with ``load_state_dict(strict=True)`` and
computes the same outputs (before and after training in duallearn); ordinary duallearn models
become torch modules that compute and train as duallearn does; checkpoints load from a dict, a
``.pt`` file and a ``.safetensors`` file, and bad ones are refused with the keys listed."""

from __future__ import annotations

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import SerializationError
from duallearn.testing import assert_close

from ..conftest import both
from .test_from_torch import CASES, ZOO, build, torch_out

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

pytestmark = both()


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_loads_strictly_into_the_original_class(backend, name):
    case = CASES[name]
    net = build(name).eval()
    model = dl.from_torch(net, case.input_shape)
    ported = model.to_torch().eval()
    fresh = build(name, seed=99).eval()  # other weights until loaded
    fresh.load_state_dict(ported.state_dict(), strict=True)
    expected = torch_out(net, case.x)
    assert_close(f"{name}: original class with the ported state_dict ({backend})",
                 torch_out(fresh, case.x), expected, "float32", "forward")  # fmt: skip
    assert_close(f"{name}: to_torch module ({backend})", torch_out(ported, case.x), expected,
                 "float32", "forward")  # fmt: skip
    for key, value in net.state_dict().items():
        assert fresh.state_dict()[key].shape == value.shape, key


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_round_trip(backend, name):
    make, x, _, shape = ZOO[name]
    torch.manual_seed(3)
    net = make().eval()
    ported = dl.from_torch(net, shape).to_torch().eval()
    torch.manual_seed(4)
    fresh = make().eval()
    fresh.load_state_dict(ported.state_dict(), strict=True)
    expected = torch_out(net, x)
    assert_close(f"{name}: original class, ported state_dict ({backend})", torch_out(fresh, x),
                 expected, "float32", "forward")  # fmt: skip
    assert_close(f"{name}: to_torch module ({backend})", torch_out(ported, x), expected,
                 "float32", "forward")  # fmt: skip


def test_to_torch_module_deep_copies_and_pickles(backend, tmp_path):
    import copy

    case = CASES["lstm2"]
    ported = dl.from_torch(build("lstm2"), case.input_shape).to_torch().eval()
    expected = torch_out(ported, case.x)
    torch.save(ported, tmp_path / "whole.pt")
    loaded = torch.load(tmp_path / "whole.pt", weights_only=False).eval()
    assert type(loaded).__name__ == "TorchGraphModule"
    for label, other in (("pickled", loaded), ("deep copy", copy.deepcopy(ported))):
        assert_close(f"{label} module ({backend})", torch_out(other, case.x), expected,
                     "float32", "forward")  # fmt: skip


@pytest.mark.parametrize("name", ["cnn_bn", "gru_text", "bilstm_time_first"])
def test_weights_trained_in_duallearn_go_back_to_torch(backend, name):
    case = CASES[name]
    model = dl.from_torch(build(name), case.input_shape)
    xs = case.to_dl(case.x)
    y = np.random.default_rng(5).integers(0, case.classes, len(xs))
    model.compile(dl.optimizers.SGD(0.1, momentum=0.9, formula="torch"),
                  dl.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    model.fit(xs, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    fresh = build(name, seed=7).eval()
    fresh.load_state_dict(dl.porting.to_torch(model).state_dict(), strict=True)
    assert_close(f"{name}: trained in duallearn, run in torch ({backend})",
                 torch_out(fresh, case.x), model.predict(xs, verbose=0), "float32", "forward")  # fmt: skip


def keras_style_model(kind: str) -> dl.Model:
    """Ordinary duallearn models (Keras defaults: 'same' at stride 2, biased BatchNorm
    variance, one LSTM bias, GRU reset_after)."""
    L = dl.layers
    if kind == "sequence":
        return dl.Sequential(
            [L.Input((5, 3)), L.LSTM(4, return_sequences=True), L.Bidirectional(L.GRU(3)),
             L.Dense(3)],
            name="sequence",
        )  # fmt: skip
    x = L.Input((7, 7, 3))
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(x)
    h = L.BatchNormalization(momentum=0.8)(h)
    h = L.MaxPooling2D(2, padding="same")(h)
    h = L.AveragePooling2D(3, strides=1, padding="same")(h)
    h = L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh")(h)
    h = L.ZeroPadding2D(((1, 0), (0, 1)))(h)
    out = L.Dense(3)(L.Flatten()(h))
    return dl.Model(x, out, name="image")


def _data(model: dl.Model, seed: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (6, *model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype("float32"), rng.integers(0, 3, 6)


@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_keras_style_model_computes_and_trains_the_same_in_torch(backend, kind):
    model = keras_style_model(kind)
    model.set_weights([w + 0.05 for w in model.get_weights()])
    x, y = _data(model, 3)
    ported = dl.porting.to_torch(model)
    xt = torch.from_numpy(np.moveaxis(x, -1, 1).copy() if kind == "image" else x)
    ported.eval()
    assert_close(f"{kind}: to_torch eval ({backend})", torch_out(ported, xt.numpy()),
                 model.predict(x, verbose=0), "float32", "forward")  # fmt: skip
    frozen = [n for n, p in ported.named_parameters() if not p.requires_grad]
    if kind == "sequence":
        assert frozen == ["lstm.bias_hh_l0"]  # Keras's LSTM has one bias
    ported.train()
    opt = torch.optim.SGD(ported.parameters(), lr=0.05, momentum=0.9)
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(ported(xt), torch.from_numpy(y)).backward()
        opt.step()
    model.compile(dl.optimizers.SGD(0.05, momentum=0.9, formula="torch"),
                  dl.losses.SparseCategoricalCrossentropy(from_logits=True))  # fmt: skip
    model.fit(x, y, batch_size=6, epochs=5, shuffle=False, verbose=0)
    ours = dl.porting.torch_state_dict(model)
    for key, value in ported.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert_close(f"{kind}: {key} after 5 steps ({backend})", value.numpy(), ours[key],
                         "float32", "params_10")  # fmt: skip


# ---- checkpoints -------------------------------------------------------------------------------


def _fresh_model(name: str) -> dl.Model:
    return dl.from_torch(build(name, seed=123), CASES[name].input_shape)


@pytest.mark.parametrize("source", ["tensors", "arrays", "module", "pt", "safetensors"])
def test_load_torch_weights_from_each_source(backend, source, tmp_path):
    name = "cnn_bn"
    net = build(name).eval()
    sd = net.state_dict()
    if source == "tensors":
        src = sd
    elif source == "arrays":
        src = {k: v.numpy() for k, v in sd.items()}
    elif source == "module":
        src = net
    elif source == "pt":
        src = str(tmp_path / "weights.pt")
        torch.save(sd, src)
    else:
        from safetensors.torch import save_file

        src = tmp_path / "weights.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(src))
    model = _fresh_model(name)
    dl.porting.load_torch_weights(model, src)
    case = CASES[name]
    assert_close(f"loaded from {source} ({backend})", model.predict(case.to_dl(case.x), verbose=0),
                 torch_out(net, case.x), "float32", "forward")  # fmt: skip
    back = dl.porting.torch_state_dict(model)
    for key, value in sd.items():
        np.testing.assert_array_equal(back[key], value.numpy(), err_msg=key)


def test_bad_checkpoints_list_every_problem_and_change_nothing(backend, tmp_path):
    model = _fresh_model("mlp")
    before = [w.copy() for w in model.get_weights()]
    sd = {k: v.numpy() for k, v in build("mlp").state_dict().items()}
    bad = dict(sd)
    del bad["2.bias"]
    bad["extra.weight"] = np.zeros(3, "float32")
    bad["4.weight"] = np.zeros((3, 15), "float32")
    with pytest.raises(SerializationError) as info:
        dl.porting.load_torch_weights(model, bad)
    msg = str(info.value)
    assert "missing keys: 2.bias" in msg
    assert "unexpected keys: extra.weight" in msg
    assert "mis-shaped keys: 4.weight: expected (3, 16), received (3, 15)" in msg
    assert "Fix:" in msg
    for w, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)
    nested = tmp_path / "nested.pt"
    torch.save({"state_dict": build("mlp").state_dict()}, str(nested))
    with pytest.raises(
        SerializationError, match=r"torch.load\(path, weights_only=True\)\['state_dict'\]"
    ):
        dl.porting.load_torch_weights(model, nested)
    pickled = tmp_path / "pickled.pt"
    torch.save({"0.weight": torch.zeros(16, 6), "obj": _Opaque()}, str(pickled))
    with pytest.raises(
        SerializationError,
        match=r"only tensors .* no pickled code is run \(it holds \S*_Opaque, which is not a tensor\)",
    ):
        dl.porting.load_torch_weights(model, pickled)
    with pytest.raises(SerializationError, match="Unknown PyTorch checkpoint type"):
        dl.porting.load_torch_weights(model, __file__)
    with pytest.raises(SerializationError, match="expects a state_dict"):
        dl.porting.load_torch_weights(model, [1, 2])


class _Opaque:
    """A pickled object that weights_only loading refuses."""


def test_state_dict_names_and_layouts_of_a_keras_style_model(backend):
    model = keras_style_model("sequence")
    sd = dl.porting.torch_state_dict(model)
    assert list(sd) == [
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
        "bidirectional.weight_ih_l0", "bidirectional.weight_hh_l0", "bidirectional.bias_ih_l0",
        "bidirectional.bias_hh_l0", "bidirectional.weight_ih_l0_reverse",
        "bidirectional.weight_hh_l0_reverse", "bidirectional.bias_ih_l0_reverse",
        "bidirectional.bias_hh_l0_reverse", "dense.weight", "dense.bias",
    ]  # fmt: skip
    lstm = model.get_layer("lstm")
    np.testing.assert_array_equal(sd["lstm.weight_ih_l0"], lstm.get_weights()[0].T)
    np.testing.assert_array_equal(sd["lstm.bias_hh_l0"], np.zeros(16, "float32"))
    gru = model.get_layer("bidirectional").forward_layer
    kernel, _, bias = gru.get_weights()
    h = 3  # torch r|z|n = Keras blocks 1, 0, 2
    np.testing.assert_array_equal(sd["bidirectional.weight_ih_l0"][:h], kernel[:, h : 2 * h].T)
    np.testing.assert_array_equal(sd["bidirectional.bias_hh_l0"][h : 2 * h], bias[1][:h])
