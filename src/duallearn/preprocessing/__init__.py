"""Older Keras spellings: ``keras.preprocessing.sequence.pad_sequences``."""

from . import sequence as sequence

__all__ = ["sequence"]
