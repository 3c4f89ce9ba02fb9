"""``image_dataset_from_directory`` / ``text_dataset_from_directory`` (Keras 3's), as
``dl.data.Dataset`` objects.

The files are indexed, ordered, labelled, pre-shuffled (``np.random.RandomState(seed)``) and
split exactly as Keras does, so ``file_paths``, ``class_names`` and every batch match Keras's with
``shuffle=False``; with ``shuffle=True`` the per-epoch reshuffle is the front-end's seeded
shuffle (``dl.data.Dataset.shuffle``), not TF's RNG, so the batch order differs from Keras's.
Files are read lazily, one element at a time, as the dataset is iterated.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..data import Dataset
from ..errors import ConfigError
from . import _resize
from ._images import pil_image

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_LABEL_MODES = ("int", "categorical", "binary", None)
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


# ---- indexing (Keras's dataset_utils.index_directory) ------------------------------------------
def _check_common(
    directory: Any, labels: Any, label_mode: Any, class_names: Any, what: str
) -> None:
    if not os.path.isdir(directory):
        raise ConfigError(
            f"{what}: directory {directory!r} does not exist or is not a folder. Expected a "
            "folder with one subfolder per class. Fix: check the path."
        )
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ConfigError(
                f"{what}: labels must be 'inferred', None, or a list/tuple of integer labels "
                f"(one per file, in sorted file order). Received: labels={labels!r}."
            )
        if class_names:
            raise ConfigError(
                f"{what}: class_names can only be passed with labels='inferred'. Received: "
                f"labels={labels!r}, class_names={class_names!r}. Fix: drop class_names."
            )
    if label_mode not in _LABEL_MODES:
        raise ConfigError(
            f"{what}: label_mode must be 'int', 'categorical', 'binary' or None. Received: "
            f"label_mode={label_mode!r}."
        )


def check_validation_split_arg(
    validation_split: float | None, subset: str | None, shuffle: bool, seed: int | None
) -> None:
    """Keras's rules for ``validation_split`` / ``subset`` / ``seed``."""
    if validation_split and not 0 < validation_split < 1:
        raise ConfigError(
            "validation_split must be between 0 and 1 (exclusive). Received: "
            f"validation_split={validation_split!r}."
        )
    if (validation_split or subset) and not (validation_split and subset):
        raise ConfigError(
            "validation_split and subset go together. Received: "
            f"validation_split={validation_split!r}, subset={subset!r}. Fix: pass both (e.g. "
            "validation_split=0.2, subset='training') or neither."
        )
    if subset not in ("training", "validation", "both", None):
        raise ConfigError(
            f"subset must be 'training', 'validation' or 'both'. Received: subset={subset!r}."
        )
    if validation_split and shuffle and seed is None:
        raise ConfigError(
            "validation_split with shuffle=True needs a seed, so the training and validation "
            "subsets do not overlap. Received: seed=None. Fix: pass seed=1337 (any integer), "
            "the same one for both subsets."
        )


