"""Unlearning Mapping Attack (UMA), paper Section 4.2, Eq. 4-5 and Algorithm 1.

UMA asks whether an unlearned model f_u can be steered back to the original model f by a small
input perturbation: for every forget sample x it searches

    delta* = argmin_{||delta||_inf <= eps, x + delta in [0, 1]}  L(f_u(x + delta), f(x))

with projected sign-gradient *descent* (PGD run towards lower loss, Eq. 5). f(x) is computed once
on the clean input and detached; only delta is optimised. A small final loss / high agreement
means the unlearned model still holds the forgotten knowledge (residual knowledge).
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import INITS, LOSSES, SELECTS

__all__ = ["LOSSES", "INITS", "TASKS", "UMAResult", "uma", "parse_eps", "uma_loss", "search_copy",
           "SELECTS"]

TASKS = ("classification", "generative")

Model = nn.Module | Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------


@dataclass
class UMAResult:
    """Outcome of :func:`uma`. Every tensor is on the CPU; N = number of attacked inputs.

    x_adv:        (N, ...) perturbed inputs, in [0, 1].
    delta:        (N, ...) x_adv - x; |delta| <= eps element-wise when eps is set.
    loss:         (N,) per-sample loss L(unlearned(x_adv), target) of the returned x_adv.
    loss_history: (steps+1,) mean over samples of the loss that a run with t steps would return
                  (index 0 = before any update). With keep_best it is non-increasing.
    outputs:      (N, ...) unlearned(x_adv) (logits for classifiers).
    target:       (N, ...) original(x) on the clean inputs (detached).
    agrees:       (N,) bool argmax(outputs) == argmax(target); None for task="generative".
    correct:      (N,) bool argmax(outputs) == labels; None without labels or for generative.
    recorded:     {t: (N, ...) outputs a run with steps=t would have returned} for record_steps.
    seconds:      wall-clock time of the attack (target computation included).
    """

    x_adv: torch.Tensor
    delta: torch.Tensor
    loss: torch.Tensor
    loss_history: torch.Tensor
    outputs: torch.Tensor
    target: torch.Tensor
    agrees: torch.Tensor | None
    correct: torch.Tensor | None
    recorded: dict[int, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        """Plain-float digest: mean final loss, mean loss before the attack (loss_start), agree
        rate and accuracy in [0, 1] (NaN when not applicable), wall-clock seconds."""
        nan = float("nan")
        return {
            "loss": float(self.loss.mean()) if self.loss.numel() else nan,
            "loss_start": float(self.loss_history[0]) if self.loss_history.numel() else nan,
            "agree_rate": float(self.agrees.float().mean()) if self.agrees is not None else nan,
            "accuracy": float(self.correct.float().mean()) if self.correct is not None else nan,
            "seconds": float(self.seconds),
        }


# --------------------------------------------------------------------------------------------
# eps parsing (used by the CLI)
# --------------------------------------------------------------------------------------------

_UNBOUNDED_WORDS = ("none", "inf", "+inf", "infinity", "unbounded")


def parse_eps(text: str | float | None) -> float | None:
    """Parse an L-inf budget: "8/255", "0.03", 0.03 -> float in (0, 1]; "none"/"inf"/None -> None
    (unbounded attack). Raises ValueError for malformed text, NaN, division by zero or a value
    outside (0, 1]."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise ValueError(f"eps: expected a number in (0, 1], a fraction like '8/255' or 'none', got {text!r}")
    if isinstance(text, numbers.Real):
        value = float(text)
        if math.isinf(value) and value > 0:
            return None
        return _check_eps_value(value, text)
    if not isinstance(text, str):
        raise ValueError(f"eps: expected str, float or None, got {type(text).__name__}")
    s = text.strip().lower()
    if s in _UNBOUNDED_WORDS:
        return None
    try:
        if "/" in s:
            num_s, den_s = s.split("/", 1)
            num, den = float(num_s), float(den_s)
            if den == 0:
                raise ValueError(f"eps: division by zero in {text!r}")
            value = num / den
        else:
            value = float(s)
    except ValueError as err:
        if str(err).startswith("eps:"):
            raise
        raise ValueError(
            f"eps: cannot parse {text!r}; use a number in (0, 1], a fraction like '8/255', "
            f"or 'none'/'inf' for an unbounded attack"
        ) from None
    return _check_eps_value(value, text)


