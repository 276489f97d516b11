"""The reference membership-inference attack ("MIA-efficacy", confidence variant).

``MIAAttacker``: the confidence-based attack of the SalUn / Sparse-unlearning code bases (an RBF
SVC on the softmax probability of the true class). The UMA paper's tables report the share of
forget samples predicted MEMBER (``member_rate``; Original ~0.98, Retrain ~0, lower is better);
the reference code reports ``1 - member_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
from sklearn.svm import SVC

from .classification import accuracy, predict

__all__ = ["true_class_confidence", "MIAAttacker", "ua_mia", "mia_member_rate"]


def true_class_confidence(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """softmax(logits)[i, labels[i]] for each row, float64 array (N,) in [0, 1]."""
    logits = torch.as_tensor(logits)
    labels = torch.as_tensor(labels).reshape(-1).long()
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of logits: {labels.shape[0]} vs {logits.shape[0]}"
        )
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}]")
    # float64 softmax: confidences of a well-fitted model sit within 1e-7 of 1, where the
    # SVC decision boundary lives; float32 would round many of them to exactly 1.
    probs = torch.softmax(logits.detach().cpu().double(), dim=1)
    return probs.gather(1, labels.cpu().unsqueeze(1)).squeeze(1).numpy()


@dataclass
class MIAAttacker:
    """Confidence-based membership-inference attack of the SalUn / Sparse-unlearning repos.

    Feature: the softmax probability of the true class (1-D). Classifier:
    ``sklearn.svm.SVC(C=3, gamma="auto", kernel="rbf")`` fitted with members labelled 1 and
    non-members labelled 0.

    Reference protocol (the caller chooses the data): members = the first N samples of the
    retain set, N = size of the test set, with test-time transforms; non-members = the test
    set; both scored by the model under evaluation (the unlearned model itself). The forget set
    is then scored with :meth:`member_rate`. Under UMA keep the attacker fitted on clean outputs
    and score the logits of the perturbed forget samples.

    Two ways of reporting the same prediction:

    - :meth:`member_rate` = share predicted MEMBER: what the UMA paper's tables call "MIA"
      (Original ~0.98, Retrain ~0; lower is better).
    - :meth:`efficacy` = share predicted NON-member = ``1 - member_rate``: what the reference
      code (and the SalUn paper) report as "MIA-efficacy" (higher is better).
    """

    svc: SVC

    @classmethod
    def fit(
        cls,
        member_logits: torch.Tensor,
        member_labels: torch.Tensor,
        nonmember_logits: torch.Tensor,
        nonmember_labels: torch.Tensor,
    ) -> "MIAAttacker":
        """Fit the SVC on member (label 1) vs non-member (label 0) true-class confidences.

        Logits are (N, K) of the evaluated model, labels (N,) the true classes.
        """
        conf_in = true_class_confidence(member_logits, member_labels)
        conf_out = true_class_confidence(nonmember_logits, nonmember_labels)
        if conf_in.size == 0 or conf_out.size == 0:
            raise ValueError(
                "member_logits and nonmember_logits must both be non-empty "
                f"(got {conf_in.size} and {conf_out.size} samples)"
            )
        features = np.concatenate([conf_in, conf_out]).reshape(-1, 1)
        targets = np.concatenate([np.ones(conf_in.size), np.zeros(conf_out.size)])
        svc = SVC(C=3, gamma="auto", kernel="rbf")
        svc.fit(features, targets)
        return cls(svc=svc)

    def predict_member(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        """Boolean array (N,): True where a sample is predicted to be a training member."""
        conf = true_class_confidence(logits, labels)
        if conf.size == 0:
            raise ValueError("logits must contain at least one sample")
        return self.svc.predict(conf.reshape(-1, 1)) == 1

    def member_rate(self, logits: torch.Tensor, labels: torch.Tensor) -> float:
        """Share of samples predicted MEMBER, in [0, 1] (the UMA paper's "MIA"; lower is better
        for an unlearned forget set). Equals ``1 - efficacy``: the reference code's
        "MIA-efficacy" is the share predicted NON-member."""
        return float(self.predict_member(logits, labels).mean())

    def efficacy(self, logits: torch.Tensor, labels: torch.Tensor) -> float:
        """The reference "MIA-efficacy": share predicted NON-member = ``1 - member_rate``."""
        return 1.0 - self.member_rate(logits, labels)


def ua_mia(logits: torch.Tensor, labels: torch.Tensor, mia: MIAAttacker, suffix: str = ""
           ) -> dict[str, float]:
    """UA and MIA of a forget set's logits (e.g. under UMA), keyed ``"UA" + suffix`` and
    ``"MIA" + suffix``: UA = :func:`accuracy` in %, MIA = ``mia.member_rate`` in [0, 1] (keep
    ``mia`` fitted on the model's clean shadow outputs)."""
    return {f"UA{suffix}": accuracy(logits, labels), f"MIA{suffix}": mia.member_rate(logits, labels)}


def mia_member_rate(
    model: nn.Module,
    shadow_members_loader: Iterable,
    shadow_nonmembers_loader: Iterable,
    target_loader_or_logits: Iterable | tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> float:
    """Fit :class:`MIAAttacker` on ``model``'s clean outputs and return the target member rate.

    Args:
        model: the model under evaluation (e.g. the unlearned model).
        shadow_members_loader: ``(x, y)`` batches of known members; reference: the first N
            retain samples, N = test-set size, test transforms.
        shadow_nonmembers_loader: ``(x, y)`` batches of non-members; reference: the test set.
        target_loader_or_logits: ``(x, y)`` batches to score (the forget set), or a
            ``(logits, labels)`` pair already computed, e.g. ``model(x_forget + delta)`` under UMA.

    Returns:
        share of targets predicted MEMBER in [0, 1] (the paper's "MIA"); the reference
        "MIA-efficacy" is ``1 -`` this.
    """
    kw = dict(batch_size=batch_size, device=device, progress=progress)
    in_logits, in_labels = predict(model, shadow_members_loader, **kw)
    out_logits, out_labels = predict(model, shadow_nonmembers_loader, **kw)
    if in_labels is None or out_labels is None:
        raise ValueError("shadow loaders must yield (x, y) batches")
    attacker = MIAAttacker.fit(in_logits, in_labels, out_logits, out_labels)
    if (
        isinstance(target_loader_or_logits, tuple)
        and len(target_loader_or_logits) == 2
        and all(isinstance(t, torch.Tensor) for t in target_loader_or_logits)
    ):
        t_logits, t_labels = target_loader_or_logits
    else:
        t_logits, t_labels = predict(model, target_loader_or_logits, **kw)
        if t_labels is None:
            raise ValueError("target_loader_or_logits must yield (x, y) batches")
    return attacker.member_rate(t_logits, t_labels)
