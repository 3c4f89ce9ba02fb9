"""Layers (Keras 3 names, arguments and defaults)."""

from ._core import Activation as Activation
from ._core import Dense as Dense
from ._input import Input as Input
from ._input import InputLayer as InputLayer
from ._input import SymbolicTensor as SymbolicTensor
from ._layer import REGISTRY as REGISTRY
from ._layer import Layer as Layer
from ._layer import Weight as Weight
from ._regularization import Dropout as Dropout
from ._reshaping import Flatten as Flatten

__all__ = [
    "Activation",
    "Dense",
    "Dropout",
    "Flatten",
    "Input",
    "InputLayer",
    "Layer",
    "SymbolicTensor",
    "Weight",
]
