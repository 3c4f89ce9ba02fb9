"""Hostile .dlm files: every malformed, tampered or malicious file ends in a
SerializationError whose message says what is wrong; nothing in it is executed, nothing is
written outside the target, and nothing is allocated beyond the file's size.

Cases: the hand-written ones below plus the hypothesis properties (truncation, bit flips,
random member bytes, random JSON configs, random safetensors headers). Needs no framework:
every rejection happens before a backend is built.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import duallearn as dl
from duallearn.errors import DuallearnError, SerializationError
from duallearn.saving import _container, _safetensors
from duallearn.saving._container import pack

SENTINEL = "duallearn_hostile_sentinel"
ALLOC_FACTOR = 40
ALLOC_FIXED = 4 << 20


def _model() -> dl.Model:
    return dl.Sequential(
        [
            dl.Input((4,)),
            dl.layers.Dense(3, activation="relu", name="hidden"),
            dl.layers.Dense(2, name="out"),
        ],
        name="victim",
    )


def _members() -> dict[str, bytes]:
    """The members of a valid file (written without any framework)."""
    buf = io.BytesIO()
    model = _model()
    config = {
        "format_version": _container.FORMAT_VERSION,
        "model": {"class_name": "Sequential", "config": model.get_config()},
        "compile": None,
    }
    from duallearn.saving import _weights_blob

    members = {
        "config.json": json.dumps(config).encode(),
        "model.safetensors": _weights_blob(model),
        "metadata.json": json.dumps({"format_version": _container.FORMAT_VERSION}).encode(),
    }
    del buf
    return members


MEMBERS = _members()
VALID = pack(MEMBERS)


def _config() -> dict:
    return json.loads(MEMBERS["config.json"])


def _with(**replace: bytes) -> bytes:
    members = dict(MEMBERS)
    for name, data in replace.items():
        members[name.replace("_json", ".json").replace("_st", ".safetensors")] = data
    return pack(members)


def _with_config(config: dict) -> bytes:
    return _with(config_json=json.dumps(config).encode())


def _raw_zip(entries: list[tuple[str, bytes]], compress: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w", compression=compress) as zf:
            for name, data in entries:
                zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data, compress)
    return buf.getvalue()


def _manifest(members: dict[str, bytes], **override: object) -> bytes:
    m = {
        "format": "duallearn-model",
        "format_version": _container.FORMAT_VERSION,
        "members": {
            n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
            for n, b in sorted(members.items())
        },
    }
    m.update(override)
    return json.dumps(m).encode()


def _reject(tmp_path, raw: bytes, *fragments: str, name: str = "hostile.dlm") -> SerializationError:
    """Load ``raw`` from a file (``name``) in an otherwise empty folder: it must raise a
    SerializationError naming ``fragments``, write nothing, and run nothing."""
    target = tmp_path / name
    target.write_bytes(raw)
    before = sorted(os.listdir(tmp_path))
    nested = tracemalloc.is_tracing()
    if not nested:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        with pytest.raises(SerializationError) as info:
            dl.load_model(str(target))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not nested:
            tracemalloc.stop()
    # Allocation bound: a small multiple of the file (JSON parsing builds Python objects)
    # plus a fixed allowance, never what a header declares.
    assert peak <= ALLOC_FACTOR * len(raw) + ALLOC_FIXED, f"peak {peak} for {len(raw)} bytes"
    assert sorted(os.listdir(tmp_path)) == before, "loading wrote into the folder"
    assert not os.path.exists(os.path.join(tmp_path.parent, SENTINEL))
    message = str(info.value)
    for frag in fragments:
        assert frag.lower() in message.lower(), f"{frag!r} not in {message!r}"
    assert str(target) in message or name in message
    return info.value


def test_valid_file_loads(tmp_path):
    path = tmp_path / "ok.dlm"
    path.write_bytes(VALID)
    model = dl.load_model(str(path))
    for a, b in zip(model.get_weights(), _model().get_weights(), strict=True):
        assert a.shape == b.shape


# ---- container ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, fragments",
    [
        (b"", ["not a duallearn model file"]),
        (b"\x80\x04\x95" + pickle.dumps(os.system), ["not a duallearn model file"]),
        (b"PK\x05\x06" + b"\x00" * 18, ["no manifest.json"]),  # an empty zip
        (VALID[: len(VALID) // 2], ["not a duallearn model file"]),
        (VALID[:-10], ["not a duallearn model file"]),
    ],
    ids=["empty", "pickle-file", "empty-zip", "half", "no-eocd"],
)
def test_not_a_container(tmp_path, raw, fragments):
    _reject(tmp_path, raw, *fragments)


def test_prefixed_bytes(tmp_path):
    """Bytes before the zip (a self-extracting stub) shift every offset: rejected or
    ignored, never misread."""
    _load_or_reject(tmp_path, b"junk" * 10 + VALID)


def test_missing_and_folder_paths(tmp_path):
    with pytest.raises(SerializationError, match="No such model file"):
        dl.load_model(str(tmp_path / "nope.dlm"))
    with pytest.raises(SerializationError, match="is a folder"):
        dl.load_model(str(tmp_path))


@pytest.mark.parametrize(
    "name", ["../evil.json", "/etc/evil.json", "a/../../evil.json", "..\\evil.json", "C:evil"]
)
def test_path_traversal_names(tmp_path, name):
    members = dict(MEMBERS)
    members[name] = b'{"pwned": true}'
    raw = _raw_zip([*members.items(), ("manifest.json", _manifest(members))])
    _reject(tmp_path, raw, repr(name)[1:-1].split("\\")[0])
    assert not (tmp_path.parent / "evil.json").exists()


def test_duplicate_members(tmp_path):
    evil = json.dumps({**_config(), "model": {"class_name": "os.system"}}).encode()
    entries = [*MEMBERS.items(), ("config.json", evil), ("manifest.json", _manifest(MEMBERS))]
    _reject(tmp_path, _raw_zip(entries), "duplicate members", "config.json")


def test_unexpected_pickle_member(tmp_path):
    payload = pickle.dumps(os.system)
    members = {**MEMBERS, "model.pkl": payload}
    raw = _raw_zip([*members.items(), ("manifest.json", _manifest(members))])
    _reject(tmp_path, raw, "unexpected members", "model.pkl")


@pytest.mark.parametrize("member", ["config.json", "model.safetensors", "metadata.json"])
def test_pickle_payload_as_member(tmp_path, member):
    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path.parent / SENTINEL}",))

    raw = _with(
        **{member.replace(".json", "_json").replace(".safetensors", "_st"): pickle.dumps(Boom())}
    )
    _reject(tmp_path, raw, member)


def test_missing_manifest(tmp_path):
    _reject(tmp_path, _raw_zip(list(MEMBERS.items())), "no manifest.json")


def test_missing_config(tmp_path):
    members = {k: v for k, v in MEMBERS.items() if k != "config.json"}
    _reject(tmp_path, pack(members), "lacks its config.json")


def test_wrong_digest(tmp_path):
    members = dict(MEMBERS)
    manifest = json.loads(_manifest(members))
    manifest["members"]["model.safetensors"]["sha256"] = "0" * 64
    raw = _raw_zip([*members.items(), ("manifest.json", json.dumps(manifest).encode())])
    _reject(tmp_path, raw, "model.safetensors", "SHA-256")


def test_tampered_member_keeps_old_digest(tmp_path):
    members = dict(MEMBERS)
    manifest = _manifest(members)
    weights = bytearray(members["model.safetensors"])
    weights[-1] ^= 0x40
    members["model.safetensors"] = bytes(weights)
    raw = _raw_zip([*members.items(), ("manifest.json", manifest)])
    _reject(tmp_path, raw, "fails its SHA-256 check")


def test_wrong_declared_size(tmp_path):
    members = dict(MEMBERS)
    manifest = json.loads(_manifest(members))
    manifest["members"]["config.json"]["size"] += 1
    raw = _raw_zip([*members.items(), ("manifest.json", json.dumps(manifest).encode())])
    _reject(tmp_path, raw, "config.json", "manifest says")


def test_manifest_lists_other_members(tmp_path):
    manifest = json.loads(_manifest(MEMBERS))
    manifest["members"]["optimizer.safetensors"] = {"sha256": "0" * 64, "size": 0}
    raw = _raw_zip([*MEMBERS.items(), ("manifest.json", json.dumps(manifest).encode())])
    _reject(tmp_path, raw, "manifest lists")


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"format_version": 99}, "format version 99"),
        ({"format_version": "1"}, "format version '1'"),
        ({"format_version": True}, "format version True"),
        ({"format_version": 0}, "format version 0"),
        ({"format": "keras"}, "not a duallearn model"),
    ],
)
def test_manifest_header(tmp_path, override, fragment):
    raw = _raw_zip([*MEMBERS.items(), ("manifest.json", _manifest(MEMBERS, **override))])
    _reject(tmp_path, raw, fragment)


@pytest.mark.parametrize(
    "manifest, fragment",
    [
        (b"\x80\x04K\x01.", "not valid JSON"),
        (b'{"format": "duallearn-model", "format": "x"}', "duplicate JSON key"),
        (b'{"format": NaN}', "non-standard JSON constant"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
    ids=["pickle", "dup-key", "nan", "deep", "array", "utf16"],
)
def test_manifest_not_json(tmp_path, manifest, fragment):
    raw = _raw_zip([*MEMBERS.items(), ("manifest.json", manifest)])
    _reject(tmp_path, raw, fragment)


def test_config_version_disagrees_with_manifest(tmp_path):
    _reject(tmp_path, _with_config({**_config(), "format_version": 1}), "inconsistent")


def test_compressed_member_zip_bomb(tmp_path):
    """A deflated member that expands 1000x: refused from its header, never inflated."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\x00" * (1 << 20)
    body = b"".join(comp.compress(chunk) for _ in range(64)) + comp.flush()  # 64 MiB → ~64 KiB
    assert len(body) < 200_000
    members = dict(MEMBERS)
    raw = _raw_zip([*members.items(), ("manifest.json", _manifest(members))])
    # Swap config.json for the bomb, declared as deflated with its true (huge) size.
    bomb = _raw_zip([("config.json", b"\x00" * 10)], zipfile.ZIP_DEFLATED)
    _reject(tmp_path, bomb, "no manifest.json")
    entries = [("config.json", chunk * 64)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in [*entries, *[(k, v) for k, v in members.items() if k != "config.json"]]:
            zf.writestr(name, data)
        zf.writestr("manifest.json", _manifest(members))
    raw = buf.getvalue()
    assert len(raw) < 1_000_000
    tracemalloc.start()
    try:
        _reject(tmp_path, raw, "compressed", "zip bombs")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(raw) + (4 << 20), f"peak {peak} bytes for a {len(raw)}-byte file"


def _patch_central_size(raw: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed and compressed sizes a central-directory entry declares."""
    out = bytearray(raw)
    pos = out.find(b"PK\x01\x02" + b"")
    while pos >= 0:
        n = struct.unpack("<H", out[pos + 28 : pos + 30])[0]
        if out[pos + 46 : pos + 46 + n] == name:
            out[pos + 20 : pos + 28] = struct.pack("<II", size, size)
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


def test_declared_member_size_beyond_file(tmp_path):
    raw = _patch_central_size(VALID, b"model.safetensors", 2**31)
    _reject(tmp_path, raw, "model.safetensors", "bytes")


def test_too_many_members(tmp_path):
    entries = [(f"m{i}.json", b"{}") for i in range(200)]
    _reject(tmp_path, _raw_zip(entries), "members")


def test_encrypted_flag(tmp_path):
    out = bytearray(VALID)
    pos = out.find(b"PK\x01\x02")
    out[pos + 8] |= 0x1  # central directory general-purpose flag: encrypted
    _reject(tmp_path, bytes(out), "")


# ---- configs naming code -----------------------------------------------------------------
CODE_NAMES = [
    "os.system",
    "builtins.eval",
    "builtins.exec",
    "__import__",
    "subprocess.Popen",
    "keras.layers.Dense",
    "duallearn.saving.os.system",
    "posix.system",
    "Lambda",
    "MyUnregisteredLayer",
]


@pytest.mark.parametrize("name", CODE_NAMES)
def test_layer_class_naming_code(tmp_path, name):
    cfg = _config()
    cfg["model"]["config"]["layers"][0] = {
        "class_name": name,
        "config": {"name": "x", "command": f"touch {tmp_path.parent / SENTINEL}"},
    }
    # Lambda is registered once functional layers land: it must refuse a config without
    # custom_objects, in its own words.
    _reject(tmp_path, _with_config(cfg), repr(name) if name != "Lambda" else "")


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "Functional.__init__"])
def test_model_class_naming_code(tmp_path, name):
    cfg = _config()
    cfg["model"]["class_name"] = name
    _reject(tmp_path, _with_config(cfg), "Sequential or Model")


@pytest.mark.parametrize(
    "key, value",
    [
        ("activation", "os.system"),
        ("activation", {"class_name": "builtins.eval", "config": {}}),
        ("kernel_initializer", {"class_name": "os.system", "config": {"command": "id"}}),
        ("kernel_initializer", "builtins.eval"),
        ("units", "__import__('os').system('id')"),
        ("units", 10**12),
        ("units", -3),
        ("name", {"__reduce__": "os.system"}),
        ("dtype", "object"),
        ("unexpected_argument", 1),
    ],
)
def test_layer_arguments_naming_code(tmp_path, key, value):
    cfg = _config()
    cfg["model"]["config"]["layers"][0]["config"][key] = value
    _reject(tmp_path, _with_config(cfg), "config")


@pytest.mark.parametrize(
    "compile_cfg",
    [
        {"optimizer": {"class_name": "os.system", "config": {}}, "loss": [None]},
        {"optimizer": "builtins.eval", "loss": ["mse"]},
        {"optimizer": "adam", "loss": [{"class_name": "os.system", "config": {}}]},
        {"optimizer": "adam", "loss": ["mse"], "metrics": [["builtins.exec"]]},
        {"optimizer": "adam", "loss": "mse", "metrics": 7},
        {"loss": ["mse"]},
        [1, 2, 3],
    ],
)
def test_compile_config_naming_code(tmp_path, compile_cfg):
    _reject(tmp_path, _with_config({**_config(), "compile": compile_cfg}), "compile config")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c["model"].pop("config"),
        lambda c: c["model"]["config"].__setitem__("layers", {"a": 1}),
        lambda c: c["model"]["config"].__setitem__("layers", [1, 2]),
        lambda c: c["model"]["config"]["input"].__setitem__("shape", ["x"]),
        lambda c: c["model"]["config"]["input"].__setitem__("shape", [10**9, 10**9]),
        lambda c: c.__setitem__("model", "os.system"),
        lambda c: c["model"].__setitem__("class_name", "Model"),
    ],
)
def test_malformed_model_config(tmp_path, mutate):
    cfg = _config()
    mutate(cfg)
    _reject(tmp_path, _with_config(cfg), "")


def test_lambda_like_source_is_never_evaluated(tmp_path):
    cfg = _config()
    cfg["model"]["config"]["layers"][0]["config"]["activation"] = (
        f"lambda x: __import__('os').system('touch {tmp_path.parent / SENTINEL}')"
    )
    _reject(tmp_path, _with_config(cfg), "config")


# ---- weights -----------------------------------------------------------------------------
def _header_blob(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    "blob, fragment",
    [
        (b"", "truncated"),
        (struct.pack("<Q", 2**63) + b"{}", "declares a"),
        (struct.pack("<Q", 10**8) + b"{}", "declares a"),
        (_header_blob({"w": {"dtype": "F32", "shape": [2**39, 2**39], "data_offsets": [0, 8]}},
                      b"\x00" * 8), "declares shape"),  # fmt: skip
        (_header_blob({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 2**40]}}),
         "outside"),  # fmt: skip
        (_header_blob({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                      b"\x00" * 4), "invalid shape"),  # fmt: skip
        (_header_blob({"w": {"dtype": "F32", "shape": [1] * 1000, "data_offsets": [0, 4]}},
                      b"\x00" * 4), "invalid shape"),  # fmt: skip
        (_header_blob({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}},
                      b"\x00" * 8), "unsupported dtype"),  # fmt: skip
        (_header_blob({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4],
                             "pickle": "os.system"}}, b"\x00" * 4), "malformed"),  # fmt: skip
        (_header_blob({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                      b"\x00" * 8), "overlapping"),  # fmt: skip
        (_header_blob({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                      b"\x00" * 12), "trailing bytes"),  # fmt: skip
        (_header_blob({"__metadata__": {"a": 1}}), "__metadata__"),
        (_header_blob([1, 2]), "JSON object"),  # type: ignore[arg-type]
        (struct.pack("<Q", 6) + b'{"a":1', "not valid JSON"),
    ],
    ids=[
        "empty", "header-2^63", "header-past-end", "huge-shape", "offsets-out", "negative-dim",
        "rank-1000", "object-dtype", "extra-key", "overlap", "trailing", "metadata", "array",
        "bad-json",
    ],
)  # fmt: skip
def test_hostile_safetensors(tmp_path, blob, fragment):
    tracemalloc.start()
    try:
        _reject(tmp_path, _with(model_st=blob), "model.safetensors", fragment)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < (16 << 20), f"peak {peak} bytes while rejecting"


def test_weight_names_and_shapes_checked(tmp_path):
    tensors, _ = _safetensors.loads(MEMBERS["model.safetensors"])
    renamed = {k.replace("hidden", "other"): v for k, v in tensors.items()}
    _reject(tmp_path, _with(model_st=_safetensors.dumps(renamed)), "config expects")
    fewer = dict(list(tensors.items())[:-1])
    _reject(tmp_path, _with(model_st=_safetensors.dumps(fewer)), "weights the file holds")
    reshaped = {k: (v.reshape(-1) if v.ndim == 2 else v) for k, v in tensors.items()}
    _reject(tmp_path, _with(model_st=_safetensors.dumps(reshaped)), "config expects")


@pytest.mark.parametrize("units", [10**5, 10**7, 2**40])
def test_config_declaring_huge_weights_allocates_nothing(tmp_path, units):
    """The config says Dense(units=huge) while the file holds a few bytes of weights: the
    weight budget refuses before the initializer draws anything."""
    cfg = _config()
    cfg["model"]["config"]["layers"][0]["config"]["units"] = units
    tracemalloc.start()
    try:
        _reject(tmp_path, _with_config(cfg), "bytes of weights the file holds")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < (16 << 20), f"peak {peak} bytes"


def test_weights_only_file_hostile(tmp_path):
    model = _model()
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(SerializationError, match="declares a"):
        model.load_weights(str(path))
    path.write_bytes(pickle.dumps(os.system))
    with pytest.raises(SerializationError):
        model.load_weights(str(path))


# ---- hypothesis ----------------------------------------------------------------------------
def _load_or_reject(tmp_path, raw: bytes) -> None:
    """Either the file loads to the original weights, or a SerializationError is raised."""
    target = tmp_path / "fuzz.dlm"
    target.write_bytes(raw)
    try:
        model = dl.load_model(str(target))
    except SerializationError as exc:
        assert str(exc).strip()
        return
    except DuallearnError as exc:  # pragma: no cover - must be SerializationError
        raise AssertionError(f"{type(exc).__name__} instead of SerializationError: {exc}") from exc
    ref, _ = _safetensors.loads(MEMBERS["model.safetensors"])
    got = model.get_weights()
    for a, b in zip(got, [ref[k] for k in sorted(ref)], strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60)
@given(cut=st.integers(0, len(VALID) - 1))
def test_truncated_anywhere(tmp_path, cut):
    _reject(tmp_path, VALID[:cut], "")


@settings(max_examples=80)
@given(pos=st.integers(0, len(VALID) - 1), bit=st.integers(0, 7))
def test_bit_flip_anywhere(tmp_path, pos, bit):
    """A flipped bit is caught (CRC, digest, structure) or lies in zip metadata no reader
    uses (timestamps, attributes): then the model loads with identical weights."""
    raw = bytearray(VALID)
    raw[pos] ^= 1 << bit
    _load_or_reject(tmp_path, bytes(raw))


@settings(max_examples=40)
@given(
    member=st.sampled_from(sorted(MEMBERS)),
    data=st.binary(max_size=256),
)
def test_random_member_bytes(tmp_path, member, data):
    members = {**MEMBERS, member: data}
    _load_or_reject(tmp_path, pack(members))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.sampled_from(CODE_NAMES),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["class_name", "config", "name", "layers", "units",
                                       "activation", "input", "shape", "x"]), children,
                      max_size=4),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=40)
@given(model_cfg=JSON)
def test_random_model_config(tmp_path, model_cfg):
    cfg = {**_config(), "model": model_cfg}
    _reject(tmp_path, _with_config(cfg), "")


@settings(max_examples=30)
@given(layer_cfg=st.dictionaries(
    st.sampled_from(["units", "activation", "use_bias", "name", "dtype", "kernel_initializer",
                     "trainable", "bias_initializer"]), JSON, max_size=3))  # fmt: skip
def test_random_layer_arguments(tmp_path, layer_cfg):
    cfg = _config()
    cfg["model"]["config"]["layers"][0]["config"].update(layer_cfg)
    target = tmp_path / "fuzz.dlm"
    target.write_bytes(_with_config(cfg))
    try:
        dl.load_model(str(target))
    except SerializationError:
        pass


@settings(max_examples=30)
@given(header=st.dictionaries(st.text(max_size=8), JSON, max_size=3), tail=st.binary(max_size=64))
def test_random_safetensors_header(tmp_path, header, tail):
    _reject(tmp_path, _with(model_st=_header_blob(header, tail)), "")


#: Recorded in the note: hand-written cases collected above plus hypothesis examples.
HYPOTHESIS_EXAMPLES = 60 + 80 + 40 + 40 + 30 + 30


def _functional_file(mutate) -> bytes:
    from duallearn.saving import _weights_blob

    a = dl.Input((4,), name="a")
    h = dl.layers.Dense(3, name="h")(a)
    model = dl.Model(a, dl.layers.Dense(2, name="o")(h), name="func")
    cfg = {
        "format_version": _container.FORMAT_VERSION,
        "model": {"class_name": "Model", "config": model.get_config()},
        "compile": None,
    }
    mutate(cfg["model"]["config"])
    return pack(
        {
            "config.json": json.dumps(cfg).encode(),
            "model.safetensors": _weights_blob(model),
            "metadata.json": MEMBERS["metadata.json"],
        }
    )


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: c["nodes"][0].__setitem__("inputs", [-1]), "refers to tensor -1"),
        (lambda c: c["nodes"][0].__setitem__("inputs", [5]), "refers to tensor 5"),
        (lambda c: c["nodes"][0].__setitem__("inputs", [True]), "refers to tensor True"),
        (lambda c: c.__setitem__("outputs", [99]), "refers to tensor 99"),
        (lambda c: c["layers"][1]["config"].__setitem__("name", "h"), "repeats layer names"),
        (lambda c: c["nodes"][0].__setitem__("layer", "os.system"), "malformed"),
        # a repeated node: the extra call reaches no output, so the model loads as written
        (lambda c: c["nodes"].append(c["nodes"][0]), ""),
    ],
    ids=["negative", "forward", "bool", "output", "dup-names", "unknown-layer", "reuse"],
)
def test_functional_graph_config(tmp_path, mutate, fragment):
    dl.set_random_seed(1234)
    raw = _functional_file(mutate)
    if fragment:
        _reject(tmp_path, raw, fragment)
    else:
        target = tmp_path / "f.dlm"
        target.write_bytes(raw)
        loaded = dl.load_model(str(target))
        reference = tmp_path / "ref.dlm"
        dl.set_random_seed(1234)  # the seed both files' weights were drawn from (conftest)
        reference.write_bytes(_functional_file(lambda c: None))
        expected = dl.load_model(str(reference))
        assert [l.name for l in loaded.layers] == [l.name for l in expected.layers]
        x = np.ones((2, 4), "float32")
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected.predict(x, verbose=0))


def test_functional_file_control(tmp_path):
    target = tmp_path / "f.dlm"
    target.write_bytes(_functional_file(lambda c: None))
    assert [l.name for l in dl.load_model(str(target)).layers][-2:] == ["h", "o"]


# ---- hostile Keras 3 files (.keras) --------------------------------------------------------
# A valid file is written by duallearn's own Keras writer (no framework needed); each case
# below changes one thing. Every rejection names the problem and happens before anything
# from the file is executed or any buffer is sized from it.
def _keras_members(model: dl.Model | None = None) -> dict[str, bytes]:
    from duallearn.saving._keras_file import keras_archive

    raw = keras_archive(model if model is not None else _model())
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


KERAS = _keras_members()
VALID_KERAS = _raw_zip(list(KERAS.items()))


def _keras_config() -> dict:
    return json.loads(KERAS["config.json"])


def _keras_with(config: dict | None = None, weights: bytes | None = None, **extra: bytes) -> bytes:
    members = dict(KERAS)
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    members.update({k.replace("__", "/"): v for k, v in extra.items()})
    return _raw_zip(list(members.items()))


def _reject_keras(tmp_path, raw: bytes, *fragments: str) -> SerializationError:
    return _reject(tmp_path, raw, *fragments, name="hostile.keras")


def _h5(build) -> bytes:
    """An HDF5 file in memory, written by ``build(h5py_file)``."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _valid_weights(f, skip: str = "", **replace) -> None:
    """The valid model's datasets (``skip`` one path, ``replace`` path → array)."""
    import h5py

    with h5py.File(io.BytesIO(KERAS["model.weights.h5"]), "r") as src:
        paths: list[str] = []
        src.visititems(lambda p, o: paths.append(p) if isinstance(o, h5py.Dataset) else None)
        for p in paths:
            if p != skip:
                f.create_dataset(p, data=replace.pop(p, src[p][()]))
    for p, v in replace.items():
        f.create_dataset(p, data=v)


def test_keras_valid_file_loads(tmp_path):
    path = tmp_path / "ok.keras"
    path.write_bytes(VALID_KERAS)
    model = dl.load_model(str(path))
    for a, b in zip(model.get_weights(), _model().get_weights(), strict=True):
        assert a.shape == b.shape
    assert [layer.name for layer in model.layers] == ["hidden", "out"]


def _lambda_payload(tmp_path) -> dict:
    import base64
    import marshal

    code = (lambda x: os.system(f"touch {tmp_path.parent / SENTINEL}")).__code__
    return {"class_name": "__lambda__",
            "config": {"value": base64.b64encode(marshal.dumps(code)).decode()}}  # fmt: skip


def test_keras_lambda_layer(tmp_path):
    cfg = _keras_config()
    cfg["config"]["layers"][1] = {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "hidden", "function": _lambda_payload(tmp_path)},
    }  # fmt: skip
    _reject_keras(tmp_path, _keras_with(cfg), "Lambda", "never runs code")


def test_keras_lambda_as_an_argument(tmp_path):
    cfg = _keras_config()
    cfg["config"]["layers"][1]["config"]["activation"] = _lambda_payload(tmp_path)
    _reject_keras(tmp_path, _keras_with(cfg), "Lambda", "never runs code")


@pytest.mark.parametrize("name", ["MyUnregisteredLayer", "TorchModuleWrapper", "OpLayer"])
def test_keras_unregistered_class(tmp_path, name):
    cfg = _keras_config()
    cfg["config"]["layers"][1]["class_name"] = name
    _reject_keras(tmp_path, _keras_with(cfg), repr(name), "no duallearn equivalent")


def _set_module(where: str):
    def mutate(cfg: dict) -> None:
        layer = cfg["config"]["layers"][1]
        if where == "model":
            cfg.update(module="os", class_name="system")
        elif where == "layer":
            layer.update(module="subprocess", class_name="Popen")
        elif where == "initializer":
            layer["config"]["kernel_initializer"] = {
                "module": "os", "class_name": "system", "config": {"command": "id"},
                "registered_name": None}  # fmt: skip
        elif where == "activation":
            layer["config"]["activation"] = {
                "module": "builtins", "class_name": "function", "config": "eval",
                "registered_name": "eval"}  # fmt: skip
        elif where == "dtype":
            layer["config"]["dtype"] = {"module": "posix", "class_name": "DTypePolicy",
                                        "config": {"name": "float32"}}  # fmt: skip
        else:  # the compile config's optimizer
            cfg["compile_config"] = {
                "optimizer": {"module": "os", "class_name": "system", "config": {}},
                "loss": "mse"}  # fmt: skip

    return mutate


@pytest.mark.parametrize(
    "where", ["model", "layer", "initializer", "activation", "dtype", "compile"]
)
def test_keras_module_naming_code(tmp_path, where):
    cfg = _keras_config()
    _set_module(where)(cfg)
    message = str(_reject_keras(tmp_path, _keras_with(cfg), "names module", "never imports"))
    if where != "model":
        assert any(m in message for m in ("'os'", "'subprocess'", "'builtins'", "'posix'"))


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: c["config"]["layers"][1]["config"].__setitem__("units", 10**12),
         "bytes of weights the file holds"),
        (lambda c: c["config"]["layers"][0]["config"].__setitem__("batch_shape", [None, 10**9]),
         "bytes of weights the file holds"),
        (lambda c: c["config"]["layers"][0]["config"].__setitem__("batch_shape", [None, -4]),
         "config"),
        (lambda c: c["config"]["layers"][1].__setitem__("pickle", "os.system"), "unknown key"),
        (lambda c: c.__setitem__("class_name", "MySubclassedModel"), "Sequential or Functional"),
        (lambda c: c["config"]["layers"][1]["config"].__setitem__("units", "__import__('os')"),
         "config"),
    ],
    ids=["huge-units", "huge-input", "negative-input", "extra-key", "subclassed", "code-string"],
)  # fmt: skip
def test_keras_config_values(tmp_path, mutate, fragment):
    cfg = _keras_config()
    mutate(cfg)
    tracemalloc.start()
    try:
        _reject_keras(tmp_path, _keras_with(cfg), fragment)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < (16 << 20), f"peak {peak} bytes"


