"""The image preprocessing and augmentation layers a backend runs through their ``apply``
formula (``duallearn/layers/_preprocessing_image.py``) over its own ops::

    @implements(*IMAGE_LAYERS)
    class TorchImagePreprocessing(TorchLayer):
        def forward(self, x, training, noise=None, mask=None):
            return self.spec.apply(_ops, x, bool(training), *self.dl_vars)
"""

from __future__ import annotations

from ..layers._preprocessing_image import IMAGE_LAYERS

__all__ = ["IMAGE_LAYERS"]
