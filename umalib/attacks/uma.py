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
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..budget import parse_eps
from ..config import INITS, LOSSES, SELECTS
from ..models.modes import eval_modes
from .probe import register_probe

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
# argument validation: one concern per function, run in uma()'s order so that the first bad
# argument is the one reported, before any model is called
# --------------------------------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_models(original: object, unlearned: object) -> None:
    """ValueError unless both models can be called."""
    if not callable(original):
        raise ValueError("original: must be an nn.Module or a callable mapping inputs to outputs")
    if not callable(unlearned):
        raise ValueError("unlearned: must be an nn.Module or a callable mapping inputs to outputs")


def _check_inputs(inputs: object, labels: object) -> None:
    """ValueError unless inputs is a float (N, ...) tensor in [0, 1] with N >= 1 and labels is
    None or an (N,) integer tensor."""
    if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
        raise ValueError("inputs: must be a floating-point torch.Tensor of shape (N, ...) with values in [0, 1]")
    if inputs.dim() < 1 or inputs.shape[0] == 0:
        raise ValueError(f"inputs: must have shape (N, ...) with N >= 1, got {tuple(inputs.shape)}")
    if not bool(torch.isfinite(inputs).all()) or float(inputs.min()) < 0.0 or float(inputs.max()) > 1.0:
        raise ValueError("inputs: values must be finite and within [0, 1] (pixel space)")
    if labels is None:
        return
    n = inputs.shape[0]
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"labels: must be None or a 1-D tensor of length N={n}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError("labels: must be an integer tensor (int64 class indices)")


def _check_budget(eps: object, step_size: object, steps: object) -> None:
    """ValueError unless eps is None or in (0, 1], step_size a finite float > 0, steps an int >= 0."""
    if eps is not None:
        if not _is_real(eps) or math.isnan(float(eps)) or not (0.0 < float(eps) <= 1.0):
            raise ValueError(f"eps: must be a float in (0, 1] or None (unbounded), got {eps!r}")
    if not _is_real(step_size) or not math.isfinite(float(step_size)) or float(step_size) <= 0:
        raise ValueError(f"step_size: must be a finite float > 0, got {step_size!r}")
    if not _is_int(steps) or steps < 0:
        raise ValueError(f"steps: must be an int >= 0, got {steps!r}")


def _check_search(loss: object, init: object, restarts: object, momentum: object, keep_best: object,
                  task: object) -> None:
    """ValueError unless the search settings are known names / valid values and fit the task."""
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


def _check_iterate_choice(fast: object, select: object, task: str) -> None:
    """ValueError unless fast is a bool and select a known rule that fits the task."""
    if not isinstance(fast, bool):
        raise ValueError(f"fast: must be True or False, got {fast!r}")
    if select not in SELECTS:
        raise ValueError(f"select: must be one of {SELECTS}, got {select!r}")
    if select == "agreement" and task != "classification":
        raise ValueError("select: 'agreement' needs class scores (task='classification')")


def _check_record_steps(record_steps: object, steps: int) -> list[int]:
    """record_steps as a sorted list of distinct ints in [0, steps] (None -> []), else ValueError."""
    if record_steps is None:
        return []
    if isinstance(record_steps, (str, bytes)) or not isinstance(record_steps, Sequence):
        raise ValueError("record_steps: must be None or a sequence of ints in [0, steps]")
    recs: list[int] = []
    for t in record_steps:
        if not _is_int(t) or not (0 <= t <= steps):
            raise ValueError(f"record_steps: every entry must be an int in [0, steps={steps}], got {t!r}")
        recs.append(int(t))
    return sorted(set(recs))


def _check_run(batch_size: object, record_steps: object, steps: int, seed: object, device: object,
               progress: object) -> tuple[torch.device, list[int]]:
    """Validate how the attack runs; returns (torch.device, sorted distinct record steps)."""
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size: must be an int >= 1, got {batch_size!r}")
    recs = _check_record_steps(record_steps, steps)
    if not _is_int(seed):
        raise ValueError(f"seed: must be an int, got {seed!r}")
    if not isinstance(progress, bool):
        raise ValueError(f"progress: must be True or False, got {progress!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device: not a valid torch device ({device!r}): {err}") from None
    return dev, recs


def _check_target(target: object, n: int, task: str) -> None:
    """ValueError unless target is None or an (N, ...) tensor ((N, C, ...) for classification)."""
    if target is None:
        return
    if not isinstance(target, torch.Tensor) or target.dim() < 1 or target.shape[0] != n:
        raise ValueError(f"target: must be None or a tensor of shape (N={n}, ...)")
    if task == "classification" and target.dim() < 2:
        raise ValueError("target: classification targets must be class scores of shape (N, C, ...)")


