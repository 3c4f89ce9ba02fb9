"""Keras 3's ``keras.utils`` helpers that notebooks use (numpy in, numpy out)."""

from .._seed import set_random_seed as set_random_seed
from ._numerical import normalize as normalize
from ._numerical import to_categorical as to_categorical
from ._sequence import pad_sequences as pad_sequences

__all__ = ["normalize", "pad_sequences", "set_random_seed", "to_categorical"]
