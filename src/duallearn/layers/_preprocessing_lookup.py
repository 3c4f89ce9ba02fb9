"""``StringLookup`` and ``IntegerLookup``: a vocabulary maps tokens to ids (or back), on the
host in numpy, with Keras 3's rules and results.

Index layout (``output_mode="int"``): ``[mask] + [OOV] × num_oov_indices + vocabulary``.
The mask slot (index 0) exists only when ``mask_token`` is set and ``output_mode="int"``;
in the other modes a mask token is dropped from the counts. A token outside the vocabulary
maps to the OOV slot; with ``num_oov_indices = n > 1`` to ``oov_start + h(token) % n``
(strings: FarmHash Fingerprint64 of the UTF-8 bytes, or SipHash-2-4 under ``salt``;
integers: ``token mod n``, or the hash of its decimal string with ``oov_method="farmhash"``);
with ``n = 0`` an unknown token is an error.

``adapt(data)`` counts tokens and keeps the most frequent (``max_tokens`` minus the special
slots), ties broken by the token, higher first (Keras's
``np.lexsort((tokens, counts))[::-1]``). In ``"tf_idf"`` mode each row of the data is a
document and ``idf(t) = log(1 + N / (1 + df(t)))`` (``N`` documents, ``df`` the documents
holding ``t``); the special slots get the mean idf and ``pad_to_max_tokens`` pads with 0.
Outputs: ``"int"`` → int64 ids; ``"one_hot"``/``"multi_hot"``/``"count"`` → int64 vectors
over ``vocabulary_size()`` (``max_tokens`` with ``pad_to_max_tokens``), Keras's encoding
(``layers/_preprocessing_host.py``); ``"tf_idf"`` → ``count × idf`` in float32.
"""

from __future__ import annotations

import collections
import math
import os
from typing import Any

import numpy as np

from .. import config
from ..errors import ConfigError
from ._layer import REGISTRY
from ._preprocessing_host import (
    HostLayer,
    _batches,
    _no_sparse,
    _salt,
    as_host_array,
    check_choice,
    encode,
    encoded_shape,
    hash_strings,
)

LOOKUP_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_DROP = np.iinfo(np.int64).max  # a masked token in the vector modes: dropped by encode()


