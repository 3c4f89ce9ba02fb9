"""Core layers: ``Dense`` and ``Activation``."""

from __future__ import annotations

from typing import Any

from .. import activations
from .. import initializers as _init
from ..errors import ShapeError
from ._layer import REGISTRY, Layer, positive_int
from ._weight_options import attach, constraint, options_config, regularizer


@REGISTRY.register()
class Dense(Layer):
    """Densely connected layer: ``y = activation(x · kernel + bias)`` over the last axis.

    Weights (canonical = Keras): ``kernel`` (in, units), ``bias`` (units,).
    ``kernel_regularizer`` / ``bias_regularizer`` add ``regularizer(weight)`` to the loss,
    ``kernel_constraint`` / ``bias_constraint`` project the weight after each update
    (dl.regularizers, dl.constraints; ``activity_regularizer``: the output, ÷ batch size).
    PyTorch's ``nn.Linear`` stores ``weight = kernel.T``; its default init is
    kaiming_uniform(a=√5), ours (Keras's) glorot_uniform kernel and zero bias: pass
    ``kernel_initializer``/``bias_initializer`` to change it.
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: object = "glorot_uniform",
        bias_initializer: object = "zeros",
        kernel_regularizer: object = None,
        bias_regularizer: object = None,
        kernel_constraint: object = None,
        bias_constraint: object = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_regularizer = regularizer(self, "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = regularizer(self, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = constraint(self, "kernel_constraint", kernel_constraint)
        self.bias_constraint = constraint(self, "bias_constraint", bias_constraint)
        self.units = positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _init.get(kernel_initializer)
        self.bias_initializer = _init.get(bias_initializer)

    def build(self, input_shape: Any) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ShapeError(
                f"Layer {self.name!r} (Dense) needs inputs of rank >= 2 with a known last "
                f"dimension. Received input shape {input_shape}. Fix: add a Flatten or give "
                "Input a full shape."
            )
        self.kernel = attach(
            self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer),
            self.kernel_regularizer,
            self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = attach(
                self.add_weight("bias", (self.units,), self.bias_initializer),
                self.bias_regularizer,
                self.bias_constraint,
            )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], self.units)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        z = x @ weights[0]
        if self.use_bias:
            z = z + weights[1]
        return activations.reference(self.activation, z)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        z = x @ weights[0] + (weights[1] if self.use_bias else 0)
        dz = activations.reference_grad(self.activation, z, y, dy)
        x2 = x.reshape(-1, x.shape[-1])
        dz2 = dz.reshape(-1, dz.shape[-1])
        grads = [x2.T @ dz2]
        if self.use_bias:
            grads.append(dz2.sum(axis=0))
        return dz @ weights[0].T, grads

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": _init.serialize(self.kernel_initializer),
            "bias_initializer": _init.serialize(self.bias_initializer),
            **options_config(self, "kernel", "bias"),
        }


@REGISTRY.register()
class Activation(Layer):
    """Applies an activation function elementwise (softmax: over the last axis)."""

    supports_masking = True

    def __init__(self, activation: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def reference(self, weights, x, training=False, noise=None):  # type: ignore[no-untyped-def]
        return activations.reference(self.activation, x)

    def reference_backward(self, weights, x, y, dy, training=False, noise=None):  # type: ignore[no-untyped-def]
        return activations.reference_grad(self.activation, x, y, dy), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}
