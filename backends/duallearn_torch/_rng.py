"""Native randomness on torch (fast mode): one ``torch.Generator`` per runtime.

The runtime reseeds it before each training step with the front-end's ``StepNoise.seed``
(``step_seed(noise stream, step)``), and the noisy layers draw from it in graph order, so the
masks of a step depend only on (stream, step): a run resumed from a checkpoint draws the same
masks as the uninterrupted run. Each runtime owns its generator (native modules are built per
runtime), so models trained at once in several threads never share one, and ``fit`` and a
model's training-mode call never touch torch's default generator
(tests/conformance/test_threads.py). Only a native layer used outside any runtime draws from
torch's global generator.
"""

from __future__ import annotations

import torch


class TorchRng:
    """Dropout masks and noise drawn from ``generator`` (None: torch's global generator)."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.generator = generator

    @classmethod
    def seeded(cls, seed: int = 0, device: torch.device | str = "cpu") -> TorchRng:
        """A runtime's own generator on ``device`` (torch's global generator is left alone;
        every step and every call from the front-end reseeds it anyway)."""
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        return cls(gen)

    def reseed(self, seed: int) -> None:
        assert self.generator is not None
        self.generator.manual_seed(seed)

    def to(self, device: torch.device) -> TorchRng:
        """The generator for another device, seeded by a draw of this one."""
        gen = torch.Generator(device=device)
        assert self.generator is not None
        gen.manual_seed(int(torch.randint(0, 2**62, (), generator=self.generator).item()))
        return TorchRng(gen)

    def uniform(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """U[0, 1) samples of ``shape`` in ``like``'s dtype and device."""
        return torch.rand(shape, dtype=like.dtype, device=like.device, generator=self.generator)

    def normal(self, like: torch.Tensor, stddev: float) -> torch.Tensor:
        """N(0, stddev²) samples shaped like ``like``."""
        out = torch.randn(
            like.shape, dtype=like.dtype, device=like.device, generator=self.generator
        )
        return out * stddev

    def dropout(
        self, x: torch.Tensor, rate: float, noise_shape: tuple[int, ...] | None = None
    ) -> torch.Tensor:
        """Inverted dropout ``x · m / (1 - rate)``, ``m ~ Bernoulli(1 - rate)`` of
        ``noise_shape`` (default: ``x``'s shape) broadcast over ``x``."""
        shape = tuple(x.shape) if noise_shape is None else noise_shape
        keep = torch.empty(shape, dtype=x.dtype, device=x.device)
        keep.bernoulli_(1.0 - rate, generator=self.generator)
        return x * keep.div_(1.0 - rate)


GLOBAL = TorchRng(None)