def test_keras_op_without_counterpart(tmp_path):
    a = dl.Input((4,), name="a")
    model = dl.Model(a, dl.layers.Dense(2, name="o")(a), name="f")
    members = _keras_members(model)
    cfg = json.loads(members["config.json"])
    cfg["config"]["layers"].insert(1, {
        "module": "keras.src.ops.numpy", "class_name": "System", "registered_name": "System",
        "config": {"name": "system"}, "name": "system", "inbound_nodes": [
            {"args": [{"class_name": "__keras_tensor__", "config": {
                "shape": [None, 4], "dtype": "float32", "keras_history": ["a", 0, 0]}}],
             "kwargs": {}}]})  # fmt: skip
    members["config.json"] = json.dumps(cfg).encode()
    _reject_keras(tmp_path, _raw_zip(list(members.items())), "'System'", "no dl.ops")


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda c: c["layers"][1]["inbound_nodes"][0]["args"][0]["config"].__setitem__(
            "keras_history", ["nowhere", 0, 0]), "unknown layer 'nowhere'"),
        (lambda c: c["layers"][1]["inbound_nodes"][0]["args"][0]["config"].__setitem__(
            "keras_history", ["o", 0, 0]), "cycle"),
        (lambda c: c["layers"][1]["inbound_nodes"][0]["args"][0]["config"].__setitem__(
            "keras_history", ["a", 0, 7]), "output 7"),
        (lambda c: c.__setitem__("output_layers", [["o", 3, 0]]), "missing tensor"),
        (lambda c: c["layers"][1].__setitem__("name", "a"), "repeated"),
    ],
    ids=["unknown-layer", "cycle", "tensor-index", "output", "dup-name"],
)  # fmt: skip
def test_keras_functional_graph(tmp_path, mutate, fragment):
    a = dl.Input((4,), name="a")
    model = dl.Model(a, dl.layers.Dense(2, name="o")(a), name="f")
    members = _keras_members(model)
    cfg = json.loads(members["config.json"])
    mutate(cfg["config"])
    members["config.json"] = json.dumps(cfg).encode()
    _reject_keras(tmp_path, _raw_zip(list(members.items())), fragment)