def _check_eps_value(value: float, original: object) -> float:
    if math.isnan(value) or not (0.0 < value <= 1.0):
        raise ValueError(f"eps: must be in (0, 1] (pixel units, e.g. 8/255) or None, got {original!r}")
    return value


# --------------------------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------------------------


def _mean_rest(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).mean(dim=1)


class _SoftTargetXent(torch.autograd.Function):
    """Soft-target cross-entropy / KL over dim 1 with the analytic gradient softmax(z) - p.

    Autograd through log_softmax yields softmax(z) * sum(p) - p, and sum(p) is 1 only up to
    rounding, so at a perfect map (z == target) the gradient is ~1e-8 instead of 0; sign() turns
    that noise into full-size steps. The closed form is exactly 0 there, so a model attacked
    against itself stays at delta = 0."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, target: torch.Tensor, kl: bool) -> torch.Tensor:
        log_p = F.log_softmax(target, dim=1)
        log_q = F.log_softmax(z, dim=1)
        p = log_p.exp()
        per = (p * ((log_p - log_q) if kl else -log_q)).sum(dim=1)
        ctx.save_for_backward(z, target)
        return per

    @staticmethod
    def backward(ctx, grad_per: torch.Tensor):
        z, target = ctx.saved_tensors
        diff = F.softmax(z, dim=1) - F.softmax(target, dim=1)
        return grad_per.unsqueeze(1) * diff, None, None


def uma_loss(output: torch.Tensor, target: torch.Tensor, loss: str, task: str = "classification") -> torch.Tensor:
    """Per-sample UMA loss, shape (N,). output: unlearned model's output (N, ...); target: original
    model's output on clean x (N, ...), detached.

    kl:  KL(softmax(target) || softmax(output)) over the class dim (dim 1); further dims averaged.
         Direction: the original model's distribution is the fixed reference the unlearned model
         is mapped onto, so it is the first argument (expectation under p_target) - exactly the
         soft-target cross-entropy minus the constant target entropy, hence 0 at a perfect map.
    ce:  -sum softmax(target) * log_softmax(output) over dim 1 (same gradient as kl).
    mse: mean squared error on raw outputs over all non-batch dims (logits or images).
    bce: classification - BCE(sigmoid(output), sigmoid(target)) per logit;
         generative - BCE(output.clamp(0,1), target.clamp(0,1)) per pixel; averaged.
    """
    if loss in ("kl", "ce"):
        per = _SoftTargetXent.apply(output, target, loss == "kl")
        return _mean_rest(per) if per.dim() > 1 else per
    if loss == "mse":
        return _mean_rest((output - target) ** 2)
    if loss == "bce":
        if task == "generative":
            per = F.binary_cross_entropy(output.clamp(0.0, 1.0), target.clamp(0.0, 1.0), reduction="none")
        else:
            per = F.binary_cross_entropy_with_logits(output, torch.sigmoid(target), reduction="none")
        return _mean_rest(per)
    raise ValueError(f"loss: must be one of {LOSSES}, got {loss!r}")


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _validate(
    original, unlearned, inputs, labels, eps, step_size, steps, loss, init, restarts, momentum,
    keep_best, task, batch_size, record_steps, seed, device, progress, target,
) -> tuple[torch.device, list[int]]:
    if not callable(original):
        raise ValueError("original: must be an nn.Module or a callable mapping inputs to outputs")
    if not callable(unlearned):
        raise ValueError("unlearned: must be an nn.Module or a callable mapping inputs to outputs")
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise ValueError("inputs: must be a floating-point torch.Tensor of shape (N, ...) with values in [0, 1]")
    if inputs.dim() < 1 or inputs.shape[0] == 0:
        raise ValueError(f"inputs: must have shape (N, ...) with N >= 1, got {tuple(inputs.shape)}")
    if not bool(torch.isfinite(inputs).all()) or float(inputs.min()) < 0.0 or float(inputs.max()) > 1.0:
        raise ValueError("inputs: values must be finite and within [0, 1] (pixel space)")
    n = inputs.shape[0]
    if labels is not None:
        if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != n:
            raise ValueError(f"labels: must be None or a 1-D tensor of length N={n}")
        if labels.is_floating_point() or labels.is_complex():
            raise ValueError("labels: must be an integer tensor (int64 class indices)")
    if eps is not None:
        if not _is_real(eps) or math.isnan(float(eps)) or not (0.0 < float(eps) <= 1.0):
            raise ValueError(f"eps: must be a float in (0, 1] or None (unbounded), got {eps!r}")
    if not _is_real(step_size) or not math.isfinite(float(step_size)) or float(step_size) <= 0:
        raise ValueError(f"step_size: must be a finite float > 0, got {step_size!r}")
    if not _is_int(steps) or steps < 0:
        raise ValueError(f"steps: must be an int >= 0, got {steps!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss: must be one of {LOSSES}, got {loss!r}")
    if init not in INITS:
        raise ValueError(f"init: must be one of {INITS}, got {init!r}")
    if not _is_int(restarts) or restarts < 1:
        raise ValueError(f"restarts: must be an int >= 1, got {restarts!r}")
    if not _is_real(momentum) or not math.isfinite(float(momentum)) or float(momentum) < 0:
        raise ValueError(f"momentum: must be a finite float >= 0, got {momentum!r}")
    if not isinstance(keep_best, bool):
        raise ValueError(f"keep_best: must be True or False, got {keep_best!r}")
    if task not in TASKS:
        raise ValueError(f"task: must be one of {TASKS}, got {task!r}")
    if task == "generative" and loss in ("kl", "ce"):
        raise ValueError(
            f"loss: {loss!r} needs class scores; with task='generative' use one of ('mse', 'bce')"
        )
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size: must be an int >= 1, got {batch_size!r}")
    recs: list[int] = []
    if record_steps is not None:
        if isinstance(record_steps, (str, bytes)) or not isinstance(record_steps, Sequence):
            raise ValueError("record_steps: must be None or a sequence of ints in [0, steps]")
        for t in record_steps:
            if not _is_int(t) or not (0 <= t <= steps):
                raise ValueError(f"record_steps: every entry must be an int in [0, steps={steps}], got {t!r}")
            recs.append(int(t))
    if not _is_int(seed):
        raise ValueError(f"seed: must be an int, got {seed!r}")
    if not isinstance(progress, bool):
        raise ValueError(f"progress: must be True or False, got {progress!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: not a valid torch device ({device!r}): {err}") from None
    if target is not None:
        if not isinstance(target, torch.Tensor) or target.dim() < 1 or target.shape[0] != n:
            raise ValueError(f"target: must be None or a tensor of shape (N={n}, ...)")
        if task == "classification" and target.dim() < 2:
            raise ValueError("target: classification targets must be class scores of shape (N, C, ...)")
    return dev, sorted(set(recs))


# --------------------------------------------------------------------------------------------
# the attack
# --------------------------------------------------------------------------------------------


def _save_modes(model) -> list[tuple[nn.Module, bool]]:
    if not isinstance(model, nn.Module):
        return []
    return [(m, m.training) for m in model.modules()]


def _restore_modes(saved: list[tuple[nn.Module, bool]]) -> None:
    for m, was_training in saved:
        m.training = was_training


_INT_VIEW = {torch.float64: torch.int64, torch.float32: torch.int32,
             torch.float16: torch.int16, torch.bfloat16: torch.int16}


def _tighten(bound: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Move each bound towards x until (bound - x), computed in x's dtype, is <= eps in float64.

    Non-negative floats order like their integer bit patterns, so this is a bisection over
    representable values between x (always feasible) and the rounded bound (maybe not)."""
    def feasible(b: torch.Tensor) -> torch.Tensor:
        return (b - x).abs().double() <= eps

    bad = ~feasible(bound)
    if not bool(bad.any()) or x.dtype not in _INT_VIEW:
        return bound
    itype = _INT_VIEW[x.dtype]
    idx = bad.reshape(-1).nonzero().squeeze(1)  # usually a few % of the elements
    xs = x.reshape(-1)[idx]
    good = xs.view(itype).clone()
    worse = bound.reshape(-1)[idx].view(itype).clone()
    while bool(((worse - good).abs() > 1).any()):
        mid = torch.div(good + worse, 2, rounding_mode="floor")
        ok = (mid.view(x.dtype) - xs).abs().double() <= eps
        good = torch.where(ok, mid, good)
        worse = torch.where(ok, worse, mid)
    out = bound.reshape(-1).clone()
    out[idx] = good.view(x.dtype)
    return out.view_as(bound)


