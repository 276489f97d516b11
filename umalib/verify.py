"""Verify an unlearned classifier with UMA: ``umalib.verify.verify(...)`` and the CLI's report.

Given the model before unlearning (``original``), after (``unlearned``), the forget set and,
ideally, a model retrained without the forget set (``retrained``), :func:`verify` attacks
``unlearned`` with UMA within an L-inf budget and reports, each share with a 95% binomial
(Clopper-Pearson) interval:

- UA: forget samples the unlearned model classifies correctly (clean, then attacked);
- mapped back: samples whose attacked input makes the unlearned model predict what the
  original predicted on the clean input;
- residual: samples the unlearned model classifies correctly on the attacked input while the
  retrained model, on the same input, does not (knowledge left by unlearning, as opposed to
  generalisation, which the retrained model shares);
- MIA: share of forget samples a confidence-based membership attack (fitted on retain vs test
  outputs of the unlearned model) calls members.

Strengths (a ladder; the verdict uses the strongest rung run):

- ``standard``: the paper's attack (zero start, ``steps`` sign-gradient steps of ``step_size``,
  KL loss), as in the notebooks.
- ``strong``: the standard run, plus 3 uniform restarts of 1.5 x ``steps`` steps of 2 x
  ``step_size`` with momentum, where success at any iterate counts (``uma(select="agreement")``).
  A sample counts as mapped back (residual) when any run found such an input, so strong is never
  weaker than standard on the same samples. Also reported, on its own line and outside the
  verdict: a label-guided attack (cross-entropy toward the true label of the forgotten sample), an
  auditor's upper bound that uses knowledge the mapping attack does not.

The verdict rule is stated in the report: residual knowledge when the interval's lower bound of
the verdict share exceeds ``threshold``, robust when its upper bound does not, inconclusive
otherwise. The verdict share is residual when a retrained model is given; without one it is the
mapped-back share, and only for class-wise forgetting: on an instance-wise forget set a
retrained model is mapped back as well (paper Table 2), so the tool declines to decide.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from .attacks.probe import run_probe
from .attacks.uma import UMAResult, _better, parse_eps
from .budget import label
from .config import STRENGTHS, RelearnConfig
from .metrics.classification import predict, residual_flags
from .metrics.mia import MIAAttacker

__all__ = ["STRENGTHS", "Rung", "ladder", "Share", "Outcome", "Report", "verify", "parse_eps_list",
           "decide", "resolve_device"]

Model = nn.Module | Callable[[torch.Tensor], torch.Tensor]
Data = tuple[torch.Tensor, torch.Tensor] | Iterable


# ----------------------------------------------------------------------------- the ladder
@dataclass(frozen=True)
class Rung:
    """One UMA run of the ladder: :func:`umalib.attacks.uma` arguments."""

    name: str
    init: str
    restarts: int
    steps: int
    step_size: float
    momentum: float
    select: str


# Momentum of the strong rung. On the quick SalUn model (class 0, 200 images, 16/255, seed 0)
# the mapped-back share was: paper setting 0.665; 3 uniform restarts x 150 steps of 2/255 chosen
# by loss 0.640, by agreement at any iterate 0.770, plus momentum 0.5 0.800, 0.9 0.805.
STRONG_MOMENTUM = 0.9


def ladder(strength: str, steps: int = 100, step_size: float = 1 / 255) -> list[Rung]:
    """The runs of ``strength`` ("standard": the paper's; "strong": + restarts, see module)."""
    if strength not in STRENGTHS:
        raise ValueError(f"strength must be one of {STRENGTHS}, got {strength!r}")
    rungs = [Rung("standard", "zero", 1, steps, step_size, 0.0, "loss")]
    if strength == "strong":
        rungs.append(Rung("restarts", "uniform", 3, max(1, round(1.5 * steps)), 2 * step_size,
                          STRONG_MOMENTUM, "agreement"))
    return rungs


# ----------------------------------------------------------------------------- shares
@dataclass(frozen=True)
class Share:
    """k of n with a 95% Clopper-Pearson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        from scipy.stats import beta

        if not self.n:
            return math.nan, math.nan
        lo = 0.0 if self.k == 0 else float(beta.ppf(0.025, self.k, self.n - self.k + 1))
        hi = 1.0 if self.k == self.n else float(beta.ppf(0.975, self.k + 1, self.n - self.k))
        return lo, hi

    @classmethod
    def of(cls, flags: torch.Tensor) -> "Share":
        return cls(int(flags.sum()), int(flags.numel()))

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:.3f} [{lo:.3f}, {hi:.3f}]"

    def to_dict(self) -> dict[str, float]:
        lo, hi = self.interval
        return {"value": self.value, "lo": lo, "hi": hi, "k": self.k, "n": self.n}


@dataclass
class Outcome:
    """The unlearned model on one set of inputs (clean, or the inputs an attack found)."""

    name: str
    UA: Share
    mapped_back: Share
    residual: Share | None
    MIA: float
    seconds: float = 0.0
    image_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "UA": self.UA.to_dict(), "mapped_back": self.mapped_back.to_dict(),
                "residual": self.residual.to_dict() if self.residual else None, "MIA": self.MIA,
                "seconds": self.seconds, "image_steps": self.image_steps}


# ----------------------------------------------------------------------------- the report
@dataclass
class Report:
    """What :func:`verify` found. ``attacks`` holds the standard rung and, for strong, the
    combined strong attack; ``upper_bound`` the label-guided attack (strong only); ``curve``
    one dict per budget of ``eps_curve``. Its text, Markdown, files and curve plot are in
    :mod:`umalib.reporting.verify_report` (the library does not import its presentation)."""

    eps: float
    strength: str
    scenario: str
    samples: int
    forget_size: int
    threshold: float
    original_UA: Share
    clean: Outcome
    attacks: list[Outcome]
    upper_bound: Outcome | None
    retrained_UA: Share | None
    verdict: str
    decision: str
    rule: str
    settings: list[dict]
    curve: list[dict] = field(default_factory=list)
    # the relearning probe (retain only): {"steps", "lr", "batch_size", "unlearned": {t: UA %},
    # "retrained": {t: UA %} or None, "seconds"}; None when not run (no retain data, or 0 steps)
    relearn: dict[str, Any] | None = None
    models: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    attack_seconds: float = 0.0

    @property
    def seconds_per_1000(self) -> float:
        """Attack time at ``eps`` (every rung, the upper bound included) per 1,000 samples."""
        return 1000 * self.attack_seconds / max(self.samples, 1)

    @property
    def decisive(self) -> Outcome:
        """The outcome the verdict rests on (the strongest attack run)."""
        return self.attacks[-1]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items()
             if k not in ("original_UA", "clean", "attacks", "upper_bound", "retrained_UA")}
        d.update(original_UA=self.original_UA.to_dict(), clean=self.clean.to_dict(),
                 attacks=[a.to_dict() for a in self.attacks],
                 upper_bound=self.upper_bound.to_dict() if self.upper_bound else None,
                 retrained_UA=self.retrained_UA.to_dict() if self.retrained_UA else None,
                 seconds_per_1000_samples=self.seconds_per_1000)
        return d


# ----------------------------------------------------------------------------- inputs
def _tensors(data: Data | None, name: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x float [0, 1], y int64) from a pair of tensors or an iterable of (x, y) batches."""
    if data is None:
        return None
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
    else:
        try:
            batches = [(b[0], b[1]) for b in data]
        except (TypeError, IndexError):
            raise ValueError(f"{name}: expected (x, y) tensors or an iterable of (x, y) batches") from None
        if not batches:
            raise ValueError(f"{name}: no batches")
        x, y = torch.cat([b[0] for b in batches]), torch.cat([torch.as_tensor(b[1]) for b in batches])
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise ValueError(f"{name}: x and y must be tensors")
    if x.dtype == torch.uint8:
        x = x.float().div(255)
    if not x.is_floating_point() or x.dim() < 2 or len(x) == 0:
        raise ValueError(f"{name}: x must be a non-empty float tensor (N, ...) in [0, 1]")
    if not bool(torch.isfinite(x).all()) or float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError(f"{name}: x must be finite and within [0, 1] (pixel space)")
    if y.dim() != 1 or len(y) != len(x) or y.is_floating_point() or bool((y < 0).any()):
        raise ValueError(f"{name}: y must be N={len(x)} non-negative integer labels")
    return x.float(), y.long()


def parse_eps_list(text: str | Sequence) -> list[float]:
    """"2/255,4/255,8/255" (or a list) -> sorted distinct bounded budgets."""
    items = text.split(",") if isinstance(text, str) else list(text)
    values = []
    for item in items:
        e = parse_eps(item.strip() if isinstance(item, str) else item)
        if e is None:
            raise ValueError("eps curve: every budget must be bounded (e.g. 2/255,4/255,8/255)")
        values.append(e)
    if not values:
        raise ValueError("eps curve: give at least one budget")
    return sorted(set(values))


class _Callable(nn.Module):
    """A plain callable as a module, so that every model goes through the same code."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def _prepare(model: Model | None, name: str, device: torch.device) -> nn.Module | None:
    if model is None:
        return None
    if not callable(model):
        raise ValueError(f"{name}: must be an nn.Module or a callable mapping images to logits")
    if not isinstance(model, nn.Module):
        model = _Callable(model)
    return model.to(device).eval()


def _logits(model: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return predict(model, x, batch_size=500, device=device)[0]


def _check_model_fits(models: dict[str, Model], x: torch.Tensor, labels: list[torch.Tensor],
                      device: torch.device) -> int:
    """One forward of two samples per model: clear errors for shape/class mismatches."""
    classes = None
    for name, m in models.items():
        try:
            out = _logits(m, x[:2], device)
        except Exception as e:  # noqa: BLE001 - any failure of a user's model is reported plainly
            raise ValueError(f"{name} model cannot take images of shape {tuple(x.shape[1:])}: "
                             f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        if out.dim() != 2:
            raise ValueError(f"{name} model returns shape {tuple(out.shape)}, not logits (N, K)")
        if classes is not None and out.shape[1] != classes:
            raise ValueError(f"models disagree on the class count: {out.shape[1]} vs {classes}")
        classes = out.shape[1]
    top = max(int(y.max()) for y in labels)
    if top >= classes:
        raise ValueError(f"labels go up to {top} but the models have {classes} classes")
    return classes


# ----------------------------------------------------------------------------- verify
def verify(original: Model, unlearned: Model, forget: Data, *, retrained: Model | None = None,
           retain: Data | None = None, test: Data | None = None, eps: float | str = 8 / 255,
           strength: str = "standard", steps: int = 100, step_size: float | str = 1 / 255,
           max_samples: int | None = 1000, threshold: float = 0.1, scenario: str | None = None,
           eps_curve: Sequence[float] | str | None = None, mia_shadow: int | None = 3000,
           seed: int = 0, batch_size: int = 256, fast: bool = True, relearn_steps: int = 100,
           device: str | torch.device = "cpu", progress: bool = True) -> Report:
    """Attack ``unlearned`` with UMA on the forget set and report (module docstring).

    Args:
        original / unlearned / retrained: models (or callables) mapping images in [0, 1] to
            logits; ``retrained`` (optional) was trained without the forget set.
        forget / retain / test: (x, y) tensors or iterables of (x, y) batches (a DataLoader);
            x in [0, 1] (or uint8). retain and test fit the MIA (both needed for it) and
            tell class-wise from instance-wise forgetting when ``scenario`` is None.
        eps: L-inf budget in pixel units ("8/255" or 0.031), bounded.
        strength: "standard" or "strong" (see :func:`ladder`).
        steps / step_size: the standard rung's (the paper's 100 and 1/255).
        max_samples: attack a seeded subset of this many forget samples (None: all).
        threshold: the verdict's threshold on the residual (or mapped-back) share.
        scenario: "classwise" / "instancewise"; None infers it from retain's labels.
        eps_curve: budgets for a curve of UA / mapped back / residual / MIA (same strength).
        mia_shadow: cap on the MIA's shadow set per side (None: all of retain/test).
        seed: seeds the subset and the restarts.
        fast: attack a BatchNorm-folded copy (:func:`umalib.attacks.uma.search_copy`); scores
            always come from the model itself.
        relearn_steps: the relearning probe (:mod:`umalib.attacks.relearn`, retain images
            only, on copies): the attacked samples' UA after this many SGD steps, for the
            unlearned and the retrained model; 0 = off. Needs ``retain``.
    Returns:
        :class:`Report` (``.to_dict()``; text, Markdown and files through
        :mod:`umalib.reporting.verify_report`).
    Raises:
        ValueError: on any invalid input, before the attack starts.
    """
    t0 = time.perf_counter()
    eps_v, budgets, rungs = _check_settings(eps, step_size, eps_curve, steps, strength,
                                            max_samples, threshold, scenario, mia_shadow)
    if not isinstance(relearn_steps, int) or isinstance(relearn_steps, bool) or relearn_steps < 0:
        raise ValueError(f"relearn_steps must be an integer >= 0, got {relearn_steps!r}")
    dev = resolve_device(device)
    inp = _prepare_inputs(original, unlearned, retrained, forget, retain, test, scenario, dev)

    # -- everything is valid: compute
    t = _target(inp, max_samples, mia_shadow, seed, batch_size, fast, dev, progress)
    clean = _outcome("clean", _logits(t.models["unlearned"], t.x, dev), t.x, t)
    t_attack = time.perf_counter()
    attacks, upper, settings = _run_ladder(t, eps_v, rungs, strength == "strong")
    t_attack = time.perf_counter() - t_attack
    curve = _curve(t, budgets, rungs, eps_v, attacks)
    relearn = _relearn(t, inp, relearn_steps)
    return _build_report(t, inp, eps_v, strength, threshold, clean, (attacks, upper, settings),
                         curve, relearn, t0, t_attack)


def _check_settings(eps: float | str, step_size: float | str,
                    eps_curve: Sequence[float] | str | None, steps: int, strength: str,
                    max_samples: int | None, threshold: float, scenario: str | None,
                    mia_shadow: int | None) -> tuple[float, list[float], list[Rung]]:
    """Check :func:`verify`'s settings in its order; returns (eps, the curve's budgets, the
    ladder's rungs). Raises ValueError on the first invalid one."""
    eps_v = parse_eps(eps)
    if eps_v is None:
        raise ValueError("eps must be bounded for classifiers (e.g. 8/255): an unbounded "
                         "perturbation can turn any input into any class")
    step_v = parse_eps(step_size)
    if step_v is None:
        raise ValueError("step_size must be a number in (0, 1]")
    budgets = parse_eps_list(eps_curve) if eps_curve else []
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    rungs = ladder(strength, steps, step_v)
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 1):
        raise ValueError(f"max_samples must be None or an integer >= 1, got {max_samples!r}")
    if not isinstance(threshold, (int, float)) or math.isnan(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    if scenario not in (None, "classwise", "instancewise"):
        raise ValueError(f"scenario must be None, 'classwise' or 'instancewise', got {scenario!r}")
    if mia_shadow is not None and mia_shadow < 10:
        raise ValueError(f"mia_shadow must be None or >= 10, got {mia_shadow}")
    return eps_v, budgets, rungs


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch.device that exists on this machine, or a one-line ValueError."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: {device!r} is not a torch device (cpu, cuda, cuda:1, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device} requested but CUDA is not available on this machine; "
                         f"use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device: {device} does not exist ({torch.cuda.device_count()} GPU(s))")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device: mps requested but not available on this machine")
    return dev