class IndexLookup(HostLayer):
    """The shared machinery of ``StringLookup`` and ``IntegerLookup`` (module docstring)."""

    _string = True

    def __init__(
        self,
        max_tokens: int | None,
        num_oov_indices: int,
        mask_token: Any,
        oov_token: Any,
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        has_input_vocabulary: bool | None = None,
        vocabulary_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        kind = type(self).__name__
        dtype = kwargs.pop("dtype", None)  # Keras ignores a lookup layer's dtype too
        super().__init__(dtype=dtype if dtype in config.FLOAT_TYPES else None, **kwargs)
        if max_tokens is not None and (isinstance(max_tokens, bool) or max_tokens <= 1):
            raise ConfigError(
                f"{kind}: if set, max_tokens must be greater than 1. Received: "
                f"max_tokens={max_tokens!r}. Fix: pass max_tokens >= 2 or None."
            )
        if pad_to_max_tokens and max_tokens is None:
            raise ConfigError(
                f"{kind}: pad_to_max_tokens=True needs max_tokens. Received: max_tokens=None. "
                "Fix: set max_tokens, or pad_to_max_tokens=False."
            )
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, int):
            raise ConfigError(
                f"{kind}: num_oov_indices must be an int >= 0. Received: "
                f"num_oov_indices={num_oov_indices!r}. Fix: e.g. num_oov_indices=1."
            )
        if num_oov_indices < 0:
            raise ConfigError(
                f"{kind}: num_oov_indices must be greater than or equal to 0. Received: "
                f"num_oov_indices={num_oov_indices}. Fix: pass 0 or more."
            )
        check_choice(kind, "oov_method", oov_method, ("floormod", "farmhash"))
        if salt is not None and not self._string and oov_method != "farmhash":
            raise ConfigError(
                f"{kind}: salt can only be used when oov_method='farmhash'. Received: "
                f"oov_method={oov_method!r} with salt={salt!r}. Fix: pass "
                "oov_method='farmhash' or drop salt."
            )
        output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
        check_choice(kind, "output_mode", output_mode, LOOKUP_MODES)
        if invert and output_mode != "int":
            raise ConfigError(
                f"{kind}: output_mode must be 'int' when invert=True. Received: "
                f"output_mode={output_mode!r}. Fix: output_mode='int'."
            )
        _no_sparse(kind, sparse)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ConfigError(
                f"{kind}: idf_weights should only be set if output_mode is 'tf_idf'. "
                f"Received: output_mode={output_mode!r} with idf_weights. Fix: drop "
                "idf_weights or set output_mode='tf_idf'."
            )
        self.max_tokens, self.num_oov_indices = max_tokens, num_oov_indices
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.output_mode, self.sparse = bool(invert), output_mode, False
        self.pad_to_max_tokens, self.oov_method = bool(pad_to_max_tokens), oov_method
        self.salt = _salt(kind, salt)
        self._vocab: list[Any] = []
        self._index: dict[Any, int] = {}
        self.idf_weights: np.ndarray | None = None
        self._has_input_vocabulary = (
            vocabulary is not None if has_input_vocabulary is None else bool(has_input_vocabulary)
        )
        self._frozen_vocab_size: int | None = vocabulary_size
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ConfigError(
                f"{kind}: with a vocabulary in output_mode='tf_idf', idf_weights must be "
                "given too. Received: idf_weights=None. Fix: pass idf_weights (one per "
                "vocabulary term), or adapt() instead."
            )
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self._reset_counts()

    # ---- tokens ---------------------------------------------------------------------------
    def _tokens(self, x: Any) -> np.ndarray:
        """Inputs as an array of this layer's token type (str or int64)."""
        arr = as_host_array(x)
        if self._string:
            if arr.dtype.kind != "U":
                raise ConfigError(
                    f"Layer {self.name!r} (StringLookup) looks up strings. Received an array "
                    f"of dtype {arr.dtype}. Fix: pass strings, or use IntegerLookup for ids."
                )
            return arr
        if arr.dtype.kind not in "iub":
            raise ConfigError(
                f"Layer {self.name!r} (IntegerLookup) looks up integers. Received an array of "
                f"dtype {arr.dtype}. Fix: pass integer ids, or use StringLookup for strings."
            )
        return arr.astype(np.int64)

    def _token(self, value: Any) -> Any:
        return str(value) if self._string else int(value)

    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _special_tokens(self) -> list[Any]:
        return [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices

    # ---- vocabulary -----------------------------------------------------------------------
    def vocabulary_size(self) -> int:
        """Size of the vocabulary, the mask and OOV slots included."""
        return self._token_start_index() + len(self._vocab)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        """The vocabulary by index (a term's position is its id), mask and OOV slots first
        unless ``include_special_tokens=False``."""
        special = self._special_tokens() if include_special_tokens else []
        return [*special, *self._vocab]

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (a list, array or a text file with one term a line) and, in
        ``"tf_idf"`` mode, one idf weight per term. The mask and OOV tokens may lead the list
        (as ``get_vocabulary()`` returns it) or be left out; any other repeat is an error."""
        kind = type(self).__name__
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ConfigError(
                f"{kind}: idf_weights must be set if output_mode is 'tf_idf'. Received: "
                "idf_weights=None. Fix: pass one idf weight per vocabulary term."
            )
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ConfigError(
                f"{kind}: idf_weights should only be set if output_mode is 'tf_idf'. "
                f"Received: output_mode={self.output_mode!r}. Fix: drop idf_weights."
            )
        if isinstance(vocabulary, (str, os.PathLike)):
            if self.output_mode == "tf_idf":
                raise ConfigError(
                    f"{kind}: output_mode 'tf_idf' does not support a vocabulary file. "
                    "Received a path. Fix: pass the vocabulary as a list with idf_weights."
                )
            if not os.path.exists(vocabulary):
                raise ConfigError(
                    f"{kind}: vocabulary file {os.fspath(vocabulary)!r} does not exist. "
                    "Fix: pass an existing file (one term a line) or a list."
                )
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
            while vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
            if not self._string:
                vocabulary = [int(v) for v in vocabulary]
        values = [self._token(v) for v in as_host_array(vocabulary).reshape(-1).tolist()]
        if not values:
            raise ConfigError(
                f"{kind}: cannot set an empty vocabulary. Received: vocabulary=[]. Fix: pass "
                "at least one term."
            )
        special = self._special_tokens()
        found_special = values[: len(special)] == special
        tokens = values[len(special) :] if found_special else values
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ConfigError(
                f"{kind}: expected each vocabulary term once. Received repeated terms: "
                f"{repeated[:5]!r}. Fix: deduplicate the vocabulary."
            )
        for what, tok in (("mask", self.mask_token), ("OOV", self.oov_token)):
            if tok is None or (what == "OOV" and not self.invert) or tok not in tokens:
                continue
            raise ConfigError(
                f"{kind}: Received the reserved {what} token {tok!r} at an unexpected place "
                f"in the vocabulary (index {values.index(tok)}). Expected the mask and OOV "
                f"tokens only at the start, in this order: {special!r}. Fix: remove them or "
                "put them first."
            )
        size = self._token_start_index() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ConfigError(
                f"{kind}: the vocabulary is larger than max_tokens. Received a vocabulary of "
                f"size {size} (special slots included); max_tokens={self.max_tokens}. Fix: "
                "raise max_tokens or shorten the vocabulary."
            )
        if self.output_mode == "tf_idf":
            idf = np.asarray(as_host_array(idf_weights), dtype=np.float64)
            if idf.ndim != 1 or len(idf) != len(values):
                raise ConfigError(
                    f"{kind}: idf_weights must be a 1-D list as long as the vocabulary "
                    f"({len(values)}). Received shape {idf.shape}. Fix: one weight per term."
                )
            front = 0 if found_special else self._token_start_index()
            self._set_idf(idf.astype(np.float32), front, float(np.average(idf)))
        self._set_tokens(tokens)

    def _set_tokens(self, tokens: list[Any]) -> None:
        self._vocab = list(tokens)
        start = self._token_start_index()
        self._index = {t: start + i for i, t in enumerate(self._vocab)}
        self._frozen_vocab_size = self.vocabulary_size()

    def _set_idf(self, idf: np.ndarray, front: int, front_value: float) -> None:
        back = 0
        if self.pad_to_max_tokens and self.max_tokens is not None:
            back = self.max_tokens - front - len(idf)
        self.idf_weights = np.pad(
            idf.astype(np.float32), (front, back), constant_values=(front_value, 0)
        ).astype(np.float32)

    # ---- adapt ----------------------------------------------------------------------------
    def _reset_counts(self) -> None:
        self._counts: collections.Counter[Any] = collections.Counter()
        self._doc_counts: collections.Counter[Any] = collections.Counter()
        self._num_documents = 0

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn the vocabulary (and idf weights) from ``data``: an array or list of tokens
        (each row a document; a 1-D array is a column of one-token documents), or an
        iterable of batches such as a ``dl.data.Dataset`` (a 1-D batch is one document),
        ``steps`` batches at most."""
        self._reset_counts()
        if isinstance(data, (np.ndarray, list, tuple)) or hasattr(data, "shape"):
            arr = self._tokens(data)
            self._update_rows(list(arr[:, None] if arr.ndim == 1 else arr.reshape(len(arr), -1)))
        else:
            for batch in _batches(data, steps):
                self.update_state(batch)
        self.finalize_state()

    def update_state(self, data: Any) -> None:
        """Count the tokens of one batch (a 1-D batch is one document, as Keras)."""
        arr = self._tokens(data)
        if arr.ndim <= 1:
            arr = arr.reshape(1, -1)
        self._update_rows(list(arr.reshape(len(arr), -1)))

    def _update_rows(self, rows: list[Any]) -> None:
        if self._has_input_vocabulary:
            raise ConfigError(
                f"Cannot adapt layer {self.name!r}: expected a layer without a vocabulary. "
                "Received one with a static vocabulary (the vocabulary argument or "
                "set_vocabulary). Fix: create the layer without a "
                "vocabulary to learn one with adapt()."
            )
        for row in rows:
            toks = [self._token(t) for t in np.asarray(row).reshape(-1).tolist()]
            self._counts.update(toks)
            if self.output_mode == "tf_idf":
                self._doc_counts.update(set(toks))
        self._num_documents += len(rows)

    def finalize_state(self) -> None:
        """Turn the counts into the vocabulary (module docstring's order)."""
        if self._has_input_vocabulary or not self._counts:
            return
        counts = self._counts
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(self._token(special), None)
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[: self.max_tokens - self._token_start_index()]
        tokens = [t for t, _ in ranked]
        if self.output_mode == "tf_idf":
            n = self._num_documents
            idf = np.array(
                [math.log(1 + n / (1 + self._doc_counts[t])) for t in tokens], np.float64
            ).astype(np.float32)
            mean = float(np.mean(idf)) if len(idf) else float("nan")
            self._set_idf(idf, self._token_start_index(), mean)
        self._set_tokens(tokens)
        self._reset_counts()

    def reset_state(self) -> None:
        self._reset_counts()

    # ---- calling --------------------------------------------------------------------------
    @property
    def output_dtype(self) -> str:
        if self.invert:
            return "string" if self._string else "int64"
        return config.floatx() if self.output_mode == "tf_idf" else "int64"

    def _depth(self) -> int:
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        if self._frozen_vocab_size is None or not self._vocab:
            raise ConfigError(
                f"Layer {self.name!r}: output_mode={self.output_mode!r} with "
                "pad_to_max_tokens=False needs the vocabulary before the call. Received a "
                "layer with none. Fix: pass vocabulary=..., or call adapt(data) first."
            )
        return self.vocabulary_size()

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        return encoded_shape(input_shape, self.output_mode, depth)

    def host_call(self, x: np.ndarray) -> np.ndarray:
        if self.invert:
            return self._invert(np.asarray(x))
        ids = self.lookup(self._tokens(x))
        if self.output_mode == "int":
            return ids
        depth = self._depth()
        if self.output_mode != "tf_idf":
            return encode(ids, self.output_mode, depth, "int64", who=self.name)
        counts = encode(ids, "count", depth, "int64", who=self.name)
        assert self.idf_weights is not None
        idf = self.idf_weights.astype(self.output_dtype)
        return counts.astype(self.output_dtype) * idf

    def lookup(self, tokens: np.ndarray) -> np.ndarray:
        """Token → id (int64) with the mask and OOV rules; the mask is ``2**63 − 1`` (dropped
        by the encoding) outside ``output_mode="int"``."""
        flat = tokens.reshape(-1)
        if flat.size == 0:
            return np.zeros(tokens.shape, np.int64)
        uniq, inverse = np.unique(flat, return_inverse=True)
        keys = uniq.tolist()
        ids = np.array([self._index.get(k, -1) for k in keys], dtype=np.int64)
        if self.mask_token is not None:
            is_mask = np.array([k == self.mask_token for k in keys])
            ids[is_mask] = 0 if self.output_mode == "int" else _DROP
        oov = ids == -1
        if oov.any():
            ids[oov] = self._oov_ids(uniq[oov])
        return ids[inverse].reshape(tokens.shape)

    def _oov_ids(self, unknown: np.ndarray) -> np.ndarray:
        n, start = self.num_oov_indices, self._oov_start_index()
        if n == 0:
            raise ConfigError(
                f"Layer {self.name!r}: with num_oov_indices=0 every input must be in the "
                f"vocabulary. Received out-of-vocabulary values {unknown[:5].tolist()!r}. "
                "Fix: set num_oov_indices=1, or add the values to the vocabulary."
            )
        if n == 1:
            return np.full(unknown.shape, start, np.int64)
        if not self._string and self.oov_method != "farmhash":
            return np.mod(unknown.astype(np.int64), n) + start
        return hash_strings(unknown, n, self.salt) + start

    def _invert(self, x: np.ndarray) -> np.ndarray:
        if x.dtype.kind not in "iu":
            raise ConfigError(
                f"Layer {self.name!r} (invert=True) maps integer ids back to tokens. Received "
                f"an array of dtype {x.dtype}. Fix: pass integer ids."
            )
        ids = x.astype(np.int64)
        table = np.array([*[self.oov_token] * self._token_start_index(), *self._vocab], object)
        hit = (ids >= self._token_start_index()) & (ids < len(table))
        out = np.full(ids.shape, self.oov_token, dtype=object)
        out[hit] = table[ids[hit]]
        if self.mask_token is not None:
            out[ids == 0] = self.mask_token
        if self._string:
            return out.astype(str)
        return out.astype(np.int64)

    # ---- config ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras's keys; ``vocabulary`` and ``idf_weights`` hold the current (adapted or
        given) ones, so the config (and a saved model) restores the layer's state."""
        has_vocab = bool(self._vocab)
        idf = None
        if has_vocab and self.idf_weights is not None:
            idf = [float(v) for v in self.idf_weights[: self.vocabulary_size()]]
        return {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "idf_weights": idf,
            "vocabulary": self.get_vocabulary() if has_vocab else None,
            "vocabulary_size": self.vocabulary_size() if has_vocab else None,
            "has_input_vocabulary": self._has_input_vocabulary,
            "oov_method": self.oov_method,
            "salt": self.salt,
        }


