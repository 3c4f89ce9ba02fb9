"""Keras's functional spellings of the merge layers: ``add([a, b])`` is ``Add()([a, b])``.

Each builds the layer with the given keyword arguments (``name=``...) and calls it on
``inputs`` (symbolic tensors in a functional model, or arrays: an eager call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._merging import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Σ inputs`` (``Add``)."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``inputs[0] − inputs[1]`` (``Subtract``)."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``Π inputs`` (``Multiply``)."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """``mean(inputs)`` (``Average``)."""
    return Average(**kwargs)(inputs)


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """Elementwise maximum (``Maximum``)."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """Elementwise minimum (``Minimum``)."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """Join along ``axis`` (``Concatenate``)."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: Sequence[Any], axes: int | Sequence[int] = -1, normalize: bool = False,
        **kwargs: Any) -> Any:  # fmt: skip
    """Dot product along ``axes`` (``Dot``; ``normalize``: of L2-normalised inputs)."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