@dataclass(frozen=True)
class _Inputs:
    """:func:`verify`'s models (on the device, in eval mode) and data, checked together."""

    models: dict[str, nn.Module]
    forget: tuple[torch.Tensor, torch.Tensor]
    retain: tuple[torch.Tensor, torch.Tensor] | None
    test: tuple[torch.Tensor, torch.Tensor] | None
    scenario: str
    n_classes: int


def _prepare_inputs(original: Model, unlearned: Model, retrained: Model | None, forget: Data,
                    retain: Data | None, test: Data | None, scenario: str | None,
                    dev: torch.device) -> _Inputs:
    """Convert the data to tensors, infer the scenario when None (class-wise when no retain
    label is a forget label), move the models to ``dev`` and check that models and data fit.
    Returns the :class:`_Inputs`; raises ValueError otherwise."""
    fx, fy = _tensors(forget, "forget")
    ret, tst = _tensors(retain, "retain"), _tensors(test, "test")
    for name, part in (("retain", ret), ("test", tst)):
        if part is not None and part[0].shape[1:] != fx.shape[1:]:
            raise ValueError(f"{name} images are {tuple(part[0].shape[1:])}, forget images "
                             f"{tuple(fx.shape[1:])}")
    if scenario is None:
        scenario = ("unknown" if ret is None else
                    "classwise" if not bool(torch.isin(ret[1], fy.unique()).any()) else "instancewise")
    models = {"original": _prepare(original, "original", dev),
              "unlearned": _prepare(unlearned, "unlearned", dev)}
    if retrained is not None:
        models["retrained"] = _prepare(retrained, "retrained", dev)
    n_classes = _check_model_fits(models, fx, [p[1] for p in ((fx, fy), ret, tst) if p is not None],
                                  dev)
    return _Inputs(models, (fx, fy), ret, tst, scenario, n_classes)