# --------------------------------------------------------------------------------------------
# the attack
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Search:
    """What one descent from one start does; the same for every chunk and restart (see uma())."""

    eps: float | None
    step_size: float
    steps: int
    loss: str
    task: str
    momentum: float
    keep_best: bool
    record: tuple[int, ...]  # sorted distinct step counts whose outputs are recorded
    select: str


@dataclass(frozen=True)
class _Run:
    """How the searches are scheduled: on which device, in which row chunks, from which starts."""

    device: torch.device
    chunks: tuple[tuple[int, int], ...]  # (start, end) row ranges of batch_size rows
    init: str
    restarts: int
    seed: int
    progress: bool


class _Chunk(NamedTuple):
    """One chunk attacked from one start (CPU tensors, b = rows of the chunk)."""

    x: torch.Tensor  # (b, ...) returned iterate
    out: torch.Tensor  # (b, ...) unlearned(x)
    loss: torch.Tensor  # (b,) float64 loss at x
    hist: torch.Tensor  # (b, steps+1) float64 loss a run of t steps would return
    rec: dict[int, tuple[torch.Tensor, torch.Tensor]]  # {t: (outputs, float64 loss)}


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


@register_probe("uma", space="input",
                summary="perturb forget inputs (L-inf) so the unlearned model maps back onto the original")
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
    _check_models(original, unlearned)
    _check_inputs(inputs, labels)
    _check_budget(eps, step_size, steps)
    _check_search(loss, init, restarts, momentum, keep_best, task)
    dev, recs = _check_run(batch_size, record_steps, steps, seed, device, progress)
    n = inputs.shape[0]
    _check_target(target, n, task)
    # Last, where uma() has always checked them: the error reported first is unchanged.
    _check_iterate_choice(fast, select, task)
    cfg = _Search(eps=None if eps is None else float(eps), step_size=float(step_size), steps=steps,
                  loss=loss, task=task, momentum=float(momentum), keep_best=keep_best,
                  record=tuple(recs), select=select)
    run = _Run(device=dev, chunks=tuple((s, min(s + batch_size, n)) for s in range(0, n, batch_size)),
               init=init, restarts=restarts, seed=seed, progress=progress)
    t0 = time.perf_counter()
    x_all = inputs.detach().cpu()
    with eval_modes(original, unlearned):
        search = search_copy(unlearned, x_all.dim()) if fast else None
        tgt_all = _targets(original, x_all, run, task) if target is None else target.detach().cpu()
        best = _attack_restarts(unlearned, search, x_all, tgt_all, cfg, run)
    return _result(best, x_all, tgt_all, labels, task, t0)


def _targets(original: Model, x_all: torch.Tensor, run: _Run, task: str) -> torch.Tensor:
    """original(x) on the clean inputs (N, ...), detached, on the CPU.

    Computed once per chunk, in the same chunks the attack uses, so that an identical model
    reproduces it bit-for-bit at delta = 0."""
    with torch.no_grad():
        parts = [original(x_all[s:e].to(run.device)).detach().cpu() for s, e in run.chunks]
    tgt_all = torch.cat(parts)
    if task == "classification" and tgt_all.dim() < 2:
        raise ValueError("task: 'classification' needs outputs of shape (N, C, ...); use task='generative'")
    return tgt_all


def _start_noise(x_all: torch.Tensor, r: int, cfg: _Search, run: _Run) -> torch.Tensor | None:
    """Offset (N, ...) of the start of restart r, uniform in [-eps, eps] ([-step_size, step_size]
    when unbounded), or None for a zero start. Restart 0 uses ``init``, later ones are uniform.
    Drawn for all N rows on the CPU from a generator seeded per restart, so the starts do not
    depend on the device or the chunking."""
    if (run.init if r == 0 else "uniform") != "uniform":
        return None
    gen = torch.Generator(device="cpu").manual_seed(int(run.seed) + 1_000_003 * r)
    u = torch.rand(x_all.shape, generator=gen, dtype=x_all.dtype)
    radius = cfg.eps if cfg.eps is not None else cfg.step_size
    return (2.0 * u - 1.0) * radius