def _box(x: torch.Tensor, eps: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element feasible interval [lo, hi] = [x - eps, x + eps] intersected with [0, 1].

    Rounding to the input dtype can leave x +- eps a hair outside the ball as seen by a caller who
    computes (x_adv - x) in that dtype and compares it with the Python float eps; the bounds are
    pulled in to the last representable values that pass. The rounded difference is monotone in
    x_adv, so every point of [lo, hi] then passes too."""
    if eps is None:
        return torch.zeros_like(x), torch.ones_like(x)
    hi = _tighten((x + eps).clamp(0.0, 1.0), x, eps)
    lo = _tighten((x - eps).clamp(0.0, 1.0), x, eps)
    return lo, hi


def _pick(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, *([1] * (new.dim() - 1))), new, old)


def uma(
    original: Model,
    unlearned: Model,
    inputs: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    eps: float | None = 8 / 255,
    step_size: float = 1 / 255,
    steps: int = 100,
    loss: str = "kl",
    init: str = "zero",
    restarts: int = 1,
    momentum: float = 0.0,
    keep_best: bool = True,
    task: str = "classification",
    batch_size: int = 256,
    record_steps: Sequence[int] | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    target: torch.Tensor | None = None,
    fast: bool = False,
    select: str = "loss",
) -> UMAResult:
    """Run UMA: map ``unlearned`` back onto ``original`` by perturbing ``inputs``.

    Args:
        original: f, the model before unlearning (module or callable); only queried on clean x.
        unlearned: f_u, the model under test; the attack differentiates through it.
        inputs: (N, C, H, W) (any (N, ...)) float in [0, 1], e.g. the forget set.
        labels: optional (N,) int64 ground truth, used for ``correct``.
        eps: L-inf budget in pixel units (e.g. 8/255), in (0, 1]; None = unbounded (only the
            [0, 1] box applies; used for generative models).
        step_size: sign-gradient step eta, pixel units.
        steps: number of updates T (T+1 evaluations: before the first update and after each).
        loss: one of LOSSES, see :func:`uma_loss` (kl = KL(f(x) || f_u(x+delta))).
        init: "zero" (deterministic, default) or "uniform" in [-eps, eps] ([-step_size,
            step_size] when eps is None). Algorithm 1 starts from a random delta; init="uniform"
            reproduces that. The zero start makes single runs deterministic and seed-free, and
            random starts are still available through ``restarts``.
        restarts: restart 0 uses ``init``, restarts 1.. use uniform starts with their own seeds;
            each sample keeps the restart with the lowest final loss (never worse than 1 run).
        momentum: mu > 0 enables MI-FGSM style g <- mu g + grad / mean|grad| (per sample) and
            steps on sign(g); 0 (default, the paper's setting) steps on sign(grad).
        keep_best: True (default) returns, per sample, the lowest-loss iterate among the T+1
            evaluations, so more steps never give a higher loss and the result is at least as
            strong as the last iterate. False returns the last iterate, as Algorithm 1 does.
        task: "classification" (outputs are class scores, agrees/correct computed) or
            "generative" (outputs are images; kl/ce not allowed).
        batch_size: inputs are attacked in chunks of this size (samples are independent).
        record_steps: step counts t in [0, steps]; ``recorded[t]`` holds the outputs a run with
            steps=t (all else equal) would have returned, at no extra forward cost.
        seed: seeds the uniform starts (torch.Generator on the CPU, so runs repeat exactly).
        device: where the models live and the attack runs; results come back on the CPU.
        progress: show a tqdm bar (total = batches * restarts * steps).
        target: optional precomputed original(inputs) (N, ...); skips the original's forward.
        fast: search on :func:`search_copy` of ``unlearned`` (eval-mode BatchNorm folded into
            the preceding convolutions, parameters frozen, channels_last when that leaves no
            BatchNorm): the same function up to float rounding (~1e-7), 2-3x faster for small
            CNNs on CPU. The returned outputs, losses and recorded outputs are those of
            ``unlearned`` itself at the chosen iterates; ``loss_history`` comes from the search.
        select: how ``keep_best`` and ``restarts`` choose a sample's iterate. "loss" (default):
            the lowest loss. "agreement" (classification only): an iterate at which the
            unlearned model's top class equals the original's wins over any that does not,
            lowest loss among equals, so success at any iterate or restart counts (the
            verifier's strong attack). ``loss_history`` is then not necessarily monotone.

    Returns:
        UMAResult (see its docstring). Both models are in eval() during the attack and their
        train/eval modes are restored afterwards; no gradients are left on their parameters.
    """
    dev, recs = _validate(
        original, unlearned, inputs, labels, eps, step_size, steps, loss, init, restarts, momentum,
        keep_best, task, batch_size, record_steps, seed, device, progress, target,
    )
    if not isinstance(fast, bool):
        raise ValueError(f"fast: must be True or False, got {fast!r}")
    if select not in SELECTS:
        raise ValueError(f"select: must be one of {SELECTS}, got {select!r}")
    if select == "agreement" and task != "classification":
        raise ValueError("select: 'agreement' needs class scores (task='classification')")
    eps = None if eps is None else float(eps)
    step_size = float(step_size)
    momentum = float(momentum)
    t0 = time.perf_counter()

    x_all = inputs.detach().cpu()
    n = x_all.shape[0]
    chunks = [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]

    saved = _save_modes(original) + _save_modes(unlearned)
    try:
        for model in (original, unlearned):
            if isinstance(model, nn.Module):
                model.eval()
        search = search_copy(unlearned, x_all.dim()) if fast else None

        # Target f(x): computed once per chunk, in the same chunks the attack uses, so that an
        # identical model reproduces it bit-for-bit at delta = 0.
        if target is None:
            parts = []
            with torch.no_grad():
                for s, e in chunks:
                    parts.append(original(x_all[s:e].to(dev)).detach().cpu())
            tgt_all = torch.cat(parts)
            if task == "classification" and tgt_all.dim() < 2:
                raise ValueError("task: 'classification' needs outputs of shape (N, C, ...); use task='generative'")
        else:
            tgt_all = target.detach().cpu()

        best_x = best_out = best_loss = None  # per-sample best across restarts (final step)
        hist = torch.full((n, steps + 1), math.inf, dtype=torch.float64)  # per-sample, per t
        rec_out: dict[int, torch.Tensor] = {}
        rec_loss = {t: torch.full((n,), math.inf, dtype=torch.float64) for t in recs}

        bar = tqdm(total=len(chunks) * restarts * steps, desc="UMA", disable=not progress)
        try:
            for r in range(restarts):
                start = init if r == 0 else "uniform"
                noise = None
                if start == "uniform":
                    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1_000_003 * r)
                    u = torch.rand(x_all.shape, generator=gen, dtype=x_all.dtype)
                    radius = eps if eps is not None else step_size
                    noise = (2.0 * u - 1.0) * radius
                for s, e in chunks:
                    out = _attack_chunk(
                        unlearned, x_all[s:e].to(dev), tgt_all[s:e].to(dev),
                        None if noise is None else noise[s:e].to(dev),
                        eps, step_size, steps, loss, task, momentum, keep_best, recs, bar,
                        search, select,
                    )
                    c_x, c_out, c_loss, c_hist, c_rec = out
                    if best_loss is None:
                        best_x = torch.empty_like(x_all)
                        best_out = torch.empty((n, *c_out.shape[1:]), dtype=c_out.dtype)
                        best_loss = torch.full((n,), math.inf, dtype=torch.float64)
                    # Strict: earlier restarts win ties. Restart 0 is always taken, so a NaN loss
                    # (broken model) still yields a defined, feasible result.
                    t_chunk = tgt_all[s:e]
                    better = _better(c_out, c_loss, best_out[s:e], best_loss[s:e], t_chunk,
                                     select) | (r == 0)
                    best_x[s:e] = _pick(better, c_x, best_x[s:e])
                    best_out[s:e] = _pick(better, c_out, best_out[s:e])
                    best_loss[s:e] = torch.where(better, c_loss, best_loss[s:e])
                    hist[s:e] = torch.minimum(hist[s:e], c_hist)
                    for t in recs:
                        o_t, l_t = c_rec[t]
                        if t not in rec_out:
                            rec_out[t] = torch.empty((n, *o_t.shape[1:]), dtype=o_t.dtype)
                        b = _better(o_t, l_t, rec_out[t][s:e], rec_loss[t][s:e], t_chunk,
                                    select) | (r == 0)
                        rec_out[t][s:e] = _pick(b, o_t, rec_out[t][s:e])
                        rec_loss[t][s:e] = torch.where(b, l_t, rec_loss[t][s:e])
        finally:
            bar.close()
    finally:
        _restore_modes(saved)

    delta = best_x - x_all
    if task == "classification":
        pred = best_out.argmax(dim=1)
        agrees = pred == tgt_all.argmax(dim=1)
        # Per-position outputs (N, C, H, W) have no single prediction to compare with labels.
        correct = (pred == labels.cpu()) if labels is not None and pred.dim() == 1 else None
    else:
        agrees = correct = None
    return UMAResult(
        x_adv=best_x,
        delta=delta,
        loss=best_loss.float(),
        loss_history=hist.mean(dim=0).float(),
        outputs=best_out,
        target=tgt_all,
        agrees=agrees,
        correct=correct,
        recorded={t: rec_out[t] for t in recs},
        seconds=time.perf_counter() - t0,
    )


def _better(out: torch.Tensor, loss_: torch.Tensor, old_out: torch.Tensor,
            old_loss: torch.Tensor, tgt: torch.Tensor, select: str) -> torch.Tensor:
    """Per sample: is (out, loss_) a better iterate than (old_out, old_loss)? Strict, so the
    earlier one wins ties. With select="agreement" agreeing with the target's top class ranks
    first and the loss breaks ties."""
    lower = loss_ < old_loss
    if select == "loss":
        return lower
    top = tgt.argmax(dim=1).to(out.device)
    ok, old_ok = out.argmax(dim=1) == top, old_out.argmax(dim=1) == top
    return ((ok & ~old_ok) | ((ok == old_ok) & lower.to(ok.device))).to(lower.device)


def _attack_chunk(
    unlearned, x, tgt, noise, eps, step_size, steps, loss, task, momentum, keep_best, recs, bar,
    search=None, select="loss",
):
    """Attack one chunk from one start. Returns CPU tensors: x_adv, outputs, loss (float64) of the
    returned iterate, the (n, steps+1) loss a run of t steps would return, and {t: (outputs, loss)}
    for the recorded step counts. ``search`` (a fast copy of ``unlearned``) drives the descent
    when given; the returned numbers are then re-evaluated with ``unlearned``."""
    fast = search is not None
    if fast and getattr(search, "channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)
    lo, hi = _box(x, eps)
    x_adv = x.clone() if noise is None else torch.minimum(torch.maximum(x + noise, lo), hi)
    x_adv = x_adv.detach()
    model = search if fast else unlearned
    b = x.shape[0]
    g_acc = torch.zeros_like(x) if momentum > 0 else None
    rec_set = set(recs)

    best_x = best_out = best_loss = None
    hist = torch.empty((b, steps + 1), dtype=torch.float64)
    rec: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for t in range(steps + 1):
        x_adv.requires_grad_(True)
        # The final evaluation also runs with autograd on so its forward is numerically the one
        # a longer run performs at the same step (record_steps must match separate runs).
        with torch.enable_grad():
            out = model(x_adv)
            per = uma_loss(out, tgt, loss, task)
            grad = torch.autograd.grad(per.sum(), x_adv)[0] if t < steps else None
        out_d = out.detach()
        per_d = per.detach().to(torch.float64)
        x_cur = x_adv.detach()
        if best_loss is None or not keep_best:
            best_x, best_out, best_loss = x_cur, out_d, per_d
        else:
            better = _better(out_d, per_d, best_out, best_loss, tgt, select)
            best_x = _pick(better, x_cur, best_x)
            best_out = _pick(better, out_d, best_out)
            best_loss = torch.where(better, per_d, best_loss)
        hist[:, t] = best_loss.cpu()
        if t in rec_set:
            rec[t] = (best_x, best_out.cpu(), best_loss.cpu())
        if t == steps:
            break
        if g_acc is not None:
            scale = grad.abs().reshape(b, -1).mean(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
            g_acc = momentum * g_acc + grad / scale
            direction = g_acc.sign()
        else:
            direction = grad.sign()
        # Descent (Eq. 5), then exact projection onto the eps ball intersected with [0, 1].
        x_adv = torch.minimum(torch.maximum(x_cur - step_size * direction, lo), hi).detach()
        bar.update(1)
    if fast:  # the chosen iterates, evaluated by the model under test: what a caller scores
        best_out, best_loss = _evaluate(unlearned, best_x, tgt, loss, task)
        rec = {t: _evaluate(unlearned, xr, tgt, loss, task) for t, (xr, _, _) in rec.items()}
    else:
        rec = {t: (o, lo_) for t, (_, o, lo_) in rec.items()}
    return best_x.contiguous().cpu(), best_out.cpu(), best_loss.cpu(), hist, rec


@torch.no_grad()
def _evaluate(model, x, tgt, loss, task) -> tuple[torch.Tensor, torch.Tensor]:
    """Outputs (CPU) and per-sample float64 loss (CPU) of ``model`` at ``x``."""
    out = model(x.contiguous())
    return out.cpu(), uma_loss(out, tgt, loss, task).to(torch.float64).cpu()


def search_copy(model: Model, ndim: int = 4) -> Model:
    """A copy of ``model`` for a fast attack search, or ``model`` itself when it is not an
    ``nn.Module``: eval mode, parameters frozen (no weight gradients), BatchNorm folded into the
    preceding convolution where ``torch.fx`` can trace the model, and channels_last memory
    format when the folding removed every BatchNorm and inputs are images (``ndim`` 4).
    ``model`` itself is never modified. The copy has ``channels_last`` set accordingly."""
    if not isinstance(model, nn.Module):
        return model
    import copy

    import torch.fx.experimental.optimization as fx_opt

    try:
        work = copy.deepcopy(model).eval()
    except Exception:  # not copyable (some compiled or foreign modules): search on the model
        return model
    try:
        work = fx_opt.fuse(work, inplace=True)
    except Exception:  # not symbolically traceable (data-dependent control flow): unfused copy
        pass
    work.requires_grad_(False)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in work.modules())
    has_conv = any(isinstance(m, nn.Conv2d) for m in work.modules())
    # channels_last is 2-3x faster for small convs on CPU once no BatchNorm is left (measured
    # with python -m umalib bench); with BatchNorm it was slower.
    work.channels_last = bool(ndim == 4 and has_conv and not has_bn)
    if work.channels_last:
        work = work.to(memory_format=torch.channels_last)
    return work
