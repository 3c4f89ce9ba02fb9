"""``dl.utils.get_file``: cache, hashes, safe extraction, atomic downloads, offline errors.

No test touches the network: origins are ``file://`` URLs or a local ``http.server`` thread.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

import duallearn as dl
from duallearn.errors import ConfigError, DuallearnError
from duallearn.utils import DownloadError, FileHashError, UnsafeArchiveError

PAYLOAD = b"duallearn test payload\n" * 50


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "remote" / "data.bin"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    return src


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


class _Server:
    def __init__(self, routes: dict[str, tuple[bytes, int | None]]) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits.append(self.path)
                if self.path not in routes:
                    self.send_error(404)
                    return
                body, length = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_file_url_download_lands_in_cache_subdir(source: Path, cache: Path) -> None:
    path = dl.utils.get_file("d.bin", origin=source.as_uri(), cache_dir=cache)
    assert path == str(cache / "datasets" / "d.bin")
    assert Path(path).read_bytes() == PAYLOAD
    # fname defaults to the URL's last path part; cache_subdir and an absolute subdir
    p2 = dl.utils.get_file(origin=source.as_uri(), cache_dir=cache, cache_subdir="mine")
    assert p2 == str(cache / "mine" / "data.bin")
    absolute = cache.parent / "elsewhere"
    p3 = dl.utils.get_file(origin=source.as_uri(), cache_subdir=str(absolute))
    assert p3 == str(absolute / "data.bin")


def test_duallearn_home_env_is_the_default_cache(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALLEARN_HOME", str(tmp_path / "home"))
    path = dl.utils.get_file(origin=source.as_uri())
    assert path == str(tmp_path / "home" / "datasets" / "data.bin")


def test_http_download_and_cache_hit_skips_the_network(cache: Path) -> None:
    with _Server({"/f.txt": (PAYLOAD, None)}) as server:
        url = f"{server.url}/f.txt"
        path = dl.utils.get_file(origin=url, cache_dir=cache, file_hash=_sha256(PAYLOAD))
        assert Path(path).read_bytes() == PAYLOAD
        again = dl.utils.get_file(origin=url, cache_dir=cache, file_hash=_sha256(PAYLOAD))
        assert again == path
        assert server.hits == ["/f.txt"]  # the second call used the cache
        dl.utils.get_file(origin=url, cache_dir=cache, force_download=True)
        assert server.hits == ["/f.txt", "/f.txt"]


def test_cached_file_with_matching_hash_needs_no_origin_at_all(cache: Path) -> None:
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "x.npz").write_bytes(PAYLOAD)
    gone = "file:///nonexistent/duallearn/x.npz"
    for h in (_sha256(PAYLOAD), hashlib.md5(PAYLOAD).hexdigest()):
        assert dl.utils.get_file("x.npz", gone, file_hash=h, cache_dir=cache).endswith("x.npz")
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    assert dl.utils.get_file("x.npz", gone, md5_hash=md5, cache_dir=cache).endswith("x.npz")


def test_stale_cached_file_is_downloaded_again(source: Path, cache: Path, capsys) -> None:
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "data.bin").write_bytes(b"old and truncated")
    path = dl.utils.get_file(origin=source.as_uri(), cache_dir=cache, file_hash=_sha256(PAYLOAD))
    assert Path(path).read_bytes() == PAYLOAD
    assert "does not match" in capsys.readouterr().out


def test_hash_mismatch_after_download_is_an_error_and_removes_the_file(
    source: Path, cache: Path
) -> None:
    with pytest.raises(FileHashError, match="expected .*hash 0{64}, received " + _sha256(PAYLOAD)):
        dl.utils.get_file(origin=source.as_uri(), cache_dir=cache, file_hash="0" * 64)
    assert not (cache / "datasets" / "data.bin").exists()
    assert isinstance(FileHashError("x"), ValueError)


def test_offline_error_names_the_url_and_where_to_put_the_file(cache: Path) -> None:
    # a closed local port: connection refused, as without network
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/datasets/mnist.npz"
    with pytest.raises(DownloadError) as info:
        dl.utils.get_file(origin=url, cache_dir=cache)
    msg = str(info.value)
    target = str(cache / "datasets" / "mnist.npz")
    assert url in msg and repr(target) in msg and "copy it to exactly" in msg
    assert isinstance(info.value, DuallearnError) and isinstance(info.value, OSError)
    assert os.listdir(cache / "datasets") == []


def test_http_404_is_a_download_error(cache: Path) -> None:
    with _Server({}) as server, pytest.raises(DownloadError, match="HTTP 404"):
        dl.utils.get_file(origin=f"{server.url}/missing.bin", cache_dir=cache)


def test_interrupted_download_leaves_nothing_half_written(cache: Path) -> None:
    # the server promises 10000 bytes and sends 100, then closes: the read fails midway
    with _Server({"/big.bin": (b"x" * 100, 10_000)}) as server:
        with pytest.raises(DownloadError, match="big.bin"):
            dl.utils.get_file(origin=f"{server.url}/big.bin", cache_dir=cache)
    assert os.listdir(cache / "datasets") == []  # no target, no temporary part file


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"origin": None}, "needs origin="),
        ({"fname": "a/b.txt", "origin": "file:///x"}, "file name, not a path"),
        ({"origin": "http://host/"}, "cannot take a file name"),
        ({"origin": "file:///x", "hash_algorithm": "sha1"}, "'auto', 'sha256' or 'md5'"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str, cache: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        dl.utils.get_file(cache_dir=cache, **kwargs)


# ---- extraction -------------------------------------------------------------------------------
def _tar(path: Path, members: list[tuple[str, bytes | None, str | None, bytes]]) -> Path:
    """members: (name, data or None, linkname or None, type)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data, link, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if link is not None:
                info.linkname = link
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(zipfile.ZipInfo(name), b"content")
    return path


