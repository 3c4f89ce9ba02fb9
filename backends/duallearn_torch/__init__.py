"""duallearn's PyTorch backend (registered as ``torch`` in ``duallearn.backends``)."""

from ._backend import TorchBackend as TorchBackend

__all__ = ["TorchBackend"]
