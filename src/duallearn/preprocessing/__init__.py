"""Keras's ``keras.preprocessing`` spellings: ``sequence.pad_sequences``, the ``image`` helpers
and the ``*_dataset_from_*`` builders (the same functions as in ``dl.utils``)."""

from ..utils._dataset_builders import image_dataset_from_directory as image_dataset_from_directory
from ..utils._dataset_builders import text_dataset_from_directory as text_dataset_from_directory
from ..utils._timeseries import timeseries_dataset_from_array as timeseries_dataset_from_array
from . import image as image
from . import sequence as sequence

__all__ = [
    "image",
    "image_dataset_from_directory",
    "sequence",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
]
