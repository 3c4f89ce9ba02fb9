"""``dl.backend``: the active backend's name when called, and Keras's ``keras.backend``
spellings as attributes.

``dl.backend()`` returns ``"torch"`` or ``"tensorflow"`` (as before), and a notebook's
``keras.backend.clear_session()``, ``.backend()``, ``.floatx()``, ``.set_floatx()``,
``.epsilon()``, ``.image_data_format()`` work with ``dl`` in place of ``keras``.

Example:
    >>> import duallearn as dl
    >>> dl.backend.floatx()
    'float32'
    >>> dl.backend.image_data_format()
    'channels_last'
    >>> dl.backend.epsilon()
    1e-07
"""

from __future__ import annotations

import gc

from . import _naming, config
from .errors import ConfigError

EPSILON = 1e-7  # Keras's fuzz factor: the probability clip of the losses (LOSS_EPSILON)


class BackendAPI:
    """``dl.backend``: call it for the active backend's name; its attributes are
    ``keras.backend``'s functions. Nothing here imports a framework."""

    def __call__(self) -> str:
        """The active backend's name (``dl.use_backend`` / ``dl.set_backend`` /
        ``DUALLEARN_BACKEND`` / the default), as ``keras.backend.backend()``."""
        from .plugin import backend_name

        return backend_name()

    def backend(self) -> str:
        """The active backend's name (``keras.backend.backend()``)."""
        return self()

    def clear_session(self, free_memory: bool = True) -> None:
        """Reset duallearn's global state, as ``keras.backend.clear_session()``: automatic
        layer names start again (``dense``, ``dense_1``...), the global dtype policy returns
        to the default, and with ``free_memory`` Python's garbage collector runs.

        As in Keras, the random stream is not replayed: Keras drops its global
        ``SeedGenerator``, whose replacement is seeded from the stream
        ``keras.utils.set_random_seed`` started; duallearn has one such stream
        (``dl.utils.set_random_seed``) and it continues. So weights drawn after a
        ``clear_session`` differ from those drawn before, and ``set_random_seed(s)`` then
        ``clear_session()`` reproduces a run exactly (both checked against Keras 3).
        Models already built keep their backends and weights."""
        from .mixed_precision import set_global_policy

        _naming.reset_names()
        set_global_policy(None)
        if free_memory:
            gc.collect()

    def floatx(self) -> str:
        """The default float dtype (``dl.config.floatx()``)."""
        return config.floatx()

    def set_floatx(self, value: str) -> None:
        """Set the default float dtype (``dl.config.set_floatx``)."""
        config.set_floatx(value)

    def epsilon(self) -> float:
        """Keras's fuzz factor, 1e-7: the clip ``[ε, 1 − ε]`` of probability-input losses."""
        return EPSILON

    def set_epsilon(self, value: float) -> None:
        """Only Keras's default, 1e-7, is supported: duallearn's losses clip with it on every
        backend (a fixed constant, shared/PARITY.md §6)."""
        if float(value) != EPSILON:
            raise ConfigError(
                f"set_epsilon: duallearn's losses clip probabilities with Keras's default "
                f"fuzz factor. Expected: {EPSILON}. Received: {value!r}. Fix: leave epsilon "
                "at 1e-7, or clip the predictions yourself (dl.ops.clip) in a custom loss."
            )

    def image_data_format(self) -> str:
        """``"channels_last"``: the default layout of convolution and pooling layers (each
        also takes ``data_format="channels_first"``)."""
        return "channels_last"

    def set_image_data_format(self, data_format: str) -> None:
        """Only ``"channels_last"`` can be the global default."""
        if data_format != "channels_last":
            raise ConfigError(
                "set_image_data_format: duallearn's default layout is channels_last and "
                f"cannot be changed globally. Expected: 'channels_last'. Received: "
                f"{data_format!r}. Fix: pass data_format='channels_first' to each "
                "convolution and pooling layer that should read channels-first data."
            )

    def __repr__(self) -> str:
        return "<dl.backend: call it for the active backend's name>"


backend = BackendAPI()
