"""``dl.data``: a small input pipeline whose order is identical on every backend."""

from ._dataset import Dataset as Dataset

__all__ = ["Dataset"]
