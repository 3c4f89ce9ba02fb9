"""``TextVectorization``: strings → standardized → split → n-grams → ids or vectors, on the
host in numpy, with Keras 3's rules and results on every backend.

Steps, for each input string (Keras 3 / TensorFlow semantics):

1. ``standardize``: ``"lower"`` lowercases ASCII letters only (``tf.strings.lower``; ``"É"``
   stays); ``"strip_punctuation"`` removes the ASCII characters
   ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'``; ``"lower_and_strip_punctuation"`` (default) does
   both; a callable receives a numpy array of ``str`` and returns one; ``None`` skips it.
2. ``split``: ``"whitespace"`` (default) splits on runs of ASCII whitespace
   (space, ``\\t \\n \\v \\f \\r``; a no-break space is part of a token, as in TensorFlow);
   ``"character"`` into Unicode code points; a callable gets the 1-D array of strings and
   returns one token sequence per string; ``None`` keeps each string whole.
3. ``ngrams=n`` (widths 1..n) or a tuple of widths: per string, every run of ``w`` tokens
   joined by a space, width by width in the order given.
4. Lookup in a ``StringLookup(mask_token="", oov_token="[UNK]")``: id 0 is padding, 1 the
   OOV token, then the vocabulary (most frequent first, ties by token, higher first).

``output_mode``: ``"int"`` → int64 ids, rows padded with 0 to ``output_sequence_length``
(cut when longer; without it, to the longest row of the batch); ``"multi_hot"``/``"count"``
→ int64 vectors over the vocabulary (``max_tokens`` with ``pad_to_max_tokens``);
``"tf_idf"`` → ``count × idf`` in float32 (``idf = log(1 + N/(1 + df))``, lookup rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, ShapeError
from ._layer import REGISTRY
from ._preprocessing_host import HostLayer, _batches, as_host_array, check_choice, encode
from ._preprocessing_lookup import _DROP, LOOKUP_MODES, StringLookup

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
_PUNCTUATION = re.compile(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']")
_WHITESPACE = re.compile(r"[^ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def standardize(x: np.ndarray, how: str | Callable[..., Any] | None) -> np.ndarray:
    """Step 1 of the module docstring, on an array of ``str``."""
    if how is None:
        return x
    if callable(how):
        return as_host_array(how(x))
    flat = x.reshape(-1).tolist()
    if how in ("lower", "lower_and_strip_punctuation"):
        flat = [s.translate(_ASCII_LOWER) for s in flat]
    if how in ("strip_punctuation", "lower_and_strip_punctuation"):
        flat = [_PUNCTUATION.sub("", s) for s in flat]
    return np.array(flat, dtype=str).reshape(x.shape) if flat else x


def split_tokens(x: np.ndarray, how: str | Callable[..., Any]) -> list[list[str]]:
    """Step 2 on a 1-D array of strings: one list of tokens per string."""
    if callable(how):
        return [[str(t) for t in as_host_array(row).reshape(-1).tolist()] for row in how(x)]
    if how == "whitespace":
        return [_WHITESPACE.findall(s) for s in x.tolist()]
    return [list(s) for s in x.tolist()]


def ngrams(tokens: list[str], widths: Sequence[int]) -> list[str]:
    """Step 3: every run of ``w`` tokens joined by a space, for each ``w`` in ``widths``."""
    return [" ".join(tokens[i : i + w]) for w in widths for i in range(max(len(tokens) - w + 1, 0))]


@REGISTRY.register()
class TextVectorization(HostLayer):
    """Turns strings into token ids or token vectors (rules: module
    ``layers/_preprocessing_text.py``), Keras 3's ``TextVectorization``.

    >>> layer = TextVectorization(output_sequence_length=4)
    >>> layer.adapt(["The cat sat.", "the dog"])
    >>> layer.get_vocabulary()
    ['', '[UNK]', 'the', 'sat', 'dog', 'cat']
    >>> layer(["the cat ran"]).tolist()
    [[2, 5, 1, 0]]
    """

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: str | Callable[..., Any] | None = "lower_and_strip_punctuation",
        split: str | Callable[..., Any] | None = "whitespace",
        ngrams: int | Sequence[int] | None = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        if not callable(standardize) and standardize is not None:
            check_choice("TextVectorization", "standardize", standardize, (*STANDARDIZE, None))
        if not callable(split) and split is not None:
            check_choice("TextVectorization", "split", split, (*SPLIT, None))
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        check_choice("TextVectorization", "output_mode", output_mode, LOOKUP_MODES)
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (
            ngrams is None
            or (isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1)
            or (isinstance(ngrams, tuple) and all(isinstance(n, int) and n >= 1 for n in ngrams))
        ):
            raise ConfigError(
                "TextVectorization: ngrams must be None, an int >= 1 or a tuple of ints. "
                f"Received: ngrams={ngrams!r}. Fix: e.g. ngrams=2 or ngrams=(1, 3)."
            )
        if ngrams is not None and split is None:
            raise ConfigError(
                "TextVectorization: ngrams needs a split (n-grams are runs of tokens). "
                "Received: split=None with ngrams. Fix: split='whitespace', or ngrams=None."
            )
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ConfigError(
                    "TextVectorization: output_sequence_length must not be set if output_mode "
                    f"is not 'int'. Received: output_mode={output_mode!r}, "
                    f"output_sequence_length={output_sequence_length!r}. Fix: drop it."
                )
            if isinstance(output_sequence_length, bool) or not isinstance(
                output_sequence_length, int
            ):
                raise ConfigError(
                    "TextVectorization: output_sequence_length must be None or an int. "
                    f"Received: output_sequence_length={output_sequence_length!r}. Fix: e.g. 200."
                )
        if output_mode == "one_hot" and split is not None:
            raise ConfigError(
                "TextVectorization: output_mode='one_hot' encodes one token per string, so it "
                f"needs split=None. Received: split={split!r}. Fix: split=None, or "
                "output_mode='multi_hot'."
            )
        if ragged:
            raise ConfigError(
                "TextVectorization: ragged=True is not supported (outputs are dense numpy "
                "arrays). Received: ragged=True. Fix: ragged=False (rows are padded with 0)."
            )
        self._standardize, self._split = standardize, split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._output_mode, self._output_sequence_length = output_mode, output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens,
            mask_token="",
            output_mode=output_mode,
            sparse=sparse,
            has_input_vocabulary=has_input_vocabulary,
            encoding=encoding,
            vocabulary_size=vocabulary_size,
        )

    # ---- vocabulary -----------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The vocabulary by id: ``""`` (padding, int mode) and ``"[UNK]"`` first unless
        ``include_special_tokens=False``."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)  # type: ignore[no-any-return]

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (and, in ``"tf_idf"`` mode, its idf weights) directly."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    @property
    def idf_weights(self) -> np.ndarray | None:
        return self._lookup_layer.idf_weights

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary from ``data``: an array or list of strings (each string a
        document), or an iterable of batches of strings (a ``dl.data.Dataset``), ``steps``
        batches at most."""
        self._lookup_layer.reset_state()
        if isinstance(data, (np.ndarray, list, tuple)) or hasattr(data, "shape"):
            arr = as_host_array(data)
            self.update_state(arr[:, None] if arr.ndim == 1 else arr)
        else:
            for batch in _batches(data, steps):
                self.update_state(batch)
        self._lookup_layer.finalize_state()

    def update_state(self, data: Any) -> None:
        kind, value = self._preprocess(as_host_array(data))
        if kind == "rows":
            self._lookup_layer._update_rows(value)
        else:
            self._lookup_layer.update_state(value)

    def finalize_state(self) -> None:
        self._lookup_layer.finalize_state()

    def reset_state(self) -> None:
        self._lookup_layer.reset_state()

    # ---- calling --------------------------------------------------------------------------
    def _preprocess(self, x: np.ndarray) -> tuple[str, Any]:
        if x.dtype.kind != "U":
            raise ConfigError(
                f"Layer {self.name!r} (TextVectorization) takes strings. Received an array of "
                f"dtype {x.dtype}. Fix: pass a list or array of str."
            )
        x = standardize(x, self._standardize)
        if self._split is None:
            return "dense", x
        if x.ndim > 1:
            if x.shape[-1] != 1:
                raise ShapeError(
                    "TextVectorization: to split strings, the input rank must be 1 or the last "
                    f"dimension must be 1. Received: inputs.shape={x.shape}. Fix: pass a 1-D "
                    "array of strings, or shape (batch, 1)."
                )
            x = x[..., 0]
        rows = split_tokens(x.reshape(-1), self._split)
        if self._ngrams is not None:
            rows = [ngrams(r, self._ngrams) for r in rows]
        return "rows", rows

    @property
    def output_dtype(self) -> str:
        return self._lookup_layer.output_dtype

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = tuple(input_shape)
        if self._split is None:
            if self._output_mode == "int":
                if self._output_sequence_length is None:
                    return shape
                return (*shape[:-1], self._output_sequence_length)
            return self._lookup_layer.compute_output_shape(shape)
        if self._output_mode == "int":
            return (shape[0], self._output_sequence_length)
        return self._lookup_layer.compute_output_shape((shape[0], None))

    def host_call(self, x: np.ndarray) -> np.ndarray:
        scalar = x.ndim == 0
        kind, value = self._preprocess(x[None] if scalar and self._split else x)
        lookup, length = self._lookup_layer, self._output_sequence_length
        if kind == "dense":
            out = lookup.host_call(value)
            if self._output_mode == "int" and length is not None:
                out = out[..., :length]
                pad = [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])]
                out = np.pad(out, pad)
            return out
        rows: list[list[str]] = value
        width = max((len(r) for r in rows), default=0) if length is None else length
        flat = [t for r in rows for t in r]
        ids = lookup.lookup(np.array(flat, dtype=str)) if flat else np.zeros(0, np.int64)
        fill = 0 if self._output_mode == "int" else _DROP
        mat = np.full((len(rows), max(width, max((len(r) for r in rows), default=0))), fill)
        start = 0
        for i, r in enumerate(rows):
            mat[i, : len(r)] = ids[start : start + len(r)]
            start += len(r)
        if self._output_mode == "int":
            out = mat[:, :width].astype(np.int64)
        elif self._output_mode == "tf_idf":
            counts = encode(mat, "count", lookup._depth(), "int64", who=self.name)
            assert lookup.idf_weights is not None
            out = counts.astype(self.output_dtype) * lookup.idf_weights.astype(self.output_dtype)
        else:
            out = encode(mat, self._output_mode, lookup._depth(), "int64", who=self.name)
        return out[0] if scalar else out

    # ---- config ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras's keys; ``vocabulary``/``idf_weights`` hold the current ones (adapted or
        given). A callable ``standardize``/``split`` is kept as the callable (the config is
        then not JSON: such a layer cannot be saved in a model file)."""
        lookup = self._lookup_layer.get_config()
        return {
            **super().get_config(),
            "max_tokens": lookup["max_tokens"],
            "standardize": self._standardize,
            "split": self._split,
            "ngrams": list(self._ngrams_arg)
            if isinstance(self._ngrams_arg, tuple)
            else self._ngrams_arg,
            "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length,
            "pad_to_max_tokens": lookup["pad_to_max_tokens"],
            "sparse": False,
            "ragged": False,
            "vocabulary": lookup["vocabulary"],
            "idf_weights": lookup["idf_weights"],
            "encoding": self._encoding,
            "vocabulary_size": lookup["vocabulary_size"],
            "has_input_vocabulary": lookup["has_input_vocabulary"],
        }
