"""The ``.dlm`` container: an uncompressed zip of JSON and safetensors members plus a
manifest of SHA-256 digests (docs/format.md). Reading checks names, sizes and digests before
parsing anything; writing is atomic (temp file, fsync, rename).

Nothing read from a file is ever used as a file-system path, imported, or unpickled: member
names are compared with a fixed allow-list, and every size a header declares is checked against
the number of bytes the file really holds before any buffer is allocated for it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import SerializationError
from ._schema import check_manifest

FORMAT = "duallearn-model"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MAX_JSON = 64 * 1024 * 1024
MAX_MEMBERS = 64

# Test hook (tests/unit/test_hostile_files.py, the kill-mid-save test): called with the open
# temporary file after its first chunk is written. Never set by library code.
_AFTER_FIRST_CHUNK: Callable[[Any], None] | None = None
_CHUNK = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash at any point leaves either the old file or
    the new one: write a temporary file in the same folder, fsync it, ``os.replace`` it over
    ``path`` (atomic on POSIX and Windows), then fsync the folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SerializationError(f"Cannot save to {path}: it is a folder. Fix: name a file.")
    if not overwrite and os.path.exists(path):
        raise SerializationError(
            f"{path} exists and overwrite=False. Fix: pass overwrite=True or another path."
        )
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise SerializationError(
            f"Cannot save to {path}: the folder {directory} does not exist. Fix: create it first."
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dltmp-", suffix=".part", dir=directory)
    except OSError as exc:
        raise SerializationError(f"Cannot save to {path}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            view = memoryview(data)
            for start in range(0, max(len(view), 1), _CHUNK):
                f.write(view[start : start + _CHUNK])
                if start == 0 and _AFTER_FIRST_CHUNK is not None:
                    _AFTER_FIRST_CHUNK(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the permissions open() would.
        os.chmod(tmp, (stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP |
                       stat.S_IROTH | stat.S_IWOTH) & ~_umask())  # fmt: skip
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise SerializationError(f"Cannot save to {path}: {exc.strerror or exc}.") from None
        raise
    try:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def pack(members: Mapping[str, bytes], version: int = FORMAT_VERSION) -> bytes:
    """Zip the members (stored, fixed timestamps, sorted) with a manifest of their digests."""
    manifest = {
        "format": FORMAT,
        "format_version": version,
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
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def read_file(path: str, what: str = "model file") -> bytes:
    """The bytes of ``path`` (a regular file), or a SerializationError saying why not."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SerializationError(
            f"No such {what}: {path}. Expected: an existing file. Fix: check the path (and "
            "the working directory)."
        ) from None
    except OSError as exc:
        raise SerializationError(f"Cannot read {what} {path}: {exc.strerror}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise SerializationError(f"{path} is a folder, not a {what}.")
    if not stat.S_ISREG(st.st_mode):
        raise SerializationError(f"{path} is not a regular file, so it is not a {what}.")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise SerializationError(f"Cannot read {what} {path}: {exc.strerror}.") from None


def unpack(path: str, allowed: set[str]) -> tuple[dict[str, bytes], int]:
    """Read and verify a container; returns ``(member name → bytes, format version)``."""
    return unpack_bytes(read_file(path), allowed, os.fspath(path))


def _check_name(
    name: str, label: str, why: str = "duallearn files only hold flat member names"
) -> None:
    """Refuse a member name that is a path (absolute, with '..' or a drive letter)."""
    if (
        not name
        or "\x00" in name
        or name.startswith(("/", "\\"))
        or "\\" in name
        or ".." in name.split("/")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise SerializationError(
            f"{label}: member name {name!r} is a path (absolute, or with '..' or a drive); "
            f"{why}. The file is hostile or corrupt."
        )


def _zip_eocd_ok(raw: bytes, label: str) -> None:
    """Refuse multi-disk archives and ZIP64 central directories that claim more entries than
    the allowed member count (before zipfile walks them)."""
    pos = raw.rfind(b"PK\x05\x06", max(0, len(raw) - 65557))
    if pos < 0 or pos + 22 > len(raw):
        raise SerializationError(
            f"{label} is not a duallearn model file (not a zip container, or truncated)."
        )
    disk, cd_disk, n_here, n_total, cd_size, cd_off = struct.unpack(
        "<HHHHII", raw[pos + 4 : pos + 20]
    )
    if disk != 0 or cd_disk != 0 or n_here != n_total:
        raise SerializationError(f"{label} is a multi-part zip archive; it is not a .dlm file.")
    if n_total > MAX_MEMBERS and n_total != 0xFFFF:
        raise SerializationError(
            f"{label} declares {n_total} members; a .dlm file has at most {MAX_MEMBERS}."
        )


def unpack_bytes(
    raw: bytes,
    allowed: set[str],
    label: str = "model file",
    digests: dict[str, bool] | None = None,
) -> tuple[dict[str, bytes], int]:
    """Verify and split a container held in memory: ``(member name → bytes, version)``.

    With ``digests`` given, a member failing its SHA-256 check is recorded there (name →
    ok) instead of raising (for ``duallearn inspect``); every other check still raises."""
    _zip_eocd_ok(raw, label)
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise SerializationError(f"{label} is a corrupt zip container: {exc}.") from None
    except (struct.error, UnicodeDecodeError, NotImplementedError) as exc:
        raise SerializationError(f"{label} is a corrupt zip container: {exc}.") from None
    if len(infos) > MAX_MEMBERS:
        raise SerializationError(
            f"{label} holds {len(infos)} members; a .dlm file has at most {MAX_MEMBERS}."
        )
    names = [i.filename for i in infos]
    for name in names:
        _check_name(name, label)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise SerializationError(
            f"{label} has duplicate members {dup}: a member could be shadowed, so the file is "
            "refused."
        )
    unexpected = [n for n in names if n not in allowed | {MANIFEST}]
    if unexpected:
        raise SerializationError(
            f"{label} has unexpected members {unexpected[:5]}. "
            f"Expected only {sorted(allowed | {MANIFEST})}."
        )
    if MANIFEST not in names:
        raise SerializationError(f"{label} has no {MANIFEST}; it was not written by duallearn.")
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            raise SerializationError(
                f"{label}: member {info.filename!r} is compressed; duallearn files store "
                "members uncompressed (this also rules out zip bombs)."
            )
        if info.flag_bits & 0x1:
            raise SerializationError(f"{label}: member {info.filename!r} is encrypted.")
        total += info.file_size
        if info.compress_size != info.file_size or total > len(raw):
            raise SerializationError(
                f"{label}: member {info.filename!r} declares {info.file_size} bytes, and the "
                f"members together more than the {len(raw)} bytes the file holds: truncated "
                "or hostile."
            )
        if info.header_offset + info.file_size > len(raw):
            raise SerializationError(
                f"{label}: member {info.filename!r} lies past the end of the file: truncated."
            )
    members: dict[str, bytes] = {}
    for info in infos:
        try:
            members[info.filename] = zf.read(info)
        except (
            zipfile.BadZipFile,
            ValueError,
            OSError,
            EOFError,
            RuntimeError,
            NotImplementedError,
            struct.error,
        ) as exc:
            raise SerializationError(f"{label}: cannot read {info.filename!r}: {exc}.") from None
    manifest = parse_json(members.pop(MANIFEST), f"{label}: {MANIFEST}")
    if manifest.get("format") != FORMAT:
        raise SerializationError(
            f"{label}: not a duallearn model (format {manifest.get('format')!r})."
        )
    version = manifest.get("format_version")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or version > FORMAT_VERSION
        or version < 1
    ):
        raise SerializationError(
            f"{label} has format version {version!r}; this duallearn reads versions 1.."
            f"{FORMAT_VERSION}. Fix: upgrade duallearn to read newer files."
        )
    check_manifest(manifest, label)
    listed = manifest.get("members")
    if not isinstance(listed, dict) or set(listed) != set(members):
        raise SerializationError(
            f"{label}: the manifest lists {sorted(listed) if isinstance(listed, dict) else listed} "
            f"but the file holds {sorted(members)}."
        )
    for name, data in members.items():
        entry = listed[name]
        digest = hashlib.sha256(data).hexdigest()
        if not isinstance(entry, dict):
            raise SerializationError(f"{label}: the manifest entry of {name!r} is malformed.")
        if digests is not None:
            digests[name] = entry.get("sha256") == digest and entry.get("size") == len(data)
            continue
        if entry.get("sha256") != digest:
            raise SerializationError(
                f"{label}: member {name!r} fails its SHA-256 check (expected "
                f"{entry.get('sha256')!r}, got {digest}): "
                "the file is corrupt or was modified."
            )
        if entry.get("size") != len(data):
            raise SerializationError(
                f"{label}: member {name!r} holds {len(data)} bytes; the manifest says "
                f"{entry.get('size')!r}."
            )
    return members, version


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise SerializationError(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise SerializationError(f"non-standard JSON constant {name}")


def loads_json(data: bytes, label: str) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, bounded nesting (which keys
    each object may hold: ``_schema``)."""
    if len(data) > MAX_JSON:
        raise SerializationError(f"{label} is larger than {MAX_JSON} bytes.")
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
        )
    except SerializationError as exc:
        raise SerializationError(f"{label} is not valid JSON: {exc}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationError(f"{label} is not valid JSON: {exc}.") from None
    except RecursionError:
        raise SerializationError(f"{label} is nested too deeply to be a duallearn file.") from None


def parse_json(data: bytes, label: str) -> dict[str, Any]:
    value = loads_json(data, label)
    if not isinstance(value, dict):
        raise SerializationError(f"{label} must be a JSON object.")
    return value
