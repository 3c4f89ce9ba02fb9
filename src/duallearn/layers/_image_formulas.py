"""The image formulas of the preprocessing layers, written once over an ops namespace ``o``
(``dl.ops`` names: a backend's ops module, or the numpy reference's).

Everything here computes what TensorFlow's kernels compute (Keras 3's oracle on its default
backend), with the same float32 operations in the same order:

* :func:`resize`: ``tf.image.resize`` (``antialias=False``), half-pixel centres. Bilinear:
  ``src = (i + 0.5)·(in/out) − 0.5``, ``lo = max(⌊src⌋, 0)``, ``hi = min(⌈src⌉, in − 1)``,
  ``t = src − ⌊src⌋``; each row ``top = a + (b − a)·t_x``, then ``top + (bottom − top)·t_y``.
  Nearest: ``src = min(⌊(i + 0.5)·(in/out)⌋, in − 1)``.
* :func:`affine_transform`: ``keras.ops.image.affine_transform`` (TensorFlow's
  ``ImageProjectiveTransformV3``): output pixel ``(x, y)`` reads input point
  ``(a0·x + a1·y + a2, b0·x + b1·y + b2)``, mapped into the image by ``fill_mode``
  (reflect ``dcba|abcd|dcba``, wrap ``abcd|abcd|abcd``, nearest ``aaaa|abcd|dddd``,
  constant ``kkkk|abcd|kkkk``), then read by ``interpolation`` (bilinear over the four
  neighbours, or nearest with round-half-away-from-zero); a neighbour outside the image
  reads ``fill_value``.
* :func:`aspect_crop_box`: the largest centred window of the target aspect ratio
  (Keras's ``smart_resize`` / ``crop_to_aspect_ratio``).

Index arithmetic on the static height and width is done on the host (numpy float32), so the
native graph only gathers and interpolates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_F32 = np.float32


def _axis_weights(in_size: int, out_size: int, nearest: bool) -> tuple[Any, Any, Any]:
    """TensorFlow's per-axis ``(lower, upper, lerp)`` for a half-pixel resize (float32)."""
    scale = _F32(in_size) / _F32(out_size)
    pos = np.arange(out_size, dtype=_F32)
    if nearest:
        src = np.floor((pos + _F32(0.5)) * scale).astype(np.int64)
        idx = np.clip(src, 0, in_size - 1)
        return idx, idx, None
    src = (pos + _F32(0.5)) * scale - _F32(0.5)
    floor = np.floor(src)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(src).astype(np.int64), in_size - 1)
    return lower, upper, (src - floor).astype(_F32)


def resize(o: Any, x: Any, height: int, width: int, interpolation: str) -> Any:
    """``x`` (B, H, W, C) resized to (B, height, width, C); H and W static."""
    _, in_h, in_w, _ = o.shape(x)
    if (in_h, in_w) == (height, width):
        return x
    nearest = interpolation == "nearest"
    y_lo, y_hi, y_t = _axis_weights(int(in_h), height, nearest)
    x_lo, x_hi, x_t = _axis_weights(int(in_w), width, nearest)
    if nearest:
        rows = o.take(x, o.convert_to_tensor(y_lo.astype(np.int32)), axis=1)
        return o.take(rows, o.convert_to_tensor(x_lo.astype(np.int32)), axis=2)
    dt = o.dtype(x)
    tx = o.cast(o.convert_to_tensor(x_t.reshape(1, 1, width, 1)), dt)
    ty = o.cast(o.convert_to_tensor(y_t.reshape(1, height, 1, 1)), dt)
    xl = o.convert_to_tensor(x_lo.astype(np.int32))
    xh = o.convert_to_tensor(x_hi.astype(np.int32))

    def across(rows: Any) -> Any:
        left, right = o.take(rows, xl, axis=2), o.take(rows, xh, axis=2)
        return left + (right - left) * tx

    top = across(o.take(x, o.convert_to_tensor(y_lo.astype(np.int32)), axis=1))
    bottom = across(o.take(x, o.convert_to_tensor(y_hi.astype(np.int32)), axis=1))
    return top + (bottom - top) * ty


