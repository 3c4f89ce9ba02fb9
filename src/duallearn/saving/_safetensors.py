"""A strict, framework-free reader and writer of the safetensors format.

Layout: an 8-byte little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``,
then the raw little-endian tensor bytes. The reader checks every declared size and offset
against the buffer before allocating anything, and rejects overlaps, gaps and unknown dtypes.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping

import numpy as np

from ..errors import SerializationError
from ._container import loads_json

MAX_RANK = 32

DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {v: k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


def dumps(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialize named numpy arrays (sorted by name, as the reference implementation)."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        code = _CODES.get(np.dtype(dt))
        if code is None:
            raise SerializationError(
                f"Cannot store tensor {name!r} of dtype {arr.dtype} in safetensors. "
                f"Supported: {sorted(str(d) for d in _CODES)}."
            )
        data = arr.astype(dt.newbyteorder("<"), copy=False).tobytes()
        header[name] = {
            "dtype": code,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(blobs)


def loads(
    buf: bytes, what: str = "safetensors data"
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Parse and validate; returns ``(tensors, metadata)``."""
    if len(buf) < 8:
        raise SerializationError(f"{what} is truncated: {len(buf)} bytes, fewer than 8.")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > min(MAX_HEADER, len(buf) - 8):
        raise SerializationError(
            f"{what} declares a {n}-byte header but holds {len(buf) - 8} bytes after the "
            "length field: the file is truncated or corrupt."
        )
    header = loads_json(bytes(buf[8 : 8 + n]), f"{what}: the header")
    if not isinstance(header, dict):
        raise SerializationError(f"{what}: the header must be a JSON object.")
    data = memoryview(buf)[8 + n :]
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SerializationError(f"{what}: __metadata__ must map strings to strings.")
    spans = []
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise SerializationError(f"{what}: entry {name!r} is malformed.")
        dtype: np.dtype | None = (
            DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        )
        if dtype is None:
            raise SerializationError(
                f"{what}: tensor {name!r} has unsupported dtype {info['dtype']!r}. "
                f"Expected one of {sorted(DTYPES)}."
            )
        shape, offs = info["shape"], info["data_offsets"]
        if not (
            isinstance(shape, list)
            and len(shape) <= MAX_RANK
            and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape
            )
        ):
            raise SerializationError(f"{what}: tensor {name!r} has an invalid shape {shape!r}.")
        if not (
            isinstance(offs, list)
            and len(offs) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
            and 0 <= offs[0] <= offs[1] <= len(data)
        ):
            raise SerializationError(
                f"{what}: tensor {name!r} has data offsets {offs!r} outside the "
                f"{len(data)} bytes of data: the file is truncated or corrupt."
            )
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != offs[1] - offs[0]:
            raise SerializationError(
                f"{what}: tensor {name!r} declares shape {shape} ({nbytes} bytes) but spans "
                f"{offs[1] - offs[0]} bytes."
            )
        spans.append((offs[0], offs[1], name))
        out[name] = np.frombuffer(data[offs[0] : offs[1]], dtype=dtype).reshape(shape).copy()
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise SerializationError(
                f"{what}: tensor {name!r} starts at byte {begin}, expected {pos} (overlapping "
                "or gapped data)."
            )
        pos = end
    if pos != len(data):
        raise SerializationError(f"{what}: {len(data) - pos} trailing bytes after the last tensor.")
    return out, metadata