@pytest.mark.parametrize(
    "name", ["../evil.json", "/etc/evil.json", "assets/../../evil.json", "..\\evil.json", "C:evil"]
)
def test_keras_path_traversal_names(tmp_path, name):
    raw = _raw_zip([*KERAS.items(), (name, b'{"pwned": true}')])
    _reject_keras(tmp_path, raw, "is a path")
    assert not (tmp_path.parent / "evil.json").exists()


@pytest.mark.parametrize(
    "extra, fragment",
    [
        ({"assets__vocabulary.txt": b"a\nb\n"}, "assets"),
        ({"model.weights.npz": b"PK\x05\x06" + b"\x00" * 18}, "model.weights.npz"),
        ({"model.pkl": pickle.dumps(os.system)}, "unexpected members"),
    ],
    ids=["assets", "npz", "pickle"],
)
def test_keras_unexpected_members(tmp_path, extra, fragment):
    _reject_keras(tmp_path, _keras_with(**extra), fragment)


def test_keras_too_many_members(tmp_path):
    entries = [*KERAS.items(), *[(f"m{i}.json", b"{}") for i in range(200)]]
    _reject_keras(tmp_path, _raw_zip(entries), "members")


@pytest.mark.parametrize(
    "config, fragment",
    [
        (pickle.dumps(os.system), "not valid JSON"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
        (b'{"class_name": "Sequential", "class_name": "os.system"}', "duplicate JSON key"),
        (b'{"config": NaN}', "non-standard JSON constant"),
    ],
    ids=["pickle", "deep", "dup-key", "nan"],
)
def test_keras_config_not_json(tmp_path, config, fragment):
    members = {**KERAS, "config.json": config}
    _reject_keras(tmp_path, _raw_zip(list(members.items())), "config.json", fragment)


def test_keras_weights_member_zip_bomb(tmp_path):
    """model.weights.h5 deflated from 64 MiB of zeros: refused from the sizes in the zip
    directory, never inflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", KERAS["config.json"])
        zf.writestr("metadata.json", KERAS["metadata.json"])
        zf.writestr("model.weights.h5", b"\x00" * (64 << 20), zipfile.ZIP_DEFLATED, 9)
    raw = buf.getvalue()
    assert len(raw) < 200_000
    tracemalloc.start()
    try:
        _reject_keras(tmp_path, raw, "zip bomb", "model.weights.h5")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(raw) + (4 << 20), f"peak {peak} bytes for a {len(raw)}-byte file"


def test_keras_declared_member_size_beyond_file(tmp_path):
    raw = _patch_central_size(VALID_KERAS, b"model.weights.h5", 2**31)
    _reject_keras(tmp_path, raw, "model.weights.h5", "bytes")


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda f: _valid_weights(f, **{"layers/dense/vars/0": np.zeros((5, 3), "f4")}),
         "has shape (5, 3)"),
        (lambda f: _valid_weights(f, skip="layers/dense_1/vars/1"), "missing"),
        (lambda f: _valid_weights(f, **{"layers/dense_2/vars/0": np.zeros(3, "f4")}),
         "not in the model"),
        (lambda f: _valid_weights(f, **{"layers/dense/vars/0": np.zeros((4, 3), "S8")}),
         "dtype"),
    ],
    ids=["shape", "missing", "extra", "bytes-dtype"],
)  # fmt: skip
def test_keras_weights_disagree_with_config(tmp_path, build, fragment):
    _reject_keras(tmp_path, _keras_with(weights=_h5(build)), fragment)


def _link(kind: str):
    def build(f) -> None:
        import h5py

        _valid_weights(f, skip="layers/dense/vars/0")
        target = "layers/dense/vars/0"
        if kind == "soft":
            f[target] = h5py.SoftLink("/layers/dense_1/vars/0")
        elif kind == "external-link":
            f[target] = h5py.ExternalLink("/etc/passwd", "/secret")
        elif kind == "external-data":
            f.create_dataset(target, shape=(4, 3), dtype="f4", external=[("/etc/passwd", 0, 48)])
        else:  # a shape bomb: 4 GB declared, a few bytes stored (chunked, compressed, unfilled)
            f.create_dataset(target, shape=(100_000, 10_000), dtype="f4", chunks=(100, 100),
                             compression="gzip")  # fmt: skip

    return build


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("soft", "SoftLink"),
        ("external-link", "ExternalLink"),
        ("external-data", "external file"),
        ("shape-bomb", "shape or decompression bomb"),
    ],
)
def test_keras_hdf5_links_and_bombs(tmp_path, kind, fragment):
    tracemalloc.start()
    try:
        _reject_keras(tmp_path, _keras_with(weights=_h5(_link(kind))), fragment)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < (16 << 20), f"peak {peak} bytes"


def test_keras_weights_file_hostile(tmp_path):
    """load_weights on a hostile .weights.h5 applies the same checks."""
    model = _model()
    path = tmp_path / "w.weights.h5"
    path.write_bytes(_h5(_link("external-link")))
    with pytest.raises(SerializationError, match="ExternalLink"):
        model.load_weights(str(path))
    path.write_bytes(_h5(_link("shape-bomb")))
    with pytest.raises(SerializationError, match="shape or decompression bomb"):
        model.load_weights(str(path))
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(SerializationError, match="corrupt HDF5"):
        model.load_weights(str(path))


def _keras_load_or_reject(tmp_path, raw: bytes) -> None:
    target = tmp_path / "fuzz.keras"
    target.write_bytes(raw)
    try:
        model = dl.load_model(str(target))
    except SerializationError as exc:
        assert str(exc).strip()
        return
    for a, b in zip(model.get_weights(), dl.load_model(_valid_keras_path(tmp_path)).get_weights(),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def _valid_keras_path(tmp_path) -> str:
    path = tmp_path / "valid.keras"
    path.write_bytes(VALID_KERAS)
    return str(path)


@settings(max_examples=40)
@given(cut=st.integers(0, len(VALID_KERAS) - 1))
def test_keras_truncated_anywhere(tmp_path, cut):
    _reject(tmp_path, VALID_KERAS[:cut], "", name="hostile.keras")


@settings(max_examples=60)
@given(pos=st.integers(0, len(VALID_KERAS) - 1), bit=st.integers(0, 7))
def test_keras_bit_flip_anywhere(tmp_path, pos, bit):
    """Caught (zip CRC, structure, JSON, HDF5 checks) or in metadata no reader uses."""
    raw = bytearray(VALID_KERAS)
    raw[pos] ^= 1 << bit
    _keras_load_or_reject(tmp_path, bytes(raw))
