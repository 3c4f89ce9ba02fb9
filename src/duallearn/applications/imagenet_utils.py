"""ImageNet helpers shared by the applications (``keras.applications.imagenet_utils``).

``preprocess_input`` and ``decode_predictions`` with Keras 3's formulas:

- ``"caffe"``: RGB → BGR, then subtract the ImageNet mean pixel ``[103.939, 116.779, 123.68]``
  (BGR order), no scaling;
- ``"tf"``: ``x / 127.5 − 1`` (pixels in ``[−1, 1]``);
- ``"torch"``: ``x / 255``, then ``(x − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]`` per RGB
  channel.

Differs from Keras 3: the input is any array-like and the result is a numpy array (Keras keeps a
backend tensor a tensor); a float numpy array is modified in place, as in Keras.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError

CLASS_INDEX_PATH = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
CLASS_INDEX_HASH: str | None = "c2c37ea517e94d9795004a39431a14cb"
_CLASS_INDEX: dict[str, dict[str, list[str]]] = {}  # file path -> the parsed JSON

_MODES = ("caffe", "tf", "torch")
_FORMATS = ("channels_first", "channels_last")


def preprocess_input(x: Any, data_format: str | None = None, mode: str = "caffe") -> np.ndarray:
    """Prepare a batch of images (pixels in ``[0, 255]``) for an ImageNet model.

    Args:
        x: 3-D or 4-D array with 3 colour channels. A float numpy array is overwritten (as in
            Keras: pass ``np.copy(x)`` to keep it); an integer one is converted to floatx.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        mode: ``"caffe"`` (RGB→BGR, minus the mean pixel), ``"tf"`` (``x/127.5 − 1``) or
            ``"torch"`` (``x/255``, minus mean, over std, per channel).

    Returns:
        The preprocessed array.

    Example:
        >>> preprocess_input(np.full((1, 2, 2, 3), 255.0), mode="tf")[0, 0, 0]
        array([1., 1., 1.])
    """
    if mode not in _MODES:
        raise ConfigError(
            f"Expected mode to be one of 'caffe', 'tf' or 'torch'. Received: mode={mode!r}. "
            "Fix: pass one of these (each application's own preprocess_input picks it)."
        )
    if data_format is None:
        data_format = "channels_last"
    elif data_format not in _FORMATS:
        raise ConfigError(
            "Expected data_format to be one of 'channels_first' or 'channels_last'. "
            f"Received: data_format={data_format!r}."
        )
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not issubclass(x.dtype.type, np.floating):
        from ..config import floatx

        x = x.astype(floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    std: list[float] | None
    if mode == "torch":
        x /= 255.0
        mean = [0.485, 0.456, 0.406]
        std = [0.229, 0.224, 0.225]
    else:  # caffe: RGB -> BGR
        if data_format == "channels_first":
            x = x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
        else:
            x = x[..., ::-1]
        mean = [103.939, 116.779, 123.68]
        std = None
    for c in range(3):
        if data_format == "channels_first":
            idx: tuple[Any, ...] = (c,) if x.ndim == 3 else (slice(None), c)
        else:
            idx = (Ellipsis, c)
        x[idx] -= mean[c]
        if std is not None:
            x[idx] /= std[c]
    return x


def _class_index() -> dict[str, list[str]]:
    from ..utils import get_file

    fpath = get_file(
        "imagenet_class_index.json",
        CLASS_INDEX_PATH,
        cache_subdir="models",
        file_hash=CLASS_INDEX_HASH,
    )
    if fpath not in _CLASS_INDEX:
        with open(fpath) as f:
            _CLASS_INDEX[fpath] = json.load(f)
    return _CLASS_INDEX[fpath]


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """The ``top`` ImageNet classes of each prediction: ``[(wnid, name, score), ...]``.

    The class index is Keras's ``imagenet_class_index.json``, fetched once with
    ``dl.utils.get_file`` into ``$DUALLEARN_HOME/models`` (put it there by hand when offline).

    Args:
        preds: ``(samples, 1000)`` scores.
        top: How many classes per sample.

    Returns:
        One list per sample of ``(class_name, class_description, score)``, best first.

    Example:
        >>> decode_predictions(model.predict(x), top=3)[0][0]
        ('n02123045', 'tabby', 0.61)
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ShapeError(
            "decode_predictions expects a batch of predictions (a 2-D array of shape "
            f"(samples, 1000)). Received an array of shape {preds.shape}. Fix: pass the "
            "output of an ImageNet classifier (include_top=True, classes=1000)."
        )
    index = _class_index()
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*index[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append([tuple(r) for r in result])
    return results