@REGISTRY.register()
class StringLookup(IndexLookup):
    """Maps strings to integer ids from a vocabulary (or ids back to strings with
    ``invert=True``), Keras 3's ``StringLookup`` (rules: ``layers/_preprocessing_lookup.py``).

    >>> StringLookup(vocabulary=["a", "b", "c"])([["a", "c", "z"]]).tolist()
    [[1, 3, 0]]
    """

    _string = True

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: str | None = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        salt: Any = None,
        **kwargs: Any,
    ) -> None:
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            name=name,
            salt=salt,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "encoding": self.encoding}


@REGISTRY.register()
class IntegerLookup(IndexLookup):
    """Maps integers to contiguous ids from a vocabulary (or back with ``invert=True``),
    Keras 3's ``IntegerLookup`` (rules: ``layers/_preprocessing_lookup.py``); the OOV token
    is ``-1`` and extra OOV slots take ``value mod num_oov_indices`` by default.

    >>> IntegerLookup(vocabulary=[12, 36, 1138, 42])([[12, 1138, 42], [42, 1000, 36]]).tolist()
    [[1, 3, 4], [4, 0, 2]]
    """

    _string = False

    def __init__(
        self,
        max_tokens: int | None = None,
        num_oov_indices: int = 1,
        mask_token: int | None = None,
        oov_token: int = -1,
        vocabulary: Any = None,
        vocabulary_dtype: str = "int64",
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        sparse: bool = False,
        pad_to_max_tokens: bool = False,
        oov_method: str = "floormod",
        salt: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if vocabulary_dtype != "int64":
            raise ConfigError(
                "IntegerLookup: only vocabulary_dtype='int64' is supported. Received: "
                f"vocabulary_dtype={vocabulary_dtype!r}. Fix: leave it at 'int64'."
            )
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=None if mask_token is None else int(mask_token),
            oov_token=int(oov_token),
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            oov_method=oov_method,
            salt=salt,
            name=name,
            **kwargs,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}
