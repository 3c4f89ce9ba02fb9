"""Optimizer updates on torch, for all trainable tensors at once (``torch._foreach_*``).

Each function implements the ``reference_update`` of the front-end class of the same name,
for both ``formula="keras"`` and ``formula="torch"``; :class:`TorchOptimizer` wraps them with
Keras's ``apply`` (gradient accumulation, clipping, weight decay, EMA), as
``Optimizer.reference_apply`` describes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from duallearn.plugin import ACCUMULATOR_SLOT, EMA_SLOT, TORCH_CLIP_EPS, SlotState

from . import _ops

Tensors = list[torch.Tensor]
UPDATES: dict[str, Callable[..., None]] = {}


def update(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        UPDATES[name] = fn
        return fn

    return wrap


def _lerp_(a: Tensors, b: Tensors, weight: float) -> None:
    """a ← a + (b − a)·weight, rounded as written (torch's lerp switches form at 0.5)."""
    if weight < 0.5:
        torch._foreach_lerp_(a, b, weight)
    else:
        d = torch._foreach_sub(b, a)
        torch._foreach_mul_(d, weight)
        torch._foreach_add_(a, d)


def _ema_(a: Tensors, b: Tensors, rate: float) -> None:
    """a ← rate·a + (1 − rate)·b (as written, Keras's form)."""
    torch._foreach_mul_(a, rate)
    torch._foreach_add_(a, b, alpha=1 - rate)


@update("SGD")
def sgd(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    mu = spec.momentum
    if mu == 0:
        torch._foreach_add_(params, grads, alpha=-lr)
        return
    m = slots["momentum"]
    if spec.formula == "keras":
        torch._foreach_mul_(m, mu)
        torch._foreach_add_(m, grads, alpha=-lr)
        if spec.nesterov:
            torch._foreach_add_(params, m, alpha=mu)
            torch._foreach_add_(params, grads, alpha=-lr)
        else:
            torch._foreach_add_(params, m)
    elif _fusable(params, grads, "_fused_sgd_"):
        # torch's fused kernel: torch.optim.SGD's formula itself (b ← g at the first step)
        torch._fused_sgd_(
            params, grads, m, weight_decay=0.0, momentum=mu, lr=lr,
            dampening=spec.dampening, nesterov=bool(spec.nesterov), maximize=False,
            is_first_step=step == 1,
        )  # fmt: skip
    else:
        if step == 1:
            for b, g in zip(m, grads, strict=True):
                b.copy_(g)
        else:
            torch._foreach_mul_(m, mu)
            torch._foreach_add_(m, grads, alpha=1 - spec.dampening)
        if spec.nesterov:
            d = torch._foreach_add(grads, m, alpha=mu)
            torch._foreach_add_(params, d, alpha=-lr)
        else:
            torch._foreach_add_(params, m, alpha=-lr)


_FUSED_DTYPES = (torch.float32, torch.float64)


def _fusable(params: Tensors, grads: Tensors, kernel: str = "_fused_adam_") -> bool:
    """Whether torch's fused kernel ``kernel`` (Adam's, SGD's; CPU ones since torch 2.4)
    takes these tensors: one float32/float64 dtype, one device (CPU or CUDA), dense
    gradients of the same dtype."""
    if not hasattr(torch, kernel) or not params or torch.compiler.is_compiling():
        return False  # (under torch.compile the _foreach ops trace; the fused op does not)
    first = params[0]
    return first.dtype in _FUSED_DTYPES and first.device.type in ("cpu", "cuda") and all(
        p.dtype == first.dtype and p.device == first.device and g.dtype == first.dtype
        and not g.is_sparse for p, g in zip(params, grads, strict=True)
    )  # fmt: skip


@update("Adam")
def adam(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    b1, b2, eps = spec.beta_1, spec.beta_2, spec.epsilon
    m, v = slots["momentum"], slots["velocity"]
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    if _fusable(params, grads):
        # torch's fused kernel (one pass over each tensor): torch's formula; Keras's
        # ε-outside-the-correction form is the same update with ε/√bc2 in its place
        torch._fused_adam_(
            params, grads, m, v, slots["velocity_hat"] if spec.amsgrad else [],
            [torch.tensor(float(step), device=params[0].device)] * len(params),
            lr=lr, beta1=b1, beta2=b2, weight_decay=0.0, amsgrad=bool(spec.amsgrad),
            eps=eps / math.sqrt(bc2) if spec.formula == "keras" else eps, maximize=False,
        )  # fmt: skip
        return
    if spec.formula == "keras":
        _lerp_(m, grads, 1 - b1)
        _lerp_(v, list(torch._foreach_mul(grads, grads)), 1 - b2)
    else:
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, 1 - b2)
    vv = v
    if spec.amsgrad:
        vv = slots["velocity_hat"]
        torch._foreach_maximum_(vv, v)
    denom = torch._foreach_sqrt(vv)
    if spec.formula == "keras":
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, -(lr * math.sqrt(bc2) / bc1))
    else:
        torch._foreach_div_(denom, math.sqrt(bc2))
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, -(lr / bc1))


