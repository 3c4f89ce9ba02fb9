"""``keras.preprocessing.image``: ``load_img``, ``img_to_array``, ``array_to_img``,
``save_img`` (the same functions as in ``dl.utils``)."""

from ..utils._images import array_to_img as array_to_img
from ..utils._images import img_to_array as img_to_array
from ..utils._images import load_img as load_img
from ..utils._images import save_img as save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