# ----------------------------------------------------------------------------- the attacks
@dataclass(frozen=True)
class _Target:
    """The forget samples under attack and what every attack on them shares: the models, the
    original's logits on them (the mapping target), the MIA and :func:`uma`'s options."""

    models: dict[str, nn.Module]
    x: torch.Tensor
    y: torch.Tensor
    orig_logits: torch.Tensor
    mia: MIAAttacker | None
    n_classes: int
    seed: int
    batch_size: int
    fast: bool
    device: torch.device
    progress: bool

    @property
    def retrained(self) -> nn.Module | None:
        return self.models.get("retrained")

    def run(self, source: nn.Module, eps: float, r: Rung, select: str,
            target: torch.Tensor) -> UMAResult:
        """One :func:`uma` run of rung ``r`` at ``eps`` on the unlearned model, toward
        ``target`` (logits of ``source``'s kind), keeping inputs by ``select``."""
        return run_probe("uma", source, self.models["unlearned"], self.x, labels=self.y, eps=eps,
                   step_size=r.step_size, steps=r.steps, init=r.init, restarts=r.restarts,
                   momentum=r.momentum, select=select, target=target, seed=self.seed,
                   batch_size=self.batch_size, fast=self.fast, device=self.device,
                   progress=self.progress)


def _target(inp: _Inputs, max_samples: int | None, mia_shadow: int | None, seed: int,
            batch_size: int, fast: bool, dev: torch.device, progress: bool) -> _Target:
    """The seeded subset of the forget set to attack, with the original's logits on it and the
    MIA fitted on the unlearned model's retain / test outputs."""
    x, y = _subset(*inp.forget, max_samples, seed)
    orig_logits = _logits(inp.models["original"], x, dev)
    mia = _fit_mia(inp.models["unlearned"], inp.retain, inp.test, mia_shadow, dev)
    return _Target(inp.models, x, y, orig_logits, mia, inp.n_classes, seed, batch_size, fast, dev,
                   progress)


