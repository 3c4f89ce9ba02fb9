"""The ``.dlm`` container: an uncompressed zip of JSON and safetensors members plus a
manifest of SHA-256 digests (docs/format.md). Reading checks names, sizes and digests before
parsing anything; writing is atomic (temp file, fsync, rename)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import Any

from ..errors import SerializationError

FORMAT = "duallearn-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_JSON = 64 * 1024 * 1024


def atomic_write(path: str, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise SerializationError(f"{path} exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SerializationError(
            f"Cannot save to {path}: the folder {directory} does not exist. Fix: create it first."
        )
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def pack(members: Mapping[str, bytes]) -> bytes:
    """Zip the members (stored, fixed timestamps) with a manifest of their digests."""
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "members": {
            n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
            for n, b in sorted(members.items())
        },
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in [
            *sorted(members.items()),
            (MANIFEST, json.dumps(manifest, indent=1).encode()),
        ]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    return buf.getvalue()


def unpack(path: str, allowed: set[str]) -> dict[str, bytes]:
    """Read and verify a container; returns member name → bytes."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SerializationError(f"No such model file: {path}.") from None
    except IsADirectoryError:
        raise SerializationError(f"{path} is a folder, not a .dlm model file.") from None
    return unpack_bytes(raw, allowed, path)


def unpack_bytes(raw: bytes, allowed: set[str], label: str = "model file") -> dict[str, bytes]:
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise SerializationError(
            f"{label} is not a duallearn model file (not a zip container, or truncated)."
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise SerializationError(f"{label} is a corrupt zip container: {exc}.") from None
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise SerializationError(f"{label} has duplicate members: {sorted(names)}.")
    unexpected = [n for n in names if n not in allowed | {MANIFEST}]
    if unexpected:
        raise SerializationError(
            f"{label} has unexpected members {unexpected[:5]}. "
            f"Expected only {sorted(allowed | {MANIFEST})}."
        )
    if MANIFEST not in names:
        raise SerializationError(f"{label} has no {MANIFEST}; it was not written by duallearn.")
    members: dict[str, bytes] = {}
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise SerializationError(
                f"{label}: member {info.filename!r} is compressed; duallearn files store "
                "members uncompressed (this also rules out zip bombs)."
            )
        if info.file_size > len(raw) or info.compress_size != info.file_size:
            raise SerializationError(
                f"{label}: member {info.filename!r} declares {info.file_size} bytes, more than "
                f"the file holds ({len(raw)})."
            )
        try:
            members[info.filename] = zf.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise SerializationError(f"{label}: cannot read {info.filename!r}: {exc}.") from None
    manifest = parse_json(members.pop(MANIFEST), f"{label}: {MANIFEST}")
    if manifest.get("format") != FORMAT:
        raise SerializationError(
            f"{label}: not a duallearn model (format {manifest.get('format')!r})."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise SerializationError(
            f"{label} has format version {version!r}; this duallearn reads versions 1.."
            f"{FORMAT_VERSION}. Fix: upgrade duallearn to read newer files."
        )
    listed = manifest.get("members")
    if not isinstance(listed, dict) or set(listed) != set(members):
        raise SerializationError(
            f"{label}: the manifest lists {sorted(listed) if isinstance(listed, dict) else listed} "
            f"but the file holds {sorted(members)}."
        )
    for name, data in members.items():
        entry = listed[name]
        digest = hashlib.sha256(data).hexdigest()
        if not isinstance(entry, dict) or entry.get("sha256") != digest:
            raise SerializationError(
                f"{label}: member {name!r} fails its SHA-256 check (expected "
                f"{entry.get('sha256') if isinstance(entry, dict) else entry!r}, got {digest}): "
                "the file is corrupt or was modified."
            )
    return members


def parse_json(data: bytes, label: str) -> dict[str, Any]:
    if len(data) > MAX_JSON:
        raise SerializationError(f"{label} is larger than {MAX_JSON} bytes.")
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{label} is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise SerializationError(f"{label} must be a JSON object.")
    return value