def _attack_restarts(unlearned: Model, search: Model | None, x_all: torch.Tensor,
                     tgt_all: torch.Tensor, cfg: _Search, run: _Run) -> _Best:
    """Attack every chunk from every start; returns the per-sample best across restarts."""
    best = _Best.empty(x_all, cfg)
    bar = tqdm(total=len(run.chunks) * run.restarts * cfg.steps, desc="UMA", disable=not run.progress)
    try:
        for r in range(run.restarts):
            noise = _start_noise(x_all, r, cfg, run)
            for s, e in run.chunks:
                chunk = _attack_chunk(
                    unlearned, x_all[s:e].to(run.device), tgt_all[s:e].to(run.device),
                    None if noise is None else noise[s:e].to(run.device), cfg, bar, search,
                )
                best.merge(s, e, chunk, tgt_all[s:e], first=r == 0, select=cfg.select)
    finally:
        bar.close()
    return best


@dataclass
class _Best:
    """Per-sample best across restarts (CPU), of the returned iterate and of every recorded step
    count, filled chunk by chunk."""

    x: torch.Tensor  # (N, ...)
    loss: torch.Tensor  # (N,) float64
    hist: torch.Tensor  # (N, steps+1) float64, minimum over restarts
    rec_loss: dict[int, torch.Tensor]  # {t: (N,) float64}, keys in record order
    # Outputs are allocated by the first merge: their shape is only known from a forward pass.
    out: torch.Tensor | None = None
    rec_out: dict[int, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def empty(cls, x_all: torch.Tensor, cfg: _Search) -> _Best:
        """Nothing merged yet: every loss +inf."""
        n = x_all.shape[0]
        return cls(
            x=torch.empty_like(x_all),
            loss=torch.full((n,), math.inf, dtype=torch.float64),
            hist=torch.full((n, cfg.steps + 1), math.inf, dtype=torch.float64),
            rec_loss={t: torch.full((n,), math.inf, dtype=torch.float64) for t in cfg.record},
        )

    def merge(self, s: int, e: int, c: _Chunk, tgt: torch.Tensor, first: bool, select: str) -> None:
        """Fold chunk rows s:e of one restart in. ``first``: restart 0, whose rows are always
        taken (strict comparison: earlier restarts win ties), so a NaN loss (broken model)
        still yields a defined, feasible result."""
        n = self.x.shape[0]
        if self.out is None:
            self.out = torch.empty((n, *c.out.shape[1:]), dtype=c.out.dtype)
        better = _better(c.out, c.loss, self.out[s:e], self.loss[s:e], tgt, select) | first
        self.x[s:e], self.out[s:e], self.loss[s:e] = _choose(
            better, (c.x, c.out, c.loss), (self.x[s:e], self.out[s:e], self.loss[s:e]))
        self.hist[s:e] = torch.minimum(self.hist[s:e], c.hist)
        for t, (o_t, l_t) in c.rec.items():
            if t not in self.rec_out:
                self.rec_out[t] = torch.empty((n, *o_t.shape[1:]), dtype=o_t.dtype)
            old = (self.rec_out[t][s:e], self.rec_loss[t][s:e])
            b = _better(o_t, l_t, *old, tgt, select) | first
            self.rec_out[t][s:e], self.rec_loss[t][s:e] = _choose(b, (o_t, l_t), old)


def _result(best: _Best, x_all: torch.Tensor, tgt_all: torch.Tensor, labels: torch.Tensor | None,
            task: str, t0: float) -> UMAResult:
    """The UMAResult of the merged best; ``t0``: perf_counter() at the start of the attack."""
    if task == "classification":
        pred = best.out.argmax(dim=1)
        agrees = pred == tgt_all.argmax(dim=1)
        # Per-position outputs (N, C, H, W) have no single prediction to compare with labels.
        correct = (pred == labels.cpu()) if labels is not None and pred.dim() == 1 else None
    else:
        agrees = correct = None
    return UMAResult(
        x_adv=best.x,
        delta=best.x - x_all,
        loss=best.loss.float(),
        loss_history=best.hist.mean(dim=0).float(),
        outputs=best.out,
        target=tgt_all,
        agrees=agrees,
        correct=correct,
        recorded={t: best.rec_out[t] for t in best.rec_loss},
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



def _choose(mask: torch.Tensor, new: tuple[torch.Tensor, ...],
            old: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Per sample (row), the tensors of ``new`` where ``mask`` holds, else those of ``old``."""
    return tuple(_pick(mask, a, b) for a, b in zip(new, old))


def _attack_chunk(unlearned: Model, x: torch.Tensor, tgt: torch.Tensor, noise: torch.Tensor | None,
                  cfg: _Search, bar: tqdm, search: Model | None = None) -> _Chunk:
    """Attack one chunk x (b, ...) against tgt (b, ...) from x + noise (x when noise is None).

    ``search`` (a fast copy of ``unlearned``) drives the descent when given; the returned numbers
    are then re-evaluated with ``unlearned``. Returns the chunk's _Chunk (CPU tensors)."""
    fast = search is not None
    if fast and getattr(search, "channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)
    lo, hi = _box(x, cfg.eps)
    x_adv = x.clone() if noise is None else torch.minimum(torch.maximum(x + noise, lo), hi)
    x_adv = x_adv.detach()
    model = search if fast else unlearned
    g_acc = torch.zeros_like(x) if cfg.momentum > 0 else None

    best: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (x, out, loss)
    hist = torch.empty((x.shape[0], cfg.steps + 1), dtype=torch.float64)
    rec: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for t in range(cfg.steps + 1):
        out, per, grad = _loss_and_grad(model, x_adv, tgt, cfg, need_grad=t < cfg.steps)
        x_cur = x_adv.detach()
        best = _keep(best, (x_cur, out, per), tgt, cfg)
        hist[:, t] = best[2].cpu()
        if t in cfg.record:
            rec[t] = (best[0], best[1].cpu(), best[2].cpu())
        if t == cfg.steps:
            break
        direction, g_acc = _direction(grad, g_acc, cfg.momentum)
        # Descent (Eq. 5), then exact projection onto the eps ball intersected with [0, 1].
        x_adv = torch.minimum(torch.maximum(x_cur - cfg.step_size * direction, lo), hi).detach()
        bar.update(1)
    return _chunk_result(unlearned, best, hist, rec, tgt, cfg, fast)


def _loss_and_grad(model: Model, x_adv: torch.Tensor, tgt: torch.Tensor, cfg: _Search,
                   need_grad: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Detached outputs, per-sample float64 loss and (when ``need_grad``) d loss / d x_adv.
    Marks ``x_adv`` as requiring grad."""
    x_adv.requires_grad_(True)
    # The final evaluation also runs with autograd on so its forward is numerically the one
    # a longer run performs at the same step (record_steps must match separate runs).
    with torch.enable_grad():
        out = model(x_adv)
        per = uma_loss(out, tgt, cfg.loss, cfg.task)
        grad = torch.autograd.grad(per.sum(), x_adv)[0] if need_grad else None
    return out.detach(), per.detach().to(torch.float64), grad


def _keep(best: tuple[torch.Tensor, ...] | None, new: tuple[torch.Tensor, ...], tgt: torch.Tensor,
          cfg: _Search) -> tuple[torch.Tensor, ...]:
    """The (x, out, loss) iterate a run stopping now returns: ``new`` at the first step or without
    keep_best, else per sample the better of ``best`` and ``new`` (``best`` wins ties)."""
    if best is None or not cfg.keep_best:
        return new
    better = _better(new[1], new[2], best[1], best[2], tgt, cfg.select)
    return _choose(better, new, best)


def _direction(grad: torch.Tensor, g_acc: torch.Tensor | None,
               momentum: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(step direction, updated accumulator): sign(grad) without momentum (g_acc None), else
    MI-FGSM g <- momentum * g + grad / mean|grad| (per sample) and sign(g)."""
    if g_acc is None:
        return grad.sign(), None
    scale = grad.abs().reshape(grad.shape[0], -1).mean(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
    g_acc = momentum * g_acc + grad / scale
    return g_acc.sign(), g_acc


def _chunk_result(unlearned: Model, best: tuple[torch.Tensor, ...], hist: torch.Tensor,
                  rec: dict[int, tuple[torch.Tensor, ...]], tgt: torch.Tensor, cfg: _Search,
                  fast: bool) -> _Chunk:
    """Package a chunk's chosen iterate ``best`` = (x, out, loss) and its recorded iterates
    {t: (x, out, loss)} as CPU tensors. After a fast search the outputs and losses are those of
    ``unlearned`` at the chosen points: what a caller scores."""
    x, out, loss_ = best
    if fast:
        out, loss_ = _evaluate(unlearned, x, tgt, cfg.loss, cfg.task)
        rec_ = {t: _evaluate(unlearned, xr, tgt, cfg.loss, cfg.task) for t, (xr, _, _) in rec.items()}
    else:
        rec_ = {t: (o, lo_) for t, (_, o, lo_) in rec.items()}
    return _Chunk(x.contiguous().cpu(), out.cpu(), loss_.cpu(), hist, rec_)


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
