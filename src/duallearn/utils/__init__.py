"""Keras 3's ``keras.utils`` helpers that notebooks use (numpy in, numpy out)."""

from typing import TYPE_CHECKING, Any

from .._seed import set_random_seed as set_random_seed
from ._dataset_builders import image_dataset_from_directory as image_dataset_from_directory
from ._dataset_builders import text_dataset_from_directory as text_dataset_from_directory
from ._files import DownloadError as DownloadError
from ._files import FileHashError as FileHashError
from ._files import UnsafeArchiveError as UnsafeArchiveError
from ._files import extract_archive as extract_archive
from ._files import get_file as get_file
from ._images import MissingDependencyError as MissingDependencyError
from ._images import array_to_img as array_to_img
from ._images import img_to_array as img_to_array
from ._images import load_img as load_img
from ._images import save_img as save_img
from ._numerical import normalize as normalize
from ._numerical import to_categorical as to_categorical
from ._packing import pack_x_y_sample_weight as pack_x_y_sample_weight
from ._packing import unpack_x_y_sample_weight as unpack_x_y_sample_weight
from ._plot import plot_model as plot_model
from ._progbar import Progbar as Progbar
from ._py_dataset import PyDataset as PyDataset
from ._py_dataset import PyDataset as Sequence
from ._sequence import pad_sequences as pad_sequences
from ._timeseries import split_dataset as split_dataset
from ._timeseries import timeseries_dataset_from_array as timeseries_dataset_from_array

# Keras's keras.utils spellings of dl.saving's registration functions, loaded on first use
# (dl.saving imports the layers, losses and metrics)
_FROM_SAVING = (
    "CustomObjectScope", "custom_object_scope", "get_custom_objects", "get_registered_name",
    "get_registered_object", "register_keras_serializable",
)  # fmt: skip
if TYPE_CHECKING:
    from ..saving._registration import CustomObjectScope as CustomObjectScope
    from ..saving._registration import custom_object_scope as custom_object_scope
    from ..saving._registration import get_custom_objects as get_custom_objects
    from ..saving._registration import get_registered_name as get_registered_name
    from ..saving._registration import get_registered_object as get_registered_object
    from ..saving._registration import register_keras_serializable as register_keras_serializable


def __getattr__(name: str) -> Any:
    if name in _FROM_SAVING:
        from ..saving import _registration

        return getattr(_registration, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CustomObjectScope",
    "DownloadError",
    "FileHashError",
    "MissingDependencyError",
    "Progbar",
    "PyDataset",
    "Sequence",
    "UnsafeArchiveError",
    "array_to_img",
    "custom_object_scope",
    "extract_archive",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "register_keras_serializable",
    "save_img",
    "set_random_seed",
    "split_dataset",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]
