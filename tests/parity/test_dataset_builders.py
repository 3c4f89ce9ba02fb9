"""image/text_dataset_from_directory, timeseries_dataset_from_array, split_dataset vs Keras 3.

Unshuffled datasets must equal Keras's batch for batch (values, shapes, dtypes); shuffled ones
must hold Keras's files in Keras's pre-shuffled order (``file_paths``) and the same elements
per epoch (the per-epoch order is the front-end's seeded shuffle, not TF's RNG).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

import duallearn as dl
from duallearn.errors import ConfigError
from duallearn.testing import assert_close

keras = importlib.import_module("keras")
Image = importlib.import_module("PIL.Image")


def _batches(ds) -> list:
    return list(ds.as_numpy_iterator())


def _assert_same_batches(ours, theirs, kind: str | None = None) -> None:
    """Every batch equal, element by element; float arrays judged by the table's ``kind`` row
    (at float32) where one is given, else exactly."""
    a, b = _batches(ours), _batches(theirs)
    assert len(a) == len(b) == len(ours)
    for x, y in zip(a, b, strict=True):
        xs = x if isinstance(x, tuple) else (x,)
        ys = y if isinstance(y, tuple) else (y,)
        assert len(xs) == len(ys)
        for u, v in zip(xs, ys, strict=True):
            v = np.asarray(v)
            if v.dtype.kind in "SO":  # tf.string: bytes; ours: decoded str
                dec = lambda s: s.decode("utf-8", "replace")  # noqa: E731
                v = np.vectorize(dec)(v) if v.ndim else np.asarray(dec(v.item()))
                assert u.dtype.kind == "U"
                np.testing.assert_array_equal(u, v.astype(str))
                continue
            assert u.shape == v.shape and u.dtype == v.dtype, (u.shape, v.shape, u.dtype, v.dtype)
            if kind is not None and u.dtype.kind == "f":
                assert_close(f"batch vs keras ({kind})", u, v, "float32", kind)
            else:
                np.testing.assert_array_equal(u, v)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    sizes = [(12, 16), (20, 10), (9, 9), (15, 25)]
    for c, cls in enumerate(["cats", "dogs", "zebras"]):
        (root / cls / "nested").mkdir(parents=True)
        for i in range(4 + c):
            h, w = sizes[(i + c) % 4]
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            sub = root / cls / ("nested" if i == 1 else "")
            ext = ["png", "PNG", "bmp", "png", "png", "png"][i]
            Image.fromarray(arr).save(
                sub / f"img_{i}.{ext}", format="png" if ext != "bmp" else "bmp"
            )
        (root / cls / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(root / ".hidden" / "x.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "top_level.png")  # not in a class
    return root


@pytest.fixture(scope="module")
def gray_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gray")
    rng = np.random.default_rng(1)
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (7 + i, 5), dtype=np.uint8), "L").save(
                root / cls / f"{i}.png"
            )
    return root


IMAGE_CASES = [
    {},
    {"label_mode": "categorical", "batch_size": 4},
    {"label_mode": None, "batch_size": 5},
    {"labels": None},
    {"interpolation": "nearest", "image_size": (7, 11)},
    {"interpolation": "nearest", "crop_to_aspect_ratio": True, "image_size": (5, 9)},
    {"interpolation": "nearest", "pad_to_aspect_ratio": True, "image_size": (5, 9)},
    {"interpolation": "bicubic", "image_size": 10},
    {"crop_to_aspect_ratio": True, "image_size": (8, 13)},
    {"pad_to_aspect_ratio": True, "image_size": (8, 13)},
    {"color_mode": "rgba", "batch_size": None},
    {"class_names": ["zebras", "cats"]},
    {"validation_split": 0.25, "subset": "training"},
    {"validation_split": 0.25, "subset": "validation"},
    {"data_format": "channels_first", "image_size": (6, 6)},
]


@pytest.mark.parametrize("kw", IMAGE_CASES, ids=[str(k) for k in IMAGE_CASES])
def test_image_dataset_unshuffled_equals_keras(image_dir: Path, kw: dict) -> None:
    kw = {"image_size": (14, 18), "batch_size": 3, "shuffle": False, "verbose": False, **kw}
    ours = dl.utils.image_dataset_from_directory(image_dir, **kw)
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), **kw)
    assert isinstance(ours, dl.data.Dataset)
    assert ours.class_names == theirs.class_names
    assert ours.file_paths == theirs.file_paths
    # bicubic: TF and ours weigh 16 pixels in float32 in another order (the table's
    # resize_bicubic row); the other modes are exact
    _assert_same_batches(
        ours, theirs, "resize_bicubic" if kw.get("interpolation") == "bicubic" else None
    )


def test_image_dataset_grayscale_binary_and_label_list(gray_dir: Path) -> None:
    for kw in (
        {"color_mode": "grayscale", "label_mode": "binary"},
        {"color_mode": "grayscale", "labels": [1, 0, 2, 2, 0, 1]},
        {"color_mode": "rgb", "labels": [1, 0, 1, 1, 0, 1], "label_mode": "binary"},
    ):
        kw = {"image_size": (9, 4), "batch_size": 4, "shuffle": False, "verbose": False, **kw}
        ours = dl.utils.image_dataset_from_directory(gray_dir, **kw)
        theirs = keras.utils.image_dataset_from_directory(str(gray_dir), **kw)
        assert ours.class_names == theirs.class_names
        _assert_same_batches(ours, theirs)


def test_image_dataset_subset_both_and_seeded_shuffle(image_dir: Path) -> None:
    kw = dict(
        image_size=(8, 8), batch_size=4, seed=1337, validation_split=0.3, subset="both",
        verbose=False,
    )  # fmt: skip
    ours = dl.utils.image_dataset_from_directory(image_dir, **kw)
    theirs = keras.utils.image_dataset_from_directory(str(image_dir), **kw)
    assert len(ours) == 2
    # same pre-shuffled files in each subset (numpy RandomState(seed), as Keras)
    assert ours[0].file_paths == theirs[0].file_paths
    assert ours[1].file_paths == theirs[1].file_paths
    # validation is not reshuffled: identical to Keras batch for batch
    _assert_same_batches(ours[1], theirs[1])

    # training is reshuffled per epoch: the same elements, in our seeded order
    def rows(ds):
        xs, ys = zip(*_batches(ds), strict=True)
        x, y = np.concatenate(xs), np.concatenate(ys)
        order = np.lexsort(x.reshape(len(x), -1).T)
        return x[order], y[order]

    (xa, ya), (xb, yb) = rows(ours[0]), rows(theirs[0])
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    again = dl.utils.image_dataset_from_directory(image_dir, **kw)[0]
    for epoch in (0, 1):  # same seed, same order, epoch by epoch
        for (xa, ya), (xb, yb) in zip(ours[0].iterate(epoch), again.iterate(epoch), strict=True):
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)


def test_image_dataset_fits_a_model(gray_dir: Path) -> None:
    ds = dl.utils.image_dataset_from_directory(
        gray_dir, color_mode="grayscale", image_size=(6, 6), batch_size=2, seed=0, verbose=False
    )
    model = dl.Sequential([dl.layers.Input((6, 6, 1)), dl.layers.Flatten(), dl.layers.Dense(2)])
    model.compile("sgd", dl.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"label_mode": "sparse"}, "label_mode must be"),
        ({"labels": "folders"}, "labels must be 'inferred'"),
        ({"labels": [0, 1], "class_names": ["a"]}, "class_names can only be passed"),
        ({"color_mode": "cmyk"}, "color_mode must be"),
        ({"image_size": (1, 2, 3)}, "image_size must be a tuple of 2"),
        ({"interpolation": "lanczos3"}, "does not compute yet"),
        ({"validation_split": 1.5, "subset": "training"}, "between 0 and 1"),
        ({"validation_split": 0.2}, "go together"),
        ({"validation_split": 0.2, "subset": "train", "seed": 1}, "subset must be"),
        ({"validation_split": 0.2, "subset": "training"}, "needs a seed"),
        ({"label_mode": "binary"}, "exactly 2 classes"),
        ({"class_names": ["cats", "lions"]}, "class_names must name subfolders"),
        ({"labels": [0, 1]}, "labels has 2 entries but"),
        ({"crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True}, "only one of"),
    ],
)
def test_image_dataset_bad_arguments(image_dir: Path, kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dl.utils.image_dataset_from_directory(image_dir, verbose=False, **kw)


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        dl.utils.image_dataset_from_directory(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(ConfigError, match="no files found"):
        dl.utils.image_dataset_from_directory(tmp_path, verbose=False)


# ---- text -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("texts")
    words = ["good", "bad", "film", "très", "bien", "plot", "😀"]
    rng = np.random.default_rng(3)
    for c, cls in enumerate(["neg", "pos"]):
        (root / cls).mkdir()
        for i in range(5 + c):
            text = " ".join(rng.choice(words, size=3 + i))
            (root / cls / f"{i:02d}.txt").write_text(text, encoding="utf-8")
        (root / cls / "skip.md").write_text("no")
    return root


TEXT_CASES = [
    {},
    {"label_mode": "binary", "batch_size": 4},
    {"label_mode": "categorical", "max_length": 9},
    {"labels": None, "batch_size": None},
    {"validation_split": 0.4, "subset": "validation"},
]


@pytest.mark.parametrize("kw", TEXT_CASES, ids=[str(k) for k in TEXT_CASES])
def test_text_dataset_unshuffled_equals_keras(text_dir: Path, kw: dict) -> None:
    kw = {"batch_size": 3, "shuffle": False, "verbose": False, **kw}
    ours = dl.utils.text_dataset_from_directory(text_dir, **kw)
    theirs = keras.utils.text_dataset_from_directory(str(text_dir), **kw)
    assert ours.class_names == theirs.class_names
    # max_length cuts bytes (as tf.strings.substr): a cut multi-byte character becomes U+FFFD
    _assert_same_batches(ours, theirs)


def test_text_dataset_seeded_shuffle_files_match_keras(text_dir: Path) -> None:
    kw = dict(batch_size=2, seed=7, validation_split=0.5, subset="both", verbose=False)
    ours = dl.utils.text_dataset_from_directory(text_dir, **kw)
    theirs = keras.utils.text_dataset_from_directory(str(text_dir), **kw)
    _assert_same_batches(ours[1], theirs[1])
    a = sorted(s for b in _batches(ours[0]) for s in b[0])
    b = sorted(s.decode() for batch in _batches(theirs[0]) for s in batch[0])
    assert a == b


# ---- timeseries -------------------------------------------------------------------------------
TS_CASES = [
    {"sequence_length": 5},
    {"sequence_length": 4, "sequence_stride": 3, "sampling_rate": 2, "batch_size": 4},
    {"sequence_length": 3, "start_index": 5, "end_index": 40, "batch_size": 7},
    {"sequence_length": 6, "batch_size": None},
    {"sequence_length": 2, "targets": None, "batch_size": 16},
    {"sequence_length": 3, "targets": "short"},
]


@pytest.mark.parametrize("kw", TS_CASES, ids=[str(k) for k in TS_CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_timeseries_unshuffled_equals_keras(kw: dict, dtype: str) -> None:
    data = np.arange(50 * 3).reshape(50, 3).astype(dtype)
    targets = np.arange(50).astype("int32") * 10
    kw = {"targets": targets, "batch_size": 8, **kw}
    if isinstance(kw["targets"], str):
        kw["targets"] = targets[:20]
    ours = dl.utils.timeseries_dataset_from_array(data, **kw)
    theirs = keras.utils.timeseries_dataset_from_array(data, **kw)
    _assert_same_batches(ours, theirs)


def test_timeseries_shuffled_has_keras_windows() -> None:
    data = np.arange(40.0)
    kw = dict(targets=data * 2, sequence_length=4, batch_size=5, shuffle=True, seed=3)
    ours = dl.utils.timeseries_dataset_from_array(data, **kw)
    theirs = keras.utils.timeseries_dataset_from_array(data, **kw)
    a = sorted(map(tuple, np.concatenate([x for x, _ in _batches(ours)])))
    b = sorted(map(tuple, np.concatenate([x for x, _ in _batches(theirs)])))
    assert a == b


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"start_index": -1}, "start_index must be 0 or greater"),
        ({"start_index": 60}, "start_index must be lower than the length"),
        ({"start_index": 5, "end_index": 3}, "end_index must be higher than start_index"),
        ({"end_index": 50}, "end_index must be lower than the length"),
        ({"sampling_rate": 0}, "sampling_rate must be higher than 0"),
        ({"sequence_stride": 20}, "sequence_stride must be lower"),
    ],
)
def test_timeseries_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dl.utils.timeseries_dataset_from_array(np.zeros(20), None, 3, **kw)


# ---- split_dataset ----------------------------------------------------------------------------
SPLIT_CASES = [
    {"left_size": 0.8},
    {"right_size": 3},
    {"left_size": 4, "right_size": 0.25},
    {"left_size": 0.5, "shuffle": True, "seed": 11},
    {"right_size": 0.3, "shuffle": True, "seed": 0},
]


@pytest.mark.parametrize("kw", SPLIT_CASES, ids=[str(k) for k in SPLIT_CASES])
def test_split_dataset_equals_keras(kw: dict) -> None:
    x = np.arange(24, dtype="float32").reshape(12, 2)
    y = np.arange(12, dtype="int64")
    for data in (x, (x, y)):
        ours = dl.utils.split_dataset(data, **kw)
        theirs = keras.utils.split_dataset(data, **kw)
        for a, b in zip(ours, theirs, strict=True):
            _assert_same_batches(a, b)


def test_split_dataset_of_a_batched_dl_dataset() -> None:
    x, y = np.arange(10.0), np.arange(10)
    ds = dl.data.Dataset.from_tensor_slices((x, y)).batch(3)
    left, right = dl.utils.split_dataset(ds, left_size=0.6)
    (lx, ly), *_ = _batches(left)
    assert len(left) == 2 and len(right) == 2
    np.testing.assert_array_equal(lx, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(
        np.concatenate([b[0] for b in _batches(right)]), [6.0, 7.0, 8.0, 9.0]
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({}, "needs left_size or right_size"),
        ({"left_size": 0, "right_size": 0}, "both zero"),
        ({"left_size": 12}, "positive integer smaller than 10"),
        ({"left_size": 1.5}, "float in \\(0, 1\\)"),
        ({"left_size": 0.7, "right_size": 0.7}, "at most 1"),
        ({"left_size": 7, "right_size": 5}, "more than the 10"),
        ({"left_size": "half"}, "must be an int, a float or None"),
    ],
)
def test_split_dataset_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        dl.utils.split_dataset(np.arange(10), **kw)
    with pytest.raises(ConfigError, match="expects a dl.data.Dataset"):
        dl.utils.split_dataset({"x": np.arange(3)}, left_size=1)