def _subset(x: torch.Tensor, y: torch.Tensor, max_samples: int | None, seed: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    if max_samples is None or max_samples >= len(y):
        return x, y
    g = torch.Generator().manual_seed(seed + 104729)
    idx = torch.randperm(len(y), generator=g)[:max_samples].sort().values
    return x[idx], y[idx]


def _fit_mia(model: Model, ret, tst, cap: int | None, dev: torch.device) -> MIAAttacker | None:
    """The reference confidence MIA: members = retain, non-members = test (first n of each)."""
    if ret is None or tst is None:
        return None
    n = min(len(ret[1]), len(tst[1]), cap or len(tst[1]))
    return MIAAttacker.fit(_logits(model, ret[0][:n], dev), ret[1][:n],
                           _logits(model, tst[0][:n], dev), tst[1][:n])


def _outcome(name: str, logits: torch.Tensor, x_adv: torch.Tensor, t: _Target,
             **extra: Any) -> Outcome:
    """The unlearned model's ``logits`` on inputs ``x_adv`` scored against ``t``'s labels, the
    original's predictions and (with a reference) the retrained model on the same inputs."""
    pred = logits.argmax(1)
    res = None
    if t.retrained is not None:
        res = Share.of(residual_flags(logits, _logits(t.retrained, x_adv, t.device), t.y))
    return Outcome(name, Share.of(pred == t.y), Share.of(pred == t.orig_logits.argmax(1)), res,
                   t.mia.member_rate(logits, t.y) if t.mia else math.nan, **extra)


def _run_ladder(t: _Target, eps: float, rungs: list[Rung], with_upper: bool
                ) -> tuple[list[Outcome], Outcome | None, list[dict]]:
    """Run every rung at ``eps``; return ([standard, strong combined], the label-guided bound
    when ``with_upper``, settings)."""
    runs = [(r, t.run(t.models["original"], eps, r, r.select, t.orig_logits)) for r in rungs]
    r0, res0 = runs[0]
    outs = [_outcome("standard", res0.outputs, res0.x_adv, t, seconds=res0.seconds,
                     image_steps=len(t.y) * r0.steps)]
    if len(runs) > 1:
        outs.append(_combine(runs, t))
    upper = _label_guided(t, eps, rungs[-1]) if with_upper else None
    return outs, upper, [asdict(r) for r in rungs]


def _label_guided(t: _Target, eps: float, r: Rung) -> Outcome:
    """The auditor's upper bound: rung ``r`` at ``eps`` toward the true labels."""
    # Cross-entropy toward the true label: a near one-hot target for the same KL loss.
    onehot = torch.full((len(t.y), t.n_classes), -30.0)
    onehot[torch.arange(len(t.y)), t.y] = 0.0
    res = t.run(t.models["unlearned"], eps, r, "agreement", onehot)
    return _outcome("label-guided", res.outputs, res.x_adv, t, seconds=res.seconds,
                    image_steps=len(t.y) * r.steps * r.restarts)


def _combine(runs: list[tuple[Rung, UMAResult]], t: _Target) -> Outcome:
    """The strong attack: per sample, success (mapped back; residual) if any run found it; UA
    and MIA at each sample's chosen input (one that maps back if any does, else the lowest
    loss)."""
    top = t.orig_logits.argmax(1)
    # each sample's input: uma's own select="agreement" rule applied across the runs
    chosen, loss = runs[0][1].outputs, runs[0][1].loss
    for _, res in runs[1:]:
        b = _better(res.outputs, res.loss, chosen, loss, t.orig_logits, "agreement")
        chosen = torch.where(b[:, None], res.outputs, chosen)
        loss = torch.where(b, res.loss, loss)
    mapped = torch.stack([res.outputs.argmax(1) == top for _, res in runs]).any(0)
    correct = chosen.argmax(1) == t.y
    res_flags = None
    if t.retrained is not None:
        res_flags = torch.zeros(len(t.y), dtype=torch.bool)
        for _, res in runs:
            res_flags |= residual_flags(res.outputs, _logits(t.retrained, res.x_adv, t.device), t.y)
    seconds = sum(res.seconds for _, res in runs)
    steps = sum(len(t.y) * r.steps * r.restarts for r, _ in runs)
    return Outcome("strong", Share.of(correct), Share.of(mapped),
                   Share.of(res_flags) if res_flags is not None else None,
                   t.mia.member_rate(chosen, t.y) if t.mia else math.nan, seconds=seconds,
                   image_steps=steps)


def _curve(t: _Target, budgets: list[float], rungs: list[Rung], eps: float,
           attacks: list[Outcome]) -> list[dict]:
    """One row per budget: the decisive attack's shares (``attacks``, already run, at ``eps``)."""
    rows = []
    for e in budgets:  # the verdict's ladder at each budget, without the label-guided bound
        o = (attacks if e == eps else _run_ladder(t, e, rungs, False)[0])[-1]
        rows.append({"eps": e, "UA": o.UA.to_dict(), "mapped_back": o.mapped_back.to_dict(),
                     "residual": o.residual.to_dict() if o.residual else None, "MIA": o.MIA})
    return rows


def _relearn(t: _Target, inp: _Inputs, steps: int) -> dict[str, Any] | None:
    """The retain-only relearning probe on copies of the unlearned (and retrained) model: UA of
    the attacked samples before and after ``steps`` SGD steps; None without retain data."""
    if inp.retain is None or steps == 0:
        return None
    r = RelearnConfig()  # the settings of the profiles' relearning probe
    out: dict[str, Any] = {"steps": steps, "lr": r.lr, "batch_size": r.batch_size,
                           "retrained": None, "seconds": 0.0}
    for name in ("unlearned", "retrained"):
        if name in t.models:
            res = run_probe("relearn", None, t.models[name], t.x, t.y, *inp.retain,
                            steps=(0, steps), lr=r.lr, momentum=r.momentum,
                            batch_size=r.batch_size, seed=t.seed, device=t.device)
            out[name] = {str(k): v for k, v in res.accuracy.items()}
            out["seconds"] += res.seconds
    return out


# ----------------------------------------------------------------------------- the verdict
def _build_report(t: _Target, inp: _Inputs, eps: float, strength: str, threshold: float,
                  clean: Outcome, ladder_out: tuple[list[Outcome], Outcome | None, list[dict]],
                  curve: list[dict], relearn: dict[str, Any] | None, t0: float,
                  attack_seconds: float) -> Report:
    """The :class:`Report`: the verdict on the decisive attack, the original's and retrained
    model's clean UA, the relearning line, and the times (``t0``: when :func:`verify`
    started)."""
    attacks, upper, settings = ladder_out
    retr = t.retrained
    decision, verdict, rule = _verdict(attacks[-1], strength, inp.scenario, threshold,
                                       retr is not None, eps)
    retrained_UA = None if retr is None else Share.of(_logits(retr, t.x, t.device).argmax(1) == t.y)
    return Report(
        eps=eps, strength=strength, scenario=inp.scenario, samples=len(t.y),
        forget_size=len(inp.forget[1]), threshold=float(threshold),
        original_UA=Share.of(t.orig_logits.argmax(1) == t.y), clean=clean, attacks=attacks,
        upper_bound=upper, retrained_UA=retrained_UA,
        verdict=verdict, decision=decision, rule=rule, settings=settings, curve=curve,
        relearn=relearn, seconds=time.perf_counter() - t0, attack_seconds=attack_seconds)


def _verdict(o: Outcome, strength: str, scenario: str, threshold: float, has_ref: bool,
             eps: float) -> tuple[str, str, str]:
    """(decision word, verdict sentence, rule)."""
    stat = "residual" if has_ref else "mapped-back"
    rule = (f"residual knowledge if the 95% lower bound of the {stat} share under the {strength} "
            f"attack exceeds {threshold:g}; robust if its upper bound is at most {threshold:g}; "
            f"inconclusive otherwise")
    if not has_ref and scenario != "classwise":
        return "UNDECIDED", ("UNDECIDED: without a retrained reference, the mapped-back share "
                             f"of an {scenario} forget set cannot tell residual knowledge from "
                             "generalisation (a retrained model is mapped back too, paper Table "
                             f"2); pass a retrained model (--retrained). Mapped back: "
                             f"{o.mapped_back}"), rule
    share = o.residual if has_ref else o.mapped_back
    word = decide(*share.interval, threshold)
    if word == "RESIDUAL KNOWLEDGE":
        return word, (f"{word}: {stat} share {share} under UMA at {label(eps)} "
                      f"exceeds {threshold:g}"), rule
    if word == "ROBUST":
        caveat = ("" if strength == "strong" else " (standard attack only, the paper's setting: "
                  "run --strength strong before relying on it)")
        return word, (f"{word} at {label(eps)} against the {strength} attack: {stat} share "
                      f"{share}{caveat}"), rule
    return word, (f"{word}: the {stat} share {share} straddles {threshold:g}; attack more "
                  f"samples"), rule


def decide(lo: float, hi: float, threshold: float) -> str:
    """The verdict word for a share's 95% interval [lo, hi]: "RESIDUAL KNOWLEDGE" above the
    threshold, "ROBUST" at or below it, "INCONCLUSIVE" when the interval straddles it."""
    if lo > threshold:
        return "RESIDUAL KNOWLEDGE"
    if hi <= threshold:
        return "ROBUST"
    return "INCONCLUSIVE"
