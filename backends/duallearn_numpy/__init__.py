"""duallearn's numpy reference backend (registered as ``numpy`` in ``duallearn.backends``).

Float64, slow and exact: every layer runs its numpy ``reference`` / ``reference_backward``,
every loss, metric and optimizer its numpy reference. Written against ``duallearn.plugin`` and
the public front-end only, as a third-party backend would be. A *reference* backend: never the
default, and listed by ``dl.available_backends(include_reference=True)`` only.
"""

from ._backend import NumpyBackend as NumpyBackend

__all__ = ["NumpyBackend"]
