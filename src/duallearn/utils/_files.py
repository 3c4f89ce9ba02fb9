"""``get_file``: download once into a cache folder, check a hash, extract safely.

Keras 3's ``keras.utils.get_file`` with its arguments and its cache layout, under
``$DUALLEARN_HOME`` (default ``~/.duallearn``) instead of ``$KERAS_HOME`` / ``~/.keras``.
Differs from Keras 3 where Keras is lax: an archive member that would land outside the
extraction folder is an :class:`UnsafeArchiveError` (Keras warns and skips it); a failed download
is a :class:`DownloadError` naming the URL and the path where the file can be put by hand; a
download goes to a temporary file renamed into place, so the cache never holds half a file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, DuallearnError

_CHUNK = 65535


class DownloadError(DuallearnError, OSError):
    """A file could not be fetched (no network, HTTP error, unreachable host)."""


class FileHashError(DuallearnError, ValueError):
    """A downloaded file's hash differs from the ``file_hash`` the caller expects."""


class UnsafeArchiveError(DuallearnError, ValueError):
    """An archive holds a member that would be written outside the extraction folder."""


def duallearn_home() -> str:
    """The cache root: ``$DUALLEARN_HOME`` when set, else ``~/.duallearn``.

    Returns:
        The folder (not created here) under which ``get_file`` keeps ``cache_subdir``.

    Example:
        >>> os.environ["DUALLEARN_HOME"] = "/tmp/dlhome"; duallearn_home()
        '/tmp/dlhome'
    """
    home = os.environ.get("DUALLEARN_HOME")
    return os.path.expanduser(home) if home else os.path.join(os.path.expanduser("~"), ".duallearn")


def _hasher(algorithm: str, file_hash: str | None = None) -> Any:
    if algorithm not in ("auto", "sha256", "md5"):
        raise ConfigError(
            "hash_algorithm must be 'auto', 'sha256' or 'md5'. "
            f"Received: hash_algorithm={algorithm!r}. Fix: pass one of these names."
        )
    if algorithm == "sha256" or (algorithm == "auto" and file_hash and len(file_hash) == 64):
        return hashlib.sha256()
    if algorithm == "auto" and file_hash is None:
        return hashlib.sha256()
    return hashlib.md5()  # Keras's legacy choice for 'auto' with a non-sha256 hash