@update("Adamax")
def adamax(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    b1, b2, eps = spec.beta_1, spec.beta_2, spec.epsilon
    m, u = slots["momentum"], slots["norm"]
    bc1 = 1 - b1**step
    _lerp_(m, grads, 1 - b1)
    torch._foreach_mul_(u, b2)
    a = torch._foreach_abs(grads)
    if spec.formula == "keras":
        torch._foreach_maximum_(u, a)
        d = torch._foreach_add(u, eps)
        torch._foreach_mul_(d, bc1)
        torch._foreach_addcdiv_(params, m, d, -lr)
    else:
        torch._foreach_add_(a, eps)
        torch._foreach_maximum_(u, a)
        torch._foreach_addcdiv_(params, m, u, -(lr / bc1))


@update("Nadam")
def nadam(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    b1, b2, eps = spec.beta_1, spec.beta_2, spec.epsilon
    m, v = slots["momentum"], slots["velocity"]
    mu_t, mu_t1 = spec.mu(step), spec.mu(step + 1)
    prod = spec.mu_product(step)
    prod1 = prod * mu_t1
    bc2 = 1 - b2**step
    _lerp_(m, grads, 1 - b1)
    _lerp_(v, list(torch._foreach_mul(grads, grads)), 1 - b2)
    denom = torch._foreach_div(v, bc2)
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, eps)
    if spec.formula == "keras":
        m_hat = torch._foreach_mul(m, mu_t1 / (1 - prod1))
        torch._foreach_add_(m_hat, grads, alpha=(1 - mu_t) / (1 - prod))
        torch._foreach_addcdiv_(params, m_hat, denom, -lr)
    else:
        torch._foreach_addcdiv_(params, grads, denom, -lr * (1.0 - mu_t) / (1.0 - prod))
        torch._foreach_addcdiv_(params, m, denom, (-lr * mu_t1) / (1.0 - prod1))


@update("RMSprop")
def rmsprop(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    rho, eps, mu = spec.rho, spec.epsilon, spec.momentum
    v = slots["velocity"]
    torch._foreach_mul_(v, rho)
    torch._foreach_addcmul_(v, grads, grads, 1 - rho)
    if spec.centered:
        a = slots["average_gradient"]
        if spec.formula == "keras":
            torch._foreach_mul_(a, rho)
            torch._foreach_add_(a, grads, alpha=1 - rho)
        else:
            _lerp_(a, grads, 1 - rho)
        d = list(torch._foreach_addcmul(v, a, a, -1.0))
    else:
        d = [t.clone() for t in v]
    if spec.formula == "keras":
        torch._foreach_add_(d, eps)
        torch._foreach_sqrt_(d)
        inc = torch._foreach_mul(grads, lr)
        torch._foreach_div_(inc, d)
        if mu > 0:
            b = slots["momentum"]
            torch._foreach_mul_(b, mu)
            torch._foreach_add_(b, inc)
            torch._foreach_sub_(params, b)
        else:
            torch._foreach_sub_(params, inc)
    else:
        torch._foreach_sqrt_(d)
        torch._foreach_add_(d, eps)
        if mu > 0:
            b = slots["momentum"]
            torch._foreach_mul_(b, mu)
            torch._foreach_addcdiv_(b, grads, d)
            torch._foreach_add_(params, b, alpha=-lr)
        else:
            torch._foreach_addcdiv_(params, grads, d, -lr)


@update("Adagrad")
def adagrad(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    s = slots["accumulator"]
    torch._foreach_addcmul_(s, grads, grads, 1.0)
    if spec.formula == "keras":
        d = torch._foreach_add(s, spec.epsilon)
        torch._foreach_sqrt_(d)
        inc = torch._foreach_mul(grads, lr)
        torch._foreach_div_(inc, d)
        torch._foreach_sub_(params, inc)
    else:
        d = torch._foreach_sqrt(s)
        torch._foreach_add_(d, spec.epsilon)
        torch._foreach_addcdiv_(params, grads, d, -lr)


@update("Adadelta")
def adadelta(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    rho, eps = spec.rho, spec.epsilon
    a, d = slots["accumulated_grad"], slots["accumulated_delta_var"]
    torch._foreach_mul_(a, rho)
    torch._foreach_addcmul_(a, grads, grads, 1 - rho)
    std = torch._foreach_add(a, eps)
    torch._foreach_sqrt_(std)
    delta = torch._foreach_add(d, eps)
    torch._foreach_sqrt_(delta)
    if spec.formula == "keras":
        torch._foreach_mul_(delta, grads)
        torch._foreach_div_(delta, std)
    else:
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, grads)
    torch._foreach_mul_(d, rho)
    torch._foreach_addcmul_(d, delta, delta, 1 - rho)
    torch._foreach_add_(params, delta, alpha=-lr)


@update("Lion")
def lion(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    b1, b2 = spec.beta_1, spec.beta_2
    m = slots["momentum"]
    c = torch._foreach_mul(m, b1)
    torch._foreach_add_(c, torch._foreach_mul(grads, 1.0 - b1))
    torch._foreach_add_(params, torch._foreach_sign(c), alpha=-lr)
    torch._foreach_mul_(m, b2)
    torch._foreach_add_(m, torch._foreach_mul(grads, 1.0 - b2))


@update("Ftrl")
def ftrl(
    spec: Any, params: Tensors, grads: Tensors, slots: dict[str, Tensors], lr: float, step: int
) -> None:
    c = -spec.learning_rate_power
    l1 = spec.l1_regularization_strength
    l2 = spec.l2_regularization_strength + spec.beta / (2.0 * lr)
    acc, lin = slots["accumulator"], slots["linear"]
    gu = torch._foreach_add(
        grads, torch._foreach_mul(params, 2 * spec.l2_shrinkage_regularization_strength)
    )
    na = torch._foreach_addcmul(acc, grads, grads, 1.0)
    pn = torch._foreach_pow(na, c)
    d = torch._foreach_sub(pn, torch._foreach_pow(acc, c))
    torch._foreach_div_(d, lr)
    torch._foreach_mul_(d, params)
    torch._foreach_add_(lin, torch._foreach_sub(gu, d))
    torch._foreach_div_(pn, lr)
    torch._foreach_add_(pn, 2 * l2)
    for p, z, q, a, n in zip(params, lin, pn, acc, na, strict=True):
        p.copy_((torch.clamp(z, -l1, l1) - z) / q)
        a.copy_(n)


_HALF = (torch.float16, torch.bfloat16)


def _sums(grads: Tensors, loss: torch.Tensor | None) -> Tensors:
    """One scalar per gradient (its sum: NaN or inf if any element is; half precision summed
    in float32), then the loss: what the guard checks for finiteness."""
    out = [g.sum(dtype=torch.float32) if g.dtype in _HALF else g.sum() for g in grads]
    return out if loss is None else [*out, loss.detach()]


class TorchOptimizer(SlotState):
    """Slots (canonical order of trainable weights) and the native update for one spec.

    ``apply(grads, lr)`` is one Keras ``apply`` call, variable constraints included. Tests may
    build one directly on a list of float tensors with identity conversions to drive it with
    given gradients.
    """

    ops = _ops  # dl.ops on torch: the variables' constraints run in it

    def __init__(
        self,
        spec: Any,
        params: Tensors,
        to_canonical: Any = None,
        to_native: Any = None,
        names: Sequence[str] | None = None,
        keys: Sequence[str] | None = None,
        variables: Sequence[Any] | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        # slots are keyed by variable path (default: position, for tests driving it directly)
        self.keys = list(keys) if keys is not None else [str(i) for i in range(len(params))]
        # the front-end variables of ``params`` (their ``constraint``); not ``variables``,
        # which tf.Module reserves. None: a test driving the optimizer directly.
        self.dl_variables = list(variables) if variables is not None else None
        ident: list[Callable[[np.ndarray], np.ndarray]] = [lambda a: a] * len(params)
        self.to_canonical = list(to_canonical) if to_canonical is not None else ident
        self.to_native = list(to_native) if to_native is not None else ident
        self.fn = None
        for cls in type(spec).__mro__:
            if cls.__name__ in UPDATES:
                self.fn = UPDATES[cls.__name__]
                break
        if self.fn is None:
            from duallearn.errors import BackendError

            raise BackendError(f"The torch backend has no update rule for {type(spec).__name__}.")
        self.slots: dict[str, Tensors] = {}
        for name in spec.slot_names():
            self.slots[name] = [
                torch.tensor(
                    tn(spec.init_slot(name, tc(p.detach().cpu().numpy()))),
                    dtype=p.dtype,
                    device=p.device,
                )
                for p, tc, tn in zip(params, self.to_canonical, self.to_native, strict=True)
            ]
        names_ = list(names) if names is not None else [None] * len(params)
        self.decay_idx = [i for i, n in enumerate(names_) if spec.uses_weight_decay(n)]
        self.iterations = 0

    # ---- pieces of apply ---------------------------------------------------------------------
    def _clip(self, grads: Tensors) -> Tensors:
        spec = self.spec
        if spec.clipnorm:
            c = spec.clipnorm
            out = []
            for g in grads:
                n = torch.sqrt(torch.sum(g * g))
                out.append(g * c / torch.clamp(n, min=c))
            return out
        if spec.global_clipnorm:
            c = spec.global_clipnorm
            if spec.formula == "torch":
                norms = torch._foreach_norm(grads, 2)
                total = torch.linalg.vector_norm(torch.stack(norms), 2)
                coef = torch.clamp(c / (total + TORCH_CLIP_EPS), max=1.0)
            else:
                total = torch.sqrt(torch.stack([torch.sum(g * g) for g in grads]).sum())
                coef = c * torch.minimum(1.0 / total, total.new_tensor(1.0 / c))
            return list(torch._foreach_mul(grads, coef))
        if spec.clipvalue:
            v = spec.clipvalue
            return [torch.clamp(g, -v, v) for g in grads]
        return grads

    def _decay(self, grads: Tensors, lr: float) -> Tensors:
        spec = self.spec
        lam = spec.weight_decay
        if not lam or not self.decay_idx:
            return grads
        ps = [self.params[i] for i in self.decay_idx]
        if spec.formula == "keras":
            torch._foreach_sub_(ps, torch._foreach_mul(torch._foreach_mul(ps, lam), lr))
        elif spec.decoupled_torch_decay():
            torch._foreach_mul_(ps, 1 - lr * lam)
        else:
            grads = list(grads)
            for i in self.decay_idx:
                grads[i] = grads[i].add(self.params[i], alpha=lam)
        return grads

    # ---- the non-finite guard (duallearn.plugin.SlotState) -------------------------------------
    # On the CPU the check is read on the host: eager CPU ops have already run, so reading a
    # CPU scalar waits for nothing, and a skipped step costs no update at all. On a GPU
    # (``mask_on_device``) the update runs and is undone on the device by ``torch.where``
    # against a copy of the weights and slots: no host sync per step.
    _host_code = -1
    _flag: torch.Tensor | None = None
    mask_on_device: bool | None = None  # None: where the weights are (tests force True)

    @torch.no_grad()
    def apply(
        self, grads: Tensors, lr: float, loss: torch.Tensor | None = None, check: bool = False
    ) -> None:
        """One Keras ``apply``; ``check``: fit's guard (``SlotState``), ``loss`` included."""
        if not check:
            self._apply(grads, lr)
        elif self._masked():
            self._masked_apply(grads, lr, loss)
        elif self._host_code < 0:
            sums = _sums(grads, loss)
            if all(math.isfinite(s.item()) for s in sums):
                self._apply(grads, lr)
            else:
                self.record_nonfinite(loss is None or math.isfinite(sums[-1].item()))

    def _masked(self) -> bool:
        if self.mask_on_device is not None:
            return self.mask_on_device
        return bool(self.params) and self.params[0].device.type != "cpu"

    def _masked_apply(self, grads: Tensors, lr: float, loss: torch.Tensor | None) -> None:
        device = self.params[0].device if self.params else None
        if self._flag is None or self._flag.device != device:
            self._flag = torch.full((), -1, dtype=torch.int64, device=device)
        flag = self._flag
        sums = _sums(grads, loss)
        finite = (
            torch.isfinite(torch.stack([s.double() for s in sums])).all()
            if sums
            else torch.ones((), dtype=torch.bool, device=device)
        )
        clear = flag < 0
        ok = clear & finite
        state = [*self.params, *(t for ts in self.slots.values() for t in ts)]
        before = [t.clone() for t in state]
        code = 2 * self.iterations + (1 if loss is None else torch.isfinite(sums[-1]).long())
        self._apply(grads, lr)
        for t, b in zip(state, before, strict=True):
            t.copy_(torch.where(ok, t, b))
        flag.copy_(torch.where(clear & ~finite, code, flag))

    def record_nonfinite(self, loss_finite: bool) -> None:
        """Record this step as non-finite (a host-side check found it; first one wins)."""
        if self._nonfinite_code() < 0:
            self._host_code = 2 * self.iterations + int(loss_finite)

    def _nonfinite_code(self) -> int:
        codes = [self._host_code, -1 if self._flag is None else int(self._flag)]
        found = [c for c in codes if c >= 0]
        return min(found) if found else -1

    def _set_nonfinite_code(self, code: int) -> None:
        self._host_code = code
        if self._flag is not None:
            self._flag.fill_(code)

    @torch.no_grad()
    def _apply(self, grads: Tensors, lr: float) -> None:
        spec = self.spec
        done = self.iterations
        self.iterations += 1
        k = spec.gradient_accumulation_steps
        update = True
        grads = list(grads)
        if k:
            acc = self.slots[ACCUMULATOR_SLOT]
            if self.iterations % k != 0:
                update = False
                torch._foreach_add_(acc, grads)
            else:
                grads = list(torch._foreach_add(grads, acc))
                torch._foreach_div_(grads, float(k))
                torch._foreach_zero_(acc)
        if update:
            grads = self._clip(grads)
            grads = self._decay(grads, lr)
            assert self.fn is not None
            slots = {n: s for n, s in self.slots.items() if n not in (EMA_SLOT, ACCUMULATOR_SLOT)}
            self.fn(spec, self.params, grads, slots, lr, spec.update_step_of(done))
        if spec.use_ema:
            updates_done = done // k if k else done
            avg = self.slots[EMA_SLOT]
            _ema_(avg, self.params, spec.ema_momentum if updates_done else 0.0)
            f = spec.ema_overwrite_frequency
            if f and (updates_done + 1) % f == 0:
                for p, a in zip(self.params, avg, strict=True):
                    p.copy_(a)
        for i, value in self._constrained():  # Keras 3: v.assign(v.constraint(v)) after apply
            self.params[i].copy_(value)

    @torch.no_grad()
    def finalize(self) -> None:
        """Keras's ``finalize_variable_values``: with EMA, weights ← their moving average."""
        if self.spec.use_ema and self.iterations:
            for p, a in zip(self.params, self.slots[EMA_SLOT], strict=True):
                p.copy_(a)

    # ---- state (duallearn.plugin.SlotState) -------------------------------------------------
    def _slot_numpy(self, t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()  # type: ignore[no-any-return]

    @torch.no_grad()
    def _slot_assign(self, t: torch.Tensor, value: np.ndarray) -> None:
        t.copy_(torch.from_numpy(value).to(t.device, t.dtype))

    def _get_iterations(self) -> int:
        return self.iterations

    def _set_iterations(self, n: int) -> None:
        self.iterations = n
