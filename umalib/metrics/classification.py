"""Classifier outputs, accuracy and residual knowledge (paper Tables 1-2, 4-6).

``accuracy`` is in percent. UA (accuracy on the forget set) is reported as is, LOWER is better.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..models.modes import eval_modes

ArrayLike = torch.Tensor | np.ndarray

__all__ = ["predict", "predictions", "accuracy", "residual_flags", "residual_knowledge"]


# ---------------------------------------------------------------------------------------------
# Helpers


def _to_numpy64(a: ArrayLike, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a tensor or array of numbers, got {type(a).__name__}") from exc


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) >= 1 and isinstance(batch[0], torch.Tensor):
        y = batch[1] if len(batch) >= 2 else None
        if y is not None and not isinstance(y, torch.Tensor):
            y = torch.as_tensor(y)
        return batch[0], y
    raise ValueError(
        "x_or_loader must be a tensor or an iterable of tensors / (x, y) batches; "
        f"got a batch of type {type(batch).__name__}"
    )


def _iter_batches(data, batch_size: int) -> Iterable:
    if isinstance(data, torch.Tensor):
        return (data[i : i + batch_size] for i in range(0, data.shape[0], batch_size))
    return data


def _num_batches(data, batch_size: int) -> int | None:
    if isinstance(data, torch.Tensor):
        return math.ceil(data.shape[0] / batch_size)
    try:
        return len(data)
    except TypeError:
        return None


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


# ---------------------------------------------------------------------------------------------
# Classifier outputs and accuracy


@torch.no_grad()
def predict(
    model: nn.Module,
    x_or_loader: torch.Tensor | Iterable,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``model`` in eval mode over images and collect its logits.

    Args:
        model: classifier returning logits (B, K); it must already live on ``device``.
        x_or_loader: images (N, C, H, W) in [0, 1] (split into ``batch_size`` chunks), or an
            iterable (e.g. a DataLoader) yielding ``(x, y)`` batches or bare ``x`` tensors.
        batch_size: chunk size for a bare tensor (ignored for a loader).
        device: where each batch is sent.
        progress: show a tqdm bar.

    Returns:
        ``(logits, labels)``: logits (N, K) float32 on the CPU, in input order; labels (N,)
        int64 on the CPU when the loader yielded ``(x, y)``, else ``None``. The train/eval mode
        of every submodule is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    _check_batch_size(batch_size)
    logits_out: list[torch.Tensor] = []
    labels_out: list[torch.Tensor] = []
    has_labels: bool | None = None
    with eval_modes(model):
        batches = _iter_batches(x_or_loader, batch_size)
        total = _num_batches(x_or_loader, batch_size)
        for batch in tqdm(batches, total=total, disable=not progress, desc="predict", leave=False):
            x, y = _split_batch(batch)
            if has_labels is None:
                has_labels = y is not None
            elif has_labels != (y is not None):
                raise ValueError("x_or_loader mixes labelled and unlabelled batches")
            logits_out.append(model(x.to(device)).detach().float().cpu())
            if y is not None:
                labels_out.append(y.detach().cpu().long().reshape(-1))
    if not logits_out:
        raise ValueError("x_or_loader yielded no data")
    logits = torch.cat(logits_out, 0)
    labels = torch.cat(labels_out, 0) if has_labels else None
    return logits, labels


def accuracy(
    logits_or_model: torch.Tensor | nn.Module,
    y_or_loader: torch.Tensor | Iterable,
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> float:
    """Top-1 accuracy in percent (0..100).

    Either ``accuracy(logits (N, K), labels (N,))`` or ``accuracy(model, loader)`` where the
    loader yields ``(x, y)``; the model is then evaluated with :func:`predict` (eval mode,
    mode restored). ``batch_size``, ``device`` and ``progress`` are passed to ``predict``.
    """
    if isinstance(logits_or_model, nn.Module):
        logits, labels = predict(
            logits_or_model, y_or_loader, batch_size=batch_size, device=device, progress=progress
        )
        if labels is None:
            raise ValueError("y_or_loader must yield (x, y) batches when a model is given")
    else:
        logits = torch.as_tensor(logits_or_model)
        labels = torch.as_tensor(y_or_loader)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    labels = labels.reshape(-1)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of logits: {labels.shape[0]} vs {logits.shape[0]}"
        )
    if logits.shape[0] == 0:
        raise ValueError("accuracy of an empty set is undefined (N = 0)")
    correct = (logits.argmax(dim=1).cpu() == labels.cpu().long()).double().mean().item()
    return 100.0 * correct


def residual_flags(unlearned_logits: torch.Tensor, retrained_logits: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:
    """Per (perturbed) forget sample: the unlearned model classifies it correctly while the
    retrained model, given the same input, does not (Hsu et al.'s residual knowledge).

    It separates knowledge left behind by unlearning from plain generalisation: a UMA input
    that fools the retrained model too proves nothing about the unlearned one.
    Returns a bool tensor (N,).
    """
    labels = labels.to(unlearned_logits.device)
    u = unlearned_logits.argmax(1) == labels
    r = retrained_logits.to(unlearned_logits.device).argmax(1) == labels
    return u & ~r


def residual_knowledge(unlearned_logits: torch.Tensor, retrained_logits: torch.Tensor,
                       labels: torch.Tensor) -> float:
    """Share in [0, 1] of :func:`residual_flags` (the notebooks' ``residual_*`` columns and the
    verifier's residual line)."""
    return float(residual_flags(unlearned_logits, retrained_logits, labels).float().mean())


def predictions(model: torch.nn.Module, x: torch.Tensor, device: str = "cpu") -> torch.Tensor:
    """Predicted classes (N,) of ``model`` on images ``x`` (N, C, H, W)."""
    return predict(model, x, device=device)[0].argmax(1)