def _walk_files(directory: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda t: t[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                found.append(os.path.join(root, fname))
    return found


def index_directory(
    directory: str,
    labels: Any,
    formats: tuple[str, ...],
    class_names: Sequence[str] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    follow_links: bool = False,
    verbose: bool = True,
) -> tuple[list[str], Any, list[str] | None]:
    """The file paths, labels and class names of ``directory``, in Keras's order.

    Subfolders (sorted, hidden ones skipped) are classes; files are sorted per folder walk;
    ``shuffle`` permutes paths and labels with ``np.random.RandomState(seed)`` as Keras does.
    """
    if labels == "inferred":
        subdirs = [
            d
            for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(subdirs):
                raise ConfigError(
                    "class_names must name subfolders of the directory. Expected: "
                    f"{subdirs} (or a subset), received: class_names={list(class_names)}."
                )
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            raise ConfigError(
                "class_names can only be passed with labels='inferred'. Received: "
                f"labels={'None' if labels is None else 'a list'}, class_names={class_names!r}."
            )
    filenames: list[str] = []
    per_class: list[int] = []
    for i, sub in enumerate(subdirs):
        folder = os.path.join(directory, sub)
        for path in _walk_files(folder, follow_links, formats):
            filenames.append(os.path.join(os.path.basename(folder), os.path.relpath(path, folder)))
            per_class.append(i)
    names: list[str] | None = list(subdirs)
    if labels == "inferred":
        out_labels: Any = np.asarray(per_class, dtype="int32")
    elif labels is None:
        out_labels, names = None, None
    else:
        if len(labels) != len(filenames):
            raise ConfigError(
                f"labels has {len(labels)} entries but {len(filenames)} files were found in "
                f"{directory!r}. Expected one label per file (in sorted order). Fix: pass a "
                "label for every file, or labels='inferred'."
            )
        out_labels = list(labels)
        names = [str(label) for label in sorted(set(labels))]
    if verbose:
        if out_labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(names or [])} classes.")
    file_paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = int(np.random.randint(1_000_000))
        np.random.RandomState(seed).shuffle(file_paths)
        if out_labels is not None:
            np.random.RandomState(seed).shuffle(out_labels)
    return file_paths, out_labels, names


def split(
    samples: list[str], labels: Any, validation_split: float | None, subset: str | None
) -> tuple[list[str], Any]:
    """Keras's ``get_training_or_validation_split``: the last fraction is validation."""
    if not validation_split:
        return samples, labels
    n_val = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - n_val} files for training.")
        return samples[:-n_val], None if labels is None else labels[:-n_val]
    print(f"Using {n_val} files for validation.")
    return samples[-n_val:], None if labels is None else labels[-n_val:]


def _label_array(labels: Any, label_mode: str, num_classes: int) -> np.ndarray:
    ids = np.asarray(labels, dtype="int32") if len(labels) else np.zeros((0,), "int32")
    if label_mode == "binary":
        return ids.astype("float32")[:, None]
    if label_mode == "categorical":
        return np.eye(num_classes, dtype="float32")[ids]
    return ids


def _build(
    paths: list[str],
    labels: Any,
    label_mode: str | None,
    num_classes: int,
    load: Callable[[Any], Any],
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
) -> Dataset:
    path_array = np.asarray(paths, dtype=str)
    if label_mode:
        ds = Dataset.from_tensor_slices((path_array, _label_array(labels, label_mode, num_classes)))
        if shuffle:
            ds = ds.shuffle(seed=seed)
        ds = ds.map(lambda p, y: (load(p), y))
    else:
        ds = Dataset.from_tensor_slices(path_array)
        if shuffle:
            ds = ds.shuffle(seed=seed)
        ds = ds.map(load)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    return ds


def _datasets(
    what: str,
    directory: str,
    paths: list[str],
    labels: Any,
    class_names: list[str] | None,
    label_mode: str | None,
    load: Callable[[Any], Any],
    batch_size: int | None,
    shuffle: bool,
    seed: int | None,
    validation_split: float | None,
    subset: str | None,
    formats: str,
) -> Any:
    if label_mode == "binary" and len(class_names or []) != 2:
        raise ConfigError(
            f"{what}: label_mode='binary' needs exactly 2 classes. Received: "
            f"class_names={class_names}. Fix: use label_mode='int' or 'categorical'."
        )
    n_classes = len(class_names) if class_names else 0
    subsets = ["training", "validation"] if subset == "both" else [subset]
    out = []
    for sub in subsets:
        part_paths, part_labels = split(paths, labels, validation_split, sub)
        if not part_paths:
            kind = f"{sub} " if subset == "both" else ""
            raise ConfigError(
                f"{what}: no {kind}files found in directory {directory!r}. Expected files "
                f"with one of the extensions {formats}. Fix: check the folder (and "
                "validation_split)."
            )
        train_like = sub != "validation" or subset != "both"
        ds = _build(
            part_paths, part_labels, label_mode, n_classes, load, batch_size,
            shuffle and train_like, seed,
        )  # fmt: skip
        ds.class_names = class_names  # type: ignore[attr-defined]
        ds.file_paths = part_paths  # type: ignore[attr-defined]
        out.append(ds)
    return out if subset == "both" else out[0]


def _size_pair(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        return image_size, image_size
    if isinstance(image_size, (list, tuple)) and len(image_size) == 2:
        return int(image_size[0]), int(image_size[1])
    raise ConfigError(
        "image_size must be a tuple of 2 integers (height, width). Received: "
        f"image_size={image_size!r}. Fix: pass e.g. image_size=(180, 180)."
    )


def _image_loader(
    size: tuple[int, int], channels: int, method: str, crop: bool, pad: bool, channels_first: bool
) -> Callable[[Any], np.ndarray]:
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]

    def load(path: Any) -> np.ndarray:
        Image = pil_image()
        with Image.open(str(path)) as img:
            img.seek(0)
            frame = img if img.mode == mode else img.convert(mode)
            x = np.asarray(frame, dtype=np.uint8)
        if x.ndim == 2:
            x = x[:, :, None]
        if crop:
            out = _resize.resize(_resize.crop_to_aspect_ratio(x, size), size, method)
        elif pad:
            out = _resize.resize_with_pad(x, size, method)
        else:
            out = _resize.resize(x, size, method)
        if method == "nearest":  # tf.image.resize keeps the image dtype for nearest
            out = out.astype(np.uint8)
        return out.transpose(2, 0, 1) if channels_first else out

    return load


def image_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: int | tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    format: str = "tf",
    verbose: bool = True,
) -> Any:
    """A ``dl.data.Dataset`` of ``(images, labels)`` batches from a folder of class subfolders.

    ``directory/class_a/*.jpg``, ``directory/class_b/*.png`` ... gives labels 0, 1 ... in
    sorted folder order. Images (``.bmp .gif .jpeg .jpg .png``) are decoded with Pillow and
    resized with ``tf.image.resize``'s formula: float32 ``(batch, height, width, channels)``.

    Args:
        directory: The folder.
        labels: ``"inferred"`` (from subfolders), ``None`` (images only), or a list of
            integer labels, one per file in sorted path order.
        label_mode: ``"int"`` (int32 ``(batch,)``), ``"categorical"`` (float32 one-hot),
            ``"binary"`` (float32 ``(batch, 1)``, exactly 2 classes), or ``None``.
        class_names: With ``labels="inferred"``: the subfolders to use, in label order.
        color_mode: ``"rgb"``, ``"rgba"`` or ``"grayscale"``.
        batch_size: Batch size, or ``None`` for single elements.
        image_size: ``(height, width)`` (an int for a square).
        shuffle: Shuffle the files (``np.random.RandomState(seed)`` once, as Keras) and each
            epoch (the front-end's seeded shuffle).
        seed: Shuffle seed (needed with ``validation_split`` and ``shuffle``).
        validation_split: Fraction of the files kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (returns both datasets).
        interpolation: ``"bilinear"``, ``"nearest"`` or ``"bicubic"``.
        follow_links: Follow symbolic links to subfolders.
        crop_to_aspect_ratio: Centre-crop to the target aspect ratio before resizing.
        pad_to_aspect_ratio: Resize inside the target keeping the ratio, pad with zeros.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        format: ``"tf"`` (the only value: a ``dl.data.Dataset`` whatever the backend).
        verbose: Print the number of files and classes found.

    Returns:
        A ``dl.data.Dataset`` with ``class_names`` and ``file_paths`` attributes, or a list
        ``[train, validation]`` with ``subset="both"``.

    Raises:
        ConfigError: any invalid argument, a missing folder, or a folder without images.

    Example:
        >>> train, val = dl.utils.image_dataset_from_directory(
        ...     "flowers", validation_split=0.2, subset="both", seed=1337, image_size=(180, 180))
        >>> model.fit(train, validation_data=val, epochs=3)
    """
    what = "image_dataset_from_directory"
    directory = os.fspath(directory)
    _check_common(directory, labels, label_mode, class_names, what)
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    if color_mode not in _CHANNELS:
        raise ConfigError(
            f"{what}: color_mode must be 'rgb', 'rgba' or 'grayscale'. Received: "
            f"color_mode={color_mode!r}."
        )
    size = _size_pair(image_size)
    method = _resize.check_method(interpolation)
    if format not in ("tf", "grain"):
        raise ConfigError(f"{what}: format must be 'tf' or 'grain'. Received: format={format!r}.")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ConfigError(
            f"{what}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True. "
            "Received both True."
        )
    fmt = "channels_last" if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ConfigError(
            f"{what}: data_format must be 'channels_last' or 'channels_first'. Received: "
            f"data_format={data_format!r}."
        )
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = int(np.random.randint(1_000_000))
    paths, labels, class_names = index_directory(
        directory, labels, IMAGE_FORMATS, class_names, shuffle, seed, follow_links, verbose
    )
    load = _image_loader(
        size, _CHANNELS[color_mode], method, crop_to_aspect_ratio, pad_to_aspect_ratio,
        fmt == "channels_first",
    )  # fmt: skip
    return _datasets(
        what, directory, paths, labels, class_names, label_mode, load, batch_size, shuffle,
        seed, validation_split, subset, str(IMAGE_FORMATS),
    )  # fmt: skip


