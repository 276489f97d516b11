"""Verify a pair of checkpoints (before / after unlearning) with UMA: ``python -m umalib verify``.

The report gives clean vs attacked UA and MIA on the forget set, the share of forget samples
whose UMA input makes the unlearned model predict what the original predicted ("mapped
back"), and a verdict against a stated threshold on that share. Checkpoints are state_dict
files loaded with ``torch.load(weights_only=True)``; everything is validated before any
compute starts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .attacks.uma import parse_eps, uma
from .cache import safe_load
from .config import ARCHS, DATASETS, DataConfig
from .data.splits import BatchLoader, Scenario, ScenarioData, load_splits
from .files import atomic_write
from .metrics.classification import accuracy, predict
from .metrics.mia import MIAAttacker
from .models.classifiers import build_model


@dataclass(frozen=True)
class VerifyRequest:
    """Validated inputs of one verification."""

    original: Path
    unlearned: Path
    dataset: str
    arch: str
    width: int | None
    forget_classes: tuple[int, ...]
    forget_indices: Path | None
    eps: float
    steps: int
    step_size: float
    max_samples: int | None
    threshold: float
    seed: int
    mia_shadow: int | None = 3000


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from ``path`` (weights_only); accepts ``{"state_dict": ...}`` too."""
    obj = safe_load(path)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    bad = [k for k, v in obj.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{path} has NaN/inf values in {bad[:5]}{' ...' if len(bad) > 5 else ''}")
    return obj


def _load_model(path: Path, arch: str, width: int | None, shape: tuple[int, int, int],
                num_classes: int, mean_std: tuple) -> nn.Module:
    state = load_state_dict(path)
    c, h, _ = shape
    model = build_model(arch, in_channels=c, num_classes=num_classes, image_size=h,
                        mean=mean_std[0], std=mean_std[1], width=width)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()
        raise ValueError(f"{path} does not fit architecture {arch!r} (width {width}) for "
                         f"{num_classes} classes of {c}x{h}x{h} images: "
                         f"{' '.join(first[:3])[:400]}") from None
    return model.eval()


def read_indices(path: Path, n_train: int) -> torch.Tensor:
    """Forget indices (into the official training set) from a text/CSV/.npy file."""
    if not path.is_file():
        raise FileNotFoundError(f"no forget-indices file at {path}")
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        arr = np.array(path.read_text().replace(",", " ").split(), dtype=np.float64)
    if arr.ndim != 1 or len(arr) == 0 or np.any(arr != np.round(arr)):
        raise ValueError(f"{path}: expected a non-empty list of integer indices")
    idx = torch.from_numpy(arr.astype(np.int64))
    if idx.min() < 0 or idx.max() >= n_train:
        raise ValueError(f"{path}: indices must be in [0, {n_train}), got {int(idx.min())}..{int(idx.max())}")
    return torch.unique(idx)


def validate(original: str, unlearned: str, dataset: str, arch: str, width: int | None,
             forget_classes: Sequence[int] | None, forget_indices: str | None, eps: str | float,
             steps: int, step_size: str | float, max_samples: int | None, threshold: float,
             seed: int, mia_shadow: int | None = 3000) -> VerifyRequest:
    """Check every argument before any compute; ValueError/FileNotFoundError otherwise."""
    for name, p in (("--original", original), ("--unlearned", unlearned)):
        if not Path(p).is_file():
            raise FileNotFoundError(f"{name}: no file at {p}")
    if dataset not in DATASETS:
        raise ValueError(f"--dataset must be one of {DATASETS}, got {dataset!r}")
    if arch not in ARCHS:
        raise ValueError(f"--arch must be one of {ARCHS}, got {arch!r}")
    if bool(forget_classes) == bool(forget_indices):
        raise ValueError("give exactly one of --forget-classes or --forget-indices")
    e = parse_eps(eps)
    if e is None:
        raise ValueError("--eps must be bounded for classifiers (e.g. 8/255): an unbounded "
                         "perturbation can turn any input into any class")
    s = parse_eps(step_size)
    if s is None:
        raise ValueError("--step-size must be a number in (0, 1]")
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"--steps must be an integer > 0, got {steps!r}")
    if max_samples is not None and max_samples <= 0:
        raise ValueError(f"--max-samples must be > 0, got {max_samples}")
    if not (0 <= threshold <= 1) or math.isnan(threshold):
        raise ValueError(f"--threshold must be in [0, 1], got {threshold}")
    if mia_shadow is not None and mia_shadow < 10:
        raise ValueError(f"--mia-shadow must be >= 10, got {mia_shadow}")
    return VerifyRequest(Path(original), Path(unlearned), dataset, arch, width,
                         tuple(forget_classes or ()), Path(forget_indices) if forget_indices else None,
                         e, steps, s, max_samples, threshold, seed, mia_shadow)