def hash_file(
    fpath: str | os.PathLike[str], algorithm: str = "sha256", chunk_size: int = _CHUNK
) -> str:
    """The hex digest of a file (Keras's ``file_utils.hash_file``).

    Args:
        fpath: The file to hash.
        algorithm: ``"sha256"``, ``"md5"`` or ``"auto"`` (sha256).
        chunk_size: Bytes read at a time.

    Returns:
        The lower-case hex digest.

    Example:
        >>> hash_file("empty.txt")
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    hasher = _hasher(algorithm)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return str(hasher.hexdigest())


def validate_file(
    fpath: str | os.PathLike[str], file_hash: str, algorithm: str = "auto", chunk_size: int = _CHUNK
) -> bool:
    """Whether a file's sha256 / md5 digest equals ``file_hash`` ('auto': 64 hex digits are
    sha256, anything else md5, as in Keras)."""
    hasher = _hasher(algorithm, file_hash)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return str(hasher.hexdigest()) == str(file_hash).lower()


# ---- archives ---------------------------------------------------------------------------------
def _inside(base: str, target: str) -> bool:
    try:
        return os.path.commonpath([base, target]) == base
    except ValueError:  # different drives
        return False


def _unsafe(archive: str, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Refusing to extract {archive!r}: member {member!r} {why}. Expected every member "
        "to stay inside the extraction folder (no absolute path, no '..', no link pointing "
        "out). Fix: the archive is damaged or hostile; download it again from a trusted "
        "source, or extract it yourself after checking its contents."
    )


def _check_member(archive: str, base: str, name: str, link: str | None, hard: bool) -> None:
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise _unsafe(archive, name, "has an absolute path")
    dest = os.path.realpath(os.path.join(base, name))
    if not _inside(base, dest):
        raise _unsafe(archive, name, "leaves the folder (through '..' or a link)")
    if link is not None:
        if os.path.isabs(link):
            raise _unsafe(archive, name, f"is a link to the absolute path {link!r}")
        start = base if hard else os.path.dirname(dest)
        if not _inside(base, os.path.realpath(os.path.join(start, link))):
            raise _unsafe(archive, name, f"is a link to {link!r}, outside the folder")


def _extract_tar(file_path: str, path: str) -> None:
    with tarfile.open(file_path) as tar:
        members = tar.getmembers()
        base = os.path.realpath(path)
        for m in members:
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                raise _unsafe(file_path, m.name, "is a device, fifo or other special file")
            link = m.linkname if (m.issym() or m.islnk()) else None
            _check_member(file_path, base, m.name, link, m.islnk())
        os.makedirs(path, exist_ok=True)
        if sys.version_info >= (3, 12) or hasattr(tarfile, "data_filter"):
            tar.extractall(path, members=members, filter="data")
        else:  # pragma: no cover - old Pythons without extraction filters
            tar.extractall(path, members=members)


def _extract_zip(file_path: str, path: str) -> None:
    with zipfile.ZipFile(file_path) as zf:
        base = os.path.realpath(path)
        infos = zf.infolist()
        for info in infos:
            _check_member(file_path, base, info.filename, None, False)
        os.makedirs(path, exist_ok=True)
        zf.extractall(path, members=infos)


def extract_archive(
    file_path: str | os.PathLike[str],
    path: str | os.PathLike[str] = ".",
    archive_format: str | Sequence[str] | None = "auto",
) -> bool:
    """Extract a tar (``.tar``, ``.tar.gz``, ``.tar.bz2``) or zip archive into ``path``.

    Args:
        file_path: The archive.
        path: The folder to extract into (created).
        archive_format: ``"auto"`` (``["tar", "zip"]``), ``"tar"``, ``"zip"``, a list of
            these, or ``None`` (extract nothing).

    Returns:
        ``True`` when the file was one of the formats and was extracted, else ``False``.

    Raises:
        UnsafeArchiveError: a member would be written outside ``path`` (absolute path, ``..``,
            a link pointing out, a device file); nothing is extracted then.
        ConfigError: an unknown ``archive_format``.

    Example:
        >>> extract_archive("photos.tar.gz", "photos")
        True
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    if isinstance(formats, str):
        formats = [formats]
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ConfigError(
                "archive_format must be 'auto', 'tar', 'zip', a list of these, or None. "
                f"Received: archive_format={archive_format!r}."
            )
        matches = tarfile.is_tarfile if kind == "tar" else zipfile.is_zipfile
        if matches(file_path):
            try:
                (_extract_tar if kind == "tar" else _extract_zip)(file_path, path)
            except (tarfile.TarError, zipfile.BadZipFile, OSError, KeyboardInterrupt):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                raise
            return True
    return False


# ---- get_file ---------------------------------------------------------------------------------
def _download(origin: str, target: str) -> None:
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=".part-", suffix="-" + os.path.basename(target), dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin) as response:
            expected = response.headers.get("Content-Length") if response.headers else None
            size = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                size += len(chunk)
            if expected is not None and size < int(expected):
                raise urllib.error.ContentTooShortError(
                    f"the connection closed after {size} of {expected} bytes",
                    None,  # type: ignore[arg-type]
                )
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, (OSError, ValueError, http.client.HTTPException)):
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            code = f"HTTP {exc.code}: " if isinstance(exc, urllib.error.HTTPError) else ""
            raise DownloadError(
                f"Could not download {origin} ({code}{reason}). Expected to fetch it into the "
                f"cache file {target!r}. Fix: check the network or the URL; or, without network, "
                f"download {origin} elsewhere and copy it to exactly {target!r} (get_file then "
                "uses that file without downloading)."
            ) from exc
        raise


