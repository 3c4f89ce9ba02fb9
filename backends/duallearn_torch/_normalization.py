"""BatchNormalization, LayerNormalization and GroupNormalization on torch (native fused
kernels ``F.batch_norm`` / ``F.layer_norm`` / ``F.group_norm`` on channels-last views)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._layers import TorchLayer, implements


def _channels_to_dim1(x: torch.Tensor, axis: int) -> torch.Tensor:
    """A view of ``x`` with ``axis`` moved to dim 1 (zero-copy permute)."""
    if axis == 1:
        return x
    return x.movedim(axis, 1)


def _channels_back(y: torch.Tensor, axis: int) -> torch.Tensor:
    if axis == 1:
        return y
    return y.movedim(1, axis)


class _Named(TorchLayer):
    def _get(self, name: str) -> torch.Tensor | None:
        for w, v in zip(self.spec.weights, self.dl_vars, strict=True):
            if w.name == name:
                return v
        return None

    def _affine(self, y: torch.Tensor, shape: list[int]) -> torch.Tensor:
        """``y·γ + β`` with ``gamma``/``beta`` (those present) reshaped to ``shape``."""
        gamma, beta = self._get("gamma"), self._get("beta")
        if gamma is not None:
            y = y * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape)
        return y


@implements("BatchNormalization")
class TorchBatchNormalization(_Named):
    """``F.batch_norm`` with Keras's statistics: batch moments (biased) when training and
    trainable, moving ones otherwise; the moving statistics are updated in place (no_grad)
    with Keras's momentum, biased variance unless ``unbiased_moving_variance``."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axis = layer.channel_axis
        self.gamma = self._get("gamma")
        self.beta = self._get("beta")
        mm, mv = self._get("moving_mean"), self._get("moving_variance")
        assert mm is not None and mv is not None
        self.moving_mean, self.moving_variance = mm, mv

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        spec = self.spec
        xc = _channels_to_dim1(x, self.axis)
        if spec.uses_batch_statistics(training) and mask is not None:
            return self._masked(x, mask)
        if spec.uses_batch_statistics(training) and x.numel() == x.shape[self.axis]:
            return self._one_value(x)
        if spec.uses_batch_statistics(training):
            y = F.batch_norm(xc, None, None, self.gamma, self.beta, training=True, eps=spec.epsilon)
            with torch.no_grad():
                dims = [i for i in range(x.dim()) if i != self.axis]
                var, mean = torch.var_mean(x.detach(), dim=dims, correction=0)
                if spec.unbiased_moving_variance:
                    n = x.numel() // x.shape[self.axis]
                    var = var * (n / max(n - 1, 1))
                self._update(mean, var)
        else:
            y = F.batch_norm(
                xc,
                self.moving_mean,
                self.moving_variance,
                self.gamma,
                self.beta,
                training=False,
                eps=spec.epsilon,
            )
        return _channels_back(y, self.axis)

    @torch.no_grad()
    def _update(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        m = self.spec.momentum
        self.moving_mean.mul_(m).add_(mean, alpha=1.0 - m)
        self.moving_variance.mul_(m).add_(var, alpha=1.0 - m)

    def _masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Keras's masked moments (weights ``mask[..., None]``, +1e-7 in the divisor)."""
        spec = self.spec
        dims = [i for i in range(x.dim()) if i != self.axis]
        w = mask.unsqueeze(-1).to(x.dtype).expand_as(x)
        count = w.sum(dim=dims, keepdim=True)
        denom = count + spec.MASK_EPSILON
        mean = (w * x).sum(dim=dims, keepdim=True) / denom
        d = x - mean
        var = (w * d * d).sum(dim=dims, keepdim=True) / denom
        y = self._affine(d * torch.rsqrt(var + spec.epsilon), self._channel_shape(x))
        v = var.detach().reshape(-1)
        if spec.unbiased_moving_variance:
            n = count.detach().reshape(-1)
            v = v * n / torch.clamp(n - 1, min=1)
        self._update(mean.detach().reshape(-1), v)
        return y

    def _one_value(self, x: torch.Tensor) -> torch.Tensor:
        """Batch statistics of one value per channel (a batch of one without spatial axes):
        μ = x, σ² = 0, so y = β (Keras, TensorFlow); ``F.batch_norm`` refuses the input
        ("Expected more than 1 value per channel when training"). The same composed formula,
        and the moving statistics updated with μ and σ² = 0 (unbiased: 0·1/max(0, 1) = 0)."""
        dims = [i for i in range(x.dim()) if i != self.axis]
        var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
        y = self._affine((x - mean) * torch.rsqrt(var + self.spec.epsilon), self._channel_shape(x))
        self._update(mean.detach().reshape(-1), var.detach().reshape(-1))
        return y

    def _channel_shape(self, x: torch.Tensor) -> list[int]:
        shape = [1] * x.dim()
        shape[self.axis] = x.shape[self.axis]
        return shape


@implements("LayerNormalization")
class TorchLayerNormalization(_Named):
    """``F.layer_norm`` when the axes are the trailing ones (gamma's shape is then the
    normalized shape); composed moments over any other set of axes."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axes = layer.axes
        self.gamma = self._get("gamma")
        self.beta = self._get("beta")
        rank = len(layer.input_shape)
        self.trailing = self.axes == tuple(range(rank - len(self.axes), rank))
        self.bshape = layer.param_broadcast_shape(rank, [d or 1 for d in layer.input_shape])

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        eps = self.spec.epsilon
        if self.trailing:
            shape = tuple(x.shape[a] for a in self.axes)
            return F.layer_norm(x, shape, self.gamma, self.beta, eps)
        var, mean = torch.var_mean(x, dim=self.axes, correction=0, keepdim=True)
        return self._affine((x - mean) * torch.rsqrt(var + eps), self.bshape)


@implements("GroupNormalization")
class TorchGroupNormalization(_Named):
    """``F.group_norm`` on the view with channels at dim 1 (consecutive channel groups, as
    Keras)."""

    def __init__(self, layer: Any) -> None:
        super().__init__(layer)
        self.axis = layer.channel_axis
        self.groups = layer.num_groups
        self.gamma = self._get("gamma")
        self.beta = self._get("beta")

    def forward(
        self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None
    ) -> torch.Tensor:
        xc = _channels_to_dim1(x, self.axis)
        if x.numel() == self.groups:
            return self._one_value(xc)
        if self.gamma is None and self.beta is not None:
            # torch 2.13's group_norm backward fails ("tensor does not have a device") with a
            # bias but no weight: add beta outside the kernel.
            y = F.group_norm(xc, self.groups, None, None, self.spec.epsilon)
            y = y + self.beta.reshape(-1, *([1] * (x.dim() - 2)))
        else:
            y = F.group_norm(xc, self.groups, self.gamma, self.beta, self.spec.epsilon)
        return _channels_back(y, self.axis)

    def _one_value(self, xc: torch.Tensor) -> torch.Tensor:
        """A batch of one whose groups hold one value each: μ = x, σ² = 0 per group, so
        y = β (Keras, TensorFlow); ``F.group_norm`` refuses it ("Expected more than 1 value
        per channel when training"). The same formula composed, on the (1, C, 1, ...) view."""
        xg = xc.reshape(1, self.groups, -1)
        var, mean = torch.var_mean(xg, dim=-1, correction=0, keepdim=True)
        y = (xg - mean) * torch.rsqrt(var + self.spec.epsilon)
        y = self._affine(y.reshape(xc.shape), [-1, *([1] * (xc.dim() - 2))])
        return _channels_back(y, self.axis)


@implements("UnitNormalization")
class TorchUnitNormalization(TorchLayer):
    """``x · rsqrt(max(Σ_A x², ε²))`` = ``x · min(rsqrt(Σ_A x²), 1/ε)`` (Keras's
    ``ops.normalize``; not ``F.normalize``). Clamped before the rsqrt: the gradient at an
    all-zero vector is then 1/ε per entry, as TensorFlow's (clamping after gives 0·∞ = nan)."""

    def forward(self, x: torch.Tensor, training: bool, noise: Any = None, mask: Any = None) -> Any:
        s = x.square().sum(dim=self.spec.axes, keepdim=True)
        return x * torch.rsqrt(torch.clamp(s, min=self.spec.epsilon**2))