def aspect_crop_box(h: int, w: int, target_h: int, target_w: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the largest centred window of aspect
    ``target_w / target_h`` in an ``h × w`` image (Keras's ``smart_resize`` rule)."""
    crop_h = max(min(h, int(float(w * target_h) / target_w)), 1)
    crop_w = max(min(w, int(float(h * target_w) / target_h)), 1)
    return int(float(h - crop_h) / 2), int(float(w - crop_w) / 2), crop_h, crop_w


def smart_resize(o: Any, x: Any, height: int, width: int, interpolation: str = "bilinear") -> Any:
    """Crop the largest centred window of the target aspect ratio, then resize (Keras's
    ``keras.preprocessing.image.smart_resize``)."""
    _, h, w, _ = o.shape(x)
    top, left, ch, cw = aspect_crop_box(int(h), int(w), height, width)
    return resize(o, x[:, top : top + ch, left : left + cw, :], height, width, interpolation)


def pad_to_aspect(o: Any, x: Any, height: int, width: int, fill_value: float) -> Any:
    """Keras's ``pad_to_aspect_ratio``: ``fill_value`` bands of equal size on both sides of
    the short axis, ``⌊(padded − size)/2⌋`` each."""
    _, h, w, c = (int(d) if not _is_dynamic(d) else d for d in o.shape(x))
    pad_h = max(h, int(_F32(w * height) / _F32(width)))
    pad_w = max(w, int(_F32(h * width) / _F32(height)))
    top, left = int(_F32(pad_h - h) / 2), int(_F32(pad_w - w) / 2)
    pads = [[0, 0], [top, top], [left, left], [0, 0]]
    if top == 0 and left == 0:
        return x
    return o.pad(x, pads, mode="constant", constant_values=float(fill_value))


def _is_dynamic(d: Any) -> bool:
    return not isinstance(d, (int, np.integer))


def exact_mean(o: Any, x: Any, axis: int) -> Any:
    """The mean over static ``axis`` (kept, size 1) by a fixed pairwise tree of
    elementwise additions, then one division: the same float operations in the same order
    on every backend, so the result is bit-identical across them (a native reduction's
    order is the framework's own)."""
    n = total = int(o.shape(x)[axis])
    rank = len(o.shape(x))

    def part(start: int, stop: int) -> Any:
        key = tuple(slice(start, stop) if d == axis else slice(None) for d in range(rank))
        return x[key]

    while n > 1:
        half = n // 2
        summed = part(0, half) + part(half, 2 * half)
        if n % 2:
            summed = o.concatenate([summed, part(2 * half, n)], axis=axis)
        x, n = summed, half + n % 2
    return x / float(total)


# ---- affine transform -------------------------------------------------------------------------
def _fill_coordinate(o: Any, c: Any, size: int, mode: str) -> Any:
    """Map a float32 coordinate into ``[0, size − 1]`` by ``fill_mode`` (TensorFlow's
    ``MapCoordinate`` functors); ``constant`` leaves it (reads outside give the fill)."""
    last = float(size - 1)
    if mode == "constant":
        return c
    if mode == "nearest" or size <= 1:
        return o.clip(c, 0.0, last)
    if mode == "reflect":
        sz2 = float(2 * size)
        neg = o.floor(-c / sz2) * sz2 + c
        neg = o.where(neg < -float(size), neg + sz2, -neg - 1.0)
        pos = c - o.floor(c / sz2) * sz2
        pos = o.where(pos >= float(size), sz2 - pos - 1.0, pos)
    else:  # wrap
        sz = last
        neg = c + float(size) * (o.floor(-c / sz) + 1.0)
        pos = c - float(size) * o.floor(c / sz)
    out = o.where(c < 0.0, neg, o.where(c > last, pos, c))
    return o.clip(out, 0.0, last)


def affine_transform(
    o: Any,
    x: Any,
    transform: Any,
    interpolation: str = "bilinear",
    fill_mode: str = "constant",
    fill_value: float = 0.0,
) -> Any:
    """``x`` (B, H, W, C) resampled by the (B, 8) float32 ``transform`` rows
    ``[a0, a1, a2, b0, b1, b2, c0, c1]`` (``c0 = c1 = 0``: affine), Keras's
    ``ops.image.affine_transform`` on TensorFlow."""
    _, h, w, c = o.shape(x)
    h, w, c = int(h), int(w), int(c)
    dt = o.dtype(x)
    xs = o.reshape(o.arange(w, dtype="float32"), (1, 1, w))
    ys = o.reshape(o.arange(h, dtype="float32"), (1, h, 1))

    def coef(i: int) -> Any:
        return o.reshape(transform[:, i], (-1, 1, 1))

    src_x = coef(0) * xs + coef(1) * ys + coef(2)
    src_y = coef(3) * xs + coef(4) * ys + coef(5)
    src_x = _fill_coordinate(o, src_x, w, fill_mode)
    src_y = _fill_coordinate(o, src_y, h, fill_mode)
    flat = o.reshape(x, (-1, h * w, c))
    fill = o.cast(o.convert_to_tensor(np.asarray(fill_value, np.float64)), dt)

    def read(yi: Any, xi: Any) -> Any:
        inside = (yi >= 0.0) & (yi <= float(h - 1)) & (xi >= 0.0) & (xi <= float(w - 1))
        idx = o.clip(yi, 0.0, float(h - 1)) * float(w) + o.clip(xi, 0.0, float(w - 1))
        idx = o.reshape(o.cast(idx, "int32"), (-1, h * w, 1))
        vals = o.reshape(o.take_along_axis(flat, idx, axis=1), (-1, h, w, c))
        return o.where(o.expand_dims(inside, -1), vals, fill)

    if interpolation == "nearest":

        def rnd(v: Any) -> Any:  # std::round: half away from zero
            return o.sign(v) * o.floor(o.abs(v) + 0.5)

        return read(rnd(src_y), rnd(src_x))
    y0, x0 = o.floor(src_y), o.floor(src_x)
    y1, x1 = y0 + 1.0, x0 + 1.0

    def wgt(v: Any) -> Any:
        return o.cast(o.expand_dims(v, -1), dt)

    wx0, wx1 = wgt(x1 - src_x), wgt(src_x - x0)
    at_y0 = wx0 * read(y0, x0) + wx1 * read(y0, x1)
    at_y1 = wx0 * read(y1, x0) + wx1 * read(y1, x1)
    return wgt(y1 - src_y) * at_y0 + wgt(src_y - y0) * at_y1
