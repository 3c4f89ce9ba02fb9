"""``dl.from_torch`` on both engines: hand-written torch models give the same outputs (eval and
train mode), the same losses and weights after several ``torch.optim`` steps against our
optimizers with ``formula="torch"``, and unsupported modules fail with their place."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

from ..conftest import both

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

pytestmark = both()


# ---- the hand-written torch models --------------------------------------------------------------


class CNN(nn.Module):
    """Conv (stride 2 on an odd size: explicit padding) + BatchNorm + pool + Flatten + Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1, bias=False),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(8, momentum=0.3, eps=1e-3),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


class GRUText(nn.Module):
    """A GRU text classifier: Embedding + GRU(batch_first) + the last step's output."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.gru = nn.GRU(8, 6, batch_first=True)
        self.head = nn.Linear(6, 3)

    def forward(self, ids):
        out, _ = self.gru(self.embed(ids))
        return self.head(out[:, -1])


class LSTM2(nn.Module):
    """A 2-layer LSTM (dropout between layers); classifies from the top layer's h_n and c_n."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 7, num_layers=2, batch_first=True, dropout=0.25)
        self.head = nn.Linear(7, 3)

    def forward(self, x):
        _, (h, c) = self.lstm(x)
        return self.head(h[-1] + torch.tanh(c[-1]))


