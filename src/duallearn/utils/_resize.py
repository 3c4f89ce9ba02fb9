"""``tf.image.resize``'s formulas in numpy (float32), for the dataset builders.

``bilinear`` and ``nearest`` use half-pixel centres without antialiasing (TF 2's
``tf.image.resize`` defaults); ``bicubic`` is TF's Keys cubic (``a = -0.5``) with its
1024-entry weight table and out-of-range weights dropped and renormalised.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

SUPPORTED = ("bilinear", "nearest", "bicubic")
KERAS_METHODS = (
    "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic",
)  # fmt: skip
_TABLE = 1024


def check_method(interpolation: str) -> str:
    method = str(interpolation).lower()
    if method not in SUPPORTED:
        extra = (
            f" ({method!r} is a Keras method duallearn does not compute yet)"
            if method in KERAS_METHODS
            else ""
        )
        raise ConfigError(
            f"interpolation must be one of {SUPPORTED}{extra}. Received: "
            f"interpolation={interpolation!r}. Fix: pass 'bilinear' (the default) or 'nearest'."
        )
    return method


def _scale(n_in: int, n_out: int) -> np.float32:
    return np.float32(n_in) / np.float32(n_out)


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    pos = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * _scale(n_in, n_out)
    return np.clip(np.floor(pos).astype(np.int64), 0, n_in - 1)


def _linear(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * _scale(n_in, n_out)
    pos = pos - np.float32(0.5)
    floor = np.floor(pos)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(pos).astype(np.int64), n_in - 1)
    return lower, upper, (pos - floor).astype(np.float32)


def _cubic_table() -> np.ndarray:
    a = np.float32(-0.5)
    table = np.empty((_TABLE + 1) * 2, dtype=np.float32)
    for i in range(_TABLE + 1):
        x = np.float32(i) / np.float32(_TABLE)
        table[i * 2] = ((a + 2) * x - (a + 3)) * x * x + 1
        x = x + np.float32(1.0)
        table[i * 2 + 1] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return table


def _cubic(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    table = _cubic_table()
    idx = np.empty((n_out, 4), dtype=np.int64)
    w = np.empty((n_out, 4), dtype=np.float32)
    scale = _scale(n_in, n_out)
    for o in range(n_out):
        pos = (np.float32(o) + np.float32(0.5)) * scale - np.float32(0.5)
        loc = int(np.floor(pos))
        off = int(np.rint((pos - np.float32(loc)) * np.float32(_TABLE)))
        raw = (table[off * 2 + 1], table[off * 2], table[(_TABLE - off) * 2],
               table[(_TABLE - off) * 2 + 1])  # fmt: skip
        for k in range(4):
            want = loc - 1 + k
            got = min(max(want, 0), n_in - 1)
            idx[o, k] = got
            w[o, k] = raw[k] if got == want else np.float32(0.0)
        total = w[o].sum(dtype=np.float32)
        if abs(total) >= 1000.0 * np.finfo(np.float32).tiny:
            w[o] = w[o] * (np.float32(1.0) / total)
    return idx, w


def resize(x: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize a ``(h, w, c)`` image to ``size = (height, width)``: float32 out."""
    x = np.asarray(x, dtype=np.float32)
    h, w = x.shape[:2]
    th, tw = int(size[0]), int(size[1])
    if method == "nearest":
        return x[_nearest_index(h, th)][:, _nearest_index(w, tw)]
    if method == "bilinear":
        yl, yu, yf = _linear(h, th)
        xl, xu, xf = _linear(w, tw)
        xf = xf[None, :, None]
        top_left, top_right = x[yl][:, xl], x[yl][:, xu]
        bottom_left, bottom_right = x[yu][:, xl], x[yu][:, xu]
        top = top_left + (top_right - top_left) * xf
        bottom = bottom_left + (bottom_right - bottom_left) * xf
        return (top + (bottom - top) * yf[:, None, None]).astype(np.float32)
    yi, yw = _cubic(h, th)
    xi, xw = _cubic(w, tw)
    cols = (x[:, xi] * xw[None, :, :, None]).sum(axis=2, dtype=np.float32)  # (h, tw, c)
    out = (cols[yi] * yw[:, :, None, None]).sum(axis=1, dtype=np.float32)  # (th, tw, c)
    return out.astype(np.float32)


def crop_to_aspect_ratio(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Keras's ``smart_resize`` centre crop to the target aspect ratio (before resizing)."""
    height, width = x.shape[:2]
    th, tw = size
    crop_h = max(min(height, int(float(width * th) / tw)), 1)
    crop_w = max(min(width, int(float(height * tw) / th)), 1)
    h0, w0 = int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)
    return x[h0 : h0 + crop_h, w0 : w0 + crop_w]


def resize_with_pad(x: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """``tf.image.resize_with_pad``: fit inside ``size`` keeping the ratio, pad with zeros."""
    height, width = (np.float32(v) for v in x.shape[:2])
    th, tw = int(size[0]), int(size[1])
    ratio = max(width / np.float32(tw), height / np.float32(th))
    rh_f, rw_f = height / ratio, width / ratio
    rh, rw = int(rh_f), int(rw_f)
    ph = max(0, int(np.floor((np.float32(th) - rh_f) / np.float32(2))))
    pw = max(0, int(np.floor((np.float32(tw) - rw_f) / np.float32(2))))
    resized = resize(x, (rh, rw), method)
    out = np.zeros((th, tw, x.shape[2]), dtype=np.float32)
    out[ph : ph + rh, pw : pw + rw] = resized
    return out