def test_extract_tar_gz_and_zip_with_keras_names(tmp_path: Path, cache: Path) -> None:
    tgz = _tar(tmp_path / "photos.tar.gz", [
        ("photos/a.txt", b"A", None, tarfile.REGTYPE),
        ("photos/sub/b.txt", b"B", None, tarfile.REGTYPE),
        ("photos/link.txt", None, "a.txt", tarfile.SYMTYPE),
    ])  # fmt: skip
    # fname without extension: archive kept as <fname>_archive, extracted into <fname>
    out = dl.utils.get_file("photos", origin=tgz.as_uri(), extract=True, cache_dir=cache)
    assert out == str(cache / "datasets" / "photos")
    assert (Path(out) / "photos" / "sub" / "b.txt").read_bytes() == b"B"
    assert (Path(out) / "photos" / "link.txt").read_bytes() == b"A"
    assert (cache / "datasets" / "photos_archive").is_file()
    # fname with an extension: kept as is, extracted into <stem>_extracted
    out2 = dl.utils.get_file("p.tar.gz", origin=tgz.as_uri(), untar=True, cache_dir=cache)
    assert out2 == str(cache / "datasets" / "p_extracted")
    z = _zip(tmp_path / "z.zip", ["z/one.txt", "z/two/three.txt"])
    out3 = dl.utils.get_file(origin=z.as_uri(), extract=True, cache_dir=cache)
    assert out3 == str(cache / "datasets" / "z.zip")  # no fname: <name>, archive <name>_archive
    assert (Path(out3) / "z" / "two" / "three.txt").read_bytes() == b"content"


def test_extraction_paths_match_keras(tmp_path: Path) -> None:
    keras_file_utils = importlib.import_module("keras.src.utils.file_utils")
    tgz = _tar(tmp_path / "arch.tar.gz", [("d/a.txt", b"A", None, tarfile.REGTYPE)])
    cases = ({"fname": "arch"}, {"fname": "arch.tar.gz"}, {}, {"fname": "f.bin", "extract": False})
    for i, kw in enumerate(cases):
        kw = {"extract": True, **kw}
        a, b = tmp_path / f"a{i}", tmp_path / f"b{i}"
        b.mkdir()  # Keras falls back to /tmp/.keras when cache_dir does not exist yet
        ours = dl.utils.get_file(origin=tgz.as_uri(), cache_dir=a, **kw)
        theirs = keras_file_utils.get_file(origin=tgz.as_uri(), cache_dir=str(b), **kw)
        assert os.path.relpath(ours, a) == os.path.relpath(theirs, b)
        assert sorted(os.listdir(a / "datasets")) == sorted(os.listdir(b / "datasets"))


HOSTILE_TARS = {
    "dotdot": [("../evil.txt", b"x", None, tarfile.REGTYPE)],
    "nested-dotdot": [("ok/../../evil.txt", b"x", None, tarfile.REGTYPE)],
    "absolute": [("/tmp/duallearn-evil.txt", b"x", None, tarfile.REGTYPE)],
    "symlink-out": [("link", None, "../../outside", tarfile.SYMTYPE)],
    "symlink-absolute": [("link", None, "/etc/passwd", tarfile.SYMTYPE)],
    "symlink-then-write-through": [
        ("d", None, "..", tarfile.SYMTYPE),
        ("d/evil.txt", b"x", None, tarfile.REGTYPE),
    ],
    "hardlink-out": [("hl", None, "../outside", tarfile.LNKTYPE)],
    "device": [("dev", None, None, tarfile.CHRTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_is_refused_and_nothing_is_written(case: str, tmp_path: Path) -> None:
    arch = _tar(
        tmp_path / "bad.tar.gz", [("fine.txt", b"ok", None, tarfile.REGTYPE), *HOSTILE_TARS[case]]
    )
    cache = tmp_path / "c"
    with pytest.raises(UnsafeArchiveError, match="Refusing to extract .*member") as info:
        dl.utils.get_file("bad", origin=arch.as_uri(), extract=True, cache_dir=cache)
    assert "Fix:" in str(info.value) and isinstance(info.value, ValueError)
    assert not (cache / "datasets" / "bad").exists()  # not even the harmless member
    assert not (tmp_path / "evil.txt").exists() and not (cache / "evil.txt").exists()


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt"])
def test_hostile_zip_is_refused(name: str, tmp_path: Path) -> None:
    arch = _zip(tmp_path / "bad.zip", ["fine.txt", name])
    with pytest.raises(UnsafeArchiveError, match="bad.zip"):
        dl.utils.extract_archive(arch, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_extract_archive_formats(tmp_path: Path) -> None:
    z = _zip(tmp_path / "a.zip", ["x.txt"])
    assert dl.utils.extract_archive(z, tmp_path / "o1", archive_format="tar") is False
    assert dl.utils.extract_archive(z, tmp_path / "o1", archive_format=None) is False
    assert dl.utils.extract_archive(z, tmp_path / "o2", archive_format=["tar", "zip"]) is True
    with pytest.raises(ConfigError, match="archive_format must be"):
        dl.utils.extract_archive(z, tmp_path / "o3", archive_format="rar")
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"not an archive")
    with pytest.raises(ConfigError, match="not a .* archive"):
        dl.utils.get_file("plain", origin=plain.as_uri(), extract=True, cache_dir=tmp_path / "c")