def text_dataset_from_directory(
    directory: str | os.PathLike[str],
    labels: Any = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    format: str = "tf",
    verbose: bool = True,
) -> Any:
    """A ``dl.data.Dataset`` of ``(texts, labels)`` batches from a folder of ``.txt`` files.

    Same folder layout, labels, split and shuffle rules as
    :func:`image_dataset_from_directory`. Texts are numpy ``str`` arrays (the file decoded
    as UTF-8; Keras's ``tf.string`` gives the undecoded bytes).

    Args:
        directory: The folder (one subfolder per class with ``labels="inferred"``).
        labels: ``"inferred"``, ``None``, or a list of integer labels in sorted file order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or ``None``.
        class_names: The subfolders to use, in label order.
        batch_size: Batch size, or ``None`` for single elements.
        max_length: Keep at most this many bytes of each file (as ``tf.strings.substr``).
        shuffle: Shuffle (as :func:`image_dataset_from_directory`).
        seed: Shuffle seed.
        validation_split: Fraction for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"``.
        follow_links: Follow symbolic links to subfolders.
        format: ``"tf"`` (only value; a ``dl.data.Dataset``).
        verbose: Print what was found.

    Returns:
        A ``dl.data.Dataset`` (with ``class_names``), or ``[train, validation]``.

    Raises:
        ConfigError: an invalid argument or a folder without ``.txt`` files.

    Example:
        >>> ds = dl.utils.text_dataset_from_directory("aclImdb/train", batch_size=32, seed=42)
    """
    what = "text_dataset_from_directory"
    directory = os.fspath(directory)
    _check_common(directory, labels, label_mode, class_names, what)
    if format not in ("tf", "grain"):
        raise ConfigError(f"{what}: format must be 'tf' or 'grain'. Received: format={format!r}.")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = int(np.random.randint(1_000_000))
    paths, labels, class_names = index_directory(
        directory, labels, (".txt",), class_names, shuffle, seed, follow_links, verbose
    )

    def load(path: Any) -> np.ndarray:
        with open(str(path), "rb") as f:
            data = f.read()
        if max_length is not None:
            data = data[:max_length]
        return np.asarray(data.decode("utf-8", errors="replace"))

    return _datasets(
        what, directory, paths, labels, class_names, label_mode, load, batch_size, shuffle,
        seed, validation_split, subset, "('.txt',)",
    )  # fmt: skip
