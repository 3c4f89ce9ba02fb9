"""Dtype policies (``keras.mixed_precision``): the dtype of variables and of computations.

==================  ==============  =============  ===============
policy              variables       computations   loss scaling
==================  ==============  =============  ===============
``float32``         float32         float32        no
``float64``         float64         float64        no
``mixed_float16``   float32         float16        dynamic (fit)
``mixed_bfloat16``  float32         bfloat16       no
``float16``         float16         float16        no
``bfloat16``        bfloat16        bfloat16       no
==================  ==============  =============  ===============

Set it before building models: ``dl.mixed_precision.set_global_policy("mixed_bfloat16")`` (or
``dl.config.set_dtype_policy``). The variable dtype becomes ``dl.config.floatx()``; a model
takes the global policy's compute dtype when its runtime is built. Backends:
torch runs forwards under ``torch.autocast`` (every op autocast covers: matmul, conv, RNNs;
normalisation and reductions in float32); TensorFlow casts inputs, dropout masks and each
layer's trainable weights to the compute dtype inside the step (normalisation statistics stay
float32). Outputs return in float32 before the loss, so losses, metrics and gradients of the
variables are float32. Loss scaling (``mixed_float16``): loss x 2**15, gradients unscaled,
a step with inf/NaN gradients is skipped and halves the scale, 2000 finite steps double it
(Keras's ``LossScaleOptimizer``). Differs from Keras: a skipped step still advances the
front-end step counter that drives learning-rate schedules and masks.
"""

from __future__ import annotations

from . import config
from .errors import ConfigError

POLICIES = {
    "float32": ("float32", "float32"),
    "float64": ("float64", "float64"),
    "float16": ("float16", "float16"),
    "bfloat16": ("bfloat16", "bfloat16"),
    "mixed_float16": ("float32", "float16"),
    "mixed_bfloat16": ("float32", "bfloat16"),
}


class Policy:
    """A dtype policy: ``variable_dtype``, ``compute_dtype`` and whether fit scales the loss."""

    def __init__(self, name: str | Policy) -> None:
        if isinstance(name, Policy):
            name = str(name.name)
        if name not in POLICIES:
            raise ConfigError(
                f"Unknown dtype policy {name!r}. Expected one of {sorted(POLICIES)}. "
                "Fix: e.g. dl.mixed_precision.set_global_policy('mixed_bfloat16')."
            )
        self.name: str = name
        self.variable_dtype, self.compute_dtype = POLICIES[name]

    @property
    def loss_scaling(self) -> bool:
        return self.name == "mixed_float16"

    @property
    def is_mixed(self) -> bool:
        return self.variable_dtype != self.compute_dtype

    def get_config(self) -> dict[str, str]:
        return {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self.name}">'


DTypePolicy = Policy
_policy: Policy | None = None


def set_global_policy(policy: str | Policy | None) -> None:
    """Set the policy of models built afterwards (``None``: back to ``floatx()``)."""
    global _policy
    if policy is None:
        _policy = None
        return
    p = Policy(policy)
    config.set_floatx(p.variable_dtype)
    _policy = p if p.is_mixed else None


def global_policy() -> Policy:
    """The current policy (``floatx()`` as a plain policy unless a mixed one is set)."""
    if _policy is not None and config.floatx() == _policy.variable_dtype:
        return _policy
    return Policy(config.floatx())


__all__ = ["DTypePolicy", "Policy", "global_policy", "set_global_policy"]