def run(req: VerifyRequest, *, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Load data and checkpoints, attack, and return the report as a plain dict."""
    splits = load_splits(DataConfig(dataset=req.dataset, val_fraction=0.0), req.seed)
    if req.forget_classes:
        bad = [c for c in req.forget_classes if not 0 <= c < splits.num_classes]
        if bad:
            raise ValueError(f"--forget-classes {bad} unknown: {req.dataset} has classes "
                             f"0..{splits.num_classes - 1}")
        mask = torch.isin(splits.y_train, torch.tensor(req.forget_classes))
        forget = torch.nonzero(mask).flatten()
        kind = "classwise"
    else:
        forget = read_indices(req.forget_indices, len(splits.y_train))
        kind = "instancewise"
    keep = torch.ones(len(splits.y_train), dtype=torch.bool)
    keep[forget] = False
    sd = ScenarioData(splits, Scenario(kind, forget, torch.nonzero(keep).flatten(),
                                       req.forget_classes))
    args = (req.arch, req.width, splits.shape, splits.num_classes, splits.mean_std)
    original = _load_model(req.original, *args).to(device)
    unlearned = _load_model(req.unlearned, *args).to(device)
    x, y = sd.attack_subset(req.max_samples, req.seed)

    (xm, ym), (xn, yn) = sd.mia_shadow(req.mia_shadow)
    mia = MIAAttacker.fit(predict(unlearned, BatchLoader(xm, ym, 1000), device=device)[0], ym,
                          predict(unlearned, BatchLoader(xn, yn, 1000), device=device)[0], yn)
    clean_logits = predict(unlearned, x, device=device)[0]
    orig_logits = predict(original, x, device=device)[0]
    res = uma(original, unlearned, x, labels=y, eps=req.eps, step_size=req.step_size,
              steps=req.steps, device=device, progress=progress, target=orig_logits)
    mapped = float(res.agrees.float().mean())
    report = {
        "original": str(req.original), "unlearned": str(req.unlearned),
        "dataset": req.dataset, "scenario": kind, "forget_size": int(len(forget)),
        "attacked_samples": int(len(y)), "eps": req.eps, "steps": req.steps,
        "step_size": req.step_size,
        "original_UA": accuracy(orig_logits, y),
        "clean_UA": accuracy(clean_logits, y),
        "attacked_UA": float(res.correct.float().mean() * 100),
        "clean_MIA": mia.member_rate(clean_logits, y),
        "attacked_MIA": mia.member_rate(res.outputs, y),
        "clean_agreement": float((clean_logits.argmax(1) == orig_logits.argmax(1)).float().mean()),
        "mapped_back": mapped,
        "threshold": req.threshold,
        "verdict": ("RESIDUAL KNOWLEDGE: UMA maps the forget set back to the original's "
                    "predictions" if mapped > req.threshold else
                    "ROBUST at this budget: UMA did not map the forget set back"),
        "attack_seconds": res.seconds,
    }
    return report


def format_report(r: dict[str, Any]) -> str:
    """Human-readable report."""
    return "\n".join([
        f"UMA verification ({r['dataset']}, {r['scenario']}, {r['attacked_samples']} of "
        f"{r['forget_size']} forget samples, eps {r['eps'] * 255:.3g}/255, {r['steps']} steps "
        f"of {r['step_size'] * 255:.3g}/255)",
        f"  original model UA:            {r['original_UA']:6.2f} %",
        f"  unlearned UA   clean / UMA:   {r['clean_UA']:6.2f} % -> {r['attacked_UA']:6.2f} %",
        f"  unlearned MIA  clean / UMA:   {r['clean_MIA']:6.4f}  -> {r['attacked_MIA']:6.4f}",
        f"  agreement with the original:  {r['clean_agreement']:6.4f}  -> {r['mapped_back']:6.4f} (mapped back)",
        f"  verdict (mapped back > {r['threshold']:.2f}): {r['verdict']}",
        f"  attack time: {r['attack_seconds']:.1f} s",
    ])


def write_json(report: dict[str, Any], path: str | Path) -> None:
    """Write the report atomically as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2)))
