"""Keras 3's ``keras.utils`` helpers that notebooks use (numpy in, numpy out)."""

from .._seed import set_random_seed as set_random_seed
from ._numerical import normalize as normalize
from ._numerical import to_categorical as to_categorical
from ._packing import pack_x_y_sample_weight as pack_x_y_sample_weight
from ._packing import unpack_x_y_sample_weight as unpack_x_y_sample_weight
from ._sequence import pad_sequences as pad_sequences

__all__ = [
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "set_random_seed",
    "to_categorical",
    "unpack_x_y_sample_weight",
]