def get_file(
    fname: str | os.PathLike[str] | None = None,
    origin: str | None = None,
    untar: bool = False,
    md5_hash: str | None = None,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    archive_format: str | Sequence[str] | None = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    force_download: bool = False,
) -> str:
    """Download ``origin`` into the cache unless a good copy is there; return its path.

    The file lands at ``cache_dir/cache_subdir/fname`` (``cache_dir`` defaults to
    ``$DUALLEARN_HOME``, else ``~/.duallearn``; a folder that cannot be written falls back to
    ``/tmp/.duallearn``, as Keras falls back to ``/tmp/.keras``). A cached file is reused unless
    ``force_download`` or its hash differs from ``file_hash``. With ``extract`` (or ``untar``),
    the archive is kept as ``fname`` (when ``fname`` has an extension, extracted into
    ``<stem>_extracted``) or as ``<fname>_archive`` (extracted into ``fname``), exactly as Keras
    names them, and the extraction folder is returned.

    Args:
        fname: The file name in the cache (no folder); default: the URL's last path part.
        origin: The URL (``http(s)://``, ``ftp://`` or ``file://``).
        untar: Deprecated spelling of ``extract=True, archive_format="tar"``.
        md5_hash: Deprecated spelling of ``file_hash=..., hash_algorithm="md5"``.
        file_hash: Expected sha256 or md5 hex digest of the file.
        cache_subdir: Folder under ``cache_dir`` (an absolute path is used as is).
        hash_algorithm: ``"auto"`` (64 hex digits: sha256, else md5), ``"sha256"``, ``"md5"``.
        extract: Extract a tar / zip archive after download.
        archive_format: ``"auto"``, ``"tar"``, ``"zip"``, a list of them, or ``None``.
        cache_dir: Cache root; default ``$DUALLEARN_HOME`` or ``~/.duallearn``.
        force_download: Download even when a cached copy exists.

    Returns:
        The path of the file (or of the extraction folder with ``extract``).

    Raises:
        ConfigError: no ``origin``, or ``fname`` holds a folder.
        DownloadError: the download failed (the message names the URL and the cache path
            where a hand-downloaded copy can be put).
        FileHashError: the downloaded file's hash is not ``file_hash``.
        UnsafeArchiveError: the archive has members that would leave the extraction folder.

    Example:
        >>> path = dl.utils.get_file(origin="https://example.org/data.csv", file_hash="9f86d0...")
    """
    if origin is None:
        raise ConfigError(
            "get_file needs origin= (the URL of the file to download). Received: origin=None. "
            "Fix: pass origin='https://...'."
        )
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    _hasher(hash_algorithm)  # validates the name
    base = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else duallearn_home()
    _creatable(base)
    if not os.access(base, os.W_OK):
        base = os.path.join(
            "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".duallearn"
        )
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    provided = os.fspath(fname) if fname is not None else None
    name = provided or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ConfigError(
            f"get_file cannot take a file name from origin={origin!r}. Expected a URL ending in "
            "a file name. Fix: pass fname='name.ext'."
        )
    if provided and (os.sep in name or (os.altsep and os.altsep in name)):
        raise ConfigError(
            f"get_file's fname is a file name, not a path. Received: fname={name!r}. Fix: pass "
            "the folder as cache_dir= (or cache_subdir=) and the bare name as fname=."
        )
    extraction_dir = None
    if extract or untar:
        if provided and "." in name:
            target = os.path.join(datadir, name)
            extraction_dir = os.path.join(datadir, f"{name[: name.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, name)
            target = os.path.join(datadir, f"{name}_archive")
    else:
        target = os.path.join(datadir, name)

    download = force_download or not os.path.exists(target)
    if (
        not download
        and file_hash is not None
        and not validate_file(target, file_hash, hash_algorithm)
    ):
        print(
            f"A local file was found at {target}, but its {hash_algorithm} hash does not match "
            f"{file_hash}: downloading it again."
        )
        download = True
    if download:
        print(f"Downloading data from {origin}")
        _download(origin, target)
        if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
            got = hash_file(target, "sha256" if len(file_hash) == 64 else "md5")
            os.remove(target)
            raise FileHashError(
                f"The file downloaded from {origin} is incomplete or corrupted: expected "
                f"{hash_algorithm} hash {file_hash}, received {got}. The file was deleted. Fix: "
                "download again; if it keeps failing, check that file_hash is the right one."
            )
    if extraction_dir is not None:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            raise ConfigError(
                f"get_file(extract=True) could not extract {target!r}: it is not a "
                f"{'tar' if untar else archive_format} archive. Expected a .tar, .tar.gz, "
                ".tar.bz2 or .zip file. Fix: pass extract=False to keep the file as is."
            )
        return extraction_dir
    return target


def _creatable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        return True
    except OSError:
        return False