class BiLSTM(nn.Module):
    """A bidirectional 2-layer LSTM fed time-first (batch_first=False)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 4, num_layers=2, bidirectional=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.head(torch.cat([h[-2], h[-1]], dim=1))


class Residual(nn.Module):
    """A small residual net: ``+`` and ``torch.cat`` over channels, global pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.side = nn.Conv2d(3, 2, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = F.relu(self.stem(x))
        h = F.relu(self.conv(h) + h)
        y = torch.cat([h, self.side(x)], dim=1)
        return self.fc(torch.flatten(self.pool(y), 1))


class Attention(nn.Module):
    """Self-attention block: MultiheadAttention(batch_first) + residual + LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        a, _ = self.attn(x, x, x, need_weights=False)
        return self.head(self.norm(x + a).mean(dim=1))


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 3)
    )


@dataclass
class Case:
    """A torch model, its torch input, our input (channels-last / batch-first) and shape."""

    make: Callable[[], nn.Module]
    x: np.ndarray
    to_dl: Callable[[np.ndarray], np.ndarray]
    input_shape: tuple[int | None, ...] | None
    classes: int


def _floats(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _ids(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 30, shape).astype("int64")


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def same(x: np.ndarray) -> np.ndarray:
    return x


def batch_first(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(1, 0, 2))


CASES: dict[str, Case] = {
    "cnn_bn": Case(CNN, _floats(8, 3, 9, 9, seed=1), nhwc, (3, 9, 9), 5),
    "gru_text": Case(GRUText, _ids(8, 7, seed=2), same, None, 3),
    "lstm2": Case(LSTM2, _floats(8, 6, 5, seed=3), same, None, 3),
    "bilstm_time_first": Case(BiLSTM, _floats(6, 8, 5, seed=4), batch_first, (6, 5), 3),
    "residual": Case(Residual, _floats(8, 3, 6, 6, seed=5), nhwc, (3, 6, 6), 3),
    "attention": Case(Attention, _floats(8, 5, 8, seed=6), same, None, 3),
    "mlp": Case(mlp, _floats(8, 6, seed=7), same, None, 3),
}


def build(name: str, seed: int = 0) -> nn.Module:
    """The case's torch module with seeded weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    net = CASES[name].make()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return net


def torch_out(net: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


# ---- outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_eval_outputs_match_torch(backend, name):
    case = CASES[name]
    net = build(name).eval()
    model = dl.from_torch(net, case.input_shape)
    got = model.predict(case.to_dl(case.x), verbose=0)
    assert_close(
        f"{name} eval output ({backend})", got, torch_out(net, case.x), "float32", "forward"
    )


def test_names_follow_the_module_tree(backend):
    model = dl.from_torch(build("cnn_bn"), (3, 9, 9))
    names = [layer.name for layer in model.layers]
    assert names == [
        "x", "features.0", "features.1", "features.2", "features.3", "features.4@pad",
        "features.4", "features.5", "features.6", "@view@permute", "@view@flatten",
        "classifier",
    ]  # fmt: skip
    conv1, conv2 = model.get_layer("features.0"), model.get_layer("features.4")
    assert (conv1.padding, conv2.padding) == ("same", "valid")  # stride 1 'same'; stride 2 explicit
    assert model.get_layer("features.4@pad").pads == ((1, 1), (1, 1))
    bn = model.get_layer("features.5")
    assert (bn.momentum, bn.epsilon, bn.unbiased_moving_variance) == (0.7, 1e-3, True)
    gru = dl.from_torch(build("gru_text")).get_layer("gru")
    assert (gru.reset_after, gru.use_bias) == (True, True)
    lstm = dl.from_torch(build("lstm2"))
    assert [layer.name for layer in lstm.layers][1:4] == ["lstm", "lstm@dropout1", "lstm@l1"]
    assert lstm.get_layer("lstm@l1").use_recurrent_bias is True
    assert lstm.get_layer("lstm@dropout1").rate == 0.25


def test_batchnorm_train_mode_forward_and_statistics(backend):
    case = CASES["cnn_bn"]
    net = build("cnn_bn")
    model = dl.from_torch(net, case.input_shape)
    net.train()
    expected = net(torch.from_numpy(case.x)).detach().numpy()
    got = np.asarray(model(case.to_dl(case.x), training=True))
    assert_close(f"train-mode output ({backend})", got, expected, "float32", "forward")
    ours = dl.porting.torch_state_dict(model)
    for key in ("features.1.running_mean", "features.1.running_var", "features.5.running_var"):
        assert_close(f"{key} after one training call", ours[key], net.state_dict()[key].numpy(),
                     "float32", "layer")  # fmt: skip


# ---- a zoo of the other supported modules ------------------------------------------------------


class Seq1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 4, stride=2, padding=1)
        self.bn = nn.BatchNorm1d(4)
        self.act = nn.ELU(0.7)
        self.pool = nn.AvgPool1d(3, stride=1, padding=1)
        self.up = nn.ConvTranspose1d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.gn = nn.GroupNorm(3, 3)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = self.pool(self.act(self.bn(self.conv(x))))
        h = F.leaky_relu(self.gn(self.up(h)), 0.1)
        return F.softmax(self.fc(self.drop(h).transpose(1, 2)), dim=-1)


class Image(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.norm = nn.LayerNorm([4, 4, 4])
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.adapt = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        h = self.pool(F.gelu(self.conv(x), approximate="tanh"))
        h = self.norm(self.up(h))
        h = torch.sigmoid(self.grouped(h)) * h + 1.0
        h = self.adapt(h)
        return F.log_softmax(self.fc(h.reshape(h.shape[0], -1)), dim=1)


class Volume(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2, 3, 3, stride=2, padding=1)
        self.pool = nn.AvgPool3d(2)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.pool(nn.functional.silu(self.conv(x))).mean((2, 3, 4)))


class ReluRNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.rnn = nn.RNN(4, 3, num_layers=2, nonlinearity="relu", bidirectional=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, ids):
        out, _ = self.rnn(self.embed(ids))  # time-first
        return self.fc(out[-1])


class Activations(nn.Module):
    """Activation modules and functions, PReLU per channel and shared, a module used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.prelu_c = nn.PReLU(3)
        self.fc = nn.Linear(12, 12)
        self.acts = nn.Sequential(
            nn.PReLU(), nn.Hardtanh(-2.0, 2.0), nn.Softplus(), nn.ReLU6(), nn.Mish(),
            nn.Hardswish(), nn.SELU(), nn.LeakyReLU(0.05), nn.Softsign(), nn.SiLU(),
        )  # fmt: skip
        self.out = nn.Linear(12, 2)

    def forward(self, x):
        h = self.prelu_c(self.conv(x)).flatten(1)
        h = self.fc(self.acts(self.fc(h)))  # the same Linear twice: one shared layer
        return self.out(F.elu(h, 0.5) + torch.sigmoid(h) - h.tanh())


ZOO = {
    "activations_prelu_shared_module": (
        Activations,
        _floats(2, 2, 4, 4, seed=12),
        nhwc,
        (2, 4, 4),
    ),  # fmt: skip
    "conv1d_bn_avgpool_convtranspose_groupnorm": (Seq1d, _floats(3, 2, 9, seed=8), nhwc, (2, 9)),
    "conv_stride2_maxpool_pad_layernorm_groups": (
        Image,
        _floats(2, 3, 7, 7, seed=9),
        nhwc,
        (3, 7, 7),
    ),  # fmt: skip
    "conv3d_avgpool3d_mean": (Volume, _floats(2, 2, 5, 5, 5, seed=10), nhwc, (2, 5, 5, 5)),
    "relu_rnn_bidirectional_time_first": (
        ReluRNN,
        np.random.default_rng(11).integers(0, 10, (5, 3)),
        lambda x: np.ascontiguousarray(x.T),
        (5,),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_outputs_match_torch(backend, name):
    make, x, to_dl, shape = ZOO[name]
    torch.manual_seed(3)
    net = make().eval()
    model = dl.from_torch(net, shape)
    assert_close(f"{name} ({backend})", model.predict(to_dl(x), verbose=0), torch_out(net, x),
                 "float32", "forward")  # fmt: skip


# ---- training: torch.optim vs formula="torch" ---------------------------------------------------

TRAINING = [
    ("cnn_bn", "sgd"),
    ("cnn_bn", "adam"),
    ("gru_text", "sgd"),
    ("gru_text", "adam"),
    ("lstm2", "adam"),
    ("bilstm_time_first", "sgd"),
    ("residual", "sgd"),
    ("attention", "sgd"),
    ("mlp", "adam"),
]
STEPS = 6


def optimizers(kind: str, params) -> tuple[object, object]:
    """A torch.optim optimizer and ours with formula="torch", same hyperparameters."""
    if kind == "sgd":
        return (
            torch.optim.SGD(params, lr=0.05, momentum=0.9),
            dl.optimizers.SGD(0.05, momentum=0.9, formula="torch"),
        )
    return (
        torch.optim.Adam(params, lr=0.01),
        dl.optimizers.Adam(0.01, epsilon=1e-8, formula="torch"),
    )


@pytest.mark.parametrize(("name", "opt"), TRAINING)
def test_training_steps_match_torch_optim(backend, name, opt):
    case = CASES[name]
    net = build(name)
    for mod in net.modules():  # dropout draws differ between engines: compare without it
        if isinstance(mod, nn.LSTM):
            mod.dropout = 0.0
    model = dl.from_torch(net, case.input_shape)  # converted before torch trains
    ref = copy.deepcopy(net).train()
    y = np.random.default_rng(42).integers(0, case.classes, len(case.to_dl(case.x)))
    torch_opt, our_opt = optimizers(opt, ref.parameters())
    xt, yt = torch.from_numpy(case.x), torch.from_numpy(y)
    losses = []
    for _ in range(STEPS):
        torch_opt.zero_grad()
        loss = F.cross_entropy(ref(xt), yt)
        loss.backward()
        torch_opt.step()
        losses.append(loss.item())
    model.compile(our_opt, dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(case.to_dl(case.x), y, batch_size=len(y), epochs=STEPS, shuffle=False,
                     verbose=0)  # fmt: skip
    assert_close(
        f"{name}/{opt} losses ({backend})", hist.history["loss"], losses, "float32", "loss"
    )
    ours, theirs = dl.porting.torch_state_dict(model), ref.state_dict()
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        if key.endswith("num_batches_tracked"):
            continue
        assert_close(f"{name}/{opt} {key} after {STEPS} steps ({backend})", ours[key],
                     value.numpy(), "float32", "params_10")  # fmt: skip


# ---- what is refused ---------------------------------------------------------------------------


class WithShuffle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.PixelShuffle(2)
        )

    def forward(self, x):
        return self.features(x)


def test_unsupported_module_names_its_place():
    with pytest.raises(ConfigError) as info:
        dl.from_torch(WithShuffle(), (4, 6, 6))
    msg = str(info.value)
    assert msg.startswith("features.3 (nn.PixelShuffle) is not supported: supported modules are ")
    assert "nn.Conv2d" in msg and "nn.LSTM" in msg and "Fix:" in msg


class Cumulative(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return torch.cumsum(self.fc(x), 1)


class Branchy(nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


def test_unsupported_functions_options_and_sources():
    with pytest.raises(ConfigError, match=r"^cumsum \(function cumsum\) is not supported: "
                                          r"supported functions and tensor methods are .*cat"):  # fmt: skip
        dl.from_torch(Cumulative())
    pool = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, ceil_mode=True))
    with pytest.raises(ConfigError, match=r"^1 \(nn.MaxPool2d\) is not supported: "
                                          r"ceil_mode=True .*Fix: use ceil_mode=False"):  # fmt: skip
        dl.from_torch(pool, (1, 7, 7))
    emb = nn.Sequential(nn.Embedding(5, 2, padding_idx=0))
    with pytest.raises(ConfigError, match=r"^0 \(nn.Embedding\) is not supported: padding_idx=0"):
        dl.from_torch(emb)
    with pytest.raises(ConfigError, match="could not trace Branchy with torch.fx"):
        dl.from_torch(Branchy(), (3,))
    with pytest.raises(ConfigError, match="expects a torch.nn.Module. Received: dict"):
        dl.from_torch({"0.weight": torch.zeros(2, 2)})
    with pytest.raises(ConfigError, match=r"wrap it, from_torch\(torch.nn.Sequential\(module\)\)"):
        dl.from_torch(nn.Linear(2, 2))
    with pytest.raises(ConfigError, match=r"input_shape must be one shape .* Received: "):
        dl.from_torch(mlp(), input_shape="6")


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def test_tied_weights_are_refused():
    with pytest.raises(ConfigError, match=r"b.weight and a.weight are one shared parameter"):
        dl.from_torch(Tied())
