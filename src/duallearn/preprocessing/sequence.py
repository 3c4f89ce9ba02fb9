"""``keras.preprocessing.sequence``: ``pad_sequences`` (the same function as
``dl.utils.pad_sequences``)."""

from ..utils._sequence import pad_sequences as pad_sequences

__all__ = ["pad_sequences"]
