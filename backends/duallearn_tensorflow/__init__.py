"""duallearn's TensorFlow backend (registered as ``tensorflow`` in ``duallearn.backends``)."""

from ._backend import TensorFlowBackend as TensorFlowBackend

__all__ = ["TensorFlowBackend"]
