"""A TensorBoard event-file writer in pure Python (no TensorFlow, no protobuf package).

An event file is a TFRecord stream: each record is ``uint64 length``, ``uint32
masked_crc32c(length)``, the bytes, ``uint32 masked_crc32c(bytes)`` (little endian). Each
record holds an ``Event`` protobuf (tensorflow/core/util/event.proto):

    Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
              Summary summary = 5; }
    Summary { repeated Value value = 1; }
    Value   { string tag = 1; float simple_value = 2; HistogramProto histo = 5; }
    HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4;
                     double sum_squares = 5; repeated double bucket_limit = 6 [packed];
                     repeated double bucket = 7 [packed]; }

encoded here by hand (varints, fixed64/fixed32, length-delimited fields). Files are named
``events.out.tfevents.<time>.<host>.<pid>.<n>.v2`` as TensorFlow's writer names them.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time

import numpy as np


def _crc32c_table() -> list[int]:
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    c = 0xFFFFFFFF
    t = _TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _double(field: int, v: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(v))


def _float(field: int, v: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(v))


def _int(field: int, v: int) -> bytes:
    return _key(field, 0) + _varint(int(v))


def _bytes(field: int, b: bytes) -> bytes:
    return _key(field, 2) + _varint(len(b)) + b


def _packed_doubles(field: int, values: np.ndarray) -> bytes:
    return _bytes(field, np.asarray(values, dtype="<f8").tobytes())


def histogram_proto(values: np.ndarray, bins: int = 30) -> bytes:
    """``HistogramProto`` of ``values``: ``bins`` equal buckets over [min, max]."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        v = np.zeros(1)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        edges = np.array([lo - 0.5, hi + 0.5]) if lo == 0 else np.array([lo, hi]) * [0.9, 1.1]
        edges = np.sort(edges)
        counts = np.array([float(v.size)])
        limits = edges[1:]
    else:
        counts, edges = np.histogram(v, bins=bins)
        limits = edges[1:]
    return (
        _double(1, lo)
        + _double(2, hi)
        + _double(3, float(v.size))
        + _double(4, float(v.sum()))
        + _double(5, float((v * v).sum()))
        + _packed_doubles(6, limits)
        + _packed_doubles(7, np.asarray(counts, dtype=np.float64))
    )


def scalar_value(tag: str, value: float) -> bytes:
    return _bytes(1, tag.encode()) + _float(2, value)


def histogram_value(tag: str, values: np.ndarray) -> bytes:
    return _bytes(1, tag.encode()) + _bytes(5, histogram_proto(values))


def event(
    step: int,
    values: list[bytes] | None = None,
    file_version: str | None = None,
    wall_time: float | None = None,
) -> bytes:
    out = _double(1, time.time() if wall_time is None else wall_time) + _int(2, step)
    if file_version is not None:
        out += _bytes(3, file_version.encode())
    if values is not None:
        out += _bytes(5, b"".join(_bytes(1, v) for v in values))
    return out


def record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (
        header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))
    )


_COUNTER = itertools.count()


class EventFileWriter:
    """Append-only writer of one event file in ``logdir`` (created if needed)."""

    def __init__(self, logdir: str) -> None:
        os.makedirs(logdir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_COUNTER)}.v2"
        )
        self.path = os.path.join(logdir, name)
        self._f = open(self.path, "wb")  # noqa: SIM115
        self._f.write(record(event(0, file_version="brain.Event:2")))
        self._f.flush()

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._f.write(record(event(step, [scalar_value(k, v) for k, v in values.items()])))

    def histograms(self, step: int, values: dict[str, np.ndarray]) -> None:
        self._f.write(record(event(step, [histogram_value(k, v) for k, v in values.items()])))

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            self._f.close()
