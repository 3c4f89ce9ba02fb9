"""``dl.ops.numpy``: Keras's ``keras.ops.numpy`` names (numpy-style array functions).

Each name is the same function as ``dl.ops.<name>``, as in Keras (``keras.ops.numpy.arange is
keras.ops.arange``); Keras names that ``dl.ops`` lacks are absent here too.

Example:
    >>> import duallearn as dl
    >>> with dl.ops.numpy_mode():
    ...     dl.ops.numpy.arange(3).tolist()
    [0, 1, 2]
"""

from __future__ import annotations

from . import abs as abs
from . import absolute as absolute
from . import add as add
from . import all as all
from . import amax as amax
from . import amin as amin
from . import any as any
from . import arange as arange
from . import argmax as argmax
from . import argmin as argmin
from . import argsort as argsort
from . import broadcast_to as broadcast_to
from . import ceil as ceil
from . import clip as clip
from . import concatenate as concatenate
from . import cos as cos
from . import cumprod as cumprod
from . import cumsum as cumsum
from . import divide as divide
from . import dot as dot
from . import einsum as einsum
from . import equal as equal
from . import exp as exp
from . import expand_dims as expand_dims
from . import expm1 as expm1
from . import eye as eye
from . import flip as flip
from . import floor as floor
from . import floor_divide as floor_divide
from . import full as full
from . import full_like as full_like
from . import get_item as get_item
from . import greater as greater
from . import greater_equal as greater_equal
from . import isfinite as isfinite
from . import isinf as isinf
from . import isnan as isnan
from . import less as less
from . import less_equal as less_equal
from . import linspace as linspace
from . import log as log
from . import log1p as log1p
from . import log2 as log2
from . import log10 as log10
from . import logaddexp as logaddexp
from . import logical_and as logical_and
from . import logical_not as logical_not
from . import logical_or as logical_or
from . import logical_xor as logical_xor
from . import matmul as matmul
from . import max as max
from . import maximum as maximum
from . import mean as mean
from . import min as min
from . import minimum as minimum
from . import mod as mod
from . import moveaxis as moveaxis
from . import multiply as multiply
from . import negative as negative
from . import not_equal as not_equal
from . import ones as ones
from . import ones_like as ones_like
from . import outer as outer
from . import pad as pad
from . import power as power
from . import prod as prod
from . import reciprocal as reciprocal
from . import repeat as repeat
from . import reshape as reshape
from . import round as round
from . import sign as sign
from . import sin as sin
from . import sort as sort
from . import split as split
from . import sqrt as sqrt
from . import square as square
from . import squeeze as squeeze
from . import stack as stack
from . import std as std
from . import subtract as subtract
from . import sum as sum
from . import swapaxes as swapaxes
from . import take as take
from . import take_along_axis as take_along_axis
from . import tan as tan
from . import tanh as tanh
from . import tensordot as tensordot
from . import tile as tile
from . import transpose as transpose
from . import tril as tril
from . import triu as triu
from . import true_divide as true_divide
from . import var as var
from . import where as where
from . import zeros as zeros
from . import zeros_like as zeros_like

__all__ = [
    "abs",
    "absolute",
    "add",
    "all",
    "amax",
    "amin",
    "any",
    "arange",
    "argmax",
    "argmin",
    "argsort",
    "broadcast_to",
    "ceil",
    "clip",
    "concatenate",
    "cos",
    "cumprod",
    "cumsum",
    "divide",
    "dot",
    "einsum",
    "equal",
    "exp",
    "expand_dims",
    "expm1",
    "eye",
    "flip",
    "floor",
    "floor_divide",
    "full",
    "full_like",
    "get_item",
    "greater",
    "greater_equal",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "linspace",
    "log",
    "log10",
    "log1p",
    "log2",
    "logaddexp",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mod",
    "moveaxis",
    "multiply",
    "negative",
    "not_equal",
    "ones",
    "ones_like",
    "outer",
    "pad",
    "power",
    "prod",
    "reciprocal",
    "repeat",
    "reshape",
    "round",
    "sign",
    "sin",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "take",
    "take_along_axis",
    "tan",
    "tanh",
    "tensordot",
    "tile",
    "transpose",
    "tril",
    "triu",
    "true_divide",
    "var",
    "where",
    "zeros",
    "zeros_like",
]
