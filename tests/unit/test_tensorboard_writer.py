"""The pure-Python TensorBoard event writer: TFRecord framing, CRC-32C and protobuf fields,
decoded here independently of TensorFlow (tests/conformance/test_callbacks.py reads the same
files with TensorFlow's own reader)."""

from __future__ import annotations

import struct
import sys

import numpy as np

from duallearn.callbacks import _events


def _records(path):
    raw = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(raw):
        header = raw[pos : pos + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", raw[pos + 8 : pos + 12])[0] == _events.masked_crc(header)
        data = raw[pos + 12 : pos + 12 + n]
        assert struct.unpack("<I", raw[pos + 12 + n : pos + 16 + n])[0] == _events.masked_crc(data)
        out.append(data)
        pos += 16 + n
    return out


def _fields(buf):
    """Minimal protobuf decoder: [(field, wire, value)]."""
    pos, out = 0, []
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = _varint(buf, pos)
        elif wire == 1:
            v, pos = struct.unpack("<d", buf[pos : pos + 8])[0], pos + 8
        elif wire == 5:
            v, pos = struct.unpack("<f", buf[pos : pos + 4])[0], pos + 4
        else:
            n, pos = _varint(buf, pos)
            v, pos = buf[pos : pos + n], pos + n
        out.append((field, wire, v))
    return out


def _varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def test_crc32c_known_values():
    assert _events.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert _events.crc32c(b"") == 0
    assert _events.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert _events._varint(300) == b"\xac\x02" and _events._varint(1) == b"\x01"


def test_event_file_roundtrip(tmp_path):
    w = _events.EventFileWriter(str(tmp_path / "run"))
    w.scalars(3, {"epoch_loss": 0.25, "epoch_accuracy": 0.75})
    vals = np.array([-1.0, 0.0, 0.5, 0.5, 2.0])
    w.histograms(3, {"dense/kernel": vals})
    w.close()
    assert "events.out.tfevents." in w.path and w.path.endswith(".v2")
    recs = [dict((f, v) for f, _, v in _fields(r)) for r in _records(w.path)]
    assert recs[0][3] == b"brain.Event:2" and recs[0][2] == 0
    assert recs[1][2] == 3
    values = [dict((f, v) for f, _, v in _fields(v)) for _, _, v in _fields(recs[1][5])]
    assert values[0][1] == b"epoch_loss" and values[0][2] == 0.25
    assert values[1][1] == b"epoch_accuracy" and values[1][2] == 0.75
    (hv,) = [dict((f, v) for f, _, v in _fields(v)) for _, _, v in _fields(recs[2][5])]
    assert hv[1] == b"dense/kernel"
    h = dict((f, v) for f, _, v in _fields(hv[5]))
    assert (h[1], h[2], h[3], h[4], h[5]) == (-1.0, 2.0, 5.0, 2.0, 5.5)
    counts = np.frombuffer(h[7], "<f8")
    limits = np.frombuffer(h[6], "<f8")
    assert counts.sum() == 5 and len(limits) == len(counts) == 30 and limits[-1] == 2.0


def test_writer_imports_no_framework():
    import subprocess

    code = (
        "import sys, tempfile; from duallearn.callbacks import _events, TensorBoard;"
        "w = _events.EventFileWriter(tempfile.mkdtemp()); w.scalars(0, {'a': 1.0}); w.close();"
        "assert 'tensorflow' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
