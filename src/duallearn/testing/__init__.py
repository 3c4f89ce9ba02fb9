"""Shipped test helpers: the tolerance table, ``assert_close`` and the numpy model oracle,
so that a third-party backend can prove itself against the same checks."""

from . import _reference as reference
from ._harness import build_single as build_single
from ._harness import check_layer as check_layer
from ._harness import set_keras_weights_and_compare as set_keras_weights_and_compare
from ._tolerances import TABLE as TABLE
from ._tolerances import Tol as Tol
from ._tolerances import assert_close as assert_close
from ._tolerances import max_errors as max_errors
from ._tolerances import tolerance as tolerance

__all__ = [
    "build_single",
    "check_layer",
    "set_keras_weights_and_compare",
    "TABLE",
    "Tol",
    "assert_close",
    "max_errors",
    "reference",
    "tolerance",
]
