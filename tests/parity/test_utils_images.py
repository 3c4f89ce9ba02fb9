"""load_img / img_to_array / array_to_img / save_img against real Keras 3 (Pillow both sides)."""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError

keras = importlib.import_module("keras")
Image = importlib.import_module("PIL.Image")


def _same(ours: object, theirs: object) -> None:
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    out = {}
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    for ext in ("png", "jpg", "bmp", "gif"):
        p = tmp_path / f"rgb.{ext}"
        Image.fromarray(rgb).save(p)
        out[ext] = p
    p = tmp_path / "rgba.png"
    Image.fromarray(rng.integers(0, 256, (9, 11, 4), dtype=np.uint8), "RGBA").save(p)
    out["rgba"] = p
    p = tmp_path / "gray.png"
    Image.fromarray(rng.integers(0, 256, (10, 6), dtype=np.uint8), "L").save(p)
    out["gray"] = p
    p = tmp_path / "gray16.png"
    Image.fromarray(rng.integers(0, 65535, (5, 4), dtype=np.uint16)).save(p)
    out["gray16"] = p
    return out


@pytest.mark.parametrize("name", ["png", "jpg", "bmp", "gif", "rgba", "gray", "gray16"])
@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
@pytest.mark.parametrize(
    ("target_size", "interpolation", "keep"),
    [
        (None, "nearest", False),
        ((8, 12), "nearest", False),
        ((20, 7), "bilinear", False),
        ((6, 6), "bicubic", True),
        ((5, 9), "lanczos", True),
        ((4, 4), "box", False),
        ((7, 3), "hamming", True),
    ],
)
def test_load_img_and_img_to_array_match_keras(
    images: dict[str, Path], name: str, color_mode: str, target_size, interpolation, keep
) -> None:
    kw = dict(
        color_mode=color_mode, target_size=target_size, interpolation=interpolation,
        keep_aspect_ratio=keep,
    )  # fmt: skip
    ours = dl.utils.load_img(images[name], **kw)
    theirs = keras.utils.load_img(images[name], **kw)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    _same(dl.utils.img_to_array(ours), keras.utils.img_to_array(theirs))
    for fmt in ("channels_first", "channels_last"):
        _same(
            dl.utils.img_to_array(ours, data_format=fmt, dtype="uint8"),
            keras.utils.img_to_array(theirs, data_format=fmt, dtype="uint8"),
        )


def test_load_img_from_str_bytes_and_bytesio(images: dict[str, Path]) -> None:
    want = np.asarray(keras.utils.load_img(images["png"]))
    _same(dl.utils.load_img(str(images["png"])), want)
    _same(dl.utils.load_img(str(images["png"]).encode()), want)
    _same(dl.utils.load_img(io.BytesIO(images["png"].read_bytes())), want)


@pytest.mark.parametrize(
    "shape",
    [(6, 5, 3), (6, 5, 4), (6, 5, 1), (3, 6, 5)],
)
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("big", [False, True])
def test_array_to_img_matches_keras(shape, scale: bool, big: bool) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 300 if big else 200, shape).astype("float32")
    fmt = "channels_first" if shape[0] == 3 and shape[2] == 5 else "channels_last"
    ours = dl.utils.array_to_img(x, data_format=fmt, scale=scale)
    theirs = keras.utils.array_to_img(x, data_format=fmt, scale=scale)
    assert ours.mode == theirs.mode
    _same(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("ext", ["png", "jpg", "bmp"])
def test_save_img_matches_keras(tmp_path: Path, ext: str) -> None:
    x = np.random.default_rng(2).uniform(0, 255, (8, 10, 3))
    dl.utils.save_img(tmp_path / f"ours.{ext}", x)
    keras.utils.save_img(tmp_path / f"theirs.{ext}", x)
    _same(
        np.asarray(Image.open(tmp_path / f"ours.{ext}")),
        np.asarray(Image.open(tmp_path / f"theirs.{ext}")),
    )
    buf = io.BytesIO()
    dl.utils.save_img(buf, x, file_format="png", scale=False)
    _same(np.asarray(Image.open(buf)), x.astype("uint8"))


def test_save_rgba_as_jpeg_warns_and_drops_alpha(tmp_path: Path) -> None:
    x = np.full((4, 4, 4), 200.0)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        dl.utils.save_img(tmp_path / "a.jpg", x, scale=False)
    assert Image.open(tmp_path / "a.jpg").mode == "RGB"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: dl.utils.load_img(p, color_mode="cmyk"), "color_mode must be one of"),
        (
            lambda p: dl.utils.load_img(p, target_size=(3, 3), interpolation="area"),
            "interpolation must be",
        ),
        (lambda p: dl.utils.load_img(123), "expects a file path"),
        (
            lambda p: dl.utils.array_to_img(np.zeros((4, 4))),
            "rank 3.*Received an array of shape \\(4, 4\\)",
        ),
        (lambda p: dl.utils.array_to_img(np.zeros((4, 4, 2))), "1, 3 or 4 channels. Received 2"),
        (lambda p: dl.utils.img_to_array(np.zeros((2, 2, 2, 2))), "2 or 3 dimensions"),
        (
            lambda p: dl.utils.img_to_array(np.zeros((2, 2)), data_format="NHWC"),
            "data_format must be",
        ),
    ],
)
def test_bad_inputs(images: dict[str, Path], call, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call(images["png"])
